// SPDX-License-Identifier: GPL-2.0-or-later
// fuzz_wire.c: fuzz harness (fuzz.h) for the datagram parser (src/wire.c).
// One input is one datagram, given to every reader. Invariants:
//
//  * every status is one of enum bb_wire_status, and has a text;
//  * at most the reader for the header's type accepts; the others say
//    TYPE_BAD (or what the header says);
//  * a reader that refuses leaves its output untouched;
//  * what a reader accepts, the writer writes again (read(write(x)) == x):
//    byte for byte where the format has one spelling (WELCOME, REJECT,
//    LEAVE, PING/PONG, AUDIO, OSC), field for field for JOIN (whose
//    reserved bytes and optional tail may be spelt several ways);
//  * pointers into the datagram stay inside it;
//  * the other way round, with the input's bytes as field values: what a
//    writer accepts to write, the reader accepts and reads back as given.
//
// The one accepted asymmetry: a JOIN with a codec this build does not know
// is read (the hub refuses it in words, REJECT CODEC, bandbridge-wire(7));
// writers refuse it. The rest of such a JOIN must still round trip.
#include <string.h>

#include "codec.h"
#include "fuzz.h"
#include "wire.h"

static const struct bb_header H = { .session = 0x01020304, .seq = 7, .ts = 48000 };

static struct bb_header hdr(uint8_t type)
{
    struct bb_header h = H;
    h.type = type;
    return h;
}

static int join_eq(const struct bb_join *a, const struct bb_join *b)
{
    return memcmp(a->identity, b->identity, sizeof a->identity) == 0 &&
           strcmp(a->name, b->name) == 0 && a->rate == b->rate && a->period == b->period &&
           a->channels == b->channels && a->codec == b->codec && a->kbps == b->kbps &&
           a->jitter == b->jitter && a->down_codec == b->down_codec && a->flags == b->flags;
}

static int welcome_eq(const struct bb_welcome *a, const struct bb_welcome *b)
{
    return a->rate == b->rate && a->period == b->period && a->up_codec == b->up_codec &&
           a->up_frames == b->up_frames && a->down_codec == b->down_codec &&
           a->down_frames == b->down_frames && a->down_channels == b->down_channels &&
           strcmp(a->name, b->name) == 0 && a->restored == b->restored;
}

/// A refused read must not have written to its output: out was filled with
/// 0xA5 bytes before, n bytes long.
static int untouched(const void *out, size_t n)
{
    const uint8_t *p = out;
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xA5)
            return 0;
    return 1;
}

static void status_ok(int st)
{
    bb_fuzz_must(st <= BB_WIRE_OK && st >= BB_WIRE_FIELD_BAD, "a reader's status is a wire status");
    bb_fuzz_must(strcmp(bb_wire_strerror(st), "unknown wire status") != 0, "every status has a text");
}

/// Whether reader r (its message type want) accepted: checks the status and,
/// for a refusal, that the output is untouched.
static int accepted(int st, const struct bb_header *h, int hs, uint8_t want1, uint8_t want2,
                    const void *out, size_t n)
{
    status_ok(st);
    if (st == BB_WIRE_OK) {
        bb_fuzz_must(hs == BB_WIRE_OK && (h->type == want1 || h->type == want2),
                     "only the reader of the header's type accepts");
        return 1;
    }
    bb_fuzz_must(untouched(out, n), "a refused read leaves its output alone");
    if (hs != BB_WIRE_OK)
        bb_fuzz_must(st == hs, "a bad header is refused as the header parser says");
    else if (h->type != want1 && h->type != want2)
        bb_fuzz_must(st == BB_WIRE_TYPE_BAD, "another type's datagram is TYPE_BAD");
    return 0;
}

/* ---- the other way: what a writer accepts, the reader must accept ------ */

/// The input's bytes as field values, zeros when it runs out.
struct cur {
    const uint8_t *p;
    size_t         n;
};

static uint32_t take(struct cur *c, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v |= (uint32_t)(c->n ? *c->p : 0) << (8 * i);
        if (c->n)
            c->p++, c->n--;
    }
    return v;
}

static void take_str(struct cur *c, char *dst, size_t size)
{
    size_t n = take(c, 1) % size; // may be size - 1 (too long for a name) or 0
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)(take(c, 1) | 0x01); // a C string has no NUL inside
    dst[n] = '\0';
}

