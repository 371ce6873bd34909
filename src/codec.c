// SPDX-License-Identifier: GPL-2.0-or-later
// codec.c: wire codecs (PCM16, PCM24, float, Opus custom, standard Opus):
// the payload formats, what each codec allows, and the encoders. The
// decoders are codec_dec.c's.
/*
 * Payload formats (the codec payload that follows the AUDIO body prefix;
 * "frames" and "channels" come from that prefix and were negotiated at join):
 *
 * PCM16, PCM24, FLOAT
 *   frames * channels samples, interleaved (frame 0 channel 0, frame 0
 *   channel 1, ..., frame 1 channel 0, ...), little endian:
 *     PCM16  2 bytes, signed two's complement, value = sample * 32768
 *     PCM24  3 bytes, packed, signed two's complement, value = sample * 2^23
 *     FLOAT  4 bytes, IEEE 754 binary32
 *   The payload length is exactly frames * channels * bytes per sample.
 *   Encoders round to nearest, clip to [-1, 1 - 2^-15] (PCM16) or
 *   [-1, 1 - 2^-23] (PCM24) and send NaN as 0; decoders divide by the scale,
 *   so multiples of the step within [-1, 1) round-trip exactly.
 *   Decoders replace non-finite FLOAT samples with 0.
 *
 * OPUS (custom mode) and OPUS_STD (standard Opus)
 *   Every channel is an independent mono Opus stream. The payload is one
 *   block per channel, in channel order, and nothing after the last block:
 *
 *     offset  size  field
 *     0       2     len0   u16 little endian, bytes of channel 0's packet
 *     2       len0  packet for channel 0
 *     2+len0  2     len1   u16 little endian
 *     ...           (repeated for every channel)
 *
 *   OPUS:     each packet is one libopus custom-mode (CELT) frame of 64
 *             samples at the stream's sample rate (8000..64000 Hz), as
 *             produced by opus_custom_encode_float() with the default
 *             in-band signalling; constant bit rate (default 96 kb/s per
 *             channel). Both ends must use the same rate and 64-sample frames.
 *   OPUS_LD:  the same, but the custom mode is the one libopus builds for
 *             16000 Hz (whatever the stream's rate): its MDCT overlap is 32
 *             samples instead of 64, so each pass through the codec delays
 *             by 32 samples, not 64, and a round trip at 64-frame periods is
 *             4 periods instead of 5. The price: its bands are laid out for
 *             8 kHz of audio and stretched over 24, coarser in the bass
 *             (measured at 96 kb/s: a bass line with harmonics 24.6 dB SNR
 *             against 29.6 with OPUS; drum hits 15.4 against 14.0, a voice
 *             8.9 against 7.1: transients come out better). The bit rate is
 *             scaled so that the packets are as large as OPUS's.
 *   OPUS_STD: each packet is a standard Opus packet (RFC 6716) holding one
 *             2.5 ms frame (rate / 400 samples; rate 48000, 24000, 16000,
 *             12000 or 8000), CELT-only (restricted low delay), constrained VBR.
 *
 *   Mono: a payload of exactly one block for a stream of two or more
 *   channels means every channel is that block (the hub sends a personal
 *   mix so while it is centred: left and right equal to the bit, one
 *   encode instead of two). Only sent to a musician whose JOIN said it
 *   understands it (BB_JOIN_MONO_OK); the other channels' encoders are
 *   reset when the mix turns stereo again, and so are their decoders.
 *
 *   A packet is at most 1176 / channels - 2 bytes, so the whole payload
 *   fits the 1176 bytes a datagram leaves after the 20-byte header and
 *   the 4-byte AUDIO prefix. A block of length 0 is allowed and means
 *   "conceal this channel" (the decoder runs packet-loss concealment);
 *   encoders never send it. A payload whose blocks do not add up to its
 *   length exactly is malformed and decodes to silence.
 */
#include "codec.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>
#include <opus/opus_custom.h>

#include "bb.h"
#include "wire.h"

