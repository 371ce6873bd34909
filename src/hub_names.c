// SPDX-License-Identifier: GPL-2.0-or-later
// hub_names.c: port and source names, written and read (hub_names.h).
//
// Ports that read well in a patchbay: bandbridge:alice_1, and with
// --mix-ports bandbridge:mix_alice_L. Every port is a round trip to the
// JACK server when it comes and when it goes (about 0.6 ms here, several
// under load), and the two mix ports are two thirds of a mono musician's:
// fifty musicians timing out at once are gone from JACK in a third of the
// time without them. The personal mixes are sent to the musicians either
// way; the ports are for an engineer who wants to hear or record them.
#include <stdio.h>
#include <string.h>

#include "hub_names.h"

void hub_source_name(char *buf, size_t size, const char *name, unsigned ch)
{
    snprintf(buf, size, "%s_%u", name, ch + 1);
}

void hub_local_name(char *buf, size_t size, unsigned i)
{
    snprintf(buf, size, "in_%u", i + 1);
}

void hub_mix_name(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "mix_%s", name);
}

void hub_port_name(char *buf, size_t size, const char *name, unsigned channels, unsigned i)
{
    if (i < channels)
        hub_source_name(buf, size, name, i);
    else
        snprintf(buf, size, "mix_%s_%c", name, i == channels ? 'L' : 'R');
}

void hub_own_port_name(char *buf, size_t size, unsigned inputs, unsigned i)
{
    if (i < inputs)
        hub_local_name(buf, size, i);
    else
        snprintf(buf, size, "main_%c", i == inputs ? 'L' : 'R');
}

void hub_port_pretty(char *buf, size_t size, const char *name, unsigned channels, unsigned i)
{
    if (i < channels && channels == 2)
        snprintf(buf, size, "%s %c", name, i == 0 ? 'L' : 'R');
    else if (i < channels)
        snprintf(buf, size, "%s (%u)", name, i + 1);
    else
        snprintf(buf, size, "%s's mix %c", name, i == channels ? 'L' : 'R');
}

void hub_port_group(char *buf, size_t size, const char *name, unsigned channels, unsigned i)
{
    if (i < channels)
        snprintf(buf, size, "%s", channels == 2 ? name : "");
    else
        snprintf(buf, size, "%s's mix", name);
}

void hub_own_port_pretty(char *buf, size_t size, unsigned inputs, unsigned i)
{
    if (i < inputs)
        snprintf(buf, size, "local in %u", i + 1);
    else
        snprintf(buf, size, "main mix %c", i == inputs ? 'L' : 'R');
}

void hub_own_port_group(char *buf, size_t size, unsigned inputs, unsigned i)
{
    snprintf(buf, size, "%s", i >= inputs ? "main mix" : inputs == 2 ? "local in" : "");
}

// Decimal digits only, at least one; k saturates rather than wraps.
static int parse_digits(const char *s, unsigned *k)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || s[n])
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v > 100000000u ? 1000000000u : v * 10 + (unsigned)(s[i] - '0');
    *k = v;
    return 1;
}

int hub_parse_local(const char *s, unsigned *k)
{
    return strncmp(s, "in_", 3) == 0 && parse_digits(s + 3, k);
}

int hub_parse_channel(const char *s, size_t *name_len, unsigned *k)
{
    const char *us = strrchr(s, '_');
    if (!us || us == s || !parse_digits(us + 1, k))
        return 0;
    *name_len = (size_t)(us - s);
    return 1;
}
