// SPDX-License-Identifier: GPL-2.0-or-later
// store.h: persistent hub state in SQLite, owned by the control thread.
//
// What persists, per musician identity: display name (and the name it
// joined with, which differ once an engineer renamed it), channel names, the
// personal mix (per source: gain dB, pan, mute, solo, subscribed), the
// musician's own send level, the JACK connections of its hub ports, and
// when it was last seen. Per hub: the main mix and the local channels'
// names, and hub-wide settings by key (the click's tempo, metre, levels:
// bb_store_get_setting). Sources in a stored mix are named, not numbered ("bob_1", "in_2"),
// so a mix survives slots being reassigned between sessions.
//
// Writes are debounced: bb_store_put_*() only update an in-memory copy and
// mark it dirty; bb_store_flush() writes everything dirty in one
// transaction, at most once per debounce interval (a fader swept on a
// tablet is one transaction, not 500). The database runs in WAL mode with
// synchronous=NORMAL, so a kill -9 loses at most the last debounce window
// and never corrupts the file.
//
// Failure is never fatal and never silent: a database that cannot be
// opened, is locked by another process, read-only, full or corrupt is
// reported once in a clear line; a corrupt file is renamed aside
// (<path>.corrupt-<unix time>) and a fresh one created, never overwritten
// in place; when no database can be had, the store keeps running in memory
// only (bb_store_persistent() is 0) and retries opening every 30 s.
#ifndef BB_STORE_H
#define BB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "bb.h"
#include "wire.h"

#define BB_STORE_SCHEMA_VERSION 3
#define BB_STORE_MAX_SENDS      256  ///< stored mix entries per musician
#define BB_STORE_MAX_CONN       16   ///< stored JACK connections per port
#define BB_PORT_NAME_MAX        320  ///< a full JACK port name, with NUL
#define BB_STORE_KEY_MAX        32   ///< a setting's key, with NUL
#define BB_STORE_MAX_SETTINGS   32   ///< hub-wide settings kept

/// One entry of a stored mix: how this mix hears the named source.
struct bb_stored_send {
    char    source[BB_NAME_MAX + 8]; ///< "bob_1", "in_2", ...
    float   gain_db;                 ///< -INFINITY allowed
    float   pan;
    uint8_t mute, solo, sub;
};

/// A JACK connection of one of the musician's hub ports.
struct bb_stored_conn {
    char port[BB_NAME_MAX + 16];  ///< our short port name: "alice_1", "mix_alice_L"
    char peer[BB_PORT_NAME_MAX];  ///< the other end, full name: "ardour:Audio 1/audio_in 1"
    uint8_t output;               ///< 1: port -> peer, 0: peer -> port
};

struct bb_stored_client {
    uint8_t               identity[BB_IDENTITY_SIZE];
    char                  name[BB_NAME_MAX];      ///< the name the hub shows
    /// The name it joined with when it was last here ("" in a record
    /// older than schema 2: the same as name). An engineer's rename
    /// (bandbridge-osc(7)) changes name and keeps this one, so the
    /// rename sticks for as long as the musician joins under this name.
    char                  join_name[BB_NAME_MAX];
    unsigned              channels;
    char                  channel_names[BB_MAX_CLIENT_CH][BB_NAME_MAX];
    float                 send_db;    ///< the musician's own send level
    float                 click_db;   ///< the click in their mix (-inf: off; the main mix's: unused)
    unsigned              nsends;
    struct bb_stored_send sends[BB_STORE_MAX_SENDS];
    unsigned              nconns;
    struct bb_stored_conn conns[BB_STORE_MAX_CONN * (BB_MAX_CLIENT_CH + 2)];
    int64_t               last_seen;  ///< unix seconds
};

struct bb_store;

/// Opens (creating or migrating) the database at path; path NULL means the
/// default: $XDG_STATE_HOME/bandbridge/hub-<jack_name>.db (or
/// ~/.local/state/...). Never returns NULL for a database problem: it logs
/// and returns a memory-only store. NULL only when out of memory.
/// debounce_ms: minimum time between two flushes that write (e.g. 500).
struct bb_store *bb_store_open(const char *path, const char *jack_name, unsigned debounce_ms);
/// Flushes whatever is dirty (ignoring the debounce) and closes.
void bb_store_close(struct bb_store *s);

/// 1 when changes reach a database file, 0 when running memory-only.
int         bb_store_persistent(const struct bb_store *s);
const char *bb_store_path(const struct bb_store *s);

