// SPDX-License-Identifier: GPL-2.0-or-later
// handshake.h: the room password, return routability and the session handshake.
//
// A room only its band can enter: the musician proves it knows the room
// password and owns its identity key; the hub proves it knows the password;
// both derive fresh session keys (seal.h) with forward secrecy. The design
// follows WireGuard (cookie, timestamp, ephemeral DH) with a password-derived
// key in place of WireGuard's static keys for peer authentication.
//
// Every function here works on message BODIES: the bytes after the 20-byte
// cleartext header, which the caller writes and parses (wire.h). Where a
// body is encrypted, the caller passes that header as `ad`: it is
// authenticated, so nothing in it (session id, type, flags) can be changed.
//
// Flow (c = musician, h = hub):
//   c -> h  HELLO   e_c, padded                      (h keeps no state)
//   h -> c  COOKIE  cookie(src, e_c), s_h, salt, pwhash limits (<= HELLO)
//   c -> h  JOIN    cookie, e_c, AEAD(ts, identity, signature, join fields)
//   h -> c  WELCOME e_h, AEAD(welcome fields)         => session keys
//        or REJECT  AEAD(reason)                      (authenticated reject)
//
// Layouts (offsets within the body; integers little endian):
//   HELLO   (BB_HS_HELLO_SIZE = 128)
//     0  32  e_c       client ephemeral X25519 public key, fresh per HELLO
//     32 96  padding   zero; makes HELLO larger than COOKIE (no amplification)
//   COOKIE  (BB_HS_COOKIE_MSG_SIZE = 92)
//     0  16  echo      e_c[0..16): the client drops cookies not meant for it
//     16 16  cookie    cookie.h's MAC over (source address, e_c, epoch)
//     32 32  s_h       hub's static X25519 public key (per hub process)
//     64 16  salt      room salt for Argon2id
//     80 4   opslimit  Argon2id passes
//     84 4   memlimit  Argon2id memory in KiB
//     88 1   alg       2 = Argon2id v1.3
//     89 3   reserved  0
//   JOIN    (BB_HS_JOIN_MIN + n, n <= BB_HS_JOIN_FIELDS_MAX)
//     0  16  cookie    as received in COOKIE
//     16 32  e_c       as in HELLO (the cookie covers it)
//     48 24  nonce     random XChaCha20-Poly1305 nonce
//     72 ..  ciphertext of: ts u64 (8) | identity Ed25519 public key (32) |
//            signature (64) | ciphers (1) | join fields (n, the caller's
//            opaque bytes)
//     ..  16 tag
//   WELCOME (BB_HS_WELCOME_MIN + n, n <= BB_HS_WELCOME_FIELDS_MAX)
//     0  32  e_h       hub ephemeral X25519 public key, fresh per WELCOME
//     32 1   cipher    the session's cipher, one of the JOIN's ciphers
//     33 ..  ciphertext of the welcome fields (n) | 16 tag   (nonce 0: one-time key)
//   REJECT, authenticated (BB_HS_REJECT_MIN + n, n <= BB_HS_REJECT_MAX)
//     0  24  nonce     random
//     24 ..  ciphertext of the reason (n) | 16 tag
//
// Keys (BLAKE2b = crypto_generichash; "|" = concatenation of fixed sizes):
//   K_room  = Argon2id(password, salt, opslimit, memlimit), 32 bytes
//   es      = X25519(e_c, s_h)
//   h1      = BLAKE2b("bb join v1" | s_h | salt | opslimit | memlimit | cookie | e_c)
//   k_join  = BLAKE2b(key K_room, "bb join key" | es | h1)        XChaCha20-Poly1305, AD = header
//   sig     = Ed25519(identity, BLAKE2b("bb join sig" | h1 | ts | identity | ciphers | fields))
//   hj      = BLAKE2b("bb sent join" | h1 | nonce | JOIN ciphertext+tag)
//   ee      = X25519(e_h, e_c)
//   ck      = BLAKE2b(key K_room, "bb session" | es | ee | BLAKE2b("bb welcome" | hj | e_h | cipher))
//   k_welcome, k_c2h, k_h2c = crypto_kdf_derive_from_key(ck, 1, 2, 3, "bbsessn1")
//   k_reject = BLAKE2b(key K_room, "bb reject key" | es | hj)      XChaCha20-Poly1305, AD = header
//
// The session cipher (seal.h): the JOIN offers a set (ciphers: bits of enum
// bb_seal_cipher; ChaCha20-Poly1305 always, AES-256-GCM when the musician's
// CPU has AES-NI), inside the encrypted and signed JOIN; the hub picks
// AES-256-GCM when both have it, else ChaCha20-Poly1305, and names it in
// the WELCOME, where it enters ck: a WELCOME whose cipher byte was changed
// on the way does not open, and a JOIN whose offer was changed does not
// either (its tag, its signature). Nobody without the room password can
// make the two ends settle on a cipher other than the one the hub's rule
// gives for what both ends have; the musician also refuses a cipher it did
// not offer.
//
// Why es (a DH with the hub's static key) in k_join: without it a passive
// eavesdropper could test password guesses offline against any captured
// JOIN; with it only someone holding s_h's secret (the hub, or a fake hub
// the musician talked to) can. It also hides the identity key from
// eavesdroppers. Why a random nonce for JOIN and REJECT: a retried JOIN may
// reuse e_c and cookie, so k_join repeats; the hub may reject one JOIN twice.
#ifndef BB_HANDSHAKE_H
#define BB_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cookie.h"
#include "keypair.h"

