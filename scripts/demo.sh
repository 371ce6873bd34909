#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# demo.sh: a bandbridge hub and a few demo musicians (sine tones) on this machine.
#
#   scripts/demo.sh                      run until Ctrl-C
#   BB_DEMO_SECONDS=20 scripts/demo.sh   run 20 s of live view, then stop (non-interactive)
#
# It uses the JACK server that is running (JACK_DEFAULT_SERVER, or the default one);
# when there is none it starts its own (jackd -d dummy -r 48000 -p 64, no sound card)
# and stops it at the end. Then: `bandbridge serve`, BB_DEMO_MUSICIANS musicians that
# send a tone each (alice 220 Hz, bob 330 Hz, ...), and one more musician who joins
# 5 s into the live view and leaves 5 s later, while the others keep playing.
#
# Env: BB_PORT (hub UDP port, default 48100; OSC on BB_PORT+1), BB_DEMO_MUSICIANS
# (1..8, default 2), BB_DEMO_SECONDS (live view length, default 0 = until Ctrl-C),
# BB_DEMO_GUEST (0: no joining-and-leaving musician). Logs go to a temporary
# directory, removed at the end unless BB_KEEP=1.
# Exit status: 0 when stopped by Ctrl-C or BB_DEMO_SECONDS, 1 if something failed,
# 2 for a bad setting.
set -u

cd "$(dirname "$0")/.." || exit 1
BIN=$PWD/bandbridge
PORT=${BB_PORT:-48100}
NMUS=${BB_DEMO_MUSICIANS:-2}
RUN_S=${BB_DEMO_SECONDS:-0}
GUEST=${BB_DEMO_GUEST:-1}
NAMES=(alice bob carol dave erin frank grace heidi)
GUEST_JOIN_S=5   # seconds into the live view
GUEST_LEAVE_S=10

die() { echo "demo: $*" >&2; exit 1; }
bad() { echo "demo: $*" >&2; exit 2; }

if ! [[ $PORT =~ ^[0-9]+$ ]] || (( PORT < 1 || PORT > 65534 )); then
    bad "BB_PORT must be 1..65534 (OSC uses BB_PORT+1), not '$PORT'"
