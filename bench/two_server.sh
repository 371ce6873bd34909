#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# two_server.sh: `make bench-two-server` (issue 15). A hub and a musician on
# two JACK servers with different periods, as between two real machines:
# the hub's jackd at 64 frames, the musician's at 128 and then at 256 (48 kHz,
# dummy backend both). For each pair, TWO_SECS (120) seconds of `bandbridge
# join` at its defaults (Opus, automatic jitter buffer, drift compensation)
# against `bandbridge serve` at its defaults, with bbglitch on the
# musician's server playing its hopping tone into the musician's input and
# listening to the musician's own mix (the round trip through the hub).
#
# The two clocks. Both dummy backends schedule their cycles on this host's
# clock at the same nominal rate, so the clocks themselves do not drift:
# the truth the drift estimates must read is 0 ppm. What does differ is the
# time each server loses: a cycle the dummy backend wakes late for (an
# xrun, hundreds a minute when two servers share these 2 cores) is not
# made up, so its frame counter falls behind by thousands of ppm, more for
# the 64-frame server. The estimator is built to see through that (cycles
# lost on either side move neither offset's slope, drift.h) and to leave it
# to the trims; bench/jack_rate.py measures each server's frame clock
# against the monotonic clock (a process per server: jack2's libjack talks
# to one server per process), reported beside the estimates.

# Reported per pair (bench/two_server.md): the drift estimates at the end
# (hub: the musician's stream; join: the mix) with their fits' standard
# errors; bbglitch's round trip (median, least and most, moves of
# more than 8 frames), glitch blocks per minute (all, and those with no
# xrun near), the longest gap; each jackd's xruns; the jitter buffers'
# underruns, trims, targets and spreads at both ends. A direct JACK loop on
# the musician's server (bbglitch out -> in, same window) is the reference
# for what this machine does to audio with no network at all.
#
# Knobs: TWO_SECS (120), TWO_HUB_PERIOD (64), TWO_PERIODS ("128 256": the
# musician's periods), TWO_CODEC (opus, the default), TWO_OUT
# (bench/two_server.md). jack2's dummy backend schedules its cycles on an
# anchor (a cycle count times the period) and re-anchors only after an
# xrun, so at periods of 1024 and more, where this VM wakes it late
# seldom, both frame clocks keep the host's time: TWO_HUB_PERIOD=1024
# TWO_PERIODS=2048 measures the estimators with the lost time taken out.
. "$(dirname "$0")/../test/lib.sh"
bb_init

SECS=${TWO_SECS:-120}
HUBP=${TWO_HUB_PERIOD:-64}
read -r -a PERIODS <<<"${TWO_PERIODS:-128 256}"
CODEC=${TWO_CODEC:-opus}
OUT=${TWO_OUT:-$BB_ROOT/bench/two_server.md}
GLITCH=$BUILD/bbglitch
[[ -x $GLITCH ]] || { not_ok "bbglitch is built ($GLITCH)"; bb_done; }
T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# g FILE KEY: a value from bbglitch's status line.
g() { bb_glitch_val "$@"; }
# jb LOG FIELD: FIELD of the last jitter-buffer stats line of LOG (-v):
# "fit", "se", "underruns", "trims", "target", "spread", "fill".
jb() { bb_jbuf_val "$@"; }
calc() { awk "BEGIN { printf \"%.1f\", $1 }"; }

