// SPDX-License-Identifier: GPL-2.0-or-later
// seal.h: packet protection after the handshake (AEAD, counter nonce, replay window).
//
// Every datagram of a session, whatever its type (audio, ping, pong, leave,
// OSC relay...), is sealed with the session key of its direction:
//
//   offset        size  field
//   0             H     cleartext header (H = BB_WIRE_HEADER_SIZE = 20), the
//                       AEAD's associated data: readable for routing (session
//                       id, type), but any change to it fails the tag
//   H             8     counter, u64 little endian: the nonce, one per datagram
//                       per direction, never repeated under one key
//   H + 8         n     ciphertext of the body
//   H + 8 + n     16    tag
//
// The AEAD is the session's cipher, chosen in the handshake (handshake.h)
// and the same both ways: ChaCha20-Poly1305-IETF (RFC 8439), which every CPU
// runs fast and in constant time, or AES-256-GCM when both ends have AES
// instructions (x86 AES-NI + PCLMUL, as libsodium requires), about twice as
// fast for our small datagrams with the key schedule and GHASH table
// computed once per session (libsodium's beforenm state). Both take a
// 32-byte key, a 12-byte nonce and give a 16-byte tag, so the layout above
// is the same for both.
//
// The 12-byte nonce is 4 zero bytes then the counter (little endian), as in
// WireGuard. The counter is carried in clear so the receiver can decrypt
// datagrams out of order; it is authenticated because it is the nonce (any
// other counter gives another key stream and tag).
//
// Why a separate counter and not the header's seq: seq is 32 bits and per
// message type (audio, ping... count separately; the jitter buffer and the
// loss counters depend on that), while a nonce must be unique per key, i.e.
// per direction over all types, and must never wrap. 8 bytes per datagram
// buy that without touching the header's meaning.
//
// Replay: the receiver keeps an RFC 6479-style sliding bitmap (as WireGuard's
// counter validation) of BB_SEAL_WINDOW counters below the highest accepted
// one. A counter seen already, or older than the window, is refused; one
// within the window arrives once, in any order. The window is only updated
// after the tag verified, so forged datagrams cannot move it.
//
// Costs: no allocation, no lock, no system call. bb_seal may run in any
// thread (the counter is atomic); bb_open's window belongs to the one thread
// that receives the session's datagrams.
#ifndef BB_SEAL_H
#define BB_SEAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium/crypto_aead_aes256gcm.h>

#define BB_SEAL_KEY_SIZE     32
#define BB_SEAL_COUNTER_SIZE 8
#define BB_SEAL_TAG_SIZE     16
/// Bytes bb_seal adds after the header: counter and tag.
#define BB_SEAL_OVERHEAD     (BB_SEAL_COUNTER_SIZE + BB_SEAL_TAG_SIZE)

/// Bitmap words of the replay window (a power of two); one word is the
/// slack the ring needs, so the window is (words - 1) * 64 counters.
#define BB_SEAL_WINDOW_WORDS 32
#define BB_SEAL_WINDOW       ((BB_SEAL_WINDOW_WORDS - 1) * 64) ///< 1984 datagrams

/// Counters at or above this are never sent nor accepted: the session must
/// be rekeyed (a new handshake) before. The margin keeps counter + 1 and the
/// window arithmetic far from overflow. At 1000 datagrams/s this is 584
/// million years away; the check exists so that the property is not an
/// assumption.
#define BB_SEAL_COUNTER_LIMIT (UINT64_MAX - 8192u)

/// The session ciphers. The values are bits: a handshake offers a set of
/// them (OR-ed) and the hub picks one (bandbridge-wire(7)).
enum bb_seal_cipher {
    BB_SEAL_CHACHA20POLY1305 = 1, ///< ChaCha20-Poly1305-IETF: always available
    BB_SEAL_AES256GCM        = 2, ///< AES-256-GCM: only with AES-NI and PCLMUL
};
#define BB_SEAL_CIPHERS_ALL (BB_SEAL_CHACHA20POLY1305 | BB_SEAL_AES256GCM)

/// The ciphers this machine runs (after bb_crypto_init): ChaCha20-Poly1305
/// always, AES-256-GCM when crypto_aead_aes256gcm_is_available().
unsigned bb_seal_ciphers(void);
/// "chacha20-poly1305", "aes-256-gcm" or "?".
const char *bb_seal_cipher_name(int cipher);