/// AUDIO body prefix: u8 codec, u8 channels, u16 frames (see wire.h).
#define AUDIO_PREFIX_SIZE 4
/// Bytes a datagram leaves for the codec payload.
#define PAYLOAD_ROOM (BB_MAX_DATAGRAM - BB_WIRE_HEADER_SIZE - AUDIO_PREFIX_SIZE)
/// The only custom-mode frame size that Debian's libopus decodes safely.
#define CUSTOM_FRAMES 64u
/// The rate whose custom mode OPUS_LD uses: 64-sample frames at 16 kHz
/// get an MDCT overlap of 32 (two short blocks of 32) instead of 64.
#define LD_MODE_RATE 16000u
#define DEFAULT_KBPS 96u
#define CUSTOM_COMPLEXITY 5
#define STD_COMPLEXITY 5
/// Opus input is clipped to this (NaN becomes 0): a NaN reaching libopus
/// trips an internal assertion that aborts the process.
#define OPUS_INPUT_LIMIT 2.0f

static int std_rate_ok(unsigned rate)
{
    return rate == 48000 || rate == 24000 || rate == 16000 || rate == 12000 || rate == 8000;
}

/// libopus custom mode needs 8000..96000 Hz and frames of at least 1 ms.
static int custom_rate_ok(unsigned rate)
{
    return rate >= 8000 && rate <= CUSTOM_FRAMES * 1000u;
}

unsigned bb_codec_mode_rate(enum bb_codec c, unsigned rate)
{
    return c == BB_CODEC_OPUS_LD ? LD_MODE_RATE : rate;
}

static unsigned opus_cap(unsigned channels)
{
    return PAYLOAD_ROOM / channels - 2;
}

int bb_codec_parse(const char *name, enum bb_codec *out)
{
    static const struct {
        const char   *name;
        enum bb_codec codec;
    } names[] = {
        { "pcm16", BB_CODEC_PCM16 },  { "pcm", BB_CODEC_PCM16 },
        { "pcm24", BB_CODEC_PCM24 },  { "float", BB_CODEC_FLOAT },
        { "pcm32f", BB_CODEC_FLOAT }, { "f32", BB_CODEC_FLOAT },
        { "opus", BB_CODEC_OPUS },    { "opus-custom", BB_CODEC_OPUS },
        { "opus-std", BB_CODEC_OPUS_STD }, { "opus-ld", BB_CODEC_OPUS_LD },
        { "opus-lowdelay", BB_CODEC_OPUS_LD },
    };
    if (!name || !out)
        return -1;
    for (size_t i = 0; i < BB_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].codec;
            return 0;
        }
    }
    return -1;
}

const char *bb_codec_name(enum bb_codec c)
{
    switch (c) {
    case BB_CODEC_PCM16:    return "pcm16";
    case BB_CODEC_PCM24:    return "pcm24";
    case BB_CODEC_FLOAT:    return "float";
    case BB_CODEC_OPUS:     return "opus";
    case BB_CODEC_OPUS_STD: return "opus-std";
    case BB_CODEC_OPUS_LD:  return "opus-ld";
    case BB_CODEC_NONE:
    default:                return "none";
    }
}

int bb_codec_is_opus(enum bb_codec c)
{
    return bb_codec_is_custom(c) || c == BB_CODEC_OPUS_STD;
}

unsigned bb_codec_wire_frames(enum bb_codec c, unsigned rate, unsigned channels)
{
    if (channels == 0 || channels > BB_MAX_CLIENT_CH)
        return 0;
    switch (c) {
    case BB_CODEC_OPUS:
    case BB_CODEC_OPUS_LD:
        return custom_rate_ok(rate) ? CUSTOM_FRAMES : 0;
    case BB_CODEC_OPUS_STD:
        return std_rate_ok(rate) ? rate / 400 : 0;
    case BB_CODEC_PCM16:
    case BB_CODEC_PCM24:
    case BB_CODEC_FLOAT: {
        static const unsigned choices[] = { 64, 32, 16 };
        unsigned bps = bb_codec_pcm_bytes(c);
        for (size_t i = 0; i < BB_ARRAY_LEN(choices); i++)
            if (choices[i] * channels * bps <= PAYLOAD_ROOM)
                return choices[i];
        return 0;
    }
    case BB_CODEC_NONE:
    default:
        return 0;
    }
}

