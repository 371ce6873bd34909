// SPDX-License-Identifier: GPL-2.0-or-later
// hub.h: `bandbridge serve`, the rehearsal-room hub, shared by its modules:
//
//   hub_main.c     control thread: options, start-up, the control loop
//   hub_clients.c  the client table (the only writer of client state) and
//                  its observers (hub_clients.h)
//   hub_session.c  JOIN, LEAVE, relayed OSC, pings (hub_session.h)
//   hub_graph.c    builds and publishes the mixer graph (hub_graph.h)
//   hub_state.c    what persists: stored mixes and connections (the store's
//                  observer of the client table)
//   hub_jack.c     the JACK client and the JACK thread: every blocking
//                  libjack call once the hub runs (hub_jack.h)
//   hub_names.c    port and source names, and what patchbays show of the
//                  ports (hub_names.h; jack_meta.c sets it)
//
// Below them, the audio engine (hub_engine.h): hub_rt.c, the JACK process
// callback, and hub_net.c, the network threads; they see the engine and the
// published graph, not struct hub.
//
// Who touches what is written at every field: [ctl] control thread,
// [jack] the JACK thread, [rt] process callback, [rx]/[tx] network threads,
// [any] atomics.
#ifndef BB_HUB_H
#define BB_HUB_H

#include <jack/jack.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"
#include "handshake.h"
#include "hub_engine.h"
#include "hub_load.h"
#include "loop_prof.h"
#include "net.h"
#include "store.h"

/// Observers of the client table: the store, OSC feedback, the session layer, one spare.
#define HUB_MAX_OBSERVERS 6

/// --osc-allow may be given this many times.
#define HUB_OSC_MAX_ALLOW 16

struct hub_clients_observer;
struct hub_jack;

struct hub {
    // configuration [ro after start]
    char           jack_name[64];
    unsigned       local_inputs;
    unsigned       max_clients;
    unsigned       timeout_ms;
    unsigned       max_per_address; ///< --max-per-address: musicians from one IP (0: any number)
    unsigned       forget_days;     ///< --forget-after: stored musicians unseen this long go (0: never)
    unsigned       max_identities;  ///< --max-identities: stored musicians at most (0: no cap)
    unsigned       mix_complexity; ///< --opus-complexity: of the personal mixes' Opus encoders
    unsigned       load_ceiling;   ///< --load-ceiling: percent of a period (hub_load.h)
    int            mix_ports;      ///< --mix-ports: each personal mix on JACK ports too
    int            drift_comp;     ///< jitter buffers resample clock drift (off: --no-drift-comp)
    unsigned       jitter;        ///< default hub-side depth, frames or BB_JBUF_AUTO
    int            jitter_set;    ///< --jitter given: overrides musicians' wishes
    uint16_t       port;
    uint16_t       osc_port;      ///< 0 = no OSC
    char           bind[128];
    char           osc_bind[64];  ///< --osc-bind: IPv4 address; empty = every address
    uint32_t       osc_allow_net[HUB_OSC_MAX_ALLOW];  ///< --osc-allow, host order
    uint32_t       osc_allow_mask[HUB_OSC_MAX_ALLOW];
    unsigned       osc_nallow;    ///< 0 = this machine and its local networks (osc_server.h)
    char           osc_password[128]; ///< --osc-password; empty = none

    // JACK. The JACK thread (hub_jack.c) makes every blocking libjack call
    // once the hub runs; the control thread only queues requests to it.
    jack_client_t *jack;          ///< [jack; rt while active]
    unsigned       rate;          ///< [ro after start]
    unsigned       period;        ///< [ctl] from the JACK thread's reports
    _Atomic int    jack_running;  ///< [jack shutdown callback clears, jack sets, ctl reads]
    int            jack_prio;     ///< [ro after start] the JACK client's RT priority
    struct hub_jack *jt;          ///< [ctl creates] the JACK thread and its queues

    /// What the process callback and the network threads see (hub_engine.h).
    struct hub_engine eng;

