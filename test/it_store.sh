#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_store.sh: the hub's state database end to end: a main-mix setting survives kill -9 and
# a restart; a garbage file is moved aside; a newer schema is left alone; a locked file
# does not hold the hub up.
set -u
. "$(dirname "$0")/lib.sh"
bb_init

command -v sqlite3 >/dev/null || { not_ok "sqlite3 command installed"; bb_done; }
bb_start_jack 64 48000 || { not_ok "jackd started"; bb_done; }
ok "jackd $BB_JACK_NAME started"

db=$BB_TMP/hub.db
hub=

# start_hub LOG: a hub on $db, waits for its first local input port.
start_hub() {
    local port osc
    port=$(bb_free_udp_port) && osc=$(bb_free_udp_port) || return 1
    OSC=$osc
    bb_bg "$1" "$BB_BIN" serve --port "$port" --osc-port "$osc" --jack-name bbst \
        --inputs 2 --db "$db" -v
    hub=$BB_LASTPID
    bb_wait_port bbst:in_1
}
BB_CTL_PORT=OSC # ctl (lib.sh) talks to the hub start_hub started last
stored_gain() {
    sqlite3 "$db" "SELECT ifnull(gain_db, 'NULL') FROM send WHERE identity = X'' AND source = 'in_1'"
}
# set_gain DB READS: sets in_1's gain in the main mix and asks for it back;
# true once the answer contains READS. A set is not answered, so one sent
# before the hub reads its OSC port is lost unnoticed; sent again until the
# answer is right, it is not (setting a value twice changes nothing).
set_gain() {
    ctl /mix/main/ch/in_1/gain "$1" >/dev/null 2>&1
    q /mix/main/ch/in_1/gain | grep -qi -- "$2"
}
gain_reads() { q /mix/main/ch/in_1/gain | grep -qi -- "$1"; }
stored_is() { [[ $(stored_gain 2>/dev/null) == "$1" ]]; }

# 1. A main-mix gain reaches the file within the debounce and survives kill -9.
start_hub "$BB_TMP/hub1.log" || { not_ok "hub started"; bb_done; }
ok "hub started on a new database"
check "the database file exists" test -f "$db"
check "the hub took the gain" bb_wait_for set_gain -7.5 -7.5
# The debounce is 500 ms; the deadline is for a loaded machine.
BB_WAIT=20 bb_wait_for stored_is -7.5
check "the gain is in the file within the debounce (got '$(stored_gain)')" test "$(stored_gain)" = -7.5
kill -KILL "$hub"
bb_wait_exit "$hub" >/dev/null 2>&1
check "integrity_check after kill -9" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok

start_hub "$BB_TMP/hub2.log" || { not_ok "hub restarted"; bb_done; }
check "restored after a restart" bb_wait_for gain_reads -7.5
check "the hub took -200 dB as -inf" bb_wait_for set_gain -200 -inf # below -120 dB: -inf
bb_kill "$hub"
check "-inf is stored as NULL (got '$(stored_gain)')" test "$(stored_gain)" = NULL
start_hub "$BB_TMP/hub3.log" || { not_ok "hub restarted"; bb_done; }
check "-inf restored" bb_wait_for gain_reads -inf
bb_kill "$hub"

# 2. A file that is not a database: moved aside intact, a fresh one made.
rm -f "$db" "$db"-wal "$db"-shm
head -c 4096 /dev/urandom >"$db"
sum=$(sha256sum <"$db")
start_hub "$BB_TMP/hub4.log" || { not_ok "hub started on garbage"; bb_done; }
ok "hub started on a garbage file"
check "says it is corrupt and where it went" bb_wait_for grep -q "is corrupt (file is not a database); moved it to $db.corrupt-" "$BB_TMP/hub4.log"
aside=$(ls "$db".corrupt-* 2>/dev/null | head -1)
check "the garbage is kept, unchanged" test -n "$aside" -a "$(sha256sum <"${aside:-/dev/null}")" = "$sum"
bb_kill "$hub"
schema=$(awk '/define BB_STORE_SCHEMA_VERSION/ { print $3 }' "$BB_ROOT/include/store.h")
check "the fresh file is a database of ours (schema $schema)" test "$(sqlite3 "$db" 'PRAGMA user_version')" = "$schema"

# 3. Written by a newer bandbridge: not touched at all.
rm -f "$db"*
sqlite3 "$db" 'PRAGMA user_version = 99; CREATE TABLE future(x);'
sum=$(sha256sum <"$db")
start_hub "$BB_TMP/hub5.log" || { not_ok "hub started on a newer database"; bb_done; }
ok "hub started on a newer database"
check "says so" bb_wait_for grep -q "was written by a newer bandbridge (schema 99); not touching it" "$BB_TMP/hub5.log"
check "the hub takes a change" bb_wait_for set_gain -3 -3
bb_kill "$hub"
check "the file is unchanged" test "$(sha256sum <"$db")" = "$sum"
check "nothing else was created" test "$(ls "$db"* | wc -l)" = 1

# 4. Locked by another process: the hub does not wait for it. The lock is
# held until the test lets it go (a sqlite3 reading its commands from a
# FIFO), so "before the lock went away" needs no clock: a hub that waited
# for the lock would not come up at all. (test_store checks that the store
# gives up on a lock within 100 ms.)
rm -f "$db"*
sqlite3 "$db" 'PRAGMA journal_mode = DELETE; PRAGMA user_version = 0;' >/dev/null
mkfifo "$BB_TMP/lock.fifo"
exec 7<>"$BB_TMP/lock.fifo" # read-write: opening it does not wait for the other end
# Not bb_bg: a background command's stdin is /dev/null unless it says otherwise.
sqlite3 "$db" <"$BB_TMP/lock.fifo" >"$BB_TMP/locker.log" 2>&1 &
locker=$!
BB_PIDS+=("$locker")
printf 'BEGIN EXCLUSIVE;\nPRAGMA user_version = 0;\n' >&7
is_locked() { ! sqlite3 "$db" 'PRAGMA user_version' >/dev/null 2>&1; }
check "another process holds the database locked" bb_wait_for is_locked
t0=$(bb_now_us)
start_hub "$BB_TMP/hub6.log" || { not_ok "hub started on a locked database"; bb_done; }
t1=$(bb_now_us)
check "hub started on the locked database in $(( (t1 - t0) / 1000 )) ms, the lock still held" is_locked
check "says it is locked" bb_wait_for grep -q "is locked by another process (another hub using the same file?); running without persistence, retrying in 30 s" "$BB_TMP/hub6.log"
# .quit, not EOF: the FIFO's write end is open in sqlite3 and the hub too (inherited).
printf 'COMMIT;\n.quit\n' >&7
exec 7>&-
check "the other process let go of the lock and ended" bb_wait_exit "$locker"
bb_kill "$hub"

bb_done
