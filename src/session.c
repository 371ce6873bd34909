// SPDX-License-Identifier: GPL-2.0-or-later
// session.c: session datagrams and the rules both ends share (session.h).
#include <stdio.h>

#include "session.h"

int bb_session_join(uint8_t *buf, size_t size, const struct bb_join *m)
{
    struct bb_header hd = {.type = BB_MSG_JOIN};
    return bb_wire_write_join(buf, size, &hd, m);
}

int bb_session_welcome(uint8_t *buf, size_t size, uint32_t session, const struct bb_welcome *m)
{
    struct bb_header hd = {.type = BB_MSG_WELCOME, .session = session};
    return bb_wire_write_welcome(buf, size, &hd, m);
}

int bb_session_reject(uint8_t *buf, size_t size, enum bb_reject_code code, const char *reason)
{
    struct bb_reject r = {.code = (uint8_t)code};
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    struct bb_header hd = {.type = BB_MSG_REJECT};
    return bb_wire_write_reject(buf, size, &hd, &r);
}

int bb_session_leave(uint8_t *buf, size_t size, uint32_t session, enum bb_leave_code code,
                     const char *reason)
{
    struct bb_leave l = {.code = (uint8_t)code};
    snprintf(l.reason, sizeof l.reason, "%s", reason);
    struct bb_header hd = {.type = BB_MSG_LEAVE, .session = session};
    return bb_wire_write_leave(buf, size, &hd, &l);
}

int bb_session_leave_ack(uint8_t *buf, size_t size, uint32_t session, uint32_t seq)
{
    struct bb_header hd = {.type = BB_MSG_LEAVE_ACK, .session = session, .seq = seq};
    return bb_wire_write_empty(buf, size, &hd);
}

int bb_session_reject_final(uint8_t code)
{
    return code == BB_REJECT_VERSION || code == BB_REJECT_RATE || code == BB_REJECT_NAME_TAKEN ||
           code == BB_REJECT_CODEC || code == BB_REJECT_BAD_REQUEST;
}
