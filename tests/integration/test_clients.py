"""Real SMTP clients against sallyport: swaks, curl and Python's smtplib.

A missing client skips its test, unless SALLYPORT_REQUIRE_CLIENTS is set
(contrib/install-deps installs them, so they run in CI). The submission
port wants TLS and a login: there smtplib does starttls() and login();
test_tls_auth.py has the same clients over TLS and with AUTH."""

import os
import smtplib

import sallytest
from sallytest import CRLF


class Clients(sallytest.TestCase):

    def setUp(self):
        self.srv = self.server()

    def run_client(self, argv):
        return super().run_client(argv, self.srv.dir)

    def only_entry(self):
        self.srv.wait_queue(1)
        entries = self.srv.queue_entries()
        self.assertEqual(len(entries), 1, [e.name for e in entries])
        return entries[0]

    def test_swaks(self):
        swaks = self.need('swaks')
        msg_path = os.path.join(self.srv.dir, 'swaks-msg.txt')
        with open(msg_path, 'w') as f:
            f.write('From: a@example.org\nTo: u@example.test\nSubject: from swaks\n\n'
                    'hello from swaks\n.leading dot\nbye')
        out = self.run_client([swaks, '--server', '127.0.0.1:%d' % self.srv.mx_port,
                               '--helo', 'swaks.example', '--from', 'a@example.org',
                               '--to', 'u@example.test', '--data', msg_path])
        self.assertIn('queued as', out)
        e = self.only_entry()
        self.assertIn('queued as %s' % e.name, out)
        self.assertEqual(e.header['helo'], 'swaks.example')
        self.assertEqual(e.header['from'], 'a@example.org')
        self.assertEqual(e.rcpts, ['u@example.test'])
        _, rest = e.split()
        # swaks sends the file with CRLF line ends (and would add an empty
        # line had the file ended with a newline).
        self.assertEqual(rest, b'From: a@example.org\r\nTo: u@example.test\r\n'
                               b'Subject: from swaks\r\n\r\nhello from swaks\r\n'
                               b'.leading dot\r\nbye\r\n')

    def test_swaks_body_option(self):
        swaks = self.need('swaks')
        out = self.run_client([swaks, '--server', '127.0.0.1:%d' % self.srv.mx_port,
                               '--helo', 'swaks.example', '--from', 'a@example.org',
                               '--to', 'u@example.test', '--body', 'body text from swaks'])
        e = self.only_entry()
        self.assertIn('queued as %s' % e.name, out)
        _, rest = e.split()
        self.assertIn(b'\r\n\r\nbody text from swaks\r\n', rest)
        self.assertNotIn(b'\n', rest.replace(CRLF, b''))

    def test_curl(self):
        curl = self.need('curl')
        msg = (b'From: a@example.org\r\nTo: u@example.test\r\nSubject: from curl\r\n\r\n'
               b'hello from curl\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n')
        msg_path = os.path.join(self.srv.dir, 'curl-msg.txt')
        with open(msg_path, 'wb') as f:
            f.write(msg)
        self.run_client([curl, '-q', '-s', '-S', '--noproxy', '*',
                         '--url', 'smtp://127.0.0.1:%d/client.example' % self.srv.mx_port,
                         '--mail-from', 'a@example.org', '--mail-rcpt', 'u@example.test',
                         '--upload-file', msg_path])
        e = self.only_entry()
        self.assertEqual(e.header['helo'], 'client.example')
        self.assertEqual(e.header['from'], 'a@example.org')
        self.assertEqual(e.rcpts, ['u@example.test'])
        _, rest = e.split()
        self.assertEqual(rest, msg)

    # A text file as editors write it: LF line ends, which curl -T sends as
    # they are (it adds CRLF.CRLF at the end, since the file does not end
    # in CRLF).
    LF_MSG = (b'From: a@example.org\nTo: u@example.test\nSubject: LF file\n\n'
              b'first line\n\nafter an empty line\nlast line\n')

    def curl_lf(self, srv, port, status, *options):
        """curl -T of LF_MSG to port; its output (curl exits `status`)."""
        curl = self.need('curl')
        path = os.path.join(srv.dir, 'lf-msg.txt')
        with open(path, 'wb') as f:
            f.write(self.LF_MSG)
        return super().run_client(
            [curl, '-q', '-s', '-S', '--noproxy', '*'] + list(options) +
            ['--url', 'smtp://127.0.0.1:%d/client.example' % port,
             '--mail-from', 'a@example.org', '--mail-rcpt', 'u@example.test',
             '-T', path], srv.dir, status=status)

    def assert_lf_refused(self, srv, out):
        self.assertIn('curl: (', out)           # curl reports the failure
        self.assertEqual(srv.queue_entries(), [])
        self.assertIn('554 5.5.2 Bare CR or LF', srv.log_text())

    def assert_stored_crlf(self, srv):
        srv.wait_queue(1)
        entries = srv.queue_entries()
        self.assertEqual(len(entries), 1, [e.name for e in entries])
        _, body = entries[0].split()
        # Every LF became CRLF; the empty line at the end is curl's: the
        # file does not end in CRLF, so curl sends CRLF before the dot.
        self.assertEqual(body, self.LF_MSG.replace(b'\n', b'\r\n') + b'\r\n')

    def test_curl_lf_file_refused_by_default(self):
        out = self.curl_lf(self.srv, self.srv.mx_port, None)
        self.assert_lf_refused(self.srv, out)

    def test_curl_lf_file_normalized_for_mynetworks(self):
        srv = self.server(bare_newline='normalize')
        self.curl_lf(srv, srv.mx_port, 0)
        self.assert_stored_crlf(srv)

    def test_curl_lf_file_normalize_is_for_trusted_clients(self):
        # 127.0.0.1 outside mynetworks: on the MX port it is a stranger and
        # is refused; logged in on submission it is normalized.
        srv = self.server(bare_newline='normalize', mynetworks='10.0.0.0/8')
        out = self.curl_lf(srv, srv.mx_port, None)
        self.assert_lf_refused(srv, out)
        self.curl_lf(srv, srv.sub_port, 0, '--ssl-reqd', '--cacert', sallytest.tls_files()[0],
                     '-u', '%s:%s' % (sallytest.ALICE, sallytest.PASSWORD))
        self.assert_stored_crlf(srv)
        # bare_newline_clients = all: strangers too.
        srv = self.server(bare_newline='normalize', mynetworks='10.0.0.0/8',
                          bare_newline_clients='all')
        self.curl_lf(srv, srv.mx_port, 0)
        self.assert_stored_crlf(srv)

    def test_smtplib_sendmail_on_submission(self):
        msg = (b'From: a@example.org\r\nTo: u@example.test, v@example.test\r\n'
               b'Subject: from smtplib\r\n\r\nhello over submission\r\n')
        with smtplib.SMTP('127.0.0.1', self.srv.sub_port, local_hostname='client.example',
                          timeout=sallytest.IO_TIMEOUT) as s:
            s.starttls(context=sallytest.tls_context())
            s.login(sallytest.ALICE, sallytest.PASSWORD)
            refused = s.sendmail('a@example.org', ['u@example.test', 'v@example.test'], msg)
        self.assertEqual(refused, {})
        e = self.only_entry()
        self.assertEqual(e.rcpts, ['u@example.test', 'v@example.test'])
        self.assertEqual(e.header['client'], '127.0.0.1')
        self.assertEqual(e.header['auth'], sallytest.ALICE)
        self.assertEqual(e.split()[1], msg)

    def test_smtplib_send_message_on_mx(self):
        import email.message
        m = email.message.EmailMessage()
        m['From'] = 'a@example.org'
        m['To'] = 'u@example.test'
        m['Subject'] = 'caf\u00e9 au lait'
        m.set_content('eight bit body: caf\u00e9\n', cte='8bit')
        with smtplib.SMTP('127.0.0.1', self.srv.mx_port, local_hostname='client.example',
                          timeout=sallytest.IO_TIMEOUT) as s:
            s.send_message(m)
        e = self.only_entry()
        _, rest = e.split()
        self.assertIn('eight bit body: caf\u00e9\r\n'.encode(), rest)


if __name__ == '__main__':
    sallytest.main()
