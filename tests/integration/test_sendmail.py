"""sallyport-sendmail: local programs hand mail to the running daemon over
its local socket (local_socket), and it lands in the Maildirs.

Real callers: bsd-mailx's mail(1) configured with `set sendmail=...` in a
MAILRC, and a cron-style shell script piping its output into
`sallyport-sendmail -t` with the flags Debian's cron passes. Each message
is looked for in its Maildir with its envelope sender (Return-Path: the
user's login @hostname, or -f), its headers and the Received field naming
the local user by uid. Also: the daemon down (exit 75, EX_TEMPFAIL),
-t with Bcc: (each recipient gets it, nobody sees the Bcc:), a lone dot
(ends the input, or with -i is a line of it), a user other than root
(nobody, through setpriv: needs root), a message over max_message_size,
relay and DKIM signing as a trusted local client, a forged
Authentication-Results field dropped, -bs, the flags refused, and the
socket's life (a stale one replaced, a live one left to its daemon, a
reload that moves it).
"""

import os
import pwd
import re
import shutil
import subprocess
import tempfile

import sallytest

USERS = ['bob', 'carol', 'dave', 'root']
DELIVERY_WAIT = 30
SYSTEM_PYTHON = '/usr/bin/python3'      # Debian's, with python3-dkim


def injector():
    """sallyport-sendmail, built beside the daemon under test."""
    return os.path.join(os.path.dirname(sallytest.binary()), 'sallyport-sendmail')


def headers(raw):
    """{lower-case name: [values]} of a message's header, unfolded."""
    head = raw.split(b'\n\n', 1)[0].replace(b'\r\n', b'\n').decode('utf-8', 'replace')
    out = {}
    for field in re.split(r'\n(?![ \t])', head):
        if ':' in field:
            name, value = field.split(':', 1)
            out.setdefault(name.strip().lower(), []).append(re.sub(r'\s+', ' ', value).strip())
    return out


def body(raw):
    return raw.replace(b'\r\n', b'\n').split(b'\n\n', 1)[1]


