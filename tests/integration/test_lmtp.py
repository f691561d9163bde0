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
import socket
import time

import mailsinks
import sallytest
from test_delivery import DeliveryCase, SENDER, DELIVERY_WAIT, dsn_parts, flat, message

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

    def test_one_copy_whatever_the_case(self):
        # One mailbox, however its address is written: the domain is
        # case-insensitive (RFC 5321 2.4) and so is a local part of ours
        # (the RCPT check and the alias table ignore its case). Here the
        # direct recipient in two spellings and an alias to User@EXAMPLE.test:
        # one RCPT in the transaction, one copy, every recipient sent.
        dovecot = self.dovecot()
        aliases = os.path.join(self.tmp, 'aliases')
        with open(aliases, 'w') as f:
            f.write('info: User@EXAMPLE.test\n')
        srv = self.daemon(local_delivery=dovecot.local_delivery, aliases=aliases)
        rcpts = ['user@example.test', 'user@Example.TEST', 'info@example.test']
        qid = self.send(srv, SENDER, rcpts, message('one copy'))
        self.wait_gone(srv, qid)
        sent = re.findall(r'(?m)^.*\bid=%s to=<(\S+)>.* status=sent \((.*)\)$' % qid,
                          srv.log_text())
        self.assertEqual(sorted(r.lower() for r, _ in sent), sorted(r.lower() for r in rcpts),
                         srv.log_text()[-2000:])
        for _, reply in sent:
            self.assertRegex(reply, r'^250 2\.0\.0 <user@example\.test> \S+ Saved$')
        self.assertEqual(len(dovecot.mailbox('user@example.test', 1)), 1)
        self.assertEqual(len(dovecot.saved('user@example.test')), 1, dovecot.log_text())

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


class DovecotPorts(sallytest.TestCase):
    """mailsinks.Dovecot's ports cannot be taken by a parallel test
    between the moment they are chosen (or written into a daemon's
    configuration) and the moment Dovecot listens on them."""

    def dovecot(self, **kw):
        d = mailsinks.Dovecot(KNOWN, **kw)
        self.addCleanup(d.close)
        return d

    def lmtp_greets(self, port):
        with sallytest.Client(port) as c:
            return c.cmd('LHLO sallytest.example').code == 250

    def test_ports_out_of_reach(self):
        d = self.dovecot(passwords={SENDER: 'secret'})
        ports = {d.port, d.imap_port}
        # Outside the ephemeral range: no bind(port 0) and no outgoing
        # connection of any test is ever given one.
        low, high = sallytest.ephemeral_range()
        for port in ports:
            self.assertFalse(low <= port <= high, (port, low, high))
        for _ in range(200):
            self.assertNotIn(sallytest.free_port(), ports)
        # Nor another Dovecot, in this process or any other: each port is
        # reserved from the other test processes.
        others = [self.dovecot().port for _ in range(20)]
        self.assertEqual(len(set(others) | ports), len(others) + 2, (others, ports))
        for port in ports:
            self.assertTrue(sallytest.port_reserved_elsewhere(port), port)
        d.start()
        self.assertTrue(self.lmtp_greets(d.port))

    def test_busy_port_replaced_before_it_is_given_out(self):
        # Something that leases no port listens on the one chosen, before
        # anyone was told it: Dovecot fails to listen there and is
        # started again on another.
        d = self.dovecot()
        taken = mailsinks.PortLease()
        self.addCleanup(taken.release)
        squatter = socket.create_server(('127.0.0.1', taken.port))
        self.addCleanup(squatter.close)
        d._leases['lmtp'] = taken       # chosen, not yet given out
        d.start()
        self.assertNotEqual(d.port, taken.port)
        self.assertTrue(self.lmtp_greets(d.port))
        self.assertIn('Address already in use', d._output() + d.log_text())


