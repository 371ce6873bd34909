// SPDX-License-Identifier: GPL-2.0-or-later
// test_wire.c: unit tests of the datagram format (src/wire.c): layout, round trips, hostile input.
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"

enum { BUF = 1500 };

/* ---- sample messages ---------------------------------------------------- */

static struct bb_header hdr(uint8_t type)
{
    return (struct bb_header){ .type = type, .session = 0xDEADBEEF, .seq = 41, .ts = 123456 };
}

static struct bb_join sample_join(void)
{
    struct bb_join j = { 0 };
    for (int i = 0; i < BB_IDENTITY_SIZE; i++)
        j.identity[i] = (uint8_t)(0xA0 + i);
    strcpy(j.name, "alice");
    j.rate = 48000;
    j.period = 128;
    j.channels = 2;
    j.codec = BB_CODEC_OPUS;
    j.kbps = 96;
    j.jitter = 0xFFFF;
    return j;
}

static struct bb_welcome sample_welcome(void)
{
    struct bb_welcome w = { 0 };
    w.rate = 48000;
    w.period = 256;
    w.up_codec = BB_CODEC_OPUS;
    w.up_frames = 64;
    w.down_codec = BB_CODEC_PCM24;
    w.down_frames = 32;
    w.down_channels = 2;
    strcpy(w.name, "alice_2");
    w.restored = 1;
    return w;
}

static int join_eq(const struct bb_join *a, const struct bb_join *b)
{
    return memcmp(a->identity, b->identity, BB_IDENTITY_SIZE) == 0 && strcmp(a->name, b->name) == 0 &&
           a->rate == b->rate && a->period == b->period && a->channels == b->channels &&
           a->codec == b->codec && a->kbps == b->kbps && a->jitter == b->jitter &&
           a->down_codec == b->down_codec && a->flags == b->flags;
}

static int welcome_eq(const struct bb_welcome *a, const struct bb_welcome *b)
{
    return a->rate == b->rate && a->period == b->period && a->up_codec == b->up_codec &&
           a->up_frames == b->up_frames && a->down_codec == b->down_codec &&
           a->down_frames == b->down_frames && a->down_channels == b->down_channels &&
           strcmp(a->name, b->name) == 0 && a->restored == b->restored;
}

static int header_eq(const struct bb_header *a, const struct bb_header *b)
{
    return a->version == b->version && a->type == b->type && a->flags == b->flags &&
           a->session == b->session && a->seq == b->seq && a->ts == b->ts;
}

/// Bytes per sample of a PCM codec, 0 for Opus.
static size_t pcm_bytes(uint8_t codec)
{
    switch (codec) {
    case BB_CODEC_PCM16: return 2;
    case BB_CODEC_PCM24: return 3;
    case BB_CODEC_FLOAT: return 4;
    default: return 0;
    }
}

/// Writes a well-formed AUDIO datagram; Opus channel packets get 3 + c bytes.
static int make_audio(uint8_t *buf, size_t size, uint8_t codec, uint8_t channels, uint16_t frames)
{
    struct bb_header h = hdr(BB_MSG_AUDIO);
    int n = bb_wire_write_audio_head(buf, size, &h, codec, channels, frames);
    if (n < 0)
        return n;
    size_t pos = (size_t)n;
    size_t bps = pcm_bytes(codec);
    if (bps) {
        size_t len = (size_t)frames * channels * bps;
        if (pos + len > size)
            return BB_WIRE_NO_ROOM;
        for (size_t i = 0; i < len; i++)
            buf[pos + i] = (uint8_t)(i * 7 + 1);
        pos += len;
    } else {
        for (unsigned c = 0; c < channels; c++) {
            size_t plen = 3 + c;
            if (pos + 2 + plen > size)
                return BB_WIRE_NO_ROOM;
            buf[pos++] = (uint8_t)plen;
            buf[pos++] = 0;
            for (size_t i = 0; i < plen; i++)
                buf[pos++] = (uint8_t)(0x40 + c);
        }
    }
    return (int)pos;
}

/// An OSC message as liblo serialises it: /mix/me/ch/bob/gain ,f -6.0
static const uint8_t osc_gain[] = {
    '/', 'm', 'i', 'x', '/', 'm', 'e', '/', 'c', 'h', '/', 'b', 'o', 'b', '/', 'g',
    'a', 'i', 'n', 0, ',', 'f', 0, 0, 0xC0, 0xC0, 0x00, 0x00,
};

/// An OSC bundle (immediate) holding /clients with no arguments.
static const uint8_t osc_bundle[] = {
    '#', 'b', 'u', 'n', 'd', 'l', 'e', 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0, 0, 0, 12, '/', 'c', 'l', 'i', 'e', 'n', 't', 's', ',', 0, 0, 0,
};

/* ---- calling every reader ----------------------------------------------- */

enum reader { R_JOIN, R_WELCOME, R_REJECT, R_LEAVE, R_PING, R_AUDIO, R_OSC, R_COUNT };

union any_msg {
    struct bb_join    join;
    struct bb_welcome welcome;
    struct bb_reject  reject;
    struct bb_leave   leave;
    struct bb_ping    ping;
    struct bb_audio   audio;
    struct bb_osc     osc;
};

static int call_reader(enum reader r, const uint8_t *buf, size_t len, union any_msg *m)
{
    switch (r) {
    case R_JOIN: return bb_wire_read_join(buf, len, &m->join);
    case R_WELCOME: return bb_wire_read_welcome(buf, len, &m->welcome);
    case R_REJECT: return bb_wire_read_reject(buf, len, &m->reject);
    case R_LEAVE: return bb_wire_read_leave(buf, len, &m->leave);
    case R_PING: return bb_wire_read_ping(buf, len, &m->ping);
    case R_AUDIO: return bb_wire_read_audio(buf, len, &m->audio);
    case R_OSC: return bb_wire_read_osc(buf, len, &m->osc);
    default: return 99;
    }
}

static const char *reader_name(enum reader r)
{
    static const char *names[R_COUNT] = { "join", "welcome", "reject", "leave", "ping", "audio", "osc" };
    return r < R_COUNT ? names[r] : "?";
}

/// One valid datagram of each kind, with the reader that accepts it
/// (R_COUNT: header-only, no reader).
struct sample {
    const char *what;
    enum reader reader;
    uint8_t     buf[BUF];
    int         len;
};

static struct sample samples[32];
static int n_samples;

static void add_sample(const char *what, enum reader r, const uint8_t *buf, int len)
{
    if (len <= 0 || n_samples >= (int)BB_ARRAY_LEN(samples)) {
        printf("FAIL: cannot build sample %s (%d)\n", what, len);
        check_failed++;
        return;
    }
    struct sample *s = &samples[n_samples++];
    s->what = what;
    s->reader = r;
    memcpy(s->buf, buf, (size_t)len);
    s->len = len;
}

