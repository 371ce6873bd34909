#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# impair.sh: `make bench-impair` (or `BENCH_ONLY=impair make bench`). How
# bandbridge and its peers sound through an impaired network: for each
# profile, each system runs with bbrelay (test/tools/bbrelay.c) between its
# client and its server and bbglitch (test/tools/bbglitch.c) on the client's
# JACK ports (its tone into the client's input, the client's mix back), and
# the report has, per row: the round trip from bbglitch's lock (median and
# spread), glitch blocks per minute, the longest gap, the time until sound
# came back after the outage, the relay's drops and jackd's xruns in the
# row's window. Written to bench/impair.md (run_bench.sh includes it).
#
# Profiles (every impairment both ways; jitter keeps packet order, as real
# paths mostly do: bbrelay --jitter-keep-order):
#   clean    the relay, nothing else
#   jitter2  +-2 ms uniform jitter
#   loss1    1 % random loss
#   burst5   5 % Gilbert loss, mean burst 3 packets
#   tail10   heavy-tailed delay, Pareto with its 99th percentile at 10 ms
#   outage5  everything dropped for 5 s
# Systems, each at its defaults (no jitter option anywhere):
#   float, opus, opus-ld   `bandbridge serve --port HP --osc-port 0 --db none`,
#                          `bandbridge join 127.0.0.1:LPORT --name m1 --codec X
#                          --no-auto-connect`; bbglitch on bandbridge-m1:in_1
#                          and bandbridge-m1:out_L
#   jamulus                Jamulus 3.9.1 server `-s -n -p SP`, client `-n -c
#                          127.0.0.1:LPORT -j` with its default settings (auto
#                          jitter buffer, 128-sample packets, mono, normal
#                          quality) except the feedback detection, which is
#                          off (it mutes a client whose input is loud at
#                          connect: the test tone); bbglitch into both inputs,
#                          from output left
#   jacktrip               JackTrip 1.7.0 in P2P mode (`-s` / `-c 127.0.0.1
#                          -P LPORT`, default queue 4, 2 channels, 16 bits),
#                          the server's receive ports looped to its send ports
#                          in JACK (what its hub's client loopback patch does).
#                          Hub mode cannot go through the relay: the hub client
#                          learns the server's UDP port over TCP and sends
#                          there, so the relay would have to listen on the
#                          port the server holds. The P2P server learns its
#                          peer from the first datagram, the relay's.
# Rows run interleaved (every system once per profile, then the next
# profile; the order of the systems turns by one each round) and repeated
# IMPAIR_ROUNDS times, with a direct JACK loop (bbglitch out -> in) per round
# as the reference. One jackd (dummy backend, 48 kHz, 64 frames) for the run.
#
# The outage row: the relay drops everything from IMPAIR_OUTAGE_START s after
# it started for IMPAIR_OUTAGE s; bbglitch gets a mark line on its stdin at
# that moment (by this script's clock, taken just before the
# relay was started: a few ms early at most) and reports the time from it to the first good block
# after the gap; its window runs until IMPAIR_AFTER s after the outage.
#
# Knobs: IMPAIR_SECS (window of a row, default 3; the brief's example was 20
# s, which with 2 rounds of 31 rows does not fit 10 minutes), IMPAIR_SETTLE
# (s between the client being up and the window, default 1), IMPAIR_ROUNDS
# (2), IMPAIR_PROFILES and IMPAIR_SYSTEMS (space-separated lists, default
# all), IMPAIR_OUTAGE (5), IMPAIR_OUTAGE_START (5), IMPAIR_AFTER (2),
# IMPAIR_OUT (the report, default bench/impair.md). Every process is ours, by
# PID (test/lib.sh); jackd gets TERM and is waited for; all on 127.0.0.1.
set -u
. "$(dirname "$0")/../test/lib.sh"
bb_init
export QT_QPA_PLATFORM=offscreen
OUT=${IMPAIR_OUT:-$BB_ROOT/bench/impair.md}
GLITCH=$BUILD/bbglitch
RELAY=$BUILD/bbrelay
SECS=${IMPAIR_SECS:-3}             # brief: e.g. 20
SETTLE=${IMPAIR_SETTLE:-1}
ROUNDS=${IMPAIR_ROUNDS:-2}
OUTAGE=${IMPAIR_OUTAGE:-5}
OUTAGE_START=${IMPAIR_OUTAGE_START:-5}
AFTER=${IMPAIR_AFTER:-2}
read -r -a PROFILES <<<"${IMPAIR_PROFILES:-clean jitter2 loss1 burst5 tail10 outage5}"
read -r -a SYSTEMS <<<"${IMPAIR_SYSTEMS:-float opus opus-ld jamulus jacktrip}"
T_START=$(bb_now_us)
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
say() { echo "# $*" >&2; }