enum bb_seal_status {
    BB_SEAL_MALFORMED = -1, ///< shorter than header + counter + tag, or bad arguments
    BB_SEAL_BAD_TAG   = -2, ///< forged, corrupted, or sealed under another key
    BB_SEAL_REPLAY    = -3, ///< this counter was accepted already
    BB_SEAL_TOO_OLD   = -4, ///< counter below the replay window
    BB_SEAL_NO_ROOM   = -5, ///< output buffer too small
    BB_SEAL_REKEY     = -6, ///< counter limit reached: a new handshake is required
};
const char *bb_seal_strerror(int status);

/// Sending half of a session (one direction). key: set once by
/// bb_seal_tx_init before the struct is shared; next: atomic, so any thread
/// of the sender may seal (the hub's send workers and its control replies).
struct bb_seal_tx {
    crypto_aead_aes256gcm_state aes; ///< AES-256-GCM: the expanded key (aligned 16)
    uint8_t key[BB_SEAL_KEY_SIZE];   ///< ChaCha20-Poly1305: the key
    int cipher;                      ///< enum bb_seal_cipher
    _Atomic uint64_t next;           ///< next counter to use
};

/// Receiving half of a session (the other direction). Owned by the one
/// thread that receives this session's datagrams: not shared, no lock.
struct bb_seal_rx {
    crypto_aead_aes256gcm_state aes; ///< as in bb_seal_tx
    uint8_t  key[BB_SEAL_KEY_SIZE];
    int      cipher;               ///< enum bb_seal_cipher
    uint64_t top;                  ///< highest accepted counter + 1; 0 = none yet
    uint64_t bitmap[BB_SEAL_WINDOW_WORDS];
};

/// Calls sodium_init(). Once per process, before any thread uses this
/// module or handshake.h / keypair.h. Returns 0 or -1.
int bb_crypto_init(void);

/// Sets the key for cipher (enum bb_seal_cipher). 0, or -1 when this
/// machine cannot run cipher (AES-256-GCM without AES-NI): the struct then
/// seals and opens nothing (every call fails with BB_SEAL_MALFORMED).
int bb_seal_tx_init(struct bb_seal_tx *tx, int cipher, const uint8_t key[BB_SEAL_KEY_SIZE]);
int bb_seal_rx_init(struct bb_seal_rx *rx, int cipher, const uint8_t key[BB_SEAL_KEY_SIZE]);
/// Zeroes the key and the expanded key (end of session).
void bb_seal_tx_wipe(struct bb_seal_tx *tx);
void bb_seal_rx_wipe(struct bb_seal_rx *rx);

/// Seals one datagram into out (cap bytes): hdr (hdr_len bytes, copied in
/// clear and authenticated), the counter, plain encrypted, the tag.
/// plain may be out + hdr_len + BB_SEAL_COUNTER_SIZE (in place); hdr may be
/// out. Returns the datagram length (hdr_len + len + BB_SEAL_OVERHEAD), or
/// BB_SEAL_NO_ROOM, BB_SEAL_MALFORMED, BB_SEAL_REKEY.
int bb_seal(struct bb_seal_tx *tx, const uint8_t *hdr, size_t hdr_len,
            const uint8_t *plain, size_t len, uint8_t *out, size_t cap);

/// Opens a datagram pkt (len bytes) whose first hdr_len bytes are the
/// cleartext header. Writes the plaintext body to out (cap bytes); out may be
/// pkt + hdr_len + BB_SEAL_COUNTER_SIZE (in place). Returns the body length
/// (>= 0), or BB_SEAL_MALFORMED, BB_SEAL_BAD_TAG, BB_SEAL_REPLAY,
/// BB_SEAL_TOO_OLD, BB_SEAL_NO_ROOM, BB_SEAL_REKEY. On any error out holds
/// nothing usable and the window is unchanged. counter (may be NULL) gets the
/// datagram's counter on success.
int bb_open(struct bb_seal_rx *rx, const uint8_t *pkt, size_t hdr_len, size_t len,
            uint8_t *out, size_t cap, uint64_t *counter);

#endif
