#!/usr/bin/env python3
"""The milter client against a real libmilter: the scriptable pymilter
peer (milterpeer.py) answers each step as the test says and makes every
change a milter can make at the end of a message; the queue entry and
the delivered message are checked byte for byte against what the milter
saw with its changes applied by libmilter's rules (doc/filtering.md,
Milters), and the macros it was given against the session the test
ran."""

import json
import os
import re
import shutil
import subprocess
import tempfile

import sallytest
from sallytest import CRLF
from milterpeer import DEBIAN_PYTHON, MilterPeer, raw

SENDER = 'alice@example.org'
MESSAGE = CRLF.join([
    b'From: Alice <alice@example.org>',
    b'To: bob@example.test, carol@example.test',
    b'Subject: the original subject',
    b'X-Drop: the first X-Drop',
    b'X-Folded: first line',
    b'\tsecond line',
    b'X-Drop: the second X-Drop',
    b'Message-ID: <m1@example.org>',
    b'',
    b'original body',
    b'.a line with a dot',
    b'']) + CRLF
NEW_BODY = ['new body, first chunk\r\n', '.dotted second chunk\r\n', 'caf\xe9\r\n']
MAILDIR_EOL = b'\n'     # as test_delivery: Maildir files have LF lines

# Every change at the end of the message. Indexes are libmilter's:
# insheader counts every field from 0 (the top), chgheader the fields of
# that name from 1, both on the header as the milter saw it.
EVERY_ACTION = [
    {'action': 'addheader', 'name': 'X-Added', 'value': 'added at the end'},
    {'action': 'insheader', 'index': 0, 'name': 'X-Top', 'value': 'inserted at 0'},
    {'action': 'insheader', 'index': 2, 'name': 'X-Third', 'value': 'inserted at 2'},
    {'action': 'insheader', 'index': 2, 'name': 'X-Third-B', 'value': 'also at 2, asked later'},
    {'action': 'chgheader', 'name': 'X-Absent', 'index': 1, 'value': 'a change past the last'},
    {'action': 'addheader', 'name': 'X-Multi', 'value': 'folded\n\tvalue'},
    {'action': 'chgheader', 'name': 'Subject', 'index': 1, 'value': 'a changed subject'},
    {'action': 'delheader', 'name': 'X-Drop', 'index': 2},
    {'action': 'addrcpt', 'rcpt': '<dave@example.test>'},
    {'action': 'addrcpt', 'rcpt': '<erin@example.test>', 'args': 'NOTIFY=NEVER'},
    {'action': 'delrcpt', 'rcpt': '<carol@example.test>'},
    {'action': 'chgfrom', 'sender': '<bounces@example.org>'},
    {'action': 'replacebody', 'chunks': NEW_BODY},
]


def fields_of(message):
    """[name, value] of each header field of message (bytes), as a milter
    gets them: the value without the space after the colon, folded lines
    joined by LF."""
    head = message.split(CRLF + CRLF, 1)[0]
    out = []
    for field in re.split(rb'\r\n(?![ \t])', head):
        name, value = field.split(b':', 1)
        if value.startswith(b' '):
            value = value[1:]
        out.append([name.decode(), value.replace(CRLF, b'\n').decode('utf-8', 'surrogateescape')])
    return out


def render(fields):
    """Header fields as sallyport writes them: "Name: value", CRLF."""
    return b''.join(raw(n) + b': ' + raw(v).replace(b'\n', CRLF) + CRLF for n, v in fields)


def nth(fields, name, index):
    """The position of the index-th (from 1) field called name, or None."""
    seen = 0
    for i, (n, _) in enumerate(fields):
        if n.lower() == name.lower():
            seen += 1
            if seen == index:
                return i
    return None


