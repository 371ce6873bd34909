#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_probe_selftest.sh: bbprobe measures a plain JACK loop correctly (lag, exactness,
# independence of its signals, gains of a mix made with jack_connect).
set -u
. "$(dirname "$0")/lib.sh"
bb_init

[[ -x $BB_PROBE ]] || { not_ok "bbprobe built ($BB_PROBE)"; bb_done; }
bb_start_jack 64 48000 || { not_ok "jackd started"; bb_done; }
ok "jackd $BB_JACK_NAME started"

val() { bb_probe_val "$out" "$1" "$2"; }

# 1. Two loops through JACK: out_1 -> in_1, out_2 -> in_2.
out=$BB_TMP/loop.out
"$BB_PROBE" --name probe --outs 2 --ins 2 --seconds 2 --settle 0.5 \
    --connect out_1=in_1 --connect out_2=in_2 >"$out" 2>"$BB_TMP/loop.log"
rc=$?
cat "$out"
check "bbprobe exits 0 (rc=$rc)" test "$rc" -eq 0
check "status=ok" grep -qx 'status=ok' "$out"
check "format of the pair line" grep -Eq \
    '^in_1 out_1 lag=[0-9]+ corr=-?[0-9.]+ gain_db=[-0-9.inf]+ snr_db=[-0-9.inf]+ exact=[0-9]+ mismatch=[0-9]+ rms_db=[-0-9.inf]+ run=[0-9]+ med_gain_db=[-0-9.inf]+ med_snr_db=[-0-9.inf]+ blocks=[0-9]+ blocks_exact=[0-9]+$' "$out"
check "format of rate/xruns lines" grep -Eq '^rate=48000 period=64 frames=96000$' "$out"
check "xruns line" grep -Eq '^xruns=[0-9]+$' "$out"
for p in 1 2; do
    check "in_$p/out_$p lag is one period: $(val "in_$p out_$p" lag)" test "$(val "in_$p out_$p" lag)" = 64
    check "in_$p/out_$p bit exact: mismatch=$(val "in_$p out_$p" mismatch)" test "$(val "in_$p out_$p" mismatch)" = 0
    check "in_$p/out_$p exact=frames" test "$(val "in_$p out_$p" exact)" = 96000
    check "in_$p/out_$p snr_db=inf" test "$(val "in_$p out_$p" snr_db)" = inf
    check "in_$p/out_$p corr=1" test "$(val "in_$p out_$p" corr)" = 1.000000
    check "in_$p/out_$p gain_db=0" test "$(val "in_$p out_$p" gain_db)" = 0.000
    # uniform in [-0.25, 0.25]: rms 0.25/sqrt(3) = -16.8 dBFS
    r=$(val "in_$p" rms_db)
    check "in_$p rms_db=$r is about -16.8" bb_num_cmp "$r" '>' -17.3
    check "in_$p rms_db=$r is at most -16.3" bb_num_cmp "$r" '<' -16.3
done
c=$(val "in_1 out_2" corr)
check "in_1/out_2 independent: corr=$c < 0.1" bb_num_cmp "$c" '<' 0.1
c=$(val "in_2 out_1" corr)
check "in_2/out_1 independent: corr=$c < 0.1" bb_num_cmp "$c" '<' 0.1

# 2. A mix made from outside: jack_connect out_1 and out_2 both into in_1.
out=$BB_TMP/mix.out
bb_bg "$BB_TMP/mix.log" "$BB_PROBE" --name probemix --outs 2 --ins 1 --seconds 2 --settle 0.5 \
    --wait-connection out_1=in_1 --wait-connection out_2=in_1 --timeout 20
pid=$BB_LASTPID
check "probe ports appear" bb_wait_port probemix:in_1
check "jack_connect out_1 -> in_1" jack_connect probemix:out_1 probemix:in_1
check "jack_connect out_2 -> in_1" jack_connect probemix:out_2 probemix:in_1
bb_wait_exit "$pid" 30
rc=$?
# bb_bg sends stdout and stderr to one log: the measurement lines are in it.
grep -E '^(rate|in_|xruns|status)' "$BB_TMP/mix.log" >"$out"
cat "$out"
check "mix probe exits 0 (rc=$rc)" test "$rc" -eq 0
check "mix status=ok" grep -qx 'status=ok' "$out"
for k in 1 2; do
    g=$(val "in_1 out_$k" gain_db)
    check "in_1/out_$k gain_db=$g within 0.1 dB of 0" bb_num_cmp "${g#-}" '<=' 0.1
    check "in_1/out_$k lag is one period" test "$(val "in_1 out_$k" lag)" = 64
done
# sum of two independent equal signals: each explains half the power (snr about 0 dB)
s=$(val "in_1 out_1" snr_db)
check "in_1/out_1 snr_db=$s about 0 dB in the mix" bb_num_cmp "${s#-}" '<' 0.5
check "mix is not bit exact" test "$(val "in_1 out_1" mismatch)" != 0

# 3. A port that never appears: status=timeout, exit 2.
"$BB_PROBE" --name probewait --outs 0 --ins 1 --wait-port nosuch:port --timeout 0.3 \
    >"$BB_TMP/wait.out" 2>"$BB_TMP/wait.log"
rc=$?
check "missing --wait-port exits 2 (rc=$rc)" test "$rc" -eq 2
check "missing --wait-port prints status=timeout" grep -qx 'status=timeout' "$BB_TMP/wait.out"

# 4. Unconnected input: digital silence is reported as such.
"$BB_PROBE" --name probesilent --outs 1 --ins 1 --seconds 0.5 --settle 0 \
    >"$BB_TMP/silent.out" 2>"$BB_TMP/silent.log"
check "silent input rms_db=-inf" grep -qx 'in_1 rms_db=-inf' "$BB_TMP/silent.out"
check "silent input gain_db=-inf" test "$(bb_probe_val "$BB_TMP/silent.out" "in_1 out_1" gain_db)" = -inf

bb_log "jackd logged $(bb_xruns) xruns during this test"
bb_done
