"""kill -9 under load: every acknowledged message survives intact.

Eight clients send messages without pause while the test kills the daemon
and everything below it (the queue runner) with SIGKILL at a random
moment, five times, restarting it on the same queue_dir each time. After
each restart: every message that got a 250 is in incoming/ byte for byte
(doc/queue.md: the 250 comes only after the fsync), every entry parses
(those that never got a 250 included), `sallyport --queue list` lists
them all, and tmp/ is empty. Then garbage in incoming/ under queue-id
names: the queue tool reports it and goes on. Both commit methods
(queue_commit): CrashJournal runs the same tests on the journal, whose
records the restart replays into incoming/ (test_crash_journal.py has more).
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import warnings

import sallytest
from sallytest import CRLF

CLIENTS = 8
ROUNDS = 5

# A client whose connection is cut before the greeting leaves its socket
# to the garbage collector: expected here.
warnings.simplefilter('ignore', ResourceWarning)


def gone(pid):
    """True when pid no longer exists or is a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def message(n, size):
    """Message number n of about size octets, dotted lines included."""
    head = ['From: <sender@example.org>', 'To: <user@example.test>',
            'Subject: crash %d' % n, 'Message-ID: <%d.%s@client.example>'
            % (n, os.urandom(6).hex())]
    body, i = [], 0
    while sum(len(b) + 2 for b in body) < size:
        body.append('%s%06d %s' % ('.' if i % 7 == 0 else '', i, os.urandom(30).hex()))
        i += 1
    return CRLF.join(s.encode() for s in head + [''] + body) + CRLF


