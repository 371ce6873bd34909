// SPDX-License-Identifier: GPL-2.0-or-later
// test_log.c: log lines bounded per kind (log.c): a flood of one kind is
// LOG_BURST lines and one summary a second; other kinds are not held back.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static int count(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1200];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

static void wait_next_second(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    time_t s = ts.tv_sec;
    while (clock_gettime(CLOCK_MONOTONIC, &ts) == 0 && ts.tv_sec == s)
        usleep(10000);
}

int main(void)
{
    char path[] = "/tmp/test_log.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *saved = fdopen(dup(2), "w");
    if (fd < 0 || !saved || dup2(fd, 2) < 0)
        return check_report("test_log");

    // At the start of a second, so that the flood fits in one.
    wait_next_second();
    for (int i = 0; i < 10000; i++)
        bb_info("flood line %d from 10.0.0.%d", i, i % 250);
    bb_warn("another kind");
    wait_next_second();
    bb_log_flush();
    bb_info("flood line %d from 10.0.0.%d", -1, 0); // the next second: printed again
    fflush(stderr);

    int flood = count(path, " from 10.0.0."), summary = count(path, "more lines like");
    CHECK(flood == 64 + 1);
    CHECK(summary == 1);
    CHECK(count(path, "9936 more lines like \"flood line ...\"") == 1);
    CHECK(count(path, "another kind") == 1);
    CHECK(count(path, "flood line -1 from") == 1);
    bb_debug("below the level: neither printed nor counted");
    fflush(stderr);
    CHECK(count(path, "below the level") == 0);

    dup2(fileno(saved), 2);
    unlink(path);
    return check_report("test_log");
}
