"""Mail loops (RFC 5321 6.3): the hop count, and never delivering to itself.

- More than max_hops Received: fields: 554 5.4.6 after the end of data,
  nothing queued; exactly max_hops is accepted. A message the runner would
  send on with more than max_hops (ours counted) is bounced instead, and a
  bounce (null sender) is dropped with a log line.
- The runner never connects to one of its own addresses: a sender domain
  whose MX is 127.0.0.1 gets no bounce back into this server; an MX on our
  own listen address is never tried; as a backup MX (preference 20) only
  the primary (preference 10) is tried; a smarthost name that resolves to
  our own listener defers.
- sallyport -n refuses a smarthost that is our own listener.

Every server is on 127.0.0.0/8 and every name comes from a loopback
dnsmasq. The tests that need port 25 (an MX has no port) need root, as
test_delivery's DirectMx does."""

import os
import random
import re
import socket
import subprocess

import sallytest
from sallytest import CRLF
from test_delivery import DELIVERY_WAIT, SENDER, DeliveryCase, dsn_parts, message

RECEIVED = 'Received: from hop%d.example (hop%d.example [192.0.2.%d])\r\n' \
    '\tby hop%d.example; Tue, 1 Dec 2026 10:%02d:00 +0000'


def hop_message(hops, subject):
    """message(subject) with `hops` Received: fields on top."""
    lines = [RECEIVED % (i, i, i % 250 + 1, i + 1, i % 60) for i in range(hops)]
    return CRLF.join(s.encode() for s in lines) + CRLF + message(subject)


def accepted(srv):
    """How many messages the daemon's SMTP side has queued, per its log."""
    return len(re.findall(r'\baccepted: from=', srv.log_text()))


def free_loopback_25(avoid=()):
    """A 127.x.y.z on no interface whose port 25 is free right now."""
    for _ in range(20):
        addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                 random.randint(2, 254))
        if addr in avoid:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, 25))
            except OSError:
                continue
        return addr
    raise AssertionError('no free loopback address for port 25')


class HopCount(DeliveryCase):

    def test_more_than_max_hops_refused_at_the_end_of_data(self):
        srv = self.daemon()
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction(SENDER, ['user@example.test'], hop_message(60, 'sixty'))
            self.assertEqual(r.last, '554 5.4.6 Too many hops')
            # The session goes on, and exactly max_hops (50) is fine.
            r = c.transaction(SENDER, ['user@example.test'], hop_message(50, 'fifty'))
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        self.assertTrue(srv.wait_log(r'reject: DATA from \[127\.0\.0\.1\]: '
                                     r'554 5\.4\.6 Too many hops'), srv.log_text())
        self.assertEqual(accepted(srv), 1)
        got = self.mailbox('user')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        self.assertIn(b'Subject: fifty', got[0])
        self.assertEqual(got[0].count(b'\nReceived: '), 51)    # theirs and ours
        self.wait_empty(srv)

    def test_forward_past_the_limit_is_bounced_not_sent(self):
        # 50 are accepted; with ours the next hop would see 51.
        sink = self.sink()
        srv = self.smarthost(sink)
        qid = self.send(srv, SENDER, ['friend@remote.test'], hop_message(50, 'hops'))
        line = self.status_line(srv, qid, 'friend@remote.test', 'bounced')
        self.assertIn('554 5.4.6 Too many hops (51 Received: header fields, max_hops 50)',
                      line)
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        b = self.assert_bounce(got[0], 'friend@remote.test', 'hops')
        self.assertEqual(b['Status'].strip(), '5.4.6')
        self.assertIn('Too many hops', b['Diagnostic-Code'])
        self.wait_empty(srv)
        self.assertEqual(sink.messages, [])

    def test_bounce_past_the_limit_is_dropped_with_a_log_line(self):
        sink = self.sink()
        srv = self.smarthost(sink)
        qid = self.send(srv, '', ['friend@remote.test'], hop_message(50, 'a bounce'))
        self.status_line(srv, qid, 'friend@remote.test', 'bounced')
        self.assertTrue(srv.wait_log(r'id=%s non-delivery notification dropped: '
                                     r'null sender' % qid), srv.log_text())
        self.wait_empty(srv)
        self.assertEqual(sink.messages, [])
        self.assertEqual(self.all_maildir_files(), [])
        self.assertEqual(accepted(srv), 1)


