#!/usr/bin/env python3
"""Milters end to end (doc/filtering.md): sallyport in front of real
milters on loopback. OpenDKIM (Debian's opendkim) signs the mail of the
submission listener with milter_submission = yes, and dkimpy verifies the
signature in the queued entry; a milter that is down gets each
milter_default_action (accept, tempfail, reject); a milter that never
answers gets its deadline while other sessions of the same worker are
served; pipelined commands get their answers in order while the milter
is asked about each (the scriptable pymilter peer, milterpeer.py)."""

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import sallytest
from milterpeer import MilterPeer
from sallytest_smtp import dot_stuff

DOMAIN = 'example.com'
SELECTOR = 'milter2026'
TEMPFAIL = '451 4.7.1 Service unavailable - try again later'
REJECT = '550 5.7.1 Command rejected'
MESSAGE = (b'From: Alice <alice@example.com>\r\nTo: user@example.test\r\n'
           b'Subject: milter test\r\nMessage-ID: <m1@example.com>\r\n\r\n'
           b'Hello through the milters.\r\n\r\n.leading dot line\r\n')

# dkimpy under Debian's python3 (the one python3-dkim is for), given the
# key record by the test instead of DNS.
VERIFY = r'''
import sys, dkim
record = sys.argv[1].encode()
msg = sys.stdin.buffer.read()
ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: record)
print('signature ok' if ok else 'signature FAILED')
sys.exit(0 if ok else 1)
'''


class Base(sallytest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sallytest-milter-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, *milters, **conf):
        """A server (one worker) with these milter lines"""
        conf.setdefault('workers', '1')
        srv = sallytest.Server(**conf)
        srv.write_config(extra_lines=['milter = %s' % m for m in milters])
        self.addCleanup(self._close_server, srv)
        srv.start()
        return srv

    def start_later(self, *milters, **conf):
        """A server that takes its milters by a reload (SIGHUP): its
        start-up check would wait on a milter that never answers"""
        conf.setdefault('workers', '1')
        srv = self.server(**conf)
        srv.reload(extra_lines=['milter = %s' % m for m in milters])
        return srv

    def peer(self, script=None, name='peer'):
        if not os.path.exists('/usr/lib/python3/dist-packages/Milter'):
            self.need('pymilter (python3-milter)')
        p = MilterPeer(self.tmp, script, name=name).start()
        self.addCleanup(p.close)
        return p

    def send(self, port, rcpts=('user@example.test',), message=MESSAGE, **kw):
        """EHLO and one transaction; its last reply"""
        c = self.client(port, **kw)
        r = c.cmd('EHLO client.example')
        if r.code != 250:
            return r
        return c.transaction('alice@example.com', list(rcpts), message)


