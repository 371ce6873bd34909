#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_pipewire.sh: bandbridge under PipeWire's JACK (Debian's pipewire and
# pipewire-jack: pw-jack), as on a desktop where PipeWire is the sound
# server. A private headless PipeWire (test/pipewire-null.conf: no D-Bus, no
# session manager, the dummy driver and a null sink) in a runtime directory
# of the test's own; the hub, a musician and bbprobe are started with
# pw-jack, so libjack is PipeWire's. Checks: the hub and the musician
# register their ports in PipeWire's graph; a signal played into alice's
# input comes out of the hub's port bandbridge:alice_1 (through her join,
# UDP and the hub), and alice's personal mix, which has herself in it,
# brings it back to her out_L; the hub names PipeWire's rate; a taken JACK
# name is still told as such.
. "$(dirname "$0")/lib.sh"
bb_init
for tool in pipewire pw-jack; do
    command -v "$tool" >/dev/null || { not_ok "$tool is installed (scripts/setup.sh: pipewire, pipewire-jack)"; bb_done; }
done

# PipeWire's sockets and state in the test's directory: the user's own
# PipeWire (if any) is never touched, and nothing needs D-Bus.
export XDG_RUNTIME_DIR=$BB_TMP/run
export PIPEWIRE_RUNTIME_DIR=$XDG_RUNTIME_DIR
export PIPEWIRE_REMOTE=bb-pw-$$
mkdir -m 700 -p "$XDG_RUNTIME_DIR"
sed "s/@NAME@/$PIPEWIRE_REMOTE/" "$BB_ROOT/test/pipewire-null.conf" >"$BB_TMP/pipewire.conf"
bb_bg "$BB_TMP/pipewire.log" pipewire -c "$BB_TMP/pipewire.conf"
pw=$BB_LASTPID
# Every client call has a deadline: a PipeWire client whose server does not
# serve it waits for ever.
check "PipeWire answers on $PIPEWIRE_REMOTE" bb_wait_for timeout 10 pw-jack jack_lsp
# The period the JACK clients ask PipeWire for (frames/rate): 256, as a
# desktop's PipeWire runs, which its timer keeps on this loaded machine.
export PIPEWIRE_QUANTUM=256/48000
PWJ=(pw-jack)
pw_has_port() { timeout 10 pw-jack jack_lsp 2>/dev/null | grep -Fxq -- "$1"; }

port=$(bb_free_udp_port)
osc=$(bb_free_udp_port)
bb_bg "$BB_TMP/hub.log" "${PWJ[@]}" "$BB_BIN" serve --port "$port" --osc-port "$osc" --db none -v
hub=$BB_LASTPID
check "the hub's ports are in PipeWire's graph" bb_wait_for pw_has_port bandbridge:main_L
check "... and it answers OSC" bb_wait_for ctl /info
bb_log "$(grep -m1 'listening on UDP' "$BB_TMP/hub.log")"
check "the hub says PipeWire's rate and period (48000 Hz)" grep -q "listening on UDP port $port (48000 Hz, period" "$BB_TMP/hub.log"

# Not bb_join: the join goes through pw-jack too.
bb_bg "$BB_TMP/alice.log" "${PWJ[@]}" "$BB_BIN" join "127.0.0.1:$port" --name alice --codec float \
    --jitter 256 --no-auto-connect --identity "$BB_TMP/id-alice" -v
alice=$BB_LASTPID
check "alice's ports are in PipeWire's graph" bb_wait_for pw_has_port bandbridge-alice:in_1
check "the hub has her channel" bb_wait_for pw_has_port bandbridge:alice_1
check "she hears the mix" bb_wait_for grep -q "hearing the mix" "$BB_TMP/alice.log"

# Sound: bbprobe plays into alice's input and listens to the hub's port
# and to alice's mix (everyone hears themselves at 0 dB by default). The
# dummy driver's timer wakes late now and then on this loaded machine and
# the jitter buffers move the lag, so each 512-sample block is judged at
# its own lag (med_*), not the whole recording at one.
good() { # FILE: alice_1 bit exact in the median block, her mix within 3 dB
    local s1 s2 g2
    s1=$(bb_probe_val "$1" "in_1 out_1" med_snr_db)
    s2=$(bb_probe_val "$1" "in_2 out_1" med_snr_db)
    g2=$(bb_probe_val "$1" "in_2 out_1" med_gain_db)
    bb_num_cmp "${s1:-0}" '>=' 30 && bb_num_cmp "${s2:-0}" '>=' 3 &&
        bb_num_cmp "${g2:-99}" '>=' -3 && bb_num_cmp "${g2:-99}" '<=' 3
}
for try in 1 2 3; do
    "${PWJ[@]}" "$BB_PROBE" --name bbprobe --outs 1 --ins 2 --seconds 3 --settle 2 --max-lag 9600 \
        --connect out_1=bandbridge-alice:in_1 --connect bandbridge:alice_1=in_1 \
        --connect bandbridge-alice:out_L=in_2 >"$BB_TMP/p.txt" 2>&1
    good "$BB_TMP/p.txt" && break
    bb_log "window $try: $(grep -E '^in_[12] out_1' "$BB_TMP/p.txt" | cut -d' ' -f1-2,13- | tr '\n' ' '): again"
done
sed 's/^/# probe: /' "$BB_TMP/p.txt"
check "alice's input arrives at the hub's port bandbridge:alice_1, bit exact in the median block (snr $(bb_probe_val "$BB_TMP/p.txt" "in_1 out_1" med_snr_db) dB)" \
    bb_num_cmp "$(bb_probe_val "$BB_TMP/p.txt" "in_1 out_1" med_snr_db)" '>=' 30
check "... and comes back in her mix at her out_L (gain $(bb_probe_val "$BB_TMP/p.txt" "in_2 out_1" med_gain_db) dB, snr $(bb_probe_val "$BB_TMP/p.txt" "in_2 out_1" med_snr_db) dB)" \
    good "$BB_TMP/p.txt"
# The load ceiling reads the CPU time of the thread PipeWire's libjack runs
# the callback on (hub_load.h; logged with -v once a second).
cpu_read() { grep -qE 'hub CPU time in the last [0-9]+ ms: callback [1-9][0-9]* us' "$BB_TMP/hub.log"; }
check "the hub reads its callback thread's CPU time under PipeWire" bb_wait_for cpu_read
bb_log "$(grep 'hub CPU time' "$BB_TMP/hub.log" | tail -n1)"

port2=$(bb_free_udp_port)
osc2=$(bb_free_udp_port)
timeout 60 "${PWJ[@]}" "$BB_BIN" serve --port "$port2" --osc-port "$osc2" --db none >"$BB_TMP/hub2.log" 2>&1
rc=$?
check "a second hub named bandbridge under PipeWire: exit 1, the name is taken ($(grep error: "$BB_TMP/hub2.log"))" \
    bash -c "[ $rc = 1 ] && grep -q \"the JACK client name 'bandbridge' is taken\" '$BB_TMP/hub2.log'"

bb_kill "$alice"
bb_kill "$hub"
check "the hub's ports leave PipeWire's graph" bb_wait_for bash -c "timeout 10 pw-jack jack_lsp >'$BB_TMP/lsp.txt' 2>/dev/null && ! grep -q '^bandbridge:' '$BB_TMP/lsp.txt'"
bb_kill "$pw"
bb_done
