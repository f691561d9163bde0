"""sallytest_env - what every part of sallytest stands on: the daemon under
test and the source tree (from the environment automake sets), free
loopback ports, the timeouts, polling until something holds, and reading
the log file of a program a test runs.

Tests import these names from sallytest, which re-exports them.
"""

import fcntl
import functools
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

SKIP = 77           # automake's exit status for a skipped test
GREET_TIMEOUT = 10  # seconds for a started daemon to greet
IO_TIMEOUT = 20     # seconds for one reply (generous for sanitizer builds)

CRLF = b'\r\n'


def binary():
    """Absolute path of the daemon under test, from $SALLYPORT."""
    path = os.environ.get('SALLYPORT')
    if not path:
        raise RuntimeError('SALLYPORT is not set: run the tests with "make check" '
                           'or point SALLYPORT at build/src/sallyport')
    if not os.access(path, os.X_OK):
        raise RuntimeError('SALLYPORT=%s is not an executable file' % path)
    return path


def srcdir():
    """Top of the source tree, from $SALLYPORT_SRCDIR (or guessed from here)."""
    path = os.environ.get('SALLYPORT_SRCDIR')
    if path:
        return path
    return os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


# Ports for the tests' listeners come from outside the kernel's ephemeral
# range, so that no client socket of this or another test (bound to port
# 0, or connecting) can sit on one between its pick and its bind; and each
# is reserved across the test processes that make runs in parallel by a
# lock on the byte of one shared file at the port's offset, held while the
# process lives (the kernel drops it when the process ends). Binding port
# 0 alone hands out ports the next connect() may take, and the same port
# to two processes one after the other. The file is in /tmp whatever
# TMPDIR says, so that every test process finds the same one. The peers
# that send DNS queries (dnsmasq, unbound) are kept to the ephemeral range
# for their source ports (ephemeral_range()).
_PORT_LOCKS = '/tmp/sallytest-ports.lock'
_PICK_TRIES = 20000
_port_lock = threading.Lock()   # _pick from two threads: one at a time
_port_locks_fd = None
_reserved = set()
_rng = random.Random()     # its own: a test seeding random changes nothing


