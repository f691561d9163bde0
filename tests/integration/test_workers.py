"""workers = N: several processes on one set of ports, one client address
always on the same worker, reload and shutdown through the master, a dead
worker replaced, mail from every worker reaching the queue runner."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import sallytest

UNTRUSTED = '192.0.2.0/24'
SOURCES = sallytest.SOURCES
MESSAGE = b'Subject: from a worker\r\n\r\nhello\r\n'


def parent(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().split(')')[-1].split()[1])
    except OSError:
        return None


def worker_pids(srv):
    """The master's worker children (not the queue runner)."""
    pids = []
    for pid in sallytest.descendants(srv.pid):
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmd = f.read()
        except OSError:
            continue
        if b'--queue-runner' not in cmd and parent(pid) == srv.pid:
            pids.append(pid)
    return pids


worker_of_sessions = sallytest.worker_of_sessions


def default_workers():
    """What workers = 0 gives this process's children: one per two CPUs
    they may run on, at least one, at most 64."""
    return min(64, max(1, len(os.sched_getaffinity(0)) // 2))


@contextlib.contextmanager
def pinned(cpus):
    """Children started inside run on these CPUs only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class Workers(sallytest.TestCase):

    def server(self, **kw):
        kw.setdefault('workers', '2')
        return super().server(**kw)

    def greet_all(self, srv, times=1):
        for source in SOURCES * times:
            with self.client(srv.mx_port, source=source) as c:
                self.assertEqual(c.greeting.code, 220)
                c.cmd('QUIT')

    def default_on_two_cpus(self):
        """The daemon with workers = 0, the default, pinned to at most two
        CPUs: one worker under a master, whatever the machine."""
        with pinned(sorted(os.sched_getaffinity(0))[:2]):
            return self.server(workers=None)

    def test_default_master_replaces_its_worker(self):
        # workers = 0, the default, on two CPUs (or one): one worker, under
        # a master all the same, which replaces it should it die and goes
        # on itself.
        srv = self.default_on_two_cpus()
        # The worker may greet before the master has logged "ready as".
        self.assertTrue(sallytest.wait_until(
            lambda: 'with 1 worker' in srv.log_text(), 10), srv.log_text())
        kids = sallytest.descendants(srv.pid)
        self.assertEqual(len(kids), 1, kids)
        offset = srv._log_size()
        os.kill(kids[0], signal.SIGKILL)
        self.assertTrue(sallytest.wait_until(
            lambda: re.search(r'worker 0 ready', srv.log_text(offset)), 15),
            srv.log_text(offset))
        self.assertTrue(sallytest.alive(srv.pid))
        with self.client(srv.mx_port) as c:
            self.assertEqual(c.greeting.code, 220)
            c.cmd('QUIT')

    def test_reload_to_one_process_says_it_waits_for_a_restart(self):
        # workers = 0 and workers = 1 give one worker on two CPUs, but
        # not the same processes (a master, or none): the change is for
        # the next start, and the reload says so.
        srv = self.default_on_two_cpus()
        log = srv.reload({'workers': '1'})
        self.assertIn('reload: workers or local_delivery changed whether a master process '
                      'runs over the worker; it takes effect at the next restart', log)
        log = srv.reload({'workers': None})
        self.assertNotIn('changed', log)

    def test_master_and_workers_are_processes(self):
        srv = self.server()
        self.assertIn('with 2 workers', srv.log_text())
        self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 2, 5),
                        sallytest.descendants(srv.pid))
        self.assertEqual(srv.log_text().count('listening on 127.0.0.1:%d mx' % srv.mx_port),
                         1)

    def test_processes_and_threads_say_what_they_are(self):
        # ps and pgrep see "sallyport" for every process (the runner,
        # started as /proc/self/exe, would be "exe"); top -H its threads
        # by their job.
        def comm(pid, tid=None):
            path = '/proc/%d/task/%d/comm' % (pid, tid) if tid else '/proc/%d/comm' % pid
            with open(path) as f:
                return f.read().strip()

        def threads(pid):
            return sorted(comm(pid, int(t)) for t in os.listdir('/proc/%d/task' % pid))

        srv = self.server(log_buffer_size='1M', delivery='yes')
        self.assertTrue(srv.wait_log(r'queue runner started'), srv.log_text())
        self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 2, 5))
        runners = sallytest.queue_runners(srv.pid)
        self.assertEqual(len(runners), 1, sallytest.descendants(srv.pid))
        for pid in [srv.pid, runners[0]] + worker_pids(srv):
            self.assertEqual(comm(pid), 'sallyport', pid)
        # The master forks workers that go on without exec: a thread of
        # its own could hold a lock at the fork, locked in the worker for
        # ever. It has none.
        self.assertEqual(threads(srv.pid), ['sallyport'])
        for pid in worker_pids(srv):
            self.assertTrue(sallytest.wait_until(
                lambda: {'sp-journal', 'sp-writeout', 'sp-log'} <= set(threads(pid)), 5),
                threads(pid))
        self.assertIn('sp-log', threads(runners[0]))

    def test_one_client_address_meets_one_worker(self):
        srv = self.server(mynetworks=UNTRUSTED)
        self.greet_all(srv, times=3)
        seen = sallytest.wait_until(
            lambda: len(worker_of_sessions(srv.log_text(), 2)) == len(SOURCES) and
            worker_of_sessions(srv.log_text(), 2), 5)
        self.assertTrue(seen, srv.log_text())
        for addr, workers in seen.items():
            self.assertEqual(len(workers), 1, '%s served by workers %s' % (addr, workers))
        # Ten addresses: both workers get some.
        self.assertEqual(set().union(*seen.values()), {0, 1}, seen)

    def test_clients_of_the_start_up_meet_their_worker_too(self):
        # A socket joins its reuseport group at listen(), and the steering
        # comes once every socket listens: a client that connects in
        # between waits on whichever socket the kernel found. strace holds
        # each listen() for a second, so that these clients surely do; each
        # must be served by the worker its address meets ever after. ::1,
        # counted whole (prefix 128), is steered to worker 1 of 2 and so
        # checks the IPv6 side too.
        strace = self.need('strace')
        if subprocess.run([strace, '-D', '-o', '/dev/null', 'true'],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
            self.skipTest('strace cannot trace here')
        srv = sallytest.Server(workers='2', mynetworks=UNTRUSTED, submission=False,
                               ipv6_client_prefix='128')
        self.addCleanup(self._close_server, srv)
        slow = os.path.join(srv.dir, 'slow-listen')
        with open(slow, 'w') as f:
            f.write('#!/bin/sh\nexec %s -D -o /dev/null -e trace=listen '
                    '-e inject=listen:delay_exit=1000000 %s "$@"\n' % (strace, srv.bin))
        os.chmod(slow, 0o755)
        srv.bin = slow

        def connect(source, host, port):
            while True:
                s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
                s.bind((source, 0))
                # Before anything listens, a client whose ephemeral port is
                # the listener's would meet itself (a TCP simultaneous
                # open) and, closed, hold the port in TIME_WAIT where the
                # daemon is about to bind: never connect from it.
                if s.getsockname()[1] == port:
                    s.close()
                    continue
                s.settimeout(sallytest.GREET_TIMEOUT)
                if s.connect_ex((host, port)) == 0:
                    return s
                s.close()
                if srv.proc.poll() is not None:
                    return None
                time.sleep(0.01)

        for attempt in range(3):
            clients = [(source, '127.0.0.1', srv.mx_port) for source in SOURCES]
            srv.extra_listen = []
            if sallytest.ipv6_loopback():
                port6 = sallytest.free_port('::1')
                clients.append(('::1', '::1', port6))
                srv.extra_listen.append('[::1]:%d mx' % port6)
            srv.write_config()
            srv._spawn()
            early = []
            for c in clients:
                s = connect(*c)
                if s is None:
                    break
                early.append(s)
            greeted = 0
            for s in early:
                with s, s.makefile('rb') as f:
                    try:
                        if not f.readline().startswith(b'220 '):
                            continue
                        s.sendall(b'QUIT\r\n')
                        if f.readline().startswith(b'221 '):
                            greeted += 1
                    except OSError:
                        pass
            if greeted == len(clients):
                break
            # Daemon gone: a port free_port() found was taken by a parallel
            # test before the daemon bound it.
            self.assertTrue(sallytest.wait_until(lambda: srv.proc.poll() is not None, 5) and
                            attempt < 2 and re.search(r'in use', srv.log_text(), re.I),
                            srv.log_text())
            srv._pick_ports()
        for source, host, port in clients:
            with self.client(port, host=host, source=source) as c:
                self.assertEqual(c.greeting.code, 220)
                c.cmd('QUIT')
        seen = sallytest.wait_until(
            lambda: len(re.findall(r's=[0-9a-f]+ connect from ', srv.log_text())) ==
            2 * len(clients) and worker_of_sessions(srv.log_text(), 2), 5)
        self.assertTrue(seen, srv.log_text())
        self.assertEqual(len(seen), len(clients), seen)
        for addr, workers in seen.items():
            self.assertEqual(len(workers), 1, '%s served by workers %s' % (addr, workers))
        self.assertEqual(set().union(*seen.values()), {0, 1}, seen)

    def test_trusted_clients_are_spread(self):
        # mynetworks has no per-address limit to keep: even one address
        # gets every worker (a local relay, a benchmark).
        srv = self.server(mynetworks='127.0.0.0/8')
        for _ in range(40):
            with self.client(srv.mx_port) as c:
                self.assertEqual(c.greeting.code, 220)
                c.cmd('QUIT')
        seen = worker_of_sessions(srv.log_text(), 2)
        self.assertEqual(seen.get('127.0.0.1'), {0, 1}, seen)

    def test_steering_follows_a_reload_of_mynetworks(self):
        srv = self.server(mynetworks='127.0.0.0/8')
        srv.reload({'mynetworks': UNTRUSTED})
        offset = srv._log_size()
        for _ in range(20):
            with self.client(srv.mx_port) as c:
                self.assertEqual(c.greeting.code, 220)
                c.cmd('QUIT')
        seen = worker_of_sessions(srv.log_text(offset), 2)
        self.assertEqual(len(seen.get('127.0.0.1', ())), 1, seen)

    def test_ipv6_clients_are_steered_too(self):
        if not sallytest.ipv6_loopback():
            self.skipTest('no IPv6 loopback here')
        port = sallytest.free_port('::1')
        for mynetworks, workers in (('::1/128', 2), ('2001:db8::/32', 1)):
            srv = self.server(mynetworks=mynetworks,
                              extra_listen=['[::1]:%d mx' % port])
            for _ in range(30):
                with self.client(port, host='::1') as c:
                    self.assertEqual(c.greeting.code, 220)
                    c.cmd('QUIT')
            seen = worker_of_sessions(srv.log_text(), 2)
            self.assertEqual(len(seen.get('::1', ())), workers, (mynetworks, seen))
            srv.stop()

    def test_per_address_limit_holds_across_workers(self):
        srv = self.server(max_connections_per_ip='3', mynetworks=UNTRUSTED)
        held = [self.client(srv.mx_port, source='127.0.0.2') for _ in range(3)]
        for c in held:
            self.assertEqual(c.greeting.code, 220)
        fourth = self.client(srv.mx_port, source='127.0.0.2')
        self.assertEqual(fourth.greeting.code, 421)
        self.assertTrue(fourth.closed())
        # Other addresses, on either worker, are not affected.
        for source in SOURCES[3:]:
            with self.client(srv.mx_port, source=source) as c:
                self.assertEqual(c.greeting.code, 220)

    def test_mail_through_every_worker_is_queued(self):
        srv = self.server(mynetworks=UNTRUSTED)
        ids = set()
        for source in SOURCES:
            with self.client(srv.mx_port, source=source) as c:
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                r = c.transaction('sender@example.org', ['user@example.test'], MESSAGE)
                self.assertEqual(r.code, 250, r)
                ids.add(r.queue_id())
                c.cmd('QUIT')
        self.assertEqual(len(ids), len(SOURCES))
        self.assertEqual(set(srv.wait_queue(len(ids))), ids)
        self.assertEqual(set().union(*worker_of_sessions(srv.log_text(), 2).values()),
                         {0, 1})

    def test_reload_reaches_every_worker(self):
        srv = self.server(mynetworks=UNTRUSTED)
        log = srv.reload({'mynetworks': UNTRUSTED,
                          'local_domains': 'example.test new.example'})
        self.assertIn('configuration generation 2 live in all 2 workers', log)
        for source in SOURCES:
            with self.client(srv.mx_port, source=source) as c:
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
                self.assertEqual(c.cmd('RCPT TO:<user@new.example>').code, 250, source)

    def test_bad_reload_reaches_no_worker(self):
        srv = self.server(mynetworks=UNTRUSTED)
        log = srv.reload({'mynetworks': UNTRUSTED, 'local_domains': 'other.example'},
                         extra_lines=['max_recipients = banana'])
        self.assertIn('reload failed', log)
        self.assertNotIn('reloaded configuration', log)
        for source in SOURCES:
            with self.client(srv.mx_port, source=source) as c:
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
                self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)

    def test_dead_worker_is_replaced(self):
        srv = self.server()
        self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 2, 5))
        victim = worker_pids(srv)[0]
        offset = srv._log_size()
        os.kill(victim, signal.SIGKILL)
        self.assertTrue(srv.wait_log(r'killed by signal 9; restarting it', offset=offset))
        self.assertTrue(srv.wait_log(r'worker \d ready', offset=offset))
        pids = worker_pids(srv)
        self.assertEqual(len(pids), 2)
        self.assertNotIn(victim, pids)
        self.greet_all(srv)
        self.assertTrue(srv.running())

    def test_replaced_workers_serve_the_same_addresses(self):
        # A worker started again holds the same place in its reuseport
        # groups (the master keeps every socket open), so the same
        # addresses reach it; and its session ids, a range of their own,
        # still say which worker it is (i, i + n, ...). Three workers, n
        # not a power of two, all killed and replaced.
        srv = self.server(workers='3', mynetworks=UNTRUSTED)
        self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 3, 5))
        self.greet_all(srv)
        # Each greeting came after its session's "connect" line.
        before = worker_of_sessions(srv.log_text(), 3)
        offset = srv._log_size()
        for pid in worker_pids(srv):
            os.kill(pid, signal.SIGKILL)
        self.assertTrue(sallytest.wait_until(
            lambda: len(re.findall(r'worker \d ready', srv.log_text(offset))) == 3, 30),
            srv.log_text(offset))
        self.greet_all(srv)
        after = worker_of_sessions(srv.log_text(offset), 3)
        self.assertEqual(len(after), len(SOURCES), after)
        self.assertEqual(after, before)

    def test_sigterm_stops_master_and_workers(self):
        srv = self.server()
        self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 2, 5))
        pids = worker_pids(srv)
        # A session in DATA may finish: committed (250) or refused, never
        # half-stored.
        c = self.client(srv.mx_port, source='127.0.0.3')
        self.assertEqual(c.cmd('EHLO client.example').code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: interrupted\r\n\r\nfirst half\r\n')
        srv.signal(signal.SIGTERM)
        srv.expect_exit = True
        reply = None
        try:
            c.send(b'second half\r\n.\r\n')
            reply = c.reply()
        except (sallytest.Closed, ConnectionError):
            pass
        self.assertEqual(srv.stop(), 0)
        for pid in pids:
            self.assertTrue(sallytest.wait_until(lambda: not sallytest.alive(pid), 5), pid)
        self.assertEqual(srv.tmp_names(), [])
        self.assertEqual(len(srv.queue_names()),
                         1 if reply is not None and reply.code == 250 else 0)

    def test_killed_master_takes_its_workers(self):
        srv = self.server()
        self.assertTrue(sallytest.wait_until(lambda: len(worker_pids(srv)) == 2, 5))
        pids = worker_pids(srv)
        srv.expect_exit = True
        srv.proc.kill()                 # the master alone
        srv.proc.wait()
        for pid in pids:
            self.assertTrue(sallytest.wait_until(lambda: not sallytest.alive(pid), 10), pid)


class Daemon(sallytest.TestCase):
    """Without -f: detached, logging to syslog; found again by its
    configuration file on the command line."""

    def started_processes(self, conf):
        found = []
        for name in os.listdir('/proc'):
            if not name.isdigit():
                continue
            try:
                with open('/proc/%s/cmdline' % name, 'rb') as f:
                    cmd = f.read().split(b'\0')
            except OSError:
                continue
            if conf.encode() in cmd and sallytest.alive(int(name)):
                found.append(int(name))
        return found

    def check_daemon(self, workers, nworkers=None):
        srv = sallytest.Server(workers=workers)
        self.addCleanup(srv.close)
        srv.write_config()
        p = subprocess.run([srv.bin, '-c', srv.conf_path], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.addCleanup(self.kill_all, srv.conf_path)
        self.assertTrue(sallytest.wait_until(
            lambda: self.greets(srv.mx_port), 10), 'the daemon does not greet')
        pids = self.started_processes(srv.conf_path)
        # The daemon, plus its workers when there are several (or when
        # the daemon chose how many).
        if nworkers is None:
            nworkers = int(workers)
        self.assertEqual(len(pids), 1 if workers == '1' else 1 + nworkers, pids)
        # SIGTERM to the first (the daemon, or the master, which passes it
        # on): every process goes.
        top = [pid for pid in pids if parent(pid) not in pids]
        self.assertEqual(len(top), 1, pids)
        os.kill(top[0], signal.SIGTERM)
        for pid in pids:
            self.assertTrue(sallytest.wait_until(lambda: not sallytest.alive(pid), 15), pid)

    def kill_all(self, conf):
        for pid in self.started_processes(conf):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def greets(self, port):
        try:
            with sallytest.Client(port, timeout=2) as c:
                ok = c.greeting.code == 220
                c.cmd('QUIT')
                return ok
        except (OSError, sallytest.Closed):
            return False

    def test_daemon_one_process(self):
        self.check_daemon('1')

    def test_daemon_with_workers(self):
        self.check_daemon('2')

    def test_default_is_a_master_with_one_worker_per_two_cpus(self):
        # workers = 0, the default: one worker per two online CPUs (at
        # least one), under a master even when that makes one.
        self.check_daemon(None, nworkers=default_workers())

class EarlySignals(sallytest.TestCase):

    def test_sighup_at_once_after_start_kills_nothing(self):
        # A reload passed on while workers and the runner are still
        # setting up waits for them instead of killing them.
        mailroot = tempfile.mkdtemp(prefix='sallytest-workers-')
        self.addCleanup(shutil.rmtree, mailroot, True)
        srv = sallytest.Server(workers='2', delivery='yes', mailbox_users='user',
                               local_delivery='maildir:%s/%%d/%%u/Maildir' % mailroot)
        self.addCleanup(srv.close)
        srv.write_config()
        srv._spawn()
        # From the moment the daemon has read its configuration (a signal
        # before that finds the process still loading).
        self.assertTrue(srv.wait_log(r'queue .* entries'), srv.log_text())
        for _ in range(20):
            srv.signal(signal.SIGHUP)
            time.sleep(0.005)
        self.assertIsNone(srv._wait_ready())
        time.sleep(1)
        self.assertNotIn('killed by signal', srv.log_text())
        self.assertNotIn('exited with status', srv.log_text())
        self.assertTrue(srv.running())


class WorkersDeliver(sallytest.TestCase):

    def test_new_mail_from_every_worker_reaches_the_runner(self):
        mailroot = tempfile.mkdtemp(prefix='sallytest-workers-')
        self.addCleanup(shutil.rmtree, mailroot, True)
        srv = self.server(workers='2', delivery='yes', mailbox_users='user',
                          local_delivery='maildir:%s/%%d/%%u/Maildir' % mailroot)
        for source in SOURCES:
            with self.client(srv.mx_port, source=source) as c:
                self.assertEqual(c.cmd('EHLO client.example').code, 250)
                r = c.transaction('sender@example.org', ['user@example.test'], MESSAGE)
                self.assertEqual(r.code, 250, r)
                c.cmd('QUIT')
        new = os.path.join(mailroot, 'example.test', 'user', 'Maildir', 'new')
        # Well before the runner's once-a-minute rescan: each worker told it.
        self.assertTrue(sallytest.wait_until(
            lambda: os.path.isdir(new) and len(os.listdir(new)) == len(SOURCES), 20),
            srv.log_text())


if __name__ == '__main__':
    sallytest.main()
