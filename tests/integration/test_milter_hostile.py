#!/usr/bin/env python3
"""A hostile or broken milter (doc/filtering.md): a milter written here on
the protocol's bytes answers the end of a message with the changes a test
scripts. An address it adds or sets as the sender is held to what RCPT TO
and MAIL FROM take from a client (no empty local part or domain, no blank
or control octet, RFC 5321's lengths), the recipients it adds to
max_recipients; past them the milter is broken and gets its default
action, and nothing is queued or left in the queue's tmp/. What it
writes that reaches the log stays inside one line."""

import os
import re
import shutil
import struct
import tempfile
import threading

import sallytest
from test_milter import RawMilter, listen_unix

TEMPFAIL = '451 4.7.1 Service unavailable - try again later'
MESSAGE = (b'From: Alice <alice@example.com>\r\nTo: user@example.test\r\n'
           b'Subject: hostile milter\r\n\r\nHello.\r\n')


def packet(cmd, data=b''):
    return struct.pack('!I', 1 + len(data)) + cmd + data


class ScriptedMilter:
    """Negotiates every action, continues at every step, and at the end
    of the message sends eom() (a list of packets, or a generator of
    them), then continue."""

    def __init__(self, path, eom, at=b'E'):
        self.path = path
        self.eom = eom
        self.at = at        # the command whose answer eom() gives
        self.sock = listen_unix(path, lambda c: threading.Thread(
            target=self.serve, args=(c,), daemon=True).start())

    read = staticmethod(RawMilter.read)

    def serve(self, c):
        with c:
            try:
                while True:
                    size = struct.unpack('!I', self.read(c, 4))[0]
                    cmd = self.read(c, size)[:1]
                    if cmd == b'O':
                        c.sendall(packet(b'O', struct.pack('!III', 6, 0x1ff, 0)))
                    elif cmd == self.at:
                        for p in self.eom():
                            c.sendall(p)
                        if cmd == b'E':
                            c.sendall(packet(b'c'))
                    elif cmd in (b'C', b'H', b'M', b'R', b'T', b'L', b'N', b'B'):
                        c.sendall(packet(b'c'))
                    elif cmd == b'Q':
                        return
            except (EOFError, OSError):
                return

    def close(self):
        self.sock.close()


