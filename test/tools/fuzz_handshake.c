// SPDX-License-Identifier: GPL-2.0-or-later
// fuzz_handshake.c: fuzz harness for the handshake parsers and bb_open
// (test/tools/fuzz.h: built into make check and by make fuzz).
//
// The first input byte picks the parser, the rest is the message body:
//   0 hub:    HELLO   -- the COOKIE must never be larger than the HELLO
//   1 hub:    JOIN    -- must never be accepted (no valid cookie)
//   2 hub:    JOIN with a valid cookie and e_c in front of the input, so the
//             fuzzer reaches the AEAD -- must never be accepted
//   3 client: COOKIE  (a HELLO outstanding) -- must never be accepted
//   4 client: WELCOME (a JOIN outstanding)  -- must never be accepted
//   5 client: REJECT  (a JOIN outstanding)  -- must never be authenticated
//   6 seal:   bb_open on a session          -- must never open
// Set-up (once per process) runs Argon2id twice at 64 MiB.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "handshake.h"
#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bb_hs_hub hub;
static struct bb_hs_client hello_sent, join_sent; // templates, copied per input
static struct sockaddr_in src;
static uint8_t good_join[BB_HS_JOIN_MIN];
static const uint64_t NOW = 1000;
static const uint8_t HDR[20] = "BBRG\x01\x01";

/// Stops the fuzzer on a broken invariant (libFuzzer reports the input).
static void must(int cond)
{
    if (!cond)
        abort();
}

static void setup(void)
{
    must(bb_crypto_init() == 0);
    must(bb_hs_hub_init(&hub, "fuzz room", NULL, 0, 0) == 0);
    struct bb_keypair id;
    crypto_sign_keypair(id.pk, id.sk);
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_port = htons(4000);
    src.sin_addr.s_addr = htonl(0x7f000001);
    struct bb_hs_client c;
    must(bb_hs_client_init(&c, "fuzz room", &id) == 0);
    uint8_t hello[BB_HS_HELLO_SIZE], cookie[BB_HS_COOKIE_MSG_SIZE];
    must(bb_hs_client_hello(&c, hello, sizeof hello) == BB_HS_HELLO_SIZE);
    hello_sent = c;
    int n = bb_hs_hub_on_hello(&hub, NOW, (const struct sockaddr *)&src, sizeof src, hello,
                               sizeof hello, cookie, sizeof cookie);
    must(n == BB_HS_COOKIE_MSG_SIZE && bb_hs_client_on_cookie(&c, cookie, (size_t)n) == 0);
    n = bb_hs_client_join(&c, 0, HDR, sizeof HDR, NULL, 0, good_join, sizeof good_join);
    must(n == BB_HS_JOIN_MIN);
    join_sent = c;
}

static void hub_side(unsigned sel, const uint8_t *data, size_t size)
{
    static uint8_t buf[2 * BB_MAX_DATAGRAM];
    const struct sockaddr *sa = (const struct sockaddr *)&src;
    struct bb_hs_join j;
    if (sel == 0) {
        int n = bb_hs_hub_on_hello(&hub, NOW, sa, sizeof src, data, size, buf, sizeof buf);
        must(n < 0 || (n == BB_HS_COOKIE_MSG_SIZE && (size_t)n <= size));
    } else if (sel == 1) {
        must(bb_hs_hub_on_join(&hub, NOW, sa, sizeof src, HDR, sizeof HDR, data, size, &j) < 0);
        must(!j.ok);
    } else {
        if (size > sizeof buf - 48)
            size = sizeof buf - 48;
        memcpy(buf, good_join, 48); // cookie and e_c: past the cookie check
        memcpy(buf + 48, data, size);
        int st = bb_hs_hub_on_join(&hub, NOW, sa, sizeof src, HDR, sizeof HDR, buf, 48 + size, &j);
        must(st < 0 && st != BB_HS_COOKIE_BAD && !j.ok);
    }
}

static void client_side(unsigned sel, const uint8_t *data, size_t size)
{
    static struct bb_hs_client c;
    static uint8_t out[2 * BB_MAX_DATAGRAM];
    struct bb_hs_keys k;
    if (sel == 3) {
        c = hello_sent;
        must(bb_hs_client_on_cookie(&c, data, size) < 0 && !c.have_cookie);
    } else if (sel == 4) {
        c = join_sent;
        must(bb_hs_client_on_welcome(&c, HDR, sizeof HDR, data, size, out, sizeof out, &k) < 0);
        must(c.join_sent);
    } else {
        c = join_sent;
        must(bb_hs_client_on_reject(&c, HDR, sizeof HDR, data, size, out, sizeof out) < 0);
        must(c.join_sent);
    }
}

static void seal_side(const uint8_t *data, size_t size)
{
    static struct bb_seal_rx rx, rx_aes; // both session ciphers (rx_aes: where AES-NI is)
    static int ready;
    static uint8_t out[2 * BB_MAX_DATAGRAM];
    if (!ready) {
        uint8_t key[BB_SEAL_KEY_SIZE] = { 7 };
        bb_seal_rx_init(&rx, BB_SEAL_CHACHA20POLY1305, key);
        bb_seal_rx_init(&rx_aes, BB_SEAL_AES256GCM, key);
        ready = 1;
    }
    must(bb_open(&rx, data, 20, size, out, sizeof out, NULL) < 0);
    must(bb_open(&rx, data, 0, size, out, sizeof out, NULL) < 0);
    must(bb_open(&rx_aes, data, 20, size, out, sizeof out, NULL) < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 7;
    data++;
    size--;
    if (sel <= 2)
        hub_side(sel, data, size);
    else if (sel <= 5)
        client_side(sel, data, size);
    else
        seal_side(data, size);
    return 0;
}

// One seed per parser: its selector byte and a body of the size it takes.
size_t bb_fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
    static const size_t body[] = {128, BB_HS_JOIN_MIN, BB_HS_JOIN_MIN, 92, 64, 64, 64};
    if (i >= sizeof body / sizeof body[0] || body[i] + 1 > size)
        return 0;
    buf[0] = (uint8_t)i;
    memset(buf + 1, 0, body[i]);
    return body[i] + 1;
}
