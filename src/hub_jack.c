// SPDX-License-Identifier: GPL-2.0-or-later
// hub_jack.c: the JACK client's life and the JACK thread (hub_jack.h).
//
// DESIGN. Every libjack call that talks to the server is a round trip to
// jackd: about 0.6 ms when it is idle, seconds when it is busy, forever
// while it is stopped. Once the hub runs, only this thread makes them: port
// registration, removal and renaming, connections made and read, and the
// server's loss and return. The control thread queues requests (a list
// under a mutex, an eventfd to wake this thread) and takes reports (a list
// under the same mutex, an eventfd its poll() watches); neither side ever
// holds the mutex across anything but a list operation. Requests are done
// in the order asked, so "register alice's ports" asked before "remove
// alice" is done first, and a newcomer's ports are registered after a
// departed musician's of the same name are gone.
//
// The process callback reads the port handles directly (c->ports,
// c->mix_ports): this thread stores them atomically after registering and
// NULL before unregistering (the callback has then long stopped seeing the
// musician: the control thread hands a musician over only after a graph
// without it was acknowledged). A musician with no port yet is mixed all
// the same; its channels just do not show in JACK.
//
// When jackd goes away (its shutdown callback), the client is closed, every
// handle forgotten, and reopened every 500 ms; once back, every musician it
// holds gets its ports again before the client is activated, and the
// control thread, told HUB_JACK_BACK, asks for the stored connections.
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hub_jack.h"
#include "hub_names.h"
#include "jack_meta.h"
#include "jack_open.h"

#include <jack/thread.h> // after jack.h (through hub.h): it needs jack_client_t
#include "log.h"

#define RETRY_MS 500
/// JACK metadata waits until no request came for this long (meta_step):
/// joins and leaves come in bursts (a band arriving, zombies swept at
/// once), and their ports go first.
#define META_QUIET_MS 300

enum req_type { REQ_ADD, REQ_REMOVE, REQ_RENAME, REQ_CONNECT, REQ_SNAPSHOT, REQ_BARRIER, REQ_STOP };

struct req {
    struct req        *next;
    enum req_type      type;
    struct hub_client *c;
    char               name[BB_NAME_MAX];
    uint64_t           tag;
    unsigned           nconns;
    struct bb_stored_conn conns[]; ///< REQ_ADD, REQ_CONNECT
};

struct hub_jack {
    pthread_t        thread;
    int              started;
    pthread_mutex_t  lock;       ///< guards the two lists only
    struct req      *req_head, *req_tail;               ///< [ctl] in, [jack] out
    struct hub_jack_report *rep_head, *rep_tail;        ///< [jack] in, [ctl] out
    int              req_fd;     ///< eventfd: [ctl, shutdown callback] write, [jack] polls
    int              rep_fd;     ///< eventfd: [jack] writes, [ctl] polls
    _Atomic int      done;       ///< [jack] the thread has ended
    struct hub_client *held;     ///< [jack] musicians whose ports this thread keeps (jack_next)
    int              own_meta_due;  ///< [jack] the client's and own ports' metadata to set
};

static void wake(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) {
        // an eventfd only fails when its counter is full: it is readable then
    }
}

static void drain_fd(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
        bb_warn("JACK thread eventfd: %s", strerror(errno));
}

// ---- JACK callbacks (JACK's threads) ----

static int jack_xrun_cb(void *arg)
{
    struct hub *h = arg;
    atomic_fetch_add(&h->eng.stats.xruns, 1);
    return 0;
}

static void jack_shutdown_cb(void *arg)
{
    struct hub *h = arg;
    atomic_store(&h->jack_running, 0);
    wake(h->jt->req_fd); // an eventfd write: all this thread may do
}

// ---- the client ----

static jack_port_t *register_port(struct hub *h, const char *name, unsigned long flags)
{
    if (!h->jack)
        return NULL; // JACK is away: registered when it comes back
    jack_port_t *p = jack_port_register(h->jack, name, JACK_DEFAULT_AUDIO_TYPE, flags, 0);
    if (!p)
        bb_warn("cannot register JACK port %s:%s", h->jack_name, name);
    return p;
}

