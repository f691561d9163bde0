"""SMTPUTF8 and 8BITMIME end to end (RFC 6531, RFC 6152).

At reception: a UTF-8 address without SMTPUTF8 on MAIL gets 553 5.6.7; a
UTF-8 sender domain is checked in DNS by its IDNA2008 A-label, against a
loopback dnsmasq that holds only the xn-- name; SMTPUTF8 and BODY= are kept
in the queue entry.

At delivery, against real aiosmtpd servers (mailsinks.py): one that offers
8BITMIME and SMTPUTF8 gets both parameters and the message byte for byte;
a strict 7-bit one (neither offered; it refuses 8-bit data) gets 8-bit
bodies converted to quoted-printable, and a message that needs SMTPUTF8
bounces with 5.6.7 instead of reaching it; mime_8bit_downgrade = bounce
bounces with 5.6.3. A UTF-8 recipient domain's MX is looked up by its
A-label, and one that is not IDNA bounces with a clear reason."""

import os
import random

import mailsinks
import sallytest
from test_delivery import DeliveryCase, SENDER

JOERG = 'j\u00f6rg'                     # a UTF-8 local part
BUECHER = 'b\u00fccher'                 # a UTF-8 label
BUECHER_A = 'xn--bcher-kva'             # its A-label (RFC 3492's example)

# A text/plain part labelled 8bit, with what quoted-printable must encode:
# UTF-8, "=", a blank at a line end, a line longer than 76 octets.
BODY_8BIT = (b'Subject: 8-bit\r\n'
             b'MIME-Version: 1.0\r\n'
             b'Content-Type: text/plain; charset=utf-8\r\n'
             b'Content-Transfer-Encoding: 8bit\r\n'
             b'\r\n'
             b'Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln = 1 \r\n'
             + b'x' * 70 + b'\xc3\xa9' * 5 + b'\r\n'
             b'.last\r\n')
BODY_8BIT_AS_QP = (b'Subject: 8-bit\r\n'
                   b'MIME-Version: 1.0\r\n'
                   b'Content-Type: text/plain; charset=utf-8\r\n'
                   b'Content-Transfer-Encoding: quoted-printable\r\n'
                   b'\r\n'
                   b'Gr=C3=BC=C3=9Fe aus K=C3=B6ln =3D 1=20\r\n'
                   + b'x' * 70 + b'=C3=\r\n=A9' + b'=C3=A9' * 4 + b'\r\n'
                   b'.last\r\n')


def transaction(c, mail_from, rcpts, msg):
    """MAIL FROM:mail_from (brackets and parameters as given), RCPT TO:
    each of rcpts, DATA and msg; the reply after the dot."""
    r = c.cmd('MAIL FROM:%s' % mail_from)
    assert r.code == 250, r
    for rcpt in rcpts:
        r = c.cmd('RCPT TO:%s' % rcpt)
        assert r.code == 250, r
    r = c.cmd('DATA')
    assert r.code == 354, r
    return c.data(msg)


def options(received):
    """MAIL's parameters at the sink, SIZE= left out."""
    return sorted(o for o in received.mail_options if not o.startswith('SIZE='))


def rest(received):
    """The message a sink got, without our Received: header."""
    return sallytest.split_received(received.content)[1]


