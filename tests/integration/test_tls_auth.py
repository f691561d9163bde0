"""STARTTLS, implicit TLS (submissions) and SMTP AUTH against the real
daemon: swaks, curl, smtplib and openssl s_client as clients, then the
protocol edges by hand: what is offered when, the replies to every AUTH
mistake, the growing delay after bad passwords, commands smuggled after
STARTTLS, clients that stall the handshake, sender_login_check and a
certificate reloaded with SIGHUP.

The certificate (mail.example.test, 127.0.0.1) comes from a throw-away CA
and the sasldb holds alice / wonderland: see sallytest.tls_files() and
sallytest.sasl_db(). Every connection stays on 127.0.0.1."""

import os
import pwd
import re
import select
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import threading
import time

import sallytest
from sallytest import ALICE, PASSWORD, auth_plain, b64

UNTRUSTED = '192.0.2.0/24'      # mynetworks that leaves the loopback clients out
MSG = (b'From: alice@example.test\r\nTo: u@example.test\r\nSubject: over TLS\r\n\r\n'
       b'hello over TLS\r\n')
TLS_LINE = re.compile(r'\(using (TLSv1\.[23]) with cipher ([A-Za-z0-9_-]+) \((\d+) bits\)\)')
# The fail2ban filter of doc/submission.md, with <HOST> as fail2ban expands it.
FAIL2BAN = re.compile(r'auth failed from \[(?P<host>[0-9A-Fa-f.:]+)\]')

R_TLS_GO = '220 2.0.0 Ready to start TLS'
R_ENCRYPTION = '538 5.7.11 Encryption required for requested authentication mechanism'
R_AUTH_REQUIRED = '530 5.7.0 Authentication required'
R_AUTH_OK = '235 2.7.0 Authentication successful'
R_AUTH_BAD = '535 5.7.8 Authentication credentials invalid'
R_TOO_MANY = '421 4.7.0 Too many authentication failures, closing connection'


def keywords(reply):
    """The extension lines of an EHLO reply, without "250-"/"250 "."""
    return [ln[4:] for ln in reply.lines[1:]]


def auth_keyword(reply):
    """The AUTH line of an EHLO reply ("AUTH PLAIN LOGIN"), or None."""
    found = [k for k in keywords(reply) if k.upper().startswith('AUTH ')]
    return found[0] if found else None


def installed_mechanisms():
    """The server mechanisms the SASL plug-ins installed here have, as
    Cyrus's own saslpluginviewer (sasl2-bin) lists them."""
    viewer = shutil.which('saslpluginviewer', path=os.environ.get('PATH', '') + ':/usr/sbin')
    if viewer is None:
        raise AssertionError('saslpluginviewer is missing (apt-get install sasl2-bin)')
    out = subprocess.run([viewer, '-s'], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=30).stdout.splitlines()
    for i, line in enumerate(out):
        if line.startswith('Installed and properly configured SASL (server side)'):
            return out[i + 1].split()
    raise AssertionError('saslpluginviewer -s said:\n' + '\n'.join(out))


def default_mechanisms():
    """What sallyport offers with a sasldb and no sasl_mechanisms: PLAIN
    LOGIN, and SCRAM-SHA-256 when its plug-in is installed."""
    return 'AUTH PLAIN LOGIN' + (' SCRAM-SHA-256' if 'SCRAM-SHA-256' in installed_mechanisms() else '')


