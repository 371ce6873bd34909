// SPDX-License-Identifier: GPL-2.0-or-later
// join.h: `bandbridge join`, the musician's JACK client, shared by its modules.
//
// Four threads, each owning its part, in files that mirror the hub's:
//   join_main.c     main [ctl]: options, JACK client, the control loop
//   join_session.c  [ctl] the session state machine: JOIN retried with
//                   backoff until WELCOME or REJECT, PINGs, hub lost after
//                   2 s of silence, LEAVE on a signal or --seconds
//   join_net.c      receive [rx]: datagrams from the hub only, AUDIO into
//                   the stream, PING answered, the rest to main through a
//                   ring; send [tx]: woken by the process callback, encodes
//                   and sends
//   join_rt.c       JACK process callback [rt]: inputs (and the test tone)
//                   into the send ring, the jitter buffer into the outputs;
//                   without a session it plays silence and never waits
//   join_osc.c      [ctl] the musician's own OSC controllers, relayed over
//                   the session (--osc-port)
//   join_nsm.c      [ctl] under a session manager: the command line kept in
//                   the session, the wait for a hub and a name
//
// Each session's stream (stream.h) is built by main and published as a
// snapshot (snap.h) that the other three read.
#ifndef BB_JOIN_H
#define BB_JOIN_H

#include <jack/jack.h>
#include <lo/lo.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bb.h"
#include "handshake.h"
#include "codec.h"
#include "net.h"
#include "resampler.h"
#include "ring.h"
#include "snap.h"
#include "stream.h"
#include "wire.h"

enum join_reader { JOIN_READER_RT, JOIN_READER_RX, JOIN_READER_TX, JOIN_READERS };

/// Rate conversion at the musician's end, when its JACK runs at another
/// rate than the hub's: the wire runs at the hub's, so both directions
/// convert here (join_rt.c). Set up [ctl] by join_session.c, then [rt].
struct join_conv {
    int      on;
    double   up_ratio;    ///< our frames per hub frame (our rate / the hub's)
    double   down_ratio;  ///< hub frames per our frame
    struct bb_resampler up, down;
    float   *up_fifo;     ///< our frames not yet converted, interleaved (tx_channels)
    unsigned up_fill;
    float   *up_out;      ///< a period's frames at the hub's rate, interleaved
    uint32_t up_clock;    ///< frames at the hub's rate sent so far: the up stream's ts clock
    float   *down_fifo;   ///< frames at the hub's rate from the jitter buffer, interleaved
    unsigned down_fill;
    float   *down_plane[BB_MIX_CH]; ///< the jitter buffer's output, one buffer a channel
    float   *down_out;    ///< a period of ours, interleaved
    uint32_t down_clock;  ///< frames at the hub's rate read so far: the jitter buffer's clock
};

/// One session's stream, published as a snapshot; an idle one (active 0)
/// while there is no session.
struct join_stream {
    struct bb_snap_obj    hdr;
    int                   active;   ///< 0: no session, play silence
    struct bb_stream      st;       ///< our inputs up, the mix down (at the hub's rate)
    struct join_conv      conv;     ///< [rt] when our rate is not the hub's
    struct bb_rt_timeline timeline; ///< [rt]
    _Atomic uint64_t      skipped_cycles; ///< [rt] periods JACK did not run us for
};

/// A datagram from the receive thread to main.
struct join_event {
    uint16_t len;
    uint8_t  data[BB_MAX_DATAGRAM];
};

/// One of the musician's own OSC controllers [ctl].
struct join_ctl {
    int                     used;
    char                    host[64];  ///< its IP address, as liblo prints it
    uint16_t                port;      ///< where it hears answers
    struct sockaddr_storage sa;        ///< host:port
    socklen_t               sa_len;
    uint64_t                last_ns;   ///< last message from it (least recently used goes)
    /// It has shown it receives at host:port: this machine, or it echoed
    /// our /cookie. Else it is sent no more bytes than it sent (credit) and
    /// may not subscribe (join_osc.c).
    int                     verified;
    uint32_t                credit;    ///< unverified: bytes it may still be sent
};

struct join {
    // options [ro after start]
    char           host[256];
    char           name[BB_NAME_MAX];
    char           jack_name[64];
    char           identity_path[4096];
    unsigned       channels;
    enum bb_codec  codec;
    enum bb_codec  down_codec;      ///< --down-codec (default: codec)
    unsigned       kbps;
    unsigned       jitter;          ///< frames or BB_JBUF_AUTO, both directions
    float          tone_hz;
    int            drift_comp;      ///< resample the hub's clock drift (off: --no-drift-comp)
    int            auto_connect;
    double         run_seconds;     ///< 0 = until signalled
    uint16_t       osc_port;        ///< --osc-port: the musician's own controllers; 0 = none
    char           osc_bind[64];    ///< --osc-bind: IPv4 address; empty = every address

