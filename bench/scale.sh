#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# scale.sh: `make bench-scale` (issue 17). How far the hub carries musicians
# on this machine, with Jamulus's server beside it in the same run, and
# where it stops keeping up. One jackd (dummy backend, 48 kHz, 64 frames)
# for the whole run; for every N and mode a fresh hub and one bbload process
# simulating N steady musicians (no JACK on their side), everyone in
# everyone's personal mix at 0 dB:
#   opus         Opus up, Opus mixes (centred: encoded mono), every input a tone
#   opus-stereo  the same with musicians that do not take mono mixes, so every
#                mix is encoded in stereo, as a panned mix is
#   pcm          PCM float both ways, the signal bbload checks sample by
#                sample (its code), so a missing or spliced block is a glitch
# Per run, over a window of SCALE_SECS after every join and SCALE_SETTLE:
#   CPU    the hub's utime+stime, every thread (/proc/PID/stat), per musician
#   cb     the process callback's p99 and worst against the period (the
#          hub's exit line: its whole life, joins included)
#   xruns  jackd's in the window, against a window of the same length with a
#          hub and no musician (the "idle" row), and the hub's skipped cycles
#          (/stats deltas)
#   tx     send-worker wakes whose packets went out more than a period after
#          the callback (/stats tx_late) and the worst wake-to-sent time
#   under  underruns of the musicians' streams caused by the hub: mix
#          packets bbload never got (sequence gaps) or got out of order,
#          less the datagrams the kernel dropped on bbload's own sockets
#          (/proc/net/udp, bbload not reading in time: not the hub's doing),
#          plus bbload's glitches in checked (pcm) mixes
# The ceiling of a mode is the first N with an underrun caused by the hub;
# a mode's sweep stops after SCALE_STOP consecutive failing N.
#
# Jamulus (/usr/bin/Jamulus, `scripts/setup.sh --bench`): its server
# (`-s -n -F -u 150`, 64-sample frames) with N headless Jamulus clients
# (`-n -c`, mono, 64-sample frames, fixed jitter buffers of 3) on the same
# jackd, every client's input fed the one jack_iodelay signal. Jamulus has no
# load tool, and a client speaking its protocol without JACK is a project of
# its own (its channel handshake: acknowledged protocol messages, transport
# properties, Opus custom frames of its own sizes); its clients are real but
# each costs as much CPU as the server's share of it, so Jamulus runs only at
# the N in JAM_NS (as far as two cores carry the clients too); its clients'
# CPU is in the table so a row taken on a saturated machine shows itself.
#
# Knobs: SCALE_NS (8 16 32 64 100 128), SCALE_MODES (opus opus-stereo pcm),
# SCALE_SECS (8), SCALE_SETTLE (2), SCALE_REPS (3: runs of opus and of
# Jamulus at SCALE_REP_NS, alternated, median taken), SCALE_REP_NS (8 16 64),
# SCALE_STOP (2), JAM=0 (no Jamulus), JAM_NS (8 16), JAM_SECS (SCALE_SECS),
# SCALE_OUT (bench/scale.md), SCALE_PERF=1 (perf record of the hub for a
# few seconds at N=64 opus, its top symbols in the report, when perf works),
# SCALE_BUDGET (540 s: no N nor repetition is started past it; the report
# names the N skipped).
set -u
. "$(dirname "$0")/../test/lib.sh"
bb_init
OUT=${SCALE_OUT:-$BB_ROOT/bench/scale.md}
BBLOAD=$BUILD/bbload
CLK=$(getconf CLK_TCK)
read -r -a NS <<<"${SCALE_NS:-8 16 32 64 100 128}"
read -r -a MODES <<<"${SCALE_MODES:-opus opus-stereo pcm}"
read -r -a REP_NS <<<"${SCALE_REP_NS:-8 16 64}"
read -r -a JAM_NS <<<"${JAM_NS:-8 16}"
SECS=${SCALE_SECS:-8}
SETTLE=${SCALE_SETTLE:-2}
REPS=${SCALE_REPS:-3}
STOP=${SCALE_STOP:-2}
JAM=${JAM:-1}
JAM_SECS=${JAM_SECS:-$SECS}
PERF=${SCALE_PERF:-1}
BUDGET=${SCALE_BUDGET:-540} # seconds: no new N (nor repetition) is started past it
T_START=$(bb_now_us)
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
export QT_QPA_PLATFORM=offscreen

