"""Resource limits: connections per address, the error tarpit, slow
command lines and slow DATA (slowloris), talking before the greeting,
AUTH failures per address across connections, and stress mode."""

import select
import time

import sallytest

TOO_MANY_FROM_IP = '421 4.7.0 Too many connections from your address'
PREGREET = '554 5.5.1 Protocol error: talking before the greeting'
UNTRUSTED = '192.0.2.0/24'
AUTH_IP_LIMIT = ('454 4.7.0 Too many authentication failures from your '
                 'address, try later')


def trickle(client, data, interval, until):
    """Send data one byte every interval seconds until the server says
    something or closes, or the data runs out; returns what it said
    (b'' if nothing). `until(i)` runs before byte i (to do other work)."""
    for i, byte in enumerate(data):
        if until:
            until(i)
        try:
            client.sock.sendall(bytes([byte]))
        except OSError:
            break
        ready, _, _ = select.select([client.sock], [], [], interval)
        if ready:
            break
    return client.silent(2.0)


class PerAddress(sallytest.TestCase):

    def test_connections_per_ip(self):
        # 127.0.0.0/8 is in the default mynetworks, which is exempt.
        srv = self.server(max_connections_per_ip='3', mynetworks=UNTRUSTED)
        held = [self.client(srv.mx_port) for _ in range(3)]
        for c in held:
            self.assertEqual(c.greeting.code, 220)
        c = self.client(srv.mx_port, greet=False)
        self.assertEqual(c.reply().last, TOO_MANY_FROM_IP)
        self.assertTrue(c.closed())
        # Another address is counted apart.
        other = self.client(srv.mx_port, source='127.0.0.2')
        self.assertEqual(other.greeting.code, 220)
        srv.wait_log(r'max_connections_per_ip \(3\) reached')
        # One leaves: its place is free again.
        self.assertEqual(held[0].cmd('QUIT').code, 221)
        self.assertTrue(held[0].closed())
        self.assertTrue(sallytest.wait_until(
            lambda: self._greets(srv.mx_port), timeout=5))

    def test_mynetworks_exempt_from_connections_per_ip(self):
        srv = self.server(max_connections_per_ip='2')
        for _ in range(4):
            self.assertEqual(self.client(srv.mx_port).greeting.code, 220)

    def _greets(self, port):
        with sallytest.Client(port, greet=False) as c:
            r = c.reply()
            if r.code == 220:
                c.cmd('QUIT')
            return r.code == 220

    def test_auth_failures_per_ip(self):
        # Outside mynetworks, as submission clients are: each address is
        # then kept on one worker, and its count is exact.
        srv = self.server(max_auth_failures_per_ip='2', mynetworks=UNTRUSTED)
        for _ in range(2):
            c = self.ehlo_client(srv.sub_port)
            c.starttls()
            c.cmd('EHLO client.example')
            self.assertEqual(c.auth(password='wrong').code, 535)
            c.cmd('QUIT')
        c = self.ehlo_client(srv.sub_port)
        c.starttls()
        c.cmd('EHLO client.example')
        self.assertEqual(c.auth().last, AUTH_IP_LIMIT)
        self.assertEqual(c.cmd('QUIT').code, 221)
        # Another address still logs in.
        self.auth_client(srv.sub_port, source='127.0.0.2')


class Tarpit(sallytest.TestCase):

    def test_soft_error_limit_delays(self):
        srv = self.server(soft_error_limit='2', max_errors='10')
        c = self.ehlo_client(srv.mx_port)
        for _ in range(2):
            start = time.monotonic()
            self.assertEqual(c.cmd('XYZZY').code, 500)
            self.assertLess(time.monotonic() - start, 0.8)
        for _ in range(2):
            start = time.monotonic()
            self.assertEqual(c.cmd('XYZZY').code, 500)
            self.assertGreaterEqual(time.monotonic() - start, 0.9)
        # A good command is not held back.
        start = time.monotonic()
        self.assertEqual(c.cmd('NOOP').code, 250)
        self.assertLess(time.monotonic() - start, 0.8)


class Slowloris(sallytest.TestCase):

    def test_command_deadline(self):
        srv = self.server(command_deadline='3s')
        slow = self.ehlo_client(srv.mx_port)
        served = []

        def meanwhile(i):
            if i == 1:      # another client is served while one crawls
                with sallytest.Client(srv.mx_port) as c:
                    self.assertEqual(c.cmd('EHLO fast.example').code, 250)
                    self.assertEqual(c.cmd('NOOP').code, 250)
                    self.assertEqual(c.cmd('QUIT').code, 221)
                served.append(True)

        start = time.monotonic()
        got = trickle(slow, b'NOOP NOOP NOOP NOOP\r\n', 1.0, meanwhile)
        self.assertTrue(got.startswith(b'421 4.4.2'), got)
        self.assertLess(time.monotonic() - start, 8)
        self.assertEqual(served, [True])
        srv.wait_log('command_deadline exceeded')

    def test_min_data_rate(self):
        srv = self.server(min_data_rate='100')
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        start = time.monotonic()
        body = b'Subject: slow\r\n\r\n' + b'x' * 2000
        got = b''
        while time.monotonic() - start < 45:
            try:
                c.sock.sendall(body[:10])     # 10 bytes/s: too slow
            except OSError:
                break
            body = body[10:]
            ready, _, _ = select.select([c.sock], [], [], 1.0)
            if ready:
                break
        got = c.silent(2.0)
        self.assertTrue(got.startswith(b'421 4.4.2'), got)
        self.assertGreaterEqual(time.monotonic() - start, 29)
        srv.wait_log('DATA slower than min_data_rate')
        self.assertEqual(srv.queue_names(), [])


class GreetPause(sallytest.TestCase):

    def test_talker_refused_patient_greeted(self):
        srv = self.server(greet_pause='1s')
        c = self.client(srv.mx_port, greet=False)
        c.send('EHLO eager.example\r\n')
        self.assertEqual(c.reply().last, PREGREET)
        self.assertTrue(c.closed())
        start = time.monotonic()
        p = self.client(srv.mx_port)
        self.assertEqual(p.greeting.code, 220)
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        self.assertEqual(p.cmd('EHLO patient.example').code, 250)
        srv.wait_log('talked before the greeting')

    def test_default_greets_at_once(self):
        srv = self.server()
        start = time.monotonic()
        c = self.client(srv.mx_port)
        self.assertEqual(c.greeting.code, 220)
        self.assertLess(time.monotonic() - start, 0.8)


class Stress(sallytest.TestCase):

    def test_stress_shortens_timeouts(self):
        # Stress mode is per worker (max_connections is).
        srv = self.server(max_connections='10', command_timeout='10s', workers='1')
        idle = [self.client(srv.mx_port) for _ in range(9)]
        srv.wait_log('stress mode: ')
        start = time.monotonic()
        c = self.client(srv.mx_port)
        self.assertEqual(c.greeting.code, 220)
        self.assertEqual(c.reply().code, 421)     # 10s / 5
        self.assertLess(time.monotonic() - start, 4)
        self.assertGreaterEqual(time.monotonic() - start, 1.5)
        for x in idle:
            x.close()
        srv.wait_log('stress mode ended')


if __name__ == '__main__':
    sallytest.main()
