// SPDX-License-Identifier: GPL-2.0-or-later
// hub_engine.h: the hub's audio engine: what the JACK process callback
// (hub_rt.c) and the network threads (hub_net.c) see of the hub.
//
// The engine stands below the control plane: it knows the published graph
// of musicians and mixes, the musicians' streams and its own buffers and
// counters, and nothing of options, the client table's bookkeeping, the
// store or OSC. The control thread builds the graphs and starts and stops
// the engine; everything else reaches it through the graph.
//
// Who touches what is written at every field: [ctl] control thread,
// [rt] process callback, [rx]/[tx] network threads, [any] atomics.
#ifndef BB_HUB_ENGINE_H
#define BB_HUB_ENGINE_H

#include <jack/jack.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "bb.h"
#include "codec.h"
#include "handshake.h"
#include "jbuf.h"
#include "meter.h"
#include "mixer.h"
#include "net.h"
#include "ring.h"
#include "snap.h"
#include "stream.h"
#include "wire.h"

struct bb_stored_client;

/// Send workers: musician slot % HUB_TX_WORKERS picks the worker that
/// encodes and sends that musician's mix (each send ring keeps one reader).
#define HUB_TX_WORKERS 2
/// Opus mixes from which both workers are woken. One stereo 64-frame Opus
/// encode costs ~12 us here, so one worker sends 12 mixes in ~11 % of a
/// 64-frame period; below that a second wake-up a period costs more than
/// it saves (a context switch is several microseconds on a VM).
#define HUB_TX_SPLIT_OPUS 12

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
    /// Where it sends from: set at join (slot 0), then moved by the
    /// receive thread to the source of an authenticated datagram (NAT
    /// rebinding, roaming): it writes the slot not in use and publishes it
    /// with one atomic store. The send workers and the control thread read
    /// it through hub_client_addr(). A reader can only meet a slot being
    /// written if the address moves twice while it copies 128 bytes.
    struct bb_addr     addr_slot[2];
    _Atomic unsigned   addr_cur;    ///< [rx stores, any loads] the slot in use
    /// [rx sets, tx reads] An authenticated datagram of this session has
    /// arrived: the musician holds the keys and receives at addr. No mix is
    /// sent before (return routability, key confirmation).
    _Atomic int        confirmed;
    /// [ctl] The ephemeral key of the JOIN that opened the session: a later
    /// JOIN with the same one is a retry of that attempt (stale), one with
    /// another is the musician starting over.
    uint8_t            join_ec[32];
    unsigned           channels;    ///< [ro] channels it sends
    /// The musician's stream (stream.h): rx is musician -> hub (its
    /// channels), tx is hub -> musician (its personal mix, stereo).
    struct bb_stream   st;
    /// [jack stores, rt loads] The musician's channels and personal mix in
    /// JACK; NULL until the JACK thread registered them (and while JACK is
    /// away): the callback mixes the musician all the same (hub_jack.h).
    jack_port_t *_Atomic ports[BB_MAX_CLIENT_CH];
    jack_port_t *_Atomic mix_ports[BB_MIX_CH];
    char               jack_name[BB_NAME_MAX]; ///< [jack] the name its ports have now
    struct hub_client *jack_next;   ///< [jack] the JACK thread's list of musicians it holds
    int                jack_meta;   ///< [jack] its ports' JACK metadata: 0 none, 1 due, 2 set
    struct hub_send    sends[BB_MAX_SOURCES];   ///< [ctl] this musician's mix, by source id
    float              send_db;     ///< [ctl] the musician's own send level, in every mix
    uint64_t           joined_ns;   ///< [ctl]
    uint64_t           fade_epoch;  ///< [ctl] graph epoch that faded it out
    uint64_t           gone_epoch;  ///< [ctl] graph epoch without it
    uint64_t           leave_ns;    ///< [ctl] when the leave (or timeout) was decided
    _Atomic int        tx_claim;    ///< [tx] a send worker is draining tx (see hub_net.c)
    int                tx_complexity; ///< [tx, the claim's holder] its encoder's complexity now
    struct bb_stored_client *rec;   ///< [ctl] what persists of this musician
    int                rec_dirty;   ///< [ctl] rec must be refreshed and stored
    uint8_t            restored;    ///< [ctl] stored settings were applied at join
    unsigned           peer_period; ///< [ro after join] the musician's JACK period (JOIN)
    float              click_db;    ///< [ctl] the click in this musician's mix, dB (-inf: off)
};

/// [any] A copy of where musician c sends from (see addr_slot).
static inline void hub_client_addr(const struct hub_client *c, struct bb_addr *out)
{
    *out = c->addr_slot[atomic_load_explicit(&c->addr_cur, memory_order_acquire) & 1];
}

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
    /// Opus encodes a packet time (tx_groups) (encoding is worth two cores), else 1 (a wake-up
    /// costs more than packetising PCM or encoding a few mixes).
    unsigned             tx_workers;
    /// Personal mixes encoded once for several musicians (hub_net.c): by
    /// slot, the slot whose mix stream leads the group (its own slot for a
    /// lead or a musician alone) and the next member after it (-1: none).
    /// Members have equal gains (bb_mix_graph lead) and equal encoders:
    /// codec, channels, frames, bit rate, mono setting.
    int16_t              tx_lead[BB_MAX_CLIENTS];
    int16_t              tx_next[BB_MAX_CLIENTS];
    unsigned             tx_groups; ///< encodes a packet time: leads
};

