"""sallytest - helpers for sallyport's integration tests.

Runs the real daemon on free loopback ports with a temporary configuration
and queue, talks raw SMTP to it, and reads what it committed to the queue.

    class T(sallytest.TestCase):
        def test_x(self):
            srv = self.server(max_recipients=3)     # started, stopped at cleanup
            c = self.client(srv.mx_port)            # greeting already read
            self.assertEqual(c.cmd('EHLO client.example').code, 250)

Every Server has TLS and SMTP AUTH set up: a certificate for
mail.example.test from a throw-away CA (tls_files()), made once per test
process with the openssl command, and a sasldb with the user alice
(sasl_db(); ALICE and PASSWORD are the login). On the submission port a
client starts TLS and logs in before MAIL (TestCase.auth_client does both):

            c = self.auth_client(srv.sub_port)      # EHLO, STARTTLS, EHLO, AUTH
            c = self.client(srv.subs_port, tls=True)   # Server(submissions=True)

The tests are run by automake with SALLYPORT (the binary) and
SALLYPORT_SRCDIR (the source tree) in the environment. Nothing here leaves
127.0.0.0/8 and ::1, and nothing resolves a name: DNS tests run their own
dnsmasq on loopback (Dnsmasq) and point dns_servers at it.
"""

import atexit
import base64
import os
import re
import shutil
import signal
import socket
import ssl
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


# The master's (or the only process's) lines about a reload: it took the
# file as generation N, or refused it. A worker's or the runner's own lines
# carry their name first.
MASTER_LOADED = r'sallyport: reloaded configuration from \S+ \(generation (\d+)\)'
MASTER_REFUSED = r'sallyport: error: reload failed: keeping'

# Client addresses on loopback: with workers, clients outside mynetworks
# are steered by address, and ten addresses reach every worker of two.
SOURCES = ['127.0.0.%d' % i for i in range(1, 11)]


def worker_of_sessions(log, nworkers):
    """{client address: set of worker indexes}; session ids of worker i
    are i, i + n, i + 2n, ..."""
    seen = {}
    for sid, addr in re.findall(r's=([0-9a-f]+) connect from \[([^\]]+)\]', log):
        seen.setdefault(addr, set()).add(int(sid, 16) % nworkers)
    return seen


def wait_until(predicate, timeout, interval=0.02):
    """Poll predicate until it returns a true value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- TLS and SASL fixtures -------------------------------------------------

SERVER_NAME = 'mail.example.test'   # the certificate's name, the default hostname
SASL_REALM = 'example.test'
ALICE = 'alice@example.test'        # the login of alice, in the realm example.test
PASSWORD = 'wonderland'
_pki = None
_sasldb = None


def _scratch(prefix):
    """A temp dir removed at exit (kept with SALLYTEST_KEEP)."""
    path = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get('SALLYTEST_KEEP'):
        atexit.register(shutil.rmtree, path, True)
    return path


def _openssl(*args):
    p = subprocess.run(['openssl'] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise AssertionError('openssl %s failed:\n%s'
                             % (' '.join(args), p.stdout.decode('utf-8', 'replace')))


def _ca():
    """(directory, CA certificate, CA key) of this process's throw-away CA."""
    global _pki
    if _pki is None:
        d = _scratch('sallytest-pki-')
        ca, key = os.path.join(d, 'ca.pem'), os.path.join(d, 'ca.key')
        _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                 '-nodes', '-keyout', key, '-out', ca, '-days', '2',
                 '-subj', '/CN=sallytest throw-away CA',
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
        cert, leaf_key = make_certificate(d, SERVER_NAME, ca=(ca, key))
        _pki = (d, ca, key, cert, leaf_key)
    return _pki


