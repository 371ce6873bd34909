#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# wavcheck.py: reads float, 32- or 16-bit WAV files (RIFF/RF64, as the recorder
# and jack_rec write them) without numpy, for the recorder's tests.
#   wavcheck.py frames FILE...        frames of each file, one a line
#   wavcheck.py sum MAIN FILE...      MAIN against the sum of FILEs, in
#        480-frame blocks away from any file's silence/sound edge: prints
#        "stable=N of=M maxerr=E"
#   wavcheck.py onsets FILE [CH]      frames where a click starts (the
#        first non-zero sample after 2000 exact zeros) in channel CH
#   wavcheck.py peak FILE [CH]        the largest |sample| of channel CH
import struct, sys
from array import array

def read(path):
    d = open(path, 'rb').read()
    assert d[:4] in (b'RIFF', b'RF64') and d[8:12] == b'WAVE', path
    pos, fmt, ch, bits, data = 12, None, 1, 32, b''
    while pos + 8 <= len(d):
        cid, size = d[pos:pos + 4], struct.unpack('<I', d[pos + 4:pos + 8])[0]
        body = d[pos + 8:pos + 8 + size]
        if cid == b'fmt ':
            fmt, ch = struct.unpack('<HH', body[:4])
            bits = struct.unpack('<H', body[14:16])[0]
            if fmt == 0xFFFE:
                fmt = struct.unpack('<H', body[24:26])[0]
        elif cid == b'data':
            data = body if size != 0xFFFFFFFF else d[pos + 8:]
            break
        pos += 8 + size + (size & 1)
    if fmt == 3:
        a = array('f'); a.frombytes(data[:len(data) // 4 * 4])
    elif bits == 32:
        a = array('i'); a.frombytes(data[:len(data) // 4 * 4])
        a = array('f', (x / 2147483648.0 for x in a))
    else:
        a = array('h'); a.frombytes(data[:len(data) // 2 * 2])
        a = array('f', (x / 32768.0 for x in a))
    return [a[c::ch] for c in range(ch)]

def main():
    cmd = sys.argv[1]
    if cmd == 'frames':
        for p in sys.argv[2:]:
            print(len(read(p)[0]))
    elif cmd == 'sum':
        main_ = read(sys.argv[2])[0]
        tr = [read(p)[0] for p in sys.argv[3:]]
        n = min([len(main_)] + [len(t) for t in tr])
        B = 480
        nb = n // B
        act = [[any(t[b * B:(b + 1) * B]) for b in range(nb)] for t in tr]
        stable, maxerr = 0, 0.0
        for b in range(1, nb - 1):
            if any(a[b - 1] != a[b] or a[b + 1] != a[b] for a in act) or not any(a[b] for a in act):
                continue
            stable += 1
            for i in range(b * B, (b + 1) * B):
                e = abs(main_[i] - sum(t[i] for t in tr))
                if e > maxerr:
                    maxerr = e
        print('stable=%d of=%d maxerr=%g' % (stable, nb, maxerr))
    elif cmd == 'onsets':
        c = read(sys.argv[2])[int(sys.argv[3]) if len(sys.argv) > 3 else 0]
        quiet, out = 0, []
        for i, x in enumerate(c):
            if x != 0.0 and quiet >= 2000:
                out.append(i)
            quiet = quiet + 1 if x == 0.0 else 0
        print(' '.join(map(str, out)))
    elif cmd == 'peak':
        c = read(sys.argv[2])[int(sys.argv[3]) if len(sys.argv) > 3 else 0]
        print('%g' % max((abs(x) for x in c), default=0.0))

main()
