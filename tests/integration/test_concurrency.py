"""Many clients at once on one event loop, and the max_connections limit."""

import errno
import re
import resource
import selectors
import socket
import time
import unittest

import sallytest

N = 1000
DEADLINE = 60   # seconds for each phase; normally a few


def raise_nofile(need):
    """Raise this process's open-file limit (soft to hard); the daemon,
    started afterwards, inherits it. Skips when the hard limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target < need:
        raise unittest.SkipTest('RLIMIT_NOFILE hard limit %d < %d' % (hard, need))
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Conn:
    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.buf = b''
        self.eof = False
        self.error = None


def reply_codes(data):
    """The codes of the complete replies in data (last lines only)."""
    return [int(m.group(1)) for m in re.finditer(rb'(?m)^(\d{3}) .*\r$', data)]


class Concurrency(sallytest.TestCase):

    def test_thousand_concurrent_sessions(self):
        raise_nofile(N + 200)
        srv = self.server(max_connections=2000)
        sel = selectors.DefaultSelector()
        self.addCleanup(sel.close)
        conns = []

        def close_all():
            for c in conns:
                c.sock.close()
        self.addCleanup(close_all)

        started = time.monotonic()
        for i in range(N):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            conns.append(Conn(i, s))
            err = s.connect_ex(('127.0.0.1', srv.mx_port))
            self.assertIn(err, (0, errno.EINPROGRESS), 'connect %d: %s' % (i, errno.errorcode.get(err)))
            sel.register(s, selectors.EVENT_READ, conns[-1])

        # Phase 1: every one of them greeted while all are open.
        pending = set(conns)
        sallytest.pump(sel, pending, lambda c: b'\r\n' in c.buf, time.monotonic() + DEADLINE)
        self.assertFalse(pending, '%d of %d never greeted' % (len(pending), N))
        bad = [(c.index, c.buf[:60], c.eof, c.error) for c in conns
               if not c.buf.startswith(b'220 ') or c.eof]
        self.assertEqual(bad, [], 'bad greetings or closed early')
        greeted = time.monotonic()

        # Phase 2: a whole pipelined transaction on each, then QUIT.
        for c in conns:
            c.buf = b''
            payload = (b'EHLO c%d.example\r\nMAIL FROM:<s%d@example.org>\r\n'
                       b'RCPT TO:<user%d@example.test>\r\nDATA\r\n'
                       b'Subject: message %d\r\n\r\nbody of message %d\r\n.\r\nQUIT\r\n'
                       % (c.index, c.index, c.index, c.index, c.index))
            self.assertEqual(c.sock.send(payload), len(payload))
            sel.register(c.sock, selectors.EVENT_READ, c)
        pending = set(conns)
        sallytest.pump(sel, pending, lambda c: False, time.monotonic() + DEADLINE)
        self.assertFalse(pending, '%d of %d did not finish' % (len(pending), N))
        ids = {}
        bad = []
        for c in conns:
            codes = reply_codes(c.buf)
            m = re.search(rb'^250 2\.0\.0 Ok: queued as (\S+)\r$', c.buf, re.M)
            if codes != [250, 250, 250, 354, 250, 221] or not m or c.error:
                bad.append((c.index, codes, c.buf[-120:], c.error))
            else:
                ids[m.group(1).decode()] = c.index
        self.assertEqual(bad[:5], [], '%d sessions went wrong' % len(bad))
        self.assertEqual(len(ids), N, 'queue ids not unique')
        finished = time.monotonic()

        names = srv.wait_queue(N)
        self.assertEqual(len(names), N)
        self.assertEqual(set(names), set(ids))
        for e in srv.queue_entries():
            i = ids[e.name]
            self.assertEqual(e.rcpts, ['user%d@example.test' % i])
            self.assertEqual(e.split()[1], b'Subject: message %d\r\n\r\nbody of message %d\r\n'
                             % (i, i))
        print('%d sessions: greeted in %.1f s, transactions in %.1f s'
              % (N, greeted - started, finished - greeted))

    def test_max_connections(self):
        srv = self.server(max_connections=5, workers='1')   # a limit per worker
        first = []
        for i in range(5):
            # The start-up probe's slot may take a moment to be freed.
            c = sallytest.wait_until(lambda: self._greeted(srv), 5)
            self.assertTrue(c, 'connection %d was not greeted with 220' % (i + 1))
            first.append(c)

        sixth = self.client(srv.mx_port, greet=False, timeout=5)
        try:
            line = sixth.line()
        except (sallytest.Closed, ConnectionError):
            line = None                         # refused by closing: fine
        except socket.timeout:
            self.fail('the 6th connection got neither 421 nor a close within 5 s')
        if line is not None:
            self.assertTrue(line.startswith('421 4.3.2'), line)
            self.assertTrue(sixth.closed())

        for i, c in enumerate(first):
            self.assertEqual(c.cmd('EHLO c%d.example' % i).code, 250)
            r = c.transaction('s@example.org', ['user@example.test'],
                              b'Subject: %d\r\n\r\nstill served\r\n' % i)
            self.assertEqual(r.code, 250, r)
        self.assertEqual(len(srv.wait_queue(5)), 5)

        # A freed slot is available again.
        self.assertEqual(first[0].cmd('QUIT').code, 221)
        self.assertTrue(first[0].closed())
        again = sallytest.wait_until(lambda: self._greeted(srv), 5)
        self.assertTrue(again, 'no slot after one of 5 sessions ended')

    def _greeted(self, srv):
        """A client whose greeting was 220, or None (closed it otherwise)."""
        c = self.client(srv.mx_port, greet=False, timeout=5)
        try:
            if c.reply().code == 220:
                return c
        except (sallytest.Closed, ConnectionError):
            pass
        c.close()
        return None


if __name__ == '__main__':
    sallytest.main()
