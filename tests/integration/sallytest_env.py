"""sallytest_env - what every part of sallytest stands on: the daemon under
test and the source tree (from the environment automake sets), free
loopback ports, the timeouts, polling until something holds, and reading
the log file of a program a test runs.

Tests import these names from sallytest, which re-exports them.
"""

import os
import re
import socket
import sys
import time

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


# Every port free_port and free_udp_port have handed out in this process:
# the kernel may give a closed port again at the next bind to port 0, and
# a port picked for one listener of a test must not come back for another
# (the daemon refuses a listen line twice, and a peer would take ours).
_handed_out = set()


def _fresh(bind_port_zero):
    while True:
        port = bind_port_zero()
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def free_port(host='127.0.0.1'):
    """A TCP port free on host right now (bind port 0, read it, close),
    never one handed out before in this process."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET

    def bind():
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            return s.getsockname()[1]
    return _fresh(bind)


def ipv6_loopback():
    """True when ::1 can be bound (IPv6 may be disabled in containers)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def free_udp_port(host='127.0.0.1'):
    """A UDP port free on host right now (dnsmasq also wants it for TCP),
    never one handed out before in this process."""
    def bind():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            return s.getsockname()[1]
    return _fresh(bind)


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
