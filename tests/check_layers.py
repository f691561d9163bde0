#!/usr/bin/env python3
"""The layers of src/ and the check that keeps them (run by "make check").

Each sub-folder of src/ is a layer. A file may include headers and call
functions of its own layer and of the layers its row names, nothing else;
and no two files call each other, directly or round a longer loop (the
call graph between files has no cycle), so that each file can be read,
tested and replaced on top of what it uses. doc/design.md shows the same
table as a picture.

Two checks:
  - every #include "..." in src/ (read from the sources), naming the file
    and line of one that reaches a layer its row does not name;
  - the calls between files (read with nm from the objects of a build,
    when SALLYPORT_BUILDDIR or the first argument names one): a call to a
    layer not allowed, or a cycle of calls between files, naming the
    functions that make it.
"""

import os
import re
import subprocess
import sys

# layer: (role, the layers it may use). Bottom first.
LAYERS = {
    'lib': ('general-purpose code with no knowledge of sallyport: buffers, '
            'logging, addresses, base64, IP tables, IDNA, sd_notify, '
            'Received counting, 8-bit MIME conversion, deadlines, directory '
            'sync, process set-up',
            []),
    'conf': ('the configuration: the key table, value parsers, '
             'cross-checks, alias tables, our own addresses',
             ['lib']),
    'dns': ('DNS through c-ares: answers, cache, MX and address resolution',
            ['lib', 'conf']),
    'sec': ('TLS (OpenSSL) and SASL (Cyrus) for the server and the client',
            ['lib', 'conf']),
    'auth': ('mail authentication without I/O: SPF, DKIM and DMARC '
             'parsers, canonicalization, signing and evaluation (DNS '
             'answers come from the caller)',
             ['lib']),
    'tlspol': ('outbound TLS policy without I/O: MTA-STS records and '
               'policies, MX name patterns, TLS-RPT records, results and '
               'reports (DNS and HTTPS answers come from the caller)',
               ['lib']),
    'milter': ('the milter protocol without I/O: commands, replies, a '
               'message cut into fields and chunks, header edits',
               ['lib']),
    'queue': ('the durable queue: entries, commit, the committer thread, '
              'queue control',
              ['lib', 'conf']),
    'smtp': ('the SMTP engine, without I/O: command table, session, DATA, '
             'parameters, AUTH dialogue, Received, addresses, relay policy',
             ['lib', 'conf', 'dns', 'sec', 'auth', 'queue']),
    'deliver': ('the queue runner: routing, MX, the SMTP/LMTP client, '
                'Maildir, qmail-queue, bounces, loop guards',
                ['lib', 'conf', 'dns', 'sec', 'auth', 'tlspol', 'queue',
                 'smtp']),
    'selftest': ('the open-relay self-test, in process and against a '
                 'running server',
                 ['lib', 'conf', 'dns', 'sec', 'auth', 'tlspol', 'queue',
                  'smtp']),
    'daemon': ('the server: processes, workers, listeners, connections, '
               'reload and configuration generations',
               ['lib', 'conf', 'dns', 'sec', 'auth', 'tlspol', 'milter',
                'queue', 'smtp', 'deliver']),
    'import': ('sallyport-import-qmail: a qmail setup as a sallyport.conf',
               ['lib', 'conf']),
    'inject': ('sallyport-sendmail: sendmail(1) for local programs, the '
               'message to the daemon over its local socket',
               ['lib', 'conf']),
    # src/main.c: the sallyport program's command line, on top of all.
    '.': ('the sallyport program: command line and start-up',
          ['lib', 'conf', 'dns', 'sec', 'auth', 'tlspol', 'milter',
           'queue', 'smtp', 'deliver', 'selftest', 'daemon']),
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path):
    """The layer of a path relative to src/: its folder, '.' for top."""
    head, _, rest = path.partition('/')
    return head if rest else '.'


