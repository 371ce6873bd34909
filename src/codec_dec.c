// SPDX-License-Identifier: GPL-2.0-or-later
// codec_dec.c: the wire codecs' decoders (codec.h): PCM16, PCM24 and float
// with a fade-out for a lost frame, Opus custom mode and standard Opus with
// libopus's concealment, and one-block (mono) Opus payloads played on every
// channel. The payload formats are in codec.c's head comment; the stream
// checks and the facts both halves use (bb_codec_check_stream,
// bb_codec_is_custom, ...) are codec.c's.
#include "codec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>
#include <opus/opus_custom.h>

#include "bb.h"

/// One received stream's decoder: created and freed by the thread that
/// opens the stream (the control thread, stream.c), used by the receive
/// thread alone (jbuf_rx.c) in between.
struct bb_decoder {
    enum bb_codec codec;
    unsigned rate, channels, frames;
    OpusCustomMode *mode;
    OpusCustomDecoder *cdec[BB_MAX_CLIENT_CH];
    OpusDecoder *sdec[BB_MAX_CLIENT_CH];
    float *mono;                 ///< Opus: one channel's decoded frame
    float *last;                 ///< PCM: last good frame, for concealment
    int have_last;               ///< PCM: last is valid and not yet concealed
    int others_cold;             ///< Opus: one-block frames since channels 1.. last decoded
    int others_warm;             ///< Opus: multi-block frames left until channels 1.. are
                                 ///< their own: WARM_FRAMES..2 play channel 0, 1 fades
};

static inline unsigned get_u16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static inline float get_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float x;
    memcpy(&x, &u, sizeof(x));
    return x;
}

/// A decoded sample as the mixes may take it: NaN/inf from the network
/// would poison a mix, and a huge value would deafen it; +-4.0 (+12 dBFS)
/// is far beyond any honest sample.
static inline float sane(float x)
{
    return isfinite(x) ? fminf(fmaxf(x, -4.0f), 4.0f) : 0.0f;
}

struct bb_decoder *bb_decoder_new(enum bb_codec c, unsigned rate, unsigned channels,
                                  unsigned frames, char *err, size_t err_size)
{
    if (bb_codec_check_stream(c, rate, channels, frames, err, err_size) < 0)
        return NULL;
    struct bb_decoder *d = calloc(1, sizeof(*d));
    if (!d) {
        bb_set_err(err, err_size, "%s: out of memory", bb_codec_name(c));
        return NULL;
    }
    d->codec = c;
    d->rate = rate;
    d->channels = channels;
    d->frames = frames;
    if (!bb_codec_is_opus(c)) {
        d->last = calloc((size_t)frames * channels, sizeof(float));
        if (!d->last) {
            bb_set_err(err, err_size, "%s: out of memory", bb_codec_name(c));
            goto fail;
        }
        return d;
    }

    d->mono = calloc(frames, sizeof(float));
    if (!d->mono) {
        bb_set_err(err, err_size, "%s: out of memory", bb_codec_name(c));
        goto fail;
    }
    int oe = OPUS_OK;
    if (bb_codec_is_custom(c)) {
        d->mode =
            opus_custom_mode_create((opus_int32)bb_codec_mode_rate(c, rate), (int)frames, &oe);
        if (!d->mode) {
            bb_set_err(err, err_size, "opus: custom mode %u Hz/%u: %s", rate, frames,
                       opus_strerror(oe));
            goto fail;
        }
        for (unsigned ch = 0; ch < channels; ch++) {
            d->cdec[ch] = opus_custom_decoder_create(d->mode, 1, &oe);
            if (!d->cdec[ch]) {
                bb_set_err(err, err_size, "opus: decoder: %s", opus_strerror(oe));
                goto fail;
            }
        }
    } else {
        for (unsigned ch = 0; ch < channels; ch++) {
            d->sdec[ch] = opus_decoder_create((opus_int32)rate, 1, &oe);
            if (!d->sdec[ch]) {
                bb_set_err(err, err_size, "opus-std: decoder: %s", opus_strerror(oe));
                goto fail;
            }
        }
    }
    return d;

fail:
    bb_decoder_free(d);
    return NULL;
}