declare -a ROWS
run_pair() {
    local mp=$1 d=$BB_TMP/p$1 m=bbm_$$_$1 mjack port hub join gl ref
    mkdir -p "$d"
    bb_log "hub at $HUBP frames, musician at $mp frames, $SECS s"
    bb_start_jack "$HUBP" 48000 || { not_ok "the hub's jackd starts"; return; }
    jackd -n "$m" -d dummy -r 48000 -p "$mp" >"$d/jackd_m.log" 2>&1 &
    mjack=$!
    BB_PIDS+=("$mjack")
    BB_WAIT=30 bb_wait_for env JACK_DEFAULT_SERVER="$m" jack_lsp >/dev/null || { not_ok "the musician's jackd starts"; return; }
    port=$(bb_free_udp_port)
    bb_bg "$d/hub.log" "$BB_BIN" serve --port "$port" --osc-port 0 --db none -v
    hub=$BB_LASTPID
    bb_wait_port bandbridge:main_L 10 || bb_log "hub has no ports"
    JACK_DEFAULT_SERVER=$m bb_bg "$d/join.log" "$BB_BIN" join "127.0.0.1:$port" --name m1 \
        --codec "$CODEC" --no-auto-connect --identity "$d/id-m1" -v
    join=$BB_LASTPID
    BB_WAIT=20 bb_wait_for grep -q "hearing the mix" "$d/join.log" || bb_log "join does not hear the mix"
    local x0h x0m
    x0h=$(bb_xruns); x0m=$(bb_xruns "$d/jackd_m.log")
    # The path and, beside it, the direct loop on the musician's server.
    JACK_DEFAULT_SERVER=$m "$GLITCH" --seconds "$SECS" --name bbg_path \
        --connect-out bandbridge-m1:in_1 --connect-in bandbridge-m1:out_L >"$d/glitch.log" 2>&1 &
    gl=$!
    BB_PIDS+=("$gl")
    JACK_DEFAULT_SERVER=$m "$GLITCH" --seconds "$SECS" --name bbg_ref \
        --connect-out bbg_ref:in_1 >"$d/ref.log" 2>&1 &
    ref=$!
    BB_PIDS+=("$ref")
    python3 "$BB_ROOT/bench/jack_rate.py" $((SECS - 5)) "$BB_JACK_NAME" >"$d/rate_h.txt" 2>&1 &
    local rh=$!
    python3 "$BB_ROOT/bench/jack_rate.py" $((SECS - 5)) "$m" >"$d/rate_m.txt" 2>&1 &
    local rm=$!
    BB_PIDS+=("$rh" "$rm")
    wait "$gl" "$ref" "$rh" "$rm" 2>/dev/null
    cat "$d/rate_h.txt" "$d/rate_m.txt" >"$d/rates.txt"
    local x1h x1m
    x1h=$(bb_xruns); x1m=$(bb_xruns "$d/jackd_m.log")
    bb_kill "$join"
    bb_kill "$hub"
    bb_kill "$mjack"
    bb_stop_jack
    local f=$d/glitch.log r=$d/ref.log truth hd jd
    local rh_hz rm_hz
    rh_hz=$(awk 'NR == 1 { print $2 }' "$d/rates.txt"); rm_hz=$(awk 'NR == 2 { print $2 }' "$d/rates.txt")
    check "$HUBP/$mp: both servers' frame clocks measured ($rh_hz, $rm_hz Hz)" test -n "$rh_hz" -a -n "$rm_hz"
    truth=0
    hd=$(jb "$d/hub.log" fit); jd=$(jb "$d/join.log" fit)
    check "$HUBP/$mp: bbglitch locked onto the round trip" test "$(g "$f" locked)" = 1
    check "$HUBP/$mp: the hub's drift estimate is within 5 ppm of $truth ($hd)" \
        awk -v a="${hd:-9999}" -v t="$truth" 'BEGIN { exit !(a - t <= 5 && t - a <= 5) }'
    check "$HUBP/$mp: the join's drift estimate is within 5 ppm of $truth ($jd)" \
        awk -v a="${jd:-9999}" -v t="$truth" 'BEGIN { exit !(a - t <= 5 && t - a <= 5) }'
    ROWS+=("| $HUBP / $mp | ${hd:-?} (se $(jb "$d/hub.log" se)) / ${jd:-?} (se $(jb "$d/join.log" se)) | $(calc "(${rh_hz:-48000} / 48000 - 1) * 1e6") / $(calc "(${rm_hz:-48000} / 48000 - 1) * 1e6") | $(g "$f" latency_median) ($(g "$f" latency_min)–$(g "$f" latency_max)) | $(g "$f" latency_changes) | $(g "$f" glitches_per_min) / $(calc "$(g "$f" glitch_xrun_free) * 60 / $SECS") | $(g "$f" longest_gap_ms) | $(g "$r" glitches_per_min) | $((x1h - x0h)) / $((x1m - x0m)) | $(jb "$d/hub.log" underruns), $(jb "$d/hub.log" trims), $(jb "$d/hub.log" target), $(jb "$d/hub.log" spread) / $(jb "$d/join.log" underruns), $(jb "$d/join.log" trims), $(jb "$d/join.log" target), $(jb "$d/join.log" spread) |")
}

for p in "${PERIODS[@]}"; do
    run_pair "$p"
done

{
    echo "# Two JACK servers, two clocks (bench/two_server.sh)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | awk '{ print $1, $2 }'), $(. /etc/os-release; echo "$PRETTY_NAME"), jackd $(dpkg-query -W -f '${Version}' jackd2 2>/dev/null);"
    echo "load average $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(( $(date +%s) - T0 )) s."
    echo "The hub's jackd at $HUBP frames, the musician's at the period shown (dummy backends, 48 kHz);"
    echo "\`bandbridge serve\` and \`bandbridge join --codec $CODEC\` at their defaults (automatic depth,"
    echo "drift compensation), over 127.0.0.1; $SECS s windows of bbglitch on the musician's server."
    echo
    echo "| periods hub / musician | drift estimate, ppm (hub / join; truth 0) | frame clocks against the host's, ppm (hub / musician jackd) | round trip, frames: median (min–max) | moves | glitch blocks/min (no xrun near) | longest gap ms | direct loop glitches/min | xruns hub / musician jackd | underruns, trims, target, spread: hub / join |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Drift: both dummy backends run on this host's clock at one nominal rate, so the truth is"
    echo "0 ppm; the estimate is the drift fit (what compensation acts on) with its standard error,"
    echo "from the last -v statistics line of the hub (the musician's stream) and of the join (the mix)."
    echo "Frame clocks: each server's frame counter against the monotonic clock over the window"
    echo "(bench/jack_rate.py): the cycles a late dummy backend loses, which the trims absorb."
    echo "Round trip: bbglitch's tone into"
    echo "the musician's input, back from its own mix (JACK buffers of both servers included)."
    echo "Direct loop: bbglitch out -> in on the musician's server in the same window."
} >"$OUT"
bb_log "wrote $OUT"
cat "$OUT"
bb_done