class LmtpRefusals(DovecotCase):
    """An LMTP server that refuses the whole transaction (its greeting,
    MAIL, DATA) or goes away after the data: every recipient's outcome,
    in the log and in `--queue list`, is the server's own reply when it
    gave one, and says that there was none when it did not. aiosmtpd's
    LMTP (mailsinks.LmtpServer): Dovecot cannot be told to refuse these."""

    RCPTS = ['user@example.test', 'other@example.test']

    def lmtp(self):
        lmtp = mailsinks.LmtpServer()
        self.addCleanup(lmtp.stop)
        return lmtp.start()

    def deferred_with(self, lmtp, subject, reply):
        """A message to RCPTS, deferred for each with `reply` in its log
        line and its `--queue list` line."""
        srv = self.daemon(local_delivery=lmtp.local_delivery, retry_min='1h',
                          retry_max='2h')
        qid = self.send(srv, SENDER, self.RCPTS, message(subject))
        for rcpt in self.RCPTS:
            line = self.status_line(srv, qid, rcpt, 'deferred')
            self.assertIn('relay=lmtp:127.0.0.1:%d ' % lmtp.port, line)
            self.assertTrue(line.endswith('(%s)' % reply), line)
            self.assertIn('deferred: %s' % reply, self.queue_line(srv, rcpt))
        return srv, qid

    def test_greeting_refused(self):
        lmtp = self.lmtp()
        lmtp.greeting = '421 4.3.2 sink.test busy, come back later'
        self.deferred_with(lmtp, 'greeting', lmtp.greeting)

    def test_mail_refused(self):
        lmtp = self.lmtp()
        lmtp.refuse_mail[SENDER] = '451 4.3.0 sender check unavailable'
        self.deferred_with(lmtp, 'mail 451', '451 4.3.0 sender check unavailable')

    def test_mail_refused_and_closed(self):
        # 421, and the connection closed: the pipelined RCPTs never get
        # a reply, and the 421 is still what each recipient got.
        lmtp = self.lmtp()
        lmtp.refuse_mail[SENDER] = '421 4.3.2 sink.test shutting down'
        self.deferred_with(lmtp, 'mail 421', '421 4.3.2 sink.test shutting down')

    def test_data_refused(self):
        lmtp = self.lmtp()
        lmtp.data_reply = '452 4.3.1 insufficient system storage'
        srv, qid = self.deferred_with(lmtp, 'data 452', lmtp.data_reply)
        lmtp.data_reply = None
        self.queue_cmd(srv, 'flush')
        self.wait_gone(srv, qid, DELIVERY_WAIT)
        got = lmtp.wait(1)
        self.assertEqual([sorted(m.rcpt_tos) for m in got], [sorted(self.RCPTS)])

    def test_mail_refused_permanently_bounces_with_the_reply(self):
        lmtp = self.lmtp()
        lmtp.refuse_mail[SENDER] = '550 5.7.1 sender blocked here'
        srv = self.daemon(local_delivery=lmtp.local_delivery)
        qid = self.send(srv, SENDER, self.RCPTS, message('mail 550'))
        for rcpt in self.RCPTS:
            line = self.status_line(srv, qid, rcpt, 'bounced')
            self.assertTrue(line.endswith('(550 5.7.1 sender blocked here)'), line)
        self.wait_gone(srv, qid)
        # The bounce (from <>, which the server takes) quotes the reply
        # as the server's (RFC 3464 "smtp;").
        bounces = [m for m in lmtp.wait(1) if m.mail_from == '']
        self.assertEqual(len(bounces), 1, lmtp.messages)
        for rcpt in self.RCPTS:
            b = self.assert_bounce(bounces[0].content, rcpt, 'mail 550', maildir=False)
            self.assertEqual(b['Status'].strip(), '5.7.1')
            self.assertEqual(flat(b['Diagnostic-Code']), 'smtp; 550 5.7.1 sender blocked here')

    def assert_no_reply(self, srv, qid, rcpt, lmtp):
        """rcpt deferred, in our words: the server said nothing after
        the data, it was not unreachable."""
        line = self.status_line(srv, qid, rcpt, 'deferred')
        self.assertRegex(line, r'\(451 4\.4\.2 no reply from the LMTP server after the '
                         r'data: .*127\.0\.0\.1:%d' % lmtp.port)
        self.assertNotIn('unreachable', line)
        listed = self.queue_line(srv, rcpt)
        self.assertIn('deferred: 451 4.4.2 no reply from the LMTP server after the data',
                      listed)

    def expired_dsn(self, lmtp, qid, subject):
        """The DSN of an entry that arrived two hours ago (queue_lifetime
        1h) for user@example.test and fails once at lmtp as set: its
        per-recipient fields, once lmtp takes the DSN."""
        srv = self.daemon(start=False, local_delivery=lmtp.local_delivery,
                          queue_lifetime='1h', retry_min='1h', retry_max='2h')
        os.makedirs(srv.incoming_dir(), exist_ok=True)
        with open(os.path.join(srv.incoming_dir(), qid), 'wb') as f:
            f.write(b'sallyport-queue 1\nid %s\narrival %d\nclient 127.0.0.1\n'
                    b'helo client.example\nproto ESMTP\nfrom %s\n'
                    b'rcpt user@example.test\n\n' % (qid.encode(), time.time() - 7200,
                                                      SENDER.encode())
                    + message(subject))
        srv.start()
        self.assertIn('delivery time expired',
                      self.status_line(srv, qid, 'user@example.test', 'bounced'))
        # Now let the DSN through: at once, or by a flush once its first
        # try has met the failure too.
        lmtp.greeting = lmtp.replies_then_close = None
        m = srv.wait_log(r'id=%s sender non-delivery notification: (\w+)' % qid)
        self.assertTrue(m, srv.log_text()[-3000:])
        m = srv.wait_log(r'id=%s to=<%s> .*status=(sent|deferred)'
                         % (m.group(1), re.escape(SENDER)), DELIVERY_WAIT)
        self.assertTrue(m, srv.log_text()[-3000:])
        if m.group(1) == 'deferred':
            self.queue_cmd(srv, 'flush')
        sallytest.wait_until(lambda: any(m.mail_from == '' for m in lmtp.messages),
                             DELIVERY_WAIT)
        bounces = [m for m in lmtp.messages if m.mail_from == '']
        self.assertEqual(len(bounces), 1, lmtp.messages)
        msg, blocks = dsn_parts(bounces[0].content)
        self.assertEqual(msg.get_content_type(), 'multipart/report')
        self.assertEqual([b['Action'].strip().lower() for b in blocks], ['failed'])
        self.assertIn('user@example.test', blocks[0]['Final-Recipient'])
        return blocks[0]

    def test_expired_after_a_refused_greeting_quotes_it(self):
        lmtp = self.lmtp()
        lmtp.greeting = '421 4.3.2 sink.test busy, come back later'
        b = self.expired_dsn(lmtp, '00000000000E0101', 'expires greeting')
        self.assertEqual(flat(b['Diagnostic-Code']),
                         'smtp; 421 4.3.2 sink.test busy, come back later')
        self.assertEqual(b['Status'].strip(), '4.3.2')

    def test_expired_without_a_reply_says_so_in_our_words(self):
        lmtp = self.lmtp()
        lmtp.replies_then_close = 0
        b = self.expired_dsn(lmtp, '00000000000E0102', 'expires lost')
        self.assertRegex(flat(b['Diagnostic-Code']),
                         r'^X-Sallyport; delivery time expired; last error: no reply from '
                         r'the LMTP server after the data: connection closed')
        self.assertEqual(b['Status'].strip(), '4.4.2')

    def lost_after_data(self, replies, subject):
        """A message to RCPTS over a server that gives `replies` of its
        replies after the data and then closes the connection."""
        lmtp = self.lmtp()
        lmtp.replies_then_close = replies
        srv = self.daemon(local_delivery=lmtp.local_delivery, retry_min='1h',
                          retry_max='2h')
        return lmtp, srv, self.send(srv, SENDER, self.RCPTS, message(subject))

    def test_closed_after_the_data(self):
        lmtp, srv, qid = self.lost_after_data(0, 'lost')
        for rcpt in self.RCPTS:
            self.assert_no_reply(srv, qid, rcpt, lmtp)

    def test_closed_after_the_first_reply(self):
        lmtp, srv, qid = self.lost_after_data(1, 'half lost')
        line = self.status_line(srv, qid, self.RCPTS[0], 'sent')
        self.assertTrue(line.endswith('(250 2.0.0 <%s> delivered)' % self.RCPTS[0]), line)
        self.assert_no_reply(srv, qid, self.RCPTS[1], lmtp)


class MaildirDelivery(WarmCase):

    def test_one_maildir_whatever_the_case(self):
        # As over LMTP: an alias to User@EXAMPLE.test is user's own
        # Maildir, and the message is written there once.
        aliases = os.path.join(self.tmp, 'aliases')
        with open(aliases, 'w') as f:
            f.write('info: User@EXAMPLE.test\n')
        srv = self.daemon(aliases=aliases)
        qid = self.send(srv, SENDER, ['user@example.test', 'info@example.test'],
                        message('one file'))
        self.wait_gone(srv, qid)
        self.status_line(srv, qid, 'info@example.test', 'sent')
        self.assertEqual(len(self.mailbox('user')), 1, self.all_maildir_files())
        self.assertEqual(len(self.all_maildir_files()), 1, self.all_maildir_files())

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
