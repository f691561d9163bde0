"""The metrics listener after traffic of a known shape.

A daemon with two workers, a metrics listener, local delivery into
Maildirs and a loopback smarthost (an aiosmtpd sink that answers 451 to
one recipient), one entry on hold from the start (tests/queue-hold, as a
milter's quarantine leaves it). The test scrapes /metrics, sends: nine
messages of known sizes on the mx port from nine client addresses (so
both workers serve some: the totals are the sums), a relay attempt, a
sender whose domain's lookup fails (the loopback dnsmasq refuses names
outside its zones), a client in client_deny, a failed then a good AUTH
over STARTTLS on the submission port and two messages through it (one
sent by the smarthost, one deferred), one client past
max_connections_per_ip; then scrapes again. A second daemon counts a
client on a DNS blocklist and one past max_connections; a third
delivers to a domain's MX (as root: the sink is on port 25), which
takes one recipient and refuses another, whose bounce comes home; a
fourth has a milter (milterpeer.py) refuse a client at connect and a
recipient, and quarantine a message. Every scrape passes
Prometheus's own checker (promtool check metrics); what the test
controls is checked exactly as the difference of two scrapes, the rest
(DNS queries, the histogram's sum) as present and growing.

Every client has an address of its own (127.0.0.N), so that one that
has just left never counts against max_connections_per_ip = 1, and
each leaves by QUIT and waits for the server to close: a connection is
counted when it ends."""

import os
import re
import subprocess
import urllib.request

import sallytest
from milterpeer import MilterPeer
from test_delivery import DELIVERY_WAIT, DeliveryCase, SENDER, message

HOLD_REASON = 'quarantined by test_metrics'
LATER = 'later@remote.example'          # the smarthost answers 451 to it
SENT = 'ok@remote.example'
REFUSALS = ('relay', 'dnsbl', 'limit', 'tls_required', 'auth_failed', 'sender',
            'recipient', 'milter', 'other')
OUTCOMES = ('served', 'busy', 'per_ip', 'denied', 'proxy_bad')
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def queue_hold_tool():
    return os.path.join(os.path.dirname(os.path.dirname(sallytest.binary())),
                        'tests', 'queue-hold')


class Scrape:
    """One /metrics body, its samples as (name, {label: value}) -> float."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        for line in text.splitlines():
            if not line or line.startswith('#'):
                continue
            m = SAMPLE.match(line)
            if m is None:
                raise AssertionError('not a sample line: %r' % line)
            labels = tuple(sorted(LABEL.findall(m.group(2) or '')))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **want):
        """The sum of name's samples whose labels include want (0: none)."""
        total = 0.0
        for (n, labels), value in self.samples.items():
            d = dict(labels)
            if n == name and all(d.get(k) == v for k, v in want.items()):
                total += value
        return total

    def has(self, name, **want):
        """Is there a sample of name whose labels include want?"""
        return any(n == name and all(dict(labels).get(k) == v for k, v in want.items())
                   for n, labels in self.samples)

    def buckets(self, name):
        """[(le, cumulative count)] of a histogram, by bound."""
        found = [(float('inf') if dict(labels)['le'] == '+Inf' else float(dict(labels)['le']),
                  value)
                 for (n, labels), value in self.samples.items() if n == name + '_bucket']
        return sorted(found)


