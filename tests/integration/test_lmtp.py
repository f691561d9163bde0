"""Local delivery over LMTP to a real Dovecot (mailsinks.Dovecot).

Dovecot knows some of the mailbox users and refuses the others at RCPT
with its own 550 5.1.1: such a recipient is bounced once and is gone from
the queue, the others are in Dovecot's Maildirs. All recipients of a
message go to Dovecot in one LMTP transaction, and each log line carries
Dovecot's own reply for its recipient. Dovecot down: the recipient is
deferred with a log line and a last error, and delivered once Dovecot is
back. A Maildir that cannot be written is deferred the same way."""

import os
import re

import mailsinks
import sallytest
from test_delivery import DeliveryCase, SENDER, DELIVERY_WAIT, flat, message

KNOWN = ['user@example.test', 'other@example.test', SENDER]
UNKNOWN = 'third@example.test'      # a mailbox user Dovecot does not know
DOVECOT_UNKNOWN = "User doesn't exist"  # Dovecot's 550 5.1.1 text


class WarmCase(DeliveryCase):

    def warm_daemon(self, **overrides):
        """A daemon relaying through a sink that has already relayed a few
        messages: a server with some traffic behind it, whose delivery
        threads run on stacks that earlier ones left dirty (what made an
        outcome never initialised show)."""
        sink = self.sink()
        srv = self.smarthost(sink, **overrides)
        for n in range(3):
            self.send(srv, 'someone@example.org', ['friend@remote.test'],
                      message('warm %d' % n))
            self.assertEqual(len(sink.wait(n + 1)), n + 1)
        self.wait_empty(srv)
        return srv


class DovecotCase(WarmCase):

    def dovecot(self, start=True):
        d = mailsinks.Dovecot(KNOWN)
        self.addCleanup(d.close)
        return d.start() if start else d

    def queue_line(self, srv, rcpt):
        """rcpt's line in `sallyport --queue list` ('' when not listed)."""
        m = re.search(r'(?m)^.*<?%s>?.*$' % re.escape(rcpt), self.queue_cmd(srv, 'list'))
        return m.group(0) if m else ''


