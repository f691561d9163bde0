"""sallyport-import-qmail never widens relay rights: tcp.smtp rules that
nest (an allow or a deny inside a relay network, a relay host inside a
deny or allow network, several levels, ranges, the same address twice)
become mynetworks and client_deny that decide exactly as tcpserver does.

The oracle is the real tcprules and tcprulescheck (Debian's ucspi-tcp):
each rule set is compiled to a cdb, and for every address of each /24
the rules name, the edges of every network and random others, the rule
tcprulescheck reports is compared with the imported configuration's
answer. The default rule is the one documented difference: a default
deny or relay is reported and not imported, so there sallyport answers
"may connect, no relay". Then the daemon itself, on loopback, is asked
from addresses inside and around a nested rule set: relay, refusal at
the greeting, or neither, as tcprulescheck said."""

import ipaddress
import os
import random
import shutil
import subprocess
import tempfile

import sallytest
import test_import_qmail as iq

RELAY, DENY, ALLOW = 'relay', 'deny', 'allow'

# Every nesting, one rule set each (tcp.smtp lines).
RULE_SETS = {
    'allow host inside a relay network': [
        '192.168.1.66:allow', '192.168.1.:allow,RELAYCLIENT=""', ':allow'],
    'deny host inside a relay network': [
        '10.1.1.:allow,RELAYCLIENT=""', '10.1.1.200:deny'],
    'relay host inside a deny network': [
        '172.16.3.:deny', '172.16.3.5:allow,RELAYCLIENT=""'],
    'relay host inside an allow network': [
        '10.7.:allow', '10.7.0.9:allow,RELAYCLIENT=""', ':allow,RELAYCLIENT=""'],
    'several levels': [
        '10.:allow,RELAYCLIENT=""', '10.5.:deny', '10.5.7.:allow,RELAYCLIENT=""',
        '10.5.7.9:allow', '10.5.7.10:deny', '10.5.8.1-100:allow', '10.5.8.50:allow,RELAYCLIENT=""'],
    'ranges and the same address twice': [
        '10.2-3.:deny', '10.3.4.:allow,RELAYCLIENT=""', '10.3.4.10-20:deny',
        '10.3.4.15:allow,RELAYCLIENT=""', '10.3.4.16-17:allow,RELAYCLIENT=""',
        '10.3.4.0-255:allow', '10.3.5.1:deny', '10.3.5.1:allow,RELAYCLIENT=""'],
    'default deny around relay and allow networks': [
        ':deny', '192.0.2.:allow,RELAYCLIENT=""', '192.0.2.128-130:allow',
        '100.64.7.7:allow,RELAYCLIENT=""', '100.64.7.:allow', '100.64.9.:deny'],
    'a relay /8 with holes at every level': [
        '127.:allow,RELAYCLIENT=""', '127.0.:allow', '127.0.0.1:allow,RELAYCLIENT=""',
        '127.9.9.:deny', '127.9.9.9:allow', '127.200-201.:deny', '127.200.1.1:allow,RELAYCLIENT=""'],
}


def tcprules_decisions(rules, addresses, tmp):
    """{address: (decision, rule)} as tcpserver decides it, from the real
    tcprules and tcprulescheck; rule is the key tcprulescheck names."""
    src, cdb = os.path.join(tmp, 'rules'), os.path.join(tmp, 'rules.cdb')
    with open(src, 'w') as f:
        f.write('\n'.join(rules) + '\n')
    with open(src) as f:
        subprocess.run(['tcprules', cdb, cdb + '.tmp'], stdin=f, check=True)
    # One shell for them all: a process per address from Python is slow.
    script = ('while read ip; do echo "@$ip"; '
              'TCPREMOTEIP=$ip tcprulescheck "$1" || echo "exit $?"; done')
    p = subprocess.run(['sh', '-c', script, 'sh', cdb], input='\n'.join(addresses) + '\n',
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       check=True, timeout=600)
    out, ip, lines = {}, None, []
    for line in p.stdout.splitlines() + ['@']:
        if line.startswith('@'):
            if ip is not None:
                out[ip] = parse_check(ip, lines)
            ip, lines = line[1:], []
        else:
            lines.append(line)
    return out


