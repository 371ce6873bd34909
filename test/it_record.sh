#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_record.sh: the hub's recorder and click (serve --record, OSC /record/*,
# /click/*, /mix/<mix>/click), about 40 s:
#  - a take of ~60-65 s (longer on a loaded machine) with four musicians (bbload, float codec, each a sine
#    of its own): two there from the start, two joining mid-take, one of
#    those killed -9 and back under the same name. The hub's main mix holds
#    every source at exactly 0 dB, so main_L.wav must equal the sum of every
#    musician's and local input's file, sample by sample, wherever no file
#    starts or stops sounding (the mixer's 5 ms ramps): one frame of
#    misalignment anywhere is an error of ~1e-2, the check allows 1e-4. All
#    files of the take are the same length; the returning musician kept
#    one file.
#  - /record, /record/start, /record/stop answer and are fed back; without
#    --record, /record/start says how to enable it.
#  - a JACK server restart ends the take and starts a new one, said so;
#  - a take cut by kill -9 of the hub reads (sndfile-info, libsndfile).
#  - the click, on in two personal mixes at 0 and -6 dB, off in the main
#    mix, captured at the hub's ports (--mix-ports) by one jack_rec: every
#    beat of the window, 12000 frames apart at 240 BPM, on the same frames
#    in both mixes, levels 6 dB apart, silence in main; and at the
#    musicians' own outputs (their bandbridge join's out_L, captured in the
#    same file), every beat again, each musician a steady delay behind the
#    hub's port, as long as the jitter buffer their PONGs report: kb's,
#    asked deeper, that much later than ka's.
#  - latency: /status/latency and `bandbridge status` show plausible values.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
BBLOAD=$BUILD/bbload
W="python3 $BB_ROOT/test/tools/wavcheck.py"
wait_s() { local BB_WAIT=$1; shift; bb_wait_for "$@"; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
export osc
takes=$BB_TMP/takes
start_hub() {
    bb_bg "$BB_TMP/hub$1.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
        --jitter 1536 --db "$BB_TMP/hub.db" --no-drift-comp --mix-ports --record "$takes" -v
    hub=$BB_LASTPID
    check "hub $1 is up with --record" bb_wait_port bandbridge:main_L
}
start_hub 1

has() { q /clients | grep -qw "$1"; }
lacks() { ! q /clients | grep -qw "$1"; }
export -f has lacks q ctl

check "the OSC port answers" wait_s 30 bash -c "q /info | grep -q ."
# Feedback of /record to a subscribed controller.
bb_osc_dump fb
ctl /subscribe 60 "$dport" >/dev/null
r=$(q /record)
check "/record answers: not recording ($r)" bash -c "grep -q '^0 0 ' <<<'$r'"

load() { # prefix seed: one steady musician <prefix>s0 sending a sine for up to
# 300 s (a loaded machine stretches the take far past its nominal 60 s; the
# test stops them)
    bb_bg "$BB_TMP/load-$1.log" "$BBLOAD" --hub "127.0.0.1:$port" --steady "$3" --codec float \
        --signal tone --no-verify --seconds 300 --seed "$2" --name-prefix "$1"
}
load a 1 2
la=$BB_LASTPID
check "two musicians from the start" wait_s 30 bash -c "has as0 && has as1"
check "/record/start answers recording" bash -c "q /record/start first | grep -q '^1 1 '"
check "/record/start fed back as /record 1" wait_s 10 bb_osc_seen "$BB_TMP/fb.dump" '^/record iish 1 1'
bb_log "feedback: $(grep -E '/record|/click' "$BB_TMP/fb.dump" | head -3 | tr '\n' '|')"
check "a second /record/start is refused" bb_refused "a take is running" /record/start
sleep 20 # audio for the take, not a synchronisation
load b 2 1
lb=$BB_LASTPID
load c 3 1
lc=$BB_LASTPID
check "two musicians join mid-take" wait_s 30 bash -c "has bs0 && has cs0"
sleep 20 # audio
kill -KILL "$lb"
check "the musician killed -9 is dropped" wait_s 30 lacks bs0
sleep 1
load b 2 1
lb=$BB_LASTPID
check "... and comes back" wait_s 30 has bs0
sleep 20 # audio
check "/record/stop answers stopped" bash -c "q /record/stop | grep -q '^0 1 '"
dir=$(q /record | awk '{print $3}')
check "the take has a directory ($dir)" test -d "$dir"
closed() { grep -q "take .* done" "$BB_TMP/hub1.log"; }
check "the writer says the take finished" wait_s 30 closed
ls -l "$dir" | sed 's/^/# /'
files=("$dir"/*.wav)
check "one file per channel: 4 musicians, 2 local inputs, main L/R (${#files[@]})" \
    test "${#files[@]}" -eq 8 -a -f "$dir/bs0_1.wav" -a -f "$dir/main_L.wav" -a -f "$dir/in_1.wav"
lens=$($W frames "${files[@]}" | sort -u | tr '\n' ' ')
check "every file has the same length ($lens)" test "$(wc -w <<<"$lens")" -eq 1
srcs=()
for f in "${files[@]}"; do [[ $f == */main_* ]] || srcs+=("$f"); done
res=$($W sum "$dir/main_L.wav" "${srcs[@]}")
bb_log "main_L against the sum of the sources: $res"
check "main_L is the sum of the sources to the sample ($res)" \
    awk -v r="$res" 'BEGIN { split(r, a, /[ =]/); exit !(a[2] > 0.6 * a[4] && a[6] < 1e-4) }'
