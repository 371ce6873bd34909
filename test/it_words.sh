#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_words.sh: what a user sees when something is wrong, in plain words
# (bandbridge(1), DIAGNOSTICS). Checks, each on the program's stderr and
# exit status:
#   typos: an unknown option or command is one line with "did you mean"
#   and a pointer to --help, not the usage; a bad codec lists the valid
#   ones; an option without its value says so;
#   a join to a hub that is not there says so every few seconds with the
#   likely causes and the address it tries, and --seconds running out
#   without ever being in a session ends with exit status 3;
#   a second hub with a taken JACK client name, a taken UDP port, a taken
#   OSC port: one line each that says which and which option changes it,
#   and none of libjack's or liblo's own lines;
#   names are compared without case (Bob is refused while bob is here),
#   and "bob 2" (bob_2) is refused while bob has channels bob_1, bob_2.
. "$(dirname "$0")/lib.sh"
bb_init

# run_cmd NAME CMD...: runs CMD, stderr to $BB_TMP/NAME.err; sets rc.
run_cmd() {
    local n=$1
    shift
    rc=0
    "$@" >"$BB_TMP/$n.out" 2>"$BB_TMP/$n.err" </dev/null || rc=$?
}
lines() { wc -l <"$1"; }
# one_line NAME RC TEXT...: exit status RC, stderr one line holding every TEXT.
one_line() {
    local n=$1 want=$2 t
    shift 2
    [ "$rc" = "$want" ] || { echo "exit $rc, not $want" >&2; return 1; }
    [ "$(lines "$BB_TMP/$n.err")" = 1 ] || { cat "$BB_TMP/$n.err" >&2; return 1; }
    for t in "$@"; do grep -qF -- "$t" "$BB_TMP/$n.err" || { echo "no '$t' in: $(cat "$BB_TMP/$n.err")" >&2; return 1; }; done
}

# 1. Typos and bad values: no JACK needed, nothing starts.
run_cmd prot "$BB_BIN" serve --prot 48200
check "serve --prot: one line, did you mean --port, --help ($(cat "$BB_TMP/prot.err"))" \
    one_line prot 2 "unknown option --prot" "did you mean --port?" "bandbridge serve --help"
run_cmd serv "$BB_BIN" serv
check "bandbridge serv: one line, did you mean 'serve' ($(cat "$BB_TMP/serv.err"))" \
    one_line serv 2 "unknown command 'serv'" "did you mean 'serve'?" "--help"
run_cmd codec "$BB_BIN" join 127.0.0.1 --name a --codec opus-hq
check "join --codec opus-hq: one line listing the codecs ($(cat "$BB_TMP/codec.err"))" \
    one_line codec 2 "bad value 'opus-hq' for --codec" opus, opus-ld opus-std pcm16 pcm24 float
run_cmd chan "$BB_BIN" join 127.0.0.1 --name a --chanels 2
check "join --chanels: did you mean --channels ($(cat "$BB_TMP/chan.err"))" \
    one_line chan 2 "did you mean --channels?" "bandbridge join --help"
run_cmd once "$BB_BIN" status --onse
check "status --onse: did you mean --once ($(cat "$BB_TMP/once.err"))" \
    one_line once 2 "did you mean --once?"
run_cmd ctlp "$BB_BIN" ctl --prot 9 /info
check "ctl --prot: did you mean --port ($(cat "$BB_TMP/ctlp.err"))" one_line ctlp 2 "did you mean --port?"
run_cmd noval "$BB_BIN" serve --port
check "serve --port without a value says so ($(cat "$BB_TMP/noval.err"))" \
    one_line noval 2 "--port needs a value"
run_cmd badport "$BB_BIN" serve --port 70000
check "serve --port 70000 says what a port is ($(cat "$BB_TMP/badport.err"))" \
    one_line badport 2 "bad value '70000' for --port" "1 to 65535"
run_cmd amb "$BB_BIN" serve --os 1
check "serve --os: says what it could be ($(cat "$BB_TMP/amb.err"))" \
    one_line amb 2 "--os could be" "--osc-port" "--osc-bind"

bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

# 2. A hub that is not there: nothing listens on $none.
none=$(bb_free_udp_port)
bb_bg "$BB_TMP/lonely.log" "$BB_BIN" join "127.0.0.1:$none" --name lonely --no-auto-connect \
    --identity "$BB_TMP/id-lonely" --seconds 12
lonely=$BB_LASTPID
rc=0; bb_wait_exit "$lonely" 60 || rc=$?
nags=$(grep -c "no answer from the hub at 127.0.0.1:$none" "$BB_TMP/lonely.log")
bb_log "$(grep -m1 'no answer' "$BB_TMP/lonely.log")"
check "--seconds ran out without a session: exit 3 (got $rc)" test "$rc" = 3
check "... and it says so" grep -q -- "--seconds ran out and the hub at 127.0.0.1:$none never let us in (no answer)" "$BB_TMP/lonely.log"
check "the silence is reported again and again in 12 s ($nags times)" test "$nags" -ge 2
check "... with the likely causes: hub down, UDP port $none not forwarded, firewall, address" \
    grep -q "is the hub running? is UDP port $none forwarded to it by its router and open in its firewall? is the address right" "$BB_TMP/lonely.log"

