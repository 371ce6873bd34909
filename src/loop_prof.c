// SPDX-License-Identifier: GPL-2.0-or-later
// loop_prof.c: where a control loop's time goes (loop_prof.h): its turns
// timed in parts, the longest and the slow ones counted, and each window's
// longest slow turn described in one line. Everything here runs on the
// thread whose loop is timed.
#include "loop_prof.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/// A part of the reported turn is named when it took at least this long.
#define PART_SHOWN_NS 1000000ull

static uint64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int bb_loop_prof_init(struct bb_loop_prof *p, const char *const *part_name, unsigned nparts,
                      uint64_t slow_ns, uint64_t window_ns, uint64_t now)
{
    if (nparts > BB_LOOP_PROF_MAX_PARTS)
        return -1;
    *p = (struct bb_loop_prof){.part_name = part_name, .nparts = nparts, .slow_ns = slow_ns,
                               .window_ns = window_ns, .win_ns = now, .t = now, .start = now};
    return 0;
}

void bb_loop_prof_begin(struct bb_loop_prof *p, uint64_t now)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    p->vcsw0 = ru.ru_nvcsw;
    p->ivcsw0 = ru.ru_nivcsw;
    p->t = p->start = now;
    p->cpu0 = thread_cpu_ns();
    memset(p->part, 0, sizeof p->part);
}

void bb_loop_prof_mark(struct bb_loop_prof *p, unsigned part, uint64_t now)
{
    if (part < p->nparts)
        p->part[part] += now - p->t;
    p->t = now;
}

// A slow turn longer than the window's longest so far: it becomes the one
// reported, with its CPU time and context switches.
static void keep_worst(struct bb_loop_prof *p, uint64_t d)
{
    p->worst = d;
    p->worst_cpu = thread_cpu_ns() - p->cpu0;
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    p->worst_v = ru.ru_nvcsw - p->vcsw0;
    p->worst_iv = ru.ru_nivcsw - p->ivcsw0;
    memcpy(p->worst_part, p->part, sizeof p->part);
}

static void write_report(const struct bb_loop_prof *p, char *report, size_t size)
{
    char parts[400];
    size_t o = 0;
    for (unsigned k = 0; k < p->nparts; k++)
        if (p->worst_part[k] >= PART_SHOWN_NS && o < sizeof parts)
            o += (size_t)snprintf(parts + o, sizeof parts - o, "%s%s %.1f ms", o ? ", " : "",
                                  p->part_name[k], p->worst_part[k] / 1e6);
    snprintf(report, size,
             "longest turn of the last %.0f s %.1f ms, %.1f ms of it on the CPU, "
             "%ld waits, %ld preemptions (%s; %llu turns over %.0f ms since the start)",
             (p->t - p->win_ns) / 1e9, p->worst / 1e6, p->worst_cpu / 1e6, p->worst_v,
             p->worst_iv, o ? parts : "no part over 1 ms", (unsigned long long)p->slow,
             p->slow_ns / 1e6);
}

int bb_loop_prof_end(struct bb_loop_prof *p, char *report, size_t size)
{
    uint64_t d = p->t - p->start;
    if (d > p->max_ns)
        p->max_ns = d;
    if (d > p->slow_ns) {
        p->slow++;
        if (d > p->worst)
            keep_worst(p, d);
    }
    if (p->t - p->win_ns < p->window_ns)
        return 0;
    int reported = p->worst > 0;
    if (reported)
        write_report(p, report, size);
    p->win_ns = p->t;
    p->worst = 0;
    return reported;
}
