"""sallyport --queue hold, release, requeue, bounce, show and list's
filters, beside a running daemon that delivers.

Remote recipients go to a loopback smarthost sink that defers the ones
the test chooses (451 at RCPT) or holds a delivery in flight (its reply
to the data waits for the test); the retry interval is an hour, so only
the command under test can explain a delivery that happens at once. Local
mail (and every DSN, to sender@example.test) goes into Maildirs."""

import json
import os
import subprocess
import threading

import mailsinks
import sallytest
from test_delivery import DeliveryCase, DELIVERY_WAIT, SENDER, dsn_parts, flat, message

DEFER = '451 4.3.0 try again later'
UNKNOWN = '0123456789ABCDEF'


class QueueControl(DeliveryCase):

    def setUp(self):
        super().setUp()
        self.sink = self.sink()
        # Hours between tries: nothing is retried by itself in a test.
        self.srv = self.smarthost(self.sink, retry_min='1h', retry_max='4h')

    def queue(self, *args, status=0, timeout=60):
        """sallyport --queue ARGS -c CONF; (stdout, stderr) as text."""
        p = subprocess.run([self.srv.bin, '--queue'] + list(args) +
                           ['-c', self.srv.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        out = p.stdout.decode('utf-8', 'surrogateescape')
        err = p.stderr.decode('utf-8', 'surrogateescape')
        self.assertEqual(p.returncode, status, 'exit %d\nstdout:\n%s\nstderr:\n%s'
                         % (p.returncode, out, err))
        return out, err

    def listed(self, *filters):
        """The ids that list --json FILTERS shows, sorted."""
        doc = json.loads(self.queue('list', '--json', *filters)[0])
        return sorted(e['id'] for e in doc['entries'])

    def deferred(self, rcpt, sender=SENDER, subject=None, msg=None):
        """A message to rcpt, which the sink defers: its id once the
        runner has recorded the deferral."""
        self.sink.refuse[rcpt.lower()] = DEFER
        qid = self.send(self.srv, sender, [rcpt], msg or message(subject or 'to ' + rcpt))
        self.assertTrue(sallytest.wait_until(lambda: 'next ' in self.state(self.srv, qid),
                                             DELIVERY_WAIT), self.srv.log_text())
        return qid

    def held_names(self):
        try:
            return sorted(os.listdir(os.path.join(self.srv.queue_dir, 'hold')))
        except FileNotFoundError:
            return []

    def delivered_to(self, rcpt):
        return [m for m in self.sink.messages if rcpt in m.rcpt_tos]

    def runner_went_by(self, flush=True):
        """A flush (unless flush=False), taken, and a message sent after it
        delivered: the runner has had its chance at everything due."""
        marker = os.path.join(self.srv.queue_dir, 'flush')
        if flush:
            self.queue('flush')
        self.assertTrue(sallytest.wait_until(lambda: not os.path.exists(marker),
                                             DELIVERY_WAIT), 'flush never taken')
        before = len(self.sink.messages)
        self.send(self.srv, SENDER, ['probe@remote.test'], message('probe'))
        self.assertGreater(len(self.sink.wait(before + 1)), before)

    def test_hold_then_release(self):
        qid = self.deferred('far@remote.test')
        out, _ = self.queue('hold', qid)
        self.assertEqual(out, '%s held\n' % qid)
        self.assertEqual(self.held_names(), [qid])
        self.assertNotIn(qid, self.srv.queue_names())
        out, _ = self.queue('hold', qid)           # again: said, no error
        self.assertEqual(out, '%s is held already\n' % qid)
        [entry] = json.loads(self.queue('list', '--json')[0])['entries']
        self.assertEqual((entry['id'], entry['state'], entry['held']), (qid, 'held', ''))
        out = self.queue('list')[0]
        self.assertIn('\n  state     held\n', out)
        # No milter's reason: the text says who held it, not a blank.
        self.assertIn('\n  held      (by sallyport --queue hold)\n', out)

        # Not delivered while held, though the sink takes it now and a
        # flush has the runner try everything.
        self.sink.refuse.clear()
        before = self.state(self.srv, qid)
        self.runner_went_by()
        self.assertEqual(self.delivered_to('far@remote.test'), [])
        self.assertEqual(self.state(self.srv, qid), before, 'the runner wrote into a held entry')

        out, _ = self.queue('release', qid)
        self.assertEqual(out, '%s released\n' % qid)
        # Due at once, though its retry was an hour away when it was held.
        self.assertTrue(sallytest.wait_until(lambda: self.delivered_to('far@remote.test'),
                                             DELIVERY_WAIT), self.srv.log_text())
        self.assertTrue(sallytest.wait_until(lambda: qid not in self.srv.queue_names(),
                                             DELIVERY_WAIT))
        self.assertEqual(len(self.delivered_to('far@remote.test')), 1)
        self.assertEqual(self.queue('list')[0], 'queue %s is empty\n' % self.srv.queue_dir)

    def test_hold_all_release_all(self):
        a = self.deferred('a@remote.test')
        b = self.deferred('b@remote.test')
        out, _ = self.queue('hold', 'all')
        self.assertEqual(sorted(out.splitlines()), sorted(['%s held' % a, '%s held' % b]))
        self.assertEqual(self.held_names(), sorted([a, b]))
        self.assertEqual(self.queue('hold', 'all')[0], 'no entry in the queue\n')
        self.sink.refuse.clear()
        out, _ = self.queue('release', 'all')
        self.assertEqual(sorted(out.splitlines()),
                         sorted(['%s released' % a, '%s released' % b]))
        self.assertEqual(len(self.sink.wait(2)), 2)

    def test_requeue(self):
        qid = self.deferred('far@remote.test')
        other = self.deferred('other@remote.test')
        self.sink.refuse.clear()
        out, _ = self.queue('requeue', qid)
        self.assertEqual(out, '%s requeued: due now (1 attempt so far)\n' % qid)
        # Delivered at once: only the requeue can explain it, the retry
        # timer said an hour.
        self.assertTrue(sallytest.wait_until(lambda: self.delivered_to('far@remote.test'),
                                             DELIVERY_WAIT), self.srv.log_text())
        self.assertTrue(sallytest.wait_until(lambda: qid not in self.srv.queue_names(),
                                             DELIVERY_WAIT))
        # The other entry was not made due: still deferred, untried.
        self.runner_went_by(flush=False)
        self.assertEqual(self.delivered_to('other@remote.test'), [])
        [entry] = json.loads(self.queue('list', '--json')[0])['entries']
        self.assertEqual((entry['id'], entry['state'], entry['attempts']),
                         (other, 'deferred', 1))
        # requeue all: the other too.
        self.assertEqual(self.queue('requeue', 'all')[0],
                         '%s requeued: due now (1 attempt so far)\n' % other)
        self.assertTrue(sallytest.wait_until(lambda: self.delivered_to('other@remote.test'),
                                             DELIVERY_WAIT))
        # A held entry is not requeued: it is released.
        held = self.deferred('held@remote.test')
        self.queue('hold', held)
        _, err = self.queue('requeue', held, status=1)
        self.assertIn('%s is held: release it' % held, err)

    def test_bounce(self):
        qid = self.deferred('far@remote.test')
        self.sink.refuse['gone@remote.test'] = DEFER
        out, _ = self.queue('bounce', qid)
        self.assertRegex(out, r'^%s bounced: 1 recipient returned to <%s> by DSN [0-9A-F]{16}\n$'
                         % (qid, SENDER))
        self.assertNotIn(qid, self.srv.queue_names())
        self.assertFalse(os.path.exists(self.state_path(self.srv, qid)))
        # The DSN is an entry like any other: delivered to the sender.
        [raw] = self.mailbox('sender')
        msg, blocks = dsn_parts(raw)
        self.assertEqual(msg['Subject'], 'Undelivered Mail Returned to Sender')
        [block] = blocks
        self.assertEqual(flat(block['Final-Recipient']), 'rfc822; far@remote.test')
        self.assertEqual(block['Action'], 'failed')
        self.assertEqual(block['Status'], '5.0.0')
        self.assertIn('administrator', flat(block['Diagnostic-Code']))
        self.assertIn(b'<far@remote.test>', raw)
        self.assertIn(b'returned to the sender by the mail system\'s administrator', raw)
        self.sink.refuse.clear()
        self.runner_went_by()
        self.assertEqual(self.delivered_to('far@remote.test'), [])
        # A held entry can be bounced too; an unknown one cannot.
        held = self.deferred('held@remote.test')
        self.queue('hold', held)
        self.assertIn('%s bounced: 1 recipient' % held, self.queue('bounce', held)[0])
        self.assertEqual(self.held_names(), [])
        self.assertEqual(len(self.mailbox('sender', 2)), 2)
        _, err = self.queue('bounce', qid, status=1)
        self.assertIn('%s: no such queue entry' % qid, err)

    def test_bounce_null_sender(self):
        qid = self.deferred('far@remote.test', sender='')
        out, _ = self.queue('bounce', qid)
        self.assertEqual(out, '%s bounced: 1 recipient, no DSN (the null sender)\n' % qid)
        self.assertEqual(self.srv.queue_names(), [])

    def test_every_removal_marks_a_rescan(self):
        # Without a runner the marker stays for the test to see: each
        # change that takes an entry out of the counts asks for a rescan,
        # a bounce without a DSN as much as one with.
        srv = self.server(delivery='no')
        marker = os.path.join(srv.queue_dir, 'rescan-now')
        for sender, cmd in (('', 'bounce'), (SENDER, 'bounce'), (SENDER, 'delete'),
                            (SENDER, 'hold')):
            with self.subTest(sender=sender, cmd=cmd):
                qid = self.send(srv, sender, ['far@remote.test'], message(cmd))
                srv.wait_queue(queue_id=qid)
                if os.path.exists(marker):
                    os.unlink(marker)
                p = subprocess.run([srv.bin, '--queue', cmd, qid, '-c', srv.conf_path],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                self.assertEqual(p.returncode, 0, p)
                self.assertTrue(os.path.exists(marker), p.stdout)

    def test_show(self):
        hostile = ('Subject: \x1b]0;pwned\x07 red \x1b[31m\r\n'
                   'X-C1: \xc2\x9b2J and \xff\xfe\r\n'
                   'X-Folded: one\r\n\ttwo\r\n').encode('latin-1')
        msg = (b'From: <sender@example.test>\r\nTo: <far@remote.test>\r\n' + hostile +
               b'\r\nbody\r\n')
        qid = self.deferred('far@remote.test', msg=msg)
        out, _ = self.queue('show', qid)
        self.assertTrue(out.startswith(qid + '\n'), out)
        for line in ('  state     deferred', '  queue     incoming', '  client    127.0.0.1',
                     '  helo      client.example', '  proto     ESMTP',
                     '  sender    <%s>' % SENDER,
                     '  rcpt      <far@remote.test> deferred: %s' % DEFER,
                     '  attempts  1', 'history', 'header', '  X-Folded: one', '  \ttwo',
                     '  Subject: \\x1b]0;pwned\\x07 red \\x1b[31m',
                     '  X-C1: \\xc2\\x9b2J and \\xff\\xfe'):
            self.assertIn('\n' + line + '\n', out)
        self.assertRegex(out, r'\n  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ <far@remote.test> '
                              r'deferred: %s\n' % DEFER)
        self.assertRegex(out, r'\n  next attempt at \S+Z \(1 attempt so far\)\n')
        for bad in ('\x1b', '\x07', '\udcc2', '\udcff'):
            self.assertNotIn(bad, out)

        doc = json.loads(self.queue('show', qid, '--json')[0])
        e = doc['entry']
        self.assertEqual((e['id'], e['queue'], e['state'], e['client'], e['proto'], e['sender']),
                         (qid, 'incoming', 'deferred', '127.0.0.1', 'ESMTP', SENDER))
        self.assertEqual(e['recipients'], [{'address': 'far@remote.test', 'state': 'deferred',
                                            'last_error': DEFER}])
        events = [(h['event'], h.get('recipient'), h.get('text'), h.get('attempts'))
                  for h in e['history']]
        self.assertEqual(events, [('deferred', 'far@remote.test', DEFER, None),
                                  ('next', None, None, 1)])
        header = {h['name']: h['value'] for h in e['header']}
        self.assertEqual(header['Subject'], ' \x1b]0;pwned\x07 red \x1b[31m')
        self.assertEqual(header['X-C1'], ' \x9b2J and \ufffd\ufffd')
        self.assertEqual(header['X-Folded'], ' one\r\n\ttwo')
        self.assertIn('Received', header)
        self.assertFalse(e['header_cut'])

        _, err = self.queue('show', UNKNOWN, status=1)
        self.assertIn('%s: no such queue entry' % UNKNOWN, err)

    def test_list_filters(self):
        a = self.deferred('x@remote.test', sender='alice@example.org')
        b = self.deferred('y@remote.test', sender='bob@Example.NET')
        c = self.deferred('z@remote.test', sender='carol@example.org')
        self.queue('hold', c)
        # a arrived two hours ago, as its envelope says from now on.
        path = os.path.join(self.srv.incoming_dir(), a)
        with open(path, 'r+b') as f:
            head = f.read(4096)
            at = head.index(b'\narrival ') + len(b'\narrival ')
            then = int(head[at:at + 10]) - 7200
            f.seek(at)
            f.write(b'%10d' % then)
        # d in flight: its delivery waits in the sink, never tried yet.
        self.sink.data_gate = threading.Event()
        self.addCleanup(self.sink.data_gate.set)
        d = self.send(self.srv, 'dave@example.org', ['slow@remote.test'], message('slow'))
        self.assertTrue(self.sink.data_arrived.wait(DELIVERY_WAIT))

        self.assertEqual(self.listed(), sorted([a, b, c, d]))
        self.assertEqual(self.listed('--sender', 'BOB@example.net'), [b])
        self.assertEqual(self.listed('--sender', '*@example.org'), sorted([a, c, d]))
        self.assertEqual(self.listed('--sender', 'example'), sorted([a, b, c, d]))
        self.assertEqual(self.listed('--sender', '<>'), [])
        self.assertEqual(self.listed('--recipient', '*@REMOTE.test'), sorted([a, b, c, d]))
        self.assertEqual(self.listed('--recipient', 'x@'), [a])
        self.assertEqual(self.listed('--recipient', '[yz]@*'), sorted([b, c]))
        self.assertEqual(self.listed('--older-than', '1h'), [a])
        self.assertEqual(self.listed('--newer-than', '60m'), sorted([b, c, d]))
        self.assertEqual(self.listed('--state', 'held'), [c])
        self.assertEqual(self.listed('--state', 'deferred'), sorted([a, b]))
        self.assertEqual(self.listed('--state', 'active'), [d])
        self.assertEqual(self.listed('--state', 'active,held'), sorted([c, d]))
        self.assertEqual(self.listed('--sender', '*@example.org', '--state', 'deferred'), [a])
        out, _ = self.queue('list', '--sender', 'nobody')
        self.assertEqual(out, 'no entry of queue %s matches\n' % self.srv.queue_dir)
        self.assertIn('%s\n' % b, self.queue('list', '--recipient', 'y@remote.test')[0])

        # The filters choose for hold, requeue and release with all.
        self.assertEqual(self.queue('hold', 'all', '--sender', '*@example.org',
                                    '--state', 'deferred')[0], '%s held\n' % a)
        self.assertEqual(self.held_names(), sorted([a, c]))
        self.assertEqual(self.queue('requeue', 'all', '--recipient', 'y@')[0],
                         '%s requeued: due now (1 attempt so far)\n' % b)
        self.assertEqual(self.queue('release', 'all', '--sender', 'carol@')[0],
                         '%s released\n' % c)
        self.assertEqual(self.held_names(), [a])
        self.assertEqual(self.queue('hold', 'all', '--sender', 'nobody')[0],
                         'no entry matches\n')

    def test_usage_and_unknown_ids(self):
        qid = self.deferred('far@remote.test')
        for args in (['list', '--state', 'bogus'], ['list', '--older-than', '5x'],
                     ['list', '--sender'], ['hold', qid, '--sender', 'x'],
                     ['hold'], ['requeue'], ['bounce'], ['bounce', 'all'], ['show'],
                     ['show', qid, qid], ['hold', 'all', qid], ['flush', '--state', 'held'],
                     ['hold', qid, '--json'], ['list', '--wait', '1'],
                     ['hold', qid, '--wait', '2h'], ['requeue', 'nonsense'],
                     # A filter given twice: neither both nor the last.
                     ['list', '--sender', 'a', '--sender', 'b'],
                     ['list', '--state', 'held', '--state', 'active'],
                     ['hold', 'all', '--older-than', '1h', '--older-than', '2h']):
            _, err = self.queue(*args, status=2)
            self.assertIn('usage', err)
        for cmd in ('hold', 'requeue', 'bounce', 'delete', 'show'):
            _, err = self.queue(cmd, UNKNOWN, status=1)
            self.assertIn('%s: no such queue entry' % UNKNOWN, err)
        _, err = self.queue('release', UNKNOWN, status=1)
        self.assertIn('%s: no such held entry' % UNKNOWN, err)
        # Nothing left behind by those: no state file for an unknown id.
        self.assertFalse(os.path.exists(self.state_path(self.srv, UNKNOWN)))
        self.assertEqual(self.listed(), [qid])

    def in_flight(self, rcpt):
        """A message to rcpt whose delivery is in flight: the sink has its
        data and holds its reply until self.sink.data_gate is set."""
        self.sink.data_gate = threading.Event()
        self.addCleanup(self.sink.data_gate.set)
        qid = self.send(self.srv, SENDER, [rcpt], message('in flight'))
        self.assertTrue(self.sink.data_arrived.wait(DELIVERY_WAIT), self.srv.log_text())
        # The runner holds the entry: a change is refused, not half made.
        _, err = self.queue('hold', qid, '--wait', '0', status=1)
        self.assertIn('%s: busy: being delivered' % qid, err)
        _, err = self.queue('bounce', qid, '--wait', '0', status=1)
        self.assertIn('busy', err)
        return qid

    def hold_waiting(self, qid):
        """hold qid in the background, waiting for the runner's lock."""
        p = subprocess.Popen([self.srv.bin, '--queue', 'hold', qid, '--wait', '60',
                              '-c', self.srv.conf_path], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(p.kill)
        return p

    def test_hold_racing_a_deferred_delivery(self):
        qid = self.in_flight('slow@remote.test')
        self.sink.data_refusal = DEFER
        p = self.hold_waiting(qid)
        self.sink.data_gate.set()
        out, err = p.communicate(timeout=90)
        self.assertEqual((p.returncode, out.decode(), err.decode()), (0, '%s held\n' % qid, ''))
        # The deferral is recorded in the held entry, once; nothing taken.
        self.assertEqual(self.held_names(), [qid])
        self.assertEqual(self.state(self.srv, qid).count(' deferred '), 1)
        self.assertEqual(self.sink.messages, [])
        # Released and taken: delivered once, never twice.
        self.sink.data_refusal = None
        self.queue('release', qid)
        self.assertEqual(len(self.sink.wait(1)), 1)
        self.assertTrue(sallytest.wait_until(lambda: qid not in self.srv.queue_names(),
                                             DELIVERY_WAIT))
        self.runner_went_by()
        self.assertEqual(len(self.delivered_to('slow@remote.test')), 1)

    def test_hold_racing_a_successful_delivery(self):
        qid = self.in_flight('slow@remote.test')
        p = self.hold_waiting(qid)
        self.sink.data_gate.set()
        out, err = p.communicate(timeout=90)
        # Delivered and gone before the hold could take it.
        self.assertEqual(p.returncode, 1, err)
        self.assertIn('%s: no such queue entry' % qid, err.decode())
        self.assertEqual(self.held_names(), [])
        self.runner_went_by()
        self.assertEqual(len(self.delivered_to('slow@remote.test')), 1)
        self.assertNotIn(qid, self.srv.queue_names())


if __name__ == '__main__':
    sallytest.main()
