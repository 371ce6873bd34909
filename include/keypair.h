// SPDX-License-Identifier: GPL-2.0-or-later
// keypair.h: a musician's identity as an Ed25519 key pair in a file.
//
// Replaces the 16-byte random identity of identity.h, which is a bearer
// token: whoever sees it (it travels in clear in today's JOIN) can be that
// musician. A key pair proves the identity by signing each JOIN; the hub
// keeps only the public key.
//
// File format (text, one line each):
//
//   bandbridge-ed25519-v1
//   <64 hex digits: the 32-byte Ed25519 seed>
//
// The public key is derived from the seed on load. The file is created
// mode 0600 through a temporary file in the same directory that is linked
// into place only once complete (link(2) fails if another process created
// the file meanwhile: both then use that one). A key file that the group or
// others may read or write, or that another user owns, is refused, as ssh
// refuses such private keys: the seed would have been exposed already.
//
// Default path: $XDG_STATE_HOME/bandbridge/key-<name>
// (~/.local/state/bandbridge/key-<name> when XDG_STATE_HOME is unset),
// next to identity.h's identity-<name>.
#ifndef BB_KEYPAIR_H
#define BB_KEYPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define BB_KEY_PUBLIC_SIZE 32 ///< crypto_sign_PUBLICKEYBYTES
#define BB_KEY_SECRET_SIZE 64 ///< crypto_sign_SECRETKEYBYTES (seed || public key)

/// An identity key pair. Immutable once loaded; wipe with bb_keypair_wipe.
struct bb_keypair {
    uint8_t pk[BB_KEY_PUBLIC_SIZE];
    uint8_t sk[BB_KEY_SECRET_SIZE];
};

/// Default key file for a musician name into path. 0 or -1 with err.
int bb_keypair_path(const char *name, char *path, size_t size, char *err, size_t err_size);

/// Reads the key pair in path, creating it (and its directory) when it does
/// not exist. A file that exists but is not a key pair, or is readable by
/// others, is an error, never overwritten. *created (may be NULL) tells
/// whether a new pair was made. 0 or -1 with err.
int bb_keypair_load(const char *path, struct bb_keypair *kp, int *created,
                    char *err, size_t err_size);

/// Migration from identity.h's identity file. Loads or creates the key pair
/// in path_new, and when the old identity file path_old exists and holds an
/// identity, returns its token in old_token with *have_old = 1 (else 0).
/// Nothing is derived from the old token (a bearer token is no seed); it is
/// returned so that the join can present it once, inside the encrypted and
/// signed JOIN, and the hub can link the state stored under the old identity
/// to the new public key. The old file is left in place until the hub
/// confirmed the link (bb_keypair_retire_old). path_old may be NULL.
int bb_keypair_load_or_migrate(const char *path_new, const char *path_old,
                               struct bb_keypair *kp, uint8_t old_token[BB_IDENTITY_SIZE],
                               int *have_old, char *err, size_t err_size);

/// Renames the old identity file to <path_old>.migrated once the hub linked
/// it, so it is never presented again. 0 or -1 with err.
int bb_keypair_retire_old(const char *path_old, char *err, size_t err_size);

void bb_keypair_wipe(struct bb_keypair *kp);

#endif
