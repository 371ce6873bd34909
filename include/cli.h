// SPDX-License-Identifier: GPL-2.0-or-later
// cli.h: what `serve` and `join` do alike as command-line programs:
// option errors, the log-level options, signals taken through a signalfd.
#ifndef BB_CLI_H
#define BB_CLI_H

#include <getopt.h>

/// Prints "bandbridge CMD: bad value 'ARG' for --NAME" for option o of
/// opts (the getopt_long table) to stderr.
void bb_cli_bad_value(const char *cmd, const struct option *opts, int o, const char *arg);

/// -v (more log lines) and -q (warnings and errors only): applies o and
/// returns 1, or returns 0 when o is neither.
int bb_cli_log_option(int o);

/// Blocks SIGINT, SIGTERM and SIGPIPE in this thread (and the threads it
/// starts later) and returns a non-blocking signalfd for SIGINT and
/// SIGTERM (SIGPIPE is only ignored), or -1.
int bb_cli_signals(void);

#endif