static void build_samples(void)
{
    uint8_t b[BUF] = { 0 };
    struct bb_header h;

    h = hdr(BB_MSG_JOIN);
    h.session = 0;
    struct bb_join j = sample_join();
    add_sample("join", R_JOIN, b, bb_wire_write_join(b, sizeof b, &h, &j));
    strcpy(j.name, "x");
    j.channels = 8;
    j.codec = BB_CODEC_PCM16;
    add_sample("join-short-name", R_JOIN, b, bb_wire_write_join(b, sizeof b, &h, &j));

    h = hdr(BB_MSG_WELCOME);
    struct bb_welcome w = sample_welcome();
    add_sample("welcome", R_WELCOME, b, bb_wire_write_welcome(b, sizeof b, &h, &w));

    h = hdr(BB_MSG_REJECT);
    struct bb_reject rj = { .code = BB_REJECT_FULL };
    strcpy(rj.reason, "the room is full (8 of 8)");
    add_sample("reject", R_REJECT, b, bb_wire_write_reject(b, sizeof b, &h, &rj));
    rj.reason[0] = '\0';
    add_sample("reject-empty", R_REJECT, b, bb_wire_write_reject(b, sizeof b, &h, &rj));

    h = hdr(BB_MSG_LEAVE);
    struct bb_leave lv = { .code = BB_LEAVE_SHUTDOWN };
    strcpy(lv.reason, "hub stopping");
    add_sample("leave", R_LEAVE, b, bb_wire_write_leave(b, sizeof b, &h, &lv));

    struct bb_ping pg = { .t_ns = 0x0102030405060708ull, .jitter_frames = 512, .lost = 3 };
    h = hdr(BB_MSG_PING);
    add_sample("ping", R_PING, b, bb_wire_write_ping(b, sizeof b, &h, &pg));
    h = hdr(BB_MSG_PONG);
    add_sample("pong", R_PING, b, bb_wire_write_ping(b, sizeof b, &h, &pg));

    h = hdr(BB_MSG_LEAVE_ACK);
    add_sample("leave-ack", R_COUNT, b, bb_wire_write_empty(b, sizeof b, &h));

    add_sample("audio-pcm16", R_AUDIO, b, make_audio(b, sizeof b, BB_CODEC_PCM16, 2, 64));
    add_sample("audio-pcm24", R_AUDIO, b, make_audio(b, sizeof b, BB_CODEC_PCM24, 1, 32));
    add_sample("audio-float", R_AUDIO, b, make_audio(b, sizeof b, BB_CODEC_FLOAT, 2, 16));
    add_sample("audio-opus", R_AUDIO, b, make_audio(b, sizeof b, BB_CODEC_OPUS, 2, 64));
    add_sample("audio-opus-std", R_AUDIO, b, make_audio(b, sizeof b, BB_CODEC_OPUS_STD, 8, 120));

    h = hdr(BB_MSG_OSC);
    add_sample("osc", R_OSC, b, bb_wire_write_osc(b, sizeof b, &h, 0, osc_gain, sizeof osc_gain));
    add_sample("osc-bundle", R_OSC, b,
               bb_wire_write_osc(b, sizeof b, &h, 15, osc_bundle, sizeof osc_bundle));
}

/* ---- tests -------------------------------------------------------------- */

static void test_header_layout(void)
{
    struct bb_header h = { .version = 77, .type = BB_MSG_LEAVE_ACK, .flags = 0,
                           .session = 0x11223344, .seq = 0x55667788, .ts = 0x99AABBCC };
    static const uint8_t want[BB_WIRE_HEADER_SIZE] = {
        'B', 'B', 'R', 'G',     // magic
        2,                      // version (the writer's, not h.version)
        8,                      // type LEAVE_ACK
        0x00, 0x00,             // flags
        0x44, 0x33, 0x22, 0x11, // session
        0x88, 0x77, 0x66, 0x55, // seq
        0xCC, 0xBB, 0xAA, 0x99, // ts
    };
    uint8_t b[64];
    memset(b, 0xEE, sizeof b);
    int n = bb_wire_write_empty(b, sizeof b, &h);
    CHECK(n == BB_WIRE_HEADER_SIZE);
    CHECK(memcmp(b, want, sizeof want) == 0);
    CHECK(b[BB_WIRE_HEADER_SIZE] == 0xEE); // nothing written past the end

    struct bb_header got;
    CHECK(bb_wire_parse_header(want, sizeof want, &got) == BB_WIRE_OK);
    h.version = BB_WIRE_VERSION;
    CHECK(header_eq(&got, &h));

    // the header alone, for the handshake messages and sealed datagrams
    struct bb_header hh = { .type = BB_MSG_COOKIE, .flags = BB_FLAG_AUTH | BB_FLAG_SEALED,
                            .session = 5 };
    memset(b, 0xEE, sizeof b);
    CHECK(bb_wire_write_header(b, sizeof b, &hh) == BB_WIRE_HEADER_SIZE);
    CHECK(b[4] == BB_WIRE_VERSION && b[5] == BB_MSG_COOKIE && b[6] == 3 && b[7] == 0);
    CHECK(b[BB_WIRE_HEADER_SIZE] == 0xEE);
    CHECK(bb_wire_parse_header(b, BB_WIRE_HEADER_SIZE, &got) == BB_WIRE_OK &&
          got.type == BB_MSG_COOKIE && got.flags == 3 && got.session == 5);
    hh.type = BB_MSG_HELLO;
    CHECK(bb_wire_write_header(b, BB_WIRE_HEADER_SIZE - 1, &hh) == BB_WIRE_NO_ROOM);
    hh.type = BB_MSG_LAST + 1;
    CHECK(bb_wire_write_header(b, sizeof b, &hh) == BB_WIRE_TYPE_BAD);

    // flags are passed through both ways
    h.flags = 0xA55A;
    CHECK(bb_wire_write_empty(b, sizeof b, &h) == BB_WIRE_HEADER_SIZE);
    CHECK(b[6] == 0x5A && b[7] == 0xA5);
    CHECK(bb_wire_parse_header(b, BB_WIRE_HEADER_SIZE, &got) == BB_WIRE_OK && got.flags == 0xA55A);
}

static void test_join_layout(void)
{
    static const uint8_t want[] = {
        // header
        'B', 'B', 'R', 'G', 2, 1, 0, 0,
        0x00, 0x00, 0x00, 0x00, // session 0
        0x04, 0x03, 0x02, 0x01, // seq 0x01020304
        0x0D, 0x0C, 0x0B, 0x0A, // ts 0x0A0B0C0D
        // identity
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
        0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF,
        // name
        3, 'b', 'o', 'b',
        0x44, 0xAC, 0x00, 0x00, // rate 44100
        0x00, 0x01,             // period 256
        0x04,                   // channels
        0x02,                   // codec pcm24
        0x80, 0x00,             // kbps 128
        0x34, 0x12,             // jitter 0x1234
        // reserved
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    struct bb_header h = { .type = BB_MSG_JOIN, .seq = 0x01020304, .ts = 0x0A0B0C0D };
    struct bb_join j = { .rate = 44100, .period = 256, .channels = 4, .codec = BB_CODEC_PCM24,
                         .kbps = 128, .jitter = 0x1234 };
    for (int i = 0; i < BB_IDENTITY_SIZE; i++)
        j.identity[i] = (uint8_t)(i * 0x11);
    strcpy(j.name, "bob");

    uint8_t b[BUF];
    int n = bb_wire_write_join(b, sizeof b, &h, &j);
    CHECK(n == (int)sizeof want);
    CHECK(n == 20 + 16 + 4 + 12 + 32);
    CHECK(n > 0 && memcmp(b, want, sizeof want) == 0);

    struct bb_join got;
    CHECK(bb_wire_read_join(want, sizeof want, &got) == BB_WIRE_OK);
    CHECK(join_eq(&got, &j));

    // readers ignore whatever trails the reserved bytes, and the reserved bytes
    uint8_t longer[sizeof want + 40];
    memcpy(longer, want, sizeof want);
    memset(longer + sizeof want - 32, 0x5C, 32 + 40);
    memset(&got, 0, sizeof got);
    CHECK(bb_wire_read_join(longer, sizeof longer, &got) == BB_WIRE_OK);
    // (the first two trailing bytes are down_codec, 0x5C no codec: as codec,
    // and flags, whose unknown bits the hub ignores)
    CHECK(got.down_codec == 0 && got.flags == 0x5C);
    got.flags = 0;
    CHECK(join_eq(&got, &j));

    // the optional down codec: one byte after the reserved ones
    struct bb_join d = j;
    d.down_codec = BB_CODEC_PCM16;
    uint8_t dbuf[256];
    int dn = bb_wire_write_join(dbuf, sizeof dbuf, &h, &d);
    CHECK(dn == (int)sizeof want + 1 && memcmp(dbuf, want, sizeof want) == 0);
    CHECK(dbuf[sizeof want] == BB_CODEC_PCM16);
    memset(&got, 0, sizeof got);
    CHECK(bb_wire_read_join(dbuf, (size_t)dn, &got) == BB_WIRE_OK && join_eq(&got, &d));
    d.down_codec = 99;
    CHECK(bb_wire_write_join(dbuf, sizeof dbuf, &h, &d) == BB_WIRE_FIELD_BAD);

    // flags: one more byte, after down_codec (written as 0 when not asked)
    d = j;
    d.flags = BB_JOIN_MONO_OK;
    dn = bb_wire_write_join(dbuf, sizeof dbuf, &h, &d);
    CHECK(dn == (int)sizeof want + 2 && memcmp(dbuf, want, sizeof want) == 0);
    CHECK(dbuf[sizeof want] == 0 && dbuf[sizeof want + 1] == BB_JOIN_MONO_OK);
    memset(&got, 0, sizeof got);
    CHECK(bb_wire_read_join(dbuf, (size_t)dn, &got) == BB_WIRE_OK && join_eq(&got, &d));
    d.down_codec = BB_CODEC_PCM16;
    dn = bb_wire_write_join(dbuf, sizeof dbuf, &h, &d);
    CHECK(dn == (int)sizeof want + 2 && dbuf[sizeof want] == BB_CODEC_PCM16);
    memset(&got, 0, sizeof got);
    CHECK(bb_wire_read_join(dbuf, (size_t)dn, &got) == BB_WIRE_OK && join_eq(&got, &d));
    // an older JOIN (no flags byte) reads as flags 0
    memset(&got, 0, sizeof got);
    got.flags = 0xFF;
    CHECK(bb_wire_read_join(dbuf, (size_t)dn - 1, &got) == BB_WIRE_OK && got.flags == 0);
}

static void test_other_layouts(void)
{
    uint8_t b[BUF];
    struct bb_header h = { .type = BB_MSG_WELCOME, .session = 7 };
    struct bb_welcome w = sample_welcome();
    strcpy(w.name, "al");
    CHECK(bb_wire_write_welcome(b, sizeof b, &h, &w) == 20 + 17);
    static const uint8_t welcome_body[] = { 0x80, 0xBB, 0, 0, 0x00, 0x01, 4, 64, 0, 2, 32, 0, 2,
                                            2, 'a', 'l', 1 };
    CHECK(memcmp(b + 20, welcome_body, sizeof welcome_body) == 0);

    h.type = BB_MSG_PING;
    struct bb_ping p = { .t_ns = 0x0102030405060708ull, .jitter_frames = 0x0A0B0C0D, .lost = 0x11 };
    CHECK(bb_wire_write_ping(b, sizeof b, &h, &p) == 20 + 16);
    static const uint8_t ping_body[] = { 8, 7, 6, 5, 4, 3, 2, 1, 0x0D, 0x0C, 0x0B, 0x0A, 0x11, 0, 0, 0 };
    CHECK(b[5] == BB_MSG_PING);
    CHECK(memcmp(b + 20, ping_body, sizeof ping_body) == 0);

    struct bb_leave lv = { .code = 3 };
    strcpy(lv.reason, "bye");
    CHECK(bb_wire_write_leave(b, sizeof b, &h, &lv) == 20 + 5);
    static const uint8_t leave_body[] = { 3, 3, 'b', 'y', 'e' };
    CHECK(b[5] == BB_MSG_LEAVE); // the writer sets the type
    CHECK(memcmp(b + 20, leave_body, sizeof leave_body) == 0);

    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, BB_CODEC_FLOAT, 2, 0x0140) == 24);
    static const uint8_t audio_body[] = { 3, 2, 0x40, 0x01 };
    CHECK(b[5] == BB_MSG_AUDIO);
    CHECK(memcmp(b + 20, audio_body, sizeof audio_body) == 0);
}

