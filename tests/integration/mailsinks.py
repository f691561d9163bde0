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
    old = mailsinks.SmtpSink(eightbitmime=False)    # 7-bit only, see below

    lmtp = mailsinks.LmtpServer(unix_path, refuse={'b@...': '550 5.1.1 no'})
    lmtp.greeting = '421 4.3.2 busy'     # or refuse_mail[sender], data_reply,
    lmtp.replies_then_close = 0         # ... a connection lost after the data

    dovecot = mailsinks.Dovecot(['a@example.test', 'b@example.test'])
    dovecot.start()                     # a real Dovecot LMTP, 127.0.0.1, a port
                                        # no parallel test can take (PortLease)
    ... local_delivery = dovecot.local_delivery ...
    dovecot.mailbox('a@example.test')   # what its Maildir holds
    dovecot.sessions()                  # LMTP connections it logged

The aiosmtpd LMTP server answers one reply per recipient after the data
(RFC 2033), refusing the chosen ones there. Dovecot knows only the users
it is given: it refuses the others at RCPT with its own 550 5.1.1.
Nothing here leaves 127.0.0.0/8 or resolves a name: every server is
given its own hostname for the greeting.
"""

import asyncio
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

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

    async def handle_QUIT(self, server, session, envelope):
        self.owner.quits.append(session.peer)
        return '221 Bye'

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # Every MAIL, and whether it came inside TLS: a test of mandatory
        # TLS asserts that none came in clear.
        self.owner.mails.append((address, session.ssl is not None))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return '250 2.1.0 OK'

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.owner.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        owner = self.owner
        gate = getattr(owner, 'data_gate', None)
        if gate is not None:
            # The data is in; the reply waits until the test opens the gate.
            with owner._cond:
                owner.data_waiting += 1
                owner.data_most = max(owner.data_most, owner.data_waiting)
            owner.data_arrived.set()
            try:
                await asyncio.get_running_loop().run_in_executor(None, gate.wait)
            finally:
                with owner._cond:
                    owner.data_waiting -= 1
        reply = getattr(owner, 'data_refusal', None)
        if reply:
            return reply
        self.owner._record(Received(session, envelope, envelope.rcpt_tos))
        return '250 2.0.0 OK queued'


class _LmtpHandler(_Handler):
    """After the data, one reply per recipient: the refused ones get
    theirs, the others 250 and are recorded; with
    owner.replies_then_close set, only that many of those replies, then
    the connection closes and nothing is recorded."""

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
        keep = self.owner.replies_then_close
        if keep is not None:
            await server.hang_up(lines[:keep])
        if taken:
            self.owner._record(Received(session, envelope, taken))
        return '\r\n'.join(lines)


class _Lmtp(LMTP if _import_error is None else object):
    """aiosmtpd's LMTP, failing where its owner says: owner.greeting
    instead of the 220, owner.refuse_mail[sender] to MAIL, owner.data_reply
    to DATA (instead of the 354). A 421 closes the connection after it, as
    RFC 5321 3.8 has it."""

    def __init__(self, owner, *args, **kw):
        super().__init__(*args, **kw)
        self.owner = owner

    async def hang_up(self, lines):
        """Send lines, close the connection, and never return: the
        session ends here (aiosmtpd cancels it when the connection is
        gone), with nothing more written."""
        for line in lines:
            await self.push(line)
        self.transport.close()
        await asyncio.Event().wait()

    async def _refuse(self, reply):
        if reply.startswith('421'):
            await self.hang_up([reply])
        await self.push(reply)

    async def _handle_client(self):
        if self.owner.greeting is None:
            return await super()._handle_client()
        await self.push(self.owner.greeting)
        self.transport.close()

    async def smtp_MAIL(self, arg):
        m = re.match(r'(?i)FROM:\s*<([^>]*)>', arg or '')
        reply = self.owner.refuse_mail.get(m.group(1).lower()) if m else None
        if reply is None:
            return await super().smtp_MAIL(arg)
        await self._refuse(reply)

    async def smtp_DATA(self, arg):
        if self.owner.data_reply is None or not self.envelope.rcpt_tos:
            return await super().smtp_DATA(arg)
        await self._refuse(self.owner.data_reply)


class _Server:
    """What both kinds share: start/stop, the record, waiting."""

    def __init__(self, refuse=None):
        self.refuse = {k.lower(): v for k, v in (refuse or {}).items()}
        self.messages = []
        self.mails = []         # (sender, inside TLS) of every MAIL
        self.quits = []         # the peer (address, port) of every QUIT
        self.data_waiting = 0   # sessions held at the data_gate now
        self.data_most = 0      # ... and the most at once
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
    sender is recorded as mail_from ''.

    Extensions, as aiosmtpd implements them: 8BITMIME is offered unless
    eightbitmime=False, which makes a strict 7-bit server (it answers
    "500 Error: strict ASCII mode" to 8-bit data or commands);
    smtputf8=True offers SMTPUTF8. mail_options records what MAIL gave;
    mails lists every MAIL as (sender, whether inside TLS); quits the
    peer (address, port) of every session that said QUIT, as
    Received.peer names a message's session.
    A delivery held in flight: data_gate = threading.Event(); the reply to
    the data then waits until the gate is set, data_arrived (an Event) set
    once the data is in, data_waiting how many sessions wait at it now and
    data_most the most that ever did at once; data_refusal = '451 4.3.0 later' answers the data
    with that reply instead of taking the message.
    cert=(chain, key), PEM paths: the certificate STARTTLS shows instead of
    sallytest's (the chain file may hold the CA after the leaf)."""

    def __init__(self, host='127.0.0.1', port=None, tls=False, auth=None, refuse=None,
                 eightbitmime=True, smtputf8=False, cert=None):
        super().__init__(refuse)
        self.host = host
        self.port = port or sallytest.free_port(host)
        self.tls = tls
        self.auth = auth
        self.eightbitmime = eightbitmime
        self.smtputf8 = smtputf8
        self.cert = cert
        self.data_gate = None
        self.data_arrived = threading.Event()
        self.data_refusal = None

    def _authenticate(self, server, session, envelope, mechanism, data):
        user, password = self.auth
        ok = (data is not None and getattr(data, 'login', None) == user.encode()
              and data.password == password.encode())
        return AuthResult(success=ok, auth_data=data if ok else None)

    def _make_controller(self):
        kw = {'server_hostname': SINK_NAME, 'ready_timeout': 10,
              'decode_data': not self.eightbitmime,
              'enable_SMTPUTF8': self.smtputf8}
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            _, cert, key = sallytest.tls_files()
            ctx.load_cert_chain(*(self.cert or (cert, key)))
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
        return _Lmtp(self.handler.owner, self.handler, **self.SMTP_kwargs)