# 3. A hub, then a second one that collides with it three ways.
port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve -n bbw --port "$port" --osc-port "$osc" --db none
hub=$BB_LASTPID
check "the first hub is up" bb_wait_port bbw:main_L
check "... and answers OSC" bb_wait_for ctl /info
# only_ours FILE: every line is one of bandbridge's log lines (no libjack, no liblo).
only_ours() { ! grep -v ' bandbridge: ' "$1" | grep -q .; }
port2=$(bb_free_udp_port)
osc2=$(bb_free_udp_port)
run_cmd samejack "$BB_BIN" serve -n bbw --port "$port2" --osc-port "$osc2" --db none
check "a second hub -n bbw: exit 1" test "$rc" = 1
check "... one error line: the JACK name is taken, pick another with -n ($(grep error: "$BB_TMP/samejack.err"))" \
    bash -c "[ \$(grep -c 'error:' '$BB_TMP/samejack.err') = 1 ] && grep -q \"error: the JACK client name 'bbw' is taken (another bandbridge running?); pick another with -n NAME\" '$BB_TMP/samejack.err'"
check "... and no libjack lines" only_ours "$BB_TMP/samejack.err"
run_cmd sameudp "$BB_BIN" serve -n bbw2 --port "$port" --osc-port "$osc2" --db none
check "a second hub on UDP port $port: exit 1, one line naming the port and --port ($(grep error: "$BB_TMP/sameudp.err"))" \
    bash -c "[ $rc = 1 ] && [ \$(grep -c 'error:' '$BB_TMP/sameudp.err') = 1 ] && grep -q 'error: UDP port $port is in use (another hub running?); pick another with --port N' '$BB_TMP/sameudp.err'"
run_cmd sameosc "$BB_BIN" serve -n bbw3 --port "$port2" --osc-port "$osc" --db none
check "a second hub on OSC port $osc: exit 1, one line naming the port and --osc-port ($(grep error: "$BB_TMP/sameosc.err"))" \
    bash -c "[ $rc = 1 ] && [ \$(grep -c 'error:' '$BB_TMP/sameosc.err') = 1 ] && grep -q 'error: OSC port $osc is in use (another hub or program?); pick another with --osc-port N' '$BB_TMP/sameosc.err'"
check "... no liblo 'error 9904' or other noise" only_ours "$BB_TMP/sameosc.err"
check "the first hub kept running" kill -0 "$hub"

# 4. Names: without case, and not another musician's channel port.
bb_join bob float --channels 2; bob=$BB_LASTPID
check "bob joined with two channels: bbw:bob_1, bbw:bob_2" bb_wait_port bbw:bob_2
BB_JOIN_LOG=$BB_TMP/Bob.log bb_join Bob float --seconds 5; big=$BB_LASTPID
rc=0; bb_wait_exit "$big" 60 || rc=$?
check "Bob is refused while bob is here (exit 1, got $rc)" test "$rc" = 1
check "... the name is taken, compared without case ($(grep -m1 refused "$BB_TMP/Bob.log"))" \
    grep -q "the name 'Bob' is taken by another musician ('bob'); choose another with --name" "$BB_TMP/Bob.log"
BB_JOIN_LOG=$BB_TMP/bob2.log bb_join "bob 2" float --identity "$BB_TMP/id-bob2" --seconds 5; b2=$BB_LASTPID
rc=0; bb_wait_exit "$b2" 60 || rc=$?
check "'bob 2' (bob_2) is refused while bob has bob_2 (exit 1, got $rc)" test "$rc" = 1
check "... it clashes with bob's channel ports ($(grep -m1 refused "$BB_TMP/bob2.log"))" \
    grep -q "the name 'bob_2' clashes with bob's channel ports; choose another with --name" "$BB_TMP/bob2.log"
musician_ports() { jack_lsp | grep '^bbw:' | grep -v '^bbw:main_\|^bbw:in_' | xargs; }
check "... bob's channels are still his, and nobody else got ports ($(musician_ports))" \
    test "$(musician_ports)" = "bbw:bob_1 bbw:bob_2"
check "the hub lists bob only" test "$(q /clients)" = bob
bb_join carol float; carol=$BB_LASTPID
check "carol joined" bb_wait_port bbw:carol_1
check "a rename of carol to BOB is refused the same way" bb_refused "another musician has that name" \
    /client/carol/rename BOB
bb_kill "$carol"
bb_kill "$bob"
bb_done
