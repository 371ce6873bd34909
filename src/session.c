// SPDX-License-Identifier: GPL-2.0-or-later
// session.c: session datagrams and the rules both ends share (session.h).
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

void bb_session_identity_id(const uint8_t pk[BB_KEY_PUBLIC_SIZE], uint8_t id[BB_IDENTITY_SIZE])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, pk, BB_KEY_PUBLIC_SIZE, NULL, 0);
    memcpy(id, h, BB_IDENTITY_SIZE);
}

static void put_header(uint8_t *buf, uint8_t type, uint16_t flags, uint32_t session)
{
    // The handshake's bodies are written by handshake.c, the header here.
    struct bb_header hd = {.type = type, .flags = flags, .session = session};
    bb_wire_write_header(buf, BB_WIRE_HEADER_SIZE, &hd);
}

int bb_session_hello(struct bb_hs_client *hs, uint8_t *buf, size_t size)
{
    if (size < BB_WIRE_HEADER_SIZE + BB_HS_HELLO_SIZE)
        return BB_HS_NO_ROOM;
    put_header(buf, BB_MSG_HELLO, 0, 0);
    int n = bb_hs_client_hello(hs, buf + BB_WIRE_HEADER_SIZE, size - BB_WIRE_HEADER_SIZE);
    return n < 0 ? n : BB_WIRE_HEADER_SIZE + n;
}

int bb_session_on_cookie(struct bb_hs_client *hs, const uint8_t *buf, size_t len)
{
    if (len < BB_WIRE_HEADER_SIZE)
        return BB_HS_MALFORMED;
    return bb_hs_client_on_cookie(hs, buf + BB_WIRE_HEADER_SIZE, len - BB_WIRE_HEADER_SIZE);
}

int bb_session_join(struct bb_hs_client *hs, uint8_t *buf, size_t size, const struct bb_join *m)
{
    uint8_t fields[BB_MAX_DATAGRAM];
    struct bb_header hd = {.type = BB_MSG_JOIN};
    int n = bb_wire_write_join(fields, sizeof fields, &hd, m);
    if (n < 0)
        return n;
    if (size < BB_WIRE_HEADER_SIZE)
        return BB_HS_NO_ROOM;
    put_header(buf, BB_MSG_JOIN, 0, 0);
    int b = bb_hs_client_join(hs, 0, buf, BB_WIRE_HEADER_SIZE, fields + BB_WIRE_HEADER_SIZE,
                              (size_t)n - BB_WIRE_HEADER_SIZE, buf + BB_WIRE_HEADER_SIZE,
                              size - BB_WIRE_HEADER_SIZE);
    return b < 0 ? b : BB_WIRE_HEADER_SIZE + b;
}

int bb_session_on_welcome(struct bb_hs_client *hs, const uint8_t *buf, size_t len,
                          struct bb_welcome *w, struct bb_hs_keys *keys)
{
    uint8_t plain[BB_WIRE_HEADER_SIZE + BB_HS_WELCOME_FIELDS_MAX];
    if (len < BB_WIRE_HEADER_SIZE)
        return BB_HS_MALFORMED;
    int n = bb_hs_client_on_welcome(hs, buf, BB_WIRE_HEADER_SIZE, buf + BB_WIRE_HEADER_SIZE,
                                    len - BB_WIRE_HEADER_SIZE, plain + BB_WIRE_HEADER_SIZE,
                                    sizeof plain - BB_WIRE_HEADER_SIZE, keys);
    if (n < 0)
        return n;
    memcpy(plain, buf, BB_WIRE_HEADER_SIZE);
    if (bb_wire_read_welcome(plain, BB_WIRE_HEADER_SIZE + (size_t)n, w) != BB_WIRE_OK) {
        bb_hs_keys_wipe(keys);
        return BB_HS_MALFORMED;
    }
    return 0;
}

