"""DANE for SMTP (RFC 7672) end to end: the daemon's runner against a real
DNSSEC world on loopback (sallytest_dnssec: nsd serving zones the test
signs with ldns-signzone, behind a validating unbound with their trust
anchors) and real TLS sinks (aiosmtpd with STARTTLS, showing certificates
the test makes with openssl: a test CA, leaves for the MX names).

What a user checks: whether the mail arrived (and inside TLS), whether the
sink was ever given MAIL (never, when DANE fails: not even in clear), the
delivery log line's tls= and auth= fields, and the queue (deferred mail
stays).

The MX tests need port 25 on 127.x addresses (the daemon has no key for
another port): they run as root (CI is root) and are skipped otherwise.
The smarthost tests use any port."""

import os
import random
import shutil
import subprocess
import tempfile

import sallytest
from sallytest_dnssec import DnssecWorld, tlsa_from_pem
from test_delivery import DeliveryCase, SENDER, message

SIGNED = 'dane.test'
INSECURE = 'insecure.dane.test'     # delegated without a DS


class Certs:
    """A test CA and leaves signed by it, made with the openssl command."""

    def __init__(self, top):
        self.dir = tempfile.mkdtemp(prefix='certs-', dir=top)
        self.ca = self._path('ca.pem')
        self._run('req', '-x509', '-newkey', 'ec', '-pkeyopt',
                  'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
                  '-subj', '/CN=DANE Test CA', '-addext',
                  'basicConstraints=critical,CA:TRUE', '-addext',
                  'keyUsage=critical,keyCertSign', '-keyout',
                  self._path('ca.key'), '-out', self.ca)

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        subprocess.run(['openssl'] + list(args), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def leaf(self, name):
        """(chain, key, leaf) PEM paths for a certificate of name, signed
        by the CA; the chain is the leaf, then the CA, as a server sends
        it."""
        key, csr, pem = (self._path(name + e) for e in ('.key', '.csr', '.pem'))
        self._run('req', '-new', '-newkey', 'ec', '-pkeyopt',
                  'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=' + name,
                  '-addext', 'subjectAltName=DNS:' + name, '-keyout', key,
                  '-out', csr)
        self._run('x509', '-req', '-in', csr, '-CA', self.ca, '-CAkey',
                  self._path('ca.key'), '-CAcreateserial', '-days', '2',
                  '-copy_extensions', 'copy', '-out', pem)
        chain = self._path(name + '-chain.pem')
        with open(chain, 'w') as out:
            for f in (pem, self.ca):
                with open(f) as src:
                    out.write(src.read())
        return chain, key, pem


class DaneCase(DeliveryCase):

    def setUp(self):
        super().setUp()
        self.certs = Certs(self.tmp)

    def world(self, records, **kw):
        w = DnssecWorld(records, **kw)
        w.start()
        self.addCleanup(w.close)
        return w

    def tls_sink(self, name, host='127.0.0.1', port=None, tls=True):
        """A sink showing a certificate for name (from the test CA); its
        leaf's PEM path as sink.leaf."""
        chain, key, pem = self.certs.leaf(name)
        s = self.sink(host=host, port=port, tls=tls, cert=(chain, key))
        s.leaf = pem
        return s

    def assert_no_mail(self, sink, srv):
        """The sink was never given MAIL, in clear or not."""
        self.assertEqual(sink.mails, [], srv.log_text()[-2000:])
        self.assertEqual(sink.messages, [])

    def assert_in_tls(self, sink, n=1):
        got = sink.wait(n)
        self.assertEqual(len(got), n, got)
        self.assertTrue(all(m.tls for m in got), got)
        self.assertTrue(all(tls for _, tls in sink.mails), sink.mails)
        return got


class Smarthost(DaneCase):
    """smarthost_tls = dane: the smarthost's _PORT._tcp TLSA records,
    validated, or the mail waits."""

    def daemon_for(self, world, name, sink, **kw):
        cfg = dict(dns_servers=world.server, dnssec='yes',
                   smarthost='%s:%d' % (name, sink.port), smarthost_tls='dane',
                   retry_min='1h', retry_max='2h')
        cfg.update(kw)
        return self.daemon(**cfg)

    def test_matching_tlsa_delivers_with_dane(self):
        sink = self.tls_sink('relay.dane.test')
        w = self.world({'relay.dane.test': {'A': '127.0.0.1'},
                        '_%d._tcp.relay.dane.test' % sink.port: {
                            'TLSA': tlsa_from_pem(sink.leaf, 3, 1, 1)}})
        srv = self.daemon_for(w, 'relay.dane.test', sink)
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('dane smarthost'))
        self.assert_in_tls(sink)
        line = self.status_line(srv, qid, 'friend@remote.test', 'sent')
        self.assertRegex(line, r' tls=TLSv1\.[23] cipher=\S+ auth=dane ')

    def test_mismatch_defers_and_sends_nothing(self):
        sink = self.tls_sink('relay.dane.test')
        other = self.certs.leaf('other.dane.test')[2]
        w = self.world({'relay.dane.test': {'A': '127.0.0.1'},
                        '_%d._tcp.relay.dane.test' % sink.port: {
                            'TLSA': tlsa_from_pem(other, 3, 1, 1)}})
        srv = self.daemon_for(w, 'relay.dane.test', sink)
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('mismatch'))
        line = self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        self.assertIn('tls=no tls_failure=validation-failure', line)
        self.assertIn('DANE: TLS', line)
        self.assert_no_mail(sink, srv)
        self.assertIn(qid, srv.wait_queue(queue_id=qid))

    def test_no_tlsa_defers_with_the_reason(self):
        sink = self.tls_sink('relay.dane.test')
        w = self.world({'relay.dane.test': {'A': '127.0.0.1'}})
        srv = self.daemon_for(w, 'relay.dane.test', sink)
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('no tlsa'))
        line = self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        self.assertIn('451 4.7.5 smarthost_tls = dane: no TLSA records at '
                      '_%d._tcp.relay.dane.test' % sink.port, line)
        self.assert_no_mail(sink, srv)

    def test_insecure_zone_defers_with_the_reason(self):
        sink = self.tls_sink('relay.insecure.dane.test')
        w = self.world({'relay.insecure.dane.test': {'A': '127.0.0.1'},
                        '_%d._tcp.relay.insecure.dane.test' % sink.port: {
                            'TLSA': tlsa_from_pem(sink.leaf, 3, 1, 1)}})
        srv = self.daemon_for(w, 'relay.insecure.dane.test', sink)
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('insecure'))
        line = self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        self.assertIn('smarthost_tls = dane: address lookup of '
                      'relay.insecure.dane.test not DNSSEC-secure', line)
        self.assert_no_mail(sink, srv)

    def test_unusable_tlsa_only_defers(self):
        # PKIX-EE(1) is not for SMTP (RFC 7672 3.1.3): for a smarthost the
        # admin asked DANE of, that is no DANE.
        sink = self.tls_sink('relay.dane.test')
        w = self.world({'relay.dane.test': {'A': '127.0.0.1'},
                        '_%d._tcp.relay.dane.test' % sink.port: {
                            'TLSA': tlsa_from_pem(sink.leaf, 1, 1, 1)}})
        srv = self.daemon_for(w, 'relay.dane.test', sink)
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('unusable'))
        line = self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        self.assertIn('smarthost_tls = dane: no usable TLSA records at '
                      '_%d._tcp.relay.dane.test' % sink.port, line)
        self.assert_no_mail(sink, srv)


