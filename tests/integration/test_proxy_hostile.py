#!/usr/bin/env python3
"""PROXY protocol listeners against hostile or odd headers, written by
the test itself on raw sockets (test_proxy.py has the real HAProxy).

The proxy is 127.0.0.1, the one address in proxy_trusted; mynetworks is
127.0.0.9 alone unless a test says otherwise. Each test states what an
attacker tries through the proxy listener and what sallyport must do:
never relay for a header that names no client of mynetworks, never
believe a proxy that a reload took out of proxy_trusted, keep serving
everyone else whatever a connection sends.
"""

import shutil
import socket
import ssl
import struct
import subprocess

import sallytest
from sallytest_haproxy import PROXY_V2_SIGNATURE

PROXY = '127.0.0.1'         # the trusted proxy
UNTRUSTED = '127.0.0.5'     # a client outside mynetworks
TRUSTED = '127.0.0.9'       # the one client in mynetworks
DENIED = '127.0.0.6'        # in client_deny where a test sets it

RELAY_DENIED = '550 5.7.1 '


def v1(proto, src, dst, sport=4000, dport=25):
    return ('PROXY %s %s %s %d %d\r\n' % (proto, src, dst, sport, dport)).encode()


def v2(family_proto, body, command=1):
    """A version 2 header: command 1 PROXY (0 LOCAL), the family and
    protocol octet, and the address block and TLVs as given."""
    return (PROXY_V2_SIGNATURE + bytes([0x20 | command, family_proto])
            + struct.pack('!H', len(body)) + body)


def v2_inet6(src, dst, sport=4000, dport=25):
    return v2(0x21, socket.inet_pton(socket.AF_INET6, src)
              + socket.inet_pton(socket.AF_INET6, dst) + struct.pack('!HH', sport, dport))


class HostileCase(sallytest.TestCase):

    def node(self, **kw):
        """A sallyport with a proxy mx listener; returns (server, port)."""
        port = sallytest.free_port()
        kw.setdefault('proxy_trusted', PROXY + '/32')
        kw.setdefault('mynetworks', TRUSTED + '/32')
        srv = self.server(extra_listen=['127.0.0.1:%d mx proxy' % port], **kw)
        self.assertTrue(srv.wait_log(r'disconnect from \[127\.0\.0\.1\]'))
        return srv, port

    def raw(self, port, header, source=PROXY):
        """A connection from source to the proxy listener that has sent
        header and nothing more."""
        c = self.client(port, source=source, greet=False)
        c.send(header)
        return c

    def relay_reply(self, c):
        """EHLO, MAIL and RCPT to a domain not ours: the RCPT reply."""
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        return c.cmd('RCPT TO:<user@example.org>')


class NoClientAddress(HostileCase):

    def test_v2_unix_unspec_and_local_never_relay(self):
        # The proxy's address is in mynetworks: a header that names no
        # client (AF_UNIX, UNSPEC, LOCAL) must not borrow its trust.
        srv, port = self.node(mynetworks='127.0.0.0/8')
        unix = b'/run/client.sock'.ljust(108, b'\0') + b'/run/lb.sock'.ljust(108, b'\0')
        headers = {
            'AF_UNIX stream': v2(0x31, unix),
            'UNSPEC family': v2(0x01, b''),
            'INET, UNSPEC protocol': v2(0x10, bytes(12)),
            'LOCAL with an INET block': v2(0x11, socket.inet_aton(TRUSTED) * 2
                                           + struct.pack('!HH', 1, 25), command=0),
            'v1 UNKNOWN with addresses': b'PROXY UNKNOWN 127.0.0.9 127.0.0.1 4000 25\r\n',
        }
        for name, header in headers.items():
            with self.subTest(name):
                c = self.raw(port, header)
                self.assertEqual(c.reply().code, 220)
                r = self.relay_reply(c)
                self.assertTrue(r.last.startswith(RELAY_DENIED), r)
                c.close()