void bb_decoder_free(struct bb_decoder *d)
{
    if (!d)
        return;
    for (unsigned ch = 0; ch < BB_MAX_CLIENT_CH; ch++) {
        if (d->cdec[ch])
            opus_custom_decoder_destroy(d->cdec[ch]);
        if (d->sdec[ch])
            opus_decoder_destroy(d->sdec[ch]);
    }
    if (d->mode)
        opus_custom_mode_destroy(d->mode); // after every decoder using it
    free(d->mono);
    free(d->last);
    free(d);
}

static void silence(const struct bb_decoder *d, float *pcm)
{
    memset(pcm, 0, (size_t)d->frames * d->channels * sizeof(float));
}

/// PCM concealment: the last good frame faded linearly to zero, once;
/// silence after that until a good frame arrives.
static int conceal_pcm(struct bb_decoder *d, float *pcm)
{
    if (!d->have_last) {
        silence(d, pcm);
        return (int)d->frames;
    }
    float step = 1.0f / (float)d->frames;
    for (unsigned f = 0; f < d->frames; f++) {
        float g = 1.0f - (float)(f + 1) * step;
        for (unsigned ch = 0; ch < d->channels; ch++) {
            size_t i = (size_t)f * d->channels + ch;
            pcm[i] = d->last[i] * g;
        }
    }
    d->have_last = 0;
    return (int)d->frames;
}

static int decode_pcm(struct bb_decoder *d, const uint8_t *data, size_t len, float *pcm)
{
    size_t n = (size_t)d->frames * d->channels;
    if (len != n * bb_codec_pcm_bytes(d->codec)) {
        silence(d, pcm);
        return -1;
    }
    switch (d->codec) {
    case BB_CODEC_PCM16:
        for (size_t i = 0; i < n; i++) {
            int32_t v = (int32_t)((uint32_t)data[2 * i] | (uint32_t)data[2 * i + 1] << 8);
            if (v & 0x8000)
                v -= 0x10000;
            pcm[i] = (float)v * (1.0f / 32768.0f);
        }
        break;
    case BB_CODEC_PCM24:
        for (size_t i = 0; i < n; i++) {
            int32_t v = (int32_t)((uint32_t)data[3 * i] | (uint32_t)data[3 * i + 1] << 8 |
                                  (uint32_t)data[3 * i + 2] << 16);
            if (v & 0x800000)
                v -= 0x1000000;
            pcm[i] = (float)v * (1.0f / 8388608.0f);
        }
        break;
    case BB_CODEC_FLOAT:
        for (size_t i = 0; i < n; i++) {
            pcm[i] = sane(get_f32(data + 4 * i));
        }
        break;
    default:
        silence(d, pcm);
        return -1;
    }
    memcpy(d->last, pcm, n * sizeof(float));
    d->have_last = 1;
    return (int)d->frames;
}

/// Decodes (or, with pkt == NULL, conceals) one channel into d->mono,
/// every sample made sane(): a corrupt Opus payload (a band member's
/// sender gone wrong, or worse) decodes to values in the tens of thousands.
/// It comes before the fades and copies, so every path out sees it.
static int decode_opus_channel(struct bb_decoder *d, unsigned ch, const uint8_t *pkt,
                               unsigned len)
{
    int n;
    if (bb_codec_is_custom(d->codec))
        n = opus_custom_decode_float(d->cdec[ch], len ? pkt : NULL, (int)len, d->mono,
                                     (int)d->frames);
    else
        n = opus_decode_float(d->sdec[ch], len ? pkt : NULL, (opus_int32)len, d->mono,
                              (int)d->frames, 0);
    if (n != (int)d->frames)
        return -1;
    for (unsigned f = 0; f < d->frames; f++)
        d->mono[f] = sane(d->mono[f]);
    return 0;
}

static void interleave(const struct bb_decoder *d, unsigned ch, float *pcm)
{
    for (unsigned f = 0; f < d->frames; f++)
        pcm[(size_t)f * d->channels + ch] = d->mono[f];
}

/// Channel 0's frame into channels 1.. (a one-block payload).
static void copy_channel0(const struct bb_decoder *d, float *pcm)
{
    for (unsigned f = 0; f < d->frames; f++)
        for (unsigned ch = 1; ch < d->channels; ch++)
            pcm[(size_t)f * d->channels + ch] = pcm[(size_t)f * d->channels];
}

