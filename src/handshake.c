// SPDX-License-Identifier: GPL-2.0-or-later
// handshake.c: room key, HELLO/COOKIE/JOIN/WELCOME/REJECT (see handshake.h).
//
// Every parser here takes hostile input: lengths are checked before any
// byte is read, secrets are compared in constant time (crypto_verify_*,
// AEAD tags), nothing is allocated per message, and intermediate secrets are
// wiped before returning.
#include "handshake.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "seal.h"

_Static_assert(BB_HS_COOKIE_MSG_SIZE <= BB_HS_HELLO_SIZE, "a COOKIE must never exceed its HELLO");
_Static_assert(crypto_scalarmult_BYTES == 32 && crypto_scalarmult_SCALARBYTES == 32, "X25519");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "XChaCha nonce");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "tag");
_Static_assert(crypto_kdf_KEYBYTES == BB_HS_KEY_SIZE, "kdf key");
_Static_assert(crypto_pwhash_SALTBYTES == BB_HS_SALT_SIZE, "salt");
_Static_assert(crypto_sign_BYTES == 64, "signature");

// Offsets of the layouts in handshake.h.
enum {
    CK_ECHO = 0, CK_COOKIE = 16, CK_SPK = 32, CK_SALT = 64, CK_OPS = 80, CK_MEM = 84, CK_ALG = 88,
    JN_COOKIE = 0, JN_EC = 16, JN_NONCE = 48, JN_CT = 72,
    JP_TS = 0, JP_ID = 8, JP_SIG = 40, JP_CIPHERS = 104, JP_FIELDS = 105, // the JOIN's plaintext
    WL_EH = 0, WL_CIPHER = 32, WL_CT = 33,
    RJ_NONCE = 0, RJ_CT = 24,
    TAG = 16,
};

