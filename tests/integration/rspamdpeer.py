"""rspamdpeer - Debian's rspamd, run privately by a test as a milter.

    dns = self.dnsmasq(zones=('#',))       # every name answered on loopback
    with Rspamd(dns.server) as rs:          # or MilterTestCase.rspamd()
        srv = self.server(milter='rspamd ' + rs.address)

The packaged rules ($CONFDIR/common.conf: the modules, scores and
actions rspamd ships) with a configuration of our own around them, in a
temporary directory:

  - a normal worker (the scanner) and the proxy worker in milter mode
    (milter = yes, as in the packaged worker-proxy.inc) that hands each
    message to it, both on free 127.0.0.1 ports; no controller, no fuzzy
    storage;
  - no Redis (the modules that need it turn themselves off);
  - its resolver is the test's loopback DNS only, so no lookup leaves the
    machine (the DNS-based modules, SPF, DKIM, the RBLs, see NXDOMAIN);
  - the milter headers a user would look at (X-Spamd-Result,
    X-Rspamd-Server, X-Rspamd-Queue-Id, Authentication-Results);
  - hyperscan off, so that start-up does not compile the regexp cache
    (slow on a busy machine and per test, as each has its own dir).

As root the workers run as Debian's _rspamd user (rspamd refuses root
workers) and the directory is theirs; as another user they run as that
user. Readiness is when the normal worker answers /ping and the proxy
answers a milter option negotiation: never a fixed sleep.
"""

import os
import pwd
import socket
import struct
import subprocess
import tempfile
import time

from milterpeer import PeerProcess
from sallytest_env import free_port

RSPAMD = '/usr/bin/rspamd'
CONFDIR = '/etc/rspamd'
RSPAMD_USER = '_rspamd'
START_TIMEOUT = 180   # rspamd loads every Lua module before it serves
REJECT_MESSAGE = 'Spam message rejected by rspamd'


def milter_optneg(port, timeout=2.0):
    """True when a milter on 127.0.0.1:port answers SMFIC_OPTNEG."""
    # version 6, every action, no protocol step skipped
    body = b'O' + struct.pack('!III', 6, 0x1ff, 0)
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
            s.sendall(struct.pack('!I', len(body)) + body)
            head = b''
            while len(head) < 5:
                got = s.recv(5 - len(head))
                if not got:
                    return False
                head += got
            # a quit, so that the milter does not wait for us
            s.sendall(struct.pack('!I', 1) + b'Q')
            return head[4:5] == b'O'
    except OSError:
        return False


