// SPDX-License-Identifier: GPL-2.0-or-later
// hub_jack.h: the hub's JACK thread, the only caller of blocking libjack
// functions once the hub runs (DESIGN.md rule 8).
//
// The control thread asks (hub_jack_add, _remove, _rename, _connect,
// _snapshot, _barrier): each call queues a request and returns at once. The
// JACK thread does them in the order asked and answers through reports the
// control thread takes (hub_jack_take) when hub_jack_fd() is readable. A
// stopped or busy jackd delays the JACK thread only.
//
// Who writes what: the JACK thread owns h->jack, the hub's own ports
// (h->local_in, h->main_out; written only while the client is not active)
// and every musician's port handles (c->ports, c->mix_ports: atomic stores,
// the process callback loads them and treats NULL as "no port yet"), and
// c->jack_name / c->jack_next. A musician handed to it (hub_jack_add) stays
// in its list until its HUB_JACK_GONE report: the control thread frees it
// only after that.
#ifndef BB_HUB_JACK_H
#define BB_HUB_JACK_H

#include "hub.h"

enum hub_jack_report_type {
    HUB_JACK_GONE,    ///< c's ports are unregistered; c is the control thread's again
    HUB_JACK_CONNS,   ///< the connections of c's ports (c NULL: the hub's own)
    HUB_JACK_LOST,    ///< the JACK server went away: every port is gone
    HUB_JACK_BACK,    ///< the client is open and active again (rate, period), ports re-registered
    HUB_JACK_BARRIER, ///< every request before hub_jack_barrier(tag) is done
    HUB_JACK_STOPPED, ///< after hub_jack_stop: the client is closed, the thread ends
};

/// One connection of port index `port` (hub_port_name / hub_own_port_name numbering).
struct hub_jack_conn {
    uint8_t port;
    uint8_t output;                   ///< 1: port -> peer
    char    peer[BB_PORT_NAME_MAX];
};

struct hub_jack_report {
    struct hub_jack_report *next;
    enum hub_jack_report_type type;
    struct hub_client *c;
    uint64_t  tag;                    ///< HUB_JACK_BARRIER
    unsigned  rate, period;           ///< HUB_JACK_BACK
    /// HUB_JACK_CONNS: present[i]: port i exists (its stored connections
    /// are replaced by those listed); conns[0..nconns).
    uint8_t   present[BB_MAX_LOCAL_CH + BB_MIX_CH];
    unsigned  nports;
    unsigned  nconns;
    struct hub_jack_conn conns[];
};

/// [ctl, before the control loop] Opens the JACK client, registers the
/// hub's own ports and sets h->rate and h->period. Blocking: start-up only.
int  hub_jack_open(struct hub *h);
/// [ctl, before the control loop] Activates the client, makes own's stored
/// connections (own may be NULL) and starts the JACK thread.
int  hub_jack_start(struct hub *h, const struct bb_stored_client *own, char *err, size_t size);
/// [ctl] Asks the thread to close the client and end; HUB_JACK_STOPPED follows.
void hub_jack_stop(struct hub *h);
/// [ctl] Waits up to ms for the thread to end; 0 if it did (it is joined),
/// -1 if it is still stuck in jackd (nothing of JACK may be freed then).
int  hub_jack_join(struct hub *h, unsigned ms);
/// [ctl] Frees what is left of the queues once joined (else keeps them).
void hub_jack_free(struct hub *h);

/// [ctl] Register c's ports (named c->name) and make rec's stored
/// connections (rec may be NULL; copied).
void hub_jack_add(struct hub *h, struct hub_client *c, const struct bb_stored_client *rec);
/// [ctl] Unregister c's ports; HUB_JACK_GONE(c) follows. No reader may
/// still see c (a graph without it was acknowledged).
void hub_jack_remove(struct hub *h, struct hub_client *c);
/// [ctl] Rename c's ports to name's (connections stay).
void hub_jack_rename(struct hub *h, struct hub_client *c, const char *name);
/// [ctl] Make rec's stored connections of c's ports (c NULL: the hub's own).
void hub_jack_connect(struct hub *h, struct hub_client *c, const struct bb_stored_client *rec);
/// [ctl] HUB_JACK_CONNS for c (c NULL: for every musician the thread holds,
/// then for the hub's own ports).
void hub_jack_snapshot(struct hub *h, struct hub_client *c);
/// [ctl] HUB_JACK_BARRIER(tag) once everything asked so far is done.
void hub_jack_barrier(struct hub *h, uint64_t tag);

/// [ctl] Polled by the control loop: readable when reports wait.
int  hub_jack_fd(struct hub *h);
/// [ctl] The oldest report, or NULL; free() it when done.
struct hub_jack_report *hub_jack_take(struct hub *h);

#endif
