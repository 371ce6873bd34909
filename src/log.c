// SPDX-License-Identifier: GPL-2.0-or-later
// log.c: one-line log messages to stderr for non-realtime threads.
//
// Lines are bounded per kind: a kind is a call site's format string, and
// each may print LOG_BURST lines in a second; the rest of that second is
// one summary line ("N more like ..."), printed when the kind logs again
// or when bb_log_flush() finds its second over. Whatever anyone sends a
// hub, its log grows by a bounded number of lines a second.
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/// Lines of one kind a second before the rest are summarised: one per
/// musician of a full hub, so a hub-wide event (the network gone, every
/// musician silent at once) is still told musician by musician.
#define LOG_BURST 64
/// Kinds followed at once (hashed by format string; a collision only
/// summarises the kind it replaces early).
#define LOG_KINDS 128

static _Atomic int log_level = BB_LOG_INFO;

static pthread_mutex_t kinds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_kind {
    const char *fmt;   ///< NULL: free
    int         level;
    uint64_t    second;
    unsigned    lines; ///< printed in that second
    unsigned    held;  ///< not printed in that second
} kinds[LOG_KINDS];    // [kinds_lock]
static _Atomic uint64_t held_any; // lines held and not yet summarised (a cheap check)

void bb_log_set_level(enum bb_log_level level)
{
    atomic_store(&log_level, (int)level);
}

static const char *const tags[8] = {"", "", "", "error: ", "warning: ", "", "", "debug: "};

static void emit(int level, const char *line)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    // One fprintf per line so lines from different threads never interleave.
    fprintf(stderr, "%02d:%02d:%02d.%03ld bandbridge: %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, tags[level & 7], line);
}

static uint64_t mono_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

// [kinds_lock] The summary of k's held lines, and k starts over.
static void summarise(struct log_kind *k, uint64_t second)
{
    if (k->held) {
        char line[200];
        size_t n = strcspn(k->fmt, "%\n");
        snprintf(line, sizeof line, "%u more line%s like \"%.*s...\" in the last second", k->held,
                 k->held == 1 ? "" : "s", (int)(n < 100 ? n : 100), k->fmt);
        emit(k->level, line);
        atomic_fetch_sub(&held_any, k->held);
    }
    k->second = second;
    k->lines = k->held = 0;
}

// Whether a line of format fmt may be printed now (else it is counted).
static int admit(int level, const char *fmt)
{
    uint64_t second = mono_second();
    uintptr_t p = (uintptr_t)fmt;
    struct log_kind *k = &kinds[(p ^ (p >> 7) ^ (p >> 13)) % LOG_KINDS];
    pthread_mutex_lock(&kinds_lock);
    if (k->fmt != fmt) {
        if (k->fmt)
            summarise(k, second);
        k->fmt = fmt;
        k->second = second;
        k->lines = k->held = 0;
    } else if (k->second != second) {
        summarise(k, second);
    }
    k->level = level;
    int ok = ++k->lines <= LOG_BURST;
    if (!ok) {
        k->lines = LOG_BURST;
        k->held++;
        atomic_fetch_add(&held_any, 1);
    }
    pthread_mutex_unlock(&kinds_lock);
    return ok;
}

void bb_log_flush(void)
{
    if (!atomic_load(&held_any))
        return;
    uint64_t second = mono_second();
    pthread_mutex_lock(&kinds_lock);
    for (int i = 0; i < LOG_KINDS; i++)
        if (kinds[i].fmt && kinds[i].held && kinds[i].second != second)
            summarise(&kinds[i], second);
    pthread_mutex_unlock(&kinds_lock);
}

void bb_log(enum bb_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    if (!admit((int)level, fmt))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    emit((int)level, line);
}