def http_ping(port, timeout=2.0):
    """True when an rspamd worker on 127.0.0.1:port answers /ping."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
            s.sendall(b'GET /ping HTTP/1.0\r\n\r\n')
            data = b''
            while True:
                got = s.recv(4096)
                if not got:
                    break
                data += got
            return data.startswith(b'HTTP/1.') and b' 200 ' in data.split(b'\r\n', 1)[0]
    except OSError:
        return False


class Rspamd(PeerProcess):
    """rspamd as a milter on 127.0.0.1:milter_port; dns_server is
    "127.0.0.1:PORT". local={name: text} adds files to its local.d/ (the
    place an admin's settings go, e.g. {'actions.conf': 'reject = 10;'})."""

    # SIGTERM: its main process stops the workers, so the milter port is
    # closed when stop() returns.
    STOP_TIMEOUT = 60

    def __init__(self, dns_server, local=None, reject_message=REJECT_MESSAGE):
        self.dns_server = dns_server
        self.local = dict(local or {})
        self.reject_message = reject_message
        # Its own dir under /tmp, not under the test's (0700, root's):
        # the workers may run as _rspamd.
        self.dir = tempfile.mkdtemp(prefix='sallytest-rspamd-')
        self.conf = os.path.join(self.dir, 'rspamd.conf')
        self.log_path = os.path.join(self.dir, 'log', 'rspamd.log')
        self.out_path = os.path.join(self.dir, 'stdout.log')
        self.proc = None
        self.milter_port = self.normal_port = None

    @property
    def address(self):
        """The milter's address as sallyport's milter key takes it."""
        return 'inet:127.0.0.1:%d' % self.milter_port

    def write_config(self):
        for sub in ('local.d', 'db', 'run', 'log'):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        local = {
            'milter_headers.conf': (
                '# the headers an admin reads to see what rspamd did\n'
                'use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id",\n'
                '       "authentication-results", "x-spam-level"];\n'
                'skip_local = false;\nskip_authenticated = false;\n'),
            # its servers are on the Internet (and their names are looked
            # up with the system's resolver when the module loads)
            'fuzzy_check.conf': 'enabled = false;\n',
        }
        local.update(self.local)
        for name, content in local.items():
            with open(os.path.join(self.dir, 'local.d', name), 'w') as f:
                f.write(content)
        with open(self.conf, 'w') as f:
            f.write('''# written by tests/integration/rspamdpeer.py
.include "$CONFDIR/common.conf"

options {
    # options.inc's, less its resolver, its hyperscan cache and its
    # local networks
    pidfile = "$RUNDIR/rspamd.pid";
    dns {
        nameserver = ["%(dns)s"];
        timeout = 1s;
        retransmits = 1;
    }
    url_tld = "${SHAREDIR}/effective_tld_names.dat";
    cache_file = "$DBDIR/symbols.cache";
    control_socket = "$DBDIR/rspamd.sock mode=0600";
    history_file = "$DBDIR/rspamd.history";
    stats_file = "${DBDIR}/stats.ucl";
    dynamic_conf = "$DBDIR/rspamd_dynamic";
    tempdir = "$DBDIR";
    explicit_modules = ["settings", "bayes_expiry"];
    disable_hyperscan = true;
    # the test's client is on loopback; scan it as the outside
    local_addrs = [];
}

logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "info";
}

worker "normal" {
    bind_socket = "127.0.0.1:%(normal)d";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}

worker "rspamd_proxy" {
    # worker-proxy.inc's settings, with the scanner's port
    bind_socket = "127.0.0.1:%(milter)d";
    milter = yes;
    timeout = 120s;
    upstream "local" {
        default = yes;
        self_scan = no;
        hosts = "127.0.0.1:%(normal)d";
    }
    count = 1;
    max_retries = 5;
    discard_on_reject = false;
    quarantine_on_reject = false;
    spam_header = "X-Spam";
    reject_message = "%(reject)s";
}
''' % {'dns': self.dns_server, 'normal': self.normal_port, 'milter': self.milter_port,
                'reject': self.reject_message})
        if os.geteuid() == 0:
            pw = pwd.getpwnam(RSPAMD_USER)
            for root, dirs, files in os.walk(self.dir):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.chown(name, pw.pw_uid, pw.pw_gid)

    def argv(self):
        args = [RSPAMD, '-f', '-c', self.conf,
                '--var', 'CONFDIR=' + CONFDIR,
                '--var', 'LOCAL_CONFDIR=' + self.dir,
                '--var', 'DBDIR=' + os.path.join(self.dir, 'db'),
                '--var', 'RUNDIR=' + os.path.join(self.dir, 'run'),
                '--var', 'LOGDIR=' + os.path.join(self.dir, 'log')]
        if os.geteuid() == 0:
            args += ['-u', RSPAMD_USER, '-g', RSPAMD_USER]
        return args

    def start(self):
        if not os.access(RSPAMD, os.X_OK):
            why = '%s is not installed (contrib/install-deps installs it)' % RSPAMD
            if os.environ.get('SALLYPORT_REQUIRE_CLIENTS'):
                raise AssertionError(why)
            import unittest
            raise unittest.SkipTest(why)
        for attempt in range(3):
            self.normal_port = free_port()
            self.milter_port = free_port()
            self.write_config()
            out = open(self.out_path, 'ab')
            try:
                self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=out, cwd=self.dir)
            finally:
                out.close()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if http_ping(self.normal_port) and milter_optneg(self.milter_port):
                    return self
                time.sleep(0.1)
            # a port taken between free_port() and rspamd's bind: again
            self.stop()
            if 'Address already in use' not in self.log_text():
                break
        raise AssertionError('rspamd did not start within %d s:\n%s'
                             % (START_TIMEOUT, self.log_text()[-6000:]))

    def log_text(self):
        out = []
        for path in (self.out_path, self.log_path):
            try:
                with open(path, 'rb') as f:
                    out.append(f.read().decode('utf-8', 'replace'))
            except OSError:
                pass
        return '\n'.join(out)