class Metrics(DeliveryCase):

    def setUp(self):
        super().setUp()
        self.promtool = self.need('promtool')
        self.next_source = 2        # 127.0.0.1 is the start-up probe's

    def source(self):
        """A client address no connection has used yet."""
        addr = '127.0.0.%d' % self.next_source
        self.next_source += 1
        return addr

    def scrape(self, srv):
        url = 'http://127.0.0.1:%d/metrics' % srv.metrics_port
        with urllib.request.urlopen(url, timeout=sallytest.IO_TIMEOUT) as r:
            self.assertEqual(r.status, 200)
            body = r.read().decode('utf-8')
        p = subprocess.run([self.promtool, 'check', 'metrics'], input=body.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 0, 'promtool check metrics:\n%s\n--- body ---\n%s'
                         % (p.stdout.decode('utf-8', 'replace'), body))
        return Scrape(body)

    def wait_scrape(self, srv, predicate, why):
        """Scrape until predicate(scrape) holds; that scrape."""
        got = []

        def check():
            got[:] = [self.scrape(srv)]
            return predicate(got[0])
        self.assertTrue(sallytest.wait_until(check, DELIVERY_WAIT, interval=0.2),
                        '%s; last scrape:\n%s' % (why, got[0].text))
        return got[0]

    def settled(self, srv):
        """A scrape once no connection is open: the start-up probe's, or
        the test's last, counted (a connection is, as it ends)."""
        return self.wait_scrape(srv, lambda s: s.get('sallyport_connections_open') == 0,
                                'connections still counted open')

    def bye(self, c):
        """QUIT, and the server's close seen: the connection is counted."""
        self.assertEqual(c.cmd('QUIT').code, 221)
        self.assertTrue(c.closed(), 'the server did not close after QUIT')
        c.close()

    def hold_entry(self, srv):
        """One entry in hold/, made before the daemon starts."""
        p = subprocess.run([queue_hold_tool(), srv.queue_dir, HOLD_REASON,
                            'someone@example.org', 'user@example.test'],
                           input=message('held'), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)

    def daemon_with_metrics(self, sink):
        metrics_port = sallytest.free_port()
        srv = self.smarthost(
            sink, start=False, workers='2',
            extra_listen=['127.0.0.1:%d metrics' % metrics_port],
            # Loopback clients are strangers: relay refused, limits apply.
            mynetworks='192.0.2.0/24', client_deny='127.0.0.99',
            max_connections_per_ip='1',
            # One attempt at the deferred recipient during the test.
            retry_min='30m', retry_max='1h')
        srv.metrics_port = metrics_port
        self.hold_entry(srv)
        return srv.start()

    def test_values_after_known_traffic(self):
        sink = self.sink(refuse={LATER: '451 4.3.0 try again later'})
        srv = self.daemon_with_metrics(sink)
        before = self.settled(srv)
        # Every series is there before its first event.
        for name in ('sallyport_connections_open', 'sallyport_queue_entries',
                     'sallyport_queue_oldest_age_seconds'):
            self.assertTrue(before.has(name), name)
        for outcome in OUTCOMES:
            self.assertTrue(before.has('sallyport_connections_total', role='submission',
                                       outcome=outcome), outcome)
        for reason in REFUSALS:
            self.assertTrue(before.has('sallyport_refusals_total', reason=reason), reason)

        # Nine messages on the mx port, each from an address of its own.
        mx_sizes = []
        for i in range(9):
            msg = message('mx %d' % i, ['line %d of a message' % n for n in range(i * 7 + 1)])
            c = self.client(srv.mx_port, source=self.source())
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction('someone@example.org', ['user@example.test'], msg)
            self.assertEqual(r.code, 250, r)
            mx_sizes.append(len(msg))
            self.bye(c)
        workers = set()
        for seen in sallytest.worker_of_sessions(srv.log_text(), 2).values():
            workers |= seen
        self.assertEqual(workers, {0, 1}, 'both workers served mx clients')

        # A relay attempt, and a sender whose domain cannot be looked up.
        c = self.client(srv.mx_port, source=self.source())
        c.cmd('EHLO client.example')
        self.assertEqual(c.cmd('MAIL FROM:<someone@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<x@remote.example>').last,
                         '550 5.7.1 Relaying denied')
        self.assertEqual(c.cmd('RSET').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<someone@nowhere.zz>').code, 451)
        self.bye(c)

        # client_deny: 554 instead of the greeting, then the close.
        c = self.client(srv.mx_port, source='127.0.0.99')
        self.assertEqual(c.greeting.code, 554)
        self.assertTrue(c.closed())
        c.close()

        # Submission: STARTTLS, a wrong password, the right one, two messages.
        c = self.client(srv.sub_port, source=self.source())
        c.cmd('EHLO client.example')
        c.starttls()
        tls_version = c.tls.version()
        c.cmd('EHLO client.example')
        r = c.auth(password='wrong')
        self.assertEqual(r.code, 535, r)
        r = c.auth()
        self.assertEqual(r.code, 235, (r, c.transcript[-8:]))
        sub_sizes = []
        for rcpt in (SENT, LATER):
            msg = message('to ' + rcpt, ['for the smarthost'] * 3)
            r = c.transaction(SENDER, [rcpt], msg)
            self.assertEqual(r.code, 250, r)
            sub_sizes.append(len(msg))
        deferred_id = r.queue_id()     # the last
        self.bye(c)

        # The deliveries: nine into the Maildir, one through the smarthost,
        # one deferred by it.
        self.assertEqual(len(self.mailbox('user', 9)), 9)
        sink.wait(1)
        self.wait_scrape(srv, lambda s: s.get('sallyport_deliveries_total')
                         - before.get('sallyport_deliveries_total') >= 11,
                         'deliveries not counted')

        # Past max_connections_per_ip: one held open, the next refused.
        held = self.client(srv.mx_port, source=self.source())
        refused = sallytest.Client(srv.mx_port, source=held.sock.getsockname()[0])
        self.assertEqual(refused.greeting.last,
                         '421 4.7.0 Too many connections from your address')
        refused.close()
        during = self.scrape(srv)
        self.assertEqual(during.get('sallyport_connections_open', role='mx'), 1)
        self.bye(held)
        end = self.settled(srv)

        def delta(name, **labels):
            return end.get(name, **labels) - before.get(name, **labels)

        # Connections, by listener role and outcome.
        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='served'),
                         9 + 1 + 1)
        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='denied'), 1)
        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='per_ip'), 1)
        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='busy'), 0)
        self.assertEqual(delta('sallyport_connections_total', role='submission',
                               outcome='served'), 1)
        self.assertEqual(delta('sallyport_connections_total'), 9 + 1 + 1 + 1 + 1 + 1)
        self.assertEqual(end.get('sallyport_connections_open'), 0)

        # Refusals, each once under its reason.
        want = {'relay': 1, 'sender': 1, 'other': 1, 'auth_failed': 1, 'limit': 1}
        for reason in REFUSALS:
            self.assertEqual(delta('sallyport_refusals_total', reason=reason),
                             want.get(reason, 0), reason)

        # Messages and their octets, per listener; TLS; AUTH.
        self.assertEqual(delta('sallyport_messages_accepted_total', role='mx'), 9)
        self.assertEqual(delta('sallyport_message_bytes_total', role='mx'), sum(mx_sizes))
        self.assertEqual(delta('sallyport_messages_accepted_total', role='submission'), 2)
        self.assertEqual(delta('sallyport_message_bytes_total', role='submission'),
                         sum(sub_sizes))
        self.assertEqual(delta('sallyport_tls_sessions_total'), 1)
        self.assertEqual(delta('sallyport_tls_sessions_total', version=tls_version), 1)
        self.assertEqual(delta('sallyport_auth_total', result='success'), 1)
        self.assertEqual(delta('sallyport_auth_total', result='failure'), 1)

        # Deliveries per recipient, by outcome and destination.
        self.assertEqual(delta('sallyport_deliveries_total', outcome='sent',
                               destination='local'), 9)
        self.assertEqual(delta('sallyport_deliveries_total', outcome='sent',
                               destination='smarthost'), 1)
        self.assertEqual(delta('sallyport_deliveries_total', outcome='deferred',
                               destination='smarthost'), 1)
        self.assertEqual(delta('sallyport_deliveries_total'), 11)

        # The queue: the deferred entry, the held one.
        self.assertEqual(end.get('sallyport_queue_entries', state='active'), 1)
        self.assertEqual(end.get('sallyport_queue_entries', state='held'), 1)
        age = end.get('sallyport_queue_oldest_age_seconds')
        self.assertTrue(0 <= age < 600, age)

        # The deferred entry put on hold: moved in the counts at the
        # rescan the queue tool asks for (not made due: the rescan alone
        # takes it out of the schedule).
        self.queue_cmd(srv, 'hold', deferred_id)
        moved = self.wait_scrape(srv, lambda s: s.get('sallyport_queue_entries',
                                                      state='held') == 2,
                                 'the entry put on hold not counted as held')
        self.assertEqual(moved.get('sallyport_queue_entries', state='active'), 0)
        self.assertEqual(moved.get('sallyport_queue_oldest_age_seconds'), 0)

        # Commit latency: one observation per message committed.
        self.assertEqual(delta('sallyport_commit_latency_seconds_count'), 11)
        self.assertGreater(delta('sallyport_commit_latency_seconds_sum'), 0)
        buckets = end.buckets('sallyport_commit_latency_seconds')
        self.assertEqual(buckets[-1][0], float('inf'))
        self.assertEqual(buckets[-1][1], end.get('sallyport_commit_latency_seconds_count'))
        counts = [n for _, n in buckets]
        self.assertEqual(counts, sorted(counts), 'buckets are cumulative')

        # DNS: the sender checks asked; the refused name failed.
        self.assertGreaterEqual(delta('sallyport_dns_failures_total'), 1)
        self.assertGreater(delta('sallyport_dns_queries_total'),
                           delta('sallyport_dns_failures_total') - 1)

    def test_connections_refused_at_connect(self):
        """A client on a DNS blocklist (refused at each command: one
        refusal of one denied session) and one past max_connections."""
        listed = '127.0.0.2'
        dns = self.dnsmasq(hosts={'2.0.0.127.bl.test': '127.0.0.2'})
        metrics_port = sallytest.free_port()
        srv = self.server(extra_listen=['127.0.0.1:%d metrics' % metrics_port],
                          workers='1', mynetworks='192.0.2.0/24', dnsbl='bl.test',
                          dns_servers=dns.server, max_connections='1')
        srv.metrics_port = metrics_port
        before = self.settled(srv)

        c = self.client(srv.mx_port, source=listed)
        blocked = '554 5.7.1 Service unavailable; client [%s] blocked using bl.test' % listed
        self.assertEqual(c.cmd('EHLO client.example').last, blocked)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').last, blocked)
        self.bye(c)

        held = self.client(srv.mx_port, source='127.0.0.3')
        busy = sallytest.Client(srv.mx_port, source='127.0.0.4')
        self.assertEqual(busy.greeting.last, '421 4.3.2 Too many connections, try again later')
        busy.close()
        self.bye(held)
        end = self.settled(srv)

        def delta(name, **labels):
            return end.get(name, **labels) - before.get(name, **labels)

        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='denied'), 1)
        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='busy'), 1)
        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='served'), 1)
        self.assertEqual(delta('sallyport_connections_total'), 3)
        want = {'dnsbl': 1, 'limit': 1}
        for reason in REFUSALS:
            self.assertEqual(delta('sallyport_refusals_total', reason=reason),
                             want.get(reason, 0), reason)
        self.assertGreaterEqual(delta('sallyport_dns_queries_total'), 1)

    def test_deliveries_to_mx(self):
        """The MX class: one recipient taken by the domain's MX, one
        refused (550) and bounced, its DSN delivered to the sender here."""
        sink, dns = self.mx_sink(refuse={'nobody@remote.test': '550 5.1.1 no such user'})
        metrics_port = sallytest.free_port()
        srv = self.daemon(dns_servers=dns.server, workers='1',
                          extra_listen=['127.0.0.1:%d metrics' % metrics_port])
        srv.metrics_port = metrics_port
        before = self.settled(srv)
        for rcpt in ('friend@remote.test', 'nobody@remote.test'):
            self.send(srv, SENDER, [rcpt], message('to ' + rcpt))
        sink.wait(1)
        self.assertEqual(len(self.mailbox('sender', 1)), 1, 'the bounce')
        end = self.wait_scrape(srv, lambda s: s.get('sallyport_deliveries_total')
                               - before.get('sallyport_deliveries_total') >= 3,
                               'deliveries not counted')

        def delta(name, **labels):
            return end.get(name, **labels) - before.get(name, **labels)

        self.assertEqual(delta('sallyport_deliveries_total', outcome='sent',
                               destination='mx'), 1)
        self.assertEqual(delta('sallyport_deliveries_total', outcome='bounced',
                               destination='mx'), 1)
        self.assertEqual(delta('sallyport_deliveries_total', outcome='sent',
                               destination='local'), 1, 'the DSN')
        self.assertEqual(delta('sallyport_deliveries_total'), 3)
        self.assertGreaterEqual(delta('sallyport_dns_queries_total'), 2, 'MX and address')

    def test_milter_refusals_and_quarantine(self):
        """A milter that refuses a client at connect (a denied session,
        one refusal however many commands it refuses), then one
        recipient, and quarantines the message: held, once the runner
        has rescanned (a flush asks for one)."""
        if not os.path.exists('/usr/lib/python3/dist-packages/Milter'):
            self.need('pymilter (python3-milter)')
        peer = MilterPeer(self.tmp, {'replies': {'connect': 'reject'}}).start()
        self.addCleanup(peer.close)
        metrics_port = sallytest.free_port()
        srv = self.daemon(start=False, workers='1',
                          extra_listen=['127.0.0.1:%d metrics' % metrics_port])
        srv.metrics_port = metrics_port
        srv.write_config(extra_lines=['milter = peer ' + peer.address])
        srv.start()
        before = self.settled(srv)

        c = self.client(srv.mx_port, source=self.source())
        self.assertEqual(c.cmd('EHLO client.example').code, 550)
        self.assertEqual(c.cmd('MAIL FROM:<someone@example.org>').code, 550)
        self.bye(c)

        peer.set_script({'replies': {'rcpt': {'by_arg': {'<other@example.test>': 'reject'},
                                              'default': 'continue'}},
                         'eom': [{'action': 'quarantine', 'reason': 'test_metrics'}]})
        c = self.client(srv.mx_port, source=self.source())
        c.cmd('EHLO client.example')
        self.assertEqual(c.cmd('MAIL FROM:<someone@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<other@example.test>').code, 550)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        self.assertEqual(c.data(message('quarantined')).code, 250)
        self.bye(c)
        self.queue_cmd(srv, 'flush')
        end = self.wait_scrape(srv, lambda s: s.get('sallyport_queue_entries',
                                                    state='held') == 1,
                               'the quarantined entry not counted as held')

        def delta(name, **labels):
            return end.get(name, **labels) - before.get(name, **labels)

        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='denied'), 1)
        self.assertEqual(delta('sallyport_connections_total', role='mx', outcome='served'), 1)
        want = {'milter': 2}
        for reason in REFUSALS:
            self.assertEqual(delta('sallyport_refusals_total', reason=reason),
                             want.get(reason, 0), reason)
        self.assertEqual(delta('sallyport_messages_accepted_total', role='mx'), 1)
        self.assertEqual(end.get('sallyport_queue_entries', state='active'), 0)


if __name__ == '__main__':
    sallytest.main()
