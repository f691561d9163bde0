"""The log does not hold up the sessions: a worker's lines are written by a
thread of its own (log_buffer_size), so a log that nobody takes (here a
pipe nobody reads, as a syslog daemon or a disk that is behind would be)
stops no client, and every line still arrives, the last ones at stop."""

import fcntl
import os
import re
import select
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time

import sallytest

F_SETPIPE_SZ = 1031
PIPE_SIZE = 4096        # the smallest pipe Linux makes: one page
MESSAGES = 300          # about 30 KiB of log, far past the pipe


class PipedServer(sallytest.Server):
    """A daemon whose stderr is a pipe of one page that the test reads
    only when it says so (drain); what it reads goes to log_path too, so
    that close() still looks for sanitizer reports there."""

    def _spawn(self):
        self.log_offset_at_start = self._log_size()
        r, w = os.pipe()
        fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
        self.pipe_r = r
        self.taken = b''
        try:
            self.proc = subprocess.Popen([self.bin, '-f', '-c', self.conf_path],
                                         stdin=subprocess.DEVNULL, stdout=w,
                                         stderr=w, cwd=self.dir, env=self.env)
        finally:
            os.close(w)
        self.expect_exit = False

    def start(self):
        self._spawn()
        err = self._wait_ready()
        if err is not None:
            self.drain(1)
            raise AssertionError('%s\n--- daemon log ---\n%s' % (err, self.log_text()))
        return self

    def drain(self, timeout):
        """Read the pipe until it stays empty for `timeout` seconds or
        ends; the text read so far."""
        with open(self.log_path, 'ab') as log:
            while True:
                ready, _, _ = select.select([self.pipe_r], [], [], timeout)
                if not ready:
                    break
                chunk = os.read(self.pipe_r, 65536)
                if not chunk:
                    break
                log.write(chunk)
                self.taken += chunk
        return self.taken.decode('utf-8', 'replace')

    def stop_draining(self, timeout=30):
        """SIGTERM, the pipe read to its end (every process gone); the
        whole log."""
        self.expect_exit = True
        self.proc.send_signal(signal.SIGTERM)
        text = self.drain(timeout)
        self.proc.wait(timeout)
        return text

    def close(self):
        if self.running():
            self.stop_draining()
        os.close(self.pipe_r)
        super().close()


def srv_mailroot(test):
    """A directory for the test's mailboxes, removed after it."""
    if not hasattr(test, '_mailroot'):
        test._mailroot = tempfile.mkdtemp(prefix='sallytest-mail-')
        test.addCleanup(shutil.rmtree, test._mailroot, True)
    return test._mailroot


def send_many(port, n, timeout):
    """n messages in one session; how many were answered 250 before the
    first failure (a reply that did not come within timeout)."""
    done = 0
    try:
        with smtplib.SMTP('127.0.0.1', port, local_hostname='client.example',
                          timeout=timeout) as s:
            for i in range(n):
                s.sendmail('sender@example.org', ['user@example.test'],
                           'Subject: %d\r\n\r\nbody %d\r\n' % (i, i))
                done += 1
            s.quit()
    except (OSError, smtplib.SMTPException):
        pass
    return done


class LogThread(sallytest.TestCase):

    def piped(self, **overrides):
        srv = PipedServer(**overrides)
        self.addCleanup(srv.close)
        return srv.start()

    def test_a_log_nobody_takes_stops_no_client(self):
        srv = self.piped(log_buffer_size=None)     # the default
        self.assertEqual(send_many(srv.mx_port, MESSAGES, sallytest.IO_TIMEOUT), MESSAGES)
        log = srv.stop_draining()
        # Every line arrived, the ones still in the buffer at stop too,
        # whole and in the order logged.
        accepted = re.findall(r'(?m)^\S+ sallyport: s=([0-9a-f]+) id=\w+ accepted: ', log)
        self.assertEqual(len(accepted), MESSAGES, log[-3000:])
        self.assertEqual(len(set(accepted)), 1, log[-3000:])
        self.assertIn('sallyport: stopped', log)
        self.assertEqual(len(re.findall(r'(?m)^\S+ sallyport: worker stopped$', log)),
                         len(re.findall(r'(?m)^\S+ sallyport: worker \d+ ready$', log)))
        for line in log.splitlines():
            self.assertRegex(line, r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d sallyport(/runner)?: ')
        session = [ln for ln in log.splitlines() if ' s=%s ' % accepted[0] in ln]
        self.assertRegex(session[0], r' connect from \[127\.0\.0\.1\]')
        self.assertRegex(session[-1], r' disconnect from \[127\.0\.0\.1\]')

    def test_the_runner_logs_every_delivery_and_its_stop(self):
        srv = self.server(log_buffer_size=None, delivery='yes',
                          local_delivery='maildir:%s/%%d/%%u/Maildir' % srv_mailroot(self),
                          mailbox_users='user')
        for i in range(20):
            with sallytest.Client(srv.mx_port) as c:
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                self.assertEqual(c.transaction('sender@example.org', ['user@example.test'],
                                               ('Subject: %d\r\n\r\nbody\r\n' % i).encode()).code, 250)
                c.cmd('QUIT')
        maildir = os.path.join(srv_mailroot(self), 'example.test', 'user', 'Maildir')
        self.assertEqual(len(sallytest.maildir_messages(maildir, 20, 30)), 20)
        # Counted, not one regex repeated 20 times: that backtracks
        # for long while a line is still missing.
        self.assertTrue(sallytest.wait_until(lambda: srv.log_text().count(' status=sent ') >= 20,
                                             30), srv.log_text()[-3000:])
        self.assertEqual(srv.stop(), 0)
        log = srv.log_text()
        self.assertEqual(len(re.findall(r'(?m)^\S+ sallyport/runner: id=\w+ to=<user@example\.test> '
                                        r'.* status=sent ', log)), 20, log[-3000:])
        # Its last line, written out by the stop before _exit(2).
        self.assertRegex(log, r'(?m)^\S+ sallyport/runner: queue runner stopped$')

    def test_without_the_buffer_the_loop_waits_for_the_log(self):
        # log_buffer_size = 0: the event loop writes each line itself, so
        # a pipe that nobody reads stops its sessions; read, they go on.
        srv = self.piped(log_buffer_size='0')
        self.assertLess(send_many(srv.mx_port, MESSAGES, 3), MESSAGES)
        srv.drain(1)
        self.assertEqual(send_many(srv.mx_port, 3, sallytest.IO_TIMEOUT), 3)


if __name__ == '__main__':
    sallytest.main()
