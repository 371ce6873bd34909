#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_audio_path.sh: the audio path end to end on a real jackd (dummy backend,
# 48 kHz, 64 frames), a real hub and two real `join` clients on 127.0.0.1.
#
# A known signal goes into alice's input port; it must come back bit exact
# (PCM float and PCM16) in the hub's port for alice, in alice's own mix and
# in bob's mix; -6 dB set over OSC halves it; a muted channel is absent;
# Opus keeps it above a stated SNR. Hub and musicians run under rtcheck.so.
#
# Noise: the dummy backend on this 2-core machine skips a client's cycle now
# and then ("not finished, state = Triggered"); the audio of a skipped cycle
# never exists, so no buffer can make a whole recording exact. The jitter
# buffers are 128 frames deep both ways (two periods: enough for the late
# wake-ups), and the checks are: the longest bit-exact stretch is at least
# a quarter of a second (12000 samples), and most 512-sample blocks (each at
# its own lag, since a skipped cycle moves the alignment) are exact: median
# SNR inf. A path that shows neither in a 3 s window is measured again, up
# to six windows, and judged on its best one (see probe below): on a noisy
# minute of this VM skipped cycles come many times a second and no stretch
# survives them. Nothing is loosened: a single wrong sample spoils its block.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
# Drift compensation stays on (the default) although these streams are
# checked bit exact: on one clock the estimate must stay near zero and never
# engage the resampler (it_drift_clock.sh checks the estimate itself).
bb_bg "$BB_TMP/hub.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
    --db "$BB_TMP/hub.db" -v
hub=$BB_LASTPID
bb_join alice float; alice=$BB_LASTPID
bb_join bob float; bob=$BB_LASTPID
check "hub registers alice's channel port" bb_wait_port bandbridge:alice_1
check "hub registers bob's channel port" bb_wait_port bandbridge:bob_1
check "no personal mix ports without --mix-ports" bash -c '! jack_lsp | grep -q "^bandbridge:mix_"' 
check "hub has main mix ports" bb_has_port bandbridge:main_R
check "hub has local inputs" bb_has_port bandbridge:in_2

# probe OUT PATHS [options]: measure until every input in PATHS (a list
# like "in_1 in_3") has had a window in which it passed the exact-path
# checks below, up to 6 windows of 3 s. A skipped JACK cycle (jackd logs
# "not finished" for bbprobe, a musician or the hub) cannot be absorbed by
# any buffer and ends a bit-exact stretch there; on a noisy minute of this
# VM that is many times a second. The checks stay the same; the noise is
# waited out, and each path is judged on the best of its windows
# (OUT.best.in_N names it). Every window's xrun count is logged.
probe() { # out-file "inputs" [probe options]
    local out=$1 ins=$2 try x0 x1 in f done
    shift 2
    for in in $ins; do echo "$out.1" >"$out.best.$in"; done
    for try in 1 2 3 4 5 6; do
        f=$out.$try
        x0=$(bb_xruns)
        "$BB_PROBE" "$@" --outs 1 --ins 3 --seconds 3 --settle 1 --max-lag 4800 \
            --wait-port bandbridge-alice:in_1 --wait-port bandbridge:alice_1 \
            --connect out_1=bandbridge-alice:in_1 --connect bandbridge-alice:out_L=in_1 \
            --connect bandbridge-bob:out_L=in_2 --connect bandbridge:alice_1=in_3 >"$f" 2>&1
        x1=$(bb_xruns)
        bb_log "window $try: $((x1 - x0)) xrun lines from jackd"
        done=1
        for in in $ins; do
            b=$(cat "$out.best.$in")
            window_exact "$b" "$in" && continue
            if window_exact "$f" "$in" || bb_num_cmp "$(v "$f" "$in" run)" ">" "$(v "$b" "$in" run)"; then
                echo "$f" >"$out.best.$in"
            fi
            window_exact "$(cat "$out.best.$in")" "$in" || done=0
        done
        [[ -z $ins || $done = 1 ]] && break
    done
    cp "$f" "$out" # the last window, for the checks that are not about exactness
}
v() { bb_probe_val "$1" "$2 out_1" "$3"; }
window_exact() { # file input: this window shows the path bit exact
    [[ -f $1 ]] && test "$(v "$1" "$2" med_snr_db)" = inf && bb_num_cmp "$(v "$1" "$2" run)" ">=" 12000
}
exact_path() { # out-file input description
    local f in=$2 what=$3
    f=$(cat "$1.best.$in")
    check_timed "$what: median block bit exact ($(v "$f" "$in" blocks_exact) of $(v "$f" "$in" blocks) blocks exact, window ${f##*.})" \
        test "$(v "$f" "$in" med_snr_db)" = inf
    check_timed "$what: longest bit-exact stretch >= 0.25 s (got $(v "$f" "$in" run) samples, lag $(v "$f" "$in" lag), window ${f##*.})" \
        bb_num_cmp "$(v "$f" "$in" run)" ">=" 12000
}

