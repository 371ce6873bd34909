#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_browser.sh: the tablet layout (share/open-stage-control/) in the real
# Open Stage Control 1.29.8 (from ../shared/tools/open-stage-control/, run
# headless with node) and Debian's Chromium (driven by puppeteer-core from
# test/browser/, which scripts/setup.sh installs), against a real hub with
# four simulated musicians (bbload, a steady tone each, float: exact levels).
# test/browser/tablet.js drives two browsers as people would and checks:
# faders, pans, mutes and the Engineer view reach the hub; changes made by
# another OSC client show in the pages; a steady level shows on a browser
# opened later and after it picks a mix; a musician who leaves has their
# meter fall to 0; every musician's round trip and network RTT show in the
# Engineer view. Saves a screenshot of it ($BUILD/test-logs/tablet.png).
#
# All of it runs in a private network namespace (unshare -n, loopback
# only): O-S-C listens on every interface and announces itself over mDNS.
# Skips, saying why, where Chromium, puppeteer-core, node or Open Stage
# Control cannot be had.
if [[ ${BB_BROWSER_NETNS:-} != 1 ]]; then
    for u in "unshare -n" "unshare -rn"; do
        if $u true 2>/dev/null; then
            exec $u env BB_BROWSER_NETNS=1 bash "$0" "$@"
        fi
    done
    echo "# SKIP: cannot make a private network namespace (unshare -n needs root or user namespaces)"
    echo "# it_browser: skipped"
    exit 0
fi
ip link set lo up || { echo "not ok 1 - loopback up in the private network namespace"; exit 1; }

. "$(dirname "$0")/lib.sh"
OSC_DIR=${BB_OSC_DIR:-$BB_ROOT/../shared/tools/open-stage-control}
OSC_TGZ=$OSC_DIR/open-stage-control-1.29.8-app.tar.gz
BROWSER_DIR=$BB_ROOT/test/browser
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
skip() {
    echo "# SKIP: $*"
    echo "# it_browser: skipped"
    exit 0
}
command -v node >/dev/null || skip "node is not installed (scripts/setup.sh installs it)"
[[ -f $OSC_TGZ ]] || skip "Open Stage Control is not at $OSC_DIR (it is not in any registry)"
[[ -x $CHROMIUM ]] || skip "no Chromium at $CHROMIUM (scripts/setup.sh installs Debian's chromium)"
[[ -f $BROWSER_DIR/node_modules/puppeteer-core/package.json ]] ||
    skip "puppeteer-core is not installed in test/browser (scripts/setup.sh runs npm ci there)"

