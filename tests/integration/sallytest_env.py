"""sallytest_env - what every part of sallytest stands on: the daemon under
test and the source tree (from the environment automake sets), free
loopback ports, the timeouts, and polling until something holds.

Tests import these names from sallytest, which re-exports them.
"""

import os
import socket
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


def free_port(host='127.0.0.1'):
    """A TCP port free on host right now: bind port 0, read it, close."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback():
    """True when ::1 can be bound (IPv6 may be disabled in containers)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def free_udp_port(host='127.0.0.1'):
    """A UDP port free on host right now (dnsmasq also wants it for TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.02):
    """Poll predicate until it returns a true value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
