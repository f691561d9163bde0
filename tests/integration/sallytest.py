"""sallytest - helpers for sallyport's integration tests.

Runs the real daemon on free loopback ports with a temporary configuration
and queue, talks raw SMTP to it, and reads what it committed to the queue.

    class T(sallytest.TestCase):
        def test_x(self):
            srv = self.server(max_recipients=3)     # started, stopped at cleanup
            c = self.client(srv.mx_port)            # greeting already read
            self.assertEqual(c.cmd('EHLO client.example').code, 250)

The tests are run by automake with SALLYPORT (the binary) and
SALLYPORT_SRCDIR (the source tree) in the environment. Nothing here leaves
127.0.0.0/8 and ::1, and nothing resolves a name: DNS tests run their own
dnsmasq on loopback (Dnsmasq) and point dns_servers at it.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77           # automake's exit status for a skipped test
GREET_TIMEOUT = 10  # seconds for a started daemon to greet
IO_TIMEOUT = 20     # seconds for one reply (generous for sanitizer builds)

CRLF = b'\r\n'


def binary():
    """Absolute path of the daemon under test, from $SALLYPORT."""
    path = os.environ.get('SALLYPORT')
    if not path:
        raise RuntimeError('SALLYPORT is not set: run the tests with "make check" '
                           'or point SALLYPORT at build/src/sallyport')
    if not os.access(path, os.X_OK):
        raise RuntimeError('SALLYPORT=%s is not an executable file' % path)
    return path


def srcdir():
    """Top of the source tree, from $SALLYPORT_SRCDIR (or guessed from here)."""
    path = os.environ.get('SALLYPORT_SRCDIR')
    if path:
        return path
    return os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def free_port(host='127.0.0.1'):
    """A TCP port free on host right now: bind port 0, read it, close."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback():
    """True when ::1 can be bound (IPv6 may be disabled in containers)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.02):
    """Poll predicate until it returns a true value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- raw SMTP client ------------------------------------------------------

class Closed(Exception):
    """The server closed the connection while a reply was expected."""


class Reply:
    """One complete SMTP reply: all its lines, without CRLF."""

    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[0][:3])

    @property
    def text(self):
        return '\n'.join(self.lines)

    @property
    def last(self):
        return self.lines[-1]

    def queue_id(self):
        """The id in "250 2.0.0 Ok: queued as ID", or None."""
        m = re.search(r'queued as (\S+)', self.last)
        return m.group(1) if m else None

    def __repr__(self):
        return 'Reply(%r)' % self.text


REPLY_LINE = re.compile(r'^(\d{3})([ -])(.*)$')