declare -A PARGS PDESC
PARGS[clean]="" PDESC[clean]="clean (relay only)"
PARGS[jitter2]="--jitter 2 --jitter-keep-order" PDESC[jitter2]="2 ms jitter (uniform +-2 ms each way, order kept)"
PARGS[loss1]="--loss 1" PDESC[loss1]="1 % random loss each way"
PARGS[burst5]="--loss 5 --burst 3" PDESC[burst5]="5 % burst loss each way (Gilbert, mean burst 3 packets)"
PARGS[tail10]="--tail 10 --jitter-keep-order" PDESC[tail10]="10 ms heavy-tailed jitter (Pareto, p99 10 ms, median ~0.5 ms, each way, order kept)"
PARGS[outage5]="" PDESC[outage5]="${OUTAGE} s outage (both ways, ${OUTAGE_START} s after the relay started)"
declare -A SDESC
SDESC[float]="bandbridge PCM float" SDESC[opus]="bandbridge Opus" SDESC[opus-ld]="bandbridge opus-ld"
SDESC[jamulus]="Jamulus 3.9.1 (defaults)" SDESC[jacktrip]="JackTrip 1.7.0 P2P (defaults)"

for x in "$GLITCH" "$RELAY" "$BB_BIN"; do
    [[ -x $x ]] || { echo "impair: $x not built (make)" >&2; exit 1; }
done
SKIP=()
have_sys() {
    case $1 in
    jamulus) command -v Jamulus >/dev/null ;;
    jacktrip) command -v jacktrip >/dev/null ;;
    *) return 0 ;;
    esac
}
for s in "${SYSTEMS[@]}"; do
    have_sys "$s" || SKIP+=("$s")
done