// Opens the client, registers the hub's own ports; rate and period out.
// quiet: a retry while JACK is away (no error line per attempt).
static int open_client(struct hub *h, int quiet, unsigned *rate_out, unsigned *period_out)
{
    enum bb_jack_fail fail;
    char why[300];
    h->jack = bb_jack_open(h->jack_name, 1, "-n", &fail, why, sizeof why);
    if (!h->jack) {
        if (!quiet || fail == BB_JACK_NAME_TAKEN)
            bb_err("%s", why);
        return -1;
    }
    unsigned rate = jack_get_sample_rate(h->jack), period = jack_get_buffer_size(h->jack);
    const char *bad = NULL;
    if (h->rate && rate != h->rate) {
        bb_err("JACK came back at %u Hz instead of %u Hz; the musicians' streams cannot follow",
               rate, h->rate);
        bad = "";
    } else if (period > BB_STREAM_MAX_PERIOD) {
        bb_err("JACK period %u is larger than the %u frames bandbridge supports", period,
               BB_STREAM_MAX_PERIOD);
        bad = "";
    }
    if (bad) {
        jack_client_close(h->jack);
        h->jack = NULL;
        h->eng.jack = NULL;
        return -1;
    }
    if (!h->jack_prio)
        h->jack_prio = jack_client_real_time_priority(h->jack); // network threads go below
    char pn[32];
    for (unsigned i = 0; i < h->local_inputs + BB_MIX_CH; i++) {
        hub_own_port_name(pn, sizeof pn, h->local_inputs, i);
        jack_port_t *p = register_port(h, pn, i < h->local_inputs ? JackPortIsInput : JackPortIsOutput);
        if (i < h->local_inputs)
            h->eng.local_in[i] = p;
        else
            h->eng.main_out[i - h->local_inputs] = p;
    }
    // The engine reads JACK's frame counter and sizes its ramps by the rate.
    h->eng.jack = h->jack;
    h->eng.rate = rate;
    h->eng.jack_prio = h->jack_prio;
    if (!h->eng.mixer && hub_rt_init(&h->eng) < 0) {
        bb_err("out of memory");
        return -1;
    }
    bb_mixer_init(h->eng.mixer, rate / 200);
    jack_set_process_callback(h->jack, hub_rt_process, &h->eng);
    jack_set_xrun_callback(h->jack, jack_xrun_cb, h);
    jack_on_shutdown(h->jack, jack_shutdown_cb, h);
    *rate_out = rate;
    *period_out = period;
    return 0;
}

int hub_jack_open(struct hub *h)
{
    struct hub_jack *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    // Priority inheritance: the control thread (SCHED_FIFO, bb.h) never
    // waits on this thread's share of a busy CPU for a list operation.
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&j->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    j->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    j->rep_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h->jt = j;
    if (j->req_fd < 0 || j->rep_fd < 0) {
        bb_err("eventfd: %s", strerror(errno));
        return -1;
    }
    unsigned rate, period;
    if (open_client(h, 0, &rate, &period) < 0)
        return -1;
    h->rate = rate;
    h->period = period;
    return 0;
}

// ---- musicians' ports [jack] ----

static unsigned nports(const struct hub *h, const struct hub_client *c)
{
    return c->channels + (h->mix_ports ? BB_MIX_CH : 0);
}

static jack_port_t *port_of(struct hub_client *c, unsigned i)
{
    return i < c->channels ? c->ports[i] : c->mix_ports[i - c->channels];
}

static void set_port(struct hub_client *c, unsigned i, jack_port_t *p)
{
    if (i < c->channels)
        atomic_store(&c->ports[i], p);
    else
        atomic_store(&c->mix_ports[i - c->channels], p);
}

static jack_port_t *own_port(struct hub *h, unsigned i)
{
    return i < h->local_inputs ? h->eng.local_in[i] : h->eng.main_out[i - h->local_inputs];
}

// What patchbays show of port i of c (c NULL: the hub's own port i), c
// named name (jack_meta.h, hub_names.h). Musicians come after the hub's
// own ports, in the order of their slots.
static void port_meta(struct hub *h, struct hub_client *c, unsigned i, const char *name)
{
    char pretty[BB_NAME_MAX + 24], group[BB_NAME_MAX + 16];
    jack_port_t *p = c ? port_of(c, i) : own_port(h, i);
    if (!p || !h->jack)
        return;
    if (c) {
        hub_port_pretty(pretty, sizeof pretty, name, c->channels, i);
        hub_port_group(group, sizeof group, name, c->channels, i);
    } else {
        hub_own_port_pretty(pretty, sizeof pretty, h->local_inputs, i);
        hub_own_port_group(group, sizeof group, h->local_inputs, i);
    }
    bb_jack_meta_port(h->jack, p, pretty, group, c ? 1000 * (c->slot + 1) + (int)i : (int)i);
}

