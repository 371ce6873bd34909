// SPDX-License-Identifier: GPL-2.0-or-later
// wire.h: the bandbridge datagram format (documented in bandbridge-wire(7)).
//
// Every datagram starts with a fixed 20-byte header, little endian:
//
//   offset size field
//   0      4    magic     "BBRG" (0x42 0x42 0x52 0x47)
//   4      1    version   BB_WIRE_VERSION
//   5      1    type      enum bb_msg_type
//   6      2    flags     BB_FLAG_*, else 0
//   8      4    session   session id the hub gave in WELCOME (0 in JOIN)
//   12     4    seq       per-sender, per-type sequence number
//   16     4    ts        sample timestamp (AUDIO: first frame of the packet)
//
// Strings in bodies are a u8 length followed by that many bytes (no NUL).
// Datagrams never exceed BB_MAX_DATAGRAM bytes. Parsers take hostile input:
// every function below checks lengths and ranges and returns an error code
// rather than trusting the packet.
#ifndef BB_WIRE_H
#define BB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "bb.h"

#define BB_WIRE_MAGIC       "BBRG"
/// 2: the handshake (HELLO, COOKIE, JOIN, WELCOME of handshake.h) and
/// every later datagram sealed (seal.h). A version-1 JOIN is refused in
/// words (a cleartext REJECT VERSION) so an old join says what to do.
#define BB_WIRE_VERSION     2
#define BB_WIRE_HEADER_SIZE 20
#define BB_IDENTITY_SIZE    16   ///< bytes of a client identity
#define BB_REASON_MAX       128  ///< longest reason text, with NUL
#define BB_OSC_CONTROLLERS  16   ///< controller numbers 0..15 of one musician (OSC message)
/// Longest OSC packet an OSC message carries: what fits in one datagram
/// after the header and the controller byte, in whole 4-byte words.
#define BB_OSC_PACKET_MAX   ((BB_MAX_DATAGRAM - BB_WIRE_HEADER_SIZE - 1) / 4 * 4)
#define BB_OSC_PACKET_MIN   8    ///< the shortest OSC message: "/\0\0\0,\0\0\0"

enum bb_msg_type {
    BB_MSG_JOIN      = 1, ///< musician -> hub, retried until WELCOME/REJECT
    BB_MSG_WELCOME   = 2, ///< hub -> musician
    BB_MSG_REJECT    = 3, ///< hub -> musician, with a readable reason
    BB_MSG_AUDIO     = 4, ///< both ways
    BB_MSG_PING      = 5, ///< either way; the peer answers PONG
    BB_MSG_PONG      = 6,
    BB_MSG_LEAVE     = 7, ///< either way, retried until LEAVE_ACK
    BB_MSG_LEAVE_ACK = 8,
    BB_MSG_OSC       = 9, ///< both ways: a relayed OSC packet of a musician's own controller
    BB_MSG_HELLO     = 10, ///< musician -> hub: first handshake message (handshake.h)
    BB_MSG_COOKIE    = 11, ///< hub -> musician: return-routability cookie, room salt
};
#define BB_MSG_LAST BB_MSG_COOKIE

/// Header flags.
/// REJECT: the body is handshake.h's authenticated REJECT (sealed with a
/// key only the hub that read our JOIN has); without it a REJECT is
/// cleartext, unauthenticated, and never final.
#define BB_FLAG_AUTH   0x0001u
/// Any type: the body is sealed (seal.h): counter, ciphertext, tag.
#define BB_FLAG_SEALED 0x0002u

enum bb_reject_code {
    BB_REJECT_OTHER       = 0,
    BB_REJECT_VERSION     = 1, ///< protocol version mismatch
    BB_REJECT_RATE        = 2, ///< sample rate differs from the hub's
    BB_REJECT_FULL        = 3, ///< hub has no free slot
    BB_REJECT_NAME_TAKEN  = 4, ///< another identity uses that name
    BB_REJECT_IDENTITY    = 5, ///< this identity is connected already
    BB_REJECT_CODEC       = 6, ///< codec/channel combination not possible
    BB_REJECT_BAD_REQUEST = 7, ///< malformed join
    BB_REJECT_BUSY        = 8, ///< the hub is at its load ceiling (hub_load.h); try later
};