static void test_round_trips(void)
{
    uint8_t b[BUF];
    struct bb_header h, hh;

    h = hdr(BB_MSG_JOIN);
    struct bb_join j = sample_join(), jg;
    int n = bb_wire_write_join(b, sizeof b, &h, &j);
    CHECK(n > 0);
    CHECK(bb_wire_parse_header(b, (size_t)n, &hh) == BB_WIRE_OK && header_eq(&hh, &(struct bb_header){
        .version = BB_WIRE_VERSION, .type = BB_MSG_JOIN, .session = h.session, .seq = h.seq, .ts = h.ts }));
    CHECK(bb_wire_read_join(b, (size_t)n, &jg) == BB_WIRE_OK && join_eq(&j, &jg));
    // longest name, every codec, every channel count
    memset(j.name, 'z', 31);
    j.name[31] = '\0';
    for (uint8_t codec = 1; codec < BB_CODEC_COUNT; codec++)
        for (uint8_t ch = 1; ch <= BB_MAX_CLIENT_CH; ch++) {
            j.codec = codec;
            j.channels = ch;
            n = bb_wire_write_join(b, sizeof b, &h, &j);
            int ok = n > 0 && bb_wire_read_join(b, (size_t)n, &jg) == BB_WIRE_OK && join_eq(&j, &jg);
            if (!ok)
                printf("  join codec %u ch %u\n", codec, ch);
            CHECK(ok);
        }
    // A codec this build does not know is read as it is (the hub refuses it
    // in words); codec 0 is malformed. Writers send known codecs only.
    j.codec = BB_CODEC_OPUS;
    j.channels = 1;
    n = bb_wire_write_join(b, sizeof b, &h, &j);
    CHECK(n > 0);
    size_t codec_at = (size_t)n - 4 - 32 - 1; // codec, kbps, jitter, reserved end the body
    CHECK(b[codec_at] == BB_CODEC_OPUS);
    b[codec_at] = 200;
    CHECK(bb_wire_read_join(b, (size_t)n, &jg) == BB_WIRE_OK && jg.codec == 200);
    b[codec_at] = 0;
    CHECK(bb_wire_read_join(b, (size_t)n, &jg) == BB_WIRE_FIELD_BAD);
    j.codec = 200;
    CHECK(bb_wire_write_join(b, sizeof b, &h, &j) == BB_WIRE_FIELD_BAD);
    j.codec = BB_CODEC_OPUS;
    j.rate = 8000, j.period = 16;
    n = bb_wire_write_join(b, sizeof b, &h, &j);
    CHECK(n > 0 && bb_wire_read_join(b, (size_t)n, &jg) == BB_WIRE_OK && join_eq(&j, &jg));
    j.rate = 192000, j.period = BB_MAX_PERIOD;
    n = bb_wire_write_join(b, sizeof b, &h, &j);
    CHECK(n > 0 && bb_wire_read_join(b, (size_t)n, &jg) == BB_WIRE_OK && join_eq(&j, &jg));

    h = hdr(BB_MSG_WELCOME);
    struct bb_welcome w = sample_welcome(), wg;
    n = bb_wire_write_welcome(b, sizeof b, &h, &w);
    CHECK(n > 0 && bb_wire_read_welcome(b, (size_t)n, &wg) == BB_WIRE_OK && welcome_eq(&w, &wg));
    w.restored = 0;
    w.up_frames = 4096;
    w.down_frames = 1;
    w.down_channels = 1;
    n = bb_wire_write_welcome(b, sizeof b, &h, &w);
    CHECK(n > 0 && bb_wire_read_welcome(b, (size_t)n, &wg) == BB_WIRE_OK && welcome_eq(&w, &wg));

    h = hdr(BB_MSG_REJECT);
    struct bb_reject rj = { .code = BB_REJECT_NAME_TAKEN }, rg;
    strcpy(rj.reason, "name \"alice\" is taken");
    n = bb_wire_write_reject(b, sizeof b, &h, &rj);
    CHECK(n == 20 + 2 + (int)strlen(rj.reason));
    CHECK(bb_wire_read_reject(b, (size_t)n, &rg) == BB_WIRE_OK && rg.code == rj.code &&
          strcmp(rg.reason, rj.reason) == 0);
    rj.code = 200; // unknown codes pass: a newer hub may have more
    rj.reason[0] = '\0';
    n = bb_wire_write_reject(b, sizeof b, &h, &rj);
    CHECK(n == 22 && bb_wire_read_reject(b, (size_t)n, &rg) == BB_WIRE_OK && rg.code == 200 &&
          rg.reason[0] == '\0');

    h = hdr(BB_MSG_LEAVE);
    struct bb_leave lv = { .code = BB_LEAVE_TIMEOUT }, lg;
    memset(lv.reason, 'r', 127);
    lv.reason[127] = '\0';
    n = bb_wire_write_leave(b, sizeof b, &h, &lv);
    CHECK(n == 20 + 2 + 127);
    CHECK(bb_wire_read_leave(b, (size_t)n, &lg) == BB_WIRE_OK && lg.code == lv.code &&
          strcmp(lg.reason, lv.reason) == 0);

    struct bb_ping p = { .t_ns = UINT64_MAX - 5, .jitter_frames = 0xFFFFFFFF, .lost = 0 }, pgot;
    for (uint8_t t = BB_MSG_PING; t <= BB_MSG_PONG; t++) {
        h = hdr(t);
        n = bb_wire_write_ping(b, sizeof b, &h, &p);
        CHECK(n == 36 && b[5] == t);
        CHECK(bb_wire_read_ping(b, (size_t)n, &pgot) == BB_WIRE_OK && pgot.t_ns == p.t_ns &&
              pgot.jitter_frames == p.jitter_frames && pgot.lost == p.lost);
        CHECK(bb_wire_parse_header(b, (size_t)n, &hh) == BB_WIRE_OK && hh.type == t);
    }

    h = hdr(BB_MSG_LEAVE_ACK);
    n = bb_wire_write_empty(b, sizeof b, &h);
    CHECK(n == 20 && bb_wire_parse_header(b, (size_t)n, &hh) == BB_WIRE_OK &&
          hh.type == BB_MSG_LEAVE_ACK && hh.session == h.session && hh.seq == h.seq);

    // AUDIO: every codec, some channel/frame counts; payload points into buf
    static const uint8_t chans[] = { 1, 2, 8 };
    static const uint16_t frames[] = { 16, 32, 64, 120 };
    for (uint8_t codec = 1; codec < BB_CODEC_COUNT; codec++)
        for (size_t ci = 0; ci < BB_ARRAY_LEN(chans); ci++)
            for (size_t fi = 0; fi < BB_ARRAY_LEN(frames); fi++) {
                n = make_audio(b, BB_MAX_DATAGRAM, codec, chans[ci], frames[fi]);
                if (n == BB_WIRE_NO_ROOM)
                    continue; // PCM too big for a datagram
                struct bb_audio a;
                int ok = n > 24 && bb_wire_read_audio(b, (size_t)n, &a) == BB_WIRE_OK &&
                         a.codec == codec && a.channels == chans[ci] && a.frames == frames[fi] &&
                         a.payload == b + 24 && a.payload_len == (size_t)n - 24;
                if (!ok)
                    printf("  audio codec %u ch %u frames %u\n", codec, chans[ci], frames[fi]);
                CHECK(ok);
            }
}

