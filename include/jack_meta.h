// SPDX-License-Identifier: GPL-2.0-or-later
// jack_meta.h: JACK metadata and aliases for our client and ports, so that
// patchbays (qjackctl, Carla, RaySession) show "alice (1)", "dave L" in
// order and in stereo groups instead of the bare port names.
//
// Every call is a round trip to jackd: the hub makes them on its JACK
// thread only (hub_jack.c), the join while it starts and stops.
#ifndef BB_JACK_META_H
#define BB_JACK_META_H

#include <jack/jack.h>

/// The client's pretty name (JACK_METADATA_PRETTY_NAME on its UUID).
void bb_jack_meta_client(jack_client_t *jc, const char *pretty);
/// A port's pretty name, display order and port group (group NULL or "":
/// none, an old one removed), and its one alias "<client>:<pretty>" (jack_lsp
/// -A), replacing any alias set before.
void bb_jack_meta_port(jack_client_t *jc, jack_port_t *p, const char *pretty, const char *group,
                       int order);
/// Nothing removes what these set: jackd does when the port is
/// unregistered or the client closes (jack_meta.c says why we must not).

#endif