/// Recorder track ids (recorder.h): a source's is its source id (a
/// musician channel, a local input); then the main mix and the click.
#define HUB_TRACK_MAIN_L BB_MAX_SOURCES
#define HUB_TRACK_MAIN_R (BB_MAX_SOURCES + 1)
#define HUB_TRACK_CLICK  (BB_MAX_SOURCES + 2)
#define HUB_TRACKS       (BB_MAX_SOURCES + 3)

#define HUB_MISSED_CHUNK 64 ///< frames a missed cycle is rendered in (hub_rt.c)
/// Channels the musicians' underruns may predict in one cycle, among them
/// all (jbuf_conceal.h: tens of microseconds each); past it they fade. A
/// blip on the hub's own link runs every stream dry in the same cycle.
#define HUB_CONCEAL_CHANNELS 16

#define HUB_HIST_US      5
#define HUB_HIST_BUCKETS 400

struct hub_stats {
    _Atomic uint64_t bad_packets;    ///< [rx] malformed or foreign datagrams
    _Atomic uint64_t unknown_session;///< [rx] audio for no live session
    _Atomic uint64_t wrong_source;   ///< [rx] right session, other address (unsealed sessions)
    _Atomic uint64_t forged;         ///< [rx] a session's datagram whose tag did not verify
    _Atomic uint64_t replayed;       ///< [rx] a session's datagram seen already (or too old)
    _Atomic uint64_t joins_limited;  ///< [rx] HELLO/JOIN over a source's rate, dropped
    _Atomic uint64_t handshake_bad;  ///< [rx] HELLO/JOIN that failed (cookie, password...)
    _Atomic uint64_t joins_per_address; ///< [ctl] JOINs refused by --max-per-address
    _Atomic uint64_t addr_moves;     ///< [rx] sessions that followed a new source address
    _Atomic uint64_t events_dropped; ///< [rx] control ring full
    _Atomic uint64_t osc_relay_dropped; ///< [rx] relayed OSC datagrams over a musician's rate cap
    _Atomic uint64_t send_errors;    ///< [tx]
    _Atomic uint64_t mono_packets;   ///< [tx] Opus mixes sent as one block (centred)
    _Atomic uint64_t shared_packets; ///< [tx] mix packets sent with a group's payload (not encoded again)
    /// [tx sets the max, ctl takes it once a second] A send worker's worst
    /// time from the callback's wake-up to its last datagram sent, ns.
    _Atomic uint64_t tx_late_ns;
    _Atomic uint64_t cycles;         ///< [rt] process callbacks run
    _Atomic uint64_t late_cycles;    ///< [rt] graph missing or period too large
    _Atomic uint64_t rt_ns_max;      ///< [rt] worst callback time, ns
    _Atomic uint64_t xruns;          ///< [jack xrun callback]
    _Atomic uint64_t skipped_cycles; ///< [rt] periods JACK did not run the callback for
    _Atomic uint64_t rendered_cycles;///< [rt] ... whose personal mixes were rendered afterwards
    /// [rt] callback time histogram: bucket i counts cycles of
    /// [i*HUB_HIST_US, (i+1)*HUB_HIST_US) microseconds; the last is open ended.
    _Atomic uint32_t rt_hist[HUB_HIST_BUCKETS];
    /// [rt writes before it wakes send worker i; tx worker i reads] when
    /// the callback woke it, and that period's length, in ns (bb_now_ns).
    _Atomic uint64_t tx_woken_ns[HUB_TX_WORKERS];
    _Atomic uint64_t tx_period_ns;
    /// [tx worker i] wakes whose packets were not all handed to the kernel
    /// within a period of the callback's wake (the musicians it serves get
    /// their mix late), and the worst wake-to-sent time, in ns.
    _Atomic uint64_t tx_late[HUB_TX_WORKERS];
    _Atomic uint64_t tx_ns_max[HUB_TX_WORKERS];
};

/// An event from the receive thread to the control thread: a datagram,
/// opened (sealed ones) by the receive thread. A JOIN of this version comes
/// opened: hs_status 0 with join and hs filled, or why it could not be.
struct hub_event {
    struct bb_addr    from;
    uint16_t          len;
    int16_t           hs_status;
    struct bb_join    join;
    struct bb_hs_join hs;
    uint8_t           data[BB_MAX_DATAGRAM];
};

