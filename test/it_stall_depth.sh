#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_stall_depth.sh: a hub that loses 5 to 16 periods at once (JACK did
# not run it: here the hub process is stopped for 10 ms, five times) keeps
# every stream's place, and a fixed depth stays the depth asked for.
#  - the hub sends the missed frames to each musician as a gap
#    (/stats gapped_cycles > 0), so a musician with --jitter 960 on the
#    hub's JACK server plays at 960 + a period after every stop. Before,
#    the hub sent nothing for such a jump: that musician's buffer sat 448
#    frames shallow after the first stop, for good (576 of 1024 in the
#    run that found it; it_record's --jitter 384 musician heard its click
#    at 128 frames instead of 448).
#  - a stop longer than the hub makes up (or an older hub) is caught by
#    the musician's own jitter buffer: a fixed depth that stood a packet
#    short for a whole 200 ms window restarts at its depth (the join's
#    "restores"; test_jbuf.c has the exact case).
# The fill is read from the join's -v line, once a second: at a read it is
# the depth and a period, less up to a packet by where the read fell
# between arrivals, so the check is on the best of the last three.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db "$BB_TMP/hub.db" -v
hub=$BB_LASTPID
check "hub is up" bb_wait_port bandbridge:main_L
bb_join kb float --jitter 960 -v
kb=$BB_LASTPID
fills() { # the fill of every -v line of the join, in order
    awk '/mix from the hub: fill/ { for (i = 1; i <= NF; i++) if ($i == "fill") printf "%s ", $(i + 1) }' "$BB_TMP/kb.log"
}
restores() {
    awk '/mix from the hub: fill/ { for (i = 1; i <= NF; i++) if ($i == "restores") r = $(i + 1) } END { print r + 0 }' "$BB_TMP/kb.log"
}
lines() { grep -c "mix from the hub: fill" "$BB_TMP/kb.log"; }
best3() { fills | awk '{ b = 0; for (i = NF - 2 > 1 ? NF - 2 : 1; i <= NF; i++) if ($i > b) b = $i; print b }'; }
deep() { (( $(best3) >= 960 )); }
export -f fills lines best3 deep
check "kb hears the mix at its depth (fill $(best3))" bb_wait_for bash -c deep

stop_hub() { # the hub process stopped for 10 ms (7.5 periods)
    python3 -c 'import os, sys, time
p = int(sys.argv[1]); os.kill(p, 19); time.sleep(0.010); os.kill(p, 18)' "$hub"
}
for i in 1 2 3 4 5; do
    stop_hub
    n=$(lines)
    # Three more lines (3 s): the depth, as the last of them read it.
    BB_WAIT=10 bb_wait_for bash -c "(( \$(lines) >= $n + 3 ))"
    bb_log "stop $i: fills $(fills | awk '{ for (i = NF - 2 > 1 ? NF - 2 : 1; i <= NF; i++) printf "%s ", $i }'); restores $(restores)"
done
st=$(bb_hub_stats "$osc" skipped_cycles rendered_cycles gapped_cycles)
bb_log "hub: skipped, rendered, gapped cycles: $st"
read -r skipped rendered gapped <<<"$st"
check "the stops made the hub skip periods ($skipped)" test "${skipped:-0}" -ge 5
check "... and some it sent as a gap ($gapped of them)" test "${gapped:-0}" -ge 5
check "kb's fixed depth kept after five stops (fill $(best3): 960 and a period, less a packet at most)" deep
check "kb never ran dry for it (underruns: $(awk '/mix from the hub: fill/ { for (i = 1; i <= NF; i++) if ($i == "underruns") u = $(i + 1) } END { print u + 0 }' "$BB_TMP/kb.log"))" \
    awk '/mix from the hub: fill/ { for (i = 1; i <= NF; i++) if ($i == "underruns") u = $(i + 1) } END { exit u + 0 > 0 }' "$BB_TMP/kb.log"
bb_kill "$kb"
bb_kill "$hub"
check "hub exits 0" test $? -eq 0
bb_done
