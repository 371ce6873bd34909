// SPDX-License-Identifier: GPL-2.0-or-later
// jbuf_rx.h: the jitter buffer's producer half (src/jbuf_rx.c): packets
// held and put in order by sequence number before they are decoded, and
// the arrival spread that sets the automatic depth. The rules are in
// jbuf_rx.c's head comment; jbuf.h describes the buffer as a whole.
#ifndef BB_JBUF_RX_H
#define BB_JBUF_RX_H

#include <stdint.h>

enum { BB_SLOT_EMPTY = 0, BB_SLOT_HELD, BB_SLOT_DONE, BB_SLOT_GONE };

/// One packet's place in the reorder stage: slot seq % nslots.
struct bb_jbuf_slot {
    uint32_t seq;     ///< the packet's sequence number
    uint16_t len;     ///< payload bytes (in the pool)
    uint8_t  state;   ///< BB_SLOT_HELD: waiting to be decoded; DONE: decoded;
                      ///< GONE: given up (concealed or skipped)
    uint8_t  stamped; ///< ts_end is set
    uint32_t ts_end;  ///< the sender's clock after its frames (bb_jbuf_stamp)
};

struct bb_jbuf_rx {
    unsigned             nslots;  ///< a power of two
    struct bb_jbuf_slot *slot;
    uint8_t             *pool;    ///< nslots * BB_MAX_DATAGRAM payload bytes
    unsigned             held;    ///< slots BB_SLOT_HELD
    uint32_t             newest;  ///< the newest held packet's seq + 1 (held > 0)
    uint32_t             wait_until; ///< before this seq the path has been seen to
                                     ///< reorder: wait for missing packets longer
    int                  rx_ok;   ///< rx_seq: the packet the last receive held
    uint32_t             rx_seq;
    int                  st_ok;   ///< st_seq: the newest packet decoded since the
    uint32_t             st_seq;  ///< last stamp, with nothing concealed after it

    // the arrival spread, in half windows of AUTO_HALF_MS
    int                  t0_ok;
    uint64_t             t0_ns;   ///< the first stamp's arrival
    uint64_t             half_ns; ///< where the current half window began
    int64_t             *off;     ///< arrival minus sender's clock, frames, this half
    unsigned             n_off, cap_off;
    int64_t              half_min; ///< the smallest offset of this half, every packet's
    int64_t              prev_min; ///< the last half's (INT64_MAX: none yet)
    uint64_t             outage_until_ns; ///< packets arriving before this are an outage's
    uint64_t             outage_packets;  ///< packets left out of the spread as an outage's
    uint32_t            *hist[2]; ///< per half: lateness over the half's earliest, frames
    uint32_t             total[2];
    unsigned             cur;     ///< the half hist[cur] is filled at its end
    unsigned             bins;    ///< lateness beyond bins - 1 counts as bins - 1
};

struct bb_jbuf;
/// bb_jbuf_init's and bb_jbuf_cleanup's producer half. Returns 0 or -errno.
int  bb_jbuf_rx_init(struct bb_jbuf *jb, unsigned fixed_target);
void bb_jbuf_rx_cleanup(struct bb_jbuf *jb);

#endif
