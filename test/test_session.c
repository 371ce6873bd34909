// SPDX-License-Identifier: GPL-2.0-or-later
// test_session.c: the session layer's handshake datagrams and sealing
// (session.h, stream.h): a whole handshake through session.c, a WELCOME
// answering an earlier JOIN of the attempt, REJECTs (authenticated,
// cleartext, forged), sealed datagrams both ways with forgeries and
// replays, and the cleartext REJECT never longer than what it answers.
#include <arpa/inet.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "session.h"

static struct bb_hs_hub hub;
static struct bb_hs_client cli;
static struct bb_addr from;

static void setup(void)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&from.ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(40000);
    sin->sin_addr.s_addr = htonl(0x7F000001);
    from.len = sizeof *sin;
    uint8_t salt[BB_HS_SALT_SIZE] = {1, 2, 3};
    CHECK(bb_hs_hub_init(&hub, "sesame", salt, 0, 0) == 0);
    struct bb_keypair kp;
    crypto_sign_keypair(kp.pk, kp.sk);
    CHECK(bb_hs_client_init(&cli, "sesame", &kp) == 0);
}

static struct bb_join sample_join(void)
{
    struct bb_join j = {.rate = 48000, .period = 64, .channels = 2, .codec = 3, .kbps = 96,
                        .jitter = 0xFFFF, .flags = BB_JOIN_MONO_OK};
    snprintf(j.name, sizeof j.name, "alice");
    memset(j.identity, 0x5A, sizeof j.identity); // an old token to link
    return j;
}

/// HELLO -> COOKIE -> JOIN (twice: a retry) -> the hub opens the FIRST one
/// -> its WELCOME is taken. Returns the keys both sides hold.
static void test_handshake(struct bb_hs_keys *ck, struct bb_hs_keys *hk)
{
    uint8_t a[BB_MAX_SEALED], b[BB_MAX_SEALED], first[BB_MAX_SEALED];
    int n = bb_session_hello(&cli, a, sizeof a);
    CHECK(n == BB_WIRE_HEADER_SIZE + BB_HS_HELLO_SIZE && a[5] == BB_MSG_HELLO);
    int m = bb_session_cookie(&hub, 100, &from, a, (size_t)n, b, sizeof b);
    CHECK(m > 0 && m <= n && b[5] == BB_MSG_COOKIE);
    CHECK(bb_session_on_cookie(&cli, b, (size_t)m) == 0);
    struct bb_join j = sample_join(), got;
    int n1 = bb_session_join(&cli, first, sizeof first, &j);
    CHECK(n1 > 0 && first[5] == BB_MSG_JOIN);
    int n2 = bb_session_join(&cli, a, sizeof a, &j); // the retry
    CHECK(n2 == n1 && memcmp(a, first, (size_t)n1) != 0);
    struct bb_hs_join hj;
    CHECK(bb_session_open_join(&hub, 100, &from, first, (size_t)n1, &hj, &got) == 0);
    CHECK(strcmp(got.name, "alice") == 0 && got.channels == 2 && got.codec == 3 &&
          got.flags == BB_JOIN_MONO_OK && memcmp(got.identity, j.identity, 16) == 0);
    CHECK(memcmp(hj.identity, cli.id.pk, 32) == 0);
    // from another source the cookie does not hold
    struct bb_addr other = from;
    ((struct sockaddr_in *)&other.ss)->sin_port = htons(40001);
    struct bb_hs_join hx;
    CHECK(bb_session_open_join(&hub, 100, &other, first, (size_t)n1, &hx, &got) ==
          BB_HS_COOKIE_BAD);
    struct bb_welcome w = {.rate = 48000, .period = 64, .up_codec = 3, .up_frames = 120,
                           .down_codec = 3, .down_frames = 120, .down_channels = 2};
    snprintf(w.name, sizeof w.name, "alice");
    m = bb_session_welcome(&hub, &hj, 0, b, sizeof b, 0x1234501, &w, hk);
    CHECK(m > 0 && b[5] == BB_MSG_WELCOME);
    CHECK(bb_session_welcome(&hub, &hj, hj.timestamp, a, sizeof a, 1, &w, hk) == BB_HS_REPLAY);
    // a WELCOME with a byte changed does not open; the real one does,
    // although it answers the JOIN before the last one
    b[m - 1] ^= 1;
    struct bb_welcome wg;
    CHECK(bb_session_on_welcome(&cli, b, (size_t)m, &wg, ck) < 0);
    b[m - 1] ^= 1;
    CHECK(bb_session_on_welcome(&cli, b, (size_t)m, &wg, ck) == 0);
    CHECK(wg.up_frames == 120 && strcmp(wg.name, "alice") == 0);
    CHECK(memcmp(ck->c2h, hk->c2h, 32) == 0 && memcmp(ck->h2c, hk->h2c, 32) == 0);
    bb_hs_join_wipe(&hj);
}

