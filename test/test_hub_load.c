// SPDX-License-Identifier: GPL-2.0-or-later
// test_hub_load.c: unit test of the hub's headroom and shedding (hub_load.h):
// the load from the callback histogram and the send lateness, the order
// and pace of shedding and taking back, the engine's levels, the refusal.
#include <string.h>

#include "check.h"
#include "hub_load.h"

static struct hub_engine e; // large; only its stats and levels are used

// One second of callbacks, all in the bucket of us microseconds, and a
// send lateness of late_us; then the control thread's tick (64 frames at
// 48 kHz: a period of 1333 us).
static void second(struct hub_load *l, unsigned us, unsigned late_us)
{
    atomic_fetch_add(&e.stats.rt_hist[us / HUB_HIST_US], 750);
    atomic_store(&e.stats.tx_late_ns, (uint64_t)late_us * 1000);
    hub_load_tick(l, &e, 64, 48000, 3);
}

int main(void)
{
    static struct hub_load l;
    char why[200];
    hub_load_init(&l, &e, 50, 4);
    CHECK(atomic_load(&e.shed) == HUB_SHED_NONE && atomic_load(&e.tx_complexity) == 4);
    second(&l, 200, 100); // 15 %: nothing
    CHECK(l.pct == 15 && l.level == HUB_SHED_NONE);
    second(&l, 1000, 100); // 75 %: one second over is not enough
    CHECK(l.pct == 75 && l.level == HUB_SHED_NONE);
    second(&l, 1000, 100);
    CHECK(l.level == HUB_SHED_METERS && atomic_load(&e.shed) == HUB_SHED_METERS);
    CHECK(hub_load_admits(&l, 10, why, sizeof why)); // still shedding: admitted
    second(&l, 200, 900); // the send side late: 68 %
    CHECK(l.pct == 68 && l.tx_late_us == 900 && l.level == HUB_SHED_METERS);
    second(&l, 200, 900);
    CHECK(l.level == HUB_SHED_STEREO && atomic_load(&e.tx_complexity) == 4);
    second(&l, 1000, 0);
    second(&l, 1000, 0);
    CHECK(l.level == HUB_SHED_COMPLEXITY && atomic_load(&e.tx_complexity) == 0);
    second(&l, 1000, 0);
    second(&l, 1000, 0);
    CHECK(l.level == HUB_SHED_MAX); // nothing more to shed
    CHECK(!hub_load_admits(&l, 10, why, sizeof why) && l.busy_rejects == 1);
    CHECK(strstr(why, "ceiling 50 %") != NULL);
    CHECK(hub_load_admits(&l, 0, why, sizeof why)); // the first musician always
    // Back under 60 % of the ceiling (30 %) for 5 s: one level back each time.
    second(&l, 400, 0); // 30 %: between, not under
    for (int i = 0; i < 4; i++)
        second(&l, 200, 0);
    CHECK(l.level == HUB_SHED_COMPLEXITY);
    second(&l, 200, 0);
    CHECK(l.level == HUB_SHED_STEREO && atomic_load(&e.tx_complexity) == 4);
    for (int i = 0; i < 10; i++)
        second(&l, 200, 0);
    CHECK(l.level == HUB_SHED_NONE && atomic_load(&e.shed) == HUB_SHED_NONE);
    // Nobody connected: nothing is shed.
    hub_load_init(&l, &e, 50, 0);
    for (int i = 0; i < 5; i++) {
        atomic_fetch_add(&e.stats.rt_hist[1000 / HUB_HIST_US], 750);
        hub_load_tick(&l, &e, 64, 48000, 0);
    }
    CHECK(l.pct == 75 && l.level == HUB_SHED_NONE);
    // No ceiling: measured, never acted on.
    hub_load_init(&l, &e, 0, 0);
    for (int i = 0; i < 5; i++)
        second(&l, 1900, 0);
    CHECK(l.pct > 100 && l.level == HUB_SHED_NONE && hub_load_admits(&l, 10, why, sizeof why));
    CHECK(strcmp(hub_load_shed_text(HUB_SHED_STEREO), "meters, stereo") == 0);
    return check_report("test_hub_load");
}
