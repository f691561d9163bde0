#!/usr/bin/env python3
"""PROXY protocol listeners (listen ... proxy) behind a real HAProxy.

HAProxy (sallytest_haproxy) listens on 127.0.0.1 and connects to the
node's proxy listener from 127.0.0.1, the one address in proxy_trusted;
clients connect to HAProxy from addresses of their own on loopback, and
sallyport must see those: in its log, in the Received: field of the
message it delivers, for mynetworks (127.0.0.9 only) and for the
per-address limit. Headers from elsewhere, broken ones and silence are
closed with a log line while the others are served; HAProxy's health
checks are answered without a line at the info level; the proxy's own
connection (v2 LOCAL, v1 UNKNOWN) never relays, even when the proxy's
address is in mynetworks.
"""

import http.client
import os
import re
import shutil
import socket
import struct
import tempfile

import sallytest
from sallytest_haproxy import HAProxy, PROXY_V2_SIGNATURE, connect_from, read_to_eof

PROXY = '127.0.0.1'         # HAProxy connects to the node from here
UNTRUSTED = '127.0.0.5'     # a client outside mynetworks
OTHER = '127.0.0.6'         # another one
TRUSTED = '127.0.0.9'       # the one client in mynetworks
NOT_TRUSTED_PROXY = '127.0.0.7'     # not in proxy_trusted

RELAY_DENIED = '550 5.7.1 '


def v1(src, dst, sport, dport):
    return ('PROXY TCP4 %s %s %d %d\r\n' % (src, dst, sport, dport)).encode()


def v2(src, dst, sport, dport, command=1):
    """A version 2 header for TCP over IPv4 (command 1: PROXY, 0: LOCAL,
    which carries no address)."""
    if command == 0:
        return PROXY_V2_SIGNATURE + bytes([0x20, 0x00, 0, 0])
    body = (socket.inet_aton(src) + socket.inet_aton(dst)
            + struct.pack('!HH', sport, dport))
    return PROXY_V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack('!H', len(body)) + body


