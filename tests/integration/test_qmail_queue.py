"""Hand-off to qmail: local_delivery = qmail-queue:PATH.

PATH is a wrapper script running tests/fake-qmail-queue (a check program)
with an output directory: each invocation leaves message.N (what came on
descriptor 0) and envelope.N (what came on descriptor 1). Every pending
recipient, local and remote, goes in one hand-off; exit 0 is sent, 71
deferred and retried, 31 bounced with a DSN that goes the same way.

SetuidQmailQueue runs a copy of the fake as a real qmail-queue is
installed: set-user-ID to another user, with a queue only that user may
write, while sallyport runs as an unprivileged `user` (needs root)."""

import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile

import sallytest
from sallytest import CRLF

SENDER = 'sender@example.org'
LOCAL, REMOTE = 'user@example.test', 'friend@remote.test'
WAIT = 10       # seconds for a hand-off that should happen at once


def fake_program():
    """The fake-qmail-queue built next to the daemon under test."""
    path = os.environ.get('FAKE_QMAIL_QUEUE') or os.path.join(
        os.path.dirname(os.path.dirname(sallytest.binary())), 'tests', 'fake-qmail-queue')
    if not os.access(path, os.X_OK):
        raise RuntimeError('%s is missing: "make check" builds it' % path)
    return path


def message(subject):
    head = ['From: <%s>' % SENDER, 'To: <%s>' % LOCAL, 'Subject: ' + subject,
            'Message-ID: <%s@client.example>' % subject.replace(' ', '.')]
    return CRLF.join(s.encode() for s in head + ['', 'line one', '.dotted', 'last']) + CRLF


def fake_wrapper(test):
    """test.tmp, a scratch directory; test.out, where the fake writes;
    test.wrapper, a script running the fake with that directory."""
    test.tmp = tempfile.mkdtemp(prefix='sallytest-qmailq-')
    if not os.environ.get('SALLYTEST_KEEP'):
        test.addCleanup(shutil.rmtree, test.tmp, True)
    test.out = os.path.join(test.tmp, 'out')
    os.mkdir(test.out)
    test.wrapper = os.path.join(test.tmp, 'qmail-queue')
    with open(test.wrapper, 'w') as f:
        f.write('#!/bin/sh\nexec %s %s\n' % (fake_program(), test.out))
    os.chmod(test.wrapper, stat.S_IRWXU)


def inherited_fds(out, n):
    """The descriptors hand-off n started with, as the fake recorded them
    (sorted by number)."""
    with open(os.path.join(out, 'fds.%d' % n)) as f:
        return sorted(f.read().split(), key=int)


def unit_service_settings():
    """(key, value) of each line of the [Service] section of
    contrib/sallyport.service, comments left out."""
    out, section = [], None
    with open(os.path.join(sallytest.srcdir(), 'contrib', 'sallyport.service')) as f:
        for line in f:
            line = line.strip()
            if line.startswith('['):
                section = line
            elif section == '[Service]' and '=' in line and not line.startswith(('#', ';')):
                key, _, value = line.partition('=')
                out.append((key.strip(), value.strip()))
    return out


