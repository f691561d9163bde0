"""Delivery from the queue: the daemon's runner against real servers.

Local recipients go into Maildirs under a temp directory or to an aiosmtpd
LMTP server; the others to an aiosmtpd smarthost (with STARTTLS and AUTH),
or, without a smarthost, to the MX that a loopback dnsmasq names. Then the
failures: a smarthost that is down (deferred, --queue list, --queue flush),
4xx and retries, 5xx and the RFC 3464 bounce in the sender's Maildir, no
bounce for <>, expiry, and kill -9 in the middle of fifty messages.

Every server is on 127.0.0.0/8 (mailsinks.py); every process a test starts,
the daemon's delivery child included, is killed at its end."""

import email
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time

import mailsinks
import sallytest
from sallytest import CRLF

SENDER = 'sender@example.test'      # a mailbox user: bounces land in its Maildir
USERS = ['user', 'other', 'third', 'sender']
RELAY_USER, RELAY_PASS = 'relay', 's3cret word'
R_UNKNOWN = '550 5.1.1 User unknown'
UNTRUSTED = '192.0.2.0/24'      # mynetworks without the loopback clients
DELIVERY_WAIT = 10      # seconds for a delivery that should happen at once
RETRY_MAX = '1m'        # the smallest the daemon takes: retries at 1, 2, 4... s
# The line end in a Maildir file. The contract: the file is the Return-Path:
# and Delivered-To: lines plus the queued message, byte for byte, so CRLF.
# (src/deliver/maildir.c writes LF, as Postfix and Dovecot do: if that is the
# decision, this is the one line to change.)
MAILDIR_EOL = b'\n'   # Maildir files use LF, as Postfix's local(8) and qmail-local write them


def message(subject, body_lines=('hello',), mid=None):
    """A small RFC 5322 message with CRLF line endings."""
    mid = mid or subject.replace(' ', '.')
    head = ['From: <%s>' % SENDER, 'To: <user@example.test>', 'Subject: ' + subject,
            'Message-ID: <%s@client.example>' % mid]
    return CRLF.join(s.encode() for s in head + [''] + list(body_lines)) + CRLF


def maildir_form(data):
    """data (CRLF lines) as the contract says a Maildir file holds it."""
    return data.replace(CRLF, MAILDIR_EOL)


def flat(value):
    """A delivery-status field's value on one line, runs of blanks as one
    space (how it was folded does not matter)."""
    return ' '.join(str(value).split())


def dsn_parts(raw):
    """(the parsed report, its per-recipient field blocks) of a bounce."""
    msg = email.message_from_bytes(raw)
    blocks = []
    for part in msg.walk():
        if part.get_content_type() == 'message/delivery-status':
            blocks = part.get_payload()[1:]     # [0] is the per-message block
    return msg, blocks