class _LmtpUnix(UnixSocketController):
    def factory(self):
        return _Lmtp(self.handler.owner, self.handler, **self.SMTP_kwargs)


class LmtpServer(_Server):
    """An LMTP server on a unix socket (unix_path) or 127.0.0.1 and a free
    port; refuse maps recipient -> its reply after the data.

    How it fails a whole transaction, each None until set (any time):
    greeting, a reply line instead of the 220, after which it closes;
    refuse_mail, sender (in lower case, '' for <>) -> its reply to MAIL
    ("451 4.3.0 later"); data_reply, the reply to DATA instead
    of the 354; replies_then_close, how many of the replies after the
    data it gives before it closes the connection (0: none). A 421
    closes the connection after it, as RFC 5321 3.8 says."""

    def __init__(self, unix_path=None, refuse=None):
        super().__init__(refuse)
        self.unix_path = unix_path
        self.port = None if unix_path else sallytest.free_port()
        self.greeting = self.data_reply = None
        self.refuse_mail = {}
        self.replies_then_close = None

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


DOVECOT = '/usr/sbin/dovecot'
DOVECOT_LMTP = '/usr/lib/dovecot/lmtp'     # Debian's dovecot-lmtpd
# The user Dovecot delivers as when we are root: it never writes mail as
# root ("Mail access not allowed for root"), and Debian always has "mail".
DOVECOT_MAIL_USER = 'mail'

DOVECOT_CONF = """\
# A private Dovecot: LMTP (and IMAP when asked), on 127.0.0.1, everything
# under {dir}.
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = lmtp{imap}
ssl = no
default_internal_user = {internal}
default_login_user = {internal}
mail_uid = {mail_user}
mail_gid = {mail_group}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{dir}/mail/%d/%n/Maildir
passdb {{
  driver = passwd-file
  args = {dir}/users
}}
userdb {{
  driver = passwd-file
  args = {dir}/users
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""

# IMAP for logins only (saslauthd's rimap checks passwords with it): the
# passwords are in the passwd-file in clear, loopback needs no TLS, and
# imap-login never runs as root.
DOVECOT_IMAP_CONF = """\
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {login_user}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
DOVECOT_IMAP = '/usr/lib/dovecot/imap-login'   # Debian's dovecot-imapd
DOVECOT_LOGIN_USER = 'dovenull'                 # made by dovecot-core