const char *bb_hs_strerror(int status)
{
    switch (status) {
    case BB_HS_MALFORMED:  return "malformed handshake message";
    case BB_HS_COOKIE_BAD: return "invalid or expired cookie";
    case BB_HS_AUTH:       return "authentication failed (wrong room password?)";
    case BB_HS_SIGNATURE:  return "identity signature invalid";
    case BB_HS_REPLAY:     return "replayed join (timestamp not newer)";
    case BB_HS_STATE:      return "unexpected handshake message";
    case BB_HS_PARAMS:     return "hub's password hashing limits refused";
    case BB_HS_NO_ROOM:    return "buffer too small";
    case BB_HS_KEY_BAD:    return "invalid public key";
    case BB_HS_SYSTEM:     return "password hashing failed (out of memory?)";
    case BB_HS_CIPHER:     return "no session cipher in common";
    default:               return status >= 0 ? "ok" : "unknown handshake error";
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/// Starts a 32-byte BLAKE2b, keyed (key 32 bytes) or not (NULL), over the
/// label including its NUL: labels are distinct and prefix-free, so no two
/// uses of the hash can collide by construction.
static void h_init(crypto_generichash_state *st, const uint8_t *key, const char *label)
{
    crypto_generichash_init(st, key, key ? BB_HS_KEY_SIZE : 0, 32);
    crypto_generichash_update(st, (const uint8_t *)label, strlen(label) + 1);
}

static void h_add(crypto_generichash_state *st, const uint8_t *p, size_t n)
{
    crypto_generichash_update(st, p, n);
}

static void h_final(crypto_generichash_state *st, uint8_t out[32])
{
    crypto_generichash_final(st, out, 32);
    sodium_memzero(st, sizeof *st);
}

// ---- room key ----------------------------------------------------------

int bb_room_derive(struct bb_room *r, const char *password, const uint8_t salt[BB_HS_SALT_SIZE],
                   uint32_t opslimit, uint32_t memlimit_kib)
{
    size_t len = strlen(password);
    if (opslimit < crypto_pwhash_OPSLIMIT_MIN
        || (size_t)memlimit_kib * 1024 < crypto_pwhash_MEMLIMIT_MIN)
        return BB_HS_MALFORMED;
    memcpy(r->salt, salt, BB_HS_SALT_SIZE);
    r->opslimit = opslimit;
    r->memlimit_kib = memlimit_kib;
    if (crypto_pwhash(r->key, sizeof r->key, password, len, salt, opslimit,
                      (size_t)memlimit_kib * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_memzero(r->key, sizeof r->key);
        return BB_HS_SYSTEM;
    }
    return 0;
}

void bb_room_password_generate(char out[BB_ROOM_PASSWORD_SIZE])
{
    // Crockford's base32 alphabet, lower case: no i, l, o, u to misread.
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    uint8_t rnd[18]; // 144 bits; 28 characters use 140 of them
    randombytes_buf(rnd, sizeof rnd);
    size_t pos = 0;
    for (int i = 0; i < 28; i++) {
        unsigned bit = (unsigned)i * 5, v = 0;
        for (unsigned b = 0; b < 5; b++)
            v = v << 1 | ((rnd[(bit + b) / 8] >> (7 - (bit + b) % 8)) & 1u);
        if (i > 0 && i % 7 == 0)
            out[pos++] = '-';
        out[pos++] = alphabet[v];
    }
    out[pos] = '\0';
    sodium_memzero(rnd, sizeof rnd);
}

void bb_hs_keys_wipe(struct bb_hs_keys *k)
{
    sodium_memzero(k, sizeof *k);
}

// ---- shared key schedule -------------------------------------------------

/// h1: what the JOIN is bound to (the hub's static key and password
/// parameters from the COOKIE, the cookie, e_c).
static void join_hash(uint8_t h1[32], const uint8_t s_pk[32], const struct bb_room *room,
                      const uint8_t cookie[BB_COOKIE_SIZE], const uint8_t e_c[32])
{
    crypto_generichash_state st;
    uint8_t lim[8];
    put32(lim, room->opslimit);
    put32(lim + 4, room->memlimit_kib);
    h_init(&st, NULL, "bb join v1");
    h_add(&st, s_pk, 32);
    h_add(&st, room->salt, BB_HS_SALT_SIZE);
    h_add(&st, lim, sizeof lim);
    h_add(&st, cookie, BB_COOKIE_SIZE);
    h_add(&st, e_c, 32);
    h_final(&st, h1);
}

/// A key from K_room, a DH result and a transcript hash.
static void room_key(uint8_t out[32], const struct bb_room *room, const char *label,
                     const uint8_t dh[32], const uint8_t h[32])
{
    crypto_generichash_state st;
    h_init(&st, room->key, label);
    h_add(&st, dh, 32);
    h_add(&st, h, 32);
    h_final(&st, out);
}

/// The hash the identity signs: the transcript so far and the JOIN's contents.
static void sig_hash(uint8_t out[32], const uint8_t h1[32], const uint8_t *plain, size_t fields_len)
{
    crypto_generichash_state st;
    h_init(&st, NULL, "bb join sig");
    h_add(&st, h1, 32);
    h_add(&st, plain + JP_TS, 8);
    h_add(&st, plain + JP_ID, 32);
    h_add(&st, plain + JP_CIPHERS, 1);
    h_add(&st, plain + JP_FIELDS, fields_len);
    h_final(&st, out);
}

/// hj: the JOIN as sent (nonce, ciphertext and tag) on top of h1, so that a
/// WELCOME or REJECT answers this JOIN and no other.
static void sent_join_hash(uint8_t hj[32], const uint8_t h1[32], const uint8_t *body, size_t len)
{
    crypto_generichash_state st;
    h_init(&st, NULL, "bb sent join");
    h_add(&st, h1, 32);
    h_add(&st, body + JN_NONCE, len - JN_NONCE);
    h_final(&st, hj);
}

/// The WELCOME key and both session keys from everything both sides share,
/// the session cipher included (a WELCOME naming another does not open).
static void session_keys(const struct bb_room *room, const uint8_t es[32], const uint8_t ee[32],
                         const uint8_t hj[32], const uint8_t e_h[32], uint8_t cipher,
                         uint8_t kw[32], struct bb_hs_keys *k)
{
    crypto_generichash_state st;
    uint8_t h2[32], ck[32];
    h_init(&st, NULL, "bb welcome");
    h_add(&st, hj, 32);
    h_add(&st, e_h, 32);
    h_add(&st, &cipher, 1);
    h_final(&st, h2);
    k->cipher = cipher;
    h_init(&st, room->key, "bb session");
    h_add(&st, es, 32);
    h_add(&st, ee, 32);
    h_add(&st, h2, 32);
    h_final(&st, ck);
    crypto_kdf_derive_from_key(kw, 32, 1, "bbsessn1", ck);
    crypto_kdf_derive_from_key(k->c2h, sizeof k->c2h, 2, "bbsessn1", ck);
    crypto_kdf_derive_from_key(k->h2c, sizeof k->h2c, 3, "bbsessn1", ck);
    sodium_memzero(ck, sizeof ck);
}

// ---- musician side -----------------------------------------------------

int bb_hs_client_init(struct bb_hs_client *c, const char *password, const struct bb_keypair *id)
{
    memset(c, 0, sizeof *c);
    size_t len = strlen(password);
    if (len >= sizeof c->password)
        return BB_HS_MALFORMED;
    memcpy(c->password, password, len + 1);
    c->id = *id;
    c->min_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    c->max_ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
    c->min_mem_kib = crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024;
    c->max_mem_kib = crypto_pwhash_MEMLIMIT_MODERATE / 1024;
    c->ciphers = bb_seal_ciphers();
    return 0;
}

void bb_hs_client_set_room(struct bb_hs_client *c, const struct bb_room *r)
{
    c->room = *r;
    c->room_ok = true;
}

void bb_hs_client_wipe(struct bb_hs_client *c)
{
    sodium_memzero(c, sizeof *c);
}

int bb_hs_client_hello(struct bb_hs_client *c, uint8_t *out, size_t cap)
{
    if (!out || cap < BB_HS_HELLO_SIZE)
        return BB_HS_NO_ROOM;
    randombytes_buf(c->e_sk, sizeof c->e_sk);
    crypto_scalarmult_base(c->e_pk, c->e_sk);
    c->hello_sent = true;
    c->have_cookie = false;
    c->join_sent = false;
    c->n_old = 0;
    sodium_memzero(c->es, sizeof c->es);
    memcpy(out, c->e_pk, 32);
    memset(out + 32, 0, BB_HS_HELLO_SIZE - 32);
    return BB_HS_HELLO_SIZE;
}

int bb_hs_client_on_cookie(struct bb_hs_client *c, const uint8_t *body, size_t len)
{
    if (!body || len != BB_HS_COOKIE_MSG_SIZE)
        return BB_HS_MALFORMED;
    // Off-path senders do not know e_c: this drops their cookies before they
    // can make us run Argon2id. Once a JOIN is out, its answer is checked
    // with the K_room it was sent under: a later COOKIE (a duplicate, or one
    // made up on the path with another salt) must not change that.
    if (!c->hello_sent || c->join_sent || crypto_verify_16(body + CK_ECHO, c->e_pk) != 0)
        return BB_HS_STATE;
    uint32_t ops = get32(body + CK_OPS), mem = get32(body + CK_MEM);
    // A floor, not only a ceiling: a fake hub asking for cheap hashing would
    // get a JOIN it can attack offline much faster.
    if (body[CK_ALG] != BB_HS_PWHASH_ALG || ops < c->min_ops || ops > c->max_ops
        || mem < c->min_mem_kib || mem > c->max_mem_kib)
        return BB_HS_PARAMS;
    const uint8_t *salt = body + CK_SALT;
    if (!c->room_ok || c->room.opslimit != ops || c->room.memlimit_kib != mem
        || memcmp(c->room.salt, salt, BB_HS_SALT_SIZE) != 0) {
        c->room_ok = false;
        int st = bb_room_derive(&c->room, c->password, salt, ops, mem);
        if (st < 0)
            return st;
        c->room_ok = true;
    }
    memcpy(c->cookie, body + CK_COOKIE, BB_COOKIE_SIZE);
    memcpy(c->s_pk, body + CK_SPK, 32);
    c->have_cookie = true;
    return 0;
}

static uint64_t unix_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int bb_hs_client_join(struct bb_hs_client *c, uint64_t ts, const uint8_t *ad, size_t ad_len,
                      const uint8_t *fields, size_t n, uint8_t *out, size_t cap)
{
    if (!c->have_cookie || !c->room_ok)
        return BB_HS_STATE;
    if ((!ad && ad_len) || (!fields && n) || !out)
        return BB_HS_MALFORMED;
    if (n > BB_HS_JOIN_FIELDS_MAX || cap < BB_HS_JOIN_MIN + n)
        return BB_HS_NO_ROOM;
    uint8_t es[32], h1[32], k[32], hs[32];
    if (crypto_scalarmult(es, c->e_sk, c->s_pk) != 0)
        return BB_HS_KEY_BAD;
    if (ts == 0)
        ts = unix_ns();
    if (ts <= c->last_ts)
        ts = c->last_ts + 1;
    c->last_ts = ts;
    join_hash(h1, c->s_pk, &c->room, c->cookie, c->e_pk);
    room_key(k, &c->room, "bb join key", es, h1);
    size_t pn = JP_FIELDS + n;
    uint8_t *plain = out + JN_CT;
    put64(plain + JP_TS, ts);
    memcpy(plain + JP_ID, c->id.pk, 32);
    plain[JP_CIPHERS] = (uint8_t)c->ciphers;
    if (n)
        memmove(plain + JP_FIELDS, fields, n);
    sig_hash(hs, h1, plain, n);
    crypto_sign_detached(plain + JP_SIG, NULL, hs, sizeof hs, c->id.sk);
    memcpy(out + JN_COOKIE, c->cookie, BB_COOKIE_SIZE);
    memcpy(out + JN_EC, c->e_pk, 32);
    randombytes_buf(out + JN_NONCE, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(plain, plain + pn, NULL, plain, pn,
                                                        ad, ad_len, NULL, out + JN_NONCE, k);
    size_t len = JN_CT + pn + TAG;
    if (c->join_sent) { // a retry: its predecessor may still be answered
        memmove(c->hj_old[1], c->hj_old[0], sizeof c->hj_old - sizeof c->hj_old[0]);
        memcpy(c->hj_old[0], c->hj, 32);
        if (c->n_old < BB_HS_JOIN_HISTORY)
            c->n_old++;
    }
    sent_join_hash(c->hj, h1, out, len);
    memcpy(c->es, es, 32);
    c->join_sent = true;
    sodium_memzero(es, sizeof es);
    sodium_memzero(k, sizeof k);
    return (int)len;
}

int bb_hs_client_on_welcome(struct bb_hs_client *c, const uint8_t *ad, size_t ad_len,
                            const uint8_t *body, size_t len, uint8_t *fields, size_t cap,
                            struct bb_hs_keys *keys)
{
    if (!c->join_sent)
        return BB_HS_STATE;
    if (!body || (!ad && ad_len) || len < BB_HS_WELCOME_MIN
        || len - BB_HS_WELCOME_MIN > BB_HS_WELCOME_FIELDS_MAX)
        return BB_HS_MALFORMED;
    size_t n = len - BB_HS_WELCOME_MIN;
    if (n > cap || (n && !fields))
        return BB_HS_NO_ROOM;
    uint8_t ee[32], kw[32], zero[24] = { 0 };
    struct bb_hs_keys k;
    // One cipher, one we offered (and so run): anything else is not from
    // the hub that read our JOIN, or that hub breaks the rule.
    uint8_t cipher = body[WL_CIPHER];
    if ((cipher != BB_SEAL_CHACHA20POLY1305 && cipher != BB_SEAL_AES256GCM)
        || !(cipher & c->ciphers))
        return BB_HS_CIPHER;
    if (crypto_scalarmult(ee, c->e_sk, body + WL_EH) != 0)
        return BB_HS_KEY_BAD;
    int st = -1;
    for (unsigned i = 0; st != 0 && i <= c->n_old; i++) {
        session_keys(&c->room, c->es, ee, i ? c->hj_old[i - 1] : c->hj, body + WL_EH, cipher,
                     kw, &k);
        st = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            fields, NULL, body + WL_CT, n, body + WL_CT + n, ad, ad_len, zero, kw);
        if (st != 0)
            bb_hs_keys_wipe(&k);
    }
    sodium_memzero(ee, sizeof ee);
    sodium_memzero(kw, sizeof kw);
    if (st != 0) {
        bb_hs_keys_wipe(&k);
        return BB_HS_AUTH;
    }
    *keys = k;
    bb_hs_keys_wipe(&k);
    // Done: the ephemeral secret goes, so these keys cannot be recomputed.
    sodium_memzero(c->e_sk, sizeof c->e_sk);
    sodium_memzero(c->es, sizeof c->es);
    c->hello_sent = c->have_cookie = c->join_sent = false;
    c->n_old = 0;
    return (int)n;
}

int bb_hs_client_on_reject(struct bb_hs_client *c, const uint8_t *ad, size_t ad_len,
                           const uint8_t *body, size_t len, uint8_t *reason, size_t cap)
{
    if (!c->join_sent)
        return BB_HS_STATE;
    if (!body || (!ad && ad_len) || len < BB_HS_REJECT_MIN
        || len - BB_HS_REJECT_MIN > BB_HS_REJECT_MAX)
        return BB_HS_MALFORMED;
    size_t n = len - BB_HS_REJECT_MIN;
    if (n > cap || (n && !reason))
        return BB_HS_NO_ROOM;
    uint8_t k[32];
    int st = -1;
    for (unsigned i = 0; st != 0 && i <= c->n_old; i++) {
        room_key(k, &c->room, "bb reject key", c->es, i ? c->hj_old[i - 1] : c->hj);
        st = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            reason, NULL, body + RJ_CT, n, body + RJ_CT + n, ad, ad_len, body + RJ_NONCE, k);
    }
    sodium_memzero(k, sizeof k);
    if (st != 0)
        return BB_HS_AUTH;
    c->join_sent = false; // this attempt is over; a new one starts with a HELLO
    return (int)n;
}

// ---- hub side ----------------------------------------------------------

int bb_hs_hub_init(struct bb_hs_hub *h, const char *password, const uint8_t *salt,
                   uint32_t opslimit, uint32_t memlimit_kib)
{
    memset(h, 0, sizeof *h);
    if (!opslimit)
        opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    if (!memlimit_kib)
        memlimit_kib = crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024;
    // Limits the musicians' policy (bb_hs_client_init) would refuse make a
    // room nobody can enter: refuse them here, loudly, instead.
    if (opslimit < crypto_pwhash_OPSLIMIT_INTERACTIVE || opslimit > crypto_pwhash_OPSLIMIT_SENSITIVE
        || memlimit_kib < crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024
        || memlimit_kib > crypto_pwhash_MEMLIMIT_MODERATE / 1024)
        return BB_HS_MALFORMED;
    uint8_t s[BB_HS_SALT_SIZE];
    if (salt)
        memcpy(s, salt, sizeof s);
    else
        randombytes_buf(s, sizeof s);
    int st = bb_room_derive(&h->room, password, s, opslimit, memlimit_kib);
    if (st < 0)
        return st;
    randombytes_buf(h->s_sk, sizeof h->s_sk);
    crypto_scalarmult_base(h->s_pk, h->s_sk);
    bb_cookie_init(&h->cookies, BB_COOKIE_PERIOD_S);
    h->ciphers = bb_seal_ciphers();
    return 0;
}

void bb_hs_hub_wipe(struct bb_hs_hub *h)
{
    sodium_memzero(h, sizeof *h);
}

int bb_hs_hub_on_hello(struct bb_hs_hub *h, uint64_t now_s, const struct sockaddr *sa,
                       socklen_t sa_len, const uint8_t *body, size_t len,
                       uint8_t *out, size_t cap)
{
    struct bb_cookie_addr a;
    // Exactly the HELLO size: a shorter request would make the reply an
    // amplifier, a longer one is not ours.
    if (!body || len != BB_HS_HELLO_SIZE || bb_cookie_addr_of(&a, sa, sa_len) < 0)
        return BB_HS_MALFORMED;
    if (!out || cap < BB_HS_COOKIE_MSG_SIZE)
        return BB_HS_NO_ROOM;
    memcpy(out + CK_ECHO, body, 16);
    bb_cookie_make(&h->cookies, now_s, &a, body, out + CK_COOKIE);
    memcpy(out + CK_SPK, h->s_pk, 32);
    memcpy(out + CK_SALT, h->room.salt, BB_HS_SALT_SIZE);
    put32(out + CK_OPS, h->room.opslimit);
    put32(out + CK_MEM, h->room.memlimit_kib);
    out[CK_ALG] = BB_HS_PWHASH_ALG;
    memset(out + CK_ALG + 1, 0, 3);
    return BB_HS_COOKIE_MSG_SIZE;
}

/// The hub's rule: AES-256-GCM when both run it (faster, bench/results.md),
/// else ChaCha20-Poly1305; 0 when there is nothing in common.
static uint8_t choose_cipher(const struct bb_hs_hub *h, const struct bb_hs_join *j)
{
    unsigned both = h->ciphers & j->ciphers;
    return both & BB_SEAL_AES256GCM ? BB_SEAL_AES256GCM
         : both & BB_SEAL_CHACHA20POLY1305 ? BB_SEAL_CHACHA20POLY1305 : 0;
}

int bb_hs_hub_on_join(struct bb_hs_hub *h, uint64_t now_s, const struct sockaddr *sa,
                      socklen_t sa_len, const uint8_t *ad, size_t ad_len,
                      const uint8_t *body, size_t len, struct bb_hs_join *j)
{
    j->ok = false;
    j->fields = NULL;
    j->fields_len = 0;
    struct bb_cookie_addr a;
    if (!body || (!ad && ad_len) || len < BB_HS_JOIN_MIN
        || len - BB_HS_JOIN_MIN > BB_HS_JOIN_FIELDS_MAX || bb_cookie_addr_of(&a, sa, sa_len) < 0)
        return BB_HS_MALFORMED;
    const uint8_t *e_c = body + JN_EC;
    if (bb_cookie_check(&h->cookies, now_s, &a, e_c, body + JN_COOKIE) < 0)
        return BB_HS_COOKIE_BAD;
    uint8_t h1[32], k[32], hs[32];
    if (crypto_scalarmult(j->es, h->s_sk, e_c) != 0)
        return BB_HS_KEY_BAD;
    join_hash(h1, h->s_pk, &h->room, body + JN_COOKIE, e_c);
    room_key(k, &h->room, "bb join key", j->es, h1);
    size_t pn = len - JN_CT - TAG;
    int st = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
        j->plain, NULL, body + JN_CT, pn, body + JN_CT + pn, ad, ad_len, body + JN_NONCE, k);
    sodium_memzero(k, sizeof k);
    if (st != 0) {
        sodium_memzero(j->es, sizeof j->es);
        return BB_HS_AUTH;
    }
    size_t fl = pn - JP_FIELDS;
    sig_hash(hs, h1, j->plain, fl);
    if (crypto_sign_verify_detached(j->plain + JP_SIG, hs, sizeof hs, j->plain + JP_ID) != 0) {
        bb_hs_join_wipe(j);
        return BB_HS_SIGNATURE;
    }
    memcpy(j->identity, j->plain + JP_ID, 32);
    j->timestamp = get64(j->plain + JP_TS);
    j->ciphers = j->plain[JP_CIPHERS];
    j->fields = j->plain + JP_FIELDS;
    j->fields_len = fl;
    memcpy(j->e_c, e_c, 32);
    sent_join_hash(j->hj, h1, body, len);
    j->ok = true;
    return 0;
}

int bb_hs_hub_welcome(struct bb_hs_hub *h, const struct bb_hs_join *j, uint64_t last_ts,
                      const uint8_t *ad, size_t ad_len, const uint8_t *fields, size_t n,
                      uint8_t *out, size_t cap, struct bb_hs_keys *keys)
{
    if (!j->ok)
        return BB_HS_STATE;
    if (j->timestamp <= last_ts)
        return BB_HS_REPLAY;
    if ((!ad && ad_len) || (!fields && n))
        return BB_HS_MALFORMED;
    if (n > BB_HS_WELCOME_FIELDS_MAX || !out || cap < BB_HS_WELCOME_MIN + n)
        return BB_HS_NO_ROOM;
    uint8_t cipher = choose_cipher(h, j);
    if (!cipher)
        return BB_HS_CIPHER;
    uint8_t e_sk[32], ee[32], kw[32], zero[24] = { 0 };
    randombytes_buf(e_sk, sizeof e_sk);
    crypto_scalarmult_base(out + WL_EH, e_sk);
    int st = crypto_scalarmult(ee, e_sk, j->e_c);
    sodium_memzero(e_sk, sizeof e_sk); // forward secrecy: gone once used
    if (st != 0)
        return BB_HS_KEY_BAD;
    out[WL_CIPHER] = cipher;
    session_keys(&h->room, j->es, ee, j->hj, out + WL_EH, cipher, kw, keys);
    // kw is used for this one message only (e_h is fresh): nonce 0 is safe.
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out + WL_CT, out + WL_CT + n, NULL,
                                                        fields, n, ad, ad_len, NULL, zero, kw);
    sodium_memzero(ee, sizeof ee);
    sodium_memzero(kw, sizeof kw);
    return (int)(BB_HS_WELCOME_MIN + n);
}

