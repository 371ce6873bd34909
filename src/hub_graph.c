// SPDX-License-Identifier: GPL-2.0-or-later
// hub_graph.c: the mixer graph the process callback and the network
// threads read (hub_graph.h). Control thread only.
//
// The graph is built from scratch from the client table and every mix
// setting, and published with one atomic store (snap.c): a reader sees the
// old graph or the new one, never a mix of both. Building it costs
// microseconds for a full hub, so there is no incremental update to get
// wrong. Gains of musicians leaving are 0 in it: the mixer ramps them to
// silence before a graph without them is published (hub_clients.c).
#include <stdlib.h>
#include <string.h>

#include "hub_graph.h"
#include "log.h"

static void graph_free(void *obj)
{
    struct hub_graph *g = obj;
    bb_mix_graph_free(g->mix);
    free(g);
}

// Whether the mix streams of a and b can share one encoder's packets.
static int same_encoder(const struct hub_client *a, const struct hub_client *b)
{
    return a->st.tx_codec == b->st.tx_codec && a->st.tx_channels == b->st.tx_channels &&
           a->st.tx_frames == b->st.tx_frames && a->st.tx_kbps == b->st.tx_kbps &&
           a->st.tx_mono == b->st.tx_mono;
}

// [ctl] The send groups (hub_engine.h, tx_lead): musicians whose mixes
// share a lead in the mixer and whose streams are encoded alike. The send
// side still checks every packet's frames before it shares a payload
// (the click, a ramp, a member behind: hub_net.c), so a group is a
// promise of work saved, never of sameness.
static void group_streams(struct hub_graph *g)
{
    const struct bb_mix_graph *mg = g->mix;
    int16_t last[BB_MAX_CLIENTS]; // by lead slot: its group's last member
    unsigned opus = 0;
    g->tx_groups = 0;
    for (unsigned m = 0; m < mg->nmix; m++) {
        struct hub_client *c = g->mix_client[m];
        if (!c)
            continue;
        g->tx_lead[c->slot] = (int16_t)c->slot;
        g->tx_next[c->slot] = -1;
        for (unsigned k = 0; k < m; k++) {
            const struct hub_client *l = g->mix_client[k];
            if (l && g->tx_lead[l->slot] == l->slot && mg->lead[k] == mg->lead[m] &&
                same_encoder(l, c)) {
                g->tx_lead[c->slot] = (int16_t)l->slot;
                g->tx_next[last[l->slot]] = (int16_t)c->slot;
                last[l->slot] = (int16_t)c->slot;
                break;
            }
        }
        if (g->tx_lead[c->slot] == c->slot) {
            last[c->slot] = (int16_t)c->slot;
            g->tx_groups++;
            opus += bb_codec_is_opus(c->st.tx_codec);
        }
    }
    g->tx_workers = opus >= HUB_TX_SPLIT_OPUS ? HUB_TX_WORKERS : 1;
}

// [ctl] Builds the graph for the current client table and settings.
static struct hub_graph *build_graph(struct hub *h)
{
    struct hub_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    uint16_t src_id[BB_MAX_SOURCES], mix_id[BB_MAX_MIXES];
    unsigned nsrc = 0, nmix = 0;
    for (int slot = 0; slot < BB_MAX_CLIENTS; slot++) {
        struct hub_client *c = h->slots[slot];
        if (!c || c->state == HUB_CLIENT_REMOVED)
            continue;
        g->clients[g->nclients++] = c;
        g->by_slot[slot] = c;
        for (unsigned ch = 0; ch < c->channels; ch++) {
            g->src_client[nsrc] = c;
            g->src_index[nsrc] = (uint16_t)ch;
            src_id[nsrc++] = (uint16_t)BB_SRC_CLIENT(slot, ch);
        }
        g->mix_client[nmix] = c;
        mix_id[nmix++] = (uint16_t)slot;
    }
    for (unsigned i = 0; i < h->local_inputs; i++) {
        g->src_client[nsrc] = NULL;
        g->src_index[nsrc] = (uint16_t)i;
        src_id[nsrc++] = (uint16_t)BB_SRC_LOCAL(i);
    }
    g->mix_client[nmix] = NULL;
    mix_id[nmix++] = BB_MIX_MAIN;

    g->mix = bb_mix_graph_new(nsrc, nmix);
    if (!g->mix) {
        free(g);
        return NULL;
    }
    memcpy(g->mix->src_id, src_id, nsrc * sizeof *src_id);
    memcpy(g->mix->mix_id, mix_id, nmix * sizeof *mix_id);
    for (unsigned m = 0; m < nmix; m++) {
        const struct hub_client *lc = g->mix_client[m];
        const struct hub_send *sends = lc ? lc->sends : h->main_sends;
        int any_solo = 0;
        for (unsigned s = 0; s < nsrc; s++)
            any_solo |= sends[src_id[s]].solo && sends[src_id[s]].sub;
        for (unsigned s = 0; s < nsrc; s++) {
            const struct hub_send *sd = &sends[src_id[s]];
            const struct hub_client *sc = g->src_client[s];
            float *gain = bb_mix_graph_gain(g->mix, m, s);
            int fading = (lc && lc->state != HUB_CLIENT_ACTIVE) ||
                         (sc && sc->state != HUB_CLIENT_ACTIVE);
            if (fading || !sd->sub || sd->mute || (any_solo && !sd->solo)) {
                gain[0] = gain[1] = 0.0f;
                continue;
            }
            float trim = sc ? sc->send_db : 0.0f; // the musician's own send level
            bb_pan_gains(bb_db_to_gain(sd->gain_db + trim), sd->pan, &gain[0], &gain[1]);
        }
    }
    bb_mix_graph_group(g->mix);
    group_streams(g);
    return g;
}

// [ctl] Publishes a new graph if anything changed. Returns its epoch (0 if none).
uint64_t hub_publish(struct hub *h)
{
    if (!h->dirty)
        return 0;
    struct hub_graph *g = build_graph(h);
    if (!g) {
        bb_err("out of memory building the mixer graph; will retry");
        return 0;
    }
    uint64_t epoch = bb_snap_publish(&h->eng.graph, g);
    if (epoch == 0) {
        // Too many graphs waiting for readers: the callback is stalled.
        graph_free(g);
        return 0;
    }
    h->dirty = 0;
    return epoch;
}

void hub_graph_init(struct hub *h)
{
    bb_snap_init(&h->eng.graph, HUB_READERS, graph_free);
}
