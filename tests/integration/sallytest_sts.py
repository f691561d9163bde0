"""sallytest_sts - an MTA-STS policy server on loopback, over HTTPS.

policy() writes a policy body; loopback_listener(port) finds a 127.x
address where a privileged port is free; PolicyServer serves
/.well-known/mta-sts.txt there with Python's http.server over TLS, and
answers as the test says (status, media type, a redirect, a held or
cut-short answer). Port 443 needs root: the tests that use it skip
otherwise. Used by test_mta_sts (the queue runner's fetch) and
test_selftest_dns_tls (the deployment doctor's).
"""

import http.server
import random
import socket
import ssl
import threading


def policy(mode='enforce', mx=(), max_age=86400, extra=''):
    """A policy body (RFC 8461 3.2), CRLF lines, in bytes."""
    return ('version: STSv1\r\nmode: %s\r\n' % mode
            + ''.join('mx: %s\r\n' % m for m in mx)
            + 'max_age: %d\r\n' % max_age + extra).encode()


def loopback_listener(port):
    """A random 127.x.y.z address where port is free, and that socket
    closed again: the address."""
    for _ in range(20):
        addr = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255),
                                 random.randint(2, 254))
        with socket.socket() as s:
            try:
                s.bind((addr, port))
                return addr
            except OSError:
                continue
    raise AssertionError('no free loopback address for port %d' % port)


class PolicyServer:
    """An MTA-STS policy server on addr:443 (https://mta-sts.DOMAIN
    once DNS names addr so), cert and key its certificate. body, status, ctype and
    location say what it answers; with hold set it waits for release (an
    Event) before answering. With close set the body has no length and
    ends with the connection: 'notify' sends TLS's close_notify first,
    'cut' closes without it (as anyone on the path can). requests lists
    (path, Host header) as they came; asked is set at the first."""

    def __init__(self, addr, cert, key, body=b''):
        self.addr = addr
        self.body = body
        self.status = 200
        self.ctype = 'text/plain'
        self.location = None
        self.hold = False
        self.close = None
        self.release = threading.Event()
        self.asked = threading.Event()
        self.requests = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.httpd = None

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append((self.path, self.headers.get('Host')))
                owner.asked.set()
                if owner.hold:
                    owner.release.wait(120)
                self.send_response(owner.status)
                if owner.location:
                    self.send_header('Location', owner.location)
                self.send_header('Content-Type', owner.ctype)
                if owner.close is None:
                    self.send_header('Content-Length', str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)
                self.wfile.flush()
                if owner.close == 'notify':
                    self.connection.unwrap()

        self.httpd = http.server.ThreadingHTTPServer((self.addr, 443), Handler)
        self.httpd.daemon_threads = True
        # Clients that give up (a timeout, a certificate they refuse) are
        # what the tests want; no traceback for them.
        self.httpd.handle_error = lambda request, address: None
        self.httpd.socket = self.ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.release.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
