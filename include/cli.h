// SPDX-License-Identifier: GPL-2.0-or-later
// cli.h: what `serve`, `join`, `ctl` and `status` do alike as command-line
// programs: option errors in one line each, the log-level options, signals
// taken through a signalfd.
#ifndef BB_CLI_H
#define BB_CLI_H

#include <getopt.h>
#include <stddef.h>

/// A number macro as a string literal, for the texts of bb_cli_bad_value.
#define BB_STR_(x) #x
#define BB_STR(x)  BB_STR_(x)

/// Prints "bandbridge CMD: bad value 'ARG' for --NAME" for option o of
/// opts (the getopt_long table) to stderr, followed by ": WANT" when want
/// is not NULL (what the option takes: "1 to 65535", "one of a, b").
void bb_cli_bad_value(const char *cmd, const struct option *opts, int o, const char *arg,
                      const char *want);

/// getopt_long() that says what is wrong in one line on stderr instead of
/// getopt's words: an unknown option with the closest known one ("did you
/// mean --port?") and where the list is (bandbridge CMD --help); an
/// ambiguous abbreviation with the options it could be; an option without
/// its value. shortopts as for getopt_long (a leading '+' is kept).
/// Returns what getopt_long returns, and '?' after such a line.
int bb_cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                  const struct option *opts);

/// The word of names[0..n) closest to word if it is close enough to be a
/// typo of it (one or two letters wrong, missing, extra or swapped), else
/// NULL.
const char *bb_cli_closest(const char *word, const char *const *names, size_t n);

/// Edit distance of a and b: insertions, deletions, substitutions and
/// swaps of two neighbours, one each (optimal string alignment).
unsigned bb_cli_distance(const char *a, const char *b);

/// -v (more log lines) and -q (warnings and errors only): applies o and
/// returns 1, or returns 0 when o is neither.
int bb_cli_log_option(int o);

/// Blocks SIGINT, SIGTERM and SIGPIPE in this thread (and the threads it
/// starts later) and returns a non-blocking signalfd for SIGINT and
/// SIGTERM (SIGPIPE is only ignored), or -1.
int bb_cli_signals(void);

#endif