say() { echo "# $*" >&2; }
calc() { local e=$1; shift; awk "$@" "BEGIN { print $e }" </dev/null; }
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "" || x == "-") print "–"; else printf f, x }'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pct_of() { calc "100 * d / c / (w / 1e6)" -v d="$1" -v c="$CLK" -v w="$2"; } # ticks, window us
median() { tr ' ' '\n' <<<"$*" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# share X OF: X as a whole % of OF ("–" when either is not a number).
share() { awk -v x="$1" -v p="$2" 'BEGIN { if (x !~ /^[0-9.]+$/ || p !~ /^[0-9.]+$/ || p == 0) print "–"; else printf "%.0f %%", 100 * x / p }'; }
in_list() { local x=$1; shift; [[ " $* " == *" $x "* ]]; }
machine() {
    echo "$(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(. /etc/os-release; echo "$PRETTY_NAME"), jackd $(dpkg-query -W -f='${Version}' jackd2 2>/dev/null)"
}

# stat_of FILE KEY: a counter from `bandbridge ctl /stats` output (key value ...).
stat_of() { awk -v k="$2" '{ for (i = 1; i < NF; i += 2) if ($i == k) { print $(i + 1); exit } }' "$1"; }
stats() { local i; for i in 1 2 3; do "$BB_BIN" ctl --port "$OSC" --timeout 2 /stats >"$1" 2>/dev/null && return 0; done; return 1; }
# dstat FROM TO KEY: its increase, "?" when the hub did not answer /stats (too busy).
dstat() {
    local a b
    a=$(stat_of "$1" "$3" 2>/dev/null); b=$(stat_of "$2" "$3" 2>/dev/null)
    [[ -n $a && -n $b ]] && echo $((b - a)) || echo "?"
}

# udp_drops PID: datagrams the kernel dropped on PID's UDP sockets (full
# receive buffers), from /proc/net/udp{,6} matched by socket inode.
udp_drops() {
    local ino
    ino=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | paste -sd' ')
    awk -v list="$ino" 'BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
        FNR > 1 && ($10 in want) { d += $NF } END { print d + 0 }' /proc/net/udp /proc/net/udp6 2>/dev/null
}

# hub_cb LOG: "p99=.. worst=.. period=.." from the hub's exit line.
hub_cb() {
    awk '/process callback: [0-9]+ cycles/ && !/debug: / { line = $0 }
        END {
            n = split(line, w, /[ ,();]+/)
            p = "-"; wo = "-"; pe = "-"
            for (i = 1; i <= n; i++) {
                if (w[i] == "p99") p = w[i + 1]
                if (w[i] == "worst") wo = w[i + 1]
                if (w[i] == "period") pe = w[i + 1]
            }
            printf "p99=%s worst=%s period=%s\n", p, wo, pe
        }' "$1"
}
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# joined: the musicians the hub has now (/stats clients; empty when it did
# not answer). Not its log: the hub writes at most a few lines of a kind a
# second ("N more lines like ..."), so a hundred "joined from" lines in a
# second are mostly summarised, and counting them read "64 of 100 joined".
joined() { bb_hub_stats "$OSC" clients; }

# wait_joins N TIMEOUT: until the hub has N musicians.
wait_joins() {
    local dl=$(( $(bb_now_us) + $2 * 1000000 )) c
    while c=$(joined); (( ${c:-0} < $1 )); do
        (( $(bb_now_us) < dl )) || return 1
        sleep 0.2
    done
}

# start_hub LOG: a hub with its OSC port (for /stats) on this jackd; sets
# HUB, PORT and OSC. A deep hub-side jitter buffer and no drift
# compensation, as the load tests (lib.sh bb_start_load_hub): bbload's late
# sender must not show up as the hub's underruns, and its clock is not JACK's.
# No load ceiling: the bench looks for where the hub stops keeping up, which
# a ceiling would hide behind shedding and refused joins.
start_hub() {
    PORT=$(bb_free_udp_port)
    OSC=$(bb_free_udp_port)
    bb_bg "$1" "$BB_BIN" serve --port "$PORT" --osc-port "$OSC" --inputs 0 --db none \
        --jitter 1536 --no-drift-comp --load-ceiling 0
    HUB=$BB_LASTPID
    bb_wait_port bandbridge:main_L 10 || say "hub did not register its ports (see $1)"
}

