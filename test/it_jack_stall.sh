#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_jack_stall.sh: a stopped jackd delays nothing but JACK ports
# (DESIGN.md rule 8). The hub runs on JACK server A, its musicians' joins on
# a second server B. A is stopped (SIGSTOP) for 3 s while a controller asks
# the hub /info every 100 ms, one musician leaves and another joins: every
# query is answered within 50 ms, the leave and the join are logged by the
# hub within 100 ms of the musician's own log line, and once A runs again
# its ports are the ones of who is there now. Then the hub is told to stop
# (SIGTERM) while A is stopped again: it exits 0 within a bounded wait.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd A starts"; bb_done; }
A_PID=$BB_JACK_PID
# Never leave jackd A stopped, whatever ends the test (then the usual cleanup).
trap 'rc=$?; kill -CONT "$A_PID" 2>/dev/null; (exit $rc); bb_cleanup' EXIT

# Server B for the musicians: the hub's stall must not reach their side.
B=bbtB_$$_$RANDOM
bb_bg "$BB_TMP/jackdB.log" jackd -n "$B" -d dummy -r 48000 -p 64
check "jackd B starts" bb_wait_for env JACK_DEFAULT_SERVER="$B" jack_lsp

QUERY_MS=${QUERY_MS:-50} # the issue's bounds
LOG_MS=${LOG_MS:-100}
STOP_S=3

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db "$BB_TMP/hub.db"
hub=$BB_LASTPID
check "hub is up" bb_wait_port bandbridge:main_L
join() { # name: a musician on server B
    bb_bg "$BB_TMP/$1.log" env JACK_DEFAULT_SERVER="$B" "$BB_BIN" join "127.0.0.1:$port" \
        --name "$1" --codec pcm16 --no-auto-connect --identity "$BB_TMP/id-$1"
}
join alice; alice=$BB_LASTPID
join bob; bob=$BB_LASTPID
check "alice's ports on A" bb_wait_port bandbridge:alice_1
check "bob's ports on A" bb_wait_port bandbridge:bob_1

