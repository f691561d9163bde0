"""sallyport --selftest --dns: the deployment doctor against a dnsmasq on
loopback that serves a correct zone for example.test (every check PASS,
exit 0), then the same zone broken one way at a time: exactly that check
turns WARN or FAIL, with the fix a person would publish, and the exit
status says so. A DNS server that never answers makes every check ERROR
and the exit status 2. --probe-outbound is never used here: it would
connect off the machine.

The server's public address is 127.0.0.5 (public_addresses), its name
mail.example.test; the DKIM key is made by sallyport --dkim-keygen."""

import json
import os
import re
import socket
import subprocess
import tempfile

import jsonschema

import sallytest

DOMAIN = 'example.test'
HOST = 'mail.example.test'
ADDR = '127.0.0.5'
REV = '5.0.0.127.in-addr.arpa'
BL = 'bl.test'
SELECTOR = 'sel'

NULLSTR = {'type': ['string', 'null']}
SCHEMA = {
    'type': 'object',
    'required': ['mode', 'config', 'hostname', 'local_domains', 'addresses',
                 'addresses_from', 'dns_servers', 'checks', 'summary', 'exit'],
    'additionalProperties': False,
    'properties': {
        'mode': {'const': 'dns'},
        'config': {'type': 'string'},
        'hostname': {'type': 'string'},
        'local_domains': {'type': 'array', 'items': {'type': 'string'}},
        'addresses': {'type': 'array', 'items': {'type': 'string'}},
        'addresses_from': NULLSTR,
        'dns_servers': {'type': 'array', 'items': {'type': 'string'}},
        'checks': {'type': 'array', 'items': {
            'type': 'object',
            'required': ['check', 'subject', 'verdict', 'detail', 'fix'],
            'additionalProperties': False,
            'properties': {
                'check': {'type': 'string'},
                'subject': {'type': 'string'},
                'verdict': {'enum': ['PASS', 'WARN', 'FAIL', 'ERROR']},
                'detail': {'type': 'string'},
                'fix': NULLSTR}}},
        'summary': {
            'type': 'object',
            'required': ['pass', 'warn', 'fail', 'error', 'elapsed', 'text'],
            'additionalProperties': False,
            'properties': {k: {'type': 'integer', 'minimum': 0}
                           for k in ('pass', 'warn', 'fail', 'error')} | {
                'elapsed': {'type': 'number', 'minimum': 0},
                'text': {'type': 'string'}}},
        'exit': {'enum': [0, 1, 2]}}}

# Every check the correct zone gives, by (check, subject).
ALL = [('mx', DOMAIN), ('ptr', ADDR), ('spf', DOMAIN), ('spf', HOST),
       ('dkim', '%s._domainkey.%s' % (SELECTOR, DOMAIN)), ('dmarc', DOMAIN),
       ('dnsbl', ADDR)]
# The TLS jobs are test_selftest_dns_tls's: here, without tls_cert and an
# MTA-STS record, they give two WARN lines (mta-sts, cert) and tlsa PASS.
TLS_JOBS = ('mta-sts', 'tlsa', 'cert', 'cert-name')


class Zone(sallytest.Dnsmasq):
    """Dnsmasq with addresses that have no PTR of their own (--address),
    PTR records given one by one, and the reverse zone answered here
    (NXDOMAIN for the rest of it, never REFUSED)."""

    def __init__(self, addresses, ptr, **kw):
        super().__init__(zones=('test', 'in-addr.arpa', 'ip6.arpa'), **kw)
        self.addresses = addresses
        self.ptr = ptr

    def argv(self):
        return super().argv() + \
            ['--address=/%s/%s' % (name, a) for name, addrs in self.addresses.items()
             for a in ([addrs] if isinstance(addrs, str) else addrs)] + \
            ['--ptr-record=%s,%s' % kv for kv in self.ptr.items()]


def keygen(directory, selector):
    """sallyport --dkim-keygen; (key file, the TXT record's text)"""
    p = subprocess.run([sallytest.binary(), '--dkim-keygen', DOMAIN, selector,
                        'ed25519', directory],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                       check=True)
    line = [l for l in p.stdout.decode().splitlines() if not l.startswith(';')][0]
    return (os.path.join(directory, '%s.%s.key' % (DOMAIN, selector)),
            ''.join(re.findall(r'"([^"]*)"', line)), line)