declare -A R   # R[mode-N-field] of the last run of that mode and N
declare -A REPCPU # REPCPU[mode-N] = per-musician CPU of every run
# bb_run MODE N: one run; fills R[MODE-N-*]; returns 1 when the hub caused an underrun.
bb_run() {
    local mode=$1 n=$2 tag=$1-$2-$RANDOM pfx ld args=() h0 h1 t0 t1 x0 x1 d0 d1 s cpu rep under
    case $mode in
        opus) args=(--codec opus --signal tone) ;;
        opus-stereo) args=(--codec opus --signal tone --stereo-mix) ;;
        pcm) args=(--codec float --signal code) ;;
    esac
    pfx=${mode:0:1}${mode:5:1}$n
    start_hub "$BB_TMP/$tag-hub.log"
    bb_bg "$BB_TMP/$tag-load.log" "$BBLOAD" --hub "127.0.0.1:$PORT" --steady "$n" "${args[@]}" \
        --seconds 600 --settle "$SETTLE" --name-prefix "$pfx" --rx-rt-prio 3 --report "$BB_TMP/$tag-load.txt"
    ld=$BB_LASTPID
    if ! wait_joins "$n" $((10 + n / 4)); then
        local c; c=$(joined)
        say "$mode N=$n: only ${c:-?} joined"
        R[$mode-$n-note]="only ${c:-?} of $n joined"
    fi
    sleep "$SETTLE" # bbload verifies from SETTLE after the last join
    stats "$BB_TMP/$tag-s0.txt"
    h0=$(ticks "$HUB"); x0=$(bb_xruns); d0=$(udp_drops "$ld"); t0=$(bb_now_us)
    sleep "$SECS" # the measurement window
    h1=$(ticks "$HUB"); x1=$(bb_xruns); t1=$(bb_now_us)
    stats "$BB_TMP/$tag-s1.txt"
    if [[ $PERF == 1 && $mode == opus && $n == 64 && -z ${PERF_DONE:-} ]]; then
        perf_hub
    fi
    d1=$(udp_drops "$ld") # bbload checked until now
    bb_kill "$ld" # TERM: bbload stops checking, leaves, writes its report
    bb_kill "$HUB"
    rep=$BB_TMP/$tag-load.txt
    cpu=$(pct_of $((h1 - h0)) $((t1 - t0)))
    s=$(hub_cb "$BB_TMP/$tag-hub.log")
    R[$mode-$n-cpu]=$cpu
    R[$mode-$n-pm]=$(calc "c / n" -v c="$cpu" -v n="$n")
    REPCPU[$mode-$n]+=" ${R[$mode-$n-pm]}"
    R[$mode-$n-p99]=$(kv "$s" p99); R[$mode-$n-worst]=$(kv "$s" worst); R[$mode-$n-period]=$(kv "$s" period)
    R[$mode-$n-xruns]=$((x1 - x0))
    R[$mode-$n-skipped]=$(dstat "$BB_TMP/$tag-s0.txt" "$BB_TMP/$tag-s1.txt" skipped_cycles)
    R[$mode-$n-txlate]=$(dstat "$BB_TMP/$tag-s0.txt" "$BB_TMP/$tag-s1.txt" tx_late)
    R[$mode-$n-txworst]=$(stat_of "$BB_TMP/$tag-s1.txt" tx_worst_us)
    R[$mode-$n-lost]=$(awk -F'[ =]' '/^steady/ { for (i = 1; i < NF; i++) if ($i == "lost" || $i == "late") s += $(i + 1) } END { print s + 0 }' "$rep" 2>/dev/null)
    R[$mode-$n-glitches]=$(awk -F'[ =]' '/^steady/ { for (i = 1; i < NF; i++) if ($i == "glitches") s += $(i + 1) } END { print s + 0 }' "$rep" 2>/dev/null)
    R[$mode-$n-drops]=$((d1 - d0))
    R[$mode-$n-sender]=$(awk '/^sender/ { for (i = 1; i <= NF; i++) if ($i ~ /^max_late_ms=/) { sub(/.*=/, "", $i); print $i } }' "$rep" 2>/dev/null)
    R[$mode-$n-txworst]=${R[$mode-$n-txworst]:-?}
    # A run bbload itself could not carry says nothing of the hub: steady
    # musicians never all welcomed, or dropped by the hub as silent (its
    # --timeout, 1 s: bbload's sender or the machine stalled that long).
    local dropped=0 valid=1
    dropped=$(grep -c 'was sent LEAVE' "$rep" 2>/dev/null)
    if [[ ! -s $rep ]]; then
        valid=0; R[$mode-$n-note]+=" no bbload report"
    elif grep -q 'never were all welcomed' "$rep"; then
        valid=0; R[$mode-$n-note]+=" not all joined: unchecked"
    fi
    R[$mode-$n-rtt]=$(awk '/^rtt_ms/ { for (i = 1; i <= NF; i++) if ($i ~ /^median=/) { sub(/.*=/, "", $i); print $i } }' "$rep" 2>/dev/null)
    if awk -v r="${R[$mode-$n-rtt]:-0}" 'BEGIN { exit !(r > 100) }'; then
        valid=0
        R[$mode-$n-note]+=" bbload behind (round trip median ${R[$mode-$n-rtt]} ms): unattributed"
    fi
    if (( dropped > 0 )); then
        valid=0
        R[$mode-$n-note]+=" $dropped dropped by the hub's 1 s timeout (bbload sender late up to ${R[$mode-$n-sender]} ms): unattributed"
    fi
    R[$mode-$n-valid]=$valid
    under=$(( R[$mode-$n-lost] - R[$mode-$n-drops] ))
    (( under < 0 )) && under=0
    R[$mode-$n-under]=$(( under + R[$mode-$n-glitches] ))
    say "$mode N=$n: hub $(fmt "$cpu" %.1f)% ($(fmt "${R[$mode-$n-pm]}" %.2f)%/musician) cb $s xruns ${R[$mode-$n-xruns]} skipped ${R[$mode-$n-skipped]} tx_late ${R[$mode-$n-txlate]} (worst ${R[$mode-$n-txworst]} us) lost+late ${R[$mode-$n-lost]} drops ${R[$mode-$n-drops]} glitches ${R[$mode-$n-glitches]} sender_late ${R[$mode-$n-sender]} ms; load $(cut -d' ' -f1 /proc/loadavg)"
    if (( ! valid )); then
        R[$mode-$n-under]="?"
        say "$mode N=$n: not a valid run:${R[$mode-$n-note]}"
        return 2
    fi
    (( R[$mode-$n-under] == 0 ))
}

