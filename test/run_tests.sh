#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run_tests.sh: runs the unit tests ($BUILD/test_*) and integration tests (test/it_*.sh).
#
# Env: BUILD (default build), BIN (default bandbridge), FILTER (regex on test names),
# TEST_TIMEOUT (seconds per test, default 300). Logs: $BUILD/test-logs/NAME.log.
# The last line is "N passed, M failed"; exit 1 if anything failed or nothing ran.
set -u
cd "$(dirname "$0")/.." || exit 1
export BUILD=${BUILD:-build} BIN=${BIN:-bandbridge}
FILTER=${FILTER:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
# Sanitizer builds: a UBSan report ends the program, with a stack trace (the
# Makefile also compiles UBSan with -fno-sanitize-recover). Kept if already set.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR" || exit 1

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
    start=$(date +%s.%N)
    if [[ $t == *.sh ]]; then
        timeout -k 10 "$TEST_TIMEOUT" "${shm_wrap[@]}" bash "$t" >"$log" 2>&1 </dev/null
    else
        timeout -k 10 "$TEST_TIMEOUT" "$t" >"$log" 2>&1 </dev/null
    fi
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if (( rc == 0 )); then
        pass=$((pass + 1))
        printf 'PASS  %-32s %6ss\n' "$name" "$secs"
    else
        fail=$((fail + 1))
        failed+=("$name")
        why="exit $rc"
        (( rc == 124 || rc == 137 )) && why="timed out after ${TEST_TIMEOUT}s"
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
