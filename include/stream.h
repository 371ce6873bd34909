// SPDX-License-Identifier: GPL-2.0-or-later
// stream.h: one musician's audio between hub and join, both directions.
//
// The hub holds one stream per musician and join holds one; both ends run
// the same code for everything that must agree on the wire: the codec
// state, packetising with sequence numbers and sample timestamps, the send
// ring and its clock, the jitter buffer that takes the other side's
// packets, and ping/round-trip time. They differ only in how many streams
// they hold and who mixes.
//
// Threads (each field names its own):
//   [rt]  the JACK process callback writes a period into the send ring
//         (bb_stream_rt_send) and reads a period from the jitter buffer;
//   [tx]  a send thread turns queued frames into AUDIO datagrams
//         (bb_stream_tx_next);
//   [rx]  the receive thread hands the session's datagrams to
//         bb_stream_receive (AUDIO into the jitter buffer, PING answered,
//         PONG timed);
//   [ctl] the control thread opens and closes the stream and reads the
//         statistics.
//
// The timestamp (bandbridge-wire(7), ts) is the sender's JACK frame counter
// at a packet's first frame: rt_send records, with each period it writes,
// the counter minus the frames written so far (tx_clock), so a frame's
// place in the ring plus tx_clock is its capture time. It changes only when
// the stream and JACK's counter part (a lost cycle not rendered again, the
// ring full); a packet sent across such a change is a one-packet spike the
// receiver's drift estimator drops.
#ifndef BB_STREAM_H
#define BB_STREAM_H

#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"
#include "codec.h"
#include "jbuf.h"
#include "net.h"
#include "ring.h"
#include "seal.h"
#include "wire.h"

/// Largest JACK period a stream's jitter buffer and send ring are sized
/// for, at both ends.
#define BB_STREAM_MAX_PERIOD 2048

/// Longest datagram on the wire: a cleartext one of BB_MAX_DATAGRAM bytes
/// sealed (seal.h adds a counter and a tag). Receive buffers take this.
#define BB_MAX_SEALED (BB_MAX_DATAGRAM + BB_SEAL_OVERHEAD)

/// peer_jb_fill before the other end's first PONG.
#define BB_STREAM_PEER_UNKNOWN UINT32_MAX

/// How a stream is opened: what each direction carries.
struct bb_stream_config {
    uint32_t      session;
    unsigned      rate;        ///< JACK sample rate (both ends agree)
    enum bb_codec tx_codec;    ///< what we send
    unsigned      tx_channels;
    unsigned      tx_frames;   ///< frames per packet we send
    unsigned      kbps;        ///< Opus bit rate per channel (0: the codec's default)
    int           complexity;  ///< Opus encoder complexity, -1: the codec's default
    int           allow_mono;  ///< a centred stereo stream may go as one block
    enum bb_codec rx_codec;    ///< what the other side sends
    unsigned      rx_channels;
    unsigned      rx_frames;   ///< frames per packet the other side sends
    unsigned      jitter;      ///< jitter buffer depth, frames or BB_JBUF_AUTO
    int           drift_comp;  ///< resample the other side's clock drift
    unsigned     *conceal_budget; ///< shared by the streams one callback reads
                                  ///< (bb_jbuf_set_conceal_budget); NULL: no limit
};

struct bb_stream {
    uint32_t           session;     ///< [ro after open]
    enum bb_codec      tx_codec;    ///< [ro]
    unsigned           tx_channels; ///< [ro]
    unsigned           tx_frames;   ///< [ro]
    unsigned           tx_kbps;     ///< [ro] as opened (0: the codec's default)
    int                tx_mono;     ///< [ro] allow_mono as opened
    enum bb_codec      rx_codec;    ///< [ro]
    unsigned           rx_channels; ///< [ro]
    unsigned           rx_frames;   ///< [ro]