# perf_hub: where the hub's time goes (N=64 opus), a few seconds of perf.
PERF_TOP=""
perf_hub() {
    PERF_DONE=1
    type -P perf >/dev/null || { PERF_TOP="perf not installed"; return; }
    if perf record -q -g -p "$HUB" -o "$BB_TMP/perf.data" -- sleep 4 >"$BB_TMP/perf.log" 2>&1; then
        PERF_TOP=$(perf report -q -i "$BB_TMP/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
            grep -E '^ +[0-9.]+%' | head -15)
    else
        PERF_TOP="perf record failed: $(head -c 200 "$BB_TMP/perf.log" | tr '\n' ' ')"
    fi
}

############################################################### Jamulus
JAM_TEMPLATE=$BB_TMP/jam-template.ini
declare -A J # J[N-field]
declare -A REPJAM
JAM_OK=0
if [[ $JAM == 1 ]] && type -P Jamulus >/dev/null; then JAM_OK=1; fi

# jam_ini OUT: a client ini: mono, 64-sample frames, fixed jitter buffers of 3.
jam_ini() {
    sed -e "s#<autojitbuf>.*</autojitbuf>#<autojitbuf>0</autojitbuf>#" \
        -e "s#<jitbuf>.*</jitbuf>#<jitbuf>3</jitbuf>#" \
        -e "s#<jitbufserver>.*</jitbufserver>#<jitbufserver>3</jitbufserver>#" \
        -e "s#<enableopussmall>.*</enableopussmall>#<enableopussmall>1</enableopussmall>#" \
        -e "s#<enablefeedbackdetection>.*</enablefeedbackdetection>#<enablefeedbackdetection>0</enablefeedbackdetection>#" \
        -e "s#<audiochannels>.*</audiochannels>#<audiochannels>0</audiochannels>#" \
        -e "s#<audioquality>.*</audioquality>#<audioquality>1</audioquality>#" \
        "$JAM_TEMPLATE" >"$1"
}