# Wall-clock microseconds of the first log line (HH:MM:SS.mmm) of FILE matching REGEX.
log_us() {
    local t
    t=$(grep -E -- "$2" "$1" | head -1 | cut -d' ' -f1)
    [[ -n $t ]] && date -d "$t" +%s%6N
}
# The controller: /info every 100 ms until $1 (us); "start_us duration_us rc" a line.
# One UDP socket of bash's own (no process started per query: on this
# loaded 2-core machine starting `bandbridge ctl` alone takes 60-600 ms).
# A one-byte read consumes one whole datagram: the answer's arrival.
qloop() {
    local t0 t1 rc b t
    exec 3<>"/dev/udp/127.0.0.1/$osc" || return 1
    exec 4<> <(:) # never readable: read -t on it is a sleep without a process
    while :; do
        t=$EPOCHREALTIME; t0=$(( ${t%[.,]*} * 1000000 + 10#${t#*[.,]} ))
        (( t0 < $1 )) || break
        printf '/info\0\0\0,\0\0\0' >&3
        rc=0
        read -r -t 2 -N 1 -u 3 b || rc=1
        t=$EPOCHREALTIME; t1=$(( ${t%[.,]*} * 1000000 + 10#${t#*[.,]} ))
        echo "$t0 $(( t1 - t0 )) $rc"
        read -r -t 0.1 -u 4 b # the controller's pace, not a synchronisation
    done
}
slots() { "$BB_BIN" ctl --port "$osc" /slots 2>/dev/null; }
# dist FILE FROM TO: "n=.. median=.. p90=.. max=.. ms" of the durations of queries started in [FROM, TO).
dist() {
    awk -v a="$2" -v b="$3" '$1 >= a && $1 < b { print $2 / 1000 }' "$1" | sort -n |
        awk '{ d[++n] = $1 } END { if (!n) { print "n=0"; exit }
             p = int(n * 0.9 + 0.5); if (p < 1) p = 1
             printf "n=%d median=%.1f p90=%.1f max=%.1f ms", n, d[int((n + 1) / 2)], d[p], d[n] }'
}

t_base=$(bb_now_us)
bb_bg "$BB_TMP/queries.txt" qloop $(( t_base + (STOP_S + 3) * 1000000 ))
qpid=$BB_LASTPID
sleep 1 # a second of queries with jackd running, the baseline; not a synchronisation

t_stop=$(bb_now_us)
kill -STOP "$A_PID"
sleep 0.5 # into the stop
kill -TERM "$alice" # she says LEAVE; the hub must take it now
sleep 0.3
join carol; carol=$BB_LASTPID
check "the hub takes carol's join while jackd is stopped" \
    bb_wait_for grep -q "carol joined from" "$BB_TMP/hub.log"
check "the hub takes alice's leave while jackd is stopped" \
    bb_wait_for grep -q "alice left; fading out" "$BB_TMP/hub.log"
check "/slots lists bob and carol, not alice, while jackd is stopped ($(slots))" \
    bash -c "s=\$('$BB_BIN' ctl --port $osc /slots 2>/dev/null); [[ \$s == *carol* && \$s == *bob* && \$s != *alice* ]]"
check "the hub still runs" kill -0 "$hub"
n=$(( t_stop + STOP_S * 1000000 - $(bb_now_us) ))
(( n > 0 )) && sleep "$(awk -v u="$n" 'BEGIN { printf "%.6f", u / 1e6 }')" # the stop's length
t_cont=$(bb_now_us)
kill -CONT "$A_PID"

bb_wait_exit "$qpid" 10
bb_log "queries before the stop: $(dist "$BB_TMP/queries.txt" "$t_base" "$t_stop")"
bb_log "queries during the stop: $(dist "$BB_TMP/queries.txt" "$t_stop" "$t_cont")"
bb_log "queries after the stop:  $(dist "$BB_TMP/queries.txt" "$t_cont" 99999999999999999)"
during=$(awk -v a="$t_stop" -v b="$t_cont" '$1 >= a && $1 < b' "$BB_TMP/queries.txt" | wc -l)
check "queries ran during the stop ($during)" test "$during" -ge $(( STOP_S * 5 ))
check "every query during the stop answered" \
    bash -c "! awk -v a=$t_stop -v b=$t_cont '\$1 >= a && \$1 < b && \$3 != 0' '$BB_TMP/queries.txt' | grep -q ."
slow=$(awk -v a="$t_stop" -v b="$t_cont" -v m="$QUERY_MS" '$1 >= a && $1 < b && $2 > m * 1000' "$BB_TMP/queries.txt" | wc -l)
check "every query during the stop answered within $QUERY_MS ms ($slow slower: $(dist "$BB_TMP/queries.txt" "$t_stop" "$t_cont"))" \
    test "$slow" -eq 0

leave_said=$(log_us "$BB_TMP/alice.log" "leaving the hub")
leave_seen=$(log_us "$BB_TMP/hub.log" "alice left; fading out")
# Asked: her JOIN, sent once the room key is derived from the password
# (Argon2id, a few hundred ms on a loaded machine: the hub is not in it).
join_said=$(log_us "$BB_TMP/carol.log" "asking to join")
join_seen=$(log_us "$BB_TMP/hub.log" "carol joined from")
check "the hub logged alice's leave $(( (${leave_seen:-0} - ${leave_said:-0}) / 1000 )) ms after she sent it (<= $LOG_MS ms)" \
    test -n "$leave_said" -a -n "$leave_seen" -a $(( ${leave_seen:-0} - ${leave_said:-0} )) -le $(( LOG_MS * 1000 ))
check "the hub logged carol's join $(( (${join_seen:-0} - ${join_said:-0}) / 1000 )) ms after she asked (<= $LOG_MS ms)" \
    test -n "$join_said" -a -n "$join_seen" -a $(( ${join_seen:-0} - ${join_said:-0} )) -le $(( LOG_MS * 1000 ))

# Once A runs again, its ports follow: carol's come, alice's go.
check "carol's ports appear on A after SIGCONT" bb_wait_port bandbridge:carol_1 10
check "alice's ports are gone from A" bb_wait_no_port bandbridge:alice_1 10
check "bob's ports stay" bb_has_port bandbridge:bob_1
check "the hub logged alice gone after the stop" bb_wait_for grep -q "alice is gone" "$BB_TMP/hub.log"
bb_wait_exit "$alice" 5; check "alice's join exited 0" test $? -eq 0

# SIGTERM with jackd stopped: the hub must not wait for it for ever.
kill -STOP "$A_PID"
t0=$(bb_now_us)
kill -TERM "$hub"
bb_wait_exit "$hub" 8
rc=$?
ms=$(( ($(bb_now_us) - t0) / 1000 ))
kill -CONT "$A_PID"
check "the hub exits 0 on SIGTERM while jackd is stopped (exit $rc after $ms ms)" test "$rc" -eq 0
check "... within 5 s" test "$ms" -le 5000
bb_done