class DeliveryCase(sallytest.TestCase):
    """Helpers: daemons that deliver into self.mailroot, sinks, waiting."""

    def setUp(self):
        mailsinks.need_aiosmtpd(self)
        self.tmp = tempfile.mkdtemp(prefix='sallytest-delivery-')
        if not os.environ.get('SALLYTEST_KEEP'):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mailroot = os.path.join(self.tmp, 'mail')

    def daemon(self, start=True, **overrides):
        """A Server (started unless start=False) delivering locally into
        Maildirs for USERS, retrying after 1 s, 2 s, 4 s...; overrides
        replace those keys."""
        cfg = {'delivery': 'yes',
               'local_delivery': 'maildir:%s/%%d/%%u/Maildir' % self.mailroot,
               'mailbox_users': USERS, 'retry_min': '1s', 'retry_max': RETRY_MAX}
        cfg.update(overrides)
        srv = sallytest.Server(**cfg)
        self.addCleanup(self._close_server, srv)
        self.addCleanup(self.kill_tree, srv)    # runs first: LIFO
        return srv.start() if start else srv

    def kill_tree(self, srv):
        """kill -9 the daemon and every process below it; returns their pids."""
        return srv.kill() if srv.proc is not None else []

    def sink(self, start=True, **kw):
        s = mailsinks.SmtpSink(**kw)
        self.addCleanup(s.stop)
        return s.start() if start else s

    def mx_sink(self, **kw):
        """(a started sink(**kw) on port 25 of a random loopback address,
        a dnsmasq naming it mx.remote.test, the MX of remote.test); as
        root only (skipped otherwise): the daemon has no key for another
        port."""
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sink must listen on port 25, and the '
                          'daemon has no key for another port')
        sink = None
        for _ in range(5):
            addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                     random.randint(2, 254))
            try:
                sink = self.sink(host=addr, port=25, **kw)
                break
            except OSError:
                continue
        self.assertIsNotNone(sink, 'no free loopback address for port 25')
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx.remote.test': addr}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'remote.test': 'mx.remote.test'}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        return sink, dns

    def smarthost(self, sink, start=True, **overrides):
        """A daemon relaying through sink: plain, or with the test CA and
        an auth file when the sink has TLS and AUTH."""
        cfg = {'smarthost': sink.smarthost, 'smarthost_tls': 'none'}
        if sink.tls:
            cfg.update(smarthost_tls='required', smarthost_ca_file=sallytest.tls_files()[0])
        if sink.auth:
            path = os.path.join(self.tmp, 'smarthost-auth')
            with open(path, 'w') as f:
                f.write('%s %s\n' % sink.auth)
            os.chmod(path, 0o600)
            cfg['smarthost_auth_file'] = path
        cfg.update(overrides)
        return self.daemon(start, **cfg)

    def send(self, srv, mail_from, rcpts, msg):
        """One transaction on the MX port (127.0.0.1 is in mynetworks, so
        remote recipients are relayed); returns the queue id."""
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction(mail_from, rcpts, msg)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        return r.queue_id()

    def maildir(self, user, domain='example.test'):
        return os.path.join(self.mailroot, domain, user, 'Maildir')

    def mailbox(self, user, n=1, timeout=DELIVERY_WAIT, domain='example.test'):
        """The contents of the files in user's Maildir/new once there are n
        (fewer after timeout: the caller asserts), oldest name first."""
        return sallytest.maildir_messages(self.maildir(user, domain), n, timeout)

    def all_maildir_files(self):
        found = []
        for top, _, files in os.walk(self.mailroot):
            found.extend(os.path.join(top, f) for f in files)
        return found

    def state_path(self, srv, qid):
        return os.path.join(srv.queue_dir, 'state', qid)

    def state(self, srv, qid):
        try:
            with open(self.state_path(srv, qid)) as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def wait_gone(self, srv, qid, timeout=DELIVERY_WAIT):
        """Assert that the runner took entry qid and that incoming/ID and
        state/ID disappear within timeout."""
        gone = sallytest.wait_until(
            lambda: srv.runner_took(qid) and qid not in srv.queue_names()
            and not os.path.exists(self.state_path(srv, qid)), timeout)
        self.assertTrue(gone, 'entry %s still queued or never taken; state file:\n%s'
                        % (qid, self.state(srv, qid)))

    def wait_empty(self, srv, timeout=DELIVERY_WAIT):
        """Assert that the runner took every accepted message and that
        incoming/ is empty within timeout."""
        self.assertTrue(sallytest.wait_until(srv.delivered_all, timeout),
                        'queue not empty or not every message taken: %s' % srv.queue_names())

    def status_line(self, srv, qid, rcpt, status, timeout=DELIVERY_WAIT):
        """The log line id=QID to=<rcpt> ... status=STATUS, waited for."""
        m = srv.wait_log(r'(?m)^.*\bid=%s to=<%s>.*\bstatus=%s\b.*$'
                         % (re.escape(qid), re.escape(rcpt), status), timeout)
        self.assertTrue(m, 'no status=%s line for %s to <%s>; log:\n%s'
                        % (status, qid, rcpt, srv.log_text()[-3000:]))
        line = m.group(0)
        self.assertRegex(line, r'\brelay=\S+')
        self.assertRegex(line, r'\bdelay=\S+')
        return line

    def queue_cmd(self, srv, *args):
        """sallyport --queue ARGS -c CONF; returns its output (exit 0 asserted)."""
        p = subprocess.run([srv.bin, '--queue'] + list(args) + ['-c', srv.conf_path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, 0, 'sallyport --queue %s: exit %d\n%s'
                         % (' '.join(args), p.returncode, out))
        return out

    def assert_bounce(self, raw, rcpt, original_subject, maildir=True):
        """raw (a Maildir file, or what an LMTP server got) is an RFC 3464
        report about rcpt, from <>; returns rcpt's delivery-status fields."""
        if maildir:
            self.assertTrue(raw.startswith(maildir_form(b'Return-Path: <>\r\nDelivered-To: %s\r\n'
                                                        % SENDER.encode())), raw[:200])
        msg, blocks = dsn_parts(raw)
        self.assertEqual(msg.get_content_type(), 'multipart/report', raw[:600])
        self.assertEqual(msg.get_param('report-type'), 'delivery-status')
        types = [p.get_content_type() for p in msg.get_payload()]
        self.assertIn('message/delivery-status', types)
        self.assertIn('text/rfc822-headers', types)
        mine = [b for b in blocks if rcpt in (b.get('Final-Recipient') or '')]
        self.assertEqual(len(mine), 1, [dict(b) for b in blocks])
        b = mine[0]
        self.assertRegex(b['Final-Recipient'], r'(?i)^rfc822;\s*%s$' % re.escape(rcpt))
        self.assertEqual(b['Action'].strip().lower(), 'failed')
        self.assertRegex(b['Status'].strip(), r'^5\.\d{1,3}\.\d{1,3}$')
        self.assertTrue(b['Diagnostic-Code'], dict(b))
        headers = [p for p in msg.get_payload()
                   if p.get_content_type() == 'text/rfc822-headers'][0]
        self.assertIn('Subject: ' + original_subject,
                      headers.get_payload(decode=True).decode('utf-8', 'replace'))
        return b


class LocalDelivery(DeliveryCase):

    def test_maildir_byte_for_byte(self):
        srv = self.daemon()
        msg = message('into the maildir', ['first', '.dotted', '..two', '.', 'last'])
        qid = self.send(srv, 'someone@example.org', ['user@example.test'], msg)
        got = self.mailbox('user')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        head = maildir_form(b'Return-Path: <someone@example.org>\r\n'
                            b'Delivered-To: user@example.test\r\n')
        self.assertTrue(got[0].startswith(head), got[0][:200])
        queued = got[0][len(head):].replace(MAILDIR_EOL, CRLF)    # back to the spool's form
        self.assertEqual(maildir_form(queued), got[0][len(head):])
        received, rest = sallytest.split_received(queued)
        self.assertEqual(rest, msg)
        self.assertIn('with ESMTP id %s' % qid, sallytest.unfold(received))
        self.assertIn('for <user@example.test>', sallytest.unfold(received))
        self.assertEqual(os.listdir(os.path.join(self.maildir('user'), 'tmp')), [])
        self.status_line(srv, qid, 'user@example.test', 'sent')
        self.wait_gone(srv, qid)

    def test_unknown_local_user_refused_at_rcpt(self):
        srv = self.daemon()
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<someone@example.org>').code, 250)
        r = c.cmd('RCPT TO:<nobody@example.test>')
        self.assertEqual(r.last, R_UNKNOWN, r)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(srv.queue_names(), [])

    def test_every_local_part_without_a_user_table(self):
        srv = self.daemon(mailbox_users=None)
        qid = self.send(srv, 'someone@example.org', ['anyone@example.test'],
                        message('no table'))
        got = self.mailbox('anyone')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        self.assertIn(maildir_form(b'Delivered-To: anyone@example.test\r\n'), got[0])
        self.wait_gone(srv, qid)

    def test_alias_fans_out(self):
        sink = self.sink()
        aliases = os.path.join(self.tmp, 'aliases')
        with open(aliases, 'w') as f:
            f.write('# the team\nteam: user, other, friend@remote.test\n')
        srv = self.smarthost(sink, aliases=aliases)
        msg = message('for the team')
        qid = self.send(srv, 'someone@example.org', ['team@example.test'], msg)
        for user in ('user', 'other'):
            got = self.mailbox(user)
            self.assertEqual(len(got), 1, self.all_maildir_files())
            self.assertIn(maildir_form(b'\r\nDelivered-To: %s@example.test\r\n'
                                       % user.encode()), got[0])
            self.assertTrue(got[0].endswith(maildir_form(msg)))
        remote = sink.wait(1)
        self.assertEqual(len(remote), 1, remote)
        self.assertEqual(remote[0].rcpt_tos, ['friend@remote.test'])
        self.assertEqual(remote[0].mail_from, 'someone@example.org')
        self.assertEqual(sallytest.split_received(remote[0].content)[1], msg)
        self.wait_gone(srv, qid)
        time.sleep(0.3)     # nothing more comes: one copy each
        self.assertEqual(len(sink.messages), 1)
        self.assertEqual(len(self.all_maildir_files()), 2, self.all_maildir_files())


class Lmtp(DeliveryCase):

    def test_one_refused_others_delivered_bounce_to_sender(self):
        lmtp = mailsinks.LmtpServer(os.path.join(self.tmp, 'lmtp.sock'),
                                    refuse={'other@example.test': '550 5.1.1 Mailbox gone'})
        lmtp.start()
        self.addCleanup(lmtp.stop)
        srv = self.daemon(local_delivery=lmtp.local_delivery)
        msg = message('over lmtp')
        qid = self.send(srv, SENDER, ['user@example.test', 'other@example.test',
                                      'third@example.test'], msg)
        # The message for user and third (in one transaction or one each),
        # then the bounce for the sender, whose mailbox is on the LMTP server too.
        self.wait_gone(srv, qid)
        sallytest.wait_until(lambda: any(m.mail_from == '' for m in lmtp.messages),
                             DELIVERY_WAIT)
        got = list(lmtp.messages)
        delivered = [r for m in got if m.mail_from == SENDER for r in m.rcpt_tos]
        self.assertEqual(sorted(delivered), ['third@example.test', 'user@example.test'], got)
        for m in got:
            if m.mail_from == SENDER:
                self.assertTrue(m.content.endswith(msg))
        bounces = [m for m in got if m.mail_from == '']
        self.assertEqual(len(bounces), 1, got)
        self.assertEqual(bounces[0].rcpt_tos, [SENDER])
        self.assert_bounce(bounces[0].content, 'other@example.test', 'over lmtp',
                           maildir=False)
        self.status_line(srv, qid, 'user@example.test', 'sent')
        self.status_line(srv, qid, 'other@example.test', 'bounced')
        self.wait_empty(srv)

    def test_lmtp_over_tcp(self):
        lmtp = mailsinks.LmtpServer()
        lmtp.start()
        self.addCleanup(lmtp.stop)
        srv = self.daemon(local_delivery=lmtp.local_delivery)
        qid = self.send(srv, 'someone@example.org', ['user@example.test'], message('tcp'))
        got = lmtp.wait(1)
        self.assertEqual([m.rcpt_tos for m in got], [['user@example.test']])
        self.wait_gone(srv, qid)


class Smarthost(DeliveryCase):

    def test_starttls_auth_and_dots(self):
        sink = self.sink(tls=True, auth=(RELAY_USER, RELAY_PASS))
        srv = self.smarthost(sink)
        msg = message('through the smarthost',
                      ['.one dot', '..two dots', '.', '...', 'x.', '', '. space', 'end'])
        qid = self.send(srv, SENDER, ['friend@remote.test', 'pal@remote.test'], msg)
        got = sink.wait(1)
        self.assertEqual(len(got), 1, got)
        m = got[0]
        self.assertTrue(m.tls, m)
        self.assertEqual(m.auth_user, RELAY_USER)
        self.assertEqual(m.mail_from, SENDER)
        self.assertEqual(sorted(m.rcpt_tos), ['friend@remote.test', 'pal@remote.test'])
        received, rest = sallytest.split_received(m.content)
        self.assertEqual(rest, msg)
        self.assertIn('id %s' % qid, sallytest.unfold(received))
        line = self.status_line(srv, qid, 'friend@remote.test', 'sent')
        # how it was sent, for grep: TLS, and the CA of smarthost_ca_file
        self.assertRegex(line, r' relay=\S+ tls=TLSv1\.[23] cipher=[A-Z][A-Z0-9_-]+ '
                         r'auth=ca delay=')
        self.wait_gone(srv, qid)

    def test_opportunistic_tls_is_logged_unauthenticated(self):
        sink = self.sink(tls=True)
        srv = self.smarthost(sink, smarthost_tls='opportunistic')
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('any cert'))
        got = sink.wait(1)
        self.assertTrue(got[0].tls, got)
        line = self.status_line(srv, qid, 'friend@remote.test', 'sent')
        self.assertRegex(line, r' tls=TLSv1\.[23] cipher=\S+ auth=none ')

    def test_plain_text_is_logged(self):
        sink = self.sink()
        srv = self.smarthost(sink, smarthost_tls='opportunistic')
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('in clear'))
        got = sink.wait(1)
        self.assertFalse(got[0].tls, got)
        line = self.status_line(srv, qid, 'friend@remote.test', 'sent')
        self.assertRegex(line, r' tls=no tls_failure=starttls-not-supported delay=')

    def test_a_name_without_brackets_is_the_host_itself_not_its_mx(self):
        # As sallyport.conf(5) says: brackets or not, a smarthost is its
        # own addresses; its MX (a decoy on the same port) is never asked.
        sink = self.sink()
        decoy_addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                       random.randint(2, 254))
        decoy = self.sink(host=decoy_addr, port=sink.port)
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'relay.sh.test': sink.host,
                                                      'mx.sh.test': decoy_addr}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'relay.sh.test': 'mx.sh.test'}),
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        srv = self.daemon(dns_servers=dns.server, smarthost_tls='none',
                          smarthost='relay.sh.test:%d' % sink.port)
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('no brackets'))
        got = sink.wait(1)
        self.assertEqual([m.rcpt_tos for m in got], [['friend@remote.test']])
        self.status_line(srv, qid, 'friend@remote.test', 'sent')
        self.assertEqual(decoy.messages, [])

    def test_tls_required_but_not_offered_defers(self):
        sink = self.sink()      # no STARTTLS
        srv = self.smarthost(sink, smarthost_tls='required',
                             smarthost_ca_file=sallytest.tls_files()[0], retry_min='1h',
                             retry_max='2h')
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('no tls'))
        line = self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        self.assertIn(' tls=no tls_failure=starttls-not-supported ', line)
        self.assertEqual(sink.messages, [])
        self.assertIn(qid, srv.wait_queue(queue_id=qid))

    def test_down_deferred_then_flush(self):
        sink = self.sink(start=False)
        # Retries far away: only the flush may send it.
        srv = self.smarthost(sink, retry_min='1h', retry_max='2h')
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('outage'))
        deferred = sallytest.wait_until(
            lambda: re.search(r'(?m)^rcpt 0 deferred ', self.state(srv, qid)), DELIVERY_WAIT)
        self.assertTrue(deferred, 'state file:\n%s' % self.state(srv, qid))
        self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        listing = self.queue_cmd(srv, 'list')
        self.assertIn(qid, listing)
        # The recipient's line, with its state (the runner may call a
        # recipient that waits for a retry "pending", the state file "deferred").
        self.assertRegex(listing, r'(?m)^.*friend@remote\.test.*\b(deferred|pending)\b')
        sink.start()
        time.sleep(1.5)
        self.assertEqual(sink.messages, [], 'delivered before the flush')
        self.queue_cmd(srv, 'flush')
        # Only the flush explains a delivery now: the retry is an hour away.
        got = sink.wait(1, timeout=10)
        self.assertEqual(len(got), 1, 'not delivered within 10 s of the flush')
        self.status_line(srv, qid, 'friend@remote.test', 'sent')
        self.wait_gone(srv, qid)
        self.assertNotIn(qid, self.queue_cmd(srv, 'list'))

    def test_delete(self):
        sink = self.sink(start=False)
        srv = self.smarthost(sink, retry_min='1h', retry_max='2h')
        qid = self.send(srv, SENDER, ['friend@remote.test'], message('to delete'))
        self.status_line(srv, qid, 'friend@remote.test', 'deferred')
        self.queue_cmd(srv, 'delete', qid)
        self.wait_gone(srv, qid, timeout=3)
        sink.start()
        self.queue_cmd(srv, 'flush')
        time.sleep(1.5)
        self.assertEqual(sink.messages, [])

    def test_4xx_retried_automatically(self):
        sink = self.sink(refuse={'later@remote.test': '451 4.3.0 Try again later'})
        srv = self.smarthost(sink)
        qid = self.send(srv, SENDER, ['later@remote.test'], message('retry'))
        self.status_line(srv, qid, 'later@remote.test', 'deferred')
        self.assertRegex(self.state(srv, qid), r'(?m)^rcpt 0 deferred .*451')
        del sink.refuse['later@remote.test']
        # retry_min 1 s, doubling: the next tries come after 1 s and 2 s.
        got = sink.wait(1, timeout=6)
        self.assertEqual([m.rcpt_tos for m in got], [['later@remote.test']])
        self.status_line(srv, qid, 'later@remote.test', 'sent')
        self.wait_gone(srv, qid)

    def test_550_bounce_to_local_sender(self):
        sink = self.sink(refuse={'gone@remote.test': '550 5.1.1 No such user here'})
        srv = self.smarthost(sink)
        qid = self.send(srv, SENDER, ['gone@remote.test', 'pal@remote.test'],
                        message('will bounce'))
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        b = self.assert_bounce(got[0], 'gone@remote.test', 'will bounce')
        self.assertIn('550', b['Diagnostic-Code'])
        self.assertEqual(b['Status'].strip(), '5.1.1')
        self.assertEqual([m.rcpt_tos for m in sink.wait(1)], [['pal@remote.test']])
        self.status_line(srv, qid, 'gone@remote.test', 'bounced')
        self.wait_gone(srv, qid)
        self.wait_empty(srv)    # the bounce itself was delivered too

    def test_null_sender_550_no_bounce(self):
        sink = self.sink(refuse={'gone@remote.test': '550 5.1.1 No such user here'})
        srv = self.smarthost(sink)
        qid = self.send(srv, '', ['gone@remote.test'], message('bounce of a bounce'))
        self.status_line(srv, qid, 'gone@remote.test', 'bounced')
        self.wait_gone(srv, qid)
        time.sleep(0.5)
        self.assertEqual(srv.queue_names(), [])
        self.assertEqual(self.all_maildir_files(), [])
        self.assertEqual(sink.messages, [])

    def test_expiry_bounces(self):
        # queue_lifetime is at least an hour: an entry that arrived two hours
        # ago, seeded before the start, expires at its first failed attempt.
        sink = self.sink(start=False)
        srv = self.smarthost(sink, start=False, queue_lifetime='1h')
        qid = '00000000000E0001'
        os.makedirs(srv.incoming_dir())
        with open(os.path.join(srv.incoming_dir(), qid), 'wb') as f:
            f.write(b'sallyport-queue 1\nid %s\narrival %d\nclient 127.0.0.1\n'
                    b'helo client.example\nproto ESMTP\nfrom %s\n'
                    b'rcpt friend@remote.test\n\n' % (qid.encode(), time.time() - 7200,
                                                       SENDER.encode())
                    + message('expires'))
        srv.start()
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        msg, blocks = dsn_parts(got[0])
        self.assertEqual(msg.get_content_type(), 'multipart/report')
        self.assertEqual([b['Action'].strip().lower() for b in blocks], ['failed'])
        self.assertIn('friend@remote.test', blocks[0]['Final-Recipient'])
        # No server replied (connection refused): the reason is ours, in
        # words, never dressed up as an SMTP reply (RFC 3464 2.3.6);
        # Status: 4.4.7, as no better code is known (RFC 3463).
        diag = flat(blocks[0]['Diagnostic-Code'])
        self.assertRegex(diag, r'^X-Sallyport; delivery time expired; last error: .*refused')
        self.assertNotRegex(diag, r'\b[245]\d\d [245]\.\d')
        self.assertEqual(blocks[0]['Status'].strip(), '4.4.7')
        line = self.status_line(srv, qid, 'friend@remote.test', 'bounced')
        self.assertIn('delivery time expired', line)
        self.wait_gone(srv, qid)

    def seed_expired(self, srv, qid, rcpt, subject):
        """An entry that arrived two hours ago (queue_lifetime 1h), in the
        queue before the daemon starts."""
        os.makedirs(srv.incoming_dir(), exist_ok=True)
        with open(os.path.join(srv.incoming_dir(), qid), 'wb') as f:
            f.write(b'sallyport-queue 1\nid %s\narrival %d\nclient 127.0.0.1\n'
                    b'helo client.example\nproto ESMTP\nfrom %s\n'
                    b'rcpt %s\n\n' % (qid.encode(), time.time() - 7200,
                                       SENDER.encode(), rcpt.encode())
                    + message(subject))

    def test_expiry_keeps_the_last_remote_reply(self):
        sink = self.sink(refuse={'busy@remote.test': '452 4.2.2 Mailbox full, try later'})
        srv = self.smarthost(sink, start=False, queue_lifetime='1h')
        qid = '00000000000E0002'
        self.seed_expired(srv, qid, 'busy@remote.test', 'expires busy')
        srv.start()
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        _, blocks = dsn_parts(got[0])
        self.assertEqual([b['Action'].strip().lower() for b in blocks], ['failed'])
        # The server's own last reply, as it said it, and its code.
        self.assertEqual(flat(blocks[0]['Diagnostic-Code']),
                         'smtp; 452 4.2.2 Mailbox full, try later')
        self.assertEqual(blocks[0]['Status'].strip(), '4.2.2')
        self.wait_gone(srv, qid)

    def test_kill_9_in_the_middle(self):
        sink = self.sink()
        srv = self.smarthost(sink)
        accepted, failed, lock = set(), [], threading.Lock()
        n_threads, per_thread = 5, 10

        def worker(k):
            for i in range(per_thread):
                mid = 'crash-%d-%d' % (k, i)
                deadline = time.monotonic() + 30
                while True:
                    try:    # refused or cut off by the kill: send it again
                        with sallytest.Client(srv.mx_port, timeout=5, greet=False) as c:
                            c.reply()   # inside the with: a cut-off greeting closes it
                            c.cmd('EHLO client.example')
                            r = c.transaction(SENDER, ['rcpt%d@remote.test' % k],
                                              message(mid, ['message %s' % mid], mid))
                        if r.code == 250:
                            with lock:
                                accepted.add(mid)
                            break
                    except (OSError, sallytest.Closed, AssertionError):
                        pass
                    if time.monotonic() > deadline:
                        failed.append(mid)
                        return
                    time.sleep(0.05)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        try:
            self.assertTrue(sallytest.wait_until(lambda: len(accepted) >= 20, 20),
                            'only %d accepted' % len(accepted))
            kids = self.kill_tree(srv)
            self.assertTrue(kids, 'the daemon had no delivery child')
            at_kill = len(sink.messages)
            srv.start()
        finally:
            for t in threads:
                t.join(40)
        self.assertEqual(failed, [])
        total = n_threads * per_thread
        self.assertEqual(len(accepted), total)

        def ids():
            return {m.header('Message-ID') for m in sink.messages}
        sallytest.wait_until(lambda: len(ids()) >= total, 20, interval=0.1)
        want = {'<%s@client.example>' % mid for mid in accepted}
        self.assertEqual(sorted(want - ids()), [],
                         'missing at the sink (%d had arrived at the kill)' % at_kill)
        self.assertEqual(len(ids()), total)
        self.wait_empty(srv)