class DirectMx(DaneCase):
    """No smarthost: the MX hosts of the recipient's domain, on port 25 of
    127.x addresses, as a signed zone names them."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sinks must listen on port 25, and '
                          'the daemon has no key for another port')

    def mx_sink(self, name, tls=True):
        """A sink on port 25 of a free 127.x address, showing a
        certificate for name; its address as sink.addr."""
        for _ in range(10):
            addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                     random.randint(2, 254))
            try:
                s = self.tls_sink(name, host=addr, port=25, tls=tls)
            except OSError:
                continue
            s.addr = addr
            return s
        self.fail('no free loopback address for port 25')

    def deliver(self, world, domain='dane.test'):
        """A daemon asking world's unbound, and one message to
        friend@domain; (daemon, queue id)."""
        srv = self.daemon(dns_servers=world.server, dnssec='yes',
                          retry_min='1h', retry_max='2h')
        rcpt = 'friend@' + domain
        return srv, self.send(srv, SENDER, [rcpt], message('to ' + domain))

    def test_matching_tlsa_3_1_1_delivers_with_dane(self):
        sink = self.mx_sink('mx.dane.test')
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(sink.leaf, 3, 1, 1)}})
        srv, qid = self.deliver(w)
        self.assert_in_tls(sink)
        line = self.status_line(srv, qid, 'friend@dane.test', 'sent')
        self.assertRegex(line, r' relay=mx\.dane\.test tls=TLSv1\.[23] cipher=\S+ '
                         r'auth=dane delay=')

    def test_mismatch_defers_and_never_sends_in_clear(self):
        sink = self.mx_sink('mx.dane.test')
        other = self.certs.leaf('other.dane.test')[2]
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(other, 3, 1, 1)}})
        srv, qid = self.deliver(w)
        line = self.status_line(srv, qid, 'friend@dane.test', 'deferred')
        self.assertIn(' tls=no tls_failure=validation-failure ', line)
        self.assertIn('no matching DANE TLSA records', line)
        self.assert_no_mail(sink, srv)
        self.assertIn(qid, srv.wait_queue(queue_id=qid))

    def test_mx_without_starttls_but_with_tlsa_defers(self):
        sink = self.mx_sink('mx.dane.test', tls=False)
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(sink.leaf, 3, 1, 1)}})
        srv, qid = self.deliver(w)
        line = self.status_line(srv, qid, 'friend@dane.test', 'deferred')
        self.assertIn(' tls=no tls_failure=starttls-not-supported ', line)
        self.assertIn('DANE: TLS required but STARTTLS not offered', line)
        self.assert_no_mail(sink, srv)

    def test_dane_ta_2_1_1_with_a_test_ca_delivers(self):
        sink = self.mx_sink('mx.dane.test')
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(self.certs.ca, 2, 1, 1)}})
        srv, qid = self.deliver(w)
        self.assert_in_tls(sink)
        line = self.status_line(srv, qid, 'friend@dane.test', 'sent')
        self.assertIn(' auth=dane ', line)

    def test_dane_ta_for_another_name_defers(self):
        # The right CA, a certificate for another host (RFC 7672 3.2.2).
        sink = self.mx_sink('www.dane.test')
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(self.certs.ca, 2, 1, 1)}})
        srv, qid = self.deliver(w)
        line = self.status_line(srv, qid, 'friend@dane.test', 'deferred')
        self.assertIn(' tls=no tls_failure=certificate-host-mismatch ', line)
        self.assert_no_mail(sink, srv)

    def test_unusable_tlsa_only_is_tls_without_authentication(self):
        # PKIX-EE(1) is unusable for SMTP: TLS still mandatory, any
        # certificate (RFC 7672 2.2).
        sink = self.mx_sink('mx.dane.test')
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(sink.leaf, 1, 1, 1)}})
        srv, qid = self.deliver(w)
        self.assert_in_tls(sink)
        line = self.status_line(srv, qid, 'friend@dane.test', 'sent')
        self.assertRegex(line, r' tls=TLSv1\.[23] cipher=\S+ auth=none ')

    def test_unusable_tlsa_and_no_starttls_defers(self):
        sink = self.mx_sink('mx.dane.test', tls=False)
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(sink.leaf, 1, 1, 1)}})
        srv, qid = self.deliver(w)
        line = self.status_line(srv, qid, 'friend@dane.test', 'deferred')
        self.assertIn('TLSA records: TLS required but STARTTLS not offered', line)
        self.assert_no_mail(sink, srv)

    def test_bogus_tlsa_signature_defers(self):
        sink = self.mx_sink('mx.dane.test')
        w = self.world({'dane.test': {'MX': (10, 'mx.dane.test')},
                        'mx.dane.test': {'A': sink.addr,
                                         'TLSA': tlsa_from_pem(sink.leaf, 3, 1, 1)}},
                       bogus=[('_25._tcp.mx.dane.test', 'TLSA')])
        srv, qid = self.deliver(w)
        line = self.status_line(srv, qid, 'friend@dane.test', 'deferred')
        self.assertIn('451 4.7.5 mx.dane.test: TLSA lookup of _25._tcp.mx.dane.test '
                      'failed', line)
        self.assert_no_mail(sink, srv)

    def test_failed_dane_host_is_skipped_for_the_next(self):
        bad = self.mx_sink('mx1.dane.test')
        good = self.mx_sink('mx2.dane.test')
        other = self.certs.leaf('other.dane.test')[2]
        w = self.world({'dane.test': {'MX': [(10, 'mx1.dane.test'),
                                             (20, 'mx2.dane.test')]},
                        'mx1.dane.test': {'A': bad.addr,
                                          'TLSA': tlsa_from_pem(other, 3, 1, 1)},
                        'mx2.dane.test': {'A': good.addr,
                                          'TLSA': tlsa_from_pem(good.leaf, 3, 1, 2)}})
        srv, qid = self.deliver(w)
        self.assert_in_tls(good)
        line = self.status_line(srv, qid, 'friend@dane.test', 'sent')
        self.assertIn(' relay=mx2.dane.test tls=', line)
        self.assertIn(' auth=dane ', line)
        self.assert_no_mail(bad, srv)
        self.assertRegex(srv.log_text(), r'id=%s relay=mx1\.dane\.test dane=dane '
                         r'tls=no tls_failure=validation-failure attempt failed' % qid)

    def test_insecure_zone_ignores_its_tlsa(self):
        # An unsigned zone's TLSA records could be anyone's: as before
        # DANE, opportunistic TLS (RFC 7672 2.2).
        sink = self.mx_sink('mx.insecure.dane.test')
        other = self.certs.leaf('other.dane.test')[2]
        w = self.world({'insecure.dane.test': {'MX': (10, 'mx.insecure.dane.test')},
                        'mx.insecure.dane.test': {
                            'A': sink.addr, 'TLSA': tlsa_from_pem(other, 3, 1, 1)}})
        srv, qid = self.deliver(w, 'insecure.dane.test')
        self.assert_in_tls(sink)
        line = self.status_line(srv, qid, 'friend@insecure.dane.test', 'sent')
        self.assertIn(' auth=none ', line)


if __name__ == '__main__':
    sallytest.main()
