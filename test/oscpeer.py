#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# oscpeer.py: an OSC client made of raw UDP sockets, for the tests of the
# hub's OSC access rules (test/it_osc_access.sh, test/it_osc.sh): it sends
# from one socket (so from one address AND port, which bandbridge ctl, a new
# socket per run, cannot), from any local address (--bind 127.0.0.2, or an
# address inside a network namespace), and crafts what no OSC library sends:
# bundles time-tagged a year ahead, floods of /auth.
#
#   oscpeer.py send [--bind IP] [--expect N] [--wait S] [--sizes] [--bundle-ahead] HOST PORT
#                   MSG [-- MSG]...
#       MSG is "/path arg...": an integer is sent as i, a number with '.' as
#       f, anything else as s. Sends them in order from one socket, then
#       prints every message that comes back ("/path arg..."; bundles
#       flattened; "# LEN" before each datagram with --sizes) until N
#       messages came (then exits 0) or S seconds (default 1) passed with
#       fewer (exits 1; with no --expect, 0). --bundle-ahead: all MSGs in one
#       bundle time-tagged a year ahead.
#   oscpeer.py bundles HOST PORT --bind IP --count N --size BYTES [--probe-seconds S]
#                      [--stop-file F]
#       Sends N bundles of about BYTES each, time-tagged a year ahead, full of
#       /mix/main/ch/in_1/gain -1, from IP; meanwhile another socket (on
#       127.0.0.1) asks /info every 10 ms until S seconds after the last
#       bundle. Prints "probes=.. answered=.. p50_ms=.. p99_ms=.. max_ms=..".
#       With --stop-file, no probe: S seconds after the last bundle it
#       creates F (for a probe in another network namespace).
#   oscpeer.py probe HOST PORT --stop-file F
#       That probe alone, from 127.0.0.1, until F exists ("ready" on stderr
#       once it runs).
#   oscpeer.py authflood HOST PORT --bind IP --count N [--password W]
#       N wrong /auth from one socket as fast as the socket takes them,
#       then at once one with --password (the right one, if given). Prints
#       "sent=.. replies=.. max_reply=.. min_request=.. right=accepted|refused"
#       (refused: no /auth 1 came back within 1 s).
#   oscpeer.py cookie HOST PORT --bind IP --password W [--echo]
#       From one socket: /auth W, then /meters/subscribe 10. Prints every
#       datagram that comes back in 0.6 s as "LEN /path args". With --echo,
#       then sends /cookie COOKIE back and /meters/subscribe 10 again, and
#       prints what comes in the next second the same way.
import argparse
import socket
import struct
import sys
import time


def pad(b):
    return b + b'\0' * (4 - len(b) % 4)


def ostr(s):
    return pad(s.encode() if isinstance(s, str) else s)


def message(path, *args):
    tags, data = ',', b''
    for a in args:
        if isinstance(a, bool):
            tags += 'T' if a else 'F'
        elif isinstance(a, int):
            tags += 'i'
            data += struct.pack('>i', a)
        elif isinstance(a, float):
            tags += 'f'
            data += struct.pack('>f', a)
        else:
            tags += 's'
            data += ostr(a)
    return ostr(path) + ostr(tags) + data


def bundle(timetag, elements):
    out = b'#bundle\0' + struct.pack('>Q', timetag)
    for e in elements:
        out += struct.pack('>i', len(e)) + e
    return out


def ntp_in(seconds):
    """An OSC time tag `seconds` from now."""
    t = time.time() + 2208988800 + seconds
    return (int(t) << 32) | int((t % 1) * (1 << 32))


def parse_str(b, i):
    j = b.index(b'\0', i)
    return b[i:j].decode(errors='replace'), (j + 4) & ~3