# 1. PCM float, everyone hears everyone at 0 dB (bob and the local inputs are silent).
probe "$BB_TMP/p1.txt" "in_3 in_1 in_2"
check "probe ran" grep -q status=ok "$BB_TMP/p1.txt"
exact_path "$BB_TMP/p1.txt" in_3 "float: alice's port on the hub"
exact_path "$BB_TMP/p1.txt" in_1 "float: alice's own mix"
exact_path "$BB_TMP/p1.txt" in_2 "float: bob's mix"

# osc_set PATH TYPE VALUE: oscsend, then wait until the hub answers the
# query with VALUE. oscsend does not wait for the hub: a leave that follows
# (bb_kill) can reach its control loop in the same turn, which takes
# network events before OSC, and the setting then goes to a mix that is
# gone, and the stored one comes back at the rejoin (what an ASan run
# looked like: from the rejoin on, alice's own mix lacked her, as muted).
osc_is() { [[ $("$BB_BIN" ctl --port "$osc" "$1" 2>/dev/null) == "$2" ]]; }
osc_set() {
    oscsend 127.0.0.1 "$osc" "$1" "$2" "$3"
    bb_wait_for osc_is "$1" "$3" || not_ok "the hub applied $1 $3"
}

# 2. OSC: alice at -6 dB in bob's mix; alice muted in her own mix.
osc_set /mix/bob/ch/alice/gain f -6
osc_set /mix/alice/ch/alice/mute i 1
probe "$BB_TMP/p2.txt" "in_3"
g=$(v "$BB_TMP/p2.txt" in_2 med_gain_db)
check "-6 dB over OSC halves alice in bob's mix (median gain $g dB)" \
    awk -v g="$g" 'BEGIN { exit !(g > -6.05 && g < -5.95) }'
check "... and changes nothing else (median snr $(v "$BB_TMP/p2.txt" in_2 med_snr_db) dB)" \
    bb_num_cmp "$(v "$BB_TMP/p2.txt" in_2 med_snr_db)" ">" 100
check "muted: alice is absent from her own mix (level $(bb_probe_val "$BB_TMP/p2.txt" in_1 rms_db))" \
    test "$(bb_probe_val "$BB_TMP/p2.txt" in_1 rms_db)" = -inf
exact_path "$BB_TMP/p2.txt" in_3 "mixing leaves the hub's port for alice alone"

# Back to everyone at 0 dB (the hub would restore these settings at the
# rejoin below: it_lifecycle tests that).
osc_set /mix/bob/ch/alice/gain f 0
osc_set /mix/alice/ch/alice/mute i 0

