#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_nsm.sh: under a session manager (NSM_URL), the hub announces itself,
# takes its JACK client name and file location from /nsm/client/open, keeps
# its database there, and answers /nsm/client/save once the state is on disk.
# So does `bandbridge join`: JACK name from the session, identity and command
# line kept in it, and started again without arguments it joins as before;
# in a new session without arguments it waits for its hub and name.
# Each announces its own executable name (bandbridge-hub, bandbridge-join).
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
check "the hub announced itself as bandbridge-hub" grep -q "^announce bandbridge-hub " "$BB_TMP/nsm.out"
check "open answered" grep -q "^/reply /nsm/client/open" "$BB_TMP/nsm.out"
check "the status line names the UDP port" grep -q "^message musicians join on UDP port $port" "$BB_TMP/nsm.out"
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
check "join announced itself as bandbridge-join" grep -q "^announce bandbridge-join " "$BB_TMP/nsm2.out"
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
# A new session and no arguments: it opens, says once what it waits for
# (log and the manager's status line) and waits, until the hub and the
# name come over OSC (/bandbridge/join/setup, from this machine).
nsess=$BB_TMP/session/bandbridge-join.nNEW
session_manager "$BB_TMP/nsm4.out" "$nsess" "bandbridge join.nNEW"
n4=$nsm
NSM_URL=$url bb_bg "$BB_TMP/join3.log" "$BB_BIN" join
j3=$BB_LASTPID
check "join without arguments in a new session answers the open" \
    bb_wait_for grep -q "^/reply /nsm/client/open waiting for the hub's address" "$BB_TMP/nsm4.out"
check "... says what it waits for" \
    bb_wait_for grep -q "waiting for the hub's address and a name" "$BB_TMP/join3.log"
check "... also in the manager's status line" \
    bb_wait_for grep -q "^message waiting for the hub's address and a name" "$BB_TMP/nsm4.out"
check "... and keeps waiting" kill -0 "$j3"
sport=$(sed -n "s/.* to UDP port \([0-9]*\) on this machine.*/\1/p" "$BB_TMP/join3.log" | head -1)
python3 "$BB_ROOT/test/oscpeer.py" send --expect 1 --wait 10 127.0.0.1 "$sport" \
    /bandbridge/join/setup "127.0.0.1:$port" carol >"$BB_TMP/setup.out"
check "/bandbridge/join/setup answered" grep -q "^/reply /bandbridge/join/setup joining" "$BB_TMP/setup.out"
check "... written to join.args" grep -qx carol "$nsess/join.args"
check "... carol joined the hub" bb_wait_for grep -q "carol joined" "$BB_TMP/hub.log"
check "... the wait was said once" \
    test "$(grep -c "waiting for the hub's address" "$BB_TMP/join3.log")" -eq 1
check "... a space in the client id is not in the JACK name" bb_wait_port "bandbridge-join.nNEW:out_L"
bb_kill "$j3"; check "the join exits 0" test $? -eq 0
kill -0 "$n4" 2>/dev/null && bb_kill "$n4"
bb_kill "$hub"; check "hub exits 0" test $? -eq 0
bb_check_rt
bb_done
