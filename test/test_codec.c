// SPDX-License-Identifier: GPL-2.0-or-later
// test_codec.c: unit test of the wire codecs (PCM16/24, float, Opus custom and standard).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bb.h"
#include "check.h"
#include "codec.h"
#include "wire.h"

/// Payload room in one datagram: header and the 4-byte AUDIO prefix.
#define ROOM (BB_MAX_DATAGRAM - BB_WIRE_HEADER_SIZE - 4)
#define MAXF 128 // largest wire frame in these tests (opus-std at 48 kHz: 120)

static uint32_t rng_state = 0x12345678u;

static uint32_t rng(void)
{
    uint32_t x = rng_state; // xorshift32, fixed seed: reproducible
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int all_zero(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f)
            return 0;
    return 1;
}

static void test_names(void)
{
    static const char *const canon[] = { "pcm16", "pcm24", "float", "opus", "opus-std",
                                         "opus-ld" };
    enum bb_codec c = BB_CODEC_NONE;
    for (size_t i = 0; i < BB_ARRAY_LEN(canon); i++) {
        CHECK(bb_codec_parse(canon[i], &c) == 0);
        CHECK(strcmp(bb_codec_name(c), canon[i]) == 0);
    }
    CHECK(bb_codec_parse("pcm", &c) == 0 && c == BB_CODEC_PCM16);
    CHECK(bb_codec_parse("pcm32f", &c) == 0 && c == BB_CODEC_FLOAT);
    CHECK(bb_codec_parse("f32", &c) == 0 && c == BB_CODEC_FLOAT);
    CHECK(bb_codec_parse("opus-custom", &c) == 0 && c == BB_CODEC_OPUS);
    CHECK(bb_codec_parse("opus-std", &c) == 0 && c == BB_CODEC_OPUS_STD);
    CHECK(bb_codec_parse("opus-lowdelay", &c) == 0 && c == BB_CODEC_OPUS_LD);
    CHECK(bb_codec_is_opus(BB_CODEC_OPUS_LD));
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS_LD, 48000, 2) == 64);
    for (int i = 0; i < BB_CODEC_COUNT; i++) {
        const char *n = bb_codec_name((enum bb_codec)i);
        CHECK(n != NULL);
        if (i == BB_CODEC_NONE) {
            CHECK(strcmp(n, "none") == 0);
            CHECK(bb_codec_parse(n, &c) == -1);
        } else {
            CHECK(bb_codec_parse(n, &c) == 0 && c == (enum bb_codec)i);
        }
    }
    c = BB_CODEC_PCM24;
    CHECK(bb_codec_parse("", &c) == -1);
    CHECK(bb_codec_parse("mp3", &c) == -1);
    CHECK(bb_codec_parse("PCM16", &c) == -1);
    CHECK(bb_codec_parse("opus ", &c) == -1);
    CHECK(bb_codec_parse("pcm16x", &c) == -1);
    CHECK(bb_codec_parse(NULL, &c) == -1);
    CHECK(c == BB_CODEC_PCM24); // untouched on failure
    CHECK(strcmp(bb_codec_name((enum bb_codec)99), "none") == 0);
    CHECK(bb_codec_is_opus(BB_CODEC_OPUS) && bb_codec_is_opus(BB_CODEC_OPUS_STD));
    CHECK(!bb_codec_is_opus(BB_CODEC_PCM16) && !bb_codec_is_opus(BB_CODEC_FLOAT) &&
          !bb_codec_is_opus(BB_CODEC_NONE));
}

static void test_wire_frames(void)
{
    CHECK(bb_codec_wire_frames(BB_CODEC_PCM16, 48000, 1) == 64);
    CHECK(bb_codec_wire_frames(BB_CODEC_PCM16, 48000, 8) == 64);  // 1024 bytes
    CHECK(bb_codec_wire_frames(BB_CODEC_PCM24, 48000, 6) == 64);  // 1152 bytes
    CHECK(bb_codec_wire_frames(BB_CODEC_PCM24, 48000, 7) == 32);  // 64*7*3 = 1344
    CHECK(bb_codec_wire_frames(BB_CODEC_PCM24, 48000, 8) == 32);
    CHECK(bb_codec_wire_frames(BB_CODEC_FLOAT, 48000, 4) == 64);  // 1024 bytes
    CHECK(bb_codec_wire_frames(BB_CODEC_FLOAT, 48000, 5) == 32);
    CHECK(bb_codec_wire_frames(BB_CODEC_FLOAT, 48000, 8) == 32);  // 64*8*4 > 1176
    CHECK(bb_codec_wire_frames(BB_CODEC_FLOAT, 44100, 2) == 64);
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS, 48000, 1) == 64);
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS, 44100, 8) == 64);
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS, 96000, 2) == 0);    // frame < 1 ms
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS_STD, 48000, 2) == 120);
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS_STD, 24000, 2) == 60);
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS_STD, 8000, 2) == 20);
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS_STD, 44100, 2) == 0);
    CHECK(bb_codec_wire_frames(BB_CODEC_OPUS_STD, 96000, 2) == 0);
    for (int c = 0; c < BB_CODEC_COUNT; c++) {
        CHECK(bb_codec_wire_frames((enum bb_codec)c, 48000, 0) == 0);
        CHECK(bb_codec_wire_frames((enum bb_codec)c, 48000, BB_MAX_CLIENT_CH + 1) == 0);
    }
    CHECK(bb_codec_wire_frames(BB_CODEC_NONE, 48000, 2) == 0);

    // Every codec and channel count: the worst case fits one datagram.
    for (int c = 1; c < BB_CODEC_COUNT; c++) {
        for (unsigned ch = 1; ch <= BB_MAX_CLIENT_CH; ch++) {
            unsigned fr = bb_codec_wire_frames((enum bb_codec)c, 48000, ch);
            size_t max = bb_codec_max_bytes((enum bb_codec)c, ch, fr);
            CHECK(fr > 0);
            CHECK(max > 0);
            CHECK(BB_WIRE_HEADER_SIZE + 4 + max <= BB_MAX_DATAGRAM);
            if (!bb_codec_is_opus((enum bb_codec)c))
                CHECK(max == (size_t)fr * ch * (c == BB_CODEC_PCM16 ? 2u : c == BB_CODEC_PCM24 ? 3u : 4u));
        }
    }
    CHECK(bb_codec_max_bytes(BB_CODEC_OPUS, 0, 64) == 0);
    CHECK(bb_codec_max_bytes(BB_CODEC_OPUS, 9, 64) == 0);
}