class DovecotLmtp(DovecotCase):

    def test_unknown_user_bounced_once(self):
        dovecot = self.dovecot()
        srv = self.warm_daemon(local_delivery=dovecot.local_delivery)
        msg = message('to dovecot')
        qid = self.send(srv, SENDER, ['user@example.test', UNKNOWN, 'other@example.test'],
                        msg)
        # The entry is finished: nobody left pending, so no retry can
        # send another bounce.
        self.wait_gone(srv, qid)
        self.assertNotIn(qid, self.queue_cmd(srv, 'list'))
        for rcpt in ('user@example.test', 'other@example.test'):
            got = dovecot.mailbox(rcpt, 1)
            self.assertEqual(len(got), 1, rcpt)
            # Dovecot writes its Maildir files with LF line ends.
            self.assertTrue(got[0].endswith(msg.replace(b'\r\n', b'\n')), got[0][-300:])
            self.status_line(srv, qid, rcpt, 'sent')
        line = self.status_line(srv, qid, UNKNOWN, 'bounced')
        self.assertIn(DOVECOT_UNKNOWN, line)
        # One bounce, delivered to the sender's Maildir on Dovecot too.
        self.wait_empty(srv)
        bounces = dovecot.mailbox(SENDER, 1)
        self.assertEqual(len(bounces), 1, bounces)
        b = self.assert_bounce(bounces[0], UNKNOWN, 'to dovecot', maildir=False)
        self.assertEqual(b['Status'].strip(), '5.1.1')
        # Dovecot's reply, as an SMTP (LMTP) server's reply (RFC 3464).
        self.assertRegex(flat(b['Diagnostic-Code']),
                         r'^smtp; 550 5\.1\.1 <%s> %s' % (re.escape(UNKNOWN), DOVECOT_UNKNOWN))
        self.assertEqual(len(srv.log_text().split('sender non-delivery notification')), 2,
                         srv.log_text()[-3000:])

    def test_one_transaction_and_dovecots_own_replies(self):
        dovecot = self.dovecot()
        srv = self.daemon(local_delivery=dovecot.local_delivery)
        qid = self.send(srv, SENDER, ['user@example.test', UNKNOWN, 'other@example.test'],
                        message('one transaction'))
        self.wait_gone(srv, qid)
        self.wait_empty(srv)                # the bounce to SENDER delivered too
        # Each line has Dovecot's reply for its own recipient.
        for rcpt in ('user@example.test', 'other@example.test'):
            line = self.status_line(srv, qid, rcpt, 'sent')
            self.assertRegex(line, r'relay=lmtp:127\.0\.0\.1:%d .*\(250 2\.0\.0 <%s> \S+ Saved\)$'
                             % (dovecot.port, re.escape(rcpt)))
        line = self.status_line(srv, qid, UNKNOWN, 'bounced')
        self.assertIn("(550 5.1.1 <%s> User doesn't exist" % UNKNOWN, line)
        # Dovecot saw the message in one session and one transaction
        # (its recipients share the session id), and the bounce in one more.
        saved = {r: sallytest.wait_until(lambda: dovecot.saved(r), DELIVERY_WAIT)
                 for r in ('user@example.test', 'other@example.test', SENDER)}
        self.assertEqual([len(v) for v in saved.values()], [1, 1, 1], saved)
        self.assertEqual(saved['user@example.test'][0], saved['other@example.test'][0],
                         dovecot.log_text())
        self.assertNotEqual(saved['user@example.test'][0], saved[SENDER][0])
        self.assertEqual(dovecot.sessions(), 2, dovecot.log_text())

    def test_mixed_outcomes_in_one_transaction(self):
        # user: 250 after the data; UNKNOWN: 550 at RCPT; other: 451
        # after the data (its mail directory is blocked). Each gets its
        # own outcome; only other is tried again, and alone.
        dovecot = self.dovecot()
        dovecot.block('other@example.test')
        srv = self.daemon(local_delivery=dovecot.local_delivery, retry_min='1h',
                          retry_max='2h')
        qid = self.send(srv, SENDER, ['user@example.test', UNKNOWN, 'other@example.test'],
                        message('mixed'))
        self.assertIn('Saved', self.status_line(srv, qid, 'user@example.test', 'sent'))
        self.status_line(srv, qid, UNKNOWN, 'bounced')
        line = self.status_line(srv, qid, 'other@example.test', 'deferred')
        self.assertRegex(line, r'\(451 4\.\d\.\d <other@example\.test> ')
        self.assertRegex(self.queue_line(srv, 'other@example.test'),
                         r'deferred: 451 4\.\d\.\d <other@example\.test> ')
        self.assertRegex(self.queue_line(srv, 'user@example.test'), r'\bsent\b')
        dovecot.unblock('other@example.test')
        self.queue_cmd(srv, 'flush')
        self.assertEqual(len(dovecot.mailbox('other@example.test', 1, DELIVERY_WAIT)), 1)
        self.wait_gone(srv, qid)
        self.wait_empty(srv)
        self.assertEqual(len(dovecot.mailbox('user@example.test')), 1)
        self.assertEqual(len(dovecot.mailbox(SENDER, 1)), 1)     # one bounce
        self.assertEqual(len(dovecot.saved('user@example.test')), 1, dovecot.log_text())

    def test_lmtp_down_deferred_then_delivered(self):
        dovecot = self.dovecot(start=False)
        # Retries far away: only the flush may send it.
        srv = self.warm_daemon(local_delivery=dovecot.local_delivery, retry_min='1h',
                               retry_max='2h')
        qid = self.send(srv, SENDER, ['user@example.test'], message('lmtp outage'))
        line = self.status_line(srv, qid, 'user@example.test', 'deferred')
        self.assertIn('127.0.0.1:%d' % dovecot.port, line)
        self.assertIn('refused', line.lower())
        listed = self.queue_line(srv, 'user@example.test')
        self.assertRegex(listed, r'\bdeferred\b')
        self.assertIn(qid, self.queue_cmd(srv, 'list'))
        self.assertRegex(self.queue_cmd(srv, 'list'), r'(?i)connection refused')
        dovecot.start()
        self.queue_cmd(srv, 'flush')
        got = dovecot.mailbox('user@example.test', 1, timeout=DELIVERY_WAIT)
        self.assertEqual(len(got), 1)
        self.status_line(srv, qid, 'user@example.test', 'sent')
        self.wait_gone(srv, qid)


class MaildirBlocked(WarmCase):

    def test_blocked_maildir_deferred_with_last_error(self):
        # A file where the user's Maildir directory must be created.
        os.makedirs(os.path.join(self.mailroot, 'example.test'))
        with open(os.path.join(self.mailroot, 'example.test', 'user'), 'w') as f:
            f.write('in the way\n')
        srv = self.warm_daemon(retry_min='1h', retry_max='2h')
        qid = self.send(srv, SENDER, ['user@example.test'], message('blocked'))
        line = self.status_line(srv, qid, 'user@example.test', 'deferred')
        self.assertIn('relay=maildir', line)
        listing = self.queue_cmd(srv, 'list')
        self.assertIn(qid, listing)
        self.assertRegex(listing, r'(?m)^.*user@example\.test.*\bdeferred\b')
        self.assertIn('4.3.0', listing)


if __name__ == '__main__':
    sallytest.main()