enum bb_leave_code {
    BB_LEAVE_QUIT     = 0, ///< musician quit
    BB_LEAVE_SHUTDOWN = 1, ///< hub shutting down; try again later
    BB_LEAVE_TIMEOUT  = 2, ///< hub heard nothing for too long
    BB_LEAVE_KICKED   = 3,
};

enum bb_wire_status {
    BB_WIRE_OK        = 0,
    BB_WIRE_SHORT     = -1, ///< datagram shorter than its contents claim
    BB_WIRE_MAGIC_BAD = -2, ///< not a bandbridge datagram
    BB_WIRE_VERSION_BAD = -3, ///< other protocol version (header still parsed)
    BB_WIRE_TYPE_BAD  = -4, ///< unknown message type
    BB_WIRE_FIELD_BAD = -5, ///< a field is out of range
    BB_WIRE_NO_ROOM   = -6, ///< output buffer too small (writers)
};
const char *bb_wire_strerror(int status);

struct bb_header {
    uint8_t  version;
    uint8_t  type;
    uint16_t flags;
    uint32_t session;
    uint32_t seq;
    uint32_t ts;
};

struct bb_join {
    uint8_t  identity[BB_IDENTITY_SIZE];
    char     name[BB_NAME_MAX];   ///< as the musician typed it (NUL-terminated)
    uint32_t rate;                ///< musician's JACK sample rate
    uint16_t period;              ///< musician's JACK period
    uint8_t  channels;            ///< channels it will send, 1..BB_MAX_CLIENT_CH
    uint8_t  codec;               ///< enum bb_codec wanted both ways
    uint16_t kbps;                ///< Opus kb/s per channel, 0 = default
    uint16_t jitter;              ///< hub-side jitter buffer wish, frames; 0xFFFF = auto
    uint8_t  down_codec;          ///< enum bb_codec wanted hub -> musician; 0 = as codec.
                                  ///< An optional byte after the reserved ones: a hub
                                  ///< that does not know it ignores it and sends codec.
    uint8_t  flags;               ///< BB_JOIN_*; an optional byte after down_codec
                                  ///< (which is then written, 0 or not). Unknown bits
                                  ///< are ignored; an older hub ignores the byte.
};

/// JOIN flags: the musician decodes one-block Opus payloads of a stereo
/// stream as mono (codec.c), so the hub may encode a centred mix once.
#define BB_JOIN_MONO_OK 0x01u
/// JOIN flags: the musician converts sample rates at its end: the hub runs
/// the stream at its own rate (WELCOME's) whatever JOIN's rate says.
#define BB_JOIN_RESAMPLE 0x02u

struct bb_welcome {
    uint32_t rate;                ///< hub sample rate
    uint16_t period;              ///< hub JACK period
    uint8_t  up_codec;            ///< musician -> hub
    uint16_t up_frames;           ///< frames per packet musician -> hub
    uint8_t  down_codec;          ///< hub -> musician
    uint16_t down_frames;         ///< frames per packet hub -> musician
    uint8_t  down_channels;       ///< channels hub -> musician (2)
    char     name[BB_NAME_MAX];   ///< name as the hub will show it
    uint8_t  restored;            ///< 1 if stored settings were applied
};

struct bb_reject {
    uint8_t code;                 ///< enum bb_reject_code
    char    reason[BB_REASON_MAX];
};

struct bb_leave {
    uint8_t code;                 ///< enum bb_leave_code
    char    reason[BB_REASON_MAX];
};

