// SPDX-License-Identifier: GPL-2.0-or-later
// cli.c: command-line helpers shared by serve, join, ctl and status (cli.h).
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>

#include "cli.h"
#include "log.h"

// Long option names longer than this cannot be a typo of anything we know.
#define WORD_MAX 64

void bb_cli_bad_value(const char *cmd, const struct option *opts, int o, const char *arg,
                      const char *want)
{
    for (const struct option *op = opts; op->name; op++)
        if (op->val == o) {
            fprintf(stderr, "bandbridge %s: bad value '%s' for --%s%s%s\n", cmd, arg, op->name,
                    want ? ": " : "", want ? want : "");
            return;
        }
}

unsigned bb_cli_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > WORD_MAX || m > WORD_MAX)
        return WORD_MAX;
    unsigned d[WORD_MAX + 1][WORD_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (unsigned)i;
    for (size_t k = 0; k <= m; k++)
        d[0][k] = (unsigned)k;
    for (size_t i = 1; i <= n; i++)
        for (size_t k = 1; k <= m; k++) {
            unsigned best = d[i - 1][k - 1] + (a[i - 1] != b[k - 1]);
            if (d[i - 1][k] + 1 < best)
                best = d[i - 1][k] + 1;
            if (d[i][k - 1] + 1 < best)
                best = d[i][k - 1] + 1;
            if (i > 1 && k > 1 && a[i - 1] == b[k - 2] && a[i - 2] == b[k - 1] &&
                d[i - 2][k - 2] + 1 < best)
                best = d[i - 2][k - 2] + 1;
            d[i][k] = best;
        }
    return d[n][m];
}

const char *bb_cli_closest(const char *word, const char *const *names, size_t n)
{
    // One slip in a short word, two in a longer one: "prot", "serv",
    // "chanels"; anything further is another word, not a typo.
    unsigned limit = strlen(word) <= 3 ? 1 : 2, best = limit + 1;
    const char *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned d = bb_cli_distance(word, names[i]);
        if (d < best && d < strlen(names[i])) {
            best = d;
            pick = names[i];
        }
    }
    return pick;
}

// The long option of opts whose value is o, or NULL.
static const char *long_name(const struct option *opts, int o)
{
    for (const struct option *op = opts; op->name; op++)
        if (op->val == o)
            return op->name;
    return NULL;
}

// "--word[=value]" that getopt could not take: unknown, ambiguous, or a
// value given to an option that takes none.
static void bad_long(const char *cmd, const char *arg, const struct option *opts)
{
    char word[WORD_MAX + 1];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
    const char *names[128], *prefixed[128];
    size_t n = 0, np = 0;
    for (const struct option *op = opts; op->name && n < 128; op++) {
        if (strcmp(op->name, word) == 0) {
            fprintf(stderr, "bandbridge %s: --%s takes no value (bandbridge %s --help)\n", cmd,
                    word, cmd);
            return;
        }
        names[n++] = op->name;
        if (word[0] && strncmp(op->name, word, strlen(word)) == 0)
            prefixed[np++] = op->name;
    }
    if (np > 1) {
        fprintf(stderr, "bandbridge %s: --%s could be", cmd, word);
        for (size_t i = 0; i < np; i++)
            fprintf(stderr, "%s --%s", i == 0 ? "" : i + 1 == np ? " or" : ",", prefixed[i]);
        fprintf(stderr, "\n");
        return;
    }
    const char *near = bb_cli_closest(word, names, n);
    fprintf(stderr, "bandbridge %s: unknown option --%s;%s%s%s see bandbridge %s --help\n", cmd,
            word, near ? " did you mean --" : "", near ? near : "", near ? "?" : "", cmd);
}

int bb_cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                  const struct option *opts)
{
    // A leading ':' makes getopt tell a missing value (':') from an
    // unknown option ('?'); opterr 0 keeps its own words off stderr.
    char spec[128];
    int plus = shortopts[0] == '+';
    snprintf(spec, sizeof spec, "%s:%s", plus ? "+" : "", shortopts + plus);
    opterr = 0;
    int o = getopt_long(argc, argv, spec, opts, NULL);
    if (o != '?' && o != ':')
        return o;
    const char *arg = optind > 1 && optind <= argc ? argv[optind - 1] : "";
    int is_long = strncmp(arg, "--", 2) == 0 && arg[2];
    if (o == ':') {
        const char *name = long_name(opts, optopt);
        if (is_long || name)
            fprintf(stderr, "bandbridge %s: --%.*s needs a value (bandbridge %s --help)\n", cmd,
                    is_long ? (int)strcspn(arg + 2, "=") : (int)strlen(name),
                    is_long ? arg + 2 : name, cmd);
        else
            fprintf(stderr, "bandbridge %s: -%c needs a value (bandbridge %s --help)\n", cmd,
                    optopt, cmd);
    } else if (is_long) {
        bad_long(cmd, arg, opts);
    } else {
        fprintf(stderr, "bandbridge %s: unknown option -%c; see bandbridge %s --help\n", cmd,
                optopt ? optopt : '?', cmd);
    }
    return '?';
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