def queue_tool(conf, *args):
    p = subprocess.run([sallytest.binary(), '--queue'] + list(args) + ['-c', conf],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


class Sender(threading.Thread):
    """One client: transactions until told to stop; records each 250."""

    def __init__(self, index, port, acked, lock, stop, source=None, sent=None):
        super().__init__(daemon=True)
        self.index = index
        self.port = port
        self.source = source    # the client's address (workers steer by it)
        self.sent = sent        # None, or a set: sha256 of every message tried
        self.acked = acked      # queue id -> sha256 of the message sent
        self.lock = lock
        self.stop = stop
        self.count = 0
        self.errors = 0

    def run(self):
        rnd = random.Random(self.index)
        while not self.stop.is_set():
            n = self.index * 1000000 + self.count
            self.count += 1
            msg = message(n, rnd.choice((200, 2000, 20000, 120000)))
            if self.sent is not None:
                with self.lock:
                    self.sent.add(hashlib.sha256(msg).hexdigest())
            try:
                with sallytest.Client(self.port, timeout=10, source=self.source) as c:
                    if c.cmd('EHLO client.example').code != 250:
                        continue
                    r = c.transaction('sender@example.org', ['user@example.test'], msg)
                    if r.code == 250:
                        with self.lock:
                            self.acked[r.queue_id()] = hashlib.sha256(msg).hexdigest()
            except (OSError, sallytest.Closed, AssertionError, ValueError):
                self.errors += 1
                time.sleep(0.01)


class Crash(sallytest.TestCase):
    COMMIT = 'files'        # queue_commit

    def server(self, **kw):
        return super().server(queue_commit=self.COMMIT, **kw)

    def kill_all(self, srv):
        kids = sallytest.descendants(srv.pid) if srv.running() else []
        srv.kill()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in kids:
            self.assertTrue(sallytest.wait_until(lambda: gone(pid), 5), pid)

    def check_queue(self, srv, acked):
        names = srv.queue_names()
        for qid, digest in acked.items():
            self.assertIn(qid, names, 'a message that got 250 is gone')
            _, rest = srv.queue_entry(qid).split()
            self.assertEqual(hashlib.sha256(rest).hexdigest(), digest, qid)
        for e in srv.queue_entries():       # acknowledged or not: whole
            self.assertEqual(e.keys[:6], ['sallyport-queue', 'id', 'arrival', 'client',
                                          'helo', 'proto'], e.name)
            self.assertEqual(e.header['id'], e.name)
            self.assertEqual(e.rcpts, ['user@example.test'])
            received, rest = e.split()
            self.assertTrue(rest.endswith(CRLF) and b'\r\n\r\n' in rest, e.name)
        status, out, err = queue_tool(srv.conf_path, 'list', '--json')
        self.assertEqual(status, 0, err)
        listed = sorted(x['id'] for x in json.loads(out)['entries'])
        self.assertEqual(listed, names)
        self.assertEqual(srv.tmp_names(), [])

    def test_sigkill_under_load(self):
        srv = self.server(delivery='no')
        acked, lock = {}, threading.Lock()
        rnd = random.Random()
        total_errors = 0
        for round_ in range(ROUNDS):
            stop = threading.Event()
            senders = [Sender(i + round_ * CLIENTS, srv.mx_port, acked, lock, stop)
                       for i in range(CLIENTS)]
            for s in senders:
                s.start()
            time.sleep(rnd.uniform(0.5, 2.0))
            self.kill_all(srv)
            stop.set()
            for s in senders:
                s.join(30)
                self.assertFalse(s.is_alive())
            total_errors += sum(s.errors for s in senders)
            srv.start()
            self.assertEqual(srv.tmp_names(), [])
            with lock:
                self.check_queue(srv, dict(acked))
        print('%d messages acknowledged, %d entries in the queue, %d client errors '
              'over %d kills' % (len(acked), len(srv.queue_names()), total_errors, ROUNDS))
        self.assertGreater(len(acked), ROUNDS)
        # The restarted daemon still takes mail.
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], message(0, 100))
        self.assertEqual(r.code, 250, r)

    def test_garbage_in_incoming(self):
        srv = self.server(delivery='no')
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], message(1, 500))
        self.assertEqual(r.code, 250, r)
        good = r.queue_id()
        # The journal writes the entry out just after the 250.
        self.assertTrue(sallytest.wait_until(lambda: good in srv.queue_names(), 10))
        with open(os.path.join(srv.incoming_dir(), good), 'rb') as f:
            raw = f.read()
        base = int(good, 16)
        garbage = {
            'truncated envelope': raw[:raw.index(b'\nfrom ') + 3],
            'no empty line': raw[:raw.index(b'\n\n')],
            'empty': b'',
            'random bytes': os.urandom(4096),
            'NUL in envelope': raw.replace(b'\nproto ', b'\npro\0to ', 1),
            'wrong version': raw.replace(b'sallyport-queue 1', b'sallyport-queue 9', 1),
            'endless line': b'sallyport-queue 1\nid ' + b'A' * 20000 + b'\n',
        }
        bad = {}
        for i, (why, data) in enumerate(sorted(garbage.items())):
            qid = '%016X' % (base + 1 + i)
            data = data.replace(good.encode(), qid.encode())
            with open(os.path.join(srv.incoming_dir(), qid), 'wb') as f:
                f.write(data)
            bad[qid] = why
        for args in (('list',), ('list', '--json')):
            with self.subTest(args=args):
                status, out, err = queue_tool(srv.conf_path, *args)
                self.assertEqual(status, 1, (out, err))
                self.assertNotIn('Sanitizer', err)
                self.assertIn(good, out)
                # None of the garbage is listed as an entry, and each is
                # reported on stderr with its file name.
                for qid, why in bad.items():
                    self.assertNotIn(qid, out, why)
                    self.assertIn(qid, err, why)
                if args == ('list', '--json'):
                    self.assertEqual([x['id'] for x in json.loads(out)['entries']], [good])
        # The daemon's queue runner meets them too, and stays up.
        srv.stop()
        mail = os.path.join(srv.dir, 'mail')
        srv.write_config(dict(srv.overrides, delivery='yes', retry_min='1s',
                              local_delivery='maildir:%s/%%d/%%u/Maildir' % mail))
        srv.start()
        self.assertTrue(sallytest.wait_until(lambda: good not in srv.queue_names(), 15),
                        'the good entry was not delivered')
        self.assertTrue(os.path.isdir(os.path.join(mail, 'example.test', 'user', 'Maildir')))
        time.sleep(1)
        self.assertTrue(srv.running())
        self.assertEqual(sorted(bad), srv.queue_names())
        d = self.ehlo_client(srv.mx_port)
        self.assertEqual(d.cmd('NOOP').code, 250)


class CrashJournal(Crash):
    COMMIT = 'journal'


if __name__ == '__main__':
    sallytest.main()