# jam_run N: Jamulus's server and N clients; fills J[N-*].
jam_run() {
    local n=$1 jport srv iod i pids=() h0 h1 c0 c1 t0 t1 x0 x1 ok=0 tag=jam-$1-$RANDOM
    jport=$(bb_free_udp_port)
    if [[ ! -s $JAM_TEMPLATE ]]; then
        # A Jamulus client writes its default ini when it quits.
        bb_bg "$BB_TMP/jam-tmpl-srv.log" Jamulus -s -n -p "$jport" -F -u 4
        srv=$BB_LASTPID
        bb_bg "$BB_TMP/jam-tmpl.log" Jamulus -n -c "127.0.0.1:$jport" --clientname jtmpl -j -i "$JAM_TEMPLATE" -p "$(bb_free_udp_port)"
        i=$BB_LASTPID
        bb_wait_port "Jamulus jtmpl:output left" 10
        bb_kill "$i"; bb_kill "$srv"
        [[ -s $JAM_TEMPLATE ]] || { say "Jamulus wrote no ini; Jamulus skipped"; JAM_OK=0; return 1; }
        jport=$(bb_free_udp_port)
    fi
    jam_ini "$BB_TMP/jam.ini"
    bb_bg "$BB_TMP/$tag-srv.log" Jamulus -s -n -p "$jport" -F -u 150
    srv=$BB_LASTPID
    sleep 1 # no port to wait for: the server has no JACK client; it binds at once
    bb_bg "$BB_TMP/$tag-iod.log" jack_iodelay
    iod=$BB_LASTPID
    bb_wait_port jack_delay:out 5
    for ((i = 1; i <= n; i++)); do
        cp "$BB_TMP/jam.ini" "$BB_TMP/$tag-$i.ini"
        bb_bg "$BB_TMP/$tag-c$i.log" Jamulus -n -c "127.0.0.1:$jport" --clientname "jc$i" -j \
            -i "$BB_TMP/$tag-$i.ini" -p "$(bb_free_udp_port)"
        pids+=("$BB_LASTPID")
    done
    for ((i = 1; i <= n; i++)); do
        bb_wait_port "Jamulus jc$i:input left" 20 && ok=$((ok + 1))
        jack_connect jack_delay:out "Jamulus jc$i:input left" 2>/dev/null
        jack_connect jack_delay:out "Jamulus jc$i:input right" 2>/dev/null
    done
    sleep "$SETTLE"
    h0=$(ticks "$srv"); c0=0; for i in "${pids[@]}"; do c0=$((c0 + $(ticks "$i"))); done
    x0=$(bb_xruns); t0=$(bb_now_us)
    sleep "$JAM_SECS" # the measurement window
    h1=$(ticks "$srv"); c1=0; for i in "${pids[@]}"; do c1=$((c1 + $(ticks "$i"))); done
    x1=$(bb_xruns); t1=$(bb_now_us)
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do bb_kill "${pids[$i]}"; done
    bb_kill "$iod"; bb_kill "$srv"
    J[$n-cpu]=$(pct_of $((h1 - h0)) $((t1 - t0)))
    J[$n-pm]=$(calc "c / n" -v c="${J[$n-cpu]}" -v n="$n")
    REPJAM[$n]+=" ${J[$n-pm]}"
    J[$n-clients]=$(pct_of $((c1 - c0)) $((t1 - t0)))
    J[$n-xruns]=$((x1 - x0))
    J[$n-up]=$ok
    say "jamulus N=$n: server $(fmt "${J[$n-cpu]}" %.1f)% ($(fmt "${J[$n-pm]}" %.2f)%/musician), $ok clients up using $(fmt "${J[$n-clients]}" %.0f)%, xruns ${J[$n-xruns]}; load $(cut -d' ' -f1 /proc/loadavg)"
}

############################################################### the run
[[ -x $BBLOAD ]] || { echo "scale.sh: $BBLOAD is not built (make)" >&2; exit 1; }
bb_start_jack 64 48000 || exit 1

# Idle: a hub without musicians, for jackd's own xruns in a window.
start_hub "$BB_TMP/idle-hub.log"
sleep 1
x0=$(bb_xruns); h0=$(ticks "$HUB"); t0=$(bb_now_us)
sleep "$SECS"
x1=$(bb_xruns); h1=$(ticks "$HUB"); t1=$(bb_now_us)
bb_kill "$HUB"
IDLE_XRUNS=$((x1 - x0))
IDLE_CPU=$(pct_of $((h1 - h0)) $((t1 - t0)))
say "idle hub: $IDLE_XRUNS xruns in $SECS s, hub $(fmt "$IDLE_CPU" %.1f)%"

