#!/usr/bin/env python3
"""The RFC 7208 test suite (tests/conformance/spf/rfc7208-tests.yml)
against `sallyport --spf-check`.

Each section of the suite has its zone data (`zonedata`) and its cases.
The zone data is served by a real DNS server, unbound from Debian, on a
free loopback port: the records go into an authoritative zone for the
root (so CNAMEs are followed as a real server does, and every other name
is NXDOMAIN), and a name marked TIMEOUT is a local zone of type "deny",
for which unbound answers the records listed before TIMEOUT and drops
every other question, so that the answer never comes. As the suite's own
driver does, a name with SPF (type 99) records and no TXT record also
gets each of them as TXT. sallyport asks that server only (dns_servers),
with a short dns_timeout (2s), so that a TIMEOUT costs little.

Every case runs `sallyport --spf-check -c CONF HOST MAILFROM HELO`; its
result must be one of those the case lists, and where the case gives an
explanation, the same one ("DEFAULT": the record gave none, and
sallyport prints no explanation=). A failure names the section and the
case. Nothing leaves 127.0.0.1: unbound has no other data than the zone
and sends from 127.0.0.1 only, where nothing else answers.
"""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

import yaml

import sallytest

UNBOUND = shutil.which('unbound') or '/usr/sbin/unbound'
SUITE = os.path.join(sallytest.srcdir(), 'tests', 'conformance', 'spf',
                     'rfc7208-tests.yml')

# unbound's built-in local zones (RFC 6761, RFC 6303 and the like) would
# answer NXDOMAIN for names the suite uses (192.168.x.x, 192.0.2.x and
# 2001:db8:: reverse names): turned off.
DEFAULT_ZONES = (
    ['localhost.', '127.in-addr.arpa.', '0.in-addr.arpa.', '10.in-addr.arpa.',
     '168.192.in-addr.arpa.', '254.169.in-addr.arpa.', '2.0.192.in-addr.arpa.',
     '100.51.198.in-addr.arpa.', '113.0.203.in-addr.arpa.',
     '255.255.255.255.in-addr.arpa.', 'd.f.ip6.arpa.', '8.e.f.ip6.arpa.',
     '9.e.f.ip6.arpa.', 'a.e.f.ip6.arpa.', 'b.e.f.ip6.arpa.',
     '8.b.d.0.1.0.0.2.ip6.arpa.', 'test.', 'invalid.', 'onion.', 'home.arpa.',
     '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.',
     '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.']
    + ['%d.172.in-addr.arpa.' % n for n in range(16, 32)])


def zone_name(name):
    """A name as zone files write it: absolute, odd bytes as \\DDD."""
    out = ''
    for b in name.rstrip('.').encode('utf-8'):
        c = chr(b)
        out += c if (c.isalnum() or c in '-_.') and b < 128 else '\\%03d' % b
    return out + '.'


def zone_strings(value):
    """TXT data: each string quoted, odd bytes as \\DDD, cut at 255 bytes."""
    if isinstance(value, str):
        value = [value]
    if not value:
        value = ['']    # "SPF: []": a record with nothing in it
    out = []
    for s in value:
        data = s.encode('utf-8') if isinstance(s, str) else bytes(s)
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b'']
        for chunk in chunks:
            out.append('"' + ''.join(
                chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else '\\%03d' % b
                for b in chunk) + '"')
    return ' '.join(out)


def records(name, entries):
    """(zone lines, timeout) for one name of the zone data. TXT copies of
    SPF records unless the name has TXT of its own (as the suite's driver
    does); "TXT: NONE" is no record but stops the copies."""
    lines, copies, has_txt, timeout = [], [], False, False
    owner = zone_name(name)
    for entry in entries:
        if entry == 'TIMEOUT':
            timeout = True
            break       # what follows a TIMEOUT is never answered
        (rtype, value), = entry.items()
        if rtype == 'TXT':
            has_txt = True
        if value == 'NONE':
            continue
        if rtype in ('TXT', 'SPF'):
            data = zone_strings(value)
            lines.append('%s 60 IN %s %s' % (owner, 'TXT' if rtype == 'TXT' else 'TYPE99', data))
            if rtype == 'SPF':
                copies.append('%s 60 IN TXT %s' % (owner, data))
        elif rtype == 'MX':
            pref, host = value
            lines.append('%s 60 IN MX %d %s' % (owner, pref, zone_name(host)))
        elif rtype in ('PTR', 'CNAME'):
            lines.append('%s 60 IN %s %s' % (owner, rtype, zone_name(value)))
        elif rtype in ('A', 'AAAA'):
            lines.append('%s 60 IN %s %s' % (owner, rtype, value))
        else:
            raise AssertionError('zone data type %s not handled' % rtype)
    if not has_txt:
        lines += copies
    return lines, timeout