def parse_check(ip, lines):
    rule = next((ln[len('rule '):-1] for ln in lines if ln.startswith('rule ')), '')
    if 'deny connection' in lines:
        return DENY, rule
    if 'allow connection' not in lines:
        raise AssertionError('tcprulescheck for %s said %r' % (ip, lines))
    relay = any(ln.startswith('set environment variable RELAYCLIENT=') for ln in lines)
    return (RELAY if relay else ALLOW), rule


def addresses_for(rules, rng):
    """Every address of each /24 the rules name, the edges (and one
    beyond) of each network they name, and random ones."""
    nets = set()
    for rule in rules:
        addr = rule.split(':', 1)[0]
        if not addr:
            continue
        parts = [p for p in addr.split('.') if p]
        expanded = [[]]
        for p in parts:
            lo, _, hi = p.partition('-')
            expanded = [e + [n] for e in expanded
                        for n in range(int(lo), int(hi or lo) + 1)]
        for e in expanded:
            nets.add(ipaddress.ip_network('%s/%d' % ('.'.join(map(str, e + [0] * (4 - len(e)))),
                                                     8 * len(e))))
    out = set()
    for net in nets:
        if net.prefixlen >= 24:
            out.update(ipaddress.ip_network((int(net.network_address) & ~0xff, 24)))
        else:
            out.update(net.network_address + k for k in (0, 1, 255, 256, 257))
            out.update(net.broadcast_address - k for k in (0, 1, 255, 256))
            out.update(net.network_address + rng.randrange(net.num_addresses)
                       for _ in range(300))
        for edge in (int(net.network_address) - 1, int(net.broadcast_address) + 1):
            if 0 <= edge < 2 ** 32:
                out.add(ipaddress.IPv4Address(edge))
    out.update(ipaddress.IPv4Address(rng.randrange(2 ** 32)) for _ in range(300))
    return sorted(str(a) for a in out)


def sallyport_decision(ip, mynetworks, client_deny):
    """What the imported configuration does for a client: refused at the
    greeting (client_deny wins over everything), relays (mynetworks), or
    neither. CIDR membership, nothing else."""
    a = ipaddress.ip_address(ip)
    if any(a in n for n in client_deny):
        return DENY
    if any(a in n for n in mynetworks):
        return RELAY
    return ALLOW


def nets(value):
    return [ipaddress.ip_network(v) for v in value.split()]


