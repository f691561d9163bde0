"""sallytest_dnsns - a private DNS world for programs that read
/etc/resolv.conf (dkimverify, opendkim-testmsg): the test process moves
into new network and mount namespaces (needs root), brings up lo, and
bind-mounts over /etc/resolv.conf a file naming only 127.0.0.1, where a
TxtServer (dnsmasq) answers. No query can leave the machine: the
namespace has no other interface.

    SKIP = sallytest_dnsns.enter(tmpdir)    # None, or why the tests skip
    dns = sallytest_dnsns.TxtServer({'s._domainkey.example.test': 'v=DKIM1; ...'},
                                    zones=('example.test', 'invalid')).start()
    ... dns.close()
"""

import ctypes
import os
import subprocess

from sallytest_dns import Dnsmasq, dns_query
from sallytest_env import GREET_TIMEOUT, wait_until

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def enter(tmpdir):
    """Move this process into the private namespaces; None, or the reason
    it could not (the tests then skip)."""
    if os.geteuid() != 0:
        return 'needs root for private network and mount namespaces (unshare -nm)'
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET | CLONE_NEWNS) != 0:
        return 'unshare(CLONE_NEWNET|CLONE_NEWNS) refused: %s' % os.strerror(ctypes.get_errno())
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    # Mounts made here stay here; then resolv.conf names our server only.
    if libc.mount(b'none', b'/', None, MS_REC | MS_PRIVATE, None) != 0:
        return 'mount --make-rprivate / refused: %s' % os.strerror(ctypes.get_errno())
    resolv = os.path.join(tmpdir, 'resolv.conf')
    with open(resolv, 'w') as f:
        f.write('nameserver 127.0.0.1\noptions timeout:2 attempts:2\n')
    if libc.mount(resolv.encode(), b'/etc/resolv.conf', None, MS_BIND, None) != 0:
        return 'bind mount on /etc/resolv.conf refused: %s' % os.strerror(ctypes.get_errno())
    return None


class TxtServer(Dnsmasq):
    """dnsmasq on 127.0.0.1:53 of the private namespace, answering for
    zones, with the TXT records txt ({name: text}: Dnsmasq cuts each
    text into 255-octet strings, as a zone file would hold it)."""

    def __init__(self, txt, zones):
        super().__init__(zones=zones, txt=txt)

    def start(self):
        self.port = 53
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        wait_until(lambda: dns_query(53, 'ready.invalid', timeout=0.2) is not None
                   or self.proc.poll() is not None, GREET_TIMEOUT)
        if self.proc.poll() is not None:
            raise AssertionError('dnsmasq did not start:\n%s' % self.log_text())
        return self
