#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# qjackctl-graph.sh: makes docs/qjackctl-graph.png, qjackctl's graph of a
# hub (--mix-ports) with alice (one channel) and dave (two), as a patchbay
# shows them from bandbridge's JACK metadata. Needs root (a mount
# namespace), qjackctl, xvfb, x11-apps (xwd), x11-utils, xdotool and
# netpbm: for this picture only, not for the build or the tests.
# Everything runs on a private jackd and X display and stops at the end.
#
#   docs/qjackctl-graph.sh [OUT.png]     (after make)
set -euo pipefail
# jackd2 keeps the metadata of all of a user's servers in one database in
# /dev/shm, which other servers running here would disturb (see
# test/it_jack_meta.sh): a private /dev/shm, in a mount namespace.
if [[ -z ${BB_PRIVATE_SHM:-} ]]; then
    export BB_PRIVATE_SHM=1
    exec unshare --mount --propagation private bash -c \
        'mount -t tmpfs -o size=256m,mode=1777 tmpfs /dev/shm && exec bash "$0" "$@"' "$0" "$@"
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/qjackctl-graph.png}
bin=$root/bandbridge
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbshot.XXXXXX")
pids=()
stop() {
    local i
    for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
        sleep 0.5
        kill -KILL "${pids[i]}" 2>/dev/null || true # qjackctl ignores TERM
        wait "${pids[i]}" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap stop EXIT
start() { local log=$1; shift; "$@" >"$tmp/$log" 2>&1 & pids+=($!); }
until_ok() { local i; for (( i = 0; i < 300; i++ )); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

export JACK_DEFAULT_SERVER=bbshot_$$ JACK_NO_START_SERVER=1 XDG_STATE_HOME=$tmp/state
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config XDG_RUNTIME_DIR=$tmp/run BANDBRIDGE_PASSWORD=shot
mkdir -p -m 700 "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/rncbc.org"
start jackd.log jackd -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 256
until_ok jack_lsp
start hub.log "$bin" serve --port 47100 --osc-port 0 --mix-ports --db none
until_ok bash -c 'jack_lsp | grep -qx bandbridge:main_L'
start alice.log "$bin" join 127.0.0.1:47100 --name alice --tone 440 --no-auto-connect
start dave.log "$bin" join 127.0.0.1:47100 --name dave --channels 2 --tone 220 --no-auto-connect
until_ok bash -c 'jack_lsp | grep -qx bandbridge:dave_2 && jack_lsp | grep -qx bandbridge:alice_1'
jack_connect system:capture_1 bandbridge:in_1
jack_connect system:capture_2 bandbridge:in_2
jack_connect bandbridge:main_L system:playback_1
jack_connect bandbridge:main_R system:playback_2

# qjackctl on a private display, showing pretty names (metadata); no
# window manager, so its windows are moved and clicked with xdotool.
printf '%s\n' '[Options]' StartJack=false StopJack=false QueryClose=false QueryShutdown=false \
    SystemTray=false AlsaSeqEnabled=false '[Display]' JackClientPortMetadata=true \
    JackClientPortAlias=0 >"$XDG_CONFIG_HOME/rncbc.org/QjackCtl.conf"
start xvfb.log Xvfb :77 -screen 0 1280x800x24 -nolisten tcp
export DISPLAY=:77
until_ok xdpyinfo
start qjackctl.log qjackctl
until_ok bash -c 'xdotool search --name "JACK Audio Connection" | grep -q .'
sleep 3 # qjackctl connects to the server: a picture, not a test
xdotool windowmove "$(xdotool search --name 'JACK Audio Connection' | head -1)" 800 700
sleep 1
xdotool mousemove 840 781 click 1 # its Graph button
until_ok bash -c 'xdotool search --name "^Graph" | grep -q .'
xdotool windowsize "$(xdotool search --name '^Graph' | head -1)" 1270 690
sleep 2
xdotool mousemove 112 8 click 1 # View
sleep 1
xdotool mousemove 185 233 click 1 # Repel Overlapping Nodes
sleep 4
xwd -root -silent | xwdtopnm 2>/dev/null | pamcut -left ${CROP_LEFT:-295} -top ${CROP_TOP:-170} \
    -width ${CROP_W:-680} -height ${CROP_H:-380} | pnmquant 32 2>/dev/null | pnmtopng -compression 9 >"$out"
echo "wrote $out"
