"""The deployment doctor's TLS checks (sallyport --selftest --dns):
MTA-STS, TLSA and the certificate, against a world on loopback.

The local domain dane.test lives in a DNSSEC-signed zone (nsd behind a
validating unbound, sallytest_dnssec; dnssec = yes): MX 10 mx.dane.test
(the hostname), its TLSA record 3 1 1 of our key, the _mta-sts TXT
record, and mta-sts.dane.test naming a 127.x address where an HTTPS
policy server (sallytest_sts.PolicyServer, a certificate of the test
CA) listens on port 443. mta_sts_ca_file names the test CA: the doctor
trusts it for the policy server and for our own certificate's chain.

A correct setup gives PASS on every TLS line; each case breaks one
thing and looks for its line, its verdict, its fix, and the exit
status (1 with a FAIL). The other jobs of the doctor (MX, SPF, ...)
are their own tests'; here their lines only count towards the exit
status, which must follow the report. Port 443 needs root.
"""

import json
import os
import subprocess
import tempfile

import sallytest
from sallytest_dnssec import DnssecWorld, tlsa_from_pem
from sallytest_sts import PolicyServer, loopback_listener, policy

DOMAIN = 'dane.test'
MX = 'mx.dane.test'
MX2 = 'mx2.dane.test'
WELL_KNOWN = 'https://mta-sts.dane.test/.well-known/mta-sts.txt'
TLS_JOBS = ('mta-sts', 'tlsa', 'cert', 'cert-name')


