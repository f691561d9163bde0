"""REQUIRETLS and TLS-Required (RFC 8689) against the real daemon.

Reception: REQUIRETLS is offered inside TLS only; MAIL ... REQUIRETLS in
clear is refused with 5.7.10; inside TLS it is kept with the queue entry,
as is a "TLS-Required: No" header field, and `sallyport --queue list`
shows either.

Delivery: a message submitted with STARTTLS and MAIL ... REQUIRETLS to
sallyport A goes through the smarthost (smarthost_tls = required, the
test CA) to a second sallyport, B, which offers REQUIRETLS inside TLS:
delivered into B's Maildir, B's log saying it came with REQUIRETLS. A
next hop that does not offer it (an aiosmtpd sink with STARTTLS), or a
smarthost that is not pinned (smarthost_tls = opportunistic), is never
given MAIL: the sender gets a bounce with 5.7.30. Direct to MX hosts (a
signed zone behind a validating unbound: sallytest_dnssec; root, for
port 25): a DANE-validated host without REQUIRETLS and a host without
DANE are not used (a deferral, not a bounce, while a DANE host that
could take it does not answer); a "TLS-Required: No" message goes to a host whose
DANE fails (a TLSA mismatch, a bogus TLSA signature), opportunistically.
Under MTA-STS (test_mta_sts's world: an HTTPS policy server and dnsmasq):
an enforced host without REQUIRETLS is not used, a testing policy is
applied as enforce for a REQUIRETLS message, and a "TLS-Required: No"
message goes to an MX the enforced policy does not list.

Every connection stays on 127.0.0.0/8; the certificates come from
throw-away CAs (sallytest.tls_files(), test_dane.Certs)."""

import json
import os
import subprocess

import sallytest
import test_mta_sts
from sallytest_dnssec import tlsa_from_pem
from test_dane import DaneCase
from test_delivery import SENDER, message

MSG = (b'From: alice@example.test\r\nTo: u@example.test\r\nSubject: secret\r\n\r\n'
       b'for your eyes only\r\n')
R_NEEDS_TLS = '530 5.7.10 REQUIRETLS needs a TLS session: STARTTLS first'


def keywords(reply):
    """The extension keywords of an EHLO reply."""
    return [ln[4:].split(' ')[0].upper() for ln in reply.lines[1:]]


