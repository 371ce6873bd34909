#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_osc_access.sh: the hub's OSC port under the attacks measured against it
# ("A room only its band can enter", item 4), with a password on the hub and
# the default allow rule. A real jackd (dummy backend), a real hub and, for
# sources that are not this machine, a network namespace joined to this one
# by a veth pair: its end has 10.200.N.2/24 (the hub's end 10.200.N.1/24, so
# a local network of the hub) and 10.201.N.2/32 (routed to it over the pair:
# a real source outside every local network of the hub). No traffic leaves
# the pair. test/oscpeer.py crafts the datagrams. Checks:
#   - default rule: 10.201.N.2 is refused before anything is read, and
#     answered with nothing longer than it sent; 10.200.N.2 is read and,
#     until it echoed a cookie, answered with no more than it sent (its
#     /info not at all); this machine is answered; a join --osc-port
#     drops 10.201.N.2 too;
#   - 40 bundles of 60 KB time-tagged a year ahead (from outside, and from a
#     local source before /auth), then 40 of 16 KB that are read: /info from
#     this machine is answered every 10 ms throughout (p99 < 200 ms, max < 1 s
#     on a shared machine; the distribution is logged), and the hub's memory
#     stays (< 2 MiB more);
#     a bundle dated a year ahead runs at once;
#   - 10,000 wrong /auth: a few log lines, every reply no longer than the
#     request, the address backs off (the right password refused unread),
#     and is let in once the back-off is over;
#   - a password opens the address and port it came from, not another port;
#   - /status, /stats, /slots, /channels, /clients need it; /info does not;
#   - /meters/subscribe from a source not yet verified gets only a /cookie
#     no longer than the request, and no meters until it echoes it;
#   - a source over 128 KiB a second is dropped and counted.
# Without `ip netns` (not root), the checks that need a source outside this
# machine are skipped (logged) and the rest runs from 127.0.0.3;
# test_osc_access covers the classifier alone.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

PEER=$BB_ROOT/test/oscpeer.py
N=$(( $$ % 200 + 20 ))
NS=bbosc$$
VH=bbo$$h
VN=bbo$$n
HUB_IP=10.200.$N.1
NEAR=10.200.$N.2   # a local network of the hub
FAR=10.201.$N.2    # no network of the hub
netns_up=0
netns_cleanup() {
    [[ $netns_up != 0 ]] || return 0
    ip link del "$VH" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    netns_up=0
}
trap 'rc_=$?; netns_cleanup; (exit $rc_); bb_cleanup' EXIT

if ip -4 addr | grep -Eq "inet 10\.20[01]\.$N\." || ip -4 route | grep -Eq "^10\.20[01]\.$N\."; then
    bb_log "10.200.$N.0/24 or 10.201.$N.0/24 is in use here: not touching it"
elif [[ ${BB_NO_NETNS:-0} != 1 ]] && ip netns add "$NS" 2>/dev/null; then # BB_NO_NETNS=1: as without
    netns_up=1
    ip link add "$VH" type veth peer name "$VN" &&
        ip link set "$VN" netns "$NS" &&
        ip addr add "$HUB_IP/24" dev "$VH" && ip link set "$VH" up &&
        ip -n "$NS" addr add "$NEAR/24" dev "$VN" &&
        ip -n "$NS" addr add "$FAR/32" dev "$VN" &&
        ip -n "$NS" link set "$VN" up && ip -n "$NS" link set lo up &&
        ip route add "$FAR/32" dev "$VH" || netns_up=2
fi
if [[ $netns_up == 1 ]]; then
    ok "a network namespace with a veth pair ($NEAR and $FAR on its side)"
    nsx() { ip netns exec "$NS" "$@"; }
    NSOK=1
else
    netns_cleanup
    bb_log "SKIPPED: no network namespace here (not root?): the checks that need a source"
    bb_log "outside this machine are left out (test_osc_access covers the allow rule's classifier);"
    bb_log "the rest runs from 127.0.0.3, which is this machine (always verified)"
    HUB_IP=127.0.0.1 NEAR=127.0.0.3 FAR=
    nsx() { "$@"; }
    NSOK=0
fi
peer() { python3 "$PEER" "$@"; }

port=$(bb_free_udp_port); osc=$(bb_free_udp_port); jport=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "${BB_RSS[@]}" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
    --jack-name bbacc --db none --osc-password s3cret
