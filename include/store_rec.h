// SPDX-License-Identifier: GPL-2.0-or-later
// store_rec.h: the store's records in memory (store_rec.c), owned by the
// control thread like the rest of the store (store.h).
//
// Every stored mix lives in memory, loaded at open: a record per musician
// in the store's table and one for the main mix, each marked dirty when it
// changed since the last write. store.c reads and changes records for the
// API and writes the dirty ones; store_db.c loads the file into records and
// marks them all dirty when a corrupt file was set aside. Nothing here
// touches SQLite.
#ifndef BB_STORE_REC_H
#define BB_STORE_REC_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

// One stored mix in memory: like bb_stored_client, with lists sized to fit
// (a full bb_stored_client is ~75 KB; a few hundred of them need not be).
struct rec {
    uint8_t                identity[BB_IDENTITY_SIZE];
    char                   name[BB_NAME_MAX];
    char                   join_name[BB_NAME_MAX];
    unsigned               channels;
    char                   channel_names[BB_MAX_CLIENT_CH][BB_NAME_MAX];
    float                  send_db;
    float                  click_db;
    int64_t                last_seen;
    unsigned               nsends, nconns;
    struct bb_stored_send *sends;
    struct bb_stored_conn *conns;
    int                    dirty;
};

// A hub-wide setting in memory (store.h, bb_store_get_setting).
struct store_setting {
    char   key[BB_STORE_KEY_MAX];
    double value;
    int    dirty;
};

/// Copies a possibly unterminated field of src_size bytes, truncating to fit.
void store_copy_field(char *dst, size_t dst_size, const char *src, size_t src_size);
/// A gain as stored: NaN becomes -inf.
float store_sane_gain(float db);
/// Frees r's lists (r itself stays).
void store_rec_free_lists(struct rec *r);

/// The record of musician id in s's table, or NULL.
struct rec *store_find_rec(const struct bb_store *s, const uint8_t id[BB_IDENTITY_SIZE]);
/// A new empty record for id in s's table, or NULL when out of memory.
struct rec *store_add_rec(struct bb_store *s, const uint8_t id[BB_IDENTITY_SIZE]);
/// r (of s, or s's main mix) is to be written at the next flush.
void store_set_dirty(struct bb_store *s, struct rec *r);
/// Setting key of s: the one in memory, or NULL.
struct store_setting *store_find_setting(struct bb_store *s, const char *key);
/// It is to be written at the next flush.
void store_setting_dirty(struct bb_store *s, struct store_setting *st);
/// Every record and setting of s is to be written (a fresh database file).
void store_mark_all_dirty(struct bb_store *s);

/// Normalises c into r (lists allocated; strings terminated; NaN gains
/// -inf). Returns 0, or -1 when out of memory.
int  store_rec_from_client(struct rec *r, const struct bb_stored_client *c);
void store_rec_to_client(const struct rec *r, struct bb_stored_client *out);
/// Whether a and b store the same (their dirty marks aside).
int  store_same_rec(const struct rec *a, const struct rec *b);
/// Replaces dst's content by src's (src's lists move; dst's old lists
/// freed; dst's dirty mark stays).
void store_rec_replace(struct rec *dst, struct rec *src);

#endif
