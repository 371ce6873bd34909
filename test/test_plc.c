// SPDX-License-Identifier: GPL-2.0-or-later
// test_plc.c: PCM loss concealment by linear prediction (plc.h): Burg's
// method finds a known predictor; a lost packet of a tone is predicted
// far closer than the fade it replaces (SNR bound on the concealed
// segment), in both channels; the crossfade back has no step; a long run
// fades to silence; noise and silence stay bounded.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "plc.h"

#define RATE 48000
#define F    64

static double tone(unsigned c, uint32_t i)
{
    double f = c == 0 ? 440.0 : 1234.5;
    return 0.5 * sin(2.0 * M_PI * f * i / RATE + c);
}

static double snr_db(const float *got, uint32_t first, unsigned ch, unsigned c, unsigned n)
{
    double sig = 0.0, err = 0.0;
    for (unsigned i = 0; i < n; i++) {
        double t = tone(c, first + i), e = got[(size_t)i * ch + c] - t;
        sig += t * t;
        err += e * e;
    }
    return 10.0 * log10(sig / (err + 1e-30));
}

static void packet_of(float *pcm, unsigned ch, uint32_t first)
{
    for (unsigned i = 0; i < F; i++)
        for (unsigned c = 0; c < ch; c++)
            pcm[i * ch + c] = (float)tone(c, first + i);
}

// Burg on an AR(2) resonance driven by noise finds its coefficients.
static void burg_ar2(void)
{
    enum { N = 4096 };
    static double x[N], work[2 * N];
    double a1 = -1.6, a2 = 0.8, a[5];
    srand(7);
    x[0] = x[1] = 0.0;
    for (int n = 2; n < N; n++)
        x[n] = -a1 * x[n - 1] - a2 * x[n - 2] + ((double)rand() / RAND_MAX - 0.5);
    unsigned m = bb_plc_burg(x, N, a, 4, work);
    CHECK(m == 4 && a[0] == 1.0);
    CHECK(fabs(a[1] - a1) < 0.05 && fabs(a[2] - a2) < 0.05);
    CHECK(fabs(a[3]) < 0.05 && fabs(a[4]) < 0.05);
    memset(x, 0, sizeof x); // silence: nothing to fit
    CHECK(bb_plc_burg(x, N, a, 4, work) == 0 && a[0] == 1.0 && a[1] == 0.0);
}

int main(void)
{
    burg_ar2();
    char err[128];
    const unsigned ch = 2;
    struct bb_plc plc;
    CHECK(bb_plc_init(&plc, ch, F, RATE) == 0);
    struct bb_decoder *dec = bb_decoder_new(BB_CODEC_FLOAT, RATE, ch, F, err, sizeof err);
    struct bb_encoder *enc = bb_encoder_new(BB_CODEC_FLOAT, RATE, ch, F, 0, err, sizeof err);
    CHECK(dec && enc);
    float pcm[F * 2], fade[F * 2];
    uint8_t pkt[1024];
    uint32_t pos = 0;

    // Silence before anything: the prediction of nothing is silence.
    bb_plc_conceal(&plc, pcm);
    CHECK(pcm[0] == 0.0f && pcm[F * ch - 1] == 0.0f);
    bb_plc_feed(&plc, (float[F * 2]){0});

    // Twenty packets of two tones, then one lost.
    for (int p = 0; p < 20; p++, pos += F) {
        packet_of(pcm, ch, pos);
        int n = bb_encode(enc, pcm, pkt, sizeof pkt);
        CHECK(bb_decode(dec, pkt, (size_t)n, pcm) == F);
        bb_plc_feed(&plc, pcm);
    }
    bb_plc_conceal(&plc, pcm);
    CHECK(bb_decode(dec, NULL, 0, fade) == F); // the codec's own: the last packet, fading
    for (unsigned c = 0; c < ch; c++) {
        double s = snr_db(pcm, pos, ch, c, F), sf = snr_db(fade, pos, ch, c, F);
        printf("plc: channel %u: concealed packet SNR %.1f dB (fade %.1f dB)\n", c, s, sf);
        CHECK(s > 40.0);
        CHECK(s > sf + 30.0);
    }
    float last0 = pcm[(F - 1) * ch];
    pos += F;
    // The stream comes back: crossfaded from the prediction, no step, and
    // exact from a millisecond on.
    packet_of(pcm, ch, pos);
    bb_plc_feed(&plc, pcm);
    double step = fabs(pcm[0] - last0), slope = 2.0 * M_PI * 440.0 / RATE * 0.5;
    CHECK(step < 1.5 * slope);
    int exact = 1;
    for (unsigned i = RATE / 1000; i < F; i++)
        exact &= pcm[i * ch] == (float)tone(0, pos + i);
    CHECK(exact);
    double xf = 0.0;
    for (unsigned i = 0; i < RATE / 1000; i++)
        xf = fmax(xf, fabs(pcm[i * ch] - tone(0, pos + i)));
    CHECK(xf < 0.01);
    pos += F;

    // A long run: full level for 5 ms, silence from 15 ms.
    for (int p = 0; p < 20; p++, pos += F) {
        packet_of(pcm, ch, pos);
        bb_plc_feed(&plc, pcm);
    }
    float peak_early = 0.0f, peak_late = 0.0f;
    for (unsigned k = 0; k < 16; k++) { // 21 ms
        bb_plc_conceal(&plc, pcm);
        for (unsigned i = 0; i < F * ch; i++) {
            float a = fabsf(pcm[i]);
            if ((k + 1) * F <= RATE * 5 / 1000)
                peak_early = fmaxf(peak_early, a);
            if (k * F >= RATE * 15 / 1000 + 1)
                peak_late = fmaxf(peak_late, a);
        }
    }
    CHECK(peak_early > 0.45f && peak_early < 0.55f);
    CHECK(peak_late == 0.0f);

    // Noise: the prediction stays bounded by the signal.
    srand(3);
    for (int p = 0; p < 20; p++) {
        for (unsigned i = 0; i < F * ch; i++)
            pcm[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        bb_plc_feed(&plc, pcm);
    }
    bb_plc_conceal(&plc, pcm);
    float peak = 0.0f;
    for (unsigned i = 0; i < F * ch; i++)
        peak = fmaxf(peak, fabsf(pcm[i]));
    CHECK(peak < 1.0f);

    bb_plc_cleanup(&plc);
    bb_decoder_free(dec);
    bb_encoder_free(enc);
    return check_report("test_plc");
}
