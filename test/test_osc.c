// SPDX-License-Identifier: GPL-2.0-or-later
// test_osc.c: unit tests of the OSC surface's pure parts: the address
// matcher (src/osc_match.c), argument checks (src/osc_args.c), the address
// table's sanity (src/osc_api.c), --osc-allow's CIDR parsing
// (src/osc_server.c) and the fader law (src/fader.c).
#include <lo/lo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "osc.h"

// ---- the matcher ---------------------------------------------------------

static void test_match(void)
{
    struct osc_match m;
    const char *mix = "/mix/<mix>/ch/<source>/gain";
    CHECK(osc_match(mix, "/mix/bob/ch/alice_2/gain", &m) == 1);
    CHECK(m.n == 2 && strcmp(m.var[0], "bob") == 0 && strcmp(m.var[1], "alice_2") == 0);
    CHECK(osc_match(mix, "/mix/2/ch/3.1/gain", &m) == 1 && strcmp(m.var[1], "3.1") == 0);
    CHECK(osc_match("/clients", "/clients", &m) == 1 && m.n == 0);
    CHECK(osc_match("/clients", "/clients", NULL) == 1);

    // Non-matches: another literal, fewer or more segments, empty ones.
    CHECK(!osc_match(mix, "/mix/bob/ch/alice/fader", &m));
    CHECK(!osc_match(mix, "/mix/bob/xx/alice/gain", &m));
    CHECK(!osc_match(mix, "/mix/bob/ch/alice", &m));
    CHECK(!osc_match(mix, "/mix/bob/ch/alice/gain/", &m));
    CHECK(!osc_match(mix, "/mix/bob/ch/alice/gain/x", &m));
    CHECK(!osc_match(mix, "/mix//ch/alice/gain", &m));
    CHECK(!osc_match(mix, "/mix/bob/ch//gain", &m));
    CHECK(!osc_match(mix, "mix/bob/ch/alice/gain", &m));
    CHECK(!osc_match(mix, "", &m));
    CHECK(!osc_match("/clients", "/clients/", &m));
    CHECK(!osc_match("/clients", "/client", &m));
    CHECK(!osc_match("/clients", "/clientsx", &m));
    CHECK(!osc_match("/slot/<n>/name", "/slot/1/names", &m));
    // OSC wildcards are plain characters of a name, not patterns.
    CHECK(osc_match(mix, "/mix/*/ch/*/gain", &m) == 1 && strcmp(m.var[0], "*") == 0);
    CHECK(!osc_match("/clients", "/client?", &m));

    // Overlong segments: each variable's own limit.
    char seg[64], path[128];
    memset(seg, 'x', sizeof seg);
    snprintf(path, sizeof path, "/mix/%.32s/ch/a/gain", seg);
    CHECK(osc_match(mix, path, &m) == 1 && strlen(m.var[0]) == 32);
    snprintf(path, sizeof path, "/mix/%.33s/ch/a/gain", seg);
    CHECK(!osc_match(mix, path, &m));
    snprintf(path, sizeof path, "/mix/a/ch/%.39s/gain", seg);
    CHECK(osc_match(mix, path, &m) == 1 && strlen(m.var[1]) == 39);
    snprintf(path, sizeof path, "/mix/a/ch/%.40s/gain", seg);
    CHECK(!osc_match(mix, path, &m));
    snprintf(path, sizeof path, "/slot/%.7s/name", seg);
    CHECK(osc_match("/slot/<n>/name", path, &m) == 1);
    snprintf(path, sizeof path, "/slot/%.8s/name", seg);
    CHECK(!osc_match("/slot/<n>/name", path, &m));
    snprintf(path, sizeof path, "/mix/a/ch/b/%.15s", seg);
    CHECK(osc_match("/mix/<mix>/ch/<source>/<param>", path, &m) == 1);
    snprintf(path, sizeof path, "/mix/a/ch/b/%.16s", seg);
    CHECK(!osc_match("/mix/<mix>/ch/<source>/<param>", path, &m));
    CHECK(osc_match_var_max("musician", 8) == 32);
    CHECK(osc_match_var_max("other", 5) == OSC_MATCH_VAR_MAX);
    // A 10 kB address matches nothing, and reads nothing beyond its end.
    static char big[10240];
    memset(big, 'x', sizeof big - 1);
    memcpy(big, "/mix/", 5);
    CHECK(!osc_match(mix, big, &m));

    CHECK(osc_match_prefix_len(mix) == strlen("/mix/"));
    CHECK(osc_match_prefix_len("/clients") == strlen("/clients"));
}

// ---- arguments -----------------------------------------------------------

