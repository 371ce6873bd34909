// SPDX-License-Identifier: GPL-2.0-or-later
// test_osc_access.c: who may talk to an OSC port (osc_bind.h, osc_server.h):
// the address classifier behind the default allow rule and --osc-allow,
// the packet walker that replaces liblo's time-tag queue, the /error size
// cap, and the password's back-off and address-and-port scope.
// it_osc_access.sh runs the same rules on the wire.
#include <arpa/inet.h>
#include <lo/lo.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "hub.h"
#include "osc_bind.h"
#include "osc_server.h"

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    inet_pton(AF_INET6, ip, &sa.sin6_addr);
    return sa;
}

#define SA(x) ((const struct sockaddr *)&(x)), (socklen_t)sizeof(x)

static int allowed(struct hub *h, const char *ip)
{
    if (strchr(ip, ':')) {
        struct sockaddr_in6 sa = v6(ip);
        return hub_osc_allowed(h, SA(sa), bb_now_ns());
    }
    struct sockaddr_in sa = v4(ip, 9);
    return hub_osc_allowed(h, SA(sa), bb_now_ns());
}

static void test_addresses(void)
{
    struct sockaddr_in a = v4("192.168.1.20", 9000);
    struct sockaddr_in6 m = v6("::ffff:10.1.2.3"), l6 = v6("::1"), g6 = v6("2001:db8::1");
    uint32_t ip = 0;
    CHECK(bb_osc_sa_ipv4(SA(a), &ip) == 0 && ip == 0xC0A80114u);
    CHECK(bb_osc_sa_ipv4(SA(m), &ip) == 0 && ip == 0x0A010203u); // IPv4 through IPv6
    CHECK(bb_osc_sa_ipv4(SA(g6), &ip) == -1);
    CHECK(bb_osc_sa_ipv4((const struct sockaddr *)&a, 4, &ip) == -1); // cut short
    struct sockaddr_in lo1 = v4("127.0.0.1", 1), lo2 = v4("127.45.6.7", 1);
    CHECK(bb_osc_sa_loopback(SA(lo1)) && bb_osc_sa_loopback(SA(lo2)) && bb_osc_sa_loopback(SA(l6)));
    CHECK(!bb_osc_sa_loopback(SA(a)) && !bb_osc_sa_loopback(SA(g6)) && !bb_osc_sa_loopback(SA(m)));
    char host[64];
    uint16_t port = 0;
    CHECK(bb_osc_sa_host(SA(a), host, sizeof host, &port) == 0 && strcmp(host, "192.168.1.20") == 0 &&
          port == 9000);

    // This machine's networks: 127.0.0.0/8 at least, each one's net masked.
    struct bb_osc_nets n;
    CHECK(bb_osc_local_nets(&n, 1) >= 1 && n.net[0] == 0x7F000000u && n.mask[0] == 0xFF000000u);
    int masked = 1;
    for (unsigned i = 0; i < n.n; i++)
        masked &= (n.net[i] & n.mask[i]) == n.net[i];
    CHECK(masked);
    CHECK(bb_osc_nets_has(&n, 0x7F000001u) && bb_osc_nets_has(&n, 0x7FFFFFFEu));
}

