"""SRS through the real daemon: an alias that forwards to an outside
domain (an aiosmtpd sink behind the smarthost) sends with an SRS0
sender that verifies under the first srs_secret_file line, computed here
from the scheme's description (HMAC-SHA1 of TT, domain and local part,
lower case, base64, 4 characters); the null sender stays null; the
message arrives as it was sent, DKIM-Signature and all, under our trace
field. A bounce to that SRS address is taken from a stranger and
reaches the original sender (the sink); one to an SRS address of a
local user, signed with the second (older) secret, reaches her Maildir;
our own bounce of a forward the next hop refused reaches the original
sender too.
Forged and expired SRS addresses are refused at RCPT with 550 5.7.1
naming them, and --selftest finds no open relay with SRS on."""

import base64
import hmac
import os
import subprocess
import time

import sallytest
from test_delivery import DeliveryCase, message
from test_recipients import Recipients

B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
NEW, OLD = 'a-new-secret-for-srs', 'the-old-secret-still-verifies'
SRS_DOMAIN = 'a.example'
TABLE = """\
bob@a.example
alice@b.example: alice, alice@elsewhere.example
"""


def today():
    return int(time.time()) // 86400 % 1024


def tt(day):
    return B32[(day >> 5) & 31] + B32[day & 31]


def srs_hash(secret, data):
    mac = hmac.new(secret.encode(), data.lower().encode(), 'sha1').digest()
    return base64.b64encode(mac).decode()[:4]


def srs0(secret, sender, day):
    """sender in SRS0 form at SRS_DOMAIN, as the scheme describes it"""
    local, _, domain = sender.rpartition('@')
    t = tt(day)
    return 'SRS0=%s=%s=%s=%s@%s' % (srs_hash(secret, t + domain + local), t,
                                    domain, local, SRS_DOMAIN)


