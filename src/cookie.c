// SPDX-License-Identifier: GPL-2.0-or-later
// cookie.c: stateless return-routability cookies (see cookie.h).
#include "cookie.h"

#include <netinet/in.h>
#include <string.h>

#include <sodium.h>

static const char COOKIE_LABEL[12] = "bb cookie v1";

int bb_cookie_addr_of(struct bb_cookie_addr *a, const struct sockaddr *sa, socklen_t len)
{
    memset(a, 0, sizeof *a);
    if (!sa)
        return -1;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        a->bytes[0] = 4;
        memcpy(a->bytes + 1, &in->sin_addr, 4);
        memcpy(a->bytes + 17, &in->sin_port, 2);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        a->bytes[0] = 6;
        memcpy(a->bytes + 1, &in6->sin6_addr, 16);
        memcpy(a->bytes + 17, &in6->sin6_port, 2);
        return 0;
    }
    return -1;
}

void bb_cookie_init(struct bb_cookie_jar *jar, uint32_t period_s)
{
    memset(jar, 0, sizeof *jar);
    jar->period_s = period_s ? period_s : BB_COOKIE_PERIOD_S;
}

void bb_cookie_wipe(struct bb_cookie_jar *jar)
{
    sodium_memzero(jar, sizeof *jar);
}

/// Brings the secrets to now_s's epoch. A clock that went backwards (it
/// should not: the caller passes a monotonic one) keeps the current keys.
static void rotate(struct bb_cookie_jar *jar, uint64_t now_s)
{
    uint64_t e = now_s / jar->period_s;
    if (jar->ready && e <= jar->epoch)
        return;
    if (jar->ready && e == jar->epoch + 1)
        memcpy(jar->key[1], jar->key[0], BB_COOKIE_KEY_SIZE);
    else
        randombytes_buf(jar->key[1], BB_COOKIE_KEY_SIZE); // nothing valid to keep
    randombytes_buf(jar->key[0], BB_COOKIE_KEY_SIZE);
    jar->epoch = e;
    jar->ready = 1;
}

static void mac(const uint8_t key[BB_COOKIE_KEY_SIZE], uint64_t epoch,
                const struct bb_cookie_addr *a, const uint8_t e_c[32], uint8_t out[BB_COOKIE_SIZE])
{
    uint8_t ep[8];
    for (int i = 0; i < 8; i++)
        ep[i] = (uint8_t)(epoch >> (8 * i));
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, BB_COOKIE_KEY_SIZE, BB_COOKIE_SIZE);
    crypto_generichash_update(&st, (const uint8_t *)COOKIE_LABEL, sizeof COOKIE_LABEL);
    crypto_generichash_update(&st, ep, sizeof ep);
    crypto_generichash_update(&st, a->bytes, sizeof a->bytes);
    crypto_generichash_update(&st, e_c, 32);
    crypto_generichash_final(&st, out, BB_COOKIE_SIZE);
}

void bb_cookie_make(struct bb_cookie_jar *jar, uint64_t now_s, const struct bb_cookie_addr *a,
                    const uint8_t e_c[32], uint8_t out[BB_COOKIE_SIZE])
{
    rotate(jar, now_s);
    mac(jar->key[0], jar->epoch, a, e_c, out);
}

int bb_cookie_check(struct bb_cookie_jar *jar, uint64_t now_s, const struct bb_cookie_addr *a,
                    const uint8_t e_c[32], const uint8_t cookie[BB_COOKIE_SIZE])
{
    rotate(jar, now_s);
    uint8_t want[BB_COOKIE_SIZE];
    mac(jar->key[0], jar->epoch, a, e_c, want);
    int ok = crypto_verify_16(want, cookie) == 0;
    if (jar->epoch > 0) {
        mac(jar->key[1], jar->epoch - 1, a, e_c, want);
        ok |= crypto_verify_16(want, cookie) == 0;
    }
    return ok ? 0 : -1;
}
