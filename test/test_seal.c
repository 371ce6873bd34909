// SPDX-License-Identifier: GPL-2.0-or-later
// test_seal.c: packet protection (seal.h): round trip, tampering, replay window.
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "check.h"
#include "seal.h"

#define HDR 20

static uint8_t key[BB_SEAL_KEY_SIZE];
static int cipher; ///< the cipher under test: every test runs with each one this machine has

static void pair(struct bb_seal_tx *tx, struct bb_seal_rx *rx)
{
    CHECK(bb_seal_tx_init(tx, cipher, key) == 0);
    CHECK(bb_seal_rx_init(rx, cipher, key) == 0);
}

/// Seals a small datagram whose body is the counter's low byte repeated.
static int seal_one(struct bb_seal_tx *tx, uint8_t *out, size_t cap)
{
    uint8_t hdr[HDR], body[40];
    memcpy(hdr, "BBRG", 4);
    memset(hdr + 4, 0x11, HDR - 4);
    memset(body, (int)(atomic_load(&tx->next) & 0xff), sizeof body);
    return bb_seal(tx, hdr, HDR, body, sizeof body, out, cap);
}

static int open_one(struct bb_seal_rx *rx, const uint8_t *pkt, int len)
{
    uint8_t out[64];
    return bb_open(rx, pkt, HDR, (size_t)len, out, sizeof out, NULL);
}

static void test_round_trip(void)
{
    struct bb_seal_tx tx;
    struct bb_seal_rx rx;
    pair(&tx, &rx);
    uint8_t hdr[HDR] = "BBRG\x01\x04", body[600], pkt[700], out[700];
    randombytes_buf(body, sizeof body);
    int n = bb_seal(&tx, hdr, HDR, body, sizeof body, pkt, sizeof pkt);
    CHECK(n == HDR + 600 + BB_SEAL_OVERHEAD);
    CHECK(memcmp(pkt, hdr, HDR) == 0);                 // header stays in clear
    CHECK(memcmp(pkt + HDR + 8, body, 600) != 0);      // body does not
    uint64_t ctr = 99;
    int m = bb_open(&rx, pkt, HDR, (size_t)n, out, sizeof out, &ctr);
    CHECK(m == 600);
    CHECK(ctr == 0);
    CHECK(memcmp(out, body, 600) == 0);
    // The same datagram again: a replay.
    CHECK(bb_open(&rx, pkt, HDR, (size_t)n, out, sizeof out, NULL) == BB_SEAL_REPLAY);

    // In place both ways.
    memcpy(pkt + HDR + 8, body, 600);
    n = bb_seal(&tx, hdr, HDR, pkt + HDR + 8, 600, pkt, sizeof pkt);
    CHECK(n == HDR + 600 + BB_SEAL_OVERHEAD);
    m = bb_open(&rx, pkt, HDR, (size_t)n, pkt + HDR + 8, 600, &ctr);
    CHECK(m == 600 && ctr == 1);
    CHECK(memcmp(pkt + HDR + 8, body, 600) == 0);

    // Empty body (LEAVE_ACK-like) and buffer limits.
    n = bb_seal(&tx, hdr, HDR, NULL, 0, pkt, sizeof pkt);
    CHECK(n == HDR + BB_SEAL_OVERHEAD);
    CHECK(bb_open(&rx, pkt, HDR, (size_t)n, NULL, 0, NULL) == 0);
    CHECK(bb_seal(&tx, hdr, HDR, body, 600, pkt, HDR + 600 + BB_SEAL_OVERHEAD - 1) == BB_SEAL_NO_ROOM);
    n = bb_seal(&tx, hdr, HDR, body, 600, pkt, sizeof pkt);
    CHECK(bb_open(&rx, pkt, HDR, (size_t)n, out, 599, NULL) == BB_SEAL_NO_ROOM);
    CHECK(bb_open(&rx, pkt, HDR, (size_t)n, out, 600, NULL) == 600); // not marked by NO_ROOM
    CHECK(bb_open(&rx, pkt, HDR, HDR + BB_SEAL_OVERHEAD - 1, out, sizeof out, NULL) == BB_SEAL_MALFORMED);
    CHECK(bb_open(&rx, pkt, HDR, 3, out, sizeof out, NULL) == BB_SEAL_MALFORMED);

    // Another key does not open it.
    struct bb_seal_rx other;
    uint8_t k2[BB_SEAL_KEY_SIZE];
    randombytes_buf(k2, sizeof k2);
    bb_seal_rx_init(&other, cipher, k2);
    n = bb_seal(&tx, hdr, HDR, body, 600, pkt, sizeof pkt);
    CHECK(bb_open(&other, pkt, HDR, (size_t)n, out, sizeof out, NULL) == BB_SEAL_BAD_TAG);
    CHECK(bb_open(&rx, pkt, HDR, (size_t)n, out, sizeof out, NULL) == 600);
}

