// SPDX-License-Identifier: GPL-2.0-or-later
// test_handshake.c: room password, cookies, JOIN/WELCOME/REJECT, key files.
//
// Runs the hub and musicians in memory. Argon2id runs at the INTERACTIVE
// limits (64 MiB, the smallest a musician accepts), a few times: ~1 s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "cookie.h"
#include "handshake.h"
#include "keypair.h"
#include "seal.h"

#define PASSWORD "correct horse battery staple"

static struct bb_hs_hub hub;
static struct bb_keypair alice_id, bob_id;
static struct bb_hs_client alice;  // right password
static uint64_t now = 1000;         // the hub's monotonic seconds

static struct sockaddr_in addr4(const char *ip, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}
#define SA(a) ((const struct sockaddr *)&(a)), (socklen_t)sizeof(a)

static const uint8_t JOIN_HDR[20] = "BBRG\x01\x01", WELCOME_HDR[20] = "BBRG\x01\x02\0\0\x2a";
static const uint8_t REJECT_HDR[20] = "BBRG\x01\x03";
static const uint8_t FIELDS[] = "name=alice rate=48000 period=128 codec=opus";

/// HELLO -> COOKIE -> client took it. Returns the COOKIE's status at the client.
static int get_cookie(struct bb_hs_client *c, struct bb_hs_hub *h, const struct sockaddr_in *src)
{
    uint8_t hello[BB_HS_HELLO_SIZE], cookie[BB_HS_HELLO_SIZE];
    CHECK(bb_hs_client_hello(c, hello, sizeof hello) == BB_HS_HELLO_SIZE);
    int n = bb_hs_hub_on_hello(h, now, SA(*src), hello, sizeof hello, cookie, sizeof cookie);
    CHECK(n == BB_HS_COOKIE_MSG_SIZE);
    return bb_hs_client_on_cookie(c, cookie, (size_t)n);
}

static void test_full(void)
{
    struct sockaddr_in src = addr4("192.0.2.7", 40000);
    uint8_t hello[BB_HS_HELLO_SIZE], cookie[200], join[1200], welcome[1200], fields[1200];
    int hn = bb_hs_client_hello(&alice, hello, sizeof hello);
    int cn = bb_hs_hub_on_hello(&hub, now, SA(src), hello, (size_t)hn, cookie, sizeof cookie);
    CHECK(cn > 0 && cn <= hn);                // no amplification
    CHECK(bb_hs_client_on_cookie(&alice, cookie, (size_t)cn) == 0);
    int jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(jn == (int)(BB_HS_JOIN_MIN + sizeof FIELDS));
    // A duplicate COOKIE once the JOIN is out changes nothing.
    CHECK(bb_hs_client_on_cookie(&alice, cookie, (size_t)cn) == BB_HS_STATE);
    CHECK(jn + 20 <= 1200);
    // The identity key and fields are not visible in the JOIN.
    CHECK(memmem(join, (size_t)jn, alice_id.pk, 32) == NULL);
    CHECK(memmem(join, (size_t)jn, "alice", 5) == NULL);
    struct bb_hs_join j;
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    CHECK(j.ok && memcmp(j.identity, alice_id.pk, 32) == 0);
    CHECK(j.fields_len == sizeof FIELDS && memcmp(j.fields, FIELDS, sizeof FIELDS) == 0);
    CHECK(j.timestamp == alice.last_ts && j.timestamp > 1600000000ull * 1000000000ull);
    struct bb_hs_keys hk, ck;
    static const uint8_t WF[] = "welcome alice, slot 3";
    int wn = bb_hs_hub_welcome(&hub, &j, 0, WELCOME_HDR, 20, WF, sizeof WF, welcome, sizeof welcome, &hk);
    CHECK(wn == (int)(BB_HS_WELCOME_MIN + sizeof WF));
    // A WELCOME whose header was changed (another session id) is refused...
    uint8_t hdr2[20];
    memcpy(hdr2, WELCOME_HDR, 20);
    hdr2[8] ^= 1;
    CHECK(bb_hs_client_on_welcome(&alice, hdr2, 20, welcome, (size_t)wn, fields, sizeof fields, &ck) == BB_HS_AUTH);
    // ... the genuine one accepted.
    int fn = bb_hs_client_on_welcome(&alice, WELCOME_HDR, 20, welcome, (size_t)wn, fields, sizeof fields, &ck);
    CHECK(fn == (int)sizeof WF && memcmp(fields, WF, sizeof WF) == 0);
    CHECK(memcmp(hk.c2h, ck.c2h, 32) == 0 && memcmp(hk.h2c, ck.h2c, 32) == 0);
    CHECK(memcmp(ck.c2h, ck.h2c, 32) != 0);
    CHECK(!sodium_is_zero(ck.c2h, 32));
    // Once done, the same WELCOME again is out of place.
    CHECK(bb_hs_client_on_welcome(&alice, WELCOME_HDR, 20, welcome, (size_t)wn, fields, sizeof fields, &ck) == BB_HS_STATE);
    // The keys work with seal.h both ways.
    struct bb_seal_tx ctx, htx;
    struct bb_seal_rx crx, hrx;
    CHECK(hk.cipher == ck.cipher);
    CHECK(bb_seal_tx_init(&ctx, ck.cipher, ck.c2h) == 0);
    CHECK(bb_seal_rx_init(&hrx, hk.cipher, hk.c2h) == 0);
    CHECK(bb_seal_tx_init(&htx, hk.cipher, hk.h2c) == 0);
    CHECK(bb_seal_rx_init(&crx, ck.cipher, ck.h2c) == 0);
    uint8_t pkt[128], out[128];
    int n = bb_seal(&ctx, JOIN_HDR, 20, (const uint8_t *)"up", 2, pkt, sizeof pkt);
    CHECK(bb_open(&hrx, pkt, 20, (size_t)n, out, sizeof out, NULL) == 2);
    CHECK(bb_open(&crx, pkt, 20, (size_t)n, out, sizeof out, NULL) == BB_SEAL_BAD_TAG);
    n = bb_seal(&htx, JOIN_HDR, 20, (const uint8_t *)"down", 4, pkt, sizeof pkt);
    CHECK(bb_open(&crx, pkt, 20, (size_t)n, out, sizeof out, NULL) == 4);
    // A second handshake gives other keys (fresh ephemerals).
    struct bb_hs_keys hk2;
    CHECK(get_cookie(&alice, &hub, &src) == 0);
    jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, NULL, 0, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    CHECK(j.fields_len == 0);
    wn = bb_hs_hub_welcome(&hub, &j, 0, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &hk2);
    CHECK(bb_hs_client_on_welcome(&alice, WELCOME_HDR, 20, welcome, (size_t)wn, NULL, 0, &ck) == 0);
    CHECK(memcmp(hk2.c2h, ck.c2h, 32) == 0 && memcmp(hk2.c2h, hk.c2h, 32) != 0);
    bb_hs_join_wipe(&j);
}

