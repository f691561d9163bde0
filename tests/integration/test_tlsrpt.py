"""SMTP TLS Reporting (RFC 8460) end to end: a day's sessions on loopback,
then `sallyport --queue tlsrpt`, and the reports in the rua mailbox.

A loopback dnsmasq names three remote domains: good.test, whose MX (an
aiosmtpd sink on port 25 of a 127.x address) offers STARTTLS; bad.test,
whose MX does not (opportunistic TLS fails, the mail goes in clear);
quiet.test and https.test, on the TLS sink too. good.test and bad.test
publish _smtp._tls records whose rua is a mailbox of the same sallyport
(tlsrpt@example.test); https.test lists only an https: URI, which is not
used; quiet.test publishes none. After the sessions, the trigger: one
report each for good.test and bad.test reaches the mailbox, a
multipart/report; report-type="tlsrpt" with the RFC's header fields,
whose application/tlsrpt+gzip attachment gunzips to JSON that validates
against RFC 8460 4.4's schema (written here from the RFC) and counts
the sessions made: successes for good.test, starttls-not-supported
failures for bad.test. quiet.test and https.test get no report, and the
day's file is gone once the reports are queued. Without a dkim_sign
key for the sender's domain the reports carry no DKIM-Signature and the
run says so once; with one (RFC 8460 3), the report verifies with dkimpy
as a TLS report, against the key record sallyport --dkim-keygen printed.

With DANE (a DNSSEC world the test signs, behind a validating unbound:
sallytest_dnssec), the sessions are reported under policy-type tlsa with
the host's TLSA records as policy-string: a matching host as successes,
a mismatch as validation-failure, and a host whose TLSA answer is bogus
(not tried) as dnssec-invalid. Under MTA-STS (test_mta_sts's HTTPS
policy server), policy-type sts with the policy's lines and mx
patterns; a policy that cannot be fetched, sts-policy-fetch-error."""
import email
import email.policy
import email.utils
import gzip
import json
import os
import random
import re
import subprocess
import unittest

import jsonschema

import sallytest
from sallytest_dnssec import tlsa_from_pem
import test_dane
import test_mta_sts
from test_delivery import DeliveryCase, message, SENDER, USERS

# dkimpy (python3-dkim), pure Python: from Debian's directory, which
# mailsinks (imported by test_delivery) put last on the path when
# python3 is another interpreter
import dkim     # noqa: E402

RESULT_TYPES = [
    'starttls-not-supported', 'certificate-host-mismatch',
    'certificate-expired', 'certificate-not-trusted', 'validation-failure',
    'tlsa-invalid', 'dnssec-invalid', 'dane-required',
    'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid',
]
DATETIME = r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$'
COUNT = {'type': 'integer', 'minimum': 0}
TEXT = {'type': 'string'}

# RFC 8460 4.4 (with 4.3's result types and 4.4's policy types).
SCHEMA = {
    'type': 'object',
    'required': ['organization-name', 'date-range', 'contact-info',
                 'report-id', 'policies'],
    'additionalProperties': False,
    'properties': {
        'organization-name': TEXT,
        'date-range': {
            'type': 'object', 'additionalProperties': False,
            'required': ['start-datetime', 'end-datetime'],
            'properties': {'start-datetime': {'type': 'string', 'pattern': DATETIME},
                           'end-datetime': {'type': 'string', 'pattern': DATETIME}}},
        'contact-info': TEXT,
        'report-id': TEXT,
        'policies': {'type': 'array', 'items': {
            'type': 'object', 'additionalProperties': False,
            'required': ['policy', 'summary'],
            'properties': {
                'policy': {
                    'type': 'object', 'additionalProperties': False,
                    'required': ['policy-type', 'policy-domain'],
                    'properties': {
                        'policy-type': {'enum': ['tlsa', 'sts', 'no-policy-found']},
                        'policy-string': {'type': 'array', 'items': TEXT},
                        'policy-domain': TEXT,
                        'mx-host': {'anyOf': [TEXT, {'type': 'array', 'items': TEXT}]}}},
                'summary': {
                    'type': 'object', 'additionalProperties': False,
                    'required': ['total-successful-session-count',
                                 'total-failure-session-count'],
                    'properties': {'total-successful-session-count': COUNT,
                                   'total-failure-session-count': COUNT}},
                'failure-details': {'type': 'array', 'items': {
                    'type': 'object', 'additionalProperties': False,
                    'required': ['result-type', 'failed-session-count'],
                    'properties': {
                        'result-type': {'enum': RESULT_TYPES},
                        'sending-mta-ip': TEXT,
                        'receiving-mx-hostname': TEXT,
                        'receiving-mx-helo': TEXT,
                        'receiving-ip': TEXT,
                        'failed-session-count': COUNT,
                        'additional-information': TEXT,
                        'failure-reason-code': TEXT}}}}}},
    },
}

