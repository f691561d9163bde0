"""DKIM signing and verification (src/auth/dkim_*) against independent
implementations packaged in Debian.

Our signer's messages must verify with dkimpy's dkimverify (python3-dkim)
and with OpenDKIM's opendkim-testmsg (opendkim-tools); messages signed by
dkimpy's dkimsign and by the OpenDKIM milter (driven by miltertest) must
verify with our verifier, and the usual forgeries must fail in all of them.
The library is driven by tests/dkim-tool, which streams the message in
chunks of a chosen size and looks the keys up over DNS.

The keys are published by a real DNS server, dnsmasq, answering for
example.com and football.example.com only. Since dkimverify and
opendkim-testmsg take their name server from /etc/resolv.conf, the test
process moves into private network and mount namespaces (needs root): lo
is brought up, dnsmasq listens on 127.0.0.1:53 there, and a resolv.conf
naming only 127.0.0.1 is bind-mounted over /etc/resolv.conf. No query can
leave the machine: the namespace has no other interface (sallytest_dnsns). Without root, or
where namespaces are refused, every test is skipped with the reason.
"""

import base64
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import sallytest
import sallytest_dnsns


DEBIAN_PYTHON = '/usr/bin/python3'     # the interpreter python3-dkim is built for
NOW = int(time.time())
SKIP = None
KEYS = None     # the key directory
DNS = None

# Messages as a client's DATA delivers them to the library: CRLF, the
# dot-stuffing already undone.
PLAIN = (b'From: Alice <alice@example.com>\r\n'
         b'To: Bob <bob@example.net>\r\n'
         b'Subject: lunch\r\n'
         b'Date: Wed, 02 Dec 2026 02:00:00 +0000\r\n'
         b'Message-ID: <plain@example.com>\r\n'
         b'\r\n'
         b'See you at noon.\r\n')

# opendkim-testmsg refuses a message without Date (RFC 5322 requires it).
DATE = b'Date: Wed, 02 Dec 2026 02:00:00 +0000\r\n'

TRAILING_BLANKS = (b'From: alice@example.com\r\n'
                   b'To: bob@example.net\r\n' + DATE +
                   b'Subject: blank lines at the end\r\n'
                   b'\r\n'
                   b'text  with  runs   of blanks \t\r\n'
                   b'\r\n'
                   b'\r\n'
                   b'   \r\n'
                   b'\r\n')

LONG_FOLDED = (b'From: "Alice Example, the one with the very long display name"\r\n'
               b' <alice@example.com>\r\n'
               b'To: ' + b',\r\n\t'.join(b'person%d@example.net' % i for i in range(30)) + b'\r\n'
               b'Subject: ' + b' '.join([b'word'] * 40) + b'\r\n'
               b' and a continuation line\r\n'
               b'\t\tindented with tabs\r\n'
               + DATE +
               b'List-Id: A list <list.example.com>\r\n'
               b'List-Unsubscribe: <mailto:unsubscribe@example.com>\r\n'
               b'MIME-Version: 1.0\r\n'
               b'Content-Type: text/plain; charset=us-ascii\r\n'
               b'\r\n' + b'x' * 990 + b'\r\n' + b'short line\r\n')

EIGHT_BIT = ('From: Zoë <zoe@example.com>\r\n'
             'To: bob@example.net\r\n'
             'Subject: crème brûlée\r\n'
             'Date: Wed, 02 Dec 2026 02:00:00 +0000\r\n'
             'MIME-Version: 1.0\r\n'
             'Content-Type: text/plain; charset=utf-8\r\n'
             'Content-Transfer-Encoding: 8bit\r\n'
             '\r\n'
             'Grüße aus Köln — ünïcödé, and a tab\there.\r\n').encode('utf-8') + \
    b'raw bytes \xff\xfe\x80 too\r\n'

# The body as the client sent it in DATA, dot-stuffed; unstuffed below.
DOT_STUFFED_WIRE = (b'From: alice@example.com\r\n'
                    b'To: bob@example.net\r\n' + DATE +
                    b'Subject: dots\r\n'
                    b'\r\n'
                    b'..\r\n'
                    b'...two dots\r\n'
                    b'..leading dot\r\n'
                    b'not. leading\r\n'
                    b'.\r\n')


def unstuff(wire):
    """DATA content as the server keeps it: final '.' line gone, the
    leading dot of every other line removed."""
    assert wire.endswith(b'\r\n.\r\n')
    return re.sub(rb'(?m)^\.', b'', wire[:-3])


DOT_STUFFED = unstuff(DOT_STUFFED_WIRE)

