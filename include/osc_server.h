// SPDX-License-Identifier: GPL-2.0-or-later
// osc_server.h: the hub's OSC transport, owned by the control thread: the
// liblo server and its pacing, access (allow-list, password), controllers
// relayed over a musician's session, and sending to any of them.
//
// The hub's OSC surface is three modules: this one (who may talk, and how
// bytes come and go), osc_feedback.h (leases, changes fed back, meters)
// and osc_api.h (the address table and its handlers). hub.c calls the
// hub_osc_* functions declared in these headers, through osc.h.
#ifndef BB_OSC_SERVER_H
#define BB_OSC_SERVER_H

#include <lo/lo.h>
#include <stddef.h>
#include <stdint.h>

#include "bb.h"
#include "osc_bind.h"

struct hub;
struct hub_client;
struct osc_feedback;

#define OSC_HOST_MAX     64
#define OSC_MAX_AUTHED   64  ///< address:port pairs remembered after /auth
#define OSC_AUTH_NS      (600ull * 1000000000ull) ///< an /auth lasts 10 min after the last message
#define OSC_MAX_VERIFIED 64  ///< address:port pairs that echoed a cookie
#define OSC_VERIFIED_NS  (3600ull * 1000000000ull) ///< verified for an hour after the last lease use
#define OSC_MAX_SOURCES  256 ///< source addresses tracked (rate, back-off), least recent forgotten
#define OSC_SRC_BYTES_S  (128u * 1024u) ///< bytes a second one address may send; beyond: dropped
#define OSC_DGRAM_MAX    16384 ///< a longer datagram is refused unread
#define OSC_PACKET_MSGS  128  ///< messages of one packet handled, at most
#define OSC_AUTH_FREE    2    ///< wrong passwords before the back-off starts
#define OSC_AUTH_BACKOFF_MAX_S 64 ///< back-off: 1 s, 2 s, 4 s ... at most this
/// An --osc-allow entry that stands for the local networks (`local`):
/// this net with mask 0 cannot come from a CIDR (its net would be 0).
#define OSC_ALLOW_LOCAL_NET 0xFFFFFFFFu

/// Where the hub sends: a UDP address, or one of a musician's own
/// controllers through that musician's session.
struct osc_peer {
    lo_address addr;       ///< UDP: liblo's address (NULL when relayed)
    int        slot;       ///< relayed: the musician's slot; -1 for UDP
    uint32_t   session;    ///< relayed: the session it came through
    uint8_t    controller; ///< relayed: the number their join gave it, 0..15
};

/// A source address (IP) the OSC port heard from, allowed ones only [ctl].
struct osc_source {
    char     host[OSC_HOST_MAX]; ///< "" = free
    uint64_t last_ns;            ///< last datagram
    uint64_t win_ns;             ///< its current one-second rate window began here
    uint32_t win_bytes;          ///< bytes in it
    unsigned fails;              ///< wrong passwords in a row (forgotten after 10 min)
    uint64_t fail_ns;            ///< the last one
    uint64_t block_until;        ///< /auth refused unread until then (back-off)
    uint64_t log_win;            ///< the log window it was last counted in
};

/// Who sent the message being handled.
struct osc_src {
    struct osc_peer    peer;               ///< answers go there
    char               host[OSC_HOST_MAX]; ///< UDP: its IP address; relayed: the musician
    uint16_t           port;               ///< UDP: its port; relayed: the controller number
    struct hub_client *relay;              ///< relayed: the musician whose controller it is; else NULL
    struct osc_source *from;               ///< UDP: its address's record (rate, back-off)
    size_t             req_len;            ///< UDP: bytes of the datagram it came in
    /// UDP: it has shown it receives what is sent to host:port (this
    /// machine, or it echoed a cookie); else no /error to it is longer
    /// than req_len.
    int                verified;
};

/// An address and port that sent the right password, or that echoed a
/// cookie (verified) [ctl].
struct osc_hostport {
    char     host[OSC_HOST_MAX];
    uint16_t port;
    uint64_t until;
};

