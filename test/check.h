// SPDX-License-Identifier: GPL-2.0-or-later
// check.h: the unit tests' tiny assertion macro and summary line.
#ifndef BB_TEST_CHECK_H
#define BB_TEST_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(expr)                                                                    \
    do {                                                                               \
        if (expr) {                                                                    \
            check_passed++;                                                            \
        } else {                                                                       \
            check_failed++;                                                            \
            printf("FAIL: %s:%d: %s\n", __FILE__, __LINE__, #expr);                    \
        }                                                                              \
    } while (0)

/// Quiet check inside a loop: ok_var (an int set to 1 before the loop)
/// drops to 0 at the first failure, which alone is printed; CHECK(ok_var)
/// after the loop then counts the whole loop as one pass or one failure.
#define CHECK_LOOP(ok_var, expr, fmt, ...)                                             \
    do {                                                                               \
        if (!(expr) && (ok_var)) {                                                     \
            (ok_var) = 0;                                                              \
            printf("  first failure: " fmt "\n", __VA_ARGS__);                         \
        }                                                                              \
    } while (0)

/// Prints "NAME: N passed, M failed" and returns the exit status.
static inline int check_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
