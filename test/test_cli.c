// SPDX-License-Identifier: GPL-2.0-or-later
// test_cli.c: the command line's words for mistakes (cli.c): the edit
// distance behind "did you mean", which typos find their option, which
// words are too far from any to be guessed at, and what getopt is made to
// return for an unknown option, a missing value and a good one; and the
// name rules a join and a rename share (hub_name_invalid).
#include <string.h>

#include "check.h"
#include "cli.h"
#include "hub_clients.h"

static int run_getopt(int argc, char **argv, const struct option *opts)
{
    optind = 1;
    int o, last = 0;
    while ((o = bb_cli_getopt("test", argc, argv, "p:n:h", opts)) != -1) {
        last = o;
        if (o == '?')
            break;
    }
    return last;
}

int main(void)
{
    CHECK(bb_cli_distance("port", "port") == 0);
    CHECK(bb_cli_distance("prot", "port") == 1);  // two letters swapped
    CHECK(bb_cli_distance("serv", "serve") == 1); // one missing
    CHECK(bb_cli_distance("chanels", "channels") == 1);
    CHECK(bb_cli_distance("", "abc") == 3);
    CHECK(bb_cli_distance("kitten", "sitting") == 3);

    static const char *const opts[] = {"port", "bind", "jack-name", "inputs", "osc-port", "once"};
    const size_t n = sizeof opts / sizeof opts[0];
    CHECK(bb_cli_closest("prot", opts, n) && strcmp(bb_cli_closest("prot", opts, n), "port") == 0);
    CHECK(bb_cli_closest("jack-nmae", opts, n) &&
          strcmp(bb_cli_closest("jack-nmae", opts, n), "jack-name") == 0);
    CHECK(bb_cli_closest("onse", opts, n) && strcmp(bb_cli_closest("onse", opts, n), "once") == 0);
    CHECK(bb_cli_closest("volume", opts, n) == NULL); // another word, not a typo
    CHECK(bb_cli_closest("x", opts, n) == NULL);

    static const struct option lo[] = {{"port", required_argument, 0, 'p'},
                                       {"name", required_argument, 0, 'n'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    char a0[] = "t", a1[] = "--prot", a2[] = "5", a3[] = "--port", a4[] = "--port=7";
    char *bad[] = {a0, a1, a2, NULL};
    CHECK(run_getopt(3, bad, lo) == '?');
    char *noval[] = {a0, a3, NULL};
    CHECK(run_getopt(2, noval, lo) == '?');
    char *good[] = {a0, a4, NULL};
    CHECK(run_getopt(2, good, lo) == 'p');

    CHECK(hub_name_invalid("bob") == NULL);
    CHECK(hub_name_invalid("Bob-2.x") == NULL);
    CHECK(hub_name_invalid("Main") != NULL);
    CHECK(hub_name_invalid("IN_3") != NULL);
    CHECK(hub_name_invalid("ME") != NULL);
    CHECK(hub_name_invalid("Me_2") != NULL);
    CHECK(hub_name_invalid("12.5") != NULL);
    CHECK(hub_name_invalid("bob 2") != NULL);
    CHECK(hub_name_invalid("") != NULL);
    return check_report("test_cli");
}
