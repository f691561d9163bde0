"""DKIM signing keys: `dkim_sign` lines checked by `sallyport -n` (and at
start and reload) with errors naming the line, and `sallyport
--dkim-keygen`, whose key file and printed record must be usable as they
are: the record parses as a DKIM key record (dkimpy) holding the key's
public half, and the printed dkim_sign line is accepted.
"""

import base64
import os
import pwd
import re
import subprocess
import tempfile

import sallytest

DEBIAN_PYTHON = '/usr/bin/python3'     # the interpreter python3-dkim is built for


def openssl(*args):
    return subprocess.run(['openssl'] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout


def genpkey(path, *args, mode=0o600):
    openssl('genpkey', *args, '-out', path)
    os.chmod(path, mode)
    return path


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def zone_strings(record_line):
    """The character-strings of a zone-file TXT line, in order."""
    return re.findall(r'"([^"]*)"', record_line)


class DkimKeys(sallytest.TestCase):

    def setUp(self):
        self.bin = sallytest.binary()
        tmp = tempfile.TemporaryDirectory(prefix='sallytest-dkimkeys-')
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def run_bin(self, *args):
        p = subprocess.run([self.bin] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           cwd=self.dir)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def conf(self, lines):
        path = os.path.join(self.dir, 'sallyport.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(['hostname = mail.example.test',      # line 1
                               'listen = 127.0.0.1:2525 mx',        # line 2
                               'queue_dir = %s/q' % self.dir,       # line 3
                               'run_as_root = yes'] + lines) + '\n')   # line 4
        return path

    def key(self, name, *args, mode=0o600):
        return genpkey(os.path.join(self.dir, name), *args, mode=mode)

    def test_good_keys_are_accepted_and_printed(self):
        rsa = self.key('rsa.key', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048')
        ed = self.key('ed.key', '-algorithm', 'ED25519')
        path = self.conf(['dkim_sign = Example.TEST s2026 %s' % rsa,
                          'dkim_sign = example.test 2026ed %s' % ed,
                          'dkim_sign_subdomains = yes'])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)
        self.assertIn('dkim_sign = example.test s2026 %s\n' % rsa, out)
        self.assertIn('dkim_sign = example.test 2026ed %s\n' % ed, out)
        self.assertIn('dkim_sign_subdomains = yes\n', out)

    def test_bad_keys_are_errors_naming_their_line(self):
        bad = os.path.join(self.dir, 'bad.key')
        with open(bad, 'w') as f:
            f.write('-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n')
        os.chmod(bad, 0o600)
        enc = os.path.join(self.dir, 'enc.key')
        openssl('genpkey', '-algorithm', 'ED25519', '-aes-128-cbc', '-pass', 'pass:x',
                '-out', enc)
        os.chmod(enc, 0o600)
        cases = [
            # (line, key file, what the message says)
            ('dkim_sign = example.test open %s' % self.key(
                'open.key', '-algorithm', 'ED25519', mode=0o640), 'mode 0640'),
            ('dkim_sign = example.test other %s' % self.key(
                'other.key', '-algorithm', 'ED25519', mode=0o604), 'mode 0604'),
            ('dkim_sign = example.test short %s' % self.key(
                'short.key', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'),
             'RSA key of 1024 bits'),
            ('dkim_sign = example.test ec %s' % self.key(
                'ec.key', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'),
             'neither an RSA nor an Ed25519 key'),
            ('dkim_sign = example.test bad %s' % bad, 'not an unencrypted PEM private key'),
            ('dkim_sign = example.test enc %s' % enc, 'not an unencrypted PEM private key'),
            ('dkim_sign = example.test gone %s/none.key' % self.dir, 'No such file'),
            ('dkim_sign = example.test dir %s' % self.dir, 'not a regular file'),
            ('dkim_sign = example.test', 'expected DOMAIN SELECTOR KEYFILE'),
            ('dkim_sign = example.test s_1 %s/none.key' % self.dir, 'not a DKIM selector'),
        ]
        if os.geteuid() == 0:
            # root reads any file: the unreadable case needs another user
            cases.pop(6)
        path = self.conf([line for line, _ in cases])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 1, out)
        for n, (line, what) in enumerate(cases, 5):
            m = re.search(r'^%s:%d: dkim_sign: (.*)$' % (re.escape(path), n), err, re.M)
            self.assertIsNotNone(m, 'line %d (%s) not reported:\n%s' % (n, line, err))
            self.assertIn(what, m.group(1))
        self.assertEqual(len(err.strip().splitlines()), len(cases), err)

    def test_selector_listed_twice(self):
        ed = self.key('ed.key', '-algorithm', 'ED25519')
        path = self.conf(['dkim_sign = example.test s1 %s' % ed,
                          'dkim_sign = EXAMPLE.test s1 %s' % ed])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 1)
        self.assertIn('%s:6: dkim_sign: s1._domainkey.example.test is listed twice (line 5)'
                      % path, err)

    def keygen(self, *args, status=0):
        rc, out, err = self.run_bin('--dkim-keygen', *args)
        self.assertEqual(rc, status, err)
        return out, err

    def check_keygen(self, alg, expect_k):
        keydir = os.path.join(self.dir, 'keys')
        os.mkdir(keydir)
        args = ['example.test', 'sel1'] + ([alg] if alg else []) + [keydir]
        out, _ = self.keygen(*args)
        keyfile = os.path.join(keydir, 'example.test.sel1.key')
        st = os.stat(keyfile)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        lines = [l for l in out.splitlines() if not l.startswith(';')]
        self.assertEqual(len(lines), 1, out)
        self.assertTrue(lines[0].startswith('sel1._domainkey.example.test. IN TXT ('), out)
        strings = zone_strings(lines[0])
        self.assertTrue(all(len(s) <= 255 for s in strings), strings)
        record = ''.join(strings)
        # dkimpy parses the record as a verifier would ...
        code = ('import sys; sys.path.append("/usr/lib/python3/dist-packages"); import dkim; '
                't = dkim.util.parse_tag_value(sys.argv[1].encode()); '
                'print(t[b"v"].decode(), t[b"k"].decode(), t[b"p"].decode())')
        p = subprocess.run([DEBIAN_PYTHON, '-c', code, record], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        v, k, pub = p.stdout.decode().split()
        self.assertEqual((v, k), ('DKIM1', expect_k))
        # ... and p= is the public half of the key written
        der = openssl('pkey', '-in', keyfile, '-pubout', '-outform', 'DER')
        want = der if expect_k == 'rsa' else der[-32:]
        self.assertEqual(base64.b64decode(pub), want)
        if expect_k == 'rsa':
            self.assertGreater(len(strings), 1)     # 2048 bits: past one string
        # the dkim_sign line it prints is accepted as it is
        line = re.search(r'^; (dkim_sign = .*)$', out, re.M).group(1)
        self.assertEqual(line, 'dkim_sign = example.test sel1 %s' % keyfile)
        rc, printed, err = self.run_bin('-n', '-c', self.conf([line]))
        self.assertEqual(rc, 0, err)
        self.assertIn(line + '\n', printed)
        # never over an existing key
        before = read(keyfile)
        _, err = self.keygen(*args, status=1)
        self.assertIn('never overwritten', err)
        self.assertEqual(read(keyfile), before)

    def test_keygen_rsa_default(self):
        self.check_keygen(None, 'rsa')

    def test_keygen_ed25519(self):
        self.check_keygen('ed25519', 'ed25519')

    def test_keygen_gives_the_key_to_the_service_user(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to give a file away')
        user = pwd.getpwnam('nobody')
        path = self.conf(['user = nobody'])
        rc, out, err = self.run_bin('-c', path, '--dkim-keygen', 'example.test', 'k2',
                                    'ed25519', self.dir)
        self.assertEqual(rc, 0, err)
        st = os.stat(os.path.join(self.dir, 'example.test.k2.key'))
        self.assertEqual((st.st_uid, st.st_gid), (user.pw_uid, user.pw_gid))
        self.assertEqual(st.st_mode & 0o777, 0o600)

    def test_keygen_relative_dir_prints_a_usable_line(self):
        # run in self.dir: DIR "keys" is relative, the dkim_sign line
        # must still name the key by an absolute path, as the
        # configuration wants
        os.mkdir(os.path.join(self.dir, 'keys'))
        out, _ = self.keygen('example.test', 'rel', 'ed25519', 'keys')
        line = re.search(r'^; (dkim_sign = .*)$', out, re.M).group(1)
        self.assertEqual(line, 'dkim_sign = example.test rel %s'
                         % os.path.join(self.dir, 'keys', 'example.test.rel.key'))
        rc, printed, err = self.run_bin('-n', '-c', self.conf([line]))
        self.assertEqual(rc, 0, err)
        self.assertIn(line + '\n', printed)

    def test_keygen_refuses_a_dir_no_dkim_sign_line_can_name(self):
        # dkim_sign's items are parted by blanks and commas, and a line
        # holds no control character: no key is made that the
        # configuration could not name
        for name in ('my keys', 'a,b', 'tab\tdir', 'nl\ndir'):
            keydir = os.path.join(self.dir, name)
            os.mkdir(keydir)
            _, err = self.keygen('example.test', 'sel', 'ed25519', keydir, status=2)
            self.assertIn('cannot stand in a dkim_sign line', err)
            self.assertEqual(os.listdir(keydir), [])

    def test_key_must_be_the_service_users(self):
        """Run as root with a user, a key only root may read would stop the
        queue runner and every reload (they read it as the user): -n says
        so, naming the line."""
        if os.geteuid() != 0:
            self.skipTest('needs root to give a file away')
        user = pwd.getpwnam('nobody')
        ed = self.key('ed.key', '-algorithm', 'ED25519')
        path = self.conf(['user = nobody', 'dkim_sign = example.test s1 %s' % ed])
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 1, out)
        self.assertIn('%s:6: dkim_sign: key file "%s": owned by uid 0, not by user nobody'
                      % (path, ed), err)
        os.chown(ed, user.pw_uid, user.pw_gid)
        rc, out, err = self.run_bin('-n', '-c', path)
        self.assertEqual(rc, 0, err)

    def test_keygen_usage(self):
        _, err = self.keygen('example.test', 'sel', 'dsa', self.dir, status=2)
        self.assertIn('rsa or ed25519', err)
        _, err = self.keygen('example.test', self.dir, status=2)
        self.assertIn('usage', err)
        _, err = self.keygen('../etc', 'sel', self.dir, status=2)
        self.assertIn('not a domain name', err)


if __name__ == '__main__':
    sallytest.main()
