"""SMTP AUTH checked by a real Dovecot (sasl_backend = dovecot).

The test starts Dovecot from Debian's dovecot-core with a private
base_dir and configuration: no protocols, only its auth service, users
in a passwd-file with known passwords, and an extra auth-client
unix_listener in the test's directory, as an administrator adds one for
an MTA. sallyport speaks Dovecot's auth protocol to that socket.

What a user sees: PLAIN (swaks) and LOGIN (by hand) log in and may
relay; a wrong password and an unknown user get 535 after sallyport's
failure delay (Dovecot's own auth_failure_delay is 0 here, so the delay
seen is ours); a Dovecot that is stopped gives 454 4.7.0 while sallyport
keeps serving, and one started again is used again; a Dovecot that
hangs (its auth process stopped) costs only the session authenticating,
which gets 454 at auth_timeout. Nothing is timed but the lower bound of
the failure delay, which load can only lengthen. Skips, with the
reason, when Dovecot cannot start here."""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import sallytest
from sallytest import ALICE, PASSWORD, auth_plain, b64

DOVECOT = '/usr/sbin/dovecot'
BOB = 'bob@example.test'
BOB_PASSWORD = 'builder'
R_AUTH_OK = '235 2.7.0 Authentication successful'
R_AUTH_TEMP = '454 4.7.0 Temporary authentication failure'
R_AUTH_BAD = '535 5.7.8 Authentication credentials invalid'