int bb_session_on_reject(struct bb_hs_client *hs, const uint8_t *buf, size_t len,
                         struct bb_reject *r)
{
    struct bb_header hd;
    if (bb_wire_parse_header(buf, len, &hd) != BB_WIRE_OK)
        return -1;
    if (!(hd.flags & BB_FLAG_AUTH))
        return bb_wire_read_reject(buf, len, r) == BB_WIRE_OK ? 0 : -1;
    uint8_t plain[BB_WIRE_HEADER_SIZE + BB_HS_REJECT_MAX];
    int n = bb_hs_client_on_reject(hs, buf, BB_WIRE_HEADER_SIZE, buf + BB_WIRE_HEADER_SIZE,
                                   len - BB_WIRE_HEADER_SIZE, plain + BB_WIRE_HEADER_SIZE,
                                   sizeof plain - BB_WIRE_HEADER_SIZE);
    if (n < 0)
        return -1; // flagged authenticated but not: made up by someone, ignore
    memcpy(plain, buf, BB_WIRE_HEADER_SIZE);
    return bb_wire_read_reject(plain, BB_WIRE_HEADER_SIZE + (size_t)n, r) == BB_WIRE_OK ? 1 : -1;
}

int bb_session_cookie(struct bb_hs_hub *hs, uint64_t now_s, const struct bb_addr *from,
                      const uint8_t *buf, size_t len, uint8_t *out, size_t cap)
{
    if (len < BB_WIRE_HEADER_SIZE || cap < BB_WIRE_HEADER_SIZE)
        return BB_HS_MALFORMED;
    int n = bb_hs_hub_on_hello(hs, now_s, (const struct sockaddr *)&from->ss, from->len,
                               buf + BB_WIRE_HEADER_SIZE, len - BB_WIRE_HEADER_SIZE,
                               out + BB_WIRE_HEADER_SIZE, cap - BB_WIRE_HEADER_SIZE);
    if (n < 0)
        return n;
    put_header(out, BB_MSG_COOKIE, 0, 0);
    return BB_WIRE_HEADER_SIZE + n;
}

int bb_session_open_join(struct bb_hs_hub *hs, uint64_t now_s, const struct bb_addr *from,
                         const uint8_t *buf, size_t len, struct bb_hs_join *j, struct bb_join *m)
{
    if (len < BB_WIRE_HEADER_SIZE)
        return BB_HS_MALFORMED;
    int rc = bb_hs_hub_on_join(hs, now_s, (const struct sockaddr *)&from->ss, from->len, buf,
                               BB_WIRE_HEADER_SIZE, buf + BB_WIRE_HEADER_SIZE,
                               len - BB_WIRE_HEADER_SIZE, j);
    if (rc < 0)
        return rc;
    uint8_t plain[BB_WIRE_HEADER_SIZE + BB_HS_JOIN_FIELDS_MAX];
    memcpy(plain, buf, BB_WIRE_HEADER_SIZE);
    memcpy(plain + BB_WIRE_HEADER_SIZE, j->fields, j->fields_len);
    int w = bb_wire_read_join(plain, BB_WIRE_HEADER_SIZE + j->fields_len, m);
    // A codec this build does not know is read (refused in words later).
    return w == BB_WIRE_OK ? 0 : BB_HS_MALFORMED;
}

int bb_session_welcome(struct bb_hs_hub *hs, const struct bb_hs_join *j, uint64_t last_ts,
                       uint8_t *buf, size_t size, uint32_t session, const struct bb_welcome *w,
                       struct bb_hs_keys *keys)
{
    uint8_t fields[BB_MAX_DATAGRAM];
    struct bb_header hd = {.type = BB_MSG_WELCOME, .session = session};
    int n = bb_wire_write_welcome(fields, sizeof fields, &hd, w);
    if (n < 0)
        return n;
    if (size < BB_WIRE_HEADER_SIZE)
        return BB_HS_NO_ROOM;
    put_header(buf, BB_MSG_WELCOME, 0, session);
    int b = bb_hs_hub_welcome(hs, j, last_ts, buf, BB_WIRE_HEADER_SIZE,
                              fields + BB_WIRE_HEADER_SIZE, (size_t)n - BB_WIRE_HEADER_SIZE,
                              buf + BB_WIRE_HEADER_SIZE, size - BB_WIRE_HEADER_SIZE, keys);
    return b < 0 ? b : BB_WIRE_HEADER_SIZE + b;
}

