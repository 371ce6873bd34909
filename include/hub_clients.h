// SPDX-License-Identifier: GPL-2.0-or-later
// hub_clients.h: the hub's client table, owned by the control thread.
//
// Every change to who is connected and to any mix setting goes through
// these functions: they change the table, mark the graph for publication
// and tell the observers (OSC feedback, the state store, the session layer)
// through the callbacks registered with hub_clients_observe(). Nothing else
// writes a musician's sends, send level or name, and the table calls none
// of its observers' modules by name.
//
// A musician's life: hub_clients_admit (ACTIVE, in the next graph) ->
// hub_clients_remove (FADING: gains ramp to 0) -> REMOVED (a graph without
// it) -> handed to the JACK thread once every reader acknowledged that graph
// (its slot is free again) -> hub_clients_gone when its ports are gone: freed.
#ifndef BB_HUB_CLIENTS_H
#define BB_HUB_CLIENTS_H

#include "hub.h"

/// The zombie sweep runs at least this often (DESIGN.md rule 6).
#define HUB_SWEEP_NS (100 * 1000000ull)

/// Why a musician is removed.
enum hub_why { HUB_WHY_LEFT, HUB_WHY_SILENT };

/// What the table tells. Any callback may be NULL; arg is passed back.
/// Called in the order registered, on the control thread, after the change.
struct hub_clients_observer {
    /// c is in the table, before the first graph with it is published.
    void (*joined)(struct hub *h, struct hub_client *c, void *arg);
    /// c is no longer listed (FADING): why says why.
    void (*leaving)(struct hub *h, struct hub_client *c, enum hub_why why, void *arg);
    /// c is out of the table for good (its slot free), about to be handed
    /// to the JACK thread: its record is final.
    void (*removed)(struct hub *h, struct hub_client *c, void *arg);
    /// c was renamed from old (c->name is the new name).
    void (*renamed)(struct hub *h, struct hub_client *c, const char *old, void *arg);
    /// A setting of mc's mix (NULL: the main mix) or mc's send level changed.
    void (*mix_changed)(struct hub *h, struct hub_client *mc, void *arg);
    void *arg;
};

/// [ctl] Every main-mix setting at its default (0 dB, centred, subscribed).
void hub_clients_init(struct hub *h);
/// [ctl] Registers o (kept, not copied); returns -1 when HUB_MAX_OBSERVERS are.
int  hub_clients_observe(struct hub *h, const struct hub_clients_observer *o);

/// [ctl] The slot a musician with identity would get: its old one if
/// free, else the first never used, else the first free; -1 if the hub is
/// full (--max-clients).
int  hub_clients_pick_slot(struct hub *h, const uint8_t *identity);
/// [ctl] A new client for slot, zeroed, or NULL (out of memory). Fill it,
/// open its stream, then hub_clients_admit() or hub_clients_free().
struct hub_client *hub_clients_new(int slot);
/// [ctl] Puts c (ACTIVE, its stream open) in the table, every mix hearing
/// it at 0 dB and it hearing everyone, tells the observers (joined: the
/// store applies stored settings) and publishes the graph with it.
void hub_clients_admit(struct hub *h, struct hub_client *c);
/// [ctl] Starts c's departure (nothing if it is not ACTIVE); the graphs
/// follow in hub_clients_advance().
void hub_clients_remove(struct hub *h, struct hub_client *c, enum hub_why why);
/// [ctl] Moves departures along (one graph per step for all of them);
/// returns whether some departure waits for the process callback.
int  hub_clients_advance(struct hub *h);
/// [ctl] The JACK thread reported c's ports gone: logs it and frees c.
void hub_clients_gone(struct hub *h, struct hub_client *c);
/// [ctl] Frees c (its stream, record and itself); c is in no table.
void hub_clients_free(struct hub_client *c);
/// [ctl] Removes every musician silent longer than --timeout, all in one
/// sweep; returns when the next sweep is due.
uint64_t hub_clients_sweep(struct hub *h, uint64_t now);

/// [ctl] The musician with this identity (any state), or NULL.
struct hub_client *hub_clients_find_identity(struct hub *h, const uint8_t *identity);
/// [ctl] The musician in slot (0-based, any state), or NULL.
struct hub_client *hub_clients_slot(struct hub *h, unsigned slot);
/// [ctl] The active musician with this (sanitised) name, or NULL.
struct hub_client *hub_find_name(struct hub *h, const char *name);
/// [ctl] Why name cannot be given to musician self (NULL: a musician not
/// here yet) by a rename or a join, or NULL when it can: hub_name_invalid,
/// then hub_name_clash.
const char *hub_name_refused(struct hub *h, const char *name, const struct hub_client *self);
/// Why name can never be a musician's, or NULL: 1..31 letters, digits,
/// '-', '_', '.'; not main, in_<k>, me, me_<k> (in any case); not digits
/// and dots only (a slot number, n.k).
const char *hub_name_invalid(const char *name);
/// [ctl] Why name cannot be musician self's while the others are here, or
/// NULL, with the other musician in *with: another musician's name (one
/// leaving included), nor another's name plus _<k> (their channel), nor a
/// name another musician's is this one plus _<k>. Compared without case:
/// Bob and bob are one name to the band (and in a patchbay's eye).
const char *hub_name_clash(struct hub *h, const char *name, const struct hub_client *self,
                           const struct hub_client **with);
/// [ctl] Renames active musician c to name: checks it (hub_name_refused),
/// has its JACK ports renamed (connections stay; the JACK thread does it
/// soon, and logs if JACK refuses), and tells the observers (the store
/// renames the mixes and connections that name it and its record: the new
/// name sticks while it joins under the same JOIN name; the controllers
/// are told). Returns 0, or -1 with the reason in *why and nothing changed.
int  hub_rename(struct hub *h, struct hub_client *c, const char *name, const char **why);

/// [ctl] The mix settings of source src_id in mc's personal mix (mc NULL:
/// the main mix), read only.
const struct hub_send *hub_clients_send(const struct hub *h, const struct hub_client *mc,
                                        unsigned src_id);
/// [ctl] Sets them: the graph is republished on the control loop's next
/// turn and the mix is stored soon.
void hub_clients_set_send(struct hub *h, struct hub_client *mc, unsigned src_id,
                          const struct hub_send *v);
/// [ctl] Sets musician c's own send level (dB, -inf allowed), heard in every mix.
void hub_clients_set_send_db(struct hub *h, struct hub_client *c, float db);

/// [ctl] The musician's stream (decoder, encoder, jitter buffer, send
/// ring) from its JOIN; c's codecs and frame counts are set. Returns 0, or
/// -1 with the reason in err (what is open is closed by hub_clients_free).
int  hub_client_stream_open(struct hub *h, struct hub_client *c, const struct bb_join *j,
                            unsigned target, char *err, size_t err_size);
void hub_client_stream_close(struct hub_client *c);

#endif
