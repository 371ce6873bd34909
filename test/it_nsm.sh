#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_nsm.sh: under a session manager (NSM_URL), the hub announces itself,
# takes its JACK client name and file location from /nsm/client/open, keeps
# its database there, and answers /nsm/client/save once the state is on disk.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
nsm_port=$(bb_free_udp_port)
port=$(bb_free_udp_port)
sess=$BB_TMP/session/bandbridge.nABCD
bb_bg "$BB_TMP/nsm.out" "$BUILD/fake_nsm" "$nsm_port" "$sess" bbnsm
nsm=$BB_LASTPID
BB_WAIT=5 bb_wait_for bash -c "ss -Hlnu '( sport = :$nsm_port )' | grep -q ."
NSM_URL=osc.udp://127.0.0.1:$nsm_port/ bb_bg "$BB_TMP/hub.log" "${BB_RT[@]}" "$BB_BIN" serve \
    --port "$port" --osc-port 0
hub=$BB_LASTPID
bb_wait_exit "$nsm" 20; rc=$?
check "the session manager got /reply for open and save (rc=$rc)" test "$rc" -eq 0
check "the hub announced itself as bandbridge" grep -q "^announce bandbridge" "$BB_TMP/nsm.out"
check "open answered" grep -q "^/reply /nsm/client/open" "$BB_TMP/nsm.out"
check "save answered" grep -q "^/reply /nsm/client/save saved" "$BB_TMP/nsm.out"
check "the JACK client is named by the session" bb_wait_port bbnsm:main_L
check "the database lives in the session" test -s "$sess/hub.db"
bb_kill "$hub"; check "hub exits 0" test $? -eq 0
bb_check_rt
bb_done