class DirectMx(DeliveryCase):
    """No smarthost: the MX of remote.test, as a loopback dnsmasq says,
    on port 25 of an otherwise unused loopback address."""

    def test_no_mail_server_is_our_reason(self):
        # nowhere.test does not exist (the loopback dnsmasq says NXDOMAIN):
        # a bounce whose reason is ours, so no "smtp;" diagnostic.
        dns = self.dnsmasq(hosts=sallytest.SHARED_DNS_HOSTS, mx=sallytest.SHARED_DNS_MX)
        srv = self.daemon(dns_servers=dns.server)
        qid = self.send(srv, SENDER, ['friend@nowhere.test'], message('no such domain'))
        got = self.mailbox('sender')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        b = self.assert_bounce(got[0], 'friend@nowhere.test', 'no such domain')
        self.assertEqual(b['Status'].strip(), '5.1.2')
        self.assertEqual(flat(b['Diagnostic-Code']),
                         'X-Sallyport; no mail server for the domain')
        self.status_line(srv, qid, 'friend@nowhere.test', 'bounced')
        self.wait_gone(srv, qid)

    def test_delivery_to_mx(self):
        sink, dns = self.mx_sink()
        srv = self.daemon(dns_servers=dns.server)
        msg = message('straight to the mx')
        qid = self.send(srv, SENDER, ['friend@remote.test'], msg)
        got = sink.wait(1)
        self.assertEqual([m.rcpt_tos for m in got], [['friend@remote.test']],
                         srv.log_text()[-2000:])
        self.assertEqual(sallytest.split_received(got[0].content)[1], msg)
        line = self.status_line(srv, qid, 'friend@remote.test', 'sent')
        self.assertIn('mx.remote.test', line)
        self.wait_gone(srv, qid)


