// SPDX-License-Identifier: GPL-2.0-or-later
// test_hub_load.c: unit test of the hub's headroom and shedding (hub_load.h),
// with fed numbers: the load from the threads' CPU time (a core for the
// callback and the receive thread, the busiest worker or all over the
// cores for the send side; a thread that changed or cannot be read counts
// nothing), the wall-time figure shown but not acted on, the order and
// pace of shedding and taking back, the engine's levels, the refusal.
#include <string.h>

#include "check.h"
#include "hub_load.h"

static struct hub_engine e; // large; only its stats and levels are used

// What the threads' CPU-time clocks read: counts since each thread started.
static struct hub_load_cpu cpu = {.at_ns = 5000000000ull, .rt_clock = -6, .rt_ns = 1,
                                  .rx_ns = 1, .tx_ns = {1, 1}};

#define PCT_NS 10000000ull // 1 % of one second, ns

// One second of CPU time: rt, rx, tx0 and tx1 percent of a core, then the
// control thread's tick with musicians connected. The callback's wall
// time, 750 callbacks in the bucket of 100 us (64 frames at 48 kHz: a
// period of 1333 us, so 8 %), unless wall_us says otherwise.
static void tick(struct hub_load *l, unsigned rt, unsigned rx, unsigned tx0, unsigned tx1,
                 unsigned wall_us, unsigned musicians)
{
    cpu.at_ns += 1000000000ull;
    cpu.rt_ns += rt * PCT_NS;
    cpu.rx_ns += rx * PCT_NS;
    cpu.tx_ns[0] += tx0 * PCT_NS;
    cpu.tx_ns[1] += tx1 * PCT_NS;
    atomic_fetch_add(&e.stats.rt_hist[(wall_us ? wall_us : 100) / HUB_HIST_US], 750);
    hub_load_tick(l, &e, &cpu, 64, 48000, musicians);
}

// One second of three musicians with the callback at rt % and the rest light.
static void second(struct hub_load *l, unsigned rt)
{
    tick(l, rt, 5, 3, 3, 0, 3);
}

// The figures: per thread, the send side's two ways, the first reading,
// a new callback thread, a clock that cannot be read, a longer second.
static void test_figures(void)
{
    static struct hub_load l;
    hub_load_init(&l, &e, 0, 0, 2);
    tick(&l, 40, 50, 0, 0, 0, 3);
    CHECK(l.pct == 0 && l.rt_pct == 0); // the first reading: nothing to compare with
    tick(&l, 12, 30, 20, 10, 0, 3);
    CHECK(l.rt_pct == 12 && l.rx_pct == 30 && l.tx_pct == 20 && l.pct == 30);
    CHECK(l.wall_pct == 8 && l.rt_p99_us == 105); // 750 callbacks in [100, 105) us
    tick(&l, 12, 5, 70, 60, 0, 3); // two workers on two cores: the busiest
    CHECK(l.tx_pct == 70 && l.pct == 70);
    hub_load_init(&l, &e, 0, 0, 1); // one core: both workers share it
    tick(&l, 0, 0, 0, 0, 0, 3);
    tick(&l, 12, 5, 50, 40, 0, 3);
    CHECK(l.tx_pct == 90 && l.pct == 90);
    hub_load_init(&l, &e, 0, 0, 16); // more cores than workers: two count
    CHECK(l.cores == HUB_TX_WORKERS);
    hub_load_init(&l, &e, 0, 0, 0);
    CHECK(l.cores == 1);
    // JACK came back: the callback runs on a new thread, whose count is
    // its own; that second says nothing of the callback, the next does.
    tick(&l, 0, 0, 0, 0, 0, 3);
    cpu.rt_clock = -14;
    cpu.rt_ns += 500 * PCT_NS; // its own count, here higher than the old thread's
    tick(&l, 20, 5, 0, 0, 0, 3);
    CHECK(l.rt_pct == 0 && l.rx_pct == 5);
    tick(&l, 20, 5, 0, 0, 0, 3);
    CHECK(l.rt_pct == 20);
    // A clock that cannot be read (the thread is gone): nothing from it.
    uint64_t rx = cpu.rx_ns;
    cpu.at_ns += 1000000000ull;
    cpu.rt_ns += 20 * PCT_NS;
    cpu.rx_ns = 0;
    hub_load_tick(&l, &e, &cpu, 64, 48000, 3);
    CHECK(l.rx_pct == 0 && l.pct == 20);
    cpu.rx_ns = rx + 50 * PCT_NS;
    tick(&l, 20, 50, 0, 0, 0, 3); // after a reading of 0: nothing to compare with
    CHECK(l.rx_pct == 0);
    tick(&l, 20, 50, 0, 0, 0, 3);
    CHECK(l.rx_pct == 50);
    // A tick two seconds after the last: the share of those two.
    cpu.at_ns += 1000000000ull;
    tick(&l, 60, 0, 0, 0, 0, 3);
    CHECK(l.rt_pct == 30);
    CHECK(hub_load_cores() >= 1);
}

