"""sallytest_smtp - a raw SMTP client for the integration tests: a plain
socket that sends bytes and reads whole replies, with STARTTLS, implicit
TLS and AUTH PLAIN against the test CA and users (sallytest_creds).

Tests import these names from sallytest, which re-exports them.
"""

import re
import socket
import ssl

from sallytest_creds import ALICE, PASSWORD, SERVER_NAME, auth_plain, tls_context
from sallytest_env import CRLF, IO_TIMEOUT

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