class Sendmail(sallytest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='sallytest-sendmail-')
        if not os.environ.get('SALLYTEST_KEEP'):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mailroot = os.path.join(self.tmp, 'mail')
        self.me = pwd.getpwuid(os.getuid()).pw_name

    def daemon(self, start=True, extra_lines=(), **overrides):
        cfg = {'delivery': 'yes',
               'local_domains': 'example.test %s' % sallytest.SERVER_NAME,
               'local_delivery': 'maildir:%s/%%d/%%u/Maildir' % self.mailroot,
               'mailbox_users': USERS, 'retry_min': '1s', 'retry_max': '1m'}
        cfg.update(overrides)
        srv = sallytest.Server(**cfg)
        if extra_lines:
            srv.write_config(extra_lines=extra_lines)
        self.addCleanup(self._close_server, srv)
        self.addCleanup(lambda: srv.kill() if srv.proc is not None else None)
        return srv.start() if start else srv

    def inject(self, srv, args, data, user=None, env=None):
        """Run the injector with -C srv's file; (exit status, stderr)."""
        cmd = [injector(), '-C', srv.conf_path] + list(args)
        if user is not None:
            cmd = ['setpriv', '--reuid=%d' % user.pw_uid, '--regid=%d' % user.pw_gid,
                   '--clear-groups'] + cmd
        p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, env=env)
        return p.returncode, p.stderr.decode('utf-8', 'replace')

    def maildir_new(self, user, domain='example.test'):
        return os.path.join(self.mailroot, domain, user, 'Maildir', 'new')

    def mailbox(self, user, n=1, domain='example.test'):
        """The files of user's Maildir/new once there are n."""
        new = self.maildir_new(user, domain)

        def names():
            try:
                return sorted(os.listdir(new))
            except FileNotFoundError:
                return []
        sallytest.wait_until(lambda: len(names()) >= n, DELIVERY_WAIT)
        out = []
        for name in names():
            with open(os.path.join(new, name), 'rb') as f:
                out.append(f.read())
        return out

    def assert_local(self, h, uid, name):
        """The Received field on top names the local user by uid."""
        self.assertRegex(h['received'][0], r'^from local user %d \(%s\) by %s \(sallyport\) '
                         r'with ESMTP id \S+' % (uid, re.escape(name), re.escape(sallytest.SERVER_NAME)))

    # --- callers ------------------------------------------------------------

    def test_mail_command(self):
        """bsd-mailx's mail(1), told to use sallyport-sendmail in a MAILRC."""
        mail = shutil.which('bsd-mailx')
        if mail is None:
            self.skipTest('bsd-mailx is not installed (contrib/install-deps)')
        srv = self.daemon()
        # mail(1) runs its sendmail with no way to add -C: a wrapper, as
        # an admin with a second configuration would write.
        wrapper = os.path.join(self.tmp, 'sendmail')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nexec %s -C %s "$@"\n' % (injector(), srv.conf_path))
        os.chmod(wrapper, 0o755)
        rc = os.path.join(self.tmp, 'mailrc')
        with open(rc, 'w') as f:
            f.write('set sendmail=%s\n' % wrapper)
        env = dict(os.environ, MAILRC=rc, HOME=self.tmp)
        p = subprocess.run([mail, '-s', 'report from mail(1)', 'bob@example.test'],
                           input=b'first line\n.\nlast line\n', env=env, timeout=60,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = self.mailbox('bob')
        self.assertEqual(len(got), 1, srv.log_text())
        h = headers(got[0])
        self.assertEqual(h['return-path'], ['<%s@%s>' % (self.me, sallytest.SERVER_NAME)])
        self.assertEqual(h['subject'], ['report from mail(1)'])
        self.assertEqual(h['to'], ['bob@example.test'])
        self.assertIn('<%s@%s>' % (self.me, sallytest.SERVER_NAME), h['from'][0])
        self.assertEqual(len(h['date']), 1)
        self.assertEqual(len(h['message-id']), 1)
        self.assert_local(h, os.getuid(), self.me)
        # mail(1) passes -i: its lone dot is a line of the message.
        self.assertEqual(body(got[0]), b'first line\n.\nlast line\n')
        self.assertRegex(srv.log_text(), r'connect from \[local user %d \(%s\)\] to local'
                         % (os.getuid(), re.escape(self.me)))

    def test_cron_script(self):
        """A job's output piped in as Debian's cron does, with -t; two
        workers, which both serve the one local socket."""
        srv = self.daemon(workers='2')
        script = os.path.join(self.tmp, 'job.sh')
        with open(script, 'w') as f:
            f.write('#!/bin/sh\n'
                    '{\n'
                    '  echo "To: root"\n'
                    '  echo "Subject: Cron <root@host> /etc/cron.daily/report"\n'
                    '  echo\n'
                    '  echo "job output"\n'
                    '  printf "a CRLF line\\r\\n"\n'
                    '} | "$1" -C "$2" -FCronDaemon -i -B8BITMIME -oem -t\n')
        p = subprocess.run(['sh', script, injector(), srv.conf_path], timeout=60,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = self.mailbox('root', domain=sallytest.SERVER_NAME)
        self.assertEqual(len(got), 1, srv.log_text())
        h = headers(got[0])
        self.assertEqual(h['return-path'], ['<%s@%s>' % (self.me, sallytest.SERVER_NAME)])
        self.assertEqual(h['delivered-to'], ['root@%s' % sallytest.SERVER_NAME])
        self.assertEqual(h['from'], ['"CronDaemon" <%s@%s>' % (self.me, sallytest.SERVER_NAME)])
        self.assertEqual(h['subject'], ['Cron <root@host> /etc/cron.daily/report'])
        self.assertRegex(h['message-id'][0], r'^<\S+@%s>$' % re.escape(sallytest.SERVER_NAME))
        self.assert_local(h, os.getuid(), self.me)
        self.assertEqual(body(got[0]), b'job output\na CRLF line\n')

    # --- flags --------------------------------------------------------------

    def test_extract_recipients_removes_bcc(self):
        srv = self.daemon()
        msg = (b'From: Alice <alice@example.test>\n'
               b'To: Bob <bob@example.test>, "Carol C." <carol@example.test>\n'
               b'Bcc: dave@example.test (hidden)\n'
               b'Subject: with a blind copy\n\nhello\n')
        status, err = self.inject(srv, ['-t'], msg)
        self.assertEqual(status, 0, err)
        for user in ('bob', 'carol', 'dave'):
            got = self.mailbox(user)
            self.assertEqual(len(got), 1, (user, srv.log_text()))
            h = headers(got[0])
            self.assertNotIn('bcc', h, user)
            self.assertEqual(h['from'], ['Alice <alice@example.test>'])
            self.assertEqual(body(got[0]), b'hello\n')
        self.assertNotIn(b'dave@', b''.join(self.mailbox('bob')[0].split(b'Delivered-To')[1:]))

    def test_extract_without_recipients(self):
        srv = self.daemon()
        status, err = self.inject(srv, ['-t'], b'Subject: nobody\n\nhello\n')
        self.assertEqual(status, 64, err)       # EX_USAGE
        self.assertIn('no recipient addresses found in the message header', err)
        self.assertEqual(srv.queue_names(), [])

    def test_lone_dot(self):
        srv = self.daemon()
        msg = b'Subject: dots\n\nbefore\n.\nafter\n'
        status, err = self.inject(srv, ['bob@example.test'], msg)
        self.assertEqual(status, 0, err)
        self.assertEqual(body(self.mailbox('bob')[0]), b'before\n')
        for flag in ('-i', '-oi'):
            status, err = self.inject(srv, [flag, 'carol@example.test'], msg)
            self.assertEqual(status, 0, err)
        for got in self.mailbox('carol', 2):
            self.assertEqual(body(got), b'before\n.\nafter\n')

    def test_sender_and_no_header(self):
        srv = self.daemon()
        status, err = self.inject(srv, ['-f', 'reports@example.org', '-F', 'Nightly Report',
                                        'bob'], b'just a body line\n')
        self.assertEqual(status, 0, err)
        got = self.mailbox('bob', domain=sallytest.SERVER_NAME)
        h = headers(got[0])
        self.assertEqual(h['return-path'], ['<reports@example.org>'])
        self.assertEqual(h['from'], ['"Nightly Report" <reports@example.org>'])
        self.assertEqual(body(got[0]), b'just a body line\n')

    def test_sender_is_one_address(self):
        """-f as a web application passes it from a form: an angle bracket
        inside would close MAIL's path and hand the daemon parameters of the
        form's choosing (REQUIRETLS, BODY, AUTH). Refused (64), nothing
        queued."""
        srv = self.daemon(delivery='no')
        for sender in ('<x@example.org> AUTH=x>', 'x@example.org> AUTH=x',
                       '<x@example.org> REQUIRETLS>', '<x@example.org>>'):
            status, err = self.inject(srv, ['-f', sender, 'bob@example.test'], b'x\n')
            self.assertEqual(status, 64, (sender, err))
            self.assertIn('the sender (-f) is not one address', err)
        self.assertEqual(srv.queue_names(), [])
        status, err = self.inject(srv, ['-f', '<x@example.org>', 'bob@example.test'], b'x\n')
        self.assertEqual(status, 0, err)

    def test_bs_smtp_on_stdin(self):
        srv = self.daemon()
        dialogue = (b'EHLO client\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<bob@example.test>\r\n'
                    b'DATA\r\nSubject: by -bs\r\n\r\nhi\r\n.\r\nQUIT\r\n')
        p = subprocess.run([injector(), '-C', srv.conf_path, '-bs'], input=dialogue,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, rb'^220 ')
        self.assertIn(b'250 2.0.0 Ok: queued as ', p.stdout)
        h = headers(self.mailbox('bob')[0])
        self.assertEqual(h['return-path'], ['<x@example.org>'])
        self.assert_local(h, os.getuid(), self.me)

    def test_flags_refused(self):
        srv = self.daemon(start=False)
        for args in (['-Q'], ['-bp'], ['-q'], ['-f']):
            status, err = self.inject(srv, args, b'x\n')
            self.assertEqual(status, 64, (args, err))
            self.assertIn('usage: sallyport-sendmail', err, args)
        # The flags sendmail programs pass, accepted and ignored.
        status, err = self.inject(srv, ['-oem', '-odi', '-v', '-m', '-n', 'bob@example.test'],
                                  b'x\n')
        self.assertEqual(status, 75, err)       # accepted; the daemon is down

    # --- the daemon ---------------------------------------------------------

    def test_daemon_down(self):
        srv = self.daemon(start=False)
        status, err = self.inject(srv, ['bob@example.test'], b'Subject: lost?\n\nhello\n')
        self.assertEqual(status, 75, err)       # EX_TEMPFAIL
        self.assertIn('cannot reach the sallyport daemon at %s' % os.path.join(srv.dir, 'sendmail.sock'), err)
        self.assertIn('the message was not sent', err)
        # Started and stopped: its socket is gone, the answer the same.
        srv.start()
        srv.stop()
        self.assertFalse(os.path.exists(os.path.join(srv.dir, 'sendmail.sock')))
        status, err = self.inject(srv, ['bob@example.test'], b'hello\n')
        self.assertEqual(status, 75, err)

    def test_socket_life(self):
        """A socket left by a killed daemon is replaced at the next start;
        one a running daemon answers on is left to it (the second daemon
        says so and serves without); a reload that moves it warns."""
        srv = self.daemon(delivery='no')
        sock = os.path.join(srv.dir, 'sendmail.sock')
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o666)
        srv.kill()
        self.assertTrue(os.path.exists(sock), 'SIGKILL leaves the socket')
        self.assertEqual(self.inject(srv, ['bob@example.test'], b'x\n')[0], 75)
        srv.start()
        status, err = self.inject(srv, ['bob@example.test'], b'Subject: again\n\nx\n')
        self.assertEqual(status, 0, err)
        other = self.daemon(delivery='no', local_socket=sock)
        self.assertIn('local_socket %s: another sallyport answers on it; no local '
                      'submission' % sock, other.log_text())
        status, err = self.inject(srv, ['bob@example.test'], b'x\n')
        self.assertEqual(status, 0, err)
        self.assertEqual(len(srv.wait_queue(2)), 2)
        self.assertEqual(other.queue_names(), [])
        log = srv.reload(overrides=dict(srv.overrides, local_socket=sock + '2'))
        self.assertIn('reload: local_socket changed; it takes effect at the next restart', log)
        # The injector reads the file, which names a socket not there yet.
        self.assertEqual(self.inject(srv, ['bob@example.test'], b'x\n')[0], 75)
        srv.stop()
        srv.start()
        self.assertEqual(self.inject(srv, ['bob@example.test'], b'x\n')[0], 0)
        self.assertFalse(os.path.exists(sock))

    def test_socket_directory_others_write(self):
        """A local_socket in a directory others may write (/tmp's mode,
        sticky or not) is not made: a local user could put a socket of
        their own there, or swap ours for a link before its chmod. The
        daemon says so and serves without; the injector gets 75."""
        for mode in (0o1777, 0o777, 0o775):
            d = os.path.join(self.tmp, 'open%o' % mode)
            os.mkdir(d)
            os.chmod(d, mode)
            sock = os.path.join(d, 'sendmail.sock')
            srv = self.daemon(delivery='no', local_socket=sock)
            self.assertIn('local_socket %s: its directory %s is writable by others '
                          'than root and us' % (sock, d), srv.log_text())
            self.assertFalse(os.path.exists(sock))
            self.assertEqual(self.inject(srv, ['bob@example.test'], b'x\n')[0], 75)
            srv.stop()

    def test_unknown_recipient_sends_nothing(self):
        srv = self.daemon(delivery='no')
        status, err = self.inject(srv, ['bob@example.test', 'nosuch@example.test'], b'x\n')
        self.assertEqual(status, 67, err)       # EX_NOUSER
        self.assertIn('<nosuch@example.test>', err)
        self.assertIn('550 5.1.1', err)
        self.assertEqual(srv.queue_names(), [])

    def test_too_big(self):
        srv = self.daemon(delivery='no', max_message_size='2k')
        status, err = self.inject(srv, ['bob@example.test'], b'Subject: big\n\n' + (b'x' * 80 + b'\n') * 40)
        self.assertEqual(status, 65, err)       # EX_DATAERR
        self.assertIn('max_message_size', err)
        self.assertEqual(srv.queue_names(), [])

    def test_other_user(self):
        """A user other than root, through the world-writable socket."""
        if os.geteuid() != 0:
            self.skipTest('needs root: the injector runs as nobody')
        nobody = pwd.getpwnam('nobody')
        srv = self.daemon()
        # nobody reaches the test's directory, its socket and its file.
        os.chmod(srv.dir, 0o755)
        status, err = self.inject(srv, ['bob@example.test'], b'Subject: from nobody\n\nhi\n',
                                  user=nobody)
        self.assertEqual(status, 0, err)
        h = headers(self.mailbox('bob')[0])
        self.assertEqual(h['return-path'], ['<nobody@%s>' % sallytest.SERVER_NAME])
        self.assert_local(h, nobody.pw_uid, 'nobody')
        self.assertRegex(srv.log_text(), r'connect from \[local user %d \(nobody\)\] to local'
                         % nobody.pw_uid)
        # A throw-away uid with no passwd entry: no login to send as,
        # unless -f names the sender; the daemon says what it knows.
        uid = next(u for u in range(54321, 64000) if not self.has_uid(u))
        ghost = pwd.struct_passwd(('', '', uid, uid, '', '/', ''))
        status, err = self.inject(srv, ['bob@example.test'], b'hi\n', user=ghost)
        self.assertEqual(status, 67, err)       # EX_NOUSER
        self.assertIn('no login name for this user ID: give the sender with -f', err)
        status, err = self.inject(srv, ['-f', 'job@example.test', 'bob@example.test'],
                                  b'Subject: from a uid\n\nhi\n', user=ghost)
        self.assertEqual(status, 0, err)
        # Maildir names sort by second, not by arrival: find it by its
        # subject.
        h = headers(next(m for m in self.mailbox('bob', 2)
                         if b'Subject: from a uid' in m))
        self.assertEqual(h['return-path'], ['<job@example.test>'])
        self.assert_local(h, uid, 'unknown')

    @staticmethod
    def has_uid(uid):
        try:
            pwd.getpwuid(uid)
            return True
        except KeyError:
            return False

    def test_trusted_relay_and_forged_results(self):
        """Relayed like a mynetworks client (no AUTH), but a local user's
        Authentication-Results of ours is dropped as a forgery."""
        srv = self.daemon(delivery='no', mynetworks='')
        msg = (b'Authentication-Results: %s; dkim=pass header.d=bank.example\n'
               b'Subject: out\n\nhi\n' % sallytest.SERVER_NAME.encode())
        status, err = self.inject(srv, ['someone@elsewhere.example'], msg)
        self.assertEqual(status, 0, err)
        srv.wait_queue(1)
        entries = srv.queue_entries()
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0].rcpts, ['someone@elsewhere.example'])
        self.assertNotIn(b'Authentication-Results', entries[0].delivered())
        self.assertIn(b'Subject: out', entries[0].delivered())
        # The same from 127.0.0.1 outside mynetworks: no relay.
        with sallytest.Client(srv.mx_port) as c:
            c.cmd('EHLO client.example')
            c.cmd('MAIL FROM:<x@example.org>')
            self.assertEqual(c.cmd('RCPT TO:<someone@elsewhere.example>').code, 550)

    def test_dkim_signed(self):
        if not os.access(SYSTEM_PYTHON, os.X_OK) or subprocess.run(
                [SYSTEM_PYTHON, '-c', 'import dkim'], stderr=subprocess.DEVNULL).returncode:
            self.skipTest('python3-dkim is not installed (contrib/install-deps)')
        p = subprocess.run([sallytest.binary(), '--dkim-keygen', 'example.test', 'local', 'rsa',
                            self.tmp], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, check=True)
        line = [l for l in p.stdout.decode().splitlines() if not l.startswith(';')][0]
        record = ''.join(re.findall(r'"([^"]*)"', line))
        key = os.path.join(self.tmp, 'example.test.local.key')
        srv = self.daemon(extra_lines=['dkim_sign = example.test local %s' % key])
        status, err = self.inject(srv, ['-t'], b'From: Alice <alice@example.test>\n'
                                  b'To: bob@example.test\nSubject: signed\n\nhi\n')
        self.assertEqual(status, 0, err)
        raw = self.mailbox('bob')[0]
        self.assertIn('d=example.test', headers(raw)['dkim-signature'][0])
        # dkimpy verifies it, the key record handed to it (no DNS).
        check = ('import sys, dkim\n'
                 'rec = sys.argv[1].encode()\n'
                 'msg = sys.stdin.buffer.read()\n'
                 'sys.exit(0 if dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec) else 1)\n')
        msg = raw.split(b'\n', 2)[2].replace(b'\n', b'\r\n')    # Return-Path, Delivered-To
        v = subprocess.run([SYSTEM_PYTHON, '-c', check, record], input=msg, timeout=60)
        self.assertEqual(v.returncode, 0, raw)


if __name__ == '__main__':
    sallytest.main()
