#!/usr/bin/env python3
"""Checks of mail from others on an mx listener (doc/authentication.md,
"Checking incoming mail"): SPF, DKIM and DMARC against records a real DNS
server (dnsmasq) serves on loopback, the one Authentication-Results field
put on the queued message, the policies (header, enforce), a forged
Authentication-Results of ours dropped, a hostile DNS, and clients that
are not checked (trusted, authenticated).

The checked client connects from 127.0.0.2; mynetworks holds only
127.0.0.1, so that address stays trusted (not checked)."""

import base64
import os
import re
import smtplib
import socket
import subprocess
import tempfile

import sallytest
from sallytest import SERVER_NAME

CLIENT = '127.0.0.2'
RCPT = 'user@example.test'

SPF_HOSTS = {d: '192.0.2.10' for d in (
    'pass.test', 'fail.test', 'soft.test', 'none.test', 'temp.test',
    'loop.test', 'big.test', 'slow.test', 'helo.test')}
SPF_TXT = {
    'pass.test': 'v=spf1 ip4:127.0.0.2 -all',
    'fail.test': 'v=spf1 ip4:192.0.2.99 -all',
    'soft.test': 'v=spf1 ~all',
    # an include into a zone this DNS refuses: a temporary error
    'temp.test': 'v=spf1 include:spf.refused.zone -all',
    # include loops end at the lookup limit: permerror
    'loop.test': 'v=spf1 include:a.loop.test -all',
    'a.loop.test': 'v=spf1 include:b.loop.test -all',
    'b.loop.test': 'v=spf1 include:a.loop.test -all',
    # past spf_max_record_size (4k): permerror, never read whole
    'big.test': 'v=spf1 ' + ' '.join('ip4:10.0.%d.%d' % (i // 250, i % 250)
                                     for i in range(400)) + ' -all',
    'helo.test': 'v=spf1 ip4:127.0.0.2 -all',
}


def delivered(entry):
    """The message a delivery sends (QueueEntry.delivered)."""
    return entry.delivered()


def header_fields(message, name):
    """The unfolded values of every `name` field of the message's header."""
    head = message.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace')
    head = re.sub(r'\r\n(?=[ \t])', '', head)
    out = []
    for line in head.split('\r\n'):
        k, sep, v = line.partition(':')
        if sep and k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def message(frm='someone@pass.test', extra=b'', body=b'Hello.\r\n'):
    return (b'From: ' + frm.encode() + b'\r\nTo: ' + RCPT.encode() +
            b'\r\nSubject: test\r\nMessage-ID: <1@pass.test>\r\n' + extra +
            b'\r\n' + body)


def results(ar, method):
    """The resinfo of `method` in an Authentication-Results value, comments
    removed and blanks made one space: ['pass smtp.mailfrom=a@b.test', ...]."""
    text = ar
    while True:
        stripped = re.sub(r'\((?:\\.|[^()\\])*\)', ' ', text)
        if stripped == text:
            break
        text = stripped
    out = []
    for part in text.split(';')[1:]:
        part = ' '.join(part.split())
        if part.startswith(method + '='):
            out.append(part[len(method) + 1:])
    return out


class Base(sallytest.TestCase):
    TXT = SPF_TXT
    HOSTS = SPF_HOSTS
    SERVERS = {}

    def start(self, **conf):
        self.dns = self.dnsmasq(hosts=self.HOSTS, txt=self.TXT,
                                servers=self.SERVERS,
                                zones=('test', 'example', 'invalid'))
        conf.setdefault('dns_servers', self.dns.server)
        conf.setdefault('mynetworks', '127.0.0.1/32')
        conf.setdefault('dns_timeout', '2s')
        return self.server(**conf)

    def send(self, srv, sender, msg=None, helo='client.example',
             source=CLIENT):
        """A transaction from `source`; returns (reply after the dot, the
        queued message or None)."""
        c = self.ehlo_client(srv.mx_port, name=helo, source=source)
        r = c.cmd('MAIL FROM:<%s>' % sender)
        self.assertEqual(r.code, 250, r)
        r = c.cmd('RCPT TO:<%s>' % RCPT)
        self.assertEqual(r.code, 250, r)
        r = c.cmd('DATA')
        self.assertEqual(r.code, 354, r)
        r = c.data(msg if msg is not None else message())
        c.cmd('QUIT')
        if r.code != 250:
            return r, None
        return r, delivered(srv.queue_entry(r.queue_id()))

    def ar(self, queued):
        """Our Authentication-Results field's value; there is one."""
        ours = [v for v in header_fields(queued, 'Authentication-Results')
                if v.split(';')[0].strip() == SERVER_NAME]
        self.assertEqual(len(ours), 1, queued[:2000])
        return ours[0]


class SPF(Base):
    def test_results_recorded(self):
        srv = self.start()
        for sender, result in (('a@pass.test', 'pass'), ('a@fail.test', 'fail'),
                               ('a@soft.test', 'softfail'), ('a@none.test', 'none'),
                               ('a@temp.test', 'temperror'),
                               ('a@loop.test', 'permerror'),
                               ('a@big.test', 'permerror')):
            with self.subTest(sender=sender):
                r, q = self.send(srv, sender)
                self.assertEqual(r.code, 250, r)
                ar = self.ar(q)
                self.assertEqual(results(ar, 'spf'),
                                 ['%s smtp.mailfrom=%s' % (result, sender)])
                self.assertTrue(srv.wait_log(r'id=%s checks: spf=%s'
                                             % (r.queue_id(), result)))

    def test_null_sender_checks_helo(self):
        srv = self.start()
        r, q = self.send(srv, '', helo='helo.test')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(results(self.ar(q), 'spf'), ['pass smtp.helo=helo.test'])

    def test_enforce_refuses_fail_at_mail(self):
        srv = self.start(spf_policy='enforce')
        c = self.ehlo_client(srv.mx_port, source=CLIENT)
        r = c.cmd('MAIL FROM:<a@fail.test>')
        self.assertEqual(r.code, 550, r)
        self.assertTrue(r.last.startswith('550 5.7.23 '), r)
        self.assertIn('fail.test', r.last)
        self.assertIn('127.0.0.2', r.last)
        self.assertTrue(srv.wait_log(r'checks: spf=fail .* refused at MAIL'))
        # the rest is accepted: pass, softfail, and a temporary error
        for sender in ('a@pass.test', 'a@soft.test', 'a@temp.test'):
            r = c.cmd('MAIL FROM:<%s>' % sender)
            self.assertEqual(r.code, 250, (sender, r))
            c.cmd('RSET')

    def test_off_records_nothing(self):
        srv = self.start(spf_policy='off', dkim_policy='off',
                         dmarc_policy='off')
        r, q = self.send(srv, 'a@fail.test')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(header_fields(q, 'Authentication-Results'), [])

    def test_trusted_and_authenticated_not_checked(self):
        srv = self.start(spf_policy='enforce')
        # 127.0.0.1 is in mynetworks: no check, no field, no refusal
        r, q = self.send(srv, 'a@fail.test', source='127.0.0.1')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(header_fields(q, 'Authentication-Results'), [])
        # an authenticated client on submission: its mail is not judged
        c = self.auth_client(srv.sub_port, source=CLIENT)
        r = c.transaction('alice@example.test', ['bob@fail.test'],
                          message('alice@example.test'))
        self.assertEqual(r.code, 250, r)
        q = delivered(srv.queue_entry(r.queue_id()))
        self.assertEqual(header_fields(q, 'Authentication-Results'), [])


class ForgedResults(Base):
    def test_ours_dropped_foreign_kept(self):
        srv = self.start()
        forged = ('Authentication-Results: %s;\r\n\tspf=pass '
                  'smtp.mailfrom=a@fail.test\r\n' % SERVER_NAME).encode()
        forged2 = ('Authentication-Results: "%s"; dkim=pass\r\n'
                   % SERVER_NAME.upper()).encode()
        foreign = b'Authentication-Results: mx.other.example; spf=pass\r\n'
        r, q = self.send(srv, 'a@fail.test',
                         message('a@fail.test', forged + foreign + forged2))
        self.assertEqual(r.code, 250, r)
        ars = header_fields(q, 'Authentication-Results')
        self.assertIn('mx.other.example; spf=pass', ars)
        self.assertEqual(results(self.ar(q), 'spf'),
                         ['fail smtp.mailfrom=a@fail.test'])
        self.assertNotIn(b'"%s"' % SERVER_NAME.upper().encode(), q)
        self.assertEqual(len(ars), 2, ars)
        self.assertTrue(srv.wait_log(r'dropped 2 Authentication-Results fields'))

    def test_ours_dropped_from_authenticated_clients(self):
        """A user's mail client is no MTA of ours (RFC 8601 5): a result of
        ours in what it submits is forged, to make a local recipient trust
        it, and is dropped; its mail is still not checked. A mynetworks
        client (a filter that hands our mail back) keeps ours."""
        srv = self.start()
        forged = ('Authentication-Results: %s; dkim=pass '
                  'header.d=bank.example\r\n' % SERVER_NAME).encode()
        foreign = b'Authentication-Results: mx.other.example; spf=pass\r\n'
        for port in (srv.sub_port, srv.mx_port):
            c = self.auth_client(port, source=CLIENT)
            r = c.transaction('alice@example.test', [RCPT],
                              message('ceo@bank.example', forged + foreign))
            self.assertEqual(r.code, 250, r)
            q = delivered(srv.queue_entry(r.queue_id()))
            self.assertEqual(header_fields(q, 'Authentication-Results'),
                             ['mx.other.example; spf=pass'], port)
        r, q = self.send(srv, 'a@fail.test',
                         message('a@fail.test', forged), source='127.0.0.1')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(len(header_fields(q, 'Authentication-Results')), 1)

    def test_ours_dropped_with_every_check_off(self):
        # with SPF, DKIM and DMARC all off we add no field, but a forged
        # one of ours would still be trusted by a local reader
        srv = self.start(spf_policy='off', dkim_policy='off',
                         dmarc_policy='off')
        forged = ('Authentication-Results: %s; dmarc=pass '
                  'header.from=bank.example\r\n' % SERVER_NAME).encode()
        foreign = b'Authentication-Results: mx.other.example; spf=pass\r\n'
        r, q = self.send(srv, 'a@fail.test',
                         message('ceo@bank.example', forged + foreign))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(header_fields(q, 'Authentication-Results'),
                         ['mx.other.example; spf=pass'])

    def test_ours_dropped_however_the_comments_hide_it(self):
        # comments nested deeper than any bound, and a comment inside
        # the id (a reader that drops comments first reads ours): both
        # are claims of ours, dropped
        srv = self.start()
        deep = ('Authentication-Results: %s x %s %s; dmarc=pass\r\n'
                % ('(' * 40, ')' * 40, SERVER_NAME)).encode()
        host, _, rest = SERVER_NAME.partition('.')
        glued = ('Authentication-Results: %s(x).%s; dmarc=pass\r\n'
                 % (host, rest)).encode()
        r, q = self.send(srv, 'a@fail.test',
                         message('a@fail.test', deep + glued))
        self.assertEqual(r.code, 250, r)
        ars = header_fields(q, 'Authentication-Results')
        self.assertEqual(len(ars), 1, ars)
        self.assertNotIn(b'dmarc=pass', q)
        self.assertTrue(srv.wait_log(r'dropped 2 Authentication-Results fields'))

# --- DKIM ---------------------------------------------------------------------

_keys = None


def keys():
    """An RSA key (openssl genrsa), its file and its DKIM TXT record."""
    global _keys
    if _keys is None:
        d = tempfile.mkdtemp(prefix='sallytest-mxcheck-')
        path = os.path.join(d, 'dkim.pem')
        subprocess.run(['openssl', 'genrsa', '-out', path, '2048'], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        der = subprocess.run(['openssl', 'rsa', '-in', path, '-pubout',
                              '-outform', 'DER'], check=True,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout
        _keys = (path, 'v=DKIM1; k=rsa; p=' + base64.b64encode(der).decode())
    return _keys


def dkim_sign(msg, domain, selector='sel'):
    """msg signed by dkimpy's dkimsign (relaxed/relaxed) for domain."""
    path, _ = keys()
    p = subprocess.run(['dkimsign', '--hcanon', 'relaxed', '--bcanon',
                        'relaxed', selector, domain, path], input=msg,
                       stdout=subprocess.PIPE, check=True)
    out = p.stdout
    # dkimsign writes LF line ends: SMTP wants CRLF.
    return re.sub(rb'\r?\n', b'\r\n', out)


AUTH_HOSTS = dict(SPF_HOSTS, **{d: '192.0.2.10' for d in (
    'dk.test', 'rej.test', 'sub.rej.test', 'sub.pass.test', 'strict.test',
    'mail.strict.test', 'quar.test', 'pct.test', 'hang.test',
    'other.test')})


def auth_txt():
    _, key = keys()
    txt = dict(SPF_TXT)
    txt.update({
        'sub.pass.test': 'v=spf1 ip4:127.0.0.2 -all',
        'mail.strict.test': 'v=spf1 ip4:127.0.0.2 -all',
        'sel._domainkey.dk.test': key,
        'sel._domainkey.other.test': key,
        'sel._domainkey.sub.dk.test': key,
        'sel._domainkey.sub.pass.test': key,
        '_dmarc.pass.test': 'v=DMARC1; p=reject',
        '_dmarc.dk.test': 'v=DMARC1; p=reject; adkim=s',
        '_dmarc.rej.test': 'v=DMARC1; p=reject; sp=quarantine',
        '_dmarc.strict.test': 'v=DMARC1; p=reject; aspf=s',
        '_dmarc.quar.test': 'v=DMARC1; p=quarantine',
        '_dmarc.pct.test': 'v=DMARC1; p=reject; pct=0',
        'hang.test': 'v=spf1 include:spf.slow.test -all',
    })
    return txt


class DKIM(Base):
    HOSTS = AUTH_HOSTS

    def setUp(self):
        self.TXT = auth_txt()

    def test_signed_verifies_changed_body_fails(self):
        srv = self.start()
        signed = dkim_sign(message('a@dk.test'), 'dk.test')
        r, q = self.send(srv, 'a@fail.test', signed)
        self.assertEqual(r.code, 250, r)
        self.assertEqual([x.split()[:2] for x in results(self.ar(q), 'dkim')],
                         [['pass', 'header.d=dk.test']])
        changed = signed.replace(b'Hello.', b'Hello!')
        r, q = self.send(srv, 'a@fail.test', changed)
        self.assertEqual(r.code, 250, r)
        self.assertEqual([x.split()[:2] for x in results(self.ar(q), 'dkim')],
                         [['fail', 'header.d=dk.test']])

    def test_body_length_leaves_no_room_to_append(self):
        # a signature with l= (dkimpy's length=True) covers the body as
        # signed: as it is, pass; with text appended below the signed
        # part (anyone can do that to a message they received), the
        # appended text is nobody's: policy, not pass, and no DMARC pass
        # through it
        path, _ = keys()
        msg = message('a@dk.test')
        # dkimsign has no l=: Debian's python3-dkim module, run by the
        # system's python3 (where the package installs it)
        sign = ('import sys, dkim; m = sys.stdin.buffer.read(); '
                'k = open(sys.argv[1], "rb").read(); '
                'sys.stdout.buffer.write(dkim.sign(m, b"sel", b"dk.test", k, '
                'length=True, canonicalize=(b"relaxed", b"relaxed"), '
                'include_headers=[b"from", b"to", b"subject"]))')
        sig = subprocess.run(['/usr/bin/python3', '-c', sign, path],
                             input=msg, stdout=subprocess.PIPE,
                             check=True).stdout
        signed = re.sub(rb'\r?\n', b'\r\n', sig) + msg
        self.assertIn(b' l=', signed.replace(b'\r\n', b''))
        srv = self.start()
        r, q = self.send(srv, 'a@fail.test', signed)
        self.assertEqual(r.code, 250, r)
        self.assertEqual([x.split()[:2] for x in results(self.ar(q), 'dkim')],
                         [['pass', 'header.d=dk.test']])
        r, q = self.send(srv, 'a@fail.test',
                         signed + b'Pay to account 12345 now.\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertEqual([x.split()[:2] for x in results(self.ar(q), 'dkim')],
                         [['policy', 'header.d=dk.test']])
        self.assertEqual(results(self.ar(q), 'dmarc')[0].split()[0], 'fail')

    def test_unsigned_is_none(self):
        srv = self.start()
        r, q = self.send(srv, 'a@pass.test')
        self.assertEqual(results(self.ar(q), 'dkim'), ['none'])


# --- DMARC --------------------------------------------------------------------

class DMARC(Base):
    HOSTS = AUTH_HOSTS

    def setUp(self):
        self.TXT = auth_txt()

    def dmarc(self, q):
        out = results(self.ar(q), 'dmarc')
        self.assertEqual(len(out), 1, out)
        return out[0].split()

    def test_alignment_recorded(self):
        srv = self.start()
        cases = [
            # (MAIL FROM, From:, signer, result)
            ('a@pass.test', 'a@pass.test', None, 'pass'),      # SPF aligned
            ('b@sub.pass.test', 'a@pass.test', None, 'pass'),  # relaxed
            ('b@mail.strict.test', 'a@strict.test', None, 'fail'),  # aspf=s
            ('a@pass.test', 'a@rej.test', None, 'fail'),       # unaligned
            ('a@fail.test', 'a@dk.test', 'dk.test', 'pass'),   # DKIM aligned
            ('a@fail.test', 'a@pass.test', 'sub.pass.test', 'pass'),  # relaxed
            ('a@fail.test', 'a@dk.test', 'sub.dk.test', 'fail'),  # adkim=s
            ('a@fail.test', 'a@rej.test', 'other.test', 'fail'),  # unaligned
            ('a@pass.test', 'a@none.test', None, 'none'),      # no record
        ]
        for sender, frm, signer, result in cases:
            with self.subTest(sender=sender, frm=frm, signer=signer):
                msg = message(frm)
                if signer:
                    msg = dkim_sign(msg, signer)
                r, q = self.send(srv, sender, msg)
                self.assertEqual(r.code, 250, r)
                d = self.dmarc(q)
                self.assertEqual(d, [result, 'header.from=' + frm.split('@')[1]])

    def test_enforce(self):
        srv = self.start(dmarc_policy='enforce')
        # p=reject and a failure: refused at the end of DATA
        r, q = self.send(srv, 'a@pass.test', message('a@rej.test'))
        self.assertEqual(r.code, 550, r)
        self.assertTrue(r.last.startswith('550 5.7.1 '), r)
        self.assertIn('rej.test', r.last)
        self.assertTrue(srv.wait_log(
            r'checks: .*dmarc=fail \(policy=reject\) action=reject'
            r'.* refused at DATA'))
        # the rest is accepted: a pass, no record, a subdomain's policy
        # (sp=quarantine), p=quarantine, and p=reject with pct=0
        r, q = self.send(srv, 'a@pass.test', message('a@pass.test'))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(header_fields(q, 'X-Sallyport-DMARC'), [])
        r, q = self.send(srv, 'a@pass.test', message('a@none.test'))
        self.assertEqual(r.code, 250, r)
        for frm in ('a@sub.rej.test', 'a@quar.test', 'a@pct.test'):
            with self.subTest(frm=frm):
                r, q = self.send(srv, 'a@pass.test', message(frm))
                self.assertEqual(r.code, 250, r)
                self.assertEqual(self.dmarc(q)[0], 'fail')
                self.assertEqual(header_fields(q, 'X-Sallyport-DMARC'),
                                 ['quarantine; header.from=' + frm.split('@')[1]])

    def test_header_mode_refuses_nothing(self):
        srv = self.start()
        r, q = self.send(srv, 'a@pass.test', message('a@rej.test'))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.dmarc(q)[0], 'fail')
        self.assertEqual(header_fields(q, 'X-Sallyport-DMARC'), [])


# --- a hostile DNS ------------------------------------------------------------

class HostileDNS(Base):
    HOSTS = AUTH_HOSTS

    def setUp(self):
        # Questions for slow.test go to a socket that never answers.
        self.hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hole.bind(('127.0.0.1', 0))
        self.addCleanup(self.hole.close)
        self.SERVERS = {'slow.test': '127.0.0.1#%d' % self.hole.getsockname()[1]}
        self.TXT = auth_txt()
        # a subdomain of rej.test whose SPF needs the silent server
        self.HOSTS = dict(AUTH_HOSTS, **{'hang.rej.test': '192.0.2.10'})
        self.TXT['hang.rej.test'] = 'v=spf1 include:spf.slow.test -all'

    def test_others_served_meanwhile(self):
        srv = self.start(spf_policy='enforce', spf_timeout='1m',
                         dns_timeout='1m')
        slow = self.ehlo_client(srv.mx_port, source=CLIENT)
        # SPF of hang.test includes slow.test, whose server never
        # answers: MAIL's reply waits for it (enforce)
        slow.send('MAIL FROM:<a@hang.test>\r\n')
        self.assertTrue(sallytest.wait_until(
            lambda: 'spf.slow.test' in self.dns.log_text(), 10),
            'the check asks the silent server')
        # meanwhile another client is served, checks and all
        r, q = self.send(srv, 'a@pass.test', message('a@pass.test'))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(results(self.ar(q), 'spf'),
                         ['pass smtp.mailfrom=a@pass.test'])
        self.assertEqual(slow.silent(0.2), b'', 'still waiting for SPF')
        # the waiting client leaves; its check is dropped, all goes on
        slow.close()
        r, q = self.send(srv, 'b@pass.test', message('b@pass.test'))
        self.assertEqual(r.code, 250, r)
        self.assertTrue(srv.running())

    def test_budgets(self):
        srv = self.start(spf_policy='enforce', dmarc_policy='enforce',
                         spf_timeout='2s', dkim_timeout='2s',
                         dmarc_timeout='2s', dns_timeout='1m')
        slow = self.ehlo_client(srv.mx_port, source=CLIENT)
        # each check ends on its budget; a temperror never refuses
        r = slow.cmd('MAIL FROM:<a@hang.test>')
        self.assertEqual(r.code, 250, r)
        for cmd, code in (('RCPT TO:<%s>' % RCPT, 250), ('DATA', 354)):
            self.assertEqual(slow.cmd(cmd).code, code)
        # a key and a DMARC record behind the silent server too; the
        # command pipelined after the message waits for the checks
        slow.send(sallytest.dot_stuff(dkim_sign(message('a@slow.test'),
                                                'slow.test')) + b'RSET\r\n')
        r = slow.reply()
        self.assertEqual(r.code, 250, r)
        self.assertEqual(slow.reply().last, '250 2.0.0 Ok', 'RSET after it')
        ar = self.ar(delivered(srv.queue_entry(r.queue_id())))
        self.assertEqual(results(ar, 'spf'), ['temperror smtp.mailfrom=a@hang.test'])
        self.assertEqual(results(ar, 'dkim')[0].split()[0], 'temperror')
        self.assertEqual(results(ar, 'dmarc')[0].split()[0], 'temperror')
        self.assertTrue(srv.wait_log(r'DKIM key lookups out of time'))

    def test_clients_that_move_on(self):
        """Checks in flight when the client resets, starts TLS, the server
        reloads, or the client leaves: each is dropped (no callback into a
        transaction or a connection that is gone; run it under ASan), and
        the server goes on serving."""
        srv = self.start(spf_timeout='1m', dkim_timeout='2s',
                         dmarc_timeout='2s', dns_timeout='1m')
        c = self.ehlo_client(srv.mx_port, source=CLIENT)
        # SPF (header) runs behind MAIL; RSET and a new MAIL drop it
        for i in range(4):
            self.assertEqual(c.cmd('MAIL FROM:<a%d@hang.test>' % i).code, 250)
            self.assertEqual(c.cmd('RSET').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<a@hang.test>').code, 250)
        self.assertTrue(sallytest.wait_until(
            lambda: 'spf.slow.test' in self.dns.log_text(), 10))
        # STARTTLS in the transaction drops it, check and all
        t = self.ehlo_client(srv.mx_port, source=CLIENT)
        self.assertEqual(t.cmd('MAIL FROM:<t@hang.test>').code, 250)
        t.starttls()
        # a reload with checks in flight
        srv.reload()
        # a message whose key is behind the silent server, and the client
        # leaves at once, its QUIT unanswered
        self.assertEqual(c.cmd('RCPT TO:<%s>' % RCPT).code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(sallytest.dot_stuff(dkim_sign(message('a@slow.test'),
                                             'slow.test')) + b'QUIT\r\n')
        c.close()
        t.close()
        # the checks end on their budgets; the server serves on
        self.assertTrue(srv.wait_log(r'DKIM key lookups out of time'))
        r, q = self.send(srv, 'b@pass.test', message('b@pass.test'))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(results(self.ar(q), 'spf'),
                         ['pass smtp.mailfrom=b@pass.test'])
        self.assertTrue(srv.running())

    def test_reject_not_escaped_through_a_broken_subdomain(self):
        # rej.test asks p=reject. MAIL FROM a subdomain whose SPF needs
        # a DNS server that never answers: SPF is temperror, and under
        # relaxed alignment it is the only aligned result. Accepting would let any sender escape
        # the policy that way; refusing for good would refuse good mail
        # in an outage: the message is deferred
        srv = self.start(dmarc_policy='enforce', spf_timeout='2s',
                         dns_timeout='1m')
        r, q = self.send(srv, 'a@hang.rej.test', message('a@rej.test'))
        self.assertEqual(r.code, 451, r)
        self.assertTrue(r.last.startswith('451 4.7.5 '), r)
        self.assertIn('rej.test', r.last)
        self.assertIsNone(q)
        self.assertTrue(srv.wait_log(
            r'checks: .*dmarc=temperror .*action=defer'))
        # a subdomain, where rej.test asks for no more than quarantine
        # (sp=): accepted, the temperror recorded
        r, q = self.send(srv, 'a@hang.rej.test', message('a@sub.rej.test'))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.dmarc_result(q), 'temperror')

    def dmarc_result(self, q):
        return results(self.ar(q), 'dmarc')[0].split()[0]


# --- real clients -------------------------------------------------------------

class RealClients(Base):
    HOSTS = AUTH_HOSTS

    def setUp(self):
        self.TXT = auth_txt()

    def test_smtplib_signed_message(self):
        srv = self.start(dmarc_policy='enforce')
        msg = dkim_sign(message('a@dk.test'), 'dk.test')
        with smtplib.SMTP('127.0.0.1', srv.mx_port, local_hostname='client.example',
                          source_address=(CLIENT, 0), timeout=30) as s:
            refused = s.sendmail('a@fail.test', [RCPT], msg)
        self.assertEqual(refused, {})
        srv.wait_queue(1)
        [e] = srv.queue_entries()
        ar = self.ar(e.delivered())
        self.assertEqual(results(ar, 'spf'), ['fail smtp.mailfrom=a@fail.test'])
        self.assertEqual(results(ar, 'dkim')[0].split()[:2], ['pass', 'header.d=dk.test'])
        self.assertEqual(results(ar, 'dmarc')[0].split(), ['pass', 'header.from=dk.test'])

    def test_swaks_refused_by_spf(self):
        swaks = self.need('swaks')
        srv = self.start(spf_policy='enforce')
        out = self.run_client([swaks, '--server', '127.0.0.1:%d' % srv.mx_port,
                               '--local-interface', CLIENT, '--helo', 'swaks.example',
                               '--from', 'a@fail.test', '--to', RCPT],
                              srv.dir, status=None)
        self.assertRegex(out, r'<\*\* +550 5\.7\.23 SPF check failed: fail\.test ', out)
        self.assertEqual(srv.queue_entries(), [])


if __name__ == '__main__':
    sallytest.main()
