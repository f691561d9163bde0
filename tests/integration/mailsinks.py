"""mailsinks - real SMTP and LMTP servers on loopback for delivery tests.

Built on aiosmtpd (Debian: python3-aiosmtpd), each server runs its own
asyncio loop in a thread and records what it was given:

    sink = mailsinks.SmtpSink(tls=True, auth=('relay', 'secret'))
    sink.start()                        # 127.0.0.1, a free port
    ... smarthost = [127.0.0.1]:%d % sink.port ...
    m = sink.wait(1)[0]                 # a Received: envelope + bytes
    m.mail_from, m.rcpt_tos, m.content, m.tls, m.auth_user
    sink.refuse['x@remote.test'] = '550 5.1.1 no such user'
    sink.stop(); sink.start()           # an outage, same port

    lmtp = mailsinks.LmtpServer(unix_path, refuse={'b@...': '550 5.1.1 no'})

The LMTP server answers one reply per recipient after the data (RFC
2033), refusing the chosen ones there. Nothing here leaves 127.0.0.0/8 or
resolves a name: every server is given its own hostname for the greeting.
"""

import importlib.util
import logging
import os
import ssl
import sys
import threading
import time

import sallytest

DEBIAN_DIST = '/usr/lib/python3/dist-packages'

if importlib.util.find_spec('aiosmtpd') is None:
    # python3 may be another interpreter than Debian's (pyenv, a venv):
    # python3-aiosmtpd is pure Python, so take it from Debian's directory,
    # last on the path so that nothing of this interpreter's is shadowed.
    if os.path.isdir(DEBIAN_DIST) and DEBIAN_DIST not in sys.path:
        sys.path.append(DEBIAN_DIST)
try:
    from aiosmtpd.controller import Controller, UnixSocketController
    from aiosmtpd.lmtp import LMTP
    from aiosmtpd.smtp import AuthResult
except ImportError as e:    # checked by need_aiosmtpd()
    Controller = UnixSocketController = object     # the classes below still define
    _import_error = e
else:
    _import_error = None

SINK_NAME = 'sink.test'     # greeting name; aiosmtpd would ask getfqdn()

# aiosmtpd warns on every AUTH (a deprecated attribute); keep real errors.
logging.getLogger('mail.log').setLevel(logging.ERROR)


def need_aiosmtpd(testcase):
    """Skip the test when aiosmtpd cannot be imported (fail instead when
    SALLYPORT_REQUIRE_CLIENTS is set: install-deps installs it)."""
    if _import_error is None:
        return
    why = ('aiosmtpd is not importable by %s (%s): apt-get install python3-aiosmtpd'
           % (sys.executable, _import_error))
    if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
        testcase.fail(why)
    testcase.skipTest(why)


class Received:
    """One message as a sink accepted it."""

    def __init__(self, session, envelope, rcpt_tos):
        self.peer = session.peer
        self.helo = session.host_name
        self.tls = session.ssl is not None
        data = session.auth_data
        self.auth_user = None
        if session.authenticated and data is not None:
            login = getattr(data, 'login', data)
            self.auth_user = login.decode() if isinstance(login, bytes) else login
        self.mail_from = '' if envelope.mail_from == '<>' else envelope.mail_from
        self.mail_options = list(envelope.mail_options)
        self.rcpt_tos = list(rcpt_tos)
        self.content = envelope.original_content     # bytes, unstuffed, CRLF lines

    def header(self, name):
        """The first header field `name` of the content (str), or None."""
        head = self.content.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
        for line in head.split('\r\n'):
            key, sep, value = line.partition(':')
            if sep and key.lower() == name.lower():
                return value.strip()
        return None

    def __repr__(self):
        return 'Received(from=%r, to=%r, tls=%r, auth=%r, %d bytes)' % (
            self.mail_from, self.rcpt_tos, self.tls, self.auth_user, len(self.content))


