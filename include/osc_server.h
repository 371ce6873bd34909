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

struct hub;
struct hub_client;
struct osc_feedback;

#define OSC_MAX_AUTHED 64                        ///< addresses remembered after /auth
#define OSC_AUTH_NS    (3600ull * 1000000000ull) ///< an /auth lasts an hour
#define OSC_HOST_MAX   64

/// Where the hub sends: a UDP address, or one of a musician's own
/// controllers through that musician's session.
struct osc_peer {
    lo_address addr;       ///< UDP: liblo's address (NULL when relayed)
    int        slot;       ///< relayed: the musician's slot; -1 for UDP
    uint32_t   session;    ///< relayed: the session it came through
    uint8_t    controller; ///< relayed: the number their join gave it, 0..15
};

/// Who sent the message being handled.
struct osc_src {
    struct osc_peer    peer;               ///< answers go there
    char               host[OSC_HOST_MAX]; ///< UDP: its IP address; relayed: the musician
    uint16_t           port;               ///< UDP: its port; relayed: the controller number
    struct hub_client *relay;              ///< relayed: the musician whose controller it is; else NULL
};

/// An address that sent the right password [ctl].
struct osc_authed {
    char     host[OSC_HOST_MAX];
    uint64_t until;
};

/// The OSC surface's state (h->osc), every field [ctl].
struct hub_osc {
    lo_server            srv;
    struct osc_feedback *fb;       ///< leases, changes waiting, meters (osc_feedback.c)
    struct osc_authed    authed[OSC_MAX_AUTHED];
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
};

// ---- the hub's calls (hub.c, hub_net.c) ---------------------------------

/// [ctl] Opens the OSC UDP server on h->osc_port (nothing when 0), on
/// h->osc_bind when set. Returns 0 or -1 with err.
int  hub_osc_start(struct hub *h, char *err, size_t err_size);
void hub_osc_stop(struct hub *h);
/// [ctl] The server's socket for poll(), or -1 (no OSC, or pacing: while
/// more than 500 messages a second arrive, the socket is read every 4 ms,
/// a batch per loop turn; hub_osc_due_ms() says when).
int  hub_osc_fd(struct hub *h, uint64_t now_ns);
/// [ctl] Handles every pending OSC message (up to 256) without blocking.
void hub_osc_poll(struct hub *h, uint64_t now_ns);
/// [ctl] Milliseconds until hub_osc_tick() has work (meters, lease
/// expiry, feedback), or until the socket is read again; -1 for none.
int  hub_osc_due_ms(struct hub *h, uint64_t now_ns);
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
/// 1 when src's IP address sent the right /auth in the last hour.
int  osc_authed(struct hub *h, const struct osc_src *src);
/// /auth password from src: 0 (remembered for an hour; always 0 without
/// a password on the hub), or -1 with the reason.
int  osc_auth(struct hub *h, const struct osc_src *src, const char *password, const char **why);

#endif