/// Every proper prefix of every valid datagram is BB_WIRE_SHORT.
static void test_truncation(void)
{
    for (int i = 0; i < n_samples; i++) {
        struct sample *s = &samples[i];
        union any_msg m;
        struct bb_header h;
        // the whole datagram is accepted
        int st = s->reader == R_COUNT ? bb_wire_parse_header(s->buf, (size_t)s->len, &h)
                                      : call_reader(s->reader, s->buf, (size_t)s->len, &m);
        if (st != BB_WIRE_OK)
            printf("  %s: whole datagram: %s\n", s->what, bb_wire_strerror(st));
        CHECK(st == BB_WIRE_OK);
        int ok = 1;
        for (int len = 0; len < s->len; len++) {
            // an exact-size copy, so ASan catches a read past len
            uint8_t *copy = malloc((size_t)len + 1);
            memcpy(copy, s->buf, (size_t)len);
            st = s->reader == R_COUNT ? bb_wire_parse_header(copy, (size_t)len, &h)
                                      : call_reader(s->reader, copy, (size_t)len, &m);
            if (s->reader == R_COUNT && len >= BB_WIRE_HEADER_SIZE)
                st = BB_WIRE_SHORT; // header-only: no shorter prefix exists
            int want = BB_WIRE_SHORT;
            if (s->reader == R_OSC && len >= BB_WIRE_HEADER_SIZE + 1 + BB_OSC_PACKET_MIN)
                // the OSC packet runs to the end: a prefix of whole words is
                // a well-formed OSC message as far as the wire can tell
                want = (len - BB_WIRE_HEADER_SIZE - 1) % 4 ? BB_WIRE_FIELD_BAD : BB_WIRE_OK;
            if (s->reader == R_AUDIO && strncmp(s->what, "audio-opus", 10) == 0 &&
                len == BB_WIRE_HEADER_SIZE + 4 + 2 + 3)
                want = BB_WIRE_OK; // cut after channel 0's block: a mono payload
            CHECK_LOOP(ok, st == want, "%s prefix %d: %s", s->what, len, bb_wire_strerror(st));
            free(copy);
        }
        CHECK(ok);
    }
    struct bb_header h;
    CHECK(bb_wire_parse_header(NULL, 0, &h) == BB_WIRE_SHORT);
}

static void test_header_errors(void)
{
    struct sample *s = &samples[0]; // join
    uint8_t b[BUF];
    struct bb_header h;
    struct bb_join j;

    for (int i = 0; i < 4; i++) {
        memcpy(b, s->buf, (size_t)s->len);
        b[i] ^= 0x20; // "bBRG" etc.
        CHECK(bb_wire_parse_header(b, (size_t)s->len, &h) == BB_WIRE_MAGIC_BAD);
        CHECK(bb_wire_read_join(b, (size_t)s->len, &j) == BB_WIRE_MAGIC_BAD);
    }
    // magic check is not fooled by a bad version as well
    memcpy(b, s->buf, (size_t)s->len);
    b[0] = 'X';
    b[4] = 9;
    CHECK(bb_wire_parse_header(b, (size_t)s->len, &h) == BB_WIRE_MAGIC_BAD);

    // other version: reported, header still filled
    for (int v = 0; v < 256; v += 255) {
        memcpy(b, s->buf, (size_t)s->len);
        b[4] = (uint8_t)(v == 0 ? 1 : 3); // version 1: before the handshake
        memset(&h, 0, sizeof h);
        CHECK(bb_wire_parse_header(b, (size_t)s->len, &h) == BB_WIRE_VERSION_BAD);
        CHECK(h.version == b[4] && h.type == BB_MSG_JOIN && h.seq == 41 && h.ts == 123456);
        CHECK(bb_wire_read_join(b, (size_t)s->len, &j) == BB_WIRE_VERSION_BAD);
    }
    // version wins over a too-long datagram (a newer peer may send bigger ones)
    memset(b, 0, sizeof b);
    memcpy(b, s->buf, (size_t)s->len);
    b[4] = 3;
    CHECK(bb_wire_parse_header(b, BB_MAX_DATAGRAM + 1, &h) == BB_WIRE_VERSION_BAD);

    // unknown types
    static const uint8_t bad_types[] = { 0, BB_MSG_LAST + 1, 100, 255 };
    for (size_t i = 0; i < BB_ARRAY_LEN(bad_types); i++) {
        memcpy(b, s->buf, (size_t)s->len);
        b[5] = bad_types[i];
        memset(&h, 0, sizeof h);
        CHECK(bb_wire_parse_header(b, (size_t)s->len, &h) == BB_WIRE_TYPE_BAD);
        CHECK(h.type == bad_types[i] && h.version == BB_WIRE_VERSION);
        for (int r = 0; r < R_COUNT; r++) {
            union any_msg m;
            CHECK(call_reader((enum reader)r, b, (size_t)s->len, &m) == BB_WIRE_TYPE_BAD);
        }
    }

    // a datagram longer than BB_MAX_DATAGRAM
    uint8_t big[BUF];
    int n = make_audio(big, sizeof big, BB_CODEC_FLOAT, 2, 147);
    CHECK(n == BB_MAX_DATAGRAM);
    struct bb_audio a;
    CHECK(bb_wire_read_audio(big, (size_t)n, &a) == BB_WIRE_OK);
    n = make_audio(big, sizeof big, BB_CODEC_FLOAT, 2, 148);
    CHECK(n == BB_MAX_DATAGRAM + 8);
    CHECK(bb_wire_read_audio(big, (size_t)n, &a) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_parse_header(big, (size_t)n, &h) == BB_WIRE_FIELD_BAD);
    memcpy(big, s->buf, (size_t)s->len); // a join with junk to 1201 bytes
    CHECK(bb_wire_read_join(big, BB_MAX_DATAGRAM, &j) == BB_WIRE_OK);
    CHECK(bb_wire_read_join(big, BB_MAX_DATAGRAM + 1, &j) == BB_WIRE_FIELD_BAD);
}

