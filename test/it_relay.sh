#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# it_relay.sh: bbrelay (test/tools/bbrelay.c), the impairment relay, measured
# from outside: a UDP echo in python3 on 127.0.0.1 plays client and hub,
# numbers every packet and stamps it with CLOCK_MONOTONIC, and reports what
# the hub side saw (unique, duplicates, late = arrived after a later one,
# runs of missing numbers, source addresses) and the round trips the client
# saw. Each run checks the relay's own counters against what was seen:
#   no impairment: everything through, in order, two clients kept apart;
#   delay: one-way times grow by what was set, within 1 ms (medians); a
#     heavy tail has the 99th percentile and median asked for;
#   loss: the echo misses exactly what the relay says it dropped, and the
#     rate is within 5 sigma of the binomial; bursts have the mean length asked;
#   outage: nothing sent in the window arrives, everything outside does;
#   duplication and reordering: the echo sees exactly the duplicates and
#     late packets the relay counts; jitter reorders unless --jitter-keep-order;
#   rebinding: the hub sees a second source port, replies still arrive.
# The relay's lateness (send time - release time) is logged for every run
# and held to a generous bound (p50 < 1 ms): accuracy figures belong in a
# benchmark, a broken scheduler does not.
. "$(dirname "$0")/lib.sh"
bb_init
RELAY=$BUILD/bbrelay
[[ -x $RELAY ]] || { not_ok "bbrelay is built ($RELAY)"; bb_done; }
# The pyenv shim takes seconds to start on this machine; the system python
# does the same job in a fraction.
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

cat >"$BB_TMP/echo.py" <<'EOF'
# Client(s) and hub in one process, one select loop. Waits for the relay's
# start line (t0) in --t0-file before sending, so outage windows line up.
import argparse, os, select, socket, struct, sys, time
ap = argparse.ArgumentParser()
ap.add_argument('--relay', type=int, required=True)
ap.add_argument('--hub', type=int, required=True)
ap.add_argument('--n', type=int, default=1000)
ap.add_argument('--interval-ms', type=float, default=1.0)
ap.add_argument('--clients', type=int, default=1)
ap.add_argument('--t0-file', required=True)
ap.add_argument('--ready-file', required=True)
ap.add_argument('--window', default='')  # A:B seconds after t0
ap.add_argument('--linger-ms', type=float, default=300)
a = ap.parse_args()
# Arrival times from the kernel (SO_TIMESTAMPNS, CLOCK_REALTIME): a python
# starved of CPU on a loaded machine reads late, but the stamps are the
# arrival. SO_RXQ_OVFL: packets the kernel dropped because we read too late
# (kdrops), which would be taken for the relay's doing.
SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)
SO_RXQ_OVFL = getattr(socket, 'SO_RXQ_OVFL', 40)
def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    return s
kdrops = {}
def rx(s):
    d, anc, _, src = s.recvmsg(65536, 256)
    ts = time.time_ns()
    for lvl, typ, data in anc:
        if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack('qq', data[:16])
            ts = sec * 1000000000 + nsec
        elif lvl == socket.SOL_SOCKET and typ == SO_RXQ_OVFL and len(data) >= 4:
            kdrops[s.fileno()] = struct.unpack('I', data[:4])[0]
    return d, src, ts
hub = sock()
hub.bind(('127.0.0.1', a.hub))
cl = []
for i in range(a.clients):
    s = sock()
    s.bind(('127.0.0.1', 0))
    cl.append(s)
open(a.ready_file, 'w').close()
t0 = None
deadline = time.monotonic() + 20
while t0 is None and time.monotonic() < deadline:
    try:
        for w in open(a.t0_file).read().split():
            if w.startswith('t0_ns='):
                t0 = int(w[6:])
    except OSError:
        pass
    if t0 is None:
        time.sleep(0.01)
if t0 is None:
    print('status=no_relay')
    sys.exit(1)
FMT = '!IQq'  # client, seq, send time (CLOCK_REALTIME ns, as the kernel's stamps)
seen, maxseq, sources, sendt = {}, {}, {}, {}
late = back = 0
rtt, oneway, down = [], [], []
wrong_client = 0
def hub_rx():
    global late
    d, src, ts = rx(hub)
    c, q, t = struct.unpack(FMT, d[:20])
    oneway.append((ts - t) / 1e6)
    k = (c, q)
    seen[k] = seen.get(k, 0) + 1
    if seen[k] == 1:
        if q < maxseq.get(c, -1):
            late += 1
        maxseq[c] = max(maxseq.get(c, -1), q)
    sources.setdefault(c, set()).add(src)
    # The echo's own send time in bytes 20..27: the way down is timed from it.
    hub.sendto(d[:20] + struct.pack('!q', time.time_ns()) + d[28:], src)