def ephemeral_range():
    """The kernel's ephemeral port range (low, high), from /proc."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def _port_ranges():
    """The ranges outside the ephemeral range, from 10000 up."""
    low, high = ephemeral_range()
    return [(lo, hi) for lo, hi in ((10000, low - 1), (high + 1, 65535))
            if hi - lo >= 500]


def _locks_fd():
    """The shared lock file, opened once (created 0666 if missing: the
    tests also run as other users). An existing file is opened without
    O_CREAT, which a sticky /tmp refuses on another user's file."""
    global _port_locks_fd
    while _port_locks_fd is None:
        try:
            _port_locks_fd = os.open(_PORT_LOCKS, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            try:
                fd = os.open(_PORT_LOCKS, os.O_RDWR | os.O_CREAT | os.O_EXCL |
                             os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue        # made meanwhile by another test process
            os.fchmod(fd, 0o666)
            _port_locks_fd = fd
    return _port_locks_fd


def _reserve(port):
    """Lock port's byte for this process; False if another holds it."""
    try:
        fcntl.lockf(_locks_fd(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
    except (BlockingIOError, PermissionError):
        return False
    _reserved.add(port)
    return True


def _bindable(host, port, kinds):
    """port binds on host and, for IPv4, on the wildcard address too (a
    test may listen on *:port)."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    hosts = (host,) if family == socket.AF_INET6 else (host, '0.0.0.0')
    for addr in hosts:
        for kind in kinds:
            try:
                with socket.socket(family, kind) as s:
                    s.bind((addr, port))
            except OSError:
                return False
    return True


def _candidate(host, kinds):
    """A port to try: from outside the ephemeral range, or, if too little
    is left outside it, one the kernel gives to a bind to port 0."""
    ranges = _port_ranges()
    if ranges:
        lo, hi = _rng.choice(ranges)
        return _rng.randint(lo, hi)
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, kinds[0]) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _pick(host, kinds):
    """A port that binds on host for each socket type of kinds, reserved
    for this process (see above)."""
    with _port_lock:
        for _ in range(_PICK_TRIES):
            port = _candidate(host, kinds)
            if port in _reserved or not _bindable(host, port, kinds):
                continue
            # bound once more once ours: it may have been taken meanwhile
            if _reserve(port) and _bindable(host, port, kinds):
                return port
    raise AssertionError('no free port on %s after %d tries (ranges %s, %d '
                         'reserved by this process)'
                         % (host, _PICK_TRIES, _port_ranges(), len(_reserved)))


def free_port(host='127.0.0.1'):
    """A TCP port free on host, outside the ephemeral range, never handed
    out before in this process, and reserved from every other test process
    until release_port() or this process's end."""
    return _pick(host, (socket.SOCK_STREAM,))


def release_port(port):
    """Other test processes may take port again (this one never does)."""
    if port in _reserved:
        fcntl.lockf(_locks_fd(), fcntl.LOCK_UN, 1, port)


def port_reserved_elsewhere(port):
    """Whether another test process would find port reserved (by this
    one, say: a lock's owner cannot see its own lock as a conflict, so a
    child process asks)."""
    probe = ('import fcntl, os, sys\n'
             'fd = os.open(sys.argv[1], os.O_RDWR)\n'
             'try:\n'
             '    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, int(sys.argv[2]))\n'
             'except (BlockingIOError, PermissionError):\n'
             '    sys.exit(3)\n')
    _locks_fd()         # the file exists
    rc = subprocess.run([sys.executable, '-c', probe, _PORT_LOCKS,
                         str(port)]).returncode
    if rc not in (0, 3):
        raise AssertionError('the lock probe of port %d failed (exit %d)' % (port, rc))
    return rc == 3


def ipv6_loopback():
    """True when ::1 can be bound (IPv6 may be disabled in containers)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def free_udp_port(host='127.0.0.1'):
    """A port free on host for UDP and TCP both (dnsmasq takes both), as
    free_port picks them."""
    return _pick(host, (socket.SOCK_DGRAM, socket.SOCK_STREAM))


def within_one_utc_day(test):
    """For a test of a per-day count (the daemon's days are UTC): should
    it fail after midnight UTC passed while it ran, it is skipped instead,
    the count having started again."""
    @functools.wraps(test)
    def run(self, *args, **kwargs):
        day = int(time.time()) // 86400
        try:
            return test(self, *args, **kwargs)
        except AssertionError:
            if int(time.time()) // 86400 != day:
                raise unittest.SkipTest('the UTC day changed while the test ran')
            raise
    return run


def wait_until(predicate, timeout, interval=0.02):
    """Poll predicate until it returns a true value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class LogFile:
    """Reading the log file (self.log_path) of a program a test runs, as
    it grows; LOG_NAME names the program in dump_log()'s lines. With
    start(), running() and close() of its own, the class is a context
    manager that starts the program and dumps the log when the block
    fails, before close()."""

    LOG_NAME = 'program'

    def _log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_text(self, offset=0):
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(offset)
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def wait_log(self, pattern, timeout=10, offset=0):
        """Wait for a regex to appear in the log; returns the match or None."""
        return wait_until(lambda: re.search(pattern, self.log_text(offset)), timeout)

    def dump_log(self, why, lines=80):
        tail = self.log_text().splitlines()[-lines:]
        sys.stderr.write('--- %s; last %d lines of the %s log (%s) ---\n'
                         % (why, len(tail), self.LOG_NAME, self.log_path))
        sys.stderr.write('\n'.join(tail) + '\n--- end of %s log ---\n' % self.LOG_NAME)

    def __enter__(self):
        if not self.running():
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.dump_log('test failed: %s' % exc_type.__name__)
        self.close()
