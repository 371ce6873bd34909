// SPDX-License-Identifier: GPL-2.0-or-later
// bb.c: small helpers shared by every module (clock, names, dB).
#include "bb.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

uint64_t bb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t bb_sanitize_name(char *dst, size_t dst_size, const char *src)
{
    size_t n = 0;
    if (dst_size == 0)
        return 0;
    for (; src && *src && n + 1 < dst_size; src++) {
        unsigned char c = (unsigned char)*src;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        dst[n++] = ok ? (char)c : '_';
    }
    dst[n] = '\0';
    return n;
}

float bb_db_to_gain(float db)
{
    if (!(db > -120.0f))
        return 0.0f;
    return powf(10.0f, db / 20.0f);
}

int bb_mkdirs_for(const char *path)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(dir, 0700);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

int bb_thread_below_jack(int jack_prio, const char *what)
{
    if (jack_prio <= 1)
        return 0;
    struct sched_param sp = {.sched_priority = jack_prio - 1};
    int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (rc != 0) {
        fprintf(stderr, "bandbridge: %s thread: no realtime priority (%s)\n", what, strerror(rc));
        return -1;
    }
    return 0;
}

int bb_thread_below_network(int jack_prio, const char *what)
{
    if (jack_prio <= 1)
        return 0;
    int rc = 0;
    if (jack_prio >= 3) {
        struct sched_param sp = {.sched_priority = jack_prio - 2};
        rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
        if (rc == 0)
            return sp.sched_priority;
    }
    // This thread only (a thread id to setpriority: Linux), not the process.
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (setpriority(PRIO_PROCESS, (id_t)tid, BB_CONTROL_NICE) == 0) {
        if (rc != 0)
            fprintf(stderr, "bandbridge: %s thread: no realtime priority (%s): nice %d instead\n",
                    what, strerror(rc), BB_CONTROL_NICE);
        return 0;
    }
    int nice_err = errno;
    fprintf(stderr, "bandbridge: %s thread: no realtime priority (%s) nor nice %d (%s): it "
            "shares the CPU with every other program\n", what,
            rc ? strerror(rc) : "none left below the network threads", BB_CONTROL_NICE,
            strerror(nice_err));
    return 0;
}

int bb_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    if (!s || !(*s >= '0' && *s <= '9'))
        return -1; // strtoul would take "-1" and " 1"
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

void bb_sem_wait_ms(sem_t *sem, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    while (sem_timedwait(sem, &ts) < 0 && errno == EINTR) {
    }
}

void bb_set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

int bb_state_file_path(const char *prefix, const char *name, char *path, size_t size, char *err,
                       size_t err_size)
{
    char clean[BB_NAME_MAX];
    if (bb_sanitize_name(clean, sizeof clean, name) == 0) {
        snprintf(err, err_size, "a musician name is needed (--name)");
        return -1;
    }
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (state && *state)
        n = snprintf(path, size, "%s/bandbridge/%s-%s", state, prefix, clean);
    else if (home && *home)
        n = snprintf(path, size, "%s/.local/state/bandbridge/%s-%s", home, prefix, clean);
    else {
        snprintf(err, err_size, "neither XDG_STATE_HOME nor HOME is set; use --identity FILE");
        return -1;
    }
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, err_size, "%s path too long", prefix);
        return -1;
    }
    return 0;
}

void bb_touch_pages(void *p, size_t n)
{
    if (!p || !n)
        return;
    (void)mlock(p, n);
    long page = sysconf(_SC_PAGESIZE);
    size_t step = page > 0 ? (size_t)page : 4096;
    // Through a volatile pointer: a plain store of the zero calloc already
    // gave would be removed by the compiler, and the page left unmapped.
    volatile unsigned char *b = p;
    for (size_t i = 0; i < n; i += step)
        b[i] = 0;
    b[n - 1] = 0;
}
