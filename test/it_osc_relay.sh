#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_osc_relay.sh: a musician's own controller through `bandbridge join
# --osc-port` (bandbridge-osc(7), RELAYED CONTROLLERS). The hub's own OSC
# port is closed to this machine (--osc-allow 10.99.0.0/16, and a
# password), so everything that works here went over alice's session.
# alice joins with --osc-port, bob (playing a tone) without; the tablet is
# `bandbridge ctl` (sends and hears on one port) and oscsend + oscdump (a
# reply port). Checks: sets of alice's own mix by name, by slot and as
# `me` take effect (queries through the relay, alice's mix meter when bob
# is muted, and the hub's database read by a second hub afterwards);
# another mix, the main mix, /send, /status and /auth are refused with the
# reason; the lists answer; feedback after /subscribe names the mix `me`
# (and alice herself as `me` too), joins are announced; meters arrive at
# 20-30 Hz, split into datagram-sized bundles when the sources are many;
# bob's join sees none of it; a musician's leases end when she leaves;
# without a session the join answers "not connected to the hub"; a hub
# with --osc-port 0 says its OSC is off; a 1 kB address, a 2 kB one and
# garbage bytes crash nothing.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
command -v oscdump >/dev/null && command -v oscsend >/dev/null ||
    { not_ok "oscdump and oscsend (liblo-tools) are installed"; bb_done; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
aosc=$(bb_free_udp_port)
hub_start() { # log
    bb_bg "$BB_TMP/$1" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
        --osc-allow 10.99.0.0/16 --osc-password s3cret --inputs 16 --db "$BB_TMP/hub.db" -v
    hub=$BB_LASTPID
}
join() { # name [extra join options]
    local n=$1
    shift
    bb_bg "$BB_TMP/$n.log" "${BB_RT[@]}" "$BB_BIN" join "127.0.0.1:$port" --name "$n" \
        --jack-name "bb-$n" --codec float --jitter 128 --no-auto-connect \
        --identity "$BB_TMP/id-$n" "$@"
}
# t ARGS: bandbridge ctl against alice's own OSC port (a tablet that hears
# where it sends from); prints the answer, or the /error reason on stderr.
t() { "$BB_BIN" ctl --port "$aosc" "$@"; }
q() { "$BB_BIN" ctl --port "$aosc" "$1" 2>/dev/null; }
refused() { # reason ctl-args...: refused through the relay, with that reason
    local why=$1
    shift
    t "$@" 2>"$BB_TMP/ctl.err" >/dev/null
    local rc=$?
    [ $rc -eq 1 ] && grep -qF -- "$why" "$BB_TMP/ctl.err"
}
stat_of() { # key: a /stats counter, asked on the hub's OSC port of hub 2
    "$BB_BIN" ctl --port "$osc" /stats 2>/dev/null |
        awk -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }'
}
RELAY_NO="a musician's own controller may only change their own mix"

hub_start hub.log
check "hub is up" bb_wait_port bandbridge:main_L
join alice --osc-port "$aosc" --osc-bind 127.0.0.1; alice=$BB_LASTPID
join bob --tone 440; bob=$BB_LASTPID
check "alice joined" bb_wait_port bandbridge:alice_1
check "bob joined" bb_wait_port bandbridge:bob_1
check "alice's join listens for her controllers on 127.0.0.1:$aosc only" bash -c \
    "ss -Hlnu '( sport = :$aosc )' | grep -q '127.0.0.1:$aosc' && ! ss -Hlnu '( sport = :$aosc )' | grep -Eq '(0\.0\.0\.0|\*):$aosc'"
check "the hub's own OSC port refuses this machine" bash -c \
    "'$BB_BIN' ctl --port $osc /clients 2>'$BB_TMP/h.err'; [ \$? -eq 1 ] && grep -q 'not allowed from this address' '$BB_TMP/h.err'"
bb_wait_for bash -c "'$BB_BIN' ctl --port $aosc /clients 2>/dev/null | grep -q bob"

