// SPDX-License-Identifier: GPL-2.0-or-later
// hub.h: `bandbridge serve`, the rehearsal-room hub, shared by its modules:
//
//   hub_main.c     control thread: options, start-up, the control loop
//   hub_clients.c  the client table (the only writer of client state) and
//                  its observers (hub_clients.h)
//   hub_session.c  JOIN, LEAVE, relayed OSC, pings (hub_session.h)
//   hub_graph.c    builds and publishes the mixer graph (hub_graph.h)
//   hub_state.c    what persists: stored mixes and connections (the store's
//                  observer of the client table)
//   hub_jack.c     the JACK client and the JACK thread: every blocking
//                  libjack call once the hub runs (hub_jack.h)
//   hub_names.c    port and source names (hub_names.h)
//   hub_rt.c       JACK process callback: jitter buffers -> ports -> mixes
//   hub_net.c      network threads: receive (parse, validate, decode) and
//                  send (encode, packetise)
//
// Who touches what is written at every field: [ctl] control thread,
// [jack] the JACK thread, [rt] process callback, [rx]/[tx] network threads,
// [any] atomics.
#ifndef BB_HUB_H
#define BB_HUB_H

#include <jack/jack.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bb.h"
#include "codec.h"
#include "jbuf.h"
#include "meter.h"
#include "mixer.h"
#include "net.h"
#include "ring.h"
#include "snap.h"
#include "store.h"
#include "wire.h"

/// Send workers: musician slot % HUB_TX_WORKERS picks the worker that
/// encodes and sends that musician's mix (each send ring keeps one reader).
#define HUB_TX_WORKERS 2
/// Opus mixes from which both workers are woken. One stereo 64-frame Opus
/// encode costs ~12 us here, so one worker sends 12 mixes in ~11 % of a
/// 64-frame period; below that a second wake-up a period costs more than
/// it saves (a context switch is several microseconds on a VM).
#define HUB_TX_SPLIT_OPUS 12

/// The largest JACK period the hub's jitter buffers and send rings are sized for.
#define HUB_JB_MAX_PERIOD 2048

/// Observers of the client table: the store, OSC feedback, the session layer, one spare.
#define HUB_MAX_OBSERVERS 4

/// --osc-allow may be given this many times.
#define HUB_OSC_MAX_ALLOW 16

enum hub_reader { HUB_READER_RT = 0, HUB_READER_RX = 1, HUB_READER_TX = 2,
                  HUB_READERS = HUB_READER_TX + HUB_TX_WORKERS };

enum hub_client_state {
    HUB_CLIENT_ACTIVE  = 0, ///< in every mix
    HUB_CLIENT_FADING  = 1, ///< still listed, gains ramping to 0
    HUB_CLIENT_REMOVED = 2, ///< no longer listed; freed once every reader moved on
};

/// Mix settings of one source in one mix [ctl].
struct hub_send {
    float   gain_db;  ///< -inf..+12
    float   pan;      ///< -1..1
    uint8_t mute;
    uint8_t solo;
    uint8_t sub;      ///< subscribed (heard at all)
};

