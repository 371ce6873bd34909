#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_mixonce.sh: equal personal mixes mixed and encoded once (issue 17).
# A real jackd (dummy, 48 kHz, 64 frames), a real hub and bbload with 6
# steady musicians (PCM float, mixes checked sample by sample; s4 and s5
# send exact zeros). By default every mix is everyone at 0 dB: one mix
# and one encode a period for all six (/stats mixes_mixed, mix_encodes),
# and five of every six mix packets carry another's payload
# (shared_packets). Then s0's mix takes s4 (silent) 6 dB down and panned:
# s0 leaves the group (two encodes), and back at 0 dB it rejoins (one).
# Through all of it (30 s, long enough for the steps on a loaded machine)
# every steady mix must stay bit exact: grouping changes
# nothing anyone hears, and neither does leaving or rejoining a group.
# The hub runs with the default load ceiling (75 % of a core of its own
# threads' CPU time, which other programs do not stretch); six musicians
# are far below it on a loaded machine too: it never sheds.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
osc=$(bb_free_udp_port)
bb_start_load_hub --osc-port "$osc"

prefix=mo
bb_bg "$BB_TMP/load.log" "$BBLOAD" --hub "127.0.0.1:$port" --steady 6 --seconds 30 --seed 3 \
    --name-prefix "$prefix" --report "$BB_TMP/load.txt"
load=$BB_LASTPID

stat_is() { [[ $(bb_hub_stats "$osc" "$1") == "$2" ]]; }
all_in() { stat_is clients 6; }
check "all six steady musicians joined" bb_wait_for all_in
check "one personal-mix encode for all six (mix_encodes $(bb_hub_stats "$osc" mix_encodes))" \
    bb_wait_for stat_is mix_encodes 1
# The main mix is everyone at 0 dB too: one mix for all seven.
check "one mix mixed for the main mix and all six (mixes_mixed $(bb_hub_stats "$osc" mixes_mixed))" \
    stat_is mixes_mixed 1
read -r sh0 c0 < <(bb_hub_stats "$osc" shared_packets cycles)
sleep 1 # a second of packets to count (a rate, not a synchronisation)
read -r sh1 c1 < <(bb_hub_stats "$osc" shared_packets cycles)
# Five of six packets each cycle are shared (rendered cycles add a few).
check "five of six mix packets shared: $((sh1 - sh0)) in $((c1 - c0)) cycles" \
    test $((c1 - c0)) -gt 100 -a $((sh1 - sh0)) -ge $(( (c1 - c0) * 5 * 9 / 10 )) -a $((sh1 - sh0)) -le $(( (c1 - c0) * 5 * 11 / 10 ))


check "s0's mix: s4 6 dB down" q "/mix/${prefix}s0/ch/${prefix}s4/gain" -6
check "s0 left the group: two encodes (mix_encodes $(bb_hub_stats "$osc" mix_encodes))" \
    bb_wait_for stat_is mix_encodes 2
check "and two mixes mixed (s0's, everyone else's)" stat_is mixes_mixed 2
check "s0's mix: s4 panned left" q "/mix/${prefix}s0/ch/${prefix}s4/pan" -0.5
sleep 2 # s0 on its own for a while (a span of the run, not a synchronisation)
check "s0's mix: s4 back" q "/mix/${prefix}s0/ch/${prefix}s4/gain" 0
check "s0's mix: s4 centred" q "/mix/${prefix}s0/ch/${prefix}s4/pan" 0
check "s0 rejoined: one encode again" bb_wait_for stat_is mix_encodes 1
# The load with six musicians in (the last second's, for the record below).
read -r lp rt rx tx < <(bb_hub_stats "$osc" load_pct load_rt_pct load_rx_pct load_tx_pct)

bb_wait_exit "$load" 60
rc=$?
sed 's/^/# bbload: /' "$BB_TMP/load.log"
val() { bb_probe_val "$BB_TMP/load.txt" "$1" "$2"; }
check "bbload ran to the end and says status=ok (exit $rc)" \
    bash -c "test $rc -eq 0 && grep -qx status=ok '$BB_TMP/load.txt'"
for i in 0 1 2 3; do
    check "steady s$i bit exact: glitches=$(val "steady s$i" glitches) lost=$(val "steady s$i" lost) (samples $(val "steady s$i" samples))" \
        bb_steady_exact "$BB_TMP/load.txt" "$i"
done
read -r ceil shed < <(bb_hub_stats "$osc" load_ceiling_pct shed_level)
check "the default ceiling ($ceil %) never shed: shed_level $shed, no shedding in the log (six in: load $lp %: callback $rt %, receive $rx %, send $tx %; load average $(cut -d' ' -f1-3 /proc/loadavg))" \
    bash -c "test '$ceil' = 75 -a '$shed' = 0 && ! grep -q 'shedding' '$BB_TMP/hub.log'"
bb_kill "$hub"
check "hub exits 0 on SIGTERM" test $? -eq 0
bb_check_rt
bb_done
