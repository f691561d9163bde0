"""Hand-off to qmail: local_delivery = qmail-queue:PATH.

PATH is a wrapper script running tests/fake-qmail-queue (a check program)
with an output directory: each invocation leaves message.N (what came on
descriptor 0) and envelope.N (what came on descriptor 1). Every pending
recipient, local and remote, goes in one hand-off; exit 0 is sent, 71
deferred and retried, 31 bounced with a DSN that goes the same way."""

import os
import shutil
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


class QmailQueue(sallytest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sallytest-qmailq-')
        if not os.environ.get('SALLYTEST_KEEP'):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.out = os.path.join(self.tmp, 'out')
        os.mkdir(self.out)
        self.wrapper = os.path.join(self.tmp, 'qmail-queue')
        with open(self.wrapper, 'w') as f:
            f.write('#!/bin/sh\nexec %s %s\n' % (fake_program(), self.out))
        os.chmod(self.wrapper, stat.S_IRWXU)
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
        gone = sallytest.wait_until(lambda: qid not in self.srv.queue_names(), WAIT)
        self.assertTrue(gone, 'entry %s still queued' % qid)

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


if __name__ == '__main__':
    sallytest.main()
