// SPDX-License-Identifier: GPL-2.0-or-later
// seal.c: per-datagram AEAD with a counter nonce and a replay window (see seal.h).
#include "seal.h"

#include <limits.h>
#include <string.h>

#include <sodium.h>

// The AEADs: ChaCha20-Poly1305 as in RFC 8439 (libsodium's _ietf variant),
// 96-bit nonce, fast in software on every CPU a musician may have (no AES
// instructions needed) and constant time by construction; AES-256-GCM where
// both ends have AES-NI (libsodium implements it only with those
// instructions, so it is constant time too), with the key expanded once per
// session (crypto_aead_aes256gcm_beforenm): per datagram it costs about
// half of ChaCha20-Poly1305's 0.8-1 us (bench/results.md).
_Static_assert(crypto_aead_aes256gcm_KEYBYTES == BB_SEAL_KEY_SIZE, "key size");
_Static_assert(crypto_aead_aes256gcm_ABYTES == BB_SEAL_TAG_SIZE, "tag size");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == 12, "nonce size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == BB_SEAL_KEY_SIZE, "key size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == BB_SEAL_TAG_SIZE, "tag size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "nonce size");
_Static_assert((BB_SEAL_WINDOW_WORDS & (BB_SEAL_WINDOW_WORDS - 1)) == 0, "ring is a power of two");

/// Datagrams are small (BB_MAX_DATAGRAM); the int return value must hold any
/// length we accept.
#define SEAL_MAX_LEN ((size_t)INT_MAX - BB_SEAL_OVERHEAD)

const char *bb_seal_strerror(int status)
{
    switch (status) {
    case BB_SEAL_MALFORMED: return "malformed sealed datagram";
    case BB_SEAL_BAD_TAG:   return "authentication failed";
    case BB_SEAL_REPLAY:    return "replayed datagram";
    case BB_SEAL_TOO_OLD:   return "datagram older than the replay window";
    case BB_SEAL_NO_ROOM:   return "buffer too small";
    case BB_SEAL_REKEY:     return "counter limit reached, rekey required";
    default:                return status >= 0 ? "ok" : "unknown seal error";
    }
}

int bb_crypto_init(void)
{
    // sodium_init() is idempotent and thread-safe after the first call, but
    // the first call must finish before other threads use libsodium: hence
    // "once, before any thread".
    return sodium_init() < 0 ? -1 : 0;
}

unsigned bb_seal_ciphers(void)
{
    return BB_SEAL_CHACHA20POLY1305 | (crypto_aead_aes256gcm_is_available() ? BB_SEAL_AES256GCM : 0u);
}

const char *bb_seal_cipher_name(int cipher)
{
    switch (cipher) {
    case BB_SEAL_CHACHA20POLY1305: return "chacha20-poly1305";
    case BB_SEAL_AES256GCM:        return "aes-256-gcm";
    default:                       return "?";
    }
}

/// The key into key (ChaCha20-Poly1305) or aes (AES-256-GCM's expanded
/// key); *cipher_out 0 when cipher cannot run here.
static int key_init(uint8_t key[BB_SEAL_KEY_SIZE], crypto_aead_aes256gcm_state *aes,
                    int *cipher_out, int cipher, const uint8_t k[BB_SEAL_KEY_SIZE])
{
    sodium_memzero(key, BB_SEAL_KEY_SIZE);
    sodium_memzero(aes, sizeof *aes);
    *cipher_out = 0;
    if (cipher == BB_SEAL_CHACHA20POLY1305)
        memcpy(key, k, BB_SEAL_KEY_SIZE);
    else if (cipher != BB_SEAL_AES256GCM || !crypto_aead_aes256gcm_is_available()
             || crypto_aead_aes256gcm_beforenm(aes, k) != 0)
        return -1;
    *cipher_out = cipher;
    return 0;
}

int bb_seal_tx_init(struct bb_seal_tx *tx, int cipher, const uint8_t key[BB_SEAL_KEY_SIZE])
{
    atomic_init(&tx->next, 0);
    return key_init(tx->key, &tx->aes, &tx->cipher, cipher, key);
}

int bb_seal_rx_init(struct bb_seal_rx *rx, int cipher, const uint8_t key[BB_SEAL_KEY_SIZE])
{
    rx->top = 0;
    memset(rx->bitmap, 0, sizeof rx->bitmap);
    return key_init(rx->key, &rx->aes, &rx->cipher, cipher, key);
}

void bb_seal_tx_wipe(struct bb_seal_tx *tx)
{
    sodium_memzero(tx->key, sizeof tx->key);
    sodium_memzero(&tx->aes, sizeof tx->aes);
}

void bb_seal_rx_wipe(struct bb_seal_rx *rx)
{
    sodium_memzero(rx->key, sizeof rx->key);
    sodium_memzero(&rx->aes, sizeof rx->aes);
}

static void nonce_of(uint8_t nonce[12], uint64_t counter)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

