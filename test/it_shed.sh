#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_shed.sh: the hub at its ceiling (issue 17). A real jackd (dummy, 48 kHz,
# 64 frames) and a real hub whose ceiling is forced down to 1 % of a core
# (serve --load-ceiling 1: for tests), so that its threads' CPU time is
# over it from the start. With two bbload musicians (Opus, tones) it must
# show the CPU time of its callback thread, receive thread and send
# workers in /stats, and shed, in this
# order and two seconds apart at least, meters, then stereo encodes (the
# mixes go mono: /stats mono_packets climbs though every mix is stereo),
# then Opus complexity; say so in its log, /stats and `bandbridge status`;
# and refuse a third musician's JOIN with REJECT BUSY, whose reason the
# join prints, while the two already in carry on.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
osc=$(bb_free_udp_port)
bb_start_load_hub --osc-port "$osc" --load-ceiling 1

bb_bg "$BB_TMP/load.log" "$BBLOAD" --hub "127.0.0.1:$port" --steady 2 --seconds 40 --seed 5 \
    --name-prefix sh --codec opus --signal tone --report "$BB_TMP/load.txt"
load=$BB_LASTPID

stat_is() { [[ $(bb_hub_stats "$osc" "$1") == "$2" ]]; }
check "both musicians joined" bb_wait_for stat_is clients 2
check "the hub sheds everything it can (shed_level $(bb_hub_stats "$osc" shed_level))" \
    bb_wait_for stat_is shed_level 3
check "it says so in /stats: load_pct $(bb_hub_stats "$osc" load_pct) over load_ceiling_pct 1" \
    bash -c "test $(bb_hub_stats "$osc" load_pct) -gt 1 && test $(bb_hub_stats "$osc" load_ceiling_pct) -eq 1"
# The load is the largest of the three threads' CPU figures, each measured.
read -r lp rt rx tx wall < <(bb_hub_stats "$osc" load_pct load_rt_pct load_rx_pct load_tx_pct load_wall_pct)
check "its threads' CPU time: callback $rt %, receive $rx %, send $tx % of a core, load $lp % (wall $wall % of a period)" \
    bash -c "test $rt -gt 0 -a $rx -gt 0 -a $tx -gt 0 && test $lp -ge $rt -a $lp -ge $rx -a $lp -ge $tx && test $lp -eq $rt -o $lp -eq $rx -o $lp -eq $tx"
order=$(grep -oE 'shedding (meters(, stereo(, complexity)?)?)' "$BB_TMP/hub.log" | tr '\n' '|')
check "its log names each level in order: $order" \
    test "$order" = "shedding meters|shedding meters, stereo|shedding meters, stereo, complexity|"
# s1 hard left in s0's mix: a mix that is not centred, stereo unless shed.
check "s0's mix: s1 panned hard left" q /mix/shs0/ch/shs1/pan -1
bb_wait_for stat_is mix_encodes 2
read -r m0 c0 < <(bb_hub_stats "$osc" mono_packets cycles)
sleep 1 # a second of packets to count (a rate, not a synchronisation)
read -r m1 c1 < <(bb_hub_stats "$osc" mono_packets cycles)
check "stereo shed: both mixes go out mono ($((m1 - m0)) mono packets in $((c1 - c0)) cycles)" \
    test $((c1 - c0)) -gt 100 -a $((m1 - m0)) -ge $(( (c1 - c0) * 2 * 9 / 10 ))
"$BB_BIN" status --port "$osc" --once >"$BB_TMP/status.txt" 2>&1
check "bandbridge status says it: $(grep -A1 '^hub load' "$BB_TMP/status.txt" | tr '\n' '|')" \
    bash -c "grep -Eq '^hub load [0-9]+ % of a core: callback [0-9]+, receive [0-9]+, send [0-9]+; ceiling 1 %$' '$BB_TMP/status.txt' && grep -A1 '^hub load' '$BB_TMP/status.txt' | grep -qx 'shedding meters, stereo, complexity'"

bb_join carol opus
carol=$BB_LASTPID
refused() { grep -q 'the hub refused: the hub is at its ceiling' "$BB_TMP/carol.log"; }
check "a third musician is refused, and the join prints why" bb_wait_for refused
bb_log "join: $(grep -m1 'refused' "$BB_TMP/carol.log")"
check "counted: busy_rejects $(bb_hub_stats "$osc" busy_rejects)" \
    bash -c "test $(bb_hub_stats "$osc" busy_rejects) -ge 1"
check "and not admitted (clients $(bb_hub_stats "$osc" clients))" stat_is clients 2
bb_kill "$carol"

bb_wait_exit "$load" 90
rc=$?
sed 's/^/# bbload: /' "$BB_TMP/load.log"
check "the two musicians carried on: bbload ran to the end, status=ok (exit $rc)" \
    bash -c "test $rc -eq 0 && grep -qx status=ok '$BB_TMP/load.txt'"
bb_kill "$hub"
check "hub exits 0 on SIGTERM" test $? -eq 0
bb_check_rt
bb_done