class Srs(DeliveryCase):
    # The recipient-table helpers, not its tests.
    table, start, files = Recipients.table, Recipients.start, Recipients.files
    selftest_passes = Recipients.selftest_passes

    def start_srs(self, sink):
        secrets = os.path.join(self.tmp, 'srs-secrets')
        with open(secrets, 'w') as f:
            f.write('# the first line signs\n%s\n%s\n' % (NEW, OLD))
        os.chmod(secrets, 0o600)
        return self.start(TABLE, smarthost=sink.smarthost, smarthost_tls='none',
                          srs_secret_file=secrets, srs_domain=SRS_DOMAIN)

    def signed(self):
        """a message carrying a real DKIM signature (tests/dkim-tool)"""
        key = os.path.join(self.tmp, 'dkim.pem')
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
                        'rsa_keygen_bits:2048', '-out', key], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        raw = os.path.join(self.tmp, 'unsigned.eml')
        with open(raw, 'wb') as f:
            f.write(message('signed and forwarded'))
        tool = os.path.join(os.path.dirname(os.path.dirname(sallytest.binary())),
                            'tests', 'dkim-tool')
        p = subprocess.run([tool, 'sign', raw, 'example.org', 'sel', key],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b'DKIM-Signature:'), p.stdout[:80])
        return p.stdout

    def bounce(self, srv, rcpt):
        """a null-sender session to rcpt: (RCPT reply, queue id or None)"""
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<>').code, 250)
        reply = c.cmd('RCPT TO:<%s>' % rcpt).last
        qid = None
        if reply.startswith('250'):
            self.assertEqual(c.cmd('DATA').code, 354)
            r = c.data(message('Undelivered Mail Returned to Sender'))
            self.assertEqual(r.code, 250, r)
            qid = r.queue_id()
        c.cmd('QUIT')
        return reply, qid

    def test_forward_carries_srs_and_the_bounce_comes_back(self):
        sink = self.sink()
        srv = self.start_srs(sink)
        day0 = today()
        signed = self.signed()
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction('Carol@Example.ORG', ['alice@b.example'],
                              signed)
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        self.wait_gone(srv, r.queue_id())
        fwd = sink.wait(1)[0]
        self.assertEqual(fwd.rcpt_tos, ['alice@elsewhere.example'])
        # The sender, rewritten under the first secret, checked here
        # from the scheme rather than from our code (the queue keeps
        # the domain in lower case, the local part as written).
        want = {srs0(NEW, 'Carol@example.org', d) for d in (day0, today())}
        self.assertIn(fwd.mail_from, want)
        self.assertNotEqual(srs_hash(OLD, 'x'), srs_hash(NEW, 'x'))
        # The message itself unchanged: the trace fields of its arrival
        # on top (which the signature does not cover), then every byte
        # the signer signed, so the DKIM signature still verifies.
        self.assertTrue(fwd.content.endswith(signed), fwd.content[:400])
        added = fwd.content[:-len(signed)].decode()
        names = [line.split(':', 1)[0] for line in added.split('\r\n')
                 if line and line[0] not in ' \t']
        self.assertEqual(set(names), {'Received', 'Authentication-Results'}, added)
        # Alice's own copy is a local delivery: no rewriting there.
        self.assertEqual(len(self.files('alice', 'b.example')), 1)

        # The null sender is forwarded as the null sender.
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction('', ['alice@b.example'], message('a bounce'))
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        self.wait_gone(srv, r.queue_id())
        self.assertEqual(sink.wait(2)[1].mail_from, '')

        # The bounce to the SRS address, from a stranger: accepted and
        # sent on to Carol, the original sender.
        reply, qid = self.bounce(srv, fwd.mail_from)
        self.assertEqual(reply, '250 2.1.5 Ok')
        self.wait_gone(srv, qid)
        back = sink.wait(3)[2]
        self.assertEqual(back.rcpt_tos, ['Carol@example.org'])
        self.assertEqual(back.mail_from, '')
        self.assertIn(b'Subject: Undelivered Mail Returned to Sender', back.content)
        # In lower case (a hop that folds case) it still reverses.
        self.assertEqual(self.bounce(srv, fwd.mail_from.lower())[0][:3], '250')

    def test_our_own_bounce_of_a_forward_reaches_the_original_sender(self):
        # The outside host refuses the forward: our bounce goes to the
        # forward's SRS sender at a.example, which is ours, and is
        # reversed there to Carol rather than looked up as a mailbox.
        sink = self.sink()
        sink.refuse['alice@elsewhere.example'] = '550 5.1.1 no such user'
        srv = self.start_srs(sink)
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction('carol@example.org', ['alice@b.example'],
                              message('refused after the forward'))
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        got = sink.wait(1, timeout=30)
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].rcpt_tos, ['carol@example.org'])
        self.assertEqual(got[0].mail_from, '')
        self.assertIn(b'refused after the forward', got[0].content)
        self.assertIn(b'alice@elsewhere.example', got[0].content)
        self.wait_empty(srv)
        # Alice's own copy, and nothing else here (no double bounce).
        files = self.all_maildir_files()
        self.assertEqual(len(files), 1, files)
        self.assertTrue(files[0].startswith(self.maildir('alice', 'b.example')), files)

    def test_sender_too_long_for_srs_kept_as_it_is(self):
        # Its SRS0 local part would pass 64 octets, which our own RCPT
        # check (RFC 5321 4.5.3.1.1) refuses: the bounce could not come
        # back, so the forward keeps the sender, and says so.
        sink = self.sink()
        srv = self.start_srs(sink)
        sender = 'a.really.rather.long.local.part.of.forty@example.org'
        self.assertGreater(len(srs0(NEW, sender, today()).split('@')[0]), 64)
        with sallytest.Client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            r = c.transaction(sender, ['alice@b.example'], message('long'))
            self.assertEqual(r.code, 250, r)
            c.cmd('QUIT')
        self.wait_gone(srv, r.queue_id())
        self.assertEqual(sink.wait(1)[0].mail_from, sender)
        self.assertIn('forward keeps sender <%s>: SRS address too long' % sender,
                      srv.log_text())

    def test_bounce_to_a_local_sender_signed_with_the_older_secret(self):
        sink = self.sink()
        srv = self.start_srs(sink)
        reply, qid = self.bounce(srv, srs0(OLD, 'bob@a.example', today()))
        self.assertEqual(reply, '250 2.1.5 Ok')
        self.wait_gone(srv, qid)
        got = self.files('bob', 'a.example')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        self.assertIn(b'Subject: Undelivered Mail Returned to Sender', got[0])
        self.assertEqual(sink.messages, [])
        # Reversed to a local user who does not exist: refused.
        reply, _ = self.bounce(srv, srs0(OLD, 'nobody@a.example', today()))
        self.assertTrue(reply.startswith('550 5.7.1 '), reply)

    def test_forged_and_expired_refused_at_rcpt(self):
        sink = self.sink()
        srv = self.start_srs(sink)
        forged = srs0('not-our-secret', 'victim@example.net', today())
        # Our own hash with one letter changed.
        good = srs0(NEW, 'victim@example.net', today())
        flipped = good[:5] + ('B' if good[5] != 'B' else 'C') + good[6:]
        expired = srs0(NEW, 'victim@example.net', (today() - 30) % 1024)
        malformed = 'SRS0=abcd=AA@%s' % SRS_DOMAIN
        for rcpt, why in ((forged, 'forged'), (flipped, 'forged'),
                          (expired, 'expired'), (malformed, 'malformed')):
            reply, qid = self.bounce(srv, rcpt)
            self.assertIsNone(qid)
            self.assertTrue(reply.startswith('550 5.7.1 <%s>: ' % rcpt), reply)
            self.assertIn(why, reply)
        self.assertIn('SRS address has expired', srv.log_text())
        # 21 days old is still fresh (postsrsd's limit).
        reply, qid = self.bounce(srv, srs0(NEW, 'victim@example.net',
                                           (today() - 20) % 1024))
        self.assertEqual(reply, '250 2.1.5 Ok')
        self.wait_gone(srv, qid)
        self.assertEqual([m.rcpt_tos for m in sink.wait(1)], [['victim@example.net']])

    def test_selftest_finds_no_open_relay_with_srs(self):
        dns = self.dnsmasq(hosts={'tester.example': '192.0.2.80',
                                  'mail.example.test': '127.0.0.1'})
        with open(os.path.join(sallytest.srcdir(), 'etc', 'sallyport.conf.sample')) as f:
            text = f.read()
        conf = os.path.join(self.tmp, 'selftest.conf')
        with open(conf, 'w') as f:
            f.write(text + '\n'.join([
                '', 'dns_servers = %s' % dns.server,
                'queue_dir = %s' % os.path.join(self.tmp, 'queue'),
                'hostname = mail.example.test', 'local_domains = example.test',
                'recipients = %s' % self.table(
                    'bob@example.test\nfwd@example.test: someone@elsewhere.example\n'),
                'srs_secret = %s, %s' % (NEW, OLD)]) + '\n')
        self.selftest_passes(conf)


del Recipients      # its tests run in test_recipients.py

if __name__ == '__main__':
    sallytest.main()