bb_init
# Chromium runs in a process group of its own, which tablet.js ends; should
# that fail, whatever runs with this test's profile is ended by PID.
PROFILE=$BB_TMP/chromium-profile
end_chromium() {
    local p
    for p in $(pgrep -f -- "--user-data-dir=$PROFILE" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
}
trap 'rc=$?; end_chromium; (exit $rc); bb_cleanup' EXIT
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }
[[ -x $BUILD/bbload ]] || { not_ok "bbload is built ($BUILD/bbload)"; bb_done; }
tar xzf "$OSC_TGZ" -C "$BB_TMP" || { not_ok "Open Stage Control unpacks"; bb_done; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db "$BB_TMP/hub.db" -v
hub=$BB_LASTPID
check "hub is up" bb_wait_port bandbridge:main_L
# Three steady musicians, then one more (who leaves during the test): slots 1-3 and 4.
bb_bg "$BB_TMP/load.log" "$BUILD/bbload" --hub "127.0.0.1:$port" --steady 3 --seconds 1200 \
    --no-verify --signal tone --codec float
load=$BB_LASTPID
three_slots() { [[ $(q /slots | wc -w) == 6 ]]; }
check "three musicians hold slots" bb_wait_for three_slots
steady=$(q /slots)
bb_bg "$BB_TMP/leaver.log" "$BUILD/bbload" --hub "127.0.0.1:$port" --steady 1 --seconds 1200 \
    --no-verify --signal tone --codec float --name-prefix zz --seed 7
leaver=$BB_LASTPID
four_slots() { [[ $(q /slots | wc -w) == 8 ]]; }
check "a fourth musician joins" bb_wait_for four_slots
leaver_slot=
read -r -a sp <<<"$(q /slots)"
for (( k = 0; k < ${#sp[@]}; k += 2 )); do
    [[ " $steady " == *" ${sp[k]} ${sp[k + 1]} "* ]] || leaver_slot=${sp[k]}
done
bb_log "steady: $steady; leaving: slot $leaver_slot"

# Open Stage Control, headless, its OSC port the hub's feedback target.
oport=$(bb_free_udp_port)
http=$(bb_free_udp_port)
bb_bg "$BB_TMP/osc.log" node "$BB_TMP/app" --no-gui --read-only \
    --load "$BB_ROOT/share/open-stage-control/bandbridge.json" \
    --custom-module "$BB_ROOT/share/open-stage-control/bandbridge.module.js" \
    --send "127.0.0.1:$osc" --osc-port "$oport" --port "$http"
oscpid=$BB_LASTPID
http_up() { (exec 3<>"/dev/tcp/127.0.0.1/$http") 2>/dev/null; }
# Node loads O-S-C's whole server first: seconds, a minute on a loaded machine.
osc_up() { BB_WAIT=120 bb_wait_for http_up; }
check "Open Stage Control serves the layout (port $http)" osc_up
subscribed() { grep -q "127.0.0.1:$oport subscribed to meters" "$BB_TMP/hub.log"; }
check "its custom module subscribes to the hub's feedback and meters" bb_wait_for subscribed

mkdir -p "$BUILD/test-logs"
shot=$BUILD/test-logs/tablet.png
rm -f "$shot"
OSC_URL=http://127.0.0.1:$http HUB_OSC=$osc SLOTS=$steady LEAVER_SLOT=$leaver_slot \
    LEAVER_PID=$leaver SHOT=$shot CHROMIUM=$CHROMIUM BB_BIN=$BB_BIN PROFILE=$PROFILE LIMIT_S=600 \
    timeout -k 10 620 node "$BROWSER_DIR/tablet.js" >"$BB_TMP/tablet.out" 2>"$BB_TMP/tablet.log"
rc=$?
# The browser test's own lines, renumbered into this test's.
while IFS= read -r line; do
    if [[ $line =~ ^ok\ [0-9]+\ -\ (.*)$ ]]; then ok "${BASH_REMATCH[1]}"
    elif [[ $line =~ ^not\ ok\ [0-9]+\ -\ (.*)$ ]]; then not_ok "${BASH_REMATCH[1]}"
    else echo "$line"
    fi
done <"$BB_TMP/tablet.out"
check "the browser test ran to its end (status $rc)" test "$rc" -eq 0 -o "$rc" -eq 1
(( rc == 0 || rc == 1 )) || tail -n 20 "$BB_TMP/tablet.log" | sed 's/^/#   /'
check "the screenshot was taken ($shot)" test -s "$shot"
no_js_error() { ! grep -Eq 'page error|TypeError|ReferenceError' "$BB_TMP/tablet.out" "$BB_TMP/osc.log"; }
check "no JavaScript error in the pages or in O-S-C's custom module" no_js_error

# O-S-C 1.29 does not deliver the module's /unsubscribe when it stops: the
# leases end when they run out (10 s), as share/open-stage-control/README.md says.
bb_kill "$oscpid"
lease_ended() {
    grep -Eq "127.0.0.1:$oport(: meter lease expired| unsubscribed from everything)" "$BB_TMP/hub.log"
}
check "after O-S-C stops, the hub ends its leases" bb_wait_for lease_ended
if grep -q "127.0.0.1:$oport unsubscribed" "$BB_TMP/hub.log"; then
    bb_log "O-S-C delivered the module's /unsubscribe on stop"
else
    bb_log "O-S-C did not deliver the module's /unsubscribe on stop: the leases ran out"
fi
bb_kill "$load"
check "hub exits cleanly" bb_kill "$hub"
bb_done