# 1. Queries and sets of her own mix, through her session.
check "/clients answers through the relay" test "$(q /clients | tr ' ' '\n' | sort | xargs)" = "alice bob"
slots=$(q /slots)
na=$(bb_slot_of alice "$slots")
nb=$(bb_slot_of bob "$slots")
check "/slots answers ($slots)" test -n "$na" -a -n "$nb"
check "/slot/$nb/name answers" test "$(q /slot/$nb/name)" = bob
check "/info answers" bash -c "'$BB_BIN' ctl --port $aosc /info | grep -q '^48000 64 '"
check "/channels answers" test "$(q /channels | wc -w)" = 18
check "a query of her own mix answers (0 dB to start)" test "$(q /mix/alice/ch/bob/gain)" = 0
check "a set of her own mix by name is accepted (no /error)" t /mix/alice/ch/bob/gain -6
check "... and the hub has it" test "$(q /mix/alice/ch/bob/gain)" = -6
check "... as a fader too (0.6)" test "$(q /mix/alice/ch/bob/fader)" = 0.6
check "a set as me works" t /mix/me/ch/bob/gain -9
check "... read back by name" test "$(q /mix/alice/ch/bob/gain)" = -9
check "... and as me" test "$(q /mix/me/ch/bob/gain)" = -9
check "a set by her slot number works" t /mix/$na/ch/$nb/pan -0.5
check "... read back as me" test "$(q /mix/me/ch/bob/pan)" = -0.5
check "me as the source is alice herself" t /mix/me/ch/me/gain -3
check "... read back by name" test "$(q /mix/me/ch/alice/gain)" = -3
check "me_1 is her channel 1" test "$(q /mix/me/ch/me_1/gain)" = -3

# 2. Refused: other mixes, the main mix, /send, /status, /auth: with the reason.
check "bob's mix is refused with the reason" refused "$RELAY_NO" /mix/bob/ch/alice/gain -20
check "... by slot too" refused "$RELAY_NO" /mix/$nb/ch/alice/gain -20
check "... and a query of it" refused "$RELAY_NO" /mix/bob/ch/alice/gain
check "the main mix is refused" refused "$RELAY_NO" /mix/main/ch/alice/gain -20
check "/send (every mix) is refused" refused "$RELAY_NO" /send/alice/gain -20
check "/status is refused" refused "$RELAY_NO" /status
check "/auth is refused" refused "$RELAY_NO" /auth s3cret
check "an unknown address is unknown" refused "unknown address" /nowhere 1
check "a bad value is refused as on the hub's port" refused "value out of range" /mix/me/ch/bob/gain 99

# 3. Feedback: a second tablet (oscdump on a reply port) subscribes through
# the relay; a change made by another controller reaches it, in me form.
bb_osc_dump fb; fbport=$dport; fb=$BB_TMP/fb.dump
oscsend 127.0.0.1 "$aosc" /subscribe ii 30 "$fbport"
check "/subscribe through the relay is acknowledged on the reply port" \
    bb_wait_for bb_osc_seen "$fb" '^/subscribe i 30$'
check "... with the musician list" bb_osc_seen "$fb" '^/clients ss ("alice" "bob"|"bob" "alice")$'
check "the hub logs a relayed controller" bb_wait_for grep -q "OSC controller alice's controller [0-9]* subscribed to feedback" "$BB_TMP/hub.log"
t /mix/me/ch/bob/gain -12
check "a change by another controller reaches it as /mix/me/..." \
    bb_wait_for bb_osc_seen "$fb" '^/mix/me/ch/bob/gain f -12(\.0*)?$'
check "... with the fader counterpart" bb_wait_for bb_osc_seen "$fb" '^/mix/me/ch/bob/fader f 0\.4750*$'
t /mix/alice/ch/alice/mute 1
check "her own channel is fed back by name and as me" bb_wait_for bash -c \
    "bb_osc_seen '$fb' '^/mix/me/ch/alice/mute i 1$' && bb_osc_seen '$fb' '^/mix/me/ch/me/mute i 1$'"
