"""sallyport-import-qmail: the qmail fixture (tests/fixtures/qmail) as a
sallyport configuration, key by key; the result passes --check-config and
--selftest; malformed control files stop the import with file and line and
nothing written; a user of the fixture's poppasswd logs in on the
submission port with the old password, by PLAIN and by CRAM-MD5.

The fixture's certificate (control/servercert.pem, certificate and key in
one file) is made here, in a temporary copy of the fixture, with the
openssl command. dns_servers points at sallytest's loopback dnsmasq, so
the self-test's DNS query never leaves the machine."""

import os
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time

import sallytest

FIXTURE = os.path.join(sallytest.srcdir(), 'tests', 'fixtures', 'qmail')
HOSTNAME = 'mail.example.com'


def importer():
    """sallyport-import-qmail, built beside the daemon under test."""
    return os.path.join(os.path.dirname(sallytest.binary()), 'sallyport-import-qmail')


def parse_conf(text):
    """{key: value} of the key = value lines; comments skipped."""
    keys = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        key, _, value = line.partition('=')
        keys[key.strip()] = value.strip()
    return keys


def comment_above(text, key):
    """The comment block right above `key = ...`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(key + ' ='):
            j = i
            while j > 0 and lines[j - 1].startswith('#'):
                j -= 1
            return '\n'.join(lines[j:i])
    raise AssertionError('no %s line in:\n%s' % (key, text))


class ImportQmail(sallytest.TestCase):

    def setUp(self):
        if not shutil.which('saslpasswd2') and not os.access('/usr/sbin/saslpasswd2', os.X_OK):
            self.skipTest('saslpasswd2 is missing (apt-get install sasl2-bin)')
        tmp = tempfile.TemporaryDirectory(prefix='sallytest-import-')
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.qmail = os.path.join(self.dir, 'qmail')
        shutil.copytree(FIXTURE, self.qmail)
        self.cert = os.path.join(self.qmail, 'control', 'servercert.pem')
        key = os.path.join(self.dir, 'key.pem')
        crt = os.path.join(self.dir, 'crt.pem')
        p = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                            'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
                            '-out', crt, '-days', '2', '-subj', '/CN=' + HOSTNAME],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout)
        with open(self.cert, 'w') as out:
            for part in (crt, key):
                with open(part) as f:
                    out.write(f.read())
        self.out = os.path.join(self.dir, 'out')
        self.conf = os.path.join(self.out, 'sallyport.conf')

    def run_import(self, *extra, status=0, dns=True):
        argv = [importer(), '--qmail-dir', self.qmail,
                '--tcprules', os.path.join(self.qmail, 'tcp.smtp'),
                '--poppasswd', os.path.join(self.qmail, 'poppasswd'),
                '--output-dir', self.out]
        if dns:
            argv += ['--dns-servers', sallytest.shared_dnsmasq().server]
        p = subprocess.run(argv + list(extra), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        out, err = p.stdout.decode(), p.stderr.decode()
        if status is not None:
            self.assertEqual(p.returncode, status, 'stdout:\n%s\nstderr:\n%s' % (out, err))
        return p.returncode, out, err

    def imported(self):
        self.run_import()
        with open(self.conf) as f:
            return f.read()

    # --- the mapping -----------------------------------------------------

    def test_configuration_key_by_key(self):
        text = self.imported()
        keys = parse_conf(text)
        control = os.path.join(os.path.realpath(self.qmail), 'control')
        out = os.path.realpath(self.out)
        self.assertEqual(keys, {
            'hostname': HOSTNAME,
            'listen': '*:587 submission',
            'mynetworks': '127.0.0.0/8 192.168.1.0/24 10.0.0.5/32 192.168.2.10/31 '
                          '192.168.2.12/30 192.168.2.16/30 192.168.2.20/32 ::1/128',
            'client_deny': '10.9.9.9/32 172.16.3.0/24',
            'local_domains': 'example.com mail.example.com virtual.example',
            'relay_domains': 'relayed.example partner.example',
            'queue_dir': keys['queue_dir'],
            'max_message_size': '10M',
            'command_timeout': '20m',
            'dns_servers': sallytest.shared_dnsmasq().server,
            'tls_cert': os.path.join(control, 'servercert.pem'),
            'sasl_mechanisms': 'PLAIN LOGIN CRAM-MD5',
            'sasl_pwcheck_method': 'auxprop',
            'sasl_sasldb_path': os.path.join(out, 'sasldb2'),
            'local_delivery': 'qmail-queue:%s/bin/qmail-queue' % os.path.realpath(self.qmail),
            'smarthost': '[smarthost.isp.example]:587',
        })
        self.assertTrue(keys['queue_dir'].endswith('/spool/sallyport'), keys['queue_dir'])
        self.assertNotIn('tls_key', keys)
        self.assertIn('\n#listen = *:25 mx\n', text)
        self.assertTrue(os.path.exists(os.path.join(self.out, 'sasldb2')))

    def test_each_key_names_its_qmail_file_and_line(self):
        text = self.imported()
        self.assertIn('control/me line 1', comment_above(text, 'hostname'))
        self.assertIn('control/databytes line 1', comment_above(text, 'max_message_size'))
        self.assertIn('control/timeoutsmtpd line 1', comment_above(text, 'command_timeout'))
        self.assertIn('control/smtproutes line 2', comment_above(text, 'smarthost'))
        self.assertIn('servercert.pem', comment_above(text, 'tls_cert'))
        self.assertIn('rcpthosts:4, morercpthosts:1', comment_above(text, 'relay_domains'))
        mynet = comment_above(text, 'mynetworks')
        self.assertIn('tcp.smtp', mynet)
        self.assertIn('line 5: 192.168.2.10-20:allow,RELAYCLIENT="" -> 192.168.2.10/31 '
                      '192.168.2.12/30 192.168.2.16/30 192.168.2.20/32', mynet)
        self.assertIn('line 7: 10.9.9.9:deny -> 10.9.9.9/32', comment_above(text, 'client_deny'))
        self.assertIn('poppasswd', comment_above(text, 'sasl_sasldb_path'))

    def test_report_says_what_was_not_mapped_and_why(self):
        _, out, _ = self.run_import()
        unmapped = [ln for ln in out.splitlines() if ln.startswith('not mapped:')]
        text = '\n'.join(unmapped)
        self.assertIn('rcpthosts:5: .wild.example', text)
        self.assertIn('no wildcard', text)
        self.assertIn('smtproutes:1: route for partner.example', text)
        self.assertIn('RBLSMTPD, DATABYTES', text)
        self.assertIn('concurrencyincoming: not imported', text)
        self.assertIn('locals:1: localhost', text)
        self.assertIn('mapped:     %s' % os.path.join(os.path.realpath(self.qmail), 'poppasswd')
                      + ':2: user alice', out)
        self.assertIn('mapped:     %s' % os.path.join(os.path.realpath(self.qmail), 'poppasswd')
                      + ':3: user bob', out)

    def test_databytes_zero_is_the_largest_size(self):
        with open(os.path.join(self.qmail, 'control', 'databytes'), 'w') as f:
            f.write('0\n')
        _, out, _ = self.run_import()
        self.assertIn('0 means no limit in qmail', out)
        with open(self.conf) as f:
            self.assertEqual(parse_conf(f.read())['max_message_size'], '4G')

    def test_default_deny_and_open_default_are_reported(self):
        with open(os.path.join(self.qmail, 'tcp.smtp'), 'w') as f:
            f.write('127.:allow,RELAYCLIENT=""\n:deny\n')
        _, out, _ = self.run_import()
        self.assertIn('tcp.smtp:2: :deny: the default refuses everyone else', out)
        with open(self.conf) as f:
            keys = parse_conf(f.read())
        self.assertEqual(keys['mynetworks'], '127.0.0.0/8')
        self.assertEqual(keys['client_deny'], '')
        with open(os.path.join(self.qmail, 'tcp.smtp'), 'w') as f:
            f.write(':allow,RELAYCLIENT=""\n')
        _, out, _ = self.run_import()
        self.assertIn('an open relay', out)
        with open(self.conf) as f:
            self.assertEqual(parse_conf(f.read())['mynetworks'], '')

    # --- the result works ---------------------------------------------------

    def test_result_passes_check_config_and_selftest(self):
        _, out, _ = self.run_import()
        self.assertIn('loads as sallyport.conf', out)
        self.assertIn('not an open relay', out)          # the self-test's verdict
        p = subprocess.run([sallytest.binary(), '--check-config', '-c', self.conf],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        self.assertIn('client_deny = 10.9.9.9/32 172.16.3.0/24', p.stdout.decode())
        p = subprocess.run([sallytest.binary(), '--selftest', '-c', self.conf],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        self.assertIn('0 FAIL', p.stdout.decode())

    # --- malformed input: file and line, exit 1, nothing written -----------

    def assert_refused(self, path, line, words):
        rc, out, err = self.run_import(status=1)
        self.assertIn('%s:%d: ' % (os.path.realpath(path), line), err)
        self.assertIn(words, err)
        self.assertFalse(os.path.exists(self.out), os.listdir(self.out)
                         if os.path.isdir(self.out) else '')

    def write(self, name, text):
        path = os.path.join(self.qmail, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_non_numeric_databytes(self):
        path = self.write('control/databytes', '10M\n')
        self.assert_refused(path, 1, '"10M" is not a number')

    def test_rcpthosts_line_with_spaces(self):
        path = self.write('control/rcpthosts', 'example.com\nrelayed.example other.example\n')
        self.assert_refused(path, 2, 'a blank inside the entry')

    def test_control_line_with_blanks_before_it(self):
        # qmail strips blanks at the end of a control line only: it never
        # matched " other.example", so importing it would accept mail
        # qmail refused. Each file the importer reads stops the import.
        for name, text, line in (('control/rcpthosts', 'example.com\n other.example\n', 2),
                                 ('control/rcpthosts', '\tother.example\n', 1),
                                 ('control/locals', 'example.com\n  other.example\n', 2),
                                 ('control/smtproutes', ' :smarthost.isp.example\n', 1)):
            with self.subTest(name=name, text=text):
                saved = None
                full = os.path.join(self.qmail, name)
                if os.path.exists(full):
                    with open(full) as f:
                        saved = f.read()
                path = self.write(name, text)
                self.assert_refused(path, line, 'blanks before the entry')
                if saved is None:
                    os.unlink(full)
                else:
                    self.write(name, saved)

    def test_bad_tcprules_line(self):
        path = self.write('tcp.smtp', '127.:allow,RELAYCLIENT=""\n10.0.0.:permit\n')
        self.assert_refused(path, 2, 'expected ADDRESS:allow or ADDRESS:deny')

    def test_tcprules_address_out_of_range(self):
        path = self.write('tcp.smtp', '192.168.1.300:deny\n')
        self.assert_refused(path, 1, 'numbers 0-255')

    def test_bad_smtproutes_port(self):
        path = self.write('control/smtproutes', ':smarthost.isp.example:smtp\n')
        self.assert_refused(path, 1, 'is not a number')

    def test_bad_poppasswd_line(self):
        path = self.write('poppasswd', 'alice:Wonder1and\njustaname\n')
        self.assert_refused(path, 2, 'expected user:password')

    def test_usage_errors(self):
        for argv in ([], ['--output-dir'], ['--output-dir', self.out, 'extra'],
                     ['--output-dir', self.out, '--dns-servers', 'not-an-ip'],
                     ['--bogus']):
            p = subprocess.run([importer()] + argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(p.returncode, 2, argv)
            self.assertIn(b'usage:', p.stderr)
        self.assertFalse(os.path.exists(self.out))

    # --- the old passwords work ---------------------------------------------

    def start_daemon(self):
        """The imported configuration on a free loopback port; returns it."""
        keys = parse_conf(self.imported())
        port = sallytest.free_port()
        queue = os.path.join(self.dir, 'queue')
        os.mkdir(queue, 0o700)
        keys.update({'listen': '127.0.0.1:%d submission' % port, 'queue_dir': queue,
                     'delivery': 'no', 'dns_servers': sallytest.shared_dnsmasq().server})
        if os.geteuid() == 0:
            keys['run_as_root'] = 'yes'     # tests run as root
        conf = os.path.join(self.dir, 'test.conf')
        with open(conf, 'w') as f:
            f.write(''.join('%s = %s\n' % kv for kv in keys.items()))
        log = open(os.path.join(self.dir, 'daemon.log'), 'wb')
        proc = subprocess.Popen([sallytest.binary(), '-f', '-c', conf],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self.addCleanup(self.stop_daemon, proc)
        deadline = time.monotonic() + sallytest.GREET_TIMEOUT
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), self.daemon_log())
            try:
                with sallytest.Client(port, timeout=sallytest.GREET_TIMEOUT) as c:
                    self.assertEqual(c.greeting.code, 220)
                    c.cmd('QUIT')
                    return port
            except (OSError, sallytest.Closed):
                time.sleep(0.02)
        self.fail('no greeting on port %d:\n%s' % (port, self.daemon_log()))

    def daemon_log(self):
        with open(os.path.join(self.dir, 'daemon.log'), errors='replace') as f:
            return f.read()

    def stop_daemon(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def smtp(self, port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE     # the fixture's self-signed certificate
        # local_hostname: smtplib would otherwise look up this machine's name
        s = smtplib.SMTP('127.0.0.1', port, local_hostname='client.example', timeout=20)
        self.addCleanup(s.close)
        s.ehlo()
        s.starttls(context=ctx)
        s.ehlo()
        return s

    def login(self, port, mech, user, password):
        s = self.smtp(port)
        self.assertIn(mech, s.esmtp_features.get('auth', '').split())
        s.user, s.password = user, password
        method = {'PLAIN': s.auth_plain, 'CRAM-MD5': s.auth_cram_md5}[mech]
        code, _ = s.auth(mech, method)
        self.assertEqual(code, 235)
        code, _ = s.mail('%s@example.com' % user)
        self.assertEqual(code, 250)
        s.quit()

    def test_imported_users_log_in_with_their_old_passwords(self):
        port = self.start_daemon()
        for mech in ('PLAIN', 'CRAM-MD5'):
            with self.subTest(mech=mech):
                self.login(port, mech, 'alice', 'Wonder1and')    # user:password:... form
                self.login(port, mech, 'bob', 'B0bs-Passw0rd')   # user password form
                s = self.smtp(port)
                s.user, s.password = 'alice', 'wrong-password'
                with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                    s.auth(mech, s.auth_plain if mech == 'PLAIN' else s.auth_cram_md5)
                self.assertEqual(cm.exception.smtp_code, 535)


if __name__ == '__main__':
    sallytest.main()
