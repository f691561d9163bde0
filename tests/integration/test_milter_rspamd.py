#!/usr/bin/env python3
"""rspamd in front of sallyport's queue, as doc/filtering.md sets it up:
Debian's rspamd, its proxy worker in milter mode (rspamdpeer.py: run
privately, no Redis, its DNS a loopback dnsmasq that knows no name), is
sallyport's milter on the mx listener. GTUBE is refused with rspamd's
own text, a clean message is delivered with rspamd's header fields, and
with rspamd stopped each milter_default_action does what it says."""

import os
import re
import shutil
import tempfile

import sallytest
from sallytest import CRLF
from rspamdpeer import Rspamd

GTUBE = b'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
SENDER = 'alice@example.org'


def message(subject, body):
    return CRLF.join([
        b'From: Alice <alice@example.org>',
        b'To: Bob <bob@example.test>',
        b'Subject: ' + subject,
        b'Date: Wed, 02 Dec 2026 08:00:00 +0000',
        b'Message-ID: <%s@example.org>' % subject.replace(b' ', b'.'),
        b'',
        body,
        b'']) + CRLF


CLEAN = message(b'lunch', b'Hello Bob, lunch at noon on Friday? Alice')


class RspamdCase(sallytest.TestCase):
    """One rspamd for the class (its start-up loads every module)."""

    @classmethod
    def setUpClass(cls):
        cls.dns = sallytest.Dnsmasq(zones=('#',))     # NXDOMAIN for every name
        cls.dns.start()
        cls.rspamd = Rspamd(cls.dns.server)
        try:
            cls.rspamd.start()
        except BaseException:
            cls.rspamd.close()
            cls.dns.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.rspamd.close()
        cls.dns.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sallytest-rspamd-test-')
        if not os.environ.get('SALLYTEST_KEEP'):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mailroot = os.path.join(self.tmp, 'mail')

    def rspamd_server(self, milter_options='', **conf):
        conf.setdefault('milter', 'rspamd %s %s' % (self.rspamd.address, milter_options))
        conf.update(delivery='yes', retry_min='1s', retry_max='1m',
                    local_delivery='maildir:%s/%%d/%%u/Maildir' % self.mailroot)
        return self.server(**conf)

    def mailbox(self, user, n=1, timeout=20):
        return sallytest.maildir_messages(
            os.path.join(self.mailroot, 'example.test', user, 'Maildir'), n, timeout)

    def deliver_clean(self, srv):
        """A clean message through rspamd; (queue id, the delivered file)."""
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction(SENDER, ['bob@example.test'], CLEAN)
        self.assertEqual(r.code, 250, '%r\n%s' % (r, srv.log_text()[-3000:]))
        got = self.mailbox('bob')
        self.assertEqual(len(got), 1)
        return r.queue_id(), got[0]


class TestRspamd(RspamdCase):
    def test_gtube_refused_with_rspamds_text(self):
        srv = self.rspamd_server()
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction(SENDER, ['bob@example.test'], message(b'gtube', GTUBE))
        # the reason rspamd logged for its reject is the text the client got
        why = sallytest.wait_until(lambda: re.findall(
            r"set pre-result to 'reject' \([0-9.]+\): '([^']+)'", self.rspamd.log_text()), 20)
        self.assertTrue(why, self.rspamd.log_text()[-3000:])
        self.assertEqual(r.lines, ['554 5.7.1 ' + why[-1]])
        self.assertEqual(srv.queue_names(), [])
        self.assertEqual(srv.tmp_names(), [])
        self.assertTrue(srv.wait_log(r'milter=rspamd: .*(reject|554)'), srv.log_text()[-3000:])
        # the session goes on: the next message is taken
        r = c.transaction(SENDER, ['bob@example.test'], CLEAN)
        self.assertEqual(r.code, 250, r)

    def test_clean_message_delivered_with_rspamds_fields(self):
        srv = self.rspamd_server()
        qid, got = self.deliver_clean(srv)
        head, body = got.split(b'\n\n', 1)
        fields = re.split(rb'\n(?![ \t])', head)
        names = [f.split(b':', 1)[0] for f in fields]
        for name in (b'X-Spamd-Result', b'X-Rspamd-Server', b'X-Rspamd-Queue-Id'):
            self.assertIn(name, names, head.decode())
        # the queue id rspamd was given (macro i) is sallyport's, and
        # rspamd's log names the same
        self.assertIn(b'X-Rspamd-Queue-Id: ' + qid.encode(), fields)
        self.assertTrue(sallytest.wait_until(
            lambda: re.search(r'qid: <%s>' % qid, self.rspamd.log_text()), 20),
            self.rspamd.log_text()[-3000:])
        # its verdict: not spam, with the score it logged
        self.assertRegex(dict((f.split(b':', 1)[0], f) for f in fields)[b'X-Spamd-Result'],
                         rb'^X-Spamd-Result: default: False \[')
        # the message itself is as sent
        self.assertEqual(body, CLEAN.split(CRLF + CRLF, 1)[1].replace(CRLF, b'\n'))
        self.assertIn(b'\n'.join(CLEAN.split(CRLF + CRLF)[0].split(CRLF)) + b'\n', head + b'\n')
        self.assertTrue(srv.wait_log(r'id=%s milter=rspamd: \+\d+ header field' % qid),
                        srv.log_text()[-3000:])


class TestRspamdDown(RspamdCase):
    """rspamd works, then is stopped: each milter_default_action."""

    def first_refusal(self, srv):
        """EHLO, MAIL, RCPT, DATA until one is refused; that reply (the
        milter's connect step fails, so which command gets it is the
        client's first one: doc/filtering.md)."""
        c = self.client(srv.mx_port)
        for cmd in ('EHLO client.example', 'MAIL FROM:<%s>' % SENDER,
                    'RCPT TO:<bob@example.test>', 'DATA'):
            r = c.cmd(cmd)
            if r.code >= 400:
                return r
        self.fail('nothing refused; DATA got %r' % r)

    def test_default_actions(self):
        srv = self.rspamd_server()
        qid, got = self.deliver_clean(srv)
        self.assertIn(b'\nX-Rspamd-Queue-Id: ' + qid.encode() + b'\n', got)
        self.rspamd.stop()

        # tempfail (the default): nothing is taken, the client is told to
        # come back
        r = self.first_refusal(srv)
        self.assertEqual(r.lines, ['451 4.7.1 Service unavailable - try again later'])
        self.assertEqual(srv.queue_names(), [])
        self.assertTrue(srv.wait_log(r'milter=rspamd: .*default action tempfail'),
                        srv.log_text()[-3000:])

        # reject
        srv = self.rspamd_server('default_action=reject')
        self.assertEqual(self.first_refusal(srv).lines, ['550 5.7.1 Command rejected'])
        self.assertTrue(srv.wait_log(r'milter=rspamd: .*default action reject'))

        # accept: the mail flows, without rspamd's fields
        self.mailroot = os.path.join(self.tmp, 'mail-accept')
        srv = self.rspamd_server('default_action=accept')
        qid, got = self.deliver_clean(srv)
        self.assertNotIn(b'X-Rspamd', got)
        self.assertNotIn(b'X-Spamd', got)
        self.assertTrue(srv.wait_log(r'milter=rspamd: .*default action accept'))


if __name__ == '__main__':
    sallytest.main()
