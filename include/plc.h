// SPDX-License-Identifier: GPL-2.0-or-later
// plc.h: packet-loss concealment for the PCM codecs by linear prediction.
//
// The decoded stream's last PLC_HISTORY_MS are kept per channel; a lost
// packet is filled by a linear predictor (Burg's method, order 32) fitted
// to that history and run on past its end, the way JackTrip's PLC does.
// Burg's recursion keeps every reflection coefficient within (-1, 1), so
// the predictor is stable: a tone goes on as the tone, noise decays.
// Where the stream comes back, the first real frames are crossfaded from
// the prediction carried on (about a millisecond), so neither end of the
// gap steps. A long run of losses holds full level for 5 ms, then fades
// to silence over 10 ms: a prediction drifts from the truth the further
// it runs, and an unending tone is worse than silence.
//
// One thread per instance: the network receive thread's for lost packets
// (jbuf_rx.c), the process callback's for an underrun's gap
// (jbuf_conceal.c); nothing allocates after bb_plc_init. The receive thread leaves
// Opus packets to Opus's own concealment (bb_decode with NULL).
#ifndef BB_PLC_H
#define BB_PLC_H

struct bb_plc {
    unsigned channels, frames; ///< interleaved channels; frames per packet
    unsigned hist_len;         ///< frames of history kept (a power of two)
    unsigned order;            ///< predictor order
    unsigned xfade;            ///< frames crossfaded into the real signal
    unsigned hold, fade;       ///< a run: frames at full level, then frames to silence
    float   *hist;             ///< hist_len * channels, circular, interleaved
    unsigned pos;              ///< next frame written in hist (runs free)
    unsigned filled;           ///< frames of history there are (<= hist_len)
    unsigned run;              ///< frames concealed since the last real packet
    unsigned xf_pos;           ///< the tail's next frame crossfaded into real frames
                               ///< (xfade: none)
    double  *work;             ///< the history and its prediction, then Burg's scratch
    float   *pred;             ///< frames * channels: the last prediction, unscaled
    float   *tail;             ///< xfade * channels: the prediction beyond the last gap
};

/// frames: the block length of bb_plc_feed and bb_plc_conceal, and the
/// longest block of their _n forms. Returns 0 or -errno.
int  bb_plc_init(struct bb_plc *p, unsigned channels, unsigned frames, unsigned rate);
void bb_plc_cleanup(struct bb_plc *p);
/// A real packet was decoded into pcm (frames * channels, interleaved): if
/// it ends a gap, its first frames are crossfaded from the prediction (pcm
/// is changed); then it is added to the history.
void bb_plc_feed(struct bb_plc *p, float *pcm);
/// A packet is lost: pcm receives frames * channels of prediction.
void bb_plc_conceal(struct bb_plc *p, float *pcm);

/// The same for a block of n frames (at most the init's frames), for a
/// consumer whose blocks vary (jbuf_conceal.c: an underrun's gap).
void bb_plc_feed_n(struct bb_plc *p, float *pcm, unsigned n);
void bb_plc_conceal_n(struct bb_plc *p, float *pcm, unsigned n);
/// Forgets the history (the stream it came from has ended).
void bb_plc_reset(struct bb_plc *p);

/// Burg's method: the coefficients a[0..order] (a[0] = 1) of the
/// predictor x[n] = -sum a[i] x[n - i] that fits x[0..n). work: 2 * n
/// doubles. Returns the order reached (lower when x is fitted exactly
/// sooner, or is silent: then 0).
unsigned bb_plc_burg(const double *x, unsigned n, double *a, unsigned order, double *work);

#endif
