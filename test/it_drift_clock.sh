#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_drift_clock.sh: on one clock there is no drift, and the estimator must
# say so. Hub and two musicians (PCM float and Opus) on one dummy-backend
# JACK server, drift compensation on (the default), for 30 s: every stream's
# estimate (two at the hub, one in each join) ends within 4 ppm of zero and
# no stream is ever resampled.
#
# This VM's dummy backend loses cycles many times a second; each used to
# move the sender's stream against JACK's frame counter by a period, and the
# estimate wandered by 20 to 50 ppm and engaged the resampler. The AUDIO
# header's ts now carries the sender's clock, so a lost cycle moves nothing.
. "$(dirname "$0")/lib.sh"
bb_init
bb_start_jack 64 48000 || { not_ok "jackd starts"; bb_done; }

SECS=30    # the estimate is trusted after 15 s; 15 s more of it
MAX_PPM=4  # measured here: within +-1.3 ppm, standard error 0.3 to 0.7
port=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "$BB_BIN" serve --port "$port" --osc-port 0 --db none -v
hub=$BB_LASTPID
bb_wait_port bandbridge:main_L
# As musicians run it: not under rtcheck.so, ports auto-connected.
BB_JOIN_PLAIN=1 bb_join alice float --tone 440 -v
BB_JOIN_PLAIN=1 bb_join bob opus --tone 660 -v
check "hub registers alice" bb_wait_port bandbridge:alice_1
check "hub registers bob" bb_wait_port bandbridge:bob_1

# Stats lines, one a second per stream: hub.log "NAME: fill ...", the
# joins' logs "mix from the hub: fill ...".
lines() { grep -c -- "$2: fill" "$BB_TMP/$1.log"; }
enough() {
    (($(lines hub alice) >= SECS && $(lines hub bob) >= SECS &&
        $(lines alice "mix from the hub") >= SECS && $(lines bob "mix from the hub") >= SECS))
}
BB_WAIT=$((SECS + 20)) check "every stream reported for $SECS s" bb_wait_for enough

# last_fit LOG WHO: "fit se" of the last stats line.
last_fit() {
    grep -- "$2: fill" "$BB_TMP/$1.log" | tail -1 | sed -E 's/.*\(fit (-?[0-9.]+) se ([0-9.]+).*/\1 \2/'
}
for s in "hub alice" "hub bob" "alice mix from the hub" "bob mix from the hub"; do
    log=${s%% *} who=${s#* }
    read -r fit se <<<"$(last_fit "$log" "$who")"
    bb_log "$log: $who: fit $fit ppm, standard error $se ($(grep -c -- "$who: fill" "$BB_TMP/$log.log") lines)"
    check "$log: $who: estimate trusted (standard error $se < 3)" bb_num_cmp "$se" "<" 3
    check "$log: $who: estimate $fit ppm within $MAX_PPM of 0" \
        bb_num_cmp "${fit#-}" "<=" "$MAX_PPM"
    check "$log: $who: never resampled" \
        bash -c "! grep -- '$who: fill' '$BB_TMP/$log.log' | grep -q 'resampling 1'"
done
bb_log "xruns reported by jackd: $(bb_xruns)"
bb_done