t /mix/me/ch/alice/mute 0
bb_wait_for bb_osc_seen "$fb" '^/mix/me/ch/alice/mute i 0$'
check "nothing of other mixes, nor a mix by its name" bash -c \
    "! cut -d' ' -f2- '$fb' | grep -Eq '^/mix/(alice|bob|main|[0-9]+)/|^/send/'"
oscsend 127.0.0.1 "$aosc" /subscribe iis 30 "$fbport" slots
check "a slots lease gets every slot's name" bb_wait_for bb_osc_seen "$fb" "^/slot/$nb/name s \"bob\"$"
t /mix/me/ch/bob/gain -6
check "... and sources by number, the mix still as me" \
    bb_wait_for bb_osc_seen "$fb" "^/mix/me/ch/$nb/gain f -6(\.0*)?$"

# 4. Meters through the relay: 25 times a second, in bundles of one
# datagram each; her mix as /meter/mix/me (bob's tone in it), and muting
# bob there silences it. carol (8 channels, a 31-character name) and the
# hub's 16 inputs make the sources too many for one datagram.
long=carol_has_a_thirty_one_chars_nm
join "$long" --channels 8; carol=$BB_LASTPID
check "carol joined" bb_wait_port "bandbridge:${long}_8"
check "her join is announced through the relay" bb_wait_for bb_osc_seen "$fb" "^/joined s \"$long\"$"
check "... with her slot, to the slots lease" bb_wait_for bb_osc_seen "$fb" "^/slot/[0-9]+/name s \"$long\"$"
bb_osc_dump met; met=$BB_TMP/met.dump
oscsend 127.0.0.1 "$aosc" /meters/subscribe ii 20 "$dport"
check "meters arrive through the relay" bb_wait_for bb_osc_seen "$met" '^/meter/mix/me ffff '
rate=$(bb_osc_rate "$met" '^/meter/mix/me ')
check "meters arrive at 20-30 Hz ($rate Hz)" test "$rate" -ge 20 -a "$rate" -le 30
check "every source is metered, by name: bob_1, in_16, ${long}_8" bash -c \
    "bb_osc_seen '$met' '^/meter/ch/bob_1 ff ' && bb_osc_seen '$met' '^/meter/ch/in_16 ff ' && bb_osc_seen '$met' '^/meter/ch/${long}_8 ff '"
check "... and her own level as /meter/ch/me" bb_osc_seen "$met" '^/meter/ch/me ff '
check "no other mix is metered" bash -c "! cut -d' ' -f2- '$met' | grep -Eq '^/meter/mix/(main|alice|bob|[0-9]+) '"
lvl() { grep -E ' /meter/mix/me ffff ' "$met" | tail -1 | awk '{ print $4 }'; }
check "bob's tone is in her mix ($(lvl) dBFS)" bb_wait_for bash -c \
    "grep -E ' /meter/mix/me ffff ' '$met' | tail -1 | awk '{ exit !(\$4 > -30) }'"
t /mix/me/ch/bob/mute 1
check "muting bob in her mix silences it (the mixer took it)" bb_wait_for bash -c \
    "grep -E ' /meter/mix/me ffff ' '$met' | tail -1 | awk '{ exit !(\$4 == -120) }'"
t /mix/me/ch/bob/mute 0
check "the hub never had a relayed packet too big for a datagram" bash -c \
    "! grep -q 'do not fit a datagram\|too long to relay' '$BB_TMP/hub.log'"
bb_kill "$carol"

# 5. bob's join has no OSC port, and saw none of alice's traffic.
check "bob's join logs no OSC controller" bash -c "! grep -q 'OSC' '$BB_TMP/bob.log'"
check "alice's join logged her controllers once each" \
    test "$(grep -c "OSC controller [0-9]*: 127.0.0.1:$fbport" "$BB_TMP/alice.log")" = 1