class QmailQueue(sallytest.TestCase):

    def setUp(self):
        fake_wrapper(self)
        self.srv = self.server(delivery='yes', local_delivery='qmail-queue:' + self.wrapper,
                               retry_min='1s', retry_max='1m', mynetworks='127.0.0.0/8')

    def exit_code(self, code):
        path = os.path.join(self.out, 'exitcode')
        if code is None:
            os.unlink(path)
            return
        with open(path, 'w') as f:
            f.write('%d\n' % code)

    def hand_off(self, n, timeout=WAIT):
        """(message.n, envelope.n) once envelope.n exists (written last)."""
        env = os.path.join(self.out, 'envelope.%d' % n)
        self.assertTrue(sallytest.wait_until(lambda: os.path.exists(env), timeout),
                        'no hand-off %d; have %s; log:\n%s'
                        % (n, sorted(os.listdir(self.out)), self.srv.log_text()[-3000:]))
        with open(os.path.join(self.out, 'message.%d' % n), 'rb') as f:
            msg = f.read()
        with open(env, 'rb') as f:
            return msg, f.read()

    def handed_off(self):
        return sorted(n for n in os.listdir(self.out) if n.startswith('envelope.'))

    def send(self, rcpts, msg):
        with sallytest.Client(self.srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction(SENDER, rcpts, msg)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        return r.queue_id()

    def wait_gone(self, qid):
        gone = sallytest.wait_until(lambda: self.srv.runner_took(qid)
                                    and qid not in self.srv.queue_names(), WAIT)
        self.assertTrue(gone, 'entry %s still queued or never taken' % qid)

    def queue_list(self):
        p = subprocess.run([self.srv.bin, '--queue', 'list', '-c', self.srv.conf_path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout)
        return p.stdout.decode('utf-8', 'replace')

    def status_line(self, qid, rcpt, status):
        m = self.srv.wait_log(r'(?m)^.*\bid=%s to=<%s> relay=qmail-queue .*\bstatus=%s\b.*$'
                              % (qid, rcpt.replace('.', r'\.'), status), WAIT)
        self.assertTrue(m, 'no status=%s line for <%s>; log:\n%s'
                        % (status, rcpt, self.srv.log_text()[-3000:]))
        return m.group(0)

    def test_local_and_remote_in_one_hand_off(self):
        msg = message('to qmail')
        qid = self.send([LOCAL, REMOTE], msg)
        got, env = self.hand_off(1)
        self.assertEqual(env, b'F%s\0T%s\0T%s\0\0' % (SENDER.encode(), LOCAL.encode(),
                                                       REMOTE.encode()))
        self.assertNotIn(b'\r', got)
        received, rest = sallytest.split_received(got.replace(b'\n', CRLF))
        self.assertEqual(rest, msg)
        self.assertIn('with ESMTP id %s' % qid, sallytest.unfold(received))
        self.status_line(qid, LOCAL, 'sent')
        self.status_line(qid, REMOTE, 'sent')
        self.wait_gone(qid)
        self.assertEqual(self.handed_off(), ['envelope.1'])
        self.assertEqual(inherited_fds(self.out, 1), ['0', '1', '2'])

    def test_requiretls_message_goes_to_qmail_for_local_recipients_only(self):
        # qmail-send would relay the remote copy with no REQUIRETLS and
        # perhaps no TLS (RFC 8689 4.2.1): only the local one goes.
        with sallytest.Client(self.srv.mx_port) as c:
            c.cmd('EHLO client.example')
            c.starttls()
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            self.assertEqual(c.cmd('MAIL FROM:<%s> REQUIRETLS' % SENDER).code, 250)
            for rcpt in (LOCAL, REMOTE):
                self.assertEqual(c.cmd('RCPT TO:<%s>' % rcpt).code, 250)
            self.assertEqual(c.cmd('DATA').code, 354)
            r = c.data(message('requiretls'))
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        qid = r.queue_id()
        got, env = self.hand_off(1)
        self.assertEqual(env, b'F%s\0T%s\0\0' % (SENDER.encode(), LOCAL.encode()))
        self.status_line(qid, LOCAL, 'sent')
        line = self.status_line(qid, REMOTE, 'bounced')
        self.assertIn('550 5.7.30 REQUIRETLS support required', line)

    def test_quoted_local_parts_handed_over_unquoted(self):
        # As qmail-smtpd queues them: quotes and backslashes stripped, so
        # that qmail-send looks up the name itself (qmail-remote quotes
        # again on the way out). Every local part is accepted: qmail decides.
        rcpts = ['"user evil"@example.test', '"a,b"@example.test',
                 '"say \\"hi\\""@remote.test']
        qid = self.send(rcpts, message('quoted'))
        got, env = self.hand_off(1)
        self.assertEqual(env, b'F%s\0Tuser evil@example.test\0Ta,b@example.test\0'
                              b'Tsay "hi"@remote.test\0\0' % SENDER.encode())
        self.status_line(qid, '"user evil"@example.test', 'sent')
        self.wait_gone(qid)

    def test_temporary_failure_is_retried(self):
        self.exit_code(71)
        msg = message('try again')
        qid = self.send([LOCAL], msg)
        got, env = self.hand_off(1)
        line = self.status_line(qid, LOCAL, 'deferred')
        self.assertIn('451 4.3.0 qmail-queue exit 71 (', line)
        # Still queued: the hand-off carries the entry byte for byte, LF lines.
        queued = self.srv.queue_entry(qid).body
        self.assertEqual(got, queued.replace(CRLF, b'\n'))
        self.assertEqual(sallytest.split_received(queued)[1], msg)
        self.assertIn(qid, self.queue_list())
        self.exit_code(None)
        got2, env2 = self.hand_off(2)       # the automatic retry, after 1 s
        self.assertEqual((got2, env2), (got, env))
        self.status_line(qid, LOCAL, 'sent')
        self.wait_gone(qid)

    def test_permanent_failure_bounces_through_qmail(self):
        self.exit_code(31)
        qid = self.send([LOCAL, REMOTE], message('refused'))
        self.hand_off(1)
        line = self.status_line(qid, REMOTE, 'bounced')
        self.assertIn('554 5.3.0 qmail-queue exit 31 (', line)
        self.wait_gone(qid)
        # The DSN, from <> to the sender, handed off the same way (and
        # refused again: a bounce of a bounce is dropped, never sent).
        dsn, env = self.hand_off(2)
        self.assertEqual(env, b'F\0T%s\0\0' % SENDER.encode())
        self.assertIn(b'Content-Type: multipart/report', dsn)
        self.assertIn(b'Subject: refused', dsn)
        self.assertNotIn(b'\r', dsn)
        self.assertTrue(sallytest.wait_until(lambda: not self.srv.queue_names(), WAIT),
                        self.srv.queue_names())
        self.assertEqual(self.handed_off(), ['envelope.1', 'envelope.2'])


class SetuidQmailQueue(sallytest.TestCase):
    """sallyport as `nobody`; qmail-queue a copy of the fake owned by
    `daemon`, mode 4755, writing into PROGRAM.out, a 0700 directory of
    `daemon`'s: only a run with daemon's rights can hand the message off,
    and the files it leaves are daemon's."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('needs root: sallyport starts as root and becomes nobody')
        self.owner = pwd.getpwnam('daemon')
        self.tmp = tempfile.mkdtemp(prefix='sallytest-qmailq-suid-')
        if not os.environ.get('SALLYTEST_KEEP'):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        if os.statvfs(self.tmp).f_flag & os.ST_NOSUID:
            self.skipTest('%s is on a nosuid mount: no set-user-ID program runs '
                          'there (set TMPDIR to a directory on a mount without nosuid)'
                          % self.tmp)
        os.chmod(self.tmp, 0o755)       # nobody reaches the program
        self.program = os.path.join(self.tmp, 'qmail-queue')
        shutil.copyfile(fake_program(), self.program)
        os.chown(self.program, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(self.program, 0o4755)  # after chown, which clears the bit
        self.out = self.program + '.out'
        os.mkdir(self.out, 0o700)
        os.chown(self.out, self.owner.pw_uid, self.owner.pw_gid)

    def start(self, bin=None, **overrides):
        srv = sallytest.Server(user='nobody', run_as_root=None, delivery='yes',
                               local_delivery='qmail-queue:' + self.program,
                               retry_min='1s', retry_max='1m', mynetworks='127.0.0.0/8',
                               **overrides)
        if bin:
            srv.bin = bin
        os.chmod(srv.dir, 0o755)        # the runner reads the file as nobody
        self.addCleanup(self._close_server, srv)
        srv.start()
        return srv

    def hand_off_as_owner(self, workers, bin=None):
        srv = self.start(bin=bin, workers=workers)
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction(SENDER, [LOCAL, REMOTE], message('setuid %s' % workers))
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        qid = r.queue_id()
        env = os.path.join(self.out, 'envelope.1')
        self.assertTrue(sallytest.wait_until(lambda: os.path.exists(env), WAIT),
                        'qmail-queue did not take the message; log:\n%s'
                        % srv.log_text()[-3000:])
        for name in ('message.1', 'envelope.1'):
            st = os.lstat(os.path.join(self.out, name))
            self.assertEqual(st.st_uid, self.owner.pw_uid,
                             '%s written with uid %d, not qmail-queue\'s owner'
                             % (name, st.st_uid))
        with open(env, 'rb') as f:
            self.assertEqual(f.read(), b'F%s\0T%s\0T%s\0\0'
                             % (SENDER.encode(), LOCAL.encode(), REMOTE.encode()))
        # It runs as another user: the message, the envelope and stderr,
        # nothing of the daemon's (its control socket to the master, the
        # pipe of new entries).
        self.assertEqual(inherited_fds(self.out, 1), ['0', '1', '2'])
        self.assertTrue(srv.wait_log(r'id=%s to=<%s> relay=qmail-queue .*status=sent'
                                     % (qid, LOCAL.replace('.', r'\.')), WAIT),
                        srv.log_text()[-3000:])
        self.assertTrue(sallytest.wait_until(lambda: qid not in srv.queue_names(), WAIT),
                        'entry %s still queued' % qid)
        self.assertNotIn('deferred', srv.log_text())

    def test_one_process(self):
        self.hand_off_as_owner(1)

    def test_workers(self):
        self.hand_off_as_owner(2)

    def test_under_the_shipped_systemd_unit(self):
        # The process settings of contrib/sallyport.service that hold for
        # every process of the service, applied as systemd applies them
        # before exec: NoNewPrivileges= and CapabilityBoundingSet=.
        self.need('setpriv')
        argv = ['setpriv']
        for key, value in unit_service_settings():
            if key == 'NoNewPrivileges' and value in ('yes', 'true', '1', 'on'):
                argv.append('--no-new-privs')
            elif key == 'CapabilityBoundingSet':
                argv.append('--bounding-set=-all,' + ','.join(
                    '+' + c.lower()[4:] for c in value.split()))
        wrapper = os.path.join(self.tmp, 'as-the-unit')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nexec %s %s "$@"\n' % (' '.join(argv), sallytest.binary()))
        os.chmod(wrapper, 0o755)
        self.hand_off_as_owner(2, bin=wrapper)


class ReloadIntoQmailQueue(sallytest.TestCase):
    """A runner started without the hand-off has PR_SET_NO_NEW_PRIVS for
    good and could not run a set-user-ID qmail-queue: it refuses a reload
    that turns the hand-off on, and the master says the generation is NOT
    live. A runner the master starts later (no flag) serves it, and the
    master then says it is live."""

    def setUp(self):
        fake_wrapper(self)

    def reload_into_hand_off(self, workers):
        base = dict(delivery='yes', workers=workers, mynetworks='127.0.0.0/8',
                    retry_min='1s', retry_max='1m')
        srv = self.server(**base)
        self.assertTrue(srv.wait_log(r'queue runner started'), srv.log_text())
        log = srv.reload(dict(base, local_delivery='qmail-queue:' + self.wrapper))
        self.assertRegex(log, r'the queue runner \(pid \d+\) refused configuration '
                              r'generation 2: local_delivery = qmail-queue needs a restart')
        self.assertIn('configuration generation 2 NOT live everywhere: refused by '
                      'the queue runner', log)
        self.assertNotIn('configuration generation 2 live', log)
        return srv

    def test_refused_then_live_once_a_new_runner_serves_it(self):
        srv = self.reload_into_hand_off('2')
        offset = srv._log_size()
        os.kill(sallytest.queue_runners(srv.pid)[0], signal.SIGKILL)
        # The master starts another, free to gain privileges: it serves
        # generation 2, and the master says so after all.
        self.assertTrue(srv.wait_log(r'configuration generation 2 live in all 2 workers '
                                     r'and the runner', 20, offset), srv.log_text(offset))
        self.assertNotIn('refused', srv.log_text(offset))
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction(SENDER, [LOCAL], message('after restart'))
            self.assertEqual(r.code, 250, r)
        self.assertTrue(sallytest.wait_until(
            lambda: os.path.exists(os.path.join(self.out, 'envelope.1')), WAIT),
            srv.log_text(offset))

    def test_one_process_refuses_and_says_restart(self):
        # One process, flagged, starts the runner: a new runner cannot
        # serve it either; it runs (the hand-offs defer, nothing is lost)
        # and refuses the generation again. No live line.
        srv = self.reload_into_hand_off('1')
        offset = srv._log_size()
        os.kill(sallytest.queue_runners(srv.pid)[0], signal.SIGKILL)
        self.assertTrue(srv.wait_log(r'the queue runner \(pid \d+\) refused configuration '
                                     r'generation 2: local_delivery = qmail-queue needs a '
                                     r'restart .*it runs the file as it read it', 20, offset),
                        srv.log_text(offset))
        self.assertNotIn('configuration generation 2 live', srv.log_text())


if __name__ == '__main__':
    sallytest.main()