class _Handler:
    """aiosmtpd handler: refuses the addresses in owner.refuse at RCPT,
    records each message, offers PIPELINING."""

    def __init__(self, owner):
        self.owner = owner

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + ['250-PIPELINING', responses[-1]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.owner.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        self.owner._record(Received(session, envelope, envelope.rcpt_tos))
        return '250 2.0.0 OK queued'


class _LmtpHandler(_Handler):
    """After the data, one reply per recipient: the refused ones get
    theirs, the others 250 and are recorded."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        lines, taken = [], []
        for rcpt in envelope.rcpt_tos:
            reply = self.owner.refuse.get(rcpt.lower())
            if reply:
                lines.append(reply)
            else:
                lines.append('250 2.0.0 <%s> delivered' % rcpt)
                taken.append(rcpt)
        if taken:
            self.owner._record(Received(session, envelope, taken))
        return '\r\n'.join(lines)


class _Server:
    """What both kinds share: start/stop, the record, waiting."""

    def __init__(self, refuse=None):
        self.refuse = {k.lower(): v for k, v in (refuse or {}).items()}
        self.messages = []
        self._cond = threading.Condition()
        self._controller = None

    def _record(self, received):
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()

    def _make_controller(self):
        raise NotImplementedError

    def start(self):
        """Listen (again): a fresh controller and loop each time."""
        if self._controller is None:
            c = self._make_controller()
            c.start()
            self._controller = c
        return self

    def stop(self):
        """Close the listener and every session: an outage."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    close = stop

    @property
    def running(self):
        return self._controller is not None

    def wait(self, n, timeout=10):
        """The messages once there are at least n (or all there are after
        timeout seconds: the caller asserts on the count)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class SmtpSink(_Server):
    """An SMTP server on host:port (default 127.0.0.1 and a free port).

    tls=True offers STARTTLS with sallytest's certificate (mail.example.test
    and IP 127.0.0.1, from the CA in sallytest.tls_files()[0]); auth=(user,
    password) offers AUTH PLAIN/LOGIN inside TLS and requires it before
    MAIL. refuse maps recipient (in lower case) -> reply line ("451 4.3.0
    later", "550 5.1.1 no"), checked at RCPT; change it any time. A null
    sender is recorded as mail_from ''."""

    def __init__(self, host='127.0.0.1', port=None, tls=False, auth=None, refuse=None):
        super().__init__(refuse)
        self.host = host
        self.port = port or sallytest.free_port(host)
        self.tls = tls
        self.auth = auth

    def _authenticate(self, server, session, envelope, mechanism, data):
        user, password = self.auth
        ok = (data is not None and getattr(data, 'login', None) == user.encode()
              and data.password == password.encode())
        return AuthResult(success=ok, auth_data=data if ok else None)

    def _make_controller(self):
        kw = {'server_hostname': SINK_NAME, 'ready_timeout': 10}
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            _, cert, key = sallytest.tls_files()
            ctx.load_cert_chain(cert, key)
            kw['tls_context'] = ctx
        if self.auth:
            kw.update(authenticator=self._authenticate, auth_required=True,
                      auth_require_tls=bool(self.tls))
        return Controller(_Handler(self), hostname=self.host,
                               port=self.port, **kw)

    @property
    def smarthost(self):
        """The value for the smarthost key."""
        return '[%s]:%d' % (self.host, self.port)


class _LmtpInet(Controller):
    def factory(self):
        return LMTP(self.handler, **self.SMTP_kwargs)


class _LmtpUnix(UnixSocketController):
    def factory(self):
        return LMTP(self.handler, **self.SMTP_kwargs)


class LmtpServer(_Server):
    """An LMTP server on a unix socket (unix_path) or 127.0.0.1 and a free
    port; refuse maps recipient -> its reply after the data."""

    def __init__(self, unix_path=None, refuse=None):
        super().__init__(refuse)
        self.unix_path = unix_path
        self.port = None if unix_path else sallytest.free_port()

    def _make_controller(self):
        kw = {'server_hostname': SINK_NAME, 'ready_timeout': 10}
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            return _LmtpUnix(_LmtpHandler(self), unix_socket=self.unix_path, **kw)
        return _LmtpInet(_LmtpHandler(self), hostname='127.0.0.1', port=self.port, **kw)

    @property
    def local_delivery(self):
        """The value for the local_delivery key."""
        if self.unix_path:
            return 'lmtp:unix:%s' % self.unix_path
        return 'lmtp:127.0.0.1:%d' % self.port


__all__ = ['LmtpServer', 'Received', 'SmtpSink', 'need_aiosmtpd', 'SINK_NAME']