/// Checks m's arguments against a: 0 or -1, with why.
static int check_msg(const struct osc_args *a, lo_message m, struct osc_vals *v, char *why,
                     size_t size)
{
    why[0] = '\0';
    int r = osc_args_check(a, lo_message_get_types(m), lo_message_get_argv(m),
                           lo_message_get_argc(m), v, why, size);
    // The strings point into m: keep copies past its end.
    static char copies[OSC_ARGS_MAX][64];
    for (int i = 0; i < OSC_ARGS_MAX; i++)
        if (r == 0 && v->str[i]) {
            snprintf(copies[i], sizeof copies[i], "%s", v->str[i]);
            v->str[i] = copies[i];
        }
    lo_message_free(m);
    return r;
}

static const struct osc_args *row_args(const char *pattern)
{
    size_t n;
    const struct osc_api_row *r = osc_api_rows(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].pattern, pattern) == 0)
            return &r[i].args;
    return NULL;
}

static void test_args(void)
{
    const struct osc_args *sub = row_args("/subscribe"), *gain = row_args("/mix/<mix>/ch/<source>/gain");
    const struct osc_args *unsub = row_args("/unsubscribe"), *auth = row_args("/auth");
    CHECK(sub && gain && unsub && auth);
    if (!sub || !gain || !unsub || !auth)
        return;
    struct osc_vals v;
    char why[128];
    lo_message m;

    // A float far beyond int: refused by its range, in float (UBSan used
    // to report the conversion).
    m = lo_message_new();
    lo_message_add_float(m, 2.5e27f);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 &&
          strcmp(why, "lease out of range (1..60 seconds)") == 0);
    m = lo_message_new();
    lo_message_add_double(m, -1e300);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 && strstr(why, "lease out of range"));
    m = lo_message_new();
    lo_message_add_int64(m, INT64_MAX);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 && strstr(why, "lease out of range"));
    m = lo_message_new();
    lo_message_add_float(m, INFINITY);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 && strstr(why, "lease out of range"));
    m = lo_message_new();
    lo_message_add_int32(m, 0);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 && strstr(why, "lease out of range"));
    m = lo_message_new();
    lo_message_add_float(m, 1.5f);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 &&
          strcmp(why, "expected [i:lease_seconds] [i:reply_port] [s:style]") == 0);
    m = lo_message_new();
    lo_message_add_float(m, NAN);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 && strstr(why, "expected [i:lease"));
    m = lo_message_new();
    lo_message_add_int32(m, 10);
    lo_message_add_int32(m, 70000);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 &&
          strcmp(why, "reply port out of range (0..65535)") == 0);
    m = lo_message_new();
    lo_message_add_string(m, "ten");
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 &&
          strcmp(why, "style is \"names\" or \"slots\"") == 0);
    m = lo_message_new();
    lo_message_add_int32(m, 1);
    lo_message_add_int32(m, 2);
    lo_message_add_int32(m, 3);
    CHECK(check_msg(sub, m, &v, why, sizeof why) < 0 && strstr(why, "expected [i:lease"));

    // Accepted forms: nothing, a lease, lease and port, a style alone or
    // after the lease, all three; T is 1.
    m = lo_message_new();
    CHECK(check_msg(sub, m, &v, why, sizeof why) == 0 && v.given == 0 && !v.query);
    m = lo_message_new();
    lo_message_add_string(m, "slots");
    CHECK(check_msg(sub, m, &v, why, sizeof why) == 0 && v.given == 4u &&
          strcmp(v.str[2], "slots") == 0);
    m = lo_message_new();
    lo_message_add_float(m, 30.0f);
    lo_message_add_string(m, "names");
    CHECK(check_msg(sub, m, &v, why, sizeof why) == 0 && v.given == 5u && v.num[0] == 30.0f);
    m = lo_message_new();
    lo_message_add_int32(m, 60);
    lo_message_add_int32(m, 9000);
    lo_message_add_string(m, "slots");
    CHECK(check_msg(sub, m, &v, why, sizeof why) == 0 && v.given == 7u && v.num[1] == 9000.0f);
    m = lo_message_new();
    lo_message_add_true(m);
    CHECK(check_msg(sub, m, &v, why, sizeof why) == 0 && v.num[0] == 1.0f);

    m = lo_message_new();
    lo_message_add_string(m, "x");
    CHECK(check_msg(unsub, m, &v, why, sizeof why) < 0 && strcmp(why, "expected [i:reply_port]") == 0);

    // A mix value: a query, one number in range, -inf allowed, NaN not.
    m = lo_message_new();
    CHECK(check_msg(gain, m, &v, why, sizeof why) == 0 && v.query);
    m = lo_message_new();
    lo_message_add_float(m, -INFINITY);
    CHECK(check_msg(gain, m, &v, why, sizeof why) == 0 && isinf(v.num[0]));
    m = lo_message_new();
    lo_message_add_int32(m, 99);
    CHECK(check_msg(gain, m, &v, why, sizeof why) < 0 && strcmp(why, "value out of range") == 0);
    m = lo_message_new();
    lo_message_add_float(m, NAN);
    CHECK(check_msg(gain, m, &v, why, sizeof why) < 0 && strcmp(why, "expected one number") == 0);
    m = lo_message_new();
    lo_message_add_string(m, "loud");
    CHECK(check_msg(gain, m, &v, why, sizeof why) < 0 && strcmp(why, "expected one number") == 0);
    m = lo_message_new();
    lo_message_add_float(m, -3.0f);
    lo_message_add_float(m, -4.0f);
    CHECK(check_msg(gain, m, &v, why, sizeof why) < 0 && strcmp(why, "expected one number") == 0);

    m = lo_message_new();
    lo_message_add_int32(m, 12);
    CHECK(check_msg(auth, m, &v, why, sizeof why) < 0 && strcmp(why, "expected s:password") == 0);
    m = lo_message_new();
    lo_message_add_symbol(m, "s3cret");
    CHECK(check_msg(auth, m, &v, why, sizeof why) == 0 && strcmp(v.str[0], "s3cret") == 0);

    char doc[160];
    osc_args_format(sub, doc, sizeof doc);
    CHECK(strcmp(doc, "[i:lease_seconds 1..60] [i:reply_port 0..65535] [s:style names|slots]") == 0);
    osc_args_format(gain, doc, sizeof doc);
    CHECK(strcmp(doc, "[f:dB -inf..12]") == 0);
    osc_args_format(auth, doc, sizeof doc);
    CHECK(strcmp(doc, "s:password") == 0);
}