static void test_allow_rule(void)
{
    struct hub *h = calloc(1, sizeof *h);
    struct hub_osc *o = calloc(1, sizeof *o);
    h->osc = o;
    // The local networks as if read just now: this machine and 192.168.1.0/24.
    o->local.n = 2;
    o->local.net[0] = 0x7F000000u, o->local.mask[0] = 0xFF000000u;
    o->local.net[1] = 0xC0A80100u, o->local.mask[1] = 0xFFFFFF00u;
    o->local.read_ns = bb_now_ns(); // not read again for 5 s: longer than this test

    // Default: this machine and its local networks only.
    CHECK(allowed(h, "127.0.0.1") && allowed(h, "127.9.9.9") && allowed(h, "::1"));
    CHECK(allowed(h, "192.168.1.77") && allowed(h, "::ffff:192.168.1.77"));
    CHECK(!allowed(h, "192.168.2.1") && !allowed(h, "8.8.8.8") && !allowed(h, "10.0.0.1"));
    CHECK(!allowed(h, "2001:db8::1") && !allowed(h, "fe80::1"));

    // --osc-allow values.
    uint32_t net, mask;
    CHECK(hub_osc_parse_allow("any", &net, &mask) == 0 && net == 0 && mask == 0);
    CHECK(hub_osc_parse_allow("local", &net, &mask) == 0 && net == OSC_ALLOW_LOCAL_NET && mask == 0);
    CHECK(hub_osc_parse_allow("10.1.0.0/16", &net, &mask) == 0 && net == 0x0A010000u &&
          mask == 0xFFFF0000u);
    CHECK(hub_osc_parse_allow("10.1.2.3", &net, &mask) == 0 && mask == 0xFFFFFFFFu);
    CHECK(hub_osc_parse_allow("locals", &net, &mask) < 0 && hub_osc_parse_allow("10.0.0.0/33", &net, &mask) < 0 &&
          hub_osc_parse_allow("", &net, &mask) < 0 && hub_osc_parse_allow("10.0.0.0/-1", &net, &mask) < 0);
    // --osc-bind takes an address, never a keyword.
    CHECK(hub_osc_parse_cidr("any", &net, &mask) < 0 && hub_osc_parse_cidr("local", &net, &mask) < 0);

    // A list replaces the default: 10.0.0.0/8 only, this machine refused too.
    hub_osc_parse_allow("10.0.0.0/8", &h->osc_allow_net[0], &h->osc_allow_mask[0]);
    h->osc_nallow = 1;
    CHECK(allowed(h, "10.200.0.2") && !allowed(h, "127.0.0.1") && !allowed(h, "192.168.1.77"));
    CHECK(!allowed(h, "::1"));
    // ... and `local` puts it back, in addition.
    hub_osc_parse_allow("local", &h->osc_allow_net[1], &h->osc_allow_mask[1]);
    h->osc_nallow = 2;
    CHECK(allowed(h, "10.200.0.2") && allowed(h, "127.0.0.1") && allowed(h, "192.168.1.77") &&
          allowed(h, "::1"));
    CHECK(!allowed(h, "8.8.8.8") && !allowed(h, "2001:db8::1"));
    // `any` is everyone.
    hub_osc_parse_allow("any", &h->osc_allow_net[0], &h->osc_allow_mask[0]);
    h->osc_nallow = 1;
    CHECK(allowed(h, "8.8.8.8") && allowed(h, "2001:db8::1") && allowed(h, "127.0.0.1"));
    free(o);
    free(h);
}

// ---- the walker ------------------------------------------------------------

struct seen {
    int  n, errors;
    char log[512];
};

static void on_msg(void *user, const char *path, lo_message m, const char *error)
{
    struct seen *s = user;
    size_t len = strlen(s->log);
    if (m) {
        s->n++;
        snprintf(s->log + len, sizeof s->log - len, "%s%s", len ? " " : "", path);
    } else {
        s->errors++;
        snprintf(s->log + len, sizeof s->log - len, "%s!%s:%s", len ? " " : "", path, error);
    }
}

static size_t msg(uint8_t *out, const char *path)
{
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 7);
    size_t len = lo_message_length(m, path);
    lo_message_serialise(m, path, out, &len);
    lo_message_free(m);
    return len;
}

