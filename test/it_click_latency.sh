#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_click_latency.sh: the click's settings and a musician's click level
# survive a hub restart on the same database (whether the click is on does
# not), and each end's round-trip estimate uses the jitter buffer depth the
# other end measured and sent in its PONGs (/status/latency, status, join -v).
set -u
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
export osc
db=$BB_TMP/hub.db
start_hub() {
    bb_bg "$BB_TMP/hub$1.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db "$db" -v
    hub=$BB_LASTPID
    check "hub $1 is up" bb_wait_port bandbridge:main_L
    check "hub $1 answers OSC" bb_wait_for bash -c "q /info | grep -q ."
}
has() { q /clients | grep -qw "$1"; }
# setv PATH VALUE READS: set until the query answers READS (a set is not
# answered: one the hub has not read yet is lost unnoticed).
setv() { ctl "$1" "$2" >/dev/null 2>&1; [[ $(q "$1") == "$3" ]]; }
export -f has setv q ctl

start_hub 1
bb_join ka float -v
ka=$BB_LASTPID
check "a musician joins" bb_wait_for has ka

# Latency: the hub's estimate with the musician's own jitter buffer as
# their PONGs measure it, and theirs with the hub's.
lat_known() { q /status | awk '$1 == "/status/latency" && $10 >= 0 { f = 1 } END { exit !f }'; }
check "/status/latency carries the musician's measured jitter buffer" bb_wait_for lat_known
line=$(q /status | grep '^/status/latency' | head -1)
bb_log "$line"
# total = rtt + (2 P_m + P_h + J_h + J_m + codec) / rate, at 48 kHz.
check "its total is the formula on the measured depths ($line)" awk -v l="$line" 'BEGIN {
    split(l, a, " "); want = a[4] + (2 * a[5] + a[6] + a[7] + a[10] + a[8]) / 48.0
    exit !(a[10] >= 0 && (a[9] - want) < 0.05 && (want - a[9]) < 0.05) }'
"$BB_BIN" status --port "$osc" --once >"$BB_TMP/status.txt" 2>&1
sed 's/^/# /' "$BB_TMP/status.txt"
check "bandbridge status shows both depths (hub+musician)" \
    grep -Eq '^ *1 +ka +[0-9.]+ +[0-9.]+ +[0-9]+\+[0-9]+ ' "$BB_TMP/status.txt"
joinv() { grep -E 'round trip about .* jitter buffers hub [0-9]+ \+ ours [0-9]+\)' "$BB_TMP/ka.log" | grep -qv 'no PONG'; }
check "join -v: the hub's jitter buffer as its PONGs measured it" bb_wait_for joinv
bb_log "$(grep 'round trip about' "$BB_TMP/ka.log" | tail -1)"

# The click's settings, and ka's click level, changed from their defaults.
check "/click/tempo 97.5" bb_wait_for setv /click/tempo 97.5 97.5
check "/click/beats 3" bb_wait_for setv /click/beats 3 3
check "/click/accent 9" bb_wait_for setv /click/accent 9 9
check "/click/level -20" bb_wait_for setv /click/level -20 -20
check "/click/main 1" bb_wait_for setv /click/main 1 1
check "/click/record 1" bb_wait_for setv /click/record 1 1
check "/mix/ka/click -9" bb_wait_for setv /mix/ka/click -9 -9
check "/click/on 1" bb_wait_for setv /click/on 1 1
bb_kill "$hub"
check "the settings are in the database file" bash -c \
    "sqlite3 '$db' 'SELECT key, value FROM setting' | grep -qx 'click.bpm|97.5'"

start_hub 2
check "the musician is back on the new hub" bb_wait_for has ka
for kv in "/click/tempo 97.5" "/click/beats 3" "/click/accent 9" "/click/level -20" \
    "/click/main 1" "/click/record 1" "/mix/ka/click -9" "/click/on 0"; do
    set -- $kv
    check "after the restart $1 reads $2 (got $(q "$1"))" test "$(q "$1")" = "$2"
done
bb_done
