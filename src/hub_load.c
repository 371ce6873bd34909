// SPDX-License-Identifier: GPL-2.0-or-later
// hub_load.c: the hub's headroom and shedding at its ceiling (hub_load.h).
// Control thread only.
#include <stdio.h>

#include "hub_load.h"
#include "log.h"

const char *hub_load_shed_text(int level)
{
    static const char *const text[] = {"nothing", "meters", "meters, stereo",
                                       "meters, stereo, complexity"};
    return level >= 0 && level <= HUB_SHED_MAX ? text[level] : "?";
}

void hub_load_init(struct hub_load *l, struct hub_engine *e, unsigned ceiling_pct, int complexity)
{
    *l = (struct hub_load){.ceiling_pct = ceiling_pct, .complexity = complexity};
    atomic_store(&e->shed, HUB_SHED_NONE);
    atomic_store(&e->tx_complexity, complexity);
}

// The 99th percentile of the callback times counted since the last call, us.
static unsigned rt_p99_us(struct hub_load *l, struct hub_engine *e)
{
    uint32_t d[HUB_HIST_BUCKETS];
    uint64_t n = 0;
    for (int i = 0; i < HUB_HIST_BUCKETS; i++) {
        uint32_t now = atomic_load_explicit(&e->stats.rt_hist[i], memory_order_relaxed);
        d[i] = now - l->prev_hist[i];
        l->prev_hist[i] = now;
        n += d[i];
    }
    if (!n)
        return 0;
    uint64_t seen = 0;
    for (int i = 0; i < HUB_HIST_BUCKETS; i++) {
        seen += d[i];
        if (seen * 100 >= n * 99)
            return (unsigned)((i + 1) * HUB_HIST_US); // the bucket's upper end
    }
    return HUB_HIST_BUCKETS * HUB_HIST_US;
}

static void set_level(struct hub_load *l, struct hub_engine *e, int level)
{
    l->level = level;
    atomic_store_explicit(&e->shed, level, memory_order_relaxed);
    atomic_store_explicit(&e->tx_complexity, level >= HUB_SHED_COMPLEXITY ? 0 : l->complexity,
                          memory_order_relaxed);
}

void hub_load_tick(struct hub_load *l, struct hub_engine *e, unsigned period, unsigned rate,
                   unsigned musicians)
{
    double period_us = 1e6 * (period ? period : 64) / (rate ? rate : 48000);
    l->rt_p99_us = rt_p99_us(l, e);
    l->tx_late_us = (unsigned)(atomic_exchange(&e->stats.tx_late_ns, 0) / 1000);
    unsigned worst = l->rt_p99_us > l->tx_late_us ? l->rt_p99_us : l->tx_late_us;
    l->pct = (unsigned)(100.0 * worst / period_us + 0.5);
    if (!l->ceiling_pct) // no ceiling: measured and shown, never acted on
        return;
    if (l->pct > l->ceiling_pct && musicians) { // with nobody in, nothing to shed for
        l->under = 0;
        if (++l->over >= 2 && l->level < HUB_SHED_MAX) {
            set_level(l, e, l->level + 1);
            l->over = 0;
            bb_warn("hub load %u %% of its period (callback p99 %u us, send %u us late; "
                    "ceiling %u %%): shedding %s",
                    l->pct, l->rt_p99_us, l->tx_late_us, l->ceiling_pct,
                    hub_load_shed_text(l->level));
        }
    } else if (l->pct * 10 < l->ceiling_pct * 6) {
        l->over = 0;
        if (++l->under >= 5 && l->level > HUB_SHED_NONE) {
            set_level(l, e, l->level - 1);
            l->under = 0;
            bb_info("hub load %u %% of its period (ceiling %u %%): shedding %s", l->pct,
                    l->ceiling_pct, hub_load_shed_text(l->level));
        }
    } else {
        l->over = l->under = 0;
    }
}

int hub_load_admits(struct hub_load *l, unsigned musicians, char *why, size_t why_size)
{
    if (!l->ceiling_pct || !musicians || l->level < HUB_SHED_MAX)
        return 1;
    // The load grows with the musicians (about: what grouping saves makes
    // it less): one more would need pct * (n + 1) / n.
    if ((uint64_t)l->pct * (musicians + 1) <= (uint64_t)l->ceiling_pct * musicians)
        return 1;
    snprintf(why, why_size,
             "the hub is at its ceiling (load %u %% of its period, ceiling %u %%, shedding %s); "
             "try again later",
             l->pct, l->ceiling_pct, hub_load_shed_text(l->level));
    l->busy_rejects++;
    return 0;
}
