// SPDX-License-Identifier: GPL-2.0-or-later
// hub_clients.h: the hub's client table, owned by the control thread.
//
// Every change to who is connected and to any mix setting goes through
// these functions: they change the table, mark the graph for publication
// and tell the observers (OSC feedback, the state store) through the
// callbacks registered with hub_clients_observe(). Nothing else writes a
// musician's sends, send level or name.
#ifndef BB_HUB_CLIENTS_H
#define BB_HUB_CLIENTS_H

#include "hub.h"

/// [ctl] The mix settings of source src_id in mc's personal mix (mc NULL:
/// the main mix), read only.
const struct hub_send *hub_clients_send(const struct hub *h, const struct hub_client *mc,
                                        unsigned src_id);
/// [ctl] Sets them: the graph is republished on the control loop's next
/// turn and the mix is stored soon.
void hub_clients_set_send(struct hub *h, struct hub_client *mc, unsigned src_id,
                          const struct hub_send *v);
/// [ctl] Sets musician c's own send level (dB, -inf allowed), heard in every mix.
void hub_clients_set_send_db(struct hub *h, struct hub_client *c, float db);

#endif
