#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# jbuf_loss.sh: glitches per minute through bbrelay, by hand (a measurement
# for comparing builds, not a pass/fail test; about 30 s a scenario).
# Run: bash bench/jbuf_loss.sh [SECONDS]
#      BIN=/path/to/other/bandbridge bash bench/jbuf_loss.sh   (another build,
#      the relay and bbglitch of this one)
# A real jackd (dummy backend, 48 kHz, 64 frames), a hub, and one musician
# (`join --codec CODEC`, automatic jitter buffer) through bbrelay; bbglitch
# sends a tone into the musician's input and judges her mix from the hub
# (the path crosses the relay twice). Scenarios: 1 % random loss, 5 % loss
# in bursts (mean 3 packets), and 2 % of packets held back 3 ms (reordered),
# each with PCM float (linear-prediction concealment) and Opus (its own).
# Printed per scenario: glitch blocks per minute (all, and those no xrun
# explains), and the hub's stats line for her stream (target, lost, late).
. "$(dirname "$0")/../test/lib.sh"
bb_init
SECS=${1:-20}
GLITCH=$BUILD/bbglitch
RELAY=$BUILD/bbrelay
[[ -x $GLITCH && -x $RELAY ]] || { not_ok "bbglitch and bbrelay are built"; bb_done; }
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
port=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port 0 --db none -v
hub=$BB_LASTPID
bb_wait_port bandbridge:main_L

g() { bb_glitch_val "$@"; }
scenario() { # scenario NAME CODEC RELAY-ARGS...
    local name=$1 codec=$2 rport relay alice f
    shift 2
    rport=$(bb_free_udp_port)
    bb_bg "$BB_TMP/relay-$name.log" "$RELAY" --listen "127.0.0.1:$rport" --hub "127.0.0.1:$port" --seed 1 "$@"
    relay=$BB_LASTPID
    bb_bg "$BB_TMP/alice-$name.log" "$BB_BIN" join "127.0.0.1:$rport" --name alice --codec "$codec" \
        --no-auto-connect --identity "$BB_TMP/id-alice" -v
    alice=$BB_LASTPID
    bb_wait_port bandbridge:alice_1
    f=$BB_TMP/glitch-$name.log
    "$GLITCH" --name "bbg_$name" --seconds "$SECS" \
        --connect-out bandbridge-alice:in_1 --connect-in bandbridge-alice:out_L >"$f" 2>&1
    bb_log "$name ($codec, relay $*): glitch blocks $(g "$f" glitch_blocks) in $SECS s:" \
        "$(awk -v a="$(g "$f" glitch_blocks)" -v b="$(g "$f" glitch_xrun_free)" -v s="$SECS" \
            'BEGIN { printf "%.0f/min, %.0f/min no xrun explains", a * 60 / s, b * 60 / s }')," \
        "latency median $(g "$f" latency_median), xruns $(g "$f" xruns)"
    bb_log "  hub: $(grep -- 'alice: fill' "$BB_TMP/hub.log" | tail -1 | sed 's/.*alice: //')"
    bb_log "  join: $(grep -- 'mix from the hub: fill' "$BB_TMP/alice-$name.log" | tail -1 | sed 's/.*hub: //')"
    bb_kill "$alice"
    bb_kill "$relay"
    bb_wait_no_port bandbridge:alice_1 10
}
for codec in float opus; do
    scenario "loss1-$codec" "$codec" --loss 1
    scenario "burst5-$codec" "$codec" --loss 5 --burst 3
    scenario "reorder-$codec" "$codec" --reorder 2:3
done
bb_kill "$hub"
bb_done
