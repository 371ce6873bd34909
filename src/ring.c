// SPDX-License-Identifier: GPL-2.0-or-later
// ring.c: lock-free single-producer single-consumer byte ring (see ring.h).
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int bb_ring_init(struct bb_ring *r, size_t min_bytes)
{
    uint32_t size = 64;
    if (min_bytes > (1u << 30))
        return -EINVAL;
    while (size < min_bytes)
        size <<= 1;
    r->buf = calloc(1, size);
    if (!r->buf)
        return -ENOMEM;
    // Keep audio rings out of swap; failure only costs a possible page fault.
    (void)mlock(r->buf, size);
    r->size = size;
    atomic_init(&r->wr, 0);
    atomic_init(&r->rd, 0);
    return 0;
}

void bb_ring_cleanup(struct bb_ring *r)
{
    if (r->buf) {
        munlock(r->buf, r->size);
        free(r->buf);
    }
    r->buf = NULL;
    r->size = 0;
}

void bb_ring_reset(struct bb_ring *r)
{
    atomic_store_explicit(&r->wr, 0, memory_order_relaxed);
    atomic_store_explicit(&r->rd, 0, memory_order_relaxed);
}

uint32_t bb_ring_read_space(const struct bb_ring *r)
{
    uint32_t w = atomic_load_explicit(&r->wr, memory_order_acquire);
    uint32_t rd = atomic_load_explicit(&r->rd, memory_order_relaxed);
    return w - rd;
}

uint32_t bb_ring_written(const struct bb_ring *r)
{
    return atomic_load_explicit(&r->wr, memory_order_relaxed);
}

uint32_t bb_ring_consumed(const struct bb_ring *r)
{
    return atomic_load_explicit(&r->rd, memory_order_relaxed);
}

uint32_t bb_ring_write_space(const struct bb_ring *r)
{
    uint32_t w = atomic_load_explicit(&r->wr, memory_order_relaxed);
    uint32_t rd = atomic_load_explicit(&r->rd, memory_order_acquire);
    return r->size - (w - rd);
}

static void copy_in(struct bb_ring *r, uint32_t pos, const uint8_t *src, uint32_t n)
{
    uint32_t off = pos & (r->size - 1);
    uint32_t first = r->size - off < n ? r->size - off : n;
    memcpy(r->buf + off, src, first);
    memcpy(r->buf, src + first, n - first);
}

static void copy_out(const struct bb_ring *r, uint32_t pos, uint8_t *dst, uint32_t n)
{
    uint32_t off = pos & (r->size - 1);
    uint32_t first = r->size - off < n ? r->size - off : n;
    memcpy(dst, r->buf + off, first);
    memcpy(dst + first, r->buf, n - first);
}

bool bb_ring_write(struct bb_ring *r, const void *src, uint32_t n)
{
    if (bb_ring_write_space(r) < n)
        return false;
    uint32_t w = atomic_load_explicit(&r->wr, memory_order_relaxed);
    copy_in(r, w, src, n);
    atomic_store_explicit(&r->wr, w + n, memory_order_release);
    return true;
}

bool bb_ring_write2(struct bb_ring *r, const void *a, uint32_t na, const void *b, uint32_t nb)
{
    if (na > r->size || nb > r->size - na || bb_ring_write_space(r) < na + nb)
        return false;
    uint32_t w = atomic_load_explicit(&r->wr, memory_order_relaxed);
    copy_in(r, w, a, na);
    copy_in(r, w + na, b, nb);
    atomic_store_explicit(&r->wr, w + na + nb, memory_order_release);
    return true;
}

bool bb_ring_peek(const struct bb_ring *r, void *dst, uint32_t n)
{
    if (bb_ring_read_space(r) < n)
        return false;
    copy_out(r, atomic_load_explicit(&r->rd, memory_order_relaxed), dst, n);
    return true;
}

bool bb_ring_read(struct bb_ring *r, void *dst, uint32_t n)
{
    if (!bb_ring_peek(r, dst, n))
        return false;
    uint32_t rd = atomic_load_explicit(&r->rd, memory_order_relaxed);
    atomic_store_explicit(&r->rd, rd + n, memory_order_release);
    return true;
}

uint32_t bb_ring_skip(struct bb_ring *r, uint32_t n)
{
    uint32_t avail = bb_ring_read_space(r);
    if (n > avail)
        n = avail;
    uint32_t rd = atomic_load_explicit(&r->rd, memory_order_relaxed);
    atomic_store_explicit(&r->rd, rd + n, memory_order_release);
    return n;
}
