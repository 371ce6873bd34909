#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_jack_meta.sh: what a patchbay (qjackctl, Carla, RaySession) reads of
# the hub and the joins besides port names: JACK metadata (pretty name,
# order, port group) and aliases, read back with jackd2's own tools
# (jack_property, jack_lsp -A) across a join, a rename and a leave.
# alice sends one channel, dave two (a stereo pair); the hub runs with
# --mix-ports.
#
# jackd2 keeps the metadata of every server a user runs in one database
# (/dev/shm/jack_db-UID), under UUIDs that each server counts from the same
# start, and deletes a port's properties when any of them unregisters a
# port of that index: beside other test runs, their jackd servers would
# delete ours. So, where it may (root, as in CI), the test runs in a mount
# namespace of its own with a private /dev/shm (jackd's registry,
# semaphores and that database).
if [[ -z ${BB_PRIVATE_SHM:-} ]] && (( EUID == 0 )) && command -v unshare >/dev/null &&
    unshare --mount --propagation private mount -t tmpfs tmpfs /dev/shm 2>/dev/null; then
    export BB_PRIVATE_SHM=1
    exec unshare --mount --propagation private bash -c \
        'mount -t tmpfs -o size=256m,mode=1777 tmpfs /dev/shm && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/lib.sh"
bb_init
[[ ${BB_PRIVATE_SHM:-} == 1 ]] || bb_log "no private /dev/shm (not root): other jackd servers of this user may disturb the metadata"
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
command -v jack_property >/dev/null || { not_ok "jack_property is installed (jackd2)"; bb_done; }

