// SPDX-License-Identifier: GPL-2.0-or-later
// fuzz_driver.c: main() for a fuzz harness (fuzz.h) without libFuzzer, so
// every build, gcc included, runs the harnesses in `make check`.
//
//   test_fuzz_NAME [--runs N] [--seconds S] [--seed X]
//       the seeds, then N (default 1000000, 1 to 2 s here) inputs made by mutating them,
//       the same ones for the same X (default 1); stops early after S
//       seconds (default 5: make check runs every harness; a loaded machine must not time it out)
//   test_fuzz_NAME --seeds DIR     writes the seeds into DIR (libFuzzer's corpus)
//   test_fuzz_NAME FILE...         runs those inputs (e.g. a libFuzzer crash file)
//
// Not coverage guided: the mutations are blind (bit flips, interesting
// values, lengths, cuts, inserts, splices), so the seeds must reach every
// accepting path; `make fuzz` does the guided search with clang.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_SEEDS 256

static uint8_t       seeds[MAX_SEEDS][BB_FUZZ_MAX_INPUT];
static size_t        seed_len[MAX_SEEDS];
static unsigned      nseeds;
static const uint8_t *cur;      // the input being run, for the abort report
static size_t        cur_len;
static unsigned long cur_run;
static unsigned long cur_seed = 1;

