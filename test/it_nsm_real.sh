#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_nsm_real.sh: the hub and a musician in a session of the real New
# Session Manager (nsmd 1.5.1, built from ../shared/tools/new-session-manager
# into this test's temp folder), as a user would: a new session, add
# bandbridge-hub, add bandbridge-join (which waits for its hub and name,
# set here over OSC), save, close, open. Both are started by nsmd with no
# arguments, announce their own executable names, and come back as
# themselves: the hub with its database (a mix value set before the close
# is read back), the join with its identity (same key pair, its mix kept
# by the hub); session.nsm lists exactly those two clients.
. "$(dirname "$0")/lib.sh"
bb_init

tarball=${NSM_TARBALL:-$BB_ROOT/../shared/tools/new-session-manager/new-session-manager-1.5.1-src.tar.gz}
skip() { echo "ok 1 # SKIP $*"; echo "# $BB_NAME: skipped: $*"; exit 0; }
command -v g++ >/dev/null || skip "g++ is not installed (scripts/setup.sh installs it)"
[[ -f $tarball ]] || skip "no nsmd source at $tarball"
faces=$(dirname "$BB_BIN")
[[ -x $faces/bandbridge-hub && -x $faces/bandbridge-join ]] ||
    { not_ok "make built bandbridge-hub and bandbridge-join beside $BB_BIN"; bb_done; }

# nsmd, built here (a minute on a loaded machine), never installed.
tar xzf "$tarball" -C "$BB_TMP"
src=$BB_TMP/new-session-manager-1.5.1/src
check "nsmd builds from $tarball" g++ -O1 -o "$BB_TMP/nsmd" "$src/nsmd.cpp" "$src/Endpoint.cpp" \
    "$src/Thread.cpp" "$src/debug.cpp" "$src/file.cpp" -llo -lpthread
[[ -x $BB_TMP/nsmd ]] || bb_done

bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