class MappedAddresses(HostileCase):

    def test_ipv4_mapped_clients_are_their_ipv4_address(self):
        # A client named as ::ffff:a.b.c.d is a.b.c.d for mynetworks,
        # client_deny and the log, in a v1 TCP6 line and a v2 block.
        srv, port = self.node(client_deny=DENIED + '/32')
        for form in ('v1', 'v2'):
            def header(src):
                if form == 'v1':
                    return v1('TCP6', src, '::ffff:127.0.0.1', 4000, port)
                return v2_inet6(src, '::ffff:127.0.0.1', 4000, port)
            with self.subTest(form):
                off = srv._log_size()
                c = self.raw(port, header('::ffff:' + TRUSTED))
                self.assertEqual(c.reply().code, 220)
                self.assertEqual(self.relay_reply(c).code, 250)
                c.close()
                self.assertTrue(srv.wait_log(r'connect from \[127\.0\.0\.9\] via proxy '
                                             r'\[127\.0\.0\.1\]', offset=off))
                c = self.raw(port, header('::ffff:' + UNTRUSTED))
                self.assertEqual(c.reply().code, 220)
                r = self.relay_reply(c)
                self.assertTrue(r.last.startswith(RELAY_DENIED), r)
                c.close()
                c = self.raw(port, header('::ffff:' + DENIED))
                r = c.reply()
                self.assertNotEqual(r.code, 220, r)
                c.close()