static void test_rejects(void)
{
    uint8_t a[BB_MAX_SEALED], b[BB_MAX_SEALED];
    struct bb_reject r;
    int n = bb_session_hello(&cli, a, sizeof a);
    int m = bb_session_cookie(&hub, 100, &from, a, (size_t)n, b, sizeof b);
    CHECK(bb_session_on_cookie(&cli, b, (size_t)m) == 0);
    struct bb_join j = sample_join(), got;
    n = bb_session_join(&cli, a, sizeof a, &j);
    struct bb_hs_join hj;
    CHECK(bb_session_open_join(&hub, 100, &from, a, (size_t)n, &hj, &got) == 0);
    // cleartext: read, but not authenticated; cut to what it answers
    m = bb_session_reject(b, sizeof b, 40, BB_WIRE_VERSION, BB_REJECT_OTHER,
                          "wrong room password, and a long explanation of it");
    CHECK(m > 0 && m <= 40);
    CHECK(bb_session_on_reject(&cli, b, (size_t)m, &r) == 0 && r.code == BB_REJECT_OTHER);
    // an old join reads the version-1 header
    m = bb_session_reject(b, sizeof b, 87, 1, BB_REJECT_VERSION, "upgrade");
    CHECK(m > 0 && b[4] == 1);
    // authenticated
    m = bb_session_reject_auth(&hub, &hj, b, sizeof b, BB_REJECT_RATE, "rate");
    CHECK(m > 0 && (b[6] & BB_FLAG_AUTH));
    b[m - 1] ^= 1; // forged: flagged AUTH but does not open
    CHECK(bb_session_on_reject(&cli, b, (size_t)m, &r) < 0);
    b[m - 1] ^= 1;
    CHECK(bb_session_on_reject(&cli, b, (size_t)m, &r) == 1 && r.code == BB_REJECT_RATE &&
          strcmp(r.reason, "rate") == 0);
    CHECK(bb_session_reject_final(BB_REJECT_RATE) && !bb_session_reject_final(BB_REJECT_NAME_TAKEN));
    bb_hs_join_wipe(&hj);
}

static void test_sealed(const struct bb_hs_keys *ck, const struct bb_hs_keys *hk)
{
    static struct bb_stream c, h; // only the seal fields and session are used
    c.session = h.session = 0x1234501;
    CHECK(bb_stream_set_keys(&c, ck->cipher, ck->c2h, ck->h2c) == 0);
    CHECK(bb_stream_set_keys(&h, hk->cipher, hk->h2c, hk->c2h) == 0);
    uint8_t pkt[BB_MAX_SEALED], copy[BB_MAX_SEALED], *out;
    int n = bb_session_leave(&c, pkt, sizeof pkt, BB_LEAVE_QUIT, "bye");
    CHECK(n > BB_SEAL_OVERHEAD + BB_WIRE_HEADER_SIZE && (pkt[6] & BB_FLAG_SEALED));
    int clear = 0;
    for (int i = 0; i + 3 <= n; i++)
        clear |= memcmp(pkt + i, "bye", 3) == 0;
    CHECK(!clear); // encrypted
    memcpy(copy, pkt, (size_t)n);
    int k = bb_stream_unseal(&h, pkt, (size_t)n, &out);
    struct bb_leave l;
    CHECK(k > 0 && bb_wire_read_leave(out, (size_t)k, &l) == BB_WIRE_OK && l.code == BB_LEAVE_QUIT &&
          strcmp(l.reason, "bye") == 0);
    memcpy(pkt, copy, (size_t)n); // replayed
    CHECK(bb_stream_unseal(&h, pkt, (size_t)n, &out) == -2 && atomic_load(&h.replayed) == 1);
    // the hub's own direction does not open with the musician's key
    n = bb_session_leave_ack(&h, pkt, sizeof pkt, 7);
    memcpy(copy, pkt, (size_t)n);
    CHECK(bb_stream_unseal(&h, copy, (size_t)n, &out) < 0); // its counter 0 is taken, too
    CHECK(bb_stream_unseal(&c, pkt, (size_t)n, &out) == BB_WIRE_HEADER_SIZE);
    // a cleartext datagram with the session id counts as forged
    struct bb_header hd = {.type = BB_MSG_LEAVE, .session = c.session};
    struct bb_leave fl = {.code = BB_LEAVE_KICKED};
    snprintf(fl.reason, sizeof fl.reason, "x");
    n = bb_wire_write_leave(pkt, sizeof pkt, &hd, &fl);
    CHECK(bb_stream_unseal(&c, pkt, (size_t)n, &out) == -1 && atomic_load(&c.forged) == 1);
    // header changed (the session id): the AD fails
    n = bb_stream_ping(&c, pkt, BB_STREAM_REPLY_SIZE, 5);
    memcpy(copy, pkt, (size_t)n); // a failed open may wipe the body it decrypts in place
    copy[8] ^= 1;
    CHECK(bb_stream_unseal(&h, copy, (size_t)n, &out) == -1);
    CHECK(bb_stream_unseal(&h, pkt, (size_t)n, &out) > 0); // the window did not move
    // an OSC relay datagram of the largest size fits the sealed buffer
    static uint8_t osc[BB_OSC_PACKET_MAX];
    memcpy(osc, "/a\0\0,\0\0\0", 8);
    n = bb_session_osc(&c, pkt, sizeof pkt, 1, osc, sizeof osc);
    CHECK(n > 0 && (size_t)n <= BB_MAX_SEALED);
    CHECK(bb_stream_unseal(&h, pkt, (size_t)n, &out) > 0);
}

int main(void)
{
    if (bb_crypto_init() < 0)
        return 1;
    setup();
    struct bb_hs_keys ck, hk;
    test_handshake(&ck, &hk);
    test_sealed(&ck, &hk);
    test_rejects();
    return check_report("test_session");
}
