// SPDX-License-Identifier: GPL-2.0-or-later
// drift.h: how fast a sender's clock runs against ours, from timestamps.
//
// The sender's sound card and ours never run at exactly the same rate
// (tens to a few hundred ppm apart). Both streams are measured against one
// clock, this machine's CLOCK_MONOTONIC:
//
//  * the producer (network receive thread) stamps every packet with its
//    arrival time; arrival time minus the sender's clock at the packet's
//    end (the sender's JACK frame counter, which the packet carries in
//    its ts, at the nominal rate) is the producer's offset. Packets come
//    late, never early: the smallest offset in a window is the punctual
//    one (the network's least delay);
//  * the consumer (process callback) stamps every cycle with its start
//    (the time the callback ran, and JACK's frame counter); the smallest
//    offset in a window is likewise the cycle that was not woken late.
//
// Every 250 ms of consumer time the consumer takes the producer's smallest
// offset and its own: their difference is the buffer's fill in time, free
// of the packet staircase and of late wake-ups on either side (about +-10
// us here). Its slope is the drift (us per s = ppm).
//
// A window off the line (by more than 100 us, or 5 times the typical
// departure, when the network is rougher) is held back, with the ones
// after it, for up to BB_DRIFT_HOLD windows (2 s). If a window comes back
// on the line first, the held ones were an excursion and are dropped: on a
// loaded machine a thread wakes late all window long, for a second or two
// (the receive thread: the fill reads low; the callback: high), so that a
// window has no punctual packet or cycle. If BB_DRIFT_HOLD windows in a
// row agree on a new level, it was a jump that is not the drift (a cycle
// JACK lost without counting it, a sender that stalled or restarted, a
// route change) and the jump is taken out. Once there are 20 points the
// line is the fit itself, not the last point and the median of the last 9
// windows' slopes (as before that): a chain of late windows, each near the
// last, cannot walk it away.
//
// The estimate is a straight line fitted to the last 128 windows (32 s),
// robustly: least squares, then again without the points more than 3.5
// typical departures (the median absolute residual) off it, twice, so the
// late windows that are in do not tilt it. It is "ready" once 60 windows
// (15 s) are in and its standard error is below 3 ppm. Under a load
// average of 20 to 30 the plain least-squares line with one-window spike
// and step detection read -17 to +12 ppm for a sender on our clock; the
// late spells were taken for steps in and out, each with its error kept.
//
// Both sides count in JACK frames, lost cycles included, so a cycle that
// either side's JACK lost moves neither offset's slope. When the producer
// counted its stream instead (sequence numbers times frames), every cycle
// the sender lost was a step of a period; on this loaded 2-core VM, with
// hundreds a minute, the step detector let enough through that a sender on
// the same clock read 20 to 50 ppm. With the frame counter it reads within
// 1.5 ppm of zero (it_drift_clock.sh).
//
// Pure arithmetic, no allocation: the consumer half is BB_RT.
#ifndef BB_DRIFT_H
#define BB_DRIFT_H

#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"

#define BB_DRIFT_POINTS 128 ///< windows in the fit (32 s)
#define BB_DRIFT_MEDIAN 9  ///< windows in the median of slopes
#define BB_DRIFT_HOLD   8  ///< windows off the line held before they are called a step (2 s)

struct bb_drift {
    double rate;              ///< nominal sample rate (both sides, read only)
    double ns_per_frame;      ///< 1e9 / rate (read only)

    // producer (network receive thread)
    _Atomic int64_t p_min;    ///< smallest offset since the consumer took it, ns
                              ///< (INT64_MAX: none); the consumer exchanges it

    // consumer (process callback)
    int      c_have;          ///< a first cycle was seen
    uint32_t c_frame;         ///< JACK frame counter of the last cycle
    int64_t  c_pos;           ///< the consumer's timeline, frames (extended)
    int64_t  c_min;           ///< smallest consumer offset in this window, ns
    int64_t  win_end;         ///< c_pos at which this window closes
    int      have_base;       ///< base and last are set
    double   base;            ///< the first window's difference (us)
    double   last_raw;        ///< the last point's difference less base, as measured (us)
    double   last_adj;        ///< the same with the steps taken out (us)
    double   last_t;          ///< its time (s of consumer time since the first window)
    double   slopes[BB_DRIFT_MEDIAN];       ///< raw per-window slopes (ppm), for the median
    unsigned nslopes;         ///< how many of slopes[] are set
    unsigned slope_head;      ///< next slot in slopes[]
    double   t[BB_DRIFT_POINTS], f[BB_DRIFT_POINTS]; ///< the fit's points (s, us)
    unsigned n, head;         ///< points in the fit, next slot
    double   ppm;             ///< the fitted slope (ppm; + = the sender is fast)
    double   fit_a, fit_mt;   ///< the fitted line's value (us) at its points' mean time (s)
    double   se_ppm;          ///< its standard error
    double   devs[BB_DRIFT_MEDIAN];        ///< |departure| of those windows from the line (us), for the
                              ///< median: the typical departure, the noise
    unsigned nheld;           ///< points off the line held back (excursion or step?)
    double   h_t[BB_DRIFT_HOLD], h_raw[BB_DRIFT_HOLD]; ///< those points: time (s), raw (us)
    unsigned fit_used;        ///< points the last fit kept (the rest were off its line)
    uint64_t steps;           ///< steps taken out
    uint64_t spikes;          ///< single windows off the line, dropped
};

/// Control thread: prepare (before either side uses it).
void bb_drift_init(struct bb_drift *d, unsigned rate);

/// Producer: the stream up to the sender's clock pos (its frame counter,
/// unwrapped, from any origin) arrived at t_ns (CLOCK_MONOTONIC).
void bb_drift_arrived(struct bb_drift *d, int64_t pos, uint64_t t_ns);

/// Consumer: a cycle began at JACK frame `frame` (jack_last_frame_time) and
/// its callback ran at t_ns (CLOCK_MONOTONIC). Once per cycle. Returns 1
/// when it closed a window (the fit may have moved), else 0.
BB_RT int bb_drift_cycle(struct bb_drift *d, uint32_t frame, uint64_t t_ns);

/// Consumer: the estimate is trustworthy (enough windows, small error).
BB_RT int bb_drift_ready(const struct bb_drift *d);

#endif
