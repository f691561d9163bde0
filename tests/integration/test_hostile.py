"""Hostile clients against the real daemon, each attack with its reaction.

SMTP smuggling (a false end of data followed by a second transaction in
the same write), the real end of data split across reads and across TLS
records, dot-stuffing on the way out, envelope text that must never be
interpreted, the limits of addresses and parameters, over-long lines,
endless header continuations, a cross-protocol HTTP request and
IPv4-mapped IPv6 clients. test_accept.py and test_tls_auth.py cover the
plain cases (bare CR/LF, 1001-octet lines, SIZE over the limit, commands
pipelined after STARTTLS); this file covers the rest. After each test
sallytest.Server.close checks that the daemon is still alive and clean.
"""

import os
import re
import shutil
import socket
import tempfile
import threading
import time

import mailsinks
import sallytest
from sallytest import CRLF

SMUGGLED_TX = (b'MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\n'
               b'DATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n.\r\n')
# False ends of data: none of them is <CRLF>.<CRLF>.
FALSE_ENDS = [b'\n.\n', b'\n.\r', b'\r.\n', b'\r.\r', b'\n.\r\n', b'\r.\r\n',
              b'\r\n\x00.\r\n', b'\r\n.\x00\r\n', b'\r\n.\n', b'\r\n.\r']
R_BARE = '554 5.5.2 '
R_NUL = '554 5.6.0 '
MIB = 1024 * 1024


def message(subject, lines):
    head = ['From: <sender@example.org>', 'To: <user@example.test>', 'Subject: ' + subject]
    return CRLF.join(s.encode() for s in head + [''] + lines) + CRLF


def bare_cr_or_lf(data):
    """True when data holds a CR not followed by LF or an LF not after CR."""
    return re.search(rb'\r(?!\n)|(?<!\r)\n', data) is not None


def refusal(wire, mode='reject'):
    """The reply a message of these raw DATA bytes gets at its real end
    under bare_newline = mode (R_BARE, R_NUL), or None when it is
    accepted. normalize takes a bare LF as a line end; a bare CR and a
    NUL are refused either way."""
    bare = re.search(rb'\r(?!\n)', wire) if mode == 'normalize' else bare_cr_or_lf(wire)
    if bare:
        return R_BARE
    if b'\x00' in wire:
        return R_NUL
    return None


def vm_rss_kib(pid):
    """VmRSS of pid in KiB, from /proc/PID/status."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for pid %d' % pid)


def nodelay(c):
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RawSink:
    """A minimal SMTP server on 127.0.0.1 that records the raw bytes of each
    DATA phase (what aiosmtpd would unstuff before we saw it)."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.raw = []           # one bytes per DATA phase, up to and with CRLF.CRLF
        self.stopping = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def smarthost(self):
        return '[127.0.0.1]:%d' % self.port

    def _serve(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._session(s)
            except OSError:
                pass
            finally:
                s.close()

    def _session(self, s):
        s.settimeout(20)
        s.sendall(b'220 raw.test ESMTP\r\n')
        buf = b''
        while True:
            while b'\r\n' not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b'\r\n', 1)
            verb = line[:4].upper()
            if verb in (b'EHLO', b'HELO'):
                s.sendall(b'250 raw.test\r\n')
            elif verb == b'DATA':
                s.sendall(b'354 go\r\n')
                while b'\r\n.\r\n' not in b'\r\n' + buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                i = (b'\r\n' + buf).index(b'\r\n.\r\n') + 3
                data, buf = buf[:i], buf[i:]
                with self.cond:
                    self.raw.append(data)
                    self.cond.notify_all()
                s.sendall(b'250 2.0.0 raw ok\r\n')
            elif verb == b'QUIT':
                s.sendall(b'221 bye\r\n')
                return
            else:
                s.sendall(b'250 ok\r\n')

    def wait(self, n, timeout=15):
        with self.cond:
            self.cond.wait_for(lambda: len(self.raw) >= n, timeout)
            return list(self.raw)

    def stop(self):
        self.stopping = True
        self.lsock.close()
        self.thread.join(5)


