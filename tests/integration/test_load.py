"""Load: 5,000 sessions at once with 500 messages, greeting latency meanwhile,
and 100,000 short connections with flat memory.

A separate client measures how long the greeting takes every 100 ms
while the others hold the loop busy; the maximum must stay under 1 s. Then
connections are opened and closed in batches, and the daemon's VmRSS at
the end must be within a few MiB of what it was after the first 1,000.
"""

import errno
import os
import re
import resource
import selectors
import socket
import struct
import subprocess
import threading
import time
import unittest

import sallytest

SESSIONS = 5000
SENDERS = 500
BATCH = 500             # connections opened at once while filling up
CHURN = 100000
CHURN_BATCH = 100
DEADLINE = 60
MAX_LATENCY = 1.0       # seconds, greeting of the probing client
RSS_SLACK_KIB = 4 * 1024


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target < need:
        raise unittest.SkipTest('RLIMIT_NOFILE hard limit %d < %d' % (hard, need))
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def vm_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for pid %d' % pid)


def load_overrides(**kw):
    """max_connections 6000, and max_connections_per_ip 10000 when this
    daemon knows that key (sallyport -n prints every key)."""
    kw['max_connections'] = 6000
    probe = sallytest.Server(**kw)
    try:
        out = subprocess.run([probe.bin, '-n', '-c', probe.conf_path], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=30).stdout.decode('utf-8', 'replace')
    finally:
        probe.close()
    if re.search(r'(?m)^max_connections_per_ip\s*=', out):
        kw['max_connections_per_ip'] = 10000
    return kw


def asan_binary():
    """True when the daemon under test is built with AddressSanitizer."""
    with open(sallytest.binary(), 'rb') as f:
        return b'__asan_init' in f.read()


class Conn:
    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.buf = b''
        self.eof = False
        self.error = None