/// Each reader accepts only its own types.
static void test_wrong_type(void)
{
    for (int i = 0; i < n_samples; i++) {
        struct sample *s = &samples[i];
        for (int r = 0; r < R_COUNT; r++) {
            union any_msg m;
            int st = call_reader((enum reader)r, s->buf, (size_t)s->len, &m);
            int want = (enum reader)r == s->reader ? BB_WIRE_OK : BB_WIRE_TYPE_BAD;
            if (st != want)
                printf("  %s via %s reader: %s\n", s->what, reader_name((enum reader)r), bb_wire_strerror(st));
            CHECK(st == want);
        }
    }
}

/// Writes a JOIN with one field overridden on the wire, returns its length.
static int join_bytes(uint8_t *b, const char *name, size_t name_len)
{
    struct bb_header h = hdr(BB_MSG_JOIN);
    struct bb_join j = sample_join();
    int n = bb_wire_write_join(b, BUF, &h, &j); // name "alice"
    // splice in the raw name
    uint8_t tail[128];
    size_t tail_len = (size_t)n - (20 + 16 + 1 + 5);
    memcpy(tail, b + 20 + 16 + 1 + 5, tail_len);
    b[36] = (uint8_t)name_len;
    memcpy(b + 37, name, name_len);
    memcpy(b + 37 + name_len, tail, tail_len);
    return (int)(37 + name_len + tail_len);
}

static void test_join_ranges(void)
{
    uint8_t b[BUF];
    struct bb_header h = hdr(BB_MSG_JOIN);
    struct bb_join j, g;

    // writer refuses what the reader would refuse
#define JOIN_BAD(field, value)                                               \
    do {                                                                     \
        j = sample_join();                                                   \
        j.field = (value);                                                   \
        CHECK(bb_wire_write_join(b, sizeof b, &h, &j) == BB_WIRE_FIELD_BAD); \
    } while (0)
    JOIN_BAD(rate, 7999);
    JOIN_BAD(rate, 192001);
    JOIN_BAD(rate, 0);
    JOIN_BAD(period, 15);
    JOIN_BAD(period, BB_MAX_PERIOD + 1);
    JOIN_BAD(channels, 0);
    JOIN_BAD(channels, BB_MAX_CLIENT_CH + 1);
    JOIN_BAD(codec, 0);
    JOIN_BAD(codec, BB_CODEC_COUNT);
#undef JOIN_BAD

    // reader side: patch fields of a valid JOIN with name "alice"
    // (offsets: rate 42, period 46, channels 48, codec 49)
    j = sample_join();
    int n = bb_wire_write_join(b, sizeof b, &h, &j);
    CHECK(n == 20 + 16 + 6 + 12 + 32);
    struct { size_t off; size_t size; uint32_t value; int want; } patches[] = {
        { 42, 4, 7999, BB_WIRE_FIELD_BAD },   { 42, 4, 8000, BB_WIRE_OK },
        { 42, 4, 192000, BB_WIRE_OK },        { 42, 4, 192001, BB_WIRE_FIELD_BAD },
        { 42, 4, 0xFFFFFFFF, BB_WIRE_FIELD_BAD },
        { 46, 2, 15, BB_WIRE_FIELD_BAD },     { 46, 2, 16, BB_WIRE_OK },
        { 46, 2, 4096, BB_WIRE_OK },          { 46, 2, 4097, BB_WIRE_FIELD_BAD },
        { 48, 1, 0, BB_WIRE_FIELD_BAD },      { 48, 1, 1, BB_WIRE_OK },
        { 48, 1, 8, BB_WIRE_OK },             { 48, 1, 9, BB_WIRE_FIELD_BAD },
        { 49, 1, 0, BB_WIRE_FIELD_BAD },      { 49, 1, 1, BB_WIRE_OK },
        { 49, 1, 6, BB_WIRE_OK },             { 49, 1, 7, BB_WIRE_OK }, // unknown: the hub refuses it
    };
    for (size_t i = 0; i < BB_ARRAY_LEN(patches); i++) {
        uint8_t c[BUF];
        memcpy(c, b, (size_t)n);
        for (size_t k = 0; k < patches[i].size; k++)
            c[patches[i].off + k] = (uint8_t)(patches[i].value >> (8 * k));
        int st = bb_wire_read_join(c, (size_t)n, &g);
        if (st != patches[i].want)
            printf("  join patch off %zu value %u: %s\n", patches[i].off, patches[i].value,
                   bb_wire_strerror(st));
        CHECK(st == patches[i].want);
    }

    // names on the wire
    char name40[40];
    memset(name40, 'n', sizeof name40);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, "", 0), &g) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, name40, 31), &g) == BB_WIRE_OK &&
          strlen(g.name) == 31);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, name40, 32), &g) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, name40, 40), &g) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, "ab\0cd", 5), &g) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, "\0", 1), &g) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, "abcd\0", 5), &g) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, "\xc3\xa9l\xc3\xa9na", 7), &g) == BB_WIRE_OK &&
          strcmp(g.name, "\xc3\xa9l\xc3\xa9na") == 0);

    // writer: empty and unterminated names
    j = sample_join();
    j.name[0] = '\0';
    CHECK(bb_wire_write_join(b, sizeof b, &h, &j) == BB_WIRE_FIELD_BAD);
    memset(j.name, 'q', sizeof j.name); // 32 bytes, no NUL
    CHECK(bb_wire_write_join(b, sizeof b, &h, &j) == BB_WIRE_FIELD_BAD);

    // on error the output is left alone
    memset(&g, 0x77, sizeof g);
    CHECK(bb_wire_read_join(b, (size_t)join_bytes(b, "", 0), &g) == BB_WIRE_FIELD_BAD);
    CHECK(g.rate == 0x77777777 && g.name[0] == 0x77);
}

static void test_welcome_ranges(void)
{
    uint8_t b[BUF], c[BUF];
    struct bb_header h = hdr(BB_MSG_WELCOME);
    struct bb_welcome w = sample_welcome(), g;
    int n = bb_wire_write_welcome(b, sizeof b, &h, &w);
    CHECK(n == 20 + 13 + 8 + 1);
    // offsets: rate 20, period 24, up_codec 26, up_frames 27, down_codec 29,
    // down_frames 30, down_channels 32, name len 33, name 34.., restored 41
    struct { size_t off; size_t size; uint32_t value; int want; } patches[] = {
        { 20, 4, 7999, BB_WIRE_FIELD_BAD }, { 20, 4, 192001, BB_WIRE_FIELD_BAD },
        { 24, 2, 15, BB_WIRE_FIELD_BAD },   { 24, 2, 4097, BB_WIRE_FIELD_BAD },
        { 26, 1, 0, BB_WIRE_FIELD_BAD },    { 26, 1, 7, BB_WIRE_FIELD_BAD },
        { 27, 2, 0, BB_WIRE_FIELD_BAD },    { 27, 2, 4097, BB_WIRE_FIELD_BAD },
        { 27, 2, 4096, BB_WIRE_OK },        { 29, 1, 0, BB_WIRE_FIELD_BAD },
        { 29, 1, 7, BB_WIRE_FIELD_BAD },    { 29, 1, 6, BB_WIRE_OK },
        { 30, 2, 0, BB_WIRE_FIELD_BAD },    { 30, 2, 4097, BB_WIRE_FIELD_BAD },
        { 32, 1, 0, BB_WIRE_FIELD_BAD },    { 32, 1, 9, BB_WIRE_FIELD_BAD },
        { 32, 1, 1, BB_WIRE_OK },           { 35, 1, 0, BB_WIRE_FIELD_BAD }, // NUL in name
        { 41, 1, 2, BB_WIRE_FIELD_BAD },    { 41, 1, 0, BB_WIRE_OK },
        { 33, 1, 8, BB_WIRE_SHORT },        // name claims the restored byte too
    };
    for (size_t i = 0; i < BB_ARRAY_LEN(patches); i++) {
        memcpy(c, b, (size_t)n);
        for (size_t k = 0; k < patches[i].size; k++)
            c[patches[i].off + k] = (uint8_t)(patches[i].value >> (8 * k));
        int st = bb_wire_read_welcome(c, (size_t)n, &g);
        if (st != patches[i].want)
            printf("  welcome patch off %zu value %u: %s\n", patches[i].off, patches[i].value,
                   bb_wire_strerror(st));
        CHECK(st == patches[i].want);
    }
    // a name length of 6 leaves one byte too many
    memcpy(c, b, (size_t)n);
    c[33] = 6;
    CHECK(bb_wire_read_welcome(c, (size_t)n, &g) == BB_WIRE_FIELD_BAD);
    // trailing bytes
    memcpy(c, b, (size_t)n);
    c[n] = 0;
    CHECK(bb_wire_read_welcome(c, (size_t)n + 1, &g) == BB_WIRE_FIELD_BAD);

    w = sample_welcome();
    w.restored = 2;
    CHECK(bb_wire_write_welcome(b, sizeof b, &h, &w) == BB_WIRE_FIELD_BAD);
    w = sample_welcome();
    w.down_frames = 0;
    CHECK(bb_wire_write_welcome(b, sizeof b, &h, &w) == BB_WIRE_FIELD_BAD);
    w = sample_welcome();
    w.name[0] = '\0';
    CHECK(bb_wire_write_welcome(b, sizeof b, &h, &w) == BB_WIRE_FIELD_BAD);
}