class Smuggling(sallytest.TestCase):
    """Only <CRLF>.<CRLF> ends DATA (with the default bare_newline = reject)."""

    MODE = None         # the default: reject

    def setUp(self):
        self.srv = self.server(bare_newline=self.MODE)

    def refusal(self, wire):
        return refusal(wire, self.MODE or 'reject')

    def check_outcome(self, r, wire, before):
        """The reply r to a message of raw bytes wire: refused with nothing
        queued, or accepted as one CRLF-clean entry holding the smuggled
        commands as text."""
        if r.code == 250:
            self.srv.wait_queue(queue_id=r.queue_id())
        new = sorted(set(self.srv.queue_names()) - before)
        want = self.refusal(wire)
        if want:
            self.assertTrue(r.last.startswith(want), (want, r))
            self.assertEqual(new, [])
        else:
            self.assertEqual(r.code, 250, r)
            self.assertEqual(new, [r.queue_id()])
            _, body = self.srv.queue_entry(r.queue_id()).split()
            self.assertIn(b'MAIL FROM:<evil@example.org>\r\n', body)
            self.assertFalse(bare_cr_or_lf(body), body)
            self.assertNotIn(b'\x00', body)
        for e in self.srv.queue_entries():
            self.assertNotEqual(e.header['from'], 'evil@example.org')

    def start_data(self, c):
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)

    def test_false_ends_followed_by_a_transaction(self):
        for false_end in FALSE_ENDS:
            with self.subTest(false_end=false_end):
                before = set(self.srv.queue_names())
                c = self.ehlo_client(self.srv.mx_port)
                self.start_data(c)
                c.send(b'Subject: first\r\n\r\nfirst body' + false_end + SMUGGLED_TX)
                r = c.reply()
                # One reply only: the smuggled MAIL, RCPT and DATA were data.
                self.assertEqual(c.silent(0.5), b'', 'a smuggled command was answered')
                wire = b'Subject: first\r\n\r\nfirst body' + false_end + SMUGGLED_TX[:-3]
                self.check_outcome(r, wire, before)
                # The session goes on with a real transaction.
                r = c.transaction('sender@example.org', ['user@example.test'],
                                  message('after', ['fine']))
                self.assertEqual(r.code, 250, r)
                self.assertEqual(self.srv.queue_entry(r.queue_id()).header['from'],
                                 'sender@example.org')
                c.close()

    def test_terminator_byte_by_byte(self):
        c = self.ehlo_client(self.srv.mx_port)
        nodelay(c)
        self.start_data(c)
        c.send(b'Subject: slow\r\n\r\n..x\r\nlast')
        for b in b'\r\n.\r\n':
            time.sleep(0.05)
            c.send(bytes([b]))
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        _, body = self.srv.queue_entry(r.queue_id()).split()
        self.assertEqual(body, b'Subject: slow\r\n\r\n.x\r\nlast\r\n')

    def test_false_end_byte_by_byte(self):
        c = self.ehlo_client(self.srv.mx_port)
        nodelay(c)
        self.start_data(c)
        c.send(b'Subject: slow\r\n\r\nx')
        for b in b'\n.\n' + SMUGGLED_TX[:40]:
            c.send(bytes([b]))
            time.sleep(0.01)
        self.assertEqual(c.silent(0.3), b'')
        c.send(SMUGGLED_TX[40:])
        r = c.reply()
        self.assertEqual(c.silent(0.5), b'')
        self.check_outcome(r, b'x\n.\n' + SMUGGLED_TX[:-3], set())

    def test_nul_false_ends_byte_by_byte(self):
        for false_end in (b'\r\n\x00.\r\n', b'\r\n.\x00\r\n'):
            with self.subTest(false_end=false_end):
                c = self.ehlo_client(self.srv.mx_port)
                nodelay(c)
                self.start_data(c)
                c.send(b'Subject: nul\r\n\r\nx')
                for b in false_end + SMUGGLED_TX[:40]:
                    c.send(bytes([b]))
                    time.sleep(0.01)
                self.assertEqual(c.silent(0.3), b'', 'the NUL form ended data')
                c.send(SMUGGLED_TX[40:])
                self.assertTrue(c.reply().last.startswith(R_NUL))
                self.assertEqual(c.silent(0.5), b'')
                self.assertEqual(self.srv.queue_names(), [])
                c.close()

    def test_terminator_across_tls_records(self):
        c = self.ehlo_client(self.srv.mx_port)
        nodelay(c)
        c.starttls()
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        self.start_data(c)
        c.send(b'Subject: tls\r\n\r\n..x\r\n...y\r\nz')
        for b in b'\r\n.\r\n':          # one SSL_write, one record each
            time.sleep(0.05)
            c.send(bytes([b]))
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.silent(0.3), b'')
        e = self.srv.queue_entry(r.queue_id())
        self.assertEqual(e.split()[1], b'Subject: tls\r\n\r\n.x\r\n..y\r\nz\r\n')
        # and a false end across records, then the smuggled transaction
        self.start_data(c)
        c.send(b'Subject: tls2\r\n\r\nx')
        for b in b'\r\n.\r':
            c.send(bytes([b]))
            time.sleep(0.02)
        c.send(SMUGGLED_TX)
        self.assertTrue(c.reply().last.startswith(R_BARE))
        self.assertEqual(c.silent(0.5), b'')
        self.assertEqual(self.srv.wait_queue(queue_id=r.queue_id()), [r.queue_id()])