hub=$BB_LASTPID
check "hub is up" bb_wait_port bbacc:main_L
[[ $NSOK == 1 ]] &&
check "the hub says which networks it answers: this machine and $HUB_IP's ($(grep 'OSC answers' "$BB_TMP/hub.log"))" \
    bb_wait_for grep -q "OSC answers this machine and its local networks:.* 10\.200\.$N\.0/24" "$BB_TMP/hub.log"

# asked KEY: a /stats counter, asked from this machine with the password.
asked() {
    peer send --expect 2 127.0.0.1 "$osc" /auth s3cret -- /stats |
        awk -v k="$1" '$1 == "/stats" { for (i = 2; i < NF; i += 2) if ($i == k) print $(i + 1) }'
}

# ---------------------------------------------------------------------------
# 1. The default rule.
check "/info from this machine is answered without a password" \
    bash -c "python3 '$PEER' send --expect 1 127.0.0.1 $osc /info | grep -q '^/info 48000 64 '"
nsx python3 "$PEER" send --wait 1 --bind "$NEAR" "$HUB_IP" "$osc" /info >"$BB_TMP/near.out" 2>&1
if [[ $NSOK == 1 ]]; then
# Allowed, but it has not shown it receives: no more bytes back than it
# sent, and the /info answer is longer than the 12-byte query (section 5:
# once its cookie is echoed, everything is answered).
check "/info from $NEAR (a local network of the hub, not verified) is read but not answered: the answer would outgrow the query ($(head -c 80 "$BB_TMP/near.out"))" \
    bash -c "! grep -q '^/info' '$BB_TMP/near.out'"
else
check "/info from $NEAR (this machine) is answered ($(head -c 80 "$BB_TMP/near.out"))" \
    grep -q '^/info 48000 64 ' "$BB_TMP/near.out"
fi
if [[ $NSOK == 1 ]]; then
refused0=$(asked osc_refused)
nsx python3 "$PEER" send --sizes --wait 1 --bind "$FAR" "$HUB_IP" "$osc" /info >"$BB_TMP/far.out" 2>&1
check "/info from $FAR (no network of the hub) is not answered: a 20-byte /error would be longer than its 12 bytes ($(tr '\n' '|' <"$BB_TMP/far.out"))" \
    test ! -s "$BB_TMP/far.out"
check "... but counted as refused ($refused0 -> $(asked osc_refused))" test "$(asked osc_refused)" -gt "${refused0:-0}"
pad=$(head -c 100 /dev/zero | tr '\0' x)
nsx python3 "$PEER" send --sizes --expect 1 --bind "$FAR" "$HUB_IP" "$osc" /info "$pad" >"$BB_TMP/far2.out" 2>&1
check "a 116-byte message from $FAR gets /error not allowed, no longer than 116 bytes ($(tr '\n' '|' <"$BB_TMP/far2.out"))" \
    bash -c "grep -q 'not allowed from this address' '$BB_TMP/far2.out' && [ \$(sed -n 's/^# //p' '$BB_TMP/far2.out') -le 116 ]"
fi

# A musician's join --osc-port: the same default rule.
bb_bg "$BB_TMP/join.log" "${BB_RT[@]}" "$BB_BIN" join "127.0.0.1:$port" --name alice \
    --jack-name bb-alice --codec float --jitter 128 --no-auto-connect \
    --identity "$BB_TMP/id-alice" --osc-port "$jport"
check "alice joined with --osc-port $jport" bb_wait_port bbacc:alice_1
check "alice's OSC port relays /info from this machine" \
    bash -c "python3 '$PEER' send --expect 1 127.0.0.1 $jport /info | grep -q '^/info 48000 64 '"
if [[ $NSOK == 1 ]]; then
# As on the hub's port: allowed, not verified, so no more bytes back than
# it sent (it_attack checks the cookie that opens it).
nsx python3 "$PEER" send --wait 1 --bind "$NEAR" "$HUB_IP" "$jport" /info >"$BB_TMP/jnear.out" 2>&1
check "... and reads it from $NEAR (a local network, not verified), unanswered: the answer would outgrow the query ($(head -c 60 "$BB_TMP/jnear.out"))" \
    bash -c "! grep -q '^/info' '$BB_TMP/jnear.out'"
nsx python3 "$PEER" send --wait 1 --bind "$FAR" "$HUB_IP" "$jport" /info "$pad" >"$BB_TMP/jfar.out" 2>&1
check "... and drops it from $FAR, unanswered" test ! -s "$BB_TMP/jfar.out"
check "... saying so in one log line" bb_wait_for grep -q "datagram from outside this machine's networks dropped (the last from $FAR)" "$BB_TMP/join.log"
fi

