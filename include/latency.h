// SPDX-License-Identifier: GPL-2.0-or-later
// latency.h: a musician's round trip (their input to their ears through
// the hub), estimated from what either end knows. bandbridge(1) gives the
// formula:
//
//   total = rtt + (2 P_m + P_h + J_h + J_m + D_up + D_down) / rate
//
// rtt the network round trip (PING/PONG); P_m the musician's JACK period
// (one to capture, one to play), P_h the hub's (a musician's audio waits
// for the hub's next cycle); J_h the hub's jitter buffer for the musician's
// stream, J_m the musician's for the mix (each end reports its own fill);
// D the codec's delay each way: Opus custom 64 frames, opus-ld 32,
// standard Opus 120, PCM 0. Both ends' extra JACK buffering (nperiods > 2)
// and the sound card's converters are not seen and not counted.
#ifndef BB_LATENCY_H
#define BB_LATENCY_H

#include "codec.h"

/// Frames a codec delays one way (its look-ahead).
static inline unsigned bb_codec_delay(enum bb_codec c)
{
    switch (c) {
    case BB_CODEC_OPUS:
        return 64;
    case BB_CODEC_OPUS_LD:
        return 32;
    case BB_CODEC_OPUS_STD:
        return 120;
    default:
        return 0;
    }
}

struct bb_latency {
    double   rtt_ms;
    unsigned rate;
    unsigned period_musician, period_hub;
    unsigned jb_hub, jb_musician;   ///< frames
    enum bb_codec up, down;
};

/// The estimate in milliseconds (formula above).
static inline double bb_latency_ms(const struct bb_latency *l)
{
    double frames = 2.0 * l->period_musician + l->period_hub + l->jb_hub + l->jb_musician +
                    bb_codec_delay(l->up) + bb_codec_delay(l->down);
    return l->rtt_ms + (l->rate ? 1000.0 * frames / l->rate : 0.0);
}

#endif