size_t bb_codec_max_bytes(enum bb_codec c, unsigned channels, unsigned frames)
{
    if (channels == 0 || channels > BB_MAX_CLIENT_CH)
        return 0;
    if (bb_codec_is_opus(c))
        return (size_t)channels * (2 + opus_cap(channels));
    return (size_t)frames * channels * bb_codec_pcm_bytes(c);
}

int bb_codec_check_stream(enum bb_codec c, unsigned rate, unsigned channels, unsigned frames,
                          char *err, size_t err_size)
{
    if (c <= BB_CODEC_NONE || c >= BB_CODEC_COUNT) {
        bb_set_err(err, err_size, "unknown codec %d", (int)c);
        return -1;
    }
    if (channels == 0 || channels > BB_MAX_CLIENT_CH) {
        bb_set_err(err, err_size, "%s: %u channels (1..%d allowed)", bb_codec_name(c), channels,
                   BB_MAX_CLIENT_CH);
        return -1;
    }
    if (rate == 0) {
        bb_set_err(err, err_size, "%s: sample rate 0", bb_codec_name(c));
        return -1;
    }
    if (bb_codec_is_custom(c)) {
        if (!custom_rate_ok(rate)) {
            bb_set_err(err, err_size, "%s: custom mode needs a sample rate of 8000..%u Hz, not %u",
                       bb_codec_name(c), CUSTOM_FRAMES * 1000u, rate);
            return -1;
        }
        if (frames != CUSTOM_FRAMES) {
            bb_set_err(err, err_size, "%s: custom mode supports %u-sample frames only, not %u",
                       bb_codec_name(c), CUSTOM_FRAMES, frames);
            return -1;
        }
    } else if (c == BB_CODEC_OPUS_STD) {
        if (!std_rate_ok(rate)) {
            bb_set_err(err, err_size,
                       "opus-std: sample rate %u unsupported (48000, 24000, 16000, 12000, 8000)",
                       rate);
            return -1;
        }
        if (frames != rate / 400) {
            bb_set_err(err, err_size, "opus-std: frames must be %u (2.5 ms) at %u Hz, not %u",
                       rate / 400, rate, frames);
            return -1;
        }
    } else {
        if (frames == 0 || frames > BB_MAX_PERIOD ||
            (size_t)frames * channels * bb_codec_pcm_bytes(c) > PAYLOAD_ROOM) {
            bb_set_err(err, err_size, "%s: %u frames x %u channels do not fit a datagram",
                       bb_codec_name(c), frames, channels);
            return -1;
        }
    }
    return 0;
}

/* ---- encoder ----------------------------------------------------------- */

/// One sent stream's encoder: created and freed by the thread that opens
/// the stream, used in between by one send thread at a time (the hub's
/// send workers claim a musician's stream before they encode for it).
struct bb_encoder {
    enum bb_codec codec;
    unsigned rate, channels, frames;
    size_t max_bytes;            ///< bb_codec_max_bytes() for this stream
    unsigned cap;                ///< Opus: largest packet per channel
    OpusCustomMode *mode;        ///< OPUS
    OpusCustomEncoder *cenc[BB_MAX_CLIENT_CH];
    OpusEncoder *senc[BB_MAX_CLIENT_CH];
    float *mono;                 ///< Opus: one channel, de-interleaved
    int mono_ok;                 ///< Opus: may send one block when every channel is equal
    unsigned same_run;           ///< frames in a row with every channel equal (capped)
    int others_cold;             ///< channels 1.. skipped since the last multi-block frame
    int last_mono;               ///< the last frame went out as one block
};

// Encoders' custom modes are shared, one per (rate, frames), counted: a
// custom encoder's state points to its mode, so only encoders on the same
// mode object can take each other's state (bb_encoder_copy_state). Every
// thread may open and close encoders (the hub's control thread, tests),
// hence the lock; never taken while encoding.
#define SHARED_MODES 8
static struct shared_mode {
    unsigned        rate, frames, refs;
    OpusCustomMode *mode;
} shared_modes[SHARED_MODES];
static pthread_mutex_t shared_modes_lock = PTHREAD_MUTEX_INITIALIZER;

