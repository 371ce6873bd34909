#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_room.sh: the room password the hub keeps (bandbridge(1), --password-file,
# SECURITY; src/hub_room.c, src/store_room.c):
#  1. generated at the first start, printed, kept in the state database
#     (the room table: salt and password), printed again by --show-password,
#     the same after a restart, and a musician who is given it gets in; a
#     musician's identity file of an older bandbridge is retired once the
#     hub restored its state under the musician's key; the room key a join
#     derived is kept (mode 0600) and the next join to that hub with that
#     password uses it, one with another password does not;
#  2. a room file of an older hub (hub.room beside hub.db) moves into the
#     database at the first start with the same password and salt, is
#     removed, and the log says so;
#  3. a password given (BANDBRIDGE_PASSWORD, --password-file) is not kept:
#     the database keeps the salt and an empty password, --show-password
#     has nothing to print;
#  4. --db none: a new password at every start, said so, nothing to show.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
unset BANDBRIDGE_PASSWORD # the hubs here generate theirs; joins get it per call

# serve_bg LOG ARGS...: a hub on a free port; sets port and hub.
serve_bg() {
    local log=$1
    shift
    port=$(bb_free_udp_port)
    bb_bg "$log" "$BB_BIN" serve --port "$port" --osc-port 0 "$@"
    hub=$BB_LASTPID
}
pw_of() { sed -nE 's/.*room password: ([0-9a-z-]+) .*/\1/p' "$1" | tail -n 1; }
db_room() { sqlite3 "$1" "SELECT hex(salt) || ' ' || password FROM room WHERE id = 1"; }

# 1. Generated, kept, shown, the same after a restart; a musician gets in.
db=$BB_TMP/band/hub.db
serve_bg "$BB_TMP/hub1.log" --db "$db"
check "the hub came up" bb_wait_port bandbridge:main_L
check "it printed the generated password" bb_wait_for grep -q "room password: .*kept in the database $db" "$BB_TMP/hub1.log"
pw=$(pw_of "$BB_TMP/hub1.log")
check "the password has the generated form ($pw)" \
    grep -Eqx '[0-9a-z]{7}(-[0-9a-z]{7}){3}' <<<"$pw"
check "the database keeps it with a 16-byte salt" \
    grep -Eqx "[0-9A-F]{32} $pw" <<<"$(db_room "$db")"
salt1=$(db_room "$db" | cut -d' ' -f1)
check "no room file beside the database" test ! -e "$BB_TMP/band/hub.room"
check "--show-password prints it" test "$("$BB_BIN" serve --db "$db" --show-password)" = "$pw"
BANDBRIDGE_PASSWORD=$pw bb_join alice float; alice=$BB_LASTPID
check "a musician given the password joins" bb_wait_port bandbridge:alice_1
bb_kill "$alice"
BANDBRIDGE_PASSWORD=not-$pw bb_join mallory float --seconds 4; mallory=$BB_LASTPID
check "one with another password is refused" \
    bb_wait_for grep -q "Is the room password right" "$BB_TMP/mallory.log"
bb_wait_exit "$mallory" 20
check "the wrong password did not take the room key alice's run kept" \
    bash -c "! grep -q 'kept from an earlier run' '$BB_TMP/mallory.log'"
cache=$(ls "$XDG_STATE_HOME"/bandbridge/room-* 2>/dev/null | head -n 1)
check "alice's join kept the room key in the state directory, mode 0600 ($cache)" \
    test -n "$cache" -a "$(stat -c %a "$cache" 2>/dev/null)" = 600
# An identity file of an older bandbridge: kept while the hub has nothing
# stored for it, retired (renamed .migrated) once a WELCOME says the hub
# restored what it stored, now under the musician's key.
printf '00112233445566778899aabbccddeeff\n' >"$BB_TMP/id-dora"
BANDBRIDGE_PASSWORD=$pw bb_join dora float; dora=$BB_LASTPID
check "a musician with an old identity file joins" bb_wait_port bandbridge:dora_1
check "... with the room key kept by alice's run, no Argon2id" \
    grep -q "room key ready in .* kept from an earlier run" "$BB_TMP/dora.log"
bb_kill "$dora"
check "its old identity file stays (nothing stored for it yet)" test -f "$BB_TMP/id-dora"
BANDBRIDGE_PASSWORD=$pw BB_JOIN_LOG=$BB_TMP/dora2.log bb_join dora float; dora=$BB_LASTPID
check "it joins again" bb_wait_port bandbridge:dora_1
check "... restored, and its old identity file is retired" \
    bb_wait_for test -f "$BB_TMP/id-dora.migrated" -a ! -e "$BB_TMP/id-dora"
