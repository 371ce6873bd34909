// SPDX-License-Identifier: GPL-2.0-or-later
// cookie.h: stateless return-routability cookies for the hub (used by handshake.c).
//
// A HELLO from a source the hub has never verified is answered with a cookie
// and nothing else; only a JOIN that echoes a valid cookie costs the hub any
// public-key work. The hub keeps no state per HELLO: the cookie is a MAC
//
//   cookie = BLAKE2b-128(key = secret[epoch],
//                        "bb cookie v1" || epoch u64 || address || e_c)
//
// where epoch = now / period (120 s), address is the source's family, IP and
// port (struct bb_cookie_addr), e_c the client's ephemeral public key. A fresh
// random secret is drawn for each epoch and only the current and previous
// ones are kept, so a cookie is valid 120..240 s and useless from any other
// source address or for any other e_c. Secrets are random per process: a
// restarted hub invalidates every cookie (and so every captured JOIN).
#ifndef BB_COOKIE_H
#define BB_COOKIE_H

#include <stdint.h>
#include <sys/socket.h>

#define BB_COOKIE_SIZE      16
#define BB_COOKIE_KEY_SIZE  32
#define BB_COOKIE_PERIOD_S  120

/// A source address in the fixed form the MAC covers: family (4 or 6), the
/// IP (IPv4 in the first 4 bytes, rest 0) and the port (network order).
struct bb_cookie_addr {
    uint8_t bytes[1 + 16 + 2];
};

/// Normalises a recvfrom() address. Returns 0, or -1 for anything but a
/// complete AF_INET or AF_INET6 address.
int bb_cookie_addr_of(struct bb_cookie_addr *a, const struct sockaddr *sa, socklen_t len);

/// The hub's cookie secrets. Owned by the thread that answers HELLO and
/// checks JOIN (the hub's receive thread): not shared, no lock.
struct bb_cookie_jar {
    uint8_t  key[2][BB_COOKIE_KEY_SIZE]; ///< [0] current epoch, [1] previous
    uint64_t epoch;                      ///< epoch of key[0]
    int      ready;                      ///< 0 until the first rotation drew keys
    uint32_t period_s;
};

void bb_cookie_init(struct bb_cookie_jar *jar, uint32_t period_s);
void bb_cookie_wipe(struct bb_cookie_jar *jar);

/// Writes the cookie for (a, e_c) at time now_s (monotonic seconds; the
/// caller's clock, so tests can move it). Rotates the secrets when now_s
/// entered a new epoch.
void bb_cookie_make(struct bb_cookie_jar *jar, uint64_t now_s, const struct bb_cookie_addr *a,
                    const uint8_t e_c[32], uint8_t out[BB_COOKIE_SIZE]);

/// 0 when cookie was made for (a, e_c) in the current or the previous epoch,
/// else -1. Constant-time comparisons.
int bb_cookie_check(struct bb_cookie_jar *jar, uint64_t now_s, const struct bb_cookie_addr *a,
                    const uint8_t e_c[32], const uint8_t cookie[BB_COOKIE_SIZE]);

#endif
