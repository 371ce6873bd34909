// SPDX-License-Identifier: GPL-2.0-or-later
// ctl.h: `bandbridge ctl` (one OSC request to a hub from the terminal),
// and the pieces `bandbridge status` (status.h) talks to a hub with.
#ifndef BB_CTL_H
#define BB_CTL_H

#include <lo/lo.h>

/// `bandbridge ctl [--host H] [--port P] [--timeout S] ADDRESS [ARG...]`;
/// returns 0 on a reply, 1 on an /error reply, 3 when nothing answered,
/// 2 on bad usage.
int bb_ctl_main(int argc, char **argv);

/// The hub ctl and status talk to: --host and --port.
struct bb_ctl_target {
    const char *host;
    char        port[8];
};

/// 127.0.0.1 and the default OSC port.
void bb_ctl_target_init(struct bb_ctl_target *t);
/// Takes option o if it is 'H' (--host) or 'p' (--port); returns whether it did.
int  bb_ctl_target_opt(struct bb_ctl_target *t, int o, const char *arg);
/// A UDP server on a port of our own, where the hub's answers come.
lo_server bb_ctl_reply_server(void);
/// /auth first, from srv, when BANDBRIDGE_OSC_PASSWORD is set.
void bb_ctl_send_auth(lo_address addr, lo_server srv);

#endif