declare -A FAILS CEIL UNKNOWN
SKIPPED=()
over_budget() { (( ($(bb_now_us) - T_START) / 1000000 > BUDGET )); }
# record MODE N: one run, its verdict kept for the ceiling.
record() {
    bb_run "$1" "$2"
    case $? in
        0) FAILS[$1]=0 ;;
        1) FAILS[$1]=$(( ${FAILS[$1]:-0} + 1 ))
           [[ -z ${CEIL[$1]:-} ]] && CEIL[$1]=$2 ;;
        *) FAILS[$1]=$(( ${FAILS[$1]:-0} + 1 ))
           [[ -z ${UNKNOWN[$1]:-} ]] && UNKNOWN[$1]=$2 ;;
    esac
}
# The sweep first, mode by mode (opus first: its ceiling is the headline),
# one run per N, Jamulus beside opus, so the ceiling is found within the
# budget; then the repetitions for the medians
# (opus and Jamulus alternated), as far as the budget goes.
for mode in "${MODES[@]}"; do
    for n in "${NS[@]}"; do
        if over_budget; then SKIPPED+=("$mode $n"); continue; fi
        (( ${FAILS[$mode]:-0} >= STOP )) && continue
        record "$mode" "$n"
        if [[ $mode == opus && $JAM_OK == 1 ]] && in_list "$n" "${JAM_NS[@]}"; then
            jam_run "$n"
        fi
    done
done
REPS_DONE=1
for ((k = 2; k <= REPS; k++)); do
    for n in "${REP_NS[@]}"; do
        [[ -n ${R[opus-$n-cpu]:-} ]] || continue
        over_budget && break 2
        bb_run opus "$n"
        if [[ $JAM_OK == 1 ]] && in_list "$n" "${JAM_NS[@]}"; then
            jam_run "$n"
        fi
    done
    REPS_DONE=$k
done
bb_stop_jack
ELAPSED=$(( ($(bb_now_us) - T_START) / 1000000 ))
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