static void test_tamper(void)
{
    struct bb_seal_tx tx;
    struct bb_seal_rx rx;
    pair(&tx, &rx);
    uint8_t pkt[128], copy[128];
    int n = seal_one(&tx, pkt, sizeof pkt);
    CHECK(n == HDR + 40 + BB_SEAL_OVERHEAD);
    // Flip every bit position class: header, counter, ciphertext, tag.
    size_t where[] = { 0, 9, HDR - 1, HDR, HDR + 7, HDR + 8, HDR + 30, (size_t)n - 16, (size_t)n - 1 };
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        memcpy(copy, pkt, (size_t)n);
        copy[where[i]] ^= 0x01;
        int st = open_one(&rx, copy, n);
        // A changed counter is a different nonce: the tag fails (or, for a
        // counter past the limit, the datagram is malformed).
        CHECK(st == BB_SEAL_BAD_TAG);
    }
    // Truncated by one byte: the tag is taken from other bytes and fails.
    CHECK(open_one(&rx, pkt, n - 1) == BB_SEAL_BAD_TAG);
    // Nothing of that moved the window: the genuine one still opens, once.
    CHECK(open_one(&rx, pkt, n) == 40);
    CHECK(open_one(&rx, pkt, n) == BB_SEAL_REPLAY);
    // A forged counter past the limit is refused before any crypto.
    memcpy(copy, pkt, (size_t)n);
    memset(copy + HDR, 0xff, 8);
    CHECK(open_one(&rx, copy, n) == BB_SEAL_MALFORMED);
}

static void test_window(uint64_t start)
{
    struct bb_seal_tx tx;
    struct bb_seal_rx rx;
    pair(&tx, &rx);
    atomic_store(&tx.next, start);
    enum { N = 3000 };
    static uint8_t pkts[N][96];
    int len = 0;
    for (int i = 0; i < N; i++)
        len = seal_one(&tx, pkts[i], sizeof pkts[i]);
    CHECK(len == HDR + 40 + BB_SEAL_OVERHEAD);
    // Out of order inside the window: 10, then 5, 7, 6 -- each accepted once.
    CHECK(open_one(&rx, pkts[10], len) == 40);
    CHECK(open_one(&rx, pkts[5], len) == 40);
    CHECK(open_one(&rx, pkts[7], len) == 40);
    CHECK(open_one(&rx, pkts[6], len) == 40);
    CHECK(open_one(&rx, pkts[7], len) == BB_SEAL_REPLAY);
    CHECK(open_one(&rx, pkts[10], len) == BB_SEAL_REPLAY);
    // Jump ahead to 10 + BB_SEAL_WINDOW: 10 is exactly at the window's edge.
    int top = 10 + BB_SEAL_WINDOW;
    CHECK(open_one(&rx, pkts[top], len) == 40);
    CHECK(open_one(&rx, pkts[9], len) == BB_SEAL_TOO_OLD);
    CHECK(open_one(&rx, pkts[10], len) == BB_SEAL_REPLAY);  // still remembered
    CHECK(open_one(&rx, pkts[11], len) == 40);              // never seen, in window
    CHECK(open_one(&rx, pkts[11], len) == BB_SEAL_REPLAY);
    // One more step forward pushes 10 and 11 out.
    CHECK(open_one(&rx, pkts[top + 1], len) == 40);
    CHECK(open_one(&rx, pkts[10], len) == BB_SEAL_TOO_OLD);
    CHECK(open_one(&rx, pkts[12], len) == 40);
    // Slide far ahead (more than the whole ring): old bits must be gone and
    // everything in the new window must be fresh.
    CHECK(open_one(&rx, pkts[N - 1], len) == 40);
    int accepted = 0, refused = 0;
    for (int i = N - 2; i >= N - 1 - BB_SEAL_WINDOW && i >= 0; i--)
        if (open_one(&rx, pkts[i], len) == 40)
            accepted++;
        else
            refused++;
    // Of those BB_SEAL_WINDOW, only top and top + 1 were seen before.
    CHECK(accepted == BB_SEAL_WINDOW - 2);
    CHECK(refused == 2);
    CHECK(open_one(&rx, pkts[N - 2 - BB_SEAL_WINDOW], len) == BB_SEAL_TOO_OLD);
    // Sequential counters, every one accepted once (the common case).
    struct bb_seal_rx rx2;
    bb_seal_rx_init(&rx2, cipher, key);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += open_one(&rx2, pkts[i], len) == 40;
    CHECK(ok == N);
    ok = 0;
    for (int i = 0; i < N; i++)
        ok += open_one(&rx2, pkts[i], len) < 0;
    CHECK(ok == N);
}

