"""sallyport --queue: list, delete and flush beside a running daemon.

Local delivery points at an LMTP port where nothing listens, so whether
or not a delivery runner is at work, an accepted message stays in the
queue with its recipients pending."""

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile

import sallytest
from sallytest import CRLF

ID = re.compile(r'^[0-9A-F]{16}$')


def message(subject):
    head = ['From: <sender@example.org>', 'To: <user@example.test>', 'Subject: ' + subject]
    return CRLF.join(s.encode() for s in head + ['', 'hello']) + CRLF


class QueueTool(sallytest.TestCase):

    def setUp(self):
        self.srv = self.server(local_delivery='lmtp:127.0.0.1:%d' % sallytest.free_port())

    def queue(self, *args, status=0, timeout=30):
        """sallyport --queue ARGS -c CONF; (stdout, stderr)."""
        p = subprocess.run([sallytest.binary(), '--queue'] + list(args) +
                           ['-c', self.srv.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        out, err = p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, status, 'exit %d\nstdout:\n%s\nstderr:\n%s'
                         % (p.returncode, out, err))
        return out, err

    def accept(self, rcpts, subject='queued'):
        c = self.ehlo_client(self.srv.mx_port)
        r = c.transaction('sender@example.org', rcpts, message(subject))
        self.assertEqual(r.code, 250, r)
        c.cmd('QUIT')
        qid = r.queue_id()
        self.assertRegex(qid, ID)
        self.srv.wait_queue(queue_id=qid)
        return qid

    def test_empty_queue(self):
        out, _ = self.queue('list')
        self.assertIn('is empty', out)
        self.assertIn(self.srv.queue_dir, out)
        out, _ = self.queue()           # list is the default
        self.assertIn('is empty', out)
        out, _ = self.queue('list', '--json')
        self.assertEqual(json.loads(out)['entries'], [])

    def test_list_shows_pending_recipients(self):
        qid = self.accept(['user@example.test', 'other@example.test'])
        out, _ = self.queue('list')
        block = out.split('\n\n')[0]
        self.assertTrue(block.startswith(qid + '\n'), out)
        self.assertRegex(block, r'\n  arrival   \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n')
        self.assertRegex(block, r'\n  size      \d+\n')
        self.assertIn('\n  sender    <sender@example.org>\n', block)
        # pending, or deferred with its error once a runner has tried
        self.assertRegex(block, r'\n  rcpt      <user@example.test> (pending|deferred: .*)\n')
        self.assertRegex(block, r'\n  rcpt      <other@example.test> (pending|deferred: .*)\n')
        self.assertRegex(block, r'\n  attempts  \d+\n  next      ')
        self.assertTrue(out.endswith('1 entry\n'), out)
        size = os.path.getsize(os.path.join(self.srv.incoming_dir(), qid))
        listed = int(re.search(r'size      (\d+)', block).group(1))
        self.assertLess(listed, size)   # the message, not the envelope

        doc = json.loads(self.queue('list', '--json')[0])
        self.assertEqual(doc['queue_dir'], self.srv.queue_dir)
        [entry] = doc['entries']
        self.assertEqual(entry['id'], qid)
        self.assertEqual(entry['sender'], 'sender@example.org')
        self.assertEqual(entry['size'], listed)
        self.assertEqual([r['address'] for r in entry['recipients']],
                         ['user@example.test', 'other@example.test'])
        for r in entry['recipients']:
            self.assertIn(r['state'], ('pending', 'deferred'))
            self.assertEqual(r['state'] == 'deferred', r['last_error'] is not None)

    def test_delete(self):
        keep = self.accept(['user@example.test'], 'keep')
        gone = self.accept(['user@example.test'], 'gone')
        out, _ = self.queue('delete', gone)
        self.assertEqual(out, '%s deleted\n' % gone)
        self.assertNotIn(gone, self.srv.queue_names())
        self.assertFalse(os.path.exists(os.path.join(self.srv.queue_dir, 'state', gone)))
        out, _ = self.queue('list')
        self.assertIn(keep, out)
        self.assertNotIn(gone, out)
        # again: unknown now
        _, err = self.queue('delete', gone, status=1)
        self.assertIn('no such queue entry', err)
        # not an id at all: refused before anything is done
        _, err = self.queue('delete', '../incoming/' + keep, status=2)
        self.assertIn('16 of 0-9 A-F', err)
        self.queue('delete', keep.lower(), status=2)
        self.queue('delete', status=2)
        self.assertIn(keep, self.srv.wait_queue(queue_id=keep))
        # the daemon still takes mail
        self.accept(['user@example.test'], 'after')

    def test_flush(self):
        qid = self.accept(['user@example.test'])
        marker = os.path.join(self.srv.queue_dir, 'flush')
        out, _ = self.queue('flush')
        self.assertIn('flush requested', out)
        self.assertIn('1 entry', out)
        # A runner removes the marker once it has seen it: either is fine.
        self.assertTrue(os.path.exists(marker) or qid in self.srv.queue_names())

    # The queue is the service user's; `--queue` is often run as root.
    # A link planted in the queue must not take root's hands elsewhere.

    def outside(self):
        d = tempfile.mkdtemp(prefix='sallytest-outside-')
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_flush_follows_no_link(self):
        marker = os.path.join(self.srv.queue_dir, 'flush')
        out_dir = self.outside()
        # A link to a file that does not exist: root must not create it.
        target = os.path.join(out_dir, 'created-by-root')
        os.symlink(target, marker)
        _, err = self.queue('flush', status=1)
        self.assertIn('%s is not a regular file (a symbolic link): not followed, '
                      'no flush requested' % marker, err)
        self.assertFalse(os.path.lexists(target), 'flush created %s' % target)
        # A link to a file that exists: left as it was.
        os.unlink(marker)
        target = os.path.join(out_dir, 'precious')
        with open(target, 'w') as f:
            f.write('keep me\n')
        os.chmod(target, 0o644)
        before = os.stat(target)
        os.symlink(target, marker)
        _, err = self.queue('flush', status=1)
        self.assertIn('not followed', err)
        after = os.stat(target)
        with open(target) as f:
            self.assertEqual(f.read(), 'keep me\n')
        self.assertEqual((after.st_mode, after.st_uid, after.st_mtime_ns),
                         (before.st_mode, before.st_uid, before.st_mtime_ns))
        # Once the link is gone, flush works again.
        os.unlink(marker)
        out, _ = self.queue('flush')
        self.assertIn('flush requested', out)

    def test_list_follows_no_link(self):
        qid = self.accept(['user@example.test'], 'linked')
        # The entry moved out of the queue, a link left in its place:
        # a well-formed entry, so only the link can make list refuse it.
        entry = os.path.join(self.srv.queue_dir, 'incoming', qid)
        moved = os.path.join(self.outside(), qid)
        shutil.copyfile(entry, moved)
        os.unlink(entry)
        os.symlink(moved, entry)
        out, err = self.queue('list', status=1)
        self.assertNotIn(qid + '\n', out)
        self.assertIn('a symbolic link, not followed', err)

    def test_list_reads_only_regular_files_without_other_links(self):
        # The service user owns the queue and root runs --queue: a FIFO
        # must not hang root's list, a hard link must not make it read a
        # file from elsewhere. Each is named, the good entries listed.
        good = self.accept(['user@example.test'], 'good')
        linked = self.accept(['user@example.test'], 'hard linked')
        fifo_state = self.accept(['user@example.test'], 'state is a fifo')
        linked_state = self.accept(['user@example.test'], 'state hard linked')
        incoming = os.path.join(self.srv.queue_dir, 'incoming')
        state = os.path.join(self.srv.queue_dir, 'state')
        os.makedirs(state, exist_ok=True)
        planted = '0123456789ABCDEF'
        os.mkfifo(os.path.join(incoming, planted))
        os.link(os.path.join(incoming, linked), os.path.join(self.srv.queue_dir, 'elsewhere'))
        os.mkfifo(os.path.join(state, fifo_state))
        with open(os.path.join(state, linked_state), 'w'):
            pass
        os.link(os.path.join(state, linked_state), os.path.join(self.srv.queue_dir, 'other'))
        # Root's list reads only the queue owner's (or root's) files.
        stranger = None
        if os.geteuid() == 0 and os.stat(incoming).st_uid != 54321:
            stranger = self.accept(['user@example.test'], 'a stranger\'s')
            os.chown(os.path.join(incoming, stranger), 54321, 54321)
        # the timeout only guards the test run: a hang is the failure
        out, err = self.queue('list', status=1, timeout=120)
        if stranger:
            self.assertNotIn(stranger + '\n', out)
            self.assertIn('%s/%s: owned by another user, not read' % (incoming, stranger), err)
        self.assertIn(good + '\n', out)
        for qid in (planted, linked, fifo_state, linked_state):
            self.assertNotIn(qid + '\n', out)
        self.assertTrue(out.endswith('1 entry\n'), out)
        self.assertIn('%s/%s: not a regular file, not read' % (incoming, planted), err)
        self.assertIn('%s/%s: other hard links to it, not read' % (incoming, linked), err)
        self.assertIn('%s/%s: not a regular file, not read' % (state, fifo_state), err)
        self.assertIn('%s/%s: other hard links to it, not read' % (state, linked_state), err)

    def test_delete_follows_no_link(self):
        qid = self.accept(['user@example.test'], 'state linked')
        # state/ replaced by a link to a directory elsewhere holding a
        # file of the entry's name: delete must not remove that file.
        out_dir = self.outside()
        victim = os.path.join(out_dir, qid)
        with open(victim, 'w') as f:
            f.write('not the queue\n')
        state = os.path.join(self.srv.queue_dir, 'state')
        if os.path.isdir(state):
            shutil.rmtree(state)
        os.symlink(out_dir, state)
        _, err = self.queue('delete', qid, status=1)
        self.assertIn('a symbolic link, not followed', err)
        self.assertTrue(os.path.exists(victim), 'delete removed %s' % victim)
        # state/ is opened before the entry is removed: refused whole,
        # nothing half done.
        self.assertIn(qid, self.srv.wait_queue(queue_id=qid))

    def test_changes_wait_for_a_runner_of_the_old_program(self):
        # Until sallyport restarts after an upgrade its runner may be the
        # program before the lock moved to queue_dir/lock: it locks
        # state/ID with flock. A command waits for that lock too.
        qid = self.accept(['user@example.test'], 'old runner')
        state = os.path.join(self.srv.queue_dir, 'state')
        os.makedirs(state, 0o700, exist_ok=True)
        fd = os.open(os.path.join(state, qid), os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _, err = self.queue('hold', qid, '--wait', '0', status=1)
            self.assertIn('%s: busy: being delivered' % qid, err)
            self.assertIn(qid, self.srv.queue_names())
        finally:
            os.close(fd)
        out, _ = self.queue('hold', qid, '--wait', '10')
        self.assertEqual(out, '%s held\n' % qid)

    def test_usage_and_config_errors(self):
        _, err = self.queue('frobnicate', status=2)
        self.assertIn('usage', err)
        self.queue('flush', '--json', status=2)
        p = subprocess.run([sallytest.binary(), '--queue', 'list', '-c',
                            os.path.join(self.srv.dir, 'missing.conf')],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)


if __name__ == '__main__':
    sallytest.main()
