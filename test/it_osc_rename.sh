#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_osc_rename.sh: an engineer renames a musician over OSC
# (bandbridge-osc(7): /slot/<n>/name s:name, /client/<musician>/rename
# s:name). Controllers are oscdump (liblo-tools) with an explicit reply
# port, and `bandbridge ctl`; bob relays his own controller (join
# --osc-port). Checks: alice (2 channels) renamed carol by slot number:
# /slot/<n>/name, /slots and /clients answer carol; her JACK ports
# (channels and --mix-ports) are renamed and a JACK connection made before
# survives; a names lease gets /renamed "alice" "carol" and the new
# /clients, a slots lease the new /slot/<n>/name, bob's relayed lease
# /renamed too; settings made before are found under the new name, a
# change by the new name works and the old name is an error;
# /client/<name>/rename by name and by slot number; every refusal (taken,
# reserved, numeric, n.k, another's channel name, bad characters, too long,
# empty, not a string, no such musician, relayed, no password) is an
# /error and changes nothing; the "taken" check at a join compares the
# names shown; alice rejoining (same identity, same --name alice) is
# carol again, with her mixes and her connection; so after a hub restart
# on the same database; a musician who joins under another --name is shown
# under that name.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
command -v oscdump >/dev/null && command -v oscsend >/dev/null ||
    { not_ok "oscdump and oscsend (liblo-tools) are installed"; bb_done; }
