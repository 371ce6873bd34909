// SPDX-License-Identifier: GPL-2.0-or-later
// log.c: one-line log messages to stderr for non-realtime threads.
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static _Atomic int log_level = BB_LOG_INFO;

void bb_log_set_level(enum bb_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void bb_log(enum bb_log_level level, const char *fmt, ...)
{
    static const char *const tags[8] = {"", "", "", "error: ", "warning: ", "", "", "debug: "};
    if ((int)level > atomic_load(&log_level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    // One fprintf per line so lines from different threads never interleave.
    fprintf(stderr, "%02d:%02d:%02d.%03ld bandbridge: %s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, tags[level & 7], line);
}
