#!/usr/bin/env python3
"""The milter test peers on their own, before sallyport is put in front of
them: Debian's miltertest (the MTA side of the protocol, in Lua, from
OpenDKIM) drives the scriptable pymilter peer (milterpeer.py) and rspamd
in milter mode (rspamdpeer.py), so that a failure in the milter tests is
sallyport's and not the harness's."""

import os
import re
import shutil
import tempfile

import sallytest
from milterpeer import MilterPeer, lua_string, miltertest
from rspamdpeer import Rspamd

GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'

EVERY_ACTION = [
    {'action': 'addheader', 'name': 'X-Added', 'value': 'added value'},
    {'action': 'insheader', 'index': 0, 'name': 'X-Top', 'value': 'first'},
    {'action': 'chgheader', 'name': 'Subject', 'index': 1, 'value': 'changed'},
    {'action': 'delheader', 'name': 'X-Drop', 'index': 1},
    {'action': 'addrcpt', 'rcpt': '<new@example.test>'},
    {'action': 'addrcpt', 'rcpt': '<new2@example.test>', 'args': 'NOTIFY=NEVER'},
    {'action': 'delrcpt', 'rcpt': '<bob@example.test>'},
    {'action': 'chgfrom', 'sender': '<other@example.test>', 'args': 'BODY=8BITMIME'},
    {'action': 'replacebody', 'chunks': ['new body\r\n', 'second chunk\r\n']},
    {'action': 'quarantine', 'reason': 'held for review'},
]


def lua_checks(checks):
    """Lua lines printing "ok NAME" or "FAIL NAME" for each (name, expr)."""
    return ['if %s then mt.echo("ok %s") else mt.echo("FAIL %s") end' % (expr, name, name)
            for name, expr in checks]


