// SPDX-License-Identifier: GPL-2.0-or-later
// osc.c: the hub's OSC surface put together (osc.h): the server
// (osc_server.c) hands the messages whose access it checked to the address
// table (osc_api.c), which answers through the server and feeds changes
// back through the leases (osc_feedback.c). Wiring them here keeps each
// layer calling only the ones below it.
#include <stdio.h>

#include "hub.h"
#include "osc.h"

int hub_osc_start(struct hub *h, char *err, size_t err_size)
{
    if (osc_server_start(h, osc_api_dispatch, err, err_size) < 0)
        return -1;
    if (h->osc && !(h->osc->fb = osc_feedback_new(bb_now_ns()))) {
        osc_server_stop(h);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

void hub_osc_stop(struct hub *h)
{
    if (!h->osc)
        return;
    osc_feedback_free(h->osc->fb);
    h->osc->fb = NULL;
    osc_server_stop(h);
}

int hub_osc_due_ms(struct hub *h, uint64_t now)
{
    if (!h->osc)
        return -1;
    uint64_t t = osc_feedback_due_ns(h->osc->fb), s = osc_server_due(h->osc, now);
    if (s < t)
        t = s;
    return t <= now ? 0 : (int)((t - now + 999999) / 1000000);
}