MESSAGES = {'plain': PLAIN, 'trailing_blanks': TRAILING_BLANKS,
            'long_folded': LONG_FOLDED, 'eight_bit': EIGHT_BIT,
            'dot_stuffed': DOT_STUFFED}

# RFC 8463 Appendix A.3, signed with the keys of A.2.
RFC8463 = (b'DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n'
           b' d=football.example.com; i=@football.example.com;\r\n'
           b' q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n'
           b' subject : date : message-id : from : subject : date;\r\n'
           b' bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n'
           b' b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n'
           b' Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n'
           b'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n'
           b' d=football.example.com; i=@football.example.com;\r\n'
           b' q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n'
           b' date : message-id : from : subject : date;\r\n'
           b' bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n'
           b' b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n'
           b' DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n'
           b' dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n'
           b'From: Joe SixPack <joe@football.example.com>\r\n'
           b'To: Suzie Q <suzie@shopping.example.net>\r\n'
           b'Subject: Is dinner ready?\r\n'
           b'Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n'
           b'Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n'
           b'\r\n'
           b'Hi.\r\n'
           b'\r\n'
           b'We lost the game.  Are you hungry yet?\r\n'
           b'\r\n'
           b'Joe.\r\n')
RFC8463_RECORDS = {
    'brisbane._domainkey.football.example.com':
        'v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=',
    'test._domainkey.football.example.com':
        'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6'
        'NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/'
        'e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTI'
        'KT+l/K4w3QIDAQAB',
}


def dkim_tool():
    return os.path.join(os.path.dirname(os.path.dirname(sallytest.binary())),
                        'tests', 'dkim-tool')


