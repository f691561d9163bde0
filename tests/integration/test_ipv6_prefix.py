"""Per-address limits count an IPv6 client by its prefix (ipv6_client_prefix,
default /64): a client that rotates its source address inside its /64 is one
client for max_connections_per_ip, for the AUTH failures per address and for
the worker it is steered to.

This needs several IPv6 source addresses in one /64, and loopback has only
::1. The test process therefore moves itself into a private network namespace
(unshare(CLONE_NEWNET): needs root), brings lo up there and gives it
addresses under fd00:5a11::/48 (unique local, on lo of that namespace only).
Nothing outside the process sees them, and they go away with it: the daemons
and dnsmasq, started after the move, live in the namespace too. Without root,
or where namespaces are refused, every test is skipped with the reason.
"""

import ctypes
import os
import subprocess

import sallytest

CLONE_NEWNET = 0x40000000
UNTRUSTED = '192.0.2.0/24'
TOO_MANY_FROM_IP = '421 4.7.0 Too many connections from your address'
AUTH_IP_LIMIT = ('454 4.7.0 Too many authentication failures from your '
                 'address, try later')
SERVER = 'fd00:5a11::1'
SAME_64 = ['fd00:5a11::%x' % i for i in range(2, 10)]      # one /64 with SERVER
OTHER_64S = ['fd00:5a11:0:%x::1' % i for i in range(1, 6)]  # five other /64s, one /48

SKIP = None


def setUpModule():
    global SKIP
    if os.geteuid() != 0:
        SKIP = 'needs root for a private network namespace (unshare -n)'
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        SKIP = 'unshare(CLONE_NEWNET) refused: %s' % os.strerror(ctypes.get_errno())
        return

    def ip(*args):
        subprocess.run(['ip'] + list(args), check=True, stdout=subprocess.DEVNULL)

    ip('link', 'set', 'lo', 'up')
    for addr in [SERVER] + SAME_64 + OTHER_64S:
        ip('-6', 'addr', 'add', addr + '/64', 'dev', 'lo', 'nodad')


class Ipv6Prefix(sallytest.TestCase):

    def setUp(self):
        if SKIP:
            self.skipTest(SKIP)

    def server(self, **kw):
        """A daemon with an mx and a submission listener on SERVER, for
        clients outside mynetworks (mynetworks are exempt from the limits)."""
        self.mx = sallytest.free_port(SERVER)
        self.sub = sallytest.free_port(SERVER)
        kw.setdefault('mynetworks', UNTRUSTED)
        return super().server(extra_listen=['[%s]:%d mx' % (SERVER, self.mx),
                                            '[%s]:%d submission' % (SERVER, self.sub)], **kw)

    def connect(self, source, port=None):
        return self.client(port or self.mx, host=SERVER, source=source, greet=False)

    def hold(self, sources):
        held = []
        for source in sources:
            c = self.connect(source)
            self.assertEqual(c.reply().code, 220, source)
            held.append(c)
        return held

    def test_connections_per_ip_counts_the_64(self):
        srv = self.server(max_connections_per_ip='3')
        self.hold(SAME_64[:3])
        # A fourth address of the same /64 is the same client.
        c = self.connect(SAME_64[3])
        self.assertEqual(c.reply().last, TOO_MANY_FROM_IP)
        self.assertTrue(c.closed())
        srv.wait_log(r'refused connection from \[%s\] on .*max_connections_per_ip \(3\) '
                     r'reached' % SAME_64[3])
        # Another /64 is another client.
        self.hold(OTHER_64S[:1])

    def test_prefix_128_counts_exact_addresses(self):
        self.server(max_connections_per_ip='3', ipv6_client_prefix='128')
        self.hold(SAME_64[:6])

    def test_auth_failures_per_ip_count_the_64(self):
        self.server(max_auth_failures_per_ip='2')
        for source in SAME_64[:2]:
            c = self.ehlo_client(self.sub, host=SERVER, source=source)
            c.starttls()
            c.cmd('EHLO client.example')
            self.assertEqual(c.auth(password='wrong').code, 535)
            c.cmd('QUIT')
        c = self.ehlo_client(self.sub, host=SERVER, source=SAME_64[2])
        c.starttls()
        c.cmd('EHLO client.example')
        self.assertEqual(c.auth().last, AUTH_IP_LIMIT)
        self.assertEqual(c.cmd('QUIT').code, 221)
        # Another /64 still logs in.
        self.auth_client(self.sub, host=SERVER, source=OTHER_64S[0])

    def test_workers_steer_by_the_same_prefix(self):
        # With a /48 prefix, four /64s are one client: all its connections
        # must meet the one worker that counts them, or each worker would
        # see only some of them and let the fourth in.
        self.server(max_connections_per_ip='3', ipv6_client_prefix='48', workers='2')
        self.hold(OTHER_64S[:3])
        c = self.connect(OTHER_64S[3])
        self.assertEqual(c.reply().last, TOO_MANY_FROM_IP)
        self.assertTrue(c.closed())


if __name__ == '__main__':
    sallytest.main()