/// One handshake of c with the hub, c's offer and the hub's accepted
/// ciphers as set by the caller. Returns the WELCOME's status at the hub
/// (< 0) or at the client; *hc, *cc: the cipher each side got. tamper (may
/// be NULL) changes the WELCOME on its way.
static int negotiate(struct bb_hs_client *c, int *hc, int *cc, void (*tamper)(uint8_t *, int))
{
    struct sockaddr_in src = addr4("192.0.2.40", 40040);
    uint8_t join[1200], welcome[1200];
    struct bb_hs_join j;
    struct bb_hs_keys hk = { .cipher = 0 }, ck = { .cipher = 0 };
    CHECK(get_cookie(c, &hub, &src) == 0);
    int jn = bb_hs_client_join(c, 0, JOIN_HDR, 20, NULL, 0, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    CHECK(j.ciphers == c->ciphers); // the offer arrives as sent
    int wn = bb_hs_hub_welcome(&hub, &j, 0, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &hk);
    bb_hs_join_wipe(&j);
    *hc = hk.cipher;
    *cc = 0;
    if (wn < 0)
        return wn;
    if (tamper)
        tamper(welcome, wn);
    int st = bb_hs_client_on_welcome(c, WELCOME_HDR, 20, welcome, (size_t)wn, NULL, 0, &ck);
    if (st == 0) {
        *cc = ck.cipher;
        CHECK(memcmp(hk.c2h, ck.c2h, 32) == 0 && memcmp(hk.h2c, ck.h2c, 32) == 0);
    }
    return st;
}

static void to_chacha(uint8_t *w, int n) { (void)n; w[32] = BB_SEAL_CHACHA20POLY1305; }
static void to_aes(uint8_t *w, int n) { (void)n; w[32] = BB_SEAL_AES256GCM; }
static void to_junk(uint8_t *w, int n) { (void)n; w[32] = 0x80; }

/// The session cipher: AES-256-GCM when both ends run it, ChaCha20-Poly1305
/// otherwise; bound into the keys, so nobody on the path can choose.
static void test_cipher(void)
{
    int hc, cc;
    const unsigned here = bb_seal_ciphers(), saved_hub = hub.ciphers;
    const int best = here & BB_SEAL_AES256GCM ? BB_SEAL_AES256GCM : BB_SEAL_CHACHA20POLY1305;
    struct bb_hs_client c;
    CHECK(bb_hs_client_init(&c, PASSWORD, &bob_id) == 0);
    CHECK(c.ciphers == here && hub.ciphers == here);
    // Both run what this machine runs: the best of it, the same at both ends.
    CHECK(negotiate(&c, &hc, &cc, NULL) == 0 && hc == best && cc == best);
    // A musician without AES-NI (offers ChaCha20-Poly1305 only).
    c.ciphers = BB_SEAL_CHACHA20POLY1305;
    CHECK(negotiate(&c, &hc, &cc, NULL) == 0 && hc == cc && cc == BB_SEAL_CHACHA20POLY1305);
    // A hub without AES-NI, a musician with it (as if).
    c.ciphers = BB_SEAL_CIPHERS_ALL;
    hub.ciphers = BB_SEAL_CHACHA20POLY1305;
    CHECK(negotiate(&c, &hc, &cc, NULL) == 0 && cc == BB_SEAL_CHACHA20POLY1305);
    // Nothing in common: the hub does not welcome (every bandbridge offers
    // ChaCha20-Poly1305, so only a made-up JOIN gets here).
    c.ciphers = BB_SEAL_AES256GCM;
    CHECK(negotiate(&c, &hc, &cc, NULL) == BB_HS_CIPHER && hc == 0);
    c.ciphers = 0;
    hub.ciphers = BB_SEAL_CIPHERS_ALL;
    CHECK(negotiate(&c, &hc, &cc, NULL) == BB_HS_CIPHER);
    // Downgrade on the path: both offer AES, the WELCOME's cipher byte
    // rewritten to ChaCha20-Poly1305: the keys differ, the WELCOME does not
    // open, the musician keeps waiting for the real one.
    c.ciphers = BB_SEAL_CIPHERS_ALL;
    CHECK(negotiate(&c, &hc, &cc, to_chacha) == BB_HS_AUTH && hc == BB_SEAL_AES256GCM && cc == 0);
    CHECK(c.join_sent);
    // ... and the other way (ChaCha20-Poly1305 chosen, AES claimed).
    hub.ciphers = BB_SEAL_CHACHA20POLY1305;
    CHECK(negotiate(&c, &hc, &cc, to_aes) == BB_HS_AUTH && hc == BB_SEAL_CHACHA20POLY1305);
    // A cipher the musician did not offer, or none: refused before any key work.
    c.ciphers = BB_SEAL_CHACHA20POLY1305;
    hub.ciphers = BB_SEAL_CIPHERS_ALL;
    CHECK(negotiate(&c, &hc, &cc, to_aes) == BB_HS_CIPHER);
    CHECK(negotiate(&c, &hc, &cc, to_junk) == BB_HS_CIPHER);
    // The offer cannot be changed either: it is inside the JOIN's AEAD
    // (test_cookie flips its ciphertext) and under the identity's signature.
    hub.ciphers = saved_hub;
    bb_hs_client_wipe(&c);
}

static void test_wrong_password(void)
{
    struct sockaddr_in src = addr4("192.0.2.8", 40001);
    struct bb_hs_client mallory;
    CHECK(bb_hs_client_init(&mallory, "Correct horse battery staple", &bob_id) == 0);
    CHECK(get_cookie(&mallory, &hub, &src) == 0);
    uint8_t join[1200], welcome[256], rej[256];
    int jn = bb_hs_client_join(&mallory, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(jn > 0);
    struct bb_hs_join j;
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == BB_HS_AUTH);
    CHECK(!j.ok);
    struct bb_hs_keys k;
    CHECK(bb_hs_hub_welcome(&hub, &j, 0, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &k) == BB_HS_STATE);
    CHECK(bb_hs_hub_reject(&hub, &j, REJECT_HDR, 20, NULL, 0, rej, sizeof rej) == BB_HS_STATE);

    // A fake hub without the password: alice's JOIN to it does not open...
    struct bb_hs_hub fake;
    CHECK(bb_hs_hub_init(&fake, "guess", NULL, 0, 0) == 0);
    CHECK(get_cookie(&alice, &fake, &src) == 0);
    jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&fake, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == BB_HS_AUTH);
    // ... and even a hub that knows everything but K_room (the real hub's
    // static key, cookie secrets, the opened JOIN's es and hj) cannot make a
    // WELCOME alice accepts.
    CHECK(get_cookie(&alice, &hub, &src) == 0);
    jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    struct bb_hs_hub almost = hub;
    randombytes_buf(almost.room.key, sizeof almost.room.key);
    int wn = bb_hs_hub_welcome(&almost, &j, 0, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &k);
    CHECK(wn == BB_HS_WELCOME_MIN);
    CHECK(bb_hs_client_on_welcome(&alice, WELCOME_HDR, 20, welcome, (size_t)wn, NULL, 0, &k) == BB_HS_AUTH);
    int rn = bb_hs_hub_reject(&almost, &j, REJECT_HDR, 20, (const uint8_t *)"no", 2, rej, sizeof rej);
    CHECK(bb_hs_client_on_reject(&alice, REJECT_HDR, 20, rej, (size_t)rn, rej + 128, 64) == BB_HS_AUTH);
    // Random bytes are no WELCOME either; the real one still is.
    randombytes_buf(welcome, BB_HS_WELCOME_MIN + 8);
    welcome[32] = BB_SEAL_CHACHA20POLY1305; // a cipher alice offers: the AEAD decides
    CHECK(bb_hs_client_on_welcome(&alice, WELCOME_HDR, 20, welcome, BB_HS_WELCOME_MIN + 8, welcome + 100, 64, &k) == BB_HS_AUTH);
    wn = bb_hs_hub_welcome(&hub, &j, 0, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &k);
    CHECK(bb_hs_client_on_welcome(&alice, WELCOME_HDR, 20, welcome, (size_t)wn, NULL, 0, &k) == 0);
    bb_hs_hub_wipe(&fake);
    bb_hs_client_wipe(&mallory);
}