static void test_reason(void)
{
    uint8_t b[BUF];
    struct bb_header h = hdr(BB_MSG_REJECT);
    struct bb_reject r, g;
    struct bb_leave lg;

    // 128 bytes with no NUL: cut to 127
    memset(r.reason, 'x', sizeof r.reason);
    r.code = BB_REJECT_OTHER;
    int n = bb_wire_write_reject(b, sizeof b, &h, &r);
    CHECK(n == 20 + 2 + 127);
    CHECK(bb_wire_read_reject(b, (size_t)n, &g) == BB_WIRE_OK && strlen(g.reason) == 127);

    // the cut does not split a UTF-8 character: "é" (2 bytes) at 126..127
    memset(r.reason, 'x', sizeof r.reason);
    r.reason[126] = (char)0xC3;
    r.reason[127] = (char)0xA9;
    n = bb_wire_write_reject(b, sizeof b, &h, &r);
    CHECK(n == 20 + 2 + 126 && b[21] == 126);
    // "€" (3 bytes) at 125..127
    r.reason[125] = (char)0xE2;
    r.reason[126] = (char)0x82;
    r.reason[127] = (char)0xAC;
    n = bb_wire_write_reject(b, sizeof b, &h, &r);
    CHECK(n == 20 + 2 + 125);
    // a character ending exactly at 127 stays
    memset(r.reason, 'x', sizeof r.reason);
    r.reason[125] = (char)0xC3;
    r.reason[126] = (char)0xA9;
    n = bb_wire_write_reject(b, sizeof b, &h, &r);
    CHECK(n == 20 + 2 + 127);

    // reader: 128 bytes of reason on the wire, NUL inside, trailing byte
    memset(r.reason, 'y', sizeof r.reason);
    r.reason[100] = '\0';
    n = bb_wire_write_reject(b, sizeof b, &h, &r);
    CHECK(n == 122);
    b[21] = 101;
    b[122] = 'y';
    CHECK(bb_wire_read_reject(b, 123, &g) == BB_WIRE_OK && strlen(g.reason) == 101);
    b[72] = '\0';
    CHECK(bb_wire_read_reject(b, 123, &g) == BB_WIRE_FIELD_BAD); // NUL inside
    b[72] = 'y';
    CHECK(bb_wire_read_reject(b, 124, &g) == BB_WIRE_FIELD_BAD); // one trailing byte
    memset(b + 22, 'y', 128);
    b[21] = 127;
    CHECK(bb_wire_read_reject(b, 22 + 127, &g) == BB_WIRE_OK);
    b[21] = 128;
    CHECK(bb_wire_read_reject(b, 22 + 128, &g) == BB_WIRE_FIELD_BAD);
    b[5] = BB_MSG_LEAVE;
    CHECK(bb_wire_read_leave(b, 22 + 128, &lg) == BB_WIRE_FIELD_BAD);
    b[21] = 127;
    CHECK(bb_wire_read_leave(b, 22 + 127, &lg) == BB_WIRE_OK && strlen(lg.reason) == 127);
    b[30] = '\0';
    CHECK(bb_wire_read_leave(b, 22 + 127, &lg) == BB_WIRE_FIELD_BAD);
}

static void test_audio_ranges(void)
{
    uint8_t b[BUF], c[BUF];
    struct bb_audio a;
    struct bb_header h = hdr(BB_MSG_AUDIO);

    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, 0, 2, 64) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, BB_CODEC_COUNT, 2, 64) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, 1, 0, 64) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, 1, 9, 64) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, 1, 2, 0) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, 1, 2, 4097) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_audio_head(b, sizeof b, &h, 4, 8, 4096) == 24);

    int n = make_audio(b, sizeof b, BB_CODEC_OPUS, 2, 64);
    CHECK(n == 24 + 2 + 3 + 2 + 4);
    struct { size_t off; size_t size; uint32_t value; int want; } patches[] = {
        { 20, 1, 0, BB_WIRE_FIELD_BAD },     { 20, 1, 7, BB_WIRE_FIELD_BAD },
        { 20, 1, 5, BB_WIRE_OK },            { 21, 1, 0, BB_WIRE_FIELD_BAD },
        { 21, 1, 9, BB_WIRE_FIELD_BAD },     { 21, 1, 3, BB_WIRE_SHORT },
        { 21, 1, 1, BB_WIRE_FIELD_BAD },     // 1 channel: the second is trailing junk
        { 22, 2, 0, BB_WIRE_FIELD_BAD },     { 22, 2, 4097, BB_WIRE_FIELD_BAD },
        { 22, 2, 4096, BB_WIRE_OK },         { 22, 2, 0xFFFF, BB_WIRE_FIELD_BAD },
        { 24, 2, 4, BB_WIRE_SHORT },         // first packet swallows the second length
        { 24, 2, 9, BB_WIRE_OK },            // one block to the end: mono
        { 24, 2, 8, BB_WIRE_SHORT },         { 24, 2, 0xFFFF, BB_WIRE_SHORT },
        { 29, 2, 3, BB_WIRE_FIELD_BAD },     // second packet one byte short of the end
        { 29, 2, 5, BB_WIRE_SHORT },
        { 20, 1, 1, BB_WIRE_SHORT },         // as PCM16: 2*64*2 bytes wanted
    };
    for (size_t i = 0; i < BB_ARRAY_LEN(patches); i++) {
        memcpy(c, b, (size_t)n);
        for (size_t k = 0; k < patches[i].size; k++)
            c[patches[i].off + k] = (uint8_t)(patches[i].value >> (8 * k));
        int st = bb_wire_read_audio(c, (size_t)n, &a);
        if (st != patches[i].want)
            printf("  audio patch off %zu value %u: %s\n", patches[i].off, patches[i].value,
                   bb_wire_strerror(st));
        CHECK(st == patches[i].want);
    }

    // an empty Opus block (conceal that channel) is allowed, for any channel
    memcpy(c, b, 24);
    static const uint8_t blocks[] = { 0, 0, 3, 0, 'a', 'b', 'c', 0, 0 };
    memcpy(c + 24, blocks, sizeof blocks);
    CHECK(bb_wire_read_audio(c, 24 + 2 + 5, &a) == BB_WIRE_OK && a.payload_len == 7);
    c[21] = 3;
    CHECK(bb_wire_read_audio(c, 24 + 2 + 5 + 2, &a) == BB_WIRE_OK && a.payload_len == 9);
    CHECK(bb_wire_read_audio(c, 24 + 2 + 5 + 1, &a) == BB_WIRE_SHORT);

    // PCM: exact payload size required
    n = make_audio(b, sizeof b, BB_CODEC_PCM24, 2, 32);
    CHECK(n == 24 + 32 * 2 * 3);
    CHECK(bb_wire_read_audio(b, (size_t)n, &a) == BB_WIRE_OK && a.payload_len == 192);
    CHECK(bb_wire_read_audio(b, (size_t)n + 1, &a) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_audio(b, (size_t)n - 1, &a) == BB_WIRE_SHORT);
    CHECK(bb_wire_read_audio(b, 24, &a) == BB_WIRE_SHORT);
}

