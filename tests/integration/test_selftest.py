"""sallyport --selftest: the 19 open-relay probes, in process and over the
network, against the sample configuration, an open one, a broken one, a
running daemon and a server that is not sallyport.

Every configuration here points dns_servers at a dnsmasq on loopback, so
no query leaves the machine."""

import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

import sallytest

UNTRUSTED = '192.0.2.0/24'   # mynetworks that leaves the loopback clients out

# What the prober's and the servers' names resolve to on the test DNS.
HOSTS = {'tester.example': '192.0.2.80', 'mail.example.test': '127.0.0.1'}


def verdicts(report):
    """{probe number: verdict} of a JSON report."""
    return {p['number']: p['verdict'] for p in report['probes']}


def probe_replies(report):
    """{probe number: [(kind of line, reply code), ...]} for MAIL and RCPT."""
    out = {}
    for p in report['probes']:
        out[p['number']] = [(x['sent'].split(':')[0].upper(), x['code'])
                            for x in p['exchanges']
                            if x['sent'] and re.match(r'(?i)(mail from|rcpt to):', x['sent'])]
    return out


class SelfTest(sallytest.TestCase):

    def setUp(self):
        self.bin = sallytest.binary()
        tmp = tempfile.TemporaryDirectory(prefix='sallytest-selftest-')
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.queue = os.path.join(self.dir, 'queue')

    def selftest(self, *args, timeout=30):
        t0 = time.monotonic()
        p = subprocess.run([self.bin, '--selftest'] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd=self.dir)
        self.wall = time.monotonic() - t0
        return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')

    def sample_conf(self, dns, extra=(), name='sallyport.conf'):
        """The shipped sample, with dns_servers on the test DNS and the queue
        in our temp dir (to see that nothing is queued), plus `extra`."""
        with open(os.path.join(sallytest.srcdir(), 'etc', 'sallyport.conf.sample')) as f:
            text = f.read()
        lines = ['dns_servers = %s' % dns.server, 'queue_dir = %s' % self.queue]
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text + '\n' + '\n'.join(lines + list(extra)) + '\n')
        return path

    def report(self, *args):
        rc, out, err = self.selftest('--json', *args)
        try:
            data = json.loads(out)
        except ValueError:
            self.fail('not JSON (rc %d): %r\nstderr: %s' % (rc, out[:500], err))
        self.assertEqual(data['exit'], rc)
        return rc, data

    # in process

    def test_sample_configuration_passes(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns)
        rc, out, err = self.selftest('-c', conf)
        self.assertEqual(rc, 0, out + err)
        paragraph = out.split('\n\n')[0].replace('\n', ' ')
        self.assertTrue(paragraph.startswith('Policy of %s: clients in 127.0.0.0/8 and ::1/128 '
                                             'may relay to any domain;' % conf), paragraph)
        # Two tables: IPv4, then IPv6, both on the one mx listener.
        rows = re.findall(r'(?m)^ {0,2}(\d+)  (\S+ \S+)  .*  (PASS|WEAK|FAIL|ERROR)$', out)
        self.assertEqual([int(n) for n, _, _ in rows], list(range(20)) * 2, out)
        self.assertEqual({w for _, w, _ in rows}, {'*:25 mx'}, out)
        self.assertEqual({v for _, _, v in rows}, {'PASS'}, out)
        self.assertIn('\nProbes as untrusted IPv6 client 2001:db8::7 (', out)
        summary = out.strip().splitlines()[-1]
        self.assertRegex(summary, r'^baseline and 19 probes: 20 PASS, 0 WEAK, 0 FAIL; '
                                  r'checks: 10 PASS, 0 FAIL, 2 N/A: not an open relay')
        # The submission listener, driven as an untrusted client: AUTH
        # neither offered nor taken in clear, no MAIL without it.
        self.assertRegex(out, r'(?m)^  PASS  submission listener \*:587: AUTH only after TLS, '
                              r'MAIL without AUTH refused$')
        self.assertIn('        AUTH PLAIN AHByb2JlAHByb2Jl -> 538 5.7.11 Encryption required '
                      'for requested authentication mechanism\n', out)
        self.assertIn('        (in TLS) MAIL FROM:<ksch@tester.example> -> '
                      '530 5.7.0 Authentication required\n', out)
        self.assertIn('AUTH is offered only inside TLS, never in clear', paragraph)
        # Fast, binds nothing, queues nothing.
        self.assertLess(self.wall, 1.0, 'took %.3f s' % self.wall)
        self.assertFalse(os.path.exists(self.queue), 'a queue was created')

    def test_sample_configuration_json(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test'])
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 0)
        self.assertEqual(data['mode'], 'in-process')
        self.assertEqual(data['config'], conf)
        self.assertEqual(data['client']['address'], '203.0.113.7')
        self.assertEqual(data['placeholders']['SERVER_HOST'], 'mail.example.test')
        self.assertEqual(data['placeholders']['SERVER_IP'], '192.0.2.1')
        self.assertTrue(data['placeholders']['BAD_DOMAIN'].endswith('.invalid'))
        self.assertEqual(set(verdicts(data).values()), {'PASS'})
        self.assertEqual(data['summary']['pass'], 20)
        self.assertFalse(data['summary']['open_relay'])
        self.assertLess(data['summary']['elapsed'], 1.0)
        kinds = [c['verdict'] for c in data['positive']]
        # Two N/A: a logged-in user's, not tested without --auth-user
        # (test_selftest_auth); the last three, no wide network in
        # mynetworks, SMTPUTF8 and loops.
        self.assertEqual(kinds, ['PASS'] * 6 + ['N/A'] * 2 + ['PASS'] * 4, data['positive'])
        sub = data['positive'][4]
        self.assertEqual([(x['sent'], x['code'], x['tls']) for x in sub['exchanges']
                          if x['sent'] and x['sent'][:4] in ('AUTH', 'MAIL')],
                         [('AUTH PLAIN AHByb2JlAHByb2Jl', 538, False),
                          ('MAIL FROM:<ksch@tester.example>', 530, False),
                          ('MAIL FROM:<ksch@tester.example>', 530, True)])
        self.assertEqual([(ls['role'], ls['auth']) for ls in data['policy']['listeners']],
                         [('mx', 'after STARTTLS, to clients that choose to log in'),
                          ('submission', 'after STARTTLS, and MAIL requires it')])
        # Probe 17 sends three RCPTs, the first in brackets, byte for byte.
        sent = [x['sent'] for x in data['probes'][17]['exchanges']]
        self.assertEqual(sent, [None, 'EHLO tester', 'mail from: ksch@[192.0.2.2]',
                                'RCPT TO:<tester.example!root>', 'RCPT TO:tester.example!nobody',
                                'RCPT TO:tester.example!root', 'RSET', 'QUIT'])

    def test_submission_listeners_in_process(self):
        dns = self.dnsmasq(hosts=HOSTS)
        srv = sallytest.Server(submissions=True, mynetworks=UNTRUSTED, dns_servers=dns.server)
        self.addCleanup(srv.close)          # its configuration only: never started
        rc, data = self.report('-c', srv.conf_path)
        self.assertEqual(rc, 0, data['summary'])
        checks = {c['check']: c for c in data['positive']}
        sub = checks['submission listener 127.0.0.1:%d: AUTH only after TLS, '
                     'MAIL without AUTH refused' % srv.sub_port]
        subs = checks['submissions listener 127.0.0.1:%d: AUTH offered inside TLS, '
                      'MAIL without AUTH refused' % srv.subs_port]
        self.assertEqual((sub['verdict'], subs['verdict']), ('PASS', 'PASS'))
        # submissions: one session, inside TLS from the greeting, no AUTH sent.
        self.assertTrue(all(x['tls'] for x in subs['exchanges']))
        self.assertEqual([(x['sent'], x['code']) for x in subs['exchanges']
                          if x['sent'] and x['sent'].startswith('MAIL')],
                         [('MAIL FROM:<ksch@tester.example>', 530)])
        self.assertIn('inside TLS EHLO offers AUTH ', subs['note'])
        roles = [(ls['role'], ls['auth']) for ls in data['policy']['listeners']]
        self.assertEqual(roles[2], ('submissions', 'from the first byte (implicit TLS), '
                                                   'and MAIL requires it'))

    def test_remote_submission_port(self):
        # Over the network the prober sees the submission port as any
        # client does: STARTTLS and no AUTH before TLS, no MAIL without it.
        dns = self.dnsmasq(hosts=HOSTS)
        srv = self.server(mynetworks=UNTRUSTED, dns_servers=dns.server)
        rc, data = self.report('127.0.0.1:%d' % srv.sub_port)
        self.assertEqual(rc, 0, data['summary'])
        self.assertTrue(data['policy']['starttls'])
        self.assertFalse(data['policy']['auth_before_tls'])
        self.assertIn('offers STARTTLS and no AUTH before TLS', data['policy']['text'])
        codes = {x['code'] for p in data['probes'] for x in p['exchanges']
                 if x['sent'] and re.match(r'(?i)mail from:', x['sent'])}
        self.assertEqual(codes, {530})
        # Bounces come to the MX, not here: that check does not apply.
        bounces = [c for c in data['positive'] if c['check'].startswith('bounces')]
        self.assertEqual(bounces[0]['verdict'], 'N/A', bounces)
        self.assertIn('MAIL needs AUTH here', bounces[0]['note'])
        self.assertEqual(srv.queue_names(), [])

    def test_open_configuration_fails(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test', 'mynetworks = 0.0.0.0/0'])
        rc, out, err = self.selftest('-c', conf)
        self.assertEqual(rc, 1, out + err)
        summary = out.strip().splitlines()[-1]
        m = re.search(r'OPEN RELAY: probes ([\d, ]+) would relay', summary)
        self.assertTrue(m, summary)
        named = [int(n) for n in m.group(1).split(', ')]
        failing = [int(n) for n in re.findall(r'(?m)^ {0,2}(\d+)  .*  FAIL$', out)]
        self.assertEqual(named, failing)
        self.assertIn(0, named)
        self.assertIn(1, named)
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 1)
        self.assertEqual(data['summary']['failed_probes'], named)
        self.assertTrue(data['summary']['open_relay'])

    def test_routing_kept_here_by_a_catchall_is_no_open_relay(self):
        # allow_untrusted_routing = yes: probe 8 (EXTERNAL%DOMAIN@us) gets
        # 250. With a catch-all it is delivered here, so no relay; handed
        # to qmail-queue, qmail's percenthack may relay it: still a FAIL,
        # and the note says when.
        dns = self.dnsmasq(hosts=HOSTS)
        base = ['hostname = mail.example.test',
                'local_domains = example.test, mail.example.test',
                'allow_untrusted_routing = yes']
        conf = self.sample_conf(dns, base + ['catchall = postmaster'])
        rc, data = self.report('-c', conf)
        probe = {p['number']: p for p in data['probes']}[8]
        self.assertEqual(probe_replies(data)[8][-1], ('RCPT TO', 250), probe)
        self.assertEqual(probe['verdict'], 'PASS', probe)
        self.assertIn('delivered here', probe['note'])
        self.assertNotIn(8, data['summary']['failed_probes'])
        conf = self.sample_conf(dns, base + ['local_delivery = qmail-queue:/bin/true'],
                                name='qmail.conf')
        rc, data = self.report('-c', conf)
        probe = {p['number']: p for p in data['probes']}[8]
        self.assertEqual(probe['verdict'], 'FAIL', probe)
        self.assertIn('control/percenthack', probe['note'])
        self.assertIn(8, data['summary']['failed_probes'])
        self.assertEqual(rc, 1)

    def test_refusing_its_own_domain_fails(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test',
                                      'local_domains =', 'relay_domains ='])
        rc, out, err = self.selftest('-c', conf)
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out, r'(?m)^  FAIL  mail for our domains is accepted from anyone$')
        summary = out.strip().splitlines()[-1]
        self.assertIn('not an open relay, but 1 check failed: mail for our domains', summary)

    def test_invalid_configuration_exits_2(self):
        path = os.path.join(self.dir, 'bad.conf')
        with open(path, 'w') as f:
            f.write('max_recipients = lots\n')
        rc, out, err = self.selftest('-c', path)
        self.assertEqual(rc, 2)
        self.assertEqual(out, '')
        self.assertIn('%s:1:' % path, err)
        rc, out, err = self.selftest('-c', os.path.join(self.dir, 'missing.conf'))
        self.assertEqual(rc, 2)

    def test_command_line(self):
        for args in (['--json'], ['--tester-domain', 'x.example'], ['localhost']):
            p = subprocess.run([self.bin] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=20)
            self.assertEqual(p.returncode, 2, args)
        rc, out, err = self.selftest('-c', 'x.conf', '127.0.0.1:25')
        self.assertEqual(rc, 2)
        rc, out, err = self.selftest('-n')
        self.assertEqual(rc, 2)

    def test_dns_decides_probe_2(self):
        # NXDOMAIN from the real DNS server: 501, PASS.
        dns = self.dnsmasq(hosts=HOSTS)
        rc, data = self.report('-c', self.sample_conf(dns))
        mail = data['probes'][2]['exchanges'][2]
        self.assertEqual(mail['reply'], '501 5.1.8 Sender domain must exist')
        self.assertEqual(mail['dns'], 'spam.mail.tester.invalid: does not exist (DNS)')
        self.assertEqual(data['probes'][2]['verdict'], 'PASS')
        self.assertRegex(dns.log_text(), r'query\[\w+\] spam\.mail\.tester\.invalid from')
        # The same name existing on that server: accepted, WEAK, exit 0.
        hosts = dict(HOSTS, **{'spam.mail.tester.invalid': '192.0.2.99'})
        dns2 = self.dnsmasq(hosts=hosts)
        rc, data = self.report('-c', self.sample_conf(dns2, name='exists.conf'))
        self.assertEqual(data['probes'][2]['exchanges'][2]['code'], 250)
        self.assertEqual(data['probes'][2]['verdict'], 'WEAK')
        self.assertEqual(rc, 0)
        # No DNS server answering: a temporary failure, 451, WEAK.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(silent.close)
        silent.bind(('127.0.0.1', 0))
        conf = os.path.join(self.dir, 'silent.conf')
        with open(self.sample_conf(dns)) as f:
            text = f.read().replace(dns.server, '127.0.0.1:%d' % silent.getsockname()[1])
        with open(conf, 'w') as f:
            f.write(text + 'dns_timeout = 1s\n')
        rc, data = self.report('-c', conf)
        mail = data['probes'][2]['exchanges'][2]
        self.assertEqual(mail['code'], 451, mail)
        self.assertEqual(data['probes'][2]['verdict'], 'WEAK')
        self.assertEqual(rc, 0)

    # over the network

    def test_remote_matches_in_process(self):
        dns = self.dnsmasq(hosts=HOSTS)
        srv = self.server(mynetworks=UNTRUSTED, dns_servers=dns.server)
        rc_local, local = self.report('-c', srv.conf_path)
        rc_remote, remote = self.report('127.0.0.1:%d' % srv.mx_port)
        self.assertEqual((rc_local, rc_remote), (0, 0))
        self.assertEqual(remote['mode'], 'remote')
        self.assertEqual(remote['placeholders']['SERVER_HOST'], 'mail.example.test')
        self.assertEqual(remote['placeholders']['SERVER_IP'], '127.0.0.1')
        self.assertEqual(remote['placeholders']['TESTER_IP'], '127.0.0.1')
        self.assertEqual(verdicts(remote), verdicts(local))
        self.assertEqual(probe_replies(remote), probe_replies(local))
        # The very same reply texts, line for line.
        for lp, rp in zip(local['probes'], remote['probes']):
            lr = [x['reply'] for x in lp['exchanges'] if x['sent'] and x['sent'][0] in 'mMR']
            rr = [x['reply'] for x in rp['exchanges'] if x['sent'] and x['sent'][0] in 'mMR']
            self.assertEqual(lr, rr, lp['number'])
        self.assertEqual(srv.queue_names(), [])
        # And an open one is seen as open from outside too.
        srv2 = self.server(mynetworks='127.0.0.0/8', dns_servers=dns.server)
        rc, remote2 = self.report('127.0.0.1:%d' % srv2.mx_port)
        self.assertEqual(rc, 1)
        self.assertIn(0, remote2['summary']['failed_probes'])
        self.assertEqual(srv2.queue_names(), [])

    def test_remote_text_and_server_name(self):
        dns = self.dnsmasq(hosts=HOSTS)
        srv = self.server(mynetworks=UNTRUSTED, dns_servers=dns.server)
        rc, out, err = self.selftest('--server-name', 'other.example.test',
                                     '127.0.0.1:%d' % srv.mx_port)
        self.assertEqual(rc, 0, out + err)
        self.assertTrue(out.startswith('Remote audit of 127.0.0.1:%d' % srv.mx_port), out[:200])
        self.assertIn('SERVER_HOST=other.example.test (given with --server-name)', out.replace('\n', ' '))
        self.assertIn('mail from: root@other.example.test', out)

    def test_remote_unreachable_exits_2(self):
        port = sallytest.free_port()
        rc, out, err = self.selftest('127.0.0.1:%d' % port)
        self.assertEqual(rc, 2)
        self.assertIn('cannot connect to 127.0.0.1 port %d' % port, err)
        rc, out, err = self.selftest('[::1')
        self.assertEqual(rc, 2)

    def test_remote_open_relay_that_is_not_sallyport(self):
        # A server that takes everything and says odd things: every probe
        # with a RCPT fails, and its bytes come out escaped.
        fake = FakeRelay()
        self.addCleanup(fake.close)
        rc, out, err = self.selftest('127.0.0.1:%d' % fake.port)
        self.assertEqual(rc, 1, out + err)
        self.assertIn('SERVER_HOST=relay.example.net (from the greeting)', out.replace('\n', ' '))
        self.assertNotIn('\x1b', out)
        self.assertIn('\\x1b[31m', out)
        self.assertIn('offers AUTH PLAIN LOGIN before TLS', out.replace('\n', ' '))
        rc, data = self.report('127.0.0.1:%d' % fake.port)
        with_rcpt = [p['number'] for p in data['probes'] if p['number'] not in (2, 3, 4)]
        self.assertEqual(data['summary']['failed_probes'], with_rcpt)
        self.assertTrue(data['policy']['auth_before_tls'])


class FakeRelay:
    """A minimal SMTP server on loopback that accepts every command (an
    open relay), with an escape sequence in its replies."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self.session(conn)
                except OSError:
                    pass        # the client went away: next one

    def session(self, conn):
        conn.sendall(b'220 relay.example.net ESMTP \x1b[31mOpenRelay\r\n')
        f = conn.makefile('rb')
        for line in f:
            verb = line[:4].upper()
            if verb == b'EHLO':
                conn.sendall(b'250-relay.example.net\r\n250 AUTH PLAIN LOGIN\r\n')
            elif verb == b'QUIT':
                conn.sendall(b'221 bye\r\n')
                return
            else:
                conn.sendall(b'250 ok \x1b[31m\r\n')

    def close(self):
        self.sock.close()


if __name__ == '__main__':
    sallytest.main()