# ---------------------------------------------------------------------------
# 2. Bundles dated a year ahead do not stall the control thread.
rss0=$(bb_rss_kb "$hub")
# attack NAME BIND SIZE [COUNT]: bundles from BIND inside the namespace while
# a probe on this machine times /info; NAME.out gets both lines.
attack() {
    local stop=$BB_TMP/$1.stop
    rm -f "$stop"
    bb_bg "$BB_TMP/$1.probe" python3 "$PEER" probe --stop-file "$stop" 127.0.0.1 "$osc"
    local pr=$BB_LASTPID
    bb_wait_for grep -q ready "$BB_TMP/$1.probe"
    nsx python3 "$PEER" bundles --stop-file "$stop" --bind "$2" --count "${4:-40}" --size "$3" \
        "$HUB_IP" "$osc" >"$BB_TMP/$1.atk" 2>&1 || touch "$stop"
    bb_wait_exit "$pr" 10
    echo "$(cat "$BB_TMP/$1.atk") $(grep -v ready "$BB_TMP/$1.probe")" >"$BB_TMP/$1.out"
}
if [[ $NSOK == 1 ]]; then
    attack b1 "$FAR" 60000
    bb_log "60 KB bundles from $FAR: $(cat "$BB_TMP/b1.out")"
fi
attack b2 "$NEAR" 60000
bb_log "60 KB bundles from $NEAR, before /auth: $(cat "$BB_TMP/b2.out")"
attack b3 "$NEAR" 16000
bb_log "16 KB bundles (read, 128 messages each) from $NEAR: $(cat "$BB_TMP/b3.out")"
peer bundles --bind 127.0.0.2 --count 40 --size 16000 127.0.0.1 "$osc" >"$BB_TMP/b4.out" 2>&1
bb_log "16 KB bundles from 127.0.0.2: $(cat "$BB_TMP/b4.out")"
# probes_ok FILE: every probe answered, 99 % in under 200 ms and none in a
# second or more. (Measured here: p50 < 1 ms, p99 < 15 ms, max 3-30 ms; but
# on a machine shared with other builds a lone probe may wait for a core for
# a few hundred ms, hub or not. liblo's queue held the hub for ~30 s: every
# probe then went unanswered.)
probes_ok() {
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
         END { exit !(v["probes"] > 50 && v["answered"] == v["probes"] && v["p99_ms"] < 200 &&
                      v["max_ms"] < 1000) }' "$1"
}
for b in $([[ $NSOK == 1 ]] && echo b1) b2 b3 b4; do
    check "while $b's bundles came, /info from this machine was answered every time (p99 < 200 ms, max < 1 s): $(cat "$BB_TMP/$b.out")" \
        probes_ok "$BB_TMP/$b.out"
done
check_rss_growth "the hub through the bundles" "$rss0" "$(bb_rss_kb "$hub")" 2048
peer send --bundle-ahead --expect 2 127.0.0.1 "$osc" /auth s3cret -- /mix/main/ch/in_1/gain -7 -- \
    /mix/main/ch/in_1/gain >"$BB_TMP/ahead.out" 2>&1
check "a bundle dated a year ahead runs at once: /auth, a set and its query ($(tr '\n' '|' <"$BB_TMP/ahead.out"))" \
    test "$(tail -n1 "$BB_TMP/ahead.out")" = "/mix/main/ch/in_1/gain -7"

# ---------------------------------------------------------------------------
# 3. 10,000 wrong passwords.
lines0=$(grep -c 'wrong password' "$BB_TMP/hub.log")
nsx python3 "$PEER" authflood --bind "$NEAR" --count 10000 --password s3cret "$HUB_IP" "$osc" >"$BB_TMP/flood.out" 2>&1
bb_log "10,000 wrong /auth from $NEAR: $(cat "$BB_TMP/flood.out")"
val() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$BB_TMP/flood.out"; }
[[ $NSOK == 1 ]] &&
check "no reply to them was longer than the request ($(val max_reply) <= $(val min_request) bytes)" \
    test "$(val max_reply)" -le "$(val min_request)"
check "the right password right after is refused unread: the address backs off ($(val right))" \
    test "$(val right)" = refused
check "... counted in /stats (osc_auth_backoff $(asked osc_auth_backoff), osc_auth_failed $(asked osc_auth_failed))" \
    test "$(asked osc_auth_backoff)" -gt 0
