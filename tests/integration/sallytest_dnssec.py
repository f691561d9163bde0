"""sallytest_dnssec - a DNSSEC-signed DNS world on loopback, for DANE.

Real programs from Debian, nothing written by hand:

- the test signs its zones itself: ldns-keygen makes one key per signed
  zone (algorithm 13, ECDSAP256SHA256, with the SEP flag: a combined
  signing key), ldns-signzone signs the zone file;
- nsd, the authoritative server, serves every zone on 127.0.0.1 and a
  free port;
- unbound, the validating resolver, listens on 127.0.0.1 and another
  free port, with a stub-zone per zone pointing at nsd, the DS of each
  signed zone as its trust anchor and do-not-query-localhost: no. Its
  root is a tiny unsigned zone of its own (auth-zone, no fallback), so
  a name outside the test's zones is NXDOMAIN and no query ever leaves
  127.0.0.1. Its built-in local zones for test. and the like are off.

sallyport asks unbound (dns_servers = world.server, dnssec = yes) and
trusts its AD bit, as on a real server.

    world = DnssecWorld(
        {'dane.test': {'MX': [(10, 'mx.dane.test')]},
         'mx.dane.test': {'A': '127.0.0.2',
                          'TLSA': [tlsa_from_pem(cert, 3, 1, 1)]},
         'mx.insecure.dane.test': {'A': '127.0.0.3', 'TLSA': [...]},
         'alias.dane.test': {'CNAME': 'mx.dane.test'},
         'spoofed.dane.test': {'A': '127.0.0.4', 'TLSA': ['3 1 1 ' + 64 * 'a']}},
        bogus=[('_25._tcp.spoofed.dane.test', 'TLSA')])
    with world:
        ... dns_servers = world.server ...

Records: {owner: {type: value or [values]}}, types MX ((pref, host) or
[(pref, host), ...]), A, AAAA, TXT (text; several strings are made of a
text past 255 bytes), TLSA ("U S M HEX") and CNAME (one target). A TLSA
record given for a host (an owner with no leading underscore) is put at
_25._tcp.HOST; an owner that starts with '_' is taken as it is.

Zones: `signed` (default ('dane.test',)) are signed, each its own trust
anchor; `unsigned` (default ('insecure.dane.test',)) are not: one under
a signed zone is delegated from it without a DS, so that unbound proves
it insecure (RFC 4035 5.2), as a real unsigned child is. A record goes
to the most specific zone that holds its owner.

Bogus: `bogus` is a list of (owner, type): after signing, the data of
that RRset's first record is changed (its signature no longer matches),
so unbound answers SERVFAIL for it, as for a forged answer.

tlsa_from_pem(pem, usage, selector, mtype) makes a TLSA record's text
from a certificate (PEM text or path): selector 0 the certificate, 1 its
SubjectPublicKeyInfo (read by openssl x509 -pubkey); matching type 0 the
bytes, 1 SHA-256, 2 SHA-512.

asked(rtype, since) lists the names unbound was asked for with that
type (its log-queries lines), since an earlier query_log(): what a
command asked, or did not.

Without nsd, unbound, ldns-keygen or ldns-signzone the world raises
SkipTest on start.
"""

import base64
import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest

from sallytest_dns import dns_query, stop_process
from sallytest_env import GREET_TIMEOUT, ephemeral_range, free_udp_port

NSD = shutil.which('nsd') or '/usr/sbin/nsd'
UNBOUND = shutil.which('unbound') or '/usr/sbin/unbound'
LDNS_KEYGEN = shutil.which('ldns-keygen') or '/usr/bin/ldns-keygen'
LDNS_SIGNZONE = shutil.which('ldns-signzone') or '/usr/bin/ldns-signzone'
OPENSSL = shutil.which('openssl') or '/usr/bin/openssl'
TTL = 300

# unbound's built-in local zones that would hide the test's names.
NODEFAULT_ZONES = ('test.', 'invalid.', 'example.', 'localhost.')


def _absolute(name):
    return name.rstrip('.').lower() + '.'


def _under(name, zone):
    name, zone = _absolute(name), _absolute(zone)
    return name == zone or name.endswith('.' + zone)


def _txt_data(text):
    data = text.encode('utf-8')
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b'']
    return ' '.join('"' + ''.join(
        chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else '\\%03d' % b
        for b in chunk) + '"' for chunk in chunks)


def tlsa_from_pem(pem, usage=3, selector=1, mtype=1):
    """"U S M HEX" for the certificate in pem (its text, or a path)."""
    if '-----BEGIN' not in pem:
        with open(pem) as f:
            pem = f.read()
    if selector == 0:
        data = ssl.PEM_cert_to_DER_cert(pem)
    else:
        out = subprocess.run([OPENSSL, 'x509', '-pubkey', '-noout'],
                             input=pem.encode(), capture_output=True,
                             check=True).stdout.decode()
        body = out.split('-----BEGIN PUBLIC KEY-----')[1].split(
            '-----END PUBLIC KEY-----')[0]
        data = base64.b64decode(''.join(body.split()))
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return '%d %d %d %s' % (usage, selector, mtype, data.hex().upper())


