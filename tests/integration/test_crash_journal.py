"""queue_commit = journal: what a crash leaves is delivered, once.

Each accepted message is a record in its worker's journal before the 250
and a file in incoming/ soon after (doc/queue.md, "Life of a message").
The daemon killed with SIGKILL under load, again and again: every
message that got its 250 reaches the Maildir exactly once, and every
file there is a whole message that was sent. One worker killed (not the
master): its successor replays its journal and those messages are
delivered too. A journal whose last record is torn: the others are
replayed at start-up, the torn one dropped. A journal whose header is
damaged is moved aside and the daemon serves on. A queue written by one
method is delivered by the other.

The kills come while delivery is off (the runner, killed between a
delivery and its record, would deliver again: that is its own matter);
then a daemon that delivers takes the queue. To keep records in a
journal on purpose, incoming/ is made immutable (chattr +i): the
journal's writer then fails to rename entries into it and keeps their
records, retrying, as it would on a failing disk.
"""

import collections
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import sallytest
from test_crash import CLIENTS, Sender, message
from test_workers import SOURCES, worker_pids

ROUNDS = 5
DELIVERY_WAIT = 120     # seconds for the whole queue to be delivered
SENDER_LINE = b'\nFrom: <sender@example.org>\n'
# Start-up's "N recovered from the journal", a successor's "journal wN: N
# entries recovered".
RECOVERED = r'(\d+) (?:entries recovered|recovered from the journal)'


def recovered(log):
    return sum(int(n) for n in re.findall(RECOVERED, log))