class SmugglingNormalize(Smuggling):
    """The same attacks with bare_newline = normalize, from a client in
    mynetworks (127.0.0.1), for which a bare LF ends a line: still only
    <CRLF>.<CRLF> ends DATA, the smuggled commands stay text in one
    CRLF-clean message, and bare CR and NUL are refused as before."""

    MODE = 'normalize'


class Outbound(sallytest.TestCase):
    """A message relayed onward is stuffed again, with CRLF line ends only."""

    DOTTED = ['.one dot', '..two dots', '.', '...', 'x.', '.\t tab', 'end']

    def local_delivery(self):
        """A Maildir in a temp dir: a bounce never lands outside the test."""
        d = tempfile.mkdtemp(prefix='sallytest-hostile-')
        self.addCleanup(shutil.rmtree, d, True)
        return 'maildir:%s/%%d/%%u/Maildir' % d

    def test_aiosmtpd_gets_lines_unstuffed(self):
        mailsinks.need_aiosmtpd(self)
        sink = mailsinks.SmtpSink()
        sink.start()
        self.addCleanup(sink.stop)
        srv = self.server(smarthost=sink.smarthost, smarthost_tls='none', delivery='yes',
                          local_delivery=self.local_delivery())
        msg = message('dots out', self.DOTTED)
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['friend@remote.test'], msg)
        self.assertEqual(r.code, 250, r)
        got = sink.wait(1, timeout=15)
        self.assertEqual(len(got), 1, got)
        _, rest = sallytest.split_received(got[0].content)
        self.assertEqual(rest, msg)

    def test_raw_stream_is_stuffed_crlf_only(self):
        sink = RawSink()
        self.addCleanup(sink.stop)
        srv = self.server(smarthost=sink.smarthost, smarthost_tls='none', delivery='yes',
                          local_delivery=self.local_delivery())
        msg = message('raw out', self.DOTTED)
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['friend@remote.test'], msg)
        self.assertEqual(r.code, 250, r)
        got = sink.wait(1)
        self.assertEqual(len(got), 1, got)
        raw = got[0]
        self.assertTrue(raw.endswith(b'\r\n.\r\n'), raw[-20:])
        self.assertFalse(bare_cr_or_lf(raw), raw)
        self.assertNotIn(b'\x00', raw)
        _, rest = sallytest.split_received(raw[:-3])
        self.assertEqual(rest, sallytest.dot_stuff(msg)[:-3])
        for line in raw[:-5].split(b'\r\n'):
            if line.startswith(b'.'):
                self.assertTrue(line.startswith(b'..'), line)


    def test_normalized_lf_goes_out_crlf(self):
        # bare_newline = normalize: LF-ended lines from a trusted client
        # leave as CRLF lines, stuffed again where they start with a dot.
        sink = RawSink()
        self.addCleanup(sink.stop)
        srv = self.server(smarthost=sink.smarthost, smarthost_tls='none', delivery='yes',
                          local_delivery=self.local_delivery(), bare_newline='normalize')
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<friend@remote.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: lf out\n\none\n..two\nlast\r\n.\r\n')
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        raw = sink.wait(1)[0]
        self.assertFalse(bare_cr_or_lf(raw), raw)
        _, rest = sallytest.split_received(raw[:-3])
        self.assertEqual(rest, b'Subject: lf out\r\n\r\none\r\n..two\r\nlast\r\n')


