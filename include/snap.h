// SPDX-License-Identifier: GPL-2.0-or-later
// snap.h: publish immutable snapshots to other threads without locks.
//
// One writer (the control thread) publishes a new object with one atomic
// store; each reader (process callback, network threads) calls
// bb_snap_get() once per cycle, which also acknowledges the object's
// epoch. A replaced object is freed by bb_snap_collect() only after every
// reader has acknowledged a newer epoch, so no reader ever sees freed
// memory and no reader ever waits.
#ifndef BB_SNAP_H
#define BB_SNAP_H

#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"

#define BB_SNAP_MAX_READERS 4
#define BB_SNAP_MAX_RETIRED 256
#define BB_SNAP_IDLE UINT64_MAX  ///< ack of a reader that reads nothing now

/// Every published object begins with this.
struct bb_snap_obj {
    uint64_t epoch;  ///< set by bb_snap_publish
};

typedef void (*bb_snap_free_fn)(void *obj);

struct bb_snap {
    _Atomic(struct bb_snap_obj *) cur;            ///< written by the control thread
    _Atomic uint64_t ack[BB_SNAP_MAX_READERS];    ///< each written by its reader
    unsigned         nreaders;
    uint64_t         epoch;                       ///< control thread
    bb_snap_free_fn  free_fn;
    struct { struct bb_snap_obj *obj; uint64_t until; } retired[BB_SNAP_MAX_RETIRED];
    unsigned         nretired;                    ///< control thread
};

void bb_snap_init(struct bb_snap *s, unsigned nreaders, bb_snap_free_fn free_fn);
/// Frees everything, readers must have stopped.
void bb_snap_cleanup(struct bb_snap *s);

/// Reader: the current object (may be NULL), acknowledging its epoch.
/// Sequentially consistent on purpose: a reader leaving the idle state
/// must make its claim visible before it loads the pointer.
BB_RT static inline void *bb_snap_get(struct bb_snap *s, unsigned reader)
{
    if (atomic_load_explicit(&s->ack[reader], memory_order_relaxed) == BB_SNAP_IDLE)
        atomic_store(&s->ack[reader], 0);
    struct bb_snap_obj *o = atomic_load(&s->cur);
    atomic_store(&s->ack[reader], o ? o->epoch : 0);
    return o;
}

/// Reader: it holds no object now and will call bb_snap_get() before its next use.
static inline void bb_snap_idle(struct bb_snap *s, unsigned reader)
{
    atomic_store_explicit(&s->ack[reader], BB_SNAP_IDLE, memory_order_release);
}

/// Writer: publish obj (never NULL: publish an empty object instead, or
/// readers acknowledge nothing); the previous object is retired.
/// Returns obj's epoch, or 0 if the retire list is full (obj not published).
uint64_t bb_snap_publish(struct bb_snap *s, void *obj);
/// Writer: the current object, without acknowledging.
static inline void *bb_snap_peek(struct bb_snap *s)
{
    return atomic_load_explicit(&s->cur, memory_order_relaxed);
}
/// Writer: whether every reader has moved to epoch or later.
int bb_snap_reached(struct bb_snap *s, uint64_t epoch);
/// Writer: frees retired objects nobody can see any more; returns how many remain.
unsigned bb_snap_collect(struct bb_snap *s);

#endif