// ---- the table -----------------------------------------------------------

/// An address that pattern matches: every variable written as "1".
static void example_of(const char *pattern, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 2 < size; p++) {
        if (*p == '<') {
            out[o++] = '1';
            p += strcspn(p, ">");
            if (!*p)
                break;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void test_table(void)
{
    size_t n;
    const struct osc_api_row *rows = osc_api_rows(&n);
    CHECK(n > 20);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct osc_api_row *r = &rows[i];
        const struct osc_args *a = &r->args;
        int vars = strchr(r->pattern, '<') != NULL;
        int ok = r->pattern[0] == '/' && r->doc && r->doc[0] && r->answer && a->n <= OSC_ARGS_MAX &&
                 (a->form == OSC_ARGS_NONE) == (a->n == 0);
        // A received address with variables has its usage error, which
        // names the family; without variables it needs none.
        if (r->fn && vars)
            ok = ok && r->usage && strncmp(r->usage, "expected /", 10) == 0 &&
                 strncmp(r->usage + 9, r->pattern, osc_match_prefix_len(r->pattern)) == 0;
        if (!vars)
            ok = ok && !r->usage;
        // Sent-only rows take no arguments and are not hidden.
        if (!r->fn)
            ok = ok && a->form == OSC_ARGS_NONE && !r->hidden && !r->resolve;
        for (unsigned k = 0; k < a->n; k++) {
            const struct osc_argspec *s = &a->a[k];
            ok = ok && s->name && s->name[0] && strchr("fis", s->type);
            if (s->type == 's')
                ok = ok && s->min == 0 && s->max == 0 && !s->range_error &&
                     (!s->values || (s->values[0] && s->values[0] != '|'));
            else
                ok = ok && !s->values && s->min <= s->max && !isnan(s->min) && !isnan(s->max);
            // Only the last argument of an optional list may be a string.
            if (s->type == 's' && a->form == OSC_ARGS_OPTIONAL)
                ok = ok && k + 1 == a->n;
        }
        // Variables are ones the matcher knows the length of.
        for (const char *p = strchr(r->pattern, '<'); p; p = strchr(p + 1, '<'))
            ok = ok && osc_match_var_max(p + 1, strcspn(p + 1, ">")) < OSC_MATCH_VAR_MAX + 1 &&
                 p[1 + strcspn(p + 1, ">")] == '>';
        // Each received address reaches its own row: no earlier one hides it.
        if (r->fn) {
            char ex[128];
            struct osc_match m;
            int fits = 0;
            example_of(r->pattern, ex, sizeof ex);
            ok = ok && osc_api_find(ex, &m, &fits) == r && fits;
        }
        // No two rows have the same pattern.
        for (size_t j = 0; j < i; j++)
            ok = ok && strcmp(rows[j].pattern, r->pattern) != 0;
        if (!ok && !bad++)
            printf("  first bad row: %s\n", r->pattern);
    }
    CHECK(bad == 0);

    // Misspelt addresses of a family go to its first row, unfitted.
    struct osc_match m;
    int fits = 1;
    const struct osc_api_row *r = osc_api_find("/mix/bob", &m, &fits);
    CHECK(r && !fits && strcmp(r->usage, "expected /mix/<mix>/ch/<source>/<gain|fader|pan|mute|solo|sub>") == 0);
    r = osc_api_find("/mix/bob/ch/alice/volume", &m, &fits);
    CHECK(r && fits && r->hidden);
    r = osc_api_find("/send/bob/pan", &m, &fits);
    CHECK(r && !fits && strcmp(r->usage, "expected /send/<musician>/<gain|fader>") == 0);
    r = osc_api_find("/client/bob/delete", &m, &fits);
    CHECK(r && !fits);
    CHECK(osc_api_find("/nowhere", &m, &fits) == NULL);
    CHECK(osc_api_find("/mix", &m, &fits) == NULL);
    CHECK(osc_api_find("/error", &m, &fits) == NULL); // sent, never received
    CHECK(osc_api_find("/meter/ch/bob", &m, &fits) == NULL);
    r = osc_api_find("/slot/3/name", &m, &fits);
    CHECK(r && fits && strcmp(m.var[0], "3") == 0);
}

// ---- CIDR and fader ------------------------------------------------------

static void test_cidr(void)
{
    uint32_t net = 1, mask = 1;
    CHECK(hub_osc_parse_cidr("192.168.1.0/24", &net, &mask) == 0 && net == 0xC0A80100u &&
          mask == 0xFFFFFF00u);
    CHECK(hub_osc_parse_cidr("192.168.1.77/24", &net, &mask) == 0 && net == 0xC0A80100u);
    CHECK(hub_osc_parse_cidr("10.0.0.7", &net, &mask) == 0 && net == 0x0A000007u &&
          mask == 0xFFFFFFFFu);
    CHECK(hub_osc_parse_cidr("0.0.0.0/0", &net, &mask) == 0 && net == 0 && mask == 0);
    CHECK(hub_osc_parse_cidr("10.1.2.3/32", &net, &mask) == 0 && mask == 0xFFFFFFFFu);
    CHECK(hub_osc_parse_cidr("10.1.2.3/8", &net, &mask) == 0 && net == 0x0A000000u);
    const char *bad[] = {"", "/24", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/ 8",
                         "10.0.0.0/+8", "10.0.0.0/8x", "10.0.0", "10.0.0.256", "::1",
                         "hostname", "10.0.0.0/99999999999999999999",
                         "1234567890123456789.0.0.0/8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = hub_osc_parse_cidr(bad[i], &net, &mask);
        CHECK(r == -1);
        if (r != -1)
            printf("  accepted: \"%s\"\n", bad[i]);
    }
}

static void test_fader(void)
{
    CHECK(bb_fader_to_db(0.75f) == 0.0f);
    CHECK(bb_fader_to_db(1.0f) == 10.0f);
    CHECK(bb_fader_to_db(0.5f) == -10.0f);
    CHECK(bb_fader_to_db(0.25f) == -30.0f);
    CHECK(bb_fader_to_db(0.0625f) == -60.0f);
    CHECK(isinf(bb_fader_to_db(0.0f)) && bb_fader_to_db(0.0f) < 0);
    CHECK(isinf(bb_fader_to_db(NAN)) && isinf(bb_fader_to_db(-1.0f)));
    CHECK(bb_fader_to_db(2.0f) == 10.0f);
    CHECK(bb_db_to_fader(0.0f) == 0.75f && bb_db_to_fader(-10.0f) == 0.5f);
    CHECK(bb_db_to_fader(12.0f) == 1.0f && bb_db_to_fader(-90.0f) == 0.0f);
    CHECK(bb_db_to_fader(-INFINITY) == 0.0f && bb_db_to_fader(NAN) == 0.0f);
    CHECK(bb_db_to_fader(INFINITY) == 1.0f);
    // Round trip over the whole travel, and monotonic.
    int ok = 1;
    float prev = -INFINITY;
    for (int i = 1; i <= 1000; i++) {
        float p = (float)i / 1000.0f, db = bb_fader_to_db(p);
        if (fabsf(bb_db_to_fader(db) - p) > 1e-5f || !(db > prev)) {
            if (ok)
                printf("  first failure at %g: %g dB, back %g\n", (double)p, (double)db,
                       (double)bb_db_to_fader(db));
            ok = 0;
        }
        prev = db;
    }
    CHECK(ok);
    ok = 1;
    for (int db = -89; db <= 10; db++)
        ok &= fabsf(bb_fader_to_db(bb_db_to_fader((float)db)) - (float)db) < 1e-3f;
    CHECK(ok);
}

int main(void)
{
    test_match();
    test_args();
    test_table();
    test_cidr();
    test_fader();
    return check_report("test_osc");
}
