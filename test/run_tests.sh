#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run_tests.sh: runs the unit tests ($BUILD/test_*) and integration tests (test/it_*.sh).
#
# Env: BUILD (default build), BIN (default bandbridge), FILTER (regex on test names),
# TEST_TIMEOUT (seconds per test, default 300 x BB_SLOW), BB_SLOW (deadline factor; sanitizer
# builds: 2, TSan 4). Logs: $BUILD/test-logs/NAME.log, sanitizer reports $BUILD/test-logs/san/NAME/.
# The last line is "N passed, M failed"; exit 1 if anything failed or nothing ran.
set -u
cd "$(dirname "$0")/.." || exit 1
export BUILD=${BUILD:-build} BIN=${BIN:-bandbridge}
FILTER=${FILTER:-}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR" || exit 1

# Sanitizer builds (make SAN=..., BUILD=build-san-*): every sanitized program
# of a test (unit test, hub, join, test tools) writes its reports to
# $LOGDIR/san-NAME/KIND.PID (log_path) instead of stderr, where a test that
# discards a program's output would lose them; any report there fails the
# test, whatever its own checks said (below). ASan and LSan stop the program
# with an error status at their first report, UBSan too (the Makefile also
# compiles it with -fno-sanitize-recover), TSan reports every race and exits
# 66. Known false positives of libraries we cannot fix are suppressed in
# test/sanitizer/*.supp, each entry with its reason. Options set in the
# environment come first; ours are appended (the last one wins).
# BB_SLOW multiplies every deadline of test/lib.sh and the per-test timeout:
# these programs run 2-10x slower (the checks themselves are unchanged).
san=
case $BUILD in
*build-san-*thread*) san=thread ;;
*build-san-*) san=address ;;
esac
sandir=
if [[ -n $san ]]; then
    sandir=$LOGDIR/san
    supp=$PWD/test/sanitizer
    if [[ $san == thread ]]; then
        export BB_SLOW=${BB_SLOW:-4}
        export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}second_deadlock_stack=1:suppressions=$supp/tsan.supp"
    else
        export BB_SLOW=${BB_SLOW:-2}
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:halt_on_error=1"
        export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$supp/lsan.supp:print_suppressions=0"
        export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
    fi
fi
TEST_TIMEOUT=${TEST_TIMEOUT:-$((300 * ${BB_SLOW:-1}))}

# san_env NAME: the sanitizers' log_path for test NAME (a fresh directory).
san_env() {
    [[ -n $sandir ]] || return 0
    rm -rf "$sandir/$1" && mkdir -p "$sandir/$1" || exit 1
    local d=$PWD/$sandir/$1
    [[ $sandir == /* ]] && d=$sandir/$1
    san_opts=(env "ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}log_path=$d/asan"
              "UBSAN_OPTIONS=${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}log_path=$d/ubsan"
              "TSAN_OPTIONS=${TSAN_OPTIONS:-}${TSAN_OPTIONS:+:}log_path=$d/tsan")
}

tests=()
for t in "$BUILD"/test_*; do
    [[ -f $t && -x $t ]] || continue
    case $t in *.o | *.d | *.log | *.so) continue ;; esac
    tests+=("$t")
done
for t in test/it_*.sh; do
    [[ -f $t ]] && tests+=("$t")
done

# Each integration test runs with a /dev/shm of its own where it may (root,
# as in CI): jackd's server registry, its semaphores and its metadata
# database live there, and jack2 shares that database among every server of
# a user. Beside one another, one test's servers could delete another's
# port properties, and a process killed inside a database call leaves a
# lock that hangs every jackd opening it afterwards; a registry slot a
# killed jackd keeps would count against jack2's eight. Private, nothing a
# test leaves there outlives it. Elsewhere tests share the system's.
shm_wrap=()
if (( EUID == 0 )) && command -v unshare >/dev/null &&
    unshare --mount --propagation private mount -t tmpfs tmpfs /dev/shm 2>/dev/null; then
    shm_wrap=(env BB_PRIVATE_SHM=1 unshare --mount --propagation private
              sh -c 'mount -t tmpfs -o mode=1777 tmpfs /dev/shm && exec "$@"' run_tests)
fi

pass=0 fail=0 failed=()
for t in "${tests[@]}"; do
    name=$(basename "$t")
    name=${name%.sh}
    [[ -n $FILTER ]] && ! [[ $name =~ $FILTER ]] && continue
    log=$LOGDIR/$name.log
    san_opts=() san_failed=0
    san_env "$name"
    start=$(date +%s.%N)
    if [[ $t == *.sh ]]; then
        timeout -k 10 "$TEST_TIMEOUT" "${san_opts[@]}" "${shm_wrap[@]}" bash "$t" >"$log" 2>&1 </dev/null
    else
        timeout -k 10 "$TEST_TIMEOUT" "${san_opts[@]}" "$t" >"$log" 2>&1 </dev/null
    fi
    rc=$?
    # A sanitizer's report by any program of the test fails it.
    if [[ -n $sandir ]] && reports=$(find "$sandir/$name" -type f -size +0 | sort) && [[ -n $reports ]]; then
        {
            echo "run_tests: sanitizer reports ($san build):"
            for f in $reports; do echo "---- $f"; cat "$f"; done
        } >>"$log"
        (( rc == 0 )) && rc=1
        san_failed=1
    fi
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if (( rc == 0 )); then
        pass=$((pass + 1))
        printf 'PASS  %-32s %6ss\n' "$name" "$secs"
    else
        fail=$((fail + 1))
        failed+=("$name")
        why="exit $rc"
        (( rc == 124 || rc == 137 )) && why="timed out after ${TEST_TIMEOUT}s"
        (( san_failed )) && why+=", sanitizer report"
        printf 'FAIL  %-32s %6ss  (%s)\n' "$name" "$secs" "$why"
        echo "---- output of $name ($log)"
        cat "$log"
        echo "---- end of $name"
    fi
done

if (( pass + fail == 0 )); then
    echo "run_tests: no test found${FILTER:+ matching FILTER=$FILTER}" >&2
    echo "0 passed, 0 failed"
    exit 1
fi
(( fail > 0 )) && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
(( fail == 0 ))