RUA = 'tlsrpt@example.test'


class Tlsrpt(DeliveryCase):

    def port25_sink(self, **kw):
        """An aiosmtpd sink on port 25 of a free 127.x address."""
        for _ in range(10):
            addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                     random.randint(2, 254))
            try:
                return addr, self.sink(host=addr, port=25, **kw)
            except OSError:
                continue
        self.fail('no free loopback address for port 25')

    def reports(self, n):
        """The n reports in the rua mailbox, parsed; asserts there are n."""
        got = self.mailbox('tlsrpt', n, timeout=20)
        self.assertEqual(len(got), n, self.srv.log_text()[-3000:])
        return [email.message_from_bytes(raw, policy=email.policy.compat32)
                for raw in got]

    def attachment(self, msg):
        """(filename, the JSON) of a report's application/tlsrpt+gzip part."""
        parts = [p for p in msg.walk()
                 if p.get_content_type() == 'application/tlsrpt+gzip']
        self.assertEqual(len(parts), 1, msg.as_string()[:2000])
        data = gzip.decompress(parts[0].get_payload(decode=True))
        return parts[0].get_filename(), json.loads(data.decode('utf-8'))

    @sallytest.within_one_utc_day
    def test_a_days_sessions_reported_to_the_rua(self):
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sinks must listen on port 25')
        tls_addr, tls_sink = self.port25_sink(tls=True)
        plain_addr, plain_sink = self.port25_sink()
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx.good.test': tls_addr,
                                                      'mx.quiet.test': tls_addr,
                                                      'mx.https.test': tls_addr,
                                                      'mx.bad.test': plain_addr}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'good.test': 'mx.good.test',
                                                'quiet.test': 'mx.quiet.test',
                                                'https.test': 'mx.https.test',
                                                'bad.test': 'mx.bad.test'}),
            txt={'_smtp._tls.good.test': 'v=TLSRPTv1; rua=mailto:%s' % RUA,
                 '_smtp._tls.bad.test': 'v=TLSRPTv1;rua=mailto:%s;' % RUA,
                 # an https: URI only: no report by mail
                 '_smtp._tls.https.test': 'v=TLSRPTv1; rua=https://reports.https.test/v1',
                 # not TLS-RPT's: quiet.test has no record
                 '_smtp._tls.quiet.test': 'v=spf1 -all'},
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        # a session per message (delivery_reuse_limit = 1): the counts
        # below are messages' then (a kept session is counted once)
        self.srv = srv = self.daemon(dns_servers=dns.server, tls_reporting='yes',
                                     mailbox_users=USERS + ['tlsrpt'],
                                     delivery_reuse_limit='1')
        for i in range(3):
            self.send(srv, SENDER, ['friend@good.test'], message('good %d' % i))
        for i in range(2):
            self.send(srv, SENDER, ['friend@bad.test'], message('bad %d' % i))
        self.send(srv, SENDER, ['friend@quiet.test'], message('quiet'))
        self.send(srv, SENDER, ['friend@https.test'], message('https'))
        self.assertEqual(len(tls_sink.wait(5)), 5, srv.log_text()[-3000:])
        self.assertEqual(len(plain_sink.wait(2)), 2, srv.log_text()[-3000:])
        self.wait_empty(srv)
        # the day's file, one line a session (read as an admin would)
        rptdir = os.path.join(srv.queue_dir, 'tlsrpt')
        days = [n for n in os.listdir(rptdir) if re.match(r'^\d{4}-\d{2}-\d{2}$', n)]
        self.assertEqual(len(days), 1, os.listdir(rptdir))
        with open(os.path.join(rptdir, days[0])) as f:
            self.assertEqual(len(f.read().splitlines()), 7)

        out = self.queue_cmd(srv, 'tlsrpt')
        self.assertIn('TLS-RPT reports requested', out)
        reports = {m['TLS-Report-Domain']: m for m in self.reports(2)}
        self.assertEqual(sorted(reports), ['bad.test', 'good.test'])

        seen = {}
        for domain, msg in reports.items():
            self.assertEqual(msg.get_content_type(), 'multipart/report')
            self.assertEqual(msg.get_param('report-type'), 'tlsrpt')
            self.assertEqual(msg['TLS-Report-Submitter'], sallytest.SERVER_NAME)
            # RFC 8460 5.3: delivered despite TLS failures (RFC 8689 5)
            self.assertEqual(msg['TLS-Required'], 'No')
            self.assertEqual(email.utils.parseaddr(msg['To'])[1], RUA)
            self.assertTrue(msg['Message-ID'])
            subject = ' '.join(msg['Subject'].split())
            self.assertRegex(subject, r'^Report Domain: %s Submitter: %s Report-ID: <[^<>]+>$'
                             % (re.escape(domain), re.escape(sallytest.SERVER_NAME)))
            name, report = self.attachment(msg)
            # RFC 8460 5.3: sender!policy-domain!begin!end[!unique].json.gz
            self.assertRegex(name, r'^%s!%s!\d+!\d+(![^!]+)?\.json\.gz$'
                             % (re.escape(sallytest.SERVER_NAME), re.escape(domain)))
            jsonschema.validate(report, SCHEMA)
            self.assertEqual(subject.split('Report-ID: ')[1], '<%s>' % report['report-id'])
            self.assertEqual(report['contact-info'], 'postmaster@' + sallytest.SERVER_NAME)
            self.assertEqual([p['policy']['policy-domain'] for p in report['policies']],
                             [domain])
            seen[domain] = report['policies'][0]

        good = seen['good.test']
        self.assertEqual(good['policy']['policy-type'], 'no-policy-found')
        self.assertEqual(good['summary'], {'total-successful-session-count': 3,
                                           'total-failure-session-count': 0})
        self.assertNotIn('failure-details', good)
        bad = seen['bad.test']
        self.assertEqual(bad['summary'], {'total-successful-session-count': 0,
                                          'total-failure-session-count': 2})
        self.assertEqual(len(bad['failure-details']), 1, bad)
        detail = bad['failure-details'][0]
        self.assertEqual(detail['result-type'], 'starttls-not-supported')
        self.assertEqual(detail['failed-session-count'], 2)
        self.assertEqual(detail['receiving-mx-hostname'], 'mx.bad.test')
        self.assertEqual(detail['receiving-ip'], plain_addr)
        self.assertTrue(detail['sending-mta-ip'].startswith('127.'), detail)

        # no dkim_sign key covers postmaster@<hostname>: unsigned, and
        # the run says so once, not once a report
        for msg in reports.values():
            self.assertIsNone(msg['DKIM-Signature'])
        log = srv.log_text()
        self.assertEqual(len(re.findall(r'tlsrpt: reports from postmaster@%s go unsigned'
                                        % re.escape(sallytest.SERVER_NAME), log)), 1, log)
        # quiet.test asked for nothing; https.test's https: URI is not used
        self.assertRegex(log, r'_smtp\._tls\.quiet\.test: no TLS-RPT record: no report '
                              r'for quiet\.test')
        self.assertIn('_smtp._tls.https.test: https: report URIs are not used', log)
        # the reports are queued: the day's file and its list are gone
        self.assertTrue(sallytest.wait_until(
            lambda: not [n for n in os.listdir(rptdir) if n.startswith(days[0])], 10),
            os.listdir(rptdir))
        self.wait_empty(srv)
        self.assertEqual(len(self.mailbox('tlsrpt', 2)), 2, 'no third report')

    @sallytest.within_one_utc_day
    def test_report_dkim_signed_by_the_reporting_domain(self):
        """RFC 8460 3: a dkim_sign key for the hostname's domain (the
        report's From: is postmaster@<hostname>, a subdomain) signs the
        report; dkimpy verifies it as a TLS report, with the key record
        sallyport --dkim-keygen prints, restricted to s=tlsrpt (RFC 8460
        3)."""
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sinks must listen on port 25')
        domain = sallytest.SERVER_NAME.split('.', 1)[1]
        keyfile, record = dkim_keygen(domain, 'rpt2026', self.tmp)
        record = record.replace('v=DKIM1;', 'v=DKIM1; s=tlsrpt;')
        tls_addr, tls_sink = self.port25_sink(tls=True)
        dns = self.dnsmasq(
            hosts=dict(sallytest.SHARED_DNS_HOSTS, **{'mx.good.test': tls_addr}),
            mx=dict(sallytest.SHARED_DNS_MX, **{'good.test': 'mx.good.test'}),
            txt={'_smtp._tls.good.test': 'v=TLSRPTv1; rua=mailto:%s' % RUA},
            zones=sallytest.DNS_ZONES + ('org', 'com', 'net'))
        self.srv = srv = self.daemon(
            dns_servers=dns.server, tls_reporting='yes', mailbox_users=USERS + ['tlsrpt'],
            dkim_sign='%s rpt2026 %s' % (domain, keyfile), dkim_sign_subdomains='yes')
        self.send(srv, SENDER, ['friend@good.test'], message('good'))
        self.assertEqual(len(tls_sink.wait(1)), 1, srv.log_text()[-3000:])
        self.wait_empty(srv)
        self.queue_cmd(srv, 'tlsrpt')
        got = self.mailbox('tlsrpt', 1, timeout=20)
        self.assertEqual(len(got), 1, srv.log_text()[-3000:])
        raw = got[0].replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.assertEqual(msg['TLS-Report-Domain'], 'good.test')
        self.assertIsNotNone(msg['DKIM-Signature'], raw[:2000])
        tags = dict(t.strip().split('=', 1) for t in
                    re.sub(r'\s+', '', msg['DKIM-Signature']).split(';') if t)
        self.assertEqual((tags['d'], tags['s']), (domain, 'rpt2026'))
        self.assertNotIn('l', tags)     # RFC 8460 3: no l=
        looked_up = []

        def dnsfunc(name, timeout=5):
            looked_up.append(name)
            return record.encode() if name == b'rpt2026._domainkey.%s.' % domain.encode() \
                else None
        self.assertTrue(dkim.verify(raw, dnsfunc=dnsfunc, tlsrpt='strict'), raw[:3000])
        self.assertEqual(looked_up, [b'rpt2026._domainkey.%s.' % domain.encode()])
        # the bytes after the signature matter: one changed, no longer valid
        self.assertFalse(dkim.verify(raw.replace(b'Report Domain: good.test',
                                                 b'Report Domain: evil.test'),
                                     dnsfunc=dnsfunc, tlsrpt='strict'))
        log = srv.log_text()
        self.assertRegex(log, r'tlsrpt: report \S+ for good\.test queued as \S+ to 1 '
                              r'address, dkim d=%s s=rpt2026' % re.escape(domain))
        self.assertNotIn('go unsigned', log)

    def test_trigger_refused_when_off(self):
        srv = self.daemon()
        p = subprocess.run([srv.bin, '--queue', 'tlsrpt', '-c', srv.conf_path],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'tls_reporting = no', p.stdout)
        self.assertFalse(os.path.exists(os.path.join(srv.queue_dir, 'tlsrpt-now')))