class ImportTcprulesExact(sallytest.TestCase):

    setUp = iq.ImportQmail.setUp
    run_import = iq.ImportQmail.run_import

    def need_tcprules(self):
        for prog in ('tcprules', 'tcprulescheck'):
            if shutil.which(prog) is None:
                if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
                    self.fail('%s is missing (apt-get install ucspi-tcp)' % prog)
                self.skipTest('%s is missing (apt-get install ucspi-tcp)' % prog)

    def import_rules(self, rules, status=0):
        with open(os.path.join(self.qmail, 'tcp.smtp'), 'w') as f:
            f.write('\n'.join(rules) + '\n')
        if os.path.exists(self.out):
            shutil.rmtree(self.out)
        _, out, err = self.run_import(status=status)
        if status != 0:
            return None, out, err
        with open(self.conf) as f:
            keys = iq.parse_conf(f.read())
        return keys, out, None

    def test_every_nesting_decides_as_tcpserver(self):
        self.need_tcprules()
        rng = random.Random(12)     # the same addresses every run
        for name, rules in RULE_SETS.items():
            with self.subTest(name), tempfile.TemporaryDirectory() as tmp:
                keys, _, _ = self.import_rules(rules)
                mynetworks, client_deny = nets(keys['mynetworks']), nets(keys['client_deny'])
                addresses = addresses_for(rules, rng)
                oracle = tcprules_decisions(rules, addresses, tmp)
                self.assertEqual(len(oracle), len(addresses))
                wrong = []
                for ip in addresses:
                    want, rule = oracle[ip]
                    if rule == '':
                        want = ALLOW    # the default: reported, not imported
                    got = sallyport_decision(ip, mynetworks, client_deny)
                    if got != want:
                        wrong.append('%s: tcpserver %s (rule %r), sallyport %s'
                                     % (ip, want, rule, got))
                self.assertEqual(wrong[:20], [], 'mynetworks = %s\nclient_deny = %s'
                                 % (keys['mynetworks'], keys['client_deny']))

    def test_random_rule_sets_decide_as_tcpserver(self):
        # Rules drawn at random (fixed seed) in 10.0-2.0-3.*: /8, /16, /24,
        # hosts, ranges, repeats, defaults; every one of the 3,072
        # addresses below them, and the neighbours, compared.
        self.need_tcprules()
        rng = random.Random(2026)
        space = ['10.%d.%d.%d' % (a, b, c) for a in range(3) for b in range(4)
                 for c in range(256)] + ['9.255.255.255', '10.3.0.0', '10.0.4.0', '11.0.0.0']
        for n in range(6):
            rules = [self.random_rule(rng) for _ in range(rng.randrange(4, 14))]
            rules.append(rng.choice([':allow', ':deny', ':allow,RELAYCLIENT=""']))
            if n >= 2:
                # tcprules strips blanks at the end of a line only: a key
                # with blanks before it is kept as written and never
                # matches. The import stops naming the line; without the
                # lines it decides as tcpserver did with them.
                for _ in range(rng.randrange(1, 3)):
                    at = rng.randrange(len(rules))
                    rules.insert(at, rng.choice([' ', '\t', '  ', ' \t']) +
                                 self.random_rule(rng).replace(':deny', ':allow,RELAYCLIENT=""'))
            blank = [i + 1 for i, r in enumerate(rules) if r[:1] in (' ', '\t')]
            with self.subTest(rules=rules), tempfile.TemporaryDirectory() as tmp:
                oracle = tcprules_decisions(rules, space, tmp)
                self.assertFalse([r for _, r in oracle.values() if r[:1] in (' ', '\t')])
                if blank:
                    _, _, err = self.import_rules(rules, status=1)
                    self.assertIn('tcp.smtp:%d: ' % blank[0], err)
                    self.assertIn('never', err)
                    self.assertFalse(os.path.exists(self.conf))
                    keys, _, _ = self.import_rules([r for r in rules if r[:1] not in (' ', '\t')])
                else:
                    keys, _, _ = self.import_rules(rules)
                mynetworks, client_deny = nets(keys['mynetworks']), nets(keys['client_deny'])
                wrong = ['%s: tcpserver %s (rule %r), sallyport %s'
                         % (ip, want, rule, sallyport_decision(ip, mynetworks, client_deny))
                         for ip, (want, rule) in sorted(oracle.items())
                         if sallyport_decision(ip, mynetworks, client_deny)
                         != (ALLOW if rule == '' else want)]
                self.assertEqual(wrong[:20], [])

    @staticmethod
    def random_rule(rng):
        """One rule on 10.0-2.0-3.*: a prefix or a host, maybe a range."""
        numbers = [10, rng.randrange(3), rng.randrange(4), rng.randrange(256)]
        level = rng.choice([1, 2, 3, 4, 4, 4])
        parts = [str(v) for v in numbers[:level]]
        if level >= 2 and rng.random() < 0.3:
            top = {2: 2, 3: 3, 4: 255}[level]
            lo = min(numbers[level - 1], top)
            parts[-1] = '%d-%d' % (lo, min(top, lo + rng.randrange(1, 40)))
        return ('.'.join(parts) + ('.' if level < 4 else '') + ':' +
                rng.choice(['allow', 'deny', 'allow,RELAYCLIENT=""']))

    def test_the_issue_example(self):
        # qmail kept 192.168.1.66 from relaying inside a relaying /24.
        keys, out, _ = self.import_rules(RULE_SETS['allow host inside a relay network'])
        self.assertEqual(keys['mynetworks'],
                         '192.168.1.0/26 192.168.1.64/31 192.168.1.67/32 192.168.1.68/30 '
                         '192.168.1.72/29 192.168.1.80/28 192.168.1.96/27 192.168.1.128/25')
        self.assertIn('tcp.smtp:2: 192.168.1.:allow,RELAYCLIENT="" -> mynetworks, less '
                      'the addresses more specific rules decide (line 1', out)

    def test_rules_sallyport_cannot_map_stop_the_import(self):
        cases = [
            # IPv6 is matched on the address's text: nesting is refused.
            (['2001:db8:1::allow,RELAYCLIENT=""', '2001:db8:1::66:allow'], 1,
             'overlaps 2001:db8:1::66/128 of line 2'),
            # A name rule comes before the prefixes, for clients unknown here.
            (['=gw.example.org:allow', '10.1.:allow,RELAYCLIENT=""'], 1,
             'takes precedence over the network of line 2'),
            # tcpserver writes no leading zero: this rule never matched.
            (['10.0.0.010:allow,RELAYCLIENT=""'], 1, 'leading zero'),
            # tcprules keeps blanks before a key: tcpserver never matches it.
            (['10.0.0.3:allow', ' 10.0.0.4:allow,RELAYCLIENT=""'], 2, 'never'),
            (['\t10.0.0.:allow,RELAYCLIENT=""', ':allow'], 1, 'never'),
            (['  =gw.example.org:allow,RELAYCLIENT=""'], 1, 'never'),
        ]
        for rules, line, words in cases:
            with self.subTest(rules=rules):
                path = os.path.join(self.qmail, 'tcp.smtp')
                with open(path, 'w') as f:
                    f.write('\n'.join(rules) + '\n')
                _, _, err = self.run_import(status=1)
                self.assertIn('%s:%d: ' % (os.path.realpath(path), line), err)
                self.assertIn(words, err)
                self.assertFalse(os.path.exists(self.conf))

    def test_the_daemon_relays_and_refuses_as_tcpserver(self):
        # Loopback addresses are all this machine's: a client can come from
        # any of them, so the real daemon answers for a nested rule set.
        rules = RULE_SETS['a relay /8 with holes at every level']
        self.need_tcprules()
        keys, _, _ = self.import_rules(rules)
        srv = self.server(mynetworks=keys['mynetworks'], client_deny=keys['client_deny'])
        port = srv.mx_port
        probes = ['127.0.0.1', '127.0.0.2', '127.0.5.5', '127.1.0.1', '127.9.9.8',
                  '127.9.9.9', '127.9.9.10', '127.9.8.9', '127.200.1.1', '127.200.1.2',
                  '127.201.0.1', '127.202.0.1']
        with tempfile.TemporaryDirectory() as tmp:
            oracle = tcprules_decisions(rules, probes, tmp)
        for ip in probes:
            with self.subTest(ip=ip):
                want = oracle[ip][0]
                with sallytest.Client(port, source=ip) as c:
                    if want == DENY:
                        self.assertEqual(c.greeting.code, 554, c.greeting)
                        continue
                    self.assertEqual(c.greeting.code, 220, c.greeting)
                    self.assertEqual(c.cmd('EHLO client.example').code, 250)
                    self.assertEqual(c.cmd('MAIL FROM:<>').code, 250)
                    r = c.cmd('RCPT TO:<someone@elsewhere.example>')
                    if want == RELAY:
                        self.assertEqual(r.code, 250, r)
                    else:
                        self.assertTrue(500 <= r.code < 600, r)
                    c.cmd('QUIT')


if __name__ == '__main__':
    sallytest.main()
