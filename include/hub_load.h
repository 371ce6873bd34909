// SPDX-License-Identifier: GPL-2.0-or-later
// hub_load.h: the hub's own headroom, and what it sheds at its ceiling
// (issue 17). Control thread only, but for the levels it publishes to the
// engine (hub_engine.h: shed, tx_complexity).
//
// Once a second the control thread reads the CPU time its threads used
// over the last second, which other programs on the machine cannot
// stretch (they can delay a thread, not make it compute more): the
// process callback's thread (its fraction of one core: the callback must
// finish within its period on one core, which it shares with the JACK
// server and the other clients of the graph), the receive thread (one
// core: it decodes every musician), and the send workers (the busiest
// one's fraction of a core, or all of them over the cores they may run
// on, whichever is larger).
// The largest of the three, in percent, is the hub's load. Above the
// ceiling (serve --load-ceiling PCT, HUB_LOAD_CEILING_DEFAULT unless
// told; 0: none, measured and shown, never acted on) for two seconds in
// a row it sheds one more level, in this order: meters (the callback
// stops measuring; tablets see no meters), stereo encodes (a mix the
// musician can take as one block is sent mono), Opus complexity (every
// personal-mix encoder at 0). Below 60 % of the ceiling for five seconds
// it takes the last level back. With every level shed and the load over
// the ceiling, or over it with one more musician (the load scaled by
// their number), a JOIN is refused with REJECT BUSY.
//
// A wall-clock figure is measured beside it for diagnosis, never acted
// on, since other busy programs stretch it: the callback's 99th
// percentile time over the last second (its histogram, hub_rt.c) or the
// send workers' worst lateness (from the callback's wake-up to the last
// datagram of the wake sent), the larger, against the period.
// Each change is logged, and with -v each second's CPU time in
// microseconds; /stats (load_pct, load_rt_pct, load_rx_pct, load_tx_pct,
// load_wall_pct, shed_level, busy_rejects) and `bandbridge status`
// (/status/load) show it.
#ifndef BB_HUB_LOAD_H
#define BB_HUB_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hub_engine.h"

enum hub_shed {
    HUB_SHED_NONE       = 0,
    HUB_SHED_METERS     = 1, ///< no meters
    HUB_SHED_STEREO     = 2, ///< and mono mixes where the musician takes them
    HUB_SHED_COMPLEXITY = 3, ///< and Opus complexity 0
};
#define HUB_SHED_MAX HUB_SHED_COMPLEXITY

/// Percent of a core. The callback needs a share of its period on one
/// core, which it shares with the JACK server and the other clients of
/// the graph: at 75 % a quarter of every period is left to them.
#define HUB_LOAD_CEILING_DEFAULT 75

/// [ctl] The CPU time the hub's threads have used since each started, in
/// ns, at one moment (hub_load_read_cpu); 0 where a thread's could not be
/// read.
struct hub_load_cpu {
    uint64_t  at_ns;                 ///< when (bb_now_ns)
    clockid_t rt_clock;              ///< the callback thread's clock: another one, another count
    uint64_t  rt_ns;                 ///< the process callback's thread
    uint64_t  rx_ns;                 ///< the receive thread
    uint64_t  tx_ns[HUB_TX_WORKERS]; ///< each send worker
};

/// [ctl] The load and shedding state.
struct hub_load {
    unsigned ceiling_pct;  ///< --load-ceiling, percent of a core
    unsigned cores;        ///< cores the send workers can use: this process's, at most HUB_TX_WORKERS
    unsigned pct;          ///< the last second's load: the largest of rt_pct, rx_pct, tx_pct
    unsigned rt_pct;       ///< the callback's thread, percent of a core
    unsigned rx_pct;       ///< the receive thread, percent of a core
    unsigned tx_pct;       ///< the send workers: the busiest's percent of a core, or all over cores
    unsigned wall_pct;     ///< diagnostic: rt_p99_us or tx_late_us against the period, percent
    unsigned rt_p99_us;    ///< the last second's callback p99 (wall time)
    unsigned tx_late_us;   ///< its send workers' worst lateness (wall time)
    int      level;        ///< enum hub_shed
    unsigned over, under;  ///< seconds in a row above the ceiling, below 60 % of it
    int      complexity;   ///< the personal mixes' Opus complexity unshed
    uint64_t busy_rejects; ///< JOINs refused at the ceiling
    struct hub_load_cpu prev_cpu;         ///< the threads' CPU time a second ago
    uint32_t prev_hist[HUB_HIST_BUCKETS]; ///< the callback histogram a second ago
};

/// [ctl] Before the engine runs: ceiling in percent of a core, the mixes'
/// complexity, the cores this process may run on (hub_load_cores).
void hub_load_init(struct hub_load *l, struct hub_engine *e, unsigned ceiling_pct, int complexity,
                   unsigned cores);
/// The cores this process may run on (its CPU affinity), at least 1.
unsigned hub_load_cores(void);
/// [ctl] The CPU time of the callback's thread, the receive thread and the
/// send workers now (their CPU-time clocks, hub_engine.h).
void hub_load_read_cpu(struct hub_engine *e, struct hub_load_cpu *out);
/// [ctl] Once a second, with the threads' CPU time now (hub_load_read_cpu):
/// measure, shed or take back, log a change. musicians: connected now
/// (with none, nothing more is shed). period and rate: for the wall-time
/// figure.
void hub_load_tick(struct hub_load *l, struct hub_engine *e, const struct hub_load_cpu *cpu,
                   unsigned period, unsigned rate, unsigned musicians);
/// [ctl] Whether one more musician may join (musicians: connected now);
/// if not, why, in words for the REJECT, into why.
int hub_load_admits(struct hub_load *l, unsigned musicians, char *why, size_t why_size);
/// "meters, stereo" ...: what level sheds, for people ("nothing" at 0).
const char *hub_load_shed_text(int level);

#endif