    struct bb_encoder *enc;         ///< [tx]
    struct bb_ring     tx;          ///< interleaved frames: producer [rt], consumer [tx]
    float             *tx_buf;      ///< [tx] one packet's frames
    uint32_t           tx_seq;      ///< [tx] sequence number of the next packet
    uint32_t           tx_ts;       ///< [tx] frames taken from tx so far (mod 2^32)
    uint32_t           rt_written;  ///< [rt] frames written into tx so far (mod 2^32)
    _Atomic uint32_t   tx_clock;    ///< [rt writes, tx reads] see above
    float              tx_last[BB_MAX_CLIENT_CH]; ///< [rt] last frame sent, for a gap's fade

    struct bb_decoder *dec;         ///< [rx] through jb
    struct bb_jbuf     jb;          ///< producer [rx], consumer [rt]

    /// Packet protection (seal.h), set by bb_stream_set_keys before the
    /// stream is published and read-only after, but for seal_tx's atomic
    /// counter (every thread that sends for the session seals: the send
    /// thread AUDIO, the receive thread PONG, the control thread PING and
    /// LEAVE) and seal_rx's window, which only the receive thread moves.
    int                sealed;      ///< [ro] keys set: every datagram sealed both ways
    struct bb_seal_tx  seal_tx;     ///< [any thread that sends]
    struct bb_seal_rx  seal_rx;     ///< [rx]
    _Atomic uint64_t   forged;      ///< [rx] datagrams whose tag did not verify
    _Atomic uint64_t   replayed;    ///< [rx] datagrams seen already or too old

    _Atomic uint64_t   packets_in;  ///< [rx] AUDIO accepted
    _Atomic uint64_t   packets_out; ///< [tx] AUDIO sent
    _Atomic uint64_t   tx_overruns; ///< [rt] periods dropped, send ring full
    _Atomic uint32_t   rtt_us;      ///< [rx] last round trip measured by a PONG
    /// [rx writes, ctl reads] The other end's jitter buffer fill (frames)
    /// for what we send, from its last PONG: the depth it measured, for the
    /// round trip (latency.h). BB_STREAM_PEER_UNKNOWN until a PONG came.
    _Atomic uint32_t   peer_jb_fill;
    _Atomic uint64_t   last_heard_ns; ///< [rx] any datagram of the session
    _Atomic uint64_t   first_audio_ns; ///< [rx] the first AUDIO accepted
};

/// [ctl] Sets up codecs, jitter buffer and send ring (s zeroed by the
/// caller). Returns 0, or -1 with err and nothing to close.
int  bb_stream_open(struct bb_stream *s, const struct bb_stream_config *cfg, char *err,
                    size_t err_size);
/// [ctl] Frees what open set up; after every thread has let go of s.
void bb_stream_close(struct bb_stream *s);

/// [rt] Appends frames interleaved frames of tx_channels to the send ring;
/// clock is JACK's frame counter at the first of them. Returns 0, or -1
/// when the ring was full (counted).
BB_RT int bb_stream_rt_send(struct bb_stream *s, const float *inter, unsigned frames,
                            uint32_t clock);
/// [rt] A gap of frames the sender lost (JACK did not run it): sent as a
/// fade from the last frame sent to silence, so the stream keeps its
/// place. scratch holds frames x tx_channels floats, up to a period.
BB_RT void bb_stream_rt_send_gap(struct bb_stream *s, unsigned frames, unsigned period,
                                 uint32_t clock, float *scratch);

/// [ctl] The session keys: tx_key seals what we send, rx_key opens what
/// the other side sends, with cipher (enum bb_seal_cipher, the handshake's
/// choice). Before the stream is published. 0, or -1 when this machine
/// cannot run cipher (the handshake never picks one it cannot).
int bb_stream_set_keys(struct bb_stream *s, int cipher, const uint8_t tx_key[BB_SEAL_KEY_SIZE],
                       const uint8_t rx_key[BB_SEAL_KEY_SIZE]);

/// [any] Seals, when the stream has keys, the datagram of plain_len bytes
/// written at pkt + BB_SEAL_COUNTER_SIZE (where every sender of a session
/// writes its datagram, so that sealing is in place), into pkt (cap
/// bytes). Returns the length to send from pkt, or -1. Without keys it
/// moves the datagram to pkt.
int bb_stream_seal(struct bb_stream *s, uint8_t *pkt, int plain_len, size_t cap);
/// [rx] Opens a datagram of this session in place: on success the
/// cleartext datagram (header and body, <= BB_MAX_DATAGRAM) is at *out and
/// its length returned; -1 when it is forged (counted in forged), -2 a
/// replay (counted in replayed): drop it, it counts for nothing.
int bb_stream_unseal(struct bb_stream *s, uint8_t *pkt, size_t len, uint8_t **out);

