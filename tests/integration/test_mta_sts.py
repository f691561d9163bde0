"""MTA-STS (RFC 8461) end to end, on loopback.

A recipient domain, sts.test, publishes its policy as the RFC says: a
_mta-sts TXT record (a loopback dnsmasq) and the policy at
https://mta-sts.sts.test/.well-known/mta-sts.txt, served by Python's
http.server over TLS on port 443 of a 127.x address with a certificate
from the test CA (mta_sts_ca_file names it, for the runner only). Its MX,
mx.sts.test, is an aiosmtpd sink with STARTTLS on port 25 of another
127.x address, whose certificate is valid for that name or not.

Cases: enforce and a matching MX (delivered, logged auth=sts); enforce
and an MX whose certificate is for another name, one without STARTTLS,
or an MX the policy does not list (deferred with 4.7.5, the sink never
sees MAIL); testing (delivered even so); an oversized policy, a
redirect, a server that never answers (no policy applies: delivered,
and a slow fetch holds no other domain's mail); TLS-RPT reports under
policy-type sts; `sallyport --tls-policy`; the cache surviving a
restart without the policy server. Ports 25 and 443 need root: skipped
otherwise.
"""

import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

import mailsinks
import sallytest
import sallytest_sts
from sallytest_sts import PolicyServer, loopback_listener
from test_delivery import DELIVERY_WAIT, SENDER, DeliveryCase, message

DOMAIN = 'sts.test'
MX = 'mx.sts.test'
POLICY_HOST = 'mta-sts.' + DOMAIN
RCPT = 'friend@' + DOMAIN
WELL_KNOWN = '/.well-known/mta-sts.txt'


def policy(mode='enforce', mx=(MX,), max_age=86400, extra=''):
    return sallytest_sts.policy(mode, mx, max_age, extra)


