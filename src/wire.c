// SPDX-License-Identifier: GPL-2.0-or-later
// wire.c: writers and validating readers of bandbridge datagrams (bandbridge-wire(7)).
#include "wire.h"

#include <stdbool.h>
#include <string.h>

#include "codec.h"

// Body layouts (after the 20-byte header); sizes in bytes:
//   JOIN     identity 16, str name, u32 rate, u16 period, u8 channels,
//            u8 codec, u16 kbps, u16 jitter, 32 reserved, then optional
//            u8 down_codec, u8 flags; may grow
//   WELCOME  u32 rate, u16 period, u8 up_codec, u16 up_frames,
//            u8 down_codec, u16 down_frames, u8 down_channels, str name,
//            u8 restored
//   REJECT, LEAVE   u8 code, str reason
//   PING, PONG      u64 t_ns, u32 jitter_frames, u32 lost
//   LEAVE_ACK       (empty)
//   AUDIO    u8 codec, u8 channels, u16 frames, payload
//   OSC      u8 controller, OSC packet (a multiple of 4 bytes, at least 8)
// A "str" is a u8 length and that many bytes, no NUL.
enum {
    NAME_LEN_MAX     = BB_NAME_MAX - 1,   // 31
    REASON_LEN_MAX   = BB_REASON_MAX - 1, // 127
    JOIN_RESERVED    = 32,
    JOIN_FIXED       = BB_IDENTITY_SIZE + 1 + 4 + 2 + 1 + 1 + 2 + 2 + JOIN_RESERVED,
    WELCOME_FIXED    = 4 + 2 + 1 + 2 + 1 + 2 + 1 + 1 + 1,
    PING_BODY        = 8 + 4 + 4,
    AUDIO_HEAD       = 4,
    RATE_MIN         = 8000,
    RATE_MAX         = 192000,
    PERIOD_MIN       = 16,
    CODEC_MIN        = BB_CODEC_PCM16,
    CODEC_MAX        = BB_CODEC_COUNT - 1,
    FRAMES_MAX       = 4096,
};

/* ---- field ranges, shared by writers and readers ------------------------ */

static bool rate_ok(uint32_t rate) { return rate >= RATE_MIN && rate <= RATE_MAX; }
static bool period_ok(uint32_t p) { return p >= PERIOD_MIN && p <= BB_MAX_PERIOD; }
static bool codec_ok(uint32_t c) { return c >= CODEC_MIN && c <= CODEC_MAX; }
static bool frames_ok(uint32_t f) { return f >= 1 && f <= FRAMES_MAX; }
static bool channels_ok(uint32_t ch) { return ch >= 1 && ch <= BB_MAX_CLIENT_CH; }

/// A name is 1..31 bytes without NUL; s/n is not NUL-terminated.
static bool name_ok(const uint8_t *s, size_t n)
{
    return n >= 1 && n <= NAME_LEN_MAX && memchr(s, 0, n) == NULL;
}

static bool reason_ok(const uint8_t *s, size_t n)
{
    return n <= REASON_LEN_MAX && memchr(s, 0, n) == NULL;
}

/* ---- writing ------------------------------------------------------------ */

static uint8_t *put_u8(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    return p + 1;
}

static uint8_t *put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    p = put_u32(p, (uint32_t)v);
    return put_u32(p, (uint32_t)(v >> 32));
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
    if (n)
        memcpy(p, src, n);
    return p + n;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
    p = put_u8(p, (uint32_t)n);
    return put_bytes(p, s, n);
}

static uint8_t *put_header(uint8_t *p, const struct bb_header *h, uint8_t type)
{
    p = put_bytes(p, BB_WIRE_MAGIC, 4);
    p = put_u8(p, BB_WIRE_VERSION);
    p = put_u8(p, type);
    p = put_u16(p, h->flags);
    p = put_u32(p, h->session);
    p = put_u32(p, h->seq);
    return put_u32(p, h->ts);
}