# 6. Hostile: a 1 kB address (relayed, refused by the hub), a 2 kB one
# (too long to relay), garbage bytes; then the relay still works.
big=$(head -c 1000 /dev/zero | tr '\0' x)
huge=$(head -c 2000 /dev/zero | tr '\0' x)
check "a relayed 1 kB address is refused by the hub" refused "expected /mix/" "/mix/$big/ch/bob/gain" -3
check "a 2 kB one is refused by the join" refused "too long to relay" "/mix/me/ch/bob/$huge" -3
for i in 1 2 3 4 5; do
    head -c $((i * 97)) /dev/urandom >/dev/udp/127.0.0.1/"$aosc"
done
printf '#bundle\0\0\0\0\0\0\0\0\1\0\0\0\20garbage' >/dev/udp/127.0.0.1/"$aosc"
check "after that, alice's join still relays" test "$(q /mix/me/ch/bob/gain)" = -6
check "alice's join is still running" kill -0 "$alice"
check "the hub is still running" kill -0 "$hub"

# 7. Without a session: the hub goes away, alice's join answers itself.
bb_kill "$hub"
check "the hub is gone: alice's join says she is not connected" bb_wait_for bash -c \
    "'$BB_BIN' ctl --port $aosc /mix/me/ch/bob/gain 2>&1 | grep -q 'not connected to the hub'"

# 8. The hub's state, read by a hub without an allow-list on the same
# database: what alice set is there, bob's mix untouched.
bb_bg "$BB_TMP/hub2.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
    --db "$BB_TMP/hub.db" -v
hub=$BB_LASTPID
check "hub 2 is up" bb_wait_port bandbridge:main_L
check "alice and bob are back on hub 2" bb_wait_for bash -c \
    "'$BB_BIN' ctl --port $osc /clients 2>/dev/null | grep -q alice && '$BB_BIN' ctl --port $osc /clients 2>/dev/null | grep -q bob"
h2() { "$BB_BIN" ctl --port "$osc" "$1" 2>/dev/null; }
check "alice's mix as she set it: bob at -6 dB" test "$(h2 /mix/alice/ch/bob/gain)" = -6
check "... panned -0.5" test "$(h2 /mix/alice/ch/bob/pan)" = -0.5
check "... herself at -3 dB" test "$(h2 /mix/alice/ch/alice/gain)" = -3
check "bob's mix untouched" test "$(h2 /mix/bob/ch/alice/gain)" = 0
check "the main mix untouched" test "$(h2 /mix/main/ch/alice/gain)" = 0
check "alice's send level untouched" test "$(h2 /send/alice/gain)" = 0
check "alice's relay works with hub 2" test "$(q /mix/me/ch/bob/gain)" = -6
n=$(stat_of osc_relayed)
check "/stats counts relayed messages (osc_relayed $n)" test "${n:-0}" -ge 1

# 9. A musician's leases end with the musician.
bb_osc_dump fb2; fb2=$BB_TMP/fb2.dump
oscsend 127.0.0.1 "$aosc" /subscribe ii 30 "$dport"
check "a new lease on hub 2" bb_wait_for bb_osc_seen "$fb2" '^/subscribe i 30$'
bb_kill "$alice"
check "alice's leases end when she leaves" bb_wait_for grep -q "alice's controller [0-9]*: leases end" "$BB_TMP/hub2.log"
check "bob is still there" test "$(h2 /clients)" = bob

bb_kill "$bob"
check "hub 2 exits cleanly" bb_kill "$hub"

# 10. A hub without OSC (--osc-port 0) says so to a relayed controller.
bb_bg "$BB_TMP/hub3.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port 0 --db none -v
hub=$BB_LASTPID
check "hub 3 (no OSC) is up" bb_wait_port bandbridge:main_L
join alice --osc-port "$aosc"; alice=$BB_LASTPID
check "alice joined hub 3" bb_wait_port bandbridge:alice_1
check "a relayed message is told the hub's OSC is off" bb_wait_for bash -c \
    "'$BB_BIN' ctl --port $aosc /clients 2>&1 | grep -q \"the hub's OSC control is off\""
bb_kill "$alice"
check "hub 3 exits cleanly" bb_kill "$hub"
bb_check_rt
bb_done
