// SPDX-License-Identifier: GPL-2.0-or-later
// main.c: the `bandbridge` command: picks the face (serve, join).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb.h"
#include "cli.h"
#include "ctl.h"
#include "hub.h"
#include "join.h"
#include "log.h"
#include "status.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: bandbridge serve [options]              run the rehearsal hub\n"
               "       bandbridge join HOST[:PORT] --name NAME  join a hub as a musician\n"
               "       bandbridge ctl [--port P] ADDRESS [ARG...] query or set over OSC\n"
               "       bandbridge status [--port P] [--once]      live table of musicians\n"
               "       bandbridge --version | --help\n"
               "bandbridge-hub [options] is bandbridge serve, bandbridge-join bandbridge join\n"
               "(for session managers: each starts with no arguments, see NSM in bandbridge(1)).\n"
               "`bandbridge COMMAND --help` lists a command's options; see bandbridge(1).\n");
}

// The program's own name picks a face too: a session manager (nsmd)
// starts a client by its executable name alone, without arguments, and
// tells its clients apart by that name; bandbridge-hub and bandbridge-join
// are links to this program (make, make install).
static const char *face_of(const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    if (strcmp(base, "bandbridge-hub") == 0)
        return "serve";
    if (strcmp(base, "bandbridge-join") == 0)
        return "join";
    return NULL;
}

int main(int argc, char **argv)
{
    const char *face = face_of(argv[0]);
    if (argc < 2 && !face) {
        usage(stderr);
        return 2;
    }
    const char *level = getenv("BB_LOG"); // debug, info, warning, error
    if (level)
        bb_log_set_level(strcmp(level, "debug") == 0     ? BB_LOG_DEBUG
                         : strcmp(level, "warning") == 0 ? BB_LOG_WARN
                         : strcmp(level, "error") == 0   ? BB_LOG_ERR
                                                         : BB_LOG_INFO);
    if (face && strcmp(face, "serve") == 0)
        return bb_hub_main(argc, argv);
    if (face)
        return bb_join_main(argc, argv);
    const char *cmd = argv[1];
#ifdef BB_BENCH_NO_SEAL
    // stream.c: this build sends everything after the handshake in clear.
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "join") == 0)
        bb_warn("a benchmark build (make bench-noseal): datagrams are NOT encrypted or "
                "authenticated; it only talks to another such build");
#endif
    if (strcmp(cmd, "serve") == 0)
        return bb_hub_main(argc - 1, argv + 1);
    if (strcmp(cmd, "join") == 0)
        return bb_join_main(argc - 1, argv + 1);
    if (strcmp(cmd, "ctl") == 0)
        return bb_ctl_main(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return bb_status_main(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("bandbridge %s\n", BB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    // One line, not the whole usage: what went wrong and where to look.
    static const char *const commands[] = {"serve", "join", "ctl", "status", "help"};
    const char *near = bb_cli_closest(cmd, commands, BB_ARRAY_LEN(commands));
    fprintf(stderr, "bandbridge: unknown command '%s';%s%s%s see bandbridge --help\n", cmd,
            near ? " did you mean '" : "", near ? near : "", near ? "'?" : "");
    return 2;
}