static void on_abort(int sig)
{
    // Dying anyway: stdio is fine here. The hex is a file for `xxd -r -p`.
    fprintf(stderr, "fuzz_driver: input of run %lu (--seed %lu), %zu bytes:\n", cur_run,
            cur_seed, cur_len);
    for (size_t i = 0; i < cur_len; i++)
        fprintf(stderr, "%02x%s", cur[i], i % 32 == 31 ? "\n" : "");
    fprintf(stderr, "\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run(const uint8_t *data, size_t len)
{
    cur = data;
    cur_len = len;
    LLVMFuzzerTestOneInput(data, len);
}

static uint64_t rng;

static uint32_t rnd(uint32_t n) // 0..n-1 (n > 0)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 32) % n);
}

static const uint32_t interesting[] = { 0, 1, 2, 7, 8, 16, 31, 32, 127, 128, 255, 256, 1023, 1024,
                                        4095, 4096, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff,
                                        0x80000000u, 0xffffffffu };

/// One random change to buf (len bytes, room for BB_FUZZ_MAX_INPUT); returns the new length.
static size_t mutate_once(uint8_t *buf, size_t len)
{
    switch (rnd(9)) {
    case 0: // flip a bit
        if (len)
            buf[rnd((uint32_t)len)] ^= (uint8_t)(1u << rnd(8));
        break;
    case 1: // a byte to an interesting or random value
        if (len)
            buf[rnd((uint32_t)len)] = rnd(2) ? (uint8_t)interesting[rnd(11)] : (uint8_t)rnd(256);
        break;
    case 2: { // a 16- or 32-bit little-endian field to an interesting value, or +-small
        unsigned w = rnd(2) ? 2 : 4;
        if (len < w)
            break;
        size_t at = rnd((uint32_t)(len - w + 1));
        uint32_t v = 0;
        for (unsigned i = 0; i < w; i++)
            v |= (uint32_t)buf[at + i] << (8 * i);
        v = rnd(2) ? interesting[rnd(sizeof interesting / sizeof interesting[0])]
                   : v + rnd(33) - 16;
        for (unsigned i = 0; i < w; i++)
            buf[at + i] = (uint8_t)(v >> (8 * i));
        break;
    }
    case 3: { // delete a range
        if (!len)
            break;
        size_t at = rnd((uint32_t)len), n = 1 + rnd((uint32_t)(len - at < 16 ? len - at : 16));
        memmove(buf + at, buf + at + n, len - at - n);
        len -= n;
        break;
    }
    case 4: { // insert random bytes
        size_t n = 1 + rnd(16);
        if (len + n > BB_FUZZ_MAX_INPUT)
            break;
        size_t at = rnd((uint32_t)len + 1);
        memmove(buf + at + n, buf + at, len - at);
        for (size_t i = 0; i < n; i++)
            buf[at + i] = (uint8_t)rnd(256);
        len += n;
        break;
    }
    case 5: // cut the end off, or a byte too many or too few
        if (len)
            len = rnd(3) ? len - 1 - rnd((uint32_t)(len < 8 ? len : 8)) : rnd((uint32_t)len);
        break;
    case 6: { // copy a chunk elsewhere in the input
        if (len < 2)
            break;
        size_t n = 1 + rnd((uint32_t)(len / 2)), from = rnd((uint32_t)(len - n + 1)),
               to = rnd((uint32_t)(len - n + 1));
        memmove(buf + to, buf + from, n);
        break;
    }
    case 7: { // splice: the tail of another seed from here on
        const unsigned s = rnd(nseeds);
        size_t at = rnd((uint32_t)len + 1), from = rnd((uint32_t)seed_len[s] + 1);
        size_t n = seed_len[s] - from;
        if (at + n > BB_FUZZ_MAX_INPUT)
            n = BB_FUZZ_MAX_INPUT - at;
        memcpy(buf + at, seeds[s] + from, n);
        len = at + n;
        break;
    }
    case 8: // a length byte that (nearly) matches what follows it
        if (len) {
            size_t at = rnd((uint32_t)len);
            buf[at] = (uint8_t)(len - at - 1 + rnd(5) - 2);
        }
        break;
    }
    return len;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_seeds(const char *dir)
{
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz_driver: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i < nseeds; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%03u", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(seeds[i], 1, seed_len[i], f) != seed_len[i] || fclose(f) != 0) {
            fprintf(stderr, "fuzz_driver: %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    printf("%u seeds written to %s\n", nseeds, dir);
    return 0;
}

static int run_files(char **files, int n)
{
    static uint8_t buf[1 << 20];
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f) {
            fprintf(stderr, "fuzz_driver: %s: %s\n", files[i], strerror(errno));
            return 1;
        }
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        run(buf, len);
        printf("%s: %zu bytes, ok\n", files[i], len);
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long runs = 1000000;
    double seconds = 5.0; // make check runs every harness: seconds each, not minutes
    const char *seed_dir = NULL;
    int a = 1;
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
        if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
            runs = strtoul(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc)
            seconds = strtod(argv[++a], NULL);
        else if (strcmp(argv[a], "--seed") == 0 && a + 1 < argc)
            cur_seed = strtoul(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--seeds") == 0 && a + 1 < argc)
            seed_dir = argv[++a];
        else {
            fprintf(stderr, "usage: %s [--runs N] [--seconds S] [--seed X] | --seeds DIR | FILE...\n",
                    argv[0]);
            return 2;
        }
    }
    while (nseeds < MAX_SEEDS) {
        size_t n = bb_fuzz_seed(nseeds, seeds[nseeds], BB_FUZZ_MAX_INPUT);
        if (!n)
            break;
        seed_len[nseeds++] = n;
    }
    if (!nseeds) {
        fprintf(stderr, "fuzz_driver: the harness gave no seed\n");
        return 1;
    }
    if (seed_dir)
        return write_seeds(seed_dir);
    signal(SIGABRT, on_abort);
    if (a < argc)
        return run_files(argv + a, argc - a);

    for (unsigned i = 0; i < nseeds; i++)
        run(seeds[i], seed_len[i]);
    rng = 0x9E3779B97F4A7C15ull * (cur_seed | 1);
    static uint8_t buf[BB_FUZZ_MAX_INPUT];
    size_t len = 0;
    const double start = now_s();
    unsigned long r = 0;
    for (; r < runs; r++) {
        cur_run = r;
        // Mostly a fresh copy of a seed, sometimes the last input again:
        // several changes in a row reach what one cannot.
        if (r == 0 || rnd(4) != 0) {
            unsigned s = rnd(nseeds);
            memcpy(buf, seeds[s], seed_len[s]);
            len = seed_len[s];
        }
        for (unsigned k = 1 + rnd(4); k > 0; k--)
            len = mutate_once(buf, len);
        run(buf, len);
        if (now_s() - start > seconds) // every run: one can take 100 ms under TSan
            break;
    }
    printf("%s: %u seeds and %lu mutated inputs (--seed %lu) in %.1f s, no invariant broken\n",
           argv[0], nseeds, r, cur_seed, now_s() - start);
    return 0;
}
