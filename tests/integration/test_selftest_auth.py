"""sallyport --selftest as the authenticated user (--auth-user,
--auth-pass-file) on the submission listeners: STARTTLS on one,
implicit TLS on the other, in process (the real Cyrus sasldb through
the engine) and over the network against the running daemon (a real
STARTTLS and TLS handshake, AUTH PLAIN).

Each listener gets four checks: AUTH never offered or taken in clear,
no relaying before AUTH, relaying after it, and a sender the login does
not own refused. No DATA is ever sent: the queue stays empty.

The sasldb holds alice@example.test / wonderland (sallytest.sasl_db());
the certificate comes from the tests' throw-away CA, named to the
self-test with SSL_CERT_FILE. Every connection stays on 127.0.0.1 and
dns_servers is a dnsmasq on loopback."""

import base64
import json
import os
import socket
import ssl
import subprocess
import tempfile

import sallytest
import test_selftest
from sallytest import ALICE, PASSWORD

UNTRUSTED = '192.0.2.0/24'      # mynetworks that leaves the loopback clients out
HOSTS = {'tester.example': '192.0.2.80', 'mail.example.test': '127.0.0.1'}
VERDICTS = {'PASS', 'WEAK', 'FAIL', 'N/A', 'ERROR'}
EXCHANGE_KEYS = {'sent', 'reply', 'code', 'error', 'dns', 'tls'}


def listener_checks(report, where):
    """The checks of one listener, in order, as (name after the
    listener, verdict, note)."""
    out = []
    for c in report['positive']:
        if c['listener'] and c['listener'].split()[0] == where:
            out.append((c['check'].split(': ', 1)[1], c['verdict'], c['note']))
    return out