class _MailHandler(mailsinks._Handler):
    """The sink's handler, counting MAIL commands."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.owner.mails.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return '250 OK'


class CertSink(mailsinks.SmtpSink):
    """An SMTP sink with STARTTLS and a certificate of our choice; mails
    lists every MAIL FROM it was given."""

    def __init__(self, cert, key, **kw):
        super().__init__(tls=True, **kw)
        self.cert, self.key = cert, key
        self.mails = []

    def _make_controller(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return mailsinks.Controller(_MailHandler(self), hostname=self.host,
                                    port=self.port, server_hostname=mailsinks.SINK_NAME,
                                    ready_timeout=10, tls_context=ctx)


class MtaSts(DeliveryCase):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sink listens on port 25 and the '
                          'policy server on port 443 of 127.x addresses')
        self.pki = tempfile.mkdtemp(prefix='sallytest-sts-pki-')
        self.addCleanup(shutil.rmtree, self.pki, True)
        self.ca = sallytest.tls_files()[0]
        self.web_addr = loopback_listener(443)
        self.mx_addr = loopback_listener(25)
        web_cert = sallytest.make_certificate(self.pki, POLICY_HOST, ip=self.web_addr)
        self.web = PolicyServer(self.web_addr, *web_cert, body=policy())
        self.addCleanup(self.web.stop)

    def mx_sink(self, name=MX, addr=None):
        """The MX sink on port 25, its certificate valid for name."""
        cert = sallytest.make_certificate(self.pki, name, ip=None)
        sink = CertSink(*cert, host=addr or self.mx_addr, port=25)
        self.addCleanup(sink.stop)
        return sink.start()

    def dns(self, record_id='20260101', mx_addr=None, hosts=(), mx=(), txt=()):
        """A loopback dnsmasq: sts.test's MX and policy host, its TXT
        record, and the other hosts, MX and TXT records given."""
        names = dict(sallytest.SHARED_DNS_HOSTS, **dict(hosts))
        names.update({MX: mx_addr or self.mx_addr, POLICY_HOST: self.web_addr})
        return self.dnsmasq(
            hosts=names, mx=dict(sallytest.SHARED_DNS_MX, **dict(mx, **{DOMAIN: MX})),
            txt=dict(txt, **{'_mta-sts.' + DOMAIN: 'v=STSv1; id=%s' % record_id}))

    def sts_daemon(self, dns, **overrides):
        cfg = {'dns_servers': dns.server, 'mta_sts_ca_file': self.ca}
        cfg.update(overrides)
        return self.daemon(**cfg)

    def deferred_by_policy(self, srv, qid, sink, words):
        line = self.status_line(srv, qid, RCPT, 'deferred')
        self.assertIn('4.7.5', line)
        self.assertIn(words, line)
        self.assertEqual(sink.mails, [], 'the MX got MAIL under a policy that refuses it')
        return line

    # --- enforce ------------------------------------------------------------

    def test_enforce_matching_mx_delivered_with_auth_sts(self):
        sink = self.mx_sink()
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('under enforce'))
        self.assertEqual(len(sink.wait(1)), 1, srv.log_text()[-3000:])
        line = self.status_line(srv, qid, RCPT, 'sent')
        self.assertRegex(line, r'relay=%s tls=TLSv1\.[23] cipher=\S+ auth=sts ' % MX)
        self.assertRegex(srv.log_text(), r'id=%s mta-sts domain=%s policy id=20260101 '
                         r'mode=enforce' % (qid, DOMAIN))
        self.assertEqual(self.web.requests, [(WELL_KNOWN, POLICY_HOST)])
        # Kept under the queue directory, for the next delivery and restarts.
        with open(os.path.join(srv.queue_dir, 'mta-sts', DOMAIN)) as f:
            self.assertIn('mode: enforce\nmx: %s\n' % MX, f.read())

    def test_enforce_certificate_for_another_name_deferred(self):
        sink = self.mx_sink(name='wrong.example.net')
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('wrong certificate'))
        line = self.deferred_by_policy(srv, qid, sink, 'MTA-STS policy of %s' % DOMAIN)
        self.assertIn('certificate', line)
        self.assertIn('tls_failure=certificate-host-mismatch', line)

    def test_enforce_mx_without_starttls_deferred(self):
        sink = self.sink(host=self.mx_addr, port=25)      # no STARTTLS
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('no starttls'))
        line = self.status_line(srv, qid, RCPT, 'deferred')
        self.assertIn('451 4.7.5 MTA-STS policy of %s' % DOMAIN, line)
        self.assertIn('tls_failure=starttls-not-supported', line)
        self.assertEqual(sink.messages, [], 'sent in clear under enforce')

    def test_enforce_mx_not_in_the_policy_deferred(self):
        sink = self.mx_sink()
        self.web.body = policy(mx=('mail.elsewhere.example', '*.other.test'))
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('mx not listed'))
        self.deferred_by_policy(srv, qid, sink, 'MX host %s is not in the MTA-STS '
                                'policy of %s' % (MX, DOMAIN))

    # --- testing, and no policy -----------------------------------------------

    def delivered_without_policy(self, srv, qid, sink):
        """The MX's certificate is not valid for its name: delivered means
        that no enforced policy applied."""
        self.assertEqual(len(sink.wait(1)), 1, srv.log_text()[-3000:])
        line = self.status_line(srv, qid, RCPT, 'sent')
        self.assertRegex(line, r' auth=none ')

    def test_testing_delivers_despite_a_bad_certificate(self):
        sink = self.mx_sink(name='wrong.example.net')
        self.web.body = policy(mode='testing')
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('testing mode'))
        self.delivered_without_policy(srv, qid, sink)
        self.assertIn('policy id=20260101 mode=testing', srv.log_text())
        # Checked as enforce would (RFC 8461 5), not enforced: the line
        # says what enforce would have refused.
        line = self.status_line(srv, qid, RCPT, 'sent')
        self.assertRegex(line, r'relay=%s tls=TLSv1\.[23] cipher=\S+ auth=none '
                         r'tls_failure=certificate-host-mismatch ' % MX)

    def test_oversized_policy_is_a_fetch_error(self):
        sink = self.mx_sink(name='wrong.example.net')
        self.web.body = policy(extra='x-padding: %s\r\n' % ('p' * 1000)) * 2
        self.web.start()
        srv = self.sts_daemon(self.dns(), mta_sts_max_size='1k')
        qid = self.send(srv, SENDER, [RCPT], message('oversized policy'))
        self.delivered_without_policy(srv, qid, sink)
        self.assertRegex(srv.log_text(), r'mta-sts domain=%s sts-policy-fetch-error: '
                         r'body larger than the limit \(mta_sts_max_size\); no policy '
                         r'applies' % DOMAIN)

    def test_a_policy_cut_short_is_no_policy(self):
        # A body that ends with the connection is whole only if TLS says
        # so with its close_notify (RFC 9112 9.8): anyone on the path can
        # close the TCP connection early, cutting off the mx lines a
        # policy ends with, or shortening one ("*.sts.test" to
        # "*.sts.te", a domain the attacker may own).
        sink = self.mx_sink(name='wrong.example.net')
        self.web.body = policy(mx=()) + b'mx: *.sts.test\r\nmx: ' + MX.encode()
        self.web.close = 'cut'
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('policy cut short'))
        self.delivered_without_policy(srv, qid, sink)
        self.assertRegex(srv.log_text(), r'mta-sts domain=%s sts-policy-fetch-error: '
                         r'.*unexpected eof.*; no policy applies' % DOMAIN)
        self.assertFalse(os.path.exists(os.path.join(srv.queue_dir, 'mta-sts', DOMAIN)))

    def test_a_policy_ended_by_close_notify_applies(self):
        sink = self.mx_sink()
        self.web.body = policy(mx=()) + b'mx: *.sts.test\r\nmx: ' + MX.encode()
        self.web.close = 'notify'
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('policy ended by close_notify'))
        self.assertEqual(len(sink.wait(1)), 1, srv.log_text()[-3000:])
        line = self.status_line(srv, qid, RCPT, 'sent')
        self.assertRegex(line, r' auth=sts ')

    def test_redirect_is_not_followed(self):
        sink = self.mx_sink(name='wrong.example.net')
        self.web.status = 301
        self.web.location = 'https://%s/elsewhere.txt' % POLICY_HOST
        self.web.start()
        srv = self.sts_daemon(self.dns())
        qid = self.send(srv, SENDER, [RCPT], message('redirect'))
        self.delivered_without_policy(srv, qid, sink)
        self.assertIn('HTTP status 301 (a redirect, not followed)', srv.log_text())
        self.assertEqual([p for p, _ in self.web.requests], [WELL_KNOWN])

    def test_silent_server_times_out_and_the_delivery_goes_on(self):
        sink = self.mx_sink(name='wrong.example.net')
        self.web.hold = True
        self.web.start()
        srv = self.sts_daemon(self.dns(), mta_sts_timeout='2s')
        qid = self.send(srv, SENDER, [RCPT], message('slow policy server'))
        self.delivered_without_policy(srv, qid, sink)
        self.assertRegex(srv.log_text(), r'mta-sts domain=%s sts-policy-fetch-error: .*; '
                         r'no policy applies' % DOMAIN)

    def test_a_slow_fetch_holds_no_other_domain(self):
        sink = self.mx_sink()
        other_addr = loopback_listener(25)
        other = self.sink(host=other_addr, port=25)
        self.web.hold = True
        self.web.start()
        # plain.test has a record too, and a policy host whose certificate
        # is not its own: its fetch fails at once, without waiting for
        # sts.test's.
        dns = self.dns(hosts={'mx.plain.test': other_addr,
                              'mta-sts.plain.test': self.web_addr},
                       mx={'plain.test': 'mx.plain.test'},
                       txt={'_mta-sts.plain.test': 'v=STSv1; id=1'})
        srv = self.sts_daemon(dns, mta_sts_timeout='5m')
        qid = self.send(srv, SENDER, [RCPT], message('waits for its policy'))
        self.assertTrue(self.web.asked.wait(DELIVERY_WAIT), srv.log_text()[-3000:])
        # The fetch for sts.test is in flight (the server holds it) while
        # mail for another domain goes out.
        qid2 = self.send(srv, SENDER, ['friend@plain.test'], message('not held'))
        self.assertEqual(len(other.wait(1)), 1, srv.log_text()[-3000:])
        self.status_line(srv, qid2, 'friend@plain.test', 'sent')
        self.assertRegex(srv.log_text(), r'id=%s mta-sts domain=plain.test '
                         r'sts-webpki-invalid: ' % qid2)
        self.assertFalse(self.web.release.is_set())
        self.assertEqual(sink.messages, [])
        # Once answered, the policy applies (a valid certificate: sent).
        self.web.release.set()
        self.assertEqual(len(sink.wait(1)), 1, srv.log_text()[-3000:])
        self.status_line(srv, qid, RCPT, 'sent')

    # --- TLS reporting ----------------------------------------------------------

    def test_sessions_and_fetch_failures_reported_under_sts(self):
        import test_tlsrpt
        sink = self.mx_sink()
        self.web.start()
        rua = 'v=TLSRPTv1; rua=mailto:' + test_tlsrpt.RUA
        # fail.test's policy host is the same server, whose certificate
        # is for mta-sts.sts.test only: sts-webpki-invalid, no policy.
        dns = self.dns(hosts={'mta-sts.fail.test': self.web_addr},
                       mx={'fail.test': MX},
                       txt={'_mta-sts.fail.test': 'v=STSv1; id=1',
                            '_smtp._tls.' + DOMAIN: rua,
                            '_smtp._tls.fail.test': rua})
        # A session per message: the report counts sessions, and two
        # messages that reach the runner together may share a kept one.
        srv = self.sts_daemon(dns, tls_reporting='yes', delivery_reuse_limit='1',
                              mailbox_users=test_tlsrpt.USERS + ['tlsrpt'])
        for i in range(2):
            self.send(srv, SENDER, [RCPT], message('reported %d' % i))
        qid = self.send(srv, SENDER, ['friend@fail.test'], message('no policy'))
        self.assertEqual(len(sink.wait(3)), 3, srv.log_text()[-3000:])
        self.status_line(srv, qid, 'friend@fail.test', 'sent')
        self.wait_empty(srv)
        reports = test_tlsrpt.trigger_and_read(self, srv, 2)
        self.assertEqual(sorted(reports), ['fail.test', DOMAIN])
        pol = reports[DOMAIN][2]['policies']
        self.assertEqual(len(pol), 1, pol)
        self.assertEqual(pol[0]['policy']['policy-type'], 'sts')
        self.assertEqual(pol[0]['policy']['policy-string'],
                         ['version: STSv1', 'mode: enforce', 'mx: ' + MX,
                          'max_age: 86400'])
        self.assertIn(MX, pol[0]['policy']['mx-host'])
        self.assertEqual(pol[0]['summary'], {'total-successful-session-count': 2,
                                             'total-failure-session-count': 0})
        fail = {p['policy']['policy-type']: p for p in reports['fail.test'][2]['policies']}
        self.assertEqual(sorted(fail), ['no-policy-found', 'sts'])
        self.assertEqual([f['result-type'] for f in fail['sts']['failure-details']],
                         ['sts-webpki-invalid'])

    def report_under_testing(self, sink, subject):
        """Two mails to sts.test under a testing policy, delivered to
        sink; then the day's TLS-RPT report: its one policy."""
        import test_tlsrpt
        self.web.body = policy(mode='testing')
        self.web.start()
        dns = self.dns(txt={'_smtp._tls.' + DOMAIN: 'v=TLSRPTv1; rua=mailto:'
                            + test_tlsrpt.RUA})
        # A session per message: the report counts sessions, and two
        # messages that reach the runner together may share a kept one.
        srv = self.sts_daemon(dns, tls_reporting='yes', delivery_reuse_limit='1',
                              mailbox_users=test_tlsrpt.USERS + ['tlsrpt'])
        for i in range(2):
            self.send(srv, SENDER, [RCPT], message('%s %d' % (subject, i)))
        self.assertEqual(len(sink.wait(2)), 2, srv.log_text()[-3000:])
        self.wait_empty(srv)
        reports = test_tlsrpt.trigger_and_read(self, srv, 1)
        pol = reports[DOMAIN][2]['policies']
        self.assertEqual(len(pol), 1, pol)
        self.assertEqual(pol[0]['policy']['policy-type'], 'sts')
        self.assertIn('mode: testing', pol[0]['policy']['policy-string'])
        return pol[0]

    def test_testing_reports_a_certificate_for_another_name(self):
        pol = self.report_under_testing(self.mx_sink(name='wrong.example.net'),
                                  'testing, wrong name')
        self.assertEqual(pol['summary'], {'total-successful-session-count': 0,
                                          'total-failure-session-count': 2})
        details = pol['failure-details']
        self.assertEqual([(d['result-type'], d['failed-session-count'])
                          for d in details], [('certificate-host-mismatch', 2)])
        self.assertEqual(details[0]['receiving-mx-hostname'], MX)
        self.assertEqual(details[0]['receiving-ip'], self.mx_addr)

    def test_testing_reports_a_valid_certificate_as_success(self):
        pol = self.report_under_testing(self.mx_sink(), 'testing, valid')
        self.assertEqual(pol['summary'], {'total-successful-session-count': 2,
                                          'total-failure-session-count': 0})
        self.assertNotIn('failure-details', pol)

    # --- sallyport --tls-policy ------------------------------------------------

    def tls_policy(self, srv):
        """`sallyport --tls-policy sts.test` with srv's configuration:
        its output lines."""
        p = subprocess.run([srv.bin, '--tls-policy', DOMAIN, '-c', srv.conf_path],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode().splitlines()

    def test_tls_policy_shows_the_policy_and_the_plan(self):
        self.mx_sink()
        self.web.start()
        srv = self.sts_daemon(self.dns(), start=False)
        lines = self.tls_policy(srv)
        self.assertIn('mta-sts: enforce (id 20260101, fetched now, max_age 86400)', lines)
        self.assertIn('mta-sts-mx: ' + MX, lines)
        self.assertIn('  plan: sts (the MTA-STS policy of %s: TLS, a certificate valid '
                      'for %s)' % (DOMAIN, MX), lines)
        # A look: nothing is kept under queue_dir.
        self.assertFalse(os.path.exists(os.path.join(srv.queue_dir, 'mta-sts')))
        # Under a policy naming another MX, the host is skipped.
        self.web.body = policy(mx=('*.elsewhere.test',))
        lines = self.tls_policy(srv)
        self.assertIn('  plan: skip (not in the MTA-STS policy of %s, mode enforce: '
                      '451 4.7.5)' % DOMAIN, lines)
        # No policy server: the failure, and no policy.
        self.web.stop()
        lines = self.tls_policy(srv)
        self.assertIn('mta-sts: no policy', lines)
        self.assertTrue([l for l in lines if l.startswith('mta-sts-failure: '
                                                          'sts-policy-fetch-error: ')],
                        lines)

    # --- the cache ------------------------------------------------------------

    def restarted_with_cached_policy(self, user=None):
        """A policy fetched and cached by a first run (as root); then the
        daemon restarted (as user, if given) with the policy server gone
        and the MX answering with a certificate for another name, so
        that only the cached policy can refuse it: the mail must be
        deferred."""
        self.mx_sink()
        self.web.start()
        dns = self.dns()
        srv = self.sts_daemon(dns)
        qid = self.send(srv, SENDER, [RCPT], message('first, fetched'))
        self.status_line(srv, qid, RCPT, 'sent')
        srv.stop()
        self.web.stop()
        dns.close()
        bad_addr = loopback_listener(25)
        bad = self.mx_sink(name='wrong.example.net', addr=bad_addr)
        dns = self.dns(mx_addr=bad_addr)
        overrides = dict(srv.overrides, dns_servers=dns.server)
        if user is not None:
            # What the user must reach: the configuration, the CA.
            os.chmod(srv.dir, 0o755)
            ca = os.path.join(srv.dir, 'sts-ca.pem')
            shutil.copyfile(self.ca, ca)
            os.chmod(ca, 0o644)
            overrides.update(user=user, run_as_root=None, mta_sts_ca_file=ca)
        srv.write_config(overrides)
        srv.start()
        qid = self.send(srv, SENDER, [RCPT], message('second, from the cache'))
        line = self.deferred_by_policy(srv, qid, bad, 'MTA-STS policy of %s' % DOMAIN)
        self.assertIn('tls_failure=certificate-host-mismatch', line)
        self.assertEqual(self.web.requests, [(WELL_KNOWN, POLICY_HOST)])

    def test_cached_policy_survives_a_restart(self):
        self.restarted_with_cached_policy()

    def test_cached_policy_survives_a_change_to_a_service_user(self):
        # The runner, now that user, must still read what it cached as
        # root: otherwise an attacker who blocks the fetch turns every
        # enforced policy off.
        self.restarted_with_cached_policy(user='nobody')

if __name__ == '__main__':
    sallytest.main()