#define BB_HS_KEY_SIZE      32
#define BB_HS_SALT_SIZE     16
#define BB_HS_PASSWORD_MAX  128   ///< longest password, with its NUL
#define BB_HS_HELLO_SIZE    128
#define BB_HS_COOKIE_MSG_SIZE 92
#define BB_HS_JOIN_MIN      (16 + 32 + 24 + 8 + 32 + 64 + 1 + 16)   ///< 193, no fields
#define BB_HS_JOIN_FIELDS_MAX 768
#define BB_HS_WELCOME_MIN   (32 + 1 + 16)
#define BB_HS_WELCOME_FIELDS_MAX 768
#define BB_HS_REJECT_MIN    (24 + 16)
#define BB_HS_REJECT_MAX    256
#define BB_HS_PWHASH_ALG    2     ///< crypto_pwhash_ALG_ARGON2ID13
#define BB_HS_JOIN_HISTORY  8     ///< earlier JOINs of an attempt a WELCOME may answer
/// A generated password: 4 groups of 7 base32 characters and 3 dashes.
#define BB_ROOM_PASSWORD_SIZE (4 * 7 + 3 + 1)

enum bb_hs_status {
    BB_HS_MALFORMED = -1,  ///< wrong length or field
    BB_HS_COOKIE_BAD = -2, ///< cookie not from this hub, this source, this e_c, or expired
    BB_HS_AUTH      = -3,  ///< AEAD failed: wrong password (or forged / not for us)
    BB_HS_SIGNATURE = -4,  ///< JOIN's signature does not match its identity key
    BB_HS_REPLAY    = -5,  ///< JOIN's timestamp not newer than the last accepted one
    BB_HS_STATE     = -6,  ///< message not expected now (no HELLO / JOIN outstanding)
    BB_HS_PARAMS    = -7,  ///< COOKIE's Argon2id limits outside our policy
    BB_HS_NO_ROOM   = -8,  ///< output buffer too small, or fields too long
    BB_HS_KEY_BAD   = -9,  ///< a public key is a low-order point (DH gives zero)
    BB_HS_SYSTEM    = -10, ///< Argon2id could not run (memory)
    BB_HS_CIPHER    = -11, ///< no session cipher both ends run, or one not offered
};
const char *bb_hs_strerror(int status);

/// The room key and what it was derived from. Immutable once derived.
struct bb_room {
    uint8_t  salt[BB_HS_SALT_SIZE];
    uint32_t opslimit;
    uint32_t memlimit_kib;
    uint8_t  key[BB_HS_KEY_SIZE];  ///< K_room
};

/// K_room = Argon2id(password, salt, opslimit, memlimit_kib * 1024).
/// Costs ~0.1 s and memlimit of memory at the INTERACTIVE limits: once per
/// hub start, once per hub salt on the join. 0 or BB_HS_SYSTEM.
int bb_room_derive(struct bb_room *r, const char *password, const uint8_t salt[BB_HS_SALT_SIZE],
                   uint32_t opslimit, uint32_t memlimit_kib);
/// A password of 128+ random bits (140) for humans: "xxxxxxx-xxxxxxx-xxxxxxx-xxxxxxx"
/// in lower-case Crockford base32 (no i, l, o, u). out: BB_ROOM_PASSWORD_SIZE.
void bb_room_password_generate(char out[BB_ROOM_PASSWORD_SIZE]);

/// The first line of path (its newline dropped) into out: a room
/// password file (serve and join --password-file). 0 or -1 with err.
int bb_room_password_load(const char *path, char out[BB_HS_PASSWORD_MAX], char *err,
                          size_t err_size);

/// Session keys for seal.h. The musician seals with c2h and opens with h2c;
/// the hub the other way round.
struct bb_hs_keys {
    uint8_t c2h[BB_HS_KEY_SIZE];
    uint8_t h2c[BB_HS_KEY_SIZE];
    int cipher;                    ///< enum bb_seal_cipher, for both keys
};
void bb_hs_keys_wipe(struct bb_hs_keys *k);

