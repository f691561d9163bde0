#!/usr/bin/env python3
"""DNS blocklists at connect (doc/filtering.md): a real DNS server
(dnsmasq) on loopback serves a test blocklist (bl.test), a second list
(two.test), a whitelist (wl.test) and a zone whose server never answers
(slow.test); clients connect from chosen 127.0.0.x addresses and from
::1. mynetworks holds only 127.0.0.1, so the other addresses are
strangers, checked on the mx listener."""

import socket
import unittest

import sallytest
from sallytest_env import ipv6_loopback


def v4_name(addr, zone):
    return '.'.join(reversed(addr.split('.'))) + '.' + zone


def v6_name(addr, zone):
    packed = socket.inet_pton(socket.AF_INET6, addr)
    nibbles = []
    for byte in reversed(packed):
        nibbles += ['%x' % (byte & 15), '%x' % (byte >> 4)]
    return '.'.join(nibbles) + '.' + zone


HOSTS = {
    v4_name('127.0.0.2', 'bl.test'): '127.0.0.2',
    v4_name('127.0.0.3', 'bl.test'): '127.0.0.3',
    v4_name('127.0.0.4', 'bl.test'): '127.0.0.10',
    v4_name('127.0.0.5', 'bl.test'): '127.255.255.254',   # an error code
    v4_name('127.0.0.6', 'bl.test'): '127.0.0.2',
    v4_name('127.0.0.6', 'two.test'): '127.0.0.2',
    v4_name('127.0.0.7', 'bl.test'): '127.0.0.2',
    v4_name('127.0.0.7', 'wl.test'): '127.0.0.2',
    v4_name('127.0.0.1', 'bl.test'): '127.0.0.2',         # but mynetworks
    v6_name('::1', 'bl.test'): '127.0.0.2',
    'sender.test': '192.0.2.80',            # the sender's domain
}
RCPT = 'user@example.test'


def blocked(ip, zone):
    return '554 5.7.1 Service unavailable; client [%s] blocked using %s' % (ip, zone)


class Base(sallytest.TestCase):
    def setUp(self):
        # Questions for slow.test go to a socket that never answers.
        self.hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hole.bind(('127.0.0.1', 0))
        self.addCleanup(self.hole.close)
        self.dns = self.dnsmasq(hosts=HOSTS, servers={
            'slow.test': '127.0.0.1#%d' % self.hole.getsockname()[1]})

    def start(self, **conf):
        conf.setdefault('dns_servers', self.dns.server)
        conf.setdefault('mynetworks', '127.0.0.1/32')
        conf.setdefault('workers', '1')
        return self.server(**conf)

    def assert_refused(self, srv, source, zone, port=None, host='127.0.0.1'):
        c = self.client(port or srv.mx_port, source=source, host=host)
        self.assertEqual(c.greeting.code, 220, c.greeting)
        r = c.cmd('EHLO client.example')
        self.assertEqual(r.last, blocked(source, zone))
        # every later command but QUIT
        r = c.cmd('MAIL FROM:<a@sender.test>')
        self.assertEqual(r.last, blocked(source, zone))
        self.assertEqual(c.cmd('QUIT').code, 221)
        return c

    def assert_served(self, srv, source, port=None, host='127.0.0.1'):
        """A whole session: the message is queued."""
        c = self.client(port or srv.mx_port, source=source, host=host)
        for line in ('EHLO client.example', 'MAIL FROM:<a@sender.test>',
                     'RCPT TO:<%s>' % RCPT):
            r = c.cmd(line)
            self.assertEqual(r.code, 250, (r, srv.log_text()[-2000:]))
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.cmd('Subject: hi\r\n\r\nHello.\r\n.')
        self.assertEqual(r.code, 250, r)
        c.cmd('QUIT')
        return c


class Listing(Base):
    def test_listed_refused_at_first_command(self):
        srv = self.start(dnsbl='bl.test')
        self.assert_refused(srv, '127.0.0.2', 'bl.test')
        self.assertTrue(srv.wait_log(
            r'dnsbl: client \[127\.0\.0\.2\] score 1 \(threshold 1\), '
            r'listed by bl\.test\*1: refused'), srv.log_text())
        self.assertEqual(srv.queue_names(), [])

    def test_unlisted_served(self):
        srv = self.start(dnsbl='bl.test')
        self.assert_served(srv, '127.0.0.9')
        self.assertEqual(len(srv.wait_queue(1)), 1)
        self.assertNotIn('dnsbl:', srv.log_text())

    def test_ipv6_client(self):
        if not ipv6_loopback():
            raise unittest.SkipTest('no IPv6 loopback')
        port = sallytest.free_port('::1')
        srv = self.start(dnsbl='bl.test',
                         extra_listen=['[::1]:%d mx' % port])
        self.assert_refused(srv, '::1', 'bl.test', port=port, host='::1')

    def test_reply_text(self):
        srv = self.start(dnsbl='bl.test',
                         dnsbl_reply='Listed; see https://bl.test/lookup')
        c = self.client(srv.mx_port, source='127.0.0.2')
        self.assertEqual(c.cmd('EHLO client.example').last,
                         '554 5.7.1 Listed; see https://bl.test/lookup')

    def test_pipelined_before_the_verdict(self):
        # the first command waits for the verdict, whatever comes with it
        srv = self.start(dnsbl='bl.test')
        c = self.client(srv.mx_port, source='127.0.0.2')
        c.send('EHLO client.example\r\nNOOP\r\nQUIT\r\n')
        self.assertEqual(c.reply().last, blocked('127.0.0.2', 'bl.test'))
        self.assertEqual(c.reply().last, blocked('127.0.0.2', 'bl.test'))
        self.assertEqual(c.reply().code, 221)