class OpenDkim(Base):
    """OpenDKIM signs on submission (milter_submission = yes) instead of
    the built-in dkim_sign; the signature verifies."""

    def setUp(self):
        super().setUp()
        opendkim = self.need('opendkim')
        p = subprocess.run([sallytest.binary(), '--dkim-keygen', DOMAIN, SELECTOR, 'rsa',
                            self.tmp], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, check=True)
        line = [l for l in p.stdout.decode().splitlines() if not l.startswith(';')][0]
        self.record = ''.join(re.findall(r'"([^"]*)"', line))
        key = os.path.join(self.tmp, '%s.%s.key' % (DOMAIN, SELECTOR))
        self.sock = os.path.join(self.tmp, 'opendkim.sock')
        conf = os.path.join(self.tmp, 'opendkim.conf')
        with open(conf, 'w') as f:
            f.write('Syslog no\nSocket local:%s\nDomain %s\nSelector %s\nKeyFile %s\n'
                    'Mode s\nCanonicalization relaxed/relaxed\nRequireSafeKeys no\n'
                    'PidFile %s/opendkim.pid\nUMask 000\n'
                    % (self.sock, DOMAIN, SELECTOR, key, self.tmp))
        self.log = open(os.path.join(self.tmp, 'opendkim.log'), 'wb')
        self.addCleanup(self.log.close)
        self.proc = subprocess.Popen([opendkim, '-f', '-x', conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        self.addCleanup(self.stop)
        self.assertTrue(sallytest.wait_until(lambda: os.path.exists(self.sock), 30),
                        'opendkim did not start')

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def verify(self, message):
        p = subprocess.run(['/usr/bin/python3', '-c', VERIFY, self.record], input=message,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return p.returncode == 0, p.stdout.decode('utf-8', 'replace')

    def test_submission_signed_by_opendkim(self):
        srv = self.start('opendkim unix:' + self.sock, milter_submission='yes')
        with self.auth_client(srv.sub_port) as c:
            r = c.transaction('alice@example.com', ['bob@remote.test'], MESSAGE)
            self.assertEqual(r.code, 250, r)
        entry = srv.queue_entry(r.queue_id())
        msg = entry.delivered()
        self.assertTrue(msg.startswith(b'DKIM-Signature:'), msg[:500])
        self.assertIn(('d=%s' % DOMAIN).encode(), msg.split(b'\r\n\r\n')[0])
        ok, out = self.verify(msg)
        self.assertTrue(ok, out)
        # what the user sent is below the signature, unchanged
        self.assertTrue(msg.endswith(MESSAGE), msg)
        self.assertTrue(srv.wait_log(r'milter=opendkim: \+1 header field\b'), srv.log_text())
        # the verifier is not blind: the body changed, the signature fails
        ok, out = self.verify(msg.replace(b'Hello through', b'Hello around'))
        self.assertFalse(ok, out)

    def test_submission_without_the_key_not_signed(self):
        # milter_submission = no: the submission listener has no milters
        srv = self.start('opendkim unix:' + self.sock)
        with self.auth_client(srv.sub_port) as c:
            r = c.transaction('alice@example.com', ['bob@remote.test'], MESSAGE)
            self.assertEqual(r.code, 250, r)
        self.assertNotIn(b'DKIM-Signature', srv.queue_entry(r.queue_id()).delivered())


class Down(Base):
    """A milter that is not there: milter_default_action, one log line."""

    def down(self):
        return 'unix:' + os.path.join(self.tmp, 'nobody-listens.sock')

    def test_tempfail_default(self):
        srv = self.start('down ' + self.down())
        c = self.client(srv.mx_port)
        self.assertEqual(c.cmd('EHLO client.example').last, TEMPFAIL)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.com>').last, TEMPFAIL)
        self.assertEqual(c.cmd('QUIT').code, 221)
        self.assertTrue(srv.wait_log(r'milter=down: connect to unix:\S+: .*: default '
                                     r'action tempfail'), srv.log_text())
        self.assertEqual(srv.queue_names(), [])

    def test_reject(self):
        srv = self.start('down %s default_action=reject' % self.down())
        r = self.send(srv.mx_port)
        self.assertEqual(r.last, REJECT)
        self.assertTrue(srv.wait_log(r'milter=down: .*default action reject'))
        self.assertEqual(srv.queue_names(), [])

    def test_accept_global_key(self):
        srv = self.start('down ' + self.down(), milter_default_action='accept')
        r = self.send(srv.mx_port)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(len(srv.wait_queue(1)), 1)
        self.assertTrue(srv.wait_log(r'milter=down: .*default action accept'))

    def test_accept_skips_to_the_next_milter(self):
        # the milter after the one that is down still judges
        peer = self.peer({'replies': {'mail': 'reject'}})
        srv = self.start('down %s default_action=accept' % self.down(),
                         'peer ' + peer.address)
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.com>').last, REJECT)

    def test_inet_refused(self):
        port = sallytest.free_port()
        srv = self.start('down inet:127.0.0.1:%d' % port)
        self.assertEqual(self.send(srv.mx_port).last, TEMPFAIL)
        self.assertTrue(srv.wait_log(r'milter=down: connect to inet:127\.0\.0\.1:%d: '
                                     r'Connection refused' % port), srv.log_text())


class Silent:
    """A milter that takes connections and never says a word; release()
    closes them."""

    def __init__(self, path):
        self.path = path
        self.conns = []
        self.lock = threading.Lock()
        self.sock = listen_unix(path, self.keep)

    def keep(self, c):
        with self.lock:
            self.conns.append(c)

    def accepted(self):
        with self.lock:
            return len(self.conns)

    def release(self):
        with self.lock:
            for c in self.conns:
                c.close()
            self.conns = []

    def close(self):
        self.release()
        self.sock.close()


def listen_unix(path, handle):
    """A unix socket whose connections go to handle(conn), from a thread
    of their own; closing the socket ends it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)

    def run():
        while True:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            handle(c)
    threading.Thread(target=run, daemon=True).start()
    return sock


class RawMilter:
    """A milter written here, on the protocol's bytes: it asks not to
    answer header fields, the end of the header and body chunks
    (SMFIP_NR_HDR, NR_EOH, NR_BODY), continues at every other step and
    counts the body octets it was sent."""

    NR = 0x80 | 0x40000 | 0x80000

    def __init__(self, path, actions=0, eom=()):
        self.actions = actions
        self.eom_replies = list(eom)    # sent before the final continue
        self.body = 0
        self.chunks = 0
        self.sessions = []      # per connection, its command octets
        self.eom = threading.Event()
        self.sock = listen_unix(path, lambda c: threading.Thread(
            target=self.serve, args=(c,), daemon=True).start())

    @staticmethod
    def read(c, n):
        data = b''
        while len(data) < n:
            got = c.recv(n - len(data))
            if not got:
                raise EOFError
            data += got
        return data

    def serve(self, c):
        cmds = []
        self.sessions.append(cmds)
        with c:
            try:
                while True:
                    size = struct.unpack('!I', self.read(c, 4))[0]
                    packet = self.read(c, size)
                    cmd, data = packet[:1], packet[1:]
                    if cmd != b'D':
                        cmds.append(cmd.decode())
                    reply = None
                    if cmd == b'O':
                        reply = b'O' + struct.pack('!III', 6, self.actions, self.NR)
                    elif cmd == b'B':
                        self.body += len(data)
                        self.chunks += 1
                    elif cmd in (b'C', b'H', b'M', b'R', b'T'):
                        reply = b'c'
                    elif cmd == b'E':
                        for r in self.eom_replies:
                            c.sendall(struct.pack('!I', len(r)) + r)
                        reply = b'c'
                        self.eom.set()
                    elif cmd == b'Q':
                        return
                    if reply is not None:
                        c.sendall(struct.pack('!I', len(reply)) + reply)
            except (EOFError, OSError):
                return

    def close(self):
        self.sock.close()


class Streaming(Base):
    BIG = MESSAGE + b''.join(b'line %07d of a long body, streamed in chunks\r\n' % i
                             for i in range(60000))

    def test_large_body_with_a_milter_peer(self):
        peer = self.peer()
        srv = self.start('peer ' + peer.address)
        r = self.send(srv.mx_port, message=self.BIG)
        self.assertEqual(r.code, 250, r)
        msg = peer.connections()[-1]['messages'][-1]
        self.assertEqual(msg['body'].encode(), self.BIG.split(b'\r\n\r\n', 1)[1])
        self.assertGreater(msg['body_chunks'], len(self.BIG) // 65535)

    def test_skip_ends_the_body(self):
        # the milter asks for no more body (SMFIR_SKIP): its end comes next
        peer = self.peer({'replies': {'body': 'skip'}})
        srv = self.start('peer ' + peer.address)
        r = self.send(srv.mx_port, message=self.BIG)
        self.assertEqual(r.code, 250, r)
        msg = peer.connections()[-1]['messages'][-1]
        self.assertEqual(msg['body_chunks'], 1)
        self.assertIsNotNone(msg['eom'])
        # the message itself is whole in the queue
        self.assertTrue(srv.queue_entry(r.queue_id()).delivered().endswith(self.BIG))

    def test_large_body_no_replies(self):
        # the body goes out as the socket takes it, without replies
        raw = RawMilter(os.path.join(self.tmp, 'raw.sock'))
        self.addCleanup(raw.close)
        srv = self.start('raw unix:%s timeout_eom=30s' % os.path.join(self.tmp, 'raw.sock'))
        r = self.send(srv.mx_port, message=self.BIG)
        self.assertEqual(r.code, 250, (r, srv.log_text()[-2000:]))
        self.assertTrue(raw.eom.is_set())
        self.assertEqual(raw.body, len(self.BIG.split(b'\r\n\r\n', 1)[1]))
        self.assertGreater(raw.chunks, 1)


class Broken(Base):
    """A milter that breaks its word: the default action, one log line."""

    def raw(self, **kw):
        path = os.path.join(self.tmp, 'raw.sock')
        raw = RawMilter(path, **kw)
        self.addCleanup(raw.close)
        return 'raw unix:' + path

    def test_action_not_negotiated(self):
        # it announced no action (0), then adds a header field
        srv = self.start(self.raw(actions=0, eom=[b'hX-Spam\0yes\0']))
        r = self.send(srv.mx_port)
        self.assertEqual(r.last, TEMPFAIL)
        self.assertTrue(srv.wait_log(r"milter=raw: asked for action 'h' it did not "
                                     r"negotiate: default action tempfail"), srv.log_text())
        self.assertEqual(srv.queue_names(), [])

    def test_new_body_past_max_message_size(self):
        # SMFIF_CHGBODY, then more body than a client may send
        chunk = b'b' + b'x' * 60000
        srv = self.start(self.raw(actions=0x02, eom=[chunk, chunk]),
                         max_message_size='100k', milter_default_action='reject')
        r = self.send(srv.mx_port)
        self.assertEqual(r.last, REJECT)
        self.assertTrue(srv.wait_log(r'milter=raw: a new body larger than max_message_size '
                                     r'\(102400\): default action reject'), srv.log_text())
        self.assertEqual(srv.queue_names(), [])


class NeverAnswers(Base):
    def silent(self):
        s = Silent(os.path.join(self.tmp, 'silent.sock'))
        self.addCleanup(s.close)
        return s

    def test_deadline(self):
        s = self.silent()
        srv = self.start_later('silent unix:%s timeout_connect=2s' % s.path)
        c = self.client(srv.mx_port)
        # the first command waits for the milter's verdict, then its deadline
        self.assertEqual(c.cmd('EHLO client.example').last, TEMPFAIL)
        self.assertTrue(srv.wait_log(r'milter=silent: no answer from unix:\S+ within 2s '
                                     r'\(timeout_connect\): default action tempfail'),
                        srv.log_text())

    def test_others_served_meanwhile(self):
        s = self.silent()
        srv = self.start_later('silent unix:%s' % s.path)     # 30s to connect
        stuck = self.client(srv.mx_port)
        stuck.send('EHLO client.example\r\n')
        self.assertTrue(sallytest.wait_until(lambda: s.accepted() >= 1, 10))
        # the same worker serves a whole session on submission meanwhile
        with self.auth_client(srv.sub_port) as c:
            r = c.transaction('alice@example.com', ['bob@remote.test'], MESSAGE)
            self.assertEqual(r.code, 250, r)
        self.assertEqual(len(srv.wait_queue(1)), 1)
        # and the stuck one is still waiting: released, its default action
        s.release()
        self.assertEqual(stuck.reply().last, TEMPFAIL)
        self.assertTrue(srv.wait_log(r'milter=silent: (connection closed by the milter|Connection reset by peer): '
                                     r'default action tempfail'), srv.log_text())


class Reload(Base):
    def test_session_keeps_its_generation(self):
        peer = self.peer({'replies': {'mail': 'reject'}})
        srv = self.start('peer ' + peer.address)
        before = self.ehlo_client(srv.mx_port)
        srv.reload()            # no milters from now on
        after = self.ehlo_client(srv.mx_port)
        self.assertEqual(after.cmd('MAIL FROM:<alice@example.com>').code, 250)
        # the session that began before the reload keeps its milter
        self.assertEqual(before.cmd('MAIL FROM:<alice@example.com>').last, REJECT)


class WithDnsbl(Base):
    """The connection's milter verdict joins the DNSBL one: the first
    command waits for both; a listing is said first."""

    def test_both_verdicts(self):
        dns = self.dnsmasq(hosts={'2.0.0.127.bl.test': '127.0.0.2'})
        peer = self.peer({'replies': {'connect': 'reject'}})
        srv = self.start('peer ' + peer.address, dnsbl='bl.test', dns_servers=dns.server,
                         mynetworks='127.0.0.1/32')
        listed = self.client(srv.mx_port, source='127.0.0.2')
        self.assertEqual(listed.cmd('EHLO client.example').last,
                         '554 5.7.1 Service unavailable; client [127.0.0.2] blocked '
                         'using bl.test')
        unlisted = self.client(srv.mx_port, source='127.0.0.3')
        self.assertEqual(unlisted.cmd('EHLO client.example').last, REJECT)
        self.assertEqual(unlisted.cmd('QUIT').code, 221)
        self.assertTrue(srv.wait_log(r'milter=peer: reject: 550 5\.7\.1 Command rejected '
                                     r'at CONNECT'), srv.log_text())


class Pipelining(Base):
    def test_pipelined_commands_answered_in_order(self):
        peer = self.peer({'replies': {'rcpt': {'by_arg': {'<spam@example.test>': 'reject'},
                                               'default': 'continue'}}})
        srv = self.start('peer ' + peer.address)
        c = self.client(srv.mx_port)
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        c.send('MAIL FROM:<alice@example.com>\r\nRCPT TO:<user@example.test>\r\n'
               'RCPT TO:<spam@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n')
        self.assertEqual(c.reply().code, 250)
        self.assertEqual(c.reply().code, 250)
        self.assertEqual(c.reply().last, REJECT)
        self.assertEqual(c.reply().code, 250)
        self.assertEqual(c.reply().code, 354)
        r = c.data(MESSAGE)
        self.assertEqual(r.code, 250, r)
        entry = srv.queue_entry(r.queue_id())
        self.assertEqual(entry.rcpts, ['user@example.test', 'alice@example.test'])
        # the milter saw the accepted recipients and the whole message
        msg = peer.connections()[-1]['messages'][-1]
        self.assertEqual([x['rcpt'] for x in msg['rcpts']],
                         ['<user@example.test>', '<spam@example.test>',
                          '<alice@example.test>'])
        self.assertIn('Hello through the milters.', msg['body'])
        self.assertTrue(srv.wait_log(r'milter=peer: reject: 550 5\.7\.1 Command rejected '
                                     r'at RCPT spam@example\.test'), srv.log_text())

    def test_rset_aborts_the_transaction(self):
        path = os.path.join(self.tmp, 'raw.sock')
        raw = RawMilter(path)
        self.addCleanup(raw.close)
        srv = self.start('raw unix:' + path)
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.com>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('RSET').code, 250)
        r = c.transaction('alice@example.com', ['user@example.test'], MESSAGE)
        self.assertEqual(r.code, 250, r)
        c.cmd('QUIT')
        self.assertTrue(sallytest.wait_until(lambda: 'Q' in raw.sessions[-1], 10),
                        raw.sessions)
        seq = ''.join(raw.sessions[-1])
        # OPTNEG, CONNECT, HELO, MAIL, RCPT, ABORT; then the message
        self.assertTrue(re.search(r'^OCHMRAMRT(L+)N(B+)EQ$', seq), seq)

    def test_input_during_a_slow_verdict_waits_its_turn(self):
        # The milter takes a second over the end of message; NOOP and
        # QUIT arrive meanwhile, in a packet of their own, and are
        # answered after the 250, in order (the read watcher stays armed
        # while the session waits, and stops when input comes).
        peer = self.peer({'sleep': {'eom': 1}})
        srv = self.start('peer ' + peer.address)
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.com>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(dot_stuff(MESSAGE))
        time.sleep(0.3)
        c.send('NOOP\r\nQUIT\r\n')
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        self.assertIsNotNone(srv.queue_entry(r.queue_id()))
        self.assertEqual(c.reply().code, 250)
        self.assertEqual(c.reply().code, 221)

    def test_connect_verdict_with_pipelined_commands(self):
        peer = self.peer({'replies': {'connect': 'reject'}})
        srv = self.start('peer ' + peer.address)
        c = self.client(srv.mx_port)
        c.send('EHLO client.example\r\nNOOP\r\nQUIT\r\n')
        self.assertEqual(c.reply().last, REJECT)
        self.assertEqual(c.reply().last, REJECT)
        self.assertEqual(c.reply().code, 221)


if __name__ == '__main__':
    sallytest.main()
