"""sender_login_map against the real daemon with real SMTP AUTH (Cyrus
SASL, the sasldb of sallytest: alice@example.test, bob@example.test and
the bare login carol): who may use which address at MAIL and in From:,
a shared mailbox, a domain admin, the null sender, the map with
sender_login_check, a broken map at --check-config and at a reload, and
a changed map taken with SIGHUP. Every connection stays on 127.0.0.1."""

import os
import re
import shutil
import smtplib
import subprocess
import tempfile

import sallytest
from sallytest import ALICE, PASSWORD

MAP = """\
# login: the addresses and @domains it may send as
alice@example.test: alice@example.test, info@example.test
bob@example.test:   bob@example.test
    info@example.test
carol: @example.test @other.test
"""


def not_owned(address, login):
    return ('553 5.7.1 <%s>: Sender address rejected: not owned by user %s'
            % (address, login))


def message(author):
    return ('From: %s\r\nTo: u@example.test\r\nSubject: who sends\r\n\r\nhello\r\n'
            % author).encode()


class SenderMap(sallytest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='sallytest-smap-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.map = self.write_map(MAP)

    def write_map(self, text, name='sender_map'):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def start(self, **kw):
        return self.server(sender_login_map=self.map,
                           local_domains='example.test other.test', **kw)

    def mail(self, c, sender):
        r = c.cmd('MAIL FROM:<%s>' % sender)
        if r.code == 250:
            self.assertEqual(c.cmd('RSET').code, 250)
        return r.last

    def test_envelope_at_mail(self):
        srv = self.start()
        alice = self.auth_client(srv.sub_port)
        for sender in ('alice@example.test', 'Info@Example.Test', ''):
            self.assertEqual(self.mail(alice, sender), '250 2.1.0 Ok', sender)
        for sender in ('bob@example.test', 'alice@other.test', 'alice@example.org'):
            self.assertEqual(self.mail(alice, sender), not_owned(sender, ALICE))
        # The shared mailbox is bob's too, alice's own address is not.
        bob = self.auth_client(srv.sub_port, 'bob@example.test', 'builder')
        self.assertEqual(self.mail(bob, 'info@example.test'), '250 2.1.0 Ok')
        self.assertEqual(self.mail(bob, 'alice@example.test'),
                         not_owned('alice@example.test', 'bob@example.test'))
        # The domain admin: any address of her domains, none elsewhere.
        carol = self.auth_client(srv.sub_port, 'carol', 'rosebud')
        for sender in ('anyone@example.test', 'alice@example.test', 'x@other.test'):
            self.assertEqual(self.mail(carol, sender), '250 2.1.0 Ok', sender)
        self.assertEqual(self.mail(carol, 'carol@example.org'),
                         not_owned('carol@example.org', 'carol'))
        self.assertTrue(srv.wait_log(r'reject: MAIL from \[127\.0\.0\.1\]: '
                                     r'<carol@example\.org> not owned by user carol'))

    def test_from_field_at_end_of_data(self):
        srv = self.start()
        c = self.auth_client(srv.sub_port)
        # An envelope of her own does not let alice sign as bob.
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(message('Bob <bob@example.test>'))
        self.assertEqual(r.lines, [not_owned('bob@example.test', ALICE)])
        self.assertEqual(srv.queue_names(), [], 'refused: nothing queued')
        self.assertTrue(srv.wait_log(r'reject: DATA \(From:\) from \[127\.0\.0\.1\]: '
                                     r'<bob@example\.test> not owned by user alice@example\.test'))
        # One author of two that is not hers is enough.
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(message('alice@example.test, carol@other.test'))
        self.assertEqual(r.lines, [not_owned('carol@other.test', ALICE)])
        self.assertEqual(srv.queue_names(), [])
        # The shared mailbox in From:, sent by a real client (smtplib).
        with smtplib.SMTP('127.0.0.1', srv.sub_port, timeout=30) as s:
            s.starttls(context=sallytest.tls_context())
            s.login(ALICE, PASSWORD)
            s.sendmail('alice@example.test', ['u@example.test'],
                       message('"The Info Desk" <info@example.test>'))
            try:
                s.sendmail('alice@example.test', ['u@example.test'],
                           message('bob@example.test'))
                self.fail('From: bob@example.test was accepted from alice')
            except smtplib.SMTPDataError as e:
                self.assertEqual(e.smtp_code, 553)
                self.assertIn(b'<bob@example.test>: Sender address rejected', e.smtp_error)
        srv.wait_queue(1)
        entries = srv.queue_entries()
        self.assertEqual(len(entries), 1, [e.name for e in entries])
        self.assertIn(b'From: "The Info Desk" <info@example.test>', entries[0].body)
        # The domain admin may write any author of her domain.
        carol = self.auth_client(srv.sub_port, 'carol', 'rosebud')
        r = carol.transaction('carol@example.test', ['u@example.test'],
                              message('Newsletter <news@example.test>'))
        self.assertEqual(r.code, 250, r)

    def test_map_wins_over_sender_login_check(self):
        # Alone, sender_login_check would let alice use alice@other.test
        # and nothing else of example.test; the map decides.
        srv = self.start(sender_login_check='yes')
        c = self.auth_client(srv.sub_port)
        self.assertEqual(self.mail(c, 'info@example.test'), '250 2.1.0 Ok')
        self.assertEqual(self.mail(c, 'alice@other.test'),
                         not_owned('alice@other.test', ALICE))

    def test_broken_map_check_config_and_reload(self):
        srv = self.start()
        bad = self.write_map(MAP + 'dave@example.test dave@example.test\n', 'bad_map')
        srv2 = sallytest.Server(sender_login_map=bad)
        self.addCleanup(srv2.close)
        p = subprocess.run([srv2.bin, '-n', '-c', srv2.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        err = p.stderr.decode('utf-8', 'replace')
        self.assertNotEqual(p.returncode, 0, err)
        self.assertIn('%s:6: missing \':\' (expected login: addresses)' % bad, err)
        # A reload with the broken map is refused; the old one stays.
        log = srv.reload(dict(srv.overrides, sender_login_map=bad))
        self.assertIn('reload failed: keeping the running configuration', log)
        self.assertIn('%s:6:' % bad, log)
        c = self.auth_client(srv.sub_port)
        self.assertEqual(self.mail(c, 'info@example.test'), '250 2.1.0 Ok')
        # A good change is taken with SIGHUP, by new sessions.
        self.write_map(MAP.replace('alice@example.test: alice@example.test, info@example.test',
                                   'alice@example.test: alice@example.test'))
        log = srv.reload(dict(srv.overrides, sender_login_map=self.map))
        self.assertNotRegex(log, r'(?i)reload (failed|refused)')
        c = self.auth_client(srv.sub_port)
        self.assertEqual(self.mail(c, 'info@example.test'),
                         not_owned('info@example.test', ALICE))


if __name__ == '__main__':
    sallytest.main()
