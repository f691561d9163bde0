"""sallytest - helpers for sallyport's integration tests.

Runs the real daemon on free loopback ports with a temporary configuration
and queue, talks raw SMTP to it, and reads what it committed to the queue.

    class T(sallytest.TestCase):
        def test_x(self):
            srv = self.server(max_recipients=3)     # started, stopped at cleanup
            c = self.client(srv.mx_port)            # greeting already read
            self.assertEqual(c.cmd('EHLO client.example').code, 250)

Every Server has TLS and SMTP AUTH set up: a certificate for
mail.example.test from a throw-away CA (tls_files()), made once per test
process with the openssl command, and a sasldb with the user alice
(sasl_db(); ALICE and PASSWORD are the login). On the submission port a
client starts TLS and logs in before MAIL (TestCase.auth_client does both):

            c = self.auth_client(srv.sub_port)      # EHLO, STARTTLS, EHLO, AUTH
            c = self.client(srv.subs_port, tls=True)   # Server(submissions=True)

The tests are run by automake with SALLYPORT (the binary) and
SALLYPORT_SRCDIR (the source tree) in the environment. Nothing here leaves
127.0.0.0/8 and ::1, and nothing resolves a name: DNS tests run their own
dnsmasq on loopback (Dnsmasq) and point dns_servers at it.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

# The helpers live in modules by job (sallytest_env, _creds, _smtp, _queue,
# _dns); the tests take every name from here: from sallytest import X, or
# sallytest.X.
from sallytest_env import (  # noqa: F401
    CRLF, GREET_TIMEOUT, IO_TIMEOUT, SKIP, LogFile, binary, ephemeral_range, free_port,
    free_udp_port, ipv6_loopback, port_reserved_elsewhere, release_port, srcdir, wait_until,
    within_one_utc_day)
from sallytest_creds import (  # noqa: F401
    ALICE, PASSWORD, SASL_REALM, SERVER_NAME, add_sasl_user, auth_plain, b64,
    make_certificate, sasl_db, tls_context, tls_files)
from sallytest_smtp import REPLY_LINE, Client, Closed, Reply, dot_stuff  # noqa: F401
from sallytest_queue import HEADER_ORDER, QueueEntry, split_received, unfold  # noqa: F401
from sallytest_dns import (  # noqa: F401
    DNS_ZONES, DNSMASQ, SHARED_DNS_HOSTS, SHARED_DNS_MX, Dnsmasq, dns_query,
    shared_dnsmasq, stop_process)

# The master's (or the only process's) lines about a reload: it took the
# file as generation N, or refused it. A worker's or the runner's own lines
# carry their name first.
MASTER_LOADED = r'sallyport: reloaded configuration from \S+ \(generation (\d+)\)'
MASTER_REFUSED = r'sallyport: error: reload failed: keeping'

# Client addresses on loopback: with workers, clients outside mynetworks
# are steered by address, and ten addresses reach every worker of two.
SOURCES = ['127.0.0.%d' % i for i in range(1, 11)]


def worker_of_sessions(log, nworkers):
    """{client address: set of worker indexes}; session ids of worker i
    are i, i + n, i + 2n, ..."""
    seen = {}
    for sid, addr in re.findall(r's=([0-9a-f]+) connect from \[([^\]]+)\]', log):
        seen.setdefault(addr, set()).add(int(sid, 16) % nworkers)
    return seen


# --- the daemon -------------------------------------------------------------

class Server(LogFile):
    """A sallyport daemon on loopback with its own temp dir.

    Server(**overrides): each keyword is a config key whose value (str or
    list of str) replaces the default; None drops the key. The defaults are
    hostname, local_domains, queue_dir, two listen lines (mx and
    submission on free 127.0.0.1 ports), tls_cert and tls_key (tls_files())
    and sasl_sasldb_path (sasl_db()); submissions=True adds a third
    listener, implicit TLS on subs_port, and submission=False drops the
    second (then tls_cert=None is a valid configuration); extra_listen=[...]
    adds listen lines. Use as a context manager or call start()/close()."""

    LOG_NAME = 'daemon'

    def __init__(self, extra_listen=(), submission=True, submissions=False, **overrides):
        self.bin = binary()
        self.dir = tempfile.mkdtemp(prefix='sallytest-')
        self.conf_path = os.path.join(self.dir, 'sallyport.conf')
        self.log_path = os.path.join(self.dir, 'sallyport.log')
        self.queue_dir = os.path.join(self.dir, 'queue')
        os.mkdir(self.queue_dir, 0o700)
        if overrides.get('queue_dir'):
            self.queue_dir = overrides['queue_dir']
        self.extra_listen = list(extra_listen)
        self.submission = submission
        self.submissions = submissions
        self.subs_port = None
        self.overrides = dict(overrides)
        self.proc = None
        self.env = None         # the daemon's environment; None: ours
        self.expect_exit = False
        self.started_once = False
        self._pick_ports()
        self.write_config()

    def _pick_ports(self):
        for name in ('mx_port', 'sub_port') + (('subs_port',) if self.submissions else ()):
            setattr(self, name, free_port())

    # configuration

    def config_values(self, overrides=None):
        _, cert, key = tls_files()
        listen = ['127.0.0.1:%d mx' % self.mx_port]
        if self.submission:
            listen.append('127.0.0.1:%d submission' % self.sub_port)
        if self.submissions:
            listen.append('127.0.0.1:%d submissions' % self.subs_port)
        values = {
            'hostname': SERVER_NAME,
            'local_domains': 'example.test',
            'listen': listen + self.extra_listen,
            'queue_dir': self.queue_dir,
            'tls_cert': cert,
            'tls_key': key,
            'sasl_sasldb_path': sasl_db(),
            # Tests that look at queue_dir/incoming/ must not race the
            # queue runner; delivery tests pass delivery='yes'.
            'delivery': 'no',
            # The MX sinks of the tests are on 127.x.y.z: a laboratory
            # setting (off by default, so loopback MX hosts are ours);
            # test_loops checks the default.
            'mx_allow_loopback': 'yes',
            # sallyport-sendmail's socket: the test's own, not the
            # default under /run that every daemon would share.
            'local_socket': os.path.join(self.dir, 'sendmail.sock'),
            # Tests run as root; the daemon refuses root without this.
            'run_as_root': 'yes' if os.geteuid() == 0 else None,
            # A line is in the file before the reply that follows it is
            # sent, so that a test may read it at once; test_log checks
            # the default, the workers' log threads.
            'log_buffer_size': '0',
        }
        values.update(self.overrides if overrides is None else overrides)
        if 'dns_servers' not in values:
            # Never the system resolver: sender checks ask DNS.
            values['dns_servers'] = shared_dnsmasq().server
        return values

    def config_text(self, overrides=None, extra_lines=()):
        out = ['# written by tests/integration/sallytest.py']
        for key, value in self.config_values(overrides).items():
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                if key == 'listen':
                    out.extend('listen = %s' % v for v in value)
                    continue
                value = ' '.join(value)
            out.append('%s = %s' % (key, value))
        out.extend(extra_lines)
        return '\n'.join(out) + '\n'

    def write_config(self, overrides=None, extra_lines=()):
        with open(self.conf_path, 'w') as f:
            f.write(self.config_text(overrides, extra_lines))

    # process

    def start(self):
        """Start the daemon (again, after stop/kill: same config and queue)
        and wait until the MX port greets."""
        for attempt in range(3):
            self._spawn()
            err = self._wait_ready()
            if err is None:
                self.started_once = True
                # Greeting is one worker; the master says when every
                # process serves (a daemon that cannot, e.g. a runner that
                # keeps failing, is for its test to look at).
                self.wait_log(r'configuration generation \d+ (live|NOT live)',
                              timeout=GREET_TIMEOUT, offset=self.log_offset_at_start)
                return self
            # A port picked by free_port() can be taken before the daemon
            # binds it (parallel tests); pick others, but only on first start.
            if (not self.started_once and attempt < 2
                    and re.search(r'in use', self.log_text(), re.I)):
                self._pick_ports()
                self.write_config()
                continue
            raise AssertionError('%s\n--- daemon log ---\n%s' % (err, self.log_text()))
        raise AssertionError('unreachable')

    def _spawn(self):
        self.log_offset_at_start = self._log_size()
        log = open(self.log_path, 'ab')
        try:
            self.proc = subprocess.Popen([self.bin, '-f', '-c', self.conf_path],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, cwd=self.dir, env=self.env)
        finally:
            log.close()
        self.expect_exit = False

    def _wait_ready(self):
        deadline = time.monotonic() + GREET_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return 'sallyport exited with status %d during start-up' % self.proc.returncode
            try:
                with Client(self.mx_port, timeout=GREET_TIMEOUT) as c:
                    if c.greeting.code != 220:
                        return 'unexpected greeting %r' % c.greeting
                    c.cmd('QUIT')
                    return None
            except (OSError, Closed):
                time.sleep(0.02)
        return 'sallyport did not greet on port %d within %d s' % (self.mx_port, GREET_TIMEOUT)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status (negative: signal)."""
        self.expect_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('sallyport did not exit within %d s of SIGTERM' % timeout)

    def kill(self):
        """SIGKILL the daemon and every process below it (its workers, its
        queue runner), as a crash of the whole service would, and wait;
        returns the pids of those below it."""
        self.expect_exit = True
        kids = descendants(self.proc.pid) if self.running() else []
        if self.running():
            self.proc.kill()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for pid in kids:
            if not wait_until(lambda: not alive(pid), 30):
                raise AssertionError('process %d still alive 30 s after SIGKILL' % pid)
        return kids

    # What a sanitizer build prints when it finds a bug, in the daemon or
    # in its queue runner (both log to the same file).
    SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                       'runtime error:')

    def close(self):
        """Kill the daemon if still running and remove the temp dir. A daemon
        that died on its own (crash, sanitizer report) or whose log holds a
        sanitizer report fails the test: serving one client must never cost
        the others their server."""
        problem = None
        if self.proc is not None:
            died = self.proc.poll() is not None and not self.expect_exit
            if self.running():
                # A clean stop, so that a sanitizer build checks for
                # leaks at exit; SIGKILL only if it does not stop.
                self.expect_exit = True
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            self.proc.wait()
            log = self.log_text() if os.path.exists(self.log_path) else ''
            if died:
                problem = 'sallyport died unexpectedly (status %d)' % self.proc.returncode
            elif any(mark in log for mark in self.SANITIZER_MARKS):
                problem = 'sallyport log holds a sanitizer report'
            if problem:
                self.dump_log(problem)
        if os.environ.get('SALLYTEST_KEEP'):
            sys.stderr.write('sallytest: keeping %s\n' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problem:
            raise AssertionError(problem)

    # reload

    def reload(self, overrides=None, extra_lines=(), timeout=10):
        """Rewrite the config (defaults + overrides, which replace the ones
        given at construction; extra_lines appended verbatim), send SIGHUP and
        wait until the master (or the only process) has settled it: it logs
        that the new generation is live in every process, or that some
        process refused it, or that it refused the file itself. Returns the
        log text written since the signal."""
        offset = self._log_size()
        self.write_config(overrides, extra_lines)
        self.signal(signal.SIGHUP)
        taken = wait_until(lambda: re.search(
            MASTER_LOADED + '|' + MASTER_REFUSED, self.log_text(offset)), timeout)
        if not taken:
            raise AssertionError('no log line about the reload within %d s; log:\n%s'
                                 % (timeout, self.log_text(offset)))
        if taken.group(1):
            gen = taken.group(1)
            if not self.wait_log(r'configuration generation %s (live|NOT live)' % gen,
                                 timeout=timeout, offset=offset):
                raise AssertionError('generation %s not settled within %d s; log:\n%s'
                                     % (gen, timeout, self.log_text(offset)))
        if overrides is not None:
            self.overrides = dict(overrides)
        return self.log_text(offset)

    def generation(self, offset=0):
        """The newest configuration generation the master said is live in
        every process, or 0."""
        found = re.findall(r'configuration generation (\d+) live', self.log_text(offset))
        return max(int(g) for g in found) if found else 0

    # log and queue

    def incoming_dir(self):
        return os.path.join(self.queue_dir, 'incoming')

    def tmp_dir(self):
        return os.path.join(self.queue_dir, 'tmp')

    def _names(self, d):
        try:
            return sorted(n for n in os.listdir(d) if not n.startswith('.'))
        except FileNotFoundError:
            return []

    def queue_names(self):
        return self._names(self.incoming_dir())

    # With queue_commit = journal (the default) an entry's file is written
    # into incoming/ (or hold/) a few ms after its 250, which follows the
    # journal record's fdatasync (doc/queue.md): a test that looks at the
    # queue after a 250 waits for the file with wait_queue.
    QUEUE_WAIT = 10

    def wait_queue(self, n=1, queue_id=None, where='incoming', timeout=QUEUE_WAIT):
        """Wait until queue_dir/WHERE (incoming or hold) holds the entry
        queue_id, or (without one) at least n entries; returns the sorted
        names there. Fails after timeout seconds saying what is missing."""
        d = os.path.join(self.queue_dir, where)
        if queue_id is not None:
            if wait_until(lambda: os.path.exists(os.path.join(d, queue_id)), timeout):
                return self._names(d)
            raise AssertionError('no entry %s in %s/ within %d s; there: %r'
                                 % (queue_id, where, timeout, self._names(d)))
        names = wait_until(lambda: len(self._names(d)) >= n and self._names(d), timeout)
        if names and len(names) >= n:
            return names
        raise AssertionError('%s/ holds %d entries, not %d, after %d s: %r'
                             % (where, len(self._names(d)), n, timeout, self._names(d)))

    def tmp_names(self):
        return self._names(self.tmp_dir())

    def queue_entries(self):
        """Every committed entry in incoming/, parsed, sorted by name."""
        return [QueueEntry(os.path.join(self.incoming_dir(), n)) for n in self.queue_names()]

    def runner_took(self, queue_id):
        """The queue runner has logged an outcome for entry queue_id, so
        the entry was in incoming/: with queue_commit = journal its file
        comes after the 250, and its absence alone proves nothing."""
        return re.search(r'\bid=%s (to=<|removed:)' % re.escape(queue_id), self.log_text())

    def delivered_all(self):
        """incoming/ is empty and the runner took every message this
        daemon accepted (runner_took): nothing is left to deliver."""
        accepted = re.findall(r'\bid=(\w+) accepted:', self.log_text())
        return all(self.runner_took(q) for q in accepted) and not self.queue_names()

    def queue_entry(self, queue_id, where='incoming'):
        """Entry queue_id, parsed, once its file is in WHERE (wait_queue)."""
        self.wait_queue(queue_id=queue_id, where=where)
        return QueueEntry(os.path.join(self.queue_dir, where, queue_id))


# --- real client programs -----------------------------------------------------

def client_env(tmpdir):
    """Environment for client programs (swaks, curl, openssl): no proxies,
    and swaks gets a Sys::Hostname that answers "localhost", so it does not
    resolve this machine's name (which could go to DNS)."""
    env = {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}
    libdir = os.path.join(tmpdir, 'perl5')
    os.makedirs(os.path.join(libdir, 'Sys'), exist_ok=True)
    with open(os.path.join(libdir, 'Sys', 'Hostname.pm'), 'w') as f:
        f.write('package Sys::Hostname;\n'
                '# sallyport tests: never look up the real host name\n'
                'use Exporter qw(import);\n'
                'our @EXPORT = qw(hostname);\n'
                'sub hostname { return "localhost"; }\n'
                '1;\n')
    env['PERL5LIB'] = libdir + (':' + env['PERL5LIB'] if env.get('PERL5LIB') else '')
    return env


def maildir_messages(maildir, n=1, timeout=10):
    """The contents of the files in maildir's new/ once there are n
    (fewer after timeout: the caller asserts), oldest name first."""
    new = os.path.join(maildir, 'new')

    def names():
        try:
            return sorted(os.listdir(new))
        except FileNotFoundError:
            return []
    wait_until(lambda: len(names()) >= n, timeout)
    out = []
    for name in names():
        with open(os.path.join(new, name), 'rb') as f:
            out.append(f.read())
    return out


# --- shared by the load and crash tests ---------------------------------------

def pump(sel, pending, done, deadline):
    """Read from the registered sockets until done(conn) holds for every
    conn in pending (a set, emptied as they finish) or the deadline passes."""
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            conn = key.data
            try:
                chunk = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                conn.error = e
                chunk = b''
            if chunk:
                conn.buf += chunk
            else:
                conn.eof = True
                sel.unregister(conn.sock)
            if conn in pending and (conn.eof or done(conn)):
                pending.discard(conn)
                if not conn.eof:
                    sel.unregister(conn.sock)


def alive(pid):
    """True while any thread of process pid is not yet dead. Its first
    thread turns zombie as soon as it exits, while the others may still be
    exiting and holding the process's descriptors (and the locks on them:
    a killed worker's journal lock outlived its zombie first thread)."""
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return False
    for tid in tids:
        try:
            with open('/proc/%d/task/%s/stat' % (pid, tid)) as f:
                if f.read().split(')')[-1].split()[0] not in ('Z', 'X'):
                    return True
        except OSError:
            continue
    return False


def queue_runners(pid):
    """The queue runner processes below pid (normally one)."""
    found = []
    for kid in descendants(pid):
        try:
            with open('/proc/%d/cmdline' % kid, 'rb') as f:
                if b'--queue-runner' in f.read():
                    found.append(kid)
        except OSError:
            continue
    return found


def descendants(pid):
    """Every process below pid (from /proc/PID/task/*/children)."""
    found = []
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return found
    for tid in tasks:
        try:
            with open('/proc/%d/task/%s/children' % (pid, tid)) as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for k in kids:
            found.append(k)
            found.extend(descendants(k))
    return found


# --- test case base -----------------------------------------------------------

class TestCase(unittest.TestCase):
    """unittest.TestCase with servers and clients that clean up after
    themselves; a failing test prints the tail of its daemons' logs."""

    def server(self, **kw):
        srv = Server(**kw)
        self.addCleanup(self._close_server, srv)
        srv.start()
        return srv

    def _close_server(self, srv):
        outcome = getattr(self, '_outcome', None)
        if outcome is not None and not getattr(outcome, 'success', True) and srv.proc:
            srv.dump_log('%s failed' % self.id())
        srv.close()

    def need(self, program):
        """The path of a client program; a missing one skips the test, unless
        SALLYPORT_REQUIRE_CLIENTS is set (contrib/install-deps installs them
        all, so they run in CI)."""
        path = shutil.which(program)
        if path:
            return path
        if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
            self.fail('%s is required (SALLYPORT_REQUIRE_CLIENTS is set) but missing' % program)
        self.skipTest('%s is not installed (contrib/install-deps installs it)' % program)

    def run_client(self, argv, cwd, status=0, timeout=60, input=None):
        """Run a client program in cwd with client_env(cwd), input (bytes)
        on its stdin or none; returns its output (stdout and stderr).
        status=None accepts any exit status."""
        stdin = {'input': input} if input is not None else {'stdin': subprocess.DEVNULL}
        p = subprocess.run(argv, env=client_env(cwd), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, cwd=cwd, **stdin)
        out = p.stdout.decode('utf-8', 'replace')
        if status is not None:
            self.assertEqual(p.returncode, status, '%s exited %d:\n%s'
                             % (' '.join(argv), p.returncode, out))
        return out

    def dnsmasq(self, **kw):
        """A started Dnsmasq(**kw), stopped at cleanup."""
        dns = Dnsmasq(**kw)
        dns.start()
        self.addCleanup(dns.close)
        return dns

    def client(self, port, **kw):
        c = Client(port, **kw)
        self.addCleanup(c.close)
        return c

    def ehlo_client(self, port, name='client.example', **kw):
        c = self.client(port, **kw)
        r = c.cmd('EHLO ' + name)
        self.assertEqual(r.code, 250, r)
        return c

    def auth_client(self, port, user=None, password=PASSWORD, name='client.example', **kw):
        """A client logged in and ready for MAIL: EHLO, STARTTLS (unless
        tls=True: implicit TLS), EHLO again, AUTH PLAIN (default: alice)."""
        c = self.ehlo_client(port, name, **kw)
        if not c.tls:
            c.starttls()
            r = c.cmd('EHLO ' + name)
            self.assertEqual(r.code, 250, r)
        r = c.auth(user, password)
        self.assertEqual(r.last, '235 2.7.0 Authentication successful', r)
        return c


def main():
    """unittest.main, with automake's exit status: 77 when every test was
    skipped, 1 on any failure, else 0."""
    prog = unittest.main(module='__main__', exit=False)
    result = prog.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun > 0 and len(result.skipped) == result.testsRun:
        sys.exit(SKIP)
    sys.exit(0)


__all__ = ['Client', 'Closed', 'Dnsmasq', 'QueueEntry', 'Reply', 'Server', 'TestCase',
           'add_sasl_user', 'auth_plain', 'b64', 'binary', 'client_env', 'dns_query', 'dot_stuff',
           'ephemeral_range', 'free_port', 'free_udp_port', 'ipv6_loopback', 'main',
           'maildir_messages', 'make_certificate', 'port_reserved_elsewhere', 'release_port', 'sasl_db',
           'split_received', 'srcdir', 'tls_context', 'tls_files', 'unfold', 'wait_until',
           'within_one_utc_day',
           'ALICE', 'PASSWORD', 'SASL_REALM', 'SERVER_NAME', 'SKIP', 'CRLF', 'HEADER_ORDER']
