// SPDX-License-Identifier: GPL-2.0-or-later
// roomcache.h: the room key (K_room, handshake.h) a join derived, kept
// across runs, so that a `join` started again does not spend Argon2id's
// fraction of a second of CPU (more on a small machine) before it can
// rejoin. Control thread of `bandbridge join` only.
//
// One file per hub address, in the state directory
// ($XDG_STATE_HOME/bandbridge/room-<16 hex digits of BLAKE2b(address)>, or
// under ~/.local/state), mode 0600, written through a temporary file
// renamed into place, only after a WELCOME opened with the key (so it is
// the hub's room key, not a mistyped password's):
//
//   bandbridge-room-key-v1
//   <salt, 32 hex digits> <opslimit> <memlimit KiB>
//   <K_room, 64 hex digits>
//   <check, 32 hex digits: BLAKE2b-128 keyed with K_room of the password>
//
// It is used only for the same address, salt and limits (the COOKIE's)
// and the same password (the check): a hub whose password changed has a
// new salt, and a musician given another password derives again. The file
// is worth what the password is to whoever reads it (it opens the room,
// and the check lets a password be guessed quickly): like the identity
// key beside it, it is the musician's alone.
#ifndef BB_ROOMCACHE_H
#define BB_ROOMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "handshake.h"

/// The cache file for the hub at address (as bb_addr_str prints it) into
/// path. 0, or -1 when there is no state directory (no cache then).
int bb_roomcache_path(const char *address, char *path, size_t size);
/// 1 with *r set when path holds the key for password, salt and limits;
/// 0 when it does not (no file, another salt, another password, a broken
/// file: never an error, the key is then derived).
int bb_roomcache_load(const char *path, const char *password, const uint8_t salt[BB_HS_SALT_SIZE],
                      uint32_t opslimit, uint32_t memlimit_kib, struct bb_room *r);
/// Keeps r, derived from password, in path. 0, or -1 with errno.
int bb_roomcache_save(const char *path, const char *password, const struct bb_room *r);

#endif
