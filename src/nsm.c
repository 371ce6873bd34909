// SPDX-License-Identifier: GPL-2.0-or-later
// nsm.c: Non Session Manager client (see nsm.h); liblo, control thread.
#include "nsm.h"

#include <lo/lo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb.h"
#include "log.h"
#include "osc_arg.h"

#define NSM_API_MAJOR 1
#define NSM_API_MINOR 2
#define NSM_ERR_GENERAL (-1)

struct bb_nsm {
    lo_server          srv;
    lo_address         mgr;
    int                announced;
    enum bb_nsm_event  pending;  ///< an event found by a handler, not yet returned
    struct bb_nsm_open open;
};

static int on_open(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                   void *user)
{
    (void)path, (void)types, (void)argc, (void)m;
    struct bb_nsm *n = user;
    snprintf(n->open.path, sizeof n->open.path, "%s", bb_arg_str(argv[0]));
    snprintf(n->open.display_name, sizeof n->open.display_name, "%s", bb_arg_str(argv[1]));
    snprintf(n->open.client_id, sizeof n->open.client_id, "%s", bb_arg_str(argv[2]));
    n->pending = BB_NSM_OPEN;
    return 0;
}

static int on_save(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                   void *user)
{
    (void)path, (void)types, (void)argv, (void)argc, (void)m;
    struct bb_nsm *n = user;
    n->pending = BB_NSM_SAVE;
    return 0;
}

static int on_reply(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                    void *user)
{
    (void)path, (void)m;
    struct bb_nsm *n = user;
    if (argc >= 1 && types[0] == 's' &&
        strcmp(bb_arg_str(argv[0]), "/nsm/server/announce") == 0) {
        n->announced = 1;
        bb_info("session manager: %s",
                argc >= 2 && types[1] == 's' ? bb_arg_str(argv[1]) : "announced");
    }
    return 0;
}

static int on_error(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                    void *user)
{
    (void)path, (void)m, (void)user;
    if (argc >= 3 && types[0] == 's' && types[2] == 's')
        bb_err("session manager refused %s: %s", bb_arg_str(argv[0]), bb_arg_str(argv[2]));
    return 0;
}

struct bb_nsm *bb_nsm_new(const char *url, const char *app_name, const char *exe, char *err,
                          size_t err_size)
{
    struct bb_nsm *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    n->mgr = lo_address_new_from_url(url);
    n->srv = lo_server_new_with_proto(NULL, lo_address_get_protocol(n->mgr), NULL);
    if (!n->mgr || !n->srv) {
        snprintf(err, err_size, "cannot reach the session manager at NSM_URL=%s", url);
        bb_nsm_free(n);
        return NULL;
    }
    lo_server_add_method(n->srv, "/nsm/client/open", "sss", on_open, n);
    lo_server_add_method(n->srv, "/nsm/client/save", "", on_save, n);
    lo_server_add_method(n->srv, "/reply", NULL, on_reply, n);
    lo_server_add_method(n->srv, "/error", NULL, on_error, n);
    lo_message m = lo_message_new();
    lo_message_add_string(m, app_name);
    lo_message_add_string(m, ":message:");
    lo_message_add_string(m, exe);
    lo_message_add_int32(m, NSM_API_MAJOR);
    lo_message_add_int32(m, NSM_API_MINOR);
    lo_message_add_int32(m, (int32_t)getpid());
    int rc = lo_send_message_from(n->mgr, n->srv, "/nsm/server/announce", m);
    lo_message_free(m);
    if (rc < 0) {
        snprintf(err, err_size, "cannot announce to the session manager at %s: %s", url,
                 lo_address_errstr(n->mgr));
        bb_nsm_free(n);
        return NULL;
    }
    return n;
}

void bb_nsm_free(struct bb_nsm *n)
{
    if (!n)
        return;
    if (n->srv)
        lo_server_free(n->srv);
    if (n->mgr)
        lo_address_free(n->mgr);
    free(n);
}

int bb_nsm_fd(const struct bb_nsm *n)
{
    return lo_server_get_socket_fd(n->srv);
}

int bb_nsm_announced(const struct bb_nsm *n)
{
    return n->announced;
}

enum bb_nsm_event bb_nsm_poll(struct bb_nsm *n, struct bb_nsm_open *open)
{
    for (int i = 0; i < 64 && !n->pending && lo_server_recv_noblock(n->srv, 0) > 0; i++) {
    }
    enum bb_nsm_event ev = n->pending;
    n->pending = BB_NSM_NONE;
    if (ev == BB_NSM_OPEN && open)
        *open = n->open;
    return ev;
}

int bb_nsm_wait_open(struct bb_nsm *n, int timeout_ms, struct bb_nsm_open *open)
{
    uint64_t deadline = bb_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        if (bb_nsm_poll(n, open) == BB_NSM_OPEN)
            return 0;
        uint64_t now = bb_now_ns();
        if (now >= deadline)
            return -1;
        lo_server_wait(n->srv, (int)((deadline - now) / 1000000) + 1);
    }
}

void bb_nsm_reply(struct bb_nsm *n, enum bb_nsm_event ev, int ok, const char *message)
{
    const char *what = ev == BB_NSM_OPEN ? "/nsm/client/open" : "/nsm/client/save";
    lo_message m = lo_message_new();
    lo_message_add_string(m, what);
    if (!ok)
        lo_message_add_int32(m, NSM_ERR_GENERAL);
    lo_message_add_string(m, message);
    lo_send_message_from(n->mgr, n->srv, ok ? "/reply" : "/error", m);
    lo_message_free(m);
}

struct bb_nsm *bb_nsm_start(const char *app_name, const char *exe, struct bb_nsm_open *open,
                            int *failed)
{
    const char *url = getenv("NSM_URL");
    char err[300];
    *failed = 0;
    if (!url || !*url)
        return NULL;
    struct bb_nsm *n = bb_nsm_new(url, app_name, exe, err, sizeof err);
    if (!n || bb_nsm_wait_open(n, 10000, open) < 0) {
        bb_err("%s", n ? "the session manager did not open a session within 10 s" : err);
        bb_nsm_free(n);
        *failed = 1;
        return NULL;
    }
    return n;
}

void bb_nsm_message(struct bb_nsm *n, int priority, const char *text)
{
    lo_send_from(n->mgr, n->srv, LO_TT_IMMEDIATE, "/nsm/client/message", "is", priority, text);
}

void bb_nsm_add_method(struct bb_nsm *n, const char *path, const char *types,
                       lo_method_handler handler, void *user)
{
    lo_server_add_method(n->srv, path, types, handler, user);
}

void bb_nsm_answer(struct bb_nsm *n, lo_message m, const char *path, int ok, const char *text)
{
    lo_address to = lo_message_get_source(m);
    if (ok)
        lo_send_from(to, n->srv, LO_TT_IMMEDIATE, "/reply", "ss", path, text);
    else
        lo_send_from(to, n->srv, LO_TT_IMMEDIATE, "/error", "sis", path, NSM_ERR_GENERAL, text);
}

int bb_nsm_port(const struct bb_nsm *n)
{
    return lo_server_get_port(n->srv);
}

void bb_nsm_jack_name(const struct bb_nsm_open *open, char *buf, size_t size)
{
    snprintf(buf, size, "%s", open->client_id);
    for (char *p = buf; *p; p++)
        if (*p == ' ' || *p == ':' || (unsigned char)*p < 0x20)
            *p = '-';
}