/// Length of a NUL-terminated name in a BB_NAME_MAX array, or -1 when it is
/// empty, unterminated or too long.
static int name_len(const char *name)
{
    size_t n = strnlen(name, BB_NAME_MAX);
    if (n < 1 || n > NAME_LEN_MAX)
        return -1;
    return (int)n;
}

/// Length of a reason text, cut to REASON_LEN_MAX bytes without splitting a
/// UTF-8 sequence.
static size_t reason_len(const char *reason)
{
    size_t n = strnlen(reason, BB_REASON_MAX);
    if (n > REASON_LEN_MAX) {
        n = REASON_LEN_MAX;
        // reason[n] is the first byte dropped: if it continues a UTF-8
        // sequence, drop the start of that character too (at most 3 back).
        size_t k = n;
        while (k > 0 && n - k < 3 && ((unsigned char)reason[k] & 0xC0) == 0x80)
            k--;
        n = k;
    }
    return n;
}

int bb_wire_write_join(uint8_t *buf, size_t size, const struct bb_header *h, const struct bb_join *m)
{
    int nl = name_len(m->name);
    if (nl < 0 || !rate_ok(m->rate) || !period_ok(m->period) || !channels_ok(m->channels) ||
        !codec_ok(m->codec))
        return BB_WIRE_FIELD_BAD;
    if (m->down_codec && !codec_ok(m->down_codec))
        return BB_WIRE_FIELD_BAD;
    size_t opt = m->flags ? 2 : m->down_codec ? 1 : 0; // optional trailing bytes
    size_t total = BB_WIRE_HEADER_SIZE + JOIN_FIXED + (size_t)nl + opt;
    if (size < total)
        return BB_WIRE_NO_ROOM;

    uint8_t *p = put_header(buf, h, BB_MSG_JOIN);
    p = put_bytes(p, m->identity, BB_IDENTITY_SIZE);
    p = put_str(p, m->name, (size_t)nl);
    p = put_u32(p, m->rate);
    p = put_u16(p, m->period);
    p = put_u8(p, m->channels);
    p = put_u8(p, m->codec);
    p = put_u16(p, m->kbps);
    p = put_u16(p, m->jitter);
    memset(p, 0, JOIN_RESERVED);
    p += JOIN_RESERVED;
    if (opt >= 1)
        p = put_u8(p, m->down_codec);
    if (opt >= 2)
        put_u8(p, m->flags);
    return (int)total;
}

int bb_wire_write_welcome(uint8_t *buf, size_t size, const struct bb_header *h,
                          const struct bb_welcome *m)
{
    int nl = name_len(m->name);
    if (nl < 0 || !rate_ok(m->rate) || !period_ok(m->period) || !codec_ok(m->up_codec) ||
        !frames_ok(m->up_frames) || !codec_ok(m->down_codec) || !frames_ok(m->down_frames) ||
        !channels_ok(m->down_channels) || m->restored > 1)
        return BB_WIRE_FIELD_BAD;
    size_t total = BB_WIRE_HEADER_SIZE + WELCOME_FIXED + (size_t)nl;
    if (size < total)
        return BB_WIRE_NO_ROOM;

    uint8_t *p = put_header(buf, h, BB_MSG_WELCOME);
    p = put_u32(p, m->rate);
    p = put_u16(p, m->period);
    p = put_u8(p, m->up_codec);
    p = put_u16(p, m->up_frames);
    p = put_u8(p, m->down_codec);
    p = put_u16(p, m->down_frames);
    p = put_u8(p, m->down_channels);
    p = put_str(p, m->name, (size_t)nl);
    put_u8(p, m->restored);
    return (int)total;
}

static int write_code_reason(uint8_t *buf, size_t size, const struct bb_header *h, uint8_t type,
                             uint8_t code, const char *reason)
{
    size_t rl = reason_len(reason);
    size_t total = BB_WIRE_HEADER_SIZE + 2 + rl;
    if (size < total)
        return BB_WIRE_NO_ROOM;
    uint8_t *p = put_header(buf, h, type);
    p = put_u8(p, code);
    put_str(p, reason, rl);
    return (int)total;
}