def parse(b):
    """The messages of one packet: [(path, [args])]."""
    if b.startswith(b'#bundle\0'):
        out, i = [], 16
        while i + 4 <= len(b):
            n = struct.unpack('>i', b[i:i + 4])[0]
            out += parse(b[i + 4:i + 4 + n])
            i += 4 + n
        return out
    path, i = parse_str(b, 0)
    tags, i = parse_str(b, i)
    args = []
    for t in tags[1:]:
        if t == 'i':
            args.append(struct.unpack('>i', b[i:i + 4])[0]); i += 4
        elif t == 'f':
            args.append(struct.unpack('>f', b[i:i + 4])[0]); i += 4
        elif t == 'h':
            args.append(struct.unpack('>q', b[i:i + 8])[0]); i += 8
        elif t == 'd':
            args.append(struct.unpack('>d', b[i:i + 8])[0]); i += 8
        elif t in 'sS':
            s, i = parse_str(b, i); args.append(s)
        elif t == 'b':
            n = struct.unpack('>i', b[i:i + 4])[0]; args.append('<blob %d>' % n); i += (4 + n + 3) & ~3
        elif t in 'TF':
            args.append(1 if t == 'T' else 0)
    return [(path, args)]


def fmt(path, args):
    return ' '.join([path] + [('%g' % a) if isinstance(a, float) else str(a) for a in args])


def typed(a):
    try:
        return int(a)
    except ValueError:
        pass
    try:
        if '.' in a or 'e' in a.lower():
            return float(a)
    except ValueError:
        pass
    return a