/// Builds a JOIN from alice at src, opened by the hub at time t from from.
static int join_at(const struct sockaddr_in *src, uint64_t t, const struct sockaddr_in *from,
                   void (*tamper)(uint8_t *, int))
{
    uint8_t join[1200];
    int jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    if (tamper)
        tamper(join, jn);
    struct bb_hs_join j;
    int st = bb_hs_hub_on_join(&hub, t, SA(*from), JOIN_HDR, 20, join, (size_t)jn, &j);
    bb_hs_join_wipe(&j);
    return st;
}

static void flip_cookie(uint8_t *b, int n) { b[3] ^= 0x40; }
static void flip_ec(uint8_t *b, int n) { b[16 + 5] ^= 0x01; }
static void flip_nonce(uint8_t *b, int n) { b[50] ^= 0x01; }
static void flip_ct(uint8_t *b, int n) { b[100] ^= 0x80; }
static void flip_tag(uint8_t *b, int n) { b[n - 1] ^= 0x01; }

static void test_cookie(void)
{
    now = 1000 * 120;                        // an epoch boundary: t .. t+119 is one epoch
    struct sockaddr_in src = addr4("198.51.100.4", 5000);
    CHECK(get_cookie(&alice, &hub, &src) == 0);
    CHECK(join_at(&src, now, &src, NULL) == 0);
    struct sockaddr_in port = addr4("198.51.100.4", 5001), ip = addr4("198.51.100.5", 5000);
    CHECK(join_at(&src, now, &port, NULL) == BB_HS_COOKIE_BAD);
    CHECK(join_at(&src, now, &ip, NULL) == BB_HS_COOKIE_BAD);
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof v6);
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(5000);
    CHECK(bb_hs_hub_on_join(&hub, now, (const struct sockaddr *)&v6, sizeof v6, JOIN_HDR, 20,
                            (const uint8_t[BB_HS_JOIN_MIN]){ 0 }, BB_HS_JOIN_MIN,
                            &(struct bb_hs_join){ 0 }) == BB_HS_COOKIE_BAD);
    CHECK(join_at(&src, now, &src, flip_cookie) == BB_HS_COOKIE_BAD);
    CHECK(join_at(&src, now, &src, flip_ec) == BB_HS_COOKIE_BAD);  // cookie is bound to e_c
    CHECK(join_at(&src, now, &src, flip_nonce) == BB_HS_AUTH);
    CHECK(join_at(&src, now, &src, flip_ct) == BB_HS_AUTH);
    CHECK(join_at(&src, now, &src, flip_tag) == BB_HS_AUTH);
    CHECK(join_at(&src, now, &src, NULL) == 0);
    // Previous epoch still good, the one before not.
    CHECK(join_at(&src, now + 119, &src, NULL) == 0);
    CHECK(join_at(&src, now + 120, &src, NULL) == 0);
    CHECK(join_at(&src, now + 239, &src, NULL) == 0);
    CHECK(join_at(&src, now + 240, &src, NULL) == BB_HS_COOKIE_BAD);
    now += 240;
    // Truncated, too long: malformed, before anything else.
    uint8_t big[1200] = { 0 };
    struct bb_hs_join j;
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, big, BB_HS_JOIN_MIN - 1, &j) == BB_HS_MALFORMED);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, big, BB_HS_JOIN_MIN + BB_HS_JOIN_FIELDS_MAX + 1, &j) == BB_HS_MALFORMED);
    // HELLO: exact size only; the COOKIE is never larger.
    uint8_t hello[BB_HS_HELLO_SIZE + 1] = { 0 }, out[256];
    CHECK(bb_hs_hub_on_hello(&hub, now, SA(src), hello, BB_HS_HELLO_SIZE - 1, out, sizeof out) == BB_HS_MALFORMED);
    CHECK(bb_hs_hub_on_hello(&hub, now, SA(src), hello, BB_HS_HELLO_SIZE + 1, out, sizeof out) == BB_HS_MALFORMED);
    CHECK(bb_hs_hub_on_hello(&hub, now, SA(src), hello, BB_HS_HELLO_SIZE, out, sizeof out) <= BB_HS_HELLO_SIZE);

    // A low-order e_c gets a cookie (the hub does no work for HELLO) but its
    // JOIN is refused before any secret is derived from it.
    uint8_t join[BB_HS_JOIN_MIN] = { 0 };
    CHECK(bb_hs_hub_on_hello(&hub, now, SA(src), hello, BB_HS_HELLO_SIZE, out, sizeof out) > 0);
    memcpy(join, out + 16, BB_COOKIE_SIZE);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, sizeof join, &j) == BB_HS_KEY_BAD);

    // cookie.c directly.
    struct bb_cookie_jar jar;
    struct bb_cookie_addr a, b;
    uint8_t ec[32] = { 1 }, c1[BB_COOKIE_SIZE];
    bb_cookie_init(&jar, 120);
    CHECK(bb_cookie_addr_of(&a, SA(src)) == 0);
    CHECK(bb_cookie_addr_of(&b, SA(port)) == 0);
    CHECK(bb_cookie_addr_of(&b, (const struct sockaddr *)&src, 8) == -1);
    bb_cookie_make(&jar, 500, &a, ec, c1);
    CHECK(bb_cookie_check(&jar, 500, &a, ec, c1) == 0);
    CHECK(bb_cookie_check(&jar, 500, &b, ec, c1) == -1);
    CHECK(bb_cookie_check(&jar, 600, &a, ec, c1) == 0);   // next epoch
    CHECK(bb_cookie_check(&jar, 720, &a, ec, c1) == -1);  // two later
    CHECK(bb_cookie_check(&jar, 500, &a, ec, c1) == -1);  // and gone for good
    bb_cookie_wipe(&jar);
}

