// SPDX-License-Identifier: GPL-2.0-or-later
// test_loop_prof.c: unit test of the control loop's profiler (loop_prof.h):
// the longest turn since the start, the slow turns counted (a turn of
// exactly the limit is not slow), parts added up, each window's longest
// slow turn reported once with the parts over 1 ms, and a new window after.
#include <string.h>

#include "check.h"
#include "loop_prof.h"

#define MS 1000000ull
#define SLOW (20 * MS)
#define WINDOW (10000 * MS)

enum { P_A, P_B, P_C, P_N };
static const char *const names[P_N] = {"alpha", "beta", "gamma"};

static uint64_t now = 1000 * MS; // the clock the test moves

// One turn of the given parts (ms each, in order), then its end; returns
// what bb_loop_prof_end returns.
static int turn(struct bb_loop_prof *p, double a, double b, double c, char *report, size_t size)
{
    bb_loop_prof_begin(p, now);
    now += (uint64_t)(a * MS);
    bb_loop_prof_mark(p, P_A, now);
    now += (uint64_t)(b * MS);
    bb_loop_prof_mark(p, P_B, now);
    now += (uint64_t)(c * MS);
    bb_loop_prof_mark(p, P_C, now);
    return bb_loop_prof_end(p, report, size);
}

int main(void)
{
    struct bb_loop_prof p;
    char r[640];
    const char *const many[BB_LOOP_PROF_MAX_PARTS + 1] = {0};
    CHECK(bb_loop_prof_init(&p, many, BB_LOOP_PROF_MAX_PARTS + 1, SLOW, WINDOW, now) < 0);
    CHECK(bb_loop_prof_init(&p, names, P_N, SLOW, WINDOW, now) == 0);

    // Quick turns: the longest is kept, none is slow, nothing to report.
    CHECK(turn(&p, 1, 2, 1, r, sizeof r) == 0);
    CHECK(p.max_ns == 4 * MS && p.slow == 0);
    CHECK(turn(&p, 0.5, 0.5, 0, r, sizeof r) == 0);
    CHECK(p.max_ns == 4 * MS);
    CHECK(turn(&p, 10, 10, 0, r, sizeof r) == 0); // exactly the limit: not slow
    CHECK(p.max_ns == SLOW && p.slow == 0 && p.worst == 0);

    // Slow turns: each counted; the window keeps its longest and its parts.
    CHECK(turn(&p, 25, 0.5, 4.5, r, sizeof r) == 0);
    CHECK(p.slow == 1 && p.worst == 30 * MS && p.max_ns == 30 * MS);
    CHECK(turn(&p, 0.2, 49, 0.8, r, sizeof r) == 0);
    CHECK(p.slow == 2 && p.worst == 50 * MS && p.worst_part[P_B] == 49 * MS);
    CHECK(turn(&p, 21, 2, 2, r, sizeof r) == 0); // slow, but not the longest
    CHECK(p.slow == 3 && p.worst == 50 * MS && p.worst_part[P_B] == 49 * MS);

    // A part marked twice in one turn adds up.
    bb_loop_prof_begin(&p, now);
    now += 3 * MS;
    bb_loop_prof_mark(&p, P_C, now);
    now += 4 * MS;
    bb_loop_prof_mark(&p, P_C, now);
    CHECK(p.part[P_C] == 7 * MS && p.part[P_A] == 0);
    CHECK(bb_loop_prof_end(&p, r, sizeof r) == 0);

    // The window is over at the end of the first turn past it: the longest
    // slow turn is reported, with the parts of 1 ms or more, once.
    now = 1000 * MS + WINDOW - MS;
    CHECK(turn(&p, 1, 0, 0, r, sizeof r) == 1);
    CHECK(strstr(r, "longest turn of the last 10 s 50.0 ms, ") == r);
    CHECK(strstr(r, "ms of it on the CPU, ") != NULL);
    CHECK(strstr(r, "(beta 49.0 ms; 3 turns over 20 ms since the start)") != NULL);
    CHECK(strstr(r, "alpha") == NULL && strstr(r, "gamma") == NULL); // under 1 ms
    CHECK(p.worst == 0 && p.win_ns == now);
    CHECK(turn(&p, 1, 0, 0, r, sizeof r) == 0); // a new window

    // The next window: its own longest, the totals since the start go on.
    CHECK(turn(&p, 12, 0, 13, r, sizeof r) == 0);
    now += WINDOW;
    CHECK(turn(&p, 0, 0, 0, r, sizeof r) == 1);
    CHECK(strstr(r, " 25.0 ms, ") != NULL);
    CHECK(strstr(r, "(alpha 12.0 ms, gamma 13.0 ms; 4 turns over 20 ms") != NULL);
    CHECK(p.max_ns == 50 * MS && p.slow == 4);

    // A window without a slow turn says nothing, and still ends.
    now += WINDOW;
    r[0] = 0;
    CHECK(turn(&p, 5, 5, 5, r, sizeof r) == 0 && r[0] == 0 && p.win_ns == now);

    // A slow turn whose time went to no named part (a part out of range).
    bb_loop_prof_begin(&p, now);
    now += 30 * MS;
    bb_loop_prof_mark(&p, P_N + 1, now);
    CHECK(p.part[P_A] == 0 && p.part[P_B] == 0 && p.part[P_C] == 0);
    CHECK(bb_loop_prof_end(&p, r, sizeof r) == 0 && p.slow == 5);
    now += WINDOW;
    CHECK(turn(&p, 0, 0, 0, r, sizeof r) == 1);
    CHECK(strstr(r, "(no part over 1 ms; 5 turns over 20 ms since the start)") != NULL);

    // A report is cut to the buffer it is given.
    CHECK(turn(&p, 30, 0, 0, r, sizeof r) == 0);
    now += WINDOW;
    CHECK(turn(&p, 0, 0, 0, r, 16) == 1 && strlen(r) == 15);
    now += WINDOW;
    CHECK(turn(&p, 0, 0, 0, r, sizeof r) == 0); // reported once only
    return check_report("test_loop_prof");
}