/// One connected musician. Allocated by the control thread at join, freed
/// by it after every reader has left the last graph that listed it.
struct hub_client {
    int                slot;        ///< [ctl, ro elsewhere] 0..BB_MAX_CLIENTS-1
    int                state;       ///< [ctl] enum hub_client_state
    uint8_t            identity[BB_IDENTITY_SIZE]; ///< [ctl]
    /// [ctl] The name the hub shows (ports, OSC, log), sanitised: the
    /// JOIN's, or the one an engineer renamed this identity to (hub_rename).
    /// Read by the control thread only: the graph holds no names, so a
    /// rename needs no new graph.
    char               name[BB_NAME_MAX];
    char               join_name[BB_NAME_MAX];     ///< [ctl] the JOIN's name, sanitised
    uint32_t           session;     ///< [ro after join]
    struct bb_addr     addr;        ///< [ro after join] where it sends from
    unsigned           channels;    ///< [ro] channels it sends
    enum bb_codec      codec;       ///< [ro] musician -> hub
    enum bb_codec      down_codec;  ///< [ro] hub -> musician (the JOIN's down codec, or codec)
    unsigned           up_frames;   ///< [ro] frames per packet musician -> hub
    unsigned           down_frames; ///< [ro] frames per packet hub -> musician
    struct bb_decoder *dec;         ///< [rx] (through jb)
    struct bb_encoder *enc;         ///< [tx]
    struct bb_jbuf     jb;          ///< producer [rx], consumer [rt]
    struct bb_ring     tx;          ///< stereo mix frames: producer [rt], consumer [tx]
    float             *tx_buf;      ///< [tx] scratch, down_frames * 2
    uint32_t           tx_seq;      ///< [tx]
    uint32_t           tx_ts;       ///< [tx] frames taken from tx so far (mod 2^32)
    uint32_t           rt_written;  ///< [rt] frames written into tx so far (mod 2^32)
    /// [rt writes, tx reads] JACK's frame counter minus rt_written at the
    /// last write: a mix frame's place in tx plus this is the hub's clock
    /// when it was made, the AUDIO header's ts (bandbridge-wire(7)). It
    /// changes only when the stream and JACK's counter part (a cycle lost
    /// and not rendered again, the ring full); a packet of the cycle before
    /// such a change may go out with the new value, a one-packet spike the
    /// receiver's drift estimator drops.
    _Atomic uint32_t   tx_clock;
    /// [jack stores, rt loads] The musician's channels and personal mix in
    /// JACK; NULL until the JACK thread registered them (and while JACK is
    /// away): the callback mixes the musician all the same (hub_jack.h).
    jack_port_t *_Atomic ports[BB_MAX_CLIENT_CH];
    jack_port_t *_Atomic mix_ports[BB_MIX_CH];
    char               jack_name[BB_NAME_MAX]; ///< [jack] the name its ports have now
    struct hub_client *jack_next;   ///< [jack] the JACK thread's list of musicians it holds
    struct hub_send    sends[BB_MAX_SOURCES];   ///< [ctl] this musician's mix, by source id
    float              send_db;     ///< [ctl] the musician's own send level, in every mix
    uint64_t           joined_ns;   ///< [ctl]
    uint64_t           fade_epoch;  ///< [ctl] graph epoch that faded it out
    uint64_t           gone_epoch;  ///< [ctl] graph epoch without it
    uint64_t           leave_ns;    ///< [ctl] when the leave (or timeout) was decided
    _Atomic uint64_t   last_heard_ns; ///< [rx writes, ctl reads]
    _Atomic uint64_t   packets_in;  ///< [rx]
    _Atomic uint64_t   packets_out; ///< [tx]
    _Atomic uint32_t   rtt_us;      ///< [rx] last round trip time measured by a PONG
    _Atomic uint64_t   tx_overruns; ///< [rt] mix frames dropped, send ring full
    _Atomic int        tx_claim;    ///< [tx] a send worker is draining tx (see hub_net.c)
    struct bb_stored_client *rec;   ///< [ctl] what persists of this musician
    int                rec_dirty;   ///< [ctl] rec must be refreshed and stored
    uint8_t            restored;    ///< [ctl] stored settings were applied at join
};

/// Immutable snapshot read by the process callback and the network
/// threads. Built and published by the control thread.
struct hub_graph {
    struct bb_snap_obj   hdr;       ///< epoch
    struct bb_mix_graph *mix;       ///< gains: sources x mixes
    unsigned             nclients;
    struct hub_client   *clients[BB_MAX_CLIENTS];     ///< listed clients (any order)
    struct hub_client   *by_slot[BB_MAX_CLIENTS];     ///< same, indexed by slot
    /// For source s of mix: the client (NULL for a local input) and channel/index.
    struct hub_client   *src_client[BB_MAX_SOURCES];
    uint16_t             src_index[BB_MAX_SOURCES];
    /// For mix m: the client whose personal mix it is (NULL = main mix).
    struct hub_client   *mix_client[BB_MAX_MIXES];
    /// Send workers to wake each period: 2 when HUB_TX_SPLIT_OPUS or more
    /// mixes are Opus (encoding is worth two cores), else 1 (a wake-up
    /// costs more than packetising PCM or encoding a few mixes).
    unsigned             tx_workers;
};

#define HUB_MISSED_CHUNK 64 ///< frames a missed cycle is rendered in (hub_rt.c)

#define HUB_HIST_US      5
#define HUB_HIST_BUCKETS 400

