"""The metrics listener as a scraper meets it: GET /metrics with curl (200,
the OpenMetrics or the text content type as asked, Content-Length,
Connection: close), HEAD, 404/405/400, a slow client holding a scrape
open while SMTP is served and other scrapes answered, connections past
the limit closed, the workers' counters summed by the master, counters
carried across a worker's or the runner's death and a reload, a private Prometheus
scraping it as OpenMetrics, and sallyport -n's warning off loopback.

What each counter counts is test_metrics.py's; here the values are only
those this file makes (connections) and the listener's own (workers)."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import sallytest

OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8'
TEXT = 'text/plain; version=0.0.4; charset=utf-8'
ASK_OPENMETRICS = 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5'
SCRAPES_MAX = 16        # metrics_connections' default


class Response:
    """curl -i's output: status code, headers (lower-case names), body."""

    def __init__(self, raw):
        head, _, self.body = raw.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(':')
            self.headers[name.strip().lower()] = value.strip()
        self.text = self.body.decode('utf-8')

    def sample(self, line_prefix):
        """The value of the one sample line starting with line_prefix."""
        for line in self.text.splitlines():
            if line.startswith(line_prefix + ' '):
                return float(line.rsplit(' ', 1)[1])
        raise AssertionError('no sample %s in:\n%s' % (line_prefix, self.text))

    def total(self, name):
        """The sum of every sample of name."""
        return sum(float(line.rsplit(' ', 1)[1]) for line in self.text.splitlines()
                   if re.match(re.escape(name) + r'(\{| )', line))