/// Writers fed field values from the input (so out of range too): a
/// datagram a writer makes must read back as what it was given, or we
/// would send what our own peers drop.
static void write_then_read(const uint8_t *data, size_t size)
{
    static uint8_t buf[BB_MAX_DATAGRAM];
    struct cur c = { data, size };
    struct bb_header h = { .type = (uint8_t)take(&c, 1), .flags = (uint16_t)take(&c, 2),
                           .session = take(&c, 4), .seq = take(&c, 4), .ts = take(&c, 4) };
    struct bb_header hr;
    int w;

    struct bb_join j = { 0 }, jr;
    for (int i = 0; i < BB_IDENTITY_SIZE; i++)
        j.identity[i] = (uint8_t)take(&c, 1);
    take_str(&c, j.name, sizeof j.name);
    j.rate = take(&c, 4) % 200000;
    j.period = (uint16_t)take(&c, 2);
    j.channels = (uint8_t)(take(&c, 1) % 10);
    j.codec = (uint8_t)(take(&c, 1) % 8);
    j.kbps = (uint16_t)take(&c, 2);
    j.jitter = (uint16_t)take(&c, 2);
    j.down_codec = (uint8_t)(take(&c, 1) % 8);
    j.flags = (uint8_t)take(&c, 1);
    if ((w = bb_wire_write_join(buf, sizeof buf, &h, &j)) > 0) {
        bb_fuzz_must(bb_wire_read_join(buf, (size_t)w, &jr) == BB_WIRE_OK && join_eq(&j, &jr),
                     "a JOIN a writer makes reads back as given");
        bb_fuzz_must(bb_wire_parse_header(buf, (size_t)w, &hr) == BB_WIRE_OK && hr.session == h.session &&
                         hr.seq == h.seq && hr.ts == h.ts && hr.flags == h.flags,
                     "the header reads back as given");
    }

    struct bb_welcome wl = { .rate = take(&c, 4) % 200000, .period = (uint16_t)take(&c, 2),
                             .up_codec = (uint8_t)(take(&c, 1) % 8),
                             .up_frames = (uint16_t)(take(&c, 2) % 5000),
                             .down_codec = (uint8_t)(take(&c, 1) % 8),
                             .down_frames = (uint16_t)(take(&c, 2) % 5000),
                             .down_channels = (uint8_t)(take(&c, 1) % 10),
                             .restored = (uint8_t)(take(&c, 1) % 3) },
                      wr;
    take_str(&c, wl.name, sizeof wl.name);
    if ((w = bb_wire_write_welcome(buf, sizeof buf, &h, &wl)) > 0)
        bb_fuzz_must(bb_wire_read_welcome(buf, (size_t)w, &wr) == BB_WIRE_OK &&
                         welcome_eq(&wl, &wr),
                     "a WELCOME a writer makes reads back as given");

    struct bb_reject rj = { .code = (uint8_t)take(&c, 1) }, rr;
    take_str(&c, rj.reason, sizeof rj.reason); // up to 127 bytes, cut at a UTF-8 boundary
    if ((w = bb_wire_write_reject(buf, sizeof buf, &h, &rj)) > 0) {
        bb_fuzz_must(bb_wire_read_reject(buf, (size_t)w, &rr) == BB_WIRE_OK && rr.code == rj.code &&
                         strncmp(rr.reason, rj.reason, strlen(rr.reason)) == 0,
                     "a REJECT a writer makes reads back as given (its reason perhaps cut)");
    }

    struct bb_ping pg = { .t_ns = (uint64_t)take(&c, 4) << 32 | take(&c, 4),
                          .jitter_frames = take(&c, 4), .lost = take(&c, 4) },
                   pr;
    if ((w = bb_wire_write_ping(buf, sizeof buf, &h, &pg)) > 0)
        bb_fuzz_must(bb_wire_read_ping(buf, (size_t)w, &pr) == BB_WIRE_OK && pr.t_ns == pg.t_ns &&
                         pr.jitter_frames == pg.jitter_frames && pr.lost == pg.lost,
                     "a PING/PONG a writer makes reads back as given");

    // AUDIO: a head the writer accepts and a PCM payload of the size it calls for.
    uint8_t codec = (uint8_t)(take(&c, 1) % 8), ch = (uint8_t)(take(&c, 1) % 10);
    uint16_t frames = (uint16_t)(take(&c, 2) % 5000);
    if ((w = bb_wire_write_audio_head(buf, sizeof buf, &h, codec, ch, frames)) > 0 &&
        codec >= BB_CODEC_PCM16 && codec <= BB_CODEC_FLOAT) {
        size_t bps = codec == BB_CODEC_PCM16 ? 2 : codec == BB_CODEC_PCM24 ? 3 : 4;
        size_t want = (size_t)frames * ch * bps;
        struct bb_audio ar;
        if ((size_t)w + want <= sizeof buf) {
            memset(buf + w, 0x11, want);
            bb_fuzz_must(bb_wire_read_audio(buf, (size_t)w + want, &ar) == BB_WIRE_OK &&
                             ar.codec == codec && ar.channels == ch && ar.frames == frames,
                         "an AUDIO datagram of the right size reads back as given");
        }
    }

    uint8_t ctl = (uint8_t)(take(&c, 1) % 20);
    size_t plen = c.n;
    struct bb_osc orr;
    if ((w = bb_wire_write_osc(buf, sizeof buf, &h, ctl, c.p, plen)) > 0)
        bb_fuzz_must(bb_wire_read_osc(buf, (size_t)w, &orr) == BB_WIRE_OK && orr.controller == ctl &&
                         orr.packet_len == plen && memcmp(orr.packet, c.p, plen) == 0,
                     "an OSC datagram a writer makes reads back as given");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[BB_MAX_DATAGRAM + 64];
    struct bb_header h;
    memset(&h, 0, sizeof h);
    int hs = bb_wire_parse_header(data, size, &h);
    status_ok(hs);

    struct bb_join j;
    memset(&j, 0xA5, sizeof j);
    if (accepted(bb_wire_read_join(data, size, &j), &h, hs, BB_MSG_JOIN, BB_MSG_JOIN, &j, sizeof j)) {
        size_t n = strnlen(j.name, BB_NAME_MAX);
        bb_fuzz_must(n >= 1 && n < BB_NAME_MAX, "a JOIN's name is 1..31 bytes");
        bb_fuzz_must(j.codec != BB_CODEC_NONE, "a JOIN names a codec");
        bb_fuzz_must(j.down_codec < BB_CODEC_COUNT, "a JOIN's down_codec is 0 or known");
        struct bb_join k = j, k2;
        if (k.codec >= BB_CODEC_COUNT) {
            bb_fuzz_must(bb_wire_write_join(out, sizeof out, &h, &k) == BB_WIRE_FIELD_BAD,
                         "writers refuse a codec they do not know");
            k.codec = BB_CODEC_OPUS;
        }
        int w = bb_wire_write_join(out, sizeof out, &h, &k);
        bb_fuzz_must(w > 0 && (size_t)w <= size, "an accepted JOIN is written again, no longer");
        bb_fuzz_must(bb_wire_read_join(out, (size_t)w, &k2) == BB_WIRE_OK && join_eq(&k, &k2),
                     "a JOIN reads back as written");
    }

    struct bb_welcome wl;
    memset(&wl, 0xA5, sizeof wl);
    if (accepted(bb_wire_read_welcome(data, size, &wl), &h, hs, BB_MSG_WELCOME, BB_MSG_WELCOME,
                 &wl, sizeof wl)) {
        bb_fuzz_must(strnlen(wl.name, BB_NAME_MAX) < BB_NAME_MAX, "a WELCOME's name ends");
        int w = bb_wire_write_welcome(out, sizeof out, &h, &wl);
        bb_fuzz_must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0,
                     "a WELCOME is written again byte for byte");
    }

    struct bb_reject rj;
    memset(&rj, 0xA5, sizeof rj);
    if (accepted(bb_wire_read_reject(data, size, &rj), &h, hs, BB_MSG_REJECT, BB_MSG_REJECT, &rj,
                 sizeof rj)) {
        bb_fuzz_must(strnlen(rj.reason, BB_REASON_MAX) < BB_REASON_MAX, "a REJECT's reason ends");
        int w = bb_wire_write_reject(out, sizeof out, &h, &rj);
        bb_fuzz_must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0,
                     "a REJECT is written again byte for byte");
    }

    struct bb_leave lv;
    memset(&lv, 0xA5, sizeof lv);
    if (accepted(bb_wire_read_leave(data, size, &lv), &h, hs, BB_MSG_LEAVE, BB_MSG_LEAVE, &lv,
                 sizeof lv)) {
        bb_fuzz_must(strnlen(lv.reason, BB_REASON_MAX) < BB_REASON_MAX, "a LEAVE's reason ends");
        int w = bb_wire_write_leave(out, sizeof out, &h, &lv);
        bb_fuzz_must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0,
                     "a LEAVE is written again byte for byte");
    }

    struct bb_ping pg;
    memset(&pg, 0xA5, sizeof pg);
    if (accepted(bb_wire_read_ping(data, size, &pg), &h, hs, BB_MSG_PING, BB_MSG_PONG, &pg,
                 sizeof pg)) {
        int w = bb_wire_write_ping(out, sizeof out, &h, &pg);
        bb_fuzz_must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0,
                     "a PING/PONG is written again byte for byte");
    }

    struct bb_audio a;
    memset(&a, 0xA5, sizeof a);
    if (accepted(bb_wire_read_audio(data, size, &a), &h, hs, BB_MSG_AUDIO, BB_MSG_AUDIO, &a,
                 sizeof a)) {
        bb_fuzz_must(a.payload == data + BB_WIRE_HEADER_SIZE + 4 &&
                         a.payload_len == size - BB_WIRE_HEADER_SIZE - 4,
                     "the AUDIO payload is the rest of the datagram");
        int w = bb_wire_write_audio_head(out, sizeof out, &h, a.codec, a.channels, a.frames);
        bb_fuzz_must(w == BB_WIRE_HEADER_SIZE + 4 && (size_t)w + a.payload_len <= sizeof out,
                     "an accepted AUDIO head is written again");
        memcpy(out + w, a.payload, a.payload_len); // touches every payload byte (ASan)
        bb_fuzz_must(memcmp(out, data, size) == 0, "an AUDIO datagram is written again byte for byte");
    }

    struct bb_osc o;
    memset(&o, 0xA5, sizeof o);
    if (accepted(bb_wire_read_osc(data, size, &o), &h, hs, BB_MSG_OSC, BB_MSG_OSC, &o, sizeof o)) {
        bb_fuzz_must(o.packet == data + BB_WIRE_HEADER_SIZE + 1 &&
                         o.packet_len == size - BB_WIRE_HEADER_SIZE - 1,
                     "the OSC packet is the rest of the datagram");
        int w = bb_wire_write_osc(out, sizeof out, &h, o.controller, o.packet, o.packet_len);
        bb_fuzz_must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0,
                     "an OSC datagram is written again byte for byte");
    }

    // LEAVE_ACK has no reader of its own: the header is the message.
    if (hs == BB_WIRE_OK && h.type == BB_MSG_LEAVE_ACK && size == BB_WIRE_HEADER_SIZE) {
        int w = bb_wire_write_empty(out, sizeof out, &h);
        bb_fuzz_must(w == BB_WIRE_HEADER_SIZE && memcmp(out, data, size) == 0,
                     "a LEAVE_ACK is written again byte for byte");
    }
    write_then_read(data, size);
    return 0;
}