// The client's pretty name and the hub's own ports' metadata.
static void own_meta(struct hub *h)
{
    char pretty[96];
    if (strcmp(h->jack_name, "bandbridge") == 0)
        snprintf(pretty, sizeof pretty, "bandbridge hub");
    else
        snprintf(pretty, sizeof pretty, "bandbridge hub %.63s", h->jack_name);
    bb_jack_meta_client(h->jack, pretty);
    for (unsigned i = 0; i < h->local_inputs + BB_MIX_CH; i++)
        port_meta(h, NULL, i, NULL);
}

// One piece of metadata work, done once no request came for a while:
// every property is a round trip to jackd and a write to its database,
// tens of milliseconds each on a loaded machine, which must not delay
// ports that come and go. The hub's own first, then one musician. (jackd
// removes a port's properties when it is unregistered and a client's when
// it closes: nothing here removes any, see jack_meta.c.)
// Returns 1 if there is more to do.
static int meta_step(struct hub *h)
{
    struct hub_jack *j = h->jt;
    if (!h->jack)
        return 0;
    if (j->own_meta_due) {
        own_meta(h);
        j->own_meta_due = 0;
    } else {
        struct hub_client *c = j->held;
        while (c && c->jack_meta != 1)
            c = c->jack_next;
        if (!c)
            return 0;
        for (unsigned i = 0; i < nports(h, c); i++)
            port_meta(h, c, i, c->jack_name);
        c->jack_meta = 2;
    }
    for (struct hub_client *c = j->held; c; c = c->jack_next)
        if (c->jack_meta == 1)
            return 1;
    return j->own_meta_due;
}

static void register_client(struct hub *h, struct hub_client *c)
{
    char pn[BB_NAME_MAX + 16];
    for (unsigned i = 0; i < nports(h, c); i++) {
        hub_port_name(pn, sizeof pn, c->jack_name, c->channels, i);
        set_port(c, i, register_port(h, pn, JackPortIsOutput));
    }
    c->jack_meta = h->jack ? 1 : 0;
}

static void unregister_client(struct hub *h, struct hub_client *c)
{
    for (unsigned i = 0; i < nports(h, c); i++) {
        jack_port_t *p = port_of(c, i);
        set_port(c, i, NULL);
        if (p && h->jack)
            jack_port_unregister(h->jack, p);
    }
    c->jack_meta = 0;
}

// Renames c's ports from c->jack_name to nw; back again if JACK refuses one.
static void rename_client(struct hub *h, struct hub_client *c, const char *nw)
{
    char from[BB_NAME_MAX + 16], to[BB_NAME_MAX + 16];
    unsigned n = nports(h, c);
    for (unsigned i = 0; h->jack && i < n; i++) {
        hub_port_name(to, sizeof to, nw, c->channels, i);
        if (!port_of(c, i) || jack_port_rename(h->jack, port_of(c, i), to) == 0)
            continue;
        hub_port_name(from, sizeof from, c->jack_name, c->channels, i);
        bb_warn("JACK refused to rename %s:%s to %s; the ports keep their names", h->jack_name,
                from, to);
        while (i-- > 0) {
            hub_port_name(from, sizeof from, c->jack_name, c->channels, i);
            if (port_of(c, i) && jack_port_rename(h->jack, port_of(c, i), from) != 0)
                bb_warn("JACK refused to rename %s back to %s", to, from);
        }
        return;
    }
    snprintf(c->jack_name, sizeof c->jack_name, "%s", nw);
    if (c->jack_meta)
        c->jack_meta = 1; // the new names, when the thread is idle
}

static void connect_all(struct hub *h, const struct bb_stored_conn *conns, unsigned n)
{
    char full[BB_PORT_NAME_MAX];
    for (unsigned i = 0; h->jack && i < n; i++) {
        const struct bb_stored_conn *sc = &conns[i];
        snprintf(full, sizeof full, "%s:%s", h->jack_name, sc->port);
        int rc = sc->output ? jack_connect(h->jack, full, sc->peer)
                            : jack_connect(h->jack, sc->peer, full);
        if (rc != 0 && rc != EEXIST)
            bb_debug("could not restore the connection %s %s %s", full, sc->output ? "->" : "<-",
                     sc->peer);
    }
}