def may_use(user, used):
    return used == user or used in LAYERS[user][1]


def check_includes(srcdir):
    errors = []
    for root, _, files in os.walk(srcdir):
        for name in sorted(files):
            if not name.endswith(('.c', '.h')):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, srcdir)
            user = layer_of(rel)
            if user not in LAYERS:
                errors.append(f'src/{rel}: folder {user} is not a layer '
                              f'(add it to LAYERS in tests/check_layers.py)')
                continue
            with open(full, encoding='utf-8') as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    if not os.path.exists(os.path.join(srcdir, inc)):
                        errors.append(f'src/{rel}:{n}: #include "{inc}": '
                                      f'not a path under src/ (write '
                                      f'"layer/file.h")')
                        continue
                    used = layer_of(inc)
                    if not may_use(user, used):
                        errors.append(
                            f'src/{rel}:{n}: #include "{inc}": layer '
                            f'{user} may not use layer {used} (it may use: '
                            f'{", ".join(LAYERS[user][1]) or "nothing"})')
    return errors


def objects(builddir):
    """{source path relative to src/: object} for the objects of a build.
    automake names an object after its source, with a target prefix
    ("sallyport-") when the target has flags of its own."""
    found = {}
    top = os.path.join(builddir, 'src')
    for root, _, files in os.walk(top):
        for name in files:
            if not name.endswith('.o'):
                continue
            stem = name[:-2]
            if stem.startswith('sallyport-'):
                stem = stem[len('sallyport-'):]
            rel = os.path.relpath(os.path.join(root, stem + '.c'), top)
            # Prefer the program's object; the library's is the same code.
            if rel not in found or name.startswith('sallyport-'):
                found[rel] = os.path.join(root, name)
    return found


def call_graph(objs):
    defined, undefined = {}, {}
    for src, obj in objs.items():
        out = subprocess.run(['nm', obj], capture_output=True, text=True,
                             check=True).stdout
        undefined[src] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in 'TDBRC':
                defined[parts[2]] = src
            elif len(parts) == 2 and parts[0] == 'U':
                undefined[src].add(parts[1])
    edges = {src: {} for src in objs}
    for src, syms in undefined.items():
        for sym in sorted(syms):
            to = defined.get(sym)
            if to is not None and to != src:
                edges[src].setdefault(to, []).append(sym)
    return edges


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def check_calls(builddir):
    objs = objects(builddir)
    if not objs:
        return [f'{builddir}/src: no objects (build first)']
    edges = call_graph(objs)
    errors = []
    for src in sorted(edges):
        user = layer_of(src)
        for to, syms in sorted(edges[src].items()):
            used = layer_of(to)
            if user in LAYERS and not may_use(user, used):
                errors.append(f'src/{src} calls {", ".join(syms)} in '
                              f'src/{to}: layer {user} may not use layer '
                              f'{used}')
    for comp in cycles(edges):
        lines = [f'a cycle of calls between {", ".join("src/" + c for c in comp)}:']
        for a in comp:
            for b in comp:
                if b in edges[a]:
                    lines.append(f'    src/{a} -> src/{b}: '
                                 f'{", ".join(edges[a][b])}')
        errors.append('\n'.join(lines))
    return errors


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    srcdir = os.path.join(os.environ.get('SALLYPORT_SRCDIR',
                                         os.path.dirname(here)), 'src')
    builddir = (sys.argv[1] if len(sys.argv) > 1
                else os.environ.get('SALLYPORT_BUILDDIR'))
    errors = check_includes(srcdir)
    if builddir:
        errors += check_calls(builddir)
    for e in errors:
        print(e)
    if errors:
        print(f'{len(errors)} layering error(s); the layers are in '
              f'tests/check_layers.py and doc/design.md')
        return 1
    print('layers: every include and call goes down or sideways, '
          'no cycles')
    return 0


if __name__ == '__main__':
    sys.exit(main())