/* ---- seeds: one datagram of every kind, the optional parts both ways ---- */

static size_t seed_join(uint8_t *buf, size_t size, uint8_t codec, uint8_t down, uint8_t flags)
{
    struct bb_header h = hdr(BB_MSG_JOIN);
    struct bb_join j = { .rate = 48000, .period = 64, .channels = 2, .codec = codec, .kbps = 96,
                         .jitter = 0xFFFF, .down_codec = down, .flags = flags };
    for (int i = 0; i < BB_IDENTITY_SIZE; i++)
        j.identity[i] = (uint8_t)(0x10 + i);
    strcpy(j.name, "alice");
    int n = bb_wire_write_join(buf, size, &h, &j);
    return n > 0 ? (size_t)n : 0;
}

static size_t seed_audio(uint8_t *buf, size_t size, uint8_t codec, uint8_t ch, uint16_t frames,
                         size_t payload)
{
    struct bb_header h = hdr(BB_MSG_AUDIO);
    int n = bb_wire_write_audio_head(buf, size, &h, codec, ch, frames);
    if (n <= 0 || (size_t)n + payload > size)
        return 0;
    for (size_t i = 0; i < payload; i++)
        buf[n + i] = (uint8_t)(i * 37);
    return (size_t)n + payload;
}

/// An Opus payload: per channel (blocks of them) a u16 length and that many bytes.
static size_t seed_opus(uint8_t *buf, size_t size, uint8_t ch, unsigned blocks)
{
    struct bb_header h = hdr(BB_MSG_AUDIO);
    int n = bb_wire_write_audio_head(buf, size, &h, BB_CODEC_OPUS, ch, 64);
    if (n <= 0)
        return 0;
    size_t p = (size_t)n;
    for (unsigned b = 0; b < blocks; b++) {
        unsigned len = 20 + b;
        buf[p++] = (uint8_t)len;
        buf[p++] = 0;
        for (unsigned i = 0; i < len; i++)
            buf[p++] = (uint8_t)(b * 7 + i);
    }
    return p;
}

