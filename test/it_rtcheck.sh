#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_rtcheck.sh: proves rtcheck.so catches RT violations in a JACK process callback (own jackd, dummy backend).
#
#   BUILD=build test/it_rtcheck.sh
#
# Self-contained on purpose (does not use test/lib.sh).  Prints "ok - ..." /
# "not ok - ..." per check and exits nonzero if any check failed.
set -u

BUILD=${BUILD:-build}
RTCHECK=$BUILD/rtcheck.so
VIOLATOR=$BUILD/rt_violator
case $RTCHECK in /*) ;; *) RTCHECK=$PWD/$RTCHECK ;; esac

failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
not_ok() { checks=$((checks + 1)); failures=$((failures + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION COMMAND...: ok if the command succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
now_ms() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo $((t / 1000))
    else
        echo $(($(date +%s%N) / 1000000))
    fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/it_rtcheck.XXXXXX") || exit 1
jackd_pid=
child_pid=
cleanup() {
    if [[ -n $child_pid ]]; then
        kill -TERM "$child_pid" 2>/dev/null
        wait "$child_pid" 2>/dev/null
    fi
    if [[ -n $jackd_pid ]] && kill -0 "$jackd_pid" 2>/dev/null; then
        kill -TERM "$jackd_pid" 2>/dev/null
        local deadline=$(($(now_ms) + 20000))
        while kill -0 "$jackd_pid" 2>/dev/null && (($(now_ms) < deadline)); do
            sleep 0.05
        done
        if kill -0 "$jackd_pid" 2>/dev/null; then
            kill -KILL "$jackd_pid" 2>/dev/null
        fi
        wait "$jackd_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show() { # show FILE: the file, indented, for a failure's context
    sed 's/^/#   /' "$1" | head -40
}

for tool in jackd jack_lsp timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        not_ok "$tool is installed (apt-get install jackd2)"
        exit 1
    fi
done
for f in "$RTCHECK" "$VIOLATOR"; do
    if [[ ! -e $f ]]; then
        not_ok "$f exists (make $f)"
        exit 1
    fi
done

# rtcheck.so replaces malloc & co.; a sanitizer runtime wants to be the first
# library and own them (ASan refuses to start).  The checker is meant for the
# plain build, so a sanitizer build skips this test.
if grep -qaE '__(asan|tsan|msan)_init' "$VIOLATOR"; then
    echo "ok - # SKIP $VIOLATOR is built with a sanitizer: run this test on the plain build"
    exit 0
fi

# --- our own JACK server --------------------------------------------------------

server=bbrt_$$_$RANDOM
JACK_NO_AUDIO_RESERVATION=1 jackd -n "$server" -d dummy -r 48000 -p 64 >"$tmp/jackd.log" 2>&1 &
jackd_pid=$!
export JACK_DEFAULT_SERVER=$server

deadline=$(($(now_ms) + 30000))
up=0
while (($(now_ms) < deadline)); do
    if jack_lsp >/dev/null 2>&1; then
        up=1
        break
    fi
    kill -0 "$jackd_pid" 2>/dev/null || break
    sleep 0.05
done
if ((up)); then
    ok "jackd $server is up (pid $jackd_pid)"
else
    not_ok "jackd $server is up within 30 s"
    show "$tmp/jackd.log"
    exit 1
fi

# --- helpers -----------------------------------------------------------------------

# run_violator NAME [ENV=VALUE...] -- ARGS...: rt_violator under the preload.
# Leaves $tmp/NAME.{out,err,log} and $rc.
run_violator() {
    local name=$1
    shift
    local envs=()
    while (($#)) && [[ $1 != -- ]]; do
        envs+=("$1")
        shift
    done
    shift
    rm -f "$tmp/$name.log"
    # In the background, so that a signal to this script is handled at once
    # (cleanup stops it: timeout passes TERM on); no core file from RTCHECK_ABORT.
    (
        ulimit -c 0
        exec timeout -k 5 60 env LD_PRELOAD="$RTCHECK" RTCHECK_LOG="$tmp/$name.log" ${envs[@]+"${envs[@]}"} \
            "$VIOLATOR" "$@"
    ) >"$tmp/$name.out" 2>"$tmp/$name.err" &
    child_pid=$!
    wait "$child_pid" 2>/dev/null # no "Aborted" notice from the shell
    rc=$?
    child_pid=
    touch "$tmp/$name.log"
}

# The callback count rt_violator saw itself.
violator_callbacks() {
    sed -n 's/.* callbacks=\([0-9]*\).*/\1/p' "$tmp/$1.out"
}

# The "rtcheck: N violations in M callbacks" summary of a log: prints "N M".
summary() {
    sed -n 's/^rtcheck: \([0-9]*\) violations in \([0-9]*\) callbacks .*/\1 \2/p' "$tmp/$1.log" | tail -n 1
}

expect_ran() { # expect_ran NAME: exit 0, callbacks > 0, reports on stderr only
    local name=$1 cb
    cb=$(violator_callbacks "$name")
    if ((rc == 0)) && [[ -n $cb ]] && ((cb > 0)); then
        ok "$name: rt_violator ran (exit 0, $cb callbacks)"
    else
        not_ok "$name: rt_violator ran (exit $rc, callbacks '${cb}')"
        show "$tmp/$name.err"
    fi
    if grep -q '^rtcheck:' "$tmp/$name.out"; then
        not_ok "$name: rtcheck writes nothing to stdout"
    else
        ok "$name: rtcheck writes nothing to stdout"
    fi
}