class Base(sallytest.TestCase):
    def setUp(self):
        self.need('miltertest')
        self.tmp = tempfile.mkdtemp(prefix='sallytest-milterpeer-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_lua(self, lines):
        rc, out = miltertest('\n'.join(lines) + '\n', self.tmp)
        self.assertEqual(rc, 0, out)
        self.assertNotIn('FAIL', out)
        return out

    def peer(self, script, inet=False):
        if not os.path.exists('/usr/lib/python3/dist-packages/Milter'):
            self.need('pymilter (python3-milter)')
        p = MilterPeer(self.tmp, script, inet=inet).start()
        self.addCleanup(p.close)
        return p


class TestScriptedPeer(Base):
    def session(self, peer, body='body line\r\n'):
        spec = peer.socket_spec
        return [
            'conn = mt.connect(%s, 40, 0.25)' % lua_string(spec),
            'if conn == nil then error("no connection to the peer") end',
            'mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.test", "{client_addr}", "127.0.0.9")',
            'mt.conninfo(conn, "client.example", "127.0.0.9")',
            'mt.macro(conn, SMFIC_HELO, "{tls_version}", "TLSv1.3")',
            'mt.helo(conn, "helo.example")',
            'mt.macro(conn, SMFIC_MAIL, "i", "QID1", "{auth_authen}", "alice")',
            'mt.mailfrom(conn, "<alice@example.test>", "SIZE=100", "BODY=8BITMIME")',
            'mt.rcptto(conn, "<bob@example.test>")',
            'rcpt_bad = mt.rcptto(conn, "<bad@example.test>")',
            'rcpt_bad_reply = mt.getreply(conn)',
            'mt.header(conn, "Subject", "hello")',
            'mt.header(conn, "X-Drop", %s)' % lua_string(b'caf\xc3\xa9 \xff'),
            'mt.eoh(conn)',
            'mt.bodystring(conn, %s)' % lua_string(body),
            'mt.eom(conn)',
        ]

    def test_every_action_and_the_record(self):
        peer = self.peer({
            'replies': {'rcpt': {'by_arg': {'<bad@example.test>': {
                'code': '550', 'xcode': '5.1.1', 'text': ['no such', 'user here']}}}},
            'eom': EVERY_ACTION})
        self.run_lua(self.session(peer) + lua_checks([
            ('rcpt_replycode', 'rcpt_bad_reply == SMFIR_REPLYCODE'),
            ('eom_continue', 'mt.getreply(conn) == SMFIR_CONTINUE'),
            ('addheader', 'mt.eom_check(conn, MT_HDRADD, "X-Added", "added value")'),
            ('insheader', 'mt.eom_check(conn, MT_HDRINSERT, "X-Top", "first", 0)'),
            ('chgheader', 'mt.eom_check(conn, MT_HDRCHANGE, "Subject", "changed")'),
            ('delheader', 'mt.eom_check(conn, MT_HDRDELETE, "X-Drop")'),
            ('addrcpt', 'mt.eom_check(conn, MT_RCPTADD, "<new@example.test>")'),
            # (miltertest does not read SMFIR_ADDRCPT_PAR, the one with args)
            ('delrcpt', 'mt.eom_check(conn, MT_RCPTDELETE, "<bob@example.test>")'),
            # miltertest matches each SMFIR_REPLBODY on its own
            ('body1', 'mt.eom_check(conn, MT_BODYCHANGE, "new body\\r\\n")'),
            ('body2', 'mt.eom_check(conn, MT_BODYCHANGE, "second chunk\\r\\n")'),
            ('quarantine', 'mt.eom_check(conn, MT_QUARANTINE, "held for review")'),
        ]) + ['mt.disconnect(conn)'])
        rec = peer.wait(lambda r: r['connections'] and r['connections'][-1]['closed'])
        conn = rec['connections'][-1]
        self.assertEqual((conn['connect']['hostname'], conn['connect']['family'],
                          conn['connect']['addr']), ('client.example', 'inet', '127.0.0.9'))
        self.assertEqual(conn['connect']['macros'],
                         {'j': 'mx.example.test', '{client_addr}': '127.0.0.9'})
        self.assertEqual(conn['helo'][0]['name'], 'helo.example')
        self.assertEqual(conn['helo'][0]['macros']['{tls_version}'], 'TLSv1.3')
        msg, = conn['messages']
        self.assertEqual(msg['mail']['sender'], '<alice@example.test>')
        self.assertEqual(msg['mail']['args'], ['SIZE=100', 'BODY=8BITMIME'])
        self.assertEqual(msg['mail']['macros']['i'], 'QID1')
        self.assertEqual(msg['mail']['macros']['{auth_authen}'], 'alice')
        self.assertEqual([r['rcpt'] for r in msg['rcpts']],
                         ['<bob@example.test>', '<bad@example.test>'])
        self.assertEqual(msg['headers'], [['Subject', 'hello'],
                                          ['X-Drop', 'caf\xe9 \udcff']])
        self.assertEqual(msg['body'], 'body line\r\n')
        self.assertEqual(msg['eom']['macros']['i'], 'QID1')
        self.assertEqual(msg['done'], EVERY_ACTION)
        self.assertEqual(msg['errors'], [])

    def test_replies(self):
        # connect accepted: the peer hears nothing more of the connection
        peer = self.peer({'replies': {'connect': 'accept'}})
        self.run_lua(self.session(peer)[:4] + lua_checks([
            ('accept', 'mt.getreply(conn) == SMFIR_ACCEPT')]))
        # a multi-line reply code at end of message
        peer.set_script({'replies': {'eom': {'code': '451', 'xcode': '4.7.1',
                                             'text': ['try', 'later']}}})
        # (miltertest cannot match a multi-line text: sallyport's tests do)
        self.run_lua(self.session(peer) + lua_checks([
            ('replycode', 'mt.getreply(conn) == SMFIR_REPLYCODE')]))
        for stage, answer, const, upto in (('eom', 'discard', 'SMFIR_DISCARD', None),
                                           ('eom', 'reject', 'SMFIR_REJECT', None),
                                           ('eom', 'tempfail', 'SMFIR_TEMPFAIL', None),
                                           ('body', 'skip', 'SMFIR_SKIP', -1),
                                           ('helo', 'tempfail', 'SMFIR_TEMPFAIL', 6)):
            peer.set_script({'replies': {stage: answer}})
            self.run_lua(self.session(peer)[:upto] + lua_checks([
                (stage + '_' + answer, 'mt.getreply(conn) == %s' % const)]))

    def test_inet_socket(self):
        peer = self.peer({'replies': {'mail': 'reject'}}, inet=True)
        self.assertTrue(peer.socket_spec.startswith('inet:'))
        self.run_lua(self.session(peer)[:8] + lua_checks([
            ('mail', 'mt.getreply(conn) == SMFIR_REJECT')]))
        rec = peer.wait(lambda r: r['connections'] and r['connections'][-1]['messages'])
        self.assertEqual(rec['connections'][-1]['messages'][0]['mail']['sender'],
                         '<alice@example.test>')


class TestRspamd(Base):
    def message_lines(self, port, body):
        return [
            'conn = mt.connect("inet:%d@127.0.0.1", 40, 0.25)' % port,
            'if conn == nil then error("no connection to rspamd") end',
            'mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.test", "{daemon_name}", "mx.example.test")',
            'mt.conninfo(conn, "client.example", "192.0.2.7")',
            'mt.helo(conn, "client.example")',
            'mt.macro(conn, SMFIC_MAIL, "i", "QID1")',
            'mt.mailfrom(conn, "<alice@example.org>")',
            'mt.rcptto(conn, "<bob@example.test>")',
            'mt.header(conn, "From", "alice@example.org")',
            'mt.header(conn, "To", "bob@example.test")',
            'mt.header(conn, "Subject", "test")',
            'mt.header(conn, "Date", "Wed, 02 Dec 2026 08:00:00 +0000")',
            'mt.header(conn, "Message-ID", "<x1@example.org>")',
            'mt.eoh(conn)',
            'mt.bodystring(conn, %s)' % lua_string(body + '\r\n'),
            'mt.eom(conn)',
        ]

    def test_gtube_rejected_clean_accepted(self):
        dns = self.dnsmasq(zones=('#',))
        rs = Rspamd(dns.server)
        self.addCleanup(rs.close)
        rs.start()
        self.run_lua(self.message_lines(rs.milter_port, GTUBE) + lua_checks([
            ('replycode', 'mt.getreply(conn) == SMFIR_REPLYCODE')]) + ['mt.disconnect(conn)'])
        # the text it gave is the one its log names
        why = re.search(r"set pre-result to 'reject' \([0-9.]+\): '([^']+)'", rs.log_text())
        self.assertTrue(why, rs.log_text()[-3000:])
        self.run_lua(self.message_lines(rs.milter_port, GTUBE) + lua_checks([
            ('text', 'mt.eom_check(conn, MT_SMTPREPLY, "554", "5.7.1", %s)'
             % lua_string(why.group(1)))]))
        self.run_lua(self.message_lines(rs.milter_port, 'Hello Bob, lunch at noon?') +
                           lua_checks([('accept', 'mt.getreply(conn) == SMFIR_ACCEPT'),
                                       ('result', 'mt.eom_check(conn, MT_HDRADD, "X-Spamd-Result")'),
                                       ('queue_id', 'mt.eom_check(conn, MT_HDRADD, "X-Rspamd-Queue-Id", "QID1")'),
                                       ('ar', 'mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results")')]))
        # nothing asked of a resolver but the test's own
        self.assertNotIn('resolv.conf', rs.log_text())


if __name__ == '__main__':
    sallytest.main()
