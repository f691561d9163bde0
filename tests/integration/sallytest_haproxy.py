"""sallytest_haproxy - a private HAProxy (Debian's haproxy) on loopback.

    hp = HAProxy()
    mx = hp.frontend('mx', backend='nodes')           # 127.0.0.1, a free port
    hp.backend('nodes', [('n1', '127.0.0.11', 2525), ('n2', '127.0.0.12', 2525)],
               send_proxy='v2', smtpchk='haproxy.test')
    hp.start()                                        # or: with hp: ...
    hp.wait_servers('nodes', 'UP')                    # its health checks passed
    c = sallytest.Client(mx.port, host=mx.host)       # through the proxy
    hp.server_status('nodes')                         # {'n1': 'UP', 'n2': 'UP'}
    hp.log_text()                                     # one line per connection
    hp.close()                                        # stopped, dir removed

Everything in TCP mode (HAProxy sees bytes, never SMTP, except its own
health checks). A frontend binds host:port (default 127.0.0.1 and a free
port) and sends everything to one backend; a backend lists its servers,
each optionally with send-proxy (send_proxy='v1') or send-proxy-v2
('v2'), balanced by `balance` (default roundrobin), and health-checked
when smtpchk is given (`option smtpchk EHLO <name>`; True: HELO, as
HAProxy's default) or check=True (a plain TCP connect). What HAProxy
can do beyond that goes in as text: extra= lines inside a section,
raw= whole sections at the end of the file.

The file is its own, in a temp dir; the system's /etc/haproxy and the
haproxy service are never used. HAProxy runs in the foreground (-db:
no daemon, no master process), logs one tcplog line per connection and
its own notices to stderr, which goes to DIR/haproxy.log
(log_text()), and has an admin stats socket in DIR (stat(),
server_status(), command()). start() waits until the stats socket
answers and every frontend is OPEN there: no connection is made through
a frontend to find out, so a backend sees only the test's connections
(and the health checks). stop() sends SIGTERM (HAProxy's hard stop: it
exits at once, closing every connection) and waits.
"""

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

from sallytest_env import GREET_TIMEOUT, LogFile, free_port, wait_until
from sallytest_dns import stop_process

HAPROXY = '/usr/sbin/haproxy'
STOP_TIMEOUT = 10

# The first bytes of a PROXY protocol v2 header (HAProxy's proxy-protocol.txt, 2.2).
PROXY_V2_SIGNATURE = b'\r\n\r\n\x00\r\nQUIT\n'
PROXY_V1_TCP4 = b'PROXY TCP4 '


class Frontend:
    """`frontend NAME`: bind host:port, default_backend backend."""

    def __init__(self, name, backend, host='127.0.0.1', port=None, extra=()):
        self.name = name
        self.backend = backend
        self.host = host
        self.fixed_port = port      # None: a free one at each start
        self.port = port
        self.extra = list(extra)

    @property
    def address(self):
        return (self.host, self.port)

    def text(self):
        host = '[%s]' % self.host if ':' in self.host else self.host
        out = ['frontend %s' % self.name,
               '    bind %s:%d' % (host, self.port),
               '    default_backend %s' % self.backend]
        out += ['    ' + line for line in self.extra]
        return out


class Backend:
    """`backend NAME` with servers [(name, host, port), ...]; send_proxy
    None, 'v1' or 'v2' for every server; smtpchk None, True (HELO) or an
    EHLO name; check=True for TCP connect checks without smtpchk; inter
    the check interval; source the address HAProxy connects from."""

    def __init__(self, name, servers, send_proxy=None, balance='roundrobin',
                 smtpchk=None, check=False, inter='200ms', source=None, extra=()):
        if send_proxy not in (None, 'v1', 'v2'):
            raise ValueError('send_proxy must be None, "v1" or "v2"')
        self.name = name
        self.servers = [tuple(s) for s in servers]
        self.send_proxy = send_proxy
        self.balance = balance
        self.smtpchk = smtpchk
        self.check = check or smtpchk is not None
        self.inter = inter
        self.source = source
        self.extra = list(extra)

    def text(self):
        out = ['backend %s' % self.name, '    balance %s' % self.balance]
        if self.smtpchk is True:
            out.append('    option smtpchk')
        elif self.smtpchk:
            out.append('    option smtpchk EHLO %s' % self.smtpchk)
        if self.source:
            out.append('    source %s' % self.source)
        out += ['    ' + line for line in self.extra]
        opts = {None: '', 'v1': ' send-proxy', 'v2': ' send-proxy-v2'}[self.send_proxy]
        if self.check:
            opts += ' check inter %s rise 1 fall 1' % self.inter
        for name, host, port in self.servers:
            host = '[%s]' % host if ':' in host else host
            out.append('    server %s %s:%d%s' % (name, host, port, opts))
        return out