def dkim_keygen(domain, selector, directory):
    """sallyport --dkim-keygen: (the key file, the TXT record it prints)"""
    out = subprocess.run([sallytest.binary(), '--dkim-keygen', domain, selector, 'rsa',
                          directory], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60, check=True).stdout.decode()
    line = [l for l in out.splitlines() if not l.startswith(';')][0]
    return (os.path.join(directory, '%s.%s.key' % (domain, selector)),
            ''.join(re.findall(r'"([^"]*)"', line)))


def trigger_and_read(case, srv, n):
    """sallyport --queue tlsrpt, then the n reports in the rua mailbox:
    {TLS-Report-Domain: (message, filename, the JSON, valid)}."""
    out = case.queue_cmd(srv, 'tlsrpt')
    case.assertIn('TLS-RPT reports requested', out)
    got = case.mailbox('tlsrpt', n, timeout=20)
    case.assertEqual(len(got), n, srv.log_text()[-3000:])
    reports = {}
    for raw in got:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        self_parts = [p for p in msg.walk()
                      if p.get_content_type() == 'application/tlsrpt+gzip']
        case.assertEqual(len(self_parts), 1)
        report = json.loads(gzip.decompress(
            self_parts[0].get_payload(decode=True)).decode('utf-8'))
        jsonschema.validate(report, SCHEMA)
        reports[msg['TLS-Report-Domain']] = (msg, self_parts[0].get_filename(), report)
    return reports


