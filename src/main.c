// SPDX-License-Identifier: GPL-2.0-or-later
// main.c: the `bandbridge` command: picks the face (serve, join).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb.h"
#include "ctl.h"
#include "hub.h"
#include "join.h"
#include "log.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: bandbridge serve [options]              run the rehearsal hub\n"
               "       bandbridge join HOST[:PORT] --name NAME  join a hub as a musician\n"
               "       bandbridge ctl [--port P] ADDRESS [ARG...] query or set over OSC\n"
               "       bandbridge status [--port P] [--once]      live table of musicians\n"
               "       bandbridge --version | --help\n"
               "`bandbridge COMMAND --help` lists a command's options; see bandbridge(1).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *level = getenv("BB_LOG"); // debug, info, warning, error
    if (level)
        bb_log_set_level(strcmp(level, "debug") == 0     ? BB_LOG_DEBUG
                         : strcmp(level, "warning") == 0 ? BB_LOG_WARN
                         : strcmp(level, "error") == 0   ? BB_LOG_ERR
                                                         : BB_LOG_INFO);
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
    fprintf(stderr, "bandbridge: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
