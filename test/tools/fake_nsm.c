// SPDX-License-Identifier: GPL-2.0-or-later
// fake_nsm.c: a minimal session manager for it_nsm.sh: waits for an
// announce, opens a session (PATH, client id CLIENT_ID), waits for the
// reply, asks for a save, waits for that reply; prints each step, exits 0
// when all replies were /reply, 1 otherwise (2: nothing within 60 s: generous, for a loaded machine).
#include <lo/lo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osc_arg.h"

static lo_address client;
static char got[64], msg[256];
static int got_error, got_any;

static int on_any(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                  void *user)
{
    (void)user;
    if (strcmp(path, "/nsm/server/announce") == 0) {
        if (!client) {
            char *url = lo_address_get_url(lo_message_get_source(m)); // malloc'd by liblo
            client = lo_address_new_from_url(url);
            free(url);
        }
        printf("announce %s %s\n", argc > 0 && types[0] == 's' ? bb_arg_str(argv[0]) : "?",
               argc > 1 && types[1] == 's' ? bb_arg_str(argv[1]) : "?");
    } else if (argc >= 2 && types[0] == 's') {
        snprintf(got, sizeof got, "%s", bb_arg_str(argv[0]));
        int k = types[1] == 'i' ? 2 : 1;
        snprintf(msg, sizeof msg, "%s", argc > k && types[k] == 's' ? bb_arg_str(argv[k]) : "");
        got_error |= strcmp(path, "/error") == 0;
        printf("%s %s %s\n", path, got, msg);
    }
    // A status message (/nsm/client/message) is not an answer to wait for.
    if (strcmp(path, "/nsm/client/message") == 0 && argc == 2 && types[1] == 's')
        printf("message %s\n", bb_arg_str(argv[1]));
    else
        got_any = 1;
    fflush(stdout);
    return 0;
}

static int wait_for(lo_server s)
{
    got_any = 0;
    for (int i = 0; i < 600 && !got_any; i++)
        lo_server_recv_noblock(s, 100);
    return got_any;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fake_nsm PORT PATH CLIENT_ID\n");
        return 2;
    }
    lo_server s = lo_server_new_with_proto(argv[1], LO_UDP, NULL);
    if (!s)
        return 2;
    lo_server_add_method(s, NULL, NULL, on_any, NULL);
    if (!wait_for(s) || !client)
        return 2;
    lo_send_from(client, s, LO_TT_IMMEDIATE, "/reply", "ssss", "/nsm/server/announce", "welcome",
                 "fake_nsm", ":");
    lo_send_from(client, s, LO_TT_IMMEDIATE, "/nsm/client/open", "sss", argv[2], "rehearsal",
                 argv[3]);
    if (!wait_for(s))
        return 2;
    lo_send_from(client, s, LO_TT_IMMEDIATE, "/nsm/client/save", "");
    if (!wait_for(s))
        return 2;
    lo_address_free(client);
    lo_server_free(s);
    return got_error ? 1 : 0;
}
