// SPDX-License-Identifier: GPL-2.0-or-later
// identity.h: a musician's stable identity, kept on disk between runs.
//
// One identity per musician name on a machine: two musicians joining from
// one computer are two identities. The file holds 32 hex digits (16 random
// bytes) and lives in $XDG_STATE_HOME/bandbridge/identity-<name>
// (~/.local/state/bandbridge/... when XDG_STATE_HOME is unset).
#ifndef BB_IDENTITY_H
#define BB_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/// Default identity file for a musician name into path.
/// Returns 0 or -1 (no HOME, name unusable) with err.
int bb_identity_path(const char *name, char *path, size_t size, char *err, size_t err_size);

/// Reads the identity in path, creating it (and its directory) with fresh
/// random bytes when it does not exist. A file that exists but does not
/// hold an identity is an error, never overwritten.
int bb_identity_load(const char *path, uint8_t id[BB_IDENTITY_SIZE], char *err, size_t err_size);

#endif
