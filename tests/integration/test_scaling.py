#!/usr/bin/env python3
"""Two sallyport nodes behind HAProxy, as doc/scaling.md describes them.

One machine plays the site: the nodes listen on 127.0.0.11 and
127.0.0.12 (`listen = ADDR:PORT mx proxy`, `proxy_trusted =
127.0.0.1/32`), each with its own queue_dir and the same configuration
otherwise; a real HAProxy on 127.0.0.1 balances them round robin with
send-proxy-v2 and health-checks them with option smtpchk, connecting
from 127.0.0.1; both nodes relay to one smarthost sink. A client on
127.0.0.21, outside mynetworks, sends forty messages for a relay domain
through HAProxy, one connection each. Then the sink has every message
exactly once (by Message-ID), both nodes took some (each node's log
names the queue ids it accepted, and those are the ids in the delivered
messages' Received fields), every Received field names the client at
127.0.0.21, not the balancer, and both queues are empty.
"""

import collections
import re

import mailsinks
import sallytest
from sallytest_haproxy import HAProxy
from sallytest_queue import unfold

NODES = ('127.0.0.11', '127.0.0.12')
BALANCER = '127.0.0.1'          # HAProxy's address towards the nodes
CLIENT = '127.0.0.21'           # the real client, behind the balancer
MESSAGES = 40
RELAY_DOMAIN = 'relay.test'
DELIVERY_WAIT = 60              # seconds for every message to reach the sink
ACCEPTED = r's=[0-9a-f]+ id=([0-9A-F]{16}) accepted: '


def message(n):
    mid = '<scaling-%d@client.example>' % n
    return mid, ('From: <a@example.org>\r\nTo: <user@%s>\r\nSubject: %d\r\n'
                 'Message-ID: %s\r\n\r\nmessage %d through the balancer\r\n'
                 % (RELAY_DOMAIN, n, mid, n)).encode()


class ScalingTest(sallytest.TestCase):

    def setUp(self):
        mailsinks.need_aiosmtpd(self)
        self.sink = mailsinks.SmtpSink()
        self.sink.start()
        self.addCleanup(self.sink.stop)

    def node(self, addr):
        """A node: a proxy listener on addr (and the plain 127.0.0.1
        listener sallytest starts every Server with, which only the
        start-up's readiness check uses), relaying through the sink."""
        port = sallytest.free_port(addr)
        srv = sallytest.Server(
            extra_listen=['%s:%d mx proxy' % (addr, port)], submission=False,
            proxy_trusted='%s/32' % BALANCER,
            mynetworks='192.0.2.0/24',
            relay_domains=RELAY_DOMAIN,
            delivery='yes', smarthost=self.sink.smarthost, smarthost_tls='none',
            retry_min='1s', retry_max='1m')
        self.addCleanup(self._close_server, srv)
        srv.start()
        return srv, port

    def test_two_nodes_behind_haproxy(self):
        nodes = [self.node(addr) for addr in NODES]
        hp = HAProxy()
        self.addCleanup(hp.close)
        front = hp.frontend('mx', backend='nodes', host=BALANCER)
        hp.backend('nodes', [('node%d' % i, addr, port)
                             for i, (addr, (_, port)) in enumerate(zip(NODES, nodes), 1)],
                   send_proxy='v2', smtpchk='haproxy.test', source=BALANCER)
        hp.start()
        # both nodes answer HAProxy's checks through their proxy listeners
        hp.wait_servers('nodes', 'UP')

        sent = {}
        for n in range(MESSAGES):
            mid, msg = message(n)
            with sallytest.Client(front.port, host=front.host, source=CLIENT) as c:
                self.assertEqual(c.greeting.code, 220, c.greeting)
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                r = c.transaction('a@example.org', ['user@%s' % RELAY_DOMAIN], msg)
                self.assertEqual(r.code, 250, r)
                c.cmd('QUIT')
            sent[mid] = r.queue_id()

        # every node delivers what it took: both queues empty, and after
        # that nothing more can reach the sink
        for srv, _ in nodes:
            self.assertTrue(sallytest.wait_until(srv.delivered_all, DELIVERY_WAIT),
                            'node queue not empty: %r' % srv.queue_names())
        got = self.sink.wait(MESSAGES, timeout=DELIVERY_WAIT)
        counts = collections.Counter(m.header('Message-ID') for m in got)
        self.assertEqual(dict(counts), {mid: 1 for mid in sent})

        # both nodes took some: each node's log names its own queue ids
        taken = [set(re.findall(ACCEPTED, srv.log_text())) for srv, _ in nodes]
        self.assertTrue(all(taken), 'a node took nothing: %r' % [len(t) for t in taken])
        self.assertFalse(taken[0] & taken[1])
        self.assertEqual(taken[0] | taken[1], set(sent.values()))

        # each message: its node's Received field, with the real client
        for m in got:
            head = unfold(m.content.split(b'\r\n\r\n', 1)[0])
            received = [f for f in head.split('\r\n') if f.startswith('Received:')]
            self.assertEqual(len(received), 1, head)
            line = received[0]
            self.assertRegex(line, r'^Received: from client\.example \(\[%s\]\)'
                             % re.escape(CLIENT))
            self.assertRegex(line, r'\sby %s \(sallyport\) with ESMTP id %s\s'
                             % (re.escape(sallytest.SERVER_NAME), sent[m.header('Message-ID')]))


if __name__ == '__main__':
    sallytest.main()