class Unbound:
    """unbound on 127.0.0.1:PORT serving one section's zone data."""

    def __init__(self, zonedata, directory):
        self.dir = directory
        self.proc = None
        self.port = None
        zone = ['. 60 IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60',
                '. 60 IN NS ns.invalid.']
        self.local = []         # server: lines for the TIMEOUT names
        timeouts = []
        for name, entries in zonedata.items():
            lines, timeout = records(name, entries)
            if timeout:
                timeouts.append(name)
                self.local.append('local-zone: "%s" deny' % zone_name(name))
                self.local += ["local-data: '%s'" % line for line in lines]
            else:
                zone += lines
        # A name with data below a TIMEOUT name is served from the zone.
        for name in zonedata:
            if name not in timeouts and any(
                    name.lower().endswith('.' + t.lower()) for t in timeouts):
                self.local.append('local-zone: "%s" transparent' % zone_name(name))
        self.zonefile = os.path.join(directory, 'root.zone')
        with open(self.zonefile, 'w') as f:
            f.write('\n'.join(zone) + '\n')
        self.log = open(os.path.join(directory, 'unbound.log'), 'w+b')

    def config(self):
        lines = ['server:',
                 'interface: 127.0.0.1@%d' % self.port,
                 'port: %d' % self.port,
                 'outgoing-interface: 127.0.0.1',
                 'do-ip6: no', 'do-daemonize: no', 'username: ""',
                 'chroot: ""', 'directory: "%s"' % self.dir, 'pidfile: ""',
                 'use-syslog: no', 'logfile: ""', 'verbosity: 1',
                 'num-threads: 1', 'module-config: "iterator"',
                 'do-not-query-localhost: yes', 'so-reuseport: no']
        lines += ['local-zone: "%s" nodefault' % z for z in DEFAULT_ZONES]
        lines += self.local
        lines += ['auth-zone:', 'name: "."', 'zonefile: "%s"' % self.zonefile,
                  'for-downstream: yes', 'for-upstream: yes',
                  'fallback-enabled: no']
        path = os.path.join(self.dir, 'unbound.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def start(self):
        if not os.access(UNBOUND, os.X_OK):
            raise unittest.SkipTest('unbound is not installed (apt-get install unbound)')
        for attempt in range(3):
            self.port = sallytest.free_udp_port()
            self.proc = subprocess.Popen([UNBOUND, '-d', '-c', self.config()],
                                         stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=self.log)
            deadline = time.monotonic() + sallytest.GREET_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                # The zone's own SOA: served once the zone is loaded.
                if sallytest.dns_query(self.port, '.', qtype=6, timeout=0.2) is not None:
                    return self
            self.stop()
        self.log.seek(0)
        raise AssertionError('unbound did not start:\n%s'
                             % self.log.read().decode('utf-8', 'replace'))

    def stop(self):
        sallytest.stop_process(self.proc)
        self.proc = None


def spf_check(conf, host, mailfrom, helo):
    """Run sallyport --spf-check; its key=value lines as a dict."""
    proc = subprocess.run([sallytest.binary(), '--spf-check', '-c', conf,
                           host, mailfrom, helo],
                          capture_output=True, timeout=120)
    out = proc.stdout.decode('ascii')
    if proc.returncode != 0:
        raise AssertionError('exit %d: %s %s' % (proc.returncode, out,
                                                 proc.stderr.decode('utf-8', 'replace')))
    return dict(line.split('=', 1) for line in out.splitlines())


class SpfSuite(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='sallytest-spf-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def conf(self, port, **keys):
        """A configuration asking unbound on port; keys: more settings."""
        path = os.path.join(self.dir, 'sallyport.conf')
        os.makedirs(os.path.join(self.dir, 'queue'), 0o700, exist_ok=True)
        settings = {'dns_timeout': '2s'}
        settings.update(keys)
        with open(path, 'w') as f:
            f.write('hostname = mail.example.test\n'
                    'listen = 127.0.0.1:2525 mx\n'
                    'local_domains = example.test\n'
                    'queue_dir = %s\n'
                    'dns_servers = 127.0.0.1:%d\n' % (os.path.join(self.dir, 'queue'), port))
            f.writelines('%s = %s\n' % kv for kv in settings.items())
        return path

    def sections(self):
        with open(SUITE, 'rb') as f:
            return list(yaml.safe_load_all(f))

    def unbound(self, section):
        """unbound serving one section's zone data, stopped at cleanup."""
        zdir = tempfile.mkdtemp(prefix='zone', dir=self.dir)
        dns = Unbound(section['zonedata'], zdir).start()
        self.addCleanup(dns.log.close)
        self.addCleanup(dns.stop)
        return dns

    def test_limits_are_settings(self):
        """The spf_max_* keys and spf_timeout are what the check obeys:
        cases of the suite at its limits, with the limits lowered."""
        section, = [s for s in self.sections() if s['description'] == 'Processing limits']
        dns = self.unbound(section)
        cases = section['tests']

        def result(case, **keys):
            c = cases[case]
            return spf_check(self.conf(dns.port, **keys), c['host'], c['mailfrom'], c['helo'])

        self.assertEqual(result('mech-at-limit')['result'], 'pass')
        got = result('mech-at-limit', spf_max_lookups='9')
        self.assertEqual(got['result'], 'permerror')
        self.assertIn('too many DNS lookups', got['problem'])
        self.assertEqual(result('void-at-limit')['result'], 'neutral')
        self.assertEqual(result('void-at-limit', spf_max_void_lookups='1')['result'], 'permerror')
        # example.org has two MX records.
        section, = [s for s in self.sections()
                    if s['description'] == 'Test cases from implementation bugs']
        dns = self.unbound(section)
        c = section['tests']['bytes-bug']
        for names, want in (('2', 'pass'), ('1', 'permerror')):
            got = spf_check(self.conf(dns.port, spf_max_names=names),
                            c['host'], c['mailfrom'], c['helo'])
            self.assertEqual(got['result'], want, 'spf_max_names = %s' % names)
        # A whole check within spf_timeout, shorter than one lookup's
        # dns_timeout: the name that never answers ends it, by the budget.
        section, = [s for s in self.sections() if s['description'] == 'Record lookup']
        dns = self.unbound(section)
        c = section['tests']['alltimeout']
        got = spf_check(self.conf(dns.port, dns_timeout='20s', spf_timeout='1s'),
                        c['host'], c['mailfrom'], c['helo'])
        self.assertEqual(got['result'], 'temperror')
        self.assertIn('spf_timeout', got['problem'])

    def test_hostile_answers(self):
        """Answers too large for UDP (c-ares asks again over TCP): a
        20 KB SPF record is refused at the default spf_max_record_size
        and read whole when allowed; 300 other TXT records around the
        SPF record change nothing."""
        nets = ' '.join(['ip4:198.51.100.%d' % i for i in range(1, 255)] * 5)
        big = 'v=spf1 ' + nets + ' ip4:192.0.2.77 -all'
        self.assertGreater(len(big), 20000)
        zone = {'big.example.test': [{'TXT': big}],
                'many.example.test': [{'TXT': 'filler %03d ' % i + 'x' * 90}
                                      for i in range(300)]
                + [{'TXT': 'v=spf1 ip4:192.0.2.78 -all'}]}
        dns = self.unbound({'zonedata': zone})
        got = spf_check(self.conf(dns.port), '192.0.2.77', 'a@big.example.test', 'h.example')
        self.assertEqual(got['result'], 'permerror', got)
        self.assertIn('too long', got['problem'])
        got = spf_check(self.conf(dns.port, spf_max_record_size='65535'),
                        '192.0.2.77', 'a@big.example.test', 'h.example')
        self.assertEqual(got['result'], 'pass', got)
        got = spf_check(self.conf(dns.port), '192.0.2.78', 'a@many.example.test', 'h.example')
        self.assertEqual(got['result'], 'pass', got)
        got = spf_check(self.conf(dns.port), '192.0.2.79', 'a@many.example.test', 'h.example')
        self.assertEqual(got['result'], 'fail', got)

    def test_rfc7208_suite(self):
        failures, passed = [], 0
        for section in self.sections():
            dns = self.unbound(section)
            try:
                conf = self.conf(dns.port)
                for name, case in section['tests'].items():
                    want = case['result']
                    want = [want] if isinstance(want, str) else want
                    got = spf_check(conf, case['host'], case['mailfrom'], case['helo'])
                    problem = None
                    if got.get('result') not in want:
                        problem = 'result %s, not %s' % (got.get('result'), '/'.join(want))
                    elif 'explanation' in case:
                        exp = got.get('explanation')
                        if case['explanation'] == 'DEFAULT':
                            if exp is not None:
                                problem = 'explanation %r, where the record gives none' % exp
                        elif exp != case['explanation']:
                            problem = 'explanation %r, not %r' % (exp, case['explanation'])
                    if problem:
                        failures.append('%s / %s: %s (%s)' % (
                            section['description'], name, problem,
                            ' '.join('%s=%s' % kv for kv in got.items())))
                    else:
                        passed += 1
            finally:
                dns.stop()
        print('%d of %d cases pass' % (passed, passed + len(failures)))
        self.assertEqual(failures, [], '\n' + '\n'.join(failures))


if __name__ == '__main__':
    unittest.main()