/// [tx] The next AUDIO datagram into pkt (size BB_MAX_SEALED): its
/// length, 0 when fewer than a packet's frames are queued, or -1 when the
/// encoder failed (the frames are gone; call again).
int bb_stream_tx_next(struct bb_stream *s, uint8_t *pkt, size_t size);

/// [tx] bb_stream_tx_next in three steps, for a payload several streams
/// share (the hub's grouped mixes, hub_net.c): pull takes a packet's
/// frames from the ring into tx_buf (1, or 0 when fewer are queued) and
/// gives their ts; encode makes the AUDIO datagram of tx_buf with this
/// stream's encoder; wrap makes one of an encoded payload (len bytes) made
/// elsewhere. Both advance the sequence number and return the length to
/// send from pkt (BB_MAX_SEALED bytes), or -1.
int bb_stream_tx_pull(struct bb_stream *s, uint32_t *ts);
int bb_stream_tx_encode(struct bb_stream *s, uint32_t ts, uint8_t *pkt, size_t size);
int bb_stream_tx_wrap(struct bb_stream *s, uint32_t ts, const uint8_t *payload, size_t len,
                      uint8_t *pkt, size_t size);

/// What bb_stream_receive made of a datagram.
#define BB_STREAM_REPLY_SIZE 96

enum bb_stream_rx {
    BB_STREAM_RX_DONE,    ///< a stream message, taken (AUDIO, PONG, or a PING answered)
    BB_STREAM_RX_REPLY,   ///< a PING: send the reply it wrote
    BB_STREAM_RX_BAD,     ///< malformed, or not this stream's format: count and drop
    BB_STREAM_RX_SESSION, ///< not a stream message: the session layer's
};

/// [rx] A datagram of this stream's session (header parsed, session and
/// source checked by the caller; opened by bb_stream_unseal). AUDIO goes
/// into the jitter buffer, a PONG sets rtt_us and peer_jb_fill, a PING's PONG is written,
/// sealed, into reply (BB_STREAM_REPLY_SIZE bytes) with
/// the receiving side's jitter-buffer fill and loss. Every accepted
/// datagram sets last_heard_ns.
enum bb_stream_rx bb_stream_receive(struct bb_stream *s, const struct bb_header *hd,
                                    const uint8_t *buf, size_t len, uint64_t now,
                                    uint8_t *reply, int *reply_len);

/// [ctl] A PING of this session, stamped now, into buf (64 bytes), sealed: its length.
int bb_stream_ping(struct bb_stream *s, uint8_t *buf, size_t size, uint64_t now);

/// [rt] Cycles JACK did not run the callback for, counted on JACK's frame
/// counter: both ends render or send what such a cycle would have, so
/// that every stream keeps its place in time.
///
/// A jump of one period is held for a cycle before it counts: jack2 tells a
/// callback that starts late, after the server moved on, the next cycle's
/// frame, and the cycle after it that same frame again. Such a jump and the
/// step back that follows cancel out; taken at its word, the jump would
/// have each end render or send a period that was never missed (a faded
/// gap in the musician's stream, a period drained from every jitter buffer
/// at the hub), several times a second on a loaded machine.
struct bb_rt_timeline {
    uint32_t next_frame; ///< [rt] frame the next cycle should start at
    int      have_frame; ///< [rt] next_frame is set
    int32_t  held;       ///< [rt] a one-period jump not yet counted (0: none)
};
/// [rt] Frames missed before this cycle, or before the one before it when
/// that cycle's jump of one period was held (see above); 0 on time, at the
/// first cycle and when a held jump and a step back cancel; negative when
/// JACK's counter went back. Records the cycle.
BB_RT int32_t bb_rt_timeline_missed(struct bb_rt_timeline *t, uint32_t now, unsigned nframes);

#endif