static void report(struct hub *h, struct hub_jack_report *r)
{
    struct hub_jack *j = h->jt;
    r->next = NULL;
    pthread_mutex_lock(&j->lock);
    if (j->rep_tail)
        j->rep_tail->next = r;
    else
        j->rep_head = r;
    j->rep_tail = r;
    pthread_mutex_unlock(&j->lock);
    wake(j->rep_fd);
}

static void report_simple(struct hub *h, enum hub_jack_report_type type, struct hub_client *c,
                          uint64_t tag)
{
    struct hub_jack_report *r = calloc(1, sizeof *r);
    if (!r) {
        bb_err("out of memory reporting to the control thread"); // it waits for this report
        return;
    }
    r->type = type;
    r->c = c;
    r->tag = tag;
    report(h, r);
}

// The connections of c's ports (c NULL: the hub's own) as HUB_JACK_CONNS.
static void snapshot(struct hub *h, struct hub_client *c)
{
    if (!h->jack || !atomic_load(&h->jack_running))
        return;
    unsigned n = c ? nports(h, c) : h->local_inputs + BB_MIX_CH;
    const char **peers[BB_MAX_LOCAL_CH + BB_MIX_CH];
    unsigned total = 0;
    for (unsigned i = 0; i < n; i++) {
        jack_port_t *p = c ? port_of(c, i) : i < h->local_inputs ? h->eng.local_in[i]
                                                                 : h->eng.main_out[i - h->local_inputs];
        peers[i] = NULL;
        if (!p)
            continue;
        peers[i] = jack_port_get_all_connections(h->jack, p);
        for (unsigned k = 0; peers[i] && peers[i][k]; k++)
            total += k < BB_STORE_MAX_CONN;
    }
    struct hub_jack_report *r = calloc(1, sizeof *r + total * sizeof r->conns[0]);
    for (unsigned i = 0; i < n; i++) {
        jack_port_t *p = c ? port_of(c, i) : i < h->local_inputs ? h->eng.local_in[i]
                                                                 : h->eng.main_out[i - h->local_inputs];
        if (r && p) {
            r->present[i] = 1;
            uint8_t out = (jack_port_flags(p) & JackPortIsOutput) != 0;
            for (unsigned k = 0; peers[i] && peers[i][k] && k < BB_STORE_MAX_CONN; k++) {
                struct hub_jack_conn *hc = &r->conns[r->nconns++];
                hc->port = (uint8_t)i;
                hc->output = out;
                snprintf(hc->peer, sizeof hc->peer, "%s", peers[i][k]);
            }
        }
        jack_free(peers[i]);
    }
    if (!r)
        return; // out of memory: the next snapshot will do
    r->type = HUB_JACK_CONNS;
    r->c = c;
    r->nports = n;
    report(h, r);
}

// ---- the server's loss and return [jack] ----

static void lost(struct hub *h)
{
    struct hub_jack *j = h->jt;
    jack_client_close(h->jack); // every port died with the server
    h->jack = NULL;
    h->eng.jack = NULL;
    bb_snap_idle(&h->eng.graph, HUB_READER_RT); // the callback reads no graph now
    memset(h->eng.local_in, 0, sizeof h->eng.local_in);
    memset(h->eng.main_out, 0, sizeof h->eng.main_out);
    for (struct hub_client *c = j->held; c; c = c->jack_next) {
        for (unsigned i = 0; i < nports(h, c); i++)
            set_port(c, i, NULL);
        c->jack_meta = 0;
    }
    j->own_meta_due = 0;
    report_simple(h, HUB_JACK_LOST, NULL, 0);
}

static int back(struct hub *h)
{
    unsigned rate, period;
    if (open_client(h, 1, &rate, &period) < 0)
        return -1;
    h->jt->own_meta_due = 1;
    for (struct hub_client *c = h->jt->held; c; c = c->jack_next)
        register_client(h, c);
    atomic_store(&h->jack_running, 1);
    if (jack_activate(h->jack) != 0) {
        bb_err("cannot activate the JACK client; will retry");
        atomic_store(&h->jack_running, 0);
        jack_client_close(h->jack);
        h->jack = NULL;
        h->eng.jack = NULL;
        for (struct hub_client *c = h->jt->held; c; c = c->jack_next)
            for (unsigned i = 0; i < nports(h, c); i++)
                set_port(c, i, NULL);
        return -1;
    }
    struct hub_jack_report *r = calloc(1, sizeof *r);
    if (r) {
        r->type = HUB_JACK_BACK;
        r->rate = rate;
        r->period = period;
        report(h, r);
    }
    return 0;
}