def sock(bind, timeout=0.2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((bind, 0))
    s.settimeout(timeout)
    return s


def collect(s, seconds, until=None):
    """Datagrams that come within seconds (or until until(list) is true)."""
    got, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        s.settimeout(max(0.001, end - time.monotonic()))
        try:
            d, _ = s.recvfrom(65536)
        except socket.timeout:
            break
        got.append(d)
        if until and until(got):
            break
    return got


def cmd_send(a):
    msgs, cur = [], []
    for w in a.msg:
        if w == '--':
            if cur:
                msgs.append(cur)
            cur = []
        else:
            cur.append(w)
    if cur:
        msgs.append(cur)
    s = sock(a.bind)
    enc = [message(m[0], *[typed(x) for x in m[1:]]) for m in msgs]
    if a.bundle_ahead:
        s.sendto(bundle(ntp_in(365 * 86400), enc), (a.host, a.port))
    for m in enc if not a.bundle_ahead else []:
        s.sendto(m, (a.host, a.port))
    n = 0
    want = a.expect
    end = time.monotonic() + a.wait
    while time.monotonic() < end and (want is None or n < want):
        s.settimeout(max(0.001, end - time.monotonic()))
        try:
            d, _ = s.recvfrom(65536)
        except socket.timeout:
            break
        if a.sizes:
            print('# %d' % len(d))
        for path, args in parse(d):
            print(fmt(path, args), flush=True)
            n += 1
    return 0 if want is None or n >= want else 1


class Probe:
    """/info from 127.0.0.1 every 10 ms, each timed (1 s without an answer: 1000 ms)."""

    def __init__(self, host, port):
        self.s, self.to = sock('127.0.0.1'), (host, port)
        self.lat, self.answered = [], 0

    def once(self):
        t0 = time.monotonic()
        self.s.sendto(message('/info'), self.to)
        self.s.settimeout(1.0)
        try:
            while True:
                d, _ = self.s.recvfrom(65536)
                if parse(d)[0][0] == '/info':
                    break
            self.lat.append((time.monotonic() - t0) * 1000)
            self.answered += 1
        except socket.timeout:
            self.lat.append(1000.0)
        time.sleep(max(0, 0.01 - (time.monotonic() - t0)))

    def report(self):
        lat = sorted(self.lat) or [0.0]
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
        return 'probes=%d answered=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f' % (
            len(self.lat), self.answered, q(0.5), q(0.99), lat[-1])


def cmd_bundles(a):
    atk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    atk.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    atk.bind((a.bind, 0))
    one = message('/mix/main/ch/in_1/gain', -1.0)
    k = max(1, (a.size - 16) // (4 + len(one)))
    b = bundle(ntp_in(365 * 86400), [one] * k)
    probe = None if a.stop_file else Probe(a.host, a.port)
    sent, end = 0, None
    while True:
        now = time.monotonic()
        if sent < a.count:
            try:
                atk.sendto(b, (a.host, a.port))
            except OSError:
                pass
            sent += 1
            if sent == a.count:
                end = now + a.probe_seconds
        elif now >= end:
            break
        if probe:
            probe.once()
        else:
            time.sleep(0.01 if sent >= a.count else 0.002)
    if a.stop_file:
        open(a.stop_file, 'w').close()
    print('bundle_bytes=%d bundles=%d%s' % (len(b), sent, ' ' + probe.report() if probe else ''))
    return 0


def cmd_probe(a):
    p = Probe(a.host, a.port)
    print('ready', file=sys.stderr, flush=True)
    import os
    while not os.path.exists(a.stop_file):
        p.once()
    print(p.report())
    return 0


def cmd_authflood(a):
    s = sock(a.bind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    req = message('/auth', 'wrong-password')
    replies, maxrep = 0, 0
    for i in range(a.count):
        try:
            s.sendto(req, (a.host, a.port))
        except OSError:
            pass
        if i % 200 == 199:  # read what came back, and let the hub keep up a little
            for d in collect(s, 0.002):
                replies += 1
                maxrep = max(maxrep, len(d))
    right = 'none'
    if a.password:  # at once, as the flood's last
        s.sendto(message('/auth', a.password), (a.host, a.port))
        right = 'refused'
    for d in collect(s, 1.0):
        replies += 1
        maxrep = max(maxrep, len(d))
        if parse(d)[0] == ('/auth', [1]):
            right = 'accepted'
    print('sent=%d replies=%d max_reply=%d min_request=%d right=%s'
          % (a.count, replies, maxrep, len(req), right))
    return 0


def cmd_cookie(a):
    s = sock(a.bind)
    s.sendto(message('/auth', a.password), (a.host, a.port))
    sub = message('/meters/subscribe', 10)
    s.sendto(sub, (a.host, a.port))
    print('# request %d' % len(sub))
    cookie = None
    for d in collect(s, 0.6):
        for path, args in parse(d):
            print('%d %s' % (len(d), fmt(path, args)))
            if path == '/cookie':
                cookie = args[0]
    if a.echo and cookie is not None:
        print('# echo')
        s.sendto(message('/cookie', cookie), (a.host, a.port))
        s.sendto(sub, (a.host, a.port))
        for d in collect(s, 1.0):
            ms = parse(d)
            print('%d %s' % (len(d), fmt(*ms[0]) + (' ...' if len(ms) > 1 else '')))
    return 0


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest='cmd', required=True)
    for name in ('send', 'bundles', 'authflood', 'cookie', 'probe'):
        q = sp.add_parser(name)
        q.add_argument('host')
        q.add_argument('port', type=int)
        q.add_argument('--bind', default='127.0.0.1')
        if name == 'send':
            q.add_argument('--expect', type=int)
            q.add_argument('--wait', type=float, default=1.0)
            q.add_argument('--sizes', action='store_true')
            q.add_argument('--bundle-ahead', action='store_true')
            q.add_argument('msg', nargs=argparse.REMAINDER)
        if name in ('bundles', 'authflood'):
            q.add_argument('--count', type=int, required=True)
        if name == 'bundles':
            q.add_argument('--size', type=int, required=True)
            q.add_argument('--probe-seconds', type=float, default=2.0)
            q.add_argument('--stop-file')
        if name == 'probe':
            q.add_argument('--stop-file', required=True)
        if name in ('authflood', 'cookie'):
            q.add_argument('--password', default='')
        if name == 'cookie':
            q.add_argument('--echo', action='store_true')
    a = p.parse_args()
    if a.cmd == 'send' and a.msg and a.msg[0] == '--':
        a.msg = a.msg[1:]
    return {'send': cmd_send, 'bundles': cmd_bundles, 'authflood': cmd_authflood,
            'cookie': cmd_cookie, 'probe': cmd_probe}[a.cmd](a)


if __name__ == '__main__':
    sys.exit(main())
