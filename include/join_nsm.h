// SPDX-License-Identifier: GPL-2.0-or-later
// join_nsm.h: `bandbridge join` under a session manager (NSM_URL set; nsmd,
// RaySession). Control thread only.
//
// The session keeps, in the client's folder: the command line (join.args,
// one argument a line: given again when the session starts the client
// without arguments, as nsmd does), the identity and key pair, and the room
// password (password, optional). A client added to a session for the first
// time has none of it: it opens, says once what it waits for (the log and
// the manager's status line) and waits, without exiting, until join.args
// appears or a program on this machine sends /bandbridge/join/setup HOST
// NAME [PASSWORD] to its session socket, which writes the same files.
#ifndef BB_JOIN_NSM_H
#define BB_JOIN_NSM_H

#include "nsm.h"

#define JOIN_NSM_ARGS_FILE     "join.args"
#define JOIN_NSM_PASSWORD_FILE "password"
#define JOIN_NSM_ARGS_MAX      64

struct join_nsm {
    struct bb_nsm      *nsm;       ///< [ctl] NULL: no session manager
    struct bb_nsm_open  op;        ///< [ctl] what the open said
    char                args_path[4200];
    char                args_buf[4096];
    char               *args[JOIN_NSM_ARGS_MAX];
    int                 replied;   ///< [ctl] the open was answered
    int                 waiting;   ///< [ctl] for the settings: /bandbridge/join/setup taken
};

/// Under a session manager, announces and takes the open; with no
/// arguments, takes them from join.args, waiting for them (see above) if
/// there are none yet. Returns 0 to go on (*argc, *argv possibly from the
/// session), -1 when a signal ended the wait (exit 0), or an exit status.
int  join_nsm_open(struct join_nsm *n, int sig_fd, int *argc, char ***argv);
/// Answers the open with a failure (once), saying why.
void join_nsm_fail(struct join_nsm *n, const char *why);
/// Answers the open: ok (once).
void join_nsm_opened(struct join_nsm *n, const char *what);
/// Writes argv[1..argc) to join.args. 0 or -1.
int  join_nsm_save_args(const struct join_nsm *n, int argc, char **argv);

#endif