int bb_session_reject_auth(struct bb_hs_hub *hs, const struct bb_hs_join *j, uint8_t *buf,
                           size_t size, enum bb_reject_code code, const char *reason)
{
    struct bb_reject r = {.code = (uint8_t)code};
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    struct bb_header hd = {.type = BB_MSG_REJECT};
    uint8_t plain[BB_WIRE_HEADER_SIZE + BB_HS_REJECT_MAX];
    int n = bb_wire_write_reject(plain, sizeof plain, &hd, &r);
    if (n < 0 || size < BB_WIRE_HEADER_SIZE)
        return n < 0 ? n : BB_HS_NO_ROOM;
    put_header(buf, BB_MSG_REJECT, BB_FLAG_AUTH, 0);
    int b = bb_hs_hub_reject(hs, j, buf, BB_WIRE_HEADER_SIZE, plain + BB_WIRE_HEADER_SIZE,
                             (size_t)n - BB_WIRE_HEADER_SIZE, buf + BB_WIRE_HEADER_SIZE,
                             size - BB_WIRE_HEADER_SIZE);
    return b < 0 ? b : BB_WIRE_HEADER_SIZE + b;
}

int bb_session_reject(uint8_t *buf, size_t size, size_t max, uint8_t version,
                      enum bb_reject_code code, const char *reason)
{
    struct bb_reject r = {.code = (uint8_t)code};
    // header, code, length byte: the reason is cut to what fits in max.
    size_t room = max > BB_WIRE_HEADER_SIZE + 2 ? max - BB_WIRE_HEADER_SIZE - 2 : 0;
    if (room >= sizeof r.reason)
        room = sizeof r.reason - 1;
    snprintf(r.reason, room + 1, "%s", reason);
    if (!r.reason[0])
        snprintf(r.reason, sizeof r.reason, "-"); // the reader wants a reason
    struct bb_header hd = {.type = BB_MSG_REJECT};
    int n = bb_wire_write_reject(buf, size, &hd, &r);
    if (n > 0)
        buf[4] = version;
    return n;
}

int bb_session_leave(struct bb_stream *s, uint8_t *buf, size_t size, enum bb_leave_code code,
                     const char *reason)
{
    struct bb_leave l = {.code = (uint8_t)code};
    snprintf(l.reason, sizeof l.reason, "%s", reason);
    struct bb_header hd = {.type = BB_MSG_LEAVE, .session = s->session};
    if (size < BB_SEAL_OVERHEAD)
        return BB_WIRE_NO_ROOM;
    int n = bb_wire_write_leave(buf + BB_SEAL_COUNTER_SIZE, size - BB_SEAL_OVERHEAD, &hd, &l);
    return n < 0 ? n : bb_stream_seal(s, buf, n, size);
}

int bb_session_leave_ack(struct bb_stream *s, uint8_t *buf, size_t size, uint32_t seq)
{
    struct bb_header hd = {.type = BB_MSG_LEAVE_ACK, .session = s->session, .seq = seq};
    if (size < BB_SEAL_OVERHEAD)
        return BB_WIRE_NO_ROOM;
    int n = bb_wire_write_empty(buf + BB_SEAL_COUNTER_SIZE, size - BB_SEAL_OVERHEAD, &hd);
    return n < 0 ? n : bb_stream_seal(s, buf, n, size);
}

int bb_session_osc(struct bb_stream *s, uint8_t *buf, size_t size, uint8_t controller,
                   const void *packet, size_t packet_len)
{
    struct bb_header hd = {.type = BB_MSG_OSC, .session = s->session};
    if (size < BB_SEAL_OVERHEAD)
        return BB_WIRE_NO_ROOM;
    int n = bb_wire_write_osc(buf + BB_SEAL_COUNTER_SIZE, size - BB_SEAL_OVERHEAD, &hd,
                              controller, packet, packet_len);
    return n < 0 ? n : bb_stream_seal(s, buf, n, size);
}

int bb_session_reject_final(uint8_t code)
{
    return code == BB_REJECT_VERSION || code == BB_REJECT_RATE || code == BB_REJECT_CODEC ||
           code == BB_REJECT_BAD_REQUEST;
}