fi
if ! [[ $NMUS =~ ^[0-9]+$ ]] || (( NMUS < 1 || NMUS > ${#NAMES[@]} )); then
    bad "BB_DEMO_MUSICIANS must be 1..${#NAMES[@]}, not '$NMUS'"
fi
[[ $RUN_S =~ ^[0-9]+$ ]] || bad "BB_DEMO_SECONDS must be a whole number of seconds, not '$RUN_S'"
[[ $GUEST == 0 || $GUEST == 1 ]] || bad "BB_DEMO_GUEST must be 0 or 1, not '$GUEST'"
PORT=$((10#$PORT)) NMUS=$((10#$NMUS)) RUN_S=$((10#$RUN_S))
OSC_PORT=$((PORT + 1))
# The guest is the next name in the list, if there is one.
(( NMUS < ${#NAMES[@]} )) || GUEST=0
GUEST_NAME=
(( GUEST )) && GUEST_NAME=${NAMES[NMUS]}

[[ -x $BIN ]] || die "$BIN not found: run make first"
for tool in jackd jack_lsp; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup.sh (Debian package jackd2)"
done
command -v setsid >/dev/null || die "setsid not found (Debian package util-linux)"

# Never let a JACK client start a server by itself; never ask D-Bus for a sound card.
export JACK_NO_START_SERVER=1
export JACK_NO_AUDIO_RESERVATION=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bbdemo.XXXXXX") || exit 1
HUB_LOG=$TMP/hub.log
JACK_PID=
HUB_PID=
declare -A MUS_PID=()     # name -> PID of its `bandbridge join`
STARTED=()                # names in the order they were started
FAILED=0
CLEANING=0

now_ms() {
    local t=$EPOCHREALTIME
    echo $(( ${t%[.,]*} * 1000 + 10#${t#*[.,]} / 1000 ))
}

# stop_pids PID...: TERM, up to 3 s for all of them to exit, then KILL. Our own PIDs only.
stop_pids() {
    local pid alive deadline
    (( $# )) || return 0
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
    deadline=$(( $(now_ms) + 3000 ))
    while :; do
        alive=()
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        (( ${#alive[@]} )) || break
        if (( $(now_ms) >= deadline )); then
            echo "demo: PID ${alive[*]} ignored SIGTERM for 3 s: SIGKILL" >&2
            for pid in "${alive[@]}"; do kill -KILL "$pid" 2>/dev/null; done
            break
        fi
        sleep 0.05
    done
    for pid in "$@"; do wait "$pid" 2>/dev/null; done
}

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local rc=$? name pids=() left=()
    (( CLEANING )) && return
    CLEANING=1
    trap '' INT TERM
    echo
    echo "demo: stopping what it started"
    for name in "${STARTED[@]}"; do
        [[ -n ${MUS_PID[$name]:-} ]] && pids+=("${MUS_PID[$name]}")
    done
    stop_pids "${pids[@]}"                  # musicians first: they say goodbye (LEAVE)
    [[ -n $HUB_PID ]] && stop_pids "$HUB_PID"
    [[ -n $JACK_PID ]] && stop_pids "$JACK_PID"   # only a jackd this script started
    for pid in "${pids[@]}" $HUB_PID $JACK_PID; do
        kill -0 "$pid" 2>/dev/null && left+=("$pid")
    done
    if (( ${#left[@]} )); then
        echo "demo: still running: PID ${left[*]}" >&2
        rc=1
    elif [[ -n $JACK_PID ]]; then
        echo "demo: musicians, hub and jackd $JACK_DEFAULT_SERVER stopped"
    else
        echo "demo: musicians and hub stopped; the JACK server was already running and keeps running"
    fi
    (( FAILED && rc == 0 )) && rc=1
    if (( rc != 0 )) || [[ ${BB_KEEP:-0} == 1 ]]; then
        echo "demo: logs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT       # Ctrl-C is the normal way to end the demo
trap 'exit 143' TERM

# spawn LOG CMD...: CMD in the background, in a session of its own so that a Ctrl-C
# in the terminal reaches this script only, which then stops everything in order
# (musicians, hub, jackd). setsid does not fork here: $! is CMD's PID.
spawn() {
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 </dev/null &
}

ports() { jack_lsp 2>/dev/null; }
has_port() { ports | grep -Fxq -- "$1"; }

# wait_until SECONDS CMD...: poll CMD every 50 ms; fails after SECONDS.
wait_until() {
    local deadline=$(( $(now_ms) + $1 * 1000 ))
    shift
    until "$@" >/dev/null 2>&1; do
        (( $(now_ms) < deadline )) || return 1
        sleep 0.05
    done
}

# ---- JACK
if jack_lsp >/dev/null 2>&1; then
    echo "demo: using the JACK server that is running (${JACK_DEFAULT_SERVER:-default})"
else
    export JACK_DEFAULT_SERVER=bbdemo_$$
    echo "demo: no JACK server running: starting jackd $JACK_DEFAULT_SERVER (dummy backend, 48000 Hz, period 64)"
    spawn "$TMP/jackd.log" jackd -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 64
    JACK_PID=$!
    if ! wait_until 10 jack_lsp; then
        cat "$TMP/jackd.log" >&2
        kill -0 "$JACK_PID" 2>/dev/null || { wait "$JACK_PID"; JACK_PID=; }
        die "jackd did not come up within 10 s (log above)"
    fi
fi

# ---- the room password: the demo's own, in a file the hub and the musicians read
# (a band gets the one the hub prints at its first start)
ROOM_PW=$TMP/room-password
od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$ROOM_PW" || die "cannot write $ROOM_PW"

# ---- hub (-v: one statistics line per musician per second, used by the live view)
spawn "$HUB_LOG" "$BIN" serve --port "$PORT" --db "$TMP/hub.db" --password-file "$ROOM_PW" \
    --mix-ports --verbose
HUB_PID=$!
# shellcheck disable=SC2317  # called through wait_until
hub_ready() { grep -q 'listening on UDP port' "$HUB_LOG" || ! kill -0 "$HUB_PID"; }
if ! wait_until 10 hub_ready || ! kill -0 "$HUB_PID" 2>/dev/null; then
    cat "$HUB_LOG" >&2
    die "the hub did not start (log above)"
fi

# ---- musicians
tone_of() { # index in NAMES -> Hz: 220, 330, 440, ...
    echo $(( 220 + 110 * $1 ))
}

start_musician() { # INDEX
    local name=${NAMES[$1]}
    spawn "$TMP/$name.log" "$BIN" join "127.0.0.1:$PORT" --name "$name" --tone "$(tone_of "$1")" \
        --no-auto-connect --codec opus --identity "$TMP/identity-$name" --password-file "$ROOM_PW"
    MUS_PID[$name]=$!
    STARTED+=("$name")
}

musician_up() { # NAME: its channel and its personal mix are at the hub
    local p
    p=$(ports)
    grep -Fxq "bandbridge:$1_1" <<<"$p" && grep -Fxq "bandbridge:mix_$1_L" <<<"$p" &&
        grep -Fxq "bandbridge:mix_$1_R" <<<"$p"
}

for (( i = 0; i < NMUS; i++ )); do start_musician "$i"; done
# shellcheck disable=SC2317  # called through wait_until
musician_in() { has_port "bandbridge:$1_1" || ! kill -0 "${MUS_PID[$1]}"; }
for (( i = 0; i < NMUS; i++ )); do
    name=${NAMES[i]}
    if ! wait_until 10 musician_in "$name" || ! has_port "bandbridge:${name}_1"; then
        cat "$TMP/$name.log" "$HUB_LOG" >&2
        die "$name's port bandbridge:${name}_1 did not appear within 10 s (logs above)"
    fi
done

# osc_query ADDRESS: sends an OSC message without arguments from a socket that can
# hear the answer (oscsend cannot) and prints the answer's string arguments.
osc_query() {
    local fd addr=$1 nuls='' k
    for (( k = 0; k < 4 - ${#addr} % 4; k++ )); do nuls+='\0'; done   # pad to 4 bytes
    exec {fd}<>"/dev/udp/127.0.0.1/$OSC_PORT" || return 1
    # One printf, one write, one datagram: address, padding, empty type tag ",".
    printf "%s$nuls,\\0\\0\\0" "$addr" >&"$fd"
    timeout 1 dd bs=2048 count=1 status=none <&"$fd" 2>/dev/null | tr -s '\0' '\n' |
        tail -n +3 | tr '\n' ' '
    exec {fd}>&-
}

# hub_stat NAME KEY [FROM_LINE]: the latest value of KEY (underruns, fill, target, ...)
# in the hub's statistics lines for NAME, at or after line FROM_LINE of its log.
hub_stat() {
    awk -v pre="debug: $1: fill " -v key="$2" -v from="${3:-1}" '
        NR >= from && index($0, pre) { for (i = 1; i < NF; i++) if ($i == key) v = $(i + 1) }
        END { print v }' "$HUB_LOG"
}

hub_lines() { # N [FROM_LINE]: the hub's last N log lines (from line FROM_LINE on), no statistics
    tail -n +"${2:-1}" "$HUB_LOG" | grep -v ' debug: ' | tail -n "$1" | sed 's/^/    hub| /'
}

echo
echo "================================================================================"
echo " bandbridge demo: a hub and $NMUS musician(s) on this machine"
echo "================================================================================"
echo " JACK server : ${JACK_DEFAULT_SERVER:-default}$([[ -n $JACK_PID ]] && echo " (started by this demo: dummy backend, no sound card)")"
echo " hub         : $BIN serve --port $PORT --mix-ports --password-file $ROOM_PW   (OSC on port $OSC_PORT)"
for (( i = 0; i < NMUS; i++ )); do
    printf ' musician    : %-6s sends a %s Hz tone   (log %s)\n' "${NAMES[i]}" "$(tone_of "$i")" "$TMP/${NAMES[i]}.log"
done
echo " hub log     : $HUB_LOG"
echo
echo " Ports (jack_lsp | grep bandbridge):"
ports | grep '^bandbridge' | sed 's/^/    /'
echo
echo " Hub log so far:"
hub_lines 8
echo
if [[ -n $JACK_PID ]]; then
    echo " To use this JACK server from another terminal first run:"
    echo "    export JACK_DEFAULT_SERVER=$JACK_DEFAULT_SERVER"
fi
echo " Route (qjackctl's graph works too):"
echo "    jack_connect bandbridge:main_L system:playback_1     # the main mix"
echo "    jack_connect bandbridge:main_R system:playback_2"
echo "    jack_connect bandbridge:mix_alice_L system:playback_1  # what alice hears"
echo " Change a mix over OSC (man -l man/bandbridge-osc.7):"
echo "    oscsend localhost $OSC_PORT /mix/alice/ch/bob/gain f -6     # bob 6 dB down for alice"
echo "    oscsend localhost $OSC_PORT /mix/main/ch/alice/pan f -0.5   # alice left of centre in main"
echo "    oscsend localhost $OSC_PORT /mix/bob/ch/bob/mute i 1        # bob stops hearing himself"
command -v oscsend >/dev/null || echo "    (oscsend is in the Debian package liblo-tools)"
printf ' OSC answers : /clients -> %s\n' "$(osc_query /clients || echo '(no answer)')"
echo
echo " Stop: Ctrl-C (stops every process this demo started)"
if (( GUEST )); then
    echo " ${GUEST_JOIN_S} s into the live view $GUEST_NAME joins, at ${GUEST_LEAVE_S} s $GUEST_NAME leaves: nobody else should notice."
fi
(( RUN_S > 0 )) && echo " The live view runs for $RUN_S s (BB_DEMO_SECONDS)."
echo "--------------------------------------------------------------------------------"

# ---- live view
start=$(now_ms)
next_status=$start
guest_stage=0        # 0 not started, 1 in, 2 asked to leave, 3 reported
guest_left_line=0    # hub log line count when the guest was asked to leave
guest_left_ms=0
hub_seen=$(( $(wc -l <"$HUB_LOG") + 1 ))  # first hub log line not shown yet
declare -A before=() # underruns of each steady musician when the guest joined

status() {
    local t=$1 name line=
    for name in "${STARTED[@]}"; do
        local state u
        if musician_up "$name"; then
            u=$(hub_stat "$name" underruns)
            state="up${u:+ (underruns $u)}"
        elif has_port "bandbridge:${name}_1"; then
            state="partial"
        else
            state="no ports"
        fi
        kill -0 "${MUS_PID[$name]}" 2>/dev/null || [[ $name == "$GUEST_NAME" ]] || state="$state, EXITED"
        line+="$name: $state   "
    done
    printf '[%3ds] %s| OSC /clients: %s\n' "$t" "$line" "$(osc_query /clients || echo '?')"
    # What the hub said since the last status.
    hub_lines 4 "$hub_seen"
    hub_seen=$(( $(wc -l <"$HUB_LOG") + 1 ))
}

report_guest() { # the join/leave story, once the hub has removed the guest
    local gone name b a quiet=1 still=1
    gone=$(tail -n +"$guest_left_line" "$HUB_LOG" | grep -m1 " $GUEST_NAME is gone: ")
    [[ -n $gone ]] || return 1
    echo "  >> $GUEST_NAME left. The hub says:"
    echo "  >>   ${gone#* bandbridge: }"
    for (( i = 0; i < NMUS; i++ )); do
        name=${NAMES[i]}
        musician_up "$name" || still=0
        b=${before[$name]:-}
        a=$(hub_stat "$name" underruns "$guest_left_line")
        if [[ -n $b && -n $a && $a != "$b" ]]; then
            quiet=0
            echo "  >>   $name: underruns $b -> $a meanwhile (a loaded machine without realtime scheduling has some anyway)"
        fi
    done
    if (( still && quiet )); then
        echo "  >> ${NAMES[*]:0:NMUS}: ports still there, no underrun at the hub while $GUEST_NAME came and went: they kept playing."
    elif (( still )); then
        echo "  >> ${NAMES[*]:0:NMUS}: ports still there, still playing."
    else
        echo "  >> some musician's ports are missing: see the status below"
        FAILED=1
    fi
    return 0
}

while :; do
    now=$(now_ms)
    t=$(( (now - start) / 1000 ))
    (( RUN_S > 0 && now - start >= RUN_S * 1000 )) && break

    if ! kill -0 "$HUB_PID" 2>/dev/null; then
        wait "$HUB_PID"
        echo "demo: the hub exited (status $?):" >&2
        tail -n 20 "$HUB_LOG" >&2
        HUB_PID=
        FAILED=1
        exit 1
    fi
    for (( i = 0; i < NMUS; i++ )); do
        name=${NAMES[i]}
        if [[ -n ${MUS_PID[$name]:-} ]] && ! kill -0 "${MUS_PID[$name]}" 2>/dev/null; then
            wait "${MUS_PID[$name]}"
            echo "demo: $name exited (status $?):" >&2
            tail -n 10 "$TMP/$name.log" >&2
            MUS_PID[$name]=
            FAILED=1
        fi
    done

    if (( GUEST && guest_stage == 0 && now - start >= GUEST_JOIN_S * 1000 )); then
        for (( i = 0; i < NMUS; i++ )); do
            before[${NAMES[i]}]=$(hub_stat "${NAMES[i]}" underruns)
        done
        echo "  >> $GUEST_NAME joins ($(tone_of "$NMUS") Hz)"
        start_musician "$NMUS"
        guest_stage=1
    elif (( guest_stage == 1 && now - start >= GUEST_LEAVE_S * 1000 )); then
        echo "  >> $GUEST_NAME leaves (SIGTERM: bandbridge join sends LEAVE to the hub and exits)"
        guest_left_line=$(( $(wc -l <"$HUB_LOG") + 1 ))
        guest_left_ms=$now
        stop_pids "${MUS_PID[$GUEST_NAME]}"
        MUS_PID[$GUEST_NAME]=
        guest_stage=2
    elif (( guest_stage == 2 )); then
        # Wait for the removal and one fresh statistics line (the hub writes one a second).
        if (( now - guest_left_ms >= 1500 )) && report_guest; then
            guest_stage=3
        elif (( now - guest_left_ms >= 5000 )); then
            echo "  >> the hub did not report $GUEST_NAME gone within 5 s:" >&2
            hub_lines 5 >&2
            FAILED=1
            guest_stage=3
        fi
    fi

    if (( now >= next_status )); then
        status "$t"
        next_status=$(( next_status + 2000 ))
    fi
    sleep 0.25
done
exit 0