class Envelope(sallytest.TestCase):
    """Envelope text is stored as text, never run, never split."""

    def setUp(self):
        self.srv = self.server()
        self.c = self.ehlo_client(self.srv.mx_port)

    def accept_or_refuse(self, sender, rcpt):
        """A transaction with these paths (bracketed verbatim); the queue
        entry when it was accepted, else None."""
        c = self.c
        r = c.cmd('MAIL FROM:<%s>' % sender)
        if r.code != 250:
            self.assertEqual(r.code // 100, 5, r)
            return None
        r = c.cmd('RCPT TO:<%s>' % rcpt)
        if r.code != 250:
            self.assertEqual(r.code // 100, 5, r)
            self.assertEqual(c.cmd('RSET').code, 250)
            return None
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(message('shell', ['x']))
        self.assertEqual(r.code, 250, r)
        return self.srv.queue_entry(r.queue_id())

    def test_shell_and_expansion_text(self):
        pwned = '/tmp/sallyport-pwned'
        if os.path.exists(pwned):
            os.unlink(pwned)
        cases = [(';sleep 66;', 'user@example.test'),
                 ('"; sleep 66;"@example.org', 'user@example.test'),
                 ('sender@example.org', '${run{/bin/true}}@example.test'),
                 ('sender@example.org', '$(touch %s)@example.test' % pwned),
                 ('sender@example.org', '`touch %s`@example.test' % pwned),
                 ('sender@example.org', '"|touch %s"@example.test' % pwned)]
        for sender, rcpt in cases:
            with self.subTest(sender=sender, rcpt=rcpt):
                t0 = time.monotonic()
                e = self.accept_or_refuse(sender, rcpt)
                self.assertLess(time.monotonic() - t0, 30)
                if e is not None:
                    self.assertEqual(e.header['from'], sender)
                    self.assertEqual(e.rcpts, [rcpt])
        self.assertFalse(os.path.exists(pwned))
        self.assertTrue(self.srv.running())

    def test_control_characters_in_parameters(self):
        c = self.c
        # xtext that decodes to a control character: 501
        for line in (b'MAIL FROM:<a@example.org> AUTH=x+0Ay',
                     b'MAIL FROM:<a@example.org> AUTH=x+0Dy',
                     b'MAIL FROM:<a@example.org> AUTH=x+00y',
                     b'MAIL FROM:<a@example.org> AUTH=x\x01y'):
            with self.subTest(line=line):
                c.send(line + CRLF)
                self.assertEqual(c.reply().last, '501 5.5.4 Bad AUTH parameter')
        # a bare CR inside a command line: the line is not a command
        for line in (b'MAIL FROM:<a@example.org> AUTH=x\ry', b'MAIL FROM:<a@exa\rmple.org>'):
            with self.subTest(line=line):
                c.send(line + CRLF)
                self.assertEqual(c.reply().last, '500 5.5.2 Error: command not recognized')
        c.send(b'MAIL FROM:<a@example.org> AUTH=x\0y\r\n')
        self.assertEqual(c.reply().last, '500 5.5.2 NUL character in command')
        # a bare LF ends the line: neither half is a valid command
        c.send(b'MAIL FROM:<a@exa\nmple.org>\r\n')
        self.assertEqual([r.code for r in c.replies(2)], [501, 500])
        self.assertEqual(c.silent(0.3), b'')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        for line in (b'RCPT TO:<u@example.test> ORCPT=rfc822;a+0Ab',
                     b'RCPT TO:<u@example.test> ORCPT=rfc822;a+0Db',
                     b'RCPT TO:<u@example.test> ORCPT=rfc822;a+00b'):
            with self.subTest(line=line):
                c.send(line + CRLF)
                self.assertEqual(c.reply().last, '555 5.5.4 Unsupported parameter')
        for line in (b'RCPT TO:<u@example.test> ORCPT=rfc822;a\rb', b'RCPT TO:<u@exa\rmple.test>'):
            with self.subTest(line=line):
                c.send(line + CRLF)
                self.assertEqual(c.reply().last, '500 5.5.2 Error: command not recognized')
        c.send(b'RCPT TO:<u@exa\nmple.test>\r\n')
        self.assertEqual([r.code for r in c.replies(2)], [501, 500])
        self.assertEqual(c.silent(0.3), b'')
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(message('clean', ['x']))
        self.assertEqual(r.code, 250, r)
        e = self.srv.queue_entry(r.queue_id())
        self.assertEqual(e.header['from'], 'a@example.org')
        self.assertEqual(e.rcpts, ['u@example.test'])
        self.assertEqual(e.keys, ['sallyport-queue', 'id', 'arrival', 'client', 'helo',
                                  'proto', 'tlsrequired', 'from', 'rcpt'])


class Limits(sallytest.TestCase):
    """Addresses, parameters and lines at and past their limits."""

    def setUp(self):
        self.srv = self.server(max_recipients=5, max_message_size='100k', max_errors=100)
        self.c = self.ehlo_client(self.srv.mx_port)

    def rcpt(self, path):
        return self.c.cmd('RCPT TO:%s' % path)

    def test_local_part_64_and_65(self):
        c = self.c
        self.assertEqual(c.cmd('MAIL FROM:<%s@example.org>' % ('s' * 64)).code, 250)
        self.assertEqual(self.rcpt('<%s@example.test>' % ('l' * 64)).code, 250)
        self.assertEqual(self.rcpt('<%s@example.test>' % ('l' * 65)).code, 501)
        # quoted: the limit is on the unquoted text
        self.assertEqual(self.rcpt('<"%s"@example.test>' % ('q' * 64)).code, 250)
        self.assertEqual(self.rcpt('<"%s"@example.test>' % ('q' * 65)).code, 501)
        self.assertEqual(c.cmd('RSET').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<%s@example.org>' % ('s' * 65)).code, 501)

    def test_path_256_and_257(self):
        c = self.c
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        # relay from loopback is allowed: a remote domain of 4 labels
        domain = '.'.join(['d' * 63] * 3 + ['test'])        # 196 octets
        local = 'l' * (256 - 2 - 1 - len(domain))            # 57
        ok = '<%s@%s>' % (local, domain)
        self.assertEqual(len(ok), 256)
        self.assertEqual(self.rcpt(ok).code, 250)
        too_long = "<%s@%s>" % (local + "l", domain)
        self.assertEqual(len(too_long), 257)
        self.assertEqual(self.rcpt(too_long).code, 501)

    def test_domain_labels_and_255(self):
        c = self.c
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        # A label of 63 octets is fine, 64 is not.
        self.assertEqual(self.rcpt('<u@%s.test>' % ('a' * 63)).code, 250)
        self.assertEqual(self.rcpt('<u@%s.test>' % ('a' * 64)).code, 501)
        # A 255-octet domain passes the domain check but not the path
        # limit; 256 fails the domain check: both 501, and the daemon
        # stays up (the parser's fixed buffers are exactly these sizes).
        d255 = '.'.join(['a' * 63] * 3 + ['b' * 63])          # 255
        self.assertEqual(len(d255), 255)
        d256 = d255 + 'c'
        for d in (d255, d256, d256 + '.test'):
            with self.subTest(domain_len=len(d)):
                self.assertEqual(self.rcpt('<u@%s>' % d).code, 501)
                self.assertEqual(c.cmd('EHLO %s' % d).code // 100, 2 if len(d) <= 255 else 5)
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(self.rcpt('<u@example.test>').code, 250)

    def test_syntax_traps(self):
        c = self.c
        self.assertEqual(c.cmd('MAIL FROM:<"a@b>').code, 501)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org').code, 501)
        c.send(b'MAIL FROM:<a\0@example.org>\r\n')
        self.assertEqual(c.reply().last, '500 5.5.2 NUL character in command')
        c.send(b'NO\0OP\r\n')
        self.assertEqual(c.reply().code, 500)
        r = c.cmd('MAIL FROM:<a@example.org> SIZE=99999999999999999999')
        self.assertEqual(r.last, '501 5.5.4 Bad SIZE parameter')
        r = c.cmd('MAIL FROM:<a@example.org> SIZE=18446744073709551616')
        self.assertEqual(r.last, '501 5.5.4 Bad SIZE parameter')
        # AUTH=" is left out: '"' is an xchar (RFC 3461), and the daemon
        # checks only that AUTH= is xtext.
        for param in ('SIZE=', 'BODY=', 'AUTH=', 'SIZE="', 'BODY="', 'FOO=', 'FOO="',
                      'SIZE=1"', 'SIZE=1=', 'AUTH=a=', '=', '"'):
            with self.subTest(param=param):
                r = c.cmd('MAIL FROM:<a@example.org> %s' % param)
                self.assertIn(r.code, (501, 555), r)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        for param in ('ORCPT=', 'ORCPT="', 'NOTIFY=', '='):
            with self.subTest(param=param):
                r = c.cmd('RCPT TO:<u@example.test> %s' % param)
                self.assertIn(r.code, (501, 555), r)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)

    def test_max_recipients_452(self):
        c = self.c
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        c.send(''.join('RCPT TO:<u%d@example.test>\r\n' % i for i in range(8)))
        replies = c.replies(8)
        self.assertEqual([r.code for r in replies[:5]], [250] * 5)
        for r in replies[5:]:
            self.assertEqual(r.last, '452 4.5.3 Too many recipients')
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(message('five', ['x']))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(len(self.srv.queue_entry(r.queue_id()).rcpts), 5)

    def test_understated_size(self):
        c = self.c
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org> SIZE=100').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        body = ['%06d %s' % (i, 'z' * 70) for i in range(200 * 1024 // 79)]
        r = c.data(message('understated', body))
        self.assertTrue(r.last.startswith('552 5.3.4 '), r)
        self.assertEqual(self.srv.queue_names(), [])
        self.assertTrue(sallytest.wait_until(lambda: not self.srv.tmp_names(), 5))

    def test_64k_without_crlf(self):
        rss0 = vm_rss_kib(self.srv.pid)
        c = self.c
        try:
            c.send(b'MAIL FROM:<' + b'a' * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.reply()
        self.assertEqual(r.last, '500 5.5.6 Line too long')
        self.assertTrue(c.closed())
        # many clients at once doing the same
        clients = []
        for _ in range(15):     # under max_connections_per_ip's default
            d = self.client(self.srv.mx_port)
            clients.append(d)
            try:
                d.send(b'x' * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        for d in clients:
            self.assertEqual(d.reply().last, '500 5.5.6 Line too long')
        grown = vm_rss_kib(self.srv.pid) - rss0
        print('RSS growth after 16 x 64 KiB lines: %d KiB' % grown)
        self.assertLess(grown, 4 * 1024)
        self.assertEqual(self.ehlo_client(self.srv.mx_port).cmd('NOOP').code, 250)

    def test_endless_header_continuation(self):
        srv = self.server()         # default message size: 25M
        c = self.ehlo_client(srv.mx_port)
        rss0 = vm_rss_kib(srv.pid)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<u@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: folded\r\n' + b' x\r\n' * 100000 + b'\r\nbody\r\n.\r\n')
        r = c.reply()
        self.assertIn(r.code // 100, (2, 5), r)
        grown = vm_rss_kib(srv.pid) - rss0
        print('RSS growth after 100000 continuation lines: %d KiB (reply %s)' % (grown, r.last))
        self.assertLess(grown, 4 * 1024)
        self.assertEqual(c.cmd('NOOP').code, 250)

    def test_http_request_disconnects(self):
        c = self.client(self.srv.mx_port)
        try:
            c.send(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: x\r\n\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.sock.settimeout(5)
        got = b''
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.fail('still connected after an HTTP request; got %r' % got)
        self.assertNotIn(b'250', got)
        self.assertEqual(self.ehlo_client(self.srv.mx_port).cmd('NOOP').code, 250)


class MappedIPv6(sallytest.TestCase):
    """A client at ::ffff:127.0.0.1 is 127.0.0.1 for mynetworks. An explicit
    [::] listener is IPv6-only (server.c sets IPV6_V6ONLY for a named
    host); "*" is the dual-stack one that IPv4 clients reach as mapped
    addresses."""

    def mapped_server(self, mynetworks):
        if not sallytest.ipv6_loopback():
            self.skipTest('no IPv6')
        port = sallytest.free_port('::1')
        srv = self.server(mynetworks=mynetworks, extra_listen=['*:%d mx' % port])
        c = self.client(port, host='::1')     # [::] itself is there too
        self.assertEqual(c.greeting.code, 220)
        return srv, port

    def relay(self, port):
        c = self.client(port, host='::ffff:127.0.0.1')
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        return c.cmd('RCPT TO:<friend@remote.test>')

    def test_mapped_matches_ipv4_network(self):
        srv, port = self.mapped_server('127.0.0.1/32')
        r = self.relay(port)
        self.assertEqual(r.code, 250, r)

    def test_mapped_outside_network(self):
        srv, port = self.mapped_server('192.0.2.0/24')
        r = self.relay(port)
        self.assertEqual(r.last, '550 5.7.1 Relaying denied')


if __name__ == '__main__':
    sallytest.main()