check "sndfile-info reads a finished file" bash -c "sndfile-info '$dir/cs0_1.wav' | grep -q 'Frames'"

# Latency in view.
st=$(q /status)
bb_log "$(grep /status/latency <<<"$st" | head -2)"
check "/status/latency per musician, total plausible (1..200 ms)" bash -c \
    "grep '^/status/latency' <<<'$st' | awk '\$9 > 1 && \$9 < 200 { n++ } END { exit n < 4 }'"
"$BB_BIN" status --port "$osc" --once >"$BB_TMP/status.txt" 2>&1
sed 's/^/# /' "$BB_TMP/status.txt"
check "bandbridge status shows latency and recording" bash -c \
    "grep -q 'lat ms' '$BB_TMP/status.txt' && grep -q '^not recording; last take 1' '$BB_TMP/status.txt' && ! awk '/lat ms|recording/ && length > 80' '$BB_TMP/status.txt' | grep -q ."
bb_kill "$la"; bb_kill "$lb"; bb_kill "$lc"
check "the sine musicians are gone" wait_s 30 bash -c "lacks as0 && lacks bs0 && lacks cs0"

# The click: two silent musicians (their capture ports unconnected).
bb_join ka float
ka=$BB_LASTPID
bb_join kb float --jitter 384 # a deeper jitter buffer: its click comes later
kb=$BB_LASTPID
check "two silent musicians" wait_s 30 bash -c "has ka && has kb"
ctl /subscribe 60 "$dport" >/dev/null # the first lease has run out
check "click is off in a mix by default" bash -c "q /mix/ka/click | grep -qx -- -inf"
ctl /mix/ka/click 0
ctl /mix/kb/click -6
ctl /click/tempo 240
ctl /click/on 1
check "/click/on answers 1" bash -c "q /click/on | grep -qx 1"
check "/click/on fed back" wait_s 10 bb_osc_seen "$BB_TMP/fb.dump" '^/click/on i 1'
check "/mix/ka/click fed back" wait_s 10 bb_osc_seen "$BB_TMP/fb.dump" '^/mix/ka/click f 0'
check "/click/beats out of range refused" bb_refused "out of range" /click/beats 17
# 5 s at 240 bpm: 20 beats, every one of them due in the window.
x0=$(bb_xruns)
check "ka's own output is there" wait_s 30 bb_has_port bandbridge-ka:out_L
check "kb's own output is there" wait_s 30 bb_has_port bandbridge-kb:out_L
jack_rec -f "$BB_TMP/click.wav" -d 5 -b 32 bandbridge:mix_ka_L bandbridge:mix_kb_L bandbridge:main_L \
    bandbridge-ka:out_L bandbridge-kb:out_L >"$BB_TMP/jack_rec.log" 2>&1
