// SPDX-License-Identifier: GPL-2.0-or-later
// join_nsm.c: `bandbridge join` under a session manager (join_nsm.h).
#include "join_nsm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bb.h"
#include "handshake.h"
#include "log.h"
#include "net.h"
#include "osc_arg.h"

#define SETUP_PATH "/bandbridge/join/setup"

/// How often the wait looks for join.args written by hand: a person's
/// pace, and no inotify to keep.
#define WAIT_POLL_MS 500

/// [ctl] Writes text (with a newline) to path through a temporary file
/// renamed into place, with mode. 0 or -1.
static int write_file(const char *path, const char *text, mode_t mode)
{
    char tmp[4300];
    if (bb_mkdirs_for(path) < 0)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fd) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int join_nsm_save_args(const struct join_nsm *n, int argc, char **argv)
{
    char text[4096];
    size_t len = 0;
    for (int i = 1; i < argc; i++) {
        int w = snprintf(text + len, sizeof text - len, "%s\n", argv[i]);
        if (w < 0 || (size_t)w >= sizeof text - len)
            return -1;
        len += (size_t)w;
    }
    text[len] = '\0';
    return write_file(n->args_path, text, 0644);
}

/// [ctl] Reads what join_nsm_save_args wrote into n->args[1..] (args[0] =
/// argv0). Returns the argument count, 1 when there is no such file.
static int load_args(struct join_nsm *n, const char *argv0)
{
    int argc = 0;
    n->args[argc++] = (char *)argv0;
    FILE *f = fopen(n->args_path, "r");
    if (!f)
        return argc;
    size_t len = fread(n->args_buf, 1, sizeof n->args_buf - 1, f);
    fclose(f);
    n->args_buf[len] = '\0';
    for (char *line = n->args_buf; *line && argc < JOIN_NSM_ARGS_MAX;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        line[strcspn(line, "\r")] = '\0';
        if (*line)
            n->args[argc++] = line;
        if (!nl)
            break;
        line = nl + 1;
    }
    return argc;
}