def client_hello():
    """The bytes of a real TLS ClientHello, as a first flight."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = sallytest.tls_context().wrap_bio(incoming, outgoing,
                                           server_hostname=sallytest.SERVER_NAME)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def replied(client):
    """Whether the server has sent client anything (a reply, a TLS record,
    or its end of file) that it has not read yet; does not wait."""
    if client.buf or (hasattr(client.sock, 'pending') and client.sock.pending()):
        return True
    return bool(select.select([client.sock], [], [], 0)[0])


def eof_after(client, timeout):
    """Seconds until the server closes the connection (whatever it sends
    first: a TLS alert is not an SMTP reply), or None past timeout."""
    t0 = time.monotonic()
    client.sock.settimeout(timeout)
    try:
        while client.sock.recv(4096):
            pass
    except OSError:     # reset, or the timeout
        if time.monotonic() - t0 >= timeout:
            return None
    return time.monotonic() - t0


class TlsAuth(sallytest.TestCase):

    # helpers

    def tls_ehlo(self, port, name='client.example'):
        """EHLO, STARTTLS, EHLO again: a client inside TLS, not logged in."""
        c = self.ehlo_client(port, name)
        self.assertEqual(c.starttls().last, R_TLS_GO)
        r = c.cmd('EHLO ' + name)
        self.assertEqual(r.code, 250, r)
        return c

    def send_message(self, c, sender='alice@example.test', rcpts=('u@example.test',), msg=MSG):
        r = c.transaction(sender, list(rcpts), msg)
        self.assertEqual(r.code, 250, r)
        return r.queue_id()

    def only_entry(self, srv):
        srv.wait_queue(1)
        entries = srv.queue_entries()
        self.assertEqual(len(entries), 1, [e.name for e in entries])
        return entries[0]

    def assert_tls_entry(self, e, proto, user=None, tls=None):
        """proto and auth in the queue entry, the TLS line in Received: and,
        when tls is (version, cipher, bits) as the client saw them, exactly
        those."""
        self.assertEqual(e.header['proto'], proto)
        keys = ['sallyport-queue', 'id', 'arrival', 'client', 'helo', 'proto']
        if user is None:
            self.assertNotIn('auth', e.header)
        else:
            self.assertEqual(e.header['auth'], user)
            keys.append('auth')
        if proto.startswith('UTF8'):
            keys.append('smtputf8')     # MAIL had SMTPUTF8
        keys.append('tlsrequired')      # no REQUIRETLS on MAIL (RFC 8689)
        self.assertEqual(e.header['tlsrequired'], 'yes')
        # prepend: room for fields known at the end of DATA (the checks
        # of mail from others, a signature), there or not by the client
        self.assertEqual([k for k in e.keys if k not in ('rcpt', 'prepend')],
                         keys + ['from'])
        received, _ = e.split()
        lines = received.decode('utf-8', 'replace').split('\r\n')
        self.assertRegex(lines[0], r'^Received: from \S+ \(\[127\.0\.0\.1\]\)$', received)
        m = TLS_LINE.fullmatch(lines[1].lstrip('\t'))
        self.assertTrue(lines[1].startswith('\t') and m, received)
        if tls is not None:
            self.assertEqual((m.group(1), m.group(2), int(m.group(3))), tls)
        self.assertIn('by mail.example.test (sallyport) with %s id %s' % (proto, e.name),
                      sallytest.unfold(received))

    def s_client(self, port, *args, starttls=True, status=0, input=None):
        """openssl s_client against port, input on its stdin; its output."""
        openssl = self.need('openssl')
        ca = sallytest.tls_files()[0]
        argv = [openssl, 's_client', '-connect', '127.0.0.1:%d' % port,
                '-servername', sallytest.SERVER_NAME, '-CAfile', ca]
        if starttls:
            argv += ['-starttls', 'smtp']
        return self.run_client(argv + list(args), self.tmpdir(), status=status, timeout=30,
                               input=input)

    def subject(self, port):
        out = self.s_client(port, '-verify_return_error')
        m = re.search(r'(?m)^subject=\s*CN\s*=\s*(\S+)\s*$', out)
        self.assertTrue(m, out)
        self.assertIn('Verify return code: 0 (ok)', out)
        return m.group(1)

    def tmpdir(self):
        if not hasattr(self, '_tmp'):
            tmp = tempfile.TemporaryDirectory(prefix='sallytest-tls-')
            self.addCleanup(tmp.cleanup)
            self._tmp = tmp.name
        return self._tmp

    def need_swaks_tls(self):
        """swaks, able to speak TLS (it needs IO::Socket::SSL:
        libio-socket-ssl-perl)."""
        swaks = self.need('swaks')
        out = self.run_client([swaks, '--support'], self.tmpdir(), status=None)
        if '=== TLS supported' not in out:
            if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
                self.fail('swaks cannot do TLS:\n' + out)
            self.skipTest('swaks cannot do TLS (apt-get install libio-socket-ssl-perl)')
        return swaks

    def swaks(self, srv, port, *args, password=PASSWORD, status=0):
        swaks = self.need_swaks_tls()
        ca = sallytest.tls_files()[0]
        return self.run_client([swaks, '--server', '127.0.0.1:%d' % port, '--helo', 'swaks.example',
                                '--from', 'alice@example.test', '--to', 'u@example.test',
                                '--tls-verify', '--tls-ca-path', ca,
                                '--auth-user', ALICE, '--auth-password', password] + list(args),
                               srv.dir, status=status)

    # real clients

    def test_swaks_plain_and_login_on_submission(self):
        srv = self.server()
        for mech in ('PLAIN', 'LOGIN'):
            with self.subTest(mech=mech):
                out = self.swaks(srv, srv.sub_port, '--tls', '--auth', mech)
                self.assertIn('<~  235 2.7.0 Authentication successful', out)
                m = re.search(r'queued as (\S+)', out)
                self.assertTrue(m, out)
                e = srv.queue_entry(m.group(1))
                self.assertEqual(e.header['helo'], 'swaks.example')
                self.assertEqual(e.header['from'], 'alice@example.test')
                self.assertEqual(e.rcpts, ['u@example.test'])
                self.assertIn(b'\r\n\r\nThis is a test mailing\r\n', e.split()[1])
                self.assert_tls_entry(e, 'ESMTPSA', ALICE)
                self.assertNotIn(PASSWORD, srv.log_text())
        self.assertEqual(len(srv.wait_queue(2)), 2)

    def test_swaks_submissions_implicit_tls(self):
        srv = self.server(submissions=True)
        out = self.swaks(srv, srv.subs_port, '--tlsc', '--auth', 'PLAIN')
        self.assertIn('queued as', out)
        self.assert_tls_entry(self.only_entry(srv), 'ESMTPSA', ALICE)

    def test_swaks_wrong_password(self):
        srv = self.server()
        out = self.swaks(srv, srv.sub_port, '--tls', '--auth', 'PLAIN',
                         password='not-the-password', status=28)   # swaks: error in AUTH
        self.assertIn(R_AUTH_BAD, out)
        self.assertEqual(srv.queue_names(), [])

    def test_smtplib_starttls_login_sendmail(self):
        srv = self.server()
        with smtplib.SMTP('127.0.0.1', srv.sub_port, local_hostname='client.example',
                          timeout=sallytest.IO_TIMEOUT) as s:
            s.ehlo()
            self.assertTrue(s.has_extn('starttls'))
            self.assertFalse(s.has_extn('auth'))
            s.starttls(context=sallytest.tls_context())
            s.ehlo()
            self.assertFalse(s.has_extn('starttls'))
            self.assertIn('PLAIN', s.esmtp_features['auth'].upper().split())
            tls = (s.sock.version(), s.sock.cipher()[0], s.sock.cipher()[2])
            code, _ = s.login(ALICE, PASSWORD)
            self.assertEqual(code, 235)
            refused = s.sendmail('alice@example.test', ['u@example.test', 'v@example.test'], MSG)
        self.assertEqual(refused, {})
        e = self.only_entry(srv)
        self.assertEqual(e.rcpts, ['u@example.test', 'v@example.test'])
        self.assertEqual(e.split()[1], MSG)
        self.assert_tls_entry(e, 'ESMTPSA', ALICE, tls)

    def test_curl_ssl_reqd(self):
        srv = self.server()
        curl = self.need('curl')
        path = os.path.join(srv.dir, 'curl-msg.txt')
        with open(path, 'wb') as f:
            f.write(MSG)
        # curl picks the mechanism it likes best of those offered; the
        # second run forces PLAIN.
        for options in ([], ['--login-options', 'AUTH=PLAIN']):
            with self.subTest(options=options):
                self.run_client([curl, '-q', '-s', '-S', '--noproxy', '*', '--ssl-reqd',
                                 '--cacert', sallytest.tls_files()[0],
                                 '-u', '%s:%s' % (ALICE, PASSWORD)] + options +
                                ['--url', 'smtp://127.0.0.1:%d/client.example' % srv.sub_port,
                                 '--mail-from', 'alice@example.test', '--mail-rcpt', 'u@example.test',
                                 '--upload-file', path], srv.dir)
        srv.wait_queue(2)
        entries = srv.queue_entries()
        self.assertEqual(len(entries), 2)
        for e in entries:
            self.assertEqual(e.header['helo'], 'client.example')
            self.assertEqual(e.split()[1], MSG)
            self.assert_tls_entry(e, 'ESMTPSA', ALICE)

    def test_s_client_certificate_and_protocols(self):
        srv = self.server()
        self.assertEqual(self.subject(srv.sub_port), 'mail.example.test')
        self.assertEqual(self.subject(srv.mx_port), 'mail.example.test')
        out = self.s_client(srv.sub_port, '-tls1_2')
        self.assertRegex(out, r'New, TLSv1\.2, Cipher is \S+')
        # TLS 1.1 and 1.0: the server says no (a protocol_version alert),
        # with the client's own security level lowered so that the refusal
        # cannot come from Debian's client side.
        for old in ('-tls1_1', '-tls1'):
            with self.subTest(protocol=old):
                out = self.s_client(srv.sub_port, old, '-cipher', 'DEFAULT@SECLEVEL=0',
                                    status=None)
                self.assertIn('alert protocol version', out)
                self.assertNotRegex(out, r'(?m)^subject=')
        # Only TLS 1.3 configured: 1.2 is refused too.
        srv13 = self.server(tls_protocols='TLSv1.3')
        out = self.s_client(srv13.sub_port, '-tls1_2', status=None)
        self.assertIn('alert protocol version', out)
        self.assertIn('New, TLSv1.3', self.s_client(srv13.sub_port))
        self.assertTrue(srv.running() and srv13.running())

    def test_s_client_resumes_the_session_of_its_one_ticket(self):
        # An MTA keeps a destination's session and resumes it: the next
        # STARTTLS costs the server no signature. A full TLS 1.3
        # handshake gets one ticket (OpenSSL's default is two). QUIT is
        # sent (-ign_eof: not s_client's own Q command) and answered
        # after the tickets.
        srv = self.server()
        sess = os.path.join(self.tmpdir(), 'session.pem')
        talk = ('-crlf', '-ign_eof', '-msg')
        out = self.s_client(srv.mx_port, *talk, '-sess_out', sess, input=b'QUIT\n')
        self.assertIn('New, TLSv1.3', out)
        self.assertRegex(out, r'(?m)^221 ')
        self.assertEqual(out.count(', NewSessionTicket'), 1, out)
        out = self.s_client(srv.mx_port, *talk, '-sess_in', sess, input=b'QUIT\n')
        self.assertIn('Reused, TLSv1.3', out)
        self.assertRegex(out, r'(?m)^221 ')
        self.assertNotIn(', Certificate', out)

    # what is offered when

    def test_submission_before_tls(self):
        srv = self.server()
        c = self.client(srv.sub_port)
        r = c.cmd('EHLO client.example')
        self.assertIn('STARTTLS', keywords(r))
        self.assertIsNone(auth_keyword(r), r)
        for line in ('AUTH PLAIN ' + auth_plain(ALICE, PASSWORD), 'AUTH LOGIN', 'AUTH PLAIN'):
            self.assertEqual(c.cmd(line).lines, [R_ENCRYPTION], line)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test>').lines, [R_AUTH_REQUIRED])
        self.assertEqual(c.cmd('STARTTLS x').last, '501 5.5.4 Syntax: STARTTLS')
        c.starttls()
        r = c.cmd('EHLO client.example')
        self.assertNotIn('STARTTLS', keywords(r))
        mechs = auth_keyword(r).split()[1:]
        self.assertIn('PLAIN', mechs)
        self.assertIn('LOGIN', mechs)
        # Inside TLS but not logged in: still no MAIL.
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test>').lines, [R_AUTH_REQUIRED])
        self.assertEqual(c.cmd('STARTTLS').last, '554 5.5.1 TLS already active')
        self.assertEqual(c.auth().last, R_AUTH_OK)
        self.send_message(c)
        self.assertEqual(c.cmd('QUIT').code, 221)
        self.assert_tls_entry(self.only_entry(srv), 'ESMTPSA', ALICE,
                              (c.tls.version(), c.tls.cipher()[0], c.tls.cipher()[2]))

    def test_submissions_starts_in_tls(self):
        srv = self.server(submissions=True)
        c = self.client(srv.subs_port, tls=True)
        self.assertEqual(c.greeting.code, 220)
        r = c.cmd('EHLO client.example')
        self.assertNotIn('STARTTLS', keywords(r))
        self.assertIn('PLAIN', auth_keyword(r).split())
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test>').lines, [R_AUTH_REQUIRED])
        self.assertEqual(c.cmd('STARTTLS').last, '554 5.5.1 TLS already active')
        self.assertEqual(c.auth().last, R_AUTH_OK)
        self.send_message(c)
        self.assert_tls_entry(self.only_entry(srv), 'ESMTPSA', ALICE)
        # No greeting in clear: a plain client hears nothing at all.
        plain = self.client(srv.subs_port, greet=False)
        self.assertEqual(plain.silent(0.5), b'')

    def test_mx_starttls_then_auth(self):
        srv = self.server(mynetworks=UNTRUSTED)
        c = self.client(srv.mx_port)
        r = c.cmd('EHLO client.example')
        self.assertIn('STARTTLS', keywords(r))
        self.assertIsNone(auth_keyword(r), r)
        self.assertEqual(c.auth().lines, [R_ENCRYPTION])
        # The MX takes mail without TLS and without AUTH, as before.
        c.starttls()
        # The session starts over: HELO/EHLO again before MAIL.
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 503)
        r = c.cmd('EHLO client.example')
        self.assertNotIn('STARTTLS', keywords(r))
        self.assertIn('PLAIN', auth_keyword(r).split())
        # Unauthenticated under TLS: ESMTPS, our domains only.
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.org>').code, 550)
        # AUTH is for between transactions.
        self.assertEqual(c.auth().lines, ['503 5.5.1 AUTH not allowed during a mail transaction'])
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(MSG)
        self.assertEqual(r.code, 250, r)
        self.assert_tls_entry(srv.queue_entry(r.queue_id()), 'ESMTPS', None,
                              (c.tls.version(), c.tls.cipher()[0], c.tls.cipher()[2]))
        # Logged in, the same client may relay.
        self.assertEqual(c.auth().lines, [R_AUTH_OK])
        qid = self.send_message(c, rcpts=['user@example.org'])
        self.assert_tls_entry(srv.queue_entry(qid), 'ESMTPSA', ALICE)
        # Plain SMTP on the MX still works and says so.
        p = self.ehlo_client(srv.mx_port)
        qid = self.send_message(p, sender='a@example.org')
        self.assertEqual(srv.queue_entry(qid).header['proto'], 'ESMTP')
        self.assertNotIn(b'(using ', srv.queue_entry(qid).split()[0])

    def test_no_certificate_no_starttls(self):
        srv = self.server(submission=False, tls_cert=None, tls_key=None)
        c = self.client(srv.mx_port)
        r = c.cmd('EHLO client.example')
        self.assertNotIn('STARTTLS', keywords(r))
        self.assertIsNone(auth_keyword(r))
        self.assertEqual(c.cmd('STARTTLS').lines, ['454 4.7.0 TLS not available'])
        self.assertGreaterEqual(c.auth().code, 500)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)

    def test_utf8_proto_with_tls_and_auth(self):
        # A UTF-8 local part is a mailbox only through a table or a
        # catch-all (doc/policy.md).
        srv = self.server(catchall='user')
        c = self.auth_client(srv.sub_port)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test> SMTPUTF8').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<jos\u00e9@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(MSG)
        self.assertEqual(r.code, 250, r)
        self.assert_tls_entry(self.only_entry(srv), 'UTF8SMTPSA', ALICE)

    # AUTH by hand

    def test_auth_replies(self):
        srv = self.server(max_auth_failures='10')
        c = self.tls_ehlo(srv.sub_port)
        self.assertEqual(c.cmd('AUTH NOSUCH').lines,
                         ['504 5.5.4 Unrecognized authentication mechanism'])
        self.assertEqual(c.cmd('AUTH PLAIN !!notbase64!!').lines,
                         ['501 5.5.2 Cannot decode response'])
        # Without an initial response: an empty challenge, then the answer.
        self.assertEqual(c.cmd('AUTH PLAIN').lines, ['334 '])
        self.assertEqual(c.cmd('*').lines, ['501 5.0.0 Authentication cancelled'])
        self.assertEqual(c.cmd('AUTH PLAIN').lines, ['334 '])
        self.assertEqual(c.cmd('%%%').lines, ['501 5.5.2 Cannot decode response'])
        # LOGIN asks for the name, then the password.
        self.assertEqual(c.cmd('AUTH LOGIN').lines, ['334 VXNlcm5hbWU6'])
        self.assertEqual(c.cmd(b64(ALICE)).lines, ['334 UGFzc3dvcmQ6'])
        self.assertEqual(c.cmd('*').lines, ['501 5.0.0 Authentication cancelled'])
        self.assertEqual(c.cmd('AUTH LOGIN ' + b64(ALICE)).lines, ['334 UGFzc3dvcmQ6'])
        self.assertEqual(c.cmd(b64(PASSWORD)).lines, [R_AUTH_OK])
        self.assertEqual(c.auth().lines, ['503 5.5.1 Already authenticated'])
        # MAIL's AUTH= parameter (RFC 4954 5): <> and an xtext identity.
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test> AUTH=<>').code, 250)
        self.assertEqual(c.cmd('RSET').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test> AUTH=alice+40example.test').code,
                         250)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        self.assertEqual(c.data(MSG).code, 250)
        log = srv.log_text()
        self.assertNotIn(PASSWORD, log)
        self.assertNotIn(auth_plain(ALICE, PASSWORD), log)
        self.assertNotIn(b64(PASSWORD), log)

    def test_authorization_identity(self):
        # PLAIN's authzid: alice may not act as bob; naming herself is fine.
        srv = self.server(sender_login_check='yes')
        c = self.tls_ehlo(srv.sub_port)
        r = c.cmd('AUTH PLAIN ' + auth_plain(ALICE, PASSWORD, authzid='bob@example.test'))
        self.assertEqual(r.lines, [R_AUTH_BAD])
        self.assertEqual(c.cmd('MAIL FROM:<bob@example.test>').lines, [R_AUTH_REQUIRED])
        r = c.cmd('AUTH PLAIN ' + auth_plain(ALICE, PASSWORD, authzid=ALICE))
        self.assertEqual(r.lines, [R_AUTH_OK])
        # Names are case-sensitive (Cyrus): ALICE is nobody.
        c2 = self.tls_ehlo(srv.sub_port)
        self.assertEqual(c2.auth('ALICE@example.test', PASSWORD).lines, [R_AUTH_BAD])

    def test_auth_plain_empty_initial_response_and_continuation(self):
        srv = self.server()
        c = self.tls_ehlo(srv.sub_port)
        self.assertEqual(c.cmd('AUTH PLAIN').lines, ['334 '])
        self.assertEqual(c.cmd(auth_plain(ALICE, PASSWORD)).lines, [R_AUTH_OK])

    def test_auth_line_too_long(self):
        srv = self.server()
        c = self.tls_ehlo(srv.sub_port)
        r = c.cmd('AUTH PLAIN ' + 'QUFB' * 3100)     # 12411 octets
        self.assertTrue(r.lines[0].startswith('500 5.5.6 '), r)
        # The same for a response to a challenge.
        c3 = self.tls_ehlo(srv.sub_port)
        self.assertEqual(c3.cmd('AUTH LOGIN').lines, ['334 VXNlcm5hbWU6'])
        r = c3.cmd('QUFB' * 3100)
        self.assertTrue(r.lines[0].startswith('500 5.5.6 '), r)
        # A long line that fits is just a wrong answer, not a long line.
        c2 = self.tls_ehlo(srv.sub_port)
        r = c2.cmd('AUTH PLAIN ' + auth_plain(ALICE, 'x' * 9000))
        self.assertEqual(r.lines, [R_AUTH_BAD])

    def gsasl(self, srv, mech, password=PASSWORD, status=0):
        """GNU SASL's client (gsasl --smtp): STARTTLS, then AUTH mech as
        alice; its output. --no-cb: no channel binding, as we offer no
        SCRAM-*-PLUS."""
        gsasl = self.need('gsasl')
        return self.run_client([gsasl, '--smtp', '--connect=127.0.0.1:%d' % srv.sub_port,
                                '--starttls', '--x509-ca-file=' + sallytest.tls_files()[0],
                                '--hostname=' + sallytest.SERVER_NAME, '--no-cb',
                                '--mechanism=' + mech, '--authentication-id=' + ALICE,
                                '--password=' + password, '--verbose'],
                               self.tmpdir(), status=status)

    def test_default_mechanisms(self):
        # Not every mechanism the plug-ins have: no CRAM-MD5, DIGEST-MD5, NTLM.
        want = default_mechanisms()
        srv = self.server()
        self.assertEqual(auth_keyword(self.tls_ehlo(srv.sub_port).cmd('EHLO client.example')), want)
        c = self.client(srv.mx_port)
        c.cmd('EHLO client.example')
        c.starttls()
        self.assertEqual(auth_keyword(c.cmd('EHLO client.example')), want)
        self.assertEqual(c.cmd('AUTH CRAM-MD5').lines,
                         ['504 5.5.4 Unrecognized authentication mechanism'])

    def test_gsasl_logs_in_with_every_default_mechanism(self):
        srv = self.server()
        mechs = default_mechanisms().split()[1:]
        for mech in mechs:
            with self.subTest(mech=mech):
                out = self.gsasl(srv, mech)
                self.assertIn('AUTH %s' % mech, out)
                self.assertIn(R_AUTH_OK, out)
        self.assertEqual(len(re.findall(r'authenticated from \[127\.0\.0\.1\]: user=<%s> '
                                        r'mechanism=(\S+)' % re.escape(ALICE), srv.log_text())),
                         len(mechs), srv.log_text())
        if 'SCRAM-SHA-256' in mechs:
            out = self.gsasl(srv, 'SCRAM-SHA-256', password='wrong', status=None)
            self.assertIn(R_AUTH_BAD, out)
        self.assertNotIn(PASSWORD, srv.log_text())

    def test_saslauthd_offers_plain_and_login_only(self):
        # saslauthd checks plaintext passwords: SCRAM could not work there.
        srv = self.server(sasl_pwcheck_method='saslauthd', sasl_saslauthd_path=self.tmpdir())
        self.assertEqual(auth_keyword(self.tls_ehlo(srv.sub_port).cmd('EHLO client.example')),
                         'AUTH PLAIN LOGIN')

    def test_mechanisms_configured(self):
        srv = self.server(sasl_mechanisms='PLAIN')
        c = self.client(srv.sub_port)
        c.cmd('EHLO client.example')
        c.starttls()
        self.assertEqual(auth_keyword(c.cmd('EHLO client.example')), 'AUTH PLAIN')
        self.assertEqual(c.cmd('AUTH LOGIN').lines,
                         ['504 5.5.4 Unrecognized authentication mechanism'])
        self.assertEqual(c.auth().lines, [R_AUTH_OK])
        # Asked for by name, CRAM-MD5 is offered (and works) too.
        srv = self.server(sasl_mechanisms='PLAIN LOGIN CRAM-MD5')
        c = self.tls_ehlo(srv.sub_port)
        self.assertEqual(auth_keyword(c.cmd('EHLO client.example')), 'AUTH PLAIN LOGIN CRAM-MD5')
        with smtplib.SMTP('127.0.0.1', srv.sub_port, local_hostname='client.example',
                          timeout=sallytest.IO_TIMEOUT) as s:
            s.starttls(context=sallytest.tls_context())
            s.ehlo()
            s.user, s.password = ALICE, PASSWORD
            self.assertEqual(s.auth('CRAM-MD5', s.auth_cram_md5)[0], 235)

    def test_backend_down_is_temporary(self):
        empty = os.path.join(self.tmpdir(), 'no-saslauthd')
        os.mkdir(empty)
        srv = self.server(sasl_pwcheck_method='saslauthd', sasl_saslauthd_path=empty)
        c = self.tls_ehlo(srv.sub_port)
        self.assertEqual(c.auth().lines, ['454 4.7.0 Temporary authentication failure'])
        # Not a password failure: no 421 however often it happens.
        for _ in range(3):
            self.assertEqual(c.auth().code, 454)
        self.assertEqual(c.cmd('NOOP').code, 250)

    def test_wrong_password_delay_grows_then_421(self):
        srv = self.server(max_auth_failures='2')
        c = self.tls_ehlo(srv.sub_port)
        t0 = time.monotonic()
        self.assertEqual(c.auth(ALICE, 'wrong-1').lines, [R_AUTH_BAD])
        first = time.monotonic() - t0
        self.assertGreaterEqual(first, 0.9)
        # The second failure waits 2 s; meanwhile another client is served.
        t0 = time.monotonic()
        c.send('AUTH PLAIN %s\r\n' % auth_plain(ALICE, 'wrong-2'))
        other = self.client(srv.sub_port)
        self.assertEqual(other.cmd('EHLO other.example').code, 250)
        self.assertFalse(replied(c), 'another session waited for the delay')
        self.assertEqual(c.reply().lines, [R_AUTH_BAD])
        second = time.monotonic() - t0
        self.assertGreaterEqual(second, 1.9)
        self.assertLess(second, 4.5)
        self.assertEqual(c.reply().lines, [R_TOO_MANY])
        self.assertTrue(c.closed())
        # One log line per failure, found by the fail2ban filter.
        log = srv.log_text()
        lines = [ln for ln in log.splitlines() if 'auth failed' in ln]
        self.assertEqual(len(lines), 2, log)
        for ln in lines:
            self.assertRegex(ln, r's=\S+ auth failed from \[127\.0\.0\.1\]: mechanism=PLAIN')
            self.assertEqual(FAIL2BAN.search(ln).group('host'), '127.0.0.1')
        self.assertNotIn('wrong-1', log)
        self.assertNotIn('wrong-2', log)

    def test_failure_then_success(self):
        srv = self.server()          # max_auth_failures 3
        c = self.tls_ehlo(srv.sub_port)
        self.assertEqual(c.auth(ALICE, 'nope').lines, [R_AUTH_BAD])
        self.assertEqual(c.auth(ALICE, PASSWORD).lines, [R_AUTH_OK])
        self.send_message(c)

    # STARTTLS injection (CVE-2011-0411 and kin)

    def test_commands_pipelined_with_starttls_are_dropped(self):
        srv = self.server()
        smuggled = {
            'RSET': 'RSET\r\n',
            'EHLO': 'EHLO x\r\n',
            'AUTH+MAIL': 'AUTH PLAIN %s\r\nMAIL FROM:<alice@example.test>\r\n'
                         % auth_plain(ALICE, PASSWORD),
        }
        for port in (srv.sub_port, srv.mx_port):
            for name, tail in smuggled.items():
                with self.subTest(port=port, smuggled=name):
                    c = self.ehlo_client(port)
                    c.send('STARTTLS\r\n' + tail)
                    self.assertEqual(c.reply().lines, [R_TLS_GO])
                    self.assertEqual(c.silent(0.3), b'', 'clear text after the 220')
                    c.handshake()
                    self.assertEqual(c.silent(1.0), b'', 'a smuggled command was answered')
                    r = c.cmd('EHLO client.example')
                    self.assertEqual(r.code, 250, r)
                    self.assertEqual(c.silent(0.3), b'', 'more than one reply to EHLO')
                    mail = c.cmd('MAIL FROM:<alice@example.test>')
                    if port == srv.sub_port:     # the smuggled AUTH did not count
                        self.assertEqual(mail.lines, [R_AUTH_REQUIRED])
                    else:
                        self.assertEqual(mail.code, 250, mail)
                    c.close()
        self.assertTrue(srv.running())

    def test_starttls_then_garbage_instead_of_hello(self):
        srv = self.server()
        c = self.ehlo_client(srv.sub_port)
        c.send('STARTTLS\r\n')
        self.assertEqual(c.reply().lines, [R_TLS_GO])
        c.send('EHLO this is not TLS\r\n')
        self.assertIsNotNone(eof_after(c, 5), 'session kept open after a broken handshake')
        self.assertEqual(self.ehlo_client(srv.sub_port).cmd('NOOP').code, 250)

    # slow handshakes

    def test_stalled_handshakes_do_not_hold_others(self):
        srv = self.server(submissions=True, tls_handshake_timeout='5s')
        hello = client_hello()
        t_open = time.monotonic()
        idle = self.client(srv.subs_port, greet=False)
        half = self.client(srv.subs_port, greet=False)
        half.send(hello[:len(hello) // 2])
        stalled = self.ehlo_client(srv.sub_port)
        stalled.send('STARTTLS\r\n')
        self.assertEqual(stalled.reply().lines, [R_TLS_GO])
        stalled.send(hello[:len(hello) // 2])
        # A whole session meanwhile: TLS, AUTH, a message, QUIT, all before
        # the stalled ones are closed.
        c = self.auth_client(srv.subs_port, tls=True)
        self.send_message(c)
        self.assertEqual(c.cmd('QUIT').code, 221)
        for name, client in (('idle', idle), ('half', half), ('stalled', stalled)):
            self.assertFalse(replied(client), '%s closed before the session ended' % name)
        # The stalled ones are closed once tls_handshake_timeout has passed.
        results = {}

        def watch(name, client):
            took = eof_after(client, 12)
            results[name] = None if took is None else time.monotonic() - t_open

        threads = [threading.Thread(target=watch, args=a)
                   for a in (('idle', idle), ('half', half), ('stalled', stalled))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, when in results.items():
            self.assertIsNotNone(when, '%s: still open after 12 s' % name)
            self.assertGreaterEqual(when, 4.8, name)
            self.assertLess(when, 10.0, name)
        self.assertEqual(len(srv.wait_queue(1)), 1)

    # policy

    def test_sender_login_check(self):
        srv = self.server(sender_login_check='yes', local_domains='example.test other.test')
        c = self.auth_client(srv.sub_port)
        def not_owned(sender, login=ALICE):
            return '553 5.7.1 <%s>: Sender address rejected: not owned by user %s' % (sender, login)
        for sender in ('bob@example.test', 'alice@example.org', 'alicex@example.test'):
            self.assertEqual(c.cmd('MAIL FROM:<%s>' % sender).lines, [not_owned(sender)], sender)
        # A login with a domain owns that one address.
        self.assertEqual(c.cmd('MAIL FROM:<alice@other.test>').lines,
                         [not_owned('alice@other.test')])
        self.assertEqual(c.cmd('MAIL FROM:<>').code, 250)
        self.assertEqual(c.cmd('RSET').code, 250)
        self.send_message(c)
        # A bare login (carol, in the hostname's realm) owns her name at
        # every local domain, and nothing else.
        carol = self.auth_client(srv.sub_port, 'carol', 'rosebud')
        for sender in ('carol@example.test', 'carol@other.test'):
            self.assertEqual(carol.cmd('MAIL FROM:<%s>' % sender).code, 250, sender)
            self.assertEqual(carol.cmd('RSET').code, 250)
        for sender in ('carol@example.org', 'alice@example.test', 'carol@mail.example.test'):
            self.assertEqual(carol.cmd('MAIL FROM:<%s>' % sender).lines,
                             [not_owned(sender, 'carol')], sender)
        # Off (the default), any sender goes.
        srv2 = self.server()
        c2 = self.auth_client(srv2.sub_port)
        self.send_message(c2, sender='bob@example.test')

    def test_authenticated_user_relays(self):
        srv = self.server(mynetworks=UNTRUSTED)
        c = self.auth_client(srv.sub_port)
        qid = self.send_message(c, rcpts=['someone@example.org', 'u@example.test'])
        self.assertEqual(srv.queue_entry(qid).rcpts, ['someone@example.org', 'u@example.test'])

    # reload

    def test_sighup_reloads_certificate(self):
        srv = self.server()
        self.assertEqual(self.subject(srv.sub_port), 'mail.example.test')
        # A session inside TLS before the reload keeps going after it.
        before = self.auth_client(srv.sub_port)
        cert, key = sallytest.make_certificate(srv.dir, 'mail2.example.test')
        good = dict(srv.overrides, tls_cert=cert, tls_key=key)
        log = srv.reload(good)
        self.assertNotRegex(log, r'(?i)reload (failed|refused)')
        self.assertIn('mail2.example.test', log)
        self.assertEqual(self.subject(srv.sub_port), 'mail2.example.test')
        self.assertEqual(self.subject(srv.mx_port), 'mail2.example.test')
        self.send_message(before)
        # Broken: a missing file, garbage, a key of another certificate.
        garbage = os.path.join(srv.dir, 'garbage.pem')
        with open(garbage, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n')
        _, other_key = sallytest.make_certificate(srv.dir, 'other.example.test')
        for name, broken in (('missing', {'tls_cert': os.path.join(srv.dir, 'missing.pem')}),
                             ('garbage', {'tls_cert': garbage, 'tls_key': garbage}),
                             ('wrong key', {'tls_key': other_key})):
            with self.subTest(broken=name):
                offset = srv._log_size()
                srv.write_config(dict(good, **broken))
                srv.signal(signal.SIGHUP)
                self.assertTrue(srv.wait_log(r'(?i)reload', offset=offset), srv.log_text(offset))
                time.sleep(0.2)
                log = srv.log_text(offset)
                self.assertRegex(log, r'(?i)(refus|fail|error|keep)', log)
                self.assertTrue(srv.running())
                self.assertEqual(self.subject(srv.sub_port), 'mail2.example.test')
                c = self.auth_client(srv.sub_port, server_hostname='mail2.example.test')
                self.send_message(c)
                c.close()

    def test_reload_says_sasl_waits_for_a_restart(self):
        # The SASL backend is set up once, at start-up: a reload that
        # changes its keys (here a sasldb fixed after a start without
        # one) must say it changed nothing, not leave AUTH off unsaid.
        srv = self.server()
        db = os.path.join(srv.dir, 'sasldb-moved')
        shutil.copy(sallytest.sasl_db(), db)
        log = srv.reload(dict(srv.overrides, sasl_sasldb_path=db))
        self.assertIn('reload: sasl_sasldb_path changed; the SASL keys take effect '
                      'at the next restart', log)
        log = srv.reload(dict(srv.overrides, sasl_sasldb_path=db))
        self.assertNotIn('SASL keys', log)
        c = self.auth_client(srv.sub_port)      # AUTH still served as before
        self.send_message(c)

    def test_reload_reads_the_key_as_the_service_user(self):
        # doc/submission.md: the key is read as root at start-up, but as
        # `user` on reload, so it needs group read for that user.
        if os.geteuid() != 0:
            self.skipTest('needs root (the daemon drops to user = nobody)')
        nobody = pwd.getpwnam('nobody')
        srv = sallytest.Server(user='nobody')
        self.addCleanup(srv.close)
        os.chmod(srv.dir, 0o755)
        _, cert, key = sallytest.tls_files()
        mine = {'cert': os.path.join(srv.dir, 'cert.pem'), 'key': os.path.join(srv.dir, 'key.pem'),
                'db': os.path.join(srv.dir, 'sasldb2')}
        for src, dst in ((cert, mine['cert']), (key, mine['key']), (sallytest.sasl_db(), mine['db'])):
            with open(src, 'rb') as f, open(dst, 'wb') as g:
                g.write(f.read())
        os.chmod(mine['key'], 0o600)            # root only
        os.chown(mine['db'], 0, nobody.pw_gid)
        os.chmod(mine['db'], 0o640)
        conf = dict(user='nobody', tls_cert=mine['cert'], tls_key=mine['key'],
                    sasl_sasldb_path=mine['db'])
        srv.overrides = dict(conf)
        srv.write_config()
        srv.start()
        self.assertEqual(self.subject(srv.sub_port), 'mail.example.test')
        c = self.auth_client(srv.sub_port)      # the sasldb, read as nobody
        self.send_message(c)
        offset = srv._log_size()
        srv.reload(conf)
        self.assertTrue(srv.wait_log(r'reload: TLS certificate refused: .*Permission denied',
                                     offset=offset), srv.log_text(offset))
        self.assertEqual(self.subject(srv.sub_port), 'mail.example.test')
        # Group read for the user's group: the reload takes the file.
        os.chown(mine['key'], 0, nobody.pw_gid)
        os.chmod(mine['key'], 0o640)
        offset = srv._log_size()
        srv.reload(conf)
        self.assertTrue(srv.wait_log(r'reloaded configuration', offset=offset))
        log = srv.log_text(offset)
        self.assertRegex(log, r'reload: TLS certificate CN=mail\.example\.test')
        self.assertNotIn('refused', log)

if __name__ == '__main__':
    sallytest.main()