static void test_new_refuses(void)
{
    char err[160];
    struct bb_encoder *e;
    struct bb_decoder *d;

    // Debian's libopus aborts when decoding 128/256-sample custom frames.
    static const unsigned bad_custom[] = { 32, 63, 65, 120, 128, 256, 512 };
    for (size_t i = 0; i < BB_ARRAY_LEN(bad_custom); i++) {
        err[0] = 0;
        e = bb_encoder_new(BB_CODEC_OPUS, 48000, 2, bad_custom[i], 0, err, sizeof(err));
        CHECK(e == NULL && err[0] != 0 && strchr(err, '\n') == NULL);
        err[0] = 0;
        d = bb_decoder_new(BB_CODEC_OPUS, 48000, 2, bad_custom[i], err, sizeof(err));
        CHECK(d == NULL && err[0] != 0);
    }
    err[0] = 0;
    CHECK(bb_encoder_new(BB_CODEC_OPUS, 96000, 1, 64, 0, err, sizeof(err)) == NULL && err[0]);
    CHECK(bb_decoder_new(BB_CODEC_OPUS, 96000, 1, 64, err, sizeof(err)) == NULL);
    CHECK(bb_encoder_new(BB_CODEC_OPUS_STD, 44100, 1, 110, 0, err, sizeof(err)) == NULL);
    CHECK(bb_encoder_new(BB_CODEC_OPUS_STD, 48000, 1, 240, 0, err, sizeof(err)) == NULL);
    CHECK(bb_decoder_new(BB_CODEC_OPUS_STD, 48000, 1, 64, err, sizeof(err)) == NULL);
    CHECK(bb_encoder_new(BB_CODEC_OPUS, 48000, 0, 64, 0, err, sizeof(err)) == NULL);
    CHECK(bb_encoder_new(BB_CODEC_OPUS, 48000, 9, 64, 0, err, sizeof(err)) == NULL);
    CHECK(bb_decoder_new(BB_CODEC_PCM16, 48000, 9, 64, err, sizeof(err)) == NULL);
    CHECK(bb_decoder_new(BB_CODEC_PCM16, 48000, 1, 0, err, sizeof(err)) == NULL);
    CHECK(bb_encoder_new(BB_CODEC_FLOAT, 48000, 8, 64, 0, err, sizeof(err)) == NULL); // too big
    CHECK(bb_encoder_new(BB_CODEC_NONE, 48000, 1, 64, 0, err, sizeof(err)) == NULL);
    CHECK(bb_decoder_new((enum bb_codec)77, 48000, 1, 64, err, sizeof(err)) == NULL);
    CHECK(bb_encoder_new(BB_CODEC_OPUS, 48000, 1, 64, 1000, err, sizeof(err)) == NULL);
    CHECK(bb_encoder_new(BB_CODEC_OPUS, 48000, 1, 128, 0, NULL, 0) == NULL); // err optional

    // Custom mode at every rate it accepts (always 64-sample frames).
    static const unsigned rates[] = { 8000, 16000, 22050, 32000, 44100, 48000, 64000 };
    for (size_t i = 0; i < BB_ARRAY_LEN(rates); i++) {
        CHECK(bb_codec_wire_frames(BB_CODEC_OPUS, rates[i], 2) == 64);
        e = bb_encoder_new(BB_CODEC_OPUS, rates[i], 2, 64, 0, err, sizeof(err));
        d = bb_decoder_new(BB_CODEC_OPUS, rates[i], 2, 64, err, sizeof(err));
        CHECK(e != NULL && d != NULL);
        if (e && d) {
            float in[128], out[128];
            uint8_t pkt[ROOM];
            int ok = 1;
            for (int k = 0; k < 20; k++) {
                for (int j = 0; j < 128; j++)
                    in[j] = 0.25f * sinf((float)(k * 64 + j / 2) * 0.05f);
                int n = bb_encode(e, in, pkt, sizeof(pkt));
                ok &= n > 0 && bb_decode(d, pkt, (size_t)n, out) == 64;
            }
            CHECK(ok);
        }
        bb_encoder_free(e);
        bb_decoder_free(d);
    }
    bb_encoder_free(NULL);
    bb_decoder_free(NULL);
}

static struct bb_encoder *enc(enum bb_codec c, unsigned ch, unsigned fr)
{
    char err[160] = "";
    struct bb_encoder *e = bb_encoder_new(c, 48000, ch, fr, 0, err, sizeof(err));
    if (!e)
        printf("encoder %s/%u/%u: %s\n", bb_codec_name(c), ch, fr, err);
    return e;
}

static struct bb_decoder *dec(enum bb_codec c, unsigned ch, unsigned fr)
{
    char err[160] = "";
    struct bb_decoder *d = bb_decoder_new(c, 48000, ch, fr, err, sizeof(err));
    if (!d)
        printf("decoder %s/%u/%u: %s\n", bb_codec_name(c), ch, fr, err);
    return d;
}