// A bundle time-tagged a year ahead holding the n elements given.
static size_t bundle(uint8_t *out, const uint8_t *const *el, const size_t *len, int n)
{
    memcpy(out, "#bundle\0", 8);
    uint64_t tt = ((uint64_t)time(NULL) + 2208988800u + 365u * 86400u) << 32;
    for (int i = 0; i < 8; i++)
        out[8 + i] = (uint8_t)(tt >> (56 - 8 * i));
    size_t pos = 16;
    for (int i = 0; i < n; i++) {
        out[pos] = (uint8_t)(len[i] >> 24), out[pos + 1] = (uint8_t)(len[i] >> 16);
        out[pos + 2] = (uint8_t)(len[i] >> 8), out[pos + 3] = (uint8_t)len[i];
        memcpy(out + pos + 4, el[i], len[i]);
        pos += 4 + len[i];
    }
    return pos;
}

static void test_walk(void)
{
    uint8_t a[64], b[64], c[64], inner[256], outer[512];
    size_t la = msg(a, "/a"), lb = msg(b, "/b"), lc = msg(c, "/c");
    struct seen s = {0};
    CHECK(bb_osc_walk(a, la, 8, on_msg, &s) == 1 && strcmp(s.log, "/a") == 0);

    // Nested, dated a year ahead: every message at once, in order.
    const uint8_t *ie[] = {b, c};
    size_t il[] = {lb, lc};
    size_t li = bundle(inner, ie, il, 2);
    const uint8_t *oe[] = {a, inner};
    size_t ol[] = {la, li};
    size_t lo_ = bundle(outer, oe, ol, 2);
    memset(&s, 0, sizeof s);
    CHECK(bb_osc_walk(outer, lo_, 8, on_msg, &s) == 3 && strcmp(s.log, "/a /b /c") == 0 && !s.errors);

    // At most max messages; the rest refused once.
    memset(&s, 0, sizeof s);
    CHECK(bb_osc_walk(outer, lo_, 2, on_msg, &s) == 2 && s.errors == 1 &&
          strcmp(s.log, "/a /b !#bundle:too many messages in one packet") == 0);

    // Malformed: an element longer than the bundle, a length not of 4.
    memset(&s, 0, sizeof s);
    outer[16 + 3] = 200;
    CHECK(bb_osc_walk(outer, lo_, 8, on_msg, &s) == 0 && s.errors == 1 &&
          strstr(s.log, "malformed OSC bundle"));
    memset(&s, 0, sizeof s);
    CHECK(bb_osc_walk(a, la - 1, 8, on_msg, &s) == 0 && strcmp(s.log, "!?:malformed OSC message") == 0);
    memset(&s, 0, sizeof s);
    CHECK(bb_osc_walk((const uint8_t *)"#bundle\0", 8, 8, on_msg, &s) == 0 && s.errors == 1);

    // Four bundles deep is fine; five are refused, nothing of them handled.
    uint8_t d[6][512];
    size_t dl[6] = {la};
    memcpy(d[0], a, la);
    for (int k = 1; k < 6; k++) {
        const uint8_t *e[] = {d[k - 1]};
        dl[k] = bundle(d[k], e, &dl[k - 1], 1);
    }
    memset(&s, 0, sizeof s);
    CHECK(bb_osc_walk(d[4], dl[4], 8, on_msg, &s) == 1 && strcmp(s.log, "/a") == 0);
    memset(&s, 0, sizeof s);
    CHECK(bb_osc_walk(d[5], dl[5], 8, on_msg, &s) == 0 && strstr(s.log, "bundles nested too deep"));
}