static OpusCustomMode *mode_get(unsigned rate, unsigned frames, int *oe)
{
    pthread_mutex_lock(&shared_modes_lock);
    struct shared_mode *free_slot = NULL;
    OpusCustomMode *m = NULL;
    for (int i = 0; i < SHARED_MODES && !m; i++) {
        struct shared_mode *sm = &shared_modes[i];
        if (sm->refs && sm->rate == rate && sm->frames == frames) {
            sm->refs++;
            m = sm->mode;
        } else if (!sm->refs && !free_slot) {
            free_slot = sm;
        }
    }
    if (!m) {
        m = opus_custom_mode_create((opus_int32)rate, (int)frames, oe);
        if (m && free_slot) // a full table: a mode of its own (no copies)
            *free_slot = (struct shared_mode){.rate = rate, .frames = frames, .refs = 1, .mode = m};
    }
    pthread_mutex_unlock(&shared_modes_lock);
    return m;
}

static void mode_put(OpusCustomMode *m)
{
    pthread_mutex_lock(&shared_modes_lock);
    int shared = 0;
    for (int i = 0; i < SHARED_MODES; i++) {
        struct shared_mode *sm = &shared_modes[i];
        if (sm->refs && sm->mode == m) {
            shared = 1;
            if (--sm->refs == 0)
                opus_custom_mode_destroy(m); // after every encoder using it
            break;
        }
    }
    if (!shared)
        opus_custom_mode_destroy(m);
    pthread_mutex_unlock(&shared_modes_lock);
}

struct bb_encoder *bb_encoder_new(enum bb_codec c, unsigned rate, unsigned channels,
                                  unsigned frames, unsigned kbps_per_channel,
                                  char *err, size_t err_size)
{
    if (bb_codec_check_stream(c, rate, channels, frames, err, err_size) < 0)
        return NULL;
    if (kbps_per_channel == 0)
        kbps_per_channel = DEFAULT_KBPS;
    if (bb_codec_is_opus(c) && (kbps_per_channel < 6 || kbps_per_channel > 510)) {
        bb_set_err(err, err_size, "%s: bit rate %u kb/s per channel out of range (6..510)",
                   bb_codec_name(c), kbps_per_channel);
        return NULL;
    }

    struct bb_encoder *e = calloc(1, sizeof(*e));
    if (!e) {
        bb_set_err(err, err_size, "%s: out of memory", bb_codec_name(c));
        return NULL;
    }
    e->codec = c;
    e->rate = rate;
    e->channels = channels;
    e->frames = frames;
    e->max_bytes = bb_codec_max_bytes(c, channels, frames);
    if (!bb_codec_is_opus(c))
        return e;

    e->cap = opus_cap(channels);
    e->mono = calloc(frames, sizeof(float));
    if (!e->mono) {
        bb_set_err(err, err_size, "%s: out of memory", bb_codec_name(c));
        goto fail;
    }
    opus_int32 bitrate = (opus_int32)kbps_per_channel * 1000;
    int oe = OPUS_OK;
    if (bb_codec_is_custom(c)) {
        // CELT sizes its constant-rate frames by the mode's rate: scaled,
        // so that OPUS_LD's packets are as large as OPUS's at this rate.
        bitrate = (opus_int32)((int64_t)bitrate * bb_codec_mode_rate(c, rate) / rate);
        e->mode = mode_get(bb_codec_mode_rate(c, rate), frames, &oe);
        if (!e->mode) {
            bb_set_err(err, err_size, "opus: custom mode %u Hz/%u: %s", rate, frames,
                       opus_strerror(oe));
            goto fail;
        }
        for (unsigned ch = 0; ch < channels; ch++) {
            e->cenc[ch] = opus_custom_encoder_create(e->mode, 1, &oe);
            if (!e->cenc[ch]) {
                bb_set_err(err, err_size, "opus: encoder: %s", opus_strerror(oe));
                goto fail;
            }
            if ((oe = opus_custom_encoder_ctl(e->cenc[ch], OPUS_SET_BITRATE(bitrate))) != OPUS_OK ||
                (oe = opus_custom_encoder_ctl(e->cenc[ch], OPUS_SET_VBR(0))) != OPUS_OK ||
                (oe = opus_custom_encoder_ctl(e->cenc[ch],
                                              OPUS_SET_COMPLEXITY(CUSTOM_COMPLEXITY))) != OPUS_OK) {
                bb_set_err(err, err_size, "opus: encoder setup: %s", opus_strerror(oe));
                goto fail;
            }
        }
    } else {
        for (unsigned ch = 0; ch < channels; ch++) {
            e->senc[ch] = opus_encoder_create((opus_int32)rate, 1,
                                              OPUS_APPLICATION_RESTRICTED_LOWDELAY, &oe);
            if (!e->senc[ch]) {
                bb_set_err(err, err_size, "opus-std: encoder: %s", opus_strerror(oe));
                goto fail;
            }
            if ((oe = opus_encoder_ctl(e->senc[ch], OPUS_SET_BITRATE(bitrate))) != OPUS_OK ||
                (oe = opus_encoder_ctl(e->senc[ch], OPUS_SET_VBR(1))) != OPUS_OK ||
                (oe = opus_encoder_ctl(e->senc[ch], OPUS_SET_VBR_CONSTRAINT(1))) != OPUS_OK ||
                (oe = opus_encoder_ctl(e->senc[ch], OPUS_SET_SIGNAL(OPUS_SIGNAL_MUSIC))) != OPUS_OK ||
                (oe = opus_encoder_ctl(e->senc[ch],
                                       OPUS_SET_COMPLEXITY(STD_COMPLEXITY))) != OPUS_OK) {
                bb_set_err(err, err_size, "opus-std: encoder setup: %s", opus_strerror(oe));
                goto fail;
            }
        }
    }
    return e;

fail:
    bb_encoder_free(e);
    return NULL;
}

