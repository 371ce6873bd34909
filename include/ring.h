// SPDX-License-Identifier: GPL-2.0-or-later
// ring.h: a lock-free single-producer single-consumer byte ring.
//
// Exactly one thread writes and exactly one thread reads; their identities
// never change while the ring is in use. Indices run free (uint32_t, wrap
// harmlessly) and are masked by a power-of-two size; the writer publishes
// with a release store after copying, the reader acquires before copying.
// Writes and reads are all-or-nothing, so a message never tears. The storage
// is allocated (and mlocked when possible) by bb_ring_init, outside any
// realtime thread; every other call is realtime safe.
#ifndef BB_RING_H
#define BB_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bb_ring {
    _Atomic uint32_t wr;  ///< bytes ever written; written by the producer only
    _Atomic uint32_t rd;  ///< bytes ever read; written by the consumer only
    uint32_t         size; ///< capacity in bytes, a power of two
    uint8_t         *buf;  ///< storage, size bytes
};

/// Allocates a ring of at least min_bytes. Returns 0 or -errno.
int  bb_ring_init(struct bb_ring *r, size_t min_bytes);
void bb_ring_cleanup(struct bb_ring *r);
/// Empties the ring. Only while neither side is using it.
void bb_ring_reset(struct bb_ring *r);

uint32_t bb_ring_read_space(const struct bb_ring *r);
uint32_t bb_ring_write_space(const struct bb_ring *r);
/// Producer: bytes ever written (runs free, wraps at 2^32).
uint32_t bb_ring_written(const struct bb_ring *r);
/// Consumer: bytes ever read or dropped (runs free, wraps at 2^32).
uint32_t bb_ring_consumed(const struct bb_ring *r);
/// Writes all n bytes or nothing; returns whether it wrote.
bool bb_ring_write(struct bb_ring *r, const void *src, uint32_t n);
/// Writes na bytes of a then nb bytes of b as one message (a header and its
/// payload): all or nothing, published at once, so the reader never sees
/// the one without the other.
bool bb_ring_write2(struct bb_ring *r, const void *a, uint32_t na, const void *b, uint32_t nb);
/// Reads all n bytes or nothing; returns whether it read.
bool bb_ring_read(struct bb_ring *r, void *dst, uint32_t n);
/// Copies n bytes without consuming them.
bool bb_ring_peek(const struct bb_ring *r, void *dst, uint32_t n);
/// Drops n bytes (at most what is there); returns how many were dropped.
uint32_t bb_ring_skip(struct bb_ring *r, uint32_t n);

#endif