/// Looks a musician up by identity (from memory; everything is loaded at
/// open). Returns 1 and fills *out, or 0 when unknown.
int  bb_store_get_client(struct bb_store *s, const uint8_t identity[BB_IDENTITY_SIZE],
                         struct bb_stored_client *out);
/// Replaces the stored state of c->identity (marks it dirty).
void bb_store_put_client(struct bb_store *s, const struct bb_stored_client *c);

/// Only the names of a stored musician (name, join_name: BB_NAME_MAX
/// bytes each), without copying its mix. Returns 1, or 0 when unknown.
int  bb_store_get_names(struct bb_store *s, const uint8_t identity[BB_IDENTITY_SIZE], char *name,
                        char *join_name);

/// Musician old_name is now called new_name: in every stored record (the
/// main mix included), the mix entries of its sources old_<k> become
/// new_<k> and connections to its hub ports (<jack_name>:old_<k>,
/// <jack_name>:mix_old_L/_R) follow; the record of identity (NULL: none)
/// takes the new name, and its own ports' connections follow too. Marks
/// what changed dirty. See bb_store_rename_in().
void bb_store_rename(struct bb_store *s, const uint8_t *identity, const char *jack_name,
                     const char *old_name, const char *new_name);
/// The same for one record's lists (the caller's copy of a record): sends
/// old_<k> -> new_<k> (an entry new_<k> already there gives way, the
/// renamed musician's setting wins), connection peers as above, and with
/// own (it is the renamed musician's record) its own port names too.
/// Returns whether anything changed; *nsends may shrink.
int  bb_store_rename_in(struct bb_stored_send *sends, unsigned *nsends,
                        struct bb_stored_conn *conns, unsigned nconns, const char *jack_name,
                        const char *old_name, const char *new_name, int own);

/// The main mix (sends only; identity and name unused).
int  bb_store_get_main(struct bb_store *s, struct bb_stored_client *out);
void bb_store_put_main(struct bb_store *s, const struct bb_stored_client *m);

/// Hub-wide settings: a number by key (up to BB_STORE_KEY_MAX - 1 bytes).
/// Returns 1 and *value, or 0 when none is stored.
int  bb_store_get_setting(struct bb_store *s, const char *key, double *value);
/// Stores it (written at the next flush, unless unchanged). Returns 0, or
/// -1 for a key too long, one more than BB_STORE_MAX_SETTINGS, or a value
/// that is not finite (map -inf dB to a number of your own).
int  bb_store_put_setting(struct bb_store *s, const char *key, double value);

/// Writes dirty entries in one transaction if the debounce interval has
/// passed since the last write (now_ms: a monotonic clock in ms). Returns
/// the number of entries written, 0 if nothing was due, -1 on a write error
/// (reported once; entries stay dirty and are retried).
int bb_store_flush(struct bb_store *s, uint64_t now_ms);
/// Milliseconds until bb_store_flush() has something due, or -1 if clean.
int bb_store_due_ms(const struct bb_store *s, uint64_t now_ms);

/// The room's secret (hub_room.c; store_room.c): the Argon2id salt of the
/// room key and the password generated at the hub's first start ("" when
/// one is given at every start: --password-file, BANDBRIDGE_PASSWORD).
#define BB_STORE_ROOM_SALT     16
#define BB_STORE_ROOM_PASSWORD 128 ///< with its NUL
struct bb_store_room {
    uint8_t salt[BB_STORE_ROOM_SALT];
    char    password[BB_STORE_ROOM_PASSWORD];
};
/// [ctl] The room kept in the database: 1, 0 when none is, -1 when the
/// store has no database (memory only) or it cannot be read (err says why).
int bb_store_room_get(struct bb_store *s, struct bb_store_room *r, char *err, size_t err_size);
/// [ctl] Keeps r in the database at once (its own transaction, not the
/// debounced flush): 0, or -1 with err.
int bb_store_room_put(struct bb_store *s, const struct bb_store_room *r, char *err,
                      size_t err_size);
/// The room kept in the database at path (NULL or "": the default for
/// jack_name), opened read-only and never created (serve --show-password);
/// where gets the path looked at. 1, 0 (no database or no room in it), or
/// -1 with err.
int bb_store_room_peek(const char *path, const char *jack_name, struct bb_store_room *r,
                       char *where, size_t where_size, char *err, size_t err_size);

/// Counters for benchmarks and tests.
struct bb_store_stats {
    uint64_t transactions;  ///< committed write transactions
    uint64_t rows_written;
    uint64_t errors;
};
void bb_store_get_stats(const struct bb_store *s, struct bb_store_stats *out);

#endif