class Dane(test_dane.DaneCase):
    """TLS-RPT under DANE: policy-type tlsa (MX sinks on port 25: root)."""

    mx_sink = test_dane.DirectMx.mx_sink

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('needs root: the MX sinks must listen on port 25')

    @sallytest.within_one_utc_day
    def test_tlsa_sessions_and_failures(self):
        good = self.mx_sink('mx.dane.test')
        bad = self.mx_sink('mx.other.dane.test')
        spoofed = self.mx_sink('mx.bogus.dane.test')
        good_tlsa = tlsa_from_pem(good.leaf, 3, 1, 1)
        wrong_tlsa = tlsa_from_pem(self.certs.leaf('elsewhere.dane.test')[2], 3, 1, 1)
        rua = 'v=TLSRPTv1; rua=mailto:' + RUA
        w = self.world(
            {'dane.test': {'MX': (10, 'mx.dane.test')},
             'mx.dane.test': {'A': good.addr, 'TLSA': good_tlsa},
             'other.dane.test': {'MX': (10, 'mx.other.dane.test')},
             'mx.other.dane.test': {'A': bad.addr, 'TLSA': wrong_tlsa},
             'bogus.dane.test': {'MX': (10, 'mx.bogus.dane.test')},
             'mx.bogus.dane.test': {'A': spoofed.addr,
                                    'TLSA': tlsa_from_pem(spoofed.leaf, 3, 1, 1)},
             '_smtp._tls.dane.test': {'TXT': rua},
             '_smtp._tls.other.dane.test': {'TXT': rua},
             '_smtp._tls.bogus.dane.test': {'TXT': rua}},
            bogus=[('_25._tcp.mx.bogus.dane.test', 'TLSA')])
        srv = self.daemon(dns_servers=w.server, dnssec='yes', retry_min='1h',
                          retry_max='2h', tls_reporting='yes',
                          mailbox_users=USERS + ['tlsrpt'])
        for i in range(2):
            self.send(srv, SENDER, ['friend@dane.test'], message('dane %d' % i))
        q_bad = self.send(srv, SENDER, ['friend@other.dane.test'], message('mismatch'))
        q_bogus = self.send(srv, SENDER, ['friend@bogus.dane.test'], message('bogus'))
        self.assert_in_tls(good, 2)
        self.status_line(srv, q_bad, 'friend@other.dane.test', 'deferred')
        self.status_line(srv, q_bogus, 'friend@bogus.dane.test', 'deferred')

        reports = trigger_and_read(self, srv, 3)
        self.assertEqual(sorted(reports), ['bogus.dane.test', 'dane.test',
                                           'other.dane.test'])
        pol = {d: r[2]['policies'] for d, r in reports.items()}
        for d in pol:
            self.assertEqual(len(pol[d]), 1, pol[d])
            self.assertEqual(pol[d][0]['policy']['policy-type'], 'tlsa')
            self.assertEqual(pol[d][0]['policy']['policy-domain'], d)
            self.assertEqual(pol[d][0]['policy']['mx-host'], 'mx.' + d)
        ok = pol['dane.test'][0]
        self.assertEqual([s.lower() for s in ok['policy']['policy-string']],
                         [good_tlsa.lower()])
        self.assertEqual(ok['summary'], {'total-successful-session-count': 2,
                                         'total-failure-session-count': 0})
        mism = pol['other.dane.test'][0]
        self.assertEqual([s.lower() for s in mism['policy']['policy-string']],
                         [wrong_tlsa.lower()])
        self.assertEqual(mism['summary']['total-failure-session-count'], 1)
        self.assertEqual([(f['result-type'], f['receiving-ip'], f['failed-session-count'])
                          for f in mism['failure-details']],
                         [('validation-failure', bad.addr, 1)])
        bog = pol['bogus.dane.test'][0]
        self.assertEqual(bog['summary'], {'total-successful-session-count': 0,
                                          'total-failure-session-count': 1})
        self.assertEqual([(f['result-type'], f['receiving-mx-hostname'])
                          for f in bog['failure-details']],
                         [('dnssec-invalid', 'mx.bogus.dane.test')])
        self.assert_no_mail(spoofed, srv)


    @sallytest.within_one_utc_day
    def test_tls_required_no_session_not_counted_under_tlsa(self):
        # A "TLS-Required: No" message goes to a host whose TLSA records
        # do not match, unchecked (RFC 8689 5): no policy applied to that
        # session, so the domain is not told it succeeded under tlsa.
        bad = self.mx_sink('mx.other.dane.test')
        wrong_tlsa = tlsa_from_pem(self.certs.leaf('elsewhere.dane.test')[2], 3, 1, 1)
        w = self.world(
            {'other.dane.test': {'MX': (10, 'mx.other.dane.test')},
             'mx.other.dane.test': {'A': bad.addr, 'TLSA': wrong_tlsa},
             '_smtp._tls.other.dane.test': {'TXT': 'v=TLSRPTv1; rua=mailto:' + RUA}})
        srv = self.daemon(dns_servers=w.server, dnssec='yes', retry_min='1h',
                          retry_max='2h', tls_reporting='yes',
                          mailbox_users=USERS + ['tlsrpt'])
        q_strict = self.send(srv, SENDER, ['friend@other.dane.test'], message('strict'))
        self.status_line(srv, q_strict, 'friend@other.dane.test', 'deferred')
        q_no = self.send(srv, SENDER, ['friend@other.dane.test'],
                         b'TLS-Required: No\r\n' + message('anyway'))
        self.status_line(srv, q_no, 'friend@other.dane.test', 'sent')
        self.assert_in_tls(bad, 1)
        reports = trigger_and_read(self, srv, 1)
        [pol] = reports['other.dane.test'][2]['policies']
        self.assertEqual(pol['summary'], {'total-successful-session-count': 0,
                                          'total-failure-session-count': 1})

