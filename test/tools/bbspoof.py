#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# bbspoof.py: forged, replayed and amplification probes against a bandbridge
# hub on 127.0.0.1, for it_security.sh. Needs root (AF_PACKET to watch the
# loopback, IP_HDRINCL to forge a source address and port).
#
#   bbspoof.py spoof HUBPORT N    watch a musician's sealed AUDIO to the hub,
#       then from the musician's own address and port send N replays of it,
#       N copies with the counter moved ahead, N cleartext LEAVEs, PINGs
#       and AUDIOs with its session id, and from the hub's address to the
#       musician N cleartext LEAVEs and REJECTs. Prints "sent K musician=PORT".
#   bbspoof.py amplify HUBPORT    from an unverified source: a HELLO, an
#       87-byte JOIN (version 2 and version 1), and a datagram of every other
#       type; prints one line per probe "NAME in=B out=B replies=R".
import os, socket, struct, sys, time

MAGIC = b"BBRG"
HELLO, JOIN, REJECT, AUDIO, PING, LEAVE, OSC = 10, 1, 3, 4, 5, 7, 9

def header(version, typ, flags=0, session=0, seq=0, ts=0):
    return MAGIC + struct.pack("<BBHIII", version, typ, flags, session, seq, ts)

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

def forge(raw, sport, dport, payload):
    """One UDP datagram 127.0.0.1:sport -> 127.0.0.1:dport, any source."""
    src = dst = socket.inet_aton("127.0.0.1")
    ulen = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(pseudo + udp) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, ulen, c) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0, src, dst)
    raw.sendto(ip + udp, ("127.0.0.1", 0))

def capture_audio(hub_port, timeout=10.0):
    """A sealed AUDIO datagram some musician sends the hub: (sport, bytes)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind(("lo", 0))
    s.settimeout(0.5)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue  # loopback shows each packet twice
        ip = frame[14:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
        data = ip[ihl + 8:]
        if dport == hub_port and data[:4] == MAGIC and data[5] == AUDIO and len(data) > 60:
            return sport, bytes(data)
    sys.exit("no musician's AUDIO seen on the loopback")

def spoof(hub_port, n):
    sport, pkt = capture_audio(hub_port)
    session = struct.unpack("<I", pkt[8:12])[0]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    sent = 0
    for i in range(n):
        forge(raw, sport, hub_port, pkt)  # replay
        # A counter far ahead (not a replay: the tag is what fails), so
        # that it shows the window moves only for datagrams that open.
        ahead = bytearray(pkt)
        ctr = struct.unpack("<Q", pkt[20:28])[0]
        ahead[20:28] = struct.pack("<Q", ctr + 100000 + i)
        forge(raw, sport, hub_port, bytes(ahead))
        forge(raw, sport, hub_port, header(2, LEAVE, 0, session, i) + b"\x00\x04quit")
        forge(raw, sport, hub_port, header(2, PING, 0, session, i) + bytes(16))
        forge(raw, sport, hub_port, header(2, AUDIO, 0, session, i) + bytes([3, 1, 64, 0]) + bytes(128))
        # to the musician, as from the hub
        forge(raw, hub_port, sport, header(2, LEAVE, 0, session, i) + b"\x03\x06kicked")
        forge(raw, hub_port, sport, header(2, REJECT, 0, 0, i) + b"\x00\x04gone")
        forge(raw, hub_port, sport, header(2, REJECT, 1, 0, i) + bytes(60))
        sent += 8
    print("sent %d musician=%d session=%08x" % (sent, sport, session))

def probe(hub_port, name, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.sendto(payload, ("127.0.0.1", hub_port))
    s.settimeout(0.3)  # measuring what comes back, not waiting for a state
    out = replies = 0
    try:
        while True:
            d = s.recv(65535)
            out += len(d)
            replies += 1
    except socket.timeout:
        pass
    print("%s in=%d out=%d replies=%d" % (name, len(payload), out, replies))

def amplify(hub_port):
    rnd = os.urandom
    probe(hub_port, "hello", header(2, HELLO) + rnd(32) + bytes(96))
    probe(hub_port, "join-v2", header(2, JOIN) + rnd(67))
    # a version-1 JOIN as an old join sends it: identity, name, rate...
    body = rnd(16) + bytes([5]) + b"olden" + struct.pack("<IHBBHH", 48000, 64, 1, 3, 0, 0xFFFF)
    body += bytes(87 - 20 - len(body))
    probe(hub_port, "join-v1", header(1, JOIN) + body)
    for name, typ in (("audio", AUDIO), ("ping", PING), ("leave", LEAVE), ("osc", OSC),
                      ("reject", REJECT), ("cookie", 11), ("welcome", 2), ("pong", 6),
                      ("leave-ack", 8)):
        probe(hub_port, name, header(2, typ, 2, 0x1234501) + rnd(67))

if __name__ == "__main__":
    if sys.argv[1] == "spoof":
        spoof(int(sys.argv[2]), int(sys.argv[3]))
    else:
        amplify(int(sys.argv[2]))
