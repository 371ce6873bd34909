#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_osc.sh: OSC feedback, meters and access (bandbridge-osc(7)). Controllers
# are oscdump (liblo-tools), registered with /subscribe LEASE PORT sent by
# oscsend or `bandbridge ctl` from the same host: the explicit reply port.
# Checks: a change made by one controller reaches another registered one
# (with its gain/fader counterpart) and a query answers the value; join and
# leave notices; meters arrive at 20-30 Hz and show a musician's tone; a
# lease that is not renewed ends; malformed messages are refused with
# /error and change nothing; an address outside --osc-allow and a missing
# or wrong --osc-password are refused with /error (with a password, every
# query but /info too, and /auth opens one address and port); --osc-bind binds; slot
# numbers work wherever names do and a "slots" lease is fed back in them;
# /channels, /info, /stats, /status and `bandbridge status` answer; `ctl`
# uses a reply port of its own per call and prints only the answer to its
# query (not a lease's feedback, nor an /error about another address).
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
command -v oscdump >/dev/null && command -v oscsend >/dev/null ||
    { not_ok "oscdump and oscsend (liblo-tools) are installed"; bb_done; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
    --db "$BB_TMP/hub.db" -v
hub=$BB_LASTPID
export BB_BIN osc

check "hub is up" bb_wait_port bandbridge:main_L
bb_join alice float --jack-name bb-alice --tone 440; alice=$BB_LASTPID
bb_join bob float --jack-name bb-bob; bob=$BB_LASTPID
check "alice joined" bb_wait_port bandbridge:alice_1
check "bob joined" bb_wait_port bandbridge:bob_1

# 1. Feedback: B (oscdump) registers with an explicit reply port; A (ctl,
# its own port every time) sets values.
bb_osc_dump fb; fbport=$dport; fb=$BB_TMP/fb.dump
oscsend 127.0.0.1 "$osc" /subscribe ii 60 "$fbport"
check "/subscribe is acknowledged on the reply port" bb_wait_for bb_osc_seen "$fb" '^/subscribe i 60$'
check "a new controller gets the musician list" \
    bb_wait_for bb_osc_seen "$fb" '^/clients ss ("alice" "bob"|"bob" "alice")$'
ctl /mix/bob/ch/alice/gain -6
check "a gain set by another controller reaches the registered one" \
    bb_wait_for bb_osc_seen "$fb" '^/mix/bob/ch/alice/gain f -6(\.0*)?$'
check "... with the matching fader position (0.6)" bb_osc_seen "$fb" '^/mix/bob/ch/alice/fader f 0\.60*$'
check "a query returns the value set" test "$(q /mix/bob/ch/alice/gain)" = -6
oscsend 127.0.0.1 "$osc" /mix/main/ch/bob/fader f 0.5
check "a fader move is fed back with its gain (-10 dB)" \
    bb_wait_for bb_osc_seen "$fb" '^/mix/main/ch/bob/gain f -10(\.0*)?$'
ctl /mix/alice/ch/in_1/mute 1
check "a mute is fed back" bb_wait_for bb_osc_seen "$fb" '^/mix/alice/ch/in_1/mute i 1$'
ctl /send/alice/gain -4
check "a send level is fed back with its fader" \
    bb_wait_for bb_osc_seen "$fb" '^/send/alice/fader f 0\.650*$'

# 2. Join and leave notices.
bb_join carol float --jack-name bb-carol; carol=$BB_LASTPID
check "a join is announced" bb_wait_for bb_osc_seen "$fb" '^/joined s "carol"$'
check "... with the new list" bb_wait_for bb_osc_seen "$fb" '^/clients sss .*"carol"'
bb_kill "$carol"
check "a leave is announced" bb_wait_for bb_osc_seen "$fb" '^/left s "carol"$'

# 3. Meters: 25 bundles a second, alice's tone (0.25 peak, -12 dBFS) visible.
bb_osc_dump met; met=$BB_TMP/met.dump
oscsend 127.0.0.1 "$osc" /meters/subscribe ii 10 "$dport"
check "meters start" bb_wait_for bb_osc_seen "$met" '^/meter/mix/main ffff '
rate=$(bb_osc_rate "$met" '^/meter/mix/main ')
check "meters arrive at 20-30 Hz ($rate Hz)" test "$rate" -ge 20 -a "$rate" -le 30
peak=$(grep -E ' /meter/ch/alice_1 ff ' "$met" | tail -1 | awk '{ print $4 }')
check "alice's tone reads about -12 dBFS peak ($peak)" \
    bash -c "bb() { awk -v a=\"\$1\" 'BEGIN { exit !(a > -13 && a < -11) }'; }; bb '$peak'"
bpeak=$(grep -E ' /meter/ch/bob_1 ff ' "$met" | tail -1 | awk '{ print $4 }')
check "bob's silence reads -120 ($bpeak)" awk -v a="$bpeak" 'BEGIN { exit !(a == -120) }'
check "a personal mix is metered (alice hears her tone)" \
    bash -c "grep -E ' /meter/mix/alice ffff ' '$met' | tail -1 | awk '{ exit !(\$4 > -20) }'"
check "meters go only to meter subscribers" bash -c "! grep -q ' /meter/' '$fb'"

# 4. A lease that is not renewed ends.
bb_osc_dump short; short=$BB_TMP/short.dump
oscsend 127.0.0.1 "$osc" /subscribe ii 2 "$dport"
check "a 2 s lease is acknowledged" bb_wait_for bb_osc_seen "$short" '^/subscribe i 2$'
ctl /mix/bob/ch/alice/pan -0.25
check "... and receives changes while live" bb_wait_for bb_osc_seen "$short" '^/mix/bob/ch/alice/pan f -0\.250*$'
check "the hub ends the lease" bb_wait_for grep -q "127.0.0.1:$dport: feedback lease expired" "$BB_TMP/hub.log"
sleep 1 # 3 s after subscribing: past the lease by any measure
ctl /mix/bob/ch/alice/pan 0.25
check "a live controller gets the next change" bb_wait_for bb_osc_seen "$fb" '^/mix/bob/ch/alice/pan f 0\.250*$'
check "the expired controller gets nothing more" bash -c "! grep -q 'pan f 0.25' '$short'"
oscsend 127.0.0.1 "$osc" /unsubscribe i "$dport" # not subscribed any more: an /error to oscsend
check "renewing a lease answers again" bash -c "oscsend 127.0.0.1 $osc /subscribe ii 30 $fbport"
check "... on the reply port" bb_wait_for bb_osc_seen "$fb" '^/subscribe i 30$'

# 5. Malformed messages: /error (ctl exits 1) and nothing changes.
before=$(bb_osc_count "$fb" '^/mix/bob/ch/alice/gain ')
big=$(head -c 10240 /dev/zero | tr '\0' x)
check "a string for a gain is refused" bb_refused "expected one number" /mix/bob/ch/alice/gain loud
check "gain 99 is refused" bb_refused "value out of range" /mix/bob/ch/alice/gain 99
check "an unknown mix is refused" bb_refused "no musician of that name" /mix/nobody/ch/alice/gain -3
check "an unknown source is refused" bb_refused "no source of that name" /mix/bob/ch/nobody/gain -3
check "an unknown parameter is refused" bb_refused "unknown parameter" /mix/bob/ch/alice/volume -3
check "a 10 kB string argument is refused" bb_refused "expected one number" /mix/bob/ch/alice/gain "$big"
check "a 10 kB address is refused" bb_refused "expected /mix/" "/mix/$big/ch/alice/gain" -3
check "two values are refused" bb_refused "expected one number" /mix/bob/ch/alice/gain -3 -4
check "a lease of 99 s is refused" bb_refused "lease out of range" /subscribe 99
check "a fractional lease is refused" bb_refused "expected [i:lease_seconds]" /subscribe 1.5
check "a string that is no style is refused" bb_refused "style is" /subscribe ten
check "an unknown address is refused" bb_refused "unknown address" /nowhere 1
check "after all that the gain is still -6" test "$(q /mix/bob/ch/alice/gain)" = -6
check "... and no controller was told of a change" test "$(bb_osc_count "$fb" '^/mix/bob/ch/alice/gain ')" = "$before"
check "the hub is still running" kill -0 "$hub"

# 6. Slot numbers, for fixed layouts: /slots, /slot/<n>/name, numbers in
# /mix and /send, feedback in slot form to a lease that asks for it, a
# musician who comes back gets their number back; /channels, /info,
# /stats, /status and `bandbridge status`.
slots=$(q /slots)
na=$(bb_slot_of alice "$slots")
nb=$(bb_slot_of bob "$slots")
check "/slots lists alice and bob with their numbers ($slots)" test -n "$na" -a -n "$nb"
check "/slot/$na/name is alice" test "$(q /slot/$na/name)" = alice
check "an empty slot's name is empty" test -z "$(q /slot/9/name)"
check "/channels lists every source" test "$(q /channels)" = "in_1 in_2 $( ((na < nb)) && echo alice_1 bob_1 || echo bob_1 alice_1)"
info=$(q /info)
check "/info: rate, period, version, codecs, max clients, inputs ($info)" \
    bash -c "awk '{ exit !(\$1 == 48000 && \$2 == 64 && \$4 ~ /opus/ && \$4 ~ /float/ && \$5 == 128 && \$6 == 2) }' <<<'$info'"
bb_osc_dump sl; slport=$dport; sl=$BB_TMP/sl.dump
ctl /subscribe 30 "$slport" slots
check "a slots lease learns every slot's name" bb_wait_for bb_osc_seen "$sl" "^/slot/$na/name s \"alice\"$"
check "... empty ones too" bb_osc_seen "$sl" '^/slot/64/name s ""$'
ctl /mix/bob/ch/alice/gain -3
check "a change by name reaches a slots lease by number" \
    bb_wait_for bb_osc_seen "$sl" "^/mix/$nb/ch/$na/gain f -3(\.0*)?$"
check "... and a names lease by name" bb_wait_for bb_osc_seen "$fb" '^/mix/bob/ch/alice/gain f -3(\.0*)?$'
ctl /mix/$nb/ch/$na/gain -6
check "a change by number reaches a names lease by name" \
    bb_wait_for bb_osc_seen "$fb" '^/mix/bob/ch/alice/gain f -6(\.0*)?$'
check "a query by number (zero-padded) answers the value" test "$(q /mix/0$nb/ch/0$na/gain)" = -6
ctl /mix/main/ch/$na.1/pan 0.5
check "n.k names channel k of slot n" bb_wait_for bb_osc_seen "$fb" '^/mix/main/ch/alice/pan f 0\.50*$'
ctl /send/$na/gain -2
check "/send by number is fed back by number" bb_wait_for bb_osc_seen "$sl" "^/send/$na/gain f -2(\.0*)?$"
ctl /mix/main/ch/$na/pan 0; ctl /send/$na/gain -4
check "a bad style is refused" bb_refused "style is" /subscribe 10 0 fancy
check "a slot beyond --max-clients is refused" bb_refused "expected /slot/" /slot/999/name
check "a slot's name cannot be set to a reserved one" bb_refused "reserved by the hub" /slot/1/name main
bb_join carol float --jack-name bb-carol; carol=$BB_LASTPID
check "carol is back" bb_wait_port bandbridge:carol_1
nc=$(bb_slot_of carol "$(q /slots)")
check "carol gets the slot she had (3, got $nc)" test "$nc" = 3
check "a slots lease is told who took the slot" bb_wait_for bb_osc_seen "$sl" '^/slot/3/name s "carol"$'
ctl /meters/subscribe 10 "$slport" slots
check "slot meters: a musician is one meter by number" bb_wait_for bb_osc_seen "$sl" "^/meter/ch/$na ff "
check "... and so is their mix" bb_osc_seen "$sl" "^/meter/mix/$na ffff "
check "... local inputs keep their names" bb_osc_seen "$sl" '^/meter/ch/in_1 ff '
bb_kill "$carol"
check "a leave empties the slot for a slots lease" bb_wait_for bb_osc_seen "$sl" '^/slot/3/name s ""$'
stats=$(q /stats)
check "/stats counts OSC messages and database transactions ($stats)" \
    bash -c "awk '{ for (i = 1; i < NF; i += 2) v[\$i] = \$(i + 1); exit !(v[\"osc_messages\"] > 20 && v[\"osc_errors\"] > 5 && (\"db_transactions\" in v) && v[\"clients\"] == 2) }' <<<'$stats'"
check "/stats times the control loop: its longest turn and its slow turns ($stats)" \
    bash -c "awk '{ for (i = 1; i < NF; i += 2) v[\$i] = \$(i + 1); exit !(v[\"loop_max_us\"] > 0 && (\"loop_slow\" in v)) }' <<<'$stats'"
"$BB_BIN" status --port "$osc" --once >"$BB_TMP/status.txt" 2>&1; rc=$?
check "bandbridge status --once exits 0" test "$rc" = 0
check "... with a row per musician: slot, name, codec" bash -c \
    "grep -Eq '^ *$na +alice +[^ ]+ +float +1 ' '$BB_TMP/status.txt' && grep -Eq '^ *$nb +bob ' '$BB_TMP/status.txt'"
check "... and alice's tone as her level" bash -c \
    "awk '\$2 == \"alice\" { exit !(\$(NF - 1) > -13 && \$(NF - 1) < -11) }' '$BB_TMP/status.txt'"
# ctl prints an answer of several messages whole: /status/client per
# musician (address first), then /status/end with the count. The last two
# fields (drift_ppm, resampling): one JACK server clocks hub and musicians
# here, so nothing is resampled (the estimate is 0 for the first 15 s, and
# then a few ppm of this VM's noise).
"$BB_BIN" ctl --port "$osc" /status >"$BB_TMP/ctl-status.txt" 2>&1; rc=$?
check "ctl /status prints every musician and the end ($(tr '\n' '|' <"$BB_TMP/ctl-status.txt"))" bash -c \
    "test $rc = 0 && grep -Eq '^/status/client $na alice .* -?[0-9]+ 0\$' '$BB_TMP/ctl-status.txt' && grep -Eq '^/status/client $nb bob .* -?[0-9]+ 0\$' '$BB_TMP/ctl-status.txt' && grep -qx '/status/end 2' '$BB_TMP/ctl-status.txt'"
"$BB_BIN" status --port "$(bb_free_udp_port)" --once >/dev/null 2>&1; rc=$?
check "bandbridge status exits 3 when no hub answers" test "$rc" = 3

# 7. `bandbridge ctl` hears on a port of its own every time, and prints
# only the answer to its query: a lease an earlier `ctl /subscribe` took
# (on that call's port) never leaks into a later call. Two calls are told
# apart by the hub (two new leases logged, not one renewed); a set after
# them is silent; and a ctl whose reply port does get a lease's feedback
# (the hub told to send it there), an /error about another address and
# then its answer prints the answer alone.
sub5() { # PORT...: the reply ports of the 5 s leases the hub has logged
    grep -oE 'OSC controller 127\.0\.0\.1:[0-9]+ subscribed to feedback \(lease 5 s\)' \
        "$BB_TMP/hub.log" | sed -E 's/.*:([0-9]+) .*/\1/' | sort -u | xargs; }
# Back to back: liblo's port is 10000 + (rand() + time()) % 10000, so
# unseeded, calls within one second shared it.
out1=$(ctl /subscribe 5 2>&1); rc1=$?
out2=$(ctl /subscribe 5 2>&1); rc2=$?
out=$(ctl /mix/alice/ch/bob/gain -6 2>&1); rc=$?
check "ctl /subscribe takes a lease on its reply port ($out1, rc $rc1)" test "$rc1" = 0 -a "$out1" = 5
check "... a second call too ($out2, rc $rc2)" test "$rc2" = 0 -a "$out2" = 5
nports() { test "$(wc -w <<<"$(sub5)")" = "$1"; }
check "two ctl calls use two reply ports: two new leases ($(sub5))" bb_wait_for nports 2
check "a set after them prints nothing and exits 0 (rc $rc, '${out//$'\n'/|}')" \
    test "$rc" = 0 -a -z "$out"
check "... and it took effect" test "$(q /mix/alice/ch/bob/gain)" = -6
check "a zero-padded slot query is answered (as /slot/$na/name)" test "$(q /slot/0$na/name)" = alice
bb_osc_dump sink; sink=$dport; sinkd=$BB_TMP/sink.dump
bb_bg "$BB_TMP/late.out" "$BB_BIN" ctl --port "$sink" --timeout 120 /info; late=$BB_LASTPID
ctl_port() { # the reply port of ctl $late, once it listens
    cport=$(ss -Hlnup 2>/dev/null | awk -v p="pid=$late," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
    test -n "$cport"
}
check "a ctl waiting for an answer listens on its reply port" bb_wait_for ctl_port
check "... its /info went out (to an oscdump, which answers nothing)" bb_wait_for bb_osc_seen "$sinkd" '^/info( |$)'
oscsend 127.0.0.1 "$osc" /subscribe ii 2 "$cport"
oscsend 127.0.0.1 "$osc" /subscribe ii 2 "$sink"
check "a lease on ctl's reply port, and one on the oscdump's" bb_wait_for bb_osc_seen "$sinkd" '^/subscribe i 2$'
ctl /mix/alice/ch/bob/gain 0
check "a change is fed back to both" bb_wait_for bb_osc_seen "$sinkd" '^/mix/alice/ch/bob/gain f 0(\.0*)?$'
oscsend 127.0.0.1 "$cport" /error ss /mix/main/ch/bob/gain "not this query"
oscsend 127.0.0.1 "$cport" /info iis 48000 64 late-answer
bb_wait_exit "$late"; rc=$?
check "that ctl printed only its answer, not the lease's /subscribe, /clients, feedback nor the /error ($(tr '\n' '|' <"$BB_TMP/late.out"), rc $rc)" \
    test "$rc" = 0 -a "$(cat "$BB_TMP/late.out")" = "48000 64 late-answer"

# 8. Access: an address outside --osc-allow; a password; --osc-bind. A hub's
# JACK ports can come before its OSC socket (under TSan they did): the first
# check of each hub polls.
p2=$(bb_free_udp_port); o2=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub2.log" "$BB_BIN" serve --port "$p2" --osc-port "$o2" --jack-name bbhub2 \
    --db none --osc-allow 10.99.0.0/16 -v
check "hub 2 is up" bb_wait_port bbhub2:main_L
check "a query from outside --osc-allow is refused with a reason" bb_wait_for bash -c \
    "'$BB_BIN' ctl --port $o2 /info 2>'$BB_TMP/c2.err'; [ \$? -eq 1 ] && grep -q 'not allowed from this address' '$BB_TMP/c2.err'"
check "so is a set" bash -c \
    "'$BB_BIN' ctl --port $o2 /mix/main/ch/in_1/gain -3 2>'$BB_TMP/c2.err'; [ \$? -eq 1 ] && grep -q 'not allowed' '$BB_TMP/c2.err'"

p3=$(bb_free_udp_port); o3=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub3.log" "$BB_BIN" serve --port "$p3" --osc-port "$o3" --jack-name bbhub3 \
    --db none --osc-allow 127.0.0.0/8 --osc-password s3cret --osc-bind 127.0.0.1 -v
check "hub 3 is up" bb_wait_port bbhub3:main_L
check "--osc-bind 127.0.0.1 listens on 127.0.0.1 only" bb_wait_for bash -c \
    "ss -Hlnu '( sport = :$o3 )' | grep -q '127.0.0.1:$o3' && ! ss -Hlnu '( sport = :$o3 )' | grep -Eq '(0\.0\.0\.0|\*):$o3'"
c3() { "$BB_BIN" ctl --port "$o3" "$@"; }
check "a set without /auth is refused: password required" bash -c \
    "'$BB_BIN' ctl --port $o3 /mix/main/ch/in_1/gain -3 2>'$BB_TMP/c3.err'; [ \$? -eq 1 ] && grep -q 'password required' '$BB_TMP/c3.err'"
check "so is a subscription" bash -c \
    "'$BB_BIN' ctl --port $o3 /subscribe 10 2>'$BB_TMP/c3.err'; [ \$? -eq 1 ] && grep -q 'password required' '$BB_TMP/c3.err'"
check "so is a query: it shows the hub's state" bash -c \
    "'$BB_BIN' ctl --port $o3 /mix/main/ch/in_1/gain 2>'$BB_TMP/c3.err'; [ \$? -eq 1 ] && grep -q 'password required' '$BB_TMP/c3.err'"
check "/info needs no password" test "$(c3 /info 2>/dev/null | wc -w)" -ge 6
check "a wrong password is refused" bash -c \
    "'$BB_BIN' ctl --port $o3 /auth guess 2>'$BB_TMP/c3.err'; [ \$? -eq 1 ] && grep -q 'wrong password' '$BB_TMP/c3.err'"
check "... and opens nothing" bash -c \
    "'$BB_BIN' ctl --port $o3 /mix/main/ch/in_1/gain -3 2>/dev/null; [ \$? -eq 1 ]"
check "the right password is accepted" test "$(c3 /auth s3cret 2>/dev/null)" = 1
# A password opens the address AND port it came from (ctl's socket is gone
# with it): one socket sends /auth, a set and a query.
oscpeer() { python3 "$BB_ROOT/test/oscpeer.py" "$@"; }
oscpeer send --expect 2 127.0.0.1 "$o3" /auth s3cret -- /mix/main/ch/in_1/gain -3 -- \
    /mix/main/ch/in_1/gain >"$BB_TMP/c3.out"
check "then a set from that address and port works, and took effect ($(tr '\n' '|' <"$BB_TMP/c3.out"))" \
    test "$(tail -n1 "$BB_TMP/c3.out")" = "/mix/main/ch/in_1/gain -3"

bb_kill "$alice"; bb_kill "$bob"
check "hub exits cleanly" bb_kill "$hub"
bb_check_rt
bb_done