check "it said so" grep -q "the old file is now $BB_TMP/id-dora.migrated" "$BB_TMP/dora2.log"
bb_kill "$dora"
bb_kill "$hub"
serve_bg "$BB_TMP/hub2.log" --db "$db"
check "the restarted hub came up" bb_wait_port bandbridge:main_L
check "it says the password is kept, and does not print it" \
    bb_wait_for grep -q "room password kept in $db" "$BB_TMP/hub2.log"
check "... nor generate another" bash -c "! grep -q 'room password: ' '$BB_TMP/hub2.log'"
check "the same password and salt stay in the database" test "$(db_room "$db")" = "$salt1 $pw"
bb_kill "$hub"

# 2. An older hub's room file moves into the database.
old=$BB_TMP/old
mkdir -p "$old"
osalt=00112233445566778899aabbccddeeff
opw=abcdefg-hjkmnpq-rstvwxy-z012345
printf 'bandbridge-room-v1\n%s\n%s\n' "$osalt" "$opw" >"$old/hub.room"
chmod 600 "$old/hub.room"
check "--show-password reads a room file not moved yet" \
    test "$("$BB_BIN" serve --db "$old/hub.db" --show-password)" = "$opw"
serve_bg "$BB_TMP/hub3.log" --db "$old/hub.db"
check "the hub with a room file came up" bb_wait_port bandbridge:main_L
check "it logged the move" \
    bb_wait_for grep -q "moved from $old/hub.room into the database $old/hub.db; $old/hub.room removed" "$BB_TMP/hub3.log"
check "the room file is gone" test ! -e "$old/hub.room"
check "the database has the file's salt and password" \
    test "$(db_room "$old/hub.db")" = "${osalt^^} $opw"
check "--show-password prints it from the database" \
    test "$("$BB_BIN" serve --db "$old/hub.db" --show-password)" = "$opw"
BANDBRIDGE_PASSWORD=$opw bb_join bob float; bob=$BB_LASTPID
check "a musician with the old password joins" bb_wait_port bandbridge:bob_1
bb_kill "$bob"
bb_kill "$hub"

# 3. A given password is not kept.
gdb=$BB_TMP/given/hub.db
BANDBRIDGE_PASSWORD=given-password serve_bg "$BB_TMP/hub4.log" --db "$gdb"
check "the hub with BANDBRIDGE_PASSWORD came up" bb_wait_port bandbridge:main_L
check "it printed no password" bash -c "! grep -q 'room password' '$BB_TMP/hub4.log'"
check "the database keeps a salt and no password" grep -Eqx '[0-9A-F]{32} ' <<<"$(db_room "$gdb")"
"$BB_BIN" serve --db "$gdb" --show-password >"$BB_TMP/show4.out" 2>&1; rc=$?
check "--show-password has nothing to print (exit $rc)" test "$rc" -eq 1
bb_kill "$hub"
printf 'from-a-file\n' >"$BB_TMP/pwfile"
serve_bg "$BB_TMP/hub5.log" --db "$gdb" --password-file "$BB_TMP/pwfile"
check "the hub with --password-file came up" bb_wait_port bandbridge:main_L
BANDBRIDGE_PASSWORD=from-a-file bb_join carol float; carol=$BB_LASTPID
check "a musician with the file's password joins" bb_wait_port bandbridge:carol_1
bb_kill "$carol"
bb_kill "$hub"

# 4. --db none: generated per start, nothing kept.
serve_bg "$BB_TMP/hub6.log" --db none
check "the hub without a database came up" bb_wait_port bandbridge:main_L
check "it printed a password it does not keep" \
    bb_wait_for grep -q "room password: .*not kept: --db none" "$BB_TMP/hub6.log"
bb_kill "$hub"
serve_bg "$BB_TMP/hub7.log" --db none
check "again" bb_wait_port bandbridge:main_L
bb_wait_for grep -q "room password: " "$BB_TMP/hub7.log"
check "a new password at every start" \
    test "$(pw_of "$BB_TMP/hub6.log")" != "$(pw_of "$BB_TMP/hub7.log")"
bb_kill "$hub"
"$BB_BIN" serve --db none --show-password >"$BB_TMP/show6.out" 2>&1; rc=$?
check "--show-password --db none has nothing to print (exit $rc)" test "$rc" -eq 1
bb_done
