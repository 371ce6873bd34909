// SPDX-License-Identifier: GPL-2.0-or-later
// mixer.h: the personal-mix matrix and the realtime code that applies it.
//
// A bb_mix_graph is immutable once published: the control thread builds a
// new one for every change (join, leave, fader move) and the process
// callback picks it up at the start of a period. Sources and mixes carry
// stable ids (a client's channel keeps its source id for as long as the
// client is connected, the main mix is BB_MIX_MAIN), so the realtime side
// can ramp every gain from where it was to where the new graph wants it:
// no fader move, join or leave is ever a step.
#ifndef BB_MIXER_H
#define BB_MIXER_H

#include <stdint.h>

#include "bb.h"

#define BB_MAX_MIXES (BB_MAX_CLIENTS + 1)  ///< one per client slot + main
#define BB_MIX_MAIN  BB_MAX_CLIENTS        ///< mix id of the main mix

/// Source id of channel ch of the client in slot: slot * BB_MAX_CLIENT_CH + ch.
#define BB_SRC_CLIENT(slot, ch) ((slot) * BB_MAX_CLIENT_CH + (ch))
/// Source id of local JACK input i.
#define BB_SRC_LOCAL(i) (BB_MAX_CLIENTS * BB_MAX_CLIENT_CH + (i))

struct bb_mix_graph {
    unsigned nsrc;                     ///< sources listed
    unsigned nmix;                     ///< mixes listed
    uint16_t src_id[BB_MAX_SOURCES];   ///< stable id of source s
    uint16_t mix_id[BB_MAX_MIXES];     ///< stable id of mix m
    float   *gain;                     ///< [m][s][L,R] target gains, nmix*nsrc*2
    /// The first mix whose gains are equal to mix m's, to the bit (m itself
    /// if none before it): once the gains have settled (no ramp), a mix
    /// with lead[m] < m is a copy of mix lead[m], not mixed again. Set by
    /// the control thread (bb_mix_graph_group); bb_mix_graph_new sets m.
    uint16_t lead[BB_MAX_MIXES];
    unsigned nlead;                    ///< mixes with lead[m] == m
};

/// Allocates a graph with room for nsrc sources and nmix mixes, all gains 0.
/// Control thread only.
struct bb_mix_graph *bb_mix_graph_new(unsigned nsrc, unsigned nmix);
void                 bb_mix_graph_free(struct bb_mix_graph *g);
/// [ctl] Sets lead[] from the gains: equal rows (every source's L and R
/// gain, bit for bit) share a lead. A hash of each row first, so that a
/// full hub costs nmix rows hashed and a compare per match.
void                 bb_mix_graph_group(struct bb_mix_graph *g);

static inline float *bb_mix_graph_gain(const struct bb_mix_graph *g, unsigned m, unsigned s)
{
    return g->gain + ((size_t)m * g->nsrc + s) * 2;
}

/// Stereo gains of a mono source with linear gain and pan in [-1, 1]:
/// balance law, unity on both sides at centre (a mono voice at 0 dB is
/// heard at 0 dB in both ears), the far side falls to 0 at hard pan.
void bb_pan_gains(float gain, float pan, float *l, float *r);

/// Realtime state of the mixer: the gains actually applied. Owned by the
/// JACK process thread once the client is active.
struct bb_mixer {
    float    cur[BB_MAX_MIXES][BB_MAX_SOURCES][2]; ///< gain applied at the end of the last period
    unsigned ramp_frames;                          ///< length of a gain ramp
    unsigned ramp_left;                            ///< periods left in the current ramp
    const struct bb_mix_graph *last;               ///< graph of the last period
    const float *live[BB_MAX_SOURCES];             ///< this period's sources, NULL if silent
};

/// ramp_frames: how long a gain change takes (e.g. 240 = 5 ms at 48 kHz).
void bb_mixer_init(struct bb_mixer *mx, unsigned ramp_frames);

/// Mixes one period. src[s] (s < g->nsrc) is source s's buffer (NULL means
/// silence); out[2m] and out[2m+1] receive mix m's left and right (they are
/// overwritten). A new graph starts a ramp of ceil(ramp_frames/nframes)
/// periods from the gains in use to the graph's. With no ramp running, a
/// mix with g->lead[m] < m is a copy of its lead's output (its gains and
/// the lead's are equal, and so are those in use: bit-exact).
BB_RT void bb_mixer_process(struct bb_mixer *mx, const struct bb_mix_graph *g,
                            const float *const *src, float *const *out, unsigned nframes);

/// Adds src times a gain into dst: the gain moves from *cur towards
/// target by at most step a frame (a ramp, as the mixer's: a level change
/// is never a step), and *cur is left where it got. For a source outside
/// the graph with one gain per mix (the hub's click).
BB_RT void bb_mix_add_ramped(float *dst, const float *src, unsigned nframes, float *cur,
                             float target, float step);

/// True when every gain has reached its target (no ramp in progress).
static inline int bb_mixer_settled(const struct bb_mixer *mx)
{
    return mx->ramp_left == 0;
}

#endif