class OwnAddresses(DeliveryCase):
    """The runner and the MX hosts and smarthost that are itself."""

    def need_root(self):
        if os.geteuid() != 0:
            self.skipTest('needs root: an MX has no port but 25')

    def test_bounce_to_a_sender_domain_whose_mx_is_127_0_0_1(self):
        # The classic: any bounce to loop.test would go to ourselves.
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx.loop.test': '127.0.0.1'}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'loop.test': 'mx.loop.test'}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server)
        # nowhere.test has no mail server: the message bounces at once.
        qid = self.send(srv, 'someone@loop.test', ['x@nowhere.test'], message('to bounce'))
        self.status_line(srv, qid, 'x@nowhere.test', 'bounced')
        m = srv.wait_log(r'id=%s sender non-delivery notification: (\w+)' % qid)
        self.assertTrue(m, srv.log_text())
        dsn = m.group(1)
        line = self.status_line(srv, dsn, 'someone@loop.test', 'bounced')
        self.assertIn('554 5.4.6 mail for loop.test loops back to myself', line)
        self.assertTrue(srv.wait_log(r'id=%s non-delivery notification dropped' % dsn),
                        srv.log_text())
        self.wait_empty(srv)
        self.assertEqual(accepted(srv), 1)
        self.assertEqual(len(re.findall(r'sender non-delivery notification:',
                                        srv.log_text())), 1)

    def test_mx_on_our_own_listen_address_is_never_connected_to(self):
        # 127.a.b.c is on no interface, but we listen on it: it is ours.
        # Before the check the runner relayed to itself, again and again.
        self.need_root()
        own = free_loopback_25()
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx.loop.test': own}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'loop.test': 'mx.loop.test'}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server, extra_listen=['%s:25 mx' % own])
        qid = self.send(srv, SENDER, ['friend@loop.test'], message('round and round'))
        line = self.status_line(srv, qid, 'friend@loop.test', 'bounced')
        self.assertIn('554 5.4.6 mail for loop.test loops back to myself', line)
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        b = self.assert_bounce(got[0], 'friend@loop.test', 'round and round')
        self.assertEqual(b['Status'].strip(), '5.4.6')
        self.wait_empty(srv)
        self.assertEqual(accepted(srv), 1, srv.log_text())

    def test_mx_on_loopback_or_unspecified_is_never_connected_to(self):
        # Linux delivers all of 127.0.0.0/8 and 0.0.0.0 to this host, though
        # no interface lists them: by default (mx_allow_loopback = no) an MX
        # there is ourselves, even with a server listening on it.
        self.need_root()
        addr = free_loopback_25()
        sink = self.sink(host=addr, port=25)
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx.lo.test': addr,
                                                      'mx.zero.test': '0.0.0.0'}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'lo.test': 'mx.lo.test',
                                                'zero.test': 'mx.zero.test'}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server, mx_allow_loopback='no')
        for domain in ('lo.test', 'zero.test'):
            with self.subTest(domain=domain):
                qid = self.send(srv, SENDER, ['friend@' + domain], message('to ' + domain))
                line = self.status_line(srv, qid, 'friend@' + domain, 'bounced')
                self.assertIn('554 5.4.6 mail for %s loops back to myself' % domain, line)
        self.assertEqual(sink.messages, [])
        self.wait_empty(srv)
        self.assertEqual(len(self.mailbox('sender')), 2, self.all_maildir_files())

    def test_long_mx_list_is_cut_at_our_own_preference(self):
        # Ours at 10, a sink at 20, 68 hosts at 30. dnsmasq answers in
        # the reverse of its configuration: our record comes last, after
        # the 64th, where the list used to be cut before it was sorted.
        self.need_root()
        own = free_loopback_25()
        sink = self.sink(host=free_loopback_25(avoid=(own,)), port=25)
        mx = ([('mx-own.long.test', 10)] + [('f%02d.long.test' % i, 30) for i in range(68)]
              + [('sink.long.test', 20)])
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx-own.long.test': own,
                                                      'sink.long.test': sink.host}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'long.test': mx}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server, extra_listen=['%s:25 mx' % own])
        qid = self.send(srv, SENDER, ['friend@long.test'], message('a long list'))
        line = self.status_line(srv, qid, 'friend@long.test', 'bounced')
        self.assertIn('554 5.4.6 mail for long.test loops back to myself', line)
        self.assertEqual(sink.messages, [])
        self.assertEqual(accepted(srv), 1, srv.log_text())

    def test_mx_addresses_looked_up_as_the_walk_reaches_them(self):
        # The sink at 10 takes the mail: the hosts at 20 and 30 (whose name
        # server might never answer) are not even looked up.
        self.need_root()
        sink = self.sink(host=free_loopback_25(), port=25)
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'first.lazy.test': sink.host,
                                                      'second.lazy.test': '127.0.0.1'}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'lazy.test': [
                ('first.lazy.test', 10), ('second.lazy.test', 20),
                ('third.lazy.test', 30), ('fourth.lazy.test', 30)]}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server)
        qid = self.send(srv, SENDER, ['friend@lazy.test'], message('the first will do'))
        got = sink.wait(1)
        self.assertEqual([m.rcpt_tos for m in got], [['friend@lazy.test']])
        self.status_line(srv, qid, 'friend@lazy.test', 'sent')
        log = dns.log_text()
        self.assertIn('first.lazy.test', log)
        for name in ('second.lazy.test', 'third.lazy.test', 'fourth.lazy.test'):
            self.assertNotIn('query[A] ' + name, log)
            self.assertNotIn('query[AAAA] ' + name, log)

    def test_backup_mx_tries_only_the_primary(self):
        # backup.test: primary at preference 10 (down), we are 20.
        self.need_root()
        own = free_loopback_25()
        primary = free_loopback_25(avoid=(own,))
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'primary.backup.test': primary,
                                                      'mx2.backup.test': own}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'backup.test': [('mx2.backup.test', 20),
                                                                ('primary.backup.test', 10)]}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server, relay_domains='backup.test',
                          extra_listen=['%s:25 mx' % own])
        qid = self.send(srv, SENDER, ['friend@backup.test'], message('wait for the primary'))
        line = self.status_line(srv, qid, 'friend@backup.test', 'deferred')
        self.assertIn('relay=primary.backup.test', line)
        self.assertEqual(accepted(srv), 1, srv.log_text())
        self.assertNotIn('relay=mx2.backup.test', srv.log_text())
        # The primary comes back: the mail goes there, and only there.
        sink = self.sink(host=primary, port=25)
        self.queue_cmd(srv, 'flush')
        got = sink.wait(1, timeout=DELIVERY_WAIT + 60)
        self.assertEqual([m.rcpt_tos for m in got], [['friend@backup.test']])
        self.status_line(srv, qid, 'friend@backup.test', 'sent')
        self.wait_gone(srv, qid)
        self.assertEqual(accepted(srv), 1, srv.log_text())

    def test_smarthost_name_that_is_our_own_listener_defers(self):
        # A name is only known when it resolves: the runner checks it then.
        srv = self.daemon(start=False)
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'relay.loop.test': '127.0.0.1'}),
            mx=sallytest.SHARED_DNS_MX, zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv.overrides.update(dns_servers=dns.server, smarthost_tls='none',
                             smarthost='[relay.loop.test]:%d' % srv.mx_port)
        srv.write_config()
        srv.start()
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('to myself'))
        line = self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        self.assertIn('451 4.4.6 mail for smarthost relay.loop.test loops back to myself',
                      line)
        self.assertEqual(accepted(srv), 1, srv.log_text())
        self.assertEqual(srv.wait_queue(queue_id=qid), [qid])


