"""The recipient table keyed by whole address (recipients) and address
extensions (recipient_delimiter), through the real daemon: two domains
whose bob is two people, each in its own Maildir; bob+tag into an
existing folder or the inbox, never a folder made up; unknown users
refused per domain, with a catch-all on one domain only; a reload that
adds a user, and one with a mistake refused with its file and line;
`sallyport -n` naming the line; and --selftest still finding no open
relay with a table that forwards elsewhere.

Every client is untrusted (mynetworks leaves loopback out), so the RCPT
replies are what a stranger gets."""

import json
import os
import re
import subprocess

import sallytest
from test_delivery import DeliveryCase, message

R_OK = '250 2.1.5 Ok'
R_UNKNOWN = '550 5.1.1 User unknown'
UNTRUSTED = '192.0.2.0/24'
DOMAINS = 'a.example b.example'

TABLE = """\
# a.example
bob@a.example
info@a.example: bob, bob@b.example
# b.example: another bob
bob@b.example
alice@b.example: alice, alice@elsewhere.example
@b.example: alice
"""


class Recipients(DeliveryCase):

    def table(self, text):
        path = os.path.join(self.tmp, 'recipients')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def start(self, text=TABLE, **over):
        cfg = dict(local_domains=DOMAINS, mailbox_users=None, mynetworks=UNTRUSTED,
                   recipients=self.table(text), recipient_delimiter='+')
        cfg.update(over)
        return self.daemon(**cfg)

    def session(self, srv, rcpts, msg):
        """One transaction from a stranger, every RCPT sent whatever its
        reply; ({rcpt: reply line}, queue id or None when none was taken)."""
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<stranger@example.org>').code, 250)
        replies = {rcpt: c.cmd('RCPT TO:<%s>' % rcpt).last for rcpt in rcpts}
        qid = None
        if R_OK in replies.values():
            self.assertEqual(c.cmd('DATA').code, 354)
            r = c.data(msg)
            self.assertEqual(r.code, 250, r)
            qid = r.queue_id()
        c.cmd('QUIT')
        return replies, qid

    def files(self, user, domain, folder=''):
        """The messages in user@domain's Maildir (or its folder) new/."""
        new = os.path.join(self.maildir(user, domain), folder, 'new')
        try:
            names = sorted(os.listdir(new))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            with open(os.path.join(new, n), 'rb') as f:
                out.append(f.read())
        return out

    def selftest_passes(self, conf):
        """sallyport --selftest --json -c conf, asserted to find no open
        relay with every probe passing; its report"""
        p = subprocess.run([sallytest.binary(), '--selftest', '--json', '-c', conf],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        data = json.loads(p.stdout)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.assertFalse(data['summary']['open_relay'])
        self.assertEqual({p['verdict'] for p in data['probes']}, {'PASS'}, data['probes'])
        return data

    def test_same_local_part_two_domains_two_maildirs(self):
        srv = self.start()
        msg_a, msg_b = message('for bob at a'), message('for bob at b')
        replies, qa = self.session(srv, ['bob@a.example'], msg_a)
        self.assertEqual(replies, {'bob@a.example': R_OK})
        replies, qb = self.session(srv, ['BOB@B.example'], msg_b)
        self.assertEqual(replies, {'BOB@B.example': R_OK})
        self.wait_gone(srv, qa)
        self.wait_gone(srv, qb)
        got_a, got_b = self.files('bob', 'a.example'), self.files('bob', 'b.example')
        self.assertEqual(len(got_a), 1, self.all_maildir_files())
        self.assertEqual(len(got_b), 1, self.all_maildir_files())
        self.assertIn(b'\nDelivered-To: bob@a.example\n', b'\n' + got_a[0])
        self.assertIn(b'Subject: for bob at a', got_a[0])
        self.assertIn(b'\nDelivered-To: bob@b.example\n', b'\n' + got_b[0])
        self.assertIn(b'Subject: for bob at b', got_b[0])
        # An alias in one domain reaching both bobs: one copy each.
        replies, qid = self.session(srv, ['info@a.example'], message('for info'))
        self.wait_gone(srv, qid)
        self.assertEqual(len(self.files('bob', 'a.example')), 2)
        self.assertEqual(len(self.files('bob', 'b.example')), 2)
        self.assertNotIn('non-delivery notification', srv.log_text())

    def test_unknown_users_per_domain_and_one_catchall(self):
        sink = self.sink()
        srv = self.start(smarthost=sink.smarthost, smarthost_tls='none')
        want = {'nobody@a.example': R_UNKNOWN, 'alice@a.example': R_UNKNOWN,
                'info@b.example': R_OK, 'nobody@b.example': R_OK,
                'nobody+x@a.example': R_UNKNOWN, 'postmaster@a.example': R_OK}
        replies, qid = self.session(srv, list(want), message('strangers'))
        self.assertEqual(replies, want)
        self.wait_gone(srv, qid)
        # b.example's catch-all is alice, who keeps a copy and forwards
        # one elsewhere: one copy in her Maildir for the two caught.
        got = self.files('alice', 'b.example')
        self.assertEqual(len(got), 1, self.all_maildir_files())
        self.assertIn(b'\nDelivered-To: alice@b.example\n', b'\n' + got[0])
        fwd = sink.wait(1)
        self.assertEqual({tuple(m.rcpt_tos) for m in fwd}, {('alice@elsewhere.example',)})
        # postmaster exists in every domain (RFC 5321 4.5.1): root's
        # mailbox, as without a table.
        self.assertEqual(len(self.files('root', 'a.example')), 1, self.all_maildir_files())
        self.assertEqual(self.files('nobody', 'b.example'), [])

    def test_extensions_into_an_existing_folder_or_the_inbox(self):
        srv = self.start()
        lists = os.path.join(self.maildir('bob', 'a.example'), '.lists')
        # A Maildir beside bob's: "bob+./lists" must not reach it
        # through Maildir/../lists.
        beside = os.path.join(self.mailroot, 'a.example', 'bob', 'lists')
        for sub in ('cur', 'new', 'tmp'):
            os.makedirs(os.path.join(lists, sub))
            os.makedirs(os.path.join(beside, sub))
        rcpts = ['bob+lists@a.example', 'bob+other@a.example',
                 '"bob+./lists"@a.example', '"bob+a/../../lists"@a.example']
        msgs = {}
        for rcpt in rcpts:
            msgs[rcpt] = message('to ' + rcpt, mid=str(len(msgs)) + '.ext')
            replies, qid = self.session(srv, [rcpt], msgs[rcpt])
            self.assertEqual(replies, {rcpt: R_OK})
            self.wait_gone(srv, qid)
        in_folder = self.files('bob', 'a.example', '.lists')
        inbox = self.files('bob', 'a.example')
        self.assertEqual(len(in_folder), 1, self.all_maildir_files())
        self.assertIn(b'Subject: to bob+lists@a.example', in_folder[0])
        self.assertIn(b'\nDelivered-To: bob@a.example\n', b'\n' + in_folder[0])
        self.assertEqual(len(inbox), 3, self.all_maildir_files())
        self.assertEqual(os.listdir(os.path.join(beside, 'new')), [])
        subjects = sorted(re.search(rb'Subject: to (.*)', m).group(1) for m in inbox)
        self.assertEqual(subjects, sorted(r.encode() for r in rcpts[1:]))
        # No folder is ever made for a tag.
        self.assertEqual(sorted(os.listdir(self.maildir('bob', 'a.example'))),
                         ['.lists', 'cur', 'new', 'tmp'])
        # Through an alias: the tag goes with bob's mailboxes.
        replies, qid = self.session(srv, ['info+lists@a.example'], message('info lists'))
        self.wait_gone(srv, qid)
        self.assertEqual(len(self.files('bob', 'a.example', '.lists')), 2)
        self.assertEqual(len(self.files('bob', 'b.example')), 1)

    def test_reload_adds_a_user_and_refuses_a_broken_table(self):
        srv = self.start()
        replies, _ = self.session(srv, ['carol@a.example'], b'')
        self.assertEqual(replies, {'carol@a.example': R_UNKNOWN})
        self.table(TABLE + 'carol@a.example\n')
        log = srv.reload()
        self.assertNotIn('reload failed', log)
        replies, qid = self.session(srv, ['carol@a.example'], message('for carol'))
        self.assertEqual(replies, {'carol@a.example': R_OK})
        self.wait_gone(srv, qid)
        self.assertEqual(len(self.files('carol', 'a.example')), 1, self.all_maildir_files())
        # A mistake: the reload is refused, saying where, and carol stays.
        path = self.table(TABLE + 'carol@a.example\ndave@a.example: nobody\n')
        log = srv.reload()
        self.assertIn('reload failed', log)
        self.assertIn('%s:9: dave@a.example: target "nobody@a.example" is no recipient '
                      'here' % path, log)
        replies, _ = self.session(srv, ['carol@a.example', 'dave@a.example'], message('x'))
        self.assertEqual(replies, {'carol@a.example': R_OK, 'dave@a.example': R_UNKNOWN})

    def test_check_config_names_file_and_line(self):
        srv = self.start(start=False, local_domains='a.example')
        path = self.table('bob@a.example\nbob@b.example\nbob@A.example\n')
        srv.write_config()
        p = subprocess.run([srv.bin, '-n', '-c', srv.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode()
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('%s:2: "b.example" is not in local_domains' % path, err)
        self.assertIn('%s:3: "bob@a.example" defined twice (lines 1 and 3)' % path, err)

    def test_selftest_finds_no_open_relay_with_forwards(self):
        dns = self.dnsmasq(hosts={'tester.example': '192.0.2.80',
                                  'mail.example.test': '127.0.0.1'})
        table = self.table('bob@example.test\nfwd@example.test: someone@elsewhere.example\n'
                           '@example.test: fwd\n@mail.example.test: bob@example.test\n')
        with open(os.path.join(sallytest.srcdir(), 'etc', 'sallyport.conf.sample')) as f:
            text = f.read()
        conf = os.path.join(self.tmp, 'selftest.conf')
        for routing in ('no', 'yes'):
            with open(conf, 'w') as f:
                f.write(text + '\n'.join([
                    '', 'dns_servers = %s' % dns.server,
                    'queue_dir = %s' % os.path.join(self.tmp, 'queue'),
                    'hostname = mail.example.test',
                    'local_domains = example.test, mail.example.test',
                    'recipients = %s' % table, 'recipient_delimiter = +',
                    'allow_untrusted_routing = %s' % routing]) + '\n')
            data = self.selftest_passes(conf)
            # Every check that ran passed; only those needing what this
            # run was not given (--auth-user) are N/A.
            ran = [c for c in data['positive'] if c['verdict'] != 'N/A']
            self.assertTrue(ran, data['positive'])
            self.assertEqual({c['verdict'] for c in ran}, {'PASS'}, data['positive'])
            for c in data['positive']:
                if c['verdict'] == 'N/A':
                    self.assertIn('--auth-user', json.dumps(c), c)


if __name__ == '__main__':
    sallytest.main()