class Scoring(Base):
    def test_weights_reach_threshold(self):
        srv = self.start(dnsbl='bl.test*2 two.test*2', dnsbl_threshold='3')
        # listed by bl.test only: 2 < 3
        self.assert_served(srv, '127.0.0.2')
        self.assertTrue(srv.wait_log(r'client \[127\.0\.0\.2\] score 2 '
                                     r'\(threshold 3\), listed by bl\.test\*2: passed'))
        # listed by both: 4
        self.assert_refused(srv, '127.0.0.6', 'bl.test')
        self.assertTrue(srv.wait_log(
            r'client \[127\.0\.0\.6\] score 4 \(threshold 3\), listed by '
            r'bl\.test\*2 two\.test\*2: refused'), srv.log_text())

    def test_whitelist_cancels(self):
        srv = self.start(dnsbl='bl.test wl.test*-1')
        self.assert_served(srv, '127.0.0.7')
        self.assertTrue(srv.wait_log(
            r'client \[127\.0\.0\.7\] score 0 \(threshold 1\), listed by '
            r'bl\.test\*1 wl\.test\*-1: passed'), srv.log_text())
        # not on the whitelist: refused
        self.assert_refused(srv, '127.0.0.2', 'bl.test')

    def test_filter_selects_codes(self):
        srv = self.start(dnsbl='bl.test=127.0.0.[2..3]')
        self.assert_refused(srv, '127.0.0.3', 'bl.test')
        self.assert_served(srv, '127.0.0.4')     # answered 127.0.0.10
        srv2 = self.start(dnsbl='bl.test=127.0.0.[9;10..11]')
        self.assert_refused(srv2, '127.0.0.4', 'bl.test')
        self.assert_served(srv2, '127.0.0.3')


class Failures(Base):
    def test_zone_never_answers(self):
        srv = self.start(dnsbl='slow.test bl.test', dnsbl_timeout='12s',
                         dns_timeout='30s')
        c = self.client(srv.mx_port, source='127.0.0.2')
        # the greeting came while slow.test's question was still out
        self.assertEqual(c.greeting.code, 220)
        self.assertNotIn('did not answer', srv.log_text())
        self.assertTrue(sallytest.wait_until(
            lambda: 'slow.test' in self.dns.log_text(), 10),
            'the question goes to the silent server')
        # an unlisted client's greeting does not wait either
        c2 = self.client(srv.mx_port, source='127.0.0.9')
        self.assertEqual(c2.greeting.code, 220)
        self.assertNotIn('did not answer for [127.0.0.9]', srv.log_text())
        # the first command waits for the verdict: slow.test not
        # listing, bl.test listing
        r = c.cmd('EHLO client.example')
        self.assertEqual(r.last, blocked('127.0.0.2', 'bl.test'))
        self.assertTrue(srv.wait_log(
            r'dnsbl: slow\.test did not answer for \[127\.0\.0\.2\] within '
            r'dnsbl_timeout \(12s\); taken as not listed'), srv.log_text())
        # the unlisted one is served once its own verdict is in
        self.assertEqual(c2.cmd('EHLO client.example').code, 250)
        self.assertTrue(srv.wait_log(r'slow\.test did not answer for '
                                     r'\[127\.0\.0\.9\]'), srv.log_text())
        self.assertEqual(c2.cmd('MAIL FROM:<a@sender.test>').code, 250)

    def test_error_code_is_no_listing(self):
        srv = self.start(dnsbl='bl.test')
        self.assert_served(srv, '127.0.0.5')
        self.assert_served(srv, '127.0.0.5')
        log = srv.log_text()
        self.assertEqual(log.count('dnsbl: bl.test answered error code '
                                   '127.255.255.254'), 1, log)
        self.assertNotIn('score', log)


class NeverRefused(Base):
    def test_mynetworks_and_submission(self):
        srv = self.start(dnsbl='bl.test')
        # 127.0.0.1 is listed in bl.test, but in mynetworks
        c = self.client(srv.mx_port, source='127.0.0.1')
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        # 127.0.0.2 is listed, on the submission listener: AUTH works
        a = self.auth_client(srv.sub_port, source='127.0.0.2')
        self.assertEqual(a.cmd('MAIL FROM:<a@example.test>').code, 250)
        self.assertNotIn('blocked using', srv.log_text())


if __name__ == '__main__':
    sallytest.main()
