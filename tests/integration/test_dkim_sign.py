"""DKIM signing of our own mail, end to end: a message submitted (AUTH
after STARTTLS on submission, or from a mynetworks client on the mx port)
is queued with its signatures and delivered by the queue runner to a real
SMTP sink (aiosmtpd), where both signatures, RSA and Ed25519, must verify
with dkimpy's dkimverify and OpenDKIM's opendkim-testmsg; also for bodies
with trailing blank lines, long folded fields, 8-bit content and
dot-stuffed lines. Mail from an untrusted client on the mx port, mail
whose From: domain has no key, and mail without a From field or with
two are delivered unsigned (the last two logged).

The keys are made by `sallyport --dkim-keygen`, and its records, as
printed, are published by a real DNS server, dnsmasq. dkimverify and
opendkim-testmsg take their name server from /etc/resolv.conf, so the test
process moves into private network and mount namespaces where a
resolv.conf names only that dnsmasq (sallytest_dnsns; needs root). No
query can leave the machine: the namespace has no other interface.
"""

import os
import re
import shutil
import subprocess
import tempfile

import mailsinks
import sallytest
import sallytest_dnsns
import test_dkim

DOMAIN = 'example.com'        # the signing domain (From:)
LOCAL = 'example.test'        # the server's local domain
SKIP = None
TMP = None
DNS = None
KEYS = {}       # selector: key file

# The messages of test_dkim.py, where the library alone signs them: here
# they go through the server. From: is alice@example.com.
MESSAGES = test_dkim.MESSAGES
PLAIN = test_dkim.PLAIN


def keygen(selector, alg, directory):
    """sallyport --dkim-keygen; (key file, {record name: its text})"""
    p = subprocess.run([sallytest.binary(), '--dkim-keygen', DOMAIN, selector, alg, directory],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=True)
    out = p.stdout.decode()
    line = [l for l in out.splitlines() if not l.startswith(';')][0]
    name = line.split()[0].rstrip('.')
    strings = re.findall(r'"([^"]*)"', line)
    assert all(len(t) <= 255 for t in strings), line
    return (os.path.join(directory, '%s.%s.key' % (DOMAIN, selector)),
            {name: ''.join(strings)})


def setUpModule():
    global SKIP, TMP, DNS
    TMP = tempfile.mkdtemp(prefix='sallytest-dkimsign-')
    SKIP = sallytest_dnsns.enter(TMP)
    if SKIP:
        return
    records = {}
    for selector, alg in (('rsa2026', 'rsa'), ('ed2026', 'ed25519'), ('rsa2027', 'rsa')):
        KEYS[selector], rec = keygen(selector, alg, TMP)
        records.update(rec)
    DNS = sallytest_dnsns.TxtServer(records, zones=(DOMAIN, 'remote.test', 'invalid')).start()


def tearDownModule():
    if DNS is not None:
        DNS.close()
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)


def signatures(message):
    """The DKIM-Signature fields on top of a message, unfolded, as
    {tag: value} dicts."""
    head = message.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
    fields = re.split(r'\r\n(?![ \t])', head)
    out = []
    for f in fields:
        if f.lower().startswith('dkim-signature:'):
            value = re.sub(r'\s+', '', f.split(':', 1)[1])
            out.append(dict(t.split('=', 1) for t in value.split(';') if t))
    return out


