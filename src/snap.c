// SPDX-License-Identifier: GPL-2.0-or-later
// snap.c: lock-free publication of immutable snapshots (see snap.h).
#include "snap.h"

void bb_snap_init(struct bb_snap *s, unsigned nreaders, bb_snap_free_fn free_fn)
{
    atomic_init(&s->cur, NULL);
    for (unsigned i = 0; i < BB_SNAP_MAX_READERS; i++)
        atomic_init(&s->ack[i], BB_SNAP_IDLE);
    s->nreaders = nreaders;
    s->epoch = 0;
    s->free_fn = free_fn;
    s->nretired = 0;
}

void bb_snap_cleanup(struct bb_snap *s)
{
    for (unsigned i = 0; i < s->nretired; i++)
        if (s->retired[i].obj)
            s->free_fn(s->retired[i].obj);
    s->nretired = 0;
    struct bb_snap_obj *o = atomic_exchange(&s->cur, NULL);
    if (o)
        s->free_fn(o);
}

int bb_snap_reached(struct bb_snap *s, uint64_t epoch)
{
    for (unsigned i = 0; i < s->nreaders; i++)
        if (atomic_load(&s->ack[i]) < epoch)
            return 0;
    return 1;
}

uint64_t bb_snap_publish(struct bb_snap *s, void *obj)
{
    bb_snap_collect(s);
    if (s->nretired == BB_SNAP_MAX_RETIRED)
        return 0;
    struct bb_snap_obj *o = obj;
    uint64_t epoch = ++s->epoch;
    if (o)
        o->epoch = epoch;
    struct bb_snap_obj *old = atomic_exchange(&s->cur, o);
    if (old) {
        // Readers may hold old until they acknowledge this epoch.
        s->retired[s->nretired].obj = old;
        s->retired[s->nretired].until = epoch;
        s->nretired++;
    }
    return epoch;
}

unsigned bb_snap_collect(struct bb_snap *s)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < s->nretired; i++) {
        if (bb_snap_reached(s, s->retired[i].until))
            s->free_fn(s->retired[i].obj);
        else
            s->retired[kept++] = s->retired[i];
    }
    s->nretired = kept;
    return kept;
}