class DnssecWorld:
    """nsd with signed and unsigned zones behind a validating unbound;
    `server` is the text for dns_servers ("127.0.0.1:PORT")."""

    def __init__(self, records, signed=('dane.test',),
                 unsigned=('insecure.dane.test',), bogus=()):
        self.signed = [_absolute(z) for z in signed]
        self.unsigned = [_absolute(z) for z in unsigned]
        self.records = records
        self.bogus = [(_absolute(o), t.upper()) for o, t in bogus]
        self.dir = None
        self.nsd = self.unbound = None
        self.nsd_port = self.port = None
        self.anchors = []

    @property
    def server(self):
        return '127.0.0.1:%d' % self.port

    # --- zone files -------------------------------------------------------

    def _zone_of(self, owner):
        zones = [z for z in self.signed + self.unsigned if _under(owner, z)]
        if not zones:
            raise AssertionError('%s is in none of the zones %s'
                                 % (owner, self.signed + self.unsigned))
        return max(zones, key=len)

    def _lines(self):
        """{zone: [record lines]}, the SOA, NS and delegations included."""
        lines = {}
        for z in self.signed + self.unsigned:
            lines[z] = ['%s %d IN SOA ns.%s hostmaster.%s 1 3600 600 86400 %d'
                        % (z, TTL, z, z, TTL),
                        '%s %d IN NS ns.%s' % (z, TTL, z),
                        'ns.%s %d IN A 127.0.0.1' % (z, TTL)]
        # A child zone is delegated from its parent (no DS: insecure).
        for z in self.signed + self.unsigned:
            parents = [p for p in self.signed + self.unsigned
                       if p != z and _under(z, p)]
            if parents:
                parent = max(parents, key=len)
                lines[parent] += ['%s %d IN NS ns.%s' % (z, TTL, z),
                                  'ns.%s %d IN A 127.0.0.1' % (z, TTL)]
        for owner, rrsets in self.records.items():
            for rtype, values in rrsets.items():
                rtype = rtype.upper()
                if not isinstance(values, list):
                    values = [values]
                name = _absolute(owner)
                if rtype == 'TLSA' and not name.startswith('_'):
                    name = '_25._tcp.' + name
                for v in values:
                    if rtype == 'MX':
                        v = '%d %s' % (v[0], _absolute(v[1]))
                    elif rtype == 'CNAME':
                        v = _absolute(v)
                    elif rtype == 'TXT':
                        v = _txt_data(v)
                    lines[self._zone_of(name)].append(
                        '%s %d IN %s %s' % (name, TTL, rtype, v))
        return lines

    def _sign(self, zone, path):
        """Sign the zone file at path; returns the signed file's path."""
        run = dict(cwd=self.dir, capture_output=True, check=True)
        key = subprocess.run([LDNS_KEYGEN, '-a', 'ECDSAP256SHA256', '-k',
                              zone], **run).stdout.decode().strip()
        with open(os.path.join(self.dir, key + '.ds')) as f:
            self.anchors.append(' '.join(f.read().split()))
        subprocess.run([LDNS_SIGNZONE, '-f', path + '.signed', path, key],
                       **run)
        return path + '.signed'

    def _tamper(self, path):
        """Change the data of each bogus RRset's first record."""
        with open(path) as f:
            lines = f.read().split('\n')
        for owner, rtype in self.bogus:
            for i, line in enumerate(lines):
                f = line.split()
                if len(f) < 5 or _absolute(f[0]) != owner or f[3] != rtype:
                    continue
                data = f[4:]
                if rtype == 'TLSA':
                    last = data[-1]
                    data[-1] = last[:-1] + ('1' if last[-1] == '0' else '0')
                elif rtype == 'MX':
                    data[0] = str(int(data[0]) + 1)
                elif rtype == 'A':
                    data = ['192.0.2.%d' % (int(data[0].split('.')[3]) % 200 + 1)]
                elif rtype == 'TXT':
                    data = [_txt_data('tampered')]
                else:
                    raise AssertionError('cannot make %s bogus' % rtype)
                lines[i] = '\t'.join(f[:4] + data)
                break
            else:
                raise AssertionError('no %s %s to make bogus' % (owner, rtype))
        with open(path, 'w') as f:
            f.write('\n'.join(lines))

    # --- servers ------------------------------------------------------------

    def _nsd_conf(self, files):
        conf = ['server:', '  port: %d' % self.nsd_port,
                '  ip-address: 127.0.0.1', '  do-ip6: no',
                '  username: ""', '  chroot: ""', '  zonesdir: "%s"' % self.dir,
                '  zonelistfile: "%s/zone.list"' % self.dir,
                '  database: ""', '  pidfile: "%s/nsd.pid"' % self.dir,
                '  xfrdfile: "%s/xfrd.state"' % self.dir,
                '  xfrdir: "%s"' % self.dir,
                '  logfile: "%s/nsd.log"' % self.dir, '  verbosity: 1',
                '  server-count: 1', '  hide-version: yes',
                'remote-control:', '  control-enable: no']
        for zone, path in files.items():
            conf += ['zone:', '  name: "%s"' % zone, '  zonefile: "%s"' % path]
        path = os.path.join(self.dir, 'nsd.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(conf) + '\n')
        return path

    def _unbound_conf(self):
        root = os.path.join(self.dir, 'root.zone')
        with open(root, 'w') as f:
            f.write('. 60 IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 '
                    '86400 60\n. 60 IN NS ns.invalid.\n')
        # Its queries' source ports from the ephemeral range alone, where
        # no test's listener is (sallytest_env).
        low, high = ephemeral_range()
        conf = ['server:', '  interface: 127.0.0.1@%d' % self.port,
                '  port: %d' % self.port, '  outgoing-interface: 127.0.0.1',
                '  outgoing-port-avoid: 0-%d' % (low - 1),
                '  outgoing-port-avoid: %d-65535' % (high + 1),
                '  do-ip6: no', '  do-daemonize: no', '  username: ""',
                '  chroot: ""', '  directory: "%s"' % self.dir,
                '  pidfile: ""', '  use-syslog: no',
                '  logfile: "%s/unbound.log"' % self.dir,
                '  verbosity: 1', '  val-log-level: 2', '  num-threads: 1',
                '  log-queries: yes',
                '  so-reuseport: no', '  do-not-query-localhost: no',
                '  module-config: "validator iterator"',
                '  qname-minimisation: no', '  harden-dnssec-stripped: yes',
                '  access-control: 127.0.0.0/8 allow',
                '  trust-anchor-signaling: no', '  root-key-sentinel: no']
        conf += ['  local-zone: "%s" nodefault' % z for z in NODEFAULT_ZONES]
        conf += ['  trust-anchor: "%s"' % a for a in self.anchors]
        conf += ['auth-zone:', '  name: "."', '  zonefile: "%s"' % root,
                 '  for-downstream: no', '  for-upstream: yes',
                 '  fallback-enabled: no']
        for z in self.signed + self.unsigned:
            conf += ['stub-zone:', '  name: "%s"' % z,
                     '  stub-addr: 127.0.0.1@%d' % self.nsd_port]
        path = os.path.join(self.dir, 'unbound.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(conf) + '\n')
        return path

    def _spawn(self, start, what, probe_name):
        """start(port) on free ports until the server answers probe_name's
        SOA: (process, port)."""
        for attempt in range(3):
            port = free_udp_port()
            proc = start(port)
            deadline = time.monotonic() + GREET_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                if dns_query(port, probe_name, qtype=6, timeout=0.2) is not None:
                    return proc, port
            stop_process(proc)
        raise AssertionError('%s did not start:\n%s' % (what, self.logs()))

    def start(self):
        for prog in (NSD, UNBOUND, LDNS_KEYGEN, LDNS_SIGNZONE):
            if not os.access(prog, os.X_OK):
                raise unittest.SkipTest('%s is not installed (apt-get install '
                                        'nsd unbound ldnsutils)' % prog)
        self.dir = tempfile.mkdtemp(prefix='sallytest-dnssec-')
        try:
            files = {}
            for zone, lines in self._lines().items():
                path = os.path.join(self.dir, zone + 'zone')
                with open(path, 'w') as f:
                    f.write('\n'.join(lines) + '\n')
                if zone in self.signed:
                    path = self._sign(zone, path)
                files[zone] = path
            for zone in self.signed:
                if any(self._zone_of(o) == zone for o, _ in self.bogus):
                    self._tamper(files[zone])
            self.log = open(os.path.join(self.dir, 'servers.log'), 'w+b')

            def nsd(port):
                self.nsd_port = port
                return subprocess.Popen([NSD, '-d', '-c', self._nsd_conf(files)],
                                        stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log)

            def unbound(port):
                self.port = port
                return subprocess.Popen([UNBOUND, '-d', '-c', self._unbound_conf()],
                                        stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log)

            first = (self.signed + self.unsigned)[0]
            self.nsd, _ = self._spawn(nsd, 'nsd', first)
            self.unbound, _ = self._spawn(unbound, 'unbound', first)
        except BaseException:
            self.close()
            raise
        return self

    def query_log(self):
        """unbound's log so far: a line per question it was asked
        ("... info: 127.0.0.1 _25._tcp.mx.dane.test. TLSA IN"), with
        its validation failures. Compare two reads to see what one
        command asked."""
        with open(os.path.join(self.dir, 'unbound.log'), errors='replace') as f:
            return f.read()

    def asked(self, rtype, since=''):
        """The names asked for with type rtype after the log text since."""
        log = self.query_log()
        log = log[len(since):] if log.startswith(since) else log
        out = []
        for line in log.splitlines():
            f = line.split()
            if len(f) >= 3 and f[-1] == 'IN' and f[-2] == rtype:
                out.append(f[-3].rstrip('.'))
        return out

    def logs(self):
        out = ''
        for name in ('servers.log', 'nsd.log', 'unbound.log'):
            path = os.path.join(self.dir or '/nonexistent', name)
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    out += '--- %s\n%s' % (name, f.read()[-4000:])
        return out

    def close(self):
        stop_process(self.unbound)
        stop_process(self.nsd)
        self.unbound = self.nsd = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