/// Takes the next counter, never one at or past the limit: a CAS loop rather
/// than fetch_add so that calls after exhaustion cannot push the counter
/// round to 0 (which would reuse nonces).
static int take_counter(struct bb_seal_tx *tx, uint64_t *c)
{
    uint64_t cur = atomic_load_explicit(&tx->next, memory_order_relaxed);
    do {
        if (cur >= BB_SEAL_COUNTER_LIMIT)
            return BB_SEAL_REKEY;
    } while (!atomic_compare_exchange_weak_explicit(&tx->next, &cur, cur + 1,
                                                    memory_order_relaxed, memory_order_relaxed));
    *c = cur;
    return 0;
}

int bb_seal(struct bb_seal_tx *tx, const uint8_t *hdr, size_t hdr_len,
            const uint8_t *plain, size_t len, uint8_t *out, size_t cap)
{
    if (!tx || !tx->cipher || !out || (!hdr && hdr_len) || (!plain && len) || len > SEAL_MAX_LEN
        || hdr_len > SEAL_MAX_LEN - len)
        return BB_SEAL_MALFORMED;
    size_t total = hdr_len + len + BB_SEAL_OVERHEAD;
    if (total > cap)
        return BB_SEAL_NO_ROOM;
    uint64_t c;
    if (take_counter(tx, &c) < 0)
        return BB_SEAL_REKEY;
    if (hdr_len && out != hdr)
        memmove(out, hdr, hdr_len);
    uint8_t *ctr = out + hdr_len;
    for (int i = 0; i < 8; i++)
        ctr[i] = (uint8_t)(c >> (8 * i));
    uint8_t nonce[12];
    nonce_of(nonce, c);
    uint8_t *ct = ctr + BB_SEAL_COUNTER_SIZE;
    if (tx->cipher == BB_SEAL_AES256GCM)
        crypto_aead_aes256gcm_encrypt_detached_afternm(ct, ct + len, NULL, plain, len, out,
                                                       hdr_len, NULL, nonce, &tx->aes);
    else
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(ct, ct + len, NULL, plain, len,
                                                           out, hdr_len, NULL, nonce, tx->key);
    return (int)total;
}

/// Is counter + 1 (v) acceptable? Does not change the window: that happens
/// only once the tag verified (window_mark).
static int window_check(const struct bb_seal_rx *rx, uint64_t v)
{
    if (v > rx->top)
        return 0;
    if (rx->top - v > BB_SEAL_WINDOW)
        return BB_SEAL_TOO_OLD;
    uint64_t word = rx->bitmap[(v >> 6) & (BB_SEAL_WINDOW_WORDS - 1)];
    return (word >> (v & 63)) & 1 ? BB_SEAL_REPLAY : 0;
}

static void window_mark(struct bb_seal_rx *rx, uint64_t v)
{
    uint64_t idx = v >> 6;
    if (v > rx->top) {
        // Clear the words the window slides over (at most the whole ring):
        // they held counters now too old to matter.
        uint64_t cur = rx->top >> 6;
        uint64_t n = idx - cur;
        if (n > BB_SEAL_WINDOW_WORDS)
            n = BB_SEAL_WINDOW_WORDS;
        for (uint64_t i = 1; i <= n; i++)
            rx->bitmap[(cur + i) & (BB_SEAL_WINDOW_WORDS - 1)] = 0;
        rx->top = v;
    }
    rx->bitmap[idx & (BB_SEAL_WINDOW_WORDS - 1)] |= (uint64_t)1 << (v & 63);
}

int bb_open(struct bb_seal_rx *rx, const uint8_t *pkt, size_t hdr_len, size_t len,
            uint8_t *out, size_t cap, uint64_t *counter)
{
    if (!rx || !rx->cipher || !pkt || (!out && cap) || len > SEAL_MAX_LEN || hdr_len > len
        || len - hdr_len < BB_SEAL_OVERHEAD)
        return BB_SEAL_MALFORMED;
    size_t n = len - hdr_len - BB_SEAL_OVERHEAD;
    const uint8_t *ctr = pkt + hdr_len;
    uint64_t c = 0;
    for (int i = 0; i < 8; i++)
        c |= (uint64_t)ctr[i] << (8 * i);
    // Unauthenticated so far: a huge counter is just a bad datagram, never a
    // reason to rekey.
    if (c >= BB_SEAL_COUNTER_LIMIT)
        return BB_SEAL_MALFORMED;
    // The cheap checks before the crypto: replays cost no decryption.
    int st = window_check(rx, c + 1);
    if (st < 0)
        return st;
    if (n > cap)
        return BB_SEAL_NO_ROOM;
    uint8_t nonce[12];
    nonce_of(nonce, c);
    const uint8_t *ct = ctr + BB_SEAL_COUNTER_SIZE;
    int bad = rx->cipher == BB_SEAL_AES256GCM
        ? crypto_aead_aes256gcm_decrypt_detached_afternm(out, NULL, ct, n, ct + n, pkt, hdr_len,
                                                          nonce, &rx->aes)
        : crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, ct, n, ct + n, pkt,
                                                             hdr_len, nonce, rx->key);
    if (bad != 0)
        return BB_SEAL_BAD_TAG;
    window_mark(rx, c + 1);
    if (counter)
        *counter = c;
    return (int)n;
}