static void test_pcm_roundtrip(void)
{
    static const enum bb_codec codecs[] = { BB_CODEC_PCM16, BB_CODEC_PCM24, BB_CODEC_FLOAT };
    static const unsigned chans[] = { 1, 2, 5, 8 };
    for (size_t ci = 0; ci < BB_ARRAY_LEN(codecs); ci++) {
        for (size_t hi = 0; hi < BB_ARRAY_LEN(chans); hi++) {
            enum bb_codec c = codecs[ci];
            unsigned ch = chans[hi];
            unsigned fr = bb_codec_wire_frames(c, 48000, ch);
            struct bb_encoder *e = enc(c, ch, fr);
            struct bb_decoder *d = dec(c, ch, fr);
            CHECK(e && d);
            if (!e || !d) {
                bb_encoder_free(e);
                bb_decoder_free(d);
                continue;
            }
            size_t n = (size_t)fr * ch, max = bb_codec_max_bytes(c, ch, fr);
            float in[512], out[512];
            uint8_t pkt[ROOM];
            // Every multiple of 1/32768 in [-0.5, 0.5], in packets.
            int exact = 1, sizes = 1;
            for (int k = -16384; k <= 16384;) {
                for (size_t i = 0; i < n; i++) {
                    in[i] = (float)k / 32768.0f;
                    if (k < 16384)
                        k++;
                }
                int len = bb_encode(e, in, pkt, sizeof(pkt));
                sizes &= len >= 0 && (size_t)len == max;
                exact &= bb_decode(d, pkt, (size_t)len, out) == (int)fr &&
                         memcmp(in, out, n * sizeof(float)) == 0;
                if (in[n - 1] == 0.5f)
                    break;
            }
            CHECK(sizes);
            CHECK(exact);
            // Out too small.
            CHECK(bb_encode(e, in, pkt, max - 1) == -1);

            // Clipping, NaN, infinities, the ends of the range.
            float q = c == BB_CODEC_PCM16 ? 1.0f / 32768.0f : 1.0f / 8388608.0f;
            const float special[] = { 1.5f, -1.5f, NAN, INFINITY, -INFINITY, 1.0f, -1.0f,
                                      1e30f, -1e30f, 0.999f, -0.0f };
            for (size_t i = 0; i < n; i++)
                in[i] = special[i % BB_ARRAY_LEN(special)];
            int len = bb_encode(e, in, pkt, sizeof(pkt));
            CHECK(len == (int)max);
            CHECK(bb_decode(d, pkt, (size_t)len, out) == (int)fr);
            int clip_ok = 1;
            for (size_t i = 0; i < n; i++) {
                float x = in[i], y = out[i];
                if (c == BB_CODEC_FLOAT) {
                    // bit exact on the wire; non-finite becomes 0 at the
                    // decoder, and beyond +-4.0 is clamped there
                    clip_ok &= !isfinite(x)      ? y == 0.0f
                               : fabsf(x) > 4.0f ? y == copysignf(4.0f, x)
                                                 : memcmp(&x, &y, 4) == 0;
                } else if (isnan(x)) {
                    clip_ok &= y == 0.0f;
                } else if (x >= 1.0f) {
                    clip_ok &= y == 1.0f - q;
                } else if (x <= -1.0f) {
                    clip_ok &= y == -1.0f;
                } else {
                    clip_ok &= fabsf(y - x) <= q / 2;
                }
            }
            CHECK(clip_ok);
            // FLOAT: arbitrary finite bit patterns within +-4.0 (denormals
            // included) are exact; beyond, the decoder clamps (above).
            if (c == BB_CODEC_FLOAT) {
                for (size_t i = 0; i < n; i++) {
                    uint32_t u;
                    do
                        u = rng();
                    while ((u & 0x7f800000u) >= 0x40800000u); // exponent of 4.0 and up
                    memcpy(&in[i], &u, 4);
                }
                len = bb_encode(e, in, pkt, sizeof(pkt));
                CHECK(bb_decode(d, pkt, (size_t)len, out) == (int)fr &&
                      memcmp(in, out, n * 4) == 0);
                in[0] = 1.0f; // 0x3f800000, little endian on the wire
                len = bb_encode(e, in, pkt, sizeof(pkt));
                CHECK(pkt[0] == 0x00 && pkt[1] == 0x00 && pkt[2] == 0x80 && pkt[3] == 0x3f);
            } else if (c == BB_CODEC_PCM16) {
                in[0] = -1.0f / 32768.0f;
                in[1 % n] = 0.5f;
                len = bb_encode(e, in, pkt, sizeof(pkt));
                CHECK(pkt[0] == 0xff && pkt[1] == 0xff); // little endian, two's complement
            } else {
                in[0] = 0.5f - 1.0f / 8388608.0f; // 0x3fffff
                len = bb_encode(e, in, pkt, sizeof(pkt));
                CHECK(pkt[0] == 0xff && pkt[1] == 0xff && pkt[2] == 0x3f);
            }
            bb_encoder_free(e);
            bb_decoder_free(d);
        }
    }
    // FLOAT decoder: NaN and infinity from the network become 0.
    struct bb_decoder *d = dec(BB_CODEC_FLOAT, 1, 16);
    CHECK(d != NULL);
    if (d) {
        uint8_t pkt[64];
        float out[16];
        memset(pkt, 0xff, sizeof(pkt)); // NaN
        pkt[4] = 0x00; pkt[5] = 0x00; pkt[6] = 0x80; pkt[7] = 0x7f; // +inf
        CHECK(bb_decode(d, pkt, sizeof(pkt), out) == 16 && all_zero(out, 16));
        bb_decoder_free(d);
    }
}