class Doctor(sallytest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='sallytest-doctor-')
        cls.key, cls.dkim, cls.dkim_line = keygen(cls.tmp.name, SELECTOR)
        other = os.path.join(cls.tmp.name, 'other')
        os.mkdir(other)
        _, cls.other_dkim, _ = keygen(other, SELECTOR)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def zone(self, **change):
        """The correct zone with `change` applied: addresses, mx, ptr, txt
        ({name: None} drops a name)."""
        parts = {
            'addresses': {HOST: ADDR, 'other.example.test': '127.0.0.9'},
            'mx': {DOMAIN: [(HOST, 10)]},
            'ptr': {REV: HOST},
            'txt': {DOMAIN: 'v=spf1 ip4:%s -all' % ADDR,
                    HOST: 'v=spf1 a -all',
                    '%s._domainkey.%s' % (SELECTOR, DOMAIN): self.dkim,
                    '_dmarc.%s' % DOMAIN: 'v=DMARC1; p=reject; rua=mailto:dmarc@%s' % DOMAIN},
        }
        for part, names in change.items():
            for name, value in names.items():
                if value is None:
                    parts[part].pop(name, None)
                else:
                    parts[part][name] = value
        dns = Zone(parts['addresses'], parts['ptr'], mx=parts['mx'], txt=parts['txt'])
        dns.start()
        self.addCleanup(dns.close)
        return dns.server

    def config(self, server, extra=(), drop=()):
        """The configuration file; `extra` lines replace the keys they set,
        the keys in `drop` are left out."""
        keys = {'hostname': HOST,
                'listen': '127.0.0.1:2525 mx',
                'local_domains': DOMAIN,
                'queue_dir': os.path.join(self.tmp.name, 'queue'),
                'dns_servers': server,
                'dns_timeout': '2',
                'public_addresses': ADDR,
                'dkim_sign': '%s %s %s' % (DOMAIN, SELECTOR, self.key),
                'dnsbl': BL}
        for line in extra:
            k, v = line.split('=', 1)
            keys[k.strip()] = v.strip()
        path = os.path.join(self.tmp.name, 'sallyport-%s.conf' % self.id().split('.')[-1])
        with open(path, 'w') as f:
            f.write(''.join('%s = %s\n' % kv for kv in keys.items() if kv[0] not in drop))
        return path

    def doctor(self, conf, *args):
        p = subprocess.run([sallytest.binary(), '--selftest', '--dns', '-c', conf] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode()

    def report(self, conf):
        rc, out, err = self.doctor(conf, '--json')
        try:
            data = json.loads(out)
        except ValueError:
            self.fail('not JSON (rc %d): %r\nstderr: %s' % (rc, out[:500], err))
        jsonschema.validate(data, SCHEMA)
        self.assertEqual(data['exit'], rc)
        counts = {v: sum(c['verdict'] == v.upper() for c in data['checks'])
                  for v in ('pass', 'warn', 'fail', 'error')}
        self.assertEqual({k: data['summary'][k] for k in counts}, counts)
        return rc, data

    def checks(self, data):
        return {(c['check'], c['subject']): c for c in data['checks']
                if c['check'] not in TLS_JOBS}

    def assert_only(self, server, check, verdict, fixes, status, detail=None, extra=()):
        """Exactly `check` has `verdict`, its fix holds each of `fixes`,
        every other check passes, and the exit status is `status`."""
        rc, data = self.report(self.config(server, extra))
        got = self.checks(data)
        self.assertEqual(sorted(got), sorted(ALL), data)
        for key, c in got.items():
            if key == check:
                self.assertEqual(c['verdict'], verdict, c)
                for fix in fixes:
                    self.assertIn(fix, c['fix'] or '', c)
                if detail:
                    self.assertRegex(c['detail'], detail)
            else:
                self.assertEqual(c['verdict'], 'PASS', c)
                self.assertIsNone(c['fix'], c)
        self.assertEqual(rc, status, data)
        return got[check]

    # the correct zone

    def test_correct_zone_passes(self):
        conf = self.config(self.zone())
        rc, data = self.report(conf)
        self.assertEqual(rc, 0, data)
        self.assertEqual(data['addresses'], [ADDR])
        self.assertEqual(data['addresses_from'], 'public_addresses')
        got = self.checks(data)
        self.assertEqual(sorted(got), sorted(ALL))
        for c in got.values():
            self.assertEqual(c['verdict'], 'PASS', c)
        self.assertRegex(got[('ptr', ADDR)]['detail'], 'forward-confirmed')
        self.assertRegex(got[('spf', DOMAIN)]['detail'], r'pass for %s' % re.escape(ADDR))
        # The text report says the same, one line per check.
        rc, out, _ = self.doctor(conf)
        self.assertEqual(rc, 0, out)
        lines = [l for l in out.splitlines() if re.match(r'  (PASS|WARN|FAIL|ERROR) ', l)
                 and l.split()[1] not in TLS_JOBS]
        self.assertEqual(len(lines), len(ALL), out)
        self.assertTrue(all(l.startswith('  PASS ') for l in lines), out)
        self.assertEqual(out.count('fix:'), 2, out)     # under the two TLS WARN lines
        self.assertRegex(out, r'checks: 8 PASS, 2 WARN, 0 FAIL, 0 ERROR: WARN mta-sts '
                         r'example\.test; WARN cert mail\.example\.test')

    # MX

    def test_no_mx(self):
        self.assert_only(self.zone(mx={DOMAIN: None}), ('mx', DOMAIN), 'FAIL',
                         ['publish: %s. IN MX 10 %s.' % (DOMAIN, HOST)], 1)

    def test_mx_to_another_address(self):
        self.assert_only(self.zone(mx={DOMAIN: [('other.example.test', 10)]}),
                         ('mx', DOMAIN), 'FAIL',
                         ['publish: %s. IN MX 10 %s.' % (DOMAIN, HOST)], 1,
                         detail=r'other\.example\.test -> 127\.0\.0\.9 \(not ours\)')

    # PTR

    def test_no_ptr(self):
        self.assert_only(self.zone(ptr={REV: None}), ('ptr', ADDR), 'FAIL',
                         ['publish: %s. IN PTR %s.' % (REV, HOST)], 1)

    def test_ptr_not_the_helo_name(self):
        self.assert_only(self.zone(ptr={REV: 'host.other.test'}), ('ptr', ADDR), 'FAIL',
                         ['publish: %s. IN PTR %s.' % (REV, HOST), 'in place of host.other.test'],
                         1, detail='not the HELO name')

    def test_ptr_not_forward_confirmed(self):
        # The PTR names the hostname, whose A is another address (so the
        # MX, which names it too, is not us either).
        rc, data = self.report(self.config(self.zone(addresses={HOST: '127.0.0.9'})))
        got = self.checks(data)
        self.assertEqual(got[('ptr', ADDR)]['verdict'], 'FAIL')
        self.assertIn('publish: %s. IN A %s' % (HOST, ADDR), got[('ptr', ADDR)]['fix'])
        self.assertIn('not forward-confirmed', got[('ptr', ADDR)]['detail'])
        self.assertEqual(got[('mx', DOMAIN)]['verdict'], 'FAIL')
        self.assertEqual(rc, 1)

    # SPF

    def test_spf_missing(self):
        self.assert_only(self.zone(txt={DOMAIN: None}), ('spf', DOMAIN), 'FAIL',
                         ['publish: %s. IN TXT "v=spf1 ip4:%s -all"' % (DOMAIN, ADDR)], 1)

    def test_spf_softfail(self):
        self.assert_only(self.zone(txt={DOMAIN: 'v=spf1 ~all'}), ('spf', DOMAIN), 'FAIL',
                         ['publish: %s. IN TXT "v=spf1 ip4:%s ~all"' % (DOMAIN, ADDR)], 1,
                         detail='softfail for %s' % re.escape(ADDR))

    def test_spf_not_covering_the_address(self):
        self.assert_only(self.zone(txt={DOMAIN: 'v=spf1 ip4:127.0.0.9 -all'}),
                         ('spf', DOMAIN), 'FAIL',
                         ['publish: %s. IN TXT "v=spf1 ip4:%s ip4:127.0.0.9 -all"'
                          % (DOMAIN, ADDR)], 1, detail='fail for %s' % re.escape(ADDR))

    def test_spf_missing_for_the_hostname_warns(self):
        # The HELO name's record is what receivers check for bounces.
        self.assert_only(self.zone(txt={HOST: None}), ('spf', HOST), 'WARN',
                         ['publish: %s. IN TXT "v=spf1 ip4:%s -all"' % (HOST, ADDR)], 0)

    def test_ipv6_address(self):
        # A second public address, IPv6: its AAAA, PTR under ip6.arpa and
        # ip6: mechanism checked as the IPv4 one.
        v6, rev6 = '2001:db8::5', '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'
        extra = ['public_addresses = %s %s' % (ADDR, v6)]
        server = self.zone(addresses={HOST: [ADDR, v6]}, ptr={rev6: HOST},
                           txt={DOMAIN: 'v=spf1 ip4:%s ip6:%s -all' % (ADDR, v6)})
        rc, data = self.report(self.config(server, extra))
        got = self.checks(data)
        self.assertEqual(sorted(got), sorted(ALL + [('ptr', v6), ('dnsbl', v6)]), data)
        for c in got.values():
            self.assertEqual(c['verdict'], 'PASS', c)
        self.assertEqual(rc, 0)
        # The domain's SPF record without the IPv6 address.
        server = self.zone(addresses={HOST: [ADDR, v6]}, ptr={rev6: HOST})
        rc, data = self.report(self.config(server, extra))
        spf = self.checks(data)[('spf', DOMAIN)]
        self.assertEqual(spf['verdict'], 'FAIL', spf)
        self.assertIn('publish: %s. IN TXT "v=spf1 ip6:%s ip4:%s -all"' % (DOMAIN, v6, ADDR),
                      spf['fix'])
        self.assertEqual(rc, 1)

    # DKIM

    def test_dkim_missing(self):
        name = '%s._domainkey.%s' % (SELECTOR, DOMAIN)
        self.assert_only(self.zone(txt={name: None}), ('dkim', name), 'FAIL',
                         ['publish: ' + self.dkim_line], 1, detail='no TXT record')

    def test_dkim_other_key(self):
        name = '%s._domainkey.%s' % (SELECTOR, DOMAIN)
        self.assert_only(self.zone(txt={name: self.other_dkim}), ('dkim', name), 'FAIL',
                         ['publish: ' + self.dkim_line], 1, detail='another key')

    # DMARC

    def test_dmarc_missing(self):
        self.assert_only(self.zone(txt={'_dmarc.' + DOMAIN: None}), ('dmarc', DOMAIN), 'FAIL',
                         ['publish: _dmarc.%s. IN TXT "v=DMARC1; p=none; '
                          'rua=mailto:postmaster@%s"' % (DOMAIN, DOMAIN)], 1)

    def test_dmarc_without_rua_warns(self):
        self.assert_only(self.zone(txt={'_dmarc.' + DOMAIN: 'v=DMARC1; p=quarantine'}),
                         ('dmarc', DOMAIN), 'WARN',
                         ['publish: _dmarc.%s. IN TXT "v=DMARC1; p=quarantine; '
                          'rua=mailto:postmaster@%s"' % (DOMAIN, DOMAIN)], 0)

    def test_dmarc_invalid(self):
        self.assert_only(self.zone(txt={'_dmarc.' + DOMAIN: 'v=DMARC1; p=bogus'}),
                         ('dmarc', DOMAIN), 'FAIL',
                         ['publish: _dmarc.%s. IN TXT "v=DMARC1; p=none;' % DOMAIN], 1,
                         detail='invalid')

    # DNSBL

    def test_listed_on_a_dnsbl(self):
        listing = '5.0.0.127.' + BL
        c = self.assert_only(self.zone(addresses={listing: '127.0.0.2'},
                                       txt={listing: 'listed for testing'}),
                             ('dnsbl', ADDR), 'FAIL',
                             ['ask the operator of %s to delist %s' % (BL, ADDR)], 1,
                             detail='listed on %s' % re.escape(BL))
        self.assertIn('listed for testing', c['detail'])

    # no answer, no addresses, usage

    def test_dns_down_is_error_and_exit_2(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
            mute.bind(('127.0.0.1', 0))     # takes queries, answers none
            conf = self.config('127.0.0.1:%d' % mute.getsockname()[1],
                               extra=['dns_timeout = 1'])
            rc, data = self.report(conf)
        got = self.checks(data)
        self.assertEqual(sorted(got), sorted(ALL), data)
        for c in got.values():
            self.assertEqual(c['verdict'], 'ERROR', c)
        self.assertEqual(rc, 2)

    def test_unknown_addresses_warn(self):
        # No public_addresses, and the only listener is on loopback.
        conf = self.config(self.zone(), drop=['public_addresses'])
        rc, data = self.report(conf)
        got = self.checks(data)
        self.assertEqual(data['addresses'], [])
        self.assertEqual(got[('addresses', HOST)]['verdict'], 'WARN')
        self.assertIn('public_addresses = IP', got[('addresses', HOST)]['fix'])
        self.assertEqual(got[('mx', DOMAIN)]['verdict'], 'WARN')
        self.assertEqual(got[('spf', DOMAIN)]['verdict'], 'WARN')
        self.assertEqual(got[('spf', HOST)]['verdict'], 'WARN')
        self.assertNotIn(('ptr', ADDR), got)
        self.assertEqual(rc, 0)

    def test_usage(self):
        conf = self.config('127.0.0.1:53')
        for argv in (['--selftest', '--probe-outbound', DOMAIN, '-c', conf],
                     ['--selftest', '--dns', '127.0.0.1:25'],
                     ['--dns', '-c', conf]):
            p = subprocess.run([sallytest.binary()] + argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(p.returncode, 2, argv)
        rc, out, err = self.doctor(self.config('127.0.0.1:53', extra=['public_addresses = 127.0.0.0/24']))
        self.assertEqual(rc, 2)
        self.assertIn('public_addresses: 127.0.0.0/24 is a network', err)


if __name__ == '__main__':
    sallytest.main()