/// What happened in one second, logged as one line each at its end [ctl].
struct osc_logwin {
    uint64_t start, id;
    unsigned wrong, wrong_src;     ///< wrong passwords, from this many addresses
    unsigned blocked;              ///< /auth refused while backing off
    unsigned refused;              ///< datagrams from outside the allowed networks
    unsigned dropped;              ///< datagrams over a rate or too long
    char     last[OSC_HOST_MAX];   ///< the last address of any of them
};

/// The OSC surface's state (h->osc), every field [ctl].
/// [ctl] What handles a message whose access was checked (osc_api.c's
/// dispatcher): the server hands messages up through it, so that it does
/// not depend on the layer above it.
typedef void (*osc_dispatch_fn)(struct hub *h, const char *path, const char *types,
                                lo_arg **argv, int argc, const struct osc_src *src);

struct hub_osc {
    lo_server            srv;
    struct osc_feedback *fb;       ///< leases, changes waiting, meters (osc_feedback.c; osc.c sets it)
    osc_dispatch_fn      dispatch; ///< the address table's dispatcher (osc_api.c)
    struct osc_hostport  authed[OSC_MAX_AUTHED];
    struct osc_hostport  verified[OSC_MAX_VERIFIED];
    struct osc_source    sources[OSC_MAX_SOURCES];
    /// The local networks (the default rule, and --osc-allow local); read
    /// at start and again, at most every 5 s, before refusing anyone.
    struct bb_osc_nets   local;
    uint8_t              rx[65536];      ///< the datagram being handled
    struct osc_logwin    logwin;
    uint8_t              cookie_key[32]; ///< random per process: cookies die with the hub
    uint64_t             refused;    ///< datagrams from outside the allowed networks (for /stats)
    uint64_t             dropped;    ///< datagrams over a source's rate, or too long
    uint64_t             auth_failed;   ///< wrong passwords
    uint64_t             auth_backoff;  ///< /auth refused unread (back-off)
    uint64_t             cookies;       ///< cookies sent
    uint64_t             replies_cut;   ///< /error to unverified sources shortened or not sent
    uint64_t             refused_replies_win; ///< refusals answered in the current second
    uint64_t             refused_replies_ns;
    uint64_t             messages; ///< messages handled, relayed ones included (for /stats)
    uint64_t             relayed;  ///< messages that came through a musician's session
    uint64_t             errors;   ///< /error answers sent
    uint32_t             relay_seq[BB_MAX_CLIENTS]; ///< seq of our OSC datagrams, per slot
    // Intake pacing: while messages pour in (a storm), the socket is read
    // every OSC_HOLD_NS rather than at every datagram, so a burst costs one
    // loop turn and one graph instead of one each per message.
    uint64_t             win_start_ns;  ///< the current OSC_WIN_NS window began here
    unsigned             win_count;     ///< messages handled in it
    int                  pacing;        ///< the last window had >= OSC_WIN_STORM messages
    uint64_t             hold_until_ns; ///< do not read the socket before this
    uint64_t             turns;         ///< loop turns that read the socket (for /stats)
    /// While a datagram of a source that has not shown it receives is
    /// handled: its peer, and the bytes that may still go back to it (what
    /// it sent, for all the answers together: the hub is no amplifier).
    const struct osc_peer *limited;
    size_t               budget;
};

// ---- the hub's calls (hub.c, hub_net.c) ---------------------------------

/// [ctl] Opens the OSC UDP server on h->osc_port (nothing when 0), on
/// h->osc_bind when set, handing messages to dispatch; h->osc->fb is the
/// caller's to set (osc.c). Returns 0 or -1 with err.
int  osc_server_start(struct hub *h, osc_dispatch_fn dispatch, char *err, size_t err_size);
/// [ctl] Closes it (h->osc->fb must be freed by the caller first).
void osc_server_stop(struct hub *h);
/// [ctl] The server's socket for poll(), or -1 (no OSC, or pacing: while
/// more than 500 messages a second arrive, the socket is read every 4 ms,
/// a batch per loop turn; hub_osc_due_ms() says when).
int  hub_osc_fd(struct hub *h, uint64_t now_ns);
/// [ctl] Handles pending OSC datagrams without blocking: up to 256, and
/// no more once 512 messages were handled (the rest waits for a turn).
void hub_osc_poll(struct hub *h, uint64_t now_ns);
/// [ctl] One datagram that came to the OSC port from sa: every check
/// (allow-list, length, rate, then each message's) and its handling, as
/// hub_osc_poll does for each it reads; the fuzz harness
/// (test/tools/fuzz_osc.c) feeds it directly.
void hub_osc_datagram(struct hub *h, const uint8_t *pkt, size_t len, const struct sockaddr *sa,
                      socklen_t sl, uint64_t now_ns);
