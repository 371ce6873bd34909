// SPDX-License-Identifier: GPL-2.0-or-later
// loop_prof.h: where a control loop's time goes (src/loop_prof.c). A turn
// of the loop (its work after poll() returned) is timed in parts the
// caller names; the longest turn since the start and the count of slow
// turns are kept (the hub's /stats loop_max_us and loop_slow), and when a
// window is over its longest slow turn is reported with its parts, the CPU
// time it used and the thread's context switches in it: much less CPU
// than wall time means the thread waited for a core, not for its work.
//
// A profiler belongs to the thread whose loop it times (the hub's control
// thread): every field is that thread's. Times are bb_now_ns() values the
// caller passes in.
#ifndef BB_LOOP_PROF_H
#define BB_LOOP_PROF_H

#include <stddef.h>
#include <stdint.h>

#define BB_LOOP_PROF_MAX_PARTS 16

struct bb_loop_prof {
    const char *const *part_name; ///< nparts names, for the report
    unsigned nparts;
    uint64_t slow_ns;             ///< a turn longer than this is slow
    uint64_t window_ns;           ///< the longest slow turn is reported this often

    uint64_t max_ns;              ///< the longest turn since the start
    uint64_t slow;                ///< turns over slow_ns since the start

    uint64_t t, start;            ///< the current part began at t, the turn at start
    uint64_t cpu0;                ///< the thread's CPU time at the turn's start
    long vcsw0, ivcsw0;           ///< its context switches then: waits (I/O, locks) and preemptions
    uint64_t part[BB_LOOP_PROF_MAX_PARTS]; ///< this turn's parts (wall time)

    uint64_t win_ns;              ///< the current window began here
    uint64_t worst, worst_cpu;    ///< the window's longest slow turn, and its CPU time
    long worst_v, worst_iv;       ///< its waits and preemptions
    uint64_t worst_part[BB_LOOP_PROF_MAX_PARTS];
};

/// A profiler of nparts parts (at most BB_LOOP_PROF_MAX_PARTS; names
/// outlive it), whose first window begins at now. Returns 0, or -1 for too
/// many parts.
int bb_loop_prof_init(struct bb_loop_prof *p, const char *const *part_name, unsigned nparts,
                      uint64_t slow_ns, uint64_t window_ns, uint64_t now);

/// A turn begins at now (its parts at 0; the thread's CPU time and context
/// switches read).
void bb_loop_prof_begin(struct bb_loop_prof *p, uint64_t now);

/// Part `part` ended at now: the time since the previous mark (or the
/// turn's beginning) is added to it.
void bb_loop_prof_mark(struct bb_loop_prof *p, unsigned part, uint64_t now);

/// The turn ended at its last mark: its length into max_ns and, over
/// slow_ns, into slow and the window's longest. When the window is over
/// (window_ns since it began, by the last mark) a new one begins, and if
/// the one that ended had a slow turn, its longest is written to report
/// (one line, for a log) and 1 returned; otherwise 0.
int bb_loop_prof_end(struct bb_loop_prof *p, char *report, size_t size);

#endif
