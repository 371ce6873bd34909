# SPDX-License-Identifier: GPL-2.0-or-later
# lib.sh: helpers for the bash integration tests (source it, then call bb_init).
#
#   . "$(dirname "$0")/lib.sh"
#   bb_init                      # BB_TMP, EXIT trap that cleans up everything
#   bb_start_jack [period] [rate]        (bb_stop_jack; bb_start_jack restarts it)
#   bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve ...;  hub=$BB_LASTPID
#   bb_wait_port bandbridge:alice_1
#   bb_join alice float --tone 440;  alice=$BB_LASTPID    (against $port)
#   test "$(q /mix/alice/ch/bob/gain)" = -6                (OSC port $osc)
#   check "probe sees the hub" grep -q status=ok "$BB_TMP/probe.out"
#   bb_done
#
# Variables: BB_ROOT (repo root), BUILD (absolute), BB_BIN (bandbridge binary),
# BB_PROBE (bbprobe), BB_TMP, BB_JACK_NAME, BB_JACK_LOG, BB_JACK_PID, BB_LASTPID.
# Env knobs: BB_KEEP=1 keeps $BB_TMP, BB_WAIT=seconds for bb_wait_for (default 30),
# BB_KILL_WAIT=seconds bb_kill waits after TERM (default 20), BB_CTL_TIMEOUT=
# seconds ctl and q wait for an answer (default 5), BB_SLOW=N multiplies every
# deadline of these helpers, whatever set it (run_tests.sh sets it in
# sanitizer builds, whose programs run 2-10x slower; default 1).
#
# Deadlines are generous on purpose: this runs on 2 shared cores beside
# other test runs, where a hub can take seconds to start, answer or stop.
# A deadline costs nothing when things are fast (every wait polls), and a
# test must not fail because the machine was busy; what a test checks
# (values, sample exactness, that something happens) is not loosened.

