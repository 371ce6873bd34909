#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_security.sh: a room only its band can enter (bandbridge(1) SECURITY,
# bandbridge-wire(7)). A hub with a room password (--password-file):
#  1. a join with the wrong password is refused: it says so clearly, keeps
#     retrying, and with --seconds exits non-zero; the hub logs it;
#  2. with the right password a musician joins and hears the mix;
#  3. forged datagrams from the musician's own address and port (raw
#     socket, IP_HDRINCL: the source forged) with its session id -- its own
#     sealed AUDIO replayed, one with its counter moved ahead (the tag
#     fails), cleartext LEAVE, PING
#     and AUDIO -- are dropped and counted (/stats replayed, forged), and
#     forged LEAVE and REJECT "from the hub" to the musician count for
#     nothing: nobody is kicked, the musician never reconnects;
#  4. nothing an unverified source sends gets more bytes back than it
#     sent, and at most one reply (HELLO, an 87-byte JOIN of version 2 and
#     of version 1, every other type);
#  5. a NAT rebinding (bbrelay --rebind) mid-session: the hub follows the
#     authenticated packets to the new source port, no rejoin.
. "$(dirname "$0")/lib.sh"
bb_init
[[ $(id -u) == 0 ]] || { ok "# SKIP raw sockets need root"; bb_done; }
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
RELAY=$BUILD/bbrelay
SPOOF=$BB_ROOT/test/tools/bbspoof.py

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
printf '%s\n' "$BANDBRIDGE_PASSWORD" >"$BB_TMP/room"
chmod 600 "$BB_TMP/room"
# The hub takes the file, not the environment (which the joins use).
BANDBRIDGE_PASSWORD= bb_bg "$BB_TMP/hub.log" env -u BANDBRIDGE_PASSWORD "${BB_RT[@]}" "$BB_BIN" \
    serve --port "$port" --osc-port "$osc" --password-file "$BB_TMP/room" --db "$BB_TMP/hub.db" -v
hub=$BB_LASTPID
check "hub is up" bb_wait_port bandbridge:main_L
stat() { # stat KEY: its value in the hub's /stats
    "$BB_BIN" ctl --port "$osc" /stats 2>/dev/null |
        awk -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }'
}
export -f stat
export BB_BIN osc

# 1. The wrong password.
BANDBRIDGE_PASSWORD=not-the-password bb_join mallory float --seconds 4
mallory=$BB_LASTPID
check "the wrong password is refused in words" \
    bb_wait_for grep -q "Is the room password right" "$BB_TMP/mallory.log"
bb_wait_exit "$mallory" 20; rc=$?
check "the refused join exits non-zero after --seconds (exit $rc)" test "$rc" -ne 0
check "it kept retrying: one error line, no second" \
    test "$(grep -c 'Is the room password right' "$BB_TMP/mallory.log")" -eq 1
check "the hub logged the refusal" grep -q "wrong room password" "$BB_TMP/hub.log"
check "mallory has no ports on the hub" bb_lacks_port bandbridge:mallory_1

# 2. The right password: alice joins and hears the mix (a tone from bob).
bb_join alice float; alice=$BB_LASTPID
check "alice joined" bb_wait_port bandbridge:alice_1
check "alice hears the mix" bb_wait_for grep -q "hearing the mix" "$BB_TMP/alice.log"

# 3. Forged and replayed datagrams from alice's own address and port.
f0=$(stat forged); r0=$(stat replayed)
python3 "$SPOOF" spoof "$port" 50 >"$BB_TMP/spoof.out" 2>&1
sed 's/^/# bbspoof: /' "$BB_TMP/spoof.out"
check "bbspoof saw alice's sealed audio and forged from her address" grep -q "^sent 400 " "$BB_TMP/spoof.out"
check "replays of her own datagram counted (replayed $r0 -> more by 50)" \
    bb_wait_for bash -c "(( \$(stat replayed) >= $r0 + 50 ))"
check "forged datagrams counted (forged $f0 -> more by 200)" \
    bb_wait_for bash -c "(( \$(stat forged) >= $f0 + 200 ))"
check "alice is still in (clients 1)" bash -c '[ "$(stat clients)" = 1 ]'
check "alice was never kicked nor reconnected" \
    bash -c "! grep -qE 'ended the session|reconnecting|lost the hub' '$BB_TMP/alice.log'"
check "alice joined once" test "$(grep -c 'alice joined' "$BB_TMP/hub.log")" -eq 1
check "alice still hears audio (her port is there)" bb_has_port bandbridge:alice_1

# 4. No amplification for an unverified source.
python3 "$SPOOF" amplify "$port" >"$BB_TMP/amp.out" 2>&1
sed 's/^/# /' "$BB_TMP/amp.out"
while read -r name in out replies; do
    i=${in#in=}; o=${out#out=}; r=${replies#replies=}
    check "$name: at most one reply, no larger ($i bytes in, $o out, $r replies)" \
        test "$o" -le "$i" -a "$r" -le 1
done <"$BB_TMP/amp.out"
check "the HELLO got its COOKIE" grep -q "^hello in=148 out=112 replies=1" "$BB_TMP/amp.out"
check "the old JOIN got its REJECT in words" grep -q "^join-v1 in=87 out=[1-9]" "$BB_TMP/amp.out"

# 5. NAT rebinding: bob joins through bbrelay, which moves his source port
# at 8 s (after his join); the session survives without a rejoin.
rport=$(bb_free_udp_port)
bb_bg "$BB_TMP/relay.log" "$RELAY" --listen "127.0.0.1:$rport" --hub "127.0.0.1:$port" --rebind 8 -q
relay=$BB_LASTPID
moves0=$(stat addr_moves)
bb_bg "$BB_TMP/bob.log" "$BB_BIN" join "127.0.0.1:$rport" --name bob --codec float --jitter 128 \
    --no-auto-connect --identity "$BB_TMP/id-bob" --tone 440
bob=$BB_LASTPID
check "bob joined through the relay" bb_wait_port bandbridge:bob_1
check "the hub followed bob's new source port" \
    bb_wait_for bash -c "(( \$(stat addr_moves) > $moves0 ))"
check "bob hears the mix" bb_wait_for grep -q "hearing the mix" "$BB_TMP/bob.log"
check "bob still in after the rebinding (clients 2)" bash -c '[ "$(stat clients)" = 2 ]'
check "bob never rejoined" bash -c "! grep -qE 'reconnecting|lost the hub' '$BB_TMP/bob.log'"
check "the hub saw bob join once" test "$(grep -c 'bob joined' "$BB_TMP/hub.log")" -eq 1
bb_kill "$bob"
bb_kill "$relay"
bb_kill "$alice"
bb_kill "$hub"
bb_done