# g FILE KEY: a value from bbglitch's status line (read once per file, in
# bash: a row's figures cost no process each on a loaded machine).
declare -A GV
G_FILE=
g() {
    local kv
    if [[ $1 != "$G_FILE" ]]; then
        GV=()
        G_FILE=$1
        for kv in $(grep -m1 '^status=' "$1" 2>/dev/null); do GV[${kv%%=*}]=${kv#*=}; done
    fi
    echo "${GV[$2]:-}"
}
# back FILE KEY: from its "back" line (the outage).
back() { awk -v k="$2" '/^back / { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) v = substr($i, length(k) + 2) } END { print v }' "$1"; }
# relay_sum FILE DIR: the relay's packets dropped in DIR (every cause).
relay_drop() {
    awk -v d="$2" '$1 == "dir=" d { n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^dropped_/) { split($i, a, "="); n += a[2] } print n }' "$1"
}
relay_in() { awk -v d="$2" '$1 == "dir=" d { for (i = 1; i <= NF; i++) if ($i ~ /^in=/) print substr($i, 4) }' "$1"; }
ms() { awk -v f="$1" 'BEGIN { if (f == "" || f == "-") print "–"; else printf "%.2f", f / 48 }'; }
# sleep_until US: until bb_now_us reaches US, in steps of at most 0.2 s (a
# signal ends the run between them, not after one long sleep).
sleep_until() {
    local left
    while left=$(($1 - $(bb_now_us))) && ((left > 0)); do
        ((left > 200000)) && left=200000
        sleep "$(awk -v u="$left" 'BEGIN { printf "%.6f", u / 1e6 }')"
    done
}
wait_udp() { # wait_udp PORT: until something listens on it
    BB_WAIT=${2:-10} bb_wait_for bash -c "ss -Hlnu '( sport = :$1 )' | grep -q ."
}

# free_ports: three UDP ports in 20000-60000 nobody listens on, from one
# look at ss (bb_free_udp_port asks it once per port), none handed out before.
PORT_NEXT=$((20000 + RANDOM % 30000))
free_ports() {
    local used n=0 out=()
    used=" $(ss -Hlnu 2>/dev/null | awk '{ n = split($4, a, ":"); printf "%s ", a[n] }') "
    while ((n < 3)); do
        PORT_NEXT=$((PORT_NEXT >= 59990 ? 20000 : PORT_NEXT + 1))
        [[ $used == *" $PORT_NEXT "* ]] && continue
        out+=("$PORT_NEXT")
        n=$((n + 1))
    done
    echo "${out[*]}"
}

ROW_N=0
declare -A RES      # RES[profile,system,round] = the row's table line
declare -A CELL     # CELL[profile,system,round] = "glitches/min longest time_back median"
DIRECT=()

# glitch_run LOG SECS MARK_AT_US CONNECTS...: bbglitch for SECS on a fifo
# stdin; at MARK_AT_US (bb_now_us, 0 = none) writes the mark. Sets GX (xruns).
glitch_run() {
    local log=$1 secs=$2 mark=$3 gp fifo=$BB_TMP/mark.fifo x0 rc
    shift 3
    rm -f "$fifo"
    mkfifo "$fifo"
    exec 8<>"$fifo" # read-write: opening never blocks
    x0=$(bb_xruns)
    # Not bb_bg: an asynchronous command without its own redirection of
    # stdin gets /dev/null; this one's is the fifo.
    "$GLITCH" --name "bbg_$ROW_N" --seconds "$secs" "$@" >"$log" 2>&1 <&8 &
    gp=$!
    BB_PIDS+=("$gp")
    if ((mark > 0)); then
        sleep_until "$mark"
        echo outage >&8
    fi
    bb_wait_exit "$gp" $((${secs%.*} + 40))
    rc=$?
    ((rc == 124)) && bb_kill "$gp"
    GX=$(($(bb_xruns) - x0))
    exec 8>&-
    rm -f "$fifo"
}

# row SYSTEM PROFILE ROUND
row() {
    local sys=$1 prof=$2 r=$3 d=$BB_TMP/r$ROW_N sp lp cp srv relay cli t0u start_us t_row
    local args out=() ins=() mark=0 late=0 secs=$SECS seed=$((ROW_N + 1)) line
    t_row=$(bb_now_us)
    mkdir -p "$d"
    ROW_N=$((ROW_N + 1))
    # shellcheck disable=SC2206 # a list of options
    args=(${PARGS[$prof]})
    [[ $prof == outage5 ]] && args=(--outage "$OUTAGE_START:$OUTAGE")
    read -r sp lp cp <<<"$(free_ports)"
    # The relay first (its start is the outage's clock), the server beside
    # it, both waited for together.
    # The relay's start by our clock: just before it is started (its own
    # t0_ns is CLOCK_MONOTONIC, which bash cannot read, and /proc/uptime was
    # seen 1200 s away from it on this VM); it prints its start line within
    # milliseconds, so the mark is that much early at most.
    t0u=$(bb_now_us)
    bb_bg "$d/relay.log" "$RELAY" --listen "127.0.0.1:$lp" --hub "127.0.0.1:$sp" --seed "$seed" "${args[@]}"
    relay=$BB_LASTPID
    case $sys in
    float | opus | opus-ld)
        bb_bg "$d/hub.log" "$BB_BIN" serve --port "$sp" --osc-port 0 --db none
        srv=$BB_LASTPID
        bb_wait_port bandbridge:main_L 10 || say "$sys: hub has no ports"
        ;;
    jamulus)
        bb_bg "$d/server.log" Jamulus -s -n -p "$sp"
        srv=$BB_LASTPID
        wait_udp "$sp" || say "jamulus: server not listening"
        ;;
    jacktrip)
        bb_bg "$d/server.log" jacktrip -s -B "$sp" -J "jts$ROW_N" -D
        srv=$BB_LASTPID
        wait_udp "$sp" || say "jacktrip: server not listening"
        ;;
    esac
    BB_WAIT=10 bb_wait_for grep -q t0_ns= "$d/relay.log" || say "relay did not start"
    case $sys in
    float | opus | opus-ld)
        bb_bg "$d/client.log" "$BB_BIN" join "127.0.0.1:$lp" --name m1 --codec "$sys" \
            --no-auto-connect --identity "$BB_TMP/id-m1"
        cli=$BB_LASTPID
        bb_wait_port bandbridge-m1:out_L 10 || say "$sys: join has no ports"
        BB_WAIT=10 bb_wait_for grep -q "hearing the mix" "$d/client.log" || say "$sys: join does not hear the mix"
        out=(--connect-out bandbridge-m1:in_1) ins=(--connect-in bandbridge-m1:out_L)
        ;;
    jamulus)
        printf '<client>\n <enablefeedbackdetection>0</enablefeedbackdetection>\n</client>\n' >"$d/jc.ini"
        bb_bg "$d/client.log" Jamulus -n -c "127.0.0.1:$lp" --clientname "jc$ROW_N" -j -i "$d/jc.ini" -p "$cp"
        cli=$BB_LASTPID
        bb_wait_port "Jamulus jc$ROW_N:output left" 15 || say "jamulus: client has no ports"
        out=(--connect-out "Jamulus jc$ROW_N:input left" --connect-out "Jamulus jc$ROW_N:input right")
        ins=(--connect-in "Jamulus jc$ROW_N:output left")
        ;;
    jacktrip)
        bb_bg "$d/client.log" jacktrip -c 127.0.0.1 -B "$cp" -P "$lp" -J "jtc$ROW_N" -D
        cli=$BB_LASTPID
        bb_wait_port "jtc$ROW_N:receive_1" 15 || say "jacktrip: client has no ports"
        bb_wait_port "jts$ROW_N:receive_2" 15 || say "jacktrip: server has no ports"
        jack_connect "jts$ROW_N:receive_1" "jts$ROW_N:send_1"
        jack_connect "jts$ROW_N:receive_2" "jts$ROW_N:send_2"
        out=(--connect-out "jtc$ROW_N:send_1" --connect-out "jtc$ROW_N:send_2")
        ins=(--connect-in "jtc$ROW_N:receive_1")
        ;;
    esac
    sleep "$SETTLE"
    if [[ $prof == outage5 ]]; then
        mark=$((t0u + $(bb_s_to_us "$OUTAGE_START")))
        start_us=$(bb_now_us)
        # The window ends AFTER s after the outage, whenever it started.
        secs=$(awk -v m="$mark" -v o="$OUTAGE" -v a="$AFTER" -v s="$start_us" 'BEGIN { printf "%.1f", (m + (o + a) * 1e6 - s) / 1e6 }')
        # A set-up slower than the outage's start (a loaded machine) leaves
        # no lock before it: the row says so instead of a time back.
        late=0
        ((start_us + 500000 > mark)) && late=1 && say "outage row: window started $(((start_us - mark) / 1000)) ms after the outage's start - 0.5 s"
    fi
    glitch_run "$d/glitch.log" "$secs" "$mark" "${out[@]}" "${ins[@]}"
    # TERM to the three at once, then each waited for (bb_kill: KILL after
    # BB_KILL_WAIT): one after the other cost seconds a row.
    kill -TERM "$cli" "$relay" "$srv" 2>/dev/null
    bb_kill "$cli"
    bb_kill "$relay"
    bb_kill "$srv"
    local f=$d/glitch.log st med p5 p95 gpm free blocks lg tb sec
    st=$(g "$f" status)
    sec=$(g "$f" seconds)
    if [[ $st == ok ]]; then
        med=$(g "$f" latency_median)
        p5=$(g "$f" latency_p5) p95=$(g "$f" latency_p95)
        gpm=$(g "$f" glitches_per_min) blocks=$(g "$f" blocks)
        if [[ $prof == outage5 ]]; then
            # The outage's own gap (the longest) is in time back and the
            # longest gap; the rate is of the rest of the window.
            gpm=$(awk -v n="$(g "$f" glitch_blocks)" -v b="$blocks" -v p="$(g "$f" period)" -v gap="$(g "$f" longest_gap_ms)" 'BEGIN {
                k = gap / 1000 * 48000 / p
                # The gap read in ms is a block or two off the blocks it
                # held: never below 0.
                r = b - k > 0 ? (n - k) / ((b - k) * p / 48000) * 60 : 0
                printf "%.1f", (r > 0 ? r : 0) }')
        fi
        free=$(awk -v n="$(g "$f" glitch_xrun_free)" -v b="$blocks" -v p="$(g "$f" period)" 'BEGIN { if (b > 0) printf "%.0f", n / (b * p / 48000) * 60; else print "–" }')
        lg=$(g "$f" longest_gap_ms)
        tb=–
        [[ $prof == outage5 ]] && tb=$(back "$f" time_back_ms) && tb=${tb:-none}
        ((late)) && tb="set-up-late"
        line="| ${SDESC[$sys]} | $r | $med ($(ms "$med") ms) | $p5–$p95 | $(g "$f" latency_changes) | $(printf '%.0f' "$gpm") | $free | $lg | $tb | $GX | $(relay_drop "$d/relay.log" up)/$(relay_drop "$d/relay.log" down) of $(relay_in "$d/relay.log" up)/$(relay_in "$d/relay.log" down) | ${sec} s |"
        CELL[$prof,$sys,$r]="$(printf '%.0f' "$gpm") $lg $tb $med $GX"
    else
        line="| ${SDESC[$sys]} | $r | no lock (status=${st:-none}; see the log) | | | | | | | $GX | $(relay_drop "$d/relay.log" up)/$(relay_drop "$d/relay.log" down) of $(relay_in "$d/relay.log" up)/$(relay_in "$d/relay.log" down) | ${secs} s |"
        CELL[$prof,$sys,$r]="nolock – – – $GX"
    fi
    RES[$prof,$sys,$r]=$line
    say "$prof $sys round $r ($((($(bb_now_us) - t_row) / 1000)) ms): $(grep '^status=' "$f" | cut -c1-400)"
    [[ $prof == outage5 ]] && say "  $(grep -E '^(mark|back) ' "$f" | tr '\n' ' ')"
}

