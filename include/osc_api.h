// SPDX-License-Identifier: GPL-2.0-or-later
// osc_api.h: the hub's OSC address space as one table, owned by the
// control thread: every address with its pattern, arguments and their
// ranges, access, documentation and handler. `bandbridge serve --osc-doc`
// prints it; bandbridge-osc(7) documents it in full and test/it_osc_doc.sh
// keeps the two in step.
//
// A message goes: the first row whose pattern matches (osc_match.h), or,
// for an address that only starts like a row's ("/mix/..."), that row's
// usage error; the password or the relay's limits (osc_server.h); the
// row's resolve (what the address names: a mix, a source, a slot), its
// arguments checked against the row (count, types, ranges), and only then
// its handler. The first check that fails is answered with /error.
#ifndef BB_OSC_API_H
#define BB_OSC_API_H

#include <lo/lo.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "osc_args.h"
#include "osc_match.h"
#include "osc_server.h"

/// What a message needs when the hub has a password.
enum osc_access {
    OSC_ACC_OPEN,  ///< nothing: /info, /auth, /cookie
    OSC_ACC_AUTH,  ///< /auth first, from the same address and port: changes
                   ///< and every query (they show the musicians and the hub's state)
};

struct hub;
struct osc_call; ///< one message being handled (osc_api.c)
/// Checks what the address names (c->m): 0, or -1 with the /error sent.
typedef int (*osc_resolve_fn)(struct hub *h, struct osc_call *c);
/// Does what the message asks, its arguments checked (c->v).
typedef void (*osc_handler_fn)(struct hub *h, struct osc_call *c);

/// One address of the table.
struct osc_api_row {
    const char     *pattern;  ///< "/mix/<mix>/ch/<source>/gain"
    /// /error for an address that starts like pattern (before its first
    /// variable) but does not fit it; NULL for a pattern without variables.
    const char     *usage;
    enum osc_access access;
    uint8_t         relay;    ///< a musician's own controller may send it (osc_server.c)
    uint8_t         hidden;   ///< not an address: catches a family's other spellings
    int             param;    ///< the handler's own: which mix or send parameter; 1: the meter lease
    struct osc_args args;
    osc_resolve_fn  resolve;  ///< NULL: the address names nothing
    osc_handler_fn  fn;       ///< NULL: sent by the hub only (feedback, notices, meters)
    const char     *answer;   ///< what the hub sends back ("" for nothing); sent rows: the arguments
    const char     *doc;
};

/// [ctl] Handles one message from src, whose access to the OSC port has
/// been checked (the allow-list) or which came over a musician's session.
void osc_api_dispatch(struct hub *h, const char *path, const char *types, lo_arg **argv,
                      int argc, const struct osc_src *src);

/// Prints the table (`bandbridge serve --osc-doc`): per address a line
/// "ADDRESS ARGUMENTS" (as in the man page's synopsis), then its doc.
void hub_osc_doc(FILE *f);

// ---- for tests -----------------------------------------------------------

/// The table: *n rows.
const struct osc_api_row *osc_api_rows(size_t *n);
/// The row a message to path goes to, with its variables in *m and
/// *fits 1; or the row of the family path starts like (*fits 0); or NULL.
const struct osc_api_row *osc_api_find(const char *path, struct osc_match *m, int *fits);

#endif
