"""SMTP AUTH against a real saslauthd (sasl2-bin) that stops answering.

saslauthd runs in the foreground on a private socket directory and checks
passwords with its rimap mechanism against a real Dovecot IMAP server on
loopback (mailsinks.Dovecot), so a login goes sallyport -> Cyrus SASL ->
saslauthd -> Dovecot and back. SIGSTOP makes saslauthd a backend that
takes connections and never answers: AUTH gets 454 4.7.0 once
auth_timeout has passed, the session goes on, and other clients get their
answer too instead of queueing behind the hung one; after SIGCONT, AUTH
works again. The deadline is the config key's, kept small here; nothing
is timed."""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import mailsinks
import sallytest
from sallytest import ALICE, PASSWORD

SASLAUTHD = '/usr/sbin/saslauthd'
R_AUTH_OK = '235 2.7.0 Authentication successful'
R_AUTH_TEMP = '454 4.7.0 Temporary authentication failure'
R_AUTH_BAD = '535 5.7.8 Authentication credentials invalid'


class Saslauthd:
    """saslauthd -d (foreground) with its socket in a directory of its own,
    checking passwords against IMAP on 127.0.0.1:imap_port (rimap); -r
    hands it "user@realm", as our users log in."""

    def __init__(self, imap_port):
        if not os.access(SASLAUTHD, os.X_OK):
            why = 'saslauthd is missing (apt-get install sasl2-bin)'
            if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
                raise AssertionError(why)
            raise unittest.SkipTest(why)
        self.dir = tempfile.mkdtemp(prefix='sallytest-saslauthd-')
        os.chmod(self.dir, 0o755)
        self.log_path = os.path.join(self.dir, 'saslauthd.log')
        with open(self.log_path, 'wb') as log:
            # -n 0: one process, which accepts and forks per request; the
            # one SIGSTOP stops the accepting.
            self.proc = subprocess.Popen(
                [SASLAUTHD, '-d', '-n', '0', '-r', '-a', 'rimap',
                 '-O', '127.0.0.1/%d' % imap_port, '-m', self.dir],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        if not sallytest.wait_until(lambda: os.path.exists(os.path.join(self.dir, 'mux')),
                                    sallytest.GREET_TIMEOUT):
            self.close()
            raise AssertionError('saslauthd did not start:\n' + self.log_text())

    def log_text(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def stop(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def cont(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if not os.environ.get('SALLYTEST_KEEP'):
            shutil.rmtree(self.dir, True)


class AuthBackend(sallytest.TestCase):

    def backend(self):
        """Dovecot IMAP knowing alice, and a saslauthd asking it."""
        dovecot = mailsinks.Dovecot([ALICE], passwords={ALICE: PASSWORD})
        dovecot.start()
        self.addCleanup(dovecot.close)
        authd = Saslauthd(dovecot.imap_port)
        self.addCleanup(authd.close)
        return authd

    def tls_client(self, srv):
        """A client on the submission port, inside TLS, not logged in."""
        c = self.ehlo_client(srv.sub_port)
        c.starttls()
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        return c

    def test_hung_saslauthd_gets_454_and_others_are_answered(self):
        authd = self.backend()
        srv = self.server(sasl_pwcheck_method='saslauthd',
                          sasl_saslauthd_path=authd.dir, auth_timeout='10s')
        # The chain works: right and wrong passwords, as saslauthd says.
        self.assertEqual(self.tls_client(srv).auth().lines, [R_AUTH_OK])
        self.assertEqual(self.tls_client(srv).auth(password='wrong').lines, [R_AUTH_BAD])

        authd.stop()
        first, second = self.tls_client(srv), self.tls_client(srv)
        self.assertEqual(first.auth().lines, [R_AUTH_TEMP])
        # The next client is not queued for ever behind the hung job.
        self.assertEqual(second.auth().lines, [R_AUTH_TEMP])
        # The sessions go on, as after any temporary failure.
        self.assertEqual(first.cmd('NOOP').code, 250)
        self.assertEqual(second.cmd('MAIL FROM:<alice@example.test>').code, 530)
        self.assertTrue(srv.wait_log(r'no answer from the authentication backend in 10s'),
                        srv.log_text())

        authd.cont()
        # saslauthd answers again: a new client logs in, and so does the
        # first one once its abandoned exchange has come back.
        self.assertEqual(self.tls_client(srv).auth().lines, [R_AUTH_OK])
        replies = []

        def first_logs_in():
            r = first.auth()
            replies.append(r.lines)
            return r.code == 235
        self.assertTrue(sallytest.wait_until(first_logs_in, 30, interval=0.2), replies)
        self.assertTrue(set(map(tuple, replies)) <= {(R_AUTH_TEMP,), (R_AUTH_OK,)}, replies)
        self.assertEqual(first.cmd('MAIL FROM:<alice@example.test>').code, 250)


if __name__ == '__main__':
    sallytest.main()