def make_certificate(directory, name, ca=None, ip='127.0.0.1'):
    """A server certificate for `name` (and IP SAN ip) signed by the test
    CA, written to directory as NAME.pem and NAME.key; returns the paths
    (certificate, key)."""
    if ca is None:
        _, ca_pem, ca_key = _ca()[:3]
    else:
        ca_pem, ca_key = ca
    cert = os.path.join(directory, name + '.pem')
    key = os.path.join(directory, name + '.key')
    csr = os.path.join(directory, name + '.csr')
    ext = os.path.join(directory, name + '.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName = DNS:%s%s\n' % (name, ', IP:' + ip if ip else ''))
        f.write('basicConstraints = CA:FALSE\n'
                'keyUsage = critical, digitalSignature\n'
                'extendedKeyUsage = serverAuth\n')
    _openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
             '-keyout', key, '-out', csr, '-subj', '/CN=' + name)
    _openssl('x509', '-req', '-in', csr, '-CA', ca_pem, '-CAkey', ca_key,
             '-set_serial', str(int.from_bytes(os.urandom(8), 'big')),
             '-days', '2', '-extfile', ext, '-out', cert)
    os.unlink(csr)
    os.unlink(ext)
    return cert, key


def tls_files():
    """(CA certificate, server certificate, server key): PEM files for
    mail.example.test and 127.0.0.1, made once per process, removed at exit."""
    _, ca, _, cert, key = _ca()
    return ca, cert, key


def tls_context(server_hostname=True):
    """A client SSLContext that trusts only the test CA (and checks the
    name unless server_hostname is False)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(tls_files()[0])
    ctx.check_hostname = bool(server_hostname)
    return ctx


def add_sasl_user(db, user, password, realm=SASL_REALM):
    """saslpasswd2 -c -f db -u realm user, with the password on stdin."""
    p = subprocess.run(['saslpasswd2', '-p', '-c', '-f', db, '-u', realm, user],
                       input=password.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise AssertionError('saslpasswd2 failed for %s: %s'
                             % (user, p.stdout.decode('utf-8', 'replace')))


def sasl_db():
    """This process's sasldb, made once and removed at exit: alice /
    wonderland and bob / builder in the realm example.test (they log in as
    alice@example.test and bob@example.test), and carol / rosebud in the
    realm of the server's hostname (she logs in as plain "carol")."""
    global _sasldb
    if _sasldb is None:
        if not shutil.which('saslpasswd2'):
            raise unittest.SkipTest('saslpasswd2 is missing (apt-get install sasl2-bin)')
        path = os.path.join(_scratch('sallytest-sasl-'), 'sasldb2')
        add_sasl_user(path, 'alice', PASSWORD)
        add_sasl_user(path, 'bob', 'builder')
        add_sasl_user(path, 'carol', 'rosebud', realm=SERVER_NAME)
        _sasldb = path
    return _sasldb


def auth_plain(user, password, authzid=''):
    """The base64 initial response of AUTH PLAIN (RFC 4616)."""
    raw = '%s\0%s\0%s' % (authzid, user, password)
    return base64.b64encode(raw.encode('utf-8')).decode('ascii')