static void test_replay_and_identity(void)
{
    struct sockaddr_in src = addr4("203.0.113.9", 6000);
    uint64_t last = 0;   // the hub's "last timestamp accepted for alice"
    uint8_t join[1200], welcome[256];
    struct bb_hs_join j;
    struct bb_hs_keys k;
    CHECK(get_cookie(&alice, &hub, &src) == 0);
    int jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    CHECK(bb_hs_hub_welcome(&hub, &j, last, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &k) > 0);
    last = j.timestamp;
    // The same JOIN replayed (same source, cookie still valid): opened, but
    // its timestamp is not newer, so no WELCOME.
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    CHECK(bb_hs_hub_welcome(&hub, &j, last, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &k) == BB_HS_REPLAY);
    // A retry (new call) carries a newer timestamp, even with a clock that
    // went backwards, and is accepted.
    jn = bb_hs_client_join(&alice, 5, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    CHECK(j.timestamp == last + 1);
    CHECK(bb_hs_hub_welcome(&hub, &j, last, WELCOME_HDR, 20, NULL, 0, welcome, sizeof welcome, &k) > 0);

    // Authenticated REJECT for an opened JOIN: believed; a forged one not.
    uint8_t rej[BB_HS_REJECT_MIN + 64], reason[64];
    jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    int rn = bb_hs_hub_reject(&hub, &j, REJECT_HDR, 20, (const uint8_t *)"name taken", 10, rej, sizeof rej);
    CHECK(rn == BB_HS_REJECT_MIN + 10);
    uint8_t bad[sizeof rej];
    memcpy(bad, rej, sizeof rej);
    bad[30] ^= 1;
    CHECK(bb_hs_client_on_reject(&alice, REJECT_HDR, 20, bad, (size_t)rn, reason, sizeof reason) == BB_HS_AUTH);
    CHECK(bb_hs_client_on_reject(&alice, JOIN_HDR, 20, rej, (size_t)rn, reason, sizeof reason) == BB_HS_AUTH);
    CHECK(bb_hs_client_on_reject(&alice, REJECT_HDR, 20, rej, (size_t)rn, reason, sizeof reason) == 10);
    CHECK(memcmp(reason, "name taken", 10) == 0);
    CHECK(bb_hs_client_on_reject(&alice, REJECT_HDR, 20, rej, (size_t)rn, reason, sizeof reason) == BB_HS_STATE);

    // A band member (knows the password) claiming bob's identity key but
    // signing with its own: refused.
    struct bb_hs_client eve;
    CHECK(bb_hs_client_init(&eve, PASSWORD, &alice_id) == 0);
    bb_hs_client_set_room(&eve, &alice.room);  // same hub: skip Argon2id
    memcpy(eve.id.pk, bob_id.pk, 32);
    CHECK(get_cookie(&eve, &hub, &src) == 0);
    jn = bb_hs_client_join(&eve, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == BB_HS_SIGNATURE);
    CHECK(!j.ok);
    // With bob's real key pair it works (the control for the check above).
    eve.id = bob_id;
    CHECK(get_cookie(&eve, &hub, &src) == 0);
    jn = bb_hs_client_join(&eve, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
    CHECK(bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j) == 0);
    CHECK(memcmp(j.identity, bob_id.pk, 32) == 0);
    bb_hs_client_wipe(&eve);
    bb_hs_join_wipe(&j);
}

static void test_client_policy(void)
{
    struct sockaddr_in src = addr4("192.0.2.10", 7000);
    uint8_t hello[BB_HS_HELLO_SIZE], cookie[BB_HS_COOKIE_MSG_SIZE], join[1200];
    // No HELLO outstanding / not our echo: dropped.
    struct bb_hs_client c;
    CHECK(bb_hs_client_init(&c, PASSWORD, &alice_id) == 0);
    CHECK(bb_hs_client_join(&c, 0, NULL, 0, NULL, 0, join, sizeof join) == BB_HS_STATE);
    CHECK(bb_hs_client_hello(&c, hello, sizeof hello) == BB_HS_HELLO_SIZE);
    CHECK(bb_hs_hub_on_hello(&hub, now, SA(src), hello, sizeof hello, cookie, sizeof cookie) > 0);
    cookie[3] ^= 1;
    CHECK(bb_hs_client_on_cookie(&c, cookie, sizeof cookie) == BB_HS_STATE);
    cookie[3] ^= 1;
    CHECK(bb_hs_client_on_cookie(&c, cookie, sizeof cookie - 1) == BB_HS_MALFORMED);
    // A hub asking for cheap (or ruinous) hashing is refused, before hashing.
    uint8_t weak[sizeof cookie];
    memcpy(weak, cookie, sizeof cookie);
    weak[80] = 1;  // opslimit 1
    CHECK(bb_hs_client_on_cookie(&c, weak, sizeof weak) == BB_HS_PARAMS);
    memcpy(weak, cookie, sizeof cookie);
    weak[84] = 0; weak[85] = 0x10; weak[86] = 0; // 4 MiB
    CHECK(bb_hs_client_on_cookie(&c, weak, sizeof weak) == BB_HS_PARAMS);
    memcpy(weak, cookie, sizeof cookie);
    weak[87] = 0x10;  // 256 GiB
    CHECK(bb_hs_client_on_cookie(&c, weak, sizeof weak) == BB_HS_PARAMS);
    memcpy(weak, cookie, sizeof cookie);
    weak[88] = 1;  // Argon2i
    CHECK(bb_hs_client_on_cookie(&c, weak, sizeof weak) == BB_HS_PARAMS);
    CHECK(!c.have_cookie && !c.room_ok);
    // The hub refuses to be set up below the musicians' floor.
    struct bb_hs_hub h2;
    CHECK(bb_hs_hub_init(&h2, PASSWORD, NULL, 1, 0) == BB_HS_MALFORMED);
    char longpw[BB_HS_PASSWORD_MAX + 1];
    memset(longpw, 'p', sizeof longpw - 1);
    longpw[BB_HS_PASSWORD_MAX] = '\0';
    CHECK(bb_hs_client_init(&c, longpw, &alice_id) == BB_HS_MALFORMED);
    longpw[BB_HS_PASSWORD_MAX - 1] = '\0';
    CHECK(bb_hs_client_init(&c, longpw, &alice_id) == 0);
    // Fields over the limit.
    CHECK(bb_hs_client_init(&c, PASSWORD, &alice_id) == 0);
    bb_hs_client_set_room(&c, &alice.room);
    CHECK(get_cookie(&c, &hub, &src) == 0);
    static uint8_t many[BB_HS_JOIN_FIELDS_MAX + 1];
    CHECK(bb_hs_client_join(&c, 0, NULL, 0, many, sizeof many, join, sizeof join) == BB_HS_NO_ROOM);
    CHECK(bb_hs_client_join(&c, 0, NULL, 0, many, sizeof many - 1, join, BB_HS_JOIN_MIN + sizeof many - 2) == BB_HS_NO_ROOM);
    CHECK(bb_hs_client_join(&c, 0, NULL, 0, many, sizeof many - 1, join, sizeof join) == (int)(BB_HS_JOIN_MIN + sizeof many - 1));
    bb_hs_client_wipe(&c);
}

static void test_password(void)
{
    char a[BB_ROOM_PASSWORD_SIZE], b[BB_ROOM_PASSWORD_SIZE];
    bb_room_password_generate(a);
    bb_room_password_generate(b);
    CHECK(strlen(a) == BB_ROOM_PASSWORD_SIZE - 1);
    CHECK(a[7] == '-' && a[15] == '-' && a[23] == '-');
    CHECK(strcmp(a, b) != 0);
    int ok = 1;
    for (size_t i = 0; i < strlen(a); i++)
        ok &= (a[i] == '-') == (i % 8 == 7) && strchr("0123456789abcdefghjkmnpqrstvwxyz-", a[i]) != NULL;
    CHECK(ok);
    // All 32 symbols appear over many passwords (no stuck bits).
    unsigned seen = 0;
    for (int k = 0; k < 200; k++) {
        bb_room_password_generate(b);
        for (size_t i = 0; b[i]; i++)
            if (b[i] != '-')
                seen |= 1u << (strchr("0123456789abcdefghjkmnpqrstvwxyz", b[i]) - "0123456789abcdefghjkmnpqrstvwxyz");
    }
    CHECK(seen == 0xffffffffu);
}

static void test_keypair(void)
{
    char dir[] = "/tmp/bb_keyXXXXXX", path[256], old[256], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/sub/key-alice", dir);
    snprintf(old, sizeof old, "%s/identity-alice", dir);
    struct bb_keypair k1, k2;
    int created = -1;
    CHECK(bb_keypair_load(path, &k1, &created, err, sizeof err) == 0 && created == 1);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(bb_keypair_load(path, &k2, &created, err, sizeof err) == 0 && created == 0);
    CHECK(memcmp(k1.pk, k2.pk, 32) == 0 && memcmp(k1.sk, k2.sk, 64) == 0);
    // The pair signs and verifies.
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, (const uint8_t *)"x", 1, k2.sk);
    CHECK(crypto_sign_verify_detached(sig, (const uint8_t *)"x", 1, k1.pk) == 0);
    // Others may read it: refused.
    chmod(path, 0644);
    CHECK(bb_keypair_load(path, &k2, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "other users") != NULL);
    chmod(path, 0600);
    // Garbage: refused, not overwritten.
    FILE *f = fopen(path, "w");
    fputs("bandbridge-ed25519-v1\nzz\n", f);
    fclose(f);
    CHECK(bb_keypair_load(path, &k2, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "does not hold") != NULL);
    unlink(path);
    // Migration: the old identity file is read, not changed, and returned.
    f = fopen(old, "w");
    fputs("00112233445566778899aabbccddeeff\n", f);
    fclose(f);
    uint8_t tok[BB_IDENTITY_SIZE];
    int have = -1;
    CHECK(bb_keypair_load_or_migrate(path, old, &k2, tok, &have, err, sizeof err) == 0);
    CHECK(have == 1 && tok[0] == 0x00 && tok[1] == 0x11 && tok[15] == 0xff);
    CHECK(memcmp(k1.pk, k2.pk, 32) != 0);   // a new pair, nothing from the token
    CHECK(access(path, F_OK) == 0 && access(old, F_OK) == 0);
    CHECK(bb_keypair_retire_old(old, err, sizeof err) == 0);
    CHECK(bb_keypair_load_or_migrate(path, old, &k1, tok, &have, err, sizeof err) == 0);
    CHECK(have == 0 && memcmp(k1.pk, k2.pk, 32) == 0);
    char moved[300];
    snprintf(moved, sizeof moved, "%s.migrated", old);
    unlink(moved);
    unlink(path);
    snprintf(moved, sizeof moved, "%s/sub", dir);
    rmdir(moved);
    rmdir(dir);
    bb_keypair_wipe(&k1);
    bb_keypair_wipe(&k2);
}