command -v sqlite3 >/dev/null || { not_ok "sqlite3 command installed"; bb_done; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bosc=$(bb_free_udp_port)
db=$BB_TMP/hub.db
hub_start() { # log
    bb_bg "$BB_TMP/$1" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
        --mix-ports --db "$db" -v
    hub=$BB_LASTPID
}
# connected A B: JACK port A is connected to B (jack_lsp -c lists B under A).
connected() {
    jack_lsp -c 2>/dev/null | awk -v a="$1" -v b="$2" '
        /^[^ \t]/ { cur = $0; next }
        { sub(/^[ \t]+/, ""); if (cur == a && $0 == b) found = 1 }
        END { exit !found }'
}
clients_sorted() { q /clients | tr ' ' '\n' | sort | xargs; }
osc_errors() { q /stats | awk '{ for (i = 1; i < NF; i += 2) if ($i == "osc_errors") print $(i + 1) }'; }
# osc_refused oscsend-args...: the hub answers with an /error (oscsend cannot
# see it; the hub's error count grows: the message is handled before the
# /stats query that follows it on the same socket).
osc_refused() {
    local e0 e1
    e0=$(osc_errors)
    oscsend 127.0.0.1 "$osc" "$@"
    e1=$(osc_errors)
    [ -n "$e0" ] && [ "$e1" -gt "$e0" ]
}
RELAY_NO="a musician's own controller may only change their own mix"

hub_start hub.log
check "hub is up" bb_wait_port bandbridge:main_L
bb_join alice float --jack-name bb-alice --channels 2; alice=$BB_LASTPID
bb_join bob float --jack-name bb-bob --osc-port "$bosc" --osc-bind 127.0.0.1; bob=$BB_LASTPID
check "alice joined (2 channels, mix ports)" bb_wait_port bandbridge:mix_alice_R
check "bob joined" bb_wait_port bandbridge:bob_1
bb_wait_for bash -c "'$BB_BIN' ctl --port $bosc /clients 2>/dev/null | grep -q alice"
slots=$(q /slots)
na=$(bb_slot_of alice "$slots")
nb=$(bb_slot_of bob "$slots")
check "/slots lists alice and bob ($slots)" test -n "$na" -a -n "$nb"

# Controllers: names and slots leases on the hub's port, one relayed through bob.
bb_osc_dump fb; fb=$BB_TMP/fb.dump
oscsend 127.0.0.1 "$osc" /subscribe ii 60 "$dport"
check "a names lease is acknowledged" bb_wait_for bb_osc_seen "$fb" '^/subscribe i 60$'
bb_osc_dump sl; sl=$BB_TMP/sl.dump
ctl /subscribe 60 "$dport" slots
check "a slots lease learns alice's slot" bb_wait_for bb_osc_seen "$sl" "^/slot/$na/name s \"alice\"$"
bb_osc_dump rl; rl=$BB_TMP/rl.dump
oscsend 127.0.0.1 "$bosc" /subscribe ii 60 "$dport"
check "bob's relayed lease is acknowledged" bb_wait_for bb_osc_seen "$rl" '^/subscribe i 60$'

# Settings and a JACK connection made under the old name.
ctl /mix/bob/ch/alice_2/gain -7
ctl /mix/main/ch/alice/pan -0.5
ctl /mix/alice/ch/bob/gain -4
ctl /send/alice/gain -2
check "settings for alice are set" test "$(q /mix/bob/ch/alice_2/gain)" = -7
jack_connect bandbridge:alice_1 bandbridge:in_1
jack_connect bandbridge:mix_alice_L bandbridge:in_2
check "alice_1 is connected to in_1 before the rename" connected bandbridge:alice_1 bandbridge:in_1
check "... and mix_alice_L to in_2" connected bandbridge:mix_alice_L bandbridge:in_2
# The hub records connections once a second: wait until it has these.
check "the hub records alice's connections" bb_wait_for bash -c \
    "sqlite3 '$db' \"SELECT count(*) FROM conn WHERE port = 'alice_1' AND peer = 'bandbridge:in_1'\" 2>/dev/null | grep -qx 1"

# 1. Rename by slot number.
check "/slot/$na/name s:carol is accepted (no /error)" ctl /slot/$na/name carol
check "/slot/$na/name answers carol" bb_wait_for bash -c "[ \"\$('$BB_BIN' ctl --port $osc /slot/$na/name 2>/dev/null)\" = carol ]"
check "/clients answers carol and bob" test "$(clients_sorted)" = "bob carol"
check "/slots has carol in slot $na" test "$(bb_slot_of carol "$(q /slots)")" = "$na"
check "the JACK ports are renamed: carol_1, carol_2, mix_carol_L/R" bash -c \
    "jack_lsp | grep -Fxq bandbridge:carol_1 && jack_lsp | grep -Fxq bandbridge:carol_2 && jack_lsp | grep -Fxq bandbridge:mix_carol_L && jack_lsp | grep -Fxq bandbridge:mix_carol_R"
check "... and no alice port is left" bash -c "! jack_lsp | grep -q '^bandbridge:.*alice'"
check "the JACK connection carol_1 -> in_1 survived" connected bandbridge:carol_1 bandbridge:in_1
check "... and mix_carol_L -> in_2" connected bandbridge:mix_carol_L bandbridge:in_2
check "a names lease gets /renamed alice carol" bb_wait_for bb_osc_seen "$fb" '^/renamed ss "alice" "carol"$'
check "... and the new /clients" bb_wait_for bb_osc_seen "$fb" '^/clients ss ("carol" "bob"|"bob" "carol")$'
check "a slots lease gets /slot/$na/name carol" bb_wait_for bb_osc_seen "$sl" "^/slot/$na/name s \"carol\"$"
check "... and /renamed" bb_osc_seen "$sl" '^/renamed ss "alice" "carol"$'
check "bob's relayed lease gets /renamed too" bb_wait_for bb_osc_seen "$rl" '^/renamed ss "alice" "carol"$'
check "settings made before are under the new name (bob hears carol_2 at -7)" \
    test "$(q /mix/bob/ch/carol_2/gain)" = -7
check "... the main mix pans carol" test "$(q /mix/main/ch/carol/pan)" = -0.5
check "... carol's own mix is hers" test "$(q /mix/carol/ch/bob/gain)" = -4
check "... and her send level" test "$(q /send/carol/gain)" = -2
check "the old source name is unknown now" bb_refused "no source of that name" /mix/bob/ch/alice_2/gain
check "the old mix name is unknown now" bb_refused "no musician of that name" /mix/alice/ch/bob/gain -5
check "a change addressed by the new name works" ctl /mix/carol/ch/bob/gain -5
check "... and took effect" test "$(q /mix/carol/ch/bob/gain)" = -5
check "... and is fed back under the new name" bb_wait_for bb_osc_seen "$fb" '^/mix/carol/ch/bob/gain f -5(\.0*)?$'
check "the hub logs the rename" grep -q "alice is now called carol" "$BB_TMP/hub.log"
check "the database keeps carol, joined as alice" bb_wait_for bash -c \
    "sqlite3 '$db' \"SELECT name || '/' || join_name FROM client\" | grep -qx carol/alice"
check "... and bob's stored mix has carol_2 at -7" bb_wait_for bash -c \
    "sqlite3 '$db' \"SELECT s.gain_db FROM send s JOIN client c USING (identity) WHERE c.name = 'bob' AND s.source = 'carol_2'\" | grep -qx -- -7.0"
check "... and no stored mix names alice any more" bash -c \
    "sqlite3 '$db' \"SELECT count(*) FROM send WHERE source LIKE 'alice%'\" | grep -qx 0"

# 2. /client/<name>/rename, by name and by slot number.
check "/client/bob/rename s:robert is accepted" ctl /client/bob/rename robert
check "... bob's port is robert_1 now" bb_wait_port bandbridge:robert_1
check "... announced" bb_wait_for bb_osc_seen "$fb" '^/renamed ss "bob" "robert"$'
check "/client/$nb/rename s:bob (by slot) is accepted" ctl /client/$nb/rename bob
check "... bob is bob again" bb_wait_port bandbridge:bob_1
check "... announced" bb_wait_for bb_osc_seen "$fb" '^/renamed ss "robert" "bob"$'
check "renaming to the same name changes and announces nothing" ctl /client/bob/rename bob
check "bob may be renamed rob_1 (no one is called rob)" ctl /client/bob/rename rob_1
check "... port rob_1_1" bb_wait_port bandbridge:rob_1_1
check "carol may not be renamed rob: rob_1 would be two sources" \
    bb_refused "channel names would collide" /slot/$na/name rob
check "/client/rob_1/rename s:bob is accepted" ctl /client/rob_1/rename bob
check "... bob is bob again" bb_wait_port bandbridge:bob_1

# 3. Refusals: an /error, and nothing changes.
renamed_before=$(bb_osc_count "$fb" '^/renamed ')
check "a name taken by another musician is refused" bb_refused "another musician has that name" /slot/$na/name bob
check "main is refused" bb_refused "reserved by the hub" /slot/$na/name main
check "in_3 is refused" bb_refused "reserved by the hub" /client/carol/rename in_3
check "me is refused" bb_refused "me and me_<k> are reserved" /slot/$na/name me
check "a number as a string is refused (it would be a slot)" osc_refused /slot/$na/name s 12
check "n.k as a string is refused" osc_refused /client/carol/rename s 2.1
check "digits and dots are refused, with the reason" bb_refused "read as a slot number" /client/carol/rename 1.2.3
check "another musician's channel name is refused (bob_2)" bb_refused "channel names would collide" /slot/$na/name bob_2
check "spaces are refused" bb_refused "letters, digits" /slot/$na/name "car ol"
check "a non-ASCII name is refused" bb_refused "letters, digits" /slot/$na/name "carölin"
check "32 characters are refused" bb_refused "1 to 31 characters" /slot/$na/name "$(printf 'c%.0s' {1..32})"
check "an empty name is refused" bb_refused "1 to 31 characters" /slot/$na/name ""
check "a number argument is refused" bb_refused "expected s:name" /slot/$na/name 12
check "two names are refused" bb_refused "expected s:name" /client/carol/rename x y
check "an empty slot is refused" bb_refused "no musician in that slot" /slot/9/name zed
check "an unknown musician is refused" bb_refused "no musician of that name" /client/nobody/rename zed
check "a wrong verb is refused" bb_refused "expected /client/<musician>/rename" /client/carol/delete
check "bob's relayed controller cannot rename carol" bash -c \
    "'$BB_BIN' ctl --port $bosc /slot/$na/name zed 2>'$BB_TMP/r.err'; [ \$? -eq 1 ] && grep -qF \"$RELAY_NO\" '$BB_TMP/r.err'"
check "... nor himself, by slot" bash -c \
    "'$BB_BIN' ctl --port $bosc /slot/$nb/name zed 2>'$BB_TMP/r.err'; [ \$? -eq 1 ] && grep -qF \"$RELAY_NO\" '$BB_TMP/r.err'"
check "... nor by /client/" bash -c \
    "'$BB_BIN' ctl --port $bosc /client/bob/rename zed 2>'$BB_TMP/r.err'; [ \$? -eq 1 ] && grep -qF \"$RELAY_NO\" '$BB_TMP/r.err'"
check "... but may still read a slot's name" test "$("$BB_BIN" ctl --port "$bosc" /slot/$na/name 2>/dev/null)" = carol
check "after all that carol is still carol" test "$(q /slot/$na/name)" = carol
check "... bob still bob" test "$(clients_sorted)" = "bob carol"
check "... her ports unchanged" bash -c "jack_lsp | grep -Fxq bandbridge:carol_1 && ! jack_lsp | grep -Eq 'zed|bob_2_|in_3_|:me_|:12_|:rob_'"
check "... and no controller was told of a rename" test "$(bb_osc_count "$fb" '^/renamed ')" = "$renamed_before"
check "... nor of bob renamed bob" bash -c "! bb_osc_seen '$fb' '^/renamed ss \"bob\" \"bob\"$'"

# 4. The "taken" check at a join compares the names shown: another identity
# may join as alice now, not as carol.
BB_JOIN_LOG=$BB_TMP/alice2.log bb_join alice float --jack-name bb-alice2 --identity "$BB_TMP/id-other"; other=$BB_LASTPID
check "another identity joins as alice while alice is shown as carol" bb_wait_port bandbridge:alice_1
bb_kill "$other"
check "... and leaves" bb_wait_no_port bandbridge:alice_1
# A taken name is no final refusal (the other musician may leave): the
# join retries, and a run that ends (--seconds) refused exits 1 (one
# never answered exits 3; the room key alone takes seconds on a loaded
# machine, so 8 s leaves time for the refusal).
BB_JOIN_LOG=$BB_TMP/carol2.log bb_join carol float --jack-name bb-carol2 --identity "$BB_TMP/id-third" --seconds 8; third=$BB_LASTPID
rc=0; bb_wait_exit "$third" || rc=$?
check "a join as carol is refused while carol is here (exit 1, got $rc)" test "$rc" = 1
check "... because the name is taken" grep -q "taken by another musician" "$BB_TMP/carol2.log"

# 5. alice leaves and comes back with the same identity and --name alice:
# she is carol again, with her mixes and her connection.
bb_kill "$alice"
check "carol's leave is announced as carol" bb_wait_for bb_osc_seen "$fb" '^/left s "carol"$'
check "her ports go" bb_wait_no_port bandbridge:carol_1
bb_join alice float --jack-name bb-alice --channels 2; alice=$BB_LASTPID
check "she comes back as carol (port carol_1)" bb_wait_port bandbridge:carol_1
check "... no alice port" bash -c "! jack_lsp | grep -q '^bandbridge:.*alice'"
check "... /slot/$na/name is carol" test "$(q /slot/$na/name)" = carol
check "... announced as carol" bb_wait_for bb_osc_seen "$fb" '^/joined s "carol"$'
check "... her join is told her name" bb_wait_for grep -q "joined as 'carol'" "$BB_TMP/alice.log"
check "... the hub says why" grep -q "carol joined as alice: shown as carol" "$BB_TMP/hub.log"
check "bob's mix hears carol_2 at -7 again" test "$(q /mix/bob/ch/carol_2/gain)" = -7
check "the main mix pans carol again" test "$(q /mix/main/ch/carol/pan)" = -0.5
check "her own mix is restored" test "$(q /mix/carol/ch/bob/gain)" = -5
check "her send level is restored" test "$(q /send/carol/gain)" = -2
check "her stored connection carol_1 -> in_1 is restored" bb_wait_for connected bandbridge:carol_1 bandbridge:in_1

# 6. A hub restart on the same database: the musicians rejoin by themselves.
bb_kill "$hub"
hub_start hub2.log
check "the hub is back" bb_wait_port bandbridge:main_L
check "alice rejoins as carol after the restart" bb_wait_port bandbridge:carol_1
check "bob rejoins" bb_wait_port bandbridge:bob_1
check "/clients answers carol and bob" bb_wait_for bash -c "[ \"\$('$BB_BIN' ctl --port $osc /clients 2>/dev/null | tr ' ' '\n' | sort | xargs)\" = 'bob carol' ]"
check "bob's mix hears carol_2 at -7 after the restart" test "$(q /mix/bob/ch/carol_2/gain)" = -7
check "the main mix pans carol after the restart" test "$(q /mix/main/ch/carol/pan)" = -0.5

# 7. A musician who joins under another --name chose that name: shown so.
bb_kill "$alice"
check "carol leaves" bb_wait_no_port bandbridge:carol_1
BB_JOIN_LOG=$BB_TMP/alice.log bb_join alicia float --jack-name bb-alice --identity "$BB_TMP/id-alice" --channels 2; alice=$BB_LASTPID
check "the same identity joining as alicia is shown as alicia" bb_wait_port bandbridge:alicia_1
check "... /clients says so" bb_wait_for bash -c "'$BB_BIN' ctl --port $osc /clients 2>/dev/null | grep -qw alicia"

# 8. A hub with a password: a rename needs /auth like any change.
p2=$(bb_free_udp_port); o2=$(bb_free_udp_port)
bb_bg "$BB_TMP/hubpw.log" "$BB_BIN" serve --port "$p2" --osc-port "$o2" --jack-name bbpw \
    --db none --osc-password s3cret -v
hubpw=$BB_LASTPID
check "hub 2 is up" bb_wait_port bbpw:main_L
bb_bg "$BB_TMP/dave.log" "$BB_BIN" join "127.0.0.1:$p2" --name dave --jack-name bb-dave \
    --codec float --jitter 128 --no-auto-connect --identity "$BB_TMP/id-dave"
dave=$BB_LASTPID
check "dave joined hub 2" bb_wait_port bbpw:dave_1
check "a rename without /auth is refused: password required" bash -c \
    "'$BB_BIN' ctl --port $o2 /slot/1/name dan 2>'$BB_TMP/pw.err'; [ \$? -eq 1 ] && grep -q 'password required' '$BB_TMP/pw.err'"
check "... so is /client/dave/rename" bash -c \
    "'$BB_BIN' ctl --port $o2 /client/dave/rename dan 2>'$BB_TMP/pw.err'; [ \$? -eq 1 ] && grep -q 'password required' '$BB_TMP/pw.err'"
check "... and nothing changed" bb_has_port bbpw:dave_1
check "the right password is accepted" test "$("$BB_BIN" ctl --port "$o2" /auth s3cret 2>/dev/null)" = 1
# The password opens the address and port it came from: one socket for both.
check "then the rename works, from the port that sent /auth" python3 "$BB_ROOT/test/oscpeer.py" \
    send --expect 1 127.0.0.1 "$o2" /auth s3cret -- /client/dave/rename dan
check "... dave's port is dan_1" bb_wait_port bbpw:dan_1
bb_kill "$dave"
check "hub 2 exits cleanly" bb_kill "$hubpw"

bb_kill "$alice"; bb_kill "$bob"
check "hub exits cleanly" bb_kill "$hub"
bb_check_rt
bb_done