# Auth only: "protocols =" starts no IMAP, POP3 or LMTP. The listener
# block is what doc/submission.md tells an administrator to add.
DOVECOT_AUTH_CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols =
ssl = no
default_internal_user = {user}
default_login_user = {user}
first_valid_uid = 0
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = {dir}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={dir}/home
}}
service auth {{
  unix_listener {socket} {{
    mode = 0660
    user = {user}
  }}
}}
"""


class DovecotAuth:
    """Dovecot's auth service alone, on a socket in a temp dir."""

    def __init__(self, users):
        self.users = dict(users)
        self.dir = tempfile.mkdtemp(prefix='sallytest-dovecot-auth-')
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, 'auth-client')
        self.proc = None
        me = pwd.getpwuid(os.geteuid()).pw_name
        with open(os.path.join(self.dir, 'dovecot.conf'), 'w') as f:
            f.write(DOVECOT_AUTH_CONF.format(dir=self.dir, user=me, socket=self.socket))
        with open(os.path.join(self.dir, 'users'), 'w') as f:
            for user, password in self.users.items():
                f.write('%s:{PLAIN}%s::::::\n' % (user, password))

    def _skip(self, why):
        if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
            raise AssertionError(why)
        raise unittest.SkipTest(why)

    def _answers(self):
        """Does the socket give Dovecot's handshake (VERSION ... DONE)?"""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.socket)
                s.sendall(b'VERSION\t1\t2\nCPID\t%d\n' % os.getpid())
                got = b''
                while b'\nDONE\n' not in got:
                    chunk = s.recv(4096)
                    if not chunk:
                        return False
                    got += chunk
                return got.startswith(b'VERSION\t1\t')
        except OSError:
            return False

    def start(self):
        if not os.access(DOVECOT, os.X_OK):
            self._skip('dovecot is not installed (apt-get install dovecot-core)')
        with open(os.path.join(self.dir, 'dovecot.out'), 'w') as out:
            self.proc = subprocess.Popen([DOVECOT, '-F', '-c', os.path.join(self.dir, 'dovecot.conf')],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        if not sallytest.wait_until(self._answers, sallytest.GREET_TIMEOUT):
            text = self.output() + self.log_text()
            self.stop()
            self._skip('dovecot cannot start here:\n' + text)
        return self

    def stop(self):
        if self.proc is None:
            return
        # The whole process group, as "systemctl stop dovecot" ends the
        # whole unit: the master alone would leave its auth process
        # serving the connections it has until they close.
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGCONT)
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if not sallytest.wait_until(lambda: not self._group_alive(pgid), 10):
            os.killpg(pgid, signal.SIGKILL)
            sallytest.wait_until(lambda: not self._group_alive(pgid), 10)

    @staticmethod
    def _group_alive(pgid):
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False

    def auth_pid(self):
        """The pid of the auth process (dovecot/auth), a child of the master."""
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index('(') + 1:stat.rindex(')')]
            ppid = int(stat[stat.rindex(')') + 2:].split()[1])
            if comm == 'auth' and ppid == self.proc.pid:
                return int(pid)
        raise AssertionError('no dovecot/auth process under %d' % self.proc.pid)

    def output(self):
        try:
            with open(os.path.join(self.dir, 'dovecot.out'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def log_text(self):
        try:
            with open(os.path.join(self.dir, 'dovecot.log'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def close(self):
        self.stop()
        if not os.environ.get('SALLYTEST_KEEP'):
            shutil.rmtree(self.dir, True)


class AuthDovecot(sallytest.TestCase):

    def dovecot(self):
        dv = DovecotAuth({ALICE: PASSWORD, BOB: BOB_PASSWORD})
        self.addCleanup(dv.close)
        return dv.start()

    def dovecot_server(self, dv, **kw):
        kw.setdefault('auth_timeout', '10s')
        return self.server(sasl_backend='dovecot', sasl_dovecot_path=dv.socket,
                           sasl_sasldb_path=None, **kw)

    def tls_client(self, srv):
        """A client on the submission port, inside TLS, not logged in."""
        c = self.ehlo_client(srv.sub_port)
        c.starttls()
        r = c.cmd('EHLO client.example')
        self.assertEqual(r.code, 250)
        self.assertIn('250-AUTH PLAIN LOGIN', r.lines)
        return c

    def test_plain_and_login_log_in_and_relay(self):
        dv = self.dovecot()
        srv = self.dovecot_server(dv)
        swaks = self.need('swaks')
        out = self.run_client([swaks, '--server', '127.0.0.1:%d' % srv.sub_port,
                               '--helo', 'swaks.example', '--tls',
                               '--auth', 'PLAIN', '--auth-user', ALICE,
                               '--auth-password', PASSWORD,
                               '--from', ALICE, '--to', 'carol@elsewhere.example'],
                              srv.dir)
        self.assertIn('<~  235 2.7.0 Authentication successful', out)
        m = re.search(r'queued as (\S+)', out)
        self.assertTrue(m, out)
        e = srv.queue_entry(m.group(1))
        self.assertEqual(e.header['auth'], ALICE)
        self.assertEqual(e.rcpts, ['carol@elsewhere.example'])

        # LOGIN, step by step: Dovecot's challenges, then relay.
        c = self.tls_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<%s>' % BOB).code, 530, 'relay before AUTH')
        self.assertEqual(c.cmd('AUTH LOGIN').lines, ['334 VXNlcm5hbWU6'])
        self.assertEqual(c.cmd(b64(BOB)).lines, ['334 UGFzc3dvcmQ6'])
        self.assertEqual(c.cmd(b64(BOB_PASSWORD)).lines, [R_AUTH_OK])
        r = c.transaction(BOB, ['dave@elsewhere.example'],
                          b'From: bob@example.test\r\nSubject: via dovecot\r\n\r\nhi\r\n')
        self.assertEqual(r.code, 250, r)
        srv.wait_queue(queue_id=r.queue_id())
        mine = [q for q in srv.queue_entries() if q.header.get('auth') == BOB]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0].rcpts, ['dave@elsewhere.example'])
        self.assertNotIn(PASSWORD, srv.log_text())
        self.assertNotIn(BOB_PASSWORD, srv.log_text())

    def test_bad_password_and_unknown_user_get_535_after_the_delay(self):
        dv = self.dovecot()
        srv = self.dovecot_server(dv)
        c = self.tls_client(srv)
        t0 = time.monotonic()
        self.assertEqual(c.auth(ALICE, 'not-the-password').lines, [R_AUTH_BAD])
        # sallyport's delay after a first failure is 1 s (Dovecot's is 0).
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(c.cmd('NOOP').code, 250)
        other = self.tls_client(srv)
        self.assertEqual(other.auth('nobody@example.test', PASSWORD).lines, [R_AUTH_BAD])
        # One line per failure, as for Cyrus (fail2ban's filter reads it).
        self.assertTrue(srv.wait_log(r'auth failed'), srv.log_text())
        # Dovecot saw the client's address: its log names it.
        self.assertTrue(sallytest.wait_until(
            lambda: re.search(r'passwd-file\(alice@example\.test,127\.0\.0\.1[,)].*'
                              r'[Pp]assword mismatch', dv.log_text()), 5),
            dv.log_text())
        # The session goes on: the right password works now.
        self.assertEqual(c.auth(ALICE, PASSWORD).lines, [R_AUTH_OK])

    def test_dovecot_stopped_gives_454_and_restarted_works_again(self):
        dv = self.dovecot()
        srv = self.dovecot_server(dv)
        self.assertEqual(self.tls_client(srv).auth().lines, [R_AUTH_OK])

        dv.stop()
        c = self.tls_client(srv)
        self.assertEqual(c.auth().lines, [R_AUTH_TEMP])
        # Not a password failure: the session goes on, others are served.
        self.assertEqual(c.cmd('NOOP').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<%s>' % ALICE).code, 530)
        mx = self.ehlo_client(srv.mx_port)
        self.assertEqual(mx.cmd('MAIL FROM:<a@example.org>').code, 250)
        self.assertEqual(mx.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertTrue(srv.wait_log(r'sasl dovecot: .*(closed the connection|cannot connect)'),
                        srv.log_text())

        dv.start()
        # Each worker connects again at its next AUTH.
        for _ in range(4):
            self.assertEqual(self.tls_client(srv).auth().lines, [R_AUTH_OK])
        self.assertEqual(c.auth().lines, [R_AUTH_OK])
        self.assertEqual(c.cmd('MAIL FROM:<%s>' % ALICE).code, 250)

    def test_hung_dovecot_costs_only_the_session_authenticating(self):
        dv = self.dovecot()
        srv = self.dovecot_server(dv, workers='1')
        self.assertEqual(self.tls_client(srv).auth().lines, [R_AUTH_OK])
        auth = dv.auth_pid()
        os.kill(auth, signal.SIGSTOP)
        self.addCleanup(lambda: os.kill(auth, signal.SIGCONT))
        waiting = self.tls_client(srv)
        waiting.send('AUTH PLAIN %s\r\n' % auth_plain(ALICE, PASSWORD))
        # Meanwhile the one event loop serves everyone else.
        other = self.tls_client(srv)
        self.assertEqual(other.cmd('NOOP').code, 250)
        mx = self.ehlo_client(srv.mx_port)
        self.assertEqual(mx.cmd('MAIL FROM:<a@example.org>').code, 250)
        self.assertEqual(waiting.reply().lines, [R_AUTH_TEMP])
        self.assertEqual(waiting.cmd('NOOP').code, 250)
        self.assertTrue(srv.wait_log(r'sasl dovecot: no answer from .* in 10s'), srv.log_text())

        os.kill(auth, signal.SIGCONT)
        replies = []

        def logs_in():
            r = self.tls_client(srv).auth()
            replies.append(r.lines)
            return r.code == 235
        self.assertTrue(sallytest.wait_until(logs_in, 30, interval=0.2), replies)
        self.assertTrue(set(map(tuple, replies)) <= {(R_AUTH_TEMP,), (R_AUTH_OK,)}, replies)

    def test_missing_socket(self):
        missing = os.path.join(tempfile.gettempdir(), 'sallytest-no-such-dir', 'auth-client')
        srv = sallytest.Server(sasl_backend='dovecot', sasl_dovecot_path=missing,
                               sasl_sasldb_path=None)
        self.addCleanup(srv.close)
        p = subprocess.run([srv.bin, '-n', '-c', srv.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        err = p.stderr.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, 0, err)
        self.assertIn('sallyport: warning: sasl: sasl_dovecot_path %s: No such file or '
                      'directory' % missing, err)
        self.assertNotIn('AUTH is not offered', err)
        self.assertIn('sasl_backend = dovecot', p.stdout.decode())
        # Started all the same: AUTH is offered and answered 454.
        srv.start()
        self.assertTrue(srv.wait_log(r'sasl dovecot: cannot connect to %s: No such file'
                                     % re.escape(missing)), srv.log_text())
        self.assertEqual(self.tls_client(srv).auth().lines, [R_AUTH_TEMP])


if __name__ == '__main__':
    sallytest.main()