class Reception(sallytest.TestCase):

    def test_utf8_address_without_smtputf8_is_refused(self):
        with sallytest.Server() as srv, sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.cmd('MAIL FROM:<%s@example.org>' % JOERG)
            self.assertEqual(r.text, '553 5.6.7 Non-ASCII address requires the '
                             'SMTPUTF8 parameter on MAIL')
            r = c.cmd('MAIL FROM:<a@%s.example> BODY=8BITMIME' % BUECHER)
            self.assertEqual(r.code, 553, r)
            self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
            r = c.cmd('RCPT TO:<%s@example.test>' % JOERG)
            self.assertEqual(r.text, '553 5.6.7 Non-ASCII address requires the '
                             'SMTPUTF8 parameter on MAIL')
            self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
            self.assertEqual(c.cmd('RSET').code, 250)
            self.assertEqual(c.cmd('MAIL FROM:<a@example.org> SMTPUTF8').code, 250)
            self.assertEqual(c.cmd('RCPT TO:<%s@remote.test>' % JOERG).code, 250)
        self.assertEqual(srv.queue_names(), [])

    def test_ehlo_offers_both_and_helo_neither(self):
        with sallytest.Server() as srv, sallytest.Client(srv.mx_port) as c:
            lines = c.cmd('EHLO client.example').lines
            self.assertIn('250-8BITMIME', lines)
            self.assertIn('250 SMTPUTF8', lines)
            self.assertEqual(c.cmd('HELO client.example').code, 250)
            r = c.cmd('MAIL FROM:<a@example.org> SMTPUTF8')
            self.assertEqual(r.text, '555 5.5.4 Unsupported parameter')

    def test_utf8_sender_domain_is_checked_by_its_a_label(self):
        with sallytest.Dnsmasq(hosts={BUECHER_A + '.example': '192.0.2.25'}) as dns, \
                sallytest.Server(dns_servers=dns.server,
                                 mynetworks='127.0.0.1/32') as srv:
            with sallytest.Client(srv.mx_port, source='127.0.0.2') as c:
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                r = c.cmd('MAIL FROM:<a@%s.example> SMTPUTF8' % BUECHER)
                self.assertEqual(r.text, '250 2.1.0 Ok')
                self.assertEqual(c.cmd('RSET').code, 250)
                # not in DNS: refused after asking for its A-label
                r = c.cmd('MAIL FROM:<a@m\u00fcller.example> SMTPUTF8')
                self.assertEqual(r.text, '501 5.1.8 Sender domain must exist')
                # not IDNA at all (U+2665): refused without asking
                r = c.cmd('MAIL FROM:<a@i\u2665mail.example> SMTPUTF8')
                self.assertEqual(r.text, '553 5.1.7 Sender domain is not a valid '
                                 'internationalized domain name (IDNA2008)')
            log = dns.log_text()
            self.assertIn(BUECHER_A + '.example', log)
            self.assertIn('xn--mller-kva.example', log)
            self.assertNotIn('mail.example', log.replace('xn--', ''))

    def test_queue_entry_keeps_smtputf8_and_body(self):
        with sallytest.Server() as srv, sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = transaction(c, '<%s@example.org> SMTPUTF8 BODY=8BITMIME' % JOERG,
                              ['<user@example.test>'], BODY_8BIT)
            self.assertEqual(r.code, 250, r)
            r = transaction(c, '<a@example.org> BODY=7BIT', ['<user@example.test>'],
                              b'Subject: x\r\n\r\nx\r\n')
            self.assertEqual(r.code, 250, r)
            r = transaction(c, '<a@example.org>', ['<user@example.test>'],
                              b'Subject: x\r\n\r\nx\r\n')
            self.assertEqual(r.code, 250, r)
            srv.wait_queue(3)
            entries = srv.queue_entries()
        self.assertEqual(len(entries), 3)
        by_from = {e.header['from']: e for e in entries}
        e = by_from[JOERG + '@example.org']
        self.assertEqual(e.header.get('smtputf8'), 'yes')
        self.assertEqual(e.header.get('body'), '8BITMIME')
        self.assertEqual(e.split()[1], BODY_8BIT)
        seven = [e for e in entries if e.header['from'] == 'a@example.org']
        self.assertEqual(sorted(e.header.get('body', '-') for e in seven), ['-', '7BIT'])
        self.assertFalse(any('smtputf8' in e.header for e in seven))