direct_row() {
    local r=$1 d=$BB_TMP/direct$1 f
    mkdir -p "$d"
    ROW_N=$((ROW_N + 1))
    glitch_run "$d/glitch.log" "$SECS" 0 --connect-out "bbg_$ROW_N:in_1"
    f=$d/glitch.log
    DIRECT+=("| $r | $(g "$f" latency_median) | $(g "$f" latency_min)–$(g "$f" latency_max) | $(g "$f" latency_changes) | $(printf '%.0f' "$(g "$f" glitches_per_min)") | $(g "$f" longest_gap_ms) | $GX | $(g "$f" seconds) s |")
    say "direct round $r: $(grep '^status=' "$f" | cut -c1-300)"
}

bb_start_jack 64 48000 || { echo "impair: jackd does not start" >&2; exit 1; }
RUN_SYS=()
for s in "${SYSTEMS[@]}"; do
    [[ " ${SKIP[*]} " == *" $s "* ]] || RUN_SYS+=("$s")
done
for ((r = 1; r <= ROUNDS; r++)); do
    direct_row "$r"
    # The systems' order turns by one each round: none always runs first
    # after a profile change.
    n=${#RUN_SYS[@]}
    for p in "${PROFILES[@]}"; do
        for ((i = 0; i < n; i++)); do
            row "${RUN_SYS[$(((i + r - 1) % n))]}" "$p" "$r"
        done
    done
done
bb_stop_jack
TOTAL_S=$((($(bb_now_us) - T_START) / 1000000))

machine() {
    local cpu
    cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
    echo "$(nproc) x ${cpu:-unknown CPU}, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), jackd $(dpkg-query -W -f='${Version}' jackd2 2>/dev/null)"
}
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }

