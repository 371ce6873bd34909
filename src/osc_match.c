// SPDX-License-Identifier: GPL-2.0-or-later
// osc_match.c: OSC address patterns (osc_match.h). One matcher for every
// address of the table, so no handler parses its path again.
#include <string.h>

#include "osc_match.h"

/// Variables of the address space and their longest segment. The limits
/// are those the addresses have always had (bandbridge-osc(7), /error
/// "expected ..."), so that an address too long to name anything is
/// refused as misspelt.
static const struct {
    const char *name;
    size_t      max;
} osc_vars[] = {
    {"mix", 32}, {"musician", 32}, {"source", 39}, {"param", 15}, {"n", 7},
};

size_t osc_match_var_max(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof osc_vars / sizeof osc_vars[0]; i++)
        if (strlen(osc_vars[i].name) == len && strncmp(osc_vars[i].name, name, len) == 0)
            return osc_vars[i].max;
    return OSC_MATCH_VAR_MAX;
}

int osc_match(const char *pattern, const char *path, struct osc_match *m)
{
    struct osc_match scratch;
    if (!m)
        m = &scratch;
    m->n = 0;
    if (pattern[0] != '/' || path[0] != '/')
        return 0;
    const char *p = pattern + 1, *s = path + 1;
    for (;;) {
        size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
        if (pl >= 2 && p[0] == '<' && p[pl - 1] == '>') {
            size_t max = osc_match_var_max(p + 1, pl - 2);
            if (max > OSC_MATCH_VAR_MAX)
                max = OSC_MATCH_VAR_MAX;
            if (sl == 0 || sl > max || m->n == OSC_MATCH_VARS)
                return 0;
            memcpy(m->var[m->n], s, sl);
            m->var[m->n++][sl] = '\0';
        } else if (pl != sl || strncmp(p, s, pl) != 0) {
            return 0;
        }
        // Both end here, or both go on to another segment.
        if (!p[pl] || !s[sl])
            return !p[pl] && !s[sl];
        p += pl + 1;
        s += sl + 1;
    }
}

size_t osc_match_prefix_len(const char *pattern)
{
    return strcspn(pattern, "<");
}