class ConfusedState(HostileCase):

    def test_header_and_smtp_in_one_segment(self):
        srv, port = self.node()
        c = self.client(port, source=PROXY, greet=False)
        c.send(v1('TCP4', UNTRUSTED, '127.0.0.1', 4000, port) + b'NOOP\r\nNOOP\r\n')
        self.assertEqual([r.code for r in c.replies(3)], [220, 250, 250])
        self.assertEqual(c.cmd('QUIT').code, 221)

    def test_header_and_client_hello_in_one_segment(self):
        # On submissions the ClientHello follows the header at once: the
        # header is taken to its last octet and TLS gets the rest.
        port = sallytest.free_port()
        srv = self.server(extra_listen=['127.0.0.1:%d submissions proxy' % port],
                          proxy_trusted=PROXY + '/32', mynetworks=TRUSTED + '/32')
        sock = self.client(port, source=PROXY, greet=False).sock
        ctx = sallytest.tls_context(sallytest.SERVER_NAME)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_hostname=sallytest.SERVER_NAME)
        first = True
        while True:
            try:
                tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            data = out.read()
            if first:
                data = v2_inet6('::ffff:' + UNTRUSTED, '::ffff:127.0.0.1', 4000, port) + data
                first = False
            if data:
                sock.sendall(data)
            if done:
                break
            chunk = sock.recv(65536)
            self.assertTrue(chunk, 'closed during the handshake')
            inc.write(chunk)
        got = b''
        while not got.endswith(b'\r\n'):
            try:
                got += tls.read(4096)
            except ssl.SSLWantReadError:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, 'closed after the handshake')
                inc.write(chunk)
        self.assertTrue(got.startswith(b'220 '), got)
        self.assertTrue(srv.wait_log(r'connect from \[127\.0\.0\.5\] via proxy '
                                     r'\[127\.0\.0\.1\] to submissions'))

    def test_second_header_is_no_header(self):
        # Only the first octets of the connection are the proxy's: a
        # header after it is the client's, an unknown command.
        srv, port = self.node()
        c = self.raw(port, v1('TCP4', UNTRUSTED, '127.0.0.1', 4000, port))
        self.assertEqual(c.reply().code, 220)
        r = c.cmd('PROXY TCP4 %s 127.0.0.1 4000 %d' % (TRUSTED, port))
        self.assertEqual(r.code // 100, 5, r)
        r = self.relay_reply(c)
        self.assertTrue(r.last.startswith(RELAY_DENIED), r)


class Reload(HostileCase):

    def test_header_after_a_reload_took_the_proxy_out(self):
        # A connection accepted while 127.0.0.1 was a trusted proxy sends
        # its header only after a reload dropped it from proxy_trusted:
        # the header is not believed (closed), and a new one is refused.
        srv, port = self.node(proxy_timeout='30s')
        header = v1('TCP4', TRUSTED, '127.0.0.1', 4000, port)
        waiting = self.raw(port, header[:11])
        off = srv._log_size()
        srv.reload({'proxy_trusted': '127.0.0.2/32', 'proxy_timeout': '30s',
                    'mynetworks': TRUSTED + '/32'})
        waiting.send(header[11:] + b'EHLO client.example\r\n')
        self.assertEqual(waiting.silent(3), b'', 'closed without a word')
        # Refused at the header (or at accept, had the reload come first).
        self.assertTrue(srv.wait_log(r'(disconnect|refused connection) from '
                                     r'\[127\.0\.0\.1\].*proxy_trusted', offset=off),
                        srv.log_text(off))
        self.assertNotIn('[127.0.0.9]', srv.log_text(off))
        fresh = self.client(port, source=PROXY, greet=False)
        fresh.send(header)
        self.assertEqual(fresh.silent(3), b'', 'closed without a word')

    def test_reload_adds_the_proxy_option(self):
        # A plain listener made a proxy listener by a reload: were it left
        # plain until a restart, the header would be taken for a command
        # and the proxy, here in mynetworks, for the client: every client
        # of the balancer would relay. The option takes effect at once.
        port = sallytest.free_port()
        srv = self.server(extra_listen=['127.0.0.1:%d mx' % port], mynetworks=PROXY + '/32')
        srv.extra_listen = ['127.0.0.1:%d mx proxy' % port]
        srv.reload({'mynetworks': PROXY + '/32', 'proxy_trusted': PROXY + '/32'})
        c = self.raw(port, v1('TCP4', UNTRUSTED, '127.0.0.1', 4000, port))
        self.assertEqual(c.reply().code, 220)
        r = self.relay_reply(c)
        self.assertTrue(r.last.startswith(RELAY_DENIED), r)
        self.assertTrue(srv.wait_log(r'connect from \[127\.0\.0\.5\] via proxy'))
        # And back: plain again, the proxy is the client.
        srv.extra_listen = ['127.0.0.1:%d mx' % port]
        srv.reload({'mynetworks': PROXY + '/32'})
        c = self.client(port, source=PROXY)
        self.assertEqual(self.relay_reply(c).code, 250)


class SelfTest(HostileCase):

    def selftest(self, proxy_trusted):
        """sallyport --selftest of a configuration with a proxy mx
        listener (not started): its exit status and report."""
        srv = sallytest.Server(extra_listen=['127.0.0.1:%d mx proxy' % sallytest.free_port()],
                               proxy_trusted=proxy_trusted, mynetworks=TRUSTED + '/32')
        self.addCleanup(shutil.rmtree, srv.dir, True)
        p = subprocess.run([srv.bin, '--selftest', '-c', srv.conf_path], cwd=srv.dir,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        return p.returncode, p.stdout.decode('utf-8', 'replace')

    def test_proxy_trusted_open_to_strangers_is_an_open_relay(self):
        # Whoever is in proxy_trusted names the client: a stranger there
        # names one of mynetworks and relays. The self-test must see it.
        rc, out = self.selftest('0.0.0.0/0 ::/0')
        self.assertEqual(rc, 1, out)
        self.assertIn('OPEN RELAY', out.strip().splitlines()[-1])
        self.assertIn('proxy_trusted', out)
        rc, out = self.selftest(PROXY + '/32')
        self.assertNotIn('OPEN RELAY', out)


if __name__ == '__main__':
    sallytest.main()
