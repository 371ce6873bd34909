// SPDX-License-Identifier: GPL-2.0-or-later
// resampler.c: libsamplerate behind resampler.h.
#include "resampler.h"

#include <errno.h>
#include <math.h>
#include <samplerate.h>
#include <string.h>

// The library pulls input through this callback one frame at a time: it
// asks again as soon as it took the last one, and takes it when its filter
// needs one more, so it never holds more than BB_RS_AHEAD frames beyond
// its position (bb_rs_need() promises them). A frame it was handed and did
// not take stays with it until the next call: so it is a copy of ours,
// whose buffer the caller reuses.
BB_RT static long feed(void *cb_data, float **data)
{
    struct bb_resampler *rs = cb_data;
    if (rs->fed < rs->in_frames) {
        memcpy(rs->cur, rs->in + (size_t)rs->fed * rs->channels, rs->channels * sizeof(float));
    } else {
        rs->starved++; // returning 0 would end the stream for good
        memset(rs->cur, 0, sizeof rs->cur);
    }
    rs->fed++;
    *data = rs->cur;
    return 1;
}

int bb_rs_init(struct bb_resampler *rs, unsigned channels)
{
    memset(rs, 0, sizeof *rs);
    if (channels == 0 || channels > BB_MAX_CLIENT_CH)
        return -EINVAL;
    int err = 0;
    rs->channels = channels;
    rs->src = src_callback_new(feed, SRC_SINC_FASTEST, (int)channels, &err, rs);
    return rs->src ? 0 : -ENOMEM;
}

void bb_rs_cleanup(struct bb_resampler *rs)
{
    if (rs->src)
        src_delete(rs->src);
    rs->src = NULL;
}

BB_RT void bb_rs_reset(struct bb_resampler *rs)
{
    src_reset(rs->src); // a memset and the filter's state: no allocation
    rs->frac = 0.0;
    rs->fed = 0;
}

// libsamplerate's fmod_one: the fraction of x in [0, 1), as its sinc
// converter steps its input index.
BB_RT static inline double fmod_one(double x)
{
    double res = x - (double)lrint(x);
    return res < 0.0 ? res + 1.0 : res;
}

// The position after nframes outputs at ratio r, exactly as the library
// steps it (input_index += 1 / src_ratio, the whole part moved out each
// time): frac is the fraction then, the return value the whole frames.
BB_RT static unsigned step(double frac, unsigned nframes, double r, double *frac_out)
{
    const double inc = 1.0 / (1.0 / r);
    unsigned whole = 0;
    for (unsigned k = 0; k < nframes; k++) {
        double idx = frac + inc;
        frac = fmod_one(idx);
        whole += (unsigned)lrint(idx - frac);
    }
    *frac_out = frac;
    return whole;
}

BB_RT unsigned bb_rs_advance(const struct bb_resampler *rs, unsigned nframes, double r)
{
    double f;
    return step(rs->frac, nframes, r, &f);
}

BB_RT unsigned bb_rs_until_whole(const struct bb_resampler *rs, unsigned nframes, double r)
{
    double f = rs->frac;
    for (unsigned k = 0; k < nframes; k++) {
        if (f < r - 1.0)
            return k;
        step(f, 1, r, &f);
    }
    return nframes;
}

// SRC_SINC_FASTEST's filter: 2464 coefficients, 128 a zero crossing (its
// fastest_coeffs.h), so (half length + 2) / increment input frames each
// side at ratio 1; the library counts (its sinc.c) that / its ratio when
// that is below 1 (it then stretches the filter to low-pass the input),
// rounded, plus the frame it starts on; we add the one it asks for early.
#define SINC_SIDE (2464.0 / 128.0)

BB_RT unsigned bb_rs_ahead(double r)
{
    return (unsigned)lrint(SINC_SIDE * (r > 1.0 ? r : 1.0)) + 2;
}

BB_RT unsigned bb_rs_need(const struct bb_resampler *rs, unsigned nframes, double r)
{
    if (nframes == 0)
        return 0;
    double f;
    return step(rs->frac, nframes - 1, r, &f) + bb_rs_ahead(r);
}

BB_RT unsigned bb_rs_run(struct bb_resampler *rs, const float *in, unsigned in_frames, double r,
                         float *out, unsigned nframes)
{
    rs->in = in;
    rs->in_frames = in_frames;
    // Set, not ramped: the library then steps its position by exactly
    // 1 / ratio per output, as step() does.
    src_set_ratio(rs->src, 1.0 / r);
    long got = src_callback_read(rs->src, 1.0 / r, (long)nframes, out);
    if (got < (long)nframes)
        memset(out + (size_t)(got < 0 ? 0 : got) * rs->channels, 0,
               (size_t)(nframes - (unsigned)(got < 0 ? 0 : got)) * rs->channels * sizeof(float));
    unsigned whole = step(rs->frac, nframes, r, &rs->frac);
    rs->fed = rs->fed > whole ? rs->fed - whole : 0;
    rs->in = NULL;
    return whole;
}
