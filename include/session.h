// SPDX-License-Identifier: GPL-2.0-or-later
// session.h: the session around a stream, the same at hub and join.
//
// A session is a handshake (HELLO, COOKIE, JOIN answered by a WELCOME or
// a REJECT; handshake.h), kept alive by PINGs both ways and ended by a
// LEAVE answered by a LEAVE_ACK (bandbridge-wire(7)). This module writes
// every session datagram and holds the rules both ends must agree on: how
// often a peer pings, when it is taken for lost, which refusals are final.
// Datagrams are written into a caller's buffer and sent by the caller's
// socket; packet protection is here, once for both ends: the handshake's
// bodies wrap today's JOIN and WELCOME bodies (the "fields"), and every
// datagram of a session is sealed with the stream's keys (stream.h).
#ifndef BB_SESSION_H
#define BB_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "handshake.h"
#include "net.h"
#include "stream.h"
#include "wire.h"

/// A connected join pings the hub this often (round-trip time, keepalive).
#define BB_SESSION_PING_NS     (250 * 1000000ull)
/// A join that heard nothing from its hub this long starts over.
#define BB_SESSION_HUB_LOST_NS (2000 * 1000000ull)
/// A LEAVE is repeated this often until its LEAVE_ACK, for at most
/// BB_SESSION_LEAVE_NS.
#define BB_SESSION_LEAVE_RETRY_NS (100 * 1000000ull)
#define BB_SESSION_LEAVE_NS       (500 * 1000000ull)

/// The hub's 16-byte key for a musician's stored state (the store and the
/// client table key musicians by BB_IDENTITY_SIZE bytes): the first 16
/// bytes of BLAKE2b-256 of the identity public key.
void bb_session_identity_id(const uint8_t pk[BB_KEY_PUBLIC_SIZE], uint8_t id[BB_IDENTITY_SIZE]);

// ---- musician side (each returns a datagram length or a negative status)

int bb_session_hello(struct bb_hs_client *hs, uint8_t *buf, size_t size);
/// A COOKIE datagram: 0 or a bb_hs_status (drop it).
int bb_session_on_cookie(struct bb_hs_client *hs, const uint8_t *buf, size_t len);
/// The handshake JOIN carrying m's JOIN body as its fields (m->identity:
/// the old identity token to link, or zeros).
int bb_session_join(struct bb_hs_client *hs, uint8_t *buf, size_t size, const struct bb_join *m);
/// A WELCOME datagram: 0 with w and keys, or a negative status (ignore it).
int bb_session_on_welcome(struct bb_hs_client *hs, const uint8_t *buf, size_t len,
                          struct bb_welcome *w, struct bb_hs_keys *keys);
/// A REJECT datagram into r: 1 authenticated (the hub that read our JOIN
/// says so: believe it), 0 cleartext (anyone may have sent it: a hint,
/// never final), negative: unreadable.
int bb_session_on_reject(struct bb_hs_client *hs, const uint8_t *buf, size_t len,
                         struct bb_reject *r);

// ---- hub side

/// A HELLO datagram from `from`: the COOKIE datagram into out (never longer
/// than the HELLO), or a negative status.
int bb_session_cookie(struct bb_hs_hub *hs, uint64_t now_s, const struct bb_addr *from,
                      const uint8_t *buf, size_t len, uint8_t *out, size_t cap);
/// Opens a JOIN datagram (cookie, password, signature) and reads its fields
/// into m. 0, a bb_hs_status, or BB_HS_MALFORMED when the fields are no JOIN.
int bb_session_open_join(struct bb_hs_hub *hs, uint64_t now_s, const struct bb_addr *from,
                         const uint8_t *buf, size_t len, struct bb_hs_join *j, struct bb_join *m);
/// WELCOME for an opened JOIN (j) whose identity's last accepted timestamp
/// is last_ts: the datagram, and the keys; or BB_HS_REPLAY & co.
int bb_session_welcome(struct bb_hs_hub *hs, const struct bb_hs_join *j, uint64_t last_ts,
                       uint8_t *buf, size_t size, uint32_t session, const struct bb_welcome *w,
                       struct bb_hs_keys *keys);
/// Authenticated REJECT for an opened JOIN.
int bb_session_reject_auth(struct bb_hs_hub *hs, const struct bb_hs_join *j, uint8_t *buf,
                           size_t size, enum bb_reject_code code, const char *reason);
/// Cleartext REJECT (a JOIN the hub could not open: wrong password, other
/// version), written with version (the sender's, so an older join can read
/// it) and cut to at most max bytes: never larger than what it answers.
int bb_session_reject(uint8_t *buf, size_t size, size_t max, uint8_t version,
                      enum bb_reject_code code, const char *reason);

// ---- both sides: sealed with the stream's keys (buf: BB_MAX_SEALED)

int bb_session_leave(struct bb_stream *s, uint8_t *buf, size_t size, enum bb_leave_code code,
                     const char *reason);
int bb_session_leave_ack(struct bb_stream *s, uint8_t *buf, size_t size, uint32_t seq);
/// An OSC relay datagram (controller, packet), sealed.
int bb_session_osc(struct bb_stream *s, uint8_t *buf, size_t size, uint8_t controller,
                   const void *packet, size_t packet_len);

/// Whether a join refused with code should give up: what retrying cannot
/// change (version, rate, codec, a malformed request). A full hub, our own
/// previous session, a taken name (the other musician may leave) or a code
/// this version does not know are worth waiting for. Only an authenticated
/// REJECT is ever final.
int bb_session_reject_final(uint8_t code);

#endif
