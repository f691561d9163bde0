"""Held entries (a milter's quarantine) beside a running daemon that
delivers into Maildirs: listed as held with the reason (text and JSON),
never delivered while in hold/ (not by a new message's delivery, not by
a flush), delivered at once when `sallyport --queue release` moves them
into incoming/, and deletable while held.

The held entry is committed by tests/queue-hold through the queue's own
functions (queue_spool_create with envelope.hold and queue_commit), as
the daemon's milter client does for a quarantine."""

import json
import os
import subprocess

import sallytest
from test_delivery import DeliveryCase, DELIVERY_WAIT, message

REASON = 'spam score 15.2 (rspamd)'


def queue_hold_tool():
    return os.path.join(os.path.dirname(os.path.dirname(sallytest.binary())),
                        'tests', 'queue-hold')


class QueueHold(DeliveryCase):

    def hold(self, srv, subject, rcpt='user@example.test', reason=REASON):
        """A held entry for rcpt; its id."""
        p = subprocess.run([queue_hold_tool(), srv.queue_dir, reason,
                            'someone@example.org', rcpt],
                           input=message(subject), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode().strip()

    def held_names(self, srv):
        try:
            return sorted(os.listdir(os.path.join(srv.queue_dir, 'hold')))
        except FileNotFoundError:
            return []

    def queue(self, srv, *args, status=0):
        p = subprocess.run([srv.bin, '--queue'] + list(args) + ['-c', srv.conf_path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, status, 'exit %d\n%s%s' % (p.returncode, out, err))
        return out, err

    def subjects(self, user='user', n=0):
        """Subjects of the messages in user's Maildir (at least n waited for)."""
        return [line.split(b': ', 1)[1].decode()
                for m in self.mailbox(user, n)
                for line in m.splitlines() if line.startswith(b'Subject: ')]

    def runner_went_by(self, srv, subject):
        """A flush, and a new message delivered after the runner took it:
        whatever was due in incoming/ has had its chance."""
        marker = os.path.join(srv.queue_dir, 'flush')
        self.queue(srv, 'flush')
        self.assertTrue(sallytest.wait_until(lambda: not os.path.exists(marker),
                                             DELIVERY_WAIT), 'flush never taken')
        before = len(self.subjects())
        self.send(srv, 'someone@example.org', ['user@example.test'], message(subject))
        self.assertIn(subject, self.subjects(n=before + 1))

    def test_held_listed_not_delivered_then_released(self):
        srv = self.daemon()
        qid = self.hold(srv, 'quarantined')
        self.assertEqual(self.held_names(srv), [qid])
        self.assertNotIn(qid, srv.queue_names())

        out, _ = self.queue(srv, 'list')
        block = [b for b in out.split('\n\n') if b.startswith(qid)][0]
        self.assertIn('\n  held      %s\n' % REASON, block)
        self.assertIn('\n  rcpt      <user@example.test> pending\n', block)
        self.assertIn('\n  next      when released', block)
        self.assertTrue(out.endswith('1 entry, 1 held\n'), out)
        [entry] = json.loads(self.queue(srv, 'list', '--json')[0])['entries']
        self.assertEqual((entry['id'], entry['held']), (qid, REASON))

        # The daemon delivers other mail, flushes, and never this one.
        self.runner_went_by(srv, 'ordinary 1')
        self.runner_went_by(srv, 'ordinary 2')
        self.assertNotIn('quarantined', self.subjects())
        self.assertEqual(self.held_names(srv), [qid])
        out, _ = self.queue(srv, 'list')
        self.assertIn('  held      %s' % REASON, out)

        out, _ = self.queue(srv, 'release', qid)
        self.assertEqual(out, '%s released\n' % qid)
        self.assertEqual(self.held_names(srv), [])
        # Delivered without a flush: the runner noticed the release.
        self.status_line(srv, qid, 'user@example.test', 'sent')
        self.assertIn('quarantined', self.subjects(n=3))
        self.wait_gone(srv, qid)
        out, _ = self.queue(srv, 'list')
        self.assertNotIn(qid, out)

        # Released again, or never held: an error, nothing moved.
        _, err = self.queue(srv, 'release', qid, status=1)
        self.assertIn('%s: no such held entry' % qid, err)
        out, _ = self.queue(srv, 'release', 'all')
        self.assertEqual(out, 'no entry is held\n')
        _, err = self.queue(srv, 'release', status=2)
        self.assertIn('release needs ids, or all alone', err)
        self.queue(srv, 'release', 'all', qid, status=2)
        self.queue(srv, 'release', '../hold/' + qid, status=2)

    def test_release_all(self):
        srv = self.daemon()
        ids = [self.hold(srv, 'held %d' % n, reason='') for n in range(3)]
        out, _ = self.queue(srv, 'list')
        self.assertEqual(out.count('\n  held      (no reason given)\n'), 3, out)
        out, _ = self.queue(srv, 'release', 'all')
        self.assertEqual(sorted(out.splitlines()), sorted('%s released' % i for i in ids))
        self.assertEqual(self.held_names(srv), [])
        got = self.subjects(n=3)
        self.assertEqual(sorted(got), ['held 0', 'held 1', 'held 2'])

    def test_delete_held(self):
        srv = self.daemon()
        gone = self.hold(srv, 'deleted while held')
        keep = self.hold(srv, 'still held')
        out, _ = self.queue(srv, 'delete', gone)
        self.assertEqual(out, '%s deleted\n' % gone)
        self.assertEqual(self.held_names(srv), [keep])
        out, _ = self.queue(srv, 'list')
        self.assertNotIn(gone, out)
        self.assertIn(keep, out)
        _, err = self.queue(srv, 'delete', gone, status=1)
        self.assertIn('no such queue entry', err)
        _, err = self.queue(srv, 'release', gone, status=1)
        self.assertIn('no such held entry', err)
        # Nothing of it is delivered, nor of the one still held.
        self.runner_went_by(srv, 'ordinary')
        self.assertEqual(self.subjects(), ['ordinary'])


if __name__ == '__main__':
    sallytest.main()
