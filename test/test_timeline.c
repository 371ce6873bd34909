// SPDX-License-Identifier: GPL-2.0-or-later
// test_timeline.c: the cycles JACK did not run us for (bb_rt_timeline,
// stream.h), as jack2 reports them: a late callback told the next cycle's
// frame and the cycle after it the same frame again counts as nothing; a
// cycle really lost counts once, a cycle late; a stall counts at once.
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "stream.h"

#define P 64u

// Feeds the frames told, one cycle each; returns the sum of what was
// counted missed (above 0) and how many cycles counted any.
static int32_t feed(const uint32_t *told, int n, int *counted)
{
    struct bb_rt_timeline t = {0};
    int32_t sum = 0;
    *counted = 0;
    for (int i = 0; i < n; i++) {
        int32_t m = bb_rt_timeline_missed(&t, told[i], P);
        if (m > 0) {
            sum += m;
            (*counted)++;
        }
    }
    return sum;
}

int main(void)
{
    int k;
    // On time throughout.
    const uint32_t steady[] = {1000, 1064, 1128, 1192, 1256};
    CHECK(feed(steady, 5, &k) == 0 && k == 0);
    // A late callback: told 1192 at 1128, then 1192 again, then on.
    const uint32_t late[] = {1000, 1064, 1192, 1192, 1256, 1320};
    CHECK(feed(late, 6, &k) == 0 && k == 0);
    // Two of them in a row, and one at the very start.
    const uint32_t late2[] = {1064, 1064, 1128, 1256, 1256, 1384, 1384, 1448};
    CHECK(feed(late2, 8, &k) == 0 && k == 0);
    // A cycle really lost (1128 never told): counted once, a cycle on.
    const uint32_t lost[] = {1000, 1064, 1192, 1256, 1320};
    CHECK(feed(lost, 5, &k) == (int32_t)P && k == 1);
    {
        struct bb_rt_timeline t = {0};
        CHECK(bb_rt_timeline_missed(&t, 1000, P) == 0);
        CHECK(bb_rt_timeline_missed(&t, 1064, P) == 0);
        CHECK(bb_rt_timeline_missed(&t, 1192, P) == 0);      // held
        CHECK(bb_rt_timeline_missed(&t, 1256, P) == (int32_t)P); // confirmed
        CHECK(bb_rt_timeline_missed(&t, 1320, P) == 0);
    }
    // Two cycles lost in a row are a stall: counted at once.
    const uint32_t stall[] = {1000, 1064, 1256, 1320};
    CHECK(feed(stall, 4, &k) == (int32_t)(2 * P) && k == 1);
    // A lost cycle, then another one period on: both count.
    const uint32_t lost2[] = {1000, 1128, 1256, 1320};
    CHECK(feed(lost2, 4, &k) == (int32_t)(2 * P) && k == 2);
    // A lost cycle as the last thing seen stays held (the next cycle tells).
    const uint32_t lost_end[] = {1000, 1064, 1192};
    CHECK(feed(lost_end, 3, &k) == 0 && k == 0);
    // The counter going back (a new server) is negative, never counted.
    {
        struct bb_rt_timeline t = {0};
        bb_rt_timeline_missed(&t, 50000, P);
        CHECK(bb_rt_timeline_missed(&t, 100, P) < 0);
        CHECK(bb_rt_timeline_missed(&t, 164, P) == 0);
    }
    return check_report("test_timeline");
}