def queue_list(srv, *args):
    """sallyport --queue list ARGS: its standard output."""
    p = subprocess.run([sallytest.binary(), '--queue', 'list'] + list(args) +
                       ['-c', srv.conf_path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p
    return p.stdout.decode()


def submit(tc, srv, rcpts, msg, requiretls=True):
    """STARTTLS and AUTH on the submission port of srv, then MAIL with
    REQUIRETLS (or without); returns the queue id."""
    with sallytest.Client(srv.sub_port) as c:
        c.cmd('EHLO client.example')
        c.starttls()
        tc.assertIn('REQUIRETLS', keywords(c.cmd('EHLO client.example')))
        tc.assertEqual(c.auth().code, 235)
        r = c.cmd('MAIL FROM:<%s>%s' % (SENDER, ' REQUIRETLS' if requiretls else ''))
        tc.assertEqual(r.code, 250, r)
        for rcpt in rcpts:
            tc.assertEqual(c.cmd('RCPT TO:<%s>' % rcpt).code, 250)
        tc.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(msg)
        tc.assertEqual(r.code, 250, r)
        c.cmd('QUIT')
    return r.queue_id()


class Reception(sallytest.TestCase):

    def setUp(self):
        self.srv = self.server()

    def tls_client(self):
        c = self.ehlo_client(self.srv.mx_port)
        c.starttls()
        return c

    def test_offered_inside_tls_only(self):
        c = self.ehlo_client(self.srv.mx_port)
        r = c.cmd('EHLO client.example')
        self.assertIn('STARTTLS', keywords(r))
        self.assertNotIn('REQUIRETLS', keywords(r))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org> REQUIRETLS').last, R_NEEDS_TLS)
        # nothing of the refused transaction is left over
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 503)
        c.starttls()
        r = c.cmd('EHLO client.example')
        self.assertIn('REQUIRETLS', keywords(r))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org> REQUIRETLS=YES').last,
                         '501 5.5.4 Bad REQUIRETLS parameter: it takes no value')
        c.cmd('QUIT')
        self.assertRegex(self.srv.log_text(),
                         r'reject: MAIL from \[127\.0\.0\.1\]: 530 5\.7\.10 REQUIRETLS')
        # the submission listener offers it inside TLS too
        s = self.ehlo_client(self.srv.sub_port)
        self.assertNotIn('REQUIRETLS', keywords(s.cmd('EHLO client.example')))
        s.starttls()
        self.assertIn('REQUIRETLS', keywords(s.cmd('EHLO client.example')))
        s.cmd('QUIT')

    def test_kept_with_the_entry_and_listed(self):
        c = self.tls_client()
        c.cmd('EHLO client.example')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org> REQUIRETLS').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        # RFC 8689 5: with REQUIRETLS on MAIL the header field is ignored
        r = c.data(b'TLS-Required: No\r\n' + MSG)
        self.assertEqual(r.code, 250, r)
        strict = r.queue_id()
        r = c.transaction('b@example.org', ['u@example.test'], b'TLS-Required: No\r\n' + MSG)
        self.assertEqual(r.code, 250, r)
        optional = r.queue_id()
        r = c.transaction('c@example.org', ['u@example.test'], MSG)
        self.assertEqual(r.code, 250, r)
        plain = r.queue_id()
        c.cmd('QUIT')

        e = self.srv.queue_entry(strict)
        self.assertEqual(e.header.get('requiretls'), 'yes')
        self.assertNotIn('tlsrequired', e.header)
        e = self.srv.queue_entry(optional)
        self.assertNotIn('requiretls', e.header)
        self.assertEqual(e.header.get('tlsrequired'), 'off')
        self.assertIn(b'\r\nTLS-Required: No\r\n', e.body)    # the field stays
        e = self.srv.queue_entry(plain)
        self.assertEqual(e.header.get('tlsrequired'), 'yes')

        out = queue_list(self.srv)
        blocks = {b.split('\n')[0]: b for b in out.split('\n\n')}
        self.assertIn('\n  tls       REQUIRETLS\n', blocks[strict])
        self.assertIn('\n  tls       TLS-Required: No\n', blocks[optional])
        self.assertNotIn('\n  tls ', blocks[plain])
        doc = {e['id']: e for e in json.loads(queue_list(self.srv, '--json'))['entries']}
        self.assertEqual(doc[strict]['tls'], 'REQUIRETLS')
        self.assertEqual(doc[optional]['tls'], 'TLS-Required: No')
        self.assertIsNone(doc[plain]['tls'])
        self.assertRegex(self.srv.log_text(), r'id=%s TLS-Required: No: DANE and MTA-STS '
                         r'failures are ignored' % optional)


