// SPDX-License-Identifier: GPL-2.0-or-later
// hub_load.h: the hub's own headroom, and what it sheds at its ceiling
// (issue 17). Control thread only, but for the levels it publishes to the
// engine (hub_engine.h: shed, tx_complexity).
//
// Once a second the control thread reads how much of a period the hub
// needs: the process callback's 99th percentile time over the last second
// (its histogram, hub_rt.c) and the send workers' worst lateness (from the
// callback's wake-up to the last datagram of the wake sent), each against
// the period. Above the ceiling (serve --load-ceiling PCT, e.g. 80; none
// by default: both are wall-clock times, which other programs on a shared
// machine stretch too, and a hub refusing joins for them would surprise;
// with none the load is measured and shown, never acted on) for two
// seconds in a row it sheds one more level, in this
// order: meters (the callback stops measuring; tablets see no meters),
// stereo encodes (a mix the musician can take as one block is sent mono),
// Opus complexity (every personal-mix encoder at 0). Below 60 % of the
// ceiling for five seconds it takes the last level back. With every level
// shed and the load over the ceiling, or over it with one more musician
// (the load scaled by their number), a JOIN is refused with REJECT BUSY.
// Each change is logged; /stats (load_pct, shed_level, busy_rejects) and
// `bandbridge status` (/status/load) show it.
#ifndef BB_HUB_LOAD_H
#define BB_HUB_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "hub_engine.h"

enum hub_shed {
    HUB_SHED_NONE       = 0,
    HUB_SHED_METERS     = 1, ///< no meters
    HUB_SHED_STEREO     = 2, ///< and mono mixes where the musician takes them
    HUB_SHED_COMPLEXITY = 3, ///< and Opus complexity 0
};
#define HUB_SHED_MAX HUB_SHED_COMPLEXITY

#define HUB_LOAD_CEILING_DEFAULT 0 ///< percent of a period; 0: none (measured, never acted on)

/// [ctl] The load and shedding state.
struct hub_load {
    unsigned ceiling_pct;  ///< --load-ceiling
    unsigned pct;          ///< the last second's load, percent of a period
    unsigned rt_p99_us;    ///< its callback p99
    unsigned tx_late_us;   ///< its send workers' worst lateness
    int      level;        ///< enum hub_shed
    unsigned over, under;  ///< seconds in a row above the ceiling, below 60 % of it
    int      complexity;   ///< the personal mixes' Opus complexity unshed
    uint64_t busy_rejects; ///< JOINs refused at the ceiling
    uint32_t prev_hist[HUB_HIST_BUCKETS]; ///< the callback histogram a second ago
};

/// [ctl] Before the engine runs: ceiling in percent, the mixes' complexity.
void hub_load_init(struct hub_load *l, struct hub_engine *e, unsigned ceiling_pct, int complexity);
/// [ctl] Once a second: measure, shed or take back, log a change.
/// musicians: connected now (with none, nothing more is shed).
void hub_load_tick(struct hub_load *l, struct hub_engine *e, unsigned period, unsigned rate,
                   unsigned musicians);
/// [ctl] Whether one more musician may join (musicians: connected now);
/// if not, why, in words for the REJECT, into why.
int hub_load_admits(struct hub_load *l, unsigned musicians, char *why, size_t why_size);
/// "meters, stereo" ...: what level sheds, for people ("nothing" at 0).
const char *hub_load_shed_text(int level);

#endif