// ---- musician side -----------------------------------------------------

/// The musician's handshake. Owned by the join's session thread.
struct bb_hs_client {
    char password[BB_HS_PASSWORD_MAX];
    struct bb_keypair id;
    struct bb_room room;           ///< cached K_room ...
    bool room_ok;                  ///< ... valid for room's salt and limits
    uint32_t min_ops, max_ops;     ///< Argon2id limits we accept from a COOKIE
    uint32_t min_mem_kib, max_mem_kib;
    unsigned ciphers;              ///< session ciphers offered (bb_seal_ciphers())
    uint8_t e_sk[32], e_pk[32];    ///< ephemeral of the current attempt
    bool hello_sent;
    bool have_cookie;              ///< cookie, s_pk valid for e_pk
    uint8_t cookie[BB_COOKIE_SIZE], s_pk[32];
    bool join_sent;                ///< es, hj: the last JOIN, awaiting WELCOME/REJECT
    uint8_t es[32], hj[32];
    /// hj of the JOINs sent before the last one in this attempt (same e_c
    /// and cookie, so the same es): a WELCOME or REJECT answering a retried
    /// JOIN's predecessor, still in flight when the retry left, is taken too.
    uint8_t hj_old[BB_HS_JOIN_HISTORY][32];
    unsigned n_old;
    uint64_t last_ts;              ///< last JOIN timestamp sent
};

/// password: NUL-terminated, < BB_HS_PASSWORD_MAX; id: copied. Argon2id
/// limits accepted from hubs: from INTERACTIVE (below that a fake hub could
/// make our JOIN cheap to attack offline) to MODERATE. Offers the ciphers
/// this machine runs (c->ciphers, which a test may narrow before the JOIN).
/// 0 or BB_HS_MALFORMED.
int bb_hs_client_init(struct bb_hs_client *c, const char *password, const struct bb_keypair *id);
/// Pre-fills the K_room cache (a join that saved it from an earlier run).
void bb_hs_client_set_room(struct bb_hs_client *c, const struct bb_room *r);
void bb_hs_client_wipe(struct bb_hs_client *c);

/// Starts an attempt: a fresh e_c, forgetting any cookie and pending JOIN.
/// Writes the HELLO body; returns BB_HS_HELLO_SIZE or BB_HS_NO_ROOM.
int bb_hs_client_hello(struct bb_hs_client *c, uint8_t *out, size_t cap);
/// Takes a COOKIE body. May run Argon2id (new salt or limits). Returns 0,
/// BB_HS_MALFORMED, BB_HS_STATE (no HELLO, a JOIN already out -- a retry
/// reuses the cookie with bb_hs_client_join, a new HELLO starts over -- or
/// the echo is not ours: drop it),
/// BB_HS_PARAMS or BB_HS_SYSTEM. Unauthenticated: a bad one only costs a retry.
int bb_hs_client_on_cookie(struct bb_hs_client *c, const uint8_t *body, size_t len);
/// Writes a JOIN body carrying fields (n bytes). ts: the JOIN timestamp (0 =
/// now, Unix time in ns); raised to last + 1 if not above the last one sent.
/// A retry is a new call (new nonce and timestamp), not the same bytes again:
/// the hub refuses a timestamp it has seen. Returns the body length,
/// BB_HS_STATE (no cookie), BB_HS_NO_ROOM, BB_HS_KEY_BAD.
int bb_hs_client_join(struct bb_hs_client *c, uint64_t ts, const uint8_t *ad, size_t ad_len,
                      const uint8_t *fields, size_t n, uint8_t *out, size_t cap);
/// Takes a WELCOME body (ad = its header). On success writes the welcome
/// fields to fields (cap), the session keys to keys, forgets the ephemeral
/// secret (forward secrecy) and returns the fields' length. Else BB_HS_STATE,
/// BB_HS_MALFORMED, BB_HS_AUTH (not from a hub that knows the password and
/// answered our last JOIN -- or one of the BB_HS_JOIN_HISTORY before it in
/// this attempt --: ignore it and keep waiting), BB_HS_CIPHER (a cipher we
/// did not offer: ignore it too), BB_HS_NO_ROOM. keys->cipher: the session's.
int bb_hs_client_on_welcome(struct bb_hs_client *c, const uint8_t *ad, size_t ad_len,
                            const uint8_t *body, size_t len, uint8_t *fields, size_t cap,
                            struct bb_hs_keys *keys);