xr=$(( $(bb_xruns) - x0 ))
bb_log "jack_rec: $(tr '\n' ' ' <"$BB_TMP/jack_rec.log")"
oa=$($W onsets "$BB_TMP/click.wav" 0) ob=$($W onsets "$BB_TMP/click.wav" 1)
om=$($W onsets "$BB_TMP/click.wav" 2)
nf=$($W frames "$BB_TMP/click.wav")
bb_log "click onsets in ka's mix: $oa; in kb's: $ob; the window: $nf frames, $xr xruns in it"
bb_log "the click's frame counter stepped back $(q /stats | tr ' ' '\n' | awk 'p { print; exit } $0 == "click_steps_back" { p = 1 }') times (late callbacks)"
check "the click lands on the same frames in both mixes ($(wc -w <<<"$oa") onsets)" \
    bash -c "test -n '$oa' -a '$oa' = '$ob'"
# Every onset due in the window is there, 12000 frames apart (240 BPM at
# 48 kHz): a missing beat would leave a gap of 24000. Only the edges may
# hold one fewer: the first comes within a beat (and the 2000 frames of
# silence wavcheck needs before an onset), the last within a beat of the
# end. The spacing is exact but where JACK reported xruns in the window:
# a cycle the capture did not run for is missing from its file (jack_rec
# is downstream of the hub), and a late hub cycle that jack2 told the next
# cycle's frame plays a beat that begins in it a period early in real time
# (its place on the grid comes back the cycle after: click.h, GRID). So a
# gap may be off by at most a period (64 frames) per xrun, shorter or
# longer, and by two periods per xrun in all; a lost beat (a gap of 24000)
# is never excused.
check "every beat in the window, 12000 frames apart ($xr xruns): $oa" \
    awk -v o="$oa" -v n="$nf" -v xr="$xr" 'BEGIN { k = split(o, a, " ");
        if (k < 2 || a[1] >= 12000 + 2000 || a[k] < n - 12000) exit 1
        for (i = 2; i <= k; i++) { d = 12000 - (a[i] - a[i - 1]); if (d < 0) d = -d
            if (d > 64 * xr || d >= 6000) exit 1; off += d }
        exit !(off <= 128 * xr) }'
check "no click onset in the main mix ($om)" test -z "$om"
# At the musicians' outputs: every beat too, and each musician's onsets a
# steady delay behind the hub's (the downlink: the hub's period, the wire,
# their jitter buffer), which /status/latency's measured jitter buffer of
# theirs (its last field) accounts for within a period or so.
jbs=$(q /status | awk '$1 == "/status/latency" { print $3, $10 }')
bb_log "the musicians' jitter buffers as their PONGs report them: $(tr '\n' ' ' <<<"$jbs")"
for k in 3 4; do
    name=$([[ $k == 3 ]] && echo ka || echo kb)
    oo=$($W onsets "$BB_TMP/click.wav" "$k")
    jb=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$jbs")
    bb_log "click onsets at $name's output: $oo (its jitter buffer ${jb:-?} frames)"
    check "every beat at $name's output, 12000 frames apart ($xr xruns)" \
        awk -v o="$oo" -v n="$nf" -v xr="$xr" 'BEGIN { k = split(o, a, " ");
            if (k < 2 || a[k] < n - 12000 - 4800) exit 1
            for (i = 2; i <= k; i++) { d = 12000 - (a[i] - a[i - 1]); if (d < 0) d = -d
                if (d > 64 * xr || d >= 6000) exit 1; off += d }
            exit !(off <= 128 * xr) }'
    # Each output onset against the hub's onset of the same beat (the
    # nearest before it): the delay, its median, and how far any strays.
    dl=$(awk -v h="$oa" -v o="$oo" 'BEGIN { nh = split(h, a, " "); no = split(o, b, " ")
        for (i = 1; i <= no; i++) { best = -1
            for (j = 1; j <= nh; j++) if (a[j] <= b[i] && b[i] - a[j] < 6000) best = b[i] - a[j]
            if (best >= 0) print best } }' | sort -n | tr '\n' ' ')
    eval "dl_$name=\$(awk -v d=\"\$dl\" 'BEGIN { n = split(d, a, \" \"); print a[int((n + 1) / 2)] }')"
    med=$(eval echo "\$dl_$name")
    bb_log "$name hears the click ${med:-?} frames after the hub's port (each beat: $dl)"
    check "$name's click a steady delay behind the hub's ($dl; xruns $xr)" \
        awk -v d="$dl" -v xr="$xr" 'BEGIN { n = split(d, a, " "); exit !(n >= 10 && a[n] - a[1] <= 128 + 64 * xr) }'
    check "$name's delay ($med frames) is their jitter buffer (${jb:-?}) and up to three periods" \
        awk -v m="$med" -v j="$jb" 'BEGIN { exit !(m != "" && j != "" && j >= 0 && m >= j - 64 && m <= j + 192) }'
