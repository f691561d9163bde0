"""Started as root, sallyport becomes `user` (and `group`), keeps its
queue 0600 in a 0700 tree owned by that user, and refuses to stay root
unless run_as_root = yes. The processes that run no program (the workers,
a lone process serving clients, the queue runner unless it hands off to
qmail-queue) cannot gain privileges through exec (NoNewPrivs); the one
that runs a set-user-ID qmail-queue can (test_qmail_queue.py), and so
can the master that starts it, which never serves a client.

Needs root; skipped otherwise."""

import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile

import sallytest
from sallytest import CRLF

REFUSED = ('refusing to run as root: set user = (a service account) '
           'or run_as_root = yes')
MESSAGE = CRLF.join([b'Subject: privileges', b'', b'hello']) + CRLF


def proc_status(pid):
    """/proc/PID/status as a dict of its fields (text after the colon)."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            key, _, value = line.partition(':')
            out[key] = value.split()
    return out


def cmdline(pid):
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        return f.read().split(b'\0')


def serving_pid(srv, client):
    """The process that holds the server's end of client's connection:
    its socket's inode from /proc/net/tcp, then the process among the
    daemon and those below it with that socket open."""
    host, port = client.sock.getsockname()[:2]
    want_local = '0100007F:%04X' % srv.mx_port
    want_remote = '0100007F:%04X' % port
    assert host == '127.0.0.1', host
    inode = None
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want_local and fields[2] == want_remote:
                inode = fields[9]
    assert inode, 'no server socket for client port %d' % port
    target = 'socket:[%s]' % inode
    for pid in [srv.pid] + sallytest.descendants(srv.pid):
        try:
            for fd in os.listdir('/proc/%d/fd' % pid):
                if os.readlink('/proc/%d/fd/%s' % (pid, fd)) == target:
                    return pid
        except OSError:
            continue
    raise AssertionError('no process of the daemon holds %s' % target)


def no_new_privs(srv, workers, runner=True):
    """{'master': flag, 'runner': flag, 'workers': [flag, ...]} from the
    NoNewPrivs lines of the daemon and the processes below it, once its
    workers (a number) and runner said they are ready (each sets the flag
    before it does)."""
    ready = r'(?s)' + r'worker \d+ ready.*' * workers
    if runner:
        assert srv.wait_log(r'queue runner started'), srv.log_text()
    assert srv.wait_log(ready), srv.log_text()
    out = {'master': proc_status(srv.pid)['NoNewPrivs'], 'runner': None, 'workers': []}
    for pid in sallytest.descendants(srv.pid):
        try:
            flag = proc_status(pid)['NoNewPrivs']
            runner = b'--queue-runner' in cmdline(pid)
        except OSError:
            continue
        if runner:
            out['runner'] = flag
        else:
            out['workers'].append(flag)
    return out


class Privileges(sallytest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('needs root: the tests start sallyport as root')
        self.nobody = pwd.getpwnam('nobody')

    def start_as(self, **overrides):
        """A server started as root with overrides (run_as_root dropped);
        its directory is opened so that the service user reaches the
        queue and the configuration."""
        overrides.setdefault('run_as_root', None)
        srv = sallytest.Server(**overrides)
        os.chmod(srv.dir, 0o755)
        self.addCleanup(self._close_server, srv)
        return srv

    def assert_tree(self, path, uid, gid):
        """path is a 0700 directory owned by uid:gid, and everything in it
        (one level of directories, as the queue is) too, files 0600."""
        st = os.lstat(path)
        self.assertTrue(stat.S_ISDIR(st.st_mode), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700, path)
        self.assertEqual((st.st_uid, st.st_gid), (uid, gid), path)
        for name in os.listdir(path):
            p = os.path.join(path, name)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                self.assert_tree(p, uid, gid)
            else:
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, p)
                self.assertEqual((st.st_uid, st.st_gid), (uid, gid), p)

    def test_user_nobody(self):
        srv = self.start_as(user='nobody', workers='2')
        # A queue left by an earlier run as root: given to the user.
        os.makedirs(os.path.join(srv.queue_dir, 'tmp'), 0o755)
        with open(os.path.join(srv.queue_dir, 'tmp', 'stale'), 'w') as f:
            f.write('left by a crash')
        # ... and a day of TLS-RPT sessions recorded by a runner as root
        os.makedirs(os.path.join(srv.queue_dir, 'tlsrpt'), 0o755)
        day = os.open(os.path.join(srv.queue_dir, 'tlsrpt', '2026-12-01'),
                      os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(day)
        # ... and an entry on hold (a milter's quarantine) written as root
        os.makedirs(os.path.join(srv.queue_dir, 'hold'), 0o755)
        held = os.open(os.path.join(srv.queue_dir, 'hold', '0123456789ABCDEF'),
                       os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(held)
        # ... and an MTA-STS policy it cached
        os.makedirs(os.path.join(srv.queue_dir, 'mta-sts'), 0o755)
        policy = os.open(os.path.join(srv.queue_dir, 'mta-sts', 'example.net'),
                         os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(policy, b'id: 1\nfetched: 1796169600\nversion: STSv1\n'
                 b'mode: enforce\nmx: mx.example.net\nmax_age: 86400\n')
        os.close(policy)
        # ... and the entries' lock file, made by a `--queue` run as root
        lock = os.open(os.path.join(srv.queue_dir, 'lock'),
                       os.O_RDWR | os.O_CREAT, 0o600)
        os.close(lock)
        srv.start()
        st = proc_status(srv.pid)
        uid, gid = self.nobody.pw_uid, self.nobody.pw_gid
        self.assertEqual(st['Uid'], [str(uid)] * 4, st['Uid'])
        self.assertEqual(st['Gid'], [str(gid)] * 4, st['Gid'])
        self.assertNotIn('0', st['Groups'], 'no root supplementary group')
        self.assertEqual(no_new_privs(srv, 2, False)['workers'], [['1']] * 2)
        self.assertTrue(srv.wait_log(r'1 stale spool files removed'), srv.log_text())

        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], MESSAGE)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.wait_queue(queue_id=r.queue_id()), [r.queue_id()])
        self.assert_tree(srv.queue_dir, uid, gid)

    def test_queue_commands_as_root_write_as_the_user(self):
        # `sallyport --queue` run as root changes the queue as its owner:
        # the lock file, a state file, the markers, a bounce's DSN
        # entry all stay the runner's (nobody's) to read and write.
        srv = self.start_as(user='nobody',
                            local_delivery='lmtp:127.0.0.1:%d' % sallytest.free_port())
        srv.start()
        uid, gid = self.nobody.pw_uid, self.nobody.pw_gid
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], MESSAGE)
        self.assertEqual(r.code, 250, r)
        qid = r.queue_id()
        srv.wait_queue(queue_id=qid)

        def queue(*args):
            p = subprocess.run([srv.bin, '--queue'] + list(args) + ['-c', srv.conf_path],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout.decode()

        self.assertEqual(queue('hold', qid), '%s held\n' % qid)
        self.assert_tree(srv.queue_dir, uid, gid)
        queue('release', qid)
        queue('requeue', qid)
        self.assertIn('%s bounced' % qid, queue('bounce', qid))
        [dsn] = srv.queue_names()
        self.assertNotEqual(dsn, qid)
        self.assert_tree(srv.queue_dir, uid, gid)

    def test_queue_chown_gives_away_no_other_file(self):
        # A hard link in the queue to a file of root's (the service user
        # cannot make one under fs.protected_hardlinks; root stands in):
        # the start-up chown, run as root, must leave that file alone.
        srv = self.start_as(user='nobody')
        outside = os.path.join(srv.dir, 'roots-file')
        with open(outside, 'w') as f:
            f.write('root only\n')
        os.chmod(outside, 0o600)
        incoming = os.path.join(srv.queue_dir, 'incoming')
        os.makedirs(incoming, 0o700)
        planted = os.path.join(incoming, '0123456789ABCDEF')
        os.link(outside, planted)
        srv.start()
        st = os.stat(outside)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, 0, 0o600))
        self.assertTrue(srv.wait_log(r'queue: %s is a link or has other hard links: '
                                     r'not given to the service user' % planted),
                        srv.log_text())

    def test_group(self):
        daemon = grp.getgrnam('daemon')
        srv = self.start_as(user='nobody', group='daemon')
        srv.start()
        st = proc_status(srv.pid)
        self.assertEqual(st['Uid'], [str(self.nobody.pw_uid)] * 4)
        self.assertEqual(st['Gid'], [str(daemon.gr_gid)] * 4)
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], MESSAGE)
        self.assertEqual(r.code, 250, r)
        self.assert_tree(srv.queue_dir, self.nobody.pw_uid, daemon.gr_gid)

    def test_no_new_privs_where_nothing_is_run(self):
        # Workers and a runner delivering for itself: set. The master of
        # workers: not, or a runner it restarts could not run qmail-queue.
        srv = self.start_as(user='nobody', delivery='yes', workers='2')
        srv.start()
        self.assertEqual(no_new_privs(srv, 2), {'master': ['0'], 'runner': ['1'],
                                                'workers': [['1'], ['1']]})
        # One process serving the clients itself: set there too.
        one = self.start_as(user='nobody', delivery='yes', workers='1')
        one.start()
        self.assertEqual(no_new_privs(one, 0), {'master': ['1'], 'runner': ['1'],
                                                'workers': []})

    def test_runner_starts_from_a_directory_the_user_cannot_search(self):
        # The master, already the service user, starts the queue runner
        # by exec: from a binary under a directory only root may search
        # (a build in /root, mode 0700 on a fresh Debian) it must still
        # start, as the very program that runs (/proc/self/exe).
        private = tempfile.mkdtemp(prefix='sallytest-private-')
        self.addCleanup(shutil.rmtree, private, True)
        os.chmod(private, 0o700)
        copy = os.path.join(private, 'sallyport')
        shutil.copy2(sallytest.binary(), copy)
        for workers in ('1', '2'):
            with self.subTest(workers=workers):
                srv = self.start_as(user='nobody', delivery='yes', workers=workers)
                srv.bin = copy
                srv.start()
                self.assertTrue(srv.wait_log(r'configuration generation 1 live in .*the runner'),
                                srv.log_text())
                self.assertNotIn('queue runner exited', srv.log_text())

    def test_qmail_queue_runner_may_gain_privileges(self):
        # A set-user-ID qmail-queue needs it in the runner, and so in what
        # starts and restarts the runner: a master that never touches the
        # network, even with workers = 1. Every process that serves a
        # client keeps it.
        for workers in (1, 2):
            with self.subTest(workers=workers):
                srv = self.start_as(user='nobody', delivery='yes', workers=str(workers),
                                    local_delivery='qmail-queue:/bin/true')
                srv.start()
                self.assertEqual(no_new_privs(srv, workers),
                                 {'master': ['0'], 'runner': ['0'],
                                  'workers': [['1']] * workers})
                # Whoever accepts a client: not the master, and flagged.
                for _ in range(4):
                    with sallytest.Client(srv.mx_port) as c:
                        pid = serving_pid(srv, c)
                        self.assertNotEqual(pid, srv.pid, 'the master serves clients')
                        self.assertEqual(proc_status(pid)['NoNewPrivs'], ['1'],
                                         'pid %d serves a client without NoNewPrivs' % pid)
                        c.cmd('QUIT')

    def test_root_without_user_is_refused(self):
        srv = self.start_as()
        p = subprocess.run([srv.bin, '-f', '-c', srv.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, 1, err)
        self.assertIn(REFUSED, err)
        self.assertEqual(os.listdir(srv.queue_dir), [], 'nothing was started')

    def test_unknown_user_or_group_is_an_error(self):
        for overrides in ({'user': 'no-such-user-sallytest'},
                          {'user': 'nobody', 'group': 'no-such-group-sallytest'}):
            with self.subTest(**overrides):
                srv = self.start_as(**overrides)
                p = subprocess.run([srv.bin, '-f', '-c', srv.conf_path],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=30)
                out = p.stdout.decode('utf-8', 'replace')
                self.assertEqual(p.returncode, 1, out)
                self.assertIn('no such', out)

    def test_run_as_root_yes_runs(self):
        srv = self.start_as(run_as_root='yes', workers='2')
        srv.start()
        st = proc_status(srv.pid)
        self.assertEqual(st['Uid'], ['0'] * 4)
        self.assertEqual(no_new_privs(srv, 2, False)['workers'], [['1']] * 2)
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction('sender@example.org', ['user@example.test'], MESSAGE)
        self.assertEqual(r.code, 250, r)


if __name__ == '__main__':
    sallytest.main()