class DkimSign(sallytest.TestCase):

    def setUp(self):
        if SKIP:
            self.skipTest(SKIP)
        mailsinks.need_aiosmtpd(self)
        self.need('dkimverify')
        self.need('opendkim-testmsg')
        self.tmp = tempfile.mkdtemp(prefix='sallytest-dkimsign-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.sink = mailsinks.SmtpSink()
        self.addCleanup(self.sink.stop)
        self.sink.start()
        self.mailroot = os.path.join(self.tmp, 'mail')
        self.srv = sallytest.Server(
            delivery='yes', smarthost=self.sink.smarthost, smarthost_tls='none',
            local_delivery='maildir:%s/%%d/%%u/Maildir' % self.mailroot,
            mailbox_users=['user', 'alice'], mynetworks='127.0.0.1/32 ::1/128',
            dns_servers=DNS.server, retry_min='1s', retry_max='1m')
        self.srv.write_config(extra_lines=self.key_lines('rsa2026', 'ed2026'))
        self.addCleanup(self._close_server, self.srv)
        self.addCleanup(self.srv.kill)
        self.srv.start()

    def key_lines(self, *selectors):
        return ['dkim_sign = %s %s %s' % (DOMAIN, s, KEYS[s]) for s in selectors]

    # --- sending and receiving ---------------------------------------------

    def submit(self, message, sender=sallytest.ALICE, rcpts=('bob@remote.test',)):
        """AUTH on the submission port after STARTTLS; the queue id"""
        with self.auth_client(self.srv.sub_port) as c:
            r = c.transaction(sender, rcpts, message)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        return r.queue_id()

    def send_mx(self, message, source='127.0.0.1', rcpts=('bob@remote.test',)):
        """Plain SMTP on the mx port from source; the queue id"""
        with sallytest.Client(self.srv.mx_port, source=source) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction('alice@example.test', rcpts, message)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        return r.queue_id()

    def delivered(self, n=1):
        """The n-th message the sink received (bytes, CRLF)"""
        got = self.sink.wait(n, timeout=30)
        self.assertGreaterEqual(len(got), n, 'the sink got %d messages' % len(got))
        return got[n - 1].content

    def maildir_message(self, user='user'):
        """The first message in user's Maildir (bytes)"""
        new = os.path.join(self.mailroot, LOCAL, user, 'Maildir', 'new')
        self.assertTrue(sallytest.wait_until(
            lambda: os.path.isdir(new) and os.listdir(new), 30), 'nothing in %s' % new)
        with open(os.path.join(new, sorted(os.listdir(new))[0]), 'rb') as f:
            return f.read()

    # --- the verifiers -------------------------------------------------------

    def dkimverify(self, message, index):
        p = subprocess.run(['dkimverify', '--index', str(index)], input=message,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode('utf-8', 'replace')
        return p.returncode == 0 and 'signature ok' in out, out

    def opendkim(self, message):
        p = subprocess.run(['opendkim-testmsg'], input=message, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        return p.returncode == 0, p.stdout.decode('utf-8', 'replace')

    def assert_signed(self, message, what):
        sigs = signatures(message)
        self.assertEqual(sorted((s['a'], s['s'], s['d']) for s in sigs),
                         [('ed25519-sha256', 'ed2026', DOMAIN),
                          ('rsa-sha256', 'rsa2026', DOMAIN)],
                         '%s: %r' % (what, message[:2000]))
        for s in sigs:
            self.assertEqual(s['c'], 'relaxed/relaxed')
            self.assertNotIn('l', s)
            h = [f.lower() for f in s['h'].split(':')]
            # From oversigned: once more than it occurs
            self.assertEqual(h.count('from'), 2, s['h'])
        for index in (0, 1):
            ok, out = self.dkimverify(message, index)
            self.assertTrue(ok, '%s: dkimverify --index %d: %s' % (what, index, out))
        ok, out = self.opendkim(message)
        self.assertTrue(ok, '%s: opendkim-testmsg: %s' % (what, out))

    # --- the tests -----------------------------------------------------------

    def test_submission_is_signed_and_verifies(self):
        for n, (name, msg) in enumerate(sorted(MESSAGES.items()), 1):
            qid = self.submit(msg)
            got = self.delivered(n)
            self.assert_signed(got, name)
            # the message below the signatures is the one sent
            self.assertTrue(got.endswith(msg), name)
            self.assertIsNotNone(self.srv.wait_log(r'id=%s dkim: signed d=%s s=ed2026,rsa2026'
                                                   r'|id=%s dkim: signed d=%s s=rsa2026,ed2026'
                                                   % (qid, DOMAIN, qid, DOMAIN)))

    def test_mynetworks_client_is_signed(self):
        self.send_mx(PLAIN)
        self.assert_signed(self.delivered(), 'mynetworks')

    def test_changed_message_fails(self):
        """The verifiers are not blind: a body changed after signing fails."""
        self.submit(PLAIN)
        got = self.delivered().replace(b'See you at noon.', b'See you at one.')
        self.assertFalse(self.dkimverify(got, 0)[0])
        self.assertFalse(self.opendkim(got)[0])

    def test_untrusted_mx_client_is_not_signed(self):
        self.send_mx(PLAIN, source='127.0.0.5', rcpts=('user@example.test',))
        got = self.maildir_message()
        self.assertNotIn(b'DKIM-Signature', got)
        self.assertIn(b'See you at noon.', got)

    def test_domain_without_key_is_not_signed(self):
        msg = PLAIN.replace(b'alice@example.com', b'carol@other.test')
        self.submit(msg)
        got = self.delivered()
        self.assertEqual(signatures(got), [])
        self.assertTrue(got.endswith(msg))

    def test_no_from_or_two_are_not_signed_and_logged(self):
        none = re.sub(rb'From: [^\r]*\r\n', b'', PLAIN)
        two = b'From: mallory@example.com\r\n' + PLAIN
        for n, (msg, why) in enumerate(((none, 'no From field'),
                                        (two, 'several From fields')), 1):
            qid = self.submit(msg)
            got = self.delivered(n)
            self.assertEqual(signatures(got), [], why)
            self.assertTrue(got.endswith(msg))
            self.assertIsNotNone(self.srv.wait_log(r'id=%s dkim: not signed: %s' % (qid, why)))

    def test_bounce_quotes_the_message_unsigned(self):
        """A bounce of signed mail returns the original header as it was
        received: our signatures are not in it."""
        self.sink.refuse['bob@remote.test'] = '550 5.1.1 no such user'
        self.submit(PLAIN)
        bounce = self.maildir_message('alice')
        self.assertIn(b'Subject: lunch', bounce)
        self.assertIn(b'550 5.1.1 no such user', bounce)
        self.assertNotIn(b'DKIM-Signature', bounce)

    def test_subdomains_only_when_configured(self):
        msg = PLAIN.replace(b'alice@example.com', b'alice@lists.example.com')
        self.submit(msg)
        self.assertEqual(signatures(self.delivered(1)), [])
        self.srv.reload(dict(self.srv.overrides, dkim_sign_subdomains='yes'),
                        extra_lines=self.key_lines('rsa2026', 'ed2026'))
        self.submit(msg)
        # signed by the parent, d=example.com, and valid
        self.assert_signed(self.delivered(2), 'subdomain')

    def test_reload_rotates_keys_and_keeps_them_on_a_bad_file(self):
        self.srv.reload(extra_lines=self.key_lines('rsa2027'))
        self.submit(PLAIN)
        got = self.delivered(1)
        self.assertEqual([(s['s'], s['d']) for s in signatures(got)], [('rsa2027', DOMAIN)])
        self.assertTrue(self.dkimverify(got, 0)[0])
        self.assertTrue(self.opendkim(got)[0])
        # a key file others may read: the reload is refused, naming the
        # line, and the keys in use stay
        loose = os.path.join(self.tmp, 'loose.key')
        shutil.copy(KEYS['ed2026'], loose)
        os.chmod(loose, 0o644)
        text = self.srv.reload(extra_lines=['dkim_sign = %s loose %s' % (DOMAIN, loose)])
        self.assertRegex(text, r'sallyport\.conf:\d+: dkim_sign: key file "%s": mode 0644'
                         % re.escape(loose))
        self.assertRegex(text, sallytest.MASTER_REFUSED)
        self.submit(PLAIN)
        self.assertEqual([s['s'] for s in signatures(self.delivered(2))], ['rsa2027'])


if __name__ == '__main__':
    sallytest.main()