// ---- requests ----

static void unlink_held(struct hub_jack *j, struct hub_client *c)
{
    for (struct hub_client **pp = &j->held; *pp; pp = &(*pp)->jack_next)
        if (*pp == c) {
            *pp = c->jack_next;
            return;
        }
}

// Does one request; returns 1 for REQ_STOP.
static int do_request(struct hub *h, struct req *q)
{
    struct hub_jack *j = h->jt;
    switch (q->type) {
    case REQ_ADD:
        snprintf(q->c->jack_name, sizeof q->c->jack_name, "%s", q->name);
        q->c->jack_next = j->held;
        j->held = q->c;
        register_client(h, q->c);
        connect_all(h, q->conns, q->nconns);
        break;
    case REQ_REMOVE:
        unlink_held(j, q->c);
        unregister_client(h, q->c);
        report_simple(h, HUB_JACK_GONE, q->c, 0);
        break;
    case REQ_RENAME:
        rename_client(h, q->c, q->name);
        break;
    case REQ_CONNECT:
        connect_all(h, q->conns, q->nconns);
        break;
    case REQ_SNAPSHOT:
        if (q->c) {
            snapshot(h, q->c);
            break;
        }
        for (struct hub_client *c = j->held; c; c = c->jack_next)
            snapshot(h, c);
        snapshot(h, NULL);
        break;
    case REQ_BARRIER:
        report_simple(h, HUB_JACK_BARRIER, NULL, q->tag);
        break;
    case REQ_STOP:
        return 1;
    }
    return 0;
}

static struct req *next_request(struct hub_jack *j)
{
    pthread_mutex_lock(&j->lock);
    struct req *q = j->req_head;
    if (q) {
        j->req_head = q->next;
        if (!j->req_head)
            j->req_tail = NULL;
    }
    pthread_mutex_unlock(&j->lock);
    return q;
}

static uint64_t now_ms(void)
{
    return bb_now_ns() / 1000000u;
}

static void *jack_thread(void *arg)
{
    struct hub *h = arg;
    struct hub_jack *j = h->jt;
    uint64_t next_try = 0, last_req = 0;
    j->own_meta_due = h->jack != NULL;
    for (int stop = 0, meta = 1; !stop;) {
        uint64_t quiet = last_req + META_QUIET_MS, now = now_ms();
        int timeout = !h->jack ? RETRY_MS : !meta ? -1 : now >= quiet ? 0 : (int)(quiet - now);
        struct pollfd pfd = {.fd = j->req_fd, .events = POLLIN};
        poll(&pfd, 1, timeout);
        drain_fd(j->req_fd);
        if (h->jack && !atomic_load(&h->jack_running)) {
            lost(h);
            next_try = now_ms() + RETRY_MS;
        }
        if (!h->jack && now_ms() >= next_try) {
            if (back(h) < 0)
                next_try = now_ms() + RETRY_MS;
            meta = 1;
        }
        for (struct req *q; !stop && (q = next_request(j));) {
            stop = do_request(h, q);
            free(q);
            last_req = now_ms();
            meta = 1;
        }
        if (!stop && meta && now_ms() >= last_req + META_QUIET_MS)
            meta = meta_step(h);
    }
    if (h->jack) {
        jack_deactivate(h->jack);
        bb_snap_idle(&h->eng.graph, HUB_READER_RT);
        for (struct hub_client *c = j->held; c; c = c->jack_next)
            for (unsigned i = 0; i < nports(h, c); i++)
                set_port(c, i, NULL); // closing the client unregisters them
        jack_client_close(h->jack);
        h->jack = NULL;
        h->eng.jack = NULL;
    }
    j->held = NULL;
    report_simple(h, HUB_JACK_STOPPED, NULL, 0);
    atomic_store(&j->done, 1);
    return NULL;
}

int hub_jack_start(struct hub *h, const struct bb_stored_client *own, char *err, size_t size)
{
    atomic_store(&h->jack_running, 1);
    if (jack_activate(h->jack) != 0) {
        atomic_store(&h->jack_running, 0);
        snprintf(err, size, "cannot activate the JACK client");
        return -1;
    }
    if (own)
        connect_all(h, own->conns, own->nconns); // the control loop is not running yet
    int rc = pthread_create(&h->jt->thread, NULL, jack_thread, h);
    if (rc != 0) {
        snprintf(err, size, "cannot start the JACK thread: %s", strerror(rc));
        return -1;
    }
    h->jt->started = 1;
    return 0;
}