class PortLease:
    """A TCP port of 127.0.0.1 for a server that is told its port before it
    listens (Dovecot takes it from its configuration): sallytest.free_port()
    keeps it from every other test process until release() (and from this
    one for good), and it lies outside the kernel's ephemeral range, which
    no bind(port 0) or outgoing connection leaves."""

    def __init__(self):
        self.port = sallytest.free_port()

    def release(self):
        if self.port is not None:
            sallytest.release_port(self.port)
            self.port = None


class Dovecot:
    """A real Dovecot LMTP server (dovecot -F) on 127.0.0.1 and a free
    port, with its own configuration, log and Maildirs in a temp dir.

    users are the addresses its passwd-file userdb knows; it refuses the
    others at RCPT. Run as root, it delivers as the "mail" user (Dovecot
    never writes mail as root); as anyone else, as that user. stop() and
    start() again: an outage, same port. Skips the test when Dovecot is
    not installed (fails instead when SALLYPORT_REQUIRE_CLIENTS is set).

    passwords ({address: password}) also starts IMAP on imap_port, where
    those users log in with those passwords.

    Its ports are PortLeases, taken when first asked for (port,
    local_delivery, imap_port, start()), so no parallel test can take
    one before Dovecot listens on it. Should something that leases no
    port hold one all the same, start() takes another and tries again,
    unless the port was already given out (then it waits for it)."""

    def __init__(self, users, passwords=None):
        self.users = list(users)
        self.passwords = dict(passwords or {})
        self._leases = {}           # 'lmtp', 'imap' -> PortLease
        self._given = set()         # ports the test has seen
        self.proc = None
        self.dir = None

    def _port(self, name):
        if name not in self._leases:
            self._leases[name] = PortLease()
        return self._leases[name].port

    @property
    def port(self):
        """The LMTP port (given out: kept however long it stays busy)."""
        self._given.add('lmtp')
        return self._port('lmtp')

    @property
    def imap_port(self):
        if not self.passwords:
            return None
        self._given.add('imap')
        return self._port('imap')

    def _need(self):
        need = (DOVECOT, DOVECOT_LMTP) + ((DOVECOT_IMAP,) if self.passwords else ())
        missing = [p for p in need if not os.access(p, os.X_OK)]
        if missing:
            why = ('%s not installed: apt-get install dovecot-core dovecot-lmtpd '
                   'dovecot-imapd' % missing)
            if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
                raise AssertionError(why)
            raise unittest.SkipTest(why)

    def _setup(self):
        self.dir = tempfile.mkdtemp(prefix='sallytest-dovecot-')
        # Dovecot's delivery process (the mail user) walks into it.
        os.chmod(self.dir, 0o755)
        me = pwd.getpwuid(os.geteuid())
        mail = pwd.getpwnam(DOVECOT_MAIL_USER) if os.geteuid() == 0 else me
        os.makedirs(self.maildir_root)
        os.chown(self.maildir_root, mail.pw_uid, mail.pw_gid)
        with open(os.path.join(self.dir, 'users'), 'w') as f:
            for u in self.users:
                pw = '{PLAIN}' + self.passwords[u] if u in self.passwords else ''
                f.write('%s:%s:::%s/home/%s::\n' % (u, pw, self.dir, u))

    def _write_conf(self):
        """dovecot.conf with the ports as they are now."""
        me = pwd.getpwuid(os.geteuid())
        mail = pwd.getpwnam(DOVECOT_MAIL_USER) if os.geteuid() == 0 else me
        with open(self.conf_path, 'w') as f:
            f.write(DOVECOT_CONF.format(dir=self.dir, port=self._port('lmtp'),
                                        internal=me.pw_name,
                                        mail_user=mail.pw_name,
                                        mail_group=mail.pw_gid,
                                        imap=' imap' if self.passwords else ''))
            if self.passwords:
                login = DOVECOT_LOGIN_USER if os.geteuid() == 0 else me.pw_name
                f.write(DOVECOT_IMAP_CONF.format(login_user=login,
                                                 imap_port=self._port('imap')))

    @property
    def conf_path(self):
        return os.path.join(self.dir, 'dovecot.conf')

    @property
    def maildir_root(self):
        return os.path.join(self.dir, 'mail')

    @property
    def local_delivery(self):
        """The value for the local_delivery key."""
        return 'lmtp:127.0.0.1:%d' % self.port

    def _greets(self):
        try:
            with socket.create_connection(('127.0.0.1', self._port('lmtp')),
                                          timeout=2) as s:
                return s.recv(512).startswith(b'220')
        except OSError:
            return False

    def _busy_port(self):
        """The port Dovecot could not listen on, from its last words
        (its standard error, written anew at each start)."""
        m = re.search(r'listen\(\S+, (\d+)\) failed: Address already in use',
                      self._output())
        return int(m.group(1)) if m else None

    def _output(self):
        try:
            with open(os.path.join(self.dir, 'dovecot.out'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def _retry_port(self, port):
        """A port was busy: a fresh one if the test has not seen it;
        False when it has (the caller waits for it to come free)."""
        for name, lease in self._leases.items():
            if lease.port == port and name not in self._given:
                lease.release()
                self._leases[name] = PortLease()
                return True
        return False

    def start(self):
        self._need()
        if self.dir is None:
            self._setup()
        deadline = time.monotonic() + sallytest.GREET_TIMEOUT
        while self.proc is None:
            self._write_conf()
            with open(os.path.join(self.dir, 'dovecot.out'), 'w') as out:
                self.proc = subprocess.Popen([DOVECOT, '-F', '-c', self.conf_path],
                                             stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT,
                                             start_new_session=True)
            while not self._greets():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            else:
                break
            busy = self._busy_port() if self.proc.poll() is not None else None
            self.stop()
            if busy is None or time.monotonic() > deadline:
                raise AssertionError('dovecot did not start:\n%s%s'
                                     % (self._output(), self.log_text()))
            if not self._retry_port(busy):
                time.sleep(0.2)     # given out: wait for it to come free
        return self

    def stop(self):
        """Stop Dovecot (its master and the processes it started)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        # Wait for its children to let go of the port: a start() that
        # follows must listen on it again.
        sallytest.wait_until(lambda: not self._greets(), 10)

    def close(self):
        self.stop()
        for lease in self._leases.values():
            lease.release()
        if self.dir and not os.environ.get('SALLYTEST_KEEP'):
            shutil.rmtree(self.dir, True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def log_text(self):
        try:
            with open(os.path.join(self.dir, 'dovecot.log'), errors='replace') as f:
                return f.read()
        except (FileNotFoundError, TypeError):
            return ''

    def sessions(self):
        """How many LMTP sessions Dovecot has logged, not counting the
        connections that went no further than its greeting (start() and
        stop() probe the port that way)."""
        log = self.log_text()
        return (len(re.findall(r'(?m)^.* lmtp\(\d+\): Info: Connect from ', log))
                - len(re.findall(r'(?m)^.* lmtp\(\d+\): Info: Disconnect from .*'
                                 r'\(state=GREETING\)$', log)))

    def saved(self, address):
        """The session ids of the "saved mail" lines for address: one per
        copy Dovecot delivered, "<pid><session>" (a transaction's
        recipients share the session part before ":")."""
        return re.findall(r'(?m)^.* lmtp\(%s\)<(\d+)><([^>:]+)[^>]*>: Info: .*saved mail to '
                          % re.escape(address), self.log_text())

    def block(self, address):
        """Put a file where address's mail directory goes: Dovecot takes
        the recipient at RCPT and fails it after the data (451 4.2.0)."""
        local, domain = address.rsplit('@', 1)
        d = os.path.join(self.maildir_root, domain)
        if not os.path.isdir(d):
            os.mkdir(d)
            st = os.stat(self.maildir_root)
            os.chown(d, st.st_uid, st.st_gid)
        with open(os.path.join(d, local), 'w') as f:
            f.write('in the way\n')

    def unblock(self, address):
        local, domain = address.rsplit('@', 1)
        os.unlink(os.path.join(self.maildir_root, domain, local))

    def mailbox(self, address, n=0, timeout=10):
        """The messages in address's Maildir (new/ and cur/), oldest name
        first, once there are at least n (after timeout: what there is)."""
        local, domain = address.rsplit('@', 1)
        top = os.path.join(self.maildir_root, domain, local, 'Maildir')

        def files():
            out = []
            for sub in ('new', 'cur'):
                d = os.path.join(top, sub)
                if os.path.isdir(d):
                    out.extend(os.path.join(d, x) for x in os.listdir(d))
            return sorted(out, key=os.path.basename)
        sallytest.wait_until(lambda: len(files()) >= n, timeout)
        got = []
        for path in files():
            with open(path, 'rb') as f:
                got.append(f.read())
        return got


__all__ = ['Dovecot', 'LmtpServer', 'PortLease', 'Received', 'SmtpSink', 'need_aiosmtpd', 'SINK_NAME']
