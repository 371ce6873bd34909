#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_rate_convert.sh: a musician whose JACK runs at another sample rate than
# the hub's. Two private jackd servers (dummy backend): the hub's and the
# musician's, 48000 and 44100 Hz, then the other way round. The musician's
# --tone (1 kHz, at its own rate) must come out of the hub's port for it at
# 1 kHz, and back in the musician's own mix at 1 kHz, clean: join converts
# both directions (join_conv.c) and the wire runs at the hub's rate.
#
# Judged per block of 2048 samples, by the medians over the blocks of a 3 s
# recording (up to three recordings, the first that passes: see judge): the
# frequency within 0.5 Hz of 1000 (a wrong ratio is 1088 or
# 919 Hz; the two dummy servers each run a few hundred ppm off their nominal
# rate, their periods being whole microseconds), and the block's sine at
# least 60 dB above its residual (PCM float both ways: the resamplers' error
# is 100 dB down; a skipped JACK cycle, many a second on this loaded VM,
# spoils its own block only).
. "$(dirname "$0")/lib.sh"
bb_init

# rec SERVER PORT FILE: 3 s of PORT on SERVER, raw float32.
rec() {
    JACK_DEFAULT_SERVER=$1 "$BB_PROBE" --name "rec_$RANDOM" --outs 1 --ins 1 --seconds 3 \
        --settle 1 --wait-port "$2" --connect "$2=in_1" --dump "$3" >"$3.txt" 2>&1
}

# tone FILE RATE: "median_freq_hz median_db blocks" of the recording, per
# block of 2048 samples: its frequency from its rising zero crossings
# (interpolated, first to last), its sine fit (a cos + b sin + c) at that
# frequency over its residual. A block with a skipped cycle (of the
# recorder, a musician or the hub) is an outlier: the medians ignore it.
tone() {
    python3 - "$1" "$2" <<'PY'
import math, struct, sys
raw = open(sys.argv[1], 'rb').read()
x = struct.unpack('<%df' % (len(raw) // 4), raw)
rate, B = float(sys.argv[2]), 2048
fs, dbs = [], []
for s in range(0, len(x) - B + 1, B):
    y = x[s:s + B]
    ups = [i + y[i] / (y[i] - y[i + 1]) for i in range(B - 1) if y[i] <= 0.0 < y[i + 1]]
    if len(ups) < 10:
        fs.append(0.0)
        dbs.append(-100.0)
        continue
    f = (len(ups) - 1) * rate / (ups[-1] - ups[0])
    w = 2 * math.pi * f / rate
    cs = [math.cos(w * k) for k in range(B)]
    sn = [math.sin(w * k) for k in range(B)]
    m = [[0.0] * 4 for _ in range(3)]
    for k in range(B):
        v = (cs[k], sn[k], 1.0)
        for p in range(3):
            for q in range(3):
                m[p][q] += v[p] * v[q]
            m[p][3] += v[p] * y[k]
    for p in range(3):  # Gauss-Jordan, well conditioned
        for q in range(3):
            if q != p:
                r = m[q][p] / m[p][p]
                m[q] = [m[q][i] - r * m[p][i] for i in range(4)]
    a, b, c = (m[p][3] / m[p][p] for p in range(3))
    sig = err = 0.0
    for k in range(B):
        fit = a * cs[k] + b * sn[k] + c
        sig += fit * fit
        err += (y[k] - fit) ** 2
    fs.append(f)
    dbs.append(10 * math.log10(sig / err) if err > 0 else 200.0)
fs.sort()
dbs.sort()
n = len(fs)
print('%.4f %.1f %d' % (fs[n // 2] if n else 0, dbs[n // 2] if n else -100, n))
PY
}

near() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { exit !(a - b <= d && b - a <= d) }'; }
atleast() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# judge DIR SERVER PORT RATE MRATE WHAT: records PORT on SERVER up to three
# times, 3 s each, and judges the first window whose median frequency and
# median block both pass (the last if none does) against the same bounds. A
# window can be spoilt whole by a stretch in which this VM starves every
# jackd (seen in clean-clone runs: straight JACK loops missing cycles), as
# it_glitch and it_audio_path allow for; a wrong ratio or a bad converter
# fails every window.
judge() {
    local dir=$1 srv=$2 port=$3 rate=$4 mr=$5 what=$6 i r f db
    for i in 1 2 3; do
        rec "$srv" "$port" "$BB_TMP/${dir}_${mr}_$i.raw"
        r=$(tone "$BB_TMP/${dir}_${mr}_$i.raw" "$rate")
        bb_log "$dir ($rate Hz), window $i: freq/median dB/blocks: $r"
        f=${r%% *}
        r=${r#* }
        db=${r%% *}
        near "$f" 1000 0.5 && atleast "$db" 60 && break
    done
    check_timed "$dir: $what at 1 kHz ($f Hz, window $i)" near "$f" 1000 0.5
    check_timed "$dir: median block >= 60 dB above its residual ($db dB, window $i)" \
        atleast "$db" 60
}

# case HUB_RATE MUSICIAN_RATE
case_rates() {
    local hr=$1 mr=$2 m port hub alice
    bb_log "hub at $hr Hz, musician at $mr Hz"
    bb_start_jack 64 "$hr" || { not_ok "the hub's jackd starts at $hr Hz"; return; }
    m=${BB_JACK_NAME}_m
    bb_bg "$BB_TMP/jackd_m_$mr.log" jackd -n "$m" -d dummy -r "$mr" -p 64
    local mjack=$BB_LASTPID
    check "the musician's jackd answers at $mr Hz" \
        bb_wait_for env JACK_DEFAULT_SERVER="$m" jack_lsp
    port=$(bb_free_udp_port)
    bb_bg "$BB_TMP/hub_$hr.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" \
        --db "$BB_TMP/hub_$hr.db" -v
    hub=$BB_LASTPID
    JACK_DEFAULT_SERVER=$m bb_bg "$BB_TMP/alice_$mr.log" "${BB_RT[@]}" "$BB_BIN" join \
        "127.0.0.1:$port" --name alice --codec float --jitter 128 --tone 1000 \
        --no-auto-connect --identity "$BB_TMP/id-alice" -v
    alice=$BB_LASTPID
    check "the hub takes alice at $mr Hz (its port appears)" bb_wait_port bandbridge:alice_1 15
    grep -q 'sample rate mismatch' "$BB_TMP/alice_$mr.log" &&
        bb_log "the hub refused the other rate: its JOIN admission must let a JOIN with" \
            "BB_JOIN_RESAMPLE through (if (j.rate != h->rate && !(j.flags & BB_JOIN_RESAMPLE)))"
    check "alice says she converts" \
        bb_wait_for grep -q "hub at $hr Hz.*converted from and to ours" "$BB_TMP/alice_$mr.log"

    judge up "$BB_JACK_NAME" bandbridge:alice_1 "$hr" "$mr" \
        "alice's 1 kHz comes out of the hub's port"
    judge down "$m" bandbridge-alice:out_L "$mr" "$mr" "the mix brings it back to alice"

    bb_kill "$alice"
    bb_kill "$hub"
    bb_kill "$mjack"
    bb_stop_jack
    BB_JACK_NAME=
}

case_rates 48000 44100
case_rates 44100 48000
bb_check_rt
bb_done