class HAProxy(LogFile):
    """Debian's haproxy with a configuration of the test's (see the module
    text). Frontends and backends are added before start(); raw is text
    appended to the file as it is (sections of the test's own)."""

    LOG_NAME = 'haproxy'

    def __init__(self, raw=''):
        self.dir = tempfile.mkdtemp(prefix='sallytest-haproxy-')
        self.conf_path = os.path.join(self.dir, 'haproxy.cfg')
        self.log_path = os.path.join(self.dir, 'haproxy.log')
        self.sock_path = os.path.join(self.dir, 'admin.sock')
        self.frontends = []
        self.backends = []
        self.raw = raw
        self.proc = None

    # configuration

    def frontend(self, name, backend, host='127.0.0.1', port=None, extra=()):
        fe = Frontend(name, backend, host, port, extra)
        self.frontends.append(fe)
        return fe

    def backend(self, name, servers, **kw):
        be = Backend(name, servers, **kw)
        self.backends.append(be)
        return be

    def config_text(self):
        out = ['# written by tests/integration/sallytest_haproxy.py',
               'global',
               '    log stderr format raw local0 info',
               '    stats socket %s mode 600 level admin' % self.sock_path,
               '    nbthread 1',
               'defaults',
               '    mode tcp',
               '    log global',
               '    option tcplog',
               '    timeout connect 5s',
               '    timeout client 60s',
               '    timeout server 60s',
               '    timeout check 5s']
        for section in self.frontends + self.backends:
            out += section.text()
        if self.raw:
            out.append(self.raw.rstrip('\n'))
        return '\n'.join(out) + '\n'

    def write_config(self):
        for fe in self.frontends:
            if fe.fixed_port is None:
                fe.port = free_port(fe.host)
        with open(self.conf_path, 'w') as f:
            f.write(self.config_text())

    # process

    def start(self):
        """Start it and wait until it serves; free ports are picked again
        (twice) when one was taken before HAProxy bound it."""
        if not os.access(HAPROXY, os.X_OK):
            why = '%s is not installed (contrib/install-deps installs it)' % HAPROXY
            if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
                raise AssertionError(why)
            raise unittest.SkipTest(why)
        for attempt in range(3):
            self.write_config()
            offset = self._log_size()
            log = open(self.log_path, 'ab')
            try:
                self.proc = subprocess.Popen([HAPROXY, '-db', '-f', self.conf_path],
                                             stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=log, cwd=self.dir)
            finally:
                log.close()
            if wait_until(lambda: self.proc.poll() is not None or self._serving(),
                          GREET_TIMEOUT, 0.05) and self.proc.poll() is None:
                return self
            self.stop()
            if ('Address already in use' not in self.log_text(offset)
                    or all(fe.fixed_port for fe in self.frontends)):
                break
        raise AssertionError('haproxy did not start within %d s:\n--- %s ---\n%s'
                             % (GREET_TIMEOUT, self.conf_path, self.config_text())
                             + '--- haproxy log ---\n' + self.log_text())

    def _serving(self):
        try:
            rows = self.stat()
        except OSError:
            return False
        return all(rows.get((fe.name, 'FRONTEND'), {}).get('status') == 'OPEN'
                   for fe in self.frontends)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait (SIGKILL after STOP_TIMEOUT s)."""
        stop_process(self.proc, STOP_TIMEOUT)

    def close(self):
        if self.proc is not None:
            self.stop()
        if os.environ.get('SALLYTEST_KEEP'):
            sys.stderr.write('sallytest: keeping %s\n' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # the stats socket

    def command(self, line, timeout=5):
        """One command on the admin socket ("show stat", "disable server
        nodes/n1", ...); returns its answer as text."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock_path)
            s.sendall(line.encode('ascii') + b'\n')
            return read_to_eof(s).decode('utf-8', 'replace')

    def stat(self):
        """`show stat` as {(proxy, server): {column: value}}; a frontend's
        row is (name, 'FRONTEND'), a backend's own (name, 'BACKEND')."""
        text = self.command('show stat')
        if not text.startswith('# '):
            raise OSError('unexpected answer to show stat: %r' % text[:200])
        rows = csv.DictReader(io.StringIO(text[2:]))
        return {(r['pxname'], r['svname']): r for r in rows}

    def server_status(self, backend):
        """{server: its state}, where a server whose checks have not yet
        run counts as 'INIT' rather than HAProxy's optimistic 'UP':
        'UP', 'DOWN', 'MAINT', 'no check', ... (transitions such as
        'UP 1/2' as HAProxy writes them)."""
        out = {}
        for (px, sv), row in self.stat().items():
            if px != backend or sv in ('FRONTEND', 'BACKEND'):
                continue
            status = row['status']
            if status.startswith('UP') and row['check_status'] in ('', 'INI'):
                status = 'INIT'
            out[sv] = status
        return out

    def server_sessions(self, backend):
        """{server: sessions HAProxy sent to it so far (stot)}."""
        return {sv: int(row['stot'] or 0) for (px, sv), row in self.stat().items()
                if px == backend and sv not in ('FRONTEND', 'BACKEND')}

    def wait_servers(self, backend, status, servers=None, timeout=20):
        """Wait until every server of the backend (or those named) has
        that status ('UP': its health check passed); returns
        server_status(backend), asserting that it came."""
        def settled():
            now = self.server_status(backend)
            names = servers or list(now)
            return now if names and all(now.get(n) == status for n in names) else None
        got = wait_until(settled, timeout, 0.05)
        if not got:
            raise AssertionError('haproxy: %s servers not %s within %d s: %r\n%s'
                                 % (backend, status, timeout, self.server_status(backend),
                                    self.log_text()[-3000:]))
        return got