// The wall time is shown, never acted on: a callback stretched past its
// period by other programs, its thread using little CPU, sheds nothing.
static void test_wall_only_shown(void)
{
    static struct hub_load l;
    char why[200];
    hub_load_init(&l, &e, HUB_LOAD_CEILING_DEFAULT, 4, 2);
    for (int i = 0; i < 6; i++)
        tick(&l, 4, 3, 2, 2, 1800, 3);
    CHECK(l.wall_pct > 100 && l.pct == 4 && l.level == HUB_SHED_NONE);
    CHECK(atomic_load(&e.shed) == HUB_SHED_NONE && hub_load_admits(&l, 10, why, sizeof why));
}

// Shedding in order, two seconds over a level; the refusal; taking back.
static void test_policy(void)
{
    static struct hub_load l;
    char why[200];
    hub_load_init(&l, &e, 50, 4, 2);
    CHECK(atomic_load(&e.shed) == HUB_SHED_NONE && atomic_load(&e.tx_complexity) == 4);
    second(&l, 0); // the first reading
    second(&l, 15); // 15 %: nothing
    CHECK(l.pct == 15 && l.level == HUB_SHED_NONE);
    second(&l, 75); // 75 %: one second over is not enough
    CHECK(l.pct == 75 && l.level == HUB_SHED_NONE);
    second(&l, 75);
    CHECK(l.level == HUB_SHED_METERS && atomic_load(&e.shed) == HUB_SHED_METERS);
    CHECK(hub_load_admits(&l, 10, why, sizeof why)); // still shedding: admitted
    tick(&l, 15, 5, 68, 10, 0, 3); // the send side over: 68 %
    CHECK(l.pct == 68 && l.tx_pct == 68 && l.level == HUB_SHED_METERS);
    tick(&l, 15, 68, 10, 10, 0, 3); // then the receive thread
    CHECK(l.pct == 68 && l.level == HUB_SHED_STEREO && atomic_load(&e.tx_complexity) == 4);
    second(&l, 75);
    second(&l, 75);
    CHECK(l.level == HUB_SHED_COMPLEXITY && atomic_load(&e.tx_complexity) == 0);
    second(&l, 75);
    second(&l, 75);
    CHECK(l.level == HUB_SHED_MAX); // nothing more to shed
    CHECK(!hub_load_admits(&l, 10, why, sizeof why) && l.busy_rejects == 1);
    CHECK(strstr(why, "ceiling 50 %") != NULL && strstr(why, "75 % of a core") != NULL);
    CHECK(hub_load_admits(&l, 0, why, sizeof why)); // the first musician always
    // Over the ceiling with one more: 45 % of 10 musicians is 49.5 % of 11.
    second(&l, 45);
    CHECK(hub_load_admits(&l, 10, why, sizeof why) && !hub_load_admits(&l, 8, why, sizeof why));
    // Back under 60 % of the ceiling (30 %) for 5 s: one level back each time.
    second(&l, 30); // 30 %: between, not under
    for (int i = 0; i < 4; i++)
        second(&l, 15);
    CHECK(l.level == HUB_SHED_COMPLEXITY);
    second(&l, 15);
    CHECK(l.level == HUB_SHED_STEREO && atomic_load(&e.tx_complexity) == 4);
    for (int i = 0; i < 10; i++)
        second(&l, 15);
    CHECK(l.level == HUB_SHED_NONE && atomic_load(&e.shed) == HUB_SHED_NONE);
    // Nobody connected: nothing is shed.
    hub_load_init(&l, &e, 50, 0, 2);
    for (int i = 0; i < 5; i++)
        tick(&l, 75, 0, 0, 0, 0, 0);
    CHECK(l.pct == 75 && l.level == HUB_SHED_NONE);
    // No ceiling: measured, never acted on.
    hub_load_init(&l, &e, 0, 0, 2);
    for (int i = 0; i < 5; i++)
        second(&l, 99);
    CHECK(l.pct == 99 && l.level == HUB_SHED_NONE && hub_load_admits(&l, 10, why, sizeof why));
}

int main(void)
{
    test_figures();
    test_wall_only_shown();
    test_policy();
    CHECK(HUB_LOAD_CEILING_DEFAULT > 0 && HUB_LOAD_CEILING_DEFAULT < 100);
    CHECK(strcmp(hub_load_shed_text(HUB_SHED_STEREO), "meters, stereo") == 0);
    return check_report("test_hub_load");
}
