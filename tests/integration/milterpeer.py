"""milterpeer - a scriptable milter for sallyport's tests, and its harness.

The milter is pymilter (Debian python3-milter: Python over Sendmail's
reference libmilter), so the protocol on the wire is libmilter's own, not
ours. Run as a program (by MilterPeer, under Debian's /usr/bin/python3, the
interpreter python3-milter is built for) it listens on a unix or loopback
socket, answers each stage as a JSON script says, makes the script's
modifications at end of message, and records what it received to a JSON
file that the test reads.

    peer = self.milter_peer(script={...})          # MilterTestCase, or:
    peer = MilterPeer(tmpdir, script={...}).start()
    srv = self.server(milter='test ' + peer.address)
    ... SMTP ...
    msg = peer.messages()[-1]                      # what the milter saw

The script (a dict; set_script() replaces it, taken at each new connection
and each MAIL, so one peer can answer messages differently):

    "replies": {STAGE: REPLY, ...}
        STAGE is connect, helo, mail, rcpt, data, header, eoh, body, eom
        (or unknown); unnamed stages continue. REPLY is one of "continue",
        "accept", "reject", "tempfail", "discard" ("skip" in body), or a
        reply code {"code": "550", "xcode": "5.7.1", "text": ["line", ...]}
        (5xx rejects, 4xx tempfails; several lines give a multi-line
        reply), or {"by_arg": {ARG: REPLY}, "default": REPLY} to answer by
        the stage's argument (the HELO name, the MAIL or RCPT address as
        the MTA sends it: sallyport without brackets, miltertest as
        given; or the header's name).
    "eom": [ACTION, ...], done in order at end of message, before the eom
        reply:
        {"action": "addheader", "name": N, "value": V}
        {"action": "insheader", "index": I, "name": N, "value": V}
        {"action": "chgheader", "name": N, "index": I, "value": V}  (I from 1)
        {"action": "delheader", "name": N, "index": I}  (chgheader, no value)
        {"action": "addrcpt", "rcpt": "<x@y>", "args": "NOTIFY=NEVER"}  (args optional)
        {"action": "delrcpt", "rcpt": "<x@y>"}
        {"action": "chgfrom", "sender": "<x@y>", "args": "..."}  (args optional)
        {"action": "replacebody", "chunks": [TEXT, ...]}
        {"action": "quarantine", "reason": TEXT}
    "sleep": {STAGE: SECONDS}: wait before answering (a slow milter)
    "leading_space": true: negotiate SMFIP_HDR_LEADSPC (header values as
        sent, with the space after the colon)
    "macros": [NAME, ...]: macro names to record besides MACROS

Strings in the script and in the record are text; octets that are not
UTF-8 travel as surrogate escapes (raw() gives the bytes back).

The record (record(), a dict):

    {"connections": [{
        "id": N, "offered": {"actions": A, "protocol": P},
        "protocol": P (negotiated),
        "connect": {"hostname": H, "family": "inet"|"inet6"|"unix"|"unknown",
                    "addr": ADDR, "port": PORT, "macros": {...}},
        "helo": [{"name": H, "macros": {...}}, ...],
        "messages": [{
            "mail": {"sender": S, "args": [...], "macros": {...}},
            "rcpts": [{"rcpt": R, "args": [...], "macros": {...}}, ...],
            "data": {"macros": {...}},
            "headers": [[NAME, VALUE], ...], "header_macros": {...},
            "eoh": {"macros": {...}}, "body": TEXT, "body_chunks": N,
            "eom": {"macros": {...}}, "done": [ACTION, ...],
            "errors": [TEXT, ...], "aborted": BOOL}],
        "unknown": [CMD, ...], "closed": BOOL}]}

Macros are what getsymval() answers at that stage: libmilter keeps the
macros of earlier stages of the same connection (and message) visible.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# The interpreter python3-milter is built for (the tests may run under
# another python3 earlier in PATH).
DEBIAN_PYTHON = '/usr/bin/python3'

# The macros Postfix and Sendmail send that milters commonly read.
MACROS = ['j', '_', 'v', '{daemon_name}', '{daemon_addr}', '{daemon_port}',
          '{if_name}', '{if_addr}', 'i', '{auth_type}', '{auth_authen}',
          '{auth_author}', '{auth_ssf}', '{client_addr}', '{client_port}',
          '{client_name}', '{client_ptr}', '{client_resolve}', '{client_connections}',
          '{mail_addr}', '{mail_host}', '{mail_mailer}', '{rcpt_addr}',
          '{rcpt_host}', '{rcpt_mailer}', '{tls_version}', '{cipher}',
          '{cipher_bits}', '{cert_subject}', '{cert_issuer}']

STAGES = ('connect', 'helo', 'mail', 'rcpt', 'data', 'header', 'eoh', 'body',
          'eom', 'unknown')


def raw(text):
    """The octets of a recorded string."""
    return text.encode('utf-8', 'surrogateescape')


def text(octets):
    """A string for the script or the record from octets."""
    if isinstance(octets, str):
        return octets
    return octets.decode('utf-8', 'surrogateescape')


# --- the milter (runs under DEBIAN_PYTHON) -----------------------------------

def peer_main(argv):
    import argparse
    import Milter

    ap = argparse.ArgumentParser(description='scriptable test milter')
    ap.add_argument('--socket', required=True, help='libmilter socket: unix:PATH or inet:PORT@HOST')
    ap.add_argument('--script', required=True)
    ap.add_argument('--record', required=True)
    opts = ap.parse_args(argv)

    lock = threading.Lock()
    record = {'connections': []}

    def load_script():
        try:
            with open(opts.script) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def save():
        # The caller holds the lock; the test reads a whole file or none.
        tmp = opts.record + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, opts.record)

    reply_codes = {'continue': Milter.CONTINUE, 'accept': Milter.ACCEPT,
                   'reject': Milter.REJECT, 'tempfail': Milter.TEMPFAIL,
                   'discard': Milter.DISCARD, 'skip': Milter.SKIP}
    families = {0: 'unknown', 1: 'unix', 2: 'inet', 10: 'inet6'}

    class Peer(Milter.Base):
        def __init__(self):
            self.script = load_script()
            self.conn = {'id': Milter.uniqueID(), 'offered': None, 'protocol': None,
                         'connect': None, 'helo': [], 'messages': [], 'unknown': [],
                         'closed': False}
            self.msg = None
            with lock:
                record['connections'].append(self.conn)
                save()

        # helpers

        def macros(self):
            names = MACROS + [m for m in self.script.get('macros', []) if m not in MACROS]
            found = {}
            for name in names:
                value = self.getsymval(name)
                if value is not None:
                    found[name] = text(value)
            return found

        def note(self, fn):
            with lock:
                fn()
                save()

        def message(self):
            if self.msg is None:
                # Headers without MAIL (a script that accepted MAIL early
                # never sees it): still one message.
                self.msg = self.new_message()
            return self.msg

        def new_message(self):
            msg = {'mail': None, 'rcpts': [], 'data': None, 'headers': [],
                   'header_macros': None, 'eoh': None, 'body': '', 'body_chunks': 0,
                   'eom': None, 'done': [], 'errors': [], 'aborted': False}
            with lock:
                self.conn['messages'].append(msg)
                save()
            return msg

        def answer(self, stage, arg=None):
            delay = self.script.get('sleep', {}).get(stage)
            if delay:
                time.sleep(float(delay))
            spec = self.script.get('replies', {}).get(stage, 'continue')
            if isinstance(spec, dict) and 'by_arg' in spec:
                spec = spec['by_arg'].get(text(arg) if arg is not None else None,
                                          spec.get('default', 'continue'))
            if isinstance(spec, str):
                return reply_codes[spec]
            lines = spec.get('text') or ['']
            if isinstance(lines, str):
                lines = [lines]
            self.setreply(spec['code'], spec.get('xcode'), *lines)
            return Milter.REJECT if spec['code'].startswith('5') else Milter.TEMPFAIL

        # callbacks

        def negotiate(self, opts):
            offered = list(opts)
            rc = Milter.Base.negotiate(self, opts)
            self.note(lambda: self.conn.update(
                offered={'actions': offered[0], 'protocol': offered[1]},
                protocol=opts[1]))
            return rc

        def connect(self, hostname, family, hostaddr):
            addr = port = None
            if isinstance(hostaddr, tuple):
                addr, port = hostaddr[0], hostaddr[1]
            elif hostaddr is not None:
                addr = text(hostaddr)
            info = {'hostname': text(hostname), 'family': families.get(family, str(family)),
                    'addr': addr, 'port': port, 'macros': self.macros()}
            self.note(lambda: self.conn.update(connect=info))
            return self.answer('connect')

        def hello(self, name):
            info = {'name': text(name), 'macros': self.macros()}
            self.note(lambda: self.conn['helo'].append(info))
            return self.answer('helo', name)

        @Milter.decode('bytes')
        def envfrom(self, sender, *args):
            self.script = load_script()
            self.msg = self.new_message()
            info = {'sender': text(sender), 'args': [text(a) for a in args],
                    'macros': self.macros()}
            self.note(lambda: self.msg.update(mail=info))
            return self.answer('mail', sender)

        @Milter.decode('bytes')
        def envrcpt(self, rcpt, *args):
            info = {'rcpt': text(rcpt), 'args': [text(a) for a in args],
                    'macros': self.macros()}
            msg = self.message()
            self.note(lambda: msg['rcpts'].append(info))
            return self.answer('rcpt', rcpt)

        def data(self):
            msg = self.message()
            self.note(lambda: msg.update(data={'macros': self.macros()}))
            return self.answer('data')

        @Milter.decode('bytes')
        def header(self, name, value):
            msg = self.message()

            def add():
                msg['headers'].append([text(name), text(value)])
                if msg['header_macros'] is None:
                    msg['header_macros'] = self.macros()
            self.note(add)
            return self.answer('header', name)

        def eoh(self):
            msg = self.message()
            self.note(lambda: msg.update(eoh={'macros': self.macros()}))
            return self.answer('eoh')

        def body(self, chunk):
            msg = self.message()

            def add():
                msg['body'] += text(chunk)
                msg['body_chunks'] += 1
            self.note(add)
            return self.answer('body')

        def eom(self):
            msg = self.message()
            self.note(lambda: msg.update(eom={'macros': self.macros()}))
            for act in self.script.get('eom', []):
                try:
                    self.modify(act)
                    self.note(lambda: msg['done'].append(act))
                except Exception as e:  # noqa: BLE001 - recorded for the test
                    err = '%s: %s: %s' % (act.get('action'), type(e).__name__, e)
                    self.note(lambda: msg['errors'].append(err))
            rc = self.answer('eom')
            self.msg = None
            return rc

        def modify(self, act):
            what = act['action']
            if what == 'addheader':
                self.addheader(act['name'], act['value'])
            elif what == 'insheader':
                self.addheader(act['name'], act['value'], int(act['index']))
            elif what == 'chgheader':
                self.chgheader(act['name'], int(act['index']), act['value'])
            elif what == 'delheader':
                self.chgheader(act['name'], int(act['index']), None)
            elif what == 'addrcpt':
                self.addrcpt(act['rcpt'], act.get('args'))
            elif what == 'delrcpt':
                self.delrcpt(act['rcpt'])
            elif what == 'chgfrom':
                self.chgfrom(act['sender'], act.get('args'))
            elif what == 'replacebody':
                for chunk in act['chunks']:
                    self.replacebody(raw(chunk))
            elif what == 'quarantine':
                self.quarantine(act['reason'])
            else:
                raise ValueError('unknown action')

        def unknown(self, cmd):
            self.note(lambda: self.conn['unknown'].append(text(cmd)))
            return self.answer('unknown')

        def abort(self):
            if self.msg is not None:
                msg = self.msg
                self.note(lambda: msg.update(aborted=True))
            self.msg = None
            return Milter.CONTINUE

        def close(self):
            self.note(lambda: self.conn.update(closed=True))
            return Milter.CONTINUE

    # Every callback is overridden, so libmilter asks for every stage
    # with a reply; SMFIP_HDR_LEADSPC only when the script wants it.
    if load_script().get('leading_space'):
        Milter.enable_protocols(Peer, Milter.P_HDR_LEADSPC)

    with lock:
        save()
    Milter.factory = Peer
    run(Milter, opts.socket)


def run(Milter, socket_spec):
    """Milter.runmilter, with a line on stdout once the socket listens (the
    harness waits for it rather than for a fixed time)."""
    milter = Milter.milter
    milter.set_connect_callback(Milter.connect_callback)
    milter.set_helo_callback(lambda ctx, host: ctx.getpriv().hello(host))
    milter.set_envfrom_callback(lambda ctx, *b: ctx.getpriv().envfrom_bytes(*b))
    milter.set_envrcpt_callback(lambda ctx, *b: ctx.getpriv().envrcpt_bytes(*b))
    milter.set_header_callback(lambda ctx, f, v: ctx.getpriv().header_bytes(f, v))
    milter.set_eoh_callback(lambda ctx: ctx.getpriv().eoh())
    milter.set_body_callback(lambda ctx, chunk: ctx.getpriv().body(chunk))
    milter.set_eom_callback(lambda ctx: ctx.getpriv().eom())
    milter.set_abort_callback(lambda ctx: ctx.getpriv().abort())
    milter.set_close_callback(Milter.close_callback)
    milter.setconn(socket_spec)
    milter.register('milterpeer',
                    data=lambda ctx: ctx.getpriv().data(),
                    unknown=lambda ctx, cmd: ctx.getpriv().unknown(cmd),
                    negotiate=Milter.negotiate_callback)
    milter.opensocket(True)
    print('milterpeer: ready on %s' % socket_spec, flush=True)
    milter.main()


# --- the harness (runs in the test) -------------------------------------------

class PeerProcess:
    """A peer program the test runs in its own temp dir (self.dir), its
    process self.proc: stopped and removed at close()."""

    STOP_TIMEOUT = 20
    dir = proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        from sallytest_dns import stop_process
        stop_process(self.proc, self.STOP_TIMEOUT)
        self.proc = None

    def close(self):
        self.stop()
        if self.dir and not os.environ.get('SALLYTEST_KEEP'):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class MilterPeer(PeerProcess):
    """The scriptable milter as a process of the test, in its own temp dir
    under parent: unix socket by default, inet=True for 127.0.0.1:port.
    .address is the form sallyport's milter key takes."""

    START_TIMEOUT = 60

    def __init__(self, parent, script=None, inet=False, name='peer'):
        self.dir = tempfile.mkdtemp(prefix='milterpeer-', dir=parent)
        self.name = name
        self.script_path = os.path.join(self.dir, 'script.json')
        self.record_path = os.path.join(self.dir, 'record.json')
        self.log_path = os.path.join(self.dir, 'milter.log')
        self.inet = inet
        self.proc = None
        self.set_script(script or {})
        self._pick_address()

    def _pick_address(self):
        if self.inet:
            from sallytest_env import free_port
            self.port = free_port()
            self.socket_spec = 'inet:%d@127.0.0.1' % self.port
            self.address = 'inet:127.0.0.1:%d' % self.port
        else:
            self.path = os.path.join(self.dir, 'milter.sock')
            self.socket_spec = 'unix:' + self.path
            self.address = 'unix:' + self.path

    def set_script(self, script):
        """Replace the script; taken at the next connection or MAIL."""
        tmp = self.script_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(script, f)
        os.replace(tmp, self.script_path)

    def start(self):
        from sallytest_env import wait_until
        if not os.path.exists(DEBIAN_PYTHON):
            raise RuntimeError('%s is missing' % DEBIAN_PYTHON)
        for attempt in range(3):
            log = open(self.log_path, 'ab')
            try:
                self.proc = subprocess.Popen(
                    [DEBIAN_PYTHON, os.path.abspath(__file__), '--socket', self.socket_spec,
                     '--script', self.script_path, '--record', self.record_path],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            finally:
                log.close()
            ready = wait_until(lambda: self.proc.poll() is not None
                             or 'milterpeer: ready' in self.log(), self.START_TIMEOUT)
            if ready and self.proc.poll() is None:
                return self
            self.stop()
            # A free port can be taken before the peer binds it.
            if self.inet and attempt < 2:
                self._pick_address()
                continue
            break
        raise AssertionError('milterpeer did not start:\n' + self.log())

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    # what it received

    def record(self):
        try:
            with open(self.record_path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {'connections': []}

    def connections(self):
        return self.record()['connections']

    def messages(self):
        """Every message of every connection, in order."""
        return [m for c in self.connections() for m in c['messages']]

    def wait(self, pred, timeout=30):
        """pred(record) true within timeout; returns the record or fails."""
        from sallytest_env import wait_until
        got = wait_until(lambda: (lambda r: r if pred(r) else None)(self.record()), timeout)
        if not got:
            raise AssertionError('milterpeer: not seen within %d s; record:\n%s\nlog:\n%s'
                                 % (timeout, json.dumps(self.record(), indent=1), self.log()))
        return got


# --- miltertest (Debian miltertest: the MTA side, in Lua) ----------------------

def lua_string(value):
    """A Lua string literal of str or bytes, every octet outside printable
    ASCII escaped as \\ddd."""
    octets = raw(value) if isinstance(value, str) else value
    out = []
    for b in octets:
        if 32 <= b < 127 and b not in (ord('"'), ord('\\')):
            out.append(chr(b))
        else:
            out.append('\\%03d' % b)
    return '"' + ''.join(out) + '"'


def miltertest(lua, directory, timeout=120):
    """Run a Lua script under miltertest; (exit status, output)."""
    path = os.path.join(directory, 'script-%d.lua' % time.monotonic_ns())
    with open(path, 'w') as f:
        f.write(lua)
    p = subprocess.run(['miltertest', '-s', path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', 'replace')


if __name__ == '__main__':
    peer_main(sys.argv[1:])
