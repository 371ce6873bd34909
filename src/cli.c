// SPDX-License-Identifier: GPL-2.0-or-later
// cli.c: command-line helpers shared by serve and join (cli.h).
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>

#include "cli.h"
#include "log.h"

void bb_cli_bad_value(const char *cmd, const struct option *opts, int o, const char *arg)
{
    for (const struct option *op = opts; op->name; op++)
        if (op->val == o) {
            fprintf(stderr, "bandbridge %s: bad value '%s' for --%s\n", cmd, arg, op->name);
            return;
        }
}

int bb_cli_log_option(int o)
{
    if (o == 'v')
        bb_log_set_level(BB_LOG_DEBUG);
    else if (o == 'q')
        bb_log_set_level(BB_LOG_WARN);
    return o == 'v' || o == 'q';
}

int bb_cli_signals(void)
{
    // Blocked before any thread starts, so that every thread inherits the
    // mask and the signals reach the control loop's poll() only.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    return signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
}