expect_violation() { # expect_violation NAME REGEX-OF-FUNCTION
    local name=$1 fn=$2 s
    if grep -Eq "^rtcheck: VIOLATION ($fn) in JACK process callback" "$tmp/$name.log" &&
        grep -Eq "^rtcheck: VIOLATION ($fn) in JACK process callback" "$tmp/$name.err"; then
        ok "$name: violation names $fn (log and stderr)"
    else
        not_ok "$name: violation names $fn (log and stderr)"
        show "$tmp/$name.log"
    fi
    s=$(summary "$name")
    if [[ -n $s ]] && ((${s% *} > 0 && ${s#* } > 0)); then
        ok "$name: summary reports ${s% *} violations in ${s#* } callbacks"
    else
        not_ok "$name: summary reports violations and callbacks ('$s')"
        show "$tmp/$name.log"
    fi
}

expect_clean() { # expect_clean NAME: 0 violations in M callbacks, M > 0 and M = what rt_violator counted
    local name=$1 s cb
    s=$(summary "$name")
    cb=$(violator_callbacks "$name")
    if [[ -n $s ]] && ((${s% *} == 0 && ${s#* } > 0)) && ! grep -q VIOLATION "$tmp/$name.log"; then
        ok "$name: rtcheck: 0 violations in ${s#* } callbacks"
    else
        not_ok "$name: rtcheck: 0 violations in M > 0 callbacks ('$s')"
        show "$tmp/$name.log"
    fi
    if [[ -n $s && -n $cb && ${s#* } == "$cb" ]]; then
        ok "$name: rtcheck saw every callback ($cb)"
    else
        not_ok "$name: rtcheck saw every callback (rtcheck '${s#* }', rt_violator '$cb')"
    fi
}

# --- the three required cases ----------------------------------------------------------

run_violator malloc -- --malloc
expect_ran malloc
expect_violation malloc malloc

run_violator mutex -- --mutex
expect_ran mutex
expect_violation mutex pthread_mutex_lock

run_violator clean -- --clean
expect_ran clean
expect_clean clean

# --- more rules, and what must stay allowed ------------------------------------------------

run_violator allowed -- --allowed --seconds 1
expect_ran allowed
expect_clean allowed # sem_post, eventfd write, trylock, jack_ringbuffer_write

run_violator thread RTCHECK_BACKTRACE=0 -- --thread --malloc --seconds 1
expect_ran thread
expect_violation thread malloc

run_violator thread_clean -- --thread --clean --seconds 1
expect_ran thread_clean
expect_clean thread_clean

run_violator printf RTCHECK_BACKTRACE=0 -- --printf --seconds 1
expect_ran printf
expect_violation printf 'printf|__printf_chk'

run_violator osc RTCHECK_BACKTRACE=0 -- --osc --seconds 1
expect_ran osc
expect_violation osc lo_send_internal
received=$(sed -n 's/.* osc_received=\([0-9]*\).*/\1/p' "$tmp/osc.out")
check "osc: the message sent through the lo_send wrapper arrived ($received)" test "${received:-0}" -gt 0

run_violator sqlite RTCHECK_BACKTRACE=0 -- --sqlite --seconds 1
expect_ran sqlite
expect_violation sqlite sqlite3_step

# --- RTCHECK_ABORT and RTCHECK_EXIT_CODE -----------------------------------------------------

run_violator abort RTCHECK_ABORT=1 RTCHECK_BACKTRACE=0 -- --mutex --seconds 1
check "RTCHECK_ABORT=1: killed by SIGABRT at the first violation (exit $rc)" test "$rc" -eq 134
check "RTCHECK_ABORT=1: the violation was logged first" grep -q 'VIOLATION pthread_mutex_lock' "$tmp/abort.log"

run_violator exitcode RTCHECK_EXIT_CODE=42 RTCHECK_BACKTRACE=0 -- --malloc --seconds 1
check "RTCHECK_EXIT_CODE=42 with violations: exit 42 (got $rc)" test "$rc" -eq 42
check "RTCHECK_EXIT_CODE=42: stdout was still flushed" grep -q 'mode=malloc' "$tmp/exitcode.out"

run_violator exitclean RTCHECK_EXIT_CODE=42 -- --clean --seconds 1
check "RTCHECK_EXIT_CODE=42 without violations: exit 0 (got $rc)" test "$rc" -eq 0

# --- the preload does not break ordinary programs --------------------------------------------

env LD_PRELOAD="$RTCHECK" jack_lsp >"$tmp/lsp.out" 2>"$tmp/lsp.err"
rc=$?
check "jack_lsp under the preload: exit 0, lists the ports" \
    test "$rc" -eq 0 -a -n "$(grep -x 'system:playback_1' "$tmp/lsp.out")"
check "jack_lsp under the preload: summary on stderr" grep -q '^rtcheck: 0 violations in 0 callbacks' "$tmp/lsp.err"
check "jack_lsp under the preload: nothing on stdout" test -z "$(grep '^rtcheck' "$tmp/lsp.out")"

env LD_PRELOAD="$RTCHECK" ls / >"$tmp/ls.out" 2>"$tmp/ls.err"
rc=$?
check "ls under the preload: exit 0, lists /" test "$rc" -eq 0 -a -n "$(grep -x 'usr' "$tmp/ls.out")"
check "ls under the preload: summary on stderr" grep -q '^rtcheck: 0 violations in 0 callbacks' "$tmp/ls.err"

if ! kill -0 "$jackd_pid" 2>/dev/null; then
    not_ok "jackd still running at the end"
    show "$tmp/jackd.log"
fi

echo "# $((checks - failures))/$checks checks passed"
((failures == 0))
