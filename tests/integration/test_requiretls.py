"""REQUIRETLS and TLS-Required (RFC 8689) against the real daemon.

Reception: REQUIRETLS is offered inside TLS only; MAIL ... REQUIRETLS in
clear is refused with 5.7.10; inside TLS it is kept with the queue entry,
as is a "TLS-Required: No" header field, and `sallyport --queue list`
shows either.

Every connection stays on 127.0.0.1; the certificate comes from the
throw-away CA of sallytest.tls_files()."""

import json
import subprocess

import sallytest

MSG = (b'From: alice@example.test\r\nTo: u@example.test\r\nSubject: secret\r\n\r\n'
       b'for your eyes only\r\n')
R_NEEDS_TLS = '530 5.7.10 REQUIRETLS needs a TLS session: STARTTLS first'


def keywords(reply):
    """The extension keywords of an EHLO reply."""
    return [ln[4:].split(' ')[0].upper() for ln in reply.lines[1:]]


def queue_list(srv, *args):
    """sallyport --queue list ARGS: its standard output."""
    p = subprocess.run([sallytest.binary(), '--queue', 'list'] + list(args) +
                       ['-c', srv.conf_path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p
    return p.stdout.decode()


class Reception(sallytest.TestCase):

    def setUp(self):
        self.srv = self.server()

    def tls_client(self):
        c = self.ehlo_client(self.srv.mx_port)
        c.starttls()
        return c

    def test_offered_inside_tls_only(self):
        c = self.ehlo_client(self.srv.mx_port)
        r = c.cmd('EHLO client.example')
        self.assertIn('STARTTLS', keywords(r))
        self.assertNotIn('REQUIRETLS', keywords(r))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org> REQUIRETLS').last, R_NEEDS_TLS)
        # nothing of the refused transaction is left over
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 503)
        c.starttls()
        r = c.cmd('EHLO client.example')
        self.assertIn('REQUIRETLS', keywords(r))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org> REQUIRETLS=YES').last,
                         '501 5.5.4 Bad REQUIRETLS parameter: it takes no value')
        c.cmd('QUIT')
        self.assertRegex(self.srv.log_text(),
                         r'reject: MAIL from \[127\.0\.0\.1\]: 530 5\.7\.10 REQUIRETLS')
        # the submission listener offers it inside TLS too
        s = self.ehlo_client(self.srv.sub_port)
        self.assertNotIn('REQUIRETLS', keywords(s.cmd('EHLO client.example')))
        s.starttls()
        self.assertIn('REQUIRETLS', keywords(s.cmd('EHLO client.example')))
        s.cmd('QUIT')

    def test_kept_with_the_entry_and_listed(self):
        c = self.tls_client()
        c.cmd('EHLO client.example')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org> REQUIRETLS').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        # RFC 8689 5: with REQUIRETLS on MAIL the header field is ignored
        r = c.data(b'TLS-Required: No\r\n' + MSG)
        self.assertEqual(r.code, 250, r)
        strict = r.queue_id()
        r = c.transaction('b@example.org', ['u@example.test'], b'TLS-Required: No\r\n' + MSG)
        self.assertEqual(r.code, 250, r)
        optional = r.queue_id()
        r = c.transaction('c@example.org', ['u@example.test'], MSG)
        self.assertEqual(r.code, 250, r)
        plain = r.queue_id()
        c.cmd('QUIT')

        e = self.srv.queue_entry(strict)
        self.assertEqual(e.header.get('requiretls'), 'yes')
        self.assertNotIn('tlsrequired', e.header)
        e = self.srv.queue_entry(optional)
        self.assertNotIn('requiretls', e.header)
        self.assertEqual(e.header.get('tlsrequired'), 'off')
        self.assertIn(b'\r\nTLS-Required: No\r\n', e.body)    # the field stays
        e = self.srv.queue_entry(plain)
        self.assertEqual(e.header.get('tlsrequired'), 'yes')

        out = queue_list(self.srv)
        blocks = {b.split('\n')[0]: b for b in out.split('\n\n')}
        self.assertIn('\n  tls       REQUIRETLS\n', blocks[strict])
        self.assertIn('\n  tls       TLS-Required: No\n', blocks[optional])
        self.assertNotIn('\n  tls ', blocks[plain])
        doc = {e['id']: e for e in json.loads(queue_list(self.srv, '--json'))['entries']}
        self.assertEqual(doc[strict]['tls'], 'REQUIRETLS')
        self.assertEqual(doc[optional]['tls'], 'TLS-Required: No')
        self.assertIsNone(doc[plain]['tls'])
        self.assertRegex(self.srv.log_text(), r'id=%s TLS-Required: No: DANE and MTA-STS '
                         r'failures are ignored' % optional)


if __name__ == '__main__':
    sallytest.main()
