#!/usr/bin/env python3
"""sallyport --selftest from every viewpoint: an untrusted IPv6 client
(in process, and over the network against the daemon's ::1 listener as a
second target), a client of mynetworks, each mx listener on its own, and
a PROXY-protocol listener (in process through the daemon's own decision,
and over the network with the self-test sending a real PROXY v1 header
to a running daemon). The probes of test_selftest.py, the same helpers.

Every configuration points dns_servers at a dnsmasq on loopback."""

import os
import socket

import sallytest
from test_selftest import HOSTS, UNTRUSTED, SelfTest

ROW_KEYS = {'number', 'idea', 'listener', 'client', 'exchanges', 'verdict',
            'relay_reached', 'note'}
RUN_KEYS = {'title', 'listener', 'client', 'via', 'probes'}


class Views(SelfTest):

    def check_shape(self, data):
        """Every row, of the first run and of the others, has its keys and
        names its listener and client; runs have theirs."""
        self.assertEqual(len(data['probes']), 20)
        for row in data['probes']:
            self.assertEqual(set(row), ROW_KEYS, row)
            self.assertTrue(row['listener'] and row['client'], row)
        for run in data['runs']:
            self.assertEqual(set(run), RUN_KEYS, run)
            self.assertEqual([r['number'] for r in run['probes']], list(range(20)))
            for row in run['probes']:
                self.assertEqual(set(row), ROW_KEYS, row)
                self.assertEqual((row['listener'], row['client']),
                                 (run['listener'], run['client']))

    def check(self, data, part):
        """The one check whose name holds `part`."""
        found = [c for c in data['positive'] if part in c['check']]
        self.assertEqual(len(found), 1, (part, [c['check'] for c in data['positive']]))
        return found[0]

    # IPv6

    def test_ipv6_client_in_process(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test'])
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 0)
        self.check_shape(data)
        v6 = data['runs'][0]
        self.assertEqual((v6['client'], v6['listener']), ('2001:db8::7', '*:25 mx'))
        self.assertEqual([r['verdict'] for r in v6['probes']],
                         [r['verdict'] for r in data['probes']])
        # The IPv6 client's own literal stands for TESTER_IP (probe 16).
        sent = [x['sent'] for x in v6['probes'][16]['exchanges'] if x['sent']]
        self.assertIn('RCPT TO:@[IPv6:2001:db8::7]:root@tester.example', sent)
        self.assertEqual(self.check(data, 'IPv6 client 2001:db8::7 on *:25 mx')['verdict'],
                         'PASS')

    def test_ipv6_trusted_wholesale_fails_naming_the_probes(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test',
                                      'mynetworks = 127.0.0.0/8 ::/0'])
        rc, out, err = self.selftest('-c', conf)
        self.assertEqual(rc, 1, out + err)
        line = [l for l in out.splitlines() if l.startswith('  FAIL  IPv6 client 2001:db8::7 on ')]
        self.assertEqual(len(line), 1, out)
        rc, data = self.report('-c', conf)
        c = self.check(data, 'IPv6 client 2001:db8::7 on ')
        self.assertEqual(c['verdict'], 'FAIL')
        self.assertIn('every IPv6 documentation address is in mynetworks', c['note'])
        self.assertIn('probe 0 PASS -> FAIL', c['note'])
        # Not an open relay from IPv4: the summary says checks failed.
        self.assertFalse(data['summary']['open_relay'])

    def test_ipv6_remote_second_target(self):
        """The daemon on 127.0.0.1 and ::1: the second target is the same
        server by IPv6, its probes a run of their own compared with IPv4's."""
        dns = self.dnsmasq(hosts=HOSTS)
        port6 = sallytest.free_port()
        srv = self.server(mynetworks=UNTRUSTED, dns_servers=dns.server,
                          extra_listen=['[::1]:%d mx' % port6])
        t4, t6 = '127.0.0.1:%d' % srv.mx_port, '[::1]:%d' % port6
        rc, data = self.report(t4, t6)
        self.assertEqual(rc, 0, data['positive'])
        self.check_shape(data)
        self.assertEqual(data['probes'][0]['listener'], t4)
        run = data['runs'][0]
        self.assertEqual((run['listener'], run['client']), (t6, '::1'))
        self.assertEqual([r['verdict'] for r in run['probes']],
                         [r['verdict'] for r in data['probes']])
        self.assertEqual(self.check(data, 'second target ' + t6)['verdict'], 'PASS')
        # ::1 trusted, 127.0.0.1 not: the families differ, and it shows.
        srv.reload(dict(srv.overrides, mynetworks='192.0.2.0/24 ::1/128'))
        rc, data = self.report(t4, t6)
        self.assertEqual(rc, 1)
        c = self.check(data, 'second target ' + t6)
        self.assertEqual(c['verdict'], 'FAIL')
        self.assertIn('probe 0 PASS -> FAIL', c['note'])
        self.assertEqual(srv.queue_names(), [])

    # mynetworks

    def test_trusted_client_relays(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test'])
        rc, data = self.report('-c', conf)
        c = self.check(data, 'in mynetworks can relay')
        self.assertEqual(c['check'], 'client 127.0.0.1 in mynetworks can relay to an outside domain')
        self.assertEqual(c['verdict'], 'PASS')
        rcpt = [x for x in c['exchanges'] if x['sent'] and x['sent'].startswith('RCPT')]
        self.assertEqual([(x['sent'], x['code']) for x in rcpt],
                         [('RCPT TO:<probe@external.example>', 250)])
        # Empty: N/A.
        conf = self.sample_conf(dns, ['hostname = mail.example.test', 'mynetworks ='],
                                name='empty.conf')
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 0)
        self.assertEqual(self.check(data, 'a client in mynetworks can relay')['verdict'], 'N/A')
        # Set, and yet the client cannot relay (denied outright): FAIL.
        conf = self.sample_conf(dns, ['hostname = mail.example.test',
                                      'client_deny = 127.0.0.1/32'], name='denied.conf')
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 1)
        c = self.check(data, 'client 127.0.0.1 in mynetworks can relay')
        self.assertEqual(c['verdict'], 'FAIL', c)

    def test_wide_networks_fail(self):
        """A network in mynetworks (or, with an mx proxy listener, in
        proxy_trusted) wider than an IPv4 /8 or a /16 of global IPv6 lets
        that much of the Internet relay, though no documentation address
        the probes come from is in it: a FAIL naming it, exit 1."""
        dns = self.dnsmasq(hosts=HOSTS)
        name = 'mynetworks and proxy_trusted hold no network wider'
        for i, (extra, wide) in enumerate((
                (['mynetworks = 127.0.0.0/8 0.0.0.0/1'], 'mynetworks 0.0.0.0/1'),
                (['mynetworks = 127.0.0.0/8 2400::/6'], 'mynetworks 2400::/6'),
                (['mynetworks = 127.0.0.0/8 ::ffff:0.0.0.0/97'], 'mynetworks ::ffff:0.0.0.0/97'),
                (['mynetworks = 127.0.0.1/32', 'proxy_trusted = 0.0.0.0/1',
                  'listen = 127.0.0.1:2525 mx proxy'], 'proxy_trusted 0.0.0.0/1'))):
            conf = self.sample_conf(dns, ['hostname = mail.example.test'] + extra,
                                    name='wide%d.conf' % i)
            rc, data = self.report('-c', conf)
            self.assertEqual(rc, 1, extra)
            c = self.check(data, name)
            self.assertEqual(c['verdict'], 'FAIL', (extra, c))
            self.assertIn(wide, c['note'])
        # The usual networks, a private /8 and a site's IPv6 /48 pass; a
        # wide proxy_trusted without an mx proxy listener trusts nobody.
        conf = self.sample_conf(dns, ['hostname = mail.example.test',
                                      'mynetworks = 127.0.0.0/8 10.0.0.0/8 fc00::/7 '
                                      '2001:db8:5::/48 ::1/128',
                                      'proxy_trusted = 0.0.0.0/1'], name='narrow.conf')
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 0)
        self.assertEqual(self.check(data, name)['verdict'], 'PASS')

    # each listener

    def test_two_mx_listeners_named_in_rows(self):
        dns = self.dnsmasq(hosts=HOSTS)
        # Listen lines given here replace the sample's.
        conf = self.sample_conf(dns, ['hostname = mail.example.test',
                                      'listen = 127.0.0.1:2524 mx',
                                      'listen = 127.0.0.1:2525 mx'])
        rc, out, err = self.selftest('-c', conf)
        self.assertEqual(rc, 0, out + err)
        self.assertIn('\nProbes as untrusted client 203.0.113.7 on the listener '
                      '127.0.0.1:2525 mx.\n', out)
        for listener, n in (('127.0.0.1:2524 mx', 40), ('127.0.0.1:2525 mx', 20)):
            rows = [l for l in out.splitlines()
                    if l[:3].strip().isdigit() and l[5:5 + len(listener) + 2] == listener + '  ']
            self.assertEqual(len(rows), n, (listener, out))
        rc, data = self.report('-c', conf)
        self.check_shape(data)
        self.assertEqual([r['listener'] for r in data['runs']],
                         ['127.0.0.1:2524 mx', '127.0.0.1:2525 mx'])
        self.assertEqual(self.check(data, 'listener 127.0.0.1:2525 mx: ')['verdict'], 'PASS')

    # PROXY protocol

    def test_proxy_listener_in_process(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test',
                                      'listen = 127.0.0.1:2525 mx',
                                      'listen = 127.0.0.1:2526 mx proxy',
                                      'proxy_trusted = 10.1.2.0/24'])
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 0, data['positive'])
        self.check_shape(data)
        run = data['runs'][-1]
        self.assertEqual((run['listener'], run['client']), ('127.0.0.1:2526 mx proxy', '203.0.113.7'))
        self.assertEqual(run['via'], 'from proxy 10.1.2.1: PROXY TCP4 203.0.113.7 127.0.0.1 '
                                     '40000 2526 (believed: the session is the client\'s)')
        self.assertEqual({r['verdict'] for r in run['probes']} - {'PASS', 'WEAK'}, set())
        outside = self.check(data, 'naming outside client 203.0.113.7')
        self.assertEqual(outside['verdict'], 'PASS')
        claim = self.check(data, 'a header naming mynetworks client 127.0.0.1 from 203.0.113.7')
        self.assertEqual(claim['verdict'], 'PASS')
        self.assertIn('closed (not in proxy_trusted)', claim['note'])

    def test_proxy_trusted_wide_open_fails(self):
        dns = self.dnsmasq(hosts=HOSTS)
        conf = self.sample_conf(dns, ['hostname = mail.example.test',
                                      'listen = 127.0.0.1:2525 mx',
                                      'listen = 127.0.0.1:2526 mx proxy',
                                      'proxy_trusted = 0.0.0.0/0'])
        rc, out, err = self.selftest('-c', conf)
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out, r'(?m)^  FAIL  proxy listener 127.0.0.1:2526 mx proxy: a header '
                              r'naming mynetworks client 127.0.0.1 from 203.0.113.7')
        rc, data = self.report('-c', conf)
        self.assertEqual(rc, 1)
        claim = self.check(data, 'a header naming mynetworks client')
        self.assertIn('proxy_trusted holds every documentation address', claim['note'])

    def test_proxy_listener_remote_sends_a_header(self):
        """A real daemon whose proxy listener trusts 127.0.0.1, which is
        also in mynetworks: without the header's word the tester would
        relay, so a PASS shows that the header was believed."""
        dns = self.dnsmasq(hosts=HOSTS)
        pport = sallytest.free_port()
        srv = self.server(mynetworks='127.0.0.0/8', dns_servers=dns.server,
                          proxy_trusted='127.0.0.1/32',
                          extra_listen=['127.0.0.1:%d mx proxy' % pport])
        target = '127.0.0.1:%d' % pport
        rc, data = self.report('--proxy', target)
        self.assertEqual(rc, 0, data['summary'])
        self.check_shape(data)
        self.assertEqual(data['client']['address'], '203.0.113.7')
        self.assertIn('named by the PROXY v1 header', data['client']['note'])
        self.assertEqual(data['placeholders']['TESTER_IP'], '203.0.113.7')
        self.assertEqual({p['verdict'] for p in data['probes']} - {'PASS', 'WEAK'}, set())
        self.assertEqual(data['probes'][0]['listener'], target)
        self.assertEqual(srv.queue_names(), [])
        with open(srv.log_path) as f:
            self.assertIn('connect from [203.0.113.7] via proxy [127.0.0.1]', f.read())
        # Out of proxy_trusted: the header is not believed, and the
        # report says what to look at.
        srv.reload(dict(srv.overrides, proxy_trusted='127.0.0.2/32'))
        rc, out, err = self.selftest('--proxy', target)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("in the server's proxy_trusted", err)