static void test_pcm_conceal(void)
{
    static const enum bb_codec codecs[] = { BB_CODEC_PCM16, BB_CODEC_PCM24, BB_CODEC_FLOAT };
    for (size_t ci = 0; ci < BB_ARRAY_LEN(codecs); ci++) {
        enum bb_codec c = codecs[ci];
        const unsigned ch = 2, fr = 64;
        struct bb_encoder *e = enc(c, ch, fr);
        struct bb_decoder *d = dec(c, ch, fr);
        CHECK(e && d);
        if (!e || !d) {
            bb_encoder_free(e);
            bb_decoder_free(d);
            continue;
        }
        float in[128], out[128];
        uint8_t pkt[ROOM];
        // Nothing decoded yet: concealment is silence.
        for (size_t i = 0; i < 128; i++)
            out[i] = 1.0f;
        CHECK(bb_decode(d, NULL, 0, out) == (int)fr && all_zero(out, 128));

        for (unsigned f = 0; f < fr; f++) {
            in[2 * f] = 0.5f;
            in[2 * f + 1] = -0.25f;
        }
        int len = bb_encode(e, in, pkt, sizeof(pkt));
        CHECK(bb_decode(d, pkt, (size_t)len, out) == (int)fr);
        CHECK(bb_decode(d, NULL, 0, out) == (int)fr);
        int fade = 1;
        for (unsigned f = 0; f < fr; f++) {
            float g = 1.0f - (float)(f + 1) / (float)fr;
            fade &= fabsf(out[2 * f] - 0.5f * g) < 1e-6f && fabsf(out[2 * f + 1] + 0.25f * g) < 1e-6f;
            if (f > 0)
                fade &= out[2 * f] <= out[2 * f - 2];
        }
        CHECK(fade);
        CHECK(out[0] > 0.49f && out[2 * (fr - 1)] == 0.0f); // starts near the frame, ends at 0
        CHECK(bb_decode(d, NULL, 0, out) == (int)fr && all_zero(out, 128));
        CHECK(bb_decode(d, NULL, 0, out) == (int)fr && all_zero(out, 128));

        // A good frame, then a malformed one (silence, -1); concealment
        // afterwards still fades the last good frame.
        CHECK(bb_decode(d, pkt, (size_t)len, out) == (int)fr);
        for (size_t i = 0; i < 128; i++)
            out[i] = 1.0f;
        CHECK(bb_decode(d, pkt, (size_t)len - 1, out) == -1 && all_zero(out, 128));
        CHECK(bb_decode(d, pkt, 0, out) == -1 && all_zero(out, 128));
        CHECK(bb_decode(d, NULL, 0, out) == (int)fr && out[0] > 0.49f);
        bb_encoder_free(e);
        bb_decoder_free(d);
    }
}

/// Runs a 1 kHz sine at -12 dBFS (each channel a different phase, so a
/// channel mix-up shows) through 50 wire frames, finds the codec delay by
/// cross-correlation on channel 0, and returns the worst channel's SNR.
static double opus_snr(enum bb_codec c, unsigned ch, unsigned *delay_out, size_t *max_len,
                       int complexity)
{
    enum { NFR = 50 };
    unsigned fr = bb_codec_wire_frames(c, 48000, ch);
    struct bb_encoder *e = enc(c, ch, fr);
    struct bb_decoder *d = dec(c, ch, fr);
    double worst = -1e9;
    if (e && complexity >= 0)
        CHECK(bb_encoder_set_complexity(e, complexity) == 0);
    *max_len = 0;
    *delay_out = 0;
    if (!e || !d) {
        bb_encoder_free(e);
        bb_decoder_free(d);
        return worst;
    }
    const size_t total = (size_t)NFR * fr;
    float *ref = calloc(total * ch, sizeof(float));
    float *res = calloc(total * ch, sizeof(float));
    const float amp = powf(10.0f, -12.0f / 20.0f);
    for (size_t t = 0; t < total; t++)
        for (unsigned k = 0; k < ch; k++)
            ref[t * ch + k] = amp * sinf(2.0f * (float)M_PI * 1000.0f * (float)t / 48000.0f +
                                         (float)k * 0.7f);
    uint8_t pkt[ROOM];
    int ok = 1;
    for (unsigned i = 0; i < NFR; i++) {
        int len = bb_encode(e, ref + (size_t)i * fr * ch, pkt, sizeof(pkt));
        ok &= len > 0 && (size_t)len <= bb_codec_max_bytes(c, ch, fr);
        if (len > 0 && (size_t)len > *max_len)
            *max_len = (size_t)len;
        ok &= bb_decode(d, pkt, (size_t)len, res + (size_t)i * fr * ch) == (int)fr;
    }
    CHECK(ok);
    // Delay: the lag (0..400) with the largest correlation on channel 0.
    unsigned best = 0;
    double best_corr = -1e30;
    for (unsigned lag = 0; lag <= 400; lag++) {
        double s = 0;
        for (size_t t = 0; t + lag < total; t++)
            s += (double)ref[t * ch] * res[(t + lag) * ch];
        if (s > best_corr) {
            best_corr = s;
            best = lag;
        }
    }
    *delay_out = best;
    // SNR after the delay, skipping 10 frames for the codec to settle.
    for (unsigned k = 0; k < ch; k++) {
        double sig = 0, noise = 0;
        for (size_t t = (size_t)10 * fr; t + best < total; t++) {
            double r = ref[t * ch + k], y = res[(t + best) * ch + k];
            sig += r * r;
            noise += (y - r) * (y - r);
        }
        double snr = 10.0 * log10(sig / (noise + 1e-30));
        if (k == 0 || snr < worst)
            worst = snr;
    }

    // Concealment (PLC) returns a frame and keeps going, twice in a row.
    float out[MAXF * BB_MAX_CLIENT_CH];
    CHECK(bb_decode(d, NULL, 0, out) == (int)fr);
    CHECK(bb_decode(d, NULL, 0, out) == (int)fr);
    int len = bb_encode(e, ref, pkt, sizeof(pkt));
    CHECK(len > 0 && bb_decode(d, pkt, (size_t)len, out) == (int)fr);
    // Out smaller than the worst case is refused.
    CHECK(bb_encode(e, ref, pkt, bb_codec_max_bytes(c, ch, fr) - 1) == -1);
    // NaN and infinities must not reach libopus (a NaN aborts it).
    for (size_t i = 0; i < (size_t)fr * ch; i++)
        out[i] = (i % 3 == 0) ? NAN : (i % 3 == 1) ? INFINITY : -INFINITY;
    len = bb_encode(e, out, pkt, sizeof(pkt));
    CHECK(len > 0 && bb_decode(d, pkt, (size_t)len, out) == (int)fr);

    free(ref);
    free(res);
    bb_encoder_free(e);
    bb_decoder_free(d);
    return worst;
}