int bb_wire_write_reject(uint8_t *buf, size_t size, const struct bb_header *h,
                         const struct bb_reject *m)
{
    return write_code_reason(buf, size, h, BB_MSG_REJECT, m->code, m->reason);
}

int bb_wire_write_leave(uint8_t *buf, size_t size, const struct bb_header *h,
                        const struct bb_leave *m)
{
    return write_code_reason(buf, size, h, BB_MSG_LEAVE, m->code, m->reason);
}

int bb_wire_write_ping(uint8_t *buf, size_t size, const struct bb_header *h, const struct bb_ping *m)
{
    // One body for both: h->type says PING or PONG.
    if (h->type != BB_MSG_PING && h->type != BB_MSG_PONG)
        return BB_WIRE_TYPE_BAD;
    size_t total = BB_WIRE_HEADER_SIZE + PING_BODY;
    if (size < total)
        return BB_WIRE_NO_ROOM;
    uint8_t *p = put_header(buf, h, h->type);
    p = put_u64(p, m->t_ns);
    p = put_u32(p, m->jitter_frames);
    put_u32(p, m->lost);
    return (int)total;
}

int bb_wire_write_header(uint8_t *buf, size_t size, const struct bb_header *h)
{
    if (h->type < BB_MSG_JOIN || h->type > BB_MSG_LAST)
        return BB_WIRE_TYPE_BAD;
    if (size < BB_WIRE_HEADER_SIZE)
        return BB_WIRE_NO_ROOM;
    put_header(buf, h, h->type);
    return BB_WIRE_HEADER_SIZE;
}

int bb_wire_write_empty(uint8_t *buf, size_t size, const struct bb_header *h)
{
    // Only LEAVE_ACK has no body; any other type would be a malformed message.
    if (h->type != BB_MSG_LEAVE_ACK)
        return BB_WIRE_TYPE_BAD;
    if (size < BB_WIRE_HEADER_SIZE)
        return BB_WIRE_NO_ROOM;
    put_header(buf, h, h->type);
    return BB_WIRE_HEADER_SIZE;
}

int bb_wire_write_audio_head(uint8_t *buf, size_t size, const struct bb_header *h,
                             uint8_t codec, uint8_t channels, uint16_t frames)
{
    if (!codec_ok(codec) || !channels_ok(channels) || !frames_ok(frames))
        return BB_WIRE_FIELD_BAD;
    size_t total = BB_WIRE_HEADER_SIZE + AUDIO_HEAD;
    if (size < total)
        return BB_WIRE_NO_ROOM;
    uint8_t *p = put_header(buf, h, BB_MSG_AUDIO);
    p = put_u8(p, codec);
    p = put_u8(p, channels);
    put_u16(p, frames);
    return (int)total;
}

static bool osc_ok(uint32_t controller, size_t packet_len)
{
    return controller < BB_OSC_CONTROLLERS && packet_len >= BB_OSC_PACKET_MIN &&
           packet_len <= BB_OSC_PACKET_MAX && packet_len % 4 == 0;
}

int bb_wire_write_osc(uint8_t *buf, size_t size, const struct bb_header *h, uint8_t controller,
                      const void *packet, size_t packet_len)
{
    if (!osc_ok(controller, packet_len))
        return BB_WIRE_FIELD_BAD;
    size_t total = BB_WIRE_HEADER_SIZE + 1 + packet_len;
    if (size < total)
        return BB_WIRE_NO_ROOM;
    uint8_t *p = put_header(buf, h, BB_MSG_OSC);
    p = put_u8(p, controller);
    put_bytes(p, packet, packet_len);
    return (int)total;
}

/* ---- reading ------------------------------------------------------------ */

