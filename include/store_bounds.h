// SPDX-License-Identifier: GPL-2.0-or-later
// store_bounds.h: what the store keeps, bounded (store_bounds.c), on the
// control thread like the rest of the store (store.h).
//
// Anyone with the room password can join under a fresh identity key each
// time, and each join would otherwise leave a record behind for good: the
// store forgets musicians not seen for an age (serve --forget-after) and
// keeps a number at most (serve --max-identities), the least recently
// seen going first. A forgotten musician who comes back is new again:
// their stored mix and routing are gone, nothing else.
//
// The database holds every musician's address book of mixes, so its file
// (and SQLite's -wal and -shm beside it) is readable by its owner only.
#ifndef BB_STORE_BOUNDS_H
#define BB_STORE_BOUNDS_H

#include <stdint.h>

#include "store.h"

/// Forgets, in memory and in the database, every stored musician whose
/// last_seen is more than max_age_s before now_s (0: no age), then the
/// least recently seen until at most max_count are left (0: no cap).
/// Returns how many were forgotten (-1: s is NULL). A database that
/// cannot be written keeps its rows; they are forgotten again at the
/// next open.
int bb_store_forget(struct bb_store *s, int64_t now_s, int64_t max_age_s, unsigned max_count);

/// Stored musicians (records in memory).
unsigned bb_store_count(const struct bb_store *s);

/// Makes path, and path-wal and path-shm if they exist, readable and
/// writable by their owner only: a new file is created empty with mode
/// 0600 (SQLite gives its -wal and -shm the database's mode), an existing
/// one loses its group and other bits (a read-only file stays read-only).
/// Failures are left to SQLite's open to report.
void store_private_files(const char *path);

#endif
