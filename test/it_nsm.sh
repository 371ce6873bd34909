#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_nsm.sh: under a session manager (NSM_URL), the hub announces itself,
# takes its JACK client name and file location from /nsm/client/open, keeps
# its database there, and answers /nsm/client/save once the state is on disk.
# So does `bandbridge join`: JACK name from the session, identity and command
# line kept in it, and started again without arguments it joins as before.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
# session_manager OUT SESSION CLIENT_ID: a fake_nsm listening (its pid in
# nsm, its URL in url) that opens SESSION for CLIENT_ID, then asks a save.
session_manager() {
    local p
    p=$(bb_free_udp_port)
    bb_bg "$1" "$BUILD/fake_nsm" "$p" "$2" "$3"
    nsm=$BB_LASTPID url=osc.udp://127.0.0.1:$p/
    bb_wait_for bash -c "ss -Hlnu '( sport = :$p )' | grep -q ."
}
port=$(bb_free_udp_port)
sess=$BB_TMP/session/bandbridge.nABCD
session_manager "$BB_TMP/nsm.out" "$sess" bbnsm
NSM_URL=$url bb_bg "$BB_TMP/hub.log" "${BB_RT[@]}" "$BB_BIN" serve \
    --port "$port" --osc-port 0
hub=$BB_LASTPID
bb_wait_exit "$nsm" 90; rc=$?
check "the session manager got /reply for open and save (rc=$rc)" test "$rc" -eq 0
check "the hub announced itself as bandbridge" grep -q "^announce bandbridge" "$BB_TMP/nsm.out"
check "open answered" grep -q "^/reply /nsm/client/open" "$BB_TMP/nsm.out"
check "save answered" grep -q "^/reply /nsm/client/save saved" "$BB_TMP/nsm.out"
check "the JACK client is named by the session" bb_wait_port bbnsm:main_L
check "the database lives in the session" test -s "$sess/hub.db"

# bandbridge join under the session manager.
jsess=$BB_TMP/session/bandbridge.nJOIN
session_manager "$BB_TMP/nsm2.out" "$jsess" bbjoin
n2=$nsm
NSM_URL=$url bb_bg "$BB_TMP/join1.log" "${BB_RT[@]}" "$BB_BIN" join \
    "127.0.0.1:$port" --name alice --no-auto-connect
j1=$BB_LASTPID
bb_wait_exit "$n2" 90; rc=$?
check "join: the session manager got /reply for open and save (rc=$rc)" test "$rc" -eq 0
check "join announced itself as bandbridge join" grep -q "^announce bandbridge join" "$BB_TMP/nsm2.out"
check "join: the JACK client is named by the session" bb_wait_port bbjoin:out_L
check "join: its identity (key pair) lives in the session" test -s "$jsess/key"
check "join: and its command line" grep -qx "127.0.0.1:$port" "$jsess/join.args"
check "join: alice joined the hub" bb_wait_for grep -q "alice joined" "$BB_TMP/hub.log"
bb_kill "$j1"; check "join exits 0" test $? -eq 0
bb_wait_no_port bbjoin:out_L
# The session starts it again, without arguments (as nsmd does).
session_manager "$BB_TMP/nsm3.out" "$jsess" bbjoin
n3=$nsm
id1=$(od -An -tx1 "$jsess/identity" | tr -d ' \n')
NSM_URL=$url bb_bg "$BB_TMP/join2.log" "${BB_RT[@]}" "$BB_BIN" join
j2=$BB_LASTPID
bb_wait_exit "$n3" 90; rc=$?
check "join without arguments: open and save answered (rc=$rc)" test "$rc" -eq 0
check "... it joins as alice again, from join.args" \
    bb_wait_for bash -c "test \$(grep -c 'alice joined' '$BB_TMP/hub.log') -ge 2"
check "... with the same identity" test "$(od -An -tx1 "$jsess/identity" | tr -d ' \n')" = "$id1"
check "... under the session's JACK name" bb_wait_port bbjoin:out_L
bb_kill "$j2"
# A new session and no arguments: refused in words, nothing started.
session_manager "$BB_TMP/nsm4.out" "$BB_TMP/session/bandbridge.nNEW" bbnew
n4=$nsm
NSM_URL=$url bb_bg "$BB_TMP/join3.log" "$BB_BIN" join
j3=$BB_LASTPID
bb_wait_exit "$j3"; rc=$?
check "join without arguments in a new session exits 2 (rc=$rc)" test "$rc" -eq 2
check "... and tells the session manager why" bb_wait_for grep -q "^/error /nsm/client/open no hub and name" "$BB_TMP/nsm4.out"
bb_kill "$n4"

bb_kill "$hub"; check "hub exits 0" test $? -eq 0
bb_check_rt
bb_done
