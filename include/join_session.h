// SPDX-License-Identifier: GPL-2.0-or-later
// join_session.h: the musician's session state machine [ctl].
//
//   JOINING --WELCOME--> CONNECTED --quit--> LEAVING --LEAVE_ACK/500 ms--> DONE
//      ^  \--final REJECT------------------------------------------------> DONE
//      |                    |
//      +--hub lost (2 s) ---+
//      +--hub's LEAVE ------+
//
// JOINING is the handshake (handshake.h): HELLO until a COOKIE comes, then
// JOIN until a WELCOME or an authenticated REJECT (back to HELLO after eight
// JOINs unanswered: the cookie may be stale), both with backoff (0.2 s,
// growing by half from the fifth try, to 2 s); an unauthenticated REJECT
// (a wrong password, or anyone on the path) is never final; while the hub
// sends nothing at all, a warning says so with the usual causes after 1 s,
// then every 5 s (every 30 s after a minute); CONNECTED pings
// every 250 ms (the first at once: it confirms the keys to the hub, which
// sends no mix before); LEAVING repeats LEAVE every
// 100 ms for 500 ms. Quitting while not connected is DONE at once. Each
// transition is one function in join_session.c.
#ifndef BB_JOIN_SESSION_H
#define BB_JOIN_SESSION_H

#include <stdint.h>

#include "join.h"

enum join_state { JOIN_JOINING, JOIN_CONNECTED, JOIN_LEAVING, JOIN_DONE };

struct join_session {
    enum join_state     state;
    int                 status;        ///< exit status once DONE
    uint32_t            session;       ///< while CONNECTED or LEAVING
    struct join_stream *cur;           ///< the published stream while CONNECTED
    uint64_t            start_ns;
    uint64_t            next_send_ns;  ///< JOIN, PING or LEAVE due
    uint64_t            retry_ns;      ///< JOIN backoff
    uint64_t            fast_until_ns; ///< after a lost hub: retry every REJOIN_FAST_MS
                                       ///< until then (join_session.c, send_due)
    uint64_t            leave_deadline_ns;
    uint64_t            asked_ns;      ///< first JOIN of this attempt
    uint64_t            next_report_ns;///< -v stream report
    int                 tries;
    int                 have_cookie;   ///< JOINING: the COOKIE came, JOIN is due
    int                 join_tries;    ///< JOINs sent with this cookie
    int                 bad_password;  ///< the hub said it could not read our JOIN
    int                 refused;       ///< a refusal since we last got in: status 1
    int                 warned;        ///< a refusal already said
    int                 answered;      ///< JOINING: the hub sent something this attempt
    int                 ever_joined;   ///< in a session at least once since the start
    uint64_t            silent_since_ns; ///< JOINING: this attempt's start
    uint64_t            next_nag_ns;   ///< JOINING: when "no answer" is said next
    int                 reported_first;
    char                hub_str[80];
};

/// [ctl] Sets up the stream snapshot with an idle stream (silence), before
/// any reader runs.
void join_session_streams_init(struct join *j);
/// Starts joining (state JOINING, first JOIN due now).
void join_session_begin(struct join *j, struct join_session *ss);
/// Sends what is due, notices a lost hub and --seconds running out.
/// Returns the milliseconds until it next has something to do (<= 100).
int  join_session_tick(struct join *j, struct join_session *ss);
/// A datagram the receive thread passed on (WELCOME, REJECT, LEAVE,
/// LEAVE_ACK, OSC).
void join_session_event(struct join *j, struct join_session *ss, const uint8_t *buf, size_t len);
/// SIGINT/SIGTERM: leave politely when connected, else stop.
void join_session_quit(struct join *j, struct join_session *ss);
/// The JACK server went away: say goodbye so the hub frees the place at
/// once, and stop with status 1.
void join_session_jack_gone(struct join *j, struct join_session *ss);

#endif