# nsm PATH [ARG...]: sends PATH to nsmd from one socket and prints what
# comes back until nsmd's /reply or /error to PATH (0 or 1; 2: no answer
# within 90 s). Every argument is a string, as nsmd's methods want.
cat >"$BB_TMP/nsm.py" <<'EOF'
import socket, sys, time
sys.path.insert(0, sys.argv[1])
from oscpeer import message, parse, fmt
port, path, args = int(sys.argv[2]), sys.argv[3], sys.argv[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
s.sendto(message(path, *args), ('127.0.0.1', port))
end = time.monotonic() + 90
while time.monotonic() < end:
    s.settimeout(max(0.01, end - time.monotonic()))
    try:
        d, _ = s.recvfrom(65536)
    except socket.timeout:
        break
    for p, a in parse(d):
        print(fmt(p, a), flush=True)
        if p in ('/reply', '/error') and a and a[0] == path:
            sys.exit(0 if p == '/reply' else 1)
sys.exit(2)
EOF
nsm() { python3 "$BB_TMP/nsm.py" "$BB_ROOT/test" "$nport" "$@" >>"$BB_TMP/nsm-replies.txt"; }
# hubdir, joindir: the clients' folders in the session.
client_dirs() {
    hubdir=$(compgen -G "$root/band/bandbridge-hub.n*" | head -1)
    joindir=$(compgen -G "$root/band/bandbridge-join.n*" | head -1)
    [[ -n $hubdir && -n $joindir ]]
}
# hub_jack, join_jack: the JACK client names (fail while there is none).
jack_client_of() { local n; n=$(jack_lsp 2>/dev/null | grep -m1 -E "$1") || return 1; echo "${n%%:*}"; }
hub_jack() { jack_client_of '^bandbridge-hub\.n[A-Z]+:main_L$'; }
join_jack() { jack_client_of '^bandbridge-join\.n[A-Z]+:out_L$'; }

# The hub's UDP port comes from the environment nsmd passes on (its OSC
# port is the next one): a free pair, so that parallel runs do not meet.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$(bb_free_udp_port)
    [[ -z $(ss -Hlnu "( sport = :$((port + 1)) )") ]] && break
done
osc=$((port + 1))
nport=$(bb_free_udp_port)
root=$BB_TMP/nsm-root
mkdir -p "$root"
# The hub's room password is the one it generates and keeps in the session
# (no BANDBRIDGE_PASSWORD), handed to the join over OSC as a user would.
PATH=$faces:$PATH BANDBRIDGE_PORT=$port bb_bg "$BB_TMP/nsmd.log" env -u BANDBRIDGE_PASSWORD \
    "$BB_TMP/nsmd" --osc-port "$nport" --session-root "$root"
nsmd=$BB_LASTPID
check "nsmd listens on its OSC port" bb_wait_for bash -c "ss -Hlnu '( sport = :$nport )' | grep -q ."

check "/nsm/server/new band" nsm /nsm/server/new band
check "/nsm/server/add bandbridge-hub" nsm /nsm/server/add bandbridge-hub
check "the hub runs under its session JACK name (no space)" bb_wait_for hub_jack
hj=$(hub_jack)
bb_log "hub JACK client: $hj"
check "/nsm/server/add bandbridge-join" nsm /nsm/server/add bandbridge-join
check "both clients have a folder in the session" bb_wait_for client_dirs
client_dirs
check "the join waits for its hub and name, saying so" \
    bb_wait_for grep -q "waiting for the hub's address and a name" "$BB_TMP/nsmd.log"
sport=$(sed -n "s/.*waiting for the hub's address.* to UDP port \([0-9]*\) on this machine.*/\1/p" \
    "$BB_TMP/nsmd.log" | head -1)
pw=$(env -u BANDBRIDGE_PASSWORD "$BB_BIN" serve --show-password --db "$hubdir/hub.db")
check "the hub keeps its generated room password in the session" test -n "$pw"
python3 "$BB_TMP/nsm.py" "$BB_ROOT/test" "$sport" /bandbridge/join/setup "127.0.0.1:$port" alice \
    "$pw" >"$BB_TMP/setup.txt" 2>&1
check "/bandbridge/join/setup is answered" grep -q "^/reply /bandbridge/join/setup joining" "$BB_TMP/setup.txt"
check "the join said once that it waits" \
    test "$(grep -c "bandbridge: warning: waiting for the hub's address and a name" "$BB_TMP/nsmd.log")" -eq 1
check "alice joins the hub" bb_wait_for grep -q "alice joined" "$BB_TMP/nsmd.log"
check "the join runs under its session JACK name (no space)" bb_wait_for join_jack
jj=$(join_jack)
bb_log "join JACK client: $jj"
key1=$(sha256sum <"$joindir/key")

# A value in the hub's database (main mix) and one in alice's record (her mix).
# set_val ADDR V: sets and reads back (a set is not answered: sent again
# until the answer is right, which changes nothing once it is).
set_val() { ctl "$1" "$2" >/dev/null 2>&1; q "$1" | grep -qx -- "$2"; }
reads() { q "$1" | grep -qx -- "$2"; }
check "a main mix value is set" bb_wait_for set_val /mix/main/ch/in_1/gain -7.5
check "a value in alice's mix is set" bb_wait_for set_val /mix/alice/ch/in_2/gain -4.5
check "/nsm/server/save" nsm /nsm/server/save
check "/nsm/server/close" nsm /nsm/server/close
check "the clients are gone from JACK" bb_wait_no_port "$hj:main_L"
check "session.nsm lists exactly two clients" test "$(grep -c . "$root/band/session.nsm")" -eq 2
check "... bandbridge-hub" grep -Eq '^bandbridge-hub:bandbridge-hub:n[A-Z]+$' "$root/band/session.nsm"
check "... bandbridge-join" grep -Eq '^bandbridge-join:bandbridge-join:n[A-Z]+$' "$root/band/session.nsm"
sed 's/^/# session.nsm: /' "$root/band/session.nsm"

check "/nsm/server/open band" nsm /nsm/server/open band
check "the hub is back under the same JACK name" bb_wait_port "$hj:main_L"
check "the join is back under the same JACK name" bb_wait_port "$jj:out_L"
check "both announced with their own names, twice each" \
    test "$(grep -c 'Got announce from bandbridge-hub' "$BB_TMP/nsmd.log")" -eq 2 -a \
         "$(grep -c 'Got announce from bandbridge-join' "$BB_TMP/nsmd.log")" -eq 2
check "... and nsmd took each for the client it had started (no swap)" \
    test "$(grep -c 'Client bandbridge-hub was expected' "$BB_TMP/nsmd.log")" -eq 2 -a \
         "$(grep -c 'Client bandbridge-join was expected' "$BB_TMP/nsmd.log")" -eq 2
check "alice joins again, from the session's join.args" \
    bb_wait_for bash -c "test \$(grep -c 'alice joined' '$BB_TMP/nsmd.log') -ge 2"
check "the hub reopened its database: the main mix value is back" \
    bb_wait_for reads /mix/main/ch/in_1/gain -7.5
check "... alice is known by her identity: her mix value is back" \
    bb_wait_for reads /mix/alice/ch/in_2/gain -4.5
check "the join kept its key pair" test "$(sha256sum <"$joindir/key")" = "$key1"
check "still exactly two clients in the session folder" \
    test "$(compgen -G "$root/band/bandbridge-*" | wc -l)" -eq 2
nsm /nsm/server/save
check "session.nsm still lists exactly two clients" test "$(grep -c . "$root/band/session.nsm")" -eq 2
nsm /nsm/server/close
check "the clients are gone from JACK again" bb_wait_no_port "$hj:main_L"
bb_kill "$nsmd"
bb_done