class SmarthostCheck(sallytest.TestCase):

    def check(self, srv, smarthost):
        """sallyport -n on srv's config with this smarthost line (the last)."""
        srv.write_config(dict(srv.overrides, smarthost=smarthost, smarthost_tls='none'))
        with open(srv.conf_path) as f:
            lineno = [ln.split(' ')[0] for ln in f.read().splitlines()].index('smarthost') + 1
        p = subprocess.run([srv.bin, '-n', '-c', srv.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        return p.returncode, p.stderr.decode('utf-8', 'replace'), lineno

    def test_smarthost_that_is_our_own_listener_is_a_config_error(self):
        ports = [sallytest.free_port() for _ in range(3)]
        # 0.0.0.0 and [::] take every local address, as `*` does.
        srv = sallytest.Server(extra_listen=['*:%d mx' % ports[0], '0.0.0.0:%d mx' % ports[1],
                                             '[::]:%d mx' % ports[2]])
        self.addCleanup(srv.close)
        for sh in ('[127.0.0.1]:%d' % srv.mx_port, '127.0.0.1:%d' % ports[0],
                   '[127.0.0.1]:%d' % ports[1], '[127.0.0.1]:%d' % ports[2],
                   '[127.0.0.2]:%d' % ports[1], '[::1]:%d' % ports[2],
                   '[0.0.0.0]:%d' % srv.mx_port):
            with self.subTest(smarthost=sh):
                rc, err, lineno = self.check(srv, sh)
                self.assertEqual(rc, 1, err)
                self.assertIn('%s:%d: smarthost: ' % (srv.conf_path, lineno), err)
                self.assertIn(':%s is this server\'s own listener' % sh.rsplit(':', 1)[1], err)
        # A sink on another port of 127.0.0.1, as the tests use, is fine.
        rc, err, _ = self.check(srv, '[127.0.0.1]:%d' % sallytest.free_port())
        self.assertEqual(rc, 0, err)


if __name__ == '__main__':
    sallytest.main()
