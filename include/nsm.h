// SPDX-License-Identifier: GPL-2.0-or-later
// nsm.h: Non Session Manager (NSM, also RaySession) client, API 1.2.
//
// When NSM_URL is set, the program announces itself to the session manager,
// which then tells it where its files live and which JACK client name to
// use (/nsm/client/open), and asks it to save (/nsm/client/save). Owned by
// the control thread: the socket is polled in its loop.
#ifndef BB_NSM_H
#define BB_NSM_H

#include <lo/lo.h>
#include <stddef.h>

struct bb_nsm;

/// What /nsm/client/open said.
struct bb_nsm_open {
    char path[4096];         ///< prefix for this client's files in the session
    char display_name[256];  ///< the session's name
    char client_id[256];     ///< unique id: use it as the JACK client name
};

enum bb_nsm_event { BB_NSM_NONE = 0, BB_NSM_OPEN = 1, BB_NSM_SAVE = 2 };

/// Announces to the session manager at url (NSM_URL). app_name is what the
/// manager shows, exe the executable name. Returns NULL with err on failure.
struct bb_nsm *bb_nsm_new(const char *url, const char *app_name, const char *exe, char *err,
                          size_t err_size);
void           bb_nsm_free(struct bb_nsm *n);
/// Socket for poll().
int bb_nsm_fd(const struct bb_nsm *n);
/// Handles pending messages without blocking; returns the first event that
/// needs the program (open: *open filled in), or BB_NSM_NONE.
enum bb_nsm_event bb_nsm_poll(struct bb_nsm *n, struct bb_nsm_open *open);
/// Waits up to timeout_ms for /nsm/client/open; 0 and *open filled in, or -1.
int bb_nsm_wait_open(struct bb_nsm *n, int timeout_ms, struct bb_nsm_open *open);
/// Answers the last open or save: ok, or an error with a message.
void bb_nsm_reply(struct bb_nsm *n, enum bb_nsm_event ev, int ok, const char *message);
/// Under a session manager (NSM_URL set and not empty): announces and waits
/// up to 10 s for the open, logging why when that fails. Returns the client
/// with *open filled in; NULL with *failed 0 when there is no session
/// manager, NULL with *failed 1 when there is one and it failed.
struct bb_nsm *bb_nsm_start(const char *app_name, const char *exe, struct bb_nsm_open *open,
                            int *failed);
/// 1 once the manager acknowledged the announce.
int bb_nsm_announced(const struct bb_nsm *n);
/// A status line the manager shows beside the client (/nsm/client/message;
/// priority 0 to 3, 3 the most urgent).
void bb_nsm_message(struct bb_nsm *n, int priority, const char *text);
/// A method on the client's own OSC socket (the one the manager talks to),
/// handled by bb_nsm_poll like the manager's messages.
void bb_nsm_add_method(struct bb_nsm *n, const char *path, const char *types,
                       lo_method_handler handler, void *user);
/// Answers message m (taken by such a method) from that socket: /reply
/// path text, or /error path -1 text.
void bb_nsm_answer(struct bb_nsm *n, lo_message m, const char *path, int ok, const char *text);
/// The UDP port of that socket.
int bb_nsm_port(const struct bb_nsm *n);
/// The JACK client name the session gives (open->client_id, e.g.
/// "bandbridge-join.nABCD"), with every character JACK tools or shell
/// scripts stumble on (a space, ':') made '-'. Into buf.
void bb_nsm_jack_name(const struct bb_nsm_open *open, char *buf, size_t size);

#endif
