"""The command line: --version, --help, --check-config and config errors."""

import os
import re
import subprocess
import tempfile

import sallytest

BASE = [
    'hostname = mail.example.test',         # line 1
    'listen = 127.0.0.1:2525 mx',           # line 2
    'listen = 127.0.0.1:5587 submission',   # line 3
    'local_domains = example.test',         # line 4
    'queue_dir = /var/spool/sallyport',     # line 5
    # A submission listener needs a certificate.
    'tls_cert = %s' % sallytest.tls_files()[1],     # line 6
    'tls_key = %s' % sallytest.tls_files()[2],      # line 7
]

KEYS = ['hostname', 'listen', 'mynetworks', 'local_domains', 'relay_domains', 'queue_dir',
        'max_message_size', 'max_recipients', 'max_connections', 'max_errors',
        'command_timeout', 'data_timeout', 'shutdown_timeout']


class CommandLine(sallytest.TestCase):

    def setUp(self):
        self.bin = sallytest.binary()
        tmp = tempfile.TemporaryDirectory(prefix='sallytest-cli-')
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def run_bin(self, *args, timeout=20):
        p = subprocess.run([self.bin] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, cwd=self.dir)
        return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')

    def conf(self, lines, name='sallyport.conf'):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def error_lines(self, path, stderr):
        """The line numbers named by "path:N:" messages on stderr."""
        return sorted(int(n) for n in re.findall(re.escape(path) + r':(\d+):', stderr))

    def test_version(self):
        for opt in ('--version', '-V'):
            rc, out, err = self.run_bin(opt)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.splitlines()[0], 'sallyport 0.1.0')

    def test_help(self):
        for opt in ('--help', '-h'):
            rc, out, err = self.run_bin(opt)
            self.assertEqual(rc, 0, err)
            text = out + err
            self.assertIn('-c', text)
            self.assertIn('--check-config', text)

    def test_unknown_option(self):
        rc, out, err = self.run_bin('--no-such-option')
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.strip(), 'no message for an unknown option')

    def test_check_config_prints_effective_config(self):
        path = self.conf(BASE)
        for opt in ('--check-config', '-n'):
            rc, out, err = self.run_bin(opt, '-c', path)
            self.assertEqual(rc, 0, err)
            lines = out.splitlines()
            self.assertIn('max_recipients = 100', lines)
            self.assertIn('hostname = mail.example.test', lines)
            self.assertIn('queue_dir = /var/spool/sallyport', lines)
            printed = {ln.split('=')[0].strip() for ln in lines if '=' in ln and not ln.startswith('#')}
            for key in KEYS:
                self.assertIn(key, printed)
            listens = [ln for ln in lines if ln.startswith('listen')]
            self.assertEqual(len(listens), 2, listens)

    def test_check_config_shows_values_given(self):
        path = self.conf(BASE + ['max_recipients = 7', 'max_connections = 42',
                                 'relay_domains = relay.example, other.example'])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)
        self.assertIn('max_recipients = 7', out.splitlines())
        self.assertIn('max_connections = 42', out.splitlines())
        relay = [ln for ln in out.splitlines() if ln.startswith('relay_domains')]
        self.assertEqual(len(relay), 1, relay)
        self.assertIn('relay.example', relay[0])
        self.assertIn('other.example', relay[0])

    def test_printed_config_reads_back_the_same(self):
        path = self.conf(BASE + ['max_message_size = 100k', 'command_timeout = 2m',
                                 'mynetworks = 10.0.0.0/8, 2001:db8::/32'])
        rc, first, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)
        again = os.path.join(self.dir, 'printed.conf')
        with open(again, 'w') as f:
            f.write(first)
        rc, second, err = self.run_bin('-n', '-c', again)
        self.assertEqual(rc, 0, err)
        self.assertEqual(re.sub(r'(?m)^#.*\n', '', second), re.sub(r'(?m)^#.*\n', '', first))

    def test_two_bad_lines_both_reported(self):
        lines = list(BASE)
        lines.insert(2, 'max_recipients = banana')    # line 3
        lines.insert(5, 'command_timeout = soon')     # line 6
        path = self.conf(lines)
        rc, out, err = self.run_bin('--check-config', '-c', path)
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.error_lines(path, err), [3, 6], err)

    def test_unknown_key(self):
        path = self.conf(BASE[:3] + ['no_such_key = 1'] + BASE[3:])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.error_lines(path, err), [4], err)
        self.assertIn('no_such_key', err)

    def test_bad_values(self):
        for bad in ['listen = 127.0.0.1:2525 bogusrole',
                    'listen = 127.0.0.1 mx',
                    'listen = 127.0.0.1:99999 mx',
                    'queue_dir = relative/queue',
                    'mynetworks = 10.0.0.0/33',
                    'mynetworks = not-an-address',
                    'max_message_size = 12q',
                    'max_recipients = -1',
                    'max_errors = 1.5',
                    'data_timeout = forever',
                    'hostname mail.example.test']:
            with self.subTest(line=bad):
                # Replace the key's line in BASE, so the error cannot be a
                # duplicate key; "listen" may repeat.
                key = re.split(r'[ =]', bad)[0]
                lines = [ln for ln in BASE if key == 'listen' or not ln.startswith(key + ' ')]
                lines.append(bad)
                path = self.conf(lines)
                rc, out, err = self.run_bin('-n', '-c', path)
                self.assertEqual(rc, 1, err)
                self.assertEqual(self.error_lines(path, err), [len(lines)], err)
                self.assertNotIn('duplicate', err)

    def test_comments_blank_lines_and_lists(self):
        path = self.conf(['# a comment', '', BASE[0] + '   # trailing comment'] + BASE[1:3]
                         + ['   ', 'local_domains = a.example,b.example  c.example']
                         + BASE[4:])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)
        local = [ln for ln in out.splitlines() if ln.startswith('local_domains')]
        self.assertEqual(len(local), 1, local)
        for d in ('a.example', 'b.example', 'c.example'):
            self.assertIn(d, local[0])
        self.assertIn('hostname = mail.example.test', out.splitlines())

    def test_submission_needs_certificate(self):
        for role in ('submission', 'submissions'):
            with self.subTest(role=role):
                path = self.conf(BASE[:2] + ['listen = 127.0.0.1:5587 %s' % role] + BASE[3:5])
                rc, out, err = self.run_bin('-n', '-c', path)
                self.assertEqual(rc, 1, err)
                self.assertEqual(self.error_lines(path, err), [3], err)
                self.assertIn('tls_cert', err)
        # Without submission listeners, no certificate is fine.
        path = self.conf(BASE[:2] + BASE[3:5])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)

    def test_missing_sasldb_warns_only_where_auth_can_be_offered(self):
        missing = 'sasl_sasldb_path = %s' % os.path.join(self.dir, 'no-sasldb')
        # MX only, no certificate: no TLS, so never AUTH; nothing to say.
        path = self.conf(BASE[:2] + BASE[3:5] + [missing])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)
        self.assertNotIn('AUTH', err)
        self.assertNotIn('sasl', err)
        # Submission needs a certificate, so AUTH would be offered: warn.
        path = self.conf(BASE + [missing])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)
        self.assertIn('no-sasldb: No such file or directory; AUTH is not offered', err)

    def test_bare_postmaster_to_qmail_that_would_send_it_out(self):
        # The bare postmaster is queued as postmaster@hostname; with the
        # qmail-queue hand-off, qmail decides, and sends it out unless
        # hostname is one of its locals (control/locals, else control/me).
        qmail = os.path.join(self.dir, 'qmail')
        os.makedirs(os.path.join(qmail, 'bin'))
        os.makedirs(os.path.join(qmail, 'control'))
        prog = os.path.join(qmail, 'bin', 'qmail-queue')
        with open(prog, 'w') as f:
            f.write('#!/bin/sh\nexit 0\n')
        os.chmod(prog, 0o755)
        path = self.conf(['hostname = mail.example.test', 'queue_dir = %s' % self.dir,
                          'local_delivery = qmail-queue:%s' % prog])
        locals_ = os.path.join(qmail, 'control', 'locals')
        me = os.path.join(qmail, 'control', 'me')
        warning = 'mail.example.test is not in %s' % locals_
        for lines, warned in ((['example.test', 'localhost'], True),
                              (['example.test', 'MAIL.example.test  '], False)):
            with open(locals_, 'w') as f:
                f.write('\n'.join(lines) + '\n')
            rc, out, err = self.run_bin('-n', '-c', path)
            self.assertEqual(rc, 0, err)
            if warned:
                self.assertIn(warning, err)
                self.assertIn('qmail would send it out', err)
            else:
                self.assertNotIn('qmail would send it out', err)
        # No locals file: qmail-send takes control/me.
        os.unlink(locals_)
        with open(me, 'w') as f:
            f.write('mail.example.test\n')
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertNotIn('qmail would send it out', err)
        with open(me, 'w') as f:
            f.write('other.example.test\n')
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertIn('mail.example.test is not in %s' % me, err)

    def test_loopback_mx_setting_is_called_a_laboratory_one(self):
        # mx_allow_loopback undoes a loop guard: never silently.
        for value, warned in (('no', False), ('yes', True)):
            path = self.conf(BASE[:2] + BASE[3:5] + ['mx_allow_loopback = %s' % value])
            rc, out, err = self.run_bin('-n', '-c', path)
            self.assertEqual(rc, 0, err)
            self.assertEqual('mx_allow_loopback = yes: MX hosts on loopback' in err,
                             warned, err)
            self.assertEqual('test laboratories only' in err, warned, err)
        # The test servers set it (sallytest): their log says so at start.
        with sallytest.Server(workers='1') as srv:
            self.assertTrue(srv.wait_log(r'ready as '), srv.log_text())
            self.assertIn('warning: mx_allow_loopback = yes', srv.log_text())

    def test_missing_sasldb_at_start_up(self):
        missing = os.path.join(self.dir, 'no-sasldb')
        cases = [(dict(submission=False, tls_cert=None, tls_key=None), False),
                 (dict(), True)]
        for kw, warns in cases:
            with self.subTest(submission=warns), \
                    sallytest.Server(sasl_sasldb_path=missing, workers='1', **kw) as srv:
                self.assertTrue(srv.wait_log(r'ready as '), srv.log_text())
                log = srv.log_text()
                self.assertEqual('AUTH is not offered' in log, warns, log)
                self.assertEqual('no-sasldb' in log, warns, log)

    def test_missing_config_file(self):
        path = os.path.join(self.dir, 'does-not-exist.conf')
        for args in (['-n', '-c', path], ['-f', '-c', path]):
            with self.subTest(args=args):
                rc, out, err = self.run_bin(*args)
                self.assertEqual(rc, 1, err)
                self.assertIn(path, err)
                self.assertNotIn('Traceback', err)

    def test_bad_config_stops_start_up(self):
        path = self.conf(BASE + ['max_recipients = banana'])
        rc, out, err = self.run_bin('-f', '-c', path)
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.error_lines(path, err), [len(BASE) + 1], err)

    def test_sample_config_is_valid(self):
        sample = os.path.join(sallytest.srcdir(), 'etc', 'sallyport.conf.sample')
        self.assertTrue(os.path.exists(sample), sample)
        rc, out, err = self.run_bin('--check-config', '-c', sample)
        self.assertEqual(rc, 0, err)
        self.assertIn('max_recipients = ', out)


if __name__ == '__main__':
    sallytest.main()
