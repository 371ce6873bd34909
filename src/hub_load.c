// SPDX-License-Identifier: GPL-2.0-or-later
// hub_load.c: the hub's headroom and shedding at its ceiling (hub_load.h).
// Control thread only.
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "hub_load.h"
#include "log.h"

const char *hub_load_shed_text(int level)
{
    static const char *const text[] = {"nothing", "meters", "meters, stereo",
                                       "meters, stereo, complexity"};
    return level >= 0 && level <= HUB_SHED_MAX ? text[level] : "?";
}

void hub_load_init(struct hub_load *l, struct hub_engine *e, unsigned ceiling_pct, int complexity,
                   unsigned cores)
{
    *l = (struct hub_load){.ceiling_pct = ceiling_pct, .complexity = complexity};
    l->cores = cores < 1 ? 1 : cores > HUB_TX_WORKERS ? HUB_TX_WORKERS : cores;
    atomic_store(&e->shed, HUB_SHED_NONE);
    atomic_store(&e->tx_complexity, complexity);
}

unsigned hub_load_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

// A thread's CPU time so far, ns; 0 without a clock or when it cannot be
// read (a thread that is gone: the kernel refuses its clock).
static uint64_t thread_ns(clockid_t clock)
{
    struct timespec ts;
    if (!clock || clock_gettime(clock, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hub_load_read_cpu(struct hub_engine *e, struct hub_load_cpu *out)
{
    out->at_ns = bb_now_ns();
    out->rt_clock = atomic_load_explicit(&e->rt_cpu_clock, memory_order_relaxed);
    out->rt_ns = thread_ns(out->rt_clock);
    out->rx_ns = thread_ns(e->rx_cpu_clock);
    for (int w = 0; w < HUB_TX_WORKERS; w++)
        out->tx_ns[w] = thread_ns(e->tx_cpu_clock[w]);
}

// CPU time used between two readings of one thread's clock, ns; 0 when
// either is missing.
static uint64_t used_ns(uint64_t before, uint64_t now)
{
    return before && now > before ? now - before : 0;
}

// ns of CPU time over elapsed ns of cores cores, in percent, rounded.
static unsigned cpu_pct(uint64_t ns, uint64_t elapsed, unsigned cores)
{
    uint64_t whole = elapsed * cores;
    return (unsigned)((ns * 100 + whole / 2) / whole);
}

// The threads' CPU time since the last reading, in percent of a core
// (hub_load.h); all 0 at the first reading.
static void cpu_load(struct hub_load *l, const struct hub_load_cpu *cpu)
{
    const struct hub_load_cpu *p = &l->prev_cpu;
    l->rt_pct = l->rx_pct = l->tx_pct = 0;
    if (p->at_ns && cpu->at_ns > p->at_ns) {
        uint64_t elapsed = cpu->at_ns - p->at_ns;
        // A new callback thread (JACK came back): its count starts again.
        uint64_t rt_ns = cpu->rt_clock == p->rt_clock ? used_ns(p->rt_ns, cpu->rt_ns) : 0;
        l->rt_pct = cpu_pct(rt_ns, elapsed, 1);
        uint64_t rx_ns = used_ns(p->rx_ns, cpu->rx_ns);
        l->rx_pct = cpu_pct(rx_ns, elapsed, 1);
        uint64_t all = 0, busiest = 0;
        for (int w = 0; w < HUB_TX_WORKERS; w++) {
            uint64_t ns = used_ns(p->tx_ns[w], cpu->tx_ns[w]);
            all += ns;
            busiest = ns > busiest ? ns : busiest;
        }
        // Each worker is one thread (one core at most); together they
        // share the cores there are.
        unsigned one = cpu_pct(busiest, elapsed, 1), shared = cpu_pct(all, elapsed, l->cores);
        l->tx_pct = one > shared ? one : shared;
        bb_debug("hub CPU time in the last %llu ms: callback %llu us, receive %llu us, "
                 "send %llu us (busiest worker %llu us)",
                 (unsigned long long)(elapsed / 1000000), (unsigned long long)(rt_ns / 1000),
                 (unsigned long long)(rx_ns / 1000),
                 (unsigned long long)(all / 1000), (unsigned long long)(busiest / 1000));
    }
    l->prev_cpu = *cpu;
    l->pct = l->rt_pct;
    l->pct = l->rx_pct > l->pct ? l->rx_pct : l->pct;
    l->pct = l->tx_pct > l->pct ? l->tx_pct : l->pct;
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

// The wall-time figure, for diagnosis: the callback's p99 or the send
// workers' worst lateness, the larger, against the period.
static void wall_load(struct hub_load *l, struct hub_engine *e, unsigned period, unsigned rate)
{
    double period_us = 1e6 * (period ? period : 64) / (rate ? rate : 48000);
    l->rt_p99_us = rt_p99_us(l, e);
    l->tx_late_us = (unsigned)(atomic_exchange(&e->stats.tx_late_ns, 0) / 1000);
    unsigned worst = l->rt_p99_us > l->tx_late_us ? l->rt_p99_us : l->tx_late_us;
    l->wall_pct = (unsigned)(100.0 * worst / period_us + 0.5);
}

static void set_level(struct hub_load *l, struct hub_engine *e, int level)
{
    l->level = level;
    atomic_store_explicit(&e->shed, level, memory_order_relaxed);
    atomic_store_explicit(&e->tx_complexity, level >= HUB_SHED_COMPLEXITY ? 0 : l->complexity,
                          memory_order_relaxed);
}

void hub_load_tick(struct hub_load *l, struct hub_engine *e, const struct hub_load_cpu *cpu,
                   unsigned period, unsigned rate, unsigned musicians)
{
    cpu_load(l, cpu);
    wall_load(l, e, period, rate);
    if (!l->ceiling_pct) // no ceiling: measured and shown, never acted on
        return;
    if (l->pct > l->ceiling_pct && musicians) { // with nobody in, nothing to shed for
        l->under = 0;
        if (++l->over >= 2 && l->level < HUB_SHED_MAX) {
            set_level(l, e, l->level + 1);
            l->over = 0;
            bb_warn("hub load %u %% of a core (callback %u %%, receive %u %%, send %u %%; "
                    "ceiling %u %%): shedding %s",
                    l->pct, l->rt_pct, l->rx_pct, l->tx_pct, l->ceiling_pct,
                    hub_load_shed_text(l->level));
        }
    } else if (l->pct * 10 < l->ceiling_pct * 6) {
        l->over = 0;
        if (++l->under >= 5 && l->level > HUB_SHED_NONE) {
            set_level(l, e, l->level - 1);
            l->under = 0;
            bb_info("hub load %u %% of a core (ceiling %u %%): shedding %s", l->pct,
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
             "the hub is at its ceiling (load %u %% of a core, ceiling %u %%, shedding %s); "
             "try again later",
             l->pct, l->ceiling_pct, hub_load_shed_text(l->level));
    l->busy_rejects++;
    return 0;
}
