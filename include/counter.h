// SPDX-License-Identifier: GPL-2.0-or-later
// counter.h: statistics counters, read by anyone at any time.
//
// A counter with one writer thread is bumped with a relaxed load and store:
// no locked instruction, so it costs nothing in the process callback. A
// counter several threads bump (the send workers' errors, the receive and
// control threads' refusals) needs an atomic add. The comment at each
// counter says which it is; the function used must match it.
#ifndef BB_COUNTER_H
#define BB_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

/// One writer thread (the counter's owner) adds n.
static inline void bb_counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/// One writer thread adds 1.
static inline void bb_counter_inc(_Atomic uint64_t *c)
{
    bb_counter_add(c, 1);
}

/// Any thread adds 1 (several writers).
static inline void bb_counter_inc_shared(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/// The counter's value now.
static inline uint64_t bb_counter_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