def cl_rx(i, s):
    global back, wrong_client
    d, src, ts = rx(s)
    c, q, t = struct.unpack(FMT, d[:20])
    back += 1
    wrong_client += c != i
    rtt.append((ts - t) / 1e6)
    down.append((ts - struct.unpack('!q', d[20:28])[0]) / 1e6)
fds = [hub] + cl
nxt = time.monotonic_ns()
step = int(a.interval_ms * 1e6)
i = 0
end = None
while True:
    now = time.monotonic_ns()
    if i < a.n and now >= nxt:
        for c, s in enumerate(cl):
            sendt[(c, i)] = time.monotonic_ns()  # the relay's clock, for --window
            s.sendto(struct.pack(FMT, c, i, time.time_ns()) + b'x' * 100, ('127.0.0.1', a.relay))
        i += 1
        nxt += step
        continue
    if i >= a.n and end is None:
        end = now + int(a.linger_ms * 1e6)
    if end is not None and now >= end:
        break
    r, _, _ = select.select(fds, [], [], max(((nxt if i < a.n else end) - now) / 1e9, 0))
    for f in r:
        if f is hub:
            hub_rx()
        else:
            cl_rx(cl.index(f), f)
rtt.sort()
oneway.sort()
down.sort()
pct = lambda p, v=rtt: v[min(len(v) - 1, int(p * len(v)))] if v else -1
runs = []
for c in range(a.clients):
    run = 0
    for q in range(a.n):
        if (c, q) in seen:
            if run:
                runs.append(run)
            run = 0
        else:
            run += 1
    if run:
        runs.append(run)
out = dict(status='ok', sent=a.n * a.clients, hub_unique=len(seen),
           hub_dups=sum(v - 1 for v in seen.values()), hub_late=late,
           hub_sources=sum(len(v) for v in sources.values()), back=back, wrong_client=wrong_client,
           loss_runs=len(runs), loss_run_mean='%.2f' % (sum(runs) / len(runs) if runs else 0),
           rtt_p10_ms='%.3f' % pct(0.1), rtt_p50_ms='%.3f' % pct(0.5), rtt_p90_ms='%.3f' % pct(0.9),
           up_p50_ms='%.3f' % pct(0.5, oneway), up_p99_ms='%.3f' % pct(0.99, oneway), down_p50_ms='%.3f' % pct(0.5, down), kdrops=sum(kdrops.values()))
if a.window:
    w0, w1 = (float(x) for x in a.window.split(':'))
    rel = lambda t: (t - t0) / 1e9
    # Stamped by us just before sendto, by the relay when it read the
    # packet: one packet at each edge can fall either way, so the checks
    # leave out 2 ms at the edges (the count is checked +-2).
    e = 0.002
    inwin = [k for k, t in sendt.items() if w0 <= rel(t) < w1]
    out['sent_in_window'] = len(inwin)
    out['seen_in_window'] = sum(1 for k, t in sendt.items() if w0 + e <= rel(t) < w1 - e and k in seen)
    out['lost_outside_window'] = sum(1 for k, t in sendt.items() if not (w0 - e <= rel(t) < w1 + e) and k not in seen)
print(' '.join('%s=%s' % kv for kv in out.items()))
EOF