static void test_osc(void)
{
    uint8_t b[BUF], c[BUF];
    struct bb_osc o;
    struct bb_header h = { .type = BB_MSG_OSC, .session = 0x11223344, .seq = 0x55667788 };

    // byte-pinned: header, controller 3, the OSC message as is
    static const uint8_t want_head[] = {
        'B', 'B', 'R', 'G', 2, 9, 0, 0,
        0x44, 0x33, 0x22, 0x11, // session
        0x88, 0x77, 0x66, 0x55, // seq
        0, 0, 0, 0,             // ts
        3,                      // controller
    };
    int n = bb_wire_write_osc(b, sizeof b, &h, 3, osc_gain, sizeof osc_gain);
    CHECK(n == 20 + 1 + 28);
    CHECK(n > 0 && memcmp(b, want_head, sizeof want_head) == 0);
    CHECK(n > 0 && memcmp(b + 21, osc_gain, sizeof osc_gain) == 0);
    CHECK(bb_wire_read_osc(b, (size_t)n, &o) == BB_WIRE_OK && o.controller == 3 &&
          o.packet == b + 21 && o.packet_len == sizeof osc_gain);
    struct bb_header hh;
    CHECK(bb_wire_parse_header(b, (size_t)n, &hh) == BB_WIRE_OK && hh.type == BB_MSG_OSC &&
          hh.session == 0x11223344 && hh.seq == 0x55667788);

    // every controller number 0..15; 16 and up are refused both ways
    for (unsigned k = 0; k < 256; k++) {
        int w = bb_wire_write_osc(b, sizeof b, &h, (uint8_t)k, osc_bundle, sizeof osc_bundle);
        int r = w > 0 ? bb_wire_read_osc(b, (size_t)w, &o) : w;
        if (k < BB_OSC_CONTROLLERS)
            CHECK(w == 20 + 1 + 32 && r == BB_WIRE_OK && o.controller == k);
        else
            CHECK(w == BB_WIRE_FIELD_BAD);
    }
    n = bb_wire_write_osc(b, sizeof b, &h, 15, osc_gain, sizeof osc_gain);
    memcpy(c, b, (size_t)n);
    c[20] = 16;
    CHECK(bb_wire_read_osc(c, (size_t)n, &o) == BB_WIRE_FIELD_BAD);
    c[20] = 0xFF;
    CHECK(bb_wire_read_osc(c, (size_t)n, &o) == BB_WIRE_FIELD_BAD);

    // packet lengths: at least 8, whole words, the datagram within 1200 bytes
    static uint8_t big[BB_MAX_DATAGRAM];
    memset(big, 'x', sizeof big);
    CHECK(BB_OSC_PACKET_MAX == 1176);
    CHECK(bb_wire_write_osc(b, sizeof b, &h, 0, big, 0) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_osc(b, sizeof b, &h, 0, big, 4) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_osc(b, sizeof b, &h, 0, big, 8) == 29);
    CHECK(bb_wire_write_osc(b, sizeof b, &h, 0, big, 30) == BB_WIRE_FIELD_BAD);
    n = bb_wire_write_osc(b, sizeof b, &h, 0, big, BB_OSC_PACKET_MAX);
    CHECK(n == 20 + 1 + 1176 && n <= BB_MAX_DATAGRAM);
    CHECK(bb_wire_read_osc(b, (size_t)n, &o) == BB_WIRE_OK && o.packet_len == 1176);
    CHECK(bb_wire_write_osc(b, sizeof b, &h, 0, big, BB_OSC_PACKET_MAX + 4) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_write_osc(b, 20 + 1 + 1175, &h, 0, big, BB_OSC_PACKET_MAX) == BB_WIRE_NO_ROOM);
    // the reader: a packet of 1, 2, 3 bytes past a word, or too short
    n = bb_wire_write_osc(b, sizeof b, &h, 0, osc_gain, sizeof osc_gain);
    for (int extra = 1; extra < 4; extra++)
        CHECK(bb_wire_read_osc(b, (size_t)n + (size_t)extra, &o) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_osc(b, 20, &o) == BB_WIRE_SHORT);     // no controller
    CHECK(bb_wire_read_osc(b, 21, &o) == BB_WIRE_SHORT);     // no packet
    CHECK(bb_wire_read_osc(b, 21 + 4, &o) == BB_WIRE_SHORT); // half a message
    // a 1200-byte datagram holds 1179 bytes of packet: not whole words
    memcpy(big, b, 21);
    CHECK(bb_wire_read_osc(big, BB_MAX_DATAGRAM, &o) == BB_WIRE_FIELD_BAD);
    CHECK(bb_wire_read_osc(big, BB_MAX_DATAGRAM - 3, &o) == BB_WIRE_OK);
    CHECK(bb_wire_read_osc(big, BB_MAX_DATAGRAM + 1, &o) == BB_WIRE_FIELD_BAD);
    // a failed read leaves the output alone
    memset(&o, 0x5A, sizeof o);
    struct bb_osc before = o;
    CHECK(bb_wire_read_osc(b, 21 + 4, &o) == BB_WIRE_SHORT && memcmp(&o, &before, sizeof o) == 0);
}

static void test_writers_misc(void)
{
    uint8_t b[BUF];
    struct bb_header h;
    // NO_ROOM at every size below the full length
    for (int i = 0; i < n_samples; i++) {
        struct sample *s = &samples[i];
        if (s->reader == R_AUDIO)
            continue;
        int ok = 1;
        for (int size = 0; size < s->len; size++) {
            int st;
            struct bb_header hh;
            bb_wire_parse_header(s->buf, (size_t)s->len, &hh);
            union any_msg m;
            if (s->reader != R_COUNT)
                call_reader(s->reader, s->buf, (size_t)s->len, &m);
            uint8_t *out = malloc((size_t)size + 1);
            switch (s->reader) {
            case R_JOIN: st = bb_wire_write_join(out, (size_t)size, &hh, &m.join); break;
            case R_WELCOME: st = bb_wire_write_welcome(out, (size_t)size, &hh, &m.welcome); break;
            case R_REJECT: st = bb_wire_write_reject(out, (size_t)size, &hh, &m.reject); break;
            case R_LEAVE: st = bb_wire_write_leave(out, (size_t)size, &hh, &m.leave); break;
            case R_PING: st = bb_wire_write_ping(out, (size_t)size, &hh, &m.ping); break;
            case R_OSC:
                st = bb_wire_write_osc(out, (size_t)size, &hh, m.osc.controller, m.osc.packet,
                                       m.osc.packet_len);
                break;
            default: st = bb_wire_write_empty(out, (size_t)size, &hh); break;
            }
            free(out);
            CHECK_LOOP(ok, st == BB_WIRE_NO_ROOM, "%s size %d: %d", s->what, size, st);
        }
        CHECK(ok);
    }
    h = hdr(BB_MSG_AUDIO);
    CHECK(bb_wire_write_audio_head(b, 23, &h, 1, 1, 16) == BB_WIRE_NO_ROOM);
    CHECK(bb_wire_write_audio_head(b, 24, &h, 1, 1, 16) == 24);

    // PING writer takes PING or PONG from the header, nothing else
    struct bb_ping p = { 0 };
    h = hdr(0);
    CHECK(bb_wire_write_ping(b, sizeof b, &h, &p) == BB_WIRE_TYPE_BAD);
    h = hdr(BB_MSG_AUDIO);
    CHECK(bb_wire_write_ping(b, sizeof b, &h, &p) == BB_WIRE_TYPE_BAD);
    // header-only writer: LEAVE_ACK only
    for (uint8_t t = 0; t < 12; t++) {
        h = hdr(t);
        int st = bb_wire_write_empty(b, sizeof b, &h);
        CHECK(t == BB_MSG_LEAVE_ACK ? st == 20 : st == BB_WIRE_TYPE_BAD);
    }
    // single-type writers set the type themselves
    h = hdr(BB_MSG_PING);
    struct bb_join j = sample_join();
    CHECK(bb_wire_write_join(b, sizeof b, &h, &j) > 0 && b[5] == BB_MSG_JOIN);

    // strerror
    const char *seen[8] = { 0 };
    for (int st = 0; st >= -6; st--) {
        const char *e = bb_wire_strerror(st);
        CHECK(e && *e);
        for (int k = 0; k < -st; k++)
            CHECK(strcmp(e, seen[k]) != 0);
        seen[-st] = e;
    }
    CHECK(bb_wire_strerror(42) && *bb_wire_strerror(42));
    CHECK(bb_wire_strerror(-7) && *bb_wire_strerror(-7));
}