/// [ctl] When the server has work of its own (its windows, or reading the
/// socket again while pacing), in ns on bb_now_ns's clock; UINT64_MAX: none.
uint64_t osc_server_due(const struct hub_osc *o, uint64_t now_ns);
/// [ctl] An OSC packet (a message or a bundle) from controller number
/// controller of musician c, relayed by their `bandbridge join
/// --osc-port` over the session: the caller has checked that it came from
/// c's address with c's live session. Handled like a message on the OSC
/// port, limited to c's own mix; answers go back over the session.
void hub_osc_relay(struct hub *h, struct hub_client *c, unsigned controller, const uint8_t *pkt,
                   size_t len);
/// "192.168.1.0/24" or "10.0.0.7" (a /32) to network and mask in host
/// order. Returns 0 or -1.
int  hub_osc_parse_cidr(const char *s, uint32_t *net, uint32_t *mask);
/// An --osc-allow value: a CIDR as above, `any` (0.0.0.0/0: everyone) or
/// `local` (this machine and its local networks, the default without
/// --osc-allow: OSC_ALLOW_LOCAL_NET). Returns 0 or -1.
int  hub_osc_parse_allow(const char *s, uint32_t *net, uint32_t *mask);
/// [ctl] 1 when the hub answers OSC from sa: --osc-allow's networks, or
/// by default this machine and its local networks.
int  hub_osc_allowed(struct hub *h, const struct sockaddr *sa, socklen_t len, uint64_t now_ns);

// ---- for osc_feedback.c and osc_api.c [ctl] -----------------------------

/// Sends m (not freed) to a UDP peer from the OSC port, or over a relayed
/// controller's session.
void osc_send(struct hub *h, const struct osc_peer *to, const char *path, lo_message m);
/// Sends one serialised OSC packet to a relayed controller, if its
/// musician still holds the slot with that session.
void osc_relay_packet(struct hub *h, const struct osc_peer *to, const void *pkt, size_t len);
/// Answers the sender of the message being handled, and frees m.
void osc_reply(struct hub *h, const struct osc_src *src, const char *path, lo_message m);
/// Answers /error s:path s:why (path cut to 196 characters and "...").
void osc_reply_error(struct hub *h, const struct osc_src *src, const char *path, const char *why);
/// Cuts /error s:path s:why to at most max bytes: path emptied first,
/// then why shortened. 0 (they fit as they are), 1 (cut), or -1 when not
/// even three characters of why fit (send nothing). For tests too.
int  osc_error_fit(char *path, char *why, size_t max);
/// 1 when src's address and port sent the right /auth, less than 10
/// minutes before its last message (which renews it).
int  osc_authed(struct hub *h, const struct osc_src *src);
/// /auth password from src: 0 (src's address and port authenticated;
/// always 0 without a password on the hub), or -1 with the reason (a wrong
/// password, or one refused unread while src's address backs off).
int  osc_auth(struct hub *h, const struct osc_src *src, const char *password, const char **why);
/// 1 when host:port has shown it receives (this machine, or it echoed a
/// cookie in the last hour); renews it.
int  osc_verified(struct hub *h, const char *host, uint16_t port);
/// Sends /cookie i:COOKIE to host:port (16 bytes, no longer than any
/// /subscribe) for src's /subscribe or /meters/subscribe.
void osc_send_cookie(struct hub *h, const struct osc_src *src, uint16_t port);
/// /cookie i:cookie [i:reply_port] from src: 0 (host:port is verified),
/// or -1 (wrong or older than 1 to 2 minutes).
int  osc_check_cookie(struct hub *h, const struct osc_src *src, int32_t cookie, uint16_t port);
/// [ctl] Logs the last second's summary when due (osc_feedback.c's tick).
void osc_server_tick(struct hub *h, uint64_t now_ns);
/// When osc_server_tick() has a summary to log (UINT64_MAX: none).
uint64_t osc_server_due_ns(const struct hub_osc *o);

#endif