# run NAME "echo options" relay options...: echo and relay on fresh ports;
# NAME.echo has the echo's line, NAME.relay the relay's lines. A run is
# made again, up to 3 times, when the kernel dropped packets at the echo
# (it read too late: a starved python on a loaded machine), or when the
# relay's sends were 5 ms late at the 99th percentile (the machine stalled,
# seen here at 60..190 ms): neither is the relay's doing, and the exact and
# timing checks would blame it. The last try is checked whatever it was.
run() {
    local try p99
    for try in 1 2 3; do
        run_once "$@"
        p99=$(r "$1" up late_p99_us)
        [[ $p99 == none ]] && p99=0
        [[ $(e "$1" kdrops) == 0 ]] && (( p99 <= 5000 )) && return
        bb_log "$1: kernel drops at the echo $(e "$1" kdrops), relay lateness p99 $p99 us (try $try); again"
    done
}
run_once() {
    local name=$1 eopts=$2 hubp relp echo relay
    shift 2
    hubp=$(bb_free_udp_port) relp=$(bb_free_udp_port)
    # A try before left its files: the echo must wait for this relay's t0.
    rm -f "$BB_TMP/$name.ready" "$BB_TMP/$name.relay"
    # shellcheck disable=SC2086 # eopts is a list of options
    bb_bg "$BB_TMP/$name.echo" "$PY" "$BB_TMP/echo.py" --relay "$relp" --hub "$hubp" \
        --t0-file "$BB_TMP/$name.relay" --ready-file "$BB_TMP/$name.ready" $eopts
    echo=$BB_LASTPID
    BB_WAIT=30 bb_wait_for test -e "$BB_TMP/$name.ready" || not_ok "$name: echo started"
    bb_bg "$BB_TMP/$name.relay" "$RELAY" --listen "127.0.0.1:$relp" --hub "127.0.0.1:$hubp" "$@"
    relay=$BB_LASTPID
    bb_wait_exit "$echo" 60 || not_ok "$name: echo finished ($(cat "$BB_TMP/$name.echo"))"
    bb_kill "$relay" # TERM: the relay prints its counters and exits 0
    check "$name: relay exits 0 on TERM" test $? -eq 0
    bb_log "$name: echo: $(cat "$BB_TMP/$name.echo")"
    sed "s/^/# $name: relay: /" "$BB_TMP/$name.relay"
    late=$(r "$name" up late_p50_us)
    [[ $late == none ]] || check "$name: relay sends on time (up p50 lateness $late us < 1000, p99 $(r "$name" up late_p99_us), max $(r "$name" up late_max_us))" \
        bb_num_cmp "$late" "<" 1000
}
e() { # e NAME KEY: from the echo's line
    tr ' ' '\n' <"$BB_TMP/$1.echo" | awk -F= -v k="$2" '$1 == k { print $2 }'
}
r() { # r NAME DIR KEY: from the relay's exit line for DIR (up, down) or "relay"
    awk -v d="$2" -v k="$3" '($1 == "dir=" d || (d == "relay" && $1 == "relay")) && !/^stats/ {
        for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$BB_TMP/$1.relay"
}

# 1. No impairment: two clients, everything through and back, in order.
run plain "--n 800 --interval-ms 2 --clients 2"
check "plain: the hub got every packet once ($(e plain hub_unique) of $(e plain sent))" test "$(e plain hub_unique)" = "$(e plain sent)"
check "plain: no duplicate, none out of order" test "$(e plain hub_dups)$(e plain hub_late)" = 00
check "plain: every reply came back, each to its own client ($(e plain back), wrong $(e plain wrong_client))" \
    test "$(e plain back)-$(e plain wrong_client)" = "$(e plain sent)-0"
check "plain: the hub sees the two clients as two sources" test "$(e plain hub_sources)" = 2
check "plain: relay counts 2000 in and out, nothing reordered" \
    test "$(r plain up in) $(r plain up sent) $(r plain up reordered) $(r plain relay clients)" = "1600 1600 0 2"

# 2. Delay: 20 ms up, 10 ms down.
run delay "--n 800 --interval-ms 2" --up-delay 20 --down-delay 10
# One-way times from the sender's stamp just before sendto to the kernel's
# arrival stamp at the receiver: the echo's own reaction time (a python on a
# loaded machine, milliseconds at times) stays out of them, as it does not
# out of the round trip, which is only logged. The relay times its releases
# from the kernel's arrival stamps too, so what is left on top of the delay
# set is its lateness and the time of a sendto.
for dir in up:20 down:10; do
    d=$(e delay "${dir%:*}_p50_ms")
    check "delay: median one-way time ${dir%:*} $d ms for ${dir#*:} ms set (within 1 ms; $(e plain "${dir%:*}_p50_ms") ms without)" \
        awk -v d="$d" -v s="${dir#*:}" 'BEGIN { exit !(d > s - 1 && d < s + 1) }'
done
bb_log "delay: median round trip $(e delay rtt_p50_ms) ms, $(e plain rtt_p50_ms) ms without delay"
check "delay: without jitter nothing is reordered ($(r delay up reordered) up, $(r delay down reordered) down)" \
    test "$(r delay up reordered)$(r delay down reordered)$(e delay hub_late)" = 000

# 2b. A heavy tail: Lomax (Pareto II) of shape 2 with its 99th percentile at
# 40 ms: its median is 40 / 9 * (sqrt(2) - 1) = 1.84 ms. 2000 packets pin the
# 99th percentile to about +-20 %; the bands are wider.
run tail "--n 2000" --up-tail 40 --seed 9
p99=$(e tail up_p99_ms) p50=$(e tail up_p50_ms)
check "tail: one-way p99 $p99 ms for a 40 ms p99 (28..56)" awk -v d="$p99" 'BEGIN { exit !(d > 28 && d < 56) }'
check "tail: median $p50 ms (1.84 expected; 0.9..3)" awk -v d="$p50" 'BEGIN { exit !(d > 0.9 && d < 3) }'