/// A bounds-checked cursor over a datagram. Reading past the end sets
/// `short_` and yields zeros, so a reader can take every field and check
/// once at the end.
struct rd {
    const uint8_t *buf;
    size_t         len;
    size_t         pos;
    bool           short_;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->short_ || r->len - r->pos < n) {
        r->short_ = true;
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static uint8_t rd_u8(struct rd *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? p[0] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
    const uint8_t *p = rd_take(r, 2);
    return p ? (uint16_t)(p[0] | (uint16_t)p[1] << 8) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    if (!p)
        return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(struct rd *r)
{
    uint64_t lo = rd_u32(r);
    uint64_t hi = rd_u32(r);
    return lo | hi << 32;
}

/// A u8-length string; *s points into the datagram (NULL when short).
static const uint8_t *rd_str(struct rd *r, size_t *n)
{
    *n = rd_u8(r);
    const uint8_t *s = rd_take(r, *n);
    if (!s)
        *n = 0;
    return s;
}

static size_t rd_left(const struct rd *r)
{
    return r->len - r->pos;
}

/// Copies a validated string (n < dst_size) and terminates it.
static void copy_str(char *dst, const uint8_t *s, size_t n)
{
    if (n)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

int bb_wire_parse_header(const uint8_t *buf, size_t len, struct bb_header *h)
{
    if (!buf || len < BB_WIRE_HEADER_SIZE)
        return BB_WIRE_SHORT;
    if (memcmp(buf, BB_WIRE_MAGIC, 4) != 0)
        return BB_WIRE_MAGIC_BAD;
    struct rd r = { .buf = buf, .len = len, .pos = 4 };
    h->version = rd_u8(&r);
    h->type = rd_u8(&r);
    h->flags = rd_u16(&r);
    h->session = rd_u32(&r);
    h->seq = rd_u32(&r);
    h->ts = rd_u32(&r);
    // Version first: a peer of another version may use other sizes and
    // types, and the hub wants to answer it with REJECT (VERSION).
    if (h->version != BB_WIRE_VERSION)
        return BB_WIRE_VERSION_BAD;
    if (len > BB_MAX_DATAGRAM)
        return BB_WIRE_FIELD_BAD;
    if (h->type < BB_MSG_JOIN || h->type > BB_MSG_LAST)
        return BB_WIRE_TYPE_BAD;
    return BB_WIRE_OK;
}

/// Parses the header, checks the type is one of want1/want2 and leaves the
/// cursor at the start of the body.
static int rd_begin(struct rd *r, const uint8_t *buf, size_t len, uint8_t want1, uint8_t want2)
{
    struct bb_header h;
    int st = bb_wire_parse_header(buf, len, &h);
    if (st != BB_WIRE_OK)
        return st;
    if (h.type != want1 && h.type != want2)
        return BB_WIRE_TYPE_BAD;
    *r = (struct rd){ .buf = buf, .len = len, .pos = BB_WIRE_HEADER_SIZE };
    return BB_WIRE_OK;
}

int bb_wire_read_join(const uint8_t *buf, size_t len, struct bb_join *m)
{
    struct rd r;
    int st = rd_begin(&r, buf, len, BB_MSG_JOIN, BB_MSG_JOIN);
    if (st != BB_WIRE_OK)
        return st;

    struct bb_join j = { 0 };
    const uint8_t *id = rd_take(&r, BB_IDENTITY_SIZE);
    size_t nl;
    const uint8_t *name = rd_str(&r, &nl);
    j.rate = rd_u32(&r);
    j.period = rd_u16(&r);
    j.channels = rd_u8(&r);
    j.codec = rd_u8(&r);
    j.kbps = rd_u16(&r);
    j.jitter = rd_u16(&r);
    rd_take(&r, JOIN_RESERVED); // password proof, not used yet
    // Optional: the codec wanted hub -> musician (0 or a codec we do not
    // know: as codec), then flags (bits we do not know are ignored), then
    // whatever a newer writer adds: ignored.
    if (!r.short_ && r.pos < r.len) {
        uint8_t d = rd_u8(&r);
        j.down_codec = codec_ok(d) ? d : 0;
    }
    if (!r.short_ && r.pos < r.len)
        j.flags = rd_u8(&r);
    if (r.short_)
        return BB_WIRE_SHORT;
    // A codec we do not know (a newer musician's) is read as it is: the
    // hub refuses it in words (BB_REJECT_CODEC) instead of in silence.
    if (!name_ok(name, nl) || !rate_ok(j.rate) || !period_ok(j.period) ||
        !channels_ok(j.channels) || j.codec == BB_CODEC_NONE)
        return BB_WIRE_FIELD_BAD;
    memcpy(j.identity, id, BB_IDENTITY_SIZE);
    copy_str(j.name, name, nl);
    *m = j;
    return BB_WIRE_OK;
}

int bb_wire_read_welcome(const uint8_t *buf, size_t len, struct bb_welcome *m)
{
    struct rd r;
    int st = rd_begin(&r, buf, len, BB_MSG_WELCOME, BB_MSG_WELCOME);
    if (st != BB_WIRE_OK)
        return st;

    struct bb_welcome w = { 0 };
    w.rate = rd_u32(&r);
    w.period = rd_u16(&r);
    w.up_codec = rd_u8(&r);
    w.up_frames = rd_u16(&r);
    w.down_codec = rd_u8(&r);
    w.down_frames = rd_u16(&r);
    w.down_channels = rd_u8(&r);
    size_t nl;
    const uint8_t *name = rd_str(&r, &nl);
    w.restored = rd_u8(&r);
    if (r.short_)
        return BB_WIRE_SHORT;
    if (rd_left(&r) != 0 || !name_ok(name, nl) || !rate_ok(w.rate) || !period_ok(w.period) ||
        !codec_ok(w.up_codec) || !frames_ok(w.up_frames) || !codec_ok(w.down_codec) ||
        !frames_ok(w.down_frames) || !channels_ok(w.down_channels) || w.restored > 1)
        return BB_WIRE_FIELD_BAD;
    copy_str(w.name, name, nl);
    *m = w;
    return BB_WIRE_OK;
}

static int read_code_reason(const uint8_t *buf, size_t len, uint8_t type, uint8_t *code,
                            char reason[BB_REASON_MAX])
{
    struct rd r;
    int st = rd_begin(&r, buf, len, type, type);
    if (st != BB_WIRE_OK)
        return st;
    uint8_t c = rd_u8(&r);
    size_t rl;
    const uint8_t *s = rd_str(&r, &rl);
    if (r.short_)
        return BB_WIRE_SHORT;
    if (rd_left(&r) != 0 || !reason_ok(s, rl))
        return BB_WIRE_FIELD_BAD;
    *code = c;
    copy_str(reason, s, rl);
    return BB_WIRE_OK;
}

int bb_wire_read_reject(const uint8_t *buf, size_t len, struct bb_reject *m)
{
    struct bb_reject x = { 0 };
    int st = read_code_reason(buf, len, BB_MSG_REJECT, &x.code, x.reason);
    if (st == BB_WIRE_OK)
        *m = x;
    return st;
}

int bb_wire_read_leave(const uint8_t *buf, size_t len, struct bb_leave *m)
{
    struct bb_leave x = { 0 };
    int st = read_code_reason(buf, len, BB_MSG_LEAVE, &x.code, x.reason);
    if (st == BB_WIRE_OK)
        *m = x;
    return st;
}

int bb_wire_read_ping(const uint8_t *buf, size_t len, struct bb_ping *m)
{
    struct rd r;
    int st = rd_begin(&r, buf, len, BB_MSG_PING, BB_MSG_PONG);
    if (st != BB_WIRE_OK)
        return st;
    struct bb_ping p;
    p.t_ns = rd_u64(&r);
    p.jitter_frames = rd_u32(&r);
    p.lost = rd_u32(&r);
    if (r.short_)
        return BB_WIRE_SHORT;
    if (rd_left(&r) != 0)
        return BB_WIRE_FIELD_BAD;
    *m = p;
    return BB_WIRE_OK;
}

/// Checks that an AUDIO payload has exactly the shape its codec, channel
/// and frame counts call for.
static int audio_payload_check(uint8_t codec, uint8_t channels, uint16_t frames,
                               const uint8_t *p, size_t n)
{
    size_t bps;
    switch (codec) {
    case BB_CODEC_PCM16: bps = 2; break;
    case BB_CODEC_PCM24: bps = 3; break;
    case BB_CODEC_FLOAT: bps = 4; break;
    default: bps = 0; break;
    }
    if (bps) {
        size_t want = (size_t)frames * channels * bps;
        if (n < want)
            return BB_WIRE_SHORT;
        return n == want ? BB_WIRE_OK : BB_WIRE_FIELD_BAD;
    }
    // Opus: per channel a u16 length and that many bytes (0: the receiver
    // conceals that channel; encoders never send it); or, for several
    // channels, exactly one block: mono, every channel that block.
    struct rd r = { .buf = p, .len = n };
    for (unsigned c = 0; c < channels; c++) {
        rd_take(&r, rd_u16(&r));
        if (c == 0 && !r.short_ && rd_left(&r) == 0)
            return BB_WIRE_OK; // one block, nothing after it
    }
    if (r.short_)
        return BB_WIRE_SHORT;
    return rd_left(&r) == 0 ? BB_WIRE_OK : BB_WIRE_FIELD_BAD;
}

int bb_wire_read_audio(const uint8_t *buf, size_t len, struct bb_audio *m)
{
    struct rd r;
    int st = rd_begin(&r, buf, len, BB_MSG_AUDIO, BB_MSG_AUDIO);
    if (st != BB_WIRE_OK)
        return st;
    struct bb_audio a;
    a.codec = rd_u8(&r);
    a.channels = rd_u8(&r);
    a.frames = rd_u16(&r);
    if (r.short_)
        return BB_WIRE_SHORT;
    if (!codec_ok(a.codec) || !channels_ok(a.channels) || !frames_ok(a.frames))
        return BB_WIRE_FIELD_BAD;
    a.payload = buf + r.pos;
    a.payload_len = rd_left(&r);
    st = audio_payload_check(a.codec, a.channels, a.frames, a.payload, a.payload_len);
    if (st != BB_WIRE_OK)
        return st;
    *m = a;
    return BB_WIRE_OK;
}

int bb_wire_read_osc(const uint8_t *buf, size_t len, struct bb_osc *m)
{
    struct rd r;
    int st = rd_begin(&r, buf, len, BB_MSG_OSC, BB_MSG_OSC);
    if (st != BB_WIRE_OK)
        return st;
    struct bb_osc o;
    o.controller = rd_u8(&r);
    o.packet = buf + r.pos;
    o.packet_len = rd_left(&r);
    if (r.short_ || o.packet_len < BB_OSC_PACKET_MIN)
        return BB_WIRE_SHORT;
    if (!osc_ok(o.controller, o.packet_len))
        return BB_WIRE_FIELD_BAD;
    *m = o;
    return BB_WIRE_OK;
}

const char *bb_wire_strerror(int status)
{
    switch (status) {
    case BB_WIRE_OK: return "ok";
    case BB_WIRE_SHORT: return "datagram truncated";
    case BB_WIRE_MAGIC_BAD: return "not a bandbridge datagram";
    case BB_WIRE_VERSION_BAD: return "other protocol version";
    case BB_WIRE_TYPE_BAD: return "wrong or unknown message type";
    case BB_WIRE_FIELD_BAD: return "field out of range";
    case BB_WIRE_NO_ROOM: return "buffer too small";
    default: return "unknown wire status";
    }
}