class Delivery(DaneCase):

    def submit(self, srv, rcpts, msg, requiretls=True):
        return submit(self, srv, rcpts, msg, requiretls)

    def next_hop(self):
        """Sallyport B: takes mail for remote.test into Maildirs, TLS with
        the test CA's certificate (mail.example.test, 127.0.0.1)."""
        return self.daemon(local_domains='remote.test', submission=False)

    def assert_in_b(self, b, domain, subject):
        """The message reached user@domain's Maildir at sallyport B, and
        B was given MAIL with REQUIRETLS, inside TLS, and kept it."""
        got = self.mailbox('user', domain=domain)
        self.assertEqual(len(got), 1, got)
        self.assertIn(b'\nSubject: %s\n' % subject.encode(), got[0])
        self.assertTrue(b.wait_log(r'accepted: from=<%s> .* proto=ESMTPS requiretls=yes'
                                   % SENDER), b.log_text()[-2000:])

    def bounce_of(self, srv, qid, rcpt):
        """The bounce in the sender's Maildir, after the status line."""
        line = self.status_line(srv, qid, rcpt, 'bounced')
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, got)
        return line, got[0]

    def test_smarthost_offering_requiretls_gets_it(self):
        b = self.next_hop()
        a = self.daemon(hostname='relay-a.example.test',
                        smarthost='[127.0.0.1]:%d' % b.mx_port, smarthost_tls='required',
                        smarthost_ca_file=sallytest.tls_files()[0])
        qid = self.submit(a, ['user@remote.test'], message('for B only'))
        line = self.status_line(a, qid, 'user@remote.test', 'sent')
        self.assertRegex(line, r' tls=TLSv1\.[23] cipher=\S+ auth=ca ')
        self.assert_in_b(b, 'remote.test', 'for B only')
        self.assertEqual(self.mailbox('sender', n=0, timeout=0), [], 'no bounce')

    def test_next_hop_without_requiretls_bounces_5_7_30(self):
        sink = self.sink(tls=True)
        srv = self.smarthost(sink)
        qid = self.submit(srv, ['friend@remote.test'], message('not to the sink'))
        line, bounce = self.bounce_of(srv, qid, 'friend@remote.test')
        self.assertIn('550 5.7.30 REQUIRETLS support required, but was not offered '
                      'by host 127.0.0.1:%d' % sink.port, line)
        self.assertIn(b'Status: 5.7.30', bounce)
        self.assertIn(b'Subject: not to the sink', bounce)   # the header comes back
        self.assertNotIn(b'hello', bounce.split(b'text/rfc822-headers', 1)[1])
        self.assert_no_mail(sink, srv)
        # the same message without REQUIRETLS goes
        qid = self.submit(srv, ['friend@remote.test'], message('plain'), requiretls=False)
        self.assert_in_tls(sink)
        self.assertNotIn('REQUIRETLS', sink.messages[0].mail_options)

    def aliases(self, line):
        path = os.path.join(self.tmp, 'aliases')
        with open(path, 'w') as f:
            f.write(line + '\n')
        return path

    def test_forwarded_by_an_alias_keeps_requiretls(self):
        # A local alias sends a copy outside: the new queue entry keeps
        # what the sender asked (no downgrade by forwarding).
        sink = self.sink(tls=True)
        srv = self.smarthost(sink, aliases=self.aliases('fwd: friend@remote.test'))
        qid = self.submit(srv, ['fwd@example.test'], message('forwarded'))
        self.wait_gone(srv, qid)
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, got)
        self.assertIn(b'Status: 5.7.30', got[0])
        self.assertIn(b'friend@remote.test', got[0])
        self.assert_no_mail(sink, srv)

    def test_smarthost_not_pinned_bounces_without_connecting(self):
        sink = self.sink(tls=True)
        srv = self.smarthost(sink, smarthost_tls='opportunistic')
        qid = self.submit(srv, ['friend@remote.test'], message('not pinned'))
        line, bounce = self.bounce_of(srv, qid, 'friend@remote.test')
        self.assertIn('550 5.7.30 REQUIRETLS support required, but the smarthost is not '
                      'authenticated (smarthost_tls = opportunistic, not required or dane)',
                      line)
        self.assert_no_mail(sink, srv)

    # --- direct to MX hosts: DANE ---------------------------------------

    def mx(self, name, tls=True):
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sinks must listen on port 25')
        from test_dane import DirectMx
        return DirectMx.mx_sink(self, name, tls=tls)

    def mx_daemon(self, world, **kw):
        return self.daemon(dns_servers=world.server, dnssec='yes',
                           retry_min='1h', retry_max='2h', **kw)

    def test_dane_host_without_requiretls_and_host_without_dane_bounce(self):
        dane = self.mx('mx1.dane.test')
        plain = self.mx('mx.insecure.dane.test')
        w = self.world({'dane.test': {'MX': [(10, 'mx1.dane.test'),
                                             (20, 'mx.insecure.dane.test')]},
                        'mx1.dane.test': {'A': dane.addr,
                                          'TLSA': tlsa_from_pem(dane.leaf, 3, 1, 1)},
                        'mx.insecure.dane.test': {'A': plain.addr}})
        srv = self.mx_daemon(w)
        qid = self.submit(srv, ['friend@dane.test'], message('no host fits'))
        line, bounce = self.bounce_of(srv, qid, 'friend@dane.test')
        self.assertIn('5.7.30 REQUIRETLS support required', line)
        self.assertIn(b'Status: 5.7.30', bounce)
        self.assert_no_mail(dane, srv)
        self.assert_no_mail(plain, srv)
        self.assertRegex(srv.log_text(), r'550 5\.7\.30 REQUIRETLS support required, but '
                         r'was not offered by host %s' % dane.addr.replace('.', r'\.'))

    def test_a_host_that_may_qualify_later_defers_rather_than_bounces(self):
        # mx1 has DANE but does not answer now (nothing listens on its
        # port 25); mx2 has no DANE: not used. Not a bounce: mx1 may
        # take it later.
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sinks must listen on port 25')
        from sallytest_sts import loopback_listener
        down = loopback_listener(25)
        leaf = self.certs.leaf('mx1.dane.test')[2]
        plain = self.mx('mx.insecure.dane.test')
        w = self.world({'dane.test': {'MX': [(10, 'mx1.dane.test'),
                                             (20, 'mx.insecure.dane.test')]},
                        'mx1.dane.test': {'A': down, 'TLSA': tlsa_from_pem(leaf, 3, 1, 1)},
                        'mx.insecure.dane.test': {'A': plain.addr}})
        srv = self.mx_daemon(w)
        qid = self.submit(srv, ['friend@dane.test'], message('wait for mx1'))
        line = self.status_line(srv, qid, 'friend@dane.test', 'deferred')
        self.assertNotIn('5.7.30', line)
        self.assertIn(qid, srv.wait_queue(queue_id=qid))
        self.assert_no_mail(plain, srv)
        self.assertEqual(self.mailbox('sender', n=0, timeout=0), [], 'no bounce')

    def sallyport_mx(self, name):
        """Sallyport B as an MX host on port 25 of a free 127.x address,
        with a certificate for name from the test CA; (daemon, address,
        leaf PEM)."""
        import random
        import socket
        chain, key, leaf = self.certs.leaf(name)
        for _ in range(10):
            addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                     random.randint(2, 254))
            with socket.socket() as probe:
                try:
                    probe.bind((addr, 25))
                except OSError:
                    continue
            srv = self.daemon(local_domains='dane.test', submission=False,
                              extra_listen=['%s:25 mx' % addr], tls_cert=chain, tls_key=key)
            return srv, addr, leaf
        self.fail('no free loopback address for port 25')

    def test_next_dane_host_offering_requiretls_gets_it(self):
        first = self.mx('mx1.dane.test')            # DANE, no REQUIRETLS
        if os.geteuid() != 0:
            self.skipTest('needs root')
        b, addr, leaf = self.sallyport_mx('mx2.dane.test')
        w = self.world({'dane.test': {'MX': [(10, 'mx1.dane.test'), (20, 'mx2.dane.test')]},
                        'mx1.dane.test': {'A': first.addr,
                                          'TLSA': tlsa_from_pem(first.leaf, 3, 1, 1)},
                        'mx2.dane.test': {'A': addr, 'TLSA': tlsa_from_pem(leaf, 3, 1, 1)}})
        srv = self.mx_daemon(w)
        qid = self.submit(srv, ['user@dane.test'], message('second host'))
        line = self.status_line(srv, qid, 'user@dane.test', 'sent')
        self.assertRegex(line, r' relay=mx2\.dane\.test tls=TLSv1\.[23] cipher=\S+ auth=dane ')
        self.assert_in_b(b, 'dane.test', 'second host')
        self.assert_no_mail(first, srv)

    def test_tls_required_no_ignores_dane_failures(self):
        bad = self.mx('mx.dane.test')
        other = self.certs.leaf('other.dane.test')[2]
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': bad.addr,
                                         'TLSA': tlsa_from_pem(other, 3, 1, 1)}})
        srv = self.mx_daemon(w)
        # without the field: deferred, never sent (as test_dane checks)
        qid = self.send(srv, SENDER, ['friend@dane.test'], message('strict'))
        self.status_line(srv, qid, 'friend@dane.test', 'deferred')
        self.assert_no_mail(bad, srv)
        msg = b'TLS-Required: No\r\n' + message('whatever it takes')
        qid = self.send(srv, SENDER, ['friend@dane.test'], msg)
        line = self.status_line(srv, qid, 'friend@dane.test', 'sent')
        self.assertRegex(line, r' tls=TLSv1\.[23] cipher=\S+ auth=none ')
        [got] = self.assert_in_tls(bad)
        self.assertIn(b'Subject: whatever it takes', got.content)

    def test_tls_required_no_survives_an_alias(self):
        bad = self.mx('mx.dane.test')
        other = self.certs.leaf('other.dane.test')[2]
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': bad.addr,
                                         'TLSA': tlsa_from_pem(other, 3, 1, 1)}})
        srv = self.mx_daemon(w, aliases=self.aliases('fwd: friend@dane.test'))
        msg = b'TLS-Required: No\r\n' + message('forwarded anyway')
        self.send(srv, SENDER, ['fwd@example.test'], msg)
        [got] = self.assert_in_tls(bad)
        self.assertEqual(got.rcpt_tos, ['friend@dane.test'])

    def test_tls_required_no_ignores_a_bogus_tlsa_lookup(self):
        sink = self.mx('mx.dane.test')
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(sink.leaf, 3, 1, 1)}},
                       bogus=[('_25._tcp.mx.dane.test', 'TLSA')])
        srv = self.mx_daemon(w)
        msg = b'TLS-Required: No\r\n' + message('bogus but fine')
        qid = self.send(srv, SENDER, ['friend@dane.test'], msg)
        line = self.status_line(srv, qid, 'friend@dane.test', 'sent')
        self.assertIn(' auth=none ', line)
        self.assert_in_tls(sink)