struct hub_stats {
    _Atomic uint64_t bad_packets;    ///< [rx] malformed or foreign datagrams
    _Atomic uint64_t unknown_session;///< [rx] audio for no live session
    _Atomic uint64_t wrong_source;   ///< [rx] right session, other address
    _Atomic uint64_t events_dropped; ///< [rx] control ring full
    _Atomic uint64_t osc_relay_dropped; ///< [rx] relayed OSC datagrams over a musician's rate cap
    _Atomic uint64_t send_errors;    ///< [tx]
    _Atomic uint64_t mono_packets;   ///< [tx] Opus mixes sent as one block (centred)
    _Atomic uint64_t cycles;         ///< [rt] process callbacks run
    _Atomic uint64_t late_cycles;    ///< [rt] graph missing or period too large
    _Atomic uint64_t rt_ns_max;      ///< [rt] worst callback time, ns
    _Atomic uint64_t xruns;          ///< [jack xrun callback]
    _Atomic uint64_t skipped_cycles; ///< [rt] periods JACK did not run the callback for
    _Atomic uint64_t rendered_cycles;///< [rt] ... whose personal mixes were rendered afterwards
    /// [rt] callback time histogram: bucket i counts cycles of
    /// [i*HUB_HIST_US, (i+1)*HUB_HIST_US) microseconds; the last is open ended.
    _Atomic uint32_t rt_hist[HUB_HIST_BUCKETS];
};

/// An event from the receive thread to the control thread.
struct hub_event {
    struct bb_addr from;
    uint16_t       len;
    uint8_t        data[BB_MAX_DATAGRAM];
};

struct hub {
    // configuration [ro after start]
    char           jack_name[64];
    unsigned       local_inputs;
    unsigned       max_clients;
    unsigned       timeout_ms;
    unsigned       mix_complexity; ///< --opus-complexity: of the personal mixes' Opus encoders
    int            mix_ports;      ///< --mix-ports: each personal mix on JACK ports too
    int            drift_comp;     ///< jitter buffers resample clock drift (off: --no-drift-comp)
    unsigned       jitter;        ///< default hub-side depth, frames or BB_JBUF_AUTO
    int            jitter_set;    ///< --jitter given: overrides musicians' wishes
    uint16_t       port;
    uint16_t       osc_port;      ///< 0 = no OSC
    char           bind[128];
    char           osc_bind[64];  ///< --osc-bind: IPv4 address; empty = every address
    uint32_t       osc_allow_net[HUB_OSC_MAX_ALLOW];  ///< --osc-allow, host order
    uint32_t       osc_allow_mask[HUB_OSC_MAX_ALLOW];
    unsigned       osc_nallow;    ///< 0 = allow every address
    char           osc_password[128]; ///< --osc-password; empty = none

    // JACK. The JACK thread (hub_jack.c) makes every blocking libjack call
    // once the hub runs; the control thread only queues requests to it.
    jack_client_t *jack;          ///< [jack; rt while active]
    unsigned       rate;          ///< [ro after start]
    unsigned       period;        ///< [ctl] from the JACK thread's reports
    /// [jack writes while the client is not active; rt uses]
    jack_port_t   *local_in[BB_MAX_LOCAL_CH];
    jack_port_t   *main_out[BB_MIX_CH];
    _Atomic int    jack_running;  ///< [jack shutdown callback clears, jack sets, ctl reads]
    int            jack_prio;     ///< [ro after start] the JACK client's RT priority
    struct hub_jack *jt;          ///< [ctl creates] the JACK thread and its queues

    // realtime state [rt]
    struct bb_mixer  *mixer;
    const float     **rt_src;     ///< [rt] per graph source, its buffer this period
    float           **rt_out;     ///< [rt] per graph mix, L and R buffers
    float            *rt_scratch; ///< [rt] mixes without ports, silence
    float            *rt_inter;   ///< [rt] interleave buffer for the send rings
    _Atomic uint64_t  rt_settled_epoch; ///< [rt] epoch whose gain ramps are complete
    float            *rt_missed;        ///< [rt] sources of a missed cycle, HUB_MISSED_CHUNK each
    jack_nframes_t    rt_next_frame;    ///< [rt] frame time the next cycle should start at
    int               rt_have_frame;    ///< [rt] rt_next_frame is set
    struct bb_meters  meters;     ///< [rt accumulates, ctl takes]: protocol in meter.h