class Features(SelfTest):
    """The DNSBL and SPF/DMARC lines: the lists asked on the loopback DNS
    for their test entry, the daemon's own verdicts."""

    def run_features(self, extra, hosts=None, servers=None):
        dns = self.dnsmasq(hosts=dict(HOSTS, **(hosts or {})), servers=servers)
        conf = self.sample_conf(dns, extra)
        rc, data = self.report('-c', conf)
        return rc, {c['check']: c for c in data['positive']}

    def named(self, checks, start):
        found = [c for name, c in checks.items() if name.startswith(start)]
        self.assertEqual(len(found), 1, (start, list(checks)))
        return found[0]

    def test_dnsbl_listing_its_test_entry_passes(self):
        rc, checks = self.run_features(['dnsbl = bl.test'],
                                       {'2.0.0.127.bl.test': '127.0.0.2'})
        self.assertEqual(rc, 0, checks)
        line = self.named(checks, 'DNSBL bl.test answers for its test entry 127.0.0.2')
        self.assertEqual(line['verdict'], 'PASS', line)
        line = self.named(checks, 'DNSBL: a client listed')
        self.assertEqual(line['verdict'], 'PASS', line)
        self.assertEqual(line['note'], 'refused at connect: 554 5.7.1 Service unavailable; '
                                       'client [127.0.0.2] blocked using bl.test')

    def test_dnsbl_not_listing_its_test_entry_warns(self):
        rc, checks = self.run_features(['dnsbl = bl.test typo.test'],
                                       {'2.0.0.127.bl.test': '127.0.0.2'})
        self.assertEqual(rc, 0, checks)
        line = self.named(checks, 'DNSBL typo.test answers')
        self.assertEqual(line['verdict'], 'WEAK', line)
        self.assertIn('the list does not answer for its test entry (typo in the zone name, '
                      'or the resolver is blocked by the list)', line['note'])
        self.assertEqual(self.named(checks, 'DNSBL bl.test answers')['verdict'], 'PASS')
        self.assertEqual(self.named(checks, 'DNSBL: a client listed')['verdict'], 'PASS')
        # No list answers: the daemon's line is not checked.
        rc, checks = self.run_features(['dnsbl = typo.test'])
        self.assertEqual(self.named(checks, 'DNSBL typo.test answers')['verdict'], 'WEAK')
        self.assertEqual(self.named(checks, 'DNSBL: a client listed')['verdict'], 'N/A')

    def test_dnsbl_without_answer_is_an_error(self):
        # Questions for slow.test go to a socket that never answers.
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(('127.0.0.1', 0))
        self.addCleanup(hole.close)
        rc, checks = self.run_features(
            ['dnsbl = slow.test', 'dns_timeout = 1s'],
            servers={'slow.test': '127.0.0.1#%d' % hole.getsockname()[1]})
        self.assertEqual(rc, 2, checks)
        line = self.named(checks, 'DNSBL slow.test answers')
        self.assertEqual(line['verdict'], 'ERROR', line)
        self.assertIn('no answer for 2.0.0.127.slow.test through dns_servers', line['note'])

    def test_spf_dmarc_enforced_passes(self):
        rc, checks = self.run_features(['spf_policy = enforce', 'dmarc_policy = enforce'])
        self.assertEqual(rc, 0, checks)
        line = self.named(checks, 'SPF/DMARC enforcement')
        self.assertEqual(line['verdict'], 'PASS', line)
        self.assertIn('an SPF fail at MAIL refused: 550 5.7.23 SPF check failed: '
                      'tester.example does not permit [203.0.113.7]', line['note'])
        self.assertIn('at the end of DATA refused: 550 5.7.1 DMARC policy of the From: '
                      'domain: reject: tester.example', line['note'])

    def test_dmarc_only_recorded_is_weak(self):
        rc, checks = self.run_features(['spf_policy = enforce', 'dmarc_policy = header'])
        self.assertEqual(rc, 0, checks)
        line = self.named(checks, 'SPF/DMARC enforcement')
        self.assertEqual(line['verdict'], 'WEAK', line)
        self.assertIn('dmarc_policy = header: a DMARC failure (p=reject) at the end of DATA '
                      'is only recorded in Authentication-Results, not refused', line['note'])
        # Neither enforced: no line.
        rc, checks = self.run_features([])
        self.assertFalse([n for n in checks if n.startswith(('SPF/DMARC', 'DNSBL'))], checks)


if __name__ == '__main__':
    sallytest.main()
