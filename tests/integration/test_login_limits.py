"""login_max_messages_per_day and login_max_recipients_per_day against
the real daemon (two workers) with real SMTP AUTH (Cyrus SASL, the
sasldb of sallytest): the limit reached answers 450 4.7.1 with one log
line, other logins go on, the counts survive a restart (kept under
QUEUE_DIR/limits/), a recipient already counted today is not new, and a
new day (the day in the login's file older than today) starts again.
Every connection stays on 127.0.0.1."""

import glob
import os
import re
import smtplib

import sallytest
from sallytest import ALICE, PASSWORD

R_LIMIT = '450 4.7.1 Daily sending limit reached for this login, try again later'
MSG = b'From: x@example.test\r\nSubject: count me\r\n\r\nhello\r\n'


class LoginLimits(sallytest.TestCase):

    def send(self, c, rcpts=('u@example.test',)):
        r = c.transaction('s@example.test', list(rcpts), MSG)
        self.assertEqual(r.code, 250, r)

    def limit_file(self, srv, login):
        for path in glob.glob(os.path.join(srv.queue_dir, 'limits', '[0-9a-f]*')):
            with open(path) as f:
                if f.readline().strip() == 'login %s' % login:
                    return path
        self.fail('no counter file for %s in %s' % (login, os.listdir(srv.queue_dir)))

    @sallytest.within_one_utc_day
    def test_messages_per_day(self):
        srv = self.server(workers='2', login_max_messages_per_day='2')
        for _ in range(2):      # two sessions, maybe two workers
            self.send(self.auth_client(srv.sub_port))
        c = self.auth_client(srv.sub_port)
        self.assertEqual(c.cmd('MAIL FROM:<s@example.test>').lines, [R_LIMIT])
        self.assertTrue(srv.wait_log(r'limit: login alice@example\.test reached '
                                     r'login_max_messages_per_day \(2 today\); '
                                     r'client \[127\.0\.0\.1\] told 450'))
        self.assertEqual(len(srv.wait_queue(2)), 2)
        # Another login has its own count; a real client (smtplib) sees 450.
        self.send(self.auth_client(srv.sub_port, 'bob@example.test', 'builder'))
        with smtplib.SMTP('127.0.0.1', srv.sub_port, timeout=30) as s:
            s.starttls(context=sallytest.tls_context())
            s.login(ALICE, PASSWORD)
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail('s@example.test', ['u@example.test'], MSG)
            self.assertEqual(cm.exception.smtp_code, 450)
        # A restart keeps the count.
        srv.stop()
        srv.start()
        c = self.auth_client(srv.sub_port)
        self.assertEqual(c.cmd('MAIL FROM:<s@example.test>').lines, [R_LIMIT])
        # A new day starts again: the file says yesterday.
        path = self.limit_file(srv, ALICE)
        with open(path) as f:
            text = f.read()
        day = int(re.search(r'^day (\d+)$', text, re.M).group(1))
        with open(path, 'w') as f:
            f.write(text.replace('day %d' % day, 'day %d' % (day - 1)))
        self.send(c)

    @sallytest.within_one_utc_day
    def test_new_recipients_per_day(self):
        srv = self.server(login_max_recipients_per_day='3')
        c = self.auth_client(srv.sub_port)
        self.send(c, ['a@example.org', 'b@example.org'])
        self.assertEqual(c.cmd('MAIL FROM:<s@example.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<c@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<d@example.org>').lines, [R_LIMIT])
        # Not new today: already counted, still accepted.
        self.assertEqual(c.cmd('RCPT TO:<A@example.org>').code, 250)
        self.assertEqual(c.cmd('RSET').code, 250)
        self.assertTrue(srv.wait_log(r'limit: login alice@example\.test reached '
                                     r'login_max_recipients_per_day \(3 today\)'))
        srv.stop()
        srv.start()
        c = self.auth_client(srv.sub_port)
        self.assertEqual(c.cmd('MAIL FROM:<s@example.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<e@example.org>').lines, [R_LIMIT])
        self.assertEqual(c.cmd('RCPT TO:<b@example.org>').code, 250)
        # Messages are not limited by this key, nor carol by alice's count.
        carol = self.auth_client(srv.sub_port, 'carol', 'rosebud')
        self.send(carol, ['e@example.org'])

    def test_off_by_default(self):
        srv = self.server()
        c = self.auth_client(srv.sub_port)
        for _ in range(3):
            self.send(c, ['a@example.org', 'b@example.org'])
        self.assertFalse(os.path.exists(os.path.join(srv.queue_dir, 'limits')))


if __name__ == '__main__':
    sallytest.main()
