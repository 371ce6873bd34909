// SPDX-License-Identifier: GPL-2.0-or-later
// test_snap.c: snapshots are freed only after every reader has moved past
// them, never while one may still hold them; a stress run with reader
// threads checks that no reader ever sees a freed object.
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "snap.h"

struct obj {
    struct bb_snap_obj hdr;
    _Atomic int        alive;
    int                payload;
};

static _Atomic int freed;

static void obj_free(void *p)
{
    struct obj *o = p;
    atomic_store(&o->alive, 0); // a reader that sees this after getting it found a bug
    atomic_fetch_add(&freed, 1);
    free(o);
}

static struct obj *obj_new(int v)
{
    struct obj *o = calloc(1, sizeof *o);
    atomic_init(&o->alive, 1);
    o->payload = v;
    return o;
}

static struct bb_snap stress;
static _Atomic int stop, reader_errors;

static void *reader(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        struct obj *o = bb_snap_get(&stress, id);
        for (int i = 0; i < 50; i++)
            if (!o || !atomic_load(&o->alive) || o->payload < 0)
                atomic_fetch_add(&reader_errors, 1);
        if (id == 1 && (o->payload & 255) == 0) {
            bb_snap_idle(&stress, id); // readers may go idle and come back
        }
    }
    bb_snap_idle(&stress, id);
    return NULL;
}

int main(void)
{
    struct bb_snap s;
    bb_snap_init(&s, 2, obj_free);
    uint64_t e1 = bb_snap_publish(&s, obj_new(1));
    CHECK(e1 == 1);
    struct obj *r0 = bb_snap_get(&s, 0);
    CHECK(r0 && r0->payload == 1);
    // Reader 1 idle: only reader 0 holds the first object.
    uint64_t e2 = bb_snap_publish(&s, obj_new(2));
    CHECK(e2 == 2);
    CHECK(bb_snap_collect(&s) == 1); // reader 0 still on epoch 1
    CHECK(atomic_load(&freed) == 0);
    CHECK(!bb_snap_reached(&s, 2));
    struct obj *r1 = bb_snap_get(&s, 0);
    CHECK(r1->payload == 2);
    CHECK(bb_snap_reached(&s, 2));
    CHECK(bb_snap_collect(&s) == 0);
    CHECK(atomic_load(&freed) == 1);
    bb_snap_cleanup(&s);
    CHECK(atomic_load(&freed) == 2);

    // Stress: three readers, a writer publishing as fast as it can.
    atomic_store(&freed, 0);
    bb_snap_init(&stress, 3, obj_free);
    bb_snap_publish(&stress, obj_new(0));
    pthread_t t[3];
    for (uintptr_t i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, reader, (void *)i);
    int published = 1;
    for (int i = 1; i < 200000; i++) {
        struct obj *o = obj_new(i);
        if (bb_snap_publish(&stress, o)) {
            published++;
        } else {
            free(o); // retire list full: readers lag behind; try again later
            bb_snap_collect(&stress);
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&reader_errors) == 0);
    bb_snap_collect(&stress);
    CHECK(stress.nretired == 0);
    bb_snap_cleanup(&stress);
    CHECK(atomic_load(&freed) == published);
    return check_report("test_snap");
}