def openssl(*args, data=None):
    return subprocess.run(['openssl'] + list(args), input=data, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout


def make_keys(directory):
    """rsa.pem (2048), ed.pem, short.pem (768 bits: refused by RFC 8301),
    ed.seed (dkimpy's Ed25519 key file); {selector: TXT record}."""
    for name, args in (('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
                       ('short', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:768']),
                       ('ed', ['-algorithm', 'ED25519'])):
        path = os.path.join(directory, name + '.pem')
        openssl('genpkey', *args, '-out', path)
        os.chmod(path, 0o600)
    der = openssl('pkey', '-in', os.path.join(directory, 'ed.pem'), '-outform', 'DER')
    with open(os.path.join(directory, 'ed.seed'), 'wb') as f:
        f.write(base64.b64encode(der[-32:]) + b'\n')
    records = {}
    for name in ('rsa', 'short'):
        der = openssl('pkey', '-in', os.path.join(directory, name + '.pem'),
                      '-pubout', '-outform', 'DER')
        records[name] = 'v=DKIM1; k=rsa; p=' + base64.b64encode(der).decode()
    der = openssl('pkey', '-in', os.path.join(directory, 'ed.pem'), '-pubout', '-outform', 'DER')
    records['ed'] = 'v=DKIM1; k=ed25519; p=' + base64.b64encode(der[-32:]).decode()
    records['revoked'] = 'v=DKIM1; k=rsa; p='
    return {'%s._domainkey.example.com' % s: r for s, r in records.items()}


def setUpModule():
    global SKIP, KEYS, DNS
    KEYS = tempfile.mkdtemp(prefix='sallytest-dkim-')
    SKIP = sallytest_dnsns.enter(KEYS)
    if SKIP:
        return
    records = make_keys(KEYS)
    records.update(RFC8463_RECORDS)
    DNS = sallytest_dnsns.TxtServer(
        records, zones=('example.com', 'football.example.com', 'invalid')).start()


def tearDownModule():
    if DNS is not None:
        DNS.close()
    if KEYS is not None:
        shutil.rmtree(KEYS, ignore_errors=True)


def results(output):
    """dkim-tool verify's lines as dicts: result, header.d, ..., reason."""
    found = []
    for line in output.splitlines():
        m = re.match(r'dkim=(\S+)(.*?)(?: reason="(.*)")?$', line)
        assert m, line
        r = dict(kv.split('=', 1) for kv in m.group(2).split())
        r['result'] = m.group(1)
        r['reason'] = m.group(3) or ''
        found.append(r)
    return found


class Dkim(sallytest.TestCase):

    def setUp(self):
        if SKIP:
            self.skipTest(SKIP)
        self.tmp = tempfile.mkdtemp(prefix='sallytest-dkim-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, 'wb') as f:
            f.write(data)
        return p

    def key(self, name):
        return os.path.join(KEYS, name)

    # --- the three programs ---------------------------------------------

    def sign(self, message, *selectors, chunk=65536, now=NOW, expire=None):
        """message signed by our signer, one signature per selector"""
        argv = [dkim_tool(), 'sign', '-c', str(chunk), '-t', str(now)]
        if expire is not None:
            argv += ['-x', str(expire)]
        argv.append(self.path('unsigned.eml', message))
        for s in selectors:
            argv += ['example.com', s, self.key(s + '.pem')]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def verify(self, message, chunk=65536, partial_policy=False):
        """our verifier's results, the keys looked up at the loopback DNS"""
        argv = [dkim_tool(), 'verify', '-c', str(chunk), '-D', '127.0.0.1:53']
        if partial_policy:
            argv.append('-p')
        argv.append(self.path('verify.eml', message))
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return results(p.stdout.decode())

    def dkimverify(self, message, index=0):
        """(ok, output) from dkimpy's dkimverify"""
        prog = self.need('dkimverify')
        p = subprocess.run([prog, '--index', str(index)], input=message,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode('utf-8', 'replace')
        return p.returncode == 0 and 'signature ok' in out, out

    def opendkim_verify(self, message):
        """(ok, output) from OpenDKIM's opendkim-testmsg (silent on success)"""
        prog = self.need('opendkim-testmsg')
        p = subprocess.run([prog], input=message, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        return p.returncode == 0, p.stdout.decode('utf-8', 'replace')

    def dkimsign(self, message, selector, keyfile, *options):
        prog = self.need('dkimsign')
        p = subprocess.run([prog] + list(options) + [selector, 'example.com', self.key(keyfile)],
                           input=message, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b'DKIM-Signature:'), p.stdout[:200])
        return p.stdout

    def dkimpy_sign_length(self, message, selector, keyfile):
        """dkimpy's library with length=True (l=), which dkimsign cannot ask for"""
        code = ('import sys; sys.path.append("/usr/lib/python3/dist-packages"); import dkim; '
                'm = open(sys.argv[1], "rb").read(); k = open(sys.argv[2], "rb").read(); '
                'sys.stdout.buffer.write(dkim.sign(m, sys.argv[3].encode(), b"example.com", '
                'k, length=True) + m)')
        p = subprocess.run([DEBIAN_PYTHON, '-c', code, self.path('l.eml', message),
                            self.key(keyfile), selector],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def opendkim_sign(self, message):
        """message signed by the OpenDKIM milter (rsa-sha256, relaxed/relaxed,
        selector rsa), driven through the milter protocol by miltertest"""
        opendkim = self.need('opendkim')
        miltertest = self.need('miltertest')
        sock = os.path.join(self.tmp, 'opendkim.sock')
        conf = self.path('opendkim.conf', (
            'Syslog no\nMode s\nDomain example.com\nSelector rsa\n'
            'KeyFile %s\nRequireSafeKeys no\nCanonicalization relaxed/relaxed\n'
            'SignatureAlgorithm rsa-sha256\nSocket local:%s\nUMask 007\n'
            % (self.key('rsa.pem'), sock)).encode())
        head, body = message.split(b'\r\n\r\n', 1)
        lua = ['conn = mt.connect("local:%s", 80, 0.25)' % sock,
               'if conn == nil then error("no connection to opendkim") end',
               'mt.conninfo(conn, "localhost", "127.0.0.1")',
               'mt.macro(conn, SMFIC_MAIL, "i", "dkimtest")',
               'mt.mailfrom(conn, "alice@example.com")',
               'mt.rcptto(conn, "bob@example.net")']
        for field in re.split(rb'\r\n(?![ \t])', head):
            name, value = field.split(b':', 1)
            lua.append('mt.header(conn, %s, %s)' % (lua_string(name), lua_string(value.lstrip(b' '))))
        lua += ['mt.eoh(conn)',
                'mt.bodystring(conn, %s)' % lua_string(body),
                'mt.eom(conn)',
                'io.write(mt.getheader(conn, "DKIM-Signature", 0))',
                'mt.disconnect(conn)']
        script = self.path('sign.lua', '\n'.join(lua).encode())
        milter = subprocess.Popen([opendkim, '-f', '-x', conf], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        try:
            p = subprocess.run([miltertest, '-s', script], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
        finally:
            milter.terminate()
            log = milter.communicate(timeout=30)[0]
        self.assertEqual(p.returncode, 0, p.stdout + log)
        value = p.stdout.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
        self.assertIn(b'a=rsa-sha256', value)
        return b'DKIM-Signature:' + value + b'\r\n' + message

    # --- our signatures, checked by dkimpy and OpenDKIM -----------------------

    def test_our_signatures_verify_in_dkimpy_and_opendkim(self):
        chunks = {'plain': 1, 'trailing_blanks': 7, 'long_folded': 100,
                  'eight_bit': 3, 'dot_stuffed': 65536}
        for name, message in MESSAGES.items():
            for selector in ('rsa', 'ed'):
                with self.subTest(message=name, key=selector):
                    signed = self.sign(message, selector, chunk=chunks[name])
                    self.assertTrue(signed.endswith(message))
                    field = signed[:len(signed) - len(message)]
                    for line in field.split(b'\r\n'):
                        self.assertLess(len(line.expandtabs(8)), 78, field)
                    ok, out = self.dkimverify(signed)
                    self.assertTrue(ok, 'dkimverify: %s\n%s' % (out, signed.decode('utf-8', 'replace')))
                    ok, out = self.opendkim_verify(signed)
                    self.assertTrue(ok, 'opendkim-testmsg: %s\n%s' % (out, signed.decode('utf-8', 'replace')))
                    [r] = self.verify(signed, chunk=5)
                    self.assertEqual(r['result'], 'pass', r)

    def test_streaming_in_any_chunks_gives_the_same_signature(self):
        whole = self.sign(TRAILING_BLANKS, 'rsa', 'ed', chunk=1 << 20)
        for chunk in (1, 2, 3, 64):
            self.assertEqual(self.sign(TRAILING_BLANKS, 'rsa', 'ed', chunk=chunk), whole)

    def test_dual_signature_both_verify(self):
        signed = self.sign(LONG_FOLDED, 'rsa', 'ed')
        self.assertEqual(signed.count(b'DKIM-Signature:'), 2)
        for index in (0, 1):
            ok, out = self.dkimverify(signed, index)
            self.assertTrue(ok, out)
        results_ = self.verify(signed)
        self.assertEqual([(r['result'], r['header.a']) for r in results_],
                         [('pass', 'rsa-sha256'), ('pass', 'ed25519-sha256')])
        self.assertEqual({r['header.d'] for r in results_}, {'example.com'})

    def test_forgeries_of_our_signatures_fail_everywhere(self):
        signed = self.sign(PLAIN, 'rsa')
        forged = {
            'body': signed.replace(b'noon', b'one'),
            'subject': signed.replace(b'Subject: lunch', b'Subject: dinner'),
            'second From above': signed.replace(
                b'From: Alice', b'From: Mallory <m@evil.example>\r\nFrom: Alice'),
            'second From below': signed.replace(
                b'\r\n\r\n', b'\r\nFrom: Mallory <m@evil.example>\r\n\r\n', 1),
        }
        for what, message in forged.items():
            with self.subTest(what):
                self.assertFalse(self.dkimverify(message)[0])
                self.assertFalse(self.opendkim_verify(message)[0])
                [r] = self.verify(message)
                self.assertEqual(r['result'], 'fail', r)

    def test_expired_signature_fails(self):
        # two days ago, for a day (dkimpy allows 10 hours of clock skew)
        signed = self.sign(PLAIN, 'ed', now=NOW - 2 * 86400, expire=86400)
        self.assertIn(b'x=%d;' % (NOW - 86400), signed)
        self.assertFalse(self.dkimverify(signed)[0])
        [r] = self.verify(signed)
        self.assertEqual((r['result'], r['reason']), ('fail', 'signature expired'))
        fresh = self.sign(PLAIN, 'ed', now=NOW, expire=3600)
        self.assertEqual(self.verify(fresh)[0]['result'], 'pass')

    # --- their signatures, checked by us ------------------------------------

    def test_dkimpy_signatures_verify(self):
        cases = [('rsa', 'rsa.pem', []),
                 ('rsa', 'rsa.pem', ['--hcanon', 'simple', '--bcanon', 'simple']),
                 ('rsa', 'rsa.pem', ['--hcanon', 'relaxed', '--bcanon', 'relaxed']),
                 ('ed', 'ed.seed', ['--signalg', 'ed25519-sha256'])]
        for name, message in MESSAGES.items():
            for selector, keyfile, options in cases:
                with self.subTest(message=name, key=selector, options=options):
                    signed = self.dkimsign(message, selector, keyfile, *options)
                    for chunk in (1, 65536):
                        [r] = self.verify(signed, chunk=chunk)
                        self.assertEqual(r['result'], 'pass', r)
                        self.assertEqual((r['header.d'], r['header.s']), ('example.com', selector))

    def test_opendkim_signatures_verify(self):
        for name in ('plain', 'trailing_blanks', 'eight_bit', 'dot_stuffed'):
            with self.subTest(message=name):
                signed = self.opendkim_sign(MESSAGES[name])
                [r] = self.verify(signed, chunk=3)
                self.assertEqual(r['result'], 'pass', r)
                self.assertEqual(r['header.a'], 'rsa-sha256')

    def test_changed_messages_signed_by_others_fail(self):
        signed = {'dkimpy': self.dkimsign(PLAIN, 'rsa', 'rsa.pem'),
                  'opendkim': self.opendkim_sign(PLAIN)}
        for signer, message in signed.items():
            cases = {
                'body': (message.replace(b'noon', b'one'), 'body hash did not verify'),
                'subject': (message.replace(b'Subject: lunch', b'Subject: dinner'),
                            'signature did not verify'),
                'second From': (message.replace(
                    b'\r\n\r\n', b'\r\nFrom: Mallory <m@evil.example>\r\n\r\n', 1),
                    'signature did not verify'),
            }
            for what, (forged, reason) in cases.items():
                with self.subTest(signer=signer, change=what):
                    [r] = self.verify(forged)
                    self.assertEqual((r['result'], r['reason']), ('fail', reason))

    def test_revoked_key_fails(self):
        signed = self.dkimsign(PLAIN, 'revoked', 'rsa.pem')
        self.assertFalse(self.dkimverify(signed)[0])
        [r] = self.verify(signed)
        self.assertEqual((r['result'], r['reason'], r['header.s']), ('fail', 'key revoked', 'revoked'))

    def test_rsa_sha1_and_short_keys_fail(self):
        [r] = self.verify(self.dkimsign(PLAIN, 'rsa', 'rsa.pem', '--signalg', 'rsa-sha1'))
        self.assertEqual((r['result'], r['reason']), ('fail', 'rsa-sha1 is not acceptable (RFC 8301)'))
        [r] = self.verify(self.dkimsign(PLAIN, 'short', 'short.pem'))
        self.assertEqual((r['result'], r['reason']),
                         ('fail', 'RSA key of 768 bits, under 1024 (RFC 8301)'))

    def test_body_length_is_honoured_and_reported(self):
        signed = self.dkimpy_sign_length(PLAIN, 'rsa', 'rsa.pem')
        self.assertIn(b' l=', signed)
        [r] = self.verify(signed)
        self.assertEqual(r['result'], 'pass', r)
        self.assertEqual(r['l'], r['body'])
        appended = signed + b'Appended after signing.\r\n'
        [r] = self.verify(appended)
        self.assertEqual(r['result'], 'pass', r)
        self.assertLess(int(r['l']), int(r['body']))
        [r] = self.verify(appended, partial_policy=True)
        self.assertEqual(r['result'], 'policy', r)
        self.assertIn('unsigned', r['reason'])

    def test_rfc8463_example_verifies(self):
        ed, rsa = self.verify(RFC8463, chunk=1)
        self.assertEqual((ed['result'], ed['header.a'], ed['header.s']),
                         ('pass', 'ed25519-sha256', 'brisbane'))
        self.assertEqual(ed['header.i'], '@football.example.com')
        self.assertEqual((rsa['result'], rsa['header.a']), ('pass', 'rsa-sha256'))
        # the records served are the RFC's: dkimpy agrees
        self.assertTrue(self.dkimverify(RFC8463, 0)[0])

    def test_missing_keys_and_no_signature(self):
        signed = self.dkimsign(PLAIN, 'nosuch', 'rsa.pem')
        [r] = self.verify(signed)
        self.assertEqual((r['result'], r['reason']), ('permerror', 'no key record'))
        # a domain our DNS server does not serve: REFUSED, a temporary error
        elsewhere = self.sign(PLAIN, 'rsa').replace(b'd=example.com', b'd=elsewhere.test')
        [r] = self.verify(elsewhere)
        self.assertEqual((r['result'], r['header.d'], r['reason']),
                         ('temperror', 'elsewhere.test', 'key lookup failed for now'))
        self.assertEqual(self.verify(PLAIN), [{'result': 'none', 'reason': ''}])


def lua_string(data):
    """data as a Lua string literal (decimal escapes for anything unusual)"""
    return '"' + ''.join(chr(b) if 32 <= b < 127 and b not in b'"\\' else '\\%d' % b
                         for b in data) + '"'


if __name__ == '__main__':
    sallytest.main()
