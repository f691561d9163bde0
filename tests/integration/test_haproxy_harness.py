#!/usr/bin/env python3
"""The HAProxy harness (sallytest_haproxy) checked on its own: a real
HAProxy in front of a recording TCP server or an aiosmtpd sink, with and
without the PROXY protocol, before any test leans on it.

What a backend sees is what HAProxy sent: nothing but the client's bytes
without send-proxy, a "PROXY TCP4 <client> <frontend> ..." line before
them with send-proxy, the v2 binary header with send-proxy-v2; health
checks with option smtpchk mark a listening SMTP server UP and a closed
port DOWN on the stats socket.
"""

import socket
import threading

import mailsinks
import sallytest
from sallytest_haproxy import (PROXY_V1_TCP4, PROXY_V2_SIGNATURE, HAProxy,
                               connect_from, read_proxy_header, read_to_eof)

END = b'END\n'
CLIENT_SOURCE = '127.0.0.7'     # the client's own address, for the header


class Recorder:
    """A TCP server on 127.0.0.1 and a free port that reads each
    connection until END, records every byte it got, answers b'seen N\\n'
    (N its count of connections) and closes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(sallytest.IO_TIMEOUT)
                data = b''
                try:
                    while not data.endswith(END):
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                with self.lock:
                    self.seen.append(data)
                    n = len(self.seen)
                try:
                    conn.sendall(b'seen %d\n' % n)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def exchange(address, payload, source=CLIENT_SOURCE):
    """Connect to address from source, send payload, return (our local
    (host, port), the whole answer)."""
    with connect_from(source, address, timeout=sallytest.IO_TIMEOUT) as s:
        local = s.getsockname()
        s.sendall(payload)
        return local, read_to_eof(s)


class HarnessCase(sallytest.TestCase):

    def recorder(self):
        r = Recorder()
        self.addCleanup(r.close)
        return r

    def haproxy(self, hp):
        self.addCleanup(hp.close)
        hp.start()
        return hp

    def through(self, send_proxy):
        """A client's bytes through HAProxy to one Recorder; returns
        (client's local address, frontend, the bytes the Recorder got)."""
        rec = self.recorder()
        hp = HAProxy()
        fe = hp.frontend('front', backend='back')
        hp.backend('back', [('rec', '127.0.0.1', rec.port)], send_proxy=send_proxy)
        self.haproxy(hp)
        payload = b'hello through haproxy\r\n' + END
        local, answer = exchange(fe.address, payload)
        self.assertEqual(answer, b'seen 1\n')
        self.assertEqual(len(rec.seen), 1, 'the readiness check reached the backend')
        return local, fe, rec.seen[0], payload, hp

    def test_plain(self):
        local, fe, seen, payload, hp = self.through(None)
        self.assertEqual(seen, payload)
        # the tcplog line, on stderr in the file the test reads
        self.assertTrue(hp.wait_log(r'%s:%d \[.*\] front back/rec ' % local),
                        hp.log_text())

    def test_send_proxy_v1(self):
        local, fe, seen, payload, _ = self.through('v1')
        self.assertTrue(seen.startswith(PROXY_V1_TCP4), seen)
        self.assertEqual(seen.split(b'\r\n', 1)[0].decode(),
                         'PROXY TCP4 %s %s %d %d' % (local[0], fe.host, local[1], fe.port))
        self.assertEqual(read_proxy_header(seen), (1, local, fe.address, payload))

    def test_send_proxy_v2(self):
        local, fe, seen, payload, _ = self.through('v2')
        self.assertTrue(seen.startswith(PROXY_V2_SIGNATURE), seen)
        self.assertEqual(seen[12], 0x21, 'version 2, command PROXY')
        self.assertEqual(seen[13], 0x11, 'TCP over IPv4')
        version, src, dst, rest = read_proxy_header(seen)
        self.assertEqual((version, src, dst), (2, local, fe.address))
        self.assertEqual(rest, payload)

    def test_roundrobin(self):
        recs = [self.recorder(), self.recorder()]
        hp = HAProxy()
        fe = hp.frontend('front', backend='back')
        hp.backend('back', [('r%d' % i, '127.0.0.1', r.port) for i, r in enumerate(recs)],
                   send_proxy='v2')
        self.haproxy(hp)
        for i in range(6):
            exchange(fe.address, b'%d\n' % i + END)
        self.assertEqual([len(r.seen) for r in recs], [3, 3])
        self.assertEqual(hp.server_sessions('back'), {'r0': 3, 'r1': 3})

    def test_smtpchk(self):
        mailsinks.need_aiosmtpd(self)
        sink = mailsinks.SmtpSink()
        sink.start()
        self.addCleanup(sink.stop)
        dead = sallytest.free_port()    # nothing listens there
        hp = HAProxy()
        fe = hp.frontend('mx', backend='smtp')
        hp.backend('smtp', [('live', '127.0.0.1', sink.port), ('dead', '127.0.0.1', dead)],
                   smtpchk='haproxy.test')
        self.haproxy(hp)
        hp.wait_servers('smtp', 'UP', ['live'])
        hp.wait_servers('smtp', 'DOWN', ['dead'])
        # a DOWN server gets no client: both sessions reach the sink
        for i in range(2):
            c = self.ehlo_client(fe.port, source=CLIENT_SOURCE)
            r = c.transaction('a@example.org', ['b@example.net'],
                              b'Subject: %d\r\n\r\nbody\r\n' % i)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        self.assertEqual(len(sink.wait(2)), 2)
        # the sink saw HAProxy, not the client (no send-proxy here)
        self.assertEqual({m.peer[0] for m in sink.messages}, {'127.0.0.1'})
        # an outage is seen by the next checks
        sink.stop()
        hp.wait_servers('smtp', 'DOWN', ['live'])
        self.assertTrue(hp.wait_log(r'Server smtp/live is DOWN'), hp.log_text())


if __name__ == '__main__':
    sallytest.main()