class DoctorTls(sallytest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('needs root: the policy server listens on port 443')
        self.bin = sallytest.binary()
        tmp = tempfile.TemporaryDirectory(prefix='sallytest-doctortls-')
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.ca = sallytest.tls_files()[0]
        self.web_addr = loopback_listener(443)
        web_cert = sallytest.make_certificate(self.dir, 'mta-sts.' + DOMAIN, ip=None)
        self.web = PolicyServer(self.web_addr, *web_cert, body=policy(mx=(MX,), max_age=604800))
        self.addCleanup(self.web.stop)
        self.cert = sallytest.make_certificate(self.dir, MX, ip=None, days=90)

    def world(self, tlsa=True, sts=True, mx=((10, MX),), extra=None, cert=None, unsigned=()):
        """The signed zone of dane.test, started: TLSA of cert (ours by
        default) when tlsa is True, the records given when a list."""
        cert = cert or self.cert[0]
        records = {
            DOMAIN: {'MX': list(mx), 'TXT': 'v=spf1 mx -all'},
            '_dmarc.' + DOMAIN: {'TXT': 'v=DMARC1; p=reject; rua=mailto:postmaster@dane.test'},
            MX: {'A': '127.0.0.1'},
            MX2: {'A': '127.0.0.1'},
            'mta-sts.' + DOMAIN: {'A': self.web_addr},
        }
        if tlsa:
            records[MX]['TLSA'] = tlsa if isinstance(tlsa, list) else [tlsa_from_pem(cert)]
        if sts:
            records['_mta-sts.' + DOMAIN] = {'TXT': 'v=STSv1; id=20261202'}
        records.update(extra or {})
        w = DnssecWorld(records, signed=(DOMAIN,), unsigned=unsigned)
        w.start()
        self.addCleanup(w.close)
        return w

    def conf(self, world, cert=None, **over):
        cert, key = cert or self.cert
        values = {
            'hostname': MX,
            'local_domains': DOMAIN,
            'listen': '127.0.0.1:2525 mx',
            'queue_dir': os.path.join(self.dir, 'queue'),
            'tls_cert': cert,
            'tls_key': key,
            'dns_servers': world.server,
            'dnssec': 'yes',
            'mta_sts_ca_file': self.ca,
            'dns_timeout': '5',
        }
        values.update(over)
        path = os.path.join(self.dir, 'sallyport.conf')
        with open(path, 'w') as f:
            f.write(''.join('%s = %s\n' % kv for kv in values.items() if kv[1] is not None))
        return path

    def doctor(self, conf):
        """(exit status, {(job, subject): check}, text report)."""
        run = dict(stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        p = subprocess.run([self.bin, '--selftest', '--dns', '--json', '-c', conf], **run)
        try:
            report = json.loads(p.stdout)
        except ValueError:
            self.fail('not JSON (rc %d): %r\nstderr: %s' % (p.returncode, p.stdout[:500], p.stderr))
        self.assertEqual(report['exit'], p.returncode)
        verdicts = [c['verdict'] for c in report['checks']]
        self.assertEqual(p.returncode, 1 if 'FAIL' in verdicts else 2 if 'ERROR' in verdicts else 0,
                         report['checks'])
        text = subprocess.run([self.bin, '--selftest', '--dns', '-c', conf], **run)
        self.assertEqual(text.returncode, p.returncode)
        checks = {(c['check'], c['subject']): c for c in report['checks'] if c['check'] in TLS_JOBS}
        return p.returncode, checks, text.stdout

    def verdict(self, checks, job, subject, verdict, *words, fix=()):
        c = checks.get((job, subject))
        self.assertIsNotNone(c, '%s %s: no such line in %s' % (job, subject, sorted(checks)))
        self.assertEqual(c['verdict'], verdict, c)
        for w in words:
            self.assertIn(w, c['detail'], c)
        for w in fix:
            self.assertIn(w, c['fix'] or '', c)
        if verdict == 'PASS':
            self.assertIsNone(c['fix'], c)
        return c

    def our_tlsa(self, cert=None):
        return tlsa_from_pem((cert or self.cert)[0], 3, 1, 1)

    # --- a correct setup -------------------------------------------------------

    def test_correct_setup_passes_every_tls_line(self):
        self.web.start()
        rc, checks, text = self.doctor(self.conf(self.world()))
        self.verdict(checks, 'mta-sts', DOMAIN, 'PASS', 'policy mode enforce', 'mx mx.dane.test',
                     'covers every MX')
        self.verdict(checks, 'tlsa', MX, 'PASS', self.our_tlsa(), 'DNSSEC-validated')
        self.verdict(checks, 'cert', self.cert[0], 'PASS', 'the chain verifies against ' + self.ca)
        self.verdict(checks, 'cert-name', MX, 'PASS', 'the hostname')
        self.assertEqual(sorted(checks), sorted([('mta-sts', DOMAIN), ('tlsa', MX),
                                                 ('cert', self.cert[0]), ('cert-name', MX)]))
        self.assertRegex(text, r'PASS +mta-sts +dane\.test: record id=20261202, policy mode '
                         r'enforce')
        self.assertEqual(self.web.requests, [('/.well-known/mta-sts.txt', 'mta-sts.' + DOMAIN)] * 2)

    # --- MTA-STS -----------------------------------------------------------------

    def test_no_record_is_a_warning_with_what_to_publish(self):
        rc, checks, text = self.doctor(self.conf(self.world(sts=False)))
        self.verdict(checks, 'mta-sts', DOMAIN, 'WARN', 'no MTA-STS record at _mta-sts.dane.test',
                     fix=('publish: _mta-sts.dane.test. TXT "v=STSv1; id=',
                          'serve ' + WELL_KNOWN, '  version: STSv1', '  mx: ' + MX,
                          '  max_age: 604800'))
        self.assertNotEqual(rc, 2)
        self.assertIn('fix: publish: _mta-sts.dane.test. TXT', text)
        self.assertEqual(self.web.requests, [], 'a policy fetched without a record')

    def test_record_without_policy_fails(self):
        rc, checks, text = self.doctor(self.conf(self.world()))     # no policy server
        self.verdict(checks, 'mta-sts', DOMAIN, 'FAIL', 'record id=20261202 is published',
                     'sts-policy-fetch-error', fix=('serve ' + WELL_KNOWN, '  mx: ' + MX))
        self.assertEqual(rc, 1)
        self.assertRegex(text, r'FAIL +mta-sts +dane\.test: record id=20261202 is published')

    def test_policies_that_do_not_agree(self):
        world = self.world()
        conf = self.conf(world)
        self.web.start()
        cases = [
            (policy(mx=('mail.elsewhere.example', '*.other.test'), max_age=604800), 'FAIL',
             ['MX mx.dane.test not in the policy'],
             ['add to the policy at %s: mx: %s' % (WELL_KNOWN, MX), 'publish a new id']),
            (policy(mode='enforcing', mx=(MX,)), 'FAIL', ['the policy is not valid'],
             ['  mode: testing']),
            (policy(mode='none', mx=()), 'WARN', ['policy mode none'], ['serve mode: testing']),
            (policy(mx=(MX,), max_age=3600), 'WARN', ['max_age 3600 s is under a day'],
             ['max_age: 604800']),
            (policy(mode='testing', mx=('*.dane.test',), max_age=604800), 'PASS',
             ['policy mode testing', 'covers every MX'], []),
        ]
        for body, verdict, words, fix in cases:
            with self.subTest(body=body):
                self.web.body = body
                rc, checks, _ = self.doctor(conf)
                self.verdict(checks, 'mta-sts', DOMAIN, verdict, *words, fix=fix)
                if verdict == 'FAIL':
                    self.assertEqual(rc, 1)

    def test_policy_with_the_wrong_media_type_fails(self):
        self.web.ctype = 'text/html'
        self.web.start()
        rc, checks, _ = self.doctor(self.conf(self.world()))
        self.verdict(checks, 'mta-sts', DOMAIN, 'FAIL', 'sts-policy-invalid', 'text/plain',
                     fix=('Content-Type: text/plain',))
        self.assertEqual(rc, 1)

    def test_policy_server_with_a_certificate_for_another_name_fails(self):
        wrong = sallytest.make_certificate(self.dir, 'www.elsewhere.test', ip=None)
        self.web = PolicyServer(self.web_addr, *wrong, body=policy(mx=(MX,), max_age=604800))
        self.addCleanup(self.web.stop)
        self.web.start()
        rc, checks, _ = self.doctor(self.conf(self.world()))
        self.verdict(checks, 'mta-sts', DOMAIN, 'FAIL', 'sts-webpki-invalid',
                     fix=('a certificate valid for mta-sts.dane.test',))
        self.assertEqual(rc, 1)

    # --- TLSA --------------------------------------------------------------------

    def test_tlsa_not_matching_fails_with_the_record_of_our_key(self):
        self.web.start()
        stale = '3 1 1 ' + 'AB' * 32
        world = self.world(tlsa=[stale])
        rc, checks, text = self.doctor(self.conf(world))
        self.verdict(checks, 'tlsa', MX, 'FAIL', stale, 'none matches the certificate',
                     fix=('publish: _25._tcp.mx.dane.test. TLSA ' + self.our_tlsa(),))
        self.assertEqual(rc, 1)
        self.assertIn('fix: publish: _25._tcp.mx.dane.test. TLSA ' + self.our_tlsa(), text)
        # A DANE-TA record of the CA (2 0 1) matches only a chain served
        # with the CA in it, as a sender sees it: not the leaf alone.
        world2 = self.world(tlsa=[tlsa_from_pem(self.ca, 2, 0, 1)])
        rc, checks, _ = self.doctor(self.conf(world2))
        self.verdict(checks, 'tlsa', MX, 'FAIL', 'none matches')
        full = os.path.join(self.dir, 'fullchain.pem')
        with open(full, 'w') as f:
            for path in (self.cert[0], self.ca):
                with open(path) as part:
                    f.write(part.read())
        rc, checks, _ = self.doctor(self.conf(world2, cert=(full, self.cert[1])))
        self.verdict(checks, 'tlsa', MX, 'PASS', 'match our certificate')
        # Records no SMTP sender can use: PKIX-EE of our key, a matching
        # type nobody knows.
        pkix = '1' + self.our_tlsa()[1:]
        world3 = self.world(tlsa=[pkix, '3 1 7 ' + 'AB' * 32])
        rc, checks, _ = self.doctor(self.conf(world3))
        self.verdict(checks, 'tlsa', MX, 'WARN', 'none usable for SMTP', pkix,
                     fix=('publish: _25._tcp.mx.dane.test. TLSA ' + self.our_tlsa(),))

    def test_tlsa_unvalidated_or_absent(self):
        self.web.start()
        world = self.world()
        rc, checks, _ = self.doctor(self.conf(world, dnssec='no'))
        self.verdict(checks, 'tlsa', MX, 'WARN', 'not DNSSEC-validated', 'dnssec = no',
                     fix=('sign the zone holding mx.dane.test',))
        world = self.world(tlsa=False)
        rc, checks, _ = self.doctor(self.conf(world))
        self.verdict(checks, 'tlsa', MX, 'PASS', 'no TLSA records at _25._tcp.mx.dane.test')
        # Validated records, but a local domain in an unsigned zone names
        # the host: senders to that domain do not look for them.
        other = 'insecure.' + DOMAIN
        world = self.world(unsigned=(other,), extra={other: {'MX': [(10, MX)]}})
        rc, checks, _ = self.doctor(self.conf(world, local_domains='%s %s' % (DOMAIN, other)))
        self.verdict(checks, 'tlsa', MX, 'WARN', 'match our certificate',
                     'the MX answer of insecure.dane.test naming it was not validated',
                     fix=('sign the zone of insecure.dane.test',))

    # --- the certificate ---------------------------------------------------------

    def test_certificate_expiring_in_five_days_warns(self):
        cert = sallytest.make_certificate(tempfile.mkdtemp(dir=self.dir), MX, ip=None, days=5)
        self.web.start()
        rc, checks, text = self.doctor(self.conf(self.world(cert=cert[0]), cert=cert))
        c = self.verdict(checks, 'cert', cert[0], 'WARN', fix=('renew the certificate',))
        self.assertRegex(c['detail'], r'in [45] days')     # 5 days less the seconds gone
        self.verdict(checks, 'tlsa', MX, 'PASS')
        self.assertRegex(text, r'WARN +cert +%s: expires ' % cert[0])

    def test_expired_certificate_fails(self):
        cert = sallytest.make_certificate(tempfile.mkdtemp(dir=self.dir), MX, ip=None,
                                          dates=('20250101000000Z', '20250301000000Z'))
        self.web.start()
        rc, checks, _ = self.doctor(self.conf(self.world(cert=cert[0]), cert=cert))
        self.verdict(checks, 'cert', cert[0], 'FAIL', 'expired 2025-03-01',
                     fix=('renew the certificate of tls_cert %s now' % cert[0],))
        self.assertEqual(rc, 1)

    def test_certificate_not_naming_an_mx_fails(self):
        self.web.body = policy(mx=('*.dane.test',), max_age=604800)
        self.web.start()
        world = self.world(mx=((10, MX), (20, MX2)))
        rc, checks, text = self.doctor(self.conf(world))
        self.verdict(checks, 'cert-name', MX, 'PASS')
        self.verdict(checks, 'cert-name', MX2, 'FAIL', 'an MX host', "certificate's names (%s)" % MX,
                     fix=('DNS:%s' % MX2,))
        self.verdict(checks, 'mta-sts', DOMAIN, 'PASS')
        self.verdict(checks, 'tlsa', MX2, 'PASS', 'no TLSA records')
        self.assertEqual(rc, 1)
        self.assertRegex(text, r'FAIL +cert-name +mx2\.dane\.test: an MX host, not among')

    def test_key_not_matching_the_certificate_fails(self):
        other = sallytest.make_certificate(tempfile.mkdtemp(dir=self.dir), MX, ip=None, days=90)
        self.web.start()
        rc, checks, _ = self.doctor(self.conf(self.world(), cert=(self.cert[0], other[1])))
        self.verdict(checks, 'cert', self.cert[0], 'FAIL', 'does not match',
                     fix=('tls_key: its private key',))
        self.verdict(checks, 'tlsa', MX, 'FAIL', 'no certificate to serve')
        self.assertEqual(rc, 1)

    def test_certificate_of_an_unknown_ca_fails(self):
        other = tempfile.mkdtemp(dir=self.dir)
        ca = (os.path.join(other, 'ca.pem'), os.path.join(other, 'ca.key'))
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', ca[1], '-out', ca[0],
                        '-days', '30', '-subj', '/CN=not trusted', '-addext',
                        'basicConstraints=critical,CA:TRUE'], check=True, capture_output=True)
        cert = sallytest.make_certificate(other, MX, ca=ca, ip=None, days=90)
        self.web.start()
        rc, checks, _ = self.doctor(self.conf(self.world(cert=cert[0]), cert=cert))
        self.verdict(checks, 'cert', cert[0], 'FAIL', 'the chain does not verify against ' + self.ca,
                     fix=('fullchain.pem',))
        self.assertEqual(rc, 1)



if __name__ == '__main__':
    sallytest.main()