class MtaSts(test_mta_sts.MtaSts):
    """The MX under sts.test's MTA-STS policy (test_mta_sts's world: a
    real HTTPS policy server, dnsmasq, port 25 and 443 on 127.x)."""

    def test_rt_enforced_host_without_requiretls_bounces(self):
        sink = self.mx_sink()           # a certificate valid for the MX
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = submit(self, srv, [test_mta_sts.RCPT], message('sts, no offer'))
        line = self.status_line(srv, qid, test_mta_sts.RCPT, 'bounced')
        self.assertIn('550 5.7.30 REQUIRETLS support required, but was not offered by '
                      'host %s:25' % self.mx_addr, line)
        self.assertEqual(sink.mails, [])
        self.assertIn(b'Status: 5.7.30', self.mailbox('sender')[0])

    def test_rt_testing_policy_is_applied_as_enforce(self):
        # RFC 8689 4.2.1: an MX the testing policy does not list is not
        # used for a REQUIRETLS message (it would be for any other)
        sink = self.mx_sink()
        self.web.body = test_mta_sts.policy(mode='testing', mx=('mail.elsewhere.example',))
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = submit(self, srv, [test_mta_sts.RCPT], message('testing, not listed'))
        line = self.deferred_by_policy(srv, qid, sink, 'MX host %s is not in the MTA-STS '
                                       'policy of %s (mode testing, enforced for '
                                       'REQUIRETLS' % (test_mta_sts.MX, test_mta_sts.DOMAIN))
        self.assertNotIn('5.7.30', line)

    def test_rt_tls_required_no_ignores_an_enforced_policy(self):
        sink = self.mx_sink(name='wrong.example.net')
        self.web.body = test_mta_sts.policy(mx=('mail.elsewhere.example',))
        self.web.start()
        srv = self.sts_daemon(self.dns())
        msg = b'TLS-Required: No\r\n' + message('policy or not')
        qid = self.send(srv, SENDER, [test_mta_sts.RCPT], msg)
        self.assertEqual(len(sink.wait(1)), 1, srv.log_text()[-3000:])
        line = self.status_line(srv, qid, test_mta_sts.RCPT, 'sent')
        self.assertRegex(line, r' tls=TLSv1\.[23] cipher=\S+ auth=none ')


# Only the tests above: the inherited ones are test_mta_sts's to run.
for _name in dir(test_mta_sts.MtaSts):
    if _name.startswith('test_'):
        setattr(MtaSts, _name, None)


if __name__ == '__main__':
    sallytest.main()