def read_proxy_header(data):
    """Parse the PROXY header at the start of data (bytes): returns
    (version, source (host, port), destination (host, port), rest) for
    TCP over IPv4 or IPv6, (version, None, None, rest) for a v1 UNKNOWN
    or a v2 LOCAL, or None when data does not start with a whole header.
    For the tests' own checks of what a backend saw; sallyport has its
    own parser."""
    if data.startswith(b'PROXY '):
        end = data.find(b'\r\n')
        if end < 0:
            return None
        parts = data[:end].decode('ascii').split(' ')
        rest = data[end + 2:]
        if parts[1] == 'UNKNOWN':
            return 1, None, None, rest
        return 1, (parts[2], int(parts[4])), (parts[3], int(parts[5])), rest
    if data.startswith(PROXY_V2_SIGNATURE) and len(data) >= 16:
        ver_cmd, fam = data[12], data[13]
        length = int.from_bytes(data[14:16], 'big')
        if len(data) < 16 + length:
            return None
        body, rest = data[16:16 + length], data[16 + length:]
        if ver_cmd & 0x0f == 0:
            return 2, None, None, rest
        if fam >> 4 == 1:
            src = socket.inet_ntop(socket.AF_INET, body[0:4])
            dst = socket.inet_ntop(socket.AF_INET, body[4:8])
            sport, dport = int.from_bytes(body[8:10], 'big'), int.from_bytes(body[10:12], 'big')
        elif fam >> 4 == 2:
            src = socket.inet_ntop(socket.AF_INET6, body[0:16])
            dst = socket.inet_ntop(socket.AF_INET6, body[16:32])
            sport, dport = int.from_bytes(body[32:34], 'big'), int.from_bytes(body[34:36], 'big')
        else:
            return 2, None, None, rest
        return 2, (src, sport), (dst, dport), rest
    return None


def read_to_eof(sock):
    """Every byte the peer sends until it closes."""
    data = b''
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def connect_from(source, address, timeout=10):
    """A TCP connection to address (host, port) from the loopback address
    source (port chosen by the kernel): a client with an address of its
    own, as HAProxy's PROXY header then reports it."""
    s = socket.socket(socket.AF_INET6 if ':' in address[0] else socket.AF_INET,
                      socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(address)
    except OSError:
        s.close()
        raise
    return s


__all__ = ['HAProxy', 'Frontend', 'Backend', 'read_proxy_header', 'connect_from',
           'read_to_eof', 'HAPROXY', 'PROXY_V1_TCP4', 'PROXY_V2_SIGNATURE']
