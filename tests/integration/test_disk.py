"""A queue disk that fills up: queue_min_free refuses new mail with 452
4.3.1 before it is accepted (at MAIL and at DATA), and a disk that fills
during DATA gives 451, never a 250 for a message that was not written.

The queue lives on a 2 MiB tmpfs, so this needs root (mount); it is
skipped otherwise."""

import os
import subprocess
import tempfile

import sallytest
from sallytest import CRLF

FROM = 'sender@example.org'     # 127.0.0.1 is in mynetworks: no DNS asked
TO = 'user@example.test'
NO_SPACE = '452 4.3.1 Insufficient system storage'
MiB = 1024 * 1024


def message(body_octets=100):
    lines = [b'Subject: disk', b'']
    line = b'x' * 76
    while body_octets > 0:
        lines.append(line)
        body_octets -= len(line) + 2
    return CRLF.join(lines) + CRLF


def free_octets(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Disk(sallytest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to mount a small tmpfs for the queue')
        self.mnt = tempfile.mkdtemp(prefix='sallytest-disk-')
        self.addCleanup(os.rmdir, self.mnt)
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs',
                            self.mnt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.skipTest('cannot mount a tmpfs here: %s'
                          % p.stdout.decode('utf-8', 'replace').strip())
        # Registered before the server's cleanup, so it runs after it.
        self.addCleanup(subprocess.run, ['umount', self.mnt], check=True)
        self.queue = os.path.join(self.mnt, 'queue')
        self.junk = os.path.join(self.mnt, 'junk')

    def fill_until(self, left):
        """Write a junk file beside the queue until less than `left`
        octets are free."""
        with open(self.junk, 'wb') as f:
            while free_octets(self.mnt) >= left:
                f.write(b'\0' * 65536)
                f.flush()
                os.fsync(f.fileno())
        self.assertLess(free_octets(self.mnt), left)

    def incoming(self):
        try:
            return sorted(os.listdir(os.path.join(self.queue, 'incoming')))
        except FileNotFoundError:
            return []

    def tmp(self):
        return sorted(os.listdir(os.path.join(self.queue, 'tmp')))

    def test_min_free_refuses_at_mail_and_data_then_accepts_again(self):
        srv = self.server(queue_dir=self.queue, queue_min_free='1m')
        c = self.ehlo_client(srv.mx_port)
        r = c.transaction(FROM, [TO], message())
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.wait_queue(queue_id=r.queue_id()), [r.queue_id()])

        # A declared SIZE counts: 1 MiB free is kept, so 1.5 MiB cannot fit.
        self.assertEqual(c.cmd('MAIL FROM:<%s> SIZE=%d' % (FROM, 3 * MiB // 2)).last,
                         NO_SPACE)

        # A transaction begun while there was room, refused at DATA.
        self.assertEqual(c.cmd('MAIL FROM:<%s>' % FROM).code, 250)
        self.assertEqual(c.cmd('RCPT TO:<%s>' % TO).code, 250)
        before = self.incoming()
        self.fill_until(MiB)
        self.assertEqual(c.cmd('DATA').last, NO_SPACE)
        self.assertEqual(c.cmd('RSET').code, 250)

        # And at MAIL, once the disk is short.
        self.assertEqual(c.cmd('MAIL FROM:<%s>' % FROM).last, NO_SPACE)
        self.assertEqual(c.cmd('RCPT TO:<%s>' % TO).code, 503, 'no transaction began')
        c2 = self.ehlo_client(srv.mx_port)
        self.assertEqual(c2.cmd('MAIL FROM:<%s>' % FROM).last, NO_SPACE)
        self.assertEqual(self.incoming(), before, 'nothing new was queued')
        self.assertEqual(self.tmp(), [])
        self.assertTrue(srv.wait_log(r'reject: MAIL from \[127\.0\.0\.1\]: 452 4\.3\.1'))

        os.unlink(self.junk)
        r = c.transaction(FROM, [TO], message())
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.wait_queue(queue_id=r.queue_id()), sorted(before + [r.queue_id()]))
        entry = sallytest.QueueEntry(os.path.join(self.queue, 'incoming', r.queue_id()))
        self.assertEqual(entry.rcpts, [TO])

    def test_disk_full_during_data_gives_451(self):
        srv = self.server(queue_dir=self.queue, queue_min_free='0')
        free = free_octets(self.mnt)
        c = self.ehlo_client(srv.mx_port)
        # Larger than all the space there is: the writes fail with ENOSPC.
        r = c.transaction(FROM, [TO], message(free + MiB))
        self.assertEqual(r.code, 451, r)
        self.assertTrue(r.last.startswith('451 4.3.0'), r)
        self.assertEqual(self.incoming(), [])
        self.assertEqual(self.tmp(), [], 'the partial spool file is removed')
        # The space came back: the session and the server go on.
        r = c.transaction(FROM, [TO], message())
        self.assertEqual(r.code, 250, r)
        self.assertEqual(srv.wait_queue(queue_id=r.queue_id()), [r.queue_id()])
        self.assertEqual(self.tmp(), [])


if __name__ == '__main__':
    sallytest.main()
