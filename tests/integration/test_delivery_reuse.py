"""Sessions kept open between deliveries (delivery_reuse_time,
delivery_reuse_limit): the daemon's runner against an aiosmtpd smarthost
with STARTTLS and AUTH, which records the session (client address and
port) each message came in and every QUIT. Messages that follow each
other share sessions, inside the TLS and AUTH of the first; an idle
session ends with QUIT; a session the server closed while idle costs no
message a deferral; a limit of one, or no idle time, is a session per
message as before."""
import re
import threading
import time

import sallytest
from test_delivery import DeliveryCase, SENDER, RELAY_USER, RELAY_PASS, message

N = 10


class ReuseTest(DeliveryCase):

    def burst(self, srv, n=N):
        """n messages, one recipient each, one after the other"""
        return [self.send(srv, SENDER, ['friend%d@remote.test' % i], message('m%d' % i))
                for i in range(n)]

    def lines(self, srv, qids):
        return [self.status_line(srv, q, 'friend%d@remote.test' % i, 'sent')
                for i, q in enumerate(qids)]

    def test_messages_share_sessions_inside_tls_and_auth(self):
        sink = self.sink(tls=True, auth=(RELAY_USER, RELAY_PASS))
        srv = self.smarthost(sink, delivery_reuse_time='5m')
        qids = self.burst(srv)
        got = sink.wait(N)
        self.assertEqual(len(got), N, got)
        for m in got:
            self.assertTrue(m.tls, m)
            self.assertEqual(m.auth_user, RELAY_USER, m)
        # every MAIL inside TLS, and none sent twice
        self.assertEqual(len(sink.mails), N, sink.mails)
        self.assertTrue(all(tls for _, tls in sink.mails), sink.mails)
        # At most delivery_per_destination (5) sessions at once, and a
        # delivery waiting for one of them takes the session it leaves.
        peers = {m.peer for m in got}
        self.assertLessEqual(len(peers), 5, peers)
        lines = self.lines(srv, qids)
        for line in lines:
            self.assertRegex(line, r' tls=TLSv1\.[23] cipher=\S+ auth=ca( conn_use=\d+)? delay=')
        uses = [int(m.group(1)) for m in (re.search(r' conn_use=(\d+) ', l) for l in lines) if m]
        self.assertEqual(len(uses), N - len(peers), lines)
        self.assertTrue(all(2 <= u <= N for u in uses), uses)
        self.wait_empty(srv)
        # a stop ends each session with QUIT
        srv.stop()
        self.assertTrue(sallytest.wait_until(lambda: peers <= set(sink.quits), 10),
                        'sessions %s, QUIT from %s' % (peers, sink.quits))

    def test_an_idle_session_ends_with_quit_after_its_time(self):
        sink = self.sink()
        srv = self.smarthost(sink, delivery_reuse_time='1s')
        qid = self.send(srv, SENDER, ['friend0@remote.test'], message('one'))
        got = sink.wait(1)
        self.assertEqual(len(got), 1)
        self.wait_gone(srv, qid)
        # delivery_reuse_time, and the runner's next look (a second)
        self.assertTrue(sallytest.wait_until(lambda: sink.quits == [got[0].peer], 10),
                        sink.quits)
        self.assertTrue(srv.running(), 'the daemon stopped')

    def test_a_limit_of_one_or_no_idle_time_is_a_session_a_message(self):
        for keys in ({'delivery_reuse_limit': '1'}, {'delivery_reuse_time': '0s'}):
            with self.subTest(**keys):
                sink = self.sink()
                srv = self.smarthost(sink, **keys)
                qids = self.burst(srv)
                got = sink.wait(N)
                self.assertEqual(len(got), N, got)
                self.assertEqual(len({m.peer for m in got}), N, [m.peer for m in got])
                for line in self.lines(srv, qids):
                    self.assertNotIn('conn_use=', line)
                self.wait_empty(srv)
                self.assertTrue(sallytest.wait_until(lambda: len(sink.quits) == N, 10),
                                sink.quits)
                srv.stop()
                sink.stop()

    def test_a_session_the_server_closed_while_idle_costs_nothing(self):
        sink = self.sink()
        srv = self.smarthost(sink, delivery_reuse_time='5m')
        first = self.send(srv, SENDER, ['friend0@remote.test'], message('first'))
        self.assertEqual(len(sink.wait(1)), 1)
        self.wait_gone(srv, first)
        # An outage of the server: the session waiting for a next message
        # is closed under the runner, and the server is back at once.
        sink.stop()
        sink.start()
        second = self.send(srv, SENDER, ['friend1@remote.test'], message('second'))
        got = sink.wait(2)
        self.assertEqual([m.rcpt_tos for m in got],
                         [['friend0@remote.test'], ['friend1@remote.test']])
        line = self.status_line(srv, second, 'friend1@remote.test', 'sent')
        self.assertNotIn('conn_use=', line)     # a new session
        self.assertNotIn('status=deferred', srv.log_text())
        self.wait_gone(srv, second)

    def test_stop_ends_idle_sessions_with_quit(self):
        sink = self.sink()
        srv = self.smarthost(sink, delivery_reuse_time='5m')
        qid = self.send(srv, SENDER, ['friend0@remote.test'], message('one'))
        got = sink.wait(1)
        self.assertEqual(len(got), 1)
        self.wait_gone(srv, qid)
        self.assertEqual(sink.quits, [])        # still waiting for a message
        srv.stop()
        self.assertTrue(sallytest.wait_until(lambda: sink.quits == [got[0].peer], 10),
                        sink.quits)

    def test_a_destination_never_has_more_than_its_deliveries_at_once(self):
        # delivery_per_destination = 2: with six messages due and every
        # session held after its data, two wait at the gate and the other
        # four wait for them; once the gate opens, the waiting ones are
        # woken as the first finish, never more than two at once.
        sink = self.sink()
        sink.data_gate = threading.Event()
        self.addCleanup(sink.data_gate.set)     # before the sink stops
        srv = self.smarthost(sink, delivery_per_destination='2',
                             delivery_reuse_limit='1')
        qids = self.burst(srv, 6)
        self.assertTrue(sallytest.wait_until(lambda: sink.data_waiting == 2, 10),
                        sink.data_waiting)
        time.sleep(1)   # room for a third, were the limit not kept
        self.assertEqual(sink.data_most, 2)
        sink.data_gate.set()
        self.assertEqual(len(sink.wait(6)), 6)
        self.assertEqual(sink.data_most, 2)
        for line in self.lines(srv, qids):
            self.assertIn('status=sent', line)
        self.wait_empty(srv)
