// SPDX-License-Identifier: GPL-2.0-or-later
// hub_graph.h: builds the mixer graph from the client table and publishes
// it (one atomic store; the old one is freed once every reader moved on).
#ifndef BB_HUB_GRAPH_H
#define BB_HUB_GRAPH_H

#include "hub.h"

/// [ctl] Sets up h->graph (no graph published yet).
void     hub_graph_init(struct hub *h);
/// [ctl] Publishes a new graph if h->dirty; returns its epoch, or 0 (nothing
/// to publish, or not now: out of memory or too many graphs unacknowledged;
/// h->dirty stays set and the next call retries).
uint64_t hub_publish(struct hub *h);

#endif