    // the published snapshot
    struct bb_snap    graph;

    // network
    int               sock;
    pthread_t         rx_thread, tx_thread[HUB_TX_WORKERS];
    sem_t             tx_wake[HUB_TX_WORKERS]; ///< [rt posts, tx worker i waits]
    struct bb_ring    events;     ///< hub_event: producer [rx], consumer [ctl]
    int               event_fd;   ///< [rx writes, ctl polls]
    _Atomic int       running;

    // control thread state [ctl]
    struct hub_client *slots[BB_MAX_CLIENTS];
    /// [ctl] The identity that last held each slot (slot_known[i] != 0):
    /// a musician who comes back gets their slot number back when it is
    /// free, so fixed controller layouts (/mix/2/...) keep pointing at them.
    uint8_t            slot_identity[BB_MAX_CLIENTS][BB_IDENTITY_SIZE];
    uint8_t            slot_known[BB_MAX_CLIENTS];
    struct hub_send    main_sends[BB_MAX_SOURCES];
    int                dirty;     ///< a new graph must be published
    struct hub_stats   stats;
    struct hub_osc    *osc;       ///< [ctl]
    /// [ctl] Who the client table tells of its changes (hub_clients_observe).
    const struct hub_clients_observer *observers[HUB_MAX_OBSERVERS];
    unsigned           nobservers;

    // persistence [ctl]
    char               db_path[4096]; ///< --db; empty: default path; "none": memory only
    struct bb_store   *store;
    struct bb_stored_client *main_rec; ///< main mix and the hub's own port connections
    int                main_dirty;
};

/// `bandbridge serve ...`; returns the process exit status.
int bb_hub_main(int argc, char **argv);

// hub_state.c: what persists, and JACK connections as the JACK thread reads them [ctl]
/// "alice_1" / "in_2" for a source id present now, else "" (returns buf).
const char *hub_state_source_name(struct hub *h, int src_id, char *buf, size_t size);
/// A musician was admitted (in h->slots, ports not yet registered): load
/// its stored state and apply every stored mix setting that concerns it.
void hub_state_join(struct hub *h, struct hub_client *c);
/// The name to show for a musician joining with identity and (sanitised)
/// JOIN name join_name, into out (BB_NAME_MAX): the name an engineer
/// renamed it to, if it joins under the name it had then and no one here
/// has that name; else join_name.
void hub_state_shown_name(struct hub *h, const uint8_t *identity, const char *join_name,
                          char *out);
/// c was renamed from old (c->name is the new name): its record, the live
/// and stored mixes that name its sources, and stored connections follow.
void hub_state_rename(struct hub *h, struct hub_client *c, const char *old);
/// A mix changed (c NULL: the main mix): store it soon.
void hub_state_mark(struct hub *h, struct hub_client *c);
/// Brings stored records up to date and lets the store flush (debounced).
void hub_state_sync(struct hub *h, int force);
/// The JACK thread read the connections of rp->c's ports (NULL: the hub's
/// own): into the record, stored soon (a departed musician's at once).
struct hub_jack_report;
void hub_state_conns(struct hub *h, const struct hub_jack_report *rp);
/// Loads the main mix at start-up.
void hub_state_start(struct hub *h);
/// The store's observer of the client table (hub_clients_observe): loads
/// and applies a joining musician's stored state, keeps records current.
extern const struct hub_clients_observer hub_state_observer;

/// [ctl] Callback time percentiles in microseconds since the last reset.
struct hub_rt_times {
    uint64_t cycles;
    double   median_us, p99_us, worst_us;
};
void hub_rt_times(struct hub *h, struct hub_rt_times *out, int reset);

// hub_rt.c
int  hub_rt_init(struct hub *h);   ///< [ctl] allocate RT buffers before activation
void hub_rt_cleanup(struct hub *h);
int  hub_rt_process(jack_nframes_t nframes, void *arg); ///< [rt] JACK process callback

// hub_net.c
int  hub_net_start(struct hub *h, char *err, size_t err_size);
void hub_net_stop(struct hub *h);
/// [ctl] send a datagram (thread safe: the kernel serialises sendto).
void hub_net_send(struct hub *h, const struct bb_addr *to, const uint8_t *buf, size_t len);

// The control plane's modules, for those that include hub.h only (osc.c).
#include "hub_clients.h"
#include "hub_graph.h"

#endif