{
    echo "## Impaired networks, measured by \`make bench-impair\` on $(date -u +%Y-%m-%d)"
    echo
    echo "Machine: $(machine); Jamulus $(ver jamulus), JackTrip $(ver jacktrip). Everything on 127.0.0.1, one"
    echo "jackd (dummy backend, 48 kHz, 64 frames) for the run. Load average at the start $START_LOAD, at the"
    echo "end $(cut -d' ' -f1-3 /proc/loadavg): other work runs beside it, and the dummy backend on 2 shared cores"
    echo "reports xruns by itself; the xruns column is jackd's count in each row's window. ${ROUNDS} rounds, rows"
    echo "interleaved (every system once per profile, the systems' order turned by one each round),"
    echo "${SECS} s windows after ${SETTLE} s of settling (the outage rows: until ${AFTER} s after the outage); the run took ${TOTAL_S} s."
    ((SECS < 20)) && echo "Trimmed for time: row windows ${SECS} s (asked 20 s); about 5 s of each row go to starting and stopping processes on this loaded machine."
    ((${#SKIP[@]})) && echo "Not installed, no rows: ${SKIP[*]} (scripts/setup.sh --bench)."
    echo
    echo "bbrelay sits between each system's client and its server; bbglitch plays a hopping tone into the client's"
    echo "input and listens to its mix: round trip from its lock (frames at 48 kHz; p5–p95 over good blocks; moves ="
    echo "changes of more than 2 frames), glitch blocks (64-frame blocks more than 6 dB off what should be there) per"
    echo "minute (outage rows: outside the outage's gap), and of those the ones no xrun explains, the longest gap, time back after the outage (from its start"
    echo "to the first good block: the outage itself is ${OUTAGE} s). Every system at its default jitter setting: bandbridge"
    echo "without --jitter (automatic), Jamulus's auto jitter buffer and 128-sample packets, JackTrip's queue 4."
    echo "JackTrip runs in P2P mode with the server's ports looped: its hub mode cannot go through one UDP relay"
    echo "(the client learns the server's UDP port over TCP and sends there). Jamulus's feedback detection is off"
    echo "(it would mute the test tone)."
    echo
    echo "### Summary: glitch blocks per minute (round 1 / round 2 ...)"
    echo
    hdr="| system |" sep="|---|"
    for p in "${PROFILES[@]}"; do hdr+=" $p |"; sep+="---|"; done
    echo "$hdr"
    echo "$sep"
    for s in "${RUN_SYS[@]}"; do
        l="| ${SDESC[$s]} |"
        for p in "${PROFILES[@]}"; do
            c=""
            for ((r = 1; r <= ROUNDS; r++)); do
                v=${CELL[$p,$s,$r]:-"– – – – –"}
                c+="${c:+ / }${v%% *}"
            done
            l+=" $c |"
        done
        echo "$l"
    done
    echo
    echo "### Summary: round trip (median frames) and, for the outage, time back (ms from its start)"
    echo
    echo "$hdr"
    echo "$sep"
    for s in "${RUN_SYS[@]}"; do
        l="| ${SDESC[$s]} |"
        for p in "${PROFILES[@]}"; do
            c=""
            for ((r = 1; r <= ROUNDS; r++)); do
                read -r _ _ tb med _ <<<"${CELL[$p,$s,$r]:-"– – – – –"}"
                [[ $p == outage5 ]] && c+="${c:+ / }$med, back $tb" || c+="${c:+ / }$med"
            done
            l+=" $c |"
        done
        echo "$l"
    done
    echo
    echo "### Direct JACK loop (bbglitch out -> in, the reference)"
    echo
    echo "| round | median | range | moves | glitch blocks/min | longest gap ms | xruns | window |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${DIRECT[@]}"
    echo
    for p in "${PROFILES[@]}"; do
        echo "### ${PDESC[$p]}"
        echo
        echo "| system | round | round trip, frames | p5–p95 | moves | glitch blocks/min | no xrun near, /min | longest gap ms | time back ms | xruns | relay dropped up/down of in | window |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
        for ((r = 1; r <= ROUNDS; r++)); do
            for s in "${RUN_SYS[@]}"; do
                [[ -n ${RES[$p,$s,$r]:-} ]] && echo "${RES[$p,$s,$r]}"
            done
        done
        echo
    done
} >"$OUT"
cat "$OUT"