// ---- the control thread's side ----

static void ask(struct hub *h, enum req_type type, struct hub_client *c, const char *name,
                const struct bb_stored_client *rec, uint64_t tag)
{
    struct hub_jack *j = h->jt;
    if (!j || !j->started)
        return;
    unsigned n = rec ? rec->nconns : 0;
    struct req *q = calloc(1, sizeof *q + n * sizeof q->conns[0]);
    if (!q) {
        bb_err("out of memory queueing a JACK request");
        return;
    }
    q->type = type;
    q->c = c;
    q->tag = tag;
    if (name)
        snprintf(q->name, sizeof q->name, "%s", name);
    q->nconns = n;
    if (n)
        memcpy(q->conns, rec->conns, n * sizeof q->conns[0]);
    pthread_mutex_lock(&j->lock);
    if (j->req_tail)
        j->req_tail->next = q;
    else
        j->req_head = q;
    j->req_tail = q;
    pthread_mutex_unlock(&j->lock);
    wake(j->req_fd);
}

void hub_jack_add(struct hub *h, struct hub_client *c, const struct bb_stored_client *rec)
{
    ask(h, REQ_ADD, c, c->name, rec, 0);
}

void hub_jack_remove(struct hub *h, struct hub_client *c)
{
    ask(h, REQ_REMOVE, c, NULL, NULL, 0);
}

void hub_jack_rename(struct hub *h, struct hub_client *c, const char *name)
{
    ask(h, REQ_RENAME, c, name, NULL, 0);
}

void hub_jack_connect(struct hub *h, struct hub_client *c, const struct bb_stored_client *rec)
{
    if (rec && rec->nconns)
        ask(h, REQ_CONNECT, c, NULL, rec, 0);
}

void hub_jack_snapshot(struct hub *h, struct hub_client *c)
{
    ask(h, REQ_SNAPSHOT, c, NULL, NULL, 0);
}

void hub_jack_barrier(struct hub *h, uint64_t tag)
{
    ask(h, REQ_BARRIER, NULL, NULL, NULL, tag);
}

void hub_jack_stop(struct hub *h)
{
    ask(h, REQ_STOP, NULL, NULL, NULL, 0);
}

int hub_jack_join(struct hub *h, unsigned ms)
{
    struct hub_jack *j = h->jt;
    if (!j)
        return 0;
    if (j->started) {
        uint64_t end = bb_now_ns() + (uint64_t)ms * 1000000u;
        while (!atomic_load(&j->done) && bb_now_ns() < end) {
            struct pollfd pfd = {.fd = j->rep_fd, .events = POLLIN};
            poll(&pfd, 1, 10); // the STOPPED report wakes us
        }
        if (!atomic_load(&j->done))
            return -1;
        pthread_join(j->thread, NULL);
        j->started = 0;
    } else if (h->jack) {
        jack_client_close(h->jack); // opened, never started: nothing else to undo
        h->jack = NULL;
        h->eng.jack = NULL;
    }
    return 0;
}

void hub_jack_free(struct hub *h)
{
    struct hub_jack *j = h->jt;
    if (!j || j->started)
        return; // still running (stuck in jackd): the process ends without it
    for (struct req *q; (q = next_request(j));)
        free(q);
    for (struct hub_jack_report *r; (r = hub_jack_take(h));)
        free(r);
    if (j->req_fd >= 0)
        close(j->req_fd);
    if (j->rep_fd >= 0)
        close(j->rep_fd);
    pthread_mutex_destroy(&j->lock);
    free(j);
    h->jt = NULL;
}

int hub_jack_fd(struct hub *h)
{
    return h->jt && h->jt->started ? h->jt->rep_fd : -1;
}

struct hub_jack_report *hub_jack_take(struct hub *h)
{
    struct hub_jack *j = h->jt;
    if (!j)
        return NULL;
    drain_fd(j->rep_fd);
    pthread_mutex_lock(&j->lock);
    struct hub_jack_report *r = j->rep_head;
    if (r) {
        j->rep_head = r->next;
        if (!j->rep_head)
            j->rep_tail = NULL;
    }
    int more = j->rep_head != NULL;
    pthread_mutex_unlock(&j->lock);
    if (more)
        wake(j->rep_fd); // stay readable until the list is empty
    return r;
}