static void test_opus_quality(void)
{
    static const unsigned chans[] = { 1, 2, 8 };
    for (size_t hi = 0; hi < BB_ARRAY_LEN(chans); hi++) {
        unsigned delay;
        size_t max_len;
        // Measured on Debian 12 (libopus 1.3.1, x86_64), 96 kb/s per channel,
        // worst channel:
        //   opus (custom, 64 frames): delay 64 samples, SNR 28.5 dB (1 ch),
        //                             26.4 dB (2 and 8 ch)
        //   opus-std (120 frames):    delay 120 samples, SNR 33.0 dB (1 ch),
        //                             30.7 dB (2 ch), 28.9 dB (8 ch)
        // The 20 dB threshold leaves 6 dB of margin for other builds. The
        // delay (the codec's look-ahead) adds at most one wire frame.
        double snr = opus_snr(BB_CODEC_OPUS, chans[hi], &delay, &max_len, -1);
        printf("opus     %u ch: delay %3u samples, SNR %5.1f dB, %zu bytes/packet\n",
               chans[hi], delay, snr, max_len);
        CHECK(snr > 20.0);
        CHECK(delay <= 64);
        // opus-ld: the custom mode built for 16 kHz: half the delay (the
        // point of it), packets as large as opus's (the bit rate is scaled).
        size_t opus_len = max_len;
        snr = opus_snr(BB_CODEC_OPUS_LD, chans[hi], &delay, &max_len, -1);
        printf("opus-ld  %u ch: delay %3u samples, SNR %5.1f dB, %zu bytes/packet\n",
               chans[hi], delay, snr, max_len);
        CHECK(snr > 20.0);
        CHECK(delay <= 32);
        CHECK(max_len == opus_len);
        snr = opus_snr(BB_CODEC_OPUS_STD, chans[hi], &delay, &max_len, -1);
        printf("opus-std %u ch: delay %3u samples, SNR %5.1f dB, %zu bytes/packet\n",
               chans[hi], delay, snr, max_len);
        CHECK(snr > 20.0);
        CHECK(delay <= 120);
    }
    // The hub's personal mixes: stereo at complexity 0, the hub's default
    // (bandbridge(1)): within 1 dB of complexity 2 for every Opus codec.
    // Measured: opus 24.3 (24.4 at 2), opus-ld 19.7 (20.0; its bands are
    // coarser, codec.c), opus-std 28.4 (28.0).
    static const enum bb_codec mix_codecs[] = { BB_CODEC_OPUS, BB_CODEC_OPUS_LD,
                                                BB_CODEC_OPUS_STD };
    unsigned delay;
    size_t max_len;
    for (size_t k = 0; k < BB_ARRAY_LEN(mix_codecs); k++) {
        double s0 = opus_snr(mix_codecs[k], 2, &delay, &max_len, 0);
        double s2 = opus_snr(mix_codecs[k], 2, &delay, &max_len, 2);
        printf("%-8s 2 ch, complexity 0: SNR %5.1f dB (2: %5.1f dB)\n",
               bb_codec_name(mix_codecs[k]), s0, s2);
        CHECK(s0 > s2 - 1.0);
        CHECK(s0 > (mix_codecs[k] == BB_CODEC_OPUS_LD ? 18.0 : 20.0));
    }
    struct bb_encoder *e = enc(BB_CODEC_OPUS, 1, 64);
    CHECK(e && bb_encoder_set_complexity(e, 11) < 0 && bb_encoder_set_complexity(e, -1) < 0);
    bb_encoder_free(e);
    e = enc(BB_CODEC_FLOAT, 2, 64);
    CHECK(e && bb_encoder_set_complexity(e, 2) == 0); // PCM: nothing to set
    bb_encoder_free(e);
}

/// Hostile payloads: never more than -1 (with silence) or a decoded frame,
/// and no read past len (the copies are malloc'ed to the exact length so
/// AddressSanitizer sees any overread).
static void fuzz_one(struct bb_decoder *d, const uint8_t *src, size_t len, unsigned fr,
                     unsigned ch, int *bad)
{
    uint8_t *p = malloc(len ? len : 1);
    float out[MAXF * BB_MAX_CLIENT_CH];
    memcpy(p, src, len);
    for (size_t i = 0; i < (size_t)fr * ch; i++)
        out[i] = 1.0f;
    int r = bb_decode(d, p, len, out);
    if (r == -1) {
        if (!all_zero(out, (size_t)fr * ch))
            *bad = 1;
    } else if (r != (int)fr) {
        *bad = 1;
    } else {
        for (size_t i = 0; i < (size_t)fr * ch; i++)
            if (!isfinite(out[i]))
                *bad = 1;
    }
    free(p);
}