class Delivery(DeliveryCase):

    def transaction(self, srv, mail_from, rcpts, msg):
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = transaction(c, mail_from, rcpts, msg)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        return r.queue_id()

    def test_utf8_form_of_a_local_domain_is_local(self):
        # local_domains holds the A-label (xn--) form; RCPT in UTF-8 names
        # the same domain: accepted from anyone, into the same Maildir
        dom_a = BUECHER_A + '.example'
        srv = self.daemon(local_domains='example.test ' + dom_a,
                          mynetworks='127.0.0.1/32')
        with sallytest.Client(srv.mx_port, source='127.0.0.2') as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.cmd('MAIL FROM:<a@example.test> SMTPUTF8')
            self.assertEqual(r.code, 250, r)
            r = c.cmd('RCPT TO:<user@%s.example>' % BUECHER)
            self.assertEqual(r.text, '250 2.1.5 Ok')
            r = c.cmd('RCPT TO:<other@%s.example>' % BUECHER.upper())
            self.assertEqual(r.text, '250 2.1.5 Ok')
            r = c.cmd('RCPT TO:<nobody@%s.example>' % BUECHER)
            self.assertEqual(r.code, 550, r)
            r = c.cmd('RCPT TO:<user@m\u00fcnchen.example>')
            self.assertEqual(r.text, '550 5.7.1 Relaying denied')
            self.assertEqual(c.cmd('DATA').code, 354)
            self.assertEqual(c.data(b'Subject: one\r\n\r\nutf-8\r\n').code, 250)
            r = transaction(c, '<a@example.test>', ['<user@%s>' % dom_a],
                            b'Subject: two\r\n\r\nascii\r\n')
            self.assertEqual(r.code, 250, r)
        got = self.mailbox('user', 2, domain=dom_a)
        self.assertEqual(len(got), 2, srv.log_text()[-2000:])
        self.assertEqual(sorted(m.split(b'Subject: ')[1][:3] for m in got),
                         [b'one', b'two'])
        self.assertEqual(len(self.mailbox('other', domain=dom_a)), 1)
        self.assertEqual([p for p in self.all_maildir_files()
                          if dom_a not in p], [])

    def test_8bit_body_converted_for_a_7bit_server(self):
        sink = self.sink(eightbitmime=False)
        srv = self.smarthost(sink)
        qid = self.transaction(srv, '<%s> BODY=8BITMIME' % SENDER,
                               ['<friend@remote.test>'], BODY_8BIT)
        got = sink.wait(1)
        self.assertEqual(len(got), 1, srv.log_text()[-2000:])
        self.assertEqual(options(got[0]), [])
        self.assertEqual(rest(got[0]), BODY_8BIT_AS_QP)
        self.status_line(srv, qid, 'friend@remote.test', 'sent')

    def test_8bit_and_utf8_unchanged_for_a_server_that_offers_both(self):
        sink = self.sink(smtputf8=True)
        srv = self.smarthost(sink)
        rcpt = '%s@%s.remote.test' % (JOERG, BUECHER)
        qid = self.transaction(srv, '<%s> SMTPUTF8 BODY=8BITMIME' % SENDER,
                               ['<%s>' % rcpt], BODY_8BIT)
        got = sink.wait(1)
        self.assertEqual(len(got), 1, srv.log_text()[-2000:])
        self.assertEqual(options(got[0]), ['BODY=8BITMIME', 'SMTPUTF8'])
        self.assertEqual(got[0].rcpt_tos, [rcpt])
        self.assertEqual(rest(got[0]), BODY_8BIT)
        self.status_line(srv, qid, rcpt, 'sent')

    def test_utf8_recipient_bounces_at_a_server_without_smtputf8(self):
        sink = self.sink(eightbitmime=False)
        srv = self.smarthost(sink)
        rcpt = '%s@remote.test' % JOERG
        qid = self.transaction(srv, '<%s> SMTPUTF8' % SENDER, ['<%s>' % rcpt],
                               b'Subject: x\r\n\r\nhello\r\n')
        line = self.status_line(srv, qid, rcpt, 'bounced')
        self.assertIn('550 5.6.7 SMTPUTF8 is required, but was not offered by host',
                      line)
        dsn = self.mailbox('sender')
        self.assertEqual(len(dsn), 1)
        self.assertIn(b'Status: 5.6.7', dsn[0])
        # our verdict, not posing as the server's reply (RFC 3464 2.3.6)
        self.assertIn(b'Diagnostic-Code: X-Sallyport; SMTPUTF8 is required', dsn[0])
        self.assertEqual(sink.messages, [], 'it reached the 7-bit server')
        self.wait_gone(srv, qid)

    def test_mime_8bit_downgrade_bounce(self):
        sink = self.sink(eightbitmime=False)
        srv = self.smarthost(sink, mime_8bit_downgrade='bounce')
        qid = self.transaction(srv, '<%s> BODY=8BITMIME' % SENDER,
                               ['<friend@remote.test>'], BODY_8BIT)
        line = self.status_line(srv, qid, 'friend@remote.test', 'bounced')
        self.assertIn('554 5.6.3 8-bit content, but host', line)
        self.assertIn('mime_8bit_downgrade = bounce', line)
        dsn = self.mailbox('sender')
        self.assertIn(b'Status: 5.6.3', dsn[0])
        # a 7-bit message still goes
        qid = self.transaction(srv, '<%s>' % SENDER, ['<friend@remote.test>'],
                               b'Subject: plain\r\n\r\nplain = ascii \r\n')
        got = sink.wait(1)
        self.assertEqual([rest(m) for m in got],
                         [b'Subject: plain\r\n\r\nplain = ascii \r\n'])
        self.status_line(srv, qid, 'friend@remote.test', 'sent')

    def mx_sink(self, **kw):
        """A sink on port 25 of an unused loopback address, and that address."""
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sink must listen on port 25')
        for _ in range(5):
            addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                     random.randint(2, 254))
            try:
                return self.sink(host=addr, port=25, **kw), addr
            except OSError:
                continue
        self.fail('no free loopback address for port 25')

    def test_utf8_recipient_domain_mx_by_its_a_label(self):
        sink, addr = self.mx_sink(smtputf8=True)
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx.remote.test': addr}),
            mx=dict(sallytest.SHARED_DNS_MX, **{BUECHER_A + '.test': 'mx.remote.test'}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server)
        good = 'friend@%s.test' % BUECHER
        bad = 'friend@i\u2665mail.test'
        qid = self.transaction(srv, '<%s> SMTPUTF8' % SENDER, ['<%s>' % good],
                               b'Subject: x\r\n\r\nhello\r\n')
        got = sink.wait(1)
        self.assertEqual([m.rcpt_tos for m in got], [[good]], srv.log_text()[-2000:])
        self.assertEqual(options(got[0]), ['SMTPUTF8'])
        self.assertIn('mx.remote.test', self.status_line(srv, qid, good, 'sent'))
        qid = self.transaction(srv, '<%s> SMTPUTF8' % SENDER, ['<%s>' % bad],
                               b'Subject: x\r\n\r\nhello\r\n')
        line = self.status_line(srv, qid, bad, 'bounced')
        self.assertIn('550 5.1.2 recipient domain is not a valid internationalized '
                      'domain name (IDNA2008)', line)


if __name__ == '__main__':
    sallytest.main()
