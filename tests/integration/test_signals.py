"""Signals: SIGHUP reloads the configuration, SIGTERM shuts down cleanly."""

import os
import signal
import time

import sallytest

UNTRUSTED = '192.0.2.0/24'


def rcpt_code(port, address):
    """A fresh session's reply code to RCPT TO:<address>."""
    with sallytest.Client(port) as c:
        assert c.cmd('EHLO client.example').code == 250
        assert c.cmd('MAIL FROM:<sender@example.org>').code == 250
        code = c.cmd('RCPT TO:<%s>' % address).code
        c.cmd('QUIT')
        return code


def ehlo_keywords(client):
    """The extension lines of an EHLO reply, without "250-"/"250 "."""
    r = client.cmd('EHLO client.example')
    assert r.code == 250, r
    return [ln[4:] for ln in r.lines[1:]]


class Reload(sallytest.TestCase):

    def test_reload_adds_local_domain(self):
        srv = self.server(mynetworks=UNTRUSTED)
        self.assertEqual(rcpt_code(srv.mx_port, 'user@new.example'), 550)
        log = srv.reload({'mynetworks': UNTRUSTED,
                          'local_domains': 'example.test new.example'})
        self.assertNotIn('reload failed', log)
        self.assertEqual(rcpt_code(srv.mx_port, 'user@new.example'), 250)
        self.assertEqual(rcpt_code(srv.mx_port, 'user@example.test'), 250)
        self.assertTrue(srv.running())

    def test_reload_applies_limits_to_new_sessions(self):
        srv = self.server(max_message_size=1000000)
        with sallytest.Client(srv.mx_port) as c:
            self.assertIn('SIZE 1000000', ehlo_keywords(c))
        srv.reload({'max_message_size': 2000000})
        with sallytest.Client(srv.mx_port) as c:
            self.assertIn('SIZE 2000000', ehlo_keywords(c))

    def test_broken_config_is_refused(self):
        srv = self.server(mynetworks=UNTRUSTED)
        log = srv.reload({'mynetworks': UNTRUSTED, 'local_domains': 'other.example'},
                         extra_lines=['max_recipients = banana'])
        self.assertIn('reload failed', log)
        self.assertTrue(srv.running())
        # The old configuration still holds: example.test is local, other.example is not.
        self.assertEqual(rcpt_code(srv.mx_port, 'user@example.test'), 250)
        self.assertEqual(rcpt_code(srv.mx_port, 'user@other.example'), 550)
        # And a good config after the bad one is taken.
        log = srv.reload({'mynetworks': UNTRUSTED, 'local_domains': 'other.example'})
        self.assertNotIn('reload failed', log)
        self.assertEqual(rcpt_code(srv.mx_port, 'user@other.example'), 250)

    def test_missing_config_on_reload_is_refused(self):
        srv = self.server()
        offset = os.path.getsize(srv.log_path)
        os.rename(srv.conf_path, srv.conf_path + '.away')
        srv.signal(signal.SIGHUP)
        self.assertTrue(srv.wait_log('reload failed', offset=offset), srv.log_text(offset))
        self.assertTrue(srv.running())
        self.assertEqual(rcpt_code(srv.mx_port, 'user@example.test'), 250)


class Shutdown(sallytest.TestCase):

    def test_sigterm_without_sessions(self):
        srv = self.server()
        self.assertEqual(srv.stop(), 0)

    def test_sigterm_closes_idle_session(self):
        srv = self.server(shutdown_timeout='5s')
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        started = time.monotonic()
        srv.signal(signal.SIGTERM)
        srv.expect_exit = True
        self.assertEqual(c.line(), '421 4.3.2 Service shutting down, closing connection')
        self.assertTrue(c.closed())
        rc = srv.proc.wait(5 + 2)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - started, 5 + 2)
        self.assertEqual(srv.queue_names(), [])

    def test_sigterm_mid_data(self):
        srv = self.server(shutdown_timeout='5s')
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        head = b'Subject: interrupted\r\n\r\nfirst half\r\n'
        c.send(head)
        srv.signal(signal.SIGTERM)
        srv.expect_exit = True
        # New connections are no longer greeted.
        self.assertTrue(sallytest.wait_until(lambda: not self._greets(srv.mx_port), 5),
                        'still greeting new clients after SIGTERM')
        # The client in DATA may finish; either the message is committed
        # (250) or refused (421 or a close), never half-stored.
        reply = None
        try:
            c.send(b'second half\r\n.\r\n')
            reply = c.reply()
        except (sallytest.Closed, ConnectionError):
            pass
        rc = srv.proc.wait(5 + 2)
        self.assertEqual(rc, 0)
        self.assertEqual(srv.tmp_names(), [])
        if reply is not None and reply.code == 250:
            e = srv.queue_entry(reply.queue_id())
            self.assertEqual(e.split()[1], head + b'second half\r\n')
        else:
            if reply is not None:
                self.assertTrue(reply.last.startswith('421 4.3.2'), reply)
            self.assertEqual(srv.queue_names(), [])

    def test_sigterm_with_stalled_data(self):
        srv = self.server(shutdown_timeout='2s')
        c = self.ehlo_client(srv.mx_port)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.org>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<user@example.test>').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: never finished\r\n\r\npartial')
        started = time.monotonic()
        srv.signal(signal.SIGTERM)
        srv.expect_exit = True
        rc = srv.proc.wait(2 + 2)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - started, 2 + 2)
        self.assertEqual(srv.tmp_names(), [])
        self.assertEqual(srv.queue_names(), [])
        # The client was told (421) or simply closed.
        try:
            line = c.line()
            self.assertTrue(line.startswith('421 '), line)
        except (sallytest.Closed, ConnectionError):
            pass

    def _greets(self, port):
        try:
            with sallytest.Client(port, greet=False, timeout=1) as c:
                return c.line().startswith('220')
        except (OSError, sallytest.Closed):
            return False


if __name__ == '__main__':
    sallytest.main()
