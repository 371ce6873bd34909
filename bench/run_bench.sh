#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run_bench.sh: `make bench`. Measures on this machine, in one run:
#   - round-trip latency through hub + one musician with jack_iodelay
#     (its out into the musician's input, the musician's mix back into its
#     in), PCM float and Opus, at 64 and 128 frames, jitter buffers at 0;
#   - xruns of the dummy backend alone vs with a hub and 4 musicians.
# Prints a Markdown table and writes it to bench/results.md with the date
# and the machine. Knobs: LAT_SECS (default 60 at p=64, 15 at p=128),
# XRUN_SECS (60), BENCH_ONLY=lat|xrun.
set -u
. "$(dirname "$0")/../test/lib.sh"
bb_init
OUT=$BB_ROOT/bench/results.md
LAT64=${LAT_SECS:-60}
LAT128=${LAT_SECS:-15}
XRUN_SECS=${XRUN_SECS:-60}
ROWS=()

machine() {
    local cpu
    cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
    echo "$(nproc) x ${cpu:-unknown CPU}, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), jackd $(dpkg-query -W -f='${Version}' jackd2 2>/dev/null)"
}

# latency CODEC PERIOD SECONDS
latency() {
    local codec=$1 p=$2 secs=$3 port hub mus iod x0 x1 sum
    bb_start_jack "$p" 48000 || return 1
    port=$(bb_free_udp_port)
    bb_bg "$BB_TMP/lat-hub.log" "$BB_BIN" serve --port "$port" --osc-port 0 --inputs 0
    hub=$BB_LASTPID
    bb_bg "$BB_TMP/lat-mus.log" "$BB_BIN" join "127.0.0.1:$port" --name lat --codec "$codec" \
        --jitter 0 --no-auto-connect --identity "$BB_TMP/id-lat"
    mus=$BB_LASTPID
    bb_wait_port bandbridge:lat_1 10
    bb_bg "$BB_TMP/iod-$codec-$p.txt" stdbuf -oL jack_iodelay
    iod=$BB_LASTPID
    bb_wait_port jack_delay:out 5
    jack_connect jack_delay:out bandbridge-lat:in_1
    jack_connect bandbridge-lat:out_L jack_delay:in
    x0=$(bb_xruns)
    sleep "$secs" # a measurement window, not synchronisation
    x1=$(bb_xruns)
    bb_kill "$iod"; bb_kill "$mus"; bb_kill "$hub"
    bb_stop_jack
    sum=$(awk -f "$BB_ROOT/bench/iodelay.awk" "$BB_TMP/iod-$codec-$p.txt")
    echo "# latency $codec p=$p: $sum xruns=$((x1 - x0))" >&2
    ROWS+=("| bandbridge $codec, jitter 0 | $p | $(kv "$sum" mode) | $(kv "$sum" min)–$(kv "$sum" max) | $(kv "$sum" at_mode)% | $(kv "$sum" lost) | $((x1 - x0)) | ${secs} s |")
}
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# direct: jack_iodelay out->in with nothing in between (one period).
direct() {
    local p=$1 secs=$2 iod sum
    bb_start_jack "$p" 48000 || return 1
    bb_bg "$BB_TMP/iod-direct-$p.txt" stdbuf -oL jack_iodelay
    iod=$BB_LASTPID
    bb_wait_port jack_delay:out 5
    jack_connect jack_delay:out jack_delay:in
    sleep "$secs"
    bb_kill "$iod"
    bb_stop_jack
    sum=$(awk -f "$BB_ROOT/bench/iodelay.awk" "$BB_TMP/iod-direct-$p.txt")
    ROWS+=("| direct JACK loop (reference) | $p | $(kv "$sum" mode) | $(kv "$sum" min)–$(kv "$sum" max) | $(kv "$sum" at_mode)% | $(kv "$sum" lost) | – | ${secs} s |")
}

# xruns SECONDS: dummy backend alone, then with a hub and 4 musicians (tones, Opus).
XROWS=()
xruns_cmp() {
    local secs=$1 x0 x1 base with port hub pids=() i
    bb_start_jack 64 48000 || return 1
    sleep 1
    x0=$(bb_xruns); sleep "$secs"; x1=$(bb_xruns); base=$((x1 - x0))
    port=$(bb_free_udp_port)
    bb_bg "$BB_TMP/x-hub.log" "$BB_BIN" serve --port "$port" --osc-port 0
    hub=$BB_LASTPID
    for i in 1 2 3 4; do
        bb_bg "$BB_TMP/x-m$i.log" "$BB_BIN" join "127.0.0.1:$port" --name "m$i" --tone $((200 + 110 * i)) \
            --no-auto-connect --identity "$BB_TMP/id-m$i"
        pids+=("$BB_LASTPID")
    done
    for i in 1 2 3 4; do bb_wait_port "bandbridge:m${i}_1" 10; done
    sleep 1
    x0=$(bb_xruns); sleep "$secs"; x1=$(bb_xruns); with=$((x1 - x0))
    for i in "${pids[@]}"; do bb_kill "$i"; done
    bb_kill "$hub"
    bb_stop_jack
    XROWS+=("| jackd (dummy, p=64) alone | $secs s | $base | $(awk -v b="$base" -v s="$secs" 'BEGIN{printf "%.2f", b/s}') |")
    XROWS+=("| + hub + 4 musicians (Opus, tones) | $secs s | $with | $(awk -v b="$with" -v s="$secs" 'BEGIN{printf "%.2f", b/s}') |")
}

if [[ ${BENCH_ONLY:-lat} == lat || -z ${BENCH_ONLY:-} || ${BENCH_ONLY:-} == all ]]; then :; fi
case ${BENCH_ONLY:-all} in
all | lat)
    direct 64 10
    latency float 64 "$LAT64"
    latency opus 64 "$LAT64"
    latency float 128 "$LAT128"
    latency opus 128 "$LAT128"
    ;;
esac
case ${BENCH_ONLY:-all} in
all | xrun) xruns_cmp "$XRUN_SECS" ;;
esac

{
    echo "## Measured by \`make bench\` on $(date -u +%Y-%m-%d)"
    echo
    echo "Machine: $(machine). Everything on 127.0.0.1, JACK dummy backend at 48 kHz."
    echo
    if (( ${#ROWS[@]} )); then
        echo "### Round trip (jack_iodelay, frames; hub + musician in one JACK graph)"
        echo
        echo "| path | period | mode | range | readings at mode | signal lost | xruns | window |"
        echo "|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${ROWS[@]}"
        echo
        echo "The limit for this path is 3 periods (one JACK loop period plus one period each way)."
        echo "Peers measured the same way here: Jamulus 256 at p=64 (unstable), JackTrip 320 (../shared/BASELINES.md)."
        echo
    fi
    if (( ${#XROWS[@]} )); then
        echo "### Xruns reported by the dummy backend (compare, never absolute)"
        echo
        echo "| setup | window | xruns | per second |"
        echo "|---|---|---|---|"
        printf '%s\n' "${XROWS[@]}"
        echo
    fi
} >"$OUT"
cat "$OUT"
