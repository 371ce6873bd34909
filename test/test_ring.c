// SPDX-License-Identifier: GPL-2.0-or-later
// test_ring.c: the SPSC ring: all-or-nothing writes and reads, wrap-around,
// the running counts, and a two-thread stress run in which every byte
// arrives once, in order.
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "ring.h"

#define STRESS_MSGS 2000000u

static struct bb_ring stress;

static void *producer(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < STRESS_MSGS;) {
        uint32_t msg[3] = {i, ~i, i * 7u};
        if (bb_ring_write(&stress, msg, sizeof msg))
            i++;
    }
    return NULL;
}

int main(void)
{
    struct bb_ring r;
    CHECK(bb_ring_init(&r, 100) == 0);
    CHECK(r.size == 128);
    CHECK(bb_ring_read_space(&r) == 0 && bb_ring_write_space(&r) == 128);
    uint8_t in[200], out[200];
    for (int i = 0; i < 200; i++)
        in[i] = (uint8_t)i;
    CHECK(!bb_ring_write(&r, in, 129)); // too big: nothing written
    CHECK(bb_ring_read_space(&r) == 0);
    CHECK(bb_ring_write(&r, in, 100));
    CHECK(!bb_ring_read(&r, out, 101)); // not enough: nothing read
    CHECK(bb_ring_peek(&r, out, 10) && out[9] == 9 && bb_ring_read_space(&r) == 100);
    CHECK(bb_ring_read(&r, out, 90) && out[89] == 89);
    // Wrap around the end of the storage.
    CHECK(bb_ring_write(&r, in + 100, 100));
    CHECK(bb_ring_read_space(&r) == 110);
    CHECK(bb_ring_read(&r, out, 110));
    int ok = 1;
    for (int i = 0; i < 110; i++)
        ok &= out[i] == (uint8_t)(90 + i);
    CHECK(ok);
    CHECK(bb_ring_write(&r, in, 5) && bb_ring_skip(&r, 10) == 5);
    CHECK(bb_ring_read_space(&r) == 0);
    // The running counts: every byte written, every byte read or skipped.
    CHECK(bb_ring_written(&r) == 205 && bb_ring_consumed(&r) == 205);
    bb_ring_cleanup(&r);
    bb_ring_cleanup(&r); // twice is harmless

    // Free-running indices wrap past 2^32 without harm.
    CHECK(bb_ring_init(&r, 64) == 0);
    atomic_store(&r.wr, UINT32_MAX - 10);
    atomic_store(&r.rd, UINT32_MAX - 10);
    CHECK(bb_ring_write(&r, in, 40) && bb_ring_read_space(&r) == 40);
    CHECK(bb_ring_written(&r) - bb_ring_consumed(&r) == 40 && bb_ring_written(&r) == 29);
    CHECK(bb_ring_read(&r, out, 40) && memcmp(in, out, 40) == 0);
    bb_ring_cleanup(&r);

    // Two parts as one message: all or nothing, across the end too.
    CHECK(bb_ring_init(&r, 64) == 0);
    CHECK(bb_ring_write(&r, in, 50) && bb_ring_read(&r, out, 50));
    CHECK(!bb_ring_write2(&r, in, 30, in + 30, 35) && bb_ring_read_space(&r) == 0);
    CHECK(!bb_ring_write2(&r, in, UINT32_MAX, in, 2) && bb_ring_read_space(&r) == 0);
    CHECK(bb_ring_write2(&r, in, 20, in + 100, 30) && bb_ring_read_space(&r) == 50);
    CHECK(bb_ring_read(&r, out, 50) && memcmp(out, in, 20) == 0 &&
          memcmp(out + 20, in + 100, 30) == 0);
    bb_ring_cleanup(&r);

    // Two threads: every message arrives whole, once, in order.
    CHECK(bb_ring_init(&stress, 4096) == 0);
    pthread_t t;
    pthread_create(&t, NULL, producer, NULL);
    uint32_t expect = 0, bad = 0;
    while (expect < STRESS_MSGS) {
        uint32_t msg[3];
        if (!bb_ring_read(&stress, msg, sizeof msg))
            continue;
        bad += msg[0] != expect || msg[1] != ~expect || msg[2] != expect * 7u;
        expect++;
    }
    pthread_join(t, NULL);
    CHECK(bad == 0);
    CHECK(bb_ring_read_space(&stress) == 0);
    bb_ring_cleanup(&stress);
    return check_report("test_ring");
}
