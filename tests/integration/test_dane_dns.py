"""DANE from DNS (RFC 7672 2.2): what sallyport decides for each MX host
before connecting, as `sallyport --tls-policy DOMAIN` prints it.

The DNS is real: zones signed by the test (ldns-signzone, ECDSA P-256)
served by nsd, behind unbound validating with the zone's DS as trust
anchor (sallytest_dnssec). sallyport asks unbound with dnssec = yes and
trusts its AD bit. Cases: a secure MX and usable TLSA records (dane), only
unusable records (encrypt), no TLSA (opportunistic), a host in an
unsigned zone with TLSA (opportunistic, never DANE), a tampered TLSA
RRset that unbound finds bogus (defer), an MX in an unsigned zone, CNAME
chains (the records at the end of the chain first, then at the MX name),
and dnssec = no (no TLSA question asked at all, as unbound's query log
shows).
"""

import os
import subprocess
import tempfile

import sallytest
from sallytest_dnssec import DnssecWorld, tlsa_from_pem

BOGUS_HASH = '3 1 1 ' + 'EF' * 32


class DaneDns(sallytest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='sallytest-dane-')
        cert, _ = sallytest.make_certificate(cls.tmp.name, 'mx.dane.test')
        ca = sallytest.tls_files()[0]
        cls.ee = tlsa_from_pem(cert, 3, 1, 1)
        cls.ee_full = tlsa_from_pem(cert, 3, 0, 2)
        cls.ta = tlsa_from_pem(ca, 2, 1, 1)
        mx = lambda *hosts: {'MX': [(10 * (i + 1), h) for i, h in enumerate(hosts)]}
        cls.world = DnssecWorld({
            # a secure MX, its host with usable records
            'good.dane.test': mx('mx.dane.test'),
            'mx.dane.test': {'A': '127.0.0.2', 'AAAA': '2001:db8::25',
                             'TLSA': [cls.ee, cls.ta, cls.ee_full]},
            # only records SMTP cannot use: PKIX-EE, an unknown selector,
            # SHA-256 of the wrong length
            'unusable.dane.test': mx('mx-unusable.dane.test'),
            'mx-unusable.dane.test': {'A': '127.0.0.3',
                                      'TLSA': ['1 1 1 ' + 'AB' * 32,
                                               '3 2 1 ' + 'AB' * 32,
                                               '3 1 1 ' + 'AB' * 16]},
            # no TLSA at all
            'plain.dane.test': mx('mx-plain.dane.test'),
            'mx-plain.dane.test': {'A': '127.0.0.4'},
            # a secure MX naming a host in an unsigned zone, with TLSA
            'outsourced.dane.test': mx('mx.insecure.dane.test'),
            'mx.insecure.dane.test': {'A': '127.0.0.5', 'TLSA': [cls.ee]},
            # an MX in the unsigned zone naming a secure host with TLSA
            'insecure.dane.test': mx('mx.dane.test'),
            # records tampered with after signing
            'forged.dane.test': mx('mx-forged.dane.test', 'mx-plain.dane.test'),
            'mx-forged.dane.test': {'A': '127.0.0.6', 'TLSA': [BOGUS_HASH]},
            # CNAMEs: the end of the chain has records; it has none,
            # the MX name has
            'aliased.dane.test': mx('alias.dane.test', 'alias2.dane.test',
                                    'alias3.dane.test'),
            'alias.dane.test': {'CNAME': 'mx.dane.test'},
            'alias2.dane.test': {'CNAME': 'mx-plain.dane.test',
                                 'TLSA': [cls.ta]},
            # no MX: the domain is its own host (RFC 5321 5.1)
            'bare.dane.test': {'A': '127.0.0.8', 'TLSA': [cls.ee]},
            # a secure alias of a host in an unsigned zone
            'alias3.dane.test': {'CNAME': 'mx.insecure.dane.test',
                                 'TLSA': [cls.ee]},
            # one address family forged (bogus), the other secure
            'halfforged.dane.test': mx('mx-halfforged.dane.test'),
            'mx-halfforged.dane.test': {'A': '127.0.0.7',
                                        'AAAA': '2001:db8::27',
                                        'TLSA': [cls.ee]},
        }, bogus=[('_25._tcp.mx-forged.dane.test', 'TLSA'),
                  ('mx-halfforged.dane.test', 'A')])
        try:
            cls.world.start()
        except BaseException:
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.world.close()
        cls.tmp.cleanup()

    def policy(self, domain, dnssec='yes', status=0):
        """`sallyport --tls-policy domain`: {host: {key: [values]}}, the
        domain's own lines under ''."""
        conf = os.path.join(self.tmp.name, 'sallyport.conf')
        with open(conf, 'w') as f:
            f.write('\n'.join([
                'hostname = me.test', 'listen = 127.0.0.1:2525 mx',
                'local_domains = me.test',
                'queue_dir = %s' % os.path.join(self.tmp.name, 'queue'),
                'dns_servers = %s' % self.world.server,
                'dnssec = %s' % dnssec,
                # the MX hosts are on loopback addresses
                'mx_allow_loopback = yes']) + '\n')
        p = subprocess.run([sallytest.binary(), '--tls-policy', domain, '-c', conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, status, p.stdout + p.stderr)
        out, host = {'': {}}, ''
        for line in p.stdout.splitlines():
            key, _, value = line.strip().partition(': ')
            if key == 'host':
                host = value
                out[host] = {}
            else:
                out[host if line.startswith(' ') else ''].setdefault(key, []).append(value)
        self.output = p.stdout
        return out

    def plan(self, host):
        return host['plan'][0].split(' ', 1)[0]

    def test_secure_mx_and_usable_tlsa_is_dane(self):
        p = self.policy('good.dane.test')
        self.assertEqual(p['']['mx-lookup'], ['secure'], self.output)
        h = p['mx.dane.test']
        self.assertEqual(h['addresses'], ['127.0.0.2 2001:db8::25 (secure)'])
        self.assertEqual(h['tlsa-lookup'], ['_25._tcp.mx.dane.test: 3 records (secure)'])
        self.assertCountEqual(h['tlsa'], [self.ee + ' (usable)', self.ta + ' (usable)',
                                          self.ee_full + ' (usable)'])
        self.assertEqual(self.plan(h), 'dane', self.output)
        self.assertIn('3 usable TLSA records', h['plan'][0])

    def test_only_unusable_records_is_tls_without_authentication(self):
        h = self.policy('unusable.dane.test')['mx-unusable.dane.test']
        self.assertEqual(self.plan(h), 'encrypt', self.output)
        self.assertEqual(len(h['tlsa']), 3)
        self.assertTrue(all(t.endswith('(unusable)') for t in h['tlsa']), self.output)

    def test_no_tlsa_is_opportunistic(self):
        h = self.policy('plain.dane.test')['mx-plain.dane.test']
        self.assertEqual(h['addresses'], ['127.0.0.4 (secure)'])
        self.assertEqual(h['tlsa-lookup'], ['_25._tcp.mx-plain.dane.test: no records (secure)'])
        self.assertEqual(h['plan'], ['opportunistic (no TLSA records)'], self.output)

    def test_host_in_unsigned_zone_is_not_dane(self):
        p = self.policy('outsourced.dane.test')
        self.assertEqual(p['']['mx-lookup'], ['secure'], self.output)
        h = p['mx.insecure.dane.test']
        self.assertEqual(h['addresses'], ['127.0.0.5 (insecure)'])
        self.assertEqual(h['tlsa-lookup'], ['not done'])
        self.assertEqual(self.plan(h), 'opportunistic', self.output)

    def test_mx_in_unsigned_zone_is_not_dane(self):
        p = self.policy('insecure.dane.test')
        self.assertEqual(p['']['mx-lookup'], ['insecure'], self.output)
        h = p['mx.dane.test']
        self.assertEqual(h['plan'], ['opportunistic (MX lookup not DNSSEC-secure)'],
                         self.output)

    def test_bogus_tlsa_defers_the_host(self):
        p = self.policy('forged.dane.test')
        h = p['mx-forged.dane.test']
        self.assertEqual(h['addresses'], ['127.0.0.6 (secure)'])
        self.assertIn('failed', h['tlsa-lookup'][0])
        self.assertEqual(self.plan(h), 'defer', self.output)
        self.assertNotIn('tlsa', h)
        # the next host is still planned as usual
        self.assertEqual(self.plan(p['mx-plain.dane.test']), 'opportunistic')
        # unbound did find it bogus: not a lookup that merely failed
        self.assertIn('validation failure <_25._tcp.mx-forged.dane.test. TLSA IN>',
                      self.world.query_log())

    def test_one_forged_address_family_does_not_turn_dane_off(self):
        # An attacker who makes the A lookup fail (a forged answer,
        # SERVFAIL from unbound, or dropped packets) must not make the
        # host's secure AAAA addresses "insecure": that would turn DANE
        # off and leave STARTTLS free to strip. As Postfix: the addresses
        # kept are all validated, so the host is secure.
        h = self.policy('halfforged.dane.test')['mx-halfforged.dane.test']
        self.assertEqual(h['addresses'], ['2001:db8::27 (secure)'], self.output)
        self.assertEqual(self.plan(h), 'dane', self.output)
        self.assertIn('validation failure <mx-halfforged.dane.test. A IN>',
                      self.world.query_log())

    def test_cname_chain(self):
        p = self.policy('aliased.dane.test')
        # the records at the end of the chain
        h = p['alias.dane.test']
        self.assertEqual(h['cname'], ['mx.dane.test'])
        self.assertEqual(self.plan(h), 'dane', self.output)
        self.assertIn('_25._tcp.mx.dane.test', h['plan'][0])
        # none there (securely): those of the MX host name
        h = p['alias2.dane.test']
        self.assertEqual(h['cname'], ['mx-plain.dane.test'])
        self.assertEqual(h['tlsa'], [self.ta + ' (usable)'])
        self.assertIn('_25._tcp.alias2.dane.test', h['plan'][0])
        # a chain that ends in an unsigned zone: its addresses are
        # insecure, so no DANE, whatever the alias's own records (as
        # Postfix)
        h = p['alias3.dane.test']
        self.assertEqual(h['addresses'], ['127.0.0.5 (insecure)'])
        self.assertEqual(h['tlsa-lookup'], ['not done'])
        self.assertEqual(self.plan(h), 'opportunistic', self.output)

    def test_dnssec_no_asks_no_tlsa(self):
        before = self.world.query_log()
        p = self.policy('good.dane.test', dnssec='no')
        self.assertTrue(p['']['dnssec'][0].startswith('no'), self.output)
        self.assertEqual(p['']['mx-lookup'], ['insecure'])
        h = p['mx.dane.test']
        self.assertEqual(h['addresses'], ['127.0.0.2 2001:db8::25 (insecure)'])
        self.assertEqual(h['plan'], ['opportunistic (dnssec = no)'])
        # unbound was asked for the MX and the addresses, never a TLSA
        self.assertIn('good.dane.test', self.world.asked('MX', before))
        self.assertEqual(self.world.asked('TLSA', before), [], self.output)

    def test_dnssec_yes_asks_tlsa(self):
        before = self.world.query_log()
        self.policy('plain.dane.test')
        self.assertEqual(self.world.asked('TLSA', before), ['_25._tcp.mx-plain.dane.test'])

    def test_implicit_mx(self):
        p = self.policy('bare.dane.test')
        self.assertEqual(p['']['mx-lookup'],
                         ['secure (no MX: the domain itself)'], self.output)
        h = p['bare.dane.test']
        self.assertEqual(h['addresses'], ['127.0.0.8 (secure)'])
        self.assertEqual(h['tlsa'], [self.ee + ' (usable)'])
        self.assertEqual(self.plan(h), 'dane', self.output)

    def test_no_mail_server(self):
        p = self.policy('nowhere.dane.test', status=1)
        self.assertEqual(p['']['mx-lookup'],
                         ['failed (no mail server for the domain)'], self.output)


if __name__ == '__main__':
    sallytest.main()
