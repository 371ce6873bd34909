// SPDX-License-Identifier: GPL-2.0-or-later
// hub_names.h: the one place the hub's JACK port names and mix source
// names are written and read. A musician "alice" with two channels has
// ports and sources alice_1, alice_2, and with --mix-ports the ports
// mix_alice_L, mix_alice_R; the hub's own ports are in_<k>, main_L, main_R,
// and local input k is the source in_<k>.
#ifndef BB_HUB_NAMES_H
#define BB_HUB_NAMES_H

#include <stddef.h>

/// Short JACK port name of port i of musician name with channels channels:
/// "alice_<i+1>" for i < channels, then "mix_alice_L" (i = channels) and
/// "mix_alice_R" (i = channels + 1).
void hub_port_name(char *buf, size_t size, const char *name, unsigned channels, unsigned i);
/// Short JACK port name of the hub's own port i: "in_<i+1>" for i < inputs,
/// then "main_L", "main_R".
void hub_own_port_name(char *buf, size_t size, unsigned inputs, unsigned i);
/// Source name of channel ch (0-based) of musician name: "alice_<ch+1>".
void hub_source_name(char *buf, size_t size, const char *name, unsigned ch);
/// Source name of local input i (0-based): "in_<i+1>".
void hub_local_name(char *buf, size_t size, unsigned i);
/// Name of musician name's personal mix ports without the side: "mix_alice".
void hub_mix_name(char *buf, size_t size, const char *name);

/// What patchbays show for the same ports (JACK metadata, jack_meta.h):
/// the pretty name of musician port i: "alice (1)", "dave L"/"dave R" for
/// a two-channel musician, "alice's mix L"; its port group ("dave" for a
/// pair, "alice's mix"; "" for none).
void hub_port_pretty(char *buf, size_t size, const char *name, unsigned channels, unsigned i);
void hub_port_group(char *buf, size_t size, const char *name, unsigned channels, unsigned i);
/// The same for the hub's own port i: "local in 1", "main mix L"; groups
/// "local in" (two inputs: a pair), "main mix".
void hub_own_port_pretty(char *buf, size_t size, unsigned inputs, unsigned i);
void hub_own_port_group(char *buf, size_t size, unsigned inputs, unsigned i);

/// Whether s is exactly "in_<k>" (k decimal digits); *k gets k (any value).
int  hub_parse_local(const char *s, unsigned *k);
/// Whether s is "<name>_<k>" with a non-empty name and k decimal digits
/// only; the name's length goes to *name_len, k to *k. "a_b_2" is name
/// "a_b", channel 2.
int  hub_parse_channel(const char *s, size_t *name_len, unsigned *k);

#endif