def apply_header_changes(fields, actions):
    """fields with a milter's header changes, by the rules of
    doc/filtering.md (as libmilter's milters expect): indices count on
    the header as the milter saw it; several inserts at one position, the
    last asked on top; a change past the last field of its name, inserts
    past the end and added fields appended in the order asked; an empty
    value deletes."""
    values = [v for _, v in fields]
    before = [[] for _ in fields]
    appended = []
    for a in actions:
        kind = a['action']
        if kind == 'addheader':
            appended.append([a['name'], a['value']])
        elif kind == 'insheader':
            if a['index'] < len(fields):
                before[a['index']].insert(0, [a['name'], a['value']])
            else:
                appended.append([a['name'], a['value']])
        elif kind in ('chgheader', 'delheader'):
            value = a['value'] if kind == 'chgheader' else ''
            i = nth(fields, a['name'], a['index'])
            if i is not None:
                values[i] = value
            elif value:
                appended.append([a['name'], value])
    out = []
    for i, (name, _) in enumerate(fields):
        out += before[i]
        if values[i] != '':
            out.append([name, values[i]])
    return out + appended


def bare(addr):
    return addr[1:-1] if addr.startswith('<') and addr.endswith('>') else addr


class MilterCase(sallytest.TestCase):
    def setUp(self):
        if not (os.path.exists(DEBIAN_PYTHON)
                and os.path.isdir('/usr/lib/python3/dist-packages/Milter')):
            self.need('python3-milter')     # skips, or fails in CI
        self.tmp = tempfile.mkdtemp(prefix='sallytest-milter-')
        if not os.environ.get('SALLYTEST_KEEP'):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mailroot = os.path.join(self.tmp, 'mail')

    def peer(self, script=None, inet=False):
        p = MilterPeer(self.tmp, script or {}, inet=inet)
        self.addCleanup(p.close)
        return p.start()

    def milter_server(self, peers, deliver=False, **conf):
        """A started daemon with the peers as milters p0, p1... in order
        (one milter line each)."""
        if deliver:
            conf.update(delivery='yes', retry_min='1s', retry_max='1m',
                        local_delivery='maildir:%s/%%d/%%u/Maildir' % self.mailroot)
        srv = sallytest.Server(**conf)
        srv.write_config(extra_lines=['milter = p%d %s' % (i, p.address)
                                      for i, p in enumerate(peers)])
        self.addCleanup(self._close_server, srv)
        return srv.start()

    def send(self, srv, rcpts, message=MESSAGE, sender=SENDER, port=None, client=None):
        """One transaction; returns the reply after the final dot."""
        c = client or self.ehlo_client(port or srv.mx_port)
        r = c.transaction(sender, rcpts, message)
        return r

    def queue_tool(self, srv, *args):
        p = subprocess.run([sallytest.binary(), '--queue'] + list(args) + ['-c', srv.conf_path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        return p.returncode, p.stdout.decode('utf-8', 'replace')

    def mailbox(self, user, n=1, timeout=20):
        return sallytest.maildir_messages(
            os.path.join(self.mailroot, 'example.test', user, 'Maildir'), n, timeout)

    def last_message(self, peer):
        rec = peer.wait(lambda r: any(m['eom'] for c in r['connections'] for m in c['messages']))
        return [m for c in rec['connections'] for m in c['messages'] if m['eom']][-1]


class TestActions(MilterCase):
    def test_unchanged_message_is_what_the_milter_saw(self):
        """A milter that changes nothing: it was given the message as
        queued, header field by field and the whole body, and the entry is
        the message as received."""
        peer = self.peer()
        srv = self.milter_server([peer])
        r = self.send(srv, ['bob@example.test'])
        self.assertEqual(r.code, 250, r)
        entry = srv.queue_entry(r.queue_id())
        msg = self.last_message(peer)
        self.assertEqual(sallytest.split_received(entry.body)[1], MESSAGE)
        self.assertEqual(msg['headers'], fields_of(entry.delivered()))
        self.assertEqual(render(msg['headers']) + CRLF + raw(msg['body']), entry.delivered())
        self.assertEqual(raw(msg['body']), MESSAGE.split(CRLF + CRLF, 1)[1])
        self.assertEqual(bare(msg['mail']['sender']), SENDER)
        self.assertEqual([bare(x['rcpt']) for x in msg['rcpts']], ['bob@example.test'])

    def expected(self, msg):
        """The message the milter's changes make of what it saw."""
        return (render(apply_header_changes(msg['headers'], EVERY_ACTION)) + CRLF
                + b''.join(raw(c) for c in NEW_BODY))

    def check_every_action(self, deliver):
        peer = self.peer({'eom': EVERY_ACTION})
        srv = self.milter_server([peer], deliver=deliver)
        r = self.send(srv, ['bob@example.test', 'carol@example.test'])
        self.assertEqual(r.code, 250, r)
        qid = r.queue_id()
        msg = self.last_message(peer)
        self.assertEqual(msg['errors'], [])
        self.assertEqual(fields_of(MESSAGE), msg['headers'][-len(fields_of(MESSAGE)):])
        self.assertEqual(raw(msg['body']), MESSAGE.split(CRLF + CRLF, 1)[1])
        return srv, qid, self.expected(msg)

    def test_every_action_in_the_queue_entry(self):
        srv, qid, expected = self.check_every_action(deliver=False)
        entry = srv.queue_entry(qid)
        self.assertEqual(entry.delivered(), expected)
        self.assertEqual(entry.header['from'], 'bounces@example.org')
        self.assertEqual(entry.rcpts, ['bob@example.test', 'dave@example.test',
                                       'erin@example.test'])
        self.assertEqual(entry.header['id'], qid)
        self.assertTrue(srv.wait_log(r'id=%s milter=p0: .*body replaced' % qid),
                        srv.log_text()[-3000:])

    def test_every_action_in_the_delivered_message(self):
        srv, qid, expected = self.check_every_action(deliver=True)
        for user in ('bob', 'dave', 'erin'):
            got = self.mailbox(user)
            self.assertEqual(len(got), 1, user)
            self.assertEqual(got[0], (b'Return-Path: <bounces@example.org>\n'
                                      b'Delivered-To: %s@example.test\n' % user.encode())
                             + expected.replace(CRLF, MAILDIR_EOL))
        self.assertEqual(self.mailbox('carol', timeout=0), [])

    def test_leading_space(self):
        """A milter that negotiated SMFIP_HDR_LEADSPC gets the values as
        they are, leading space included, and its fields are written as it
        gives them: "Name:" and its value, no space added (Postfix)."""
        peer = self.peer({'leading_space': True, 'eom': [
            {'action': 'addheader', 'name': 'X-Spaced', 'value': '  two spaces'},
            {'action': 'addheader', 'name': 'X-Tight', 'value': 'none'},
            {'action': 'chgheader', 'name': 'Subject', 'index': 1, 'value': ' changed'}]})
        srv = self.milter_server([peer])
        r = self.send(srv, ['bob@example.test'])
        self.assertEqual(r.code, 250, r)
        msg = self.last_message(peer)
        self.assertIn(['Subject', ' the original subject'], msg['headers'])
        self.assertIn(['X-Folded', ' first line\n\tsecond line'], msg['headers'])
        head = srv.queue_entry(r.queue_id()).delivered().split(CRLF + CRLF, 1)[0] + CRLF
        self.assertIn(b'\r\nSubject: changed\r\n', head)
        self.assertTrue(head.endswith(b'\r\nX-Spaced:  two spaces\r\nX-Tight:none\r\n'), head)

    def test_large_message_in_chunks(self):
        """A message of several body chunks reaches the milter whole and in
        order, and a replacement body of several REPLBODY packets (libmilter
        cuts at 65535 octets) is queued whole."""
        lines = [b'line %06d of a long message, to be sent in several chunks' % i
                 for i in range(6000)]
        big = MESSAGE.split(CRLF + CRLF, 1)[0] + CRLF + CRLF + CRLF.join(lines) + CRLF
        replacement = ''.join('replaced %06d %s\r\n' % (i, 'x' * 40) for i in range(4000))
        peer = self.peer({'eom': [{'action': 'replacebody', 'chunks': [replacement]}]})
        srv = self.milter_server([peer])
        r = self.send(srv, ['bob@example.test'], big)
        self.assertEqual(r.code, 250, r)
        msg = self.last_message(peer)
        sent_body = big.split(CRLF + CRLF, 1)[1]
        self.assertGreater(len(sent_body), 3 * 65535)
        self.assertEqual(raw(msg['body']), sent_body)
        self.assertGreaterEqual(msg['body_chunks'], 4)
        entry = srv.queue_entry(r.queue_id())
        self.assertEqual(entry.delivered(), render(msg['headers']) + CRLF + raw(replacement))

    def test_two_milters_in_order(self):
        """The second milter sees the message as the first left it; the
        entry has both's changes."""
        first = self.peer({'eom': [
            {'action': 'addheader', 'name': 'X-First', 'value': 'one'},
            {'action': 'chgheader', 'name': 'Subject', 'index': 1, 'value': 'by the first'},
            {'action': 'addrcpt', 'rcpt': '<dave@example.test>'},
            {'action': 'replacebody', 'chunks': ['the first body\r\n']}]})
        second = self.peer({'eom': [
            {'action': 'addheader', 'name': 'X-Second', 'value': 'two'},
            {'action': 'delrcpt', 'rcpt': '<bob@example.test>'}]}, inet=True)
        srv = self.milter_server([first, second])
        r = self.send(srv, ['bob@example.test'])
        self.assertEqual(r.code, 250, r)
        one, two = self.last_message(first), self.last_message(second)
        self.assertEqual(two['headers'], apply_header_changes(one['headers'], [
            {'action': 'addheader', 'name': 'X-First', 'value': 'one'},
            {'action': 'chgheader', 'name': 'Subject', 'index': 1, 'value': 'by the first'}]))
        self.assertEqual(two['body'], 'the first body\r\n')
        entry = srv.queue_entry(r.queue_id())
        self.assertEqual(entry.delivered(), render(two['headers'] + [['X-Second', 'two']])
                         + CRLF + b'the first body\r\n')
        self.assertEqual(entry.rcpts, ['dave@example.test'])
        # the envelope the second milter was given is the original one:
        # recipients change at the end of the message only
        self.assertEqual([bare(x['rcpt']) for x in two['rcpts']], ['bob@example.test'])

    def test_quarantine_holds_the_entry(self):
        peer = self.peer({'eom': [{'action': 'quarantine', 'reason': 'held by the test'}]})
        srv = self.milter_server([peer], deliver=True)
        r = self.send(srv, ['bob@example.test'])
        self.assertEqual(r.code, 250, r)
        held = r.queue_id()
        srv.wait_queue(queue_id=held, where='hold')
        self.assertNotIn(held, srv.queue_names())
        rc, out = self.queue_tool(srv, 'list')
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r'(?m)^%s\n(  .*\n)*  held +held by the test\n' % held)
        rc, out = self.queue_tool(srv, 'list', '--json')
        self.assertEqual(rc, 0, out)
        listed = {e['id']: e for e in json.loads(out)['entries']}
        self.assertEqual(listed[held]['held'], 'held by the test')
        # a message after it is delivered; the held one is not
        peer.set_script({})
        r2 = self.send(srv, ['bob@example.test'], MESSAGE.replace(b'<m1@', b'<m2@'))
        self.assertEqual(r2.code, 250, r2)
        got = self.mailbox('bob')
        self.assertEqual(len(got), 1)
        self.assertIn(b'<m2@example.org>', got[0])
        self.assertTrue(os.path.exists(os.path.join(srv.queue_dir, 'hold', held)))
        rc, out = self.queue_tool(srv, 'release', held)
        self.assertEqual(rc, 0, out)
        got = self.mailbox('bob', 2)
        self.assertEqual(len(got), 2, got)
        self.assertTrue(any(b'<m1@example.org>' in m for m in got))
        self.assertFalse(os.path.exists(os.path.join(srv.queue_dir, 'hold', held)))


class TestReplies(MilterCase):
    def test_replies_at_each_step(self):
        peer = self.peer({'replies': {
            'mail': {'by_arg': {'<refused@example.org>': {
                'code': '550', 'xcode': '5.7.1', 'text': ['first line', 'second line']},
                'refused@example.org': {
                'code': '550', 'xcode': '5.7.1', 'text': ['first line', 'second line']}}},
            'rcpt': {'by_arg': {'<later@example.test>': 'tempfail',
                                'later@example.test': 'tempfail'}},
        }})
        srv = self.milter_server([peer])
        c = self.ehlo_client(srv.mx_port)
        r = c.cmd('MAIL FROM:<refused@example.org>')
        self.assertEqual(r.lines, ['550-5.7.1 first line', '550 5.7.1 second line'])
        self.assertEqual(c.cmd('MAIL FROM:<%s>' % SENDER).code, 250)
        self.assertEqual(c.cmd('RCPT TO:<later@example.test>').last,
                         '451 4.7.1 Service unavailable - try again later')
        self.assertEqual(c.cmd('RCPT TO:<bob@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        r = c.data(MESSAGE)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.queue_entry(r.queue_id()).rcpts, ['bob@example.test'])

        # DATA refused, then the message refused at its end with a reply
        # code, then discarded: nothing queued
        for script, want in (
                ({'replies': {'data': 'reject'}}, '550 5.7.1 Command rejected'),
                ({'replies': {'eom': {'code': '554', 'xcode': '5.7.0',
                                      'text': ['not this one']}}}, '554 5.7.0 not this one'),
                ({'replies': {'eom': 'tempfail'}},
                 '451 4.7.1 Service unavailable - try again later')):
            peer.set_script(script)
            self.assertEqual(c.cmd('MAIL FROM:<%s>' % SENDER).code, 250)
            self.assertEqual(c.cmd('RCPT TO:<bob@example.test>').code, 250)
            r = c.cmd('DATA')
            if 'data' in script['replies']:
                self.assertEqual(r.last, want)
                self.assertEqual(c.cmd('RSET').code, 250)
                continue
            self.assertEqual(r.code, 354)
            self.assertEqual(c.data(MESSAGE).last, want)
        before = srv.queue_names()
        peer.set_script({'replies': {'eom': 'discard'}})
        r = self.send(srv, ['bob@example.test'], client=c)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.queue_names(), before)
        self.assertEqual(len(before), 1)

    def test_every_recipient_deleted(self):
        """A milter that deletes every recipient: the message is
        discarded (the client told 250, as for discard), nothing queued."""
        peer = self.peer({'eom': [{'action': 'delrcpt', 'rcpt': '<bob@example.test>'},
                                  {'action': 'delrcpt', 'rcpt': '<carol@example.test>'}]})
        srv = self.milter_server([peer])
        r = self.send(srv, ['bob@example.test', 'carol@example.test'])
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.queue_names(), [])
        self.assertEqual(srv.tmp_names(), [])
        self.assertTrue(srv.wait_log(r'milter=p0: every recipient deleted'),
                        srv.log_text()[-3000:])

    def test_refused_at_connect_and_helo(self):
        peer = self.peer({'replies': {'connect': {'code': '554', 'xcode': '5.7.1',
                                                  'text': ['go away']}}})
        srv = self.milter_server([peer])
        c = self.client(srv.mx_port)
        self.assertEqual(c.greeting.code, 220)
        for cmd in ('EHLO client.example', 'MAIL FROM:<%s>' % SENDER, 'NOOP'):
            self.assertEqual(c.cmd(cmd).last, '554 5.7.1 go away', cmd)
        self.assertEqual(c.cmd('QUIT').code, 221)
        peer.set_script({'replies': {'helo': 'tempfail'}})
        c = self.client(srv.mx_port)
        self.assertEqual(c.cmd('EHLO client.example').last,
                         '451 4.7.1 Service unavailable - try again later')

    def test_accept_skips_the_milter(self):
        """accept at MAIL: the milter hears nothing more of the message,
        which is queued as sent."""
        peer = self.peer({'replies': {'mail': 'accept'}})
        srv = self.milter_server([peer])
        r = self.send(srv, ['bob@example.test'])
        self.assertEqual(r.code, 250, r)
        self.assertEqual(sallytest.split_received(srv.queue_entry(r.queue_id()).body)[1],
                         MESSAGE)
        msg = peer.messages()[-1]
        self.assertEqual((msg['rcpts'], msg['headers'], msg['eom']), ([], [], None))


class TestMacros(MilterCase):
    def test_mx_session(self):
        peer = self.peer()
        srv = self.milter_server([peer])
        c = self.ehlo_client(srv.mx_port)
        port = c.sock.getsockname()[1]
        r = self.send(srv, ['bob@example.test'], client=c)
        self.assertEqual(r.code, 250, r)
        qid = r.queue_id()
        msg = self.last_message(peer)
        conn = [k for k in peer.connections() if msg in k['messages']][0]
        self.assertEqual((conn['connect']['family'], conn['connect']['addr'],
                          conn['connect']['port']), ('inet', '127.0.0.1', port))
        macros = conn['connect']['macros']
        self.assertEqual(macros['{client_addr}'], '127.0.0.1')
        self.assertEqual(macros['{client_port}'], str(port))
        self.assertEqual(macros['{daemon_addr}'], '127.0.0.1')
        self.assertEqual(macros['j'], sallytest.SERVER_NAME)
        self.assertEqual(conn['helo'][0]['name'], 'client.example')
        self.assertNotIn('{tls_version}', conn['helo'][0]['macros'])
        self.assertEqual(msg['mail']['macros']['{mail_addr}'], SENDER)
        self.assertNotIn('{auth_authen}', msg['mail']['macros'])
        self.assertEqual(msg['rcpts'][0]['macros']['{rcpt_addr}'], 'bob@example.test')
        # the queue id the client is told
        self.assertEqual(msg['eom']['macros']['i'], qid)

    def test_daemon_addr_is_the_address_the_client_reached(self):
        # A listener on one address lends it to its clients; one on every
        # address (`*`, 0.0.0.0) asks the kernel for each client's.
        peer = self.peer()
        ports = [sallytest.free_port() for _ in range(2)]
        srv = self.milter_server([peer], extra_listen=['*:%d mx' % ports[0],
                                                       '0.0.0.0:%d mx' % ports[1]])
        for port, host, want in ((srv.mx_port, '127.0.0.1', '127.0.0.1'),
                                 (ports[0], '127.0.0.2', '127.0.0.2'),
                                 (ports[0], '::1', '::1'),
                                 (ports[1], '127.0.0.3', '127.0.0.3')):
            with self.subTest(host=host, port=port):
                c = self.ehlo_client(port, host=host)
                r = self.send(srv, ['bob@example.test'], client=c)
                self.assertEqual(r.code, 250, r)
                msg = self.last_message(peer)
                conn = [k for k in peer.connections() if msg in k['messages']][0]
                self.assertEqual(conn['connect']['macros']['{daemon_addr}'], want)

    def test_submission_with_tls_and_auth(self):
        peer = self.peer()
        srv = self.milter_server([peer], milter_submission='yes')
        c = self.auth_client(srv.sub_port)
        version, cipher = c.tls.version(), c.tls.cipher()[0]
        r = self.send(srv, ['bob@example.test'], sender=sallytest.ALICE, client=c)
        self.assertEqual(r.code, 250, r)
        msg = self.last_message(peer)
        conn = [k for k in peer.connections() if msg in k['messages']][0]
        helo = conn['helo'][-1]
        self.assertEqual(helo['macros']['{tls_version}'], version)
        self.assertEqual(helo['macros']['{cipher}'], cipher)
        self.assertEqual(msg['mail']['macros']['{auth_authen}'], sallytest.ALICE)
        self.assertEqual(msg['mail']['macros']['{auth_type}'], 'PLAIN')
        self.assertEqual(msg['eom']['macros']['i'], r.queue_id())

    def test_submission_without_the_key(self):
        peer = self.peer()
        srv = self.milter_server([peer])
        c = self.auth_client(srv.sub_port)
        port = c.sock.getsockname()[1]
        r = self.send(srv, ['bob@example.test'], sender=sallytest.ALICE, client=c)
        self.assertEqual(r.code, 250, r)
        # (the mx sessions of the daemon's start-up check did connect)
        self.assertNotIn(port, [k['connect']['port'] for k in peer.connections()
                                if k['connect']])
        self.assertEqual(peer.messages(), [])


if __name__ == '__main__':
    sallytest.main()