static void test_limit(void)
{
    struct bb_seal_tx tx;
    struct bb_seal_rx rx;
    pair(&tx, &rx);
    atomic_store(&tx.next, BB_SEAL_COUNTER_LIMIT - 1);
    uint8_t pkt[128];
    int n = seal_one(&tx, pkt, sizeof pkt);
    CHECK(n > 0);
    CHECK(open_one(&rx, pkt, n) == 40);
    CHECK(seal_one(&tx, pkt, sizeof pkt) == BB_SEAL_REKEY);
    CHECK(seal_one(&tx, pkt, sizeof pkt) == BB_SEAL_REKEY);
    CHECK(atomic_load(&tx.next) == BB_SEAL_COUNTER_LIMIT); // stuck, never wraps
}

/// CPU time of this thread: the machine is shared, wall time would measure
/// the neighbours.
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_speed(void)
{
    struct bb_seal_tx tx;
    struct bb_seal_rx rx;
    pair(&tx, &rx);
    uint8_t hdr[HDR] = "BBRG", body[600], pkt[700], out[700];
    randombytes_buf(body, sizeof body);
    enum { ROUNDS = 20000 };
    int ok = 0;
    double t0 = now_s();
    for (int i = 0; i < ROUNDS; i++) {
        int n = bb_seal(&tx, hdr, HDR, body, sizeof body, pkt, sizeof pkt);
        ok += bb_open(&rx, pkt, HDR, (size_t)n, out, sizeof out, NULL) == 600;
    }
    double dt = now_s() - t0;
    CHECK(ok == ROUNDS);
    printf("%s: seal+open of a 600-byte body: %.0f ns CPU per pair\n",
           bb_seal_cipher_name(cipher), dt / ROUNDS * 1e9);
}

/// The two ciphers never open each other's datagrams (same key), and a
/// cipher this machine cannot run (or no cipher) seals nothing.
static void test_ciphers(void)
{
    struct bb_seal_tx tx;
    struct bb_seal_rx rx;
    uint8_t pkt[128];
    CHECK(bb_seal_ciphers() & BB_SEAL_CHACHA20POLY1305);
    CHECK(strcmp(bb_seal_cipher_name(BB_SEAL_AES256GCM), "aes-256-gcm") == 0);
    CHECK(bb_seal_tx_init(&tx, 0, key) < 0 && bb_seal_rx_init(&rx, 7, key) < 0);
    CHECK(seal_one(&tx, pkt, sizeof pkt) == BB_SEAL_MALFORMED);
    CHECK(bb_open(&rx, pkt, HDR, 64, pkt, sizeof pkt, NULL) == BB_SEAL_MALFORMED);
    if (!(bb_seal_ciphers() & BB_SEAL_AES256GCM)) {
        CHECK(bb_seal_tx_init(&tx, BB_SEAL_AES256GCM, key) < 0);
        printf("no AES-NI here: AES-256-GCM not tested\n");
        return;
    }
    CHECK(bb_seal_tx_init(&tx, BB_SEAL_AES256GCM, key) == 0);
    CHECK(bb_seal_rx_init(&rx, BB_SEAL_CHACHA20POLY1305, key) == 0);
    int n = seal_one(&tx, pkt, sizeof pkt);
    CHECK(n == HDR + 40 + BB_SEAL_OVERHEAD && open_one(&rx, pkt, n) == BB_SEAL_BAD_TAG);
    CHECK(bb_seal_tx_init(&tx, BB_SEAL_CHACHA20POLY1305, key) == 0);
    CHECK(bb_seal_rx_init(&rx, BB_SEAL_AES256GCM, key) == 0);
    n = seal_one(&tx, pkt, sizeof pkt);
    CHECK(open_one(&rx, pkt, n) == BB_SEAL_BAD_TAG);
    CHECK(bb_seal_tx_init(&tx, BB_SEAL_AES256GCM, key) == 0);
    n = seal_one(&tx, pkt, sizeof pkt);
    CHECK(open_one(&rx, pkt, n) == 40);
    bb_seal_tx_wipe(&tx);
    bb_seal_rx_wipe(&rx);
    CHECK(sodium_is_zero((const unsigned char *)&tx.aes, sizeof tx.aes));
}

int main(void)
{
    if (bb_crypto_init() < 0) {
        printf("sodium_init failed\n");
        return 1;
    }
    randombytes_buf(key, sizeof key);
    test_ciphers();
    for (cipher = 1; cipher <= BB_SEAL_AES256GCM; cipher <<= 1) {
        if (!(bb_seal_ciphers() & (unsigned)cipher))
            continue;
        test_round_trip();
        test_tamper();
        test_window(0);
        test_window(((uint64_t)1 << 32) - 1500); // the window slides across 2^32
        test_window(((uint64_t)1 << 32) - 10);
        test_limit();
        test_speed();
    }
    return check_report("test_seal");
}