# 3. Opus custom mode: a rejoin (same identity) with another codec.
bb_kill "$alice"
check "alice's hub ports go when she leaves" bb_wait_no_port bandbridge:alice_1
bb_join alice opus; alice=$BB_LASTPID
check "alice is back on Opus" bb_wait_port bandbridge:alice_1
# Opus keeps a spectrum, not a waveform: on white noise its SNR is near 0 dB
# by design, so this run plays four tones instead. tones_probe OUT INPUTS:
# up to 3 windows, until every input has its SNR (a window with hundreds of
# skipped cycles, seen here, spoils every block); the checks stay the same.
tones_probe() {
    local out=$1 ins=$2 try in ok
    for try in 1 2 3; do
        probe "$out" "" --signal tones
        ok=1
        for in in $ins; do bb_num_cmp "$(v "$out" "$in" med_snr_db)" ">" 12 || ok=0; done
        [[ $ok = 1 ]] && break
    done
}
tones_probe "$BB_TMP/p3.txt" "in_3 in_1 in_2"
for in in in_3 in_1 in_2; do
    s=$(v "$BB_TMP/p3.txt" "$in" med_snr_db)
    check "opus: $in median SNR $s dB > 12 dB" bb_num_cmp "$s" ">" 12
    g=$(v "$BB_TMP/p3.txt" "$in" med_gain_db)
    check "opus: $in median gain $g dB within 1 dB" awk -v g="$g" 'BEGIN { exit !(g > -1 && g < 1) }'
done

# 3a. A centred mix goes out as one Opus block (left = right: one encode,
# bandbridge-wire(7)); a panned one as two, and back. Silence is centred
# too, so the share of one-block packets is measured only while the tones
# play, not over the probe's start-up and tear-down (slow in a sanitizer
# build), when alice's input is silent and her mix goes out mono whatever
# its pan. The window opens once the hub hears her (her level in /status),
# lasts a second, and counts only if afterwards the hub still hears her
# and the same probe run is still going (probe copies its output to OUT
# when the run ends): then tones came in all through it. Its length in
# packets is the hub's own count, read in the same /stats answer as
# mono_packets: one packet to alice (64 frames) per cycle, whether run
# (cycles) or rendered after JACK skipped it (rendered_cycles).
stats() { # stats KEY...: their values in one /stats answer, in that order
    "$BB_BIN" ctl --port "$osc" /stats 2>/dev/null | awk -v keys="$*" '{
        for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
    } END {
        n = split(keys, k, " ")
        for (j = 1; j <= n; j++) { if (!(k[j] in v)) exit 1; printf "%s%s", v[k[j]], j < n ? " " : "\n" }
    }'
}
alice_heard() { # the hub hears alice: her peak in /status above -40 dB (silence reads -120)
    "$BB_BIN" ctl --port "$osc" /status 2>/dev/null |
        awk '$1 == "/status/client" && $3 == "alice" { heard = $11 > -40 } END { exit !heard }'
}
mono_share() { # mono_share OUT: tones_probe OUT; sets share: % of alice's packets sent mono
    local out=$1 try pid a b m0 c0 r0 m1 c1 r1
    share=none
    for try in 1 2 3; do
        rm -f "$out"
        bb_bg "$out.run.log" tones_probe "$out" in_1
        pid=$BB_LASTPID
        a= b=
        if BB_WAIT=30 bb_wait_for alice_heard; then
            a=$(stats mono_packets cycles rendered_cycles)
            sleep 1 # the measuring window, not a synchronisation
            b=$(stats mono_packets cycles rendered_cycles)
            if ! alice_heard || [[ -e $out ]]; then
                bb_log "mono_share try $try: the tones had stopped by the end of the window"
                b=
            fi
        else
            bb_log "mono_share try $try: the hub never heard alice's tones"
        fi
        bb_wait_exit "$pid" 180
        (( $? == 124 )) && bb_kill "$pid"
        cat "$out.run.log"
        read -r m0 c0 r0 <<<"$a"
        read -r m1 c1 r1 <<<"$b"
        if [[ -n $m0 && -n $r0 && -n $m1 && -n $r1 ]] && (( c1 + r1 > c0 + r0 )); then
            bb_log "mono_share: $((m1 - m0)) mono of $((c1 + r1 - c0 - r0)) packets (cycles $((c1 - c0)), rendered $((r1 - r0)))"
            share=$(awk -v m=$((m1 - m0)) -v n=$((c1 + r1 - c0 - r0)) 'BEGIN { printf "%.0f", 100 * m / n }')
            return 0
        fi
    done
}
mono_share "$BB_TMP/p3m.txt"
check "opus: alice's centred mix is sent mono ($share % of her packets while tones play)" test "$share" -ge 80
osc_set /mix/alice/ch/alice/pan f 0.5
mono_share "$BB_TMP/p3p.txt"
check "... and in two channels once she pans herself to 0.5 ($share % mono)" test "$share" -le 40
s=$(v "$BB_TMP/p3p.txt" in_1 med_snr_db) g=$(v "$BB_TMP/p3p.txt" in_1 med_gain_db)
check "opus, panned 0.5: her left channel SNR $s dB > 12 dB" bb_num_cmp "$s" ">" 12
check "... at half the level (median gain $g dB, pan law: -6.02)" awk -v g="$g" 'BEGIN { exit !(g > -7 && g < -5) }'
osc_set /mix/alice/ch/alice/pan f 0
mono_share "$BB_TMP/p3c.txt"
check "... and mono again when centred ($share % mono)" test "$share" -ge 80
s=$(v "$BB_TMP/p3c.txt" in_1 med_snr_db)
check "opus, centred again: her mix SNR $s dB > 12 dB" bb_num_cmp "$s" ">" 12

