"""sallytest_dns - DNS for the integration tests: a real dnsmasq on
loopback that answers only for the test zones and never forwards, the one
every Server shares, and a one-packet query to see that it answers.

Tests import these names from sallytest, which re-exports them.
"""

import atexit
import os
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from sallytest_env import GREET_TIMEOUT, ephemeral_range, free_udp_port

DNSMASQ = '/usr/sbin/dnsmasq'
DNS_ZONES = ('test', 'example', 'invalid')   # answered locally, never forwarded


def dns_query(port, name, qtype=1, host='127.0.0.1', timeout=1.0):
    """One UDP query; returns (rcode, answer count), or None on timeout."""
    qname = b''.join(bytes([len(label)]) + label.encode('ascii')
                     for label in name.rstrip('.').split('.')) + b'\0'
    packet = struct.pack('>HHHHHH', 0x5a11, 0x0100, 1, 0, 0, 0) + qname + \
        struct.pack('>HH', qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (host, port))
        try:
            reply = s.recv(4096)
        except socket.timeout:
            return None
    return reply[3] & 0x0f, struct.unpack('>H', reply[6:8])[0]


def stop_process(proc, timeout=10):
    """Terminate a DNS server we started (None: nothing), killing it if
    it does not end within timeout seconds."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Dnsmasq:
    """A real DNS server, dnsmasq, on 127.0.0.1 and a free port.

    It answers for the zones in `zones` only (default: test, example,
    invalid): a name in `hosts` ({name: IPv4 or IPv6 address}) has that A or
    AAAA record, a name in `mx` ({name: exchange}, or {name: [(exchange,
    preference), ...]}) those MX records, a name in `txt` ({name: text, or
    [text, ...] for several records}) TXT records, each text cut into
    strings of 255 octets; `servers` ({domain: 'IP#PORT'}) sends the
    questions for a domain to that address instead (a socket that never
    answers makes a DNS that never answers); every other
    name in those zones is NXDOMAIN. It has no upstream server, so a query for
    any other name is REFUSED and nothing ever leaves the machine. `server`
    is the text for the dns_servers key ("127.0.0.1:PORT"). Use as a context
    manager or start()/close(); without dnsmasq, start() raises SkipTest."""

    def __init__(self, hosts=None, mx=None, zones=DNS_ZONES, txt=None,
                 servers=None):
        self.hosts = dict(hosts or {})
        self.mx = dict(mx or {})
        # Not self.txt: subclasses of their own (a private namespace's
        # key server) use that name for records they add themselves.
        self.txt_records = dict(txt or {})
        self.forward = dict(servers or {})
        self.zones = tuple(zones)
        self.proc = None
        self.port = None
        self.log = tempfile.TemporaryFile(prefix='sallytest-dnsmasq-')

    @property
    def server(self):
        return '127.0.0.1:%d' % self.port

    def argv(self):
        args = [DNSMASQ, '--keep-in-foreground', '--port=%d' % self.port,
                '--listen-address=127.0.0.1', '--bind-interfaces',
                '--no-resolv', '--no-hosts', '--conf-file=/dev/null',
                '--pid-file=', '--log-facility=-', '--log-queries']
        args += ['--local=/%s/' % z for z in self.zones]
        args += ['--host-record=%s,%s' % kv for kv in self.hosts.items()]
        for name, mx in self.mx.items():
            if isinstance(mx, str):
                args.append('--mx-host=%s,%s' % (name, mx))
            else:
                args += ['--mx-host=%s,%s,%d' % (name, host, pref) for host, pref in mx]
        for name, texts in self.txt_records.items():
            for text in [texts] if isinstance(texts, str) else texts:
                parts = [text[i:i + 255] for i in range(0, len(text), 255)] or ['']
                # On the command line dnsmasq takes the strings as they
                # are, a comma between two (so none may hold a comma).
                args.append('--txt-record=%s,%s' % (name, ','.join(parts)))
        if self.forward:
            # Its queries' source ports from the ephemeral range, where
            # no test's listener is (sallytest_env).
            low, high = ephemeral_range()
            args += ['--server=/%s/%s' % kv for kv in self.forward.items()]
            args += ['--min-port=%d' % low, '--max-port=%d' % high]
        return args

    def start(self):
        if not os.access(DNSMASQ, os.X_OK):
            raise unittest.SkipTest('%s is not installed (apt-get install dnsmasq)'
                                    % DNSMASQ)
        for attempt in range(3):
            self.port = free_udp_port()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=self.log)
            deadline = time.monotonic() + GREET_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if dns_query(self.port, 'ready.invalid', timeout=0.2) is not None:
                    return self
            self.close_process()
        raise AssertionError('dnsmasq did not start:\n%s' % self.log_text())

    def log_text(self):
        self.log.seek(0)
        return self.log.read().decode('utf-8', 'replace')

    def close_process(self):
        stop_process(self.proc)
        self.proc = None

    def close(self):
        self.close_process()
        self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


# Sender domains the tests use, as a real DNS server answers for them.
SHARED_DNS_HOSTS = {
    'example.org': '192.0.2.80',
    'example.com': '192.0.2.81',
    'example.net': '2001:db8::82',
    'client.example': '192.0.2.83',
    'swaks.example': '192.0.2.84',
}
SHARED_DNS_MX = {'example.org': 'mx.example.org'}
_shared_dns = None


def shared_dnsmasq():
    """The dnsmasq every Server uses unless a test sets dns_servers: it
    knows SHARED_DNS_HOSTS, says NXDOMAIN for other names in its zones and
    REFUSED for the rest; started on first use, stopped at exit."""
    global _shared_dns
    if _shared_dns is None:
        dns = Dnsmasq(hosts=SHARED_DNS_HOSTS,
                      mx=SHARED_DNS_MX,
                      zones=DNS_ZONES + ('org', 'com', 'net'))
        dns.start()
        atexit.register(dns.close)
        _shared_dns = dns
    return _shared_dns