/* ---- random datagrams --------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t xorshift64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(xorshift64() % n);
}

/// Checks what a reader accepted: bounds, terminated strings, and that
/// writing it again gives a datagram that reads back the same.
static int accepted_ok(enum reader r, const uint8_t *buf, size_t len, union any_msg *m)
{
    uint8_t out[BUF];
    struct bb_header h;
    union any_msg m2;
    if (bb_wire_parse_header(buf, len, &h) != BB_WIRE_OK || len > BB_MAX_DATAGRAM)
        return 0;
    int n;
    switch (r) {
    case R_JOIN: {
        size_t nl = strnlen(m->join.name, BB_NAME_MAX);
        if (nl < 1 || nl > 31)
            return 0;
        // A codec this build does not know is passed on for the hub to
        // refuse in words; the rest must survive a rewrite with a known one.
        struct bb_join kj = m->join;
        if (kj.codec >= BB_CODEC_COUNT)
            kj.codec = BB_CODEC_OPUS;
        n = bb_wire_write_join(out, sizeof out, &h, &kj);
        return n > 0 && (size_t)n <= len && bb_wire_read_join(out, (size_t)n, &m2.join) == BB_WIRE_OK &&
               join_eq(&kj, &m2.join);
    }
    case R_WELCOME:
        if (strnlen(m->welcome.name, BB_NAME_MAX) >= BB_NAME_MAX)
            return 0;
        n = bb_wire_write_welcome(out, sizeof out, &h, &m->welcome);
        return n > 0 && (size_t)n == len && memcmp(out, buf, len) == 0;
    case R_REJECT:
        if (strnlen(m->reject.reason, BB_REASON_MAX) >= BB_REASON_MAX)
            return 0;
        n = bb_wire_write_reject(out, sizeof out, &h, &m->reject);
        return n > 0 && (size_t)n == len && memcmp(out, buf, len) == 0;
    case R_LEAVE:
        if (strnlen(m->leave.reason, BB_REASON_MAX) >= BB_REASON_MAX)
            return 0;
        n = bb_wire_write_leave(out, sizeof out, &h, &m->leave);
        return n > 0 && (size_t)n == len && memcmp(out, buf, len) == 0;
    case R_PING:
        n = bb_wire_write_ping(out, sizeof out, &h, &m->ping);
        return n > 0 && (size_t)n == len && memcmp(out, buf, len) == 0;
    case R_AUDIO:
        n = bb_wire_write_audio_head(out, sizeof out, &h, m->audio.codec, m->audio.channels,
                                     m->audio.frames);
        return n == 24 && m->audio.payload == buf + 24 && m->audio.payload_len == len - 24 &&
               memcmp(out, buf, 24) == 0;
    case R_OSC:
        if (m->osc.packet != buf + 21 || m->osc.packet_len != len - 21 ||
            m->osc.controller >= BB_OSC_CONTROLLERS || m->osc.packet_len % 4)
            return 0;
        n = bb_wire_write_osc(out, sizeof out, &h, m->osc.controller, m->osc.packet,
                              m->osc.packet_len);
        return n > 0 && (size_t)n == len && memcmp(out, buf, len) == 0;
    default:
        return 0;
    }
}

static void test_random(void)
{
    enum { ROUNDS = 200000 };
    uint8_t b[BUF];
    unsigned accepted[R_COUNT] = { 0 };
    int ok = 1;
    for (int round = 0; round < ROUNDS; round++) {
        size_t len;
        unsigned mode = rnd(4);
        if (mode == 0) { // noise
            len = rnd(BB_MAX_DATAGRAM + 100);
            for (size_t i = 0; i < len; i++)
                b[i] = (uint8_t)xorshift64();
        } else if (mode == 1) { // valid header, noise body
            len = BB_WIRE_HEADER_SIZE + (rnd(4) ? rnd(64) : rnd(BB_MAX_DATAGRAM));
            for (size_t i = 0; i < len; i++)
                b[i] = (uint8_t)xorshift64();
            memcpy(b, BB_WIRE_MAGIC, 4);
            b[4] = rnd(16) ? BB_WIRE_VERSION : (uint8_t)rnd(256);
            b[5] = (uint8_t)rnd(10);
            if (rnd(2)) // plausible small values help reach range checks
                for (size_t i = BB_WIRE_HEADER_SIZE; i < len; i++)
                    b[i] = (uint8_t)rnd(8);
        } else { // a valid datagram, mutated
            struct sample *s = &samples[rnd((unsigned)n_samples)];
            memcpy(b, s->buf, (size_t)s->len);
            len = (size_t)s->len;
            unsigned flips = rnd(4);
            for (unsigned f = 0; f < flips; f++) {
                size_t at = 4 + rnd((unsigned)len - 4);
                b[at] = rnd(2) ? (uint8_t)xorshift64() : (uint8_t)(b[at] ^ (1u << rnd(8)));
            }
            switch (rnd(4)) {
            case 0: len = rnd((unsigned)len + 1); break;
            case 1: {
                size_t extra = rnd(40);
                for (size_t i = 0; i < extra && len < sizeof b; i++)
                    b[len++] = (uint8_t)xorshift64();
                break;
            }
            default: break;
            }
        }
        uint8_t *copy = malloc(len ? len : 1); // exact size: ASan sees overreads
        memcpy(copy, b, len);
        struct bb_header h;
        int hs = bb_wire_parse_header(copy, len, &h);
        CHECK_LOOP(ok, hs <= 0 && hs >= BB_WIRE_FIELD_BAD, "round %d header status %d", round, hs);
        for (int r = 0; r < R_COUNT; r++) {
            union any_msg m;
            memset(&m, 0xA5, sizeof m);
            int st = call_reader((enum reader)r, copy, len, &m);
            CHECK_LOOP(ok, st <= 0 && st >= BB_WIRE_FIELD_BAD, "round %d %s status %d", round,
                       reader_name((enum reader)r), st);
            // a reader never passes what the header parser refuses
            CHECK_LOOP(ok, hs == BB_WIRE_OK || st == hs || st == BB_WIRE_TYPE_BAD,
                       "round %d %s status %d header %d", round, reader_name((enum reader)r), st, hs);
            if (st == BB_WIRE_OK) {
                accepted[r]++;
                CHECK_LOOP(ok, accepted_ok((enum reader)r, copy, len, &m), "round %d %s accepted bad",
                           round, reader_name((enum reader)r));
            }
        }
        free(copy);
    }
    CHECK(ok);
    printf("random: %d datagrams; accepted join %u welcome %u reject %u leave %u ping %u audio %u "
           "osc %u\n",
           ROUNDS, accepted[R_JOIN], accepted[R_WELCOME], accepted[R_REJECT], accepted[R_LEAVE],
           accepted[R_PING], accepted[R_AUDIO], accepted[R_OSC]);
    for (int r = 0; r < R_COUNT; r++)
        CHECK(accepted[r] > 100); // the mutations reach the accepting paths
}

int main(void)
{
    build_samples();
    test_header_layout();
    test_join_layout();
    test_other_layouts();
    test_round_trips();
    test_truncation();
    test_header_errors();
    test_wrong_type();
    test_join_ranges();
    test_welcome_ranges();
    test_reason();
    test_audio_ranges();
    test_osc();
    test_writers_misc();
    test_random();
    return check_report("test_wire");
}