/// A personal mix going centred (mono), panned (stereo), centred again:
/// the encoder sends one block only after ~21 ms of equal channels, goes
/// stereo at the first unequal frame; the decoder plays equal channels for
/// one-block frames, and no channel jumps at a switch (a reset decoder
/// would fade in from silence, and the left and right codec noise differ:
/// clicks). Loss while mono conceals mono. BB_TEST_VERBOSE=1 prints every
/// frame's steepest step.
static void test_opus_mono(enum bb_codec c)
{
    const unsigned fr = bb_codec_wire_frames(c, 48000, 2);
    struct bb_encoder *e = enc(c, 2, fr), *plain = enc(c, 2, fr);
    struct bb_decoder *d = dec(c, 2, fr);
    CHECK(e && d && plain);
    if (!e || !d || !plain) {
        bb_encoder_free(e);
        bb_encoder_free(plain);
        bb_decoder_free(d);
        return;
    }
    bb_encoder_allow_mono(e, 1);
    // 440 Hz at 0.4: at most 0.023 from one sample to the next.
    const float amp = 0.4f, w = 2.0f * 3.14159265f * 440.0f / 48000.0f;
    const float max_step = amp * w;
    // Phases in frames: centred, right channel at 0.6 (a pan), centred again;
    // the right channel's gain ramps over 256 samples, as the hub's do.
    const unsigned phase_end[3] = {60, 120, 200};
    float in[MAXF * 2], out[MAXF * 2], prev[2] = {0, 0};
    uint8_t pkt[ROOM], pkt2[ROOM];
    unsigned k = 0, t = 0, worst_frame = 0, equal_run = 0;
    int prev_mono = 0;
    int order_ok = 1, equal_ok = 1, plain_ok = 1;
    float worst_jump = 0.0f;
    for (unsigned phase = 0; phase < 3; phase++) {
        unsigned first = k;
        for (; k < phase_end[phase]; k++) {
            for (unsigned f = 0; f < fr; f++, t++) {
                float x = amp * sinf(w * (float)t);
                float ramp = (float)((k - first) * fr + f) / 256.0f, gr = 1.0f;
                if (ramp > 1.0f)
                    ramp = 1.0f;
                if (phase == 1)
                    gr = 1.0f - 0.4f * ramp;
                else if (phase == 2)
                    gr = 0.6f + 0.4f * ramp;
                in[2 * f] = x;
                in[2 * f + 1] = phase == 0 || ramp >= 1.0f ? (phase == 1 ? 0.6f * x : x) : gr * x;
            }
            int n = bb_encode(e, in, pkt, sizeof pkt);
            int mono = bb_encoder_last_mono(e);
            // Mono exactly from the frame that completes 1024 equal samples
            // in a row; never while panned or ramping.
            int equal = 1;
            for (unsigned f = 0; f < fr; f++)
                equal &= in[2 * f] == in[2 * f + 1];
            equal_run = equal ? equal_run + fr : 0;
            int want_mono = equal_run >= 1024;
            order_ok &= phase == 1 ? !mono : 1;
            order_ok &= n > 0 && mono == want_mono;
            order_ok &= !mono || (size_t)n == 2u + (size_t)(pkt[0] | pkt[1] << 8);
            int n2 = bb_encode(plain, in, pkt2, sizeof pkt2);
            plain_ok &= n2 > 0 && !bb_encoder_last_mono(plain);
            // Frame 150 is lost (mono by then: concealed as mono).
            int r = k == 150 ? bb_decode(d, NULL, 0, out) : bb_decode(d, pkt, (size_t)n, out);
            order_ok &= r == (int)fr;
            if (getenv("BB_TEST_VERBOSE")) {
                float wj = 0;
                for (unsigned f = 1; f < fr; f++)
                    for (unsigned ch = 0; ch < 2; ch++)
                        wj = fmaxf(wj, fabsf(out[2 * f + ch] - out[2 * f - 2 + ch]));
                printf("frame %u mono %d worst step %.4f\n", k, mono, wj);
            }
            for (unsigned f = 0; f < fr; f++) {
                // (the first mono frame fades the right channel in to the
                // left, equal at its last sample)
                if ((mono && (prev_mono || f + 1 == fr)) || k == 150)
                    equal_ok &= out[2 * f] == out[2 * f + 1];
                for (unsigned ch = 0; ch < 2; ch++) {
                    float jump = fabsf(out[2 * f + ch] - prev[ch]);
                    if (k > 2 && k != 150 && k != 151 && jump > worst_jump) {
                        worst_jump = jump;
                        worst_frame = k;
                    }
                    prev[ch] = out[2 * f + ch];
                }
            }
            prev_mono = mono;
        }
    }
    printf("%s mono switching: worst step %.4f at frame %u (signal's own at most %.4f)\n",
           bb_codec_name(c), worst_jump, worst_frame, max_step);
    CHECK(order_ok);
    CHECK(equal_ok);
    CHECK(plain_ok); // without bb_encoder_allow_mono, never one block
    // No click: no step larger than 1.5 x the signal's own steepest.
    CHECK(worst_jump <= 1.5f * max_step);
    bb_encoder_free(e);
    bb_encoder_free(plain);
    bb_decoder_free(d);
}