near_auth() { nsx python3 "$PEER" send --expect 1 --bind "$NEAR" "$HUB_IP" "$osc" /auth s3cret | grep -qx '/auth 1'; }
BB_WAIT=70 check "once the back-off is over, the right password is accepted" bb_wait_for near_auth
lines=$(( $(grep -c 'wrong password' "$BB_TMP/hub.log") - lines0 ))
check "the hub logged them in $lines line(s), one a second at most (not 10,000)" test "$lines" -ge 1 -a "$lines" -le 6
check "... saying how many and from where" grep -Eq "OSC: [0-9]+ wrong passwords from $NEAR in the last second" "$BB_TMP/hub.log"

# ---------------------------------------------------------------------------
# 4. A password opens one address and port; queries need it.
peer send --expect 2 127.0.0.1 "$osc" /auth s3cret -- /mix/main/ch/in_1/gain -4 -- /mix/main/ch/in_1/gain >"$BB_TMP/a.out"
check "port A: /auth, then a set and a query work ($(tr '\n' '|' <"$BB_TMP/a.out"))" \
    test "$(tail -n1 "$BB_TMP/a.out")" = "/mix/main/ch/in_1/gain -4"
peer send --expect 1 127.0.0.1 "$osc" /mix/main/ch/in_1/gain -1 >"$BB_TMP/b.out"
check "port B of the same address: password required ($(cat "$BB_TMP/b.out"))" \
    grep -q '^/error /mix/main/ch/in_1/gain password required' "$BB_TMP/b.out"
for a in /status /stats /slots /channels /clients; do
    check "$a without /auth: password required" \
        bash -c "python3 '$PEER' send --expect 1 127.0.0.1 $osc $a | grep -q '^/error $a password required'"
done
# Each musician is /status/client then /status/latency; /status/load
# comes before /status/end.
check "/status with /auth: every musician, the load, then /status/end" \
    bash -c "python3 '$PEER' send --expect 5 127.0.0.1 $osc /auth s3cret -- /status | grep -q '^/status/end 1'"

# ---------------------------------------------------------------------------
# 5. Meters only for a source that receives (this machine always does).
if [[ $NSOK == 1 ]]; then
nsx python3 "$PEER" cookie --echo --bind "$NEAR" --password s3cret "$HUB_IP" "$osc" >"$BB_TMP/cookie.out" 2>&1
bb_log "cookie exchange from $NEAR: $(tr '\n' '|' <"$BB_TMP/cookie.out" | head -c 600)"
before() { sed '/^# echo/q' "$BB_TMP/cookie.out" | grep -v '^#'; }
after() { sed -n '/^# echo/,$p' "$BB_TMP/cookie.out" | grep -v '^#'; }
req=$(sed -n 's/^# request //p' "$BB_TMP/cookie.out")
only_cookie() { [ "$(before | grep -v '^16 /auth 1$' | cut -d' ' -f2)" = /cookie ]; }
cookie_small() { [ "$(before | awk '$2 == "/cookie" { print $1 }')" -le "$req" ]; }
no_meters_before() { ! before | grep -q '/meter'; }
lease_after() { after | grep -q ' /meters/subscribe 10$'; }
meters_after() { after | grep -q ' /meter/'; }
check "/meters/subscribe ($req bytes) from $NEAR is answered with /cookie only" only_cookie
check "... no longer than the request" cookie_small
check "... and no meters before the cookie is echoed" no_meters_before
check "after the echo the lease starts (/meters/subscribe 10)" lease_after
check "... and meters come" meters_after
check "/stats counts the cookie (osc_cookies $(asked osc_cookies))" test "$(asked osc_cookies)" -ge 1
fi

# ---------------------------------------------------------------------------
# 6. Bytes per source per second.
dropped0=$(asked osc_dropped)
attack rate "$NEAR" 4000 300
bb_log "300 datagrams of 4 KB from $NEAR: $(cat "$BB_TMP/rate.out")"
check "a source over 128 KiB a second is dropped and counted (osc_dropped $dropped0 -> $(asked osc_dropped))" \
    test "$(asked osc_dropped)" -gt "${dropped0:-0}"
check "... and /info from this machine kept its pace" probes_ok "$BB_TMP/rate.out"

check "the hub still runs" kill -0 "$hub"
check "hub exits cleanly" bb_kill "$hub"
bb_check_rt
bb_done
