// SPDX-License-Identifier: GPL-2.0-or-later
// fuzz.h: what a fuzz harness (test/tools/fuzz_NAME.c) provides.
//
// A harness is one file with two functions and no main(). The Makefile
// builds every test/tools/fuzz_*.c twice:
//
//  * $(BUILD)/test_fuzz_NAME: with fuzz_driver.c, by the normal compiler,
//    into `make check` (run_tests.sh runs every test_*): the seeds, then a
//    fixed number of deterministic mutations of them (fuzz_driver.c);
//  * $(BUILD)/fuzz/fuzz_NAME: with libFuzzer (clang -fsanitize=fuzzer,
//    address,undefined), by `make fuzz`, which first writes the seeds into
//    its corpus with `test_fuzz_NAME --seeds DIR`.
//
// A broken invariant calls bb_fuzz_must(0, ...) (abort(): libFuzzer saves
// the input; the driver prints it in hex with the run that made it).
#ifndef BB_TEST_FUZZ_H
#define BB_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BB_FUZZ_MAX_INPUT 4096 ///< longest input the driver makes (libFuzzer: -max_len)

/// One input. Must not keep state between calls that changes what it checks.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/// The i-th seed input, written into buf (size bytes): its length, or 0
/// when there are no more. Seeds should reach every accepting path.
size_t bb_fuzz_seed(unsigned i, uint8_t *buf, size_t size);

/// Aborts with what broke (file:line) when cond is false.
#define bb_fuzz_must(cond, what)                                                        \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz: %s:%d: %s (%s)\n", __FILE__, __LINE__, what, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#endif