static void test_malformed(void)
{
    static const enum bb_codec codecs[] = { BB_CODEC_OPUS, BB_CODEC_OPUS_STD, BB_CODEC_OPUS_LD,
                                            BB_CODEC_PCM16, BB_CODEC_PCM24, BB_CODEC_FLOAT };
    static const unsigned chans[] = { 1, 2, 8 };
    for (size_t ci = 0; ci < BB_ARRAY_LEN(codecs); ci++) {
        for (size_t hi = 0; hi < BB_ARRAY_LEN(chans); hi++) {
            enum bb_codec c = codecs[ci];
            unsigned ch = chans[hi], fr = bb_codec_wire_frames(c, 48000, ch);
            struct bb_encoder *e = enc(c, ch, fr);
            struct bb_decoder *d = dec(c, ch, fr);
            CHECK(e && d);
            if (!e || !d) {
                bb_encoder_free(e);
                bb_decoder_free(d);
                continue;
            }
            float in[MAXF * BB_MAX_CLIENT_CH], out[MAXF * BB_MAX_CLIENT_CH];
            for (size_t i = 0; i < (size_t)fr * ch; i++)
                in[i] = 0.3f * sinf((float)i * 0.1f);
            uint8_t good[ROOM], buf[ROOM + 8];
            int glen = bb_encode(e, in, good, sizeof(good));
            CHECK(glen > 0);
            if (glen <= 0) {
                bb_encoder_free(e);
                bb_decoder_free(d);
                continue;
            }
            size_t len = (size_t)glen;
            CHECK(bb_decode(d, good, len, out) == (int)fr);
            int bad = 0;
            // Truncated at every length, and one byte too long. Cut just
            // after channel 0's block, an Opus payload of several channels
            // is a valid mono one (every channel that block).
            size_t mono_len = bb_codec_is_opus(c) && ch > 1 ? 2 + (size_t)(good[0] | good[1] << 8) : 0;
            for (size_t l = 0; l < len; l++) {
                uint8_t *p = malloc(l ? l : 1);
                memcpy(p, good, l);
                int r = bb_decode(d, p, l, out);
                if (l == mono_len && l > 0) {
                    // (after a stereo frame: the others fade to channel 0)
                    bad |= r != (int)fr;
                    for (unsigned k = 1; k < ch; k++)
                        bad |= out[(fr - 1) * ch + k] != out[(fr - 1) * ch];
                } else {
                    bad |= r != -1 || !all_zero(out, (size_t)fr * ch);
                }
                free(p);
            }
            CHECK(!bad);
            memcpy(buf, good, len);
            buf[len] = 0;
            CHECK(bb_decode(d, buf, len + 1, out) == -1 && all_zero(out, (size_t)fr * ch));
            if (bb_codec_is_opus(c)) {
                // A channel block that claims more than is there.
                memcpy(buf, good, len);
                buf[0] = 0xff;
                buf[1] = 0xff;
                CHECK(bb_decode(d, buf, len, out) == -1);
                memcpy(buf, good, len);
                buf[0] = (uint8_t)(buf[0] + 1);
                CHECK(bb_decode(d, buf, len, out) == -1);
                // Last channel's length overruns by one.
                size_t off = 0;
                for (unsigned k = 0; k + 1 < ch; k++)
                    off += 2 + (size_t)(good[off] | good[off + 1] << 8);
                memcpy(buf, good, len);
                buf[off] = (uint8_t)(buf[off] + 1);
                CHECK(bb_decode(d, buf, len, out) == -1);
                // Zero-length blocks: concealment of every channel.
                memset(buf, 0, 2 * ch);
                CHECK(bb_decode(d, buf, 2 * ch, out) == (int)fr);
            }
            // Random bytes of random length.
            bad = 0;
            for (int it = 0; it < 10000; it++) {
                size_t l = rng() % (ROOM + 1);
                for (size_t i = 0; i < l; i++)
                    buf[i] = (uint8_t)rng();
                fuzz_one(d, buf, l, fr, ch, &bad);
            }
            CHECK(!bad);
            // Well-framed blocks of random content, and mutated good packets:
            // these get past the framing into libopus.
            bad = 0;
            for (int it = 0; it < 10000 && bb_codec_is_opus(c); it++) {
                size_t off = 0;
                for (unsigned k = 0; k < ch; k++) {
                    size_t n = rng() % (ROOM / ch - 2 + 1);
                    if (rng() % 2)
                        n = rng() % 40;
                    buf[off] = (uint8_t)n;
                    buf[off + 1] = (uint8_t)(n >> 8);
                    for (size_t i = 0; i < n; i++)
                        buf[off + 2 + i] = (uint8_t)rng();
                    off += 2 + n;
                }
                fuzz_one(d, buf, off, fr, ch, &bad);
                memcpy(buf, good, len);
                for (int m = 0; m < 3; m++)
                    buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
                fuzz_one(d, buf, len, fr, ch, &bad);
            }
            CHECK(!bad);
            // Still decodes good packets afterwards.
            glen = bb_encode(e, in, good, sizeof(good));
            CHECK(glen > 0 && bb_decode(d, good, (size_t)glen, out) == (int)fr);
            bb_encoder_free(e);
            bb_decoder_free(d);
        }
    }
}

static void time_codec(enum bb_codec c)
{
    enum { N = 1000 };
    unsigned fr = bb_codec_wire_frames(c, 48000, 1);
    struct bb_encoder *e = enc(c, 1, fr);
    struct bb_decoder *d = dec(c, 1, fr);
    CHECK(e && d);
    if (!e || !d) {
        bb_encoder_free(e);
        bb_decoder_free(d);
        return;
    }
    float in[MAXF], out[MAXF];
    uint8_t pkt[ROOM];
    static int lens[N];
    static uint8_t pkts[N][256];
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
        for (unsigned f = 0; f < fr; f++)
            in[f] = 0.25f * sinf((float)(i * fr + f) * 0.13f);
        lens[i] = bb_encode(e, in, pkt, sizeof(pkt));
        if (lens[i] > 0 && lens[i] <= 256)
            memcpy(pkts[i], pkt, (size_t)lens[i]);
    }
    double t1 = now_s();
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= lens[i] > 0 && lens[i] <= 256 && bb_decode(d, pkts[i], (size_t)lens[i], out) == (int)fr;
    double t2 = now_s();
    CHECK(ok);
    printf("%s mono, %u-sample frames: encode %.1f us/frame, decode %.1f us/frame "
           "(%.1f us of audio)\n",
           bb_codec_name(c), fr, (t1 - t0) * 1e6 / N, (t2 - t1) * 1e6 / N, fr * 1e6 / 48000.0);
    bb_encoder_free(e);
    bb_decoder_free(d);
}