size_t bb_fuzz_seed(unsigned i, uint8_t *buf, size_t size)
{
    struct bb_header h;
    int n = 0;
    switch (i) {
    case 0: return seed_join(buf, size, BB_CODEC_OPUS, 0, 0);
    case 1: return seed_join(buf, size, BB_CODEC_OPUS, BB_CODEC_PCM16, 0);
    case 2: return seed_join(buf, size, BB_CODEC_FLOAT, BB_CODEC_OPUS_LD, 0x01);
    case 3: { // a newer musician's codec: read, for the hub to refuse in words
        size_t len = seed_join(buf, size, BB_CODEC_OPUS, 0, 0);
        buf[len - 1 - 32 - 4] = 200;
        return len;
    }
    case 4: {
        struct bb_welcome w = { .rate = 48000, .period = 64, .up_codec = BB_CODEC_OPUS,
                                .up_frames = 64, .down_codec = BB_CODEC_PCM16, .down_frames = 64,
                                .down_channels = 2, .restored = 1 };
        strcpy(w.name, "alice-vox");
        h = hdr(BB_MSG_WELCOME);
        n = bb_wire_write_welcome(buf, size, &h, &w);
        break;
    }
    case 5: {
        struct bb_reject r = { .code = BB_REJECT_NAME_TAKEN };
        strcpy(r.reason, "the name 'alice' is taken");
        h = hdr(BB_MSG_REJECT);
        n = bb_wire_write_reject(buf, size, &h, &r);
        break;
    }
    case 6: {
        struct bb_leave l = { .code = BB_LEAVE_QUIT };
        h = hdr(BB_MSG_LEAVE);
        n = bb_wire_write_leave(buf, size, &h, &l);
        break;
    }
    case 7:
    case 8: {
        struct bb_ping p = { .t_ns = 123456789012345ull, .jitter_frames = 256, .lost = 3 };
        h = hdr(i == 7 ? BB_MSG_PING : BB_MSG_PONG);
        n = bb_wire_write_ping(buf, size, &h, &p);
        break;
    }
    case 9:
        h = hdr(BB_MSG_LEAVE_ACK);
        n = bb_wire_write_empty(buf, size, &h);
        break;
    case 10: return seed_audio(buf, size, BB_CODEC_PCM16, 1, 64, 128);
    case 11: return seed_audio(buf, size, BB_CODEC_PCM24, 2, 32, 192);
    case 12: return seed_audio(buf, size, BB_CODEC_FLOAT, 2, 16, 128);
    case 13: return seed_opus(buf, size, 2, 2);
    case 14: return seed_opus(buf, size, 2, 1); // one block for two channels: mono
    case 15: { // "/mix/me/ch/bob/gain" ,f -6.0
        static const uint8_t msg[] = "/mix/me/ch/bob/gain\0,f\0\0\xc0\xc0\0\0";
        h = hdr(BB_MSG_OSC);
        n = bb_wire_write_osc(buf, size, &h, 3, msg, sizeof msg - 1);
        break;
    }
    case 16: // another protocol version: the header still parses
        n = (int)seed_join(buf, size, BB_CODEC_OPUS, 0, 0);
        buf[4] = 2;
        break;
    default: return 0;
    }
    return n > 0 ? (size_t)n : 0;
}