class Recipients(DeliveryCase):
    """What gets 250 at RCPT is what is delivered: the bare postmaster is
    ours (RFC 5321 4.5.1), and a local part that would not be delivered is
    refused in the session, never bounced to a sender who may be forged.
    Every client here is untrusted (mynetworks excludes loopback)."""

    def session(self, srv, rcpts, msg, mail_params=''):
        """One transaction from stranger@example.org that sends every RCPT
        whatever its reply, then msg; returns ({rcpt: reply line}, queue id)."""
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<stranger@example.org>' + mail_params).code, 250)
        replies = {rcpt: c.cmd('RCPT TO:<%s>' % rcpt).last for rcpt in rcpts}
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(msg)
        self.assertEqual(r.code, 250, r)
        c.cmd('QUIT')
        return replies, r.queue_id()

    def assert_no_bounce(self, srv, *users, domain='example.test'):
        """The Maildirs hold only what the users got, and no DSN was queued."""
        mine = [os.path.join(self.maildir(u, domain), 'new', f) for u in users
                for f in os.listdir(os.path.join(self.maildir(u, domain), 'new'))]
        self.assertEqual(sorted(self.all_maildir_files()), sorted(mine))
        self.assertNotIn('non-delivery notification', srv.log_text())

    def test_bare_postmaster_reaches_our_postmaster_not_the_smarthost(self):
        sink = self.sink()
        aliases = os.path.join(self.tmp, 'aliases')
        with open(aliases, 'w') as f:
            f.write('postmaster: other\n')
        srv = self.smarthost(sink, aliases=aliases, mynetworks=UNTRUSTED)
        msg = message('for the postmaster')
        # Only the bare form is special: the relay rules stand for the rest.
        relay = ['postmaster@remote.test', 'postmaster%remote.test',
                 '"postmaster@remote.test"', 'remote.test!postmaster']
        replies, qid = self.session(srv, relay + ['"postmaster"', 'PostMaster'], msg)
        for rcpt in relay:
            self.assertTrue(replies[rcpt].startswith('550 5.7.1 '), (rcpt, replies))
        self.assertEqual(replies['"postmaster"'],
                         '550 5.1.3 Recipient address must have a domain')
        self.assertEqual(replies['PostMaster'], '250 2.1.5 Ok')

        # Delivered as postmaster@hostname, through the alias, into the
        # Maildir of hostname's domain (the %d of the template).
        host = sallytest.SERVER_NAME
        got = self.mailbox('other', domain=host)
        self.assertEqual(len(got), 1, self.all_maildir_files())
        self.assertTrue(got[0].startswith(maildir_form(
            b'Return-Path: <stranger@example.org>\r\n'
            b'Delivered-To: other@%s\r\n' % host.encode())), got[0][:200])
        self.assertTrue(got[0].endswith(maildir_form(msg)))
        self.assertIn('for <postmaster@%s>' % host, sallytest.unfold(got[0]))
        self.status_line(srv, qid, 'postmaster@%s' % host, 'sent')
        self.wait_gone(srv, qid)
        self.assertEqual(sink.messages, [], 'nothing goes to the smarthost')
        self.assert_no_bounce(srv, 'other', domain=host)

    def test_alias_to_postmaster_at_hostname_stays_here(self):
        # hostname is not a local domain. As an alias target the
        # postmaster's full address is ours, as the bare form is: were it
        # forwarded, it would come back as a new entry, expand to root
        # again, and go round for ever (one copy for user each time).
        host = sallytest.SERVER_NAME
        aliases = os.path.join(self.tmp, 'aliases')
        with open(aliases, 'w') as f:
            f.write('root: postmaster@%s\npostmaster: user, root\n' % host)
        srv = self.daemon(aliases=aliases, mynetworks=UNTRUSTED)
        replies, qid = self.session(srv, ['root@example.test'], message('for root'))
        self.assertEqual(replies['root@example.test'], '250 2.1.5 Ok')
        got = self.mailbox('postmaster', domain=host)
        self.assertEqual(len(got), 1, '%d files' % len(self.all_maildir_files()))
        self.wait_gone(srv, qid)
        self.wait_empty(srv)
        self.assertNotIn('forwarded as', srv.log_text())
        self.assert_no_bounce(srv, 'postmaster', domain=host)

    def test_open_table_accepts_only_what_it_delivers(self):
        srv = self.daemon(mailbox_users=None, mynetworks=UNTRUSTED)
        ok = '250 2.1.5 Ok'
        want = {'a=b@example.test': ok, "O'Brien@example.test": ok,
                '"plain"@example.test': ok,
                '"user evil"@example.test': R_UNKNOWN, '"a,b"@example.test': R_UNKNOWN,
                '"../x"@example.test': R_UNKNOWN, 'jos\u00e9@example.test': R_UNKNOWN,
                '\u7528\u6237@example.test': R_UNKNOWN}
        msg = message('odd names')
        replies, qid = self.session(srv, list(want), msg, ' SMTPUTF8')
        self.assertEqual(replies, want)
        users = ('a=b', "o'brien", 'plain')
        for user in users:
            got = self.mailbox(user)
            self.assertEqual(len(got), 1, self.all_maildir_files())
            self.assertIn(maildir_form(b'\r\nDelivered-To: %s@example.test\r\n'
                                       % user.encode()), b'\r\n' + got[0])
            self.assertTrue(got[0].endswith(maildir_form(msg)))
        self.wait_gone(srv, qid)
        self.assert_no_bounce(srv, *users)

    def test_catchall_takes_every_local_part(self):
        srv = self.daemon(catchall='user', mynetworks=UNTRUSTED)
        rcpts = ['a=b@example.test', '"user evil"@example.test', '"a,b"@example.test',
                 'jos\u00e9@example.test']
        replies, qid = self.session(srv, rcpts, message('caught'), ' SMTPUTF8')
        self.assertEqual(set(replies.values()), {'250 2.1.5 Ok'}, replies)
        got = self.mailbox('user')
        self.assertEqual(len(got), 1, self.all_maildir_files())    # one copy per mailbox
        for rcpt in rcpts[:3]:
            self.status_line(srv, qid, rcpt, 'sent')
        self.wait_gone(srv, qid)
        self.assert_no_bounce(srv, 'user')

    def test_lmtp_gets_the_name_as_accepted(self):
        lmtp = mailsinks.LmtpServer(os.path.join(self.tmp, 'lmtp.sock'))
        lmtp.start()
        self.addCleanup(lmtp.stop)
        srv = self.daemon(local_delivery=lmtp.local_delivery, mailbox_users=None,
                          mynetworks=UNTRUSTED)
        replies, qid = self.session(srv, ['"user evil"@example.test', 'A=B@example.test'],
                                    message('over lmtp'))
        self.assertEqual(list(replies.values()), [R_UNKNOWN, '250 2.1.5 Ok'])
        got = lmtp.wait(1)
        self.assertEqual([m.rcpt_tos for m in got], [['a=b@example.test']])
        self.wait_gone(srv, qid)
        self.assertNotIn('non-delivery notification', srv.log_text())

if __name__ == '__main__':
    sallytest.main()