// Stereo test signal at frame index t: two tones, left != right.
static void group_signal(float *pcm, unsigned frames, unsigned t0)
{
    for (unsigned f = 0; f < frames; f++) {
        float t = (float)(t0 + f);
        pcm[2 * f] = 0.3f * sinf(t * 0.031f) + 0.1f * sinf(t * 0.17f);
        pcm[2 * f + 1] = 0.25f * sinf(t * 0.043f);
    }
}

// Issue 17: a mix several musicians share is encoded once, each member's
// encoder taking the lead's state after every shared packet
// (bb_encoder_copy_state). A member who leaves the group encodes its next
// packets on its own encoder: they must be the very bytes the lead's
// encoder would have made of them (its decoder sees no seam). And a
// musician who joins a group mid-stream gets the lead's packets after
// its own: its decoder meets another encoder's stream. That seam is
// measured (the largest difference from a decoder that had the lead's
// packets all along, in the first packets after the switch and later)
// and must die out.
static void test_copy_state(enum bb_codec c)
{
    const unsigned fr = bb_codec_wire_frames(c, 48000, 2);
    char err[128];
    struct bb_encoder *lead = bb_encoder_new(c, 48000, 2, fr, 0, err, sizeof err);
    struct bb_encoder *member = bb_encoder_new(c, 48000, 2, fr, 0, err, sizeof err);
    struct bb_encoder *late = bb_encoder_new(c, 48000, 2, fr, 0, err, sizeof err);
    struct bb_encoder *other = bb_encoder_new(BB_CODEC_OPUS_STD, 48000, 2, 120, 0, err, sizeof err);
    struct bb_decoder *d_ref = bb_decoder_new(c, 48000, 2, fr, err, sizeof err);
    struct bb_decoder *d_late = bb_decoder_new(c, 48000, 2, fr, err, sizeof err);
    CHECK(lead && member && late && other && d_ref && d_late);
    if (!lead || !member || !late || !other || !d_ref || !d_late)
        return;
    CHECK(bb_encoder_copy_state(other, lead) == -1 || c == BB_CODEC_OPUS_STD);
    float pcm[2 * MAXF], out_ref[2 * MAXF], out_late[2 * MAXF];
    uint8_t a[ROOM], b[ROOM];
    int same = 1;
    double seam_first = 0.0, seam_after = 0.0;
    unsigned t = 0;
    for (int p = 0; p < 200; p++, t += fr) {
        group_signal(pcm, fr, t);
        int na = bb_encode(lead, pcm, a, sizeof a);
        if (p < 100) {
            // member follows the lead: shares its payload, takes its state
            CHECK_LOOP(same, bb_encoder_copy_state(member, lead) == 0, "copy at %d", p);
        } else {
            // member left at packet 100: its own encoder, same frames
            int nb = bb_encode(member, pcm, b, sizeof b);
            CHECK_LOOP(same, na == nb && memcmp(a, b, (size_t)na) == 0, "packet %d differs", p);
        }
        // late: its own stream until packet 50 (the same audio, encoder
        // started at 0 too but fed silence for its first 20 packets), then
        // the lead's packets
        float quiet[2 * MAXF] = {0};
        int nl = bb_encode(late, p < 20 ? quiet : pcm, b, sizeof b);
        bb_decode(d_ref, a, (size_t)na, out_ref);
        bb_decode(d_late, p < 50 ? b : a, (size_t)(p < 50 ? nl : na), out_late);
        if (p >= 50) {
            double worst = 0.0;
            for (unsigned i = 0; i < 2 * fr; i++)
                worst = fmax(worst, fabs((double)out_ref[i] - (double)out_late[i]));
            if (p < 54)
                seam_first = fmax(seam_first, worst);
            else if (p >= 70)
                seam_after = fmax(seam_after, worst);
        }
    }
    CHECK(same);
    printf("  %s: a join mid-stream: largest sample difference %.4f in its first 4 packets, "
           "%.6f from its 20th\n", bb_codec_name(c), seam_first, seam_after);
    CHECK(seam_after < 0.02);
    bb_encoder_free(lead);
    bb_encoder_free(member);
    bb_encoder_free(late);
    bb_encoder_free(other);
    bb_decoder_free(d_ref);
    bb_decoder_free(d_late);
}

int main(void)
{
    test_copy_state(BB_CODEC_OPUS);
    test_copy_state(BB_CODEC_OPUS_LD);
    test_copy_state(BB_CODEC_OPUS_STD);
    test_copy_state(BB_CODEC_PCM24);
    test_names();
    test_wire_frames();
    test_new_refuses();
    test_pcm_roundtrip();
    test_pcm_conceal();
    test_opus_quality();
    test_opus_mono(BB_CODEC_OPUS);
    test_opus_mono(BB_CODEC_OPUS_STD);
    test_opus_mono(BB_CODEC_OPUS_LD);
    test_malformed();
    time_codec(BB_CODEC_OPUS);
    time_codec(BB_CODEC_OPUS_STD);
    time_codec(BB_CODEC_OPUS_LD);
    return check_report("test_codec");
}