struct hub_engine {
    // [jack sets while the client is not active; rt reads]
    jack_client_t    *jack;       ///< JACK's frame counter (jack_last_frame_time)
    unsigned          rate;
    int               jack_prio;  ///< the JACK client's RT priority: network threads go below
    /// [jack writes while the client is not active; rt uses]
    jack_port_t      *local_in[BB_MAX_LOCAL_CH];
    jack_port_t      *main_out[BB_MIX_CH];

    // realtime state [rt]
    struct bb_mixer  *mixer;
    const float     **rt_src;     ///< [rt] per graph source, its buffer this period
    float           **rt_out;     ///< [rt] per graph mix, L and R buffers
    float           **rt_chan;    ///< [rt] per musician channel (source id), its buffer this period
    float            *rt_scratch; ///< [rt] mixes without ports, silence
    float            *rt_inter;   ///< [rt] interleave buffer for the send rings
    _Atomic uint64_t  rt_settled_epoch; ///< [rt] epoch whose gain ramps are complete
    float            *rt_missed;        ///< [rt] sources of a missed cycle, HUB_MISSED_CHUNK each
    unsigned          rt_conceal_left;  ///< [rt] channels this cycle's underruns may still
                                        ///< predict (HUB_CONCEAL_CHANNELS at its start)
    struct bb_rt_timeline rt_timeline;  ///< [rt] cycles JACK did not run us for
    struct bb_meters  meters;     ///< [rt accumulates, ctl takes]: protocol in meter.h
    /// [rt stores when it differs from rt_cpu_clock_seen, ctl loads] The
    /// CPU-time clock of the thread the callback runs on (0: it has not run
    /// yet). A JACK server restart gives the callback a new thread, and the
    /// callback publishes that thread's clock in its first cycle.
    _Atomic clockid_t rt_cpu_clock;
    clockid_t         rt_cpu_clock_seen; ///< [rt] the clock it last published

    /// The take recorder (recorder.h), NULL without --record. [ctl sets
    /// before activation and frees after the client closed; rt feeds it]
    struct bb_recorder *rec;
    /// The click (click.h). [ctl creates before activation; rt renders]
    struct bb_click  *click;
    float            *rt_click;   ///< [rt] this period's click, BB_MAX_PERIOD frames
    /// The click's linear gain in each mix by mix id (BB_MIX_MAIN: the main
    /// mix): [ctl writes, rt reads]; 0 = not in that mix (the default).
    _Atomic float     click_gain[BB_MAX_MIXES];
    float             rt_click_cur[BB_MAX_MIXES]; ///< [rt] gain applied at the end of the last period
    _Atomic int       click_record; ///< [ctl writes, rt reads] the click is a track of the take

    /// The published graph: written [ctl], read [rt] [rx] [tx].
    struct bb_snap    graph;
    struct hub_stats  stats;

    // network
    int               sock;       ///< [ro after start] the hub's UDP socket
    pthread_t         rx_thread, tx_thread[HUB_TX_WORKERS];
    sem_t             tx_wake[HUB_TX_WORKERS]; ///< [rt posts, tx worker i waits]
    /// [ctl sets at start, reads] The CPU-time clocks of the receive thread
    /// and the send workers (pthread_getcpuclockid; 0: none): hub_load.c
    /// reads them once a second.
    clockid_t         rx_cpu_clock, tx_cpu_clock[HUB_TX_WORKERS];
    struct bb_ring    events;     ///< hub_event: producer [rx], consumer [ctl]
    int               event_fd;   ///< [rx writes, ctl polls]
    /// [ro after start, but its cookie jar: rx] The room's handshake.
    struct bb_hs_hub *hs;
    _Atomic int       running;

    /// [ctl writes, rt and tx read] What the hub sheds (hub_load.h, enum
    /// hub_shed) and the Opus complexity of the personal mixes now.
    _Atomic int       shed;
    _Atomic int       tx_complexity;
};

/// [ctl] Callback time percentiles in microseconds since the last reset.
struct hub_rt_times {
    uint64_t cycles;
    double   median_us, p99_us, worst_us;
};
void hub_rt_times(struct hub_engine *e, struct hub_rt_times *out, int reset);

// hub_rt.c
int  hub_rt_init(struct hub_engine *e);   ///< [ctl] allocate RT buffers before activation
void hub_rt_cleanup(struct hub_engine *e);
int  hub_rt_process(jack_nframes_t nframes, void *arg); ///< [rt] JACK process callback; arg: the engine

// hub_net.c
/// [any] The send workers' late wakes (summed) and worst wake-to-sent time.
void hub_net_tx_lateness(struct hub_engine *e, uint64_t *late, uint64_t *worst_ns);
/// [ctl] Opens the UDP socket on bind (NULL: every address) and port and
/// starts the receive thread and the send workers.
int  hub_net_start(struct hub_engine *e, const char *bind, uint16_t port, char *err,
                   size_t err_size);
void hub_net_stop(struct hub_engine *e);
/// [any] Sends a datagram (the kernel serialises sendto).
void hub_net_send(struct hub_engine *e, const struct bb_addr *to, const uint8_t *buf, size_t len);

#endif
