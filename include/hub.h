// SPDX-License-Identifier: GPL-2.0-or-later
// hub.h: `bandbridge serve`, the rehearsal-room hub, shared by its modules:
//
//   hub.c      control thread: options, client table, joins and leaves,
//              zombie sweep, JACK ports, graph building (the only writer
//              of client state)
//   hub_rt.c   JACK process callback: jitter buffers -> ports -> mixes
//   hub_net.c  network threads: receive (parse, validate, decode) and
//              send (encode, packetise)
//
// Who touches what is written at every field: [ctl] control thread,
// [rt] process callback, [rx]/[tx] network threads, [any] atomics.
#ifndef BB_HUB_H
#define BB_HUB_H

#include <jack/jack.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"
#include "hub_engine.h"
#include "net.h"
#include "store.h"

/// --osc-allow may be given this many times.
#define HUB_OSC_MAX_ALLOW 16

struct hub {
    // configuration [ro after start]
    char           jack_name[64];
    unsigned       local_inputs;
    unsigned       max_clients;
    unsigned       timeout_ms;
    unsigned       mix_complexity; ///< --opus-complexity: of the personal mixes' Opus encoders
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

    // JACK [ctl opens; rt uses ports]
    jack_client_t *jack;
    unsigned       rate;
    unsigned       period;
    _Atomic int    jack_running;  ///< [jack shutdown callback clears, ctl reads]
    int            jack_prio;     ///< [ro after start] the JACK client's RT priority

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
    struct hub_osc    *osc;       ///< [ctl]

    // persistence [ctl]
    char               db_path[4096]; ///< --db; empty: default path; "none": memory only
    struct bb_store   *store;
    struct bb_stored_client *main_rec; ///< main mix and the hub's own port connections
    int                main_dirty;
};

/// `bandbridge serve ...`; returns the process exit status.
int bb_hub_main(int argc, char **argv);

// hub.c, for the control thread's other modules (osc.c)
/// [ctl] Publishes a new graph if h->dirty; returns its epoch or 0.
uint64_t           hub_publish(struct hub *h);
/// [ctl] The active musician with this (sanitised) name, or NULL.
struct hub_client *hub_find_name(struct hub *h, const char *name);
/// [ctl] Why name cannot be given to musician self (NULL: a musician not
/// here yet) by a rename, or NULL when it can: 1..31 letters, digits, '-',
/// '_', '.'; not main, in_<k>, me, me_<k>; not digits and dots only (a
/// slot number, n.k); not another musician's name (one leaving included),
/// nor another's name plus _<k> (their channel), nor a name another
/// musician's is this one plus _<k>.
const char        *hub_name_refused(struct hub *h, const char *name, const struct hub_client *self);
/// Short JACK port name of port i of a musician called name with channels
/// channels: "alice_<i+1>" for i < channels, then "mix_alice_L" and
/// "mix_alice_R" (i = channels, channels + 1). The one place the format is.
void               hub_port_name(char *buf, size_t size, const char *name, unsigned channels,
                                 unsigned i);
/// [ctl] Renames active musician c to name: checks it (hub_name_refused),
/// renames its JACK ports (connections stay), the stored mixes and
/// connections that name it, its record (the new name sticks while it
/// joins under the same JOIN name), and tells the controllers. Returns 0,
/// or -1 with the reason in *why and nothing changed.
int                hub_rename(struct hub *h, struct hub_client *c, const char *name,
                              const char **why);

// hub_state.c: what persists, and JACK connections [ctl]
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
/// Records the JACK connections of every hub port (periodically).
void hub_state_snapshot_conns(struct hub *h);
/// The same for one musician's ports (at its leave).
void hub_state_snapshot_client(struct hub *h, struct hub_client *c);
/// Re-makes the stored connections of c's ports (c NULL: the hub's own).
void hub_state_restore_conns(struct hub *h, struct hub_client *c);
/// Loads the main mix at start-up.
void hub_state_start(struct hub *h);

#endif