done
check "kb, asked a deeper jitter buffer, hears the click later than ka (${dl_kb:-?} vs ${dl_ka:-?} frames)" \
    awk -v a="$dl_ka" -v b="$dl_kb" 'BEGIN { exit !(a != "" && b != "" && b - a >= 128) }'
pa=$($W peak "$BB_TMP/click.wav" 0) pb=$($W peak "$BB_TMP/click.wav" 1) pm=$($W peak "$BB_TMP/click.wav" 2)
check "each mix at its own level: $pa vs $pb (6 dB apart)" \
    awk -v a="$pa" -v b="$pb" 'BEGIN { r = b / a; exit !(a > 0.1 && r > 0.48 && r < 0.52) }'
check "no click in the main mix (peak $pm)" awk -v m="$pm" 'BEGIN { exit !(m == 0) }'

# The hub ran under rtcheck.so with the recorder and the click on: its
# callbacks never blocked, allocated or locked (its summary comes at exit).
bb_kill "$hub"
if (( ${#BB_RT[@]} )); then # no rtcheck in sanitizer builds (lib.sh)
    check "rtcheck: the recording hub's callbacks were watched" \
        grep -qE "violations in [1-9][0-9]* callbacks \(pid $hub\)" "$BB_TMP/rtcheck.log"
fi
bb_check_rt

# A take cut by kill -9 of the hub plays up to its last sync.
start_hub 3
check "the click's musicians come back to the new hub" wait_s 30 bash -c "has ka && has kb"
check "/record/start on a new hub: its first take" bash -c "q /record/start cut | grep -q '^1 1 '"
check "... in the directory's next take number" wait_s 20 bash -c "q /record | grep -q 'take-002_.*_cut'"
dir2=$(q /record | awk '{print $3}')
check "... with the musician's file" wait_s 20 test -f "$dir2/ka_1.wav"

# A JACK server restart ends the take and starts a new one (the frame
# counters of the two servers have nothing to do with each other).
sleep 1.5 # audio in the take
bb_stop_jack
check "JACK gone: the hub ends the take and says so" \
    wait_s 30 grep -q "JACK server went away: take 1 ends here" "$BB_TMP/hub3.log"
bb_start_jack 64 48000 || not_ok "jackd starts again"
check "JACK back: a new take, said so" wait_s 30 grep -q "JACK server restarted: this is a new take" "$BB_TMP/hub3.log"
check "... take 2, in take-003 (/record: $(q /record))" wait_s 20 bash -c "q /record | grep -q '^1 2 .*take-003_.*_cut'"
check "the take the restart ended was finished" wait_s 20 grep -q "take $dir2 done" "$BB_TMP/hub3.log"
check "... and reads (sndfile-info)" bash -c "sndfile-info '$dir2/main_L.wav' | grep -q '^Frames'"
dir2=$(q /record | awk '{print $3}')
check "... the new take's main mix file is there" wait_s 20 test -f "$dir2/main_L.wav"
sleep 2.5 # past two syncs (1 s)
kill -KILL "$hub"
wait "$hub" 2>/dev/null
frames=$(sndfile-info "$dir2/main_L.wav" 2>&1 | awk '/^Frames/ { print $3 }')
check "sndfile-info reads the killed take (${frames:-?} frames)" test "${frames:-0}" -gt 24000

# Without --record: /record/start says how to enable it.
start_hub2() {
    bb_bg "$BB_TMP/hub2.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db none -n bbnorec
    check "hub without --record is up" bb_wait_port bbnorec:main_L
}
start_hub2
check "without --record, /record/start says how to enable it" bb_refused "--record DIR" /record/start
bb_done
