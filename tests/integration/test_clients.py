"""Real SMTP clients against sallyport: swaks, curl and Python's smtplib.

A missing client skips its test, unless SALLYPORT_REQUIRE_CLIENTS is set
(contrib/install-deps installs both, so they run in CI)."""

import os
import shutil
import smtplib
import subprocess

import sallytest
from sallytest import CRLF


def client_env(tmpdir):
    """Environment for the client programs: no proxies, and swaks gets a
    Sys::Hostname that answers "localhost", so it does not resolve this
    machine's name (which could go to DNS)."""
    env = {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}
    libdir = os.path.join(tmpdir, 'perl5')
    os.makedirs(os.path.join(libdir, 'Sys'), exist_ok=True)
    with open(os.path.join(libdir, 'Sys', 'Hostname.pm'), 'w') as f:
        f.write('package Sys::Hostname;\n'
                '# sallyport tests: never look up the real host name\n'
                'use Exporter qw(import);\n'
                'our @EXPORT = qw(hostname);\n'
                'sub hostname { return "localhost"; }\n'
                '1;\n')
    env['PERL5LIB'] = libdir + (':' + env['PERL5LIB'] if env.get('PERL5LIB') else '')
    return env


class Clients(sallytest.TestCase):

    def setUp(self):
        self.srv = self.server()
        self.env = client_env(self.srv.dir)

    def need(self, program):
        path = shutil.which(program)
        if path:
            return path
        if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
            self.fail('%s is required (SALLYPORT_REQUIRE_CLIENTS is set) but missing' % program)
        self.skipTest('%s is not installed (contrib/install-deps installs it)' % program)

    def run_client(self, argv):
        p = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60, cwd=self.srv.dir)
        out = p.stdout.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, 0, '%s failed:\n%s' % (argv[0], out))
        return out

    def only_entry(self):
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

    def test_smtplib_sendmail_on_submission(self):
        msg = (b'From: a@example.org\r\nTo: u@example.test, v@example.test\r\n'
               b'Subject: from smtplib\r\n\r\nhello over submission\r\n')
        with smtplib.SMTP('127.0.0.1', self.srv.sub_port, local_hostname='client.example',
                          timeout=sallytest.IO_TIMEOUT) as s:
            refused = s.sendmail('a@example.org', ['u@example.test', 'v@example.test'], msg)
        self.assertEqual(refused, {})
        e = self.only_entry()
        self.assertEqual(e.rcpts, ['u@example.test', 'v@example.test'])
        self.assertEqual(e.header['client'], '127.0.0.1')
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
