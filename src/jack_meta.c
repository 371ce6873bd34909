// SPDX-License-Identifier: GPL-2.0-or-later
// jack_meta.c: JACK metadata and aliases (jack_meta.h).
//
// jackd keeps properties in a Berkeley DB of its own, shared by the servers
// of one user. We never remove properties: jackd removes a port's when the
// port is unregistered and a client's when it closes. Removing them ourselves as
// well made three processes walk jack2's Berkeley DB at once when a
// musician left (the hub, her join, jackd's PortUnRegister), and jack2 runs
// it without a deadlock detector: two walks could wait on each other for
// ever, with jackd and every client of it stuck behind them.
#include "jack_meta.h"

#include <jack/metadata.h>
#include <jack/uuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define TYPE_INT "http://www.w3.org/2001/XMLSchema#int"
/// Room for a full port name or alias: jack_port_name_size() is 320 in
/// jack2 (client 64 + port 256); libjack copies that much into each buffer.
#define NAME_ROOM 512

static int client_uuid(jack_client_t *jc, jack_uuid_t *u)
{
    char *s = jack_get_uuid_for_client_name(jc, jack_get_client_name(jc));
    int rc = s ? jack_uuid_parse(s, u) : -1;
    jack_free(s);
    return rc;
}

/// Removes key from u if it is there: libjack prints a line to stderr for
/// a key that is not.
static void remove_if_set(jack_client_t *jc, jack_uuid_t u, const char *key)
{
    char *value = NULL, *type = NULL;
    if (jack_get_property(u, key, &value, &type) != 0)
        return;
    jack_free(value);
    jack_free(type);
    jack_remove_property(jc, u, key);
}

void bb_jack_meta_client(jack_client_t *jc, const char *pretty)
{
    jack_uuid_t u;
    if (client_uuid(jc, &u) < 0 || jack_set_property(jc, u, JACK_METADATA_PRETTY_NAME, pretty, NULL) != 0)
        bb_debug("JACK: cannot set the client's pretty name");
}


/// Unsets every alias p has.
static void unset_aliases(jack_port_t *p)
{
    char a0[NAME_ROOM] = "", a1[NAME_ROOM] = "";
    char *const al[2] = {a0, a1};
    int n = jack_port_get_aliases(p, al);
    for (int i = 0; i < n && i < 2; i++)
        jack_port_unset_alias(p, al[i]);
}


void bb_jack_meta_port(jack_client_t *jc, jack_port_t *p, const char *pretty, const char *group,
                       int order)
{
    jack_uuid_t u = jack_port_uuid(p);
    char num[16], alias[NAME_ROOM];
    snprintf(num, sizeof num, "%d", order);
    int rc = jack_set_property(jc, u, JACK_METADATA_PRETTY_NAME, pretty, NULL);
    rc |= jack_set_property(jc, u, JACK_METADATA_ORDER, num, TYPE_INT);
    if (group && *group)
        rc |= jack_set_property(jc, u, JACK_METADATA_PORT_GROUP, group, NULL);
    else
        remove_if_set(jc, u, JACK_METADATA_PORT_GROUP);
    unset_aliases(p);
    snprintf(alias, sizeof alias, "%s:%s", jack_get_client_name(jc), pretty);
    rc |= jack_port_set_alias(p, alias);
    if (rc != 0)
        bb_debug("JACK: cannot set all of %s's metadata", jack_port_name(p));
}
