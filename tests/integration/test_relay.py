"""Relay control: who may send to which domains."""

import sallytest

UNTRUSTED = '192.0.2.0/24'     # TEST-NET-1: never the loopback clients


def rcpt(client, address):
    """MAIL (once per transaction, via RSET) and RCPT; returns the RCPT reply."""
    r = client.cmd('RSET')
    assert r.code == 250, r
    r = client.cmd('MAIL FROM:<sender@example.org>')
    assert r.code == 250, r
    return client.cmd('RCPT TO:<%s>' % address)


class Relay(sallytest.TestCase):

    def assert_denied(self, r):
        self.assertEqual(r.code, 550, r)
        self.assertTrue(r.last.startswith('550 5.7.1 '), r)

    def test_untrusted_client_cannot_relay(self):
        srv = self.server(mynetworks=UNTRUSTED)
        c = self.ehlo_client(srv.mx_port)
        self.assert_denied(rcpt(c, 'user@example.org'))
        # The submission port does not even take MAIL without AUTH, with
        # TLS or without; after AUTH the user may relay (test_tls_auth.py).
        s = self.ehlo_client(srv.sub_port)
        self.assertEqual(s.cmd('MAIL FROM:<sender@example.org>').last,
                         '530 5.7.0 Authentication required')
        s.starttls()
        self.assertEqual(s.cmd('EHLO client.example').code, 250)
        self.assertEqual(s.cmd('MAIL FROM:<sender@example.org>').last,
                         '530 5.7.0 Authentication required')
        self.assertEqual(s.cmd('RCPT TO:<user@example.org>').code, 503)

    def test_untrusted_client_to_local_domain(self):
        srv = self.server(mynetworks=UNTRUSTED)
        c = self.ehlo_client(srv.mx_port)
        for address in ['user@example.test', 'User@EXAMPLE.TEST', 'postmaster@Example.Test']:
            self.assertEqual(rcpt(c, address).code, 250, address)
        r = rcpt(c, 'user@example.test')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(b'Subject: local\r\n\r\nfor a local user\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.queue_entry(r.queue_id()).rcpts, ['user@example.test'])

    def test_relay_domains_from_anyone(self):
        srv = self.server(mynetworks=UNTRUSTED, relay_domains='relay.example')
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(rcpt(c, 'user@relay.example').code, 250)
        self.assert_denied(rcpt(c, 'user@sub.relay.example'))
        self.assert_denied(rcpt(c, 'user@example.org'))

    def test_subdomain_is_not_local(self):
        srv = self.server(mynetworks=UNTRUSTED)
        c = self.ehlo_client(srv.mx_port)
        self.assert_denied(rcpt(c, 'user@sub.example.test'))
        self.assert_denied(rcpt(c, 'user@notexample.test'))

    def test_source_route_and_quoting_seen_through(self):
        # RFC 5321: a source route is ignored, the mailbox is what counts; a
        # quoted local part may contain "@" without changing the domain.
        srv = self.server(mynetworks=UNTRUSTED)
        c = self.ehlo_client(srv.mx_port)
        for address in ['@example.test:user@example.org',
                        '@example.test,@relay.example:user@example.org',
                        '"user@example.test"@example.org']:
            r = rcpt(c, address)
            self.assertGreaterEqual(r.code, 500, (address, r))
        r = rcpt(c, '"plain.name"@example.test')
        self.assertEqual(r.code, 250, r)
        # Ours, so not a relay refusal; but no mailbox has such a name
        # (doc/policy.md), so it is refused now rather than bounced later.
        r = rcpt(c, '"odd local part"@example.test')
        self.assertEqual(r.last, '550 5.1.1 User unknown', r)

    def test_percent_and_bang_routing_not_relayed(self):
        # design.md: relay is decided on the final domain after the parser
        # has seen through "%" and "!" routing in the local part.
        srv = self.server(mynetworks=UNTRUSTED)
        c = self.ehlo_client(srv.mx_port)
        for address in ['user%example.org@example.test',
                        'example.org!user@example.test']:
            r = rcpt(c, address)
            self.assertGreaterEqual(r.code, 500, (address, r))
        self.assertEqual(srv.queue_names(), [])

    def test_trusted_client_relays(self):
        srv = self.server()     # default mynetworks: 127.0.0.0/8 ::1/128
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.test', ['user@example.org', 'local@example.test'],
                          b'Subject: outbound\r\n\r\nrelayed\r\n')
        self.assertEqual(r.code, 250, r)
        e = srv.queue_entry(r.queue_id())
        self.assertEqual(e.rcpts, ['user@example.org', 'local@example.test'])

    def test_source_address_decides(self):
        srv = self.server(mynetworks='127.0.0.1/32')
        other = self.ehlo_client(srv.mx_port, source='127.0.0.2')
        self.assert_denied(rcpt(other, 'user@example.org'))
        self.assertEqual(rcpt(other, 'user@example.test').code, 250)
        self.assertEqual(other.cmd('DATA').code, 354)
        r = other.data(b'Subject: from .2\r\n\r\nx\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.queue_entry(r.queue_id()).header['client'], '127.0.0.2')
        trusted = self.ehlo_client(srv.mx_port, source='127.0.0.1')
        self.assertEqual(rcpt(trusted, 'user@example.org').code, 250)

    def test_ipv6_loopback(self):
        if not sallytest.ipv6_loopback():
            self.skipTest('IPv6 loopback (::1) is not available')
        port = sallytest.free_port('::1')
        srv = self.server(extra_listen=['[::1]:%d mx' % port], mynetworks='127.0.0.0/8')
        c = self.ehlo_client(port, host='::1')
        self.assert_denied(rcpt(c, 'user@example.org'))
        r = rcpt(c, 'user@example.test')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(b'Subject: v6\r\n\r\nover ::1\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.queue_entry(r.queue_id()).header['client'], '::1')

    def test_ipv6_trusted(self):
        if not sallytest.ipv6_loopback():
            self.skipTest('IPv6 loopback (::1) is not available')
        port = sallytest.free_port('::1')
        srv = self.server(extra_listen=['[::1]:%d mx' % port], mynetworks='::1/128')
        c = self.ehlo_client(port, host='::1')
        self.assertEqual(rcpt(c, 'user@example.org').code, 250)
        v4 = self.ehlo_client(srv.mx_port)
        self.assert_denied(rcpt(v4, 'user@example.org'))


if __name__ == '__main__':
    sallytest.main()