def connect_nb(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex(('127.0.0.1', port))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        raise OSError(err, 'connect: %s' % errno.errorcode.get(err))
    return s


def greeted(c):
    return b'\r\n' in c.buf


def reset_close(sock):
    """Close with RST (SO_LINGER 0): no TIME_WAIT left on our side."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()


class LatencyProbe(threading.Thread):
    """Every 100 ms: connect, time the greeting, QUIT."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.samples = []
        self.failures = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                with sallytest.Client(self.port, timeout=10) as c:
                    took = time.monotonic() - t0
                    if c.greeting.code != 220:
                        self.failures.append(repr(c.greeting))
                    c.send('QUIT\r\n')
                self.samples.append(took)
            except (OSError, sallytest.Closed) as e:
                self.failures.append('%s after %.2f s' % (e, time.monotonic() - t0))
            self.stop.wait(max(0.0, 0.1 - (time.monotonic() - t0)))


class Load(sallytest.TestCase):

    def test_five_thousand_sessions_and_latency(self):
        raise_nofile(SESSIONS + 500)
        srv = self.server(**load_overrides())
        sel = selectors.DefaultSelector()
        self.addCleanup(sel.close)
        conns = []

        def close_all():
            for c in conns:
                c.sock.close()
        self.addCleanup(close_all)

        probe = LatencyProbe(srv.mx_port)
        probe.start()
        self.addCleanup(probe.stop.set)
        time.sleep(0.3)
        started = time.monotonic()
        deadline = started + DEADLINE
        # Fill up in batches, each greeted before the next: the listen
        # backlog never overflows, so no SYN waits for a retransmission.
        while len(conns) < SESSIONS:
            batch = []
            for _ in range(min(BATCH, SESSIONS - len(conns))):
                c = Conn(len(conns), connect_nb(srv.mx_port))
                conns.append(c)
                batch.append(c)
                sel.register(c.sock, selectors.EVENT_READ, c)
            pending = set(batch)
            sallytest.pump(sel, pending, greeted, deadline)
            self.assertFalse(pending, '%d of %d not greeted' % (len(pending), len(conns)))
        bad = [(c.index, c.buf[:60], c.eof, c.error) for c in conns
               if not c.buf.startswith(b'220 ') or c.eof]
        self.assertEqual(bad[:5], [], '%d bad greetings or early closes' % len(bad))
        filled = time.monotonic()
        time.sleep(1.0)     # probes while all of them are open

        # 500 of them send a message at once, pipelined; the rest stay open.
        senders = conns[:SENDERS]
        for c in senders:
            c.buf = b''
            payload = (b'EHLO c%d.example\r\nMAIL FROM:<s%d@example.org>\r\n'
                       b'RCPT TO:<user%d@example.test>\r\nDATA\r\n'
                       b'Subject: load %d\r\n\r\n' % (c.index, c.index, c.index, c.index)
                       + b'line of load\r\n' * 200 + b'.\r\nQUIT\r\n')
            c.sock.sendall(payload)
            sel.register(c.sock, selectors.EVENT_READ, c)
        pending = set(senders)
        sallytest.pump(sel, pending, lambda c: False, time.monotonic() + DEADLINE)
        self.assertFalse(pending, '%d of %d senders did not finish' % (len(pending), SENDERS))
        sent = time.monotonic()
        bad = []
        for c in senders:
            codes = [int(m.group(1)) for m in re.finditer(rb'(?m)^(\d{3}) .*\r$', c.buf)]
            if codes != [250, 250, 250, 354, 250, 221] or c.error:
                bad.append((c.index, codes, c.buf[-100:], c.error))
        self.assertEqual(bad[:5], [], '%d senders went wrong' % len(bad))
        self.assertEqual(len(srv.wait_queue(SENDERS)), SENDERS)

        # The idle ones are all still there and answer.
        idle = conns[SENDERS:]
        for c in idle:
            c.buf = b''
            c.sock.sendall(b'QUIT\r\n')
            sel.register(c.sock, selectors.EVENT_READ, c)
        pending = set(idle)
        sallytest.pump(sel, pending, lambda c: False, time.monotonic() + DEADLINE)
        self.assertFalse(pending, '%d idle sessions did not end' % len(pending))
        bad = [(c.index, c.buf[:60]) for c in idle if not c.buf.startswith(b'221 ')]
        self.assertEqual(bad[:5], [], '%d idle sessions went wrong' % len(bad))
        done = time.monotonic()

        probe.stop.set()
        probe.join(15)
        self.assertEqual(probe.failures, [])
        self.assertGreater(len(probe.samples), 5)
        worst = max(probe.samples)
        print('%d sessions open in %.1f s, %d messages in %.1f s (after 1 s idle), all closed in %.1f s; '
              'greeting latency over %d probes: max %.3f s, median %.3f s'
              % (SESSIONS, filled - started, SENDERS, sent - filled, done - sent,
                 len(probe.samples), worst, sorted(probe.samples)[len(probe.samples) // 2]))
        # Not starved: a bound, not a benchmark (AddressSanitizer slows
        # each of the loop's iterations two to five times).
        self.assertLess(worst, MAX_LATENCY * (3 if asan_binary() else 1))

    def test_hundred_thousand_connections_flat_memory(self):
        raise_nofile(CHURN_BATCH + 100)
        if asan_binary():
            # ASan's quarantine holds freed memory back on purpose (256 MiB
            # by default): without it, what stays is what the daemon keeps.
            saved = os.environ.get('ASAN_OPTIONS')
            os.environ['ASAN_OPTIONS'] = ((saved + ':') if saved else '') + \
                'quarantine_size_mb=0:thread_local_quarantine_size_kb=0'
            self.addCleanup(lambda: os.environ.__setitem__('ASAN_OPTIONS', saved) if saved
                            else os.environ.pop('ASAN_OPTIONS', None))
        srv = self.server(**load_overrides())
        sel = selectors.DefaultSelector()
        self.addCleanup(sel.close)
        rss = {}
        started = time.monotonic()
        for n in range(0, CHURN, CHURN_BATCH):
            batch = []
            for i in range(CHURN_BATCH):
                c = Conn(n + i, connect_nb(srv.mx_port))
                batch.append(c)
                sel.register(c.sock, selectors.EVENT_READ, c)
            pending = set(batch)
            sallytest.pump(sel, pending, greeted, time.monotonic() + DEADLINE)
            self.assertFalse(pending, 'batch at %d: %d not greeted' % (n, len(pending)))
            bad = [(c.index, c.buf[:60]) for c in batch if not c.buf.startswith(b'220 ')]
            self.assertEqual(bad, [], 'batch at %d' % n)
            # Half end politely (QUIT, the daemon closes first), half
            # vanish with a reset.
            if (n // CHURN_BATCH) % 2:
                for c in batch:
                    reset_close(c.sock)
            else:
                for c in batch:
                    c.buf = b''
                    c.sock.sendall(b'QUIT\r\n')
                    sel.register(c.sock, selectors.EVENT_READ, c)
                pending = set(batch)
                sallytest.pump(sel, pending, lambda c: False, time.monotonic() + DEADLINE)
                self.assertFalse(pending, 'batch at %d: %d did not end' % (n, len(pending)))
                for c in batch:
                    c.sock.close()
            if n + CHURN_BATCH in (1000, CHURN):
                time.sleep(0.5)     # let the daemon see the last closes
                rss[n + CHURN_BATCH] = vm_rss_kib(srv.pid)
        took = time.monotonic() - started
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('NOOP').code, 250)
        print('%d connections in %.1f s; VmRSS after 1,000: %d KiB, after %d: %d KiB'
              % (CHURN, took, rss[1000], CHURN, rss[CHURN]))
        self.assertLess(rss[CHURN] - rss[1000], RSS_SLACK_KIB)


if __name__ == '__main__':
    sallytest.main()