    // control thread state [ctl]
    struct hub_client *slots[BB_MAX_CLIENTS];
    /// [ctl] The identity that last held each slot (slot_known[i] != 0):
    /// a musician who comes back gets their slot number back when it is
    /// free, so fixed controller layouts (/mix/2/...) keep pointing at them.
    uint8_t            slot_identity[BB_MAX_CLIENTS][BB_IDENTITY_SIZE];
    uint8_t            slot_known[BB_MAX_CLIENTS];
    struct hub_send    main_sends[BB_MAX_SOURCES];
    int                dirty;     ///< a new graph must be published
    /// [ctl] The control loop's turns (work, not poll): /stats loop_max_us
    /// (max_ns) and loop_slow (slow), the slow turns logged (hub_main.c).
    struct bb_loop_prof loop_prof;
    struct hub_osc    *osc;       ///< [ctl]
    /// [ctl] Who the client table tells of its changes (hub_clients_observe).
    const struct hub_clients_observer *observers[HUB_MAX_OBSERVERS];
    unsigned           nobservers;

    // the room [ro after start] (hub_room.c)
    char               password_file[4096]; ///< --password-file; else BANDBRIDGE_PASSWORD
    int                open_room;     ///< --open: the empty password (a trusted LAN)
    int                show_password; ///< --show-password: print the stored one and exit
    struct bb_hs_hub   hs;            ///< the room key and the hub's handshake state

    // persistence [ctl]
    char               db_path[4096]; ///< --db; empty: default path; "none": memory only
    struct bb_store   *store;
    struct bb_stored_client *main_rec; ///< main mix and the hub's own port connections
    int                main_dirty;

    struct hub_load    load;      ///< [ctl] headroom and shedding (hub_load.h)
};

/// [ctl] Musicians connected and not leaving.
unsigned hub_active_count(const struct hub *h);

// hub_room.c
/// The room password (--open, --password-file, BANDBRIDGE_PASSWORD, or the
/// one generated at the first start and kept next to the database) and
/// the room key derived from it: h->hs, pointed to by h->eng.hs. 0 or -1
/// having said why.
int hub_room_setup(struct hub *h);
/// --show-password: prints the kept room password. The exit status.
int hub_room_show(struct hub *h);

/// `bandbridge serve ...`; returns the process exit status.
int bb_hub_main(int argc, char **argv);

// hub_state.c: what persists, and JACK connections as the JACK thread reads them [ctl]
/// "alice_1" / "in_2" for a source id present now, else "" (returns buf).
const char *hub_state_source_name(struct hub *h, int src_id, char *buf, size_t size);
/// A musician was admitted (in h->slots, ports not yet registered): load
/// its stored state and apply every stored mix setting that concerns it.
void hub_state_join(struct hub *h, struct hub_client *c);
/// The name to show for a musician joining with identity and (sanitised)
/// JOIN name join_name, into out (BB_NAME_MAX): the name an engineer
/// renamed it to, if it joins under the name it had then and no one here
/// has that name; else join_name.
void hub_state_shown_name(struct hub *h, const uint8_t *identity, const char *join_name,
                          char *out);
/// c was renamed from old (c->name is the new name): its record, the live
/// and stored mixes that name its sources, and stored connections follow.
void hub_state_rename(struct hub *h, struct hub_client *c, const char *old);
/// A mix changed (c NULL: the main mix): store it soon.
void hub_state_mark(struct hub *h, struct hub_client *c);
/// Brings stored records up to date and lets the store flush (debounced).
void hub_state_sync(struct hub *h, int force);
/// The JACK thread read the connections of rp->c's ports (NULL: the hub's
/// own): into the record, stored soon (a departed musician's at once).
struct hub_jack_report;
void hub_state_conns(struct hub *h, const struct hub_jack_report *rp);
/// Loads the main mix at start-up.
void hub_state_start(struct hub *h);
/// The store's observer of the client table (hub_clients_observe): loads
/// and applies a joining musician's stored state, keeps records current.
extern const struct hub_clients_observer hub_state_observer;

// The control plane's modules, for those that include hub.h only (osc.c).
#include "hub_clients.h"
#include "hub_graph.h"

#endif
