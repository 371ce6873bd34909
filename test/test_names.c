// SPDX-License-Identifier: GPL-2.0-or-later
// test_names.c: the hub's port and source names are written and read back
// by one module (hub_names.c): every name written parses to what wrote it,
// and what is not one of ours does not parse.
#include <string.h>

#include "check.h"
#include "hub_names.h"

int main(void)
{
    char b[64];
    hub_port_name(b, sizeof b, "alice", 2, 0);
    CHECK(strcmp(b, "alice_1") == 0);
    hub_port_name(b, sizeof b, "alice", 2, 1);
    CHECK(strcmp(b, "alice_2") == 0);
    hub_port_name(b, sizeof b, "alice", 2, 2);
    CHECK(strcmp(b, "mix_alice_L") == 0);
    hub_port_name(b, sizeof b, "alice", 2, 3);
    CHECK(strcmp(b, "mix_alice_R") == 0);
    hub_own_port_name(b, sizeof b, 2, 1);
    CHECK(strcmp(b, "in_2") == 0);
    hub_own_port_name(b, sizeof b, 2, 2);
    CHECK(strcmp(b, "main_L") == 0);
    hub_own_port_name(b, sizeof b, 0, 1);
    CHECK(strcmp(b, "main_R") == 0);
    hub_source_name(b, sizeof b, "a_b", 7);
    CHECK(strcmp(b, "a_b_8") == 0);
    hub_local_name(b, sizeof b, 15);
    CHECK(strcmp(b, "in_16") == 0);
    hub_mix_name(b, sizeof b, "bob");
    CHECK(strcmp(b, "mix_bob") == 0);

    // What patchbays show (JACK metadata): "name (k)", a pair as L/R.
    hub_port_pretty(b, sizeof b, "alice", 1, 0);
    CHECK(strcmp(b, "alice (1)") == 0);
    hub_port_pretty(b, sizeof b, "alice", 3, 2);
    CHECK(strcmp(b, "alice (3)") == 0);
    hub_port_pretty(b, sizeof b, "dave", 2, 1);
    CHECK(strcmp(b, "dave R") == 0);
    hub_port_pretty(b, sizeof b, "dave", 2, 2);
    CHECK(strcmp(b, "dave's mix L") == 0);
    hub_port_group(b, sizeof b, "dave", 2, 0);
    CHECK(strcmp(b, "dave") == 0);
    hub_port_group(b, sizeof b, "alice", 1, 0);
    CHECK(strcmp(b, "") == 0);
    hub_port_group(b, sizeof b, "alice", 1, 2);
    CHECK(strcmp(b, "alice's mix") == 0);
    hub_own_port_pretty(b, sizeof b, 2, 1);
    CHECK(strcmp(b, "local in 2") == 0);
    hub_own_port_pretty(b, sizeof b, 2, 3);
    CHECK(strcmp(b, "main mix R") == 0);
    hub_own_port_group(b, sizeof b, 2, 0);
    CHECK(strcmp(b, "local in") == 0);
    hub_own_port_group(b, sizeof b, 3, 0);
    CHECK(strcmp(b, "") == 0);
    hub_own_port_group(b, sizeof b, 3, 3);
    CHECK(strcmp(b, "main mix") == 0);

    unsigned k = 0;
    size_t n = 0;
    CHECK(hub_parse_local("in_16", &k) && k == 16);
    CHECK(!hub_parse_local("in_", &k));
    CHECK(!hub_parse_local("in_1x", &k));
    CHECK(!hub_parse_local("in_-1", &k));
    CHECK(!hub_parse_local("in_ 1", &k));
    CHECK(!hub_parse_local("xin_1", &k));
    CHECK(hub_parse_channel("a_b_8", &n, &k) && n == 3 && k == 8);
    CHECK(hub_parse_channel("alice_12", &n, &k) && n == 5 && k == 12);
    CHECK(!hub_parse_channel("alice", &n, &k));
    CHECK(!hub_parse_channel("alice_", &n, &k));
    CHECK(!hub_parse_channel("_1", &n, &k));
    CHECK(!hub_parse_channel("alice_1b", &n, &k));
    // Written, then read back.
    for (unsigned ch = 0; ch < 8; ch++) {
        hub_source_name(b, sizeof b, "x_y", ch);
        CHECK(hub_parse_channel(b, &n, &k) && n == 3 && k == ch + 1);
        hub_local_name(b, sizeof b, ch);
        CHECK(hub_parse_local(b, &k) && k == ch + 1);
    }
    // A huge number saturates rather than wraps into a small one.
    CHECK(hub_parse_local("in_99999999999999999999", &k) && k >= 1000000000u);
    return check_report("test_names");
}