class Journal(sallytest.TestCase):

    def setUp(self):
        self.mailroot = tempfile.mkdtemp(prefix='sallytest-journal-')
        self.addCleanup(shutil.rmtree, self.mailroot, True)

    def delivering(self, **kw):
        """Overrides for a daemon that delivers to the test's Maildir."""
        kw.update(queue_commit='journal', delivery='yes', mailbox_users='user',
                  retry_min='1s',
                  local_delivery='maildir:%s/%%d/%%u/Maildir' % self.mailroot)
        return kw

    def delivered(self):
        """sha256 of each message in the Maildir's new/ (as it was sent:
        the Maildir holds it after our Received: field, with LF)."""
        new = os.path.join(self.mailroot, 'example.test', 'user', 'Maildir', 'new')
        out = []
        for name in sorted(os.listdir(new)) if os.path.isdir(new) else ():
            with open(os.path.join(new, name), 'rb') as f:
                raw = f.read()
            at = raw.find(SENDER_LINE)
            self.assertGreaterEqual(at, 0, '%s: not a whole message: %r' % (name, raw[:300]))
            out.append(hashlib.sha256(raw[at + 1:].replace(b'\n', b'\r\n')).hexdigest())
        return out

    def check_delivered(self, srv, acked, sent, tmp_empty=True):
        """Every acknowledged message delivered exactly once, nothing
        else but whole messages that were sent, at most once each; tmp/
        empty unless a worker died (its files there wait for the next
        start)."""
        want = set(acked.values())
        self.assertTrue(sallytest.wait_until(
            lambda: want <= set(self.delivered()) and srv.queue_names() == [],
            DELIVERY_WAIT), '%d of %d delivered, %d entries left'
            % (len(want & set(self.delivered())), len(want), len(srv.queue_names())))
        counts = collections.Counter(self.delivered())
        for digest, n in counts.items():
            self.assertIn(digest, sent, 'a delivered message that was never sent')
            self.assertEqual(n, 1, 'a message delivered %d times' % n)
        if tmp_empty:
            self.assertEqual(srv.tmp_names(), [])

    def load(self, srv, acked, sent, lock, seconds, sources=(None,), first=0):
        """CLIENTS senders for `seconds`; returns their error count."""
        stop = threading.Event()
        senders = [Sender(first + i, srv.mx_port, acked, lock, stop,
                          source=sources[i % len(sources)], sent=sent)
                   for i in range(CLIENTS)]
        for s in senders:
            s.start()
        time.sleep(seconds)
        return stop, senders

    def join(self, stop, senders):
        stop.set()
        for s in senders:
            s.join(30)
            self.assertFalse(s.is_alive())
        return sum(s.errors for s in senders)

    # (a)
    def test_sigkill_under_load_each_acknowledged_message_delivered_once(self):
        srv = self.server(queue_commit='journal', delivery='no')
        acked, sent, lock = {}, set(), threading.Lock()
        rnd = random.Random()
        errors = 0
        for round_ in range(ROUNDS):
            stop, senders = self.load(srv, acked, sent, lock, rnd.uniform(0.5, 2.0),
                                      first=round_ * CLIENTS)
            srv.kill()
            errors += self.join(stop, senders)
            srv.start()
            self.assertEqual(srv.tmp_names(), [])
        print('%d messages acknowledged, %d recovered from journals, %d client '
              'errors over %d kills' % (len(acked), recovered(srv.log_text()), errors, ROUNDS))
        self.assertGreater(len(acked), ROUNDS)
        srv.stop()
        srv.write_config(self.delivering())
        srv.start()
        with lock:
            self.check_delivered(srv, dict(acked), set(sent))

    # (b)
    def test_killed_worker_successor_replays_its_journal(self):
        srv = self.server(**self.delivering(workers='2'))
        self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 2, 10))
        master = srv.pid
        acked, sent, lock = {}, set(), threading.Lock()
        rnd = random.Random()
        for round_ in range(3):
            offset = srv._log_size()
            # The first time the victim surely holds records: none could
            # be written out; the successor starts after the unstall.
            if round_ == 0:
                self.stall(srv)
            stop, senders = self.load(srv, acked, sent, lock, rnd.uniform(0.5, 1.5),
                                      sources=SOURCES, first=round_ * CLIENTS)
            victim = rnd.choice(worker_pids(srv))
            os.kill(victim, signal.SIGKILL)
            if round_ == 0:
                self.unstall(srv)
            time.sleep(0.3)             # the other worker goes on serving
            self.join(stop, senders)
            self.assertTrue(srv.wait_log(r'worker \d ready', timeout=30, offset=offset),
                            srv.log_text(offset))
            self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 2, 10))
        self.assertEqual(srv.pid, master)
        self.assertTrue(srv.running())
        print('%d messages acknowledged, %d recovered by successors' % (
            len(acked), recovered(srv.log_text())))
        self.assertGreater(recovered(srv.log_text()), 0)
        with lock:
            self.check_delivered(srv, dict(acked), set(sent), tmp_empty=False)

    # (c)
    def chattr(self, srv, flag):
        p = subprocess.run(['chattr', flag, srv.incoming_dir()], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        return p.returncode == 0, p.stdout.decode('utf-8', 'replace')

    def stall(self, srv):
        """incoming/ immutable: entries stay in the journal."""
        if shutil.which('chattr') is None:
            self.skipTest('chattr (e2fsprogs) is not installed')
        ok, out = self.chattr(srv, '+i')
        if not ok:
            self.skipTest('chattr +i: %s' % out.strip())
        self.addCleanup(self.chattr, srv, '-i')
        # A rename into it now fails, even for root.
        probe = os.path.join(srv.queue_dir, 'probe')
        open(probe, 'w').close()
        with self.assertRaises(PermissionError):
            os.rename(probe, os.path.join(srv.incoming_dir(), 'probe'))
        os.remove(probe)

    def unstall(self, srv):
        ok, out = self.chattr(srv, '-i')
        self.assertTrue(ok, out)

    def send(self, srv, n, first=0):
        """n messages, one per connection: [(queue id, message)]."""
        out = []
        for i in range(n):
            msg = message(first + i, 2000)
            c = self.ehlo_client(srv.mx_port)
            r = c.transaction('sender@example.org', ['user@example.test'], msg)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
            out.append((r.queue_id(), msg))
        return out

    def test_torn_last_record_is_dropped_and_the_others_replayed(self):
        srv = self.server(queue_commit='journal', delivery='no', workers='1')
        self.stall(srv)
        sent = self.send(srv, 4)
        self.assertTrue(srv.wait_log(r'writing out entries', timeout=10), srv.log_text())
        srv.kill()
        self.unstall(srv)
        self.assertEqual(srv.queue_names(), [])
        # The last record torn as a crash in its write would leave it:
        # its end never reached the disk.
        path = os.path.join(srv.queue_dir, 'journal', 'w0')
        with open(path, 'r+b') as f:
            data = f.read()
            end = len(data.rstrip(b'\0'))
            self.assertGreater(end, 2000, 'no records in the journal')
            f.seek(end - 500)
            f.write(b'\0' * 500)
        offset = srv._log_size()
        srv.start()
        names = srv.queue_names()
        for qid, msg in sent[:-1]:
            self.assertIn(qid, names)
            _, rest = srv.queue_entry(qid).split()
            self.assertEqual(rest, msg, qid)
        self.assertNotIn(sent[-1][0], names)
        self.assertEqual(len(names), len(sent) - 1, names)
        self.assertEqual(srv.tmp_names(), [])
        self.assertEqual(recovered(srv.log_text(offset)), 3, srv.log_text(offset))
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], message(9, 100))
        self.assertEqual(r.code, 250, r)

    def test_unreadable_journal_is_set_aside_and_mail_goes_on(self):
        """Both header copies damaged (storage, not a crash): the file is
        moved aside unchanged, the start says so and goes on serving; the
        next start leaves the file alone and warns again."""
        srv = self.server(queue_commit='journal', delivery='no', workers='1')
        self.stall(srv)
        sent = self.send(srv, 2)
        self.assertTrue(srv.wait_log(r'writing out entries', timeout=10), srv.log_text())
        srv.kill()
        self.unstall(srv)
        jdir = os.path.join(srv.queue_dir, 'journal')
        with open(os.path.join(jdir, 'w0'), 'r+b') as f:
            for at in (8, 2048 + 8):
                f.seek(at)
                f.write(b'XX')
            f.seek(0)
            damaged = f.read()
        offset = srv._log_size()
        srv.start()
        log = srv.log_text(offset)
        self.assertRegex(log, r'journal w0: no copy of its header is whole: nothing '
                         r'replayed from it; moved aside as journal/w0\.bad-\d{8}T\d{6}Z', log)
        aside = [n for n in os.listdir(jdir) if n.startswith('w0.bad-')]
        self.assertEqual(len(aside), 1, os.listdir(jdir))
        with open(os.path.join(jdir, aside[0]), 'rb') as f:
            self.assertEqual(f.read(), damaged)
        self.assertEqual(srv.queue_names(), [])
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], message(9, 100))
        self.assertEqual(r.code, 250, r)
        c.cmd('QUIT')
        srv.stop()
        offset = srv._log_size()
        srv.start()
        self.assertTrue(srv.wait_log(r'journal/%s: set aside, not replayed' % aside[0],
                                     timeout=10, offset=offset), srv.log_text(offset))
        self.assertIn(aside[0], os.listdir(jdir))
        self.assertIn(r.queue_id(), srv.queue_names())
        self.assertNotIn(sent[0][0], srv.queue_names())

    # (d)
    def test_queue_of_either_method_delivered_by_the_other(self):
        srv = self.server(queue_commit='files', delivery='no')
        sent = self.send(srv, 3)
        self.assertEqual(srv.queue_names(), sorted(qid for qid, _ in sent))
        srv.stop()
        srv.write_config(self.delivering())
        srv.start()
        digests = {hashlib.sha256(msg).hexdigest() for _, msg in sent}
        self.check_delivered(srv, {qid: hashlib.sha256(msg).hexdigest()
                                   for qid, msg in sent}, digests)

        # And back: entries the journal holds, none written out yet,
        # delivered by a daemon that commits by files.
        srv.stop()
        srv.write_config(dict(queue_commit='journal', delivery='no'))
        srv.start()
        self.stall(srv)
        more = self.send(srv, 3, first=10)
        srv.kill()
        self.unstall(srv)
        self.assertEqual(srv.queue_names(), [])
        srv.write_config(dict(self.delivering(), queue_commit='files'))
        srv.start()
        sent += more
        self.check_delivered(srv, {qid: hashlib.sha256(msg).hexdigest()
                                   for qid, msg in sent},
                             {hashlib.sha256(msg).hexdigest() for _, msg in sent})
        self.assertEqual(os.listdir(os.path.join(srv.queue_dir, 'journal')), [])


if __name__ == '__main__':
    sallytest.main()