############################################################### the report
{
    echo "# bandbridge at scale (make bench-scale)"
    echo
    echo "$DATE, $(machine); load average $START_LOAD at the start, $END_LOAD at the end"
    echo "(other jobs shared the cores: figures taken under that load). ${ELAPSED} s."
    echo "jackd dummy backend 48 kHz / 64 frames (period $(fmt "${R[opus-8-period]:-1333}" %.0f) us); one bbload process simulates the"
    echo "musicians (no JACK on their side), everyone in everyone's personal mix at 0 dB; windows of"
    echo "$SECS s after every join and $SETTLE s; a hub with no musician: $IDLE_XRUNS jackd xruns in $SECS s, $(fmt "$IDLE_CPU" %.2f) % CPU."
    echo
    echo "| N | mode | hub CPU % (per musician) | callback p99 / worst us | xruns (skipped) | send late (worst us) | lost+late / kernel drops at bbload / glitches | underruns by the hub | Jamulus server % (per musician), clients % |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for n in "${NS[@]}"; do
        for mode in "${MODES[@]}"; do
            [[ -n ${R[$mode-$n-cpu]:-} ]] || continue
            pm=${R[$mode-$n-pm]}
            reps=""
            if [[ $mode == opus ]] && (( $(wc -w <<<"${REPCPU[$mode-$n]}") > 1 )); then
                pm=$(median ${REPCPU[$mode-$n]})
                reps=" median of$(printf ' %.2f' ${REPCPU[$mode-$n]})"
            fi
            jam="–"
            if [[ $mode == opus && -n ${J[$n-cpu]:-} ]]; then
                jpm=${J[$n-pm]}
                (( $(wc -w <<<"${REPJAM[$n]}") > 1 )) && jpm=$(median ${REPJAM[$n]})
                # Jamulus's server has no statistics of its own: a window
                # with 4 x the idle hub's xruns says its clients, jackd or the
                # machine did not keep up, and its CPU is then no measure.
                jbad=""
                (( ${J[$n-xruns]} > 4 * IDLE_XRUNS * JAM_SECS / SECS + 8 )) && jbad="; **did not keep up** (xruns), ratio meaningless"
                jam="$(fmt "${J[$n-cpu]}" %.1f) (**$(fmt "$jpm" %.2f)**$( (( $(wc -w <<<"${REPJAM[$n]}") > 1 )) && printf ', median of'; (( $(wc -w <<<"${REPJAM[$n]}") > 1 )) && printf ' %.2f' ${REPJAM[$n]})), $(fmt "${J[$n-clients]}" %.0f); ${J[$n-up]} of $n up, ${J[$n-xruns]} xruns; bandbridge/Jamulus $(calc "b / j" -v b="$pm" -v j="$jpm" | xargs printf '%.2f') x$jbad"
            fi
            echo "| $n | $mode | $(fmt "${R[$mode-$n-cpu]}" %.1f) (**$(fmt "$pm" %.2f)**$reps) | ${R[$mode-$n-p99]} / ${R[$mode-$n-worst]} ($(share "${R[$mode-$n-p99]}" "${R[$mode-$n-period]}") / $(share "${R[$mode-$n-worst]}" "${R[$mode-$n-period]}")) | ${R[$mode-$n-xruns]} (${R[$mode-$n-skipped]}) | ${R[$mode-$n-txlate]} ($(fmt "${R[$mode-$n-txworst]}" %.0f)) | ${R[$mode-$n-lost]} / ${R[$mode-$n-drops]} / ${R[$mode-$n-glitches]} | **${R[$mode-$n-under]}**${R[$mode-$n-note]:+ (${R[$mode-$n-note]})} | $jam |"
        done
    done
    echo
    for mode in "${MODES[@]}"; do
        last=""
        for n in "${NS[@]}"; do [[ ${R[$mode-$n-valid]:-} == 1 && ${R[$mode-$n-under]} == 0 ]] && last=$n; done
        if [[ -n ${CEIL[$mode]:-} ]]; then
            echo "- ceiling, $mode: **N = ${CEIL[$mode]}** (first N with an underrun caused by the hub)"
        elif [[ -n ${UNKNOWN[$mode]:-} ]]; then
            echo "- ceiling, $mode: not found; no underrun caused by the hub up to N = ${last:-none}, and from N = ${UNKNOWN[$mode]} bbload (or the machine) did not keep up, so the runs there tell nothing of the hub"
        else
            echo "- ceiling, $mode: above N = ${last:-none} (no underrun caused by the hub up to it${SKIPPED[*]:+; larger N not run})"
        fi
    done
    (( ${#SKIPPED[@]} )) && echo "- not run (past SCALE_BUDGET, $BUDGET s): $(IFS=,; echo "${SKIPPED[*]}")"
    (( REPS_DONE < REPS )) && echo "- repetitions: $REPS_DONE of $REPS rounds fitted SCALE_BUDGET ($BUDGET s)"
    echo
    echo "Columns: hub CPU is utime+stime of every hub thread over the window, % of one core; per musician"
    echo "in bold (opus at ${REP_NS[*]}: the median of the runs, each listed). Callback: the hub's own"
    echo "p99 and worst over its whole life (joins included) and against the period. xruns: jackd's in the"
    echo "window (compare the idle hub's); skipped: periods JACK did not run the hub's callback for."
    echo "Send late: send-worker wakes whose packets left more than a period after the callback (/stats"
    echo "tx_late). Lost+late: mix packets bbload never got or got out of order; kernel drops: datagrams"
    echo "dropped on bbload's own sockets (bbload not reading in time, not the hub's doing); glitches:"
    echo "samples out of sequence in checked (pcm) mixes. Underruns by the hub = lost+late - drops + glitches."
    echo "Jamulus: its server's CPU with N real headless clients on the same jackd (mono, 64-sample frames),"
    echo "fed one jack_iodelay signal; the clients' own CPU shows how busy the machine was."
    if [[ -n $PERF_TOP ]]; then
        echo
        echo "Where the hub's time goes at N = 64, opus (perf, 4 s, self time):"
        echo
        echo '```'
        echo "$PERF_TOP"
        echo '```'
    fi
    echo
    echo "Reproduce: \`scripts/setup.sh --bench && make bench-scale\` (knobs in bench/scale.sh: SCALE_NS,"
    echo "SCALE_MODES, SCALE_SECS, SCALE_REPS, SCALE_REP_NS, JAM_NS, JAM=0)."
} >"$BB_TMP/scale.md"
cat "$BB_TMP/scale.md"
cp "$BB_TMP/scale.md" "$OUT"
exit 0