    uint8_t        identity[BB_IDENTITY_SIZE]; ///< the old identity token (identity.h), if any
    int            have_old_identity; ///< identity is to be linked to key once (keypair.h)
    char           key_path[4096];  ///< identity key pair file (keypair.h)
    char           password_file[4096]; ///< --password-file; else BANDBRIDGE_PASSWORD
    /// [ctl] The handshake (handshake.h): room password, identity key, the
    /// K_room of the hub's salt (cached for the whole run: a rejoin costs
    /// no Argon2id).
    struct bb_hs_client *hs;
    struct bb_addr hub;

    jack_client_t *jack;
    unsigned       rate, period;
    int            jack_prio;       ///< the JACK client's RT priority: network threads go below
    jack_port_t   *in[BB_MAX_CLIENT_CH];
    jack_port_t   *out[BB_MIX_CH];
    float         *rt_inter;        ///< [rt] interleave buffer
    double         tone_phase;      ///< [rt]
    _Atomic int    jack_gone;       ///< [jack shutdown callback sets, ctl reads]

    int            sock;
    struct bb_snap streams;         ///< join_stream: written [ctl], read [rt] [rx] [tx]
    pthread_t      rx_thread, tx_thread;
    sem_t          tx_wake;         ///< [rt posts, tx waits]
    struct bb_ring events;          ///< join_event: producer [rx], consumer [ctl]
    int            event_fd;        ///< [rx writes, ctl polls]
    _Atomic int    running;
    _Atomic uint64_t last_heard_ns; ///< [rx] any valid datagram from the hub
    _Atomic uint64_t foreign;       ///< [rx] datagrams not from our hub or session

    // the musician's own OSC controllers [ctl]
    lo_server        osc;           ///< NULL without --osc-port
    struct join_ctl  ctl[BB_OSC_CONTROLLERS];
    uint32_t         osc_session;   ///< the session while connected, else 0
    uint32_t         osc_seq;       ///< seq of the OSC datagrams we send
    struct bb_stream *osc_st;       ///< the session's stream while connected: seals OSC
};

/// `bandbridge join HOST[:PORT] --name NAME ...`; returns the exit status.
int bb_join_main(int argc, char **argv);

// join_rt.c
BB_RT int join_rt_process(jack_nframes_t n, void *arg); ///< [rt] JACK process callback

// join_conv.c
/// [ctl] Sets up conversion between our rate and the hub's for periods of
/// up to `period` frames (s->st open at the hub's rate). 0, or -1 with err.
int  join_conv_open(struct join_stream *s, unsigned ours, unsigned hubs, unsigned period,
                    char *err, size_t err_size);
void join_conv_close(struct join_stream *s);
/// [rt] A period of our inputs (interleaved, tx_channels) converted into
/// the send ring at the hub's rate.
BB_RT void join_conv_send(struct join_stream *s, const float *inter, unsigned n);
/// [rt] A period of the hub's mix converted to our rate into out (one
/// buffer a channel); clocks the jitter buffer first. Returns what
/// bb_jbuf_read returned.
BB_RT int  join_conv_read(struct join_stream *s, float *const *out, unsigned n, uint64_t t_ns);
/// [rt] missed frames of ours JACK did not run us for, in both directions
/// (scratch: BB_STREAM_MAX_PERIOD x tx_channels floats).
BB_RT void join_conv_gap(struct join_stream *s, unsigned missed, float *scratch);

// join_net.c
/// [ctl] Starts the receive and send threads. 0, or -1 with err.
int  join_net_start(struct join *j, char *err, size_t err_size);
void join_net_stop(struct join *j);
/// [any] Sends one datagram to the hub (the kernel serialises sendto).
void join_net_send(struct join *j, const uint8_t *buf, int len);

// join_osc.c
/// [ctl] Opens the musician's OSC port (--osc-port). 0, or -1 with err.
int  join_osc_start(struct join *j, char *err, size_t err_size);
void join_osc_stop(struct join *j);
/// [ctl] The OSC port's socket for poll(), or -1.
int  join_osc_fd(const struct join *j);
/// [ctl] Handles what the OSC port has (at most a batch).
void join_osc_poll(struct join *j);
/// [ctl] An OSC datagram of our session from the hub: raw to its controller.
void join_osc_from_hub(struct join *j, const uint8_t *buf, size_t len);

#endif