# 3b. Opus up, PCM16 back (join --down-codec): the hub decodes Opus and
# sends alice's mix as PCM16; the same SNR checks on the same tones.
# rejoin_alice CODEC [join options]: alice leaves and joins again (same identity).
rejoin_alice() {
    bb_kill "$alice"
    bb_wait_no_port bandbridge:alice_1
    bb_join alice "$@"
    alice=$BB_LASTPID
}
# tones_snr OUT LABEL INPUTS: tones_probe, then a median SNR check per input.
tones_snr() {
    local out=$1 label=$2 ins=$3 in s
    tones_probe "$out" "$ins"
    for in in $ins; do
        s=$(v "$out" "$in" med_snr_db)
        check "$label: $in median SNR $s dB > 12 dB" bb_num_cmp "$s" ">" 12
    done
}
rejoin_alice opus --down-codec pcm16
check "alice is back with Opus up and PCM16 back" bb_wait_for grep -q "alice joined .*opus up, back pcm16" "$BB_TMP/hub.log"
check "... and her client says so" bb_wait_for grep -q "joined as 'alice': opus up, pcm16 back" "$BB_TMP/alice.log"
tones_snr "$BB_TMP/p3b.txt" "opus up, pcm16 back" "in_3 in_1"

# 3c. opus-ld (the custom mode built for 16 kHz): the same path and SNR bar.
# Its delay (32 samples a pass, not 64) is test_codec's to check, exactly,
# and make bench's (jack_iodelay): here the jitter buffers' phase moves a
# round trip by whole periods from one join to the next, and a period is
# just what the codec saves.
rejoin_alice opus-ld
check "alice is back on opus-ld" bb_wait_for grep -q "alice joined .*opus-ld" "$BB_TMP/hub.log"
tones_snr "$BB_TMP/p3l.txt" opus-ld "in_3 in_1"

# 4. PCM16 carries the probe's 1/32768 steps bit exact.
rejoin_alice pcm16
bb_wait_port bandbridge:alice_1
probe "$BB_TMP/p4.txt" "in_3 in_2"
exact_path "$BB_TMP/p4.txt" in_3 "pcm16: alice's port on the hub"
exact_path "$BB_TMP/p4.txt" in_2 "pcm16: bob's mix"

# 5. A clean stop: musicians leave, the hub says goodbye and exits 0.
bb_kill "$alice"; check "alice exits 0 on SIGTERM" test $? -eq 0
bb_kill "$bob"; check "bob exits 0 on SIGTERM" test $? -eq 0
bb_kill "$hub"; check "hub exits 0 on SIGTERM" test $? -eq 0
check "hub logged both leaves" test "$(grep -c 'left; fading out' "$BB_TMP/hub.log")" -ge 4
bb_check_rt
bb_done