def b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


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
    address (e.g. 127.0.0.2) before connecting. tls=True starts TLS at once
    (a submissions listener, port 465 style), checking the certificate
    against the test CA and server_hostname; starttls() does it later."""

    def __init__(self, port, host='127.0.0.1', source=None, greet=True,
                 timeout=IO_TIMEOUT, tls=False, server_hostname=SERVER_NAME):
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.buf = b''
        self.transcript = []
        self.server_hostname = server_hostname
        try:
            if source:
                self.sock.bind((source, 0))
            self.sock.connect((host, port))
            if tls:
                self.handshake()
        except BaseException:
            self.sock.close()
            raise
        self.greeting = self.reply() if greet else None

    def handshake(self, context=None):
        """TLS handshake on the socket, as a client of the test CA (what
        starttls() does after the 220; call it alone to test the switch)."""
        ctx = context or tls_context(self.server_hostname)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.server_hostname)
        self.transcript.append(('C', b'<TLS %s>' % self.sock.version().encode()))

    @property
    def tls(self):
        """The SSLSocket when TLS is on, else None."""
        return self.sock if isinstance(self.sock, ssl.SSLSocket) else None

    def starttls(self, context=None):
        """STARTTLS, then the handshake; returns the 220 reply. Fails when
        the server sends anything after the 220 before the handshake (RFC
        3207: nothing may be pipelined over the switch)."""
        r = self.cmd('STARTTLS')
        if r.code != 220:
            raise AssertionError('STARTTLS refused: %r' % r)
        if self.buf:
            raise AssertionError('bytes after the 220 to STARTTLS: %r' % self.buf)
        self.handshake(context)
        return r

    def auth(self, user=None, password=PASSWORD):
        """AUTH PLAIN with an initial response (default: alice); the reply."""
        return self.cmd('AUTH PLAIN ' + auth_plain(ALICE if user is None else user, password))

    def silent(self, timeout=1.0):
        """The bytes the server sends within timeout seconds (b'' when it
        says nothing, which is what a test of smuggled commands wants)."""
        got = self.buf
        self.buf = b''
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        except ConnectionResetError:
            # The server closed while we were still sending (a 421 and
            # close to a client that trickles): what it said is kept.
            pass
        finally:
            self.sock.settimeout(IO_TIMEOUT)
        if got:
            self.transcript.append(('S', got))
        return got

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
        try:
            chunk = self.sock.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            chunk = b''
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
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
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
    hostname, local_domains, queue_dir, two listen lines (mx and
    submission on free 127.0.0.1 ports), tls_cert and tls_key (tls_files())
    and sasl_sasldb_path (sasl_db()); submissions=True adds a third
    listener, implicit TLS on subs_port, and submission=False drops the
    second (then tls_cert=None is a valid configuration); extra_listen=[...]
    adds listen lines. Use as a context manager or call start()/close()."""

    def __init__(self, extra_listen=(), submission=True, submissions=False, **overrides):
        self.bin = binary()
        self.dir = tempfile.mkdtemp(prefix='sallytest-')
        self.conf_path = os.path.join(self.dir, 'sallyport.conf')
        self.log_path = os.path.join(self.dir, 'sallyport.log')
        self.queue_dir = os.path.join(self.dir, 'queue')
        os.mkdir(self.queue_dir, 0o700)
        self.extra_listen = list(extra_listen)
        self.submission = submission
        self.submissions = submissions
        self.subs_port = None
        self.overrides = dict(overrides)
        self.proc = None
        self.env = None         # the daemon's environment; None: ours
        self.expect_exit = False
        self.started_once = False
        self._pick_ports()
        self.write_config()

    def _pick_ports(self):
        taken = set()
        for name in ('mx_port', 'sub_port') + (('subs_port',) if self.submissions else ()):
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            setattr(self, name, port)

    # configuration

    def config_values(self, overrides=None):
        _, cert, key = tls_files()
        listen = ['127.0.0.1:%d mx' % self.mx_port]
        if self.submission:
            listen.append('127.0.0.1:%d submission' % self.sub_port)
        if self.submissions:
            listen.append('127.0.0.1:%d submissions' % self.subs_port)
        values = {
            'hostname': SERVER_NAME,
            'local_domains': 'example.test',
            'listen': listen + self.extra_listen,
            'queue_dir': self.queue_dir,
            'tls_cert': cert,
            'tls_key': key,
            'sasl_sasldb_path': sasl_db(),
            # Tests that look at queue_dir/incoming/ must not race the
            # queue runner; delivery tests pass delivery='yes'.
            'delivery': 'no',
            # The MX sinks of the tests are on 127.x.y.z: a laboratory
            # setting (off by default, so loopback MX hosts are ours);
            # test_loops checks the default.
            'mx_allow_loopback': 'yes',
            # Tests run as root; the daemon refuses root without this.
            'run_as_root': 'yes' if os.geteuid() == 0 else None,
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
                # Greeting is one worker; the master says when every
                # process serves (a daemon that cannot, e.g. a runner that
                # keeps failing, is for its test to look at).
                self.wait_log(r'configuration generation \d+ (live|NOT live)',
                              timeout=GREET_TIMEOUT, offset=self.log_offset_at_start)
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
                                         stderr=log, cwd=self.dir, env=self.env)
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
        """SIGKILL the daemon and every process below it (its workers, its
        queue runner), as a crash of the whole service would, and wait;
        returns the pids of those below it."""
        self.expect_exit = True
        kids = descendants(self.proc.pid) if self.running() else []
        if self.running():
            self.proc.kill()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for pid in kids:
            wait_until(lambda: not alive(pid), 5)
        return kids

    # What a sanitizer build prints when it finds a bug, in the daemon or
    # in its queue runner (both log to the same file).
    SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                       'runtime error:')

    def close(self):
        """Kill the daemon if still running and remove the temp dir. A daemon
        that died on its own (crash, sanitizer report) or whose log holds a
        sanitizer report fails the test: serving one client must never cost
        the others their server."""
        problem = None
        if self.proc is not None:
            died = self.proc.poll() is not None and not self.expect_exit
            if self.running():
                # A clean stop, so that a sanitizer build checks for
                # leaks at exit; SIGKILL only if it does not stop.
                self.expect_exit = True
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            self.proc.wait()
            log = self.log_text() if os.path.exists(self.log_path) else ''
            if died:
                problem = 'sallyport died unexpectedly (status %d)' % self.proc.returncode
            elif any(mark in log for mark in self.SANITIZER_MARKS):
                problem = 'sallyport log holds a sanitizer report'
            if problem:
                self.dump_log(problem)
        if os.environ.get('SALLYTEST_KEEP'):
            sys.stderr.write('sallytest: keeping %s\n' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problem:
            raise AssertionError(problem)

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
        wait until the master (or the only process) has settled it: it logs
        that the new generation is live in every process, or that some
        process refused it, or that it refused the file itself. Returns the
        log text written since the signal."""
        offset = self._log_size()
        self.write_config(overrides, extra_lines)
        self.signal(signal.SIGHUP)
        taken = wait_until(lambda: re.search(
            MASTER_LOADED + '|' + MASTER_REFUSED, self.log_text(offset)), timeout)
        if not taken:
            raise AssertionError('no log line about the reload within %d s; log:\n%s'
                                 % (timeout, self.log_text(offset)))
        if taken.group(1):
            gen = taken.group(1)
            if not self.wait_log(r'configuration generation %s (live|NOT live)' % gen,
                                 timeout=timeout, offset=offset):
                raise AssertionError('generation %s not settled within %d s; log:\n%s'
                                     % (gen, timeout, self.log_text(offset)))
        if overrides is not None:
            self.overrides = dict(overrides)
        return self.log_text(offset)

    def generation(self, offset=0):
        """The newest configuration generation the master said is live in
        every process, or 0."""
        found = re.findall(r'configuration generation (\d+) live', self.log_text(offset))
        return max(int(g) for g in found) if found else 0

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
    AAAA record, a name in `mx` ({name: exchange}, or {name: [(exchange,
    preference), ...]}) those MX records; every other
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
        for name, mx in self.mx.items():
            if isinstance(mx, str):
                args.append('--mx-host=%s,%s' % (name, mx))
            else:
                args += ['--mx-host=%s,%s,%d' % (name, host, pref) for host, pref in mx]
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


# --- real client programs -----------------------------------------------------

def client_env(tmpdir):
    """Environment for client programs (swaks, curl, openssl): no proxies,
    and swaks gets a Sys::Hostname that answers "localhost", so it does not
    resolve this machine's name (which could go to DNS)."""
    env = {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}
    libdir = os.path.join(tmpdir, 'perl5')
    os.makedirs(os.path.join(libdir, 'Sys'), exist_ok=True)
    with open(os.path.join(libdir, 'Sys', 'Hostname.pm'), 'w') as f:
        f.write('package Sys::Hostname;\n'
                '# sallyport tests: never look up the real host name\n'
                'use Exporter qw(import);\n'
                'our @EXPORT = qw(hostname);\n'
                'sub hostname { return "localhost"; }\n'
                '1;\n')
    env['PERL5LIB'] = libdir + (':' + env['PERL5LIB'] if env.get('PERL5LIB') else '')
    return env


# --- shared by the load and crash tests ---------------------------------------

def pump(sel, pending, done, deadline):
    """Read from the registered sockets until done(conn) holds for every
    conn in pending (a set, emptied as they finish) or the deadline passes."""
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            conn = key.data
            try:
                chunk = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                conn.error = e
                chunk = b''
            if chunk:
                conn.buf += chunk
            else:
                conn.eof = True
                sel.unregister(conn.sock)
            if conn in pending and (conn.eof or done(conn)):
                pending.discard(conn)
                if not conn.eof:
                    sel.unregister(conn.sock)


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


def queue_runners(pid):
    """The queue runner processes below pid (normally one)."""
    found = []
    for kid in descendants(pid):
        try:
            with open('/proc/%d/cmdline' % kid, 'rb') as f:
                if b'--queue-runner' in f.read():
                    found.append(kid)
        except OSError:
            continue
    return found


def descendants(pid):
    """Every process below pid (from /proc/PID/task/*/children)."""
    found = []
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return found
    for tid in tasks:
        try:
            with open('/proc/%d/task/%s/children' % (pid, tid)) as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for k in kids:
            found.append(k)
            found.extend(descendants(k))
    return found


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

    def need(self, program):
        """The path of a client program; a missing one skips the test, unless
        SALLYPORT_REQUIRE_CLIENTS is set (contrib/install-deps installs them
        all, so they run in CI)."""
        path = shutil.which(program)
        if path:
            return path
        if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
            self.fail('%s is required (SALLYPORT_REQUIRE_CLIENTS is set) but missing' % program)
        self.skipTest('%s is not installed (contrib/install-deps installs it)' % program)

    def run_client(self, argv, cwd, status=0, timeout=60):
        """Run a client program in cwd with client_env(cwd); returns its
        output (stdout and stderr). status=None accepts any exit status."""
        p = subprocess.run(argv, env=client_env(cwd), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, cwd=cwd)
        out = p.stdout.decode('utf-8', 'replace')
        if status is not None:
            self.assertEqual(p.returncode, status, '%s exited %d:\n%s'
                             % (' '.join(argv), p.returncode, out))
        return out

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

    def auth_client(self, port, user=None, password=PASSWORD, name='client.example', **kw):
        """A client logged in and ready for MAIL: EHLO, STARTTLS (unless
        tls=True: implicit TLS), EHLO again, AUTH PLAIN (default: alice)."""
        c = self.ehlo_client(port, name, **kw)
        if not c.tls:
            c.starttls()
            r = c.cmd('EHLO ' + name)
            self.assertEqual(r.code, 250, r)
        r = c.auth(user, password)
        self.assertEqual(r.last, '235 2.7.0 Authentication successful', r)
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
           'add_sasl_user', 'auth_plain', 'b64', 'binary', 'client_env', 'dns_query', 'dot_stuff',
           'free_port', 'free_udp_port', 'ipv6_loopback', 'main', 'make_certificate', 'sasl_db',
           'split_received', 'srcdir', 'tls_context', 'tls_files', 'unfold', 'wait_until',
           'ALICE', 'PASSWORD', 'SASL_REALM', 'SERVER_NAME', 'SKIP', 'CRLF', 'HEADER_ORDER']