BB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$BB_ROOT/$BUILD
BIN=${BIN:-bandbridge}
[[ $BIN == /* ]] && BB_BIN=$BIN || BB_BIN=$BB_ROOT/$BIN
BB_PROBE=$BUILD/bbprobe
export BUILD BIN BB_ROOT BB_BIN BB_PROBE

# Never let a JACK client start a server on its own, never ask D-Bus for the card.
export JACK_NO_START_SERVER=1
export JACK_NO_AUDIO_RESERVATION=1

# Every hub and join of a test shares this room password (bandbridge(1):
# the environment is one of the ways to give it), so that tests start them
# as a band would; it_security.sh overrides it per process to test refusal.
export BANDBRIDGE_PASSWORD=${BANDBRIDGE_PASSWORD:-bb-test-room-password}

BB_NAME=$(basename "$0" .sh)
BB_PIDS=()
BB_JACK_PID=
BB_JACK_NAME=
BB_JACK_LOG=
BB_LASTPID=
BB_PASS=0
BB_FAIL=0
BB_N=0

# BB_SLOW: an integer factor on every deadline below (never on what a test
# checks): 1 for the product build, more for a sanitizer build.
BB_SLOW=${BB_SLOW:-1}
[[ $BB_SLOW =~ ^[1-9][0-9]*$ ]] || { echo "lib.sh: BB_SLOW must be a positive integer, not '$BB_SLOW'" >&2; exit 1; }
export BB_SLOW

# Monotonic-enough time in microseconds (bash 5 EPOCHREALTIME).
bb_now_us() {
    local t=$EPOCHREALTIME
    echo $(( ${t%[.,]*} * 1000000 + 10#${t#*[.,]} ))
}

# Seconds (integer or decimal, e.g. 10 or 0.5) to microseconds.
bb_s_to_us() {
    local s=$1 i f
    i=${s%%.*}
    if [[ $s == *.* ]]; then f=${s#*.}; else f=; fi
    f=${f}000000
    echo $(( 10#${i:-0} * 1000000 + 10#${f:0:6} ))
}

# A deadline of S seconds (integer or decimal), times BB_SLOW, in
# microseconds (bb_deadline_us) or seconds (bb_slow_s, for timeout(1) and
# --timeout options; rounded up to whole seconds when BB_SLOW > 1).
bb_deadline_us() { echo $(( $(bb_s_to_us "$1") * BB_SLOW )); }
bb_slow_s() {
    (( BB_SLOW == 1 )) && { echo "$1"; return; }
    echo $(( ($(bb_deadline_us "$1") + 999999) / 1000000 ))
}

bb_log() { printf '# %s\n' "$*"; }

# BB_RT: prefix that runs a command under the RT-safety checker (rtcheck.so),
# logging to $BB_TMP/rtcheck.log. Empty in sanitizer builds (ASan must be the
# first library loaded). bb_check_rt asserts the log shows callbacks and no
# violation.
BB_RT=()

# BB_SAN: the sanitizer the build under test carries, read once from its
# directory's name (the Makefile's SAN= builds are build-san-LIST): "thread",
# "address" (with undefined) or empty for the plain build. Tests ask this,
# never the binary or BUILD again.
BB_SAN=
case $BUILD in
*build-san-*thread*) BB_SAN=thread ;;
*build-san-*address*) BB_SAN=address ;;
esac

# BB_RSS: prefix for a program whose memory (RSS) a test bounds. Under
# AddressSanitizer freed memory waits in a quarantine (256 MB by default)
# before it is used again, so RSS would count what the program allocated
# and freed, not what it holds: a 1 MB quarantine there. Empty elsewhere.
BB_RSS=()
[[ $BB_SAN == address ]] &&
    BB_RSS=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1")

# bb_rss_kb PID [FIELD]: the process's VmRSS (or FIELD, e.g. RssAnon) in kB.
bb_rss_kb() { awk -v k="${2:-VmRSS}:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

# check_rss_growth "what" BEFORE_KB AFTER_KB BOUND_KB: the one bound on a
# program's memory growth (run it under BB_RSS). The plain build (CI's)
# checks BOUND_KB as the test writes it. AddressSanitizer's allocator keeps
# freed chunks per size class for reuse, with redzones, and maps shadow for
# what it touches (a hub parsing 10 MB of 60 KB OSC bundles grew 3.2 MB
# under ASan, under 2 MB without): 6 MiB more there. ThreadSanitizer's run
# logs it (check_timed: 4 bytes of shadow per byte touched).
check_rss_growth() {
    local what=$1 before=$2 after=$3 bound=$4 extra=0
    [[ $BB_SAN == address ]] && extra=6144
    check_timed "$what: memory grew by less than $bound kB ($before -> $after kB$( ((extra)) &&
        echo "; $extra kB more under ASan, test/lib.sh"))" \
        test -n "$before" -a -n "$after" -a $((after - before)) -lt $((bound + extra))
}

bb_check_rt() {
    (( ${#BB_RT[@]} )) || { bb_log "rtcheck not used in a sanitizer build"; return 0; }
    check "rtcheck: no blocking or allocating call in any process callback" \
        bash -c "! grep -q VIOLATION '$BB_TMP/rtcheck.log'"
    check "rtcheck: it watched real callbacks ($(grep -o 'in [0-9]* callbacks' "$BB_TMP/rtcheck.log" 2>/dev/null | head -3 | tr '\n' ' '))" \
        grep -qE 'violations in [1-9][0-9]* callbacks' "$BB_TMP/rtcheck.log"
}

bb_init() {
    BB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bbtest.XXXXXX") || exit 1
    export BB_TMP
    # Identities and databases of this run stay in it, never in the user's home.
    export XDG_STATE_HOME=$BB_TMP/state
    if [[ -z $BB_SAN && -f $BUILD/rtcheck.so ]]; then
        BB_RT=(env "LD_PRELOAD=$BUILD/rtcheck.so" "RTCHECK_LOG=$BB_TMP/rtcheck.log" RTCHECK_QUIET=1)
    fi
    trap bb_cleanup EXIT
    # A signal (timeout(1), ^C) ends the script through the EXIT trap.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

# Is PID one that this test started?
bb_is_ours() {
    local p
    [[ -n $1 ]] || return 1
    [[ $1 == "$BB_JACK_PID" ]] && return 0
    for p in "${BB_PIDS[@]}"; do [[ $p == "$1" ]] && return 0; done
    return 1
}

# bb_bg LOGFILE cmd...: start cmd in the background, output to LOGFILE.
bb_bg() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    BB_LASTPID=$!
    BB_PIDS+=("$BB_LASTPID")
}

# bb_kill PID: TERM, up to BB_KILL_WAIT (20) s for it to exit, then KILL.
# Only our own PIDs. Returns the process's exit status (from wait), or 1 if
# PID is not ours. An exit that took more than 3 s is noted on stderr (a
# loaded machine, or a shutdown that blocks: worth a look, not a failure).
bb_kill() {
    local pid=$1 deadline rc=0 p keep=() t0 ms
    if ! bb_is_ours "$pid"; then
        echo "bb_kill: $pid was not started by this test" >&2
        return 1
    fi
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        t0=$(bb_now_us)
        deadline=$(( t0 + $(bb_deadline_us "${BB_KILL_WAIT:-20}") ))
        while kill -0 "$pid" 2>/dev/null && (( $(bb_now_us) < deadline )); do
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "bb_kill: $pid ignored TERM for $(bb_slow_s "${BB_KILL_WAIT:-20}") s, sending KILL" >&2
            kill -KILL "$pid" 2>/dev/null
        else
            ms=$(( ($(bb_now_us) - t0) / 1000 ))
            (( ms <= 3000 )) || echo "bb_kill: $pid took $ms ms to exit after TERM" >&2
        fi
    fi
    wait "$pid" 2>/dev/null || rc=$?
    for p in "${BB_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    BB_PIDS=("${keep[@]}")
    [[ $pid == "$BB_JACK_PID" ]] && BB_JACK_PID=
    return $rc
}

# bb_wait_exit PID [timeout_s]: wait for one of our background processes to end by
# itself (default BB_WAIT, 30 s); returns its exit status, or 124 on timeout
# (the process keeps running).
bb_wait_exit() {
    local pid=$1 t=${2:-${BB_WAIT:-30}} deadline rc=0 p keep=()
    deadline=$(( $(bb_now_us) + $(bb_deadline_us "$t") ))
    while kill -0 "$pid" 2>/dev/null; do
        (( $(bb_now_us) < deadline )) || { echo "bb_wait_exit: $pid still running after $(bb_slow_s "$t")s" >&2; return 124; }
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || rc=$?
    for p in "${BB_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    BB_PIDS=("${keep[@]}")
    return $rc
}

bb_cleanup() {
    local rc=$? i f
    trap - EXIT INT TERM HUP
    for (( i = ${#BB_PIDS[@]} - 1; i >= 0; i-- )); do
        bb_kill "${BB_PIDS[i]}" >/dev/null 2>&1
    done
    [[ -n $BB_JACK_PID ]] && bb_kill "$BB_JACK_PID" >/dev/null 2>&1
    if [[ -n ${BB_TMP:-} && -d $BB_TMP ]]; then
        # A sanitizer's report in any process's log fails the test, also
        # where the test never looks at that process's exit status (their
        # reports at exit, leaks, come only now that they are stopped).
        local san_re='runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer'
        for f in "$BB_TMP"/*.log "$BB_TMP"/*.txt; do
            [[ -f $f ]] && grep -Eq -- "$san_re" "$f" || continue
            echo "not ok - sanitizer report in $(basename "$f")"
            grep -E -m 3 -A 12 -- "$san_re" "$f" | sed 's/^/#   /'
            rc=1
        done
        if (( rc != 0 )); then
            for f in "$BB_TMP"/*.log; do
                [[ -f $f ]] || continue
                echo "# ---- last lines of $(basename "$f")"
                tail -n 40 "$f" | sed 's/^/#   /'
            done
        fi
        if [[ ${BB_KEEP:-0} == 1 ]]; then
            echo "# kept $BB_TMP"
        else
            rm -rf "$BB_TMP"
        fi
    fi
    exit $rc # in the EXIT trap: the test's status
}

# bb_wait_for CMD...: poll CMD every 50 ms until it succeeds; deadline BB_WAIT s (30).
bb_wait_for() {
    local deadline=$(( $(bb_now_us) + $(bb_deadline_us "${BB_WAIT:-30}") ))
    until "$@" >/dev/null 2>&1; do
        if (( $(bb_now_us) >= deadline )); then
            echo "bb_wait_for: timed out after $(bb_slow_s "${BB_WAIT:-30}")s: $*" >&2
            return 1
        fi
        sleep 0.05
    done
}

# JACK's query tools, bounded: a jack2 client that connects while its server
# is still starting (or stopped) can wait on it forever, and a test that
# waits in one prints nothing until run_tests.sh's timeout kills it. Every
# test that sources this file gets these in place of the tools themselves.
bb_jack_tool() {
    local tool=$1 rc t
    shift
    t=$(bb_slow_s "${BB_JACK_TOOL_WAIT:-15}")
    timeout -k 2 "$t" "$tool" "$@"
    rc=$?
    (( rc == 124 || rc == 137 )) && echo "$tool: no answer from jackd in $t s" >&2
    return $rc
}
jack_lsp() { bb_jack_tool jack_lsp "$@"; }
jack_connect() { bb_jack_tool jack_connect "$@"; }
jack_disconnect() { bb_jack_tool jack_disconnect "$@"; }
jack_property() { bb_jack_tool jack_property "$@"; }

bb_has_port() { jack_lsp 2>/dev/null | grep -Fxq -- "$1"; }
bb_lacks_port() { jack_lsp >/dev/null 2>&1 && ! bb_has_port "$1"; }

# bb_wait_port NAME [timeout_s]
bb_wait_port() { BB_WAIT=${2:-${BB_WAIT:-30}} bb_wait_for bb_has_port "$1"; }

# bb_wait_no_port NAME [timeout_s]
bb_wait_no_port() { BB_WAIT=${2:-${BB_WAIT:-30}} bb_wait_for bb_lacks_port "$1"; }

# bb_start_jack [period] [rate]: a private jackd (dummy backend) for this test.
# After bb_stop_jack it starts again under the same server name (restart tests).
bb_start_jack() {
    local period=${1:-64} rate=${2:-48000} deadline
    if ! type -P jackd >/dev/null || ! type -P jack_lsp >/dev/null; then
        echo "bb_start_jack: jackd/jack_lsp not installed (run scripts/setup.sh)" >&2
        return 1
    fi
    if [[ -n $BB_JACK_PID ]]; then
        echo "bb_start_jack: jackd $BB_JACK_NAME already running" >&2
        return 1
    fi
    BB_JACK_NAME=${BB_JACK_NAME:-bbt_$$_$RANDOM}
    BB_JACK_LOG=$BB_TMP/jackd.log
    export JACK_DEFAULT_SERVER=$BB_JACK_NAME
    jackd -n "$BB_JACK_NAME" -d dummy -r "$rate" -p "$period" >>"$BB_JACK_LOG" 2>&1 &
    BB_JACK_PID=$!
    deadline=$(( $(bb_now_us) + $(bb_deadline_us 30) ))
    until jack_lsp >/dev/null 2>&1; do
        if ! kill -0 "$BB_JACK_PID" 2>/dev/null; then
            echo "bb_start_jack: jackd exited:" >&2
            cat "$BB_JACK_LOG" >&2
            wait "$BB_JACK_PID" 2>/dev/null
            BB_JACK_PID=
            return 1
        fi
        if (( $(bb_now_us) >= deadline )); then
            echo "bb_start_jack: jackd $BB_JACK_NAME not answering after $(bb_slow_s 30) s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# bb_stop_jack: stop our jackd (bb_kill: TERM, then KILL); its log is kept.
bb_stop_jack() {
    [[ -n $BB_JACK_PID ]] || return 0
    bb_kill "$BB_JACK_PID"
    BB_JACK_PID=
    return 0
}

# bb_start_load_hub: the hub the bbload tests run against, under rtcheck.so;
# sets port, hub and BBLOAD, and asserts it came up.
# --jitter 1536 (32 ms) of hub-side jitter buffer absorbs the late wake-ups
# of the dummy backend and of bbload's sender on this 2-core machine: the
# sender was seen 13, 17 and 23 ms late in it_churn runs (2026-12-05), which
# 256 frames (5.3 ms, the depth before) turned into underruns at the hub and
# glitches in every steady mix, nothing to do with what the tests look at.
# The depth only delays the audio; every sample is still checked. --db: the state goes to the test's own directory.
# --no-drift-comp: bbload paces its packets by this machine's clock, the hub
# reads them on the dummy backend's, which loses time against it on a loaded
# machine (milliseconds a second here), partly in steps too small to tell
# from drift; resampled, the stream could not be checked bit exact. The
# excess is trimmed by whole packets instead, which the check allows.
# Options given to it go last, to the hub (a later --osc-port wins).
bb_start_load_hub() {
    BBLOAD=$BUILD/bbload
    [[ -x $BBLOAD ]] || { not_ok "bbload is built ($BBLOAD)"; bb_done; }
    port=$(bb_free_udp_port)
    bb_bg "$BB_TMP/hub.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port 0 \
        --jitter 1536 --db "$BB_TMP/hub.db" --no-drift-comp -v "$@"
    hub=$BB_LASTPID
    check "hub is up (main mix ports registered)" bb_wait_port bandbridge:main_L
}

# bb_steady_exact REPORT I: bbload's steady musician sI received every
# mix bit-exact (no glitch, nothing lost, samples counted) per its report.
bb_steady_exact() {
    grep -Eq "^steady s$2 glitches=0 lost=0 late=[0-9]+ samples=[1-9][0-9]* " "$1"
}

# bb_hub_stats OSC_PORT KEY...: those keys' values in one /stats answer of
# the hub at OSC_PORT, space separated in that order; fails if one is missing.
bb_hub_stats() {
    local osc_port=$1
    shift
    "$BB_BIN" ctl --port "$osc_port" --timeout 5 /stats 2>/dev/null | awk -v keys="$*" '{
        for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
    } END {
        n = split(keys, k, " ")
        for (j = 1; j <= n; j++) { if (!(k[j] in v)) exit 1; printf "%s%s", v[k[j]], j < n ? " " : "\n" }
    }'
}

# bb_join NAME CODEC [join options...]: a musician, `bandbridge join` as NAME
# sending CODEC to the hub at 127.0.0.1:$port (BB_LASTPID: its pid), set up
# as the tests run one: under rtcheck.so, a 128-frame jitter buffer, ports
# left unconnected, identity $BB_TMP/id-NAME, output to $BB_TMP/NAME.log.
# The options come last, so they win (--identity, --jitter, --jack-name).
# For one call: BB_JOIN_LOG=FILE logs there instead; BB_JOIN_PLAIN=1 runs
# it as a musician would, without rtcheck.so and auto-connected.
bb_join() {
    local n=$1 c=$2 rt=("${BB_RT[@]}") nac=(--no-auto-connect)
    shift 2
    if [[ ${BB_JOIN_PLAIN:-0} == 1 ]]; then rt=(); nac=(); fi
    bb_bg "${BB_JOIN_LOG:-$BB_TMP/$n.log}" "${rt[@]}" "$BB_BIN" join "127.0.0.1:$port" --name "$n" \
        --codec "$c" --jitter 128 "${nac[@]}" --identity "$BB_TMP/id-$n" "$@"
}

# ctl ARGS: `bandbridge ctl ARGS` against the OSC port held by the variable
# that BB_CTL_PORT names (default osc, the hub's; a test that talks to a
# join's own OSC port sets BB_CTL_PORT=aosc): an indirection, so a test that
# restarts its hub on a new port needs no new helper. Prints the answer,
# errors on stderr, ctl's exit status (0 answer, 1 /error, 3 no answer).
# A query waits up to BB_CTL_TIMEOUT (5) s for its answer, not ctl's 1 s:
# a busy hub answers late, and an answer ends the wait at once.
# q ARGS: the same without stderr, for answers used as values: $(q /path).
# Both are exported (for bash -c); export the port variable too.
ctl() {
    local v=${BB_CTL_PORT:-osc}
    "$BB_BIN" ctl --port "${!v}" --timeout "$(bb_slow_s "${BB_CTL_TIMEOUT:-5}")" "$@"
}
q() { ctl "$@" 2>/dev/null; }

# bb_refused REASON ARGS...: ctl ARGS is refused (exit 1) with a reason
# that contains REASON (a fixed string). Polled with the BB_WAIT deadline:
# ctl waits only 200 ms for the /error to a set, which a busy hub can miss;
# sending a refused message again changes nothing.
bb_refused_once() {
    local why=$1
    shift
    ctl "$@" 2>"$BB_TMP/ctl.err" >/dev/null
    [ $? -eq 1 ] && grep -qF -- "$why" "$BB_TMP/ctl.err"
}
bb_refused() { bb_wait_for bb_refused_once "$@"; }
export -f ctl q bb_slow_s bb_deadline_us bb_s_to_us

# bb_xruns [LOG]: number of xruns jackd has logged so far, in LOG (a second
# server's) or by default in our jackd's log.
bb_xruns() {
    local log=${1:-$BB_JACK_LOG}
    [[ -n $log && -f $log ]] || { echo 0; return; }
    grep -cE 'XRun|was not finished' "$log"
}

# bb_free_udp_port: a UDP port in 20000-60000 nobody listens on (and not handed out
# before in this test).
bb_free_udp_port() {
    local p i used=$BB_TMP/.udp_ports
    for (( i = 0; i < 200; i++ )); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
        [[ -f $used ]] && grep -qx "$p" "$used" && continue
        if [[ -z $(ss -Hlnu "( sport = :$p )" 2>/dev/null) ]]; then
            echo "$p" >>"$used"
            echo "$p"
            return 0
        fi
    done
    echo "bb_free_udp_port: no free port found" >&2
    return 1
}

# TAP-like assertions.
ok() {
    BB_N=$((BB_N + 1)); BB_PASS=$((BB_PASS + 1))
    echo "ok $BB_N - $*"
}
not_ok() {
    BB_N=$((BB_N + 1)); BB_FAIL=$((BB_FAIL + 1))
    echo "not ok $BB_N - $*"
}
# check_timed "description" cmd...: a check of timing, sample exactness or
# memory that ThreadSanitizer's run cannot keep: there every memory access
# is instrumented (5 to 15 times slower: process callbacks miss their
# cycles, so no stream stays exact or keeps its tone) and every byte
# touched has 4 more of shadow (RSS bounds read the sanitizer). Under TSan
# (BB_SAN thread) the result is logged, not asserted: that run
# is for races, and the plain and ASan builds assert these. Elsewhere the
# same as check.
check_timed() {
    if [[ $BB_SAN == thread ]]; then
        local desc=$1
        shift
        if "$@"; then bb_log "TSan build, not asserted (holds): $desc"
        else bb_log "TSan build, not asserted (does not hold): $desc"; fi
        return 0
    fi
    check "$@"
}
# check "description" cmd...: ok if cmd succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# bb_done: summary; exits 1 if anything failed or nothing was asserted.
bb_done() {
    echo "# $BB_NAME: $BB_PASS passed, $BB_FAIL failed"
    if (( BB_FAIL > 0 || BB_PASS == 0 )); then
        (( BB_PASS + BB_FAIL == 0 )) && echo "# $BB_NAME: no assertion ran"
        exit 1
    fi
    exit 0
}

# bb_glitch_val FILE KEY: the value of KEY on bbglitch's summary line
# (status=... key=value ...; its first input's).
bb_glitch_val() {
    awk -v k="$2" '/^status=/ { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$1"
}

# bb_jbuf_vals LOG FIELD: FIELD of every jitter-buffer statistics line of a
# -v log (bb_jbuf_stats_text: "fill N target N ... (fit F se F ...) ..."),
# in order; bb_jbuf_val LOG FIELD: of the last one.
bb_jbuf_vals() {
    awk -v k="$2" '/ fill [0-9]+ target / {
        n = split($0, w, /[ (),]+/)
        for (i = 1; i < n; i++) if (w[i] == k) { print w[i + 1]; break }
    }' "$1"
}
bb_jbuf_val() { bb_jbuf_vals "$@" | tail -1; }

# Helpers for bbprobe output: bb_probe_val FILE "in_1 out_1" key
#   prints the value of key on the line that starts with the given port names.
bb_probe_val() {
    awk -v pre="$2 " -v key="$3" 'index($0, pre) == 1 {
        for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit }
    }' "$1"
}

# OSC controllers made of oscdump (liblo-tools): bb_osc_dump NAME starts
# one on a free port (sets dport; it writes $BB_TMP/NAME.dump). oscdump
# prints "TIMETAG /path types args" with strings quoted: bb_osc_seen FILE
# REGEX and bb_osc_count FILE REGEX match from /path on. bb_osc_rate FILE
# REGEX: messages a second matching REGEX, over a 2 s window.
bb_osc_dump() {
    dport=$(bb_free_udp_port)
    bb_bg "$BB_TMP/$1.dump" oscdump -L "$dport"
    bb_wait_for bash -c "ss -Hlnu '( sport = :$dport )' | grep -q ."
}
bb_osc_seen() { cut -d' ' -f2- "$1" | grep -Eq -- "$2"; }
bb_osc_count() { cut -d' ' -f2- "$1" | grep -Ec -- "$2"; }
bb_osc_rate() {
    local n0 n1
    n0=$(bb_osc_count "$1" "$2")
    sleep 2 # a measuring window, not a synchronisation
    n1=$(bb_osc_count "$1" "$2")
    echo $(( (n1 - n0) / 2 ))
}
export -f bb_osc_seen bb_osc_count

# bb_slot_of NAME "SLOTS": the slot number of NAME in the arguments of a
# /slots answer as `bandbridge ctl /slots` prints them ("1 alice 2 bob").
bb_slot_of() {
    awk -v n="$1" '{ for (i = 1; i < NF; i += 2) if ($(i + 1) == n) print $i }' <<<"$2"
}

# bb_num_cmp A OP B: floating point comparison with awk (OP: < <= > >= == !=).
bb_num_cmp() {
    awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
        if (a !~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+|inf)$/ || b !~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+|inf)$/) exit 2
        a = (a == "inf") ? 1e308 : (a == "-inf") ? -1e308 : a + 0
        b = (b == "inf") ? 1e308 : (b == "-inf") ? -1e308 : b + 0
        r = (op == "<") ? a < b : (op == "<=") ? a <= b : (op == ">") ? a > b : (op == ">=") ? a >= b : (op == "==") ? a == b : (op == "!=") ? a != b : 0
        exit !r }'
}
