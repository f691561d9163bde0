"""Mail in, queue entry out: what sallyport accepts, refuses and commits."""

import datetime
import email.utils
import hashlib
import os
import re
import smtplib
import time

import sallytest
from sallytest import CRLF

HELO = 'client.example'


def message(subject, body_lines):
    """A small RFC 5322 message with CRLF line endings."""
    head = ['From: Sender <sender@example.org>', 'To: user@example.test',
            'Subject: ' + subject, 'Message-ID: <%s@client.example>' % subject.replace(' ', '.')]
    return CRLF.join(s.encode() for s in head + [''] + body_lines) + CRLF


def smtp(port):
    """smtplib connected to the daemon; local_hostname given so that
    smtplib never looks up this machine's name."""
    s = smtplib.SMTP('127.0.0.1', port, local_hostname=HELO, timeout=sallytest.IO_TIMEOUT)
    s.ehlo()
    return s


def send(port, mail_from, rcpts, msg):
    """One transaction through smtplib; returns the queue id from the reply."""
    s = smtp(port)
    try:
        code, resp = s.mail(mail_from)
        assert code == 250, (code, resp)
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, (r, code, resp)
        code, resp = s.data(msg)
        assert code == 250, (code, resp)
        m = re.match(rb'2\.0\.0 Ok: queued as (\S+)$', resp)
        assert m, resp
        s.quit()
        return m.group(1).decode()
    finally:
        s.close()