static int reset_decoder(struct bb_decoder *d, unsigned ch)
{
    return bb_codec_is_custom(d->codec) ? opus_custom_decoder_ctl(d->cdec[ch], OPUS_RESET_STATE)
                                        : opus_decoder_ctl(d->sdec[ch], OPUS_RESET_STATE);
}

/// Multi-block frames after mono before the other channels are heard: a
/// decoder reset (as its encoder) plays a transient in its first two
/// frames, so they play channel 0, and the third fades to its own.
#define WARM_FRAMES 3

static int decode_opus(struct bb_decoder *d, const uint8_t *data, size_t len, float *pcm)
{
    if (!data) {
        // Concealment: of channel 0 alone while the stream is mono.
        unsigned nch = d->others_cold ? 1 : d->channels;
        for (unsigned ch = 0; ch < nch; ch++) {
            if (decode_opus_channel(d, ch, NULL, 0) < 0) {
                silence(d, pcm);
                return -1;
            }
            interleave(d, ch, pcm);
        }
        if (nch < d->channels)
            copy_channel0(d, pcm);
        return (int)d->frames;
    }

    // Validate every block before touching any decoder state: one block
    // for every channel, or exactly one (mono) for a stream of several.
    size_t off = 0;
    unsigned blocks = 0;
    while (off < len && blocks < d->channels) {
        if (len - off < 2)
            goto bad;
        size_t n = get_u16(data + off);
        off += 2;
        if (n > len - off || n > 1275)
            goto bad;
        off += n;
        blocks++;
    }
    if (off != len || (blocks != d->channels && blocks != 1))
        goto bad;

    if (blocks < d->channels) {
        unsigned n = get_u16(data);
        if (decode_opus_channel(d, 0, data + 2, n) < 0)
            goto bad;
        interleave(d, 0, pcm);
        copy_channel0(d, pcm);
        if (!d->others_cold) {
            // Stereo until now: channels 1.. fade from their own
            // concealment (codec noise differs between channels) to 0.
            for (unsigned ch = 1; ch < d->channels; ch++) {
                if (decode_opus_channel(d, ch, NULL, 0) < 0)
                    continue; // then no fade: channel 0 as it is
                for (unsigned f = 0; f + 1 < d->frames; f++) {
                    float *x = pcm + (size_t)f * d->channels;
                    float a = (float)(f + 1) / (float)d->frames;
                    x[ch] = d->mono[f] + a * (x[0] - d->mono[f]);
                } // the last frame: channel 0's own (copy_channel0)
            }
        }
        d->others_cold = 1;
        d->others_warm = 0;
        return (int)d->frames;
    }

    // Back from mono: channels 1.. restart from a clean decoder (the hub
    // reset their encoders); see WARM_FRAMES.
    if (d->others_cold) {
        for (unsigned ch = 1; ch < d->channels; ch++)
            if (reset_decoder(d, ch) != OPUS_OK)
                goto bad;
        d->others_warm = WARM_FRAMES;
    }
    int warm_up = d->others_warm > 1, fade = d->others_warm == 1;
    off = 0;
    for (unsigned ch = 0; ch < d->channels; ch++) {
        unsigned n = get_u16(data + off);
        off += 2;
        if (decode_opus_channel(d, ch, data + off, n) < 0)
            goto bad;
        off += n;
        if (ch == 0 || !(warm_up || fade)) {
            interleave(d, ch, pcm);
            continue;
        }
        for (unsigned f = 0; f < d->frames; f++) {
            float *x = pcm + (size_t)f * d->channels;
            float a = warm_up ? 0.0f : (float)(f + 1) / (float)d->frames;
            x[ch] = x[0] + a * (d->mono[f] - x[0]);
        }
    }
    d->others_cold = 0;
    if (d->others_warm > 0)
        d->others_warm--;
    return (int)d->frames;

bad:
    silence(d, pcm);
    return -1;
}

enum bb_codec bb_decoder_codec(const struct bb_decoder *d)
{
    return d->codec;
}

int bb_decode(struct bb_decoder *d, const uint8_t *data, size_t len, float *pcm)
{
    if (!d || !pcm)
        return -1;
    if (bb_codec_is_opus(d->codec))
        return decode_opus(d, data, len, pcm);
    if (!data)
        return conceal_pcm(d, pcm);
    return decode_pcm(d, data, len, pcm);
}