int bb_encoder_set_complexity(struct bb_encoder *e, int complexity)
{
    if (complexity < 0 || complexity > 10)
        return -1;
    for (unsigned ch = 0; ch < e->channels && bb_codec_is_opus(e->codec); ch++) {
        int oe = bb_codec_is_custom(e->codec)
                     ? opus_custom_encoder_ctl(e->cenc[ch], OPUS_SET_COMPLEXITY(complexity))
                     : opus_encoder_ctl(e->senc[ch], OPUS_SET_COMPLEXITY(complexity));
        if (oe != OPUS_OK)
            return -1;
    }
    return 0;
}

void bb_encoder_allow_mono(struct bb_encoder *e, int allow)
{
    e->mono_ok = allow && bb_codec_is_opus(e->codec) && e->channels > 1;
    e->same_run = 0;
}

int bb_encoder_last_mono(const struct bb_encoder *e)
{
    return e->last_mono;
}

void bb_encoder_free(struct bb_encoder *e)
{
    if (!e)
        return;
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++) {
        if (e->cenc[ch])
            opus_custom_encoder_destroy(e->cenc[ch]);
        if (e->senc[ch])
            opus_encoder_destroy(e->senc[ch]);
    }
    if (e->mode)
        mode_put(e->mode); // after every encoder using it
    free(e->mono);
    free(e);
}

int bb_encoder_copy_state(struct bb_encoder *dst, const struct bb_encoder *src)
{
    if (!dst || !src || dst->codec != src->codec || dst->rate != src->rate ||
        dst->channels != src->channels || dst->frames != src->frames || dst->mode != src->mode ||
        dst->mono_ok != src->mono_ok)
        return -1;
    if (dst == src)
        return 0;
    // Opus states are one block each, position independent (opus.h:
    // "a shallow copy is sufficient"); a custom one points to its mode,
    // which is the same object here (mode_get).
    for (unsigned ch = 0; ch < src->channels && bb_codec_is_opus(src->codec); ch++) {
        if (bb_codec_is_custom(src->codec))
            memcpy(dst->cenc[ch], src->cenc[ch], (size_t)opus_custom_encoder_get_size(src->mode, 1));
        else
            memcpy(dst->senc[ch], src->senc[ch], (size_t)opus_encoder_get_size(1));
    }
    dst->same_run = src->same_run;
    dst->others_cold = src->others_cold;
    dst->last_mono = src->last_mono;
    return 0;
}

static inline void put_u16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

/// Sample times scale (a power of two) as an integer, clipped to
/// [-scale, scale - 1], NaN as 0.
static inline int32_t to_int(float x, float scale)
{
    if (!(x == x))
        return 0;
    float v = x * scale;
    if (v >= scale - 1.0f)
        return (int32_t)(scale - 1.0f);
    if (v <= -scale)
        return (int32_t)-scale;
    return (int32_t)lrintf(v);
}