class Queueing(sallytest.TestCase):
    """What arrives in the queue, byte for byte."""

    def setUp(self):
        self.srv = self.server()

    def only_entry(self):
        self.srv.wait_queue(1)
        entries = self.srv.queue_entries()
        self.assertEqual(len(entries), 1, [e.name for e in entries])
        return entries[0]

    def test_message_arrives_byte_for_byte(self):
        msg = message('exact', ['first line', '.one dot', '..two dots', '.',
                                '...', 'a line with trailing space ', '', 'last line'])
        t0 = int(time.time())
        qid = send(self.srv.mx_port, 'sender@example.org', ['user@example.test'], msg)
        t1 = int(time.time())
        e = self.only_entry()
        self.assertEqual(e.name, qid)
        received, rest = e.split()
        self.assertEqual(rest, msg)
        # Envelope header: the keys, in order, and their values.
        self.assertEqual(e.keys, ['sallyport-queue', 'id', 'arrival', 'client', 'helo',
                                  'proto', 'tlsrequired', 'from', 'rcpt'])
        self.assertEqual(e.header['tlsrequired'], 'yes')
        self.assertEqual(e.header['sallyport-queue'], '1')
        self.assertEqual(e.header['id'], qid)
        self.assertTrue(t0 - 1 <= int(e.header['arrival']) <= t1 + 1, e.header['arrival'])
        self.assertEqual(e.header['client'], '127.0.0.1')
        self.assertEqual(e.header['helo'], HELO)
        self.assertEqual(e.header['proto'], 'ESMTP')
        self.assertEqual(e.header['from'], 'sender@example.org')
        self.assertEqual(e.rcpts, ['user@example.test'])
        self.assertNotIn('auth', e.header)

    def test_received_header_one_recipient(self):
        qid = send(self.srv.mx_port, 'sender@example.org', ['user@example.test'],
                   message('received', ['hello']))
        received, _ = self.only_entry().split()
        for cont in received.split(CRLF)[1:-1]:
            self.assertTrue(cont.startswith(b'\t'), received)
        m = re.fullmatch(r'Received: from client\.example \(\[127\.0\.0\.1\]\)\s+'
                         r'by mail\.example\.test \(sallyport\) with ESMTP id (\S+)\s+'
                         r'for <user@example\.test>; (.+)', sallytest.unfold(received))
        self.assertTrue(m, received)
        self.assertEqual(m.group(1), qid)
        when = email.utils.parsedate_to_datetime(m.group(2))
        if when.tzinfo is None:     # "-0000": UTC without a local zone
            when = when.replace(tzinfo=datetime.timezone.utc)
        self.assertLess(abs(when.timestamp() - time.time()), 120, m.group(2))

    def test_three_recipients_one_entry(self):
        rcpts = ['a@example.test', 'b@example.test', 'c@example.test']
        qid = send(self.srv.mx_port, 'sender@example.org', rcpts, message('three', ['hi']))
        e = self.only_entry()
        self.assertEqual(e.name, qid)
        self.assertEqual(e.rcpts, rcpts)
        self.assertEqual(e.keys[-3:], ['rcpt'] * 3)
        received, _ = e.split()
        self.assertNotIn(' for ', sallytest.unfold(received))
        self.assertIn('with ESMTP id %s;' % qid, sallytest.unfold(received))

    def test_five_megabytes_intact(self):
        lines, size, i = [], 0, 0
        while size <= 5 * 1024 * 1024:
            lead = '.' if i % 97 == 0 else ''
            lines.append('%s%07d %s' % (lead, i, hashlib.sha256(b'%d' % i).hexdigest()[:60]))
            size += len(lines[-1]) + 2
            i += 1
        msg = message('big', lines)
        self.assertGreater(len(msg), 5 * 1024 * 1024)
        send(self.srv.mx_port, 'sender@example.org', ['user@example.test'], msg)
        _, rest = self.only_entry().split()
        self.assertEqual(len(rest), len(msg))
        self.assertEqual(hashlib.sha256(rest).hexdigest(), hashlib.sha256(msg).hexdigest())

    def test_null_sender(self):
        c = self.ehlo_client(self.srv.mx_port)
        r = c.transaction('', ['user@example.test'], message('bounce', ['undeliverable']))
        self.assertEqual(r.code, 250, r)
        e = self.only_entry()
        self.assertEqual(e.header['from'], '')
        self.assertIn(b'\nfrom \nrcpt user@example.test\n', e.raw)

    def test_eight_bit_body_unchanged(self):
        msg = (b'Subject: 8bit\r\nContent-Type: text/plain; charset=latin1\r\n'
               b'Content-Transfer-Encoding: 8bit\r\n\r\n'
               + bytes(range(0x80, 0x100)) + b'\r\ncaf\xc3\xa9\r\n')
        c = self.ehlo_client(self.srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org> BODY=8BITMIME').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(msg)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.only_entry().split()[1], msg)

    def test_smtputf8_addresses(self):
        # A UTF-8 local part is no mailbox name of its own (doc/policy.md):
        # without a catch-all it is refused at RCPT, with one it is queued.
        c = self.ehlo_client(self.srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<jos\u00e9@example.org> SMTPUTF8').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae@example.test>').last,
                         '550 5.1.1 User unknown')
        self.srv = self.server(catchall='user')
        c = self.ehlo_client(self.srv.mx_port)
        r = c.cmd('MAIL FROM:<jos\u00e9@example.org> SMTPUTF8')
        self.assertEqual(r.code, 250, r)
        r = c.cmd('RCPT TO:<\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae@example.test>')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(b'Subject: utf8\r\n\r\nx\r\n')
        self.assertEqual(r.code, 250, r)
        e = self.only_entry()
        self.assertEqual(e.header['from'], 'jos\u00e9@example.org')
        self.assertEqual(e.rcpts, ['\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae@example.test'])

    def test_helo_is_plain_smtp(self):
        c = self.client(self.srv.mx_port)
        self.assertEqual(c.cmd('HELO old.example').code, 250)
        r = c.transaction('sender@example.org', ['user@example.test'], message('helo', ['x']))
        self.assertEqual(r.code, 250, r)
        e = self.only_entry()
        self.assertEqual(e.header['helo'], 'old.example')
        self.assertEqual(e.header['proto'], 'SMTP')
        received, _ = e.split()
        self.assertIn(' with SMTP id ', sallytest.unfold(received))

    def test_pipelined_session_in_one_write(self):
        c = self.client(self.srv.mx_port)
        body = b'Subject: pipelined\r\n\r\nbody\r\n'
        c.send(b'EHLO client.example\r\nMAIL FROM:<sender@example.org>\r\n'
               b'RCPT TO:<user@example.test>\r\nRCPT TO:<other@example.test>\r\nDATA\r\n'
               + body + b'.\r\nQUIT\r\n')
        codes = [r.code for r in c.replies(6)]
        self.assertEqual(codes, [250, 250, 250, 250, 354, 250], c.transcript)
        self.assertEqual(c.reply().code, 221)
        self.assertTrue(c.closed())
        e = self.only_entry()
        self.assertEqual(e.rcpts, ['user@example.test', 'other@example.test'])
        self.assertEqual(e.split()[1], body)

    def test_queue_id_unique_per_transaction(self):
        c = self.ehlo_client(self.srv.mx_port)
        ids = []
        for i in range(5):
            r = c.transaction('sender@example.org', ['user@example.test'],
                              message('n%d' % i, ['number %d' % i]))
            self.assertEqual(r.code, 250, r)
            ids.append(r.queue_id())
        self.assertEqual(len(set(ids)), 5, ids)
        self.assertEqual(sorted(ids), self.srv.wait_queue(5))
        for i, qid in enumerate(ids):
            self.assertIn(b'number %d\r\n' % i, self.srv.queue_entry(qid).body)

    def test_client_vanishing_does_not_hurt(self):
        c = self.ehlo_client(self.srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: cut\r\n\r\nhalf a mes')
        c.close()
        d = self.ehlo_client(self.srv.mx_port)
        r = d.transaction('sender@example.org', ['user@example.test'], message('after', ['ok']))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.srv.wait_queue(queue_id=r.queue_id()), [r.queue_id()])
        self.assertTrue(sallytest.wait_until(lambda: not self.srv.tmp_names(), 5),
                        self.srv.tmp_names())


