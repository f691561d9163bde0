"""sallytest_creds - the TLS and SASL fixtures of the integration tests.

A throw-away CA and a certificate for mail.example.test (tls_files()),
made once per test process with the openssl command, and a sasldb with
the users alice, bob and carol (sasl_db()); both are removed at exit.

Tests import these names from sallytest, which re-exports them.
"""

import atexit
import base64
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

SERVER_NAME = 'mail.example.test'   # the certificate's name, the default hostname
SASL_REALM = 'example.test'
ALICE = 'alice@example.test'        # the login of alice, in the realm example.test
PASSWORD = 'wonderland'
_pki = None
_sasldb = None


def _scratch(prefix):
    """A temp dir removed at exit (kept with SALLYTEST_KEEP)."""
    path = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get('SALLYTEST_KEEP'):
        atexit.register(shutil.rmtree, path, True)
    return path


def _openssl(*args):
    p = subprocess.run(['openssl'] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise AssertionError('openssl %s failed:\n%s'
                             % (' '.join(args), p.stdout.decode('utf-8', 'replace')))


def _ca():
    """(directory, CA certificate, CA key) of this process's throw-away CA."""
    global _pki
    if _pki is None:
        d = _scratch('sallytest-pki-')
        ca, key = os.path.join(d, 'ca.pem'), os.path.join(d, 'ca.key')
        _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                 '-nodes', '-keyout', key, '-out', ca, '-days', '2',
                 '-subj', '/CN=sallytest throw-away CA',
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
        cert, leaf_key = make_certificate(d, SERVER_NAME, ca=(ca, key))
        _pki = (d, ca, key, cert, leaf_key)
    return _pki


def make_certificate(directory, name, ca=None, ip='127.0.0.1', days=2, dates=None):
    """A server certificate for `name` (and IP SAN ip) signed by the test
    CA, written to directory as NAME.pem and NAME.key; returns the paths
    (certificate, key). Valid from now for `days`; or, with dates
    ('YYYYMMDDHHMMSSZ', 'YYYYMMDDHHMMSSZ'), from the first to the second
    (in the past: an expired certificate), signed with openssl ca."""
    if ca is None:
        _, ca_pem, ca_key = _ca()[:3]
    else:
        ca_pem, ca_key = ca
    cert = os.path.join(directory, name + '.pem')
    key = os.path.join(directory, name + '.key')
    csr = os.path.join(directory, name + '.csr')
    ext = os.path.join(directory, name + '.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName = DNS:%s%s\n' % (name, ', IP:' + ip if ip else ''))
        f.write('basicConstraints = CA:FALSE\n'
                'keyUsage = critical, digitalSignature\n'
                'extendedKeyUsage = serverAuth\n')
    _openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
             '-keyout', key, '-out', csr, '-subj', '/CN=' + name)
    if dates is None:
        _openssl('x509', '-req', '-in', csr, '-CA', ca_pem, '-CAkey', ca_key,
                 '-set_serial', str(int.from_bytes(os.urandom(8), 'big')),
                 '-days', str(days), '-extfile', ext, '-out', cert)
    else:
        _sign_dated(directory, name, csr, ext, ca_pem, ca_key, dates, cert)
    os.unlink(csr)
    os.unlink(ext)
    return cert, key


def _sign_dated(directory, name, csr, ext, ca_pem, ca_key, dates, cert):
    """openssl ca, the one openssl command that takes a start and an end
    date (x509 -req takes a number of days from now, at least 1)."""
    db = os.path.join(directory, name + '.ca')
    os.mkdir(db)
    open(os.path.join(db, 'index.txt'), 'w').close()
    cnf = os.path.join(db, 'ca.cnf')
    with open(cnf, 'w') as f:
        f.write('[ca]\ndefault_ca = dated\n[dated]\ndatabase = %s\n'
                'new_certs_dir = %s\nserial = %s\ndefault_md = sha256\n'
                'policy = any\n'
                'unique_subject = no\n[any]\ncommonName = supplied\n'
                % (os.path.join(db, 'index.txt'), db, os.path.join(db, 'serial')))
    _openssl('ca', '-batch', '-config', cnf, '-in', csr, '-cert', ca_pem,
             '-keyfile', ca_key, '-rand_serial', '-notext', '-extfile', ext,
             '-startdate', dates[0], '-enddate', dates[1], '-out', cert)
    shutil.rmtree(db)


def tls_files():
    """(CA certificate, server certificate, server key): PEM files for
    mail.example.test and 127.0.0.1, made once per process, removed at exit."""
    _, ca, _, cert, key = _ca()
    return ca, cert, key


def tls_context(server_hostname=True):
    """A client SSLContext that trusts only the test CA (and checks the
    name unless server_hostname is False)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(tls_files()[0])
    ctx.check_hostname = bool(server_hostname)
    return ctx


def add_sasl_user(db, user, password, realm=SASL_REALM):
    """saslpasswd2 -c -f db -u realm user, with the password on stdin."""
    p = subprocess.run(['saslpasswd2', '-p', '-c', '-f', db, '-u', realm, user],
                       input=password.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise AssertionError('saslpasswd2 failed for %s: %s'
                             % (user, p.stdout.decode('utf-8', 'replace')))


def sasl_db():
    """This process's sasldb, made once and removed at exit: alice /
    wonderland and bob / builder in the realm example.test (they log in as
    alice@example.test and bob@example.test), and carol / rosebud in the
    realm of the server's hostname (she logs in as plain "carol")."""
    global _sasldb
    if _sasldb is None:
        if not shutil.which('saslpasswd2'):
            raise unittest.SkipTest('saslpasswd2 is missing (apt-get install sasl2-bin)')
        path = os.path.join(_scratch('sallytest-sasl-'), 'sasldb2')
        add_sasl_user(path, 'alice', PASSWORD)
        add_sasl_user(path, 'bob', 'builder')
        add_sasl_user(path, 'carol', 'rosebud', realm=SERVER_NAME)
        _sasldb = path
    return _sasldb


def auth_plain(user, password, authzid=''):
    """The base64 initial response of AUTH PLAIN (RFC 4616)."""
    raw = '%s\0%s\0%s' % (authzid, user, password)
    return base64.b64encode(raw.encode('utf-8')).decode('ascii')


def b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')
