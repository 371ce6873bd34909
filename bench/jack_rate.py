#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# jack_rate.py SECONDS SERVER: a JACK server's frame clock against this
# machine's monotonic clock over SECONDS: one line, "SERVER RATE_HZ". A JACK
# client (libjack through ctypes: no build step); jack_frame_time read
# between two clock readings, the closest pair of 200 kept, at the start and
# at the end. One server per process: jack2's libjack serves one server per
# process (a second client on another server reads the first one's clock).
# Used by bench/two_server.sh for the true drift between two servers (the
# ratio of their rates, each measured by its own process over one window).
import ctypes
import sys
import time

jack = ctypes.CDLL("libjack.so.0")
jack.jack_client_open.restype = ctypes.c_void_p
jack.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p]
jack.jack_frame_time.restype = ctypes.c_uint32
jack.jack_frame_time.argtypes = [ctypes.c_void_p]
jack.jack_activate.argtypes = [ctypes.c_void_p]
jack.jack_client_close.argtypes = [ctypes.c_void_p]
JACK_NO_START_SERVER, JACK_SERVER_NAME = 0x01, 0x04


def sample(client):
    best = None
    for _ in range(200):
        t0 = time.monotonic_ns()
        f = jack.jack_frame_time(client)
        t1 = time.monotonic_ns()
        if best is None or t1 - t0 < best[2]:
            best = ((t0 + t1) / 2, f, t1 - t0)
    return best


def main():
    secs, servers = float(sys.argv[1]), sys.argv[2:3]
    clients = []
    for name in servers:
        status = ctypes.c_int(0)
        c = jack.jack_client_open(b"jack_rate", JACK_NO_START_SERVER | JACK_SERVER_NAME,
                                  ctypes.byref(status), name.encode())
        if not c:
            sys.exit("jack_rate.py: cannot open a client on server %s" % name)
        jack.jack_activate(c)
        clients.append(c)
    time.sleep(0.5)
    first = [sample(c) for c in clients]
    time.sleep(secs)
    last = [sample(c) for c in clients]
    for name, a, b in zip(servers, first, last):
        frames = (b[1] - a[1]) % 2**32
        print("%s %.4f" % (name, frames / ((b[0] - a[0]) / 1e9)))
    for c in clients:
        jack.jack_client_close(c)


main()