static inline void put_f32(uint8_t *p, float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof(u));
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static int encode_pcm(const struct bb_encoder *e, const float *pcm, uint8_t *out)
{
    size_t n = (size_t)e->frames * e->channels;
    switch (e->codec) {
    case BB_CODEC_PCM16:
        for (size_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)to_int(pcm[i], 32768.0f);
            out[2 * i] = (uint8_t)v;
            out[2 * i + 1] = (uint8_t)(v >> 8);
        }
        return (int)(2 * n);
    case BB_CODEC_PCM24:
        for (size_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)to_int(pcm[i], 8388608.0f);
            out[3 * i] = (uint8_t)v;
            out[3 * i + 1] = (uint8_t)(v >> 8);
            out[3 * i + 2] = (uint8_t)(v >> 16);
        }
        return (int)(3 * n);
    case BB_CODEC_FLOAT:
        for (size_t i = 0; i < n; i++)
            put_f32(out + 4 * i, pcm[i]);
        return (int)(4 * n);
    default:
        return -1;
    }
}

static inline float opus_input(float x)
{
    if (!(x == x))
        return 0.0f;
    if (x > OPUS_INPUT_LIMIT)
        return OPUS_INPUT_LIMIT;
    if (x < -OPUS_INPUT_LIMIT)
        return -OPUS_INPUT_LIMIT;
    return x;
}

/// Frames in a row with every channel equal before the encoder goes mono:
/// a mix that is centred for a moment (a pan sweeping through the middle)
/// stays stereo.
#define MONO_AFTER_FRAMES 1024u

/// Every channel of every frame equal to channel 0, bit for bit.
static int channels_equal(const struct bb_encoder *e, const float *pcm)
{
    for (unsigned f = 0; f < e->frames; f++) {
        const float *x = pcm + (size_t)f * e->channels;
        for (unsigned ch = 1; ch < e->channels; ch++)
            if (memcmp(&x[ch], &x[0], sizeof x[0]) != 0)
                return 0;
    }
    return 1;
}

static int reset_encoder(struct bb_encoder *e, unsigned ch)
{
    return bb_codec_is_custom(e->codec) ? opus_custom_encoder_ctl(e->cenc[ch], OPUS_RESET_STATE)
                                        : opus_encoder_ctl(e->senc[ch], OPUS_RESET_STATE);
}

int bb_encode(struct bb_encoder *e, const float *pcm, uint8_t *out, size_t out_size)
{
    if (!e || !pcm || !out || out_size < e->max_bytes)
        return -1;
    if (!bb_codec_is_opus(e->codec))
        return encode_pcm(e, pcm, out);

    unsigned nch = e->channels;
    if (e->mono_ok) {
        if (!channels_equal(e, pcm))
            e->same_run = 0;
        else if (e->same_run < MONO_AFTER_FRAMES)
            e->same_run += e->frames;
        if (e->same_run >= MONO_AFTER_FRAMES) {
            nch = 1;
            e->others_cold = 1;
        } else if (e->others_cold) {
            // Back to stereo: the other channels start from a clean state,
            // as the decoder's do (bb_decode), rather than from a stale one.
            for (unsigned ch = 1; ch < e->channels; ch++)
                if (reset_encoder(e, ch) != OPUS_OK)
                    return -1;
            e->others_cold = 0;
        }
    }
    e->last_mono = nch == 1 && e->channels > 1;

    size_t off = 0;
    for (unsigned ch = 0; ch < nch; ch++) {
        for (unsigned f = 0; f < e->frames; f++)
            e->mono[f] = opus_input(pcm[(size_t)f * e->channels + ch]);
        int n;
        if (bb_codec_is_custom(e->codec))
            n = opus_custom_encode_float(e->cenc[ch], e->mono, (int)e->frames, out + off + 2,
                                         (int)e->cap);
        else
            n = opus_encode_float(e->senc[ch], e->mono, (int)e->frames, out + off + 2,
                                  (opus_int32)e->cap);
        if (n < 0 || (unsigned)n > e->cap)
            return -1;
        put_u16(out + off, (unsigned)n);
        off += 2 + (size_t)n;
    }
    return (int)off;
}