/// Takes a REJECT body. >= 0 (the reason's length, written to reason): the
/// hub that decrypted our last JOIN refuses it, believe it. Negative: the
/// REJECT is unauthenticated (the hub could not read our JOIN -- wrong
/// password? -- or anyone on the path made it up): log it, maybe show it as
/// a hint, keep retrying with backoff; never treat it as final.
int bb_hs_client_on_reject(struct bb_hs_client *c, const uint8_t *ad, size_t ad_len,
                           const uint8_t *body, size_t len, uint8_t *reason, size_t cap);

// ---- hub side ----------------------------------------------------------

/// The hub's handshake. room, s_sk/s_pk: set by init, read-only after;
/// cookies: owned by the hub's receive thread (the one calling on_hello and
/// on_join).
struct bb_hs_hub {
    struct bb_room room;
    unsigned ciphers;              ///< session ciphers accepted (bb_seal_ciphers())
    uint8_t s_sk[32], s_pk[32];
    struct bb_cookie_jar cookies;
};

/// Derives K_room (salt NULL: a random one; limits 0: INTERACTIVE) and a
/// static X25519 key pair for this process; accepts the ciphers this machine
/// runs (h->ciphers). 0, BB_HS_MALFORMED, BB_HS_SYSTEM.
int bb_hs_hub_init(struct bb_hs_hub *h, const char *password, const uint8_t *salt,
                   uint32_t opslimit, uint32_t memlimit_kib);
void bb_hs_hub_wipe(struct bb_hs_hub *h);

/// Takes a HELLO body from source sa; writes the COOKIE body (always no
/// larger than the HELLO). now_s: monotonic seconds. No state is kept.
/// Returns BB_HS_COOKIE_MSG_SIZE, BB_HS_MALFORMED, BB_HS_NO_ROOM.
int bb_hs_hub_on_hello(struct bb_hs_hub *h, uint64_t now_s, const struct sockaddr *sa,
                       socklen_t sa_len, const uint8_t *body, size_t len,
                       uint8_t *out, size_t cap);

/// A JOIN the hub opened. identity, timestamp and fields are the caller's to
/// read; the rest is private to this module (wipe it when done).
struct bb_hs_join {
    uint8_t identity[BB_KEY_PUBLIC_SIZE];
    uint64_t timestamp;
    unsigned ciphers;              ///< the session ciphers the JOIN offers
    const uint8_t *fields;         ///< points into plain
    size_t fields_len;
    bool ok;
    uint8_t e_c[32], es[32], hj[32];
    uint8_t plain[8 + 32 + 64 + BB_HS_JOIN_FIELDS_MAX];
};

/// Checks the cookie first (cheap, before any public-key work), then opens
/// and verifies the JOIN. Returns 0 with j filled, or BB_HS_MALFORMED,
/// BB_HS_COOKIE_BAD (answer with a new COOKIE at most), BB_HS_KEY_BAD,
/// BB_HS_AUTH (wrong password: only an unauthenticated REJECT is possible),
/// BB_HS_SIGNATURE. The timestamp and the ciphers are checked by
/// bb_hs_hub_welcome.
int bb_hs_hub_on_join(struct bb_hs_hub *h, uint64_t now_s, const struct sockaddr *sa,
                      socklen_t sa_len, const uint8_t *ad, size_t ad_len,
                      const uint8_t *body, size_t len, struct bb_hs_join *j);
/// Accepts j if its timestamp is above last_ts (the last one accepted for
/// j->identity; 0 if none, which the caller keeps and then raises to
/// j->timestamp). Writes the WELCOME body (fields, n bytes, ad = the
/// WELCOME's header) and the session keys, with the session cipher:
/// AES-256-GCM when j offers it and h->ciphers has it, else
/// ChaCha20-Poly1305. Returns the body length, or
/// BB_HS_REPLAY, BB_HS_STATE (j not opened), BB_HS_CIPHER (j offers no
/// cipher we run: every bandbridge offers ChaCha20-Poly1305), BB_HS_NO_ROOM.
int bb_hs_hub_welcome(struct bb_hs_hub *h, const struct bb_hs_join *j, uint64_t last_ts,
                      const uint8_t *ad, size_t ad_len, const uint8_t *fields, size_t n,
                      uint8_t *out, size_t cap, struct bb_hs_keys *keys);
/// Writes an authenticated REJECT body for an opened JOIN (reason, n bytes).
/// Returns the body length, BB_HS_STATE, BB_HS_NO_ROOM.
int bb_hs_hub_reject(struct bb_hs_hub *h, const struct bb_hs_join *j, const uint8_t *ad,
                     size_t ad_len, const uint8_t *reason, size_t n, uint8_t *out, size_t cap);
void bb_hs_join_wipe(struct bb_hs_join *j);

#endif
