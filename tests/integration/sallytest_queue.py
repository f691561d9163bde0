"""sallytest_queue - reading what the daemon committed to its queue: an
entry's envelope header and message, and the Received header it prepends.

Tests import these names from sallytest, which re-exports them.
"""

import os
import re

from sallytest_env import CRLF

HEADER_ORDER = ['sallyport-queue', 'id', 'arrival', 'client', 'helo', 'proto',
                'auth', 'from', 'rcpt']


PREPEND_LINE = 11      # the prepend room's first line: "0000000168\n"


class QueueEntry:
    """One committed file in incoming/: envelope header and message.

    body is the message as received (our Received: field first);
    prepended the fields put in the entry's prepend room at the end of
    DATA (b'' without one: doc/queue.md); delivered() what a delivery
    sends, the two together."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        with open(path, 'rb') as f:
            self.raw = f.read()
        self.keys = []      # header keys in file order (rcpt repeated)
        self.header = {}    # key -> value (str); rcpt holds the last one
        self.rcpts = []
        pos = 0
        while True:
            end = self.raw.find(b'\n', pos)
            if end < 0:
                raise ValueError('%s: header not terminated by an empty line' % path)
            line = self.raw[pos:end]
            pos = end + 1
            if line == b'':
                break
            key, sep, value = line.decode('utf-8', 'surrogateescape').partition(' ')
            if not sep:
                raise ValueError('%s: header line without a space: %r' % (path, line))
            self.keys.append(key)
            self.header[key] = value
            if key == 'rcpt':
                self.rcpts.append(value)
        room = int(self.header.get('prepend', '0'))
        self.prepended = b''
        if room:
            used = int(self.raw[pos:pos + PREPEND_LINE])
            self.prepended = self.raw[pos + room - used:pos + room]
            pos += room
        self.body = self.raw[pos:]

    def delivered(self):
        return self.prepended + self.body

    def split(self):
        """(Received header, rest of the message): see split_received."""
        return split_received(self.body)

    def __repr__(self):
        return 'QueueEntry(%r, %r)' % (self.name, self.header)


def split_received(body):
    """Split off the prepended Received header: returns (header bytes with
    its continuation lines and CRLFs, the rest). Raises ValueError when the
    body does not start with a well-formed Received header."""
    if not body.startswith(b'Received:'):
        raise ValueError('message does not start with Received: %r' % body[:80])
    pos = 0
    while True:
        end = body.find(CRLF, pos)
        if end < 0:
            raise ValueError('Received header not ended by CRLF: %r' % body[:300])
        pos = end + 2
        if body[pos:pos + 1] not in (b'\t', b' '):
            return body[:pos], body[pos:]


def unfold(header):
    """A header field on one line (str): folding CRLFs removed."""
    text = header.decode('utf-8', 'surrogateescape')
    return re.sub(r'\r\n(?=[ \t])', '', text).rstrip('\r\n')