class Raw:
    """A connection straight to the node's proxy listener (no HAProxy):
    the test writes the header itself, then speaks SMTP line by line."""

    def __init__(self, port, source=PROXY):
        self.sock = connect_from(source, ('127.0.0.1', port), timeout=sallytest.IO_TIMEOUT)
        self.buf = b''

    @property
    def local(self):
        return self.sock.getsockname()

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One whole reply (its last line) as text."""
        while True:
            m = re.search(rb'^\d{3} [^\r\n]*\r\n', self.buf, re.M)
            if m:
                line, self.buf = m.group(0), self.buf[m.end():]
                return line.decode().rstrip('\r\n')
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError('closed; got %r' % self.buf)
            self.buf += chunk

    def cmd(self, line):
        self.send(line.encode() + b'\r\n')
        return self.reply()

    def rest(self):
        """What the node sends until it closes (b'': it closed without a
        word; a reset counts as that)."""
        try:
            return read_to_eof(self.sock)
        except ConnectionResetError:
            return b''

    def close(self):
        self.sock.close()


def rcpt(client, address):
    """RSET, MAIL and RCPT; the RCPT reply."""
    assert client.cmd('RSET').code == 250
    r = client.cmd('MAIL FROM:<sender@example.org>')
    assert r.code == 250, r
    return client.cmd('RCPT TO:<%s>' % address)


class ProxyCase(sallytest.TestCase):

    def node(self, roles=('mx',), **kw):
        """A sallyport with one proxy listener per role (besides the
        Server's own plain mx and submission ones) and a metrics
        listener; returns (server, {role: port}, with 'metrics': its
        port)."""
        ports = {}
        for role in roles + ('metrics',):
            port = sallytest.free_port()
            while port in ports.values():
                port = sallytest.free_port()
            ports[role] = port
        kw.setdefault('proxy_trusted', PROXY + '/32')
        kw.setdefault('mynetworks', TRUSTED + '/32')
        srv = self.server(extra_listen=['127.0.0.1:%d %s proxy' % (p, r)
                                        for r, p in ports.items() if r != 'metrics']
                          + ['127.0.0.1:%d metrics' % ports['metrics']], **kw)
        # The start-up's own probe of the plain mx port is done with.
        self.assertTrue(srv.wait_log(r'disconnect from \[127\.0\.0\.1\]'))
        return srv, ports

    def haproxy(self, backends):
        """HAProxy with one frontend per backend: backends is {name:
        (node port, send_proxy, Backend keywords)}; returns (HAProxy,
        {name: frontend})."""
        hp = HAProxy()
        fronts = {}
        for name, (port, send_proxy, kw) in backends.items():
            fronts[name] = hp.frontend('fe_' + name, backend=name)
            hp.backend(name, [('node', '127.0.0.1', port)], send_proxy=send_proxy, **kw)
        self.addCleanup(hp.close)
        hp.start()
        return hp, fronts

    def raw(self, port, source=PROXY):
        r = Raw(port, source)
        self.addCleanup(r.close)
        return r

    def metric(self, ports, sample):
        """The value of one sample line of the node's /metrics."""
        conn = http.client.HTTPConnection('127.0.0.1', ports['metrics'],
                                          timeout=sallytest.IO_TIMEOUT)
        try:
            conn.request('GET', '/metrics')
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            text = r.read().decode()
        finally:
            conn.close()
        for line in text.splitlines():
            if line.startswith(sample + ' '):
                return float(line.rsplit(' ', 1)[1])
        raise AssertionError('no sample %s in:\n%s' % (sample, text))

    def proxy_bad(self, ports):
        return self.metric(ports, 'sallyport_connections_total{listener="127.0.0.1:%d",'
                           'role="mx",outcome="proxy_bad"}' % ports['mx'])

    def assert_log_once(self, srv, pattern, offset=0):
        self.assertTrue(srv.wait_log(pattern, offset=offset), srv.log_text(offset))
        found = re.findall(pattern, srv.log_text(offset))
        self.assertEqual(len(found), 1, found)


class ClientAddress(ProxyCase):

    def test_real_client_address_v1_and_v2(self):
        maildir_root = tempfile.mkdtemp(prefix='sallytest-proxy-mail-')
        self.addCleanup(shutil.rmtree, maildir_root, True)
        srv, ports = self.node(delivery='yes',
                               local_delivery='maildir:%s/%%d/%%u/Maildir' % maildir_root)
        hp, fe = self.haproxy({'v1': (ports['mx'], 'v1', {}),
                               'v2': (ports['mx'], 'v2', {})})
        for version in ('v1', 'v2'):
            with self.subTest(version=version):
                off = srv._log_size()
                c = self.ehlo_client(fe[version].port, source=UNTRUSTED)
                # Outside mynetworks by its own address: no relay.
                r = rcpt(c, 'user@example.org')
                self.assertTrue(r.last.startswith(RELAY_DENIED), r)
                self.assertEqual(rcpt(c, 'user@example.test').code, 250)
                self.assertEqual(c.cmd('DATA').code, 354)
                r = c.data(b'Subject: through %s\r\n\r\nbody\r\n' % version.encode())
                self.assertEqual(r.code, 250, r)
                c.cmd('QUIT')
                self.assert_log_once(srv, r'connect from \[127\.0\.0\.5\] via proxy '
                                     r'\[127\.0\.0\.1\] to mx', off)
                self.assertRegex(srv.log_text(off), r'reject: RCPT from \[127\.0\.0\.5\]: '
                                 r'550 5\.7\.1 .*to=<user@example\.org>')
                # The one in mynetworks, through the same proxy, relays.
                t = self.ehlo_client(fe[version].port, source=TRUSTED)
                self.assertEqual(rcpt(t, 'user@example.org').code, 250)
                t.cmd('QUIT')
                self.assert_log_once(srv, r'connect from \[127\.0\.0\.9\] via proxy '
                                     r'\[127\.0\.0\.1\] to mx', off)
        messages = sallytest.maildir_messages(
            os.path.join(maildir_root, 'example.test', 'user', 'Maildir'), 2)
        self.assertEqual(len(messages), 2, srv.log_text())
        for m in messages:
            # A Maildir file has LF line ends.
            header = m.split(b'\n\n', 1)[0]
            ours = [f for f in re.sub(r'\n[ \t]+', ' ', header.decode()).split('\n')
                    if f.startswith('Received:')]
            self.assertEqual(len(ours), 1, header)
            self.assertIn('from client.example ([127.0.0.5])', ours[0])
            self.assertNotIn(b'127.0.0.1', header)

    def test_limit_per_real_address(self):
        # One worker: behind a proxy the per-address limit counts per
        # worker (sallyport.conf(5), listen), and this test wants it exact.
        srv, ports = self.node(workers='1', max_connections_per_ip='2')
        hp, fe = self.haproxy({'v2': (ports['mx'], 'v2', {})})
        port = fe['v2'].port
        held = [self.client(port, source=UNTRUSTED) for _ in range(2)]
        for c in held:
            self.assertEqual(c.greeting.code, 220, c.greeting)
        over = self.client(port, source=UNTRUSTED)
        self.assertEqual(over.greeting.last, '421 4.7.0 Too many connections from your '
                         'address', over.greeting)
        self.assertTrue(srv.wait_log(r'refused connection from \[127\.0\.0\.5\] on '
                                     r'127\.0\.0\.1:%d mx proxy: max_connections_per_ip '
                                     r'\(2\) reached' % ports['mx']), srv.log_text())
        self.assertEqual(self.metric(ports, 'sallyport_connections_total{listener='
                                     '"127.0.0.1:%d",role="mx",outcome="per_ip"}'
                                     % ports['mx']), 1)
        # Through the same proxy (one address to the node), another
        # client is served: the proxy's address is not what counts.
        other = self.ehlo_client(port, source=OTHER)
        self.assertEqual(other.cmd('NOOP').code, 250)
        # The held ones still work, and once one leaves, its address
        # gets a place again.
        self.assertEqual(held[0].cmd('NOOP').code, 250)
        held[0].cmd('QUIT')
        held[0].close()

        def greeted():
            c = sallytest.Client(port, source=UNTRUSTED)
            try:
                return c.greeting.code == 220
            finally:
                c.close()
        self.assertTrue(sallytest.wait_until(greeted, 10), srv.log_text())

    def test_spread_over_workers(self):
        # Every connection of a proxy listener comes from the proxy: the
        # kernel spreads them over the workers instead of steering them
        # all to the worker of the proxy's address.
        srv, ports = self.node(workers='2')
        hp, fe = self.haproxy({'v1': (ports['mx'], 'v1', {})})
        off = srv._log_size()
        for _ in range(24):
            c = sallytest.Client(fe['v1'].port, source=UNTRUSTED)
            self.assertEqual(c.cmd('QUIT').code, 221)
            c.close()
        self.assertTrue(sallytest.wait_until(
            lambda: len(re.findall(r'via proxy', srv.log_text(off))) == 24, 10))
        workers = sallytest.worker_of_sessions(srv.log_text(off), 2)
        self.assertEqual(workers.get(UNTRUSTED), {0, 1}, srv.log_text(off))


class TLS(ProxyCase):

    def test_starttls_through_the_proxy(self):
        srv, ports = self.node(roles=('submission',))
        hp, fe = self.haproxy({'v1': (ports['submission'], 'v1', {})})
        off = srv._log_size()
        c = self.auth_client(fe['v1'].port, source=UNTRUSTED)
        self.assertEqual(c.tls.version(), 'TLSv1.3')
        self.assertEqual(rcpt(c, 'user@example.org').code, 250, 'logged in: may relay')
        c.cmd('QUIT')
        log = srv.log_text(off)
        self.assertRegex(log, r'connect from \[127\.0\.0\.5\] via proxy \[127\.0\.0\.1\] '
                         r'to submission')
        self.assertRegex(log, r'TLS from \[127\.0\.0\.5\]: TLSv1\.3')
        self.assertRegex(log, r'authenticated from \[127\.0\.0\.5\]: user=<alice')

    def test_submissions_header_then_handshake(self):
        srv, ports = self.node(roles=('submissions',))
        hp, fe = self.haproxy({'v2': (ports['submissions'], 'v2', {})})
        off = srv._log_size()
        c = self.auth_client(fe['v2'].port, source=UNTRUSTED, tls=True)
        self.assertEqual(c.greeting.code, 220, c.greeting)
        self.assertEqual(rcpt(c, 'user@example.org').code, 250)
        c.cmd('QUIT')
        log = srv.log_text(off)
        self.assertRegex(log, r'connect from \[127\.0\.0\.5\] via proxy \[127\.0\.0\.1\] '
                         r'to submissions')
        self.assertRegex(log, r'TLS from \[127\.0\.0\.5\]: TLSv1\.3')


class Refused(ProxyCase):

    def test_header_from_an_untrusted_address(self):
        srv, ports = self.node()
        off = srv._log_size()
        # A valid header claiming a trusted client, from outside
        # proxy_trusted: closed before a byte is read or sent.
        r = self.raw(ports['mx'], source=NOT_TRUSTED_PROXY)
        r.send(v1(TRUSTED, '127.0.0.1', 4000, ports['mx']) + b'EHLO x\r\n')
        self.assertEqual(r.rest(), b'')
        self.assert_log_once(srv, r'refused connection from \[127\.0\.0\.7\] on '
                             r'127\.0\.0\.1:%d mx proxy: not in proxy_trusted'
                             % ports['mx'], off)
        self.assertNotIn('127.0.0.9', srv.log_text(off))
        self.assertEqual(self.proxy_bad(ports), 1)
        self.assertEqual(self.metric(ports, 'sallyport_proxy_headers_total'), 0)
        # The same from the proxy is served.
        ok = self.raw(ports['mx'])
        ok.send(v1(UNTRUSTED, '127.0.0.1', 4000, ports['mx']))
        self.assertTrue(ok.reply().startswith('220 '))
        self.assertTrue(ok.cmd('QUIT').startswith('221 '))

    def test_broken_headers_and_silence(self):
        srv, ports = self.node(proxy_timeout='1s')
        port = ports['mx']
        # A client served all along, through the proxy's header.
        held = self.raw(port)
        held.send(v2(UNTRUSTED, '127.0.0.1', 4000, port))
        self.assertTrue(held.reply().startswith('220 '))
        self.assertTrue(held.cmd('EHLO held.example').startswith('250 '))
        cases = [
            ('not a header', b'EHLO client.example\r\n', False,
             r'bad header: '),
            ('HTTP', b'GET / HTTP/1.0\r\n\r\n', False, r'bad header: '),
            ('v1 bad address', b'PROXY TCP4 300.0.0.1 127.0.0.1 4000 25\r\n', False,
             r'bad header: '),
            ('v2 version 3', PROXY_V2_SIGNATURE + b'\x31\x11\x00\x0c' + b'\x7f\x00\x00\x05'
             b'\x7f\x00\x00\x01\x0f\xa0\x00\x19', False, r'bad header: '),
            ('v1 truncated', b'PROXY TCP4 127.0.0.5 127.0.0.1', True,
             r'truncated PROXY header'),
            ('v2 truncated', v2(UNTRUSTED, '127.0.0.1', 4000, port)[:20], True,
             r'truncated PROXY header'),
            ('nothing then close', b'', True, r'connection closed before the PROXY header'),
            ('silent', b'', False, r'no PROXY header within proxy_timeout'),
        ]
        for name, data, close, why in cases:
            with self.subTest(name):
                off = srv._log_size()
                r = self.raw(port)
                if data:
                    r.send(data)
                if close:
                    r.sock.shutdown(socket.SHUT_WR)
                self.assertEqual(r.rest(), b'', 'closed without a word')
                self.assert_log_once(srv, r'disconnect from \[127\.0\.0\.1\]: %s' % why, off)
                self.assertEqual(len(srv.log_text(off).splitlines()), 1, srv.log_text(off))
                # The others are still served.
                self.assertTrue(held.cmd('NOOP').startswith('250 '))
        fresh = self.raw(port)
        fresh.send(v1(OTHER, '127.0.0.1', 4001, port))
        self.assertTrue(fresh.reply().startswith('220 '))
        self.assertTrue(srv.running())
        # Counted: each refusal as proxy_bad, the two headers taken.
        self.assertEqual(self.proxy_bad(ports), len(cases))
        self.assertEqual(self.metric(ports, 'sallyport_proxy_headers_total'), 2)


class ProxysOwn(ProxyCase):

    def test_health_checks_are_quiet(self):
        srv, ports = self.node()
        port = ports['mx']
        off = srv._log_size()
        hp, fe = self.haproxy({
            'v1': (port, 'v1', {'smtpchk': 'haproxy.test', 'inter': '100ms'}),
            'v2': (port, 'v2', {'smtpchk': 'haproxy.test', 'inter': '100ms'})})
        hp.wait_servers('v1', 'UP')
        hp.wait_servers('v2', 'UP')
        # A few dozen checks of each kind.
        self.assertTrue(sallytest.wait_until(
            lambda: srv.log_text(off).count('debug:') >= 40, 30), srv.log_text(off))
        self.assertEqual(hp.server_status('v1'), {'node': 'UP'})
        self.assertEqual(hp.server_status('v2'), {'node': 'UP'})
        lines = srv.log_text(off).splitlines()
        self.assertEqual([l for l in lines if ' debug: ' not in l], [],
                         'nothing at the info level')
        sids = [re.search(r' s=([0-9a-f]+) ', l).group(1) for l in lines]
        self.assertEqual(len(sids), len(set(sids)), 'one line per check')
        for line in lines:
            self.assertRegex(line, r"disconnect from \[127\.0\.0\.1\] \(the proxy's own "
                             r"connection\)")

    def test_local_session_cannot_relay(self):
        # The proxy's own address is in mynetworks here: its own
        # connections must still not relay (an open relay otherwise).
        srv, ports = self.node(mynetworks='127.0.0.0/8')
        port = ports['mx']
        headers = {
            'v2 LOCAL': lambda r: v2(None, None, 0, 0, command=0),
            'v1 UNKNOWN': lambda r: b'PROXY UNKNOWN\r\n',
            'v1 naming its own connection': lambda r: v1(PROXY, '127.0.0.1', r.local[1], port),
        }
        for name, header in headers.items():
            with self.subTest(name):
                r = self.raw(port)
                r.send(header(r))
                self.assertTrue(r.reply().startswith('220 '))
                self.assertTrue(r.cmd('EHLO lb.example').startswith('250 '))
                self.assertTrue(r.cmd('MAIL FROM:<a@example.org>').startswith('250 '))
                reply = r.cmd('RCPT TO:<user@example.org>')
                self.assertTrue(reply.startswith(RELAY_DENIED), reply)
                # It is served for what anyone may do.
                self.assertTrue(r.cmd('RCPT TO:<user@example.test>').startswith('250 '))
                r.cmd('QUIT')
        # A client of those networks, named by the header, relays.
        r = self.raw(port)
        r.send(v2(TRUSTED, '127.0.0.1', 4000, port))
        self.assertTrue(r.reply().startswith('220 '))
        r.cmd('EHLO client.example')
        r.cmd('MAIL FROM:<a@example.org>')
        self.assertTrue(r.cmd('RCPT TO:<user@example.org>').startswith('250 '))


if __name__ == '__main__':
    sallytest.main()