# 3. Random loss, 10 % up: exact count against the echo, rate within 5 sigma.
run loss "--n 2000" --up-loss 10 --seed 7
dl=$(r loss up dropped_loss)
check "loss: the hub missed exactly what the relay dropped ($dl)" test $(( 2000 - $(e loss hub_unique) )) -eq "$dl"
check "loss: $dl of 2000 dropped, within 5 sigma of 200 (133..267)" test "$dl" -ge 133 -a "$dl" -le 267
check "loss: nothing dropped down" test "$(r loss down dropped_loss)" = 0

# 4. Gilbert bursts: 10 % loss in runs of 5 on average.
run burst "--n 3000" --up-loss 10 --up-burst 5 --seed 11
db=$(r burst up dropped_burst)
check "burst: the hub missed exactly what the relay dropped ($db)" test $(( 3000 - $(e burst hub_unique) )) -eq "$db"
check "burst: $db of 3000 lost, 10 % within a generous band for runs of 5 (150..450)" test "$db" -ge 150 -a "$db" -le 450
check "burst: mean run of missing packets $(e burst loss_run_mean) in $(e burst loss_runs) runs (3.5..7)" \
    awk -v m="$(e burst loss_run_mean)" 'BEGIN { exit !(m >= 3.5 && m <= 7) }'

# 5. Outage from 1.0 s to 1.5 s after the relay started; packets every ms for 2.5 s.
run outage "--n 2500 --window 1.0:1.5" --up-outage 1:0.5
check "outage: nothing sent in the window (2 ms from its edges) reached the hub ($(e outage seen_in_window) of $(e outage sent_in_window))" \
    test "$(e outage seen_in_window)" = 0
check "outage: the window held ~500 packets ($(e outage sent_in_window))" test "$(e outage sent_in_window)" -ge 450
check "outage: nothing outside it (2 ms from its edges) was lost ($(e outage lost_outside_window))" test "$(e outage lost_outside_window)" = 0
check "outage: relay counts what the window held ($(r outage up dropped_outage) vs $(e outage sent_in_window), +-2 at the edges)" \
    test $(( $(r outage up dropped_outage) - $(e outage sent_in_window) )) -ge -2 -a \
    $(( $(r outage up dropped_outage) - $(e outage sent_in_window) )) -le 2

# 6. Duplication and reordering (10 % each, held back 20 ms).
run dupre "--n 2000" --up-dup 10 --up-reorder 10:20 --seed 5
check "dup: the hub saw exactly the duplicates the relay made ($(e dupre hub_dups) vs $(r dupre up duplicated))" \
    test "$(e dupre hub_dups)" = "$(r dupre up duplicated)"
check "dup: about 10 % ($(r dupre up duplicated) of 2000)" test "$(r dupre up duplicated)" -ge 133 -a "$(r dupre up duplicated)" -le 267
check "reorder: the hub saw exactly the late packets the relay counts ($(e dupre hub_late) vs $(r dupre up reordered))" \
    test "$(e dupre hub_late)" = "$(r dupre up reordered)"
check "reorder: packets were held ($(r dupre up held)) and overtaken ($(r dupre up reordered))" \
    test "$(r dupre up held)" -ge 133 -a "$(r dupre up reordered)" -ge 100

# 7. Jitter (+-5 ms, packets every ms) reorders by itself; --jitter-keep-order does not.
run jitter "--n 1500" --up-jitter 5 --seed 3
check "jitter: packets overtake each other ($(r jitter up reordered) late, echo $(e jitter hub_late))" \
    test "$(r jitter up reordered)" -gt 0 -a "$(e jitter hub_late)" = "$(r jitter up reordered)"
run keep "--n 1500" --up-jitter 5 --up-jitter-keep-order --seed 3
check "jitter-keep-order: nothing out of order ($(r keep up reordered), echo $(e keep hub_late))" \
    test "$(r keep up reordered)$(e keep hub_late)" = 00
check "jitter-keep-order: every packet arrived ($(e keep hub_unique))" test "$(e keep hub_unique)" = 1500

# 8. NAT rebinding at 1 s: a second source port at the hub, replies still arrive.
run rebind "--n 2000" --rebind 1
check "rebind: the relay rebound once" test "$(r rebind relay rebinds)" = 1
check "rebind: the hub saw the client from two source ports" test "$(e rebind hub_sources)" = 2
check "rebind: replies came back throughout (back $(e rebind back) of $(e rebind hub_unique) at the hub, >= 99 %)" \
    test $(( $(e rebind back) * 100 )) -ge $(( $(e rebind hub_unique) * 99 ))
bb_done