class SelfTestAuth(sallytest.TestCase):

    def setUp(self):
        self.bin = sallytest.binary()
        tmp = tempfile.TemporaryDirectory(prefix='sallytest-stauth-')
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.dns = self.dnsmasq(hosts=HOSTS)

    def pass_file(self, password=PASSWORD, mode=0o600):
        path = os.path.join(self.dir, 'pass-%o' % mode)
        with open(path, 'w') as f:
            f.write(password + '\n')
        os.chmod(path, mode)
        return path

    def selftest(self, *args, ca=True):
        """(exit status, stdout, stderr); ca: trust the test CA."""
        env = dict(os.environ)
        env.pop('SSL_CERT_FILE', None)
        if ca:
            env['SSL_CERT_FILE'] = sallytest.tls_files()[0]
        p = subprocess.run([self.bin, '--selftest'] + list(args), env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, cwd=self.dir)
        out, err = p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')
        self.assertNotIn(PASSWORD, out + err)
        return p.returncode, out, err

    def report(self, *args, **kw):
        rc, out, err = self.selftest('--json', *args, **kw)
        try:
            data = json.loads(out)
        except ValueError:
            self.fail('not JSON (rc %d): %r\nstderr: %s' % (rc, out[:500], err))
        self.validate(data, rc)
        return rc, data

    def validate(self, data, rc):
        """The shape of the report: each check names its verdict, its
        listener (or null) and exchanges; the summary counts them; the
        password shows only masked."""
        self.assertEqual(data['exit'], rc)
        counts = {v: 0 for v in VERDICTS}
        for c in data['positive']:
            self.assertEqual(set(c), {'check', 'listener', 'verdict', 'exchanges', 'note'}, c)
            self.assertIn(c['verdict'], VERDICTS)
            counts[c['verdict']] += 1
            if c['listener'] is not None:
                self.assertIn(' listener %s: ' % c['listener'].split()[0], c['check'])
            for x in c['exchanges']:
                self.assertEqual(set(x), EXCHANGE_KEYS, x)
                if x['sent'] and x['sent'].startswith('AUTH PLAIN') and x['tls']:
                    self.assertEqual(x['sent'], 'AUTH PLAIN ********')
        s = data['summary']
        self.assertEqual((s['checks_pass'], s['checks_fail'], s['checks_na'],
                          s['checks_weak'], s['checks_error']),
                         (counts['PASS'], counts['FAIL'], counts['N/A'],
                          counts['WEAK'], counts['ERROR']))

    def config(self, **kw):
        """A daemon's configuration with submission (STARTTLS) and
        submissions listeners; started by the remote tests only."""
        values = dict(submissions=True, mynetworks=UNTRUSTED, dns_servers=self.dns.server,
                      sender_login_check='yes')
        values.update(kw)
        return values

    def assert_all_pass(self, data, where, starttls):
        checks = listener_checks(data, where)
        self.assertEqual([name for name, _, _ in checks],
                         ['AUTH only after TLS, MAIL without AUTH refused' if starttls else
                          'AUTH offered inside TLS, MAIL without AUTH refused',
                          'no relaying before AUTH',
                          'user %s relays after AUTH' % ALICE,
                          'user %s cannot send as ksch@example.test' % ALICE])
        self.assertEqual({v for _, v, _ in checks}, {'PASS'}, checks)
        mine = [c for c in data['positive'] if c['listener'] and c['listener'].split()[0] == where]
        self.assertEqual({c['listener'] for c in mine},
                         {where + (' submission' if starttls else ' submissions')
                          if data['mode'] == 'in-process' else where})
        relay = mine[2]
        sent = [(x['sent'], x['code'], x['tls']) for x in relay['exchanges'] if x['sent']]
        self.assertIn(('AUTH PLAIN ********', 235, True), sent)
        self.assertIn(('RCPT TO:<probe@external.example>', 250, True), sent)
        self.assertEqual(('STARTTLS', 220, False) in sent, starttls)
        self.assertFalse([s for s in sent if s[0] == 'DATA'])
        owner = mine[3]
        self.assertIn('not owned by user %s' % ALICE, owner['note'])

    # in process

    def test_in_process_all_pass(self):
        srv = sallytest.Server(**self.config())
        self.addCleanup(srv.close)          # its configuration only: never started
        rc, data = self.report('-c', srv.conf_path, '--auth-user', ALICE,
                               '--auth-pass-file', self.pass_file())
        self.assertEqual(rc, 0, data['summary'])
        self.assert_all_pass(data, '127.0.0.1:%d' % srv.sub_port, starttls=True)
        self.assert_all_pass(data, '127.0.0.1:%d' % srv.subs_port, starttls=False)
        self.assertEqual(srv.queue_names(), [])
        # The text report names the listener on each line.
        rc, out, err = self.selftest('-c', srv.conf_path, '--auth-user', ALICE,
                                     '--auth-pass-file', self.pass_file())
        self.assertEqual(rc, 0, out + err)
        self.assertIn('  PASS  submissions listener 127.0.0.1:%d: user %s relays after AUTH\n'
                      % (srv.subs_port, ALICE), out)
        self.assertIn('        (in TLS) AUTH PLAIN ******** -> 235 2.7.0 Authentication '
                      'successful\n', out)

    def test_in_process_wrong_password_is_an_error(self):
        srv = sallytest.Server(**self.config())
        self.addCleanup(srv.close)
        rc, out, err = self.selftest('-c', srv.conf_path, '--auth-user', ALICE,
                                     '--auth-pass-file', self.pass_file('not-the-password'))
        self.assertEqual(rc, 2, out + err)
        self.assertRegex(out, r'(?m)^  ERROR submission listener 127\.0\.0\.1:%d: user %s '
                              r'relays after AUTH$' % (srv.sub_port, ALICE))
        self.assertIn('note: authentication failed (check --auth-user and the password file): '
                      '535 5.7.8 Authentication credentials invalid', out)
        self.assertIn('could not be checked', out.strip().splitlines()[-1])
        rc, data = self.report('-c', srv.conf_path, '--auth-user', ALICE,
                               '--auth-pass-file', self.pass_file('not-the-password'))
        self.assertEqual(rc, 2)
        self.assertEqual(data['summary']['checks_error'], 2)

    def test_sender_login_check_off_is_weak(self):
        srv = sallytest.Server(**self.config(sender_login_check=None))
        self.addCleanup(srv.close)
        rc, data = self.report('-c', srv.conf_path, '--auth-user', ALICE,
                               '--auth-pass-file', self.pass_file())
        self.assertEqual(rc, 0, data['summary'])
        for port in (srv.sub_port, srv.subs_port):
            name, verdict, note = listener_checks(data, '127.0.0.1:%d' % port)[3]
            self.assertEqual(verdict, 'WEAK')
            self.assertIn('sender_login_check is off and there is no sender_login_map', note)
            self.assertIn('(by configuration)', note)
        self.assertEqual(data['summary']['checks_weak'], 2)

    def test_without_credentials_not_applicable(self):
        srv = sallytest.Server(**self.config())
        self.addCleanup(srv.close)
        rc, data = self.report('-c', srv.conf_path)
        self.assertEqual(rc, 0, data['summary'])
        checks = listener_checks(data, '127.0.0.1:%d' % srv.sub_port)
        self.assertEqual([v for _, v, _ in checks], ['PASS', 'PASS', 'N/A', 'N/A'])
        self.assertEqual(checks[2][2], 'not tested: give --auth-user USER --auth-pass-file '
                                       'FILE to test it')

    def test_credentials_on_the_command_line(self):
        srv = sallytest.Server(**self.config())
        self.addCleanup(srv.close)
        # A password file others may read is refused: exit 2, nothing run.
        rc, out, err = self.selftest('-c', srv.conf_path, '--auth-user', ALICE,
                                     '--auth-pass-file', self.pass_file(mode=0o644))
        self.assertEqual((rc, out), (2, ''))
        self.assertIn('others may read or write it (mode 644)', err)
        # One the group may read: a warning.
        rc, out, err = self.selftest('-c', srv.conf_path, '--auth-user', ALICE,
                                     '--auth-pass-file', self.pass_file(mode=0o640))
        self.assertEqual(rc, 0, out + err)
        self.assertIn('warning: ', err)
        # The user without the file, and the reverse: usage.
        for args in (['--auth-user', ALICE], ['--auth-pass-file', self.pass_file()]):
            rc, out, err = self.selftest('-c', srv.conf_path, *args)
            self.assertEqual(rc, 2)
            self.assertIn('usage:', err)

    def test_pass_file_not_a_regular_file(self):
        """A FIFO (nobody writing) or a directory as the password file: a
        clear refusal, exit 2, never a wait for a writer."""
        srv = sallytest.Server(**self.config())
        self.addCleanup(srv.close)
        fifo = os.path.join(self.dir, 'pass-fifo')
        os.mkfifo(fifo, 0o600)
        for path in (fifo, self.dir):
            rc, out, err = self.selftest('-c', srv.conf_path, '--auth-user', ALICE,
                                         '--auth-pass-file', path)
            self.assertEqual((rc, out), (2, ''), err)
            self.assertIn('%s: not a regular file' % path, err)

    def test_no_core_dump_while_holding_the_password(self):
        """Once the password is read, a crash leaves no core file (a core
        would hold it): the process's core limit is 0."""
        quiet = socket.socket()
        self.addCleanup(quiet.close)
        quiet.bind(('127.0.0.1', 0))
        quiet.listen(1)
        env = dict(os.environ, SSL_CERT_FILE=sallytest.tls_files()[0])
        p = subprocess.Popen([self.bin, '--selftest', '--auth-user', ALICE,
                              '--auth-pass-file', self.pass_file(),
                              '127.0.0.1:%d' % quiet.getsockname()[1]],
                             env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conn, _ = quiet.accept()    # it waits for a greeting now
            self.addCleanup(conn.close)
            with open('/proc/%d/limits' % p.pid) as f:
                core = [l for l in f if l.startswith('Max core file size')]
            self.assertEqual(core[0].split()[4:6], ['0', '0'], core)
        finally:
            p.kill()
            p.wait()

    def test_remote_reply_quoting_the_password_is_masked(self):
        """A server that quotes the AUTH line and the password in its 535:
        neither is in the report, text or JSON; the reply is, masked."""
        fake = EchoAuthSubmission()
        self.addCleanup(fake.close)
        blob = sallytest.auth_plain(ALICE, PASSWORD).split()[-1]
        rc, out, err = self.selftest('--auth-user', ALICE, '--auth-pass-file',
                                     self.pass_file(), '127.0.0.1:%d' % fake.port)
        self.assertIn(blob.encode(), fake.received)
        self.assertEqual(rc, 2, out + err)
        self.assertNotIn(blob, out + err)
        self.assertIn('535 5.7.8 bad: ******** (password ********)', out)
        rc, data = self.report('--auth-user', ALICE, '--auth-pass-file',
                               self.pass_file(), '127.0.0.1:%d' % fake.port)
        text = json.dumps(data)
        self.assertNotIn(blob, text)
        self.assertNotIn(PASSWORD, text)

    # remote

    def test_remote_all_pass(self):
        srv = self.server(**self.config())
        rc, data = self.report('--auth-user', ALICE, '--auth-pass-file', self.pass_file(),
                               '127.0.0.1:%d' % srv.sub_port)
        self.assertEqual(rc, 0, data['summary'])
        self.assert_all_pass(data, '127.0.0.1:%d' % srv.sub_port, starttls=True)
        rc, data = self.report('--auth-user', ALICE, '--auth-pass-file', self.pass_file(),
                               '--implicit-tls', '127.0.0.1:%d' % srv.subs_port)
        self.assertEqual(rc, 0, data['summary'])
        self.assertTrue(data['policy']['implicit_tls'])
        self.assertFalse(data['policy']['auth_before_tls'])
        self.assert_all_pass(data, '127.0.0.1:%d' % srv.subs_port, starttls=False)
        # The daemon saw the logins, and queued nothing.
        srv.wait_log(r'authenticated from \[127\.0\.0\.1\]: user=<%s> mechanism=PLAIN' % ALICE)
        self.assertEqual(srv.queue_names(), [])

    def test_remote_wrong_password_is_an_error(self):
        srv = self.server(**self.config())
        rc, out, err = self.selftest('--auth-user', ALICE, '--auth-pass-file',
                                     self.pass_file('not-the-password'),
                                     '127.0.0.1:%d' % srv.sub_port)
        self.assertEqual(rc, 2, out + err)
        self.assertIn('note: authentication failed (check --auth-user and the password file): '
                      '535 5.7.8 Authentication credentials invalid', out)

    def test_remote_unverified_certificate_gets_no_password(self):
        srv = self.server(**self.config())
        rc, data = self.report('--auth-user', ALICE, '--auth-pass-file', self.pass_file(),
                               '127.0.0.1:%d' % srv.sub_port, ca=False)
        self.assertEqual(rc, 2, data['summary'])
        checks = listener_checks(data, '127.0.0.1:%d' % srv.sub_port)
        # The untrusted client's checks need no password: they pass.
        self.assertEqual([v for _, v, _ in checks], ['PASS', 'PASS', 'ERROR', 'N/A'])
        self.assertIn("not sent: the server's certificate was not verified", checks[2][2])
        self.assertIn('certificate not verified for 127.0.0.1', checks[2][2])
        self.assertNotRegex(srv.log_text(), r'authenticated from|auth failed from')

    def test_remote_auth_offered_in_clear_fails(self):
        fake = ClearAuthSubmission()
        self.addCleanup(fake.close)
        rc, data = self.report('--auth-user', ALICE, '--auth-pass-file', self.pass_file(),
                               '127.0.0.1:%d' % fake.port)
        self.assertEqual(rc, 1, data['summary'])
        name, verdict, note = listener_checks(data, '127.0.0.1:%d' % fake.port)[0]
        self.assertEqual(verdict, 'FAIL')
        self.assertEqual(note, 'AUTH offered before TLS: passwords would cross in clear')
        self.assertTrue(data['policy']['auth_before_tls'])
        # The real password never went out in clear.
        self.assertNotIn(sallytest.auth_plain(ALICE, PASSWORD).encode(), fake.received)

    def test_remote_auth_not_offered_gets_no_password(self):
        """A server with a good certificate whose EHLO inside TLS offers
        no AUTH PLAIN (and yet says 235 to anything) is never sent the
        password: the logged-in checks are ERROR, saying why."""
        fake = NoAuthSubmission()
        self.addCleanup(fake.close)
        rc, data = self.report('--auth-user', ALICE, '--auth-pass-file', self.pass_file(),
                               '127.0.0.1:%d' % fake.port)
        checks = listener_checks(data, '127.0.0.1:%d' % fake.port)
        self.assertEqual(checks[2][1], 'ERROR', checks)
        self.assertIn('not sent: EHLO did not offer AUTH PLAIN', checks[2][2])
        self.assertNotIn(sallytest.auth_plain(ALICE, PASSWORD).encode(), fake.received)
        self.assertNotIn(sallytest.auth_plain(ALICE, PASSWORD).encode()[:20], fake.received)


class ClearAuthSubmission(test_selftest.FakeRelay):
    """A submission server on loopback, misconfigured: its EHLO offers
    AUTH before TLS; MAIL needs AUTH; AUTH and STARTTLS are refused.
    What it received is in .received."""

    def __init__(self):
        self.received = b''
        super().__init__()

    def session(self, conn):
        conn.sendall(b'220 submit.example.net ESMTP\r\n')
        for line in conn.makefile('rb'):
            self.received += line
            verb = line[:4].upper()
            if verb == b'EHLO':
                conn.sendall(b'250-submit.example.net\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n')
            elif verb == b'QUIT':
                conn.sendall(b'221 bye\r\n')
                return
            else:
                conn.sendall({b'AUTH': b'535 5.7.8 no\r\n',
                              b'STAR': b'454 4.7.0 TLS not available\r\n',
                              b'MAIL': b'530 5.7.0 Authentication required\r\n'}
                             .get(verb, b'503 5.5.1 no\r\n'))


class NoAuthSubmission(test_selftest.FakeRelay):
    """A submission server on loopback with the tests' certificate for
    127.0.0.1: STARTTLS works, but EHLO never offers AUTH, and it takes
    any AUTH inside TLS, and then any mail. What it received, in clear or
    inside TLS, is in .received."""

    TLS_EHLO = b'250-submit.example.net\r\n250 SIZE 1000000\r\n'

    def auth_reply(self, line):
        return b'235 2.7.0 ok\r\n'

    def __init__(self):
        self.received = b''
        _, cert, key = sallytest.tls_files()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        super().__init__()

    def session(self, conn):
        self.tls = None
        try:
            self.dialogue(conn)
        finally:
            if self.tls is not None:
                self.tls.close()

    def dialogue(self, conn):
        conn.sendall(b'220 submit.example.net ESMTP\r\n')
        f = conn.makefile('rb')
        authed = False
        while True:
            line = f.readline()
            if not line:
                return
            self.received += line
            verb = line[:4].upper()
            if verb == b'EHLO':
                conn.sendall(b'250-submit.example.net\r\n250 STARTTLS\r\n'
                             if not isinstance(conn, ssl.SSLSocket) else self.TLS_EHLO)
            elif verb == b'STAR' and not isinstance(conn, ssl.SSLSocket):
                conn.sendall(b'220 go ahead\r\n')
                conn = self.tls = self.ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile('rb')
            elif verb == b'QUIT':
                conn.sendall(b'221 bye\r\n')
                return
            elif verb == b'AUTH' and isinstance(conn, ssl.SSLSocket):
                reply = self.auth_reply(line.rstrip(b'\r\n'))
                authed = reply.startswith(b'235')
                conn.sendall(reply)
            elif verb in (b'AUTH', b'MAIL') and not authed:
                conn.sendall(b'530 5.7.0 Authentication required\r\n')
            elif verb == b'RCPT' and not authed:
                conn.sendall(b'554 5.7.1 Relay access denied\r\n')
            else:
                conn.sendall(b'250 ok\r\n')


class EchoAuthSubmission(NoAuthSubmission):
    """The same, offering AUTH PLAIN, and refusing every login with a
    reply that quotes what it got: the AUTH line and the password in it."""

    TLS_EHLO = b'250-submit.example.net\r\n250 AUTH PLAIN\r\n'

    def auth_reply(self, line):
        blob = line.split()[-1]
        secret = base64.b64decode(blob).split(b'\0')[-1]
        return b'535 5.7.8 bad: ' + blob + b' (password ' + secret + b')\r\n'


if __name__ == '__main__':
    sallytest.main()