/// [ctl] What /bandbridge/join/setup asks, checked and written where a
/// start without arguments reads it. 0, or -1 with err.
static int write_setup(struct join_nsm *n, const char *host, const char *name, const char *pw,
                       char *err, size_t size)
{
    struct bb_addr a;
    char clean[BB_NAME_MAX], text[600], path[4300];
    if (bb_addr_parse(host, BB_DEFAULT_PORT, &a, err, size) < 0)
        return -1;
    if (strlen(name) >= BB_NAME_MAX || bb_sanitize_name(clean, sizeof clean, name) == 0 ||
        strchr(host, '\n') || strchr(name, '\n')) {
        snprintf(err, size, "a name is 1 to %d characters", BB_NAME_MAX - 1);
        return -1;
    }
    if (pw && (strlen(pw) >= BB_HS_PASSWORD_MAX || strchr(pw, '\n'))) {
        snprintf(err, size, "a room password is one line of at most %d bytes",
                 BB_HS_PASSWORD_MAX - 1);
        return -1;
    }
    snprintf(path, sizeof path, "%.4000s/%s", n->op.path, JOIN_NSM_PASSWORD_FILE);
    snprintf(text, sizeof text, "%s\n", pw ? pw : "");
    if (pw && write_file(path, text, 0600) < 0) {
        snprintf(err, size, "cannot write %.200s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(text, sizeof text, "%s\n--name\n%s\n", host, name);
    if (write_file(n->args_path, text, 0644) < 0) {
        snprintf(err, size, "cannot write %.200s: %s", n->args_path, strerror(errno));
        return -1;
    }
    return 0;
}

/// 1 if the message came from this machine: whoever can send to the
/// session socket from elsewhere must not pick the hub we join.
static int from_loopback(lo_message m)
{
    const char *host = lo_address_get_hostname(lo_message_get_source(m));
    return host && (strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
                    strncmp(host, "::ffff:127.", 11) == 0);
}

// /bandbridge/join/setup s:host s:name [s:password], while waiting.
static int on_setup(const char *path, const char *types, lo_arg **argv, int argc, lo_message m,
                    void *user)
{
    (void)path;
    struct join_nsm *n = user;
    char err[300];
    int ok = 0;
    if (argc < 2 || argc > 3 || strspn(types, "s") != (size_t)argc)
        snprintf(err, sizeof err, "expected " SETUP_PATH " s:host s:name [s:password]");
    else if (!n->waiting)
        snprintf(err, sizeof err, "already joining: edit " JOIN_NSM_ARGS_FILE
                 " in the session and restart the client to change it");
    else if (!from_loopback(m))
        snprintf(err, sizeof err, "only from this machine");
    else
        ok = write_setup(n, bb_arg_str(argv[0]), bb_arg_str(argv[1]),
                         argc == 3 ? bb_arg_str(argv[2]) : NULL, err, sizeof err) == 0;
    if (ok)
        snprintf(err, sizeof err, "joining %s as %s", bb_arg_str(argv[0]), bb_arg_str(argv[1]));
    else
        bb_warn(SETUP_PATH ": %s", err);
    bb_nsm_answer(n->nsm, m, SETUP_PATH, ok, err);
    return 0;
}

/// Waits for join.args (see join_nsm.h). 0 with *argc, *argv set, or -1
/// when a signal ends the wait.
static int wait_for_setup(struct join_nsm *n, int sig_fd, int *argc, char ***argv)
{
    char msg[4800];
    bb_nsm_add_method(n->nsm, SETUP_PATH, NULL, on_setup, n);
    join_nsm_opened(n, "waiting for the hub's address and a name");
    snprintf(msg, sizeof msg,
             "waiting for the hub's address and a name: write them in %s (one a line: "
             "HOST[:PORT], --name, NAME, other options) or send " SETUP_PATH
             " HOST NAME [PASSWORD] to UDP port %d on this machine",
             n->args_path, bb_nsm_port(n->nsm));
    bb_warn("%s", msg);
    bb_nsm_message(n->nsm, 2, msg);
    const char *argv0 = (*argv)[0];
    n->waiting = 1;
    for (;;) {
        *argc = load_args(n, argv0);
        if (*argc > 1) {
            *argv = n->args;
            n->waiting = 0;
            bb_info("%s: joining", n->args_path);
            bb_nsm_message(n->nsm, 0, "hub and name set: joining");
            return 0;
        }
        struct pollfd pfd[2] = {{.fd = bb_nsm_fd(n->nsm), .events = POLLIN},
                                {.fd = sig_fd, .events = POLLIN}};
        poll(pfd, 2, WAIT_POLL_MS);
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGPIPE)
                return -1;
        }
        // Nothing of ours to save yet: the setup writes its files at once.
        if ((pfd[0].revents & POLLIN) && bb_nsm_poll(n->nsm, NULL) == BB_NSM_SAVE)
            bb_nsm_reply(n->nsm, BB_NSM_SAVE, 1, "saved (waiting for the hub's address)");
    }
}

int join_nsm_open(struct join_nsm *n, int sig_fd, int *argc, char ***argv)
{
    int failed;
    // Announced as the executable a session starts with no arguments
    // (bandbridge-join, main.c): nsmd matches clients by that name, so the
    // hub's and the join's never change places.
    n->nsm = bb_nsm_start("bandbridge-join", "bandbridge-join", &n->op, &failed);
    if (failed) {
        n->replied = 1;
        return 1;
    }
    if (!n->nsm)
        return 0;
    snprintf(n->args_path, sizeof n->args_path, "%.4000s/%s", n->op.path, JOIN_NSM_ARGS_FILE);
    // The folder at once: where the waiting client tells the user to write.
    if (bb_mkdirs_for(n->args_path) < 0)
        bb_warn("cannot create %s: %s", n->op.path, strerror(errno));
    if (*argc > 1)
        return 0;
    *argc = load_args(n, (*argv)[0]);
    if (*argc > 1) {
        *argv = n->args;
        return 0;
    }
    return wait_for_setup(n, sig_fd, argc, argv);
}

void join_nsm_fail(struct join_nsm *n, const char *why)
{
    if (n->nsm && !n->replied)
        bb_nsm_reply(n->nsm, BB_NSM_OPEN, 0, why);
    n->replied = 1;
}

void join_nsm_opened(struct join_nsm *n, const char *what)
{
    if (n->nsm && !n->replied)
        bb_nsm_reply(n->nsm, BB_NSM_OPEN, 1, what);
    n->replied = 1;
}
