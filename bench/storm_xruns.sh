#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# storm_xruns.sh: does an OSC storm cause xruns? Alternating windows, so
# that the VM's bursts of late wake-ups fall on both sides alike.
#
# A real jackd (dummy, 48 kHz, 64 frames), a hub with OSC and a database,
# 6 bbload musicians (PCM float); then ROUNDS x (a quiet window of WIN s,
# a storm window of WIN s: oscstorm, 3 subscribed controllers, 1000 changes
# a second; a sink window: the same oscstorm traffic, unsubscribed, sent to
# an oscdump instead of the hub, so what the storm's generator and the
# loopback traffic cost the two cores is told apart from what the hub's
# handling costs). Prints jackd's xrun lines per window and the medians.
# Not part of make check or make bench (about ROUNDS x 3 x WIN s + 15 s);
# run by hand: bash bench/storm_xruns.sh
. "$(dirname "$0")/../test/lib.sh"
ROUNDS=${ROUNDS:-6}
WIN=${WIN:-10}
bb_init
bb_start_jack 64 48000 || { echo "jackd does not start" >&2; exit 1; }
port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --jitter 1536 \
    --db "$BB_TMP/hub.db" -v
bb_wait_port bandbridge:main_L || { echo "hub does not start" >&2; exit 1; }
bb_bg "$BB_TMP/load.log" "$BUILD/bbload" --hub "127.0.0.1:$port" --steady 6 --codec float \
    --name-prefix st --no-verify --seconds $(( ROUNDS * 3 * WIN + 60 ))
bb_wait_for bb_has_port bandbridge:sts5_1 || { echo "musicians do not join" >&2; exit 1; }
sink=$(bb_free_udp_port)
bb_bg "$BB_TMP/sink.log" oscdump -L "$sink"
sleep 2
quiet=() storm=() sinkw=()
for ((r = 1; r <= ROUNDS; r++)); do
    x0=$(bb_xruns); sleep "$WIN"; x1=$(bb_xruns)
    quiet+=($((x1 - x0)))
    x0=$(bb_xruns)
    "$BUILD/oscstorm" --hub "127.0.0.1:$osc" --controllers 3 --rate 1000 --seconds "$WIN" \
        --subscribe --mix sts0 --mix sts1 --mix sts2 --mix sts3 --mix main \
        --source sts4 --source sts5 --source in_1 >"$BB_TMP/storm$r.log" 2>&1
    x1=$(bb_xruns)
    storm+=($((x1 - x0)))
    x0=$(bb_xruns)
    "$BUILD/oscstorm" --hub "127.0.0.1:$sink" --controllers 3 --rate 1000 --seconds "$WIN" \
        --mix sts0 --mix sts1 --mix sts2 --mix sts3 --mix main \
        --source sts4 --source sts5 --source in_1 >"$BB_TMP/sink$r.log" 2>&1
    x1=$(bb_xruns)
    sinkw+=($((x1 - x0)))
    echo "round $r: quiet ${quiet[-1]}, storm ${storm[-1]}, sink ${sinkw[-1]} xrun lines ($(tail -1 "$BB_TMP/storm$r.log" | grep -oE 'sent=[0-9]+ errors=[0-9]+'))"
done
med() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sum() { printf '%s\n' "$@" | awk '{ s += $1 } END { print s }'; }
echo "quiet windows: ${quiet[*]} (median $(med "${quiet[@]}"), total $(sum "${quiet[@]}"))"
echo "storm windows: ${storm[*]} (median $(med "${storm[@]}"), total $(sum "${storm[@]}"))"
echo "sink windows:  ${sinkw[*]} (median $(med "${sinkw[@]}"), total $(sum "${sinkw[@]}"))"
echo "(xrun lines from jackd per ${WIN} s window; $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))"
exit 0 # (lib.sh cleans up every process it started on exit)