struct bb_ping {
    uint64_t t_ns;                ///< sender's clock, echoed in PONG
    uint32_t jitter_frames;       ///< sender's current receive buffer depth
    uint32_t lost;                ///< packets the sender has lost so far
};

/// AUDIO body: u8 codec, u8 channels, u16 frames, then the codec payload.
struct bb_audio {
    uint8_t        codec;
    uint8_t        channels;
    uint16_t       frames;
    const uint8_t *payload;       ///< points into the datagram
    size_t         payload_len;
};

/// OSC body: u8 controller, then one OSC packet (a message or a bundle, as
/// OSC serialises it: big endian inside) to the end of the datagram.
struct bb_osc {
    uint8_t        controller;    ///< which of the musician's controllers, 0..15
    const uint8_t *packet;        ///< points into the datagram
    size_t         packet_len;    ///< BB_OSC_PACKET_MIN..BB_OSC_PACKET_MAX, a multiple of 4
};

/// Parses the header. Returns BB_WIRE_OK, or an error; on
/// BB_WIRE_VERSION_BAD the header fields are still filled in.
int bb_wire_parse_header(const uint8_t *buf, size_t len, struct bb_header *h);

/// Writers: fill buf (size) with header + body; return the datagram length
/// or BB_WIRE_NO_ROOM.
int bb_wire_write_join(uint8_t *buf, size_t size, const struct bb_header *h, const struct bb_join *m);
int bb_wire_write_welcome(uint8_t *buf, size_t size, const struct bb_header *h, const struct bb_welcome *m);
int bb_wire_write_reject(uint8_t *buf, size_t size, const struct bb_header *h, const struct bb_reject *m);
int bb_wire_write_leave(uint8_t *buf, size_t size, const struct bb_header *h, const struct bb_leave *m);
int bb_wire_write_ping(uint8_t *buf, size_t size, const struct bb_header *h, const struct bb_ping *m);
/// The header alone (h->type, h->flags...): the handshake messages, whose
/// bodies handshake.h writes, and sealed datagrams.
int bb_wire_write_header(uint8_t *buf, size_t size, const struct bb_header *h);
/// Header-only messages (LEAVE_ACK).
int bb_wire_write_empty(uint8_t *buf, size_t size, const struct bb_header *h);
/// Writes the header and the AUDIO body prefix; the caller then writes the
/// codec payload at buf + return value and adds its length.
int bb_wire_write_audio_head(uint8_t *buf, size_t size, const struct bb_header *h,
                             uint8_t codec, uint8_t channels, uint16_t frames);
/// OSC: header, controller and the packet (copied). BB_WIRE_FIELD_BAD when
/// the controller or the packet's length is out of range.
int bb_wire_write_osc(uint8_t *buf, size_t size, const struct bb_header *h, uint8_t controller,
                      const void *packet, size_t packet_len);

/// Readers take the whole datagram (header included) and its length.
/// They accept what the writers write and nothing else, with one exception
/// on purpose: a JOIN whose codec this build does not know (a newer
/// musician's) is read, so the hub can refuse it in words (REJECT CODEC)
/// rather than as malformed; bb_wire_write_join refuses such a codec.
/// test/tools/fuzz_wire.c checks both directions.
int bb_wire_read_join(const uint8_t *buf, size_t len, struct bb_join *m);
int bb_wire_read_welcome(const uint8_t *buf, size_t len, struct bb_welcome *m);
int bb_wire_read_reject(const uint8_t *buf, size_t len, struct bb_reject *m);
int bb_wire_read_leave(const uint8_t *buf, size_t len, struct bb_leave *m);
int bb_wire_read_ping(const uint8_t *buf, size_t len, struct bb_ping *m);
int bb_wire_read_audio(const uint8_t *buf, size_t len, struct bb_audio *m);
/// Checks the controller and the packet's length (not the OSC inside: the
/// OSC parser does that).
int bb_wire_read_osc(const uint8_t *buf, size_t len, struct bb_osc *m);

#endif
