// SPDX-License-Identifier: GPL-2.0-or-later
// test_nsm.c: the NSM client against a fake session manager over real UDP:
// announce (with its arguments), open (path, name, client id), save, and
// the replies the manager gets.
#include <lo/lo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb.h"
#include "check.h"
#include "nsm.h"
#include "osc_arg.h"

struct fake {
    lo_server  srv;
    lo_address client;     ///< where the announce came from
    int        announce_ok;
    char       last_reply[64];
    char       last_msg[64];
    int        errors;
};

static int on_announce(const char *path, const char *types, lo_arg **argv, int argc,
                       lo_message m, void *user)
{
    (void)path;
    struct fake *f = user;
    f->announce_ok = argc == 6 && strcmp(types, "sssiii") == 0 &&
                     strcmp(bb_arg_str(argv[0]), "bandbridge") == 0 &&
                     strstr(bb_arg_str(argv[1]), ":message:") && bb_arg_i32(argv[3]) == 1 &&
                     bb_arg_i32(argv[4]) == 2 && bb_arg_i32(argv[5]) == (int)getpid();
    char *url = lo_address_get_url(lo_message_get_source(m)); // malloc'd by liblo
    f->client = lo_address_new_from_url(url);
    free(url);
    lo_send_from(f->client, f->srv, LO_TT_IMMEDIATE, "/reply", "ssss", "/nsm/server/announce",
                 "hello from the fake", "fake-nsm", ":server-control:");
    return 0;
}

static int on_reply(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                    void *user)
{
    (void)m;
    struct fake *f = user;
    if (strcmp(path, "/error") == 0)
        f->errors++;
    if (argc >= 2 && types[0] == 's') {
        snprintf(f->last_reply, sizeof f->last_reply, "%s", bb_arg_str(argv[0]));
        int k = types[1] == 'i' ? 2 : 1;
        if (argc > k && types[k] == 's')
            snprintf(f->last_msg, sizeof f->last_msg, "%s", bb_arg_str(argv[k]));
    }
    return 0;
}

// Lets both sides exchange messages for a while.
static void pump(struct fake *f, struct bb_nsm *n, enum bb_nsm_event *ev, struct bb_nsm_open *o)
{
    for (int i = 0; i < 50; i++) {
        lo_server_recv_noblock(f->srv, 2);
        enum bb_nsm_event e = bb_nsm_poll(n, o);
        if (e != BB_NSM_NONE && ev)
            *ev = e;
    }
}

int main(void)
{
    struct fake f = {0};
    f.srv = lo_server_new_with_proto(NULL, LO_UDP, NULL);
    CHECK(f.srv != NULL);
    lo_server_add_method(f.srv, "/nsm/server/announce", NULL, on_announce, &f);
    lo_server_add_method(f.srv, "/reply", NULL, on_reply, &f);
    lo_server_add_method(f.srv, "/error", NULL, on_reply, &f);
    char url[128];
    snprintf(url, sizeof url, "osc.udp://127.0.0.1:%d/", lo_server_get_port(f.srv));

    char err[200];
    struct bb_nsm *n = bb_nsm_new(url, "bandbridge", "bandbridge", err, sizeof err);
    CHECK(n != NULL);
    CHECK(bb_nsm_fd(n) >= 0);
    pump(&f, n, NULL, NULL);
    CHECK(f.announce_ok);
    CHECK(bb_nsm_announced(n));

    // The manager opens a session for us.
    lo_send_from(f.client, f.srv, LO_TT_IMMEDIATE, "/nsm/client/open", "sss",
                 "/tmp/session/bandbridge.nXYZ", "rehearsal", "bandbridge.nXYZ");
    struct bb_nsm_open o;
    memset(&o, 0, sizeof o);
    CHECK(bb_nsm_wait_open(n, 2000, &o) == 0);
    CHECK(strcmp(o.path, "/tmp/session/bandbridge.nXYZ") == 0);
    CHECK(strcmp(o.display_name, "rehearsal") == 0);
    CHECK(strcmp(o.client_id, "bandbridge.nXYZ") == 0);
    bb_nsm_reply(n, BB_NSM_OPEN, 1, "opened");
    pump(&f, n, NULL, NULL);
    CHECK(strcmp(f.last_reply, "/nsm/client/open") == 0 && strcmp(f.last_msg, "opened") == 0);

    // Save, then a refused save.
    lo_send_from(f.client, f.srv, LO_TT_IMMEDIATE, "/nsm/client/save", "");
    enum bb_nsm_event ev = BB_NSM_NONE;
    pump(&f, n, &ev, NULL);
    CHECK(ev == BB_NSM_SAVE);
    bb_nsm_reply(n, BB_NSM_SAVE, 1, "saved");
    pump(&f, n, NULL, NULL);
    CHECK(strcmp(f.last_reply, "/nsm/client/save") == 0 && strcmp(f.last_msg, "saved") == 0);
    CHECK(f.errors == 0);
    bb_nsm_reply(n, BB_NSM_SAVE, 0, "disk full");
    pump(&f, n, NULL, NULL);
    CHECK(f.errors == 1 && strcmp(f.last_msg, "disk full") == 0);

    // No open arrives: waiting ends at the deadline.
    uint64_t t0 = bb_now_ns();
    CHECK(bb_nsm_wait_open(n, 100, &o) == -1);
    CHECK(bb_now_ns() - t0 < 1000000000u);

    bb_nsm_free(n);
    bb_nsm_free(NULL);
    lo_address_free(f.client);
    lo_server_free(f.srv);
    return check_report("test_nsm");
}