PRETTY=http://jackaudio.org/metadata/pretty-name
ORDER=http://jackaudio.org/metadata/order
GROUP=http://jackaudio.org/metadata/port-group
# prop PORT KEY: the value jackd holds for KEY on PORT (a port name).
prop() { jack_property --port -l "$1" "$2" 2>/dev/null; }
has() { [[ $(prop "$1" "$2") == "$3" ]]; }
# alias_of PORT: the aliases jack_lsp -A lists under PORT.
alias_of() { jack_lsp -A 2>/dev/null | awk -v p="$1" '$0 == p { on = 1; next } /^[^ \t]/ { on = 0 } on { sub(/^[ \t]+/, ""); print }'; }
has_alias() { alias_of "$1" | grep -Fxq -- "$2"; }
uuid_of() { jack_lsp -U 2>/dev/null | grep -A1 -Fx -- "$1" | sed -n '2s/^[^0-9]*//p'; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "${BB_RT[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" \
    --mix-ports --db "$BB_TMP/hub.db"
hub=$BB_LASTPID
check "hub is up" bb_wait_port bandbridge:main_L
check "the hub's client pretty name" \
    bb_wait_for bash -c "jack_property --client -l bandbridge $PRETTY | grep -qx 'bandbridge hub'"
check "main_L is 'main mix L' in group 'main mix'" \
    bb_wait_for bash -c "[[ \$(jack_property --port -l bandbridge:main_L $PRETTY) == 'main mix L' ]] && [[ \$(jack_property --port -l bandbridge:main_L $GROUP) == 'main mix' ]]"
check "in_1 is 'local in 1'" has bandbridge:in_1 "$PRETTY" "local in 1"

bb_join alice float
alice=$BB_LASTPID
bb_join dave float --channels 2
dave=$BB_LASTPID
check "alice's port is there" bb_wait_port bandbridge:alice_1
check "dave's ports are there" bb_wait_port bandbridge:dave_2
check "alice_1 is 'alice (1)'" bb_wait_for has bandbridge:alice_1 "$PRETTY" "alice (1)"
check "... no port group (one channel)" test -z "$(prop bandbridge:alice_1 "$GROUP")"
check "dave_1 is 'dave L', dave_2 'dave R'" \
    bb_wait_for bash -c "[[ \$(jack_property --port -l bandbridge:dave_1 $PRETTY) == 'dave L' && \$(jack_property --port -l bandbridge:dave_2 $PRETTY) == 'dave R' ]]"
check "... both in port group 'dave'" \
    test "$(prop bandbridge:dave_1 "$GROUP")/$(prop bandbridge:dave_2 "$GROUP")" = "dave/dave"
check "mix_alice_R is \"alice's mix R\" in group \"alice's mix\"" \
    bb_wait_for bash -c "[[ \$(jack_property --port -l bandbridge:mix_alice_R $PRETTY) == \"alice's mix R\" && \$(jack_property --port -l bandbridge:mix_alice_R $GROUP) == \"alice's mix\" ]]"
o_main=$(prop bandbridge:main_R "$ORDER") o_d1=$(prop bandbridge:dave_1 "$ORDER")
o_d2=$(prop bandbridge:dave_2 "$ORDER") o_dm=$(prop bandbridge:mix_dave_L "$ORDER")
bb_log "order: main_R $o_main, dave_1 $o_d1, dave_2 $o_d2, mix_dave_L $o_dm"
check "port order: the hub's own ports, then dave's channels, then his mix" \
    test -n "$o_main" -a -n "$o_d1" -a "${o_main:-0}" -lt "${o_d1:-0}" -a "${o_d1:-0}" -lt "${o_d2:-0}" \
         -a "${o_d2:-0}" -lt "${o_dm:-0}"
check "jack_lsp -A shows the alias bandbridge:dave L" has_alias bandbridge:dave_1 "bandbridge:dave L"
# The join's own client and ports.
check "alice's join: client pretty name" \
    bb_wait_for bash -c "jack_property --client -l bandbridge-alice $PRETTY | grep -qx 'bandbridge join alice'"
check "... in_1 'alice (1)', out_L \"alice's mix L\"" \
    test "$(prop bandbridge-alice:in_1 "$PRETTY")|$(prop bandbridge-alice:out_L "$PRETTY")" = "alice (1)|alice's mix L"
check "... dave's in_2 is 'dave R' in group 'dave'" \
    test "$(prop bandbridge-dave:in_2 "$PRETTY")|$(prop bandbridge-dave:in_2 "$GROUP")" = "dave R|dave"
check "... and alias" has_alias bandbridge-alice:out_R "bandbridge-alice:alice's mix R"

# A rename: the metadata and the alias follow the ports.
ctl /client/alice/rename carol >/dev/null 2>&1
check "alice renamed carol: her port is carol_1" bb_wait_port bandbridge:carol_1
check "... 'carol (1)'" bb_wait_for has bandbridge:carol_1 "$PRETTY" "carol (1)"
check "... mix_carol_L \"carol's mix L\"" bb_wait_for has bandbridge:mix_carol_L "$PRETTY" "carol's mix L"
check "... the alias follows, the old one is gone" \
    bash -c "$(declare -f alias_of); [[ \$(alias_of bandbridge:carol_1) == 'bandbridge:carol (1)' ]]"

# A leave: the properties of dave's ports are removed with them.
u1=$(uuid_of bandbridge:dave_1)
u2=$(uuid_of bandbridge:mix_dave_R)
bb_log "dave_1 uuid $u1, mix_dave_R uuid $u2"
check "dave's port UUIDs are known" test -n "$u1" -a -n "$u2"
check "... and hold properties" test -n "$(jack_property -l "$u1" 2>/dev/null)"
bb_kill "$dave"
check "dave left: his ports are gone" bb_wait_no_port bandbridge:dave_1
check "... and so are their properties" \
    bb_wait_for bash -c "[[ -z \$(jack_property -l $u1 2>/dev/null) && -z \$(jack_property -l $u2 2>/dev/null) ]]"
# The hub's client UUID: jack_lsp -u lists its ports under it.
hu=$(jack_lsp 2>/dev/null | grep -n -Fx bandbridge:main_L | cut -d: -f1)
hu=$(jack_lsp -u 2>/dev/null | sed -n "${hu:-0}p" | cut -d: -f1)
mu=$(uuid_of bandbridge:main_L)
bb_log "hub client uuid $hu, main_L uuid $mu"
check "the hub's client UUID holds its pretty name" \
    bash -c "jack_property -l '$hu' $PRETTY 2>/dev/null | grep -qx 'bandbridge hub'"
bb_kill "$alice"
bb_kill "$hub"; check "hub exits 0" test $? -eq 0
check "the hub's client and port properties are removed when it stops" \
    test -n "$hu" -a -n "$mu" -a -z "$(jack_property -l "$hu" 2>/dev/null)" -a -z "$(jack_property -l "$mu" 2>/dev/null)"
bb_check_rt
bb_done