class Client:
    """A plain socket speaking SMTP: send bytes, read whole replies.

    Reads the greeting on connect unless greet=False; source binds the local
    address (e.g. 127.0.0.2) before connecting."""

    def __init__(self, port, host='127.0.0.1', source=None, greet=True,
                 timeout=IO_TIMEOUT):
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.buf = b''
        self.transcript = []
        try:
            if source:
                self.sock.bind((source, 0))
            self.sock.connect((host, port))
        except BaseException:
            self.sock.close()
            raise
        self.greeting = self.reply() if greet else None

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.transcript.append(('C', data))
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed('connection closed by server; transcript: %r'
                         % self.transcript[-6:])
        self.buf += chunk

    def line(self):
        """One line from the server, without CRLF (str, latin-1)."""
        while True:
            i = self.buf.find(CRLF)
            if i >= 0:
                raw, self.buf = self.buf[:i], self.buf[i + 2:]
                self.transcript.append(('S', raw))
                return raw.decode('latin-1')
            if len(self.buf) > 100000:
                raise AssertionError('reply line without CRLF: %r' % self.buf[:200])
            self._fill()

    def reply(self):
        """One complete (possibly multi-line) reply."""
        lines = []
        while True:
            ln = self.line()
            m = REPLY_LINE.match(ln)
            if not m or (lines and m.group(1) != lines[0][:3]):
                raise AssertionError('malformed reply line %r after %r' % (ln, lines))
            lines.append(ln)
            if m.group(2) == ' ':
                return Reply(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        """Send one command line (CRLF added) and read its reply."""
        self.send(line + '\r\n')
        return self.reply()

    def data(self, message):
        """Send message (bytes, CRLF lines) dot-stuffed with the final dot,
        after a 354 has been received; returns the reply after the dot."""
        self.send(dot_stuff(message))
        return self.reply()

    def transaction(self, mail_from, rcpts, message):
        """MAIL, RCPT..., DATA, message; returns the reply after the dot.
        Asserts every step before it succeeds."""
        r = self.cmd('MAIL FROM:<%s>' % mail_from)
        if r.code != 250:
            raise AssertionError('MAIL refused: %r' % r)
        for rcpt in rcpts:
            r = self.cmd('RCPT TO:<%s>' % rcpt)
            if r.code != 250:
                raise AssertionError('RCPT %s refused: %r' % (rcpt, r))
        r = self.cmd('DATA')
        if r.code != 354:
            raise AssertionError('DATA refused: %r' % r)
        return self.data(message)

    def closed(self, timeout=5):
        """True when the server closes the connection within timeout without
        sending more; raises if it sends something instead."""
        if self.buf:
            raise AssertionError('unread data from server: %r' % self.buf)
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(4096)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        if chunk:
            raise AssertionError('expected close, got %r' % chunk)
        return True


def dot_stuff(message):
    """Wire form of DATA content: leading dots doubled, final CRLF.CRLF."""
    if not message.endswith(CRLF):
        message += CRLF
    return re.sub(rb'(?m)^\.', b'..', message) + b'.\r\n'


# --- queue ------------------------------------------------------------------

HEADER_ORDER = ['sallyport-queue', 'id', 'arrival', 'client', 'helo', 'proto',
                'auth', 'from', 'rcpt']


class QueueEntry:
    """One committed file in incoming/: envelope header and message."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        with open(path, 'rb') as f:
            self.raw = f.read()
        self.keys = []      # header keys in file order (rcpt repeated)
        self.header = {}    # key -> value (str); rcpt holds the last one
        self.rcpts = []
        pos = 0
        while True:
            end = self.raw.find(b'\n', pos)
            if end < 0:
                raise ValueError('%s: header not terminated by an empty line' % path)
            line = self.raw[pos:end]
            pos = end + 1
            if line == b'':
                break
            key, sep, value = line.decode('utf-8', 'surrogateescape').partition(' ')
            if not sep:
                raise ValueError('%s: header line without a space: %r' % (path, line))
            self.keys.append(key)
            self.header[key] = value
            if key == 'rcpt':
                self.rcpts.append(value)
        self.body = self.raw[pos:]

    def split(self):
        """(Received header, rest of the message): see split_received."""
        return split_received(self.body)

    def __repr__(self):
        return 'QueueEntry(%r, %r)' % (self.name, self.header)


def split_received(body):
    """Split off the prepended Received header: returns (header bytes with
    its continuation lines and CRLFs, the rest). Raises ValueError when the
    body does not start with a well-formed Received header."""
    if not body.startswith(b'Received:'):
        raise ValueError('message does not start with Received: %r' % body[:80])
    pos = 0
    while True:
        end = body.find(CRLF, pos)
        if end < 0:
            raise ValueError('Received header not ended by CRLF: %r' % body[:300])
        pos = end + 2
        if body[pos:pos + 1] not in (b'\t', b' '):
            return body[:pos], body[pos:]


def unfold(header):
    """A header field on one line (str): folding CRLFs removed."""
    text = header.decode('utf-8', 'surrogateescape')
    return re.sub(r'\r\n(?=[ \t])', '', text).rstrip('\r\n')


# --- the daemon -------------------------------------------------------------

class Server:
    """A sallyport daemon on loopback with its own temp dir.

    Server(**overrides): each keyword is a config key whose value (str or
    list of str) replaces the default; None drops the key. The defaults are
    hostname, local_domains, queue_dir and two listen lines (mx and
    submission on free 127.0.0.1 ports); extra_listen=[...] adds listen
    lines. Use as a context manager or call start()/close()."""

    def __init__(self, extra_listen=(), **overrides):
        self.bin = binary()
        self.dir = tempfile.mkdtemp(prefix='sallytest-')
        self.conf_path = os.path.join(self.dir, 'sallyport.conf')
        self.log_path = os.path.join(self.dir, 'sallyport.log')
        self.queue_dir = os.path.join(self.dir, 'queue')
        os.mkdir(self.queue_dir, 0o700)
        self.extra_listen = list(extra_listen)
        self.overrides = dict(overrides)
        self.proc = None
        self.expect_exit = False
        self.started_once = False
        self._pick_ports()
        self.write_config()

    def _pick_ports(self):
        self.mx_port = free_port()
        self.sub_port = free_port()
        while self.sub_port == self.mx_port:
            self.sub_port = free_port()

    # configuration

    def config_values(self, overrides=None):
        values = {
            'hostname': 'mail.example.test',
            'local_domains': 'example.test',
            'listen': ['127.0.0.1:%d mx' % self.mx_port,
                       '127.0.0.1:%d submission' % self.sub_port] + self.extra_listen,
            'queue_dir': self.queue_dir,
        }
        values.update(self.overrides if overrides is None else overrides)
        if 'dns_servers' not in values:
            # Never the system resolver: sender checks ask DNS.
            values['dns_servers'] = shared_dnsmasq().server
        return values

    def config_text(self, overrides=None, extra_lines=()):
        out = ['# written by tests/integration/sallytest.py']
        for key, value in self.config_values(overrides).items():
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                if key == 'listen':
                    out.extend('listen = %s' % v for v in value)
                    continue
                value = ' '.join(value)
            out.append('%s = %s' % (key, value))
        out.extend(extra_lines)
        return '\n'.join(out) + '\n'

    def write_config(self, overrides=None, extra_lines=()):
        with open(self.conf_path, 'w') as f:
            f.write(self.config_text(overrides, extra_lines))

    # process

    def start(self):
        """Start the daemon (again, after stop/kill: same config and queue)
        and wait until the MX port greets."""
        for attempt in range(3):
            self._spawn()
            err = self._wait_ready()
            if err is None:
                self.started_once = True
                return self
            # A port picked by free_port() can be taken before the daemon
            # binds it (parallel tests); pick others, but only on first start.
            if (not self.started_once and attempt < 2
                    and re.search(r'in use', self.log_text(), re.I)):
                self._pick_ports()
                self.write_config()
                continue
            raise AssertionError('%s\n--- daemon log ---\n%s' % (err, self.log_text()))
        raise AssertionError('unreachable')

    def _spawn(self):
        self.log_offset_at_start = self._log_size()
        log = open(self.log_path, 'ab')
        try:
            self.proc = subprocess.Popen([self.bin, '-f', '-c', self.conf_path],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, cwd=self.dir)
        finally:
            log.close()
        self.expect_exit = False

    def _wait_ready(self):
        deadline = time.monotonic() + GREET_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return 'sallyport exited with status %d during start-up' % self.proc.returncode
            try:
                with Client(self.mx_port, timeout=GREET_TIMEOUT) as c:
                    if c.greeting.code != 220:
                        return 'unexpected greeting %r' % c.greeting
                    c.cmd('QUIT')
                    return None
            except (OSError, Closed):
                time.sleep(0.02)
        return 'sallyport did not greet on port %d within %d s' % (self.mx_port, GREET_TIMEOUT)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status (negative: signal)."""
        self.expect_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('sallyport did not exit within %d s of SIGTERM' % timeout)

    def kill(self):
        """SIGKILL and wait."""
        self.expect_exit = True
        if self.running():
            self.proc.kill()
        self.proc.wait()

    def close(self):
        """Kill the daemon if still running and remove the temp dir. A daemon
        that died on its own (crash, sanitizer report) has its log printed."""
        if self.proc is not None:
            died = self.proc.poll() is not None and not self.expect_exit
            if self.running():
                self.proc.kill()
            self.proc.wait()
            if died:
                self.dump_log('sallyport died unexpectedly (status %d)' % self.proc.returncode)
        if os.environ.get('SALLYTEST_KEEP'):
            sys.stderr.write('sallytest: keeping %s\n' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        if not self.running():
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.dump_log('test failed: %s' % exc_type.__name__)
        self.close()

    # reload

    def reload(self, overrides=None, extra_lines=(), timeout=10):
        """Rewrite the config (defaults + overrides, which replace the ones
        given at construction; extra_lines appended verbatim), send SIGHUP and
        wait for the daemon to log about the reload. Returns the log text
        written since the signal."""
        offset = self._log_size()
        self.write_config(overrides, extra_lines)
        self.signal(signal.SIGHUP)
        found = wait_until(lambda: re.search(r'reload', self.log_text(offset), re.I), timeout)
        if not found:
            raise AssertionError('no log line about the reload within %d s; log:\n%s'
                                 % (timeout, self.log_text(offset)))
        if overrides is not None:
            self.overrides = dict(overrides)
        return self.log_text(offset)

    # log and queue

    def _log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_text(self, offset=0):
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(offset)
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def wait_log(self, pattern, timeout=10, offset=0):
        """Wait for a regex to appear in the log; returns the match or None."""
        return wait_until(lambda: re.search(pattern, self.log_text(offset)), timeout)

    def dump_log(self, why, lines=80):
        tail = self.log_text().splitlines()[-lines:]
        sys.stderr.write('--- %s; last %d lines of the daemon log (%s) ---\n'
                         % (why, len(tail), self.log_path))
        sys.stderr.write('\n'.join(tail) + '\n--- end of daemon log ---\n')

    def incoming_dir(self):
        return os.path.join(self.queue_dir, 'incoming')

    def tmp_dir(self):
        return os.path.join(self.queue_dir, 'tmp')

    def _names(self, d):
        try:
            return sorted(n for n in os.listdir(d) if not n.startswith('.'))
        except FileNotFoundError:
            return []

    def queue_names(self):
        return self._names(self.incoming_dir())

    def tmp_names(self):
        return self._names(self.tmp_dir())

    def queue_entries(self):
        """Every committed entry in incoming/, parsed, sorted by name."""
        return [QueueEntry(os.path.join(self.incoming_dir(), n)) for n in self.queue_names()]

    def queue_entry(self, queue_id):
        return QueueEntry(os.path.join(self.incoming_dir(), queue_id))


# --- DNS ----------------------------------------------------------------------

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


def free_udp_port(host='127.0.0.1'):
    """A UDP port free on host right now (dnsmasq also wants it for TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Dnsmasq:
    """A real DNS server, dnsmasq, on 127.0.0.1 and a free port.

    It answers for the zones in `zones` only (default: test, example,
    invalid): a name in `hosts` ({name: IPv4 or IPv6 address}) has that A or
    AAAA record, a name in `mx` ({name: exchange}) that MX record; every other
    name in those zones is NXDOMAIN. It has no upstream server, so a query for
    any other name is REFUSED and nothing ever leaves the machine. `server`
    is the text for the dns_servers key ("127.0.0.1:PORT"). Use as a context
    manager or start()/close(); without dnsmasq, start() raises SkipTest."""

    def __init__(self, hosts=None, mx=None, zones=DNS_ZONES):
        self.hosts = dict(hosts or {})
        self.mx = dict(mx or {})
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
        args += ['--mx-host=%s,%s' % kv for kv in self.mx.items()]
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
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
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


# --- test case base -----------------------------------------------------------

class TestCase(unittest.TestCase):
    """unittest.TestCase with servers and clients that clean up after
    themselves; a failing test prints the tail of its daemons' logs."""

    def server(self, **kw):
        srv = Server(**kw)
        self.addCleanup(self._close_server, srv)
        srv.start()
        return srv

    def _close_server(self, srv):
        outcome = getattr(self, '_outcome', None)
        if outcome is not None and not getattr(outcome, 'success', True) and srv.proc:
            srv.dump_log('%s failed' % self.id())
        srv.close()

    def dnsmasq(self, **kw):
        """A started Dnsmasq(**kw), stopped at cleanup."""
        dns = Dnsmasq(**kw)
        dns.start()
        self.addCleanup(dns.close)
        return dns

    def client(self, port, **kw):
        c = Client(port, **kw)
        self.addCleanup(c.close)
        return c

    def ehlo_client(self, port, name='client.example', **kw):
        c = self.client(port, **kw)
        r = c.cmd('EHLO ' + name)
        self.assertEqual(r.code, 250, r)
        return c


def main():
    """unittest.main, with automake's exit status: 77 when every test was
    skipped, 1 on any failure, else 0."""
    prog = unittest.main(module='__main__', exit=False)
    result = prog.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun > 0 and len(result.skipped) == result.testsRun:
        sys.exit(SKIP)
    sys.exit(0)


__all__ = ['Client', 'Closed', 'Dnsmasq', 'QueueEntry', 'Reply', 'Server', 'TestCase',
           'binary', 'dns_query', 'dot_stuff', 'free_port', 'free_udp_port', 'ipv6_loopback', 'main', 'srcdir',
           'split_received', 'unfold', 'wait_until', 'SKIP', 'CRLF', 'HEADER_ORDER']