/// CPU time of this thread: the machine is shared, wall time would measure
/// the neighbours.
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// What a JOIN costs the hub and the musician (no assertion on time).
static void test_speed(void)
{
    struct sockaddr_in src = addr4("192.0.2.99", 9999);
    uint8_t hello[BB_HS_HELLO_SIZE], cookie[BB_HS_COOKIE_MSG_SIZE], join[1200], welcome[1200];
    struct bb_hs_join j;
    struct bb_hs_keys k;
    enum { ROUNDS = 200 };
    double hub_t = 0, cl_t = 0, t;
    int ok = 0;
    for (int i = 0; i < ROUNDS; i++) {
        t = cpu_s();
        bb_hs_client_hello(&alice, hello, sizeof hello);
        cl_t += cpu_s() - t;
        t = cpu_s();
        bb_hs_hub_on_hello(&hub, now, SA(src), hello, sizeof hello, cookie, sizeof cookie);
        hub_t += cpu_s() - t;
        t = cpu_s();
        bb_hs_client_on_cookie(&alice, cookie, sizeof cookie);  // K_room cached
        int jn = bb_hs_client_join(&alice, 0, JOIN_HDR, 20, FIELDS, sizeof FIELDS, join, sizeof join);
        cl_t += cpu_s() - t;
        t = cpu_s();
        bb_hs_hub_on_join(&hub, now, SA(src), JOIN_HDR, 20, join, (size_t)jn, &j);
        int wn = bb_hs_hub_welcome(&hub, &j, 0, WELCOME_HDR, 20, FIELDS, sizeof FIELDS, welcome, sizeof welcome, &k);
        hub_t += cpu_s() - t;
        t = cpu_s();
        ok += bb_hs_client_on_welcome(&alice, WELCOME_HDR, 20, welcome, (size_t)wn, join, sizeof join, &k) >= 0;
        cl_t += cpu_s() - t;
    }
    CHECK(ok == ROUNDS);
    printf("handshake CPU: hub %.0f us, musician %.0f us (K_room cached)\n",
           hub_t / ROUNDS * 1e6, cl_t / ROUNDS * 1e6);
    struct bb_room r;
    t = cpu_s();
    CHECK(bb_room_derive(&r, PASSWORD, alice.room.salt, alice.room.opslimit, alice.room.memlimit_kib) == 0);
    printf("Argon2id at %u passes, %u MiB: %.0f ms CPU\n", (unsigned)r.opslimit,
           (unsigned)(r.memlimit_kib / 1024), (cpu_s() - t) * 1e3);
    CHECK(memcmp(r.key, alice.room.key, 32) == 0);
}

int main(void)
{
    if (bb_crypto_init() < 0) {
        printf("sodium_init failed\n");
        return 1;
    }
    crypto_sign_keypair(alice_id.pk, alice_id.sk);
    crypto_sign_keypair(bob_id.pk, bob_id.sk);
    CHECK(bb_hs_hub_init(&hub, PASSWORD, NULL, 0, 0) == 0);
    CHECK(bb_hs_client_init(&alice, PASSWORD, &alice_id) == 0);
    test_full();
    test_cipher();
    test_wrong_password();
    test_cookie();
    test_replay_and_identity();
    test_client_policy();
    test_password();
    test_keypair();
    test_speed();
    bb_hs_client_wipe(&alice);
    bb_hs_hub_wipe(&hub);
    return check_report("test_handshake");
}