class Hostile(sallytest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sallytest-milter-hostile-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, eom, at=b'E', **conf):
        path = os.path.join(self.tmp, 'm%d.sock' % len(os.listdir(self.tmp)))
        m = ScriptedMilter(path, eom, at)
        self.addCleanup(m.close)
        conf.setdefault('workers', '1')
        srv = sallytest.Server(**conf)
        srv.write_config(extra_lines=['milter = hostile unix:%s' % path])
        self.addCleanup(self._close_server, srv)
        srv.start()
        return srv

    def send(self, srv, rcpts=('user@example.test',)):
        c = self.client(srv.mx_port)
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        return c.transaction('alice@example.com', list(rcpts), MESSAGE)

    def assert_refused(self, srv, r, log):
        self.assertEqual(r.last, TEMPFAIL, (r, srv.log_text()[-2000:]))
        self.assertTrue(srv.wait_log(r'milter=hostile: %s.*default action tempfail' % log),
                        srv.log_text()[-2000:])
        self.assertEqual(srv.queue_names(), [])
        self.assertEqual(srv.tmp_names(), [])

    def test_added_recipients_that_are_no_address(self):
        bad = [b'<@>', b'<a@>', b'<@example.test>', b'<a b@example.test>',
               b'<postmaster>', b'<a@' + b'd' * 300 + b'.test>',
               b'<' + b'l' * 70 + b'@example.test>', b'<a@example.test>\r\nrcpt x@evil.test']
        for addr in bad:
            with self.subTest(addr=addr[:40]):
                srv = self.start(lambda: [packet(b'+', addr + b'\0')])
                self.assert_refused(srv, self.send(srv), 'recipient to add')

    def test_new_senders_that_are_no_address(self):
        for addr in (b'<@>', b'<a@>', b'<x y@example.test>', b'<a@' + b'd' * 300 + b'>'):
            with self.subTest(addr=addr[:40]):
                srv = self.start(lambda: [packet(b'e', addr + b'\0')])
                self.assert_refused(srv, self.send(srv), 'new sender')

    def test_addresses_queued_as_a_client_s(self):
        srv = self.start(lambda: [packet(b'+', b'<Bob@Example.TEST>\0'),
                                  packet(b'e', b'<>\0')])
        r = self.send(srv)
        self.assertEqual(r.code, 250, (r, srv.log_text()[-2000:]))
        e = srv.queue_entry(r.queue_id())
        self.assertEqual(e.rcpts, ['user@example.test', 'Bob@example.test'])
        self.assertEqual(e.header['from'], '')

    def test_added_recipients_bounded_by_max_recipients(self):
        srv = self.start(lambda: [packet(b'+', b'<r%d@example.net>\0' % i) for i in range(5)],
                         max_recipients='4')
        self.assert_refused(srv, self.send(srv), 'more recipients than max_recipients')

    def assert_no_forged_line(self, srv):
        # the milter's text stays inside the line that names it
        self.assertEqual([l for l in srv.log_text().splitlines()
                          if 'FORGED' in l and 'milter=hostile' not in l], [])

    def test_line_breaks_of_a_milter_never_reach_the_log(self):
        """A reply text or a quarantine reason with CR or LF in it: one
        log line each, never a line the milter wrote"""
        forged = b'\n2026-01-01T00:00:00 sallyport: FORGED\r\nFORGED'
        srv = self.start(lambda: [packet(b'q', b'spam' + forged + b'\0')])
        r = self.send(srv)
        self.assertEqual(r.code, 250, r)
        self.assertTrue(srv.wait_log(r'milter=hostile: quarantined: spam'), srv.log_text())
        self.assert_no_forged_line(srv)
        srv = self.start(lambda: [packet(b'y', b'550 5.7.1 no' + forged + b'\0')])
        r = self.send(srv)
        self.assertEqual(r.last, TEMPFAIL, r)
        self.assertTrue(srv.wait_log(r'milter=hostile: protocol error: .*control'), srv.log_text())
        self.assert_no_forged_line(srv)

    def test_a_milter_that_stops_reading_gets_its_deadline(self):
        """A milter that asked not to answer body chunks (NR_BODY) and
        stops reading: the body it is sent waits in our buffer, and its
        timeout_eom ends it (not the client's own timeouts)"""
        path = os.path.join(self.tmp, 'deaf.sock')
        stopped = threading.Event()
        conns = []

        def serve(c):
            conns.append(c)
            read = RawMilter.read
            try:
                while True:
                    size = struct.unpack('!I', read(c, 4))[0]
                    cmd = read(c, size)[:1]
                    if cmd == b'O':
                        c.sendall(packet(b'O', struct.pack('!III', 6, 0, RawMilter.NR)))
                    elif cmd == b'B':
                        stopped.set()
                        return          # and never reads again
                    elif cmd in (b'C', b'H', b'M', b'R', b'T'):
                        c.sendall(packet(b'c'))
            except (EOFError, OSError):
                return
        sock = listen_unix(path, lambda c: threading.Thread(
            target=serve, args=(c,), daemon=True).start())
        self.addCleanup(sock.close)
        self.addCleanup(lambda: [c.close() for c in conns])
        srv = sallytest.Server(workers='1', command_timeout='60s', data_timeout='60s',
                               command_deadline='60s')
        srv.write_config(extra_lines=['milter = deaf unix:%s timeout_eom=2s' % path])
        self.addCleanup(self._close_server, srv)
        srv.start()
        big = MESSAGE + b'x' * 998 + b'\r\n'
        big += b''.join(b'line %07d of a body nobody reads\r\n' % i for i in range(200000))
        c = self.client(srv.mx_port)
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        r = c.transaction('alice@example.com', ['user@example.test'], big)
        self.assertTrue(stopped.is_set())
        self.assertEqual(r.last, TEMPFAIL, (r, srv.log_text()[-2000:]))
        self.assertTrue(srv.wait_log(r'milter=deaf: no answer within the step.s timeout: '
                                     r'default action tempfail'), srv.log_text()[-2000:])
        self.assertEqual(srv.queue_names(), [])

    def test_client_gone_while_the_end_waits(self):
        """The client leaves (or says QUIT at once) while a milter is at
        the end of its message: what is queued is whole, nothing is left
        in tmp/, the server serves on"""
        go = threading.Event()
        seen = threading.Event()

        def eom():
            seen.set()
            go.wait(30)
            return [packet(b'+', b'<added@example.net>\0'),
                    packet(b'b', b'new body\r\n'), packet(b'h', b'X-Late\0yes\0')]
        srv = self.start(eom)
        c = self.client(srv.mx_port)
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.com>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(MESSAGE + b'.\r\n')
        self.assertTrue(seen.wait(20))
        before = srv.log_text().count(' disconnect from ')
        c.close()
        go.set()
        # as Postfix, a message whose end was read is finished (the client
        # may not hear of it and send it again): queued whole, or not
        self.assertTrue(sallytest.wait_until(
            lambda: srv.log_text().count(' disconnect from ') > before, 20), srv.log_text())
        for qid in re.findall(r'id=(\w+) accepted:', srv.log_text()):
            srv.wait_queue(queue_id=qid)
        self.assertEqual(srv.tmp_names(), [])
        for e in srv.queue_entries():
            self.assert_whole(e)
        # the dot and QUIT pipelined: the message is queued with the
        # milter's changes, then 221
        go.clear()
        seen.clear()
        c = self.client(srv.mx_port)
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<alice@example.com>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(MESSAGE + b'.\r\nQUIT\r\n')
        self.assertTrue(seen.wait(20))
        go.set()
        r = c.reply()
        self.assertEqual(r.code, 250, (r, srv.log_text()[-2000:]))
        self.assertEqual(c.reply().code, 221)
        self.assert_whole(srv.queue_entry(r.queue_id()))
        self.assertEqual(srv.tmp_names(), [])

    def assert_whole(self, e):
        self.assertEqual(e.rcpts, ['user@example.test', 'added@example.net'])
        self.assertTrue(e.body.endswith(b'X-Late: yes\r\n\r\nnew body\r\n'), e.body)

    def test_a_421_reply_closes_the_session(self):
        """A milter's 421 says the channel is closing: it is (as Postfix
        does), at connect, at RCPT and at the end of the message, nothing
        queued"""
        for at in (b'C', b'R', b'E'):
            with self.subTest(at=at):
                srv = self.start(lambda: [packet(b'y', b'421 4.7.0 Go away now\0')], at=at)
                c = self.client(srv.mx_port)
                if at == b'C':
                    # refused at connect: told at the first command
                    c.send(b'EHLO client.example\r\nNOOP\r\n')
                    self.assertEqual(c.reply().last, '421 4.7.0 Go away now')
                    c.sock.settimeout(20)
                    self.assertEqual(c.sock.recv(100), b'')
                    continue
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                self.assertEqual(c.cmd('MAIL FROM:<alice@example.com>').code, 250)
                if at == b'R':
                    # pipelined: nothing after the 421 is answered
                    c.send(b'RCPT TO:<user@example.test>\r\nNOOP\r\n')
                else:
                    self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
                    self.assertEqual(c.cmd('DATA').code, 354)
                    c.send(MESSAGE + b'.\r\nNOOP\r\n')
                self.assertEqual(c.reply().last, '421 4.7.0 Go away now')
                c.sock.settimeout(20)
                self.assertEqual(c.sock.recv(100), b'')     # closed, no NOOP reply
                self.assertEqual(srv.queue_names(), [])
                self.assertEqual(srv.tmp_names(), [])

    def test_changes_of_a_milter_that_fails_are_dropped(self):
        """A milter that deletes the recipient, changes the sender and
        quarantines, then breaks the protocol, with default action
        accept: its changes are dropped, the message goes on to the next
        milter and is queued as it was (not discarded for want of
        recipients)"""
        paths = [os.path.join(self.tmp, n) for n in ('broken.sock', 'fine.sock')]
        broken = ScriptedMilter(paths[0], lambda: [
            packet(b'-', b'<user@example.test>\0'), packet(b'e', b'<other@example.net>\0'),
            packet(b'q', b'held\0'), packet(b'Z')])
        fine = ScriptedMilter(paths[1], lambda: [])
        self.addCleanup(broken.close)
        self.addCleanup(fine.close)
        srv = sallytest.Server(workers='1')
        srv.write_config(extra_lines=[
            'milter = broken unix:%s default_action=accept' % paths[0],
            'milter = fine unix:%s' % paths[1]])
        self.addCleanup(self._close_server, srv)
        srv.start()
        r = self.send(srv)
        self.assertEqual(r.code, 250, r)
        self.assertTrue(srv.wait_log(r'milter=broken: protocol error: .*default action accept'),
                        srv.log_text()[-2000:])
        e = srv.queue_entry(r.queue_id())
        self.assertEqual(e.rcpts, ['user@example.test'])
        self.assertEqual(e.header['from'], 'alice@example.com')
        self.assertNotIn('hold', e.header)

    def test_a_long_multi_line_refusal_at_connect_arrives_whole(self):
        """A milter refuses the connection with a reply of many long
        lines: the client gets every command answered by a complete
        reply (as a refusal at a later stage is), never one cut short"""
        lines = ['550-5.7.1 line %02d %s' % (i, 'x' * 90) for i in range(11)]
        lines.append('550 5.7.1 the last line')
        text = '\r\n'.join(lines).encode()
        srv = self.start(lambda: [packet(b'y', text + b'\0')], at=b'C')
        c = self.client(srv.mx_port)
        for cmd in ('EHLO client.example', 'NOOP'):
            r = c.cmd(cmd)
            self.assertEqual(r.lines, lines, r)
        self.assertEqual(c.cmd('QUIT').code, 221)
        self.assertEqual([l for l in srv.log_text().splitlines() if l.startswith('550')], [])


if __name__ == '__main__':
    sallytest.main()