static void test_error_fit(void)
{
    char p[200], w[128];
    // Fits: untouched.
    strcpy(p, "/info"), strcpy(w, "not allowed from this address");
    CHECK(osc_error_fit(p, w, 1000) == 0 && strcmp(p, "/info") == 0);
    // /error "/info" "not allowed ..." is 52 bytes: for a 40-byte request the
    // address goes, then the reason is cut to what fits (40 - 16 = 24: 23 characters).
    CHECK(osc_error_fit(p, w, 40) == 1 && p[0] == '\0' && strcmp(w, "not allowed from this a") == 0);
    // 12 + 4 + 32 = 48 bytes: fits 48 with the address left out, reason whole.
    strcpy(p, "/info"), strcpy(w, "not allowed from this address");
    CHECK(osc_error_fit(p, w, 48) == 1 && p[0] == '\0' && strlen(w) == 29);
    // A 12-byte /info, a 16-byte /auth: not even "/error" "" "abc" (20 bytes).
    strcpy(p, "/info"), strcpy(w, "x");
    CHECK(osc_error_fit(p, w, 12) == -1 && osc_error_fit(p, w, 19) == -1);
    strcpy(p, "/auth"), strcpy(w, "wrong password");
    CHECK(osc_error_fit(p, w, 20) == 1 && strcmp(w, "wro") == 0);
}

// ---- the password ----------------------------------------------------------

static void test_password(void)
{
    struct hub *h = calloc(1, sizeof *h);
    struct hub_osc *o = calloc(1, sizeof *o);
    h->osc = o;
    snprintf(h->osc_password, sizeof h->osc_password, "s3cret");
    struct osc_source rec = {.host = "10.0.0.5"};
    struct osc_src a = {.peer = {.slot = -1}, .host = "10.0.0.5", .port = 4000, .from = &rec};
    struct osc_src b = a;
    b.port = 4001;
    const char *why = NULL;
    uint64_t now = bb_now_ns();

    CHECK(!osc_authed(h, &a));
    // Two wrong ones are free; the third starts the back-off at 1 s.
    CHECK(osc_auth(h, &a, "guess", &why) < 0 && strcmp(why, "wrong password") == 0);
    CHECK(osc_auth(h, &a, "guess2", &why) < 0 && rec.block_until == 0);
    CHECK(osc_auth(h, &a, "guess3", &why) < 0 && rec.block_until > now &&
          rec.block_until - bb_now_ns() <= 1000000000ull);
    // Backing off: even the right one is refused unread, and counts nothing.
    CHECK(osc_auth(h, &a, "s3cret", &why) < 0 && strstr(why, "wait") && o->auth_backoff == 1);
    CHECK(o->auth_failed == 3 && rec.fails == 3 && !osc_authed(h, &a));
    // Each further wrong one doubles it, up to 64 s.
    uint64_t last = 0;
    int doubling = 1;
    for (int k = 0; k < 8; k++) {
        rec.block_until = 0; // as if that wait were over
        osc_auth(h, &b, "guess", &why);
        uint64_t wait = rec.block_until - bb_now_ns();
        if (k < 6)
            doubling &= wait > last && wait <= (2ull << k) * 1000000000ull;
        else
            doubling &= wait <= 64ull * 1000000000ull && wait > 60ull * 1000000000ull;
        last = wait;
    }
    CHECK(doubling);
    // The right one, once allowed: that address AND port only, and the count is reset.
    rec.block_until = 0;
    CHECK(osc_auth(h, &a, "s3cret", &why) == 0 && rec.fails == 0);
    CHECK(osc_authed(h, &a) && !osc_authed(h, &b));
    struct osc_src other = a;
    snprintf(other.host, sizeof other.host, "10.0.0.6");
    CHECK(!osc_authed(h, &other));
    // Without a password on the hub, any /auth is fine.
    h->osc_password[0] = '\0';
    CHECK(osc_auth(h, &b, "anything", &why) == 0);

    // Verified: this machine always; others only after a cookie.
    CHECK(osc_verified(h, "127.0.0.1", 5) && osc_verified(h, "::1", 5));
    CHECK(!osc_verified(h, "10.0.0.5", 4000));
    CHECK(osc_check_cookie(h, &a, 12345, 4000) < 0 && !osc_verified(h, "10.0.0.5", 4000));
    free(o);
    free(h);
}

int main(void)
{
    test_addresses();
    test_allow_rule();
    test_walk();
    test_error_fit();
    test_password();
    return check_report("test_osc_access");
}