int bb_hs_hub_reject(struct bb_hs_hub *h, const struct bb_hs_join *j, const uint8_t *ad,
                     size_t ad_len, const uint8_t *reason, size_t n, uint8_t *out, size_t cap)
{
    if (!j->ok)
        return BB_HS_STATE;
    if ((!ad && ad_len) || (!reason && n))
        return BB_HS_MALFORMED;
    if (n > BB_HS_REJECT_MAX || !out || cap < BB_HS_REJECT_MIN + n)
        return BB_HS_NO_ROOM;
    uint8_t k[32];
    room_key(k, &h->room, "bb reject key", j->es, j->hj);
    randombytes_buf(out + RJ_NONCE, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out + RJ_CT, out + RJ_CT + n, NULL,
                                                        reason, n, ad, ad_len, NULL, out + RJ_NONCE, k);
    sodium_memzero(k, sizeof k);
    return (int)(BB_HS_REJECT_MIN + n);
}

void bb_hs_join_wipe(struct bb_hs_join *j)
{
    sodium_memzero(j, sizeof *j);
}

int bb_room_password_load(const char *path, char out[BB_HS_PASSWORD_MAX], char *err,
                          size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "cannot read the password file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[BB_HS_PASSWORD_MAX + 2] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = ok ? strcspn(line, "\r\n") : 0;
    if (!ok) {
        snprintf(err, err_size, "%s: empty file", path);
        return -1;
    }
    line[n] = '\0';
    if (n >= BB_HS_PASSWORD_MAX) {
        snprintf(err, err_size, "%s: password too long (%d bytes at most)", path,
                 BB_HS_PASSWORD_MAX - 1);
        sodium_memzero(line, sizeof line);
        return -1;
    }
    memcpy(out, line, n + 1);
    sodium_memzero(line, sizeof line);
    return 0;
}
