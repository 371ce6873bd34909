#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/scale_cpu.sh: hub CPU per musician at several N (issue 17), short
# runs: for each N a fresh jackd-backed hub (dummy, 48 kHz, 64 frames), N
# bbload musicians sending tones (Opus by default, every mix the default
# everyone at 0 dB), the hub process's CPU (every thread) over SECS after
# SETTLE seconds, and the load average. Prints one line per N.
#   BB_BIN=./bandbridge BBLOAD=build/bbload bench/scale_cpu.sh [N...]
# Env: SECS (20), SETTLE (3), CODEC (opus; opus-stereo: joins that take no
# mono payloads).
set -u
. "$(dirname "$0")/../test/lib.sh"
bb_init
BBLOAD=${BBLOAD:-$BUILD/bbload}
SECS=${SECS:-20} SETTLE=${SETTLE:-3} CODEC=${CODEC:-opus}
CLK=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
bb_start_jack 64 48000 || { echo "jackd did not start"; exit 1; }
extra=() codec=$CODEC
[[ $CODEC == opus-stereo ]] && codec=opus extra=(--stereo-mix)
for n in "${@:-8 16 64}"; do
    port=$(bb_free_udp_port)
    bb_bg "$BB_TMP/hub-$n.log" "$BB_BIN" serve --port "$port" --osc-port 0 --inputs 0 --db none \
        --max-per-address 0 --jack-name "bbsc$n" -v
    hub=$BB_LASTPID
    bb_wait_port "bbsc$n:main_L" 60 || { echo "N=$n: hub did not start"; bb_kill "$hub"; continue; }
    bb_bg "$BB_TMP/load-$n.log" "$BBLOAD" --hub "127.0.0.1:$port" --steady "$n" --codec "$codec" \
        "${extra[@]}" --signal tone --seconds $((SETTLE + SECS + 60)) --name-prefix "sc$n" \
        --report "$BB_TMP/load-$n.txt"
    ld=$BB_LASTPID
    joined() { (( $(grep -cE ": sc${n}s[0-9]+ joined from" "$BB_TMP/hub-$n.log") >= n )); }
    BB_WAIT=60 bb_wait_for joined || echo "N=$n: only $(grep -cE ": sc${n}s[0-9]+ joined from" "$BB_TMP/hub-$n.log") joined"
    sleep "$SETTLE" # the joins' own work out of the window
    h0=$(ticks "$hub") t0=$(bb_now_us)
    sleep "$SECS" # the measurement window
    h1=$(ticks "$hub") t1=$(bb_now_us)
    la=$(cut -d' ' -f1-3 /proc/loadavg)
    bb_kill "$ld"
    bb_kill "$hub"
    p99=$(grep -oE 'p99 [0-9]+ us' "$BB_TMP/hub-$n.log" | tail -1)
    awk -v d=$((h1 - h0)) -v c="$CLK" -v w=$((t1 - t0)) -v n="$n" -v la="$la" -v cb="$p99" \
        -v codec="$CODEC" 'BEGIN {
        pct = 100 * d / c / (w / 1e6)
        printf "N=%d %s: hub %.1f %% of a core, %.2f %% per musician; callback %s; load average %s\n",
            n, codec, pct, pct / n, cb, la }'
done
bb_stop_jack