class Sts(test_mta_sts.MtaSts):
    """TLS-RPT under MTA-STS: policy-type sts (port 25 and 443: root)."""

    def sts_reports(self, npolicies=1, **overrides):
        dns = self.dns(txt={'_smtp._tls.' + test_mta_sts.DOMAIN:
                            'v=TLSRPTv1; rua=mailto:' + RUA})
        srv = self.sts_daemon(dns, tls_reporting='yes',
                              mailbox_users=USERS + ['tlsrpt'], **overrides)
        qid = self.send(srv, SENDER, [test_mta_sts.RCPT], message('sts'))
        self.status_line(srv, qid, test_mta_sts.RCPT, 'sent')
        report = trigger_and_read(self, srv, 1)[test_mta_sts.DOMAIN][2]
        self.assertEqual(len(report['policies']), npolicies, report)
        return report['policies']

    @sallytest.within_one_utc_day
    def test_enforced_session_reported_under_sts(self):
        self.mx_sink()
        self.web.start()
        pol = self.sts_reports()[0]
        self.assertEqual(pol['policy'], {
            'policy-type': 'sts', 'policy-domain': test_mta_sts.DOMAIN,
            'policy-string': ['version: STSv1', 'mode: enforce',
                              'mx: ' + test_mta_sts.MX, 'max_age: 86400'],
            'mx-host': [test_mta_sts.MX]})
        self.assertEqual(pol['summary'], {'total-successful-session-count': 1,
                                          'total-failure-session-count': 0})

    @sallytest.within_one_utc_day
    def test_policy_fetch_error_reported(self):
        self.mx_sink(name='wrong.example.net')
        self.web.body = test_mta_sts.policy(extra='x-padding: %s\r\n' % ('p' * 1000)) * 2
        self.web.start()
        # the failed fetch under sts; the session, made without a
        # policy, as no-policy-found
        pol, session = self.sts_reports(2, mta_sts_max_size='1k')
        self.assertEqual(pol['policy']['policy-type'], 'sts')
        self.assertNotIn('policy-string', pol['policy'])
        self.assertEqual(pol['summary'], {'total-successful-session-count': 0,
                                          'total-failure-session-count': 1})
        self.assertEqual([f['result-type'] for f in pol['failure-details']],
                         ['sts-policy-fetch-error'])
        self.assertEqual(session['policy']['policy-type'], 'no-policy-found')
        self.assertEqual(session['summary']['total-successful-session-count'], 1)


def load_tests(loader, tests, pattern):
    """The tests of this file only, not those of the classes its cases
    are made from (test_dane's, test_mta_sts's)."""
    suite = unittest.TestSuite()
    for cls in (Tlsrpt, Dane, Sts):
        suite.addTests(cls(name) for name in loader.getTestCaseNames(cls)
                       if name in cls.__dict__)
    return suite


if __name__ == '__main__':
    sallytest.main()