class MetricsHTTP(sallytest.TestCase):

    def setUp(self):
        super().setUp()
        self.curl = self.need('curl')

    def server(self, **kw):
        self.metrics_port = sallytest.free_port()
        kw.setdefault('extra_listen', ['127.0.0.1:%d metrics' % self.metrics_port])
        return super().server(**kw)

    def request(self, *args, path='/metrics'):
        """curl -i with args; the Response."""
        p = subprocess.run([self.curl, '-s', '-i', '--max-time', str(sallytest.IO_TIMEOUT)]
                           + list(args) + ['http://127.0.0.1:%d%s' % (self.metrics_port, path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=sallytest.IO_TIMEOUT + 10)
        self.assertEqual(p.returncode, 0, 'curl: %s' % p.stderr.decode())
        return Response(p.stdout)

    def raw(self):
        """A plain socket to the metrics listener."""
        s = socket.create_connection(('127.0.0.1', self.metrics_port),
                                     timeout=sallytest.IO_TIMEOUT)
        self.addCleanup(s.close)
        return s

    def read_all(self, s):
        """Everything until the server closes."""
        data = b''
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def smtp_session(self, srv, source='127.0.0.1'):
        with self.client(srv.mx_port, source=source) as c:
            self.assertEqual(c.greeting.code, 220)
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            self.assertEqual(c.cmd('QUIT').code, 221)

    # --- the exchange --------------------------------------------------------

    def test_get_as_prometheus_and_as_curl(self):
        self.server()
        r = self.request('-H', 'Accept: ' + ASK_OPENMETRICS)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['content-type'], OPENMETRICS)
        self.assertEqual(int(r.headers['content-length']), len(r.body))
        self.assertEqual(r.headers['connection'], 'close')
        self.assertTrue(r.text.endswith('\n# EOF\n'), r.text[-200:])
        self.assertIn('# TYPE sallyport_connections counter\n', r.text)
        self.assertIn('# UNIT sallyport_message_bytes bytes\n', r.text)
        self.assertIn('sallyport_build_info{version="', r.text)
        # curl's own Accept (*/*): the text format promtool reads.
        r = self.request()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['content-type'], TEXT)
        self.assertNotIn('# EOF', r.text)
        self.assertIn('# TYPE sallyport_connections_total counter\n', r.text)
        promtool = self.need('promtool')
        p = subprocess.run([promtool, 'check', 'metrics'], input=r.body,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + r.text)

    def test_listener_labels_as_configured(self):
        srv = self.server()
        r = self.request()
        for port, role in ((srv.mx_port, 'mx'), (srv.sub_port, 'submission')):
            self.assertIn('sallyport_connections_open{listener="127.0.0.1:%d",role="%s"} '
                          % (port, role), r.text)
        self.assertIn('sallyport_connections_open{listener="other",role="other"} ', r.text)
        self.assertNotIn(':%d"' % self.metrics_port, r.text)
        for outcome in ('served', 'busy', 'per_ip', 'denied', 'proxy_bad'):
            self.assertIn('sallyport_connections_total{listener="127.0.0.1:%d",role="mx",'
                          'outcome="%s"} ' % (srv.mx_port, outcome), r.text)

    def test_head_404_405_400(self):
        srv = self.server()
        get = self.request()
        r = self.request('-I')                  # HEAD
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['content-type'], TEXT)
        self.assertGreater(int(r.headers['content-length']), 1000)
        self.assertEqual(r.body, b'')
        self.assertEqual(len(get.body), int(get.headers['content-length']))
        r = self.request(path='/')
        self.assertEqual(r.status, 404)
        r = self.request(path='/metrics/extra')
        self.assertEqual(r.status, 404)
        r = self.request('-X', 'POST', '-d', '')
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers['allow'], 'GET, HEAD')
        r = self.request('-X', 'DELETE')
        self.assertEqual(r.status, 405)
        # Not HTTP at all: an SMTP client that came to the wrong port,
        # a TLS ClientHello.
        for junk in (b'EHLO client.example\r\n', b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'
                     + b'\x00' * 40 + b'\r\n\r\n'):
            s = self.raw()
            s.sendall(junk)
            reply = self.read_all(s)
            self.assertTrue(reply.startswith(b'HTTP/1.1 400 Bad Request\r\n'), reply)
        self.assertIn('metrics: bad request from [127.0.0.1]', srv.log_text())
        # A head past 8 KiB is refused, not stored.
        s = self.raw()
        s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ' + b'a' * 9000)
        self.assertTrue(self.read_all(s).startswith(b'HTTP/1.1 400 '))
        # ... and the listener serves on.
        self.assertEqual(self.request().status, 200)

    # --- it holds nothing else ---------------------------------------------------

    def test_slow_client_holds_nothing(self):
        srv = self.server(metrics_timeout='2s')
        slow = self.raw()
        slow.sendall(b'GET /metr')                # and nothing more
        # SMTP is served, and other scrapes answered, meanwhile.
        for _ in range(5):
            self.smtp_session(srv)
        self.assertEqual(self.request().status, 200)
        # The slow one is closed at its deadline, unanswered.
        slow.settimeout(sallytest.IO_TIMEOUT)
        self.assertEqual(self.read_all(slow), b'')
        self.assertEqual(self.request().status, 200)
        # The same for one that stops halfway through its head.
        slow = self.raw()
        slow.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n')
        self.smtp_session(srv)
        slow.settimeout(sallytest.IO_TIMEOUT)
        self.assertEqual(self.read_all(slow), b'')

    def hold_scrapes(self, n):
        """n connections that each sent the start of a request."""
        held = [self.raw() for _ in range(n)]
        for s in held:
            s.sendall(b'GET ')
        return held

    def test_too_many_scrapes_are_closed(self):
        # Time enough for the held ones to outlast the test on a slow day.
        srv = self.server(metrics_timeout='2m')
        held = self.hold_scrapes(SCRAPES_MAX)
        extra = self.raw()
        self.assertEqual(self.read_all(extra), b'', 'one past the limit is closed')
        self.assertTrue(srv.wait_log(r'metrics: \d+ connection\(s\) closed: %d scrapes open '
                                     r'already' % SCRAPES_MAX))
        # The held ones still stand: one of them finishes its request.
        held[0].sendall(b'/metrics HTTP/1.0\r\n\r\n')
        self.assertTrue(self.read_all(held[0]).startswith(b'HTTP/1.1 200 OK\r\n'))
        # SMTP was never part of it.
        self.smtp_session(srv)

    def test_metrics_connections_and_its_reload(self):
        srv = self.server(metrics_connections='2', metrics_timeout='2m')
        held = self.hold_scrapes(2)
        self.assertEqual(self.read_all(self.raw()), b'')
        # A reload raises the limit: a third scrape is answered.
        srv.reload(overrides=dict(srv.overrides, metrics_connections='3'))
        self.assertEqual(self.request().status, 200)
        for s in held:
            s.sendall(b'/metrics HTTP/1.0\r\n\r\n')
            self.assertTrue(self.read_all(s).startswith(b'HTTP/1.1 200 OK\r\n'))

    # --- the master sums the workers --------------------------------------------

    def connections(self):
        return self.request().total('sallyport_connections_total')

    def wait_connections(self, want):
        got = []

        def check():
            got[:] = [self.connections()]
            return got[0] >= want
        self.assertTrue(sallytest.wait_until(check, sallytest.IO_TIMEOUT, interval=0.1),
                        'connections_total %s, not %s' % (got, want))
        return got[0]

    def test_workers_summed_and_kept_across_restart_and_reload(self):
        # Loopback clients outside mynetworks: steered by address, so
        # that ten addresses reach both workers (sallytest.SOURCES).
        srv = self.server(workers='2', mynetworks='192.0.2.0/24')
        self.assertEqual(self.request().sample('sallyport_workers'), 2)
        before = self.wait_connections(1)       # the start-up probe's
        # Ten client addresses: steered to both workers.
        for source in sallytest.SOURCES:
            self.smtp_session(srv, source)
        seen = sallytest.worker_of_sessions(srv.log_text(), 2)
        self.assertEqual(set().union(*seen.values()), {0, 1}, seen)
        after = self.wait_connections(before + len(sallytest.SOURCES))
        self.assertEqual(after, before + len(sallytest.SOURCES))
        # A worker killed: its counters stay, its successor's add to them.
        workers = [p for p in sallytest.descendants(srv.pid)
                   if p not in sallytest.queue_runners(srv.pid)]
        os.kill(workers[0], signal.SIGKILL)
        srv.wait_log(r'worker \d \(pid %d\) killed by signal 9' % workers[0])
        self.assertEqual(self.connections(), after)
        self.assertTrue(sallytest.wait_until(
            lambda: self.request().sample('sallyport_workers') == 2, 30, interval=0.2))
        for source in sallytest.SOURCES:
            self.smtp_session(srv, source)
        self.wait_connections(after + len(sallytest.SOURCES))
        # A reload keeps them too.
        srv.reload()
        self.assertEqual(self.connections(), after + len(sallytest.SOURCES))

    def deliver_one(self, srv):
        with self.client(srv.mx_port) as c:
            self.assertEqual(c.cmd('EHLO client.example').code, 250)
            self.assertEqual(c.transaction('a@example.org', ['user@example.test'],
                                           b'Subject: x\r\n\r\nx\r\n').code, 250)
            c.cmd('QUIT')

    def wait_sent(self, want):
        key = 'sallyport_deliveries_total{outcome="sent",destination="local"}'
        self.assertTrue(sallytest.wait_until(lambda: self.request().sample(key) == want,
                                             sallytest.IO_TIMEOUT, interval=0.1),
                        self.request().text)

    def test_runner_counts_across_its_restart(self):
        """The exec'd runner counts into the mapping it was passed, and
        its successor carries on (one process: the runner is its child)."""
        mail = tempfile.mkdtemp(prefix='sallytest-mail-')
        self.addCleanup(shutil.rmtree, mail, True)
        for workers in ('1', '2'):
            srv = self.server(workers=workers, delivery='yes', mailbox_users='user',
                              local_delivery='maildir:%s/%s/%%u/Maildir' % (mail, workers))
            self.deliver_one(srv)
            self.wait_sent(1)
            runner, = sallytest.queue_runners(srv.pid)
            os.kill(runner, signal.SIGKILL)
            self.assertTrue(sallytest.wait_until(
                lambda: sallytest.queue_runners(srv.pid) not in ([], [runner]),
                30, interval=0.2), 'the runner was not restarted')
            self.assertEqual(self.request().sample(
                'sallyport_deliveries_total{outcome="sent",destination="local"}'), 1)
            self.deliver_one(srv)
            self.wait_sent(2)
            srv.close()

    def test_only_process_serves_it(self):
        srv = self.server(workers='1')
        self.assertEqual(self.request().sample('sallyport_workers'), 1)
        before = self.wait_connections(1)
        for _ in range(3):
            self.smtp_session(srv)
        self.assertEqual(self.wait_connections(before + 3), before + 3)

    # --- Prometheus itself -----------------------------------------------------------

    def test_prometheus_scrapes_openmetrics(self):
        prometheus = self.need('prometheus')
        srv = self.server(workers='2')
        for source in sallytest.SOURCES[:3]:
            self.smtp_session(srv, source)
        d = tempfile.mkdtemp(prefix='sallytest-prom-')
        self.addCleanup(shutil.rmtree, d, True)
        web = sallytest.free_port()
        conf = os.path.join(d, 'prometheus.yml')
        with open(conf, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n'
                    'scrape_configs:\n  - job_name: sallyport\n    static_configs:\n'
                    "      - targets: ['127.0.0.1:%d']\n" % self.metrics_port)
        log = open(os.path.join(d, 'prometheus.log'), 'wb')
        p = subprocess.Popen([prometheus, '--config.file=' + conf,
                              '--storage.tsdb.path=' + os.path.join(d, 'data'),
                              '--web.listen-address=127.0.0.1:%d' % web],
                             stdout=log, stderr=log, cwd=d)
        log.close()
        self.addCleanup(sallytest.stop_process, p)

        def api(path, **query):
            url = 'http://127.0.0.1:%d/api/v1/%s?%s' % (web, path,
                                                        urllib.parse.urlencode(query))
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.load(r)['data']

        def target_up():
            try:
                targets = api('targets')['activeTargets']
            except OSError:
                return False
            return targets and targets[0]['health'] == 'up'
        if not sallytest.wait_until(target_up, 60, interval=0.5):
            try:
                last = api('targets')['activeTargets']
            except OSError as e:
                last = e
            with open(os.path.join(d, 'prometheus.log')) as f:
                self.fail('Prometheus did not scrape: %s\n%s' % (last, f.read()[-3000:]))
        result = api('query', query='sallyport_build_info')['result']
        self.assertEqual(result[0]['value'][1], '1')
        result = api('query', query='sum(sallyport_connections_total)')['result']
        self.assertGreaterEqual(float(result[0]['value'][1]), 3)
        # It asked for OpenMetrics, and got it: its scrape of a text
        # exposition would have no `sallyport_build` info family.
        self.assertTrue(api('metadata', metric='sallyport_build'),
                        'OpenMetrics info family not seen')


class CheckConfig(sallytest.TestCase):

    def test_metrics_off_loopback_is_warned(self):
        d = tempfile.mkdtemp(prefix='sallytest-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'sallyport.conf')
        with open(path, 'w') as f:
            f.write('hostname = mail.example.test\nqueue_dir = %s\n'
                    'listen = 127.0.0.1:2525 mx\nlisten = *:9225 metrics\n' % d)
        p = subprocess.run([sallytest.binary(), '-n', '-c', path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b'warning: listen: metrics on *:9225 is not a loopback address',
                      p.stderr)
        self.assertIn(b'listen = *:9225 metrics\n', p.stdout)
        with open(path, 'a') as f:
            f.write('listen = 127.0.0.1:9226 metrics\n')
        p = subprocess.run([sallytest.binary(), '-n', '-c', path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'a second metrics listener', p.stderr)


if __name__ == '__main__':
    sallytest.main()