class DataChecks(sallytest.TestCase):
    """Bad DATA content is refused after the final dot; the session goes on."""

    def setUp(self):
        self.srv = self.server(max_message_size='100k')
        self.c = self.ehlo_client(self.srv.mx_port)

    def start_data(self):
        self.assertEqual(self.c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(self.c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(self.c.cmd('DATA').code, 354)

    def assert_still_usable(self):
        r = self.c.transaction('sender@example.org', ['user@example.test'],
                               message('after', ['fine']))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.srv.wait_queue(queue_id=r.queue_id()), [r.queue_id()])

    def refused(self, raw, status):
        self.start_data()
        self.c.send(raw)
        r = self.c.reply()
        self.assertTrue(r.last.startswith(status), r)
        self.assertEqual(self.srv.queue_names(), [])

    def test_bare_lf(self):
        self.refused(b'Subject: lf\r\n\r\na\nb\r\n.\r\n', '554 5.5.2 ')
        self.assert_still_usable()

    def test_bare_cr(self):
        self.refused(b'Subject: cr\r\n\r\na\rb\r\n.\r\n', '554 5.5.2 ')
        self.assert_still_usable()

    def test_bare_lf_before_dot_is_not_end_of_data(self):
        # "\n.\n" must not end DATA: the real end is the CRLF.CRLF after it.
        self.refused(b'Subject: lf\r\n\r\nx\n.\nstill data\r\n.\r\n', '554 5.5.2 ')
        self.assert_still_usable()

    def test_line_of_1001_octets(self):
        # RFC 5321 4.5.3.1.6: at most 1000 octets per line, CRLF included.
        self.refused(b'Subject: long\r\n\r\n' + b'x' * 999 + b'\r\n.\r\n', '554 5.5.6 ')
        self.assert_still_usable()

    def test_line_of_1000_octets_accepted(self):
        msg = b'Subject: long\r\n\r\n' + b'y' * 998 + CRLF
        self.start_data()
        r = self.c.data(msg)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.srv.queue_entry(r.queue_id()).split()[1], msg)

    def test_oversize_message(self):
        body = [('%05d ' % i) + 'z' * 70 for i in range(200 * 1024 // 78)]
        self.refused(sallytest.dot_stuff(message('big', body)), '552 5.3.4 ')
        self.assert_still_usable()

    def test_size_parameter_over_limit(self):
        r = self.c.cmd('MAIL FROM:<sender@example.org> SIZE=%d' % (200 * 1024))
        self.assertEqual(r.code, 552, r)
        self.assertTrue(r.last.startswith('552 5.3.4 '), r)
        r = self.c.cmd('MAIL FROM:<sender@example.org> SIZE=1000')
        self.assertEqual(r.code, 250, r)

    def test_tmp_is_clean_after_refusals(self):
        self.refused(b'a\nb\r\n.\r\n', '554 ')
        self.assertTrue(sallytest.wait_until(lambda: not self.srv.tmp_names(), 5),
                        self.srv.tmp_names())


class Commands(sallytest.TestCase):
    """Replies to the commands, sequencing and limits."""

    def setUp(self):
        self.srv = self.server(max_recipients=3, max_message_size=1000000)

    def test_greeting(self):
        c = self.client(self.srv.mx_port)
        self.assertEqual(c.greeting.lines, ['220 mail.example.test ESMTP sallyport'])

    def test_ehlo_extensions(self):
        c = self.client(self.srv.mx_port)
        r = c.cmd('EHLO client.example')
        self.assertEqual(r.code, 250)
        self.assertTrue(r.lines[0].startswith('250-mail.example.test'), r)
        keywords = [ln[4:] for ln in r.lines[1:]]
        for ext in ['PIPELINING', 'SIZE 1000000', '8BITMIME', 'ENHANCEDSTATUSCODES',
                    'SMTPUTF8']:
            self.assertIn(ext, keywords)

    def test_max_recipients(self):
        c = self.ehlo_client(self.srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        for i in range(3):
            self.assertEqual(c.cmd('RCPT TO:<u%d@example.test>' % i).code, 250)
        r = c.cmd('RCPT TO:<u3@example.test>')
        self.assertEqual(r.code, 452)
        self.assertTrue(r.last.startswith('452 4.5.3 '), r)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(message('limit', ['x']))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.srv.queue_entry(r.queue_id()).rcpts,
                         ['u0@example.test', 'u1@example.test', 'u2@example.test'])

    def test_rset_clears_transaction(self):
        c = self.ehlo_client(self.srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<old@example.test>').code, 250)
        r = c.cmd('RSET')
        self.assertTrue(r.last.startswith('250 2.0.0'), r)
        self.assertEqual(c.cmd('DATA').code, 503)
        self.assertEqual(c.cmd('RCPT TO:<x@example.test>').code, 503)
        r = c.transaction('other@example.org', ['new@example.test'], message('rset', ['x']))
        self.assertEqual(r.code, 250, r)
        e = self.srv.queue_entry(r.queue_id())
        self.assertEqual(e.header['from'], 'other@example.org')
        self.assertEqual(e.rcpts, ['new@example.test'])

    def test_bad_sequence(self):
        c = self.client(self.srv.mx_port)
        r = c.cmd('MAIL FROM:<sender@example.org>')
        self.assertTrue(r.last.startswith('503 5.5.1'), r)
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        r = c.cmd('RCPT TO:<user@example.test>')
        self.assertTrue(r.last.startswith('503 5.5.1'), r)
        r = c.cmd('DATA')
        self.assertTrue(r.last.startswith('503 5.5.1'), r)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        r = c.cmd('MAIL FROM:<sender@example.org>')
        self.assertTrue(r.last.startswith('503 5.5.1'), r)
        r = c.cmd('DATA')
        self.assertIn(r.code, (503, 554), r)
        self.assertRegex(r.last, r'^(503|554) 5\.5\.1 ')
        self.assertEqual(self.srv.queue_names(), [])

    def test_simple_commands(self):
        c = self.ehlo_client(self.srv.mx_port)
        r = c.cmd('FOOBAR baz')
        self.assertTrue(r.last.startswith('500 5.5.2'), r)
        r = c.cmd('NOOP')
        self.assertTrue(r.last.startswith('250 2.0.0'), r)
        r = c.cmd('VRFY user')
        self.assertTrue(r.last.startswith('252 '), r)
        r = c.cmd('HELP')
        self.assertEqual(r.code, 214, r)
        r = c.cmd('noop')
        self.assertEqual(r.code, 250, r)
        r = c.cmd('QUIT')
        self.assertTrue(r.last.startswith('221 2.0.0'), r)
        self.assertTrue(c.closed())

    def test_every_reply_has_enhanced_status_code(self):
        c = self.client(self.srv.mx_port)
        checked = []

        def check(r):
            if 300 <= r.code < 400:     # RFC 3463 has no class 3: 354 has none
                checked.append(r)
                return
            for ln in r.lines:
                self.assertRegex(ln, r'^\d{3}[ -]\d\.\d{1,3}\.\d{1,3}( |$)', c.transcript)
            checked.append(r)

        check(c.cmd('MAIL FROM:<a@example.org>'))
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        for line in ['NOOP', 'HELP', 'VRFY someone', 'FOOBAR', 'RCPT TO:<u@example.test>',
                     'DATA', 'MAIL FROM:<a@example.org> BOGUS=1', 'MAIL FROM:<<<>',
                     'MAIL FROM:<a@example.org> SIZE=5000000', 'MAIL FROM:<a@example.org>',
                     'MAIL FROM:<a@example.org>', 'RCPT TO:<bad address>',
                     'RCPT TO:<u1@example.test>', 'RCPT TO:<u2@example.test>',
                     'RCPT TO:<u3@example.test>', 'RCPT TO:<u4@example.test>',
                     'RSET', 'MAIL FROM:<a@example.org>', 'RCPT TO:<u@example.test>',
                     'DATA']:
            check(c.cmd(line))
        c.send(b'bad\nline\r\n.\r\n')
        check(c.reply())
        check(c.transaction('a@example.org', ['u@example.test'], message('esc', ['x'])))
        check(c.cmd('QUIT'))
        self.assertEqual(len(checked), 24)

    def test_command_split_across_packets(self):
        c = self.ehlo_client(self.srv.mx_port)
        for part in [b'MA', b'IL FROM:<sender@exa', b'mple.org>\r', b'\n']:
            c.send(part)
            time.sleep(0.02)
        self.assertEqual(c.reply().code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        wire = sallytest.dot_stuff(message('split', ['.dotted', 'end']))
        # Split inside the final CRLF.CRLF too.
        for part in [wire[:10], wire[10:-4], wire[-4:-2], wire[-2:]]:
            c.send(part)
            time.sleep(0.02)
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        _, rest = self.srv.queue_entry(r.queue_id()).split()
        self.assertEqual(rest, message('split', ['.dotted', 'end']))


class SessionLimits(sallytest.TestCase):
    """Errors and silence end a session with a 421; nothing is left behind."""

    def test_max_errors(self):
        srv = self.server(max_errors=3)
        c = self.ehlo_client(srv.mx_port)
        replies = []
        for _ in range(5):
            try:
                replies.append(c.cmd('FOOBAR'))
            except (sallytest.Closed, ConnectionError):
                break
            if replies[-1].code == 421:
                break
        codes = [r.code for r in replies]
        self.assertIn(421, codes, replies)
        self.assertLessEqual(codes.index(421), 3, replies)
        self.assertTrue(replies[-1].last.startswith('421 4.7.0'), replies)
        self.assertTrue(c.closed())

    def test_command_timeout(self):
        srv = self.server(command_timeout='1s')
        c = self.ehlo_client(srv.mx_port)
        started = time.monotonic()
        c.sock.settimeout(10)
        r = c.reply()
        self.assertTrue(r.last.startswith('421 4.4.2'), r)
        self.assertTrue(c.closed())
        self.assertLess(time.monotonic() - started, 5)

    def test_data_timeout(self):
        srv = self.server(data_timeout='1s')
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: slow\r\n\r\nand then nothing')
        c.sock.settimeout(10)
        r = c.reply()
        self.assertTrue(r.last.startswith('421 4.4.2'), r)
        self.assertTrue(c.closed())
        self.assertEqual(srv.queue_names(), [])
        self.assertTrue(sallytest.wait_until(lambda: not srv.tmp_names(), 5), srv.tmp_names())


class Durability(sallytest.TestCase):
    """The queue survives kill -9 and start-up tidies only tmp/."""

    def test_entry_survives_kill_9(self):
        srv = self.server()
        msg = message('durable', ['keep me'])
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], msg)
        self.assertEqual(r.code, 250, r)
        srv.kill()
        c.close()
        srv.start()
        self.assertEqual(srv.wait_queue(queue_id=r.queue_id()), [r.queue_id()])
        e = srv.queue_entry(r.queue_id())
        self.assertEqual(e.split()[1], msg)
        self.assertEqual(e.rcpts, ['user@example.test'])
        # The restarted daemon still accepts mail, under a new id.
        r2 = self.ehlo_client(srv.mx_port).transaction(
            'sender@example.org', ['user@example.test'], message('second', ['x']))
        self.assertEqual(r2.code, 250, r2)
        self.assertNotEqual(r2.queue_id(), r.queue_id())
        self.assertEqual(srv.wait_queue(queue_id=r2.queue_id()), sorted([r.queue_id(), r2.queue_id()]))

    def test_startup_removes_tmp_keeps_incoming(self):
        srv = sallytest.Server()
        self.addCleanup(srv.close)
        os.mkdir(srv.tmp_dir())
        os.mkdir(srv.incoming_dir())
        stale = os.path.join(srv.tmp_dir(), 'stale-spool-file')
        with open(stale, 'wb') as f:
            f.write(b'half written')
        committed = (b'sallyport-queue 1\nid SEEDED0001\narrival 1700000000\n'
                     b'client 127.0.0.1\nhelo seed.example\nproto ESMTP\n'
                     b'from a@example.org\nrcpt user@example.test\n\n'
                     b'Subject: seeded\r\n\r\nseeded entry\r\n')
        kept = os.path.join(srv.incoming_dir(), 'SEEDED0001')
        with open(kept, 'wb') as f:
            f.write(committed)
        srv.start()
        self.assertFalse(os.path.exists(stale))
        with open(kept, 'rb') as f:
            self.assertEqual(f.read(), committed)
        self.assertEqual(srv.queue_names(), ['SEEDED0001'])


if __name__ == '__main__':
    sallytest.main()
