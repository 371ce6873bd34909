// SPDX-License-Identifier: GPL-2.0-or-later
// codec.h: audio codecs on the wire: raw PCM (16-bit, 24-bit, float) and
// Opus (custom mode with 64-sample frames, or standard Opus with 2.5 ms
// frames). Encoders and decoders are used by the network threads only,
// never by the process callback.
//
// Two source files: codec.c (the payload formats, what each codec allows,
// the encoders) and codec_dec.c (the decoders).
//
// Audio is handed over as interleaved float frames (frames * channels
// values). A "wire frame" is the number of sample frames one packet
// carries; bb_codec_wire_frames() chooses it so that a packet fits
// BB_MAX_DATAGRAM.
//
// Opus note (Debian 12 libopus 1.3.1): custom-mode decoding of 128- or
// 256-sample frames aborts the process, so custom mode always uses
// 64-sample frames, whatever the JACK period.
#ifndef BB_CODEC_H
#define BB_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum bb_codec {
    BB_CODEC_NONE     = 0,
    BB_CODEC_PCM16    = 1, ///< signed 16-bit little endian
    BB_CODEC_PCM24    = 2, ///< signed 24-bit little endian, packed (3 bytes)
    BB_CODEC_FLOAT    = 3, ///< IEEE 754 binary32 little endian
    BB_CODEC_OPUS     = 4, ///< Opus custom mode, 64-sample frames
    BB_CODEC_OPUS_STD = 5, ///< standard Opus, 120 samples (2.5 ms at 48 kHz)
    BB_CODEC_OPUS_LD  = 6, ///< Opus custom mode, 64-sample frames, short overlap (see codec.c)
};
#define BB_CODEC_COUNT 7

/// "pcm16", "pcm24", "float", "opus", "opus-ld", "opus-std" (and "pcm" = "pcm16").
/// Returns 0 and sets *out, or -1 for an unknown name.
int         bb_codec_parse(const char *name, enum bb_codec *out);
const char *bb_codec_name(enum bb_codec c);
int         bb_codec_is_opus(enum bb_codec c);

/// Sample frames per packet for this codec and channel count: Opus custom
/// 64, standard Opus 120 (at 48 kHz; it needs rate 48000, 24000, 16000,
/// 12000 or 8000 and then uses rate/400), PCM the largest of 64, 32, 16 that
/// fits a datagram. Returns 0 when the combination is impossible (e.g.
/// standard Opus at 44100 Hz).
unsigned bb_codec_wire_frames(enum bb_codec c, unsigned rate, unsigned channels);

/// Upper bound of the encoded size of one wire frame.
size_t bb_codec_max_bytes(enum bb_codec c, unsigned channels, unsigned frames);

/// Whether a stream of this codec, rate, channels and frames can be
/// encoded and decoded (bb_encoder_new and bb_decoder_new ask): 0, or -1
/// with a one-line reason in err (which may be NULL).
int bb_codec_check_stream(enum bb_codec c, unsigned rate, unsigned channels, unsigned frames,
                          char *err, size_t err_size);

/// Opus custom mode (CELT), either layout: opus or opus-ld.
static inline int bb_codec_is_custom(enum bb_codec c)
{
    return c == BB_CODEC_OPUS || c == BB_CODEC_OPUS_LD;
}

/// The rate a custom mode is built for: the stream's, or 16000 for
/// opus-ld (codec.c: its shorter overlap).
unsigned bb_codec_mode_rate(enum bb_codec c, unsigned rate);

/// Bytes of one sample of a PCM codec: 2, 3 or 4; 0 for Opus and none.
static inline unsigned bb_codec_pcm_bytes(enum bb_codec c)
{
    switch (c) {
    case BB_CODEC_PCM16: return 2;
    case BB_CODEC_PCM24: return 3;
    case BB_CODEC_FLOAT: return 4;
    default:             return 0;
    }
}

struct bb_encoder;
struct bb_decoder;

/// kbps_per_channel: Opus bit rate per channel (0 = default, 96 kb/s);
/// ignored by PCM. err receives a one-line reason on failure (NULL returned).
struct bb_encoder *bb_encoder_new(enum bb_codec c, unsigned rate, unsigned channels,
                                  unsigned frames, unsigned kbps_per_channel,
                                  char *err, size_t err_size);
void bb_encoder_free(struct bb_encoder *e);
/// Opus encoder complexity, 0 (cheapest) to 10 (default 5); nothing for
/// PCM. The hub lowers it for the personal mixes it encodes, one per
/// musician (measured here for a 64-sample custom frame: 15.5 us at 5-6,
/// 7.5 us at 2, for about 2 dB less SNR on tones). Returns 0 or -1.
int bb_encoder_set_complexity(struct bb_encoder *e, int complexity);
/// Opus, two or more channels: allow (1) one-block "mono" payloads, sent
/// while every channel has been equal to the bit for a while (~21 ms);
/// only for a decoder that understands them (bb_decode does). 0 = never.
void bb_encoder_allow_mono(struct bb_encoder *e, int allow);
/// Makes dst continue exactly where src is: the next frame dst encodes is
/// the one src would have encoded, bit for bit (the hub encodes a mix many
/// musicians share once, and a musician who leaves that group goes on from
/// the shared encoder's state: their decoder never sees a seam). Both of
/// the same codec, rate, channels, frames, mono setting, bit rate and
/// complexity (the state carries the last two). 0, or -1 when they differ.
/// ~5 KB per Opus channel copied; from the thread that owns both.
int bb_encoder_copy_state(struct bb_encoder *dst, const struct bb_encoder *src);
/// The last frame bb_encode() wrote was one block (mono).
int bb_encoder_last_mono(const struct bb_encoder *e);
/// Encodes one wire frame (frames * channels floats, interleaved; values
/// outside [-1, 1] are clipped for integer formats). Returns the byte count
/// written to out, or -1 when out is too small or the codec failed.
int bb_encode(struct bb_encoder *e, const float *pcm, uint8_t *out, size_t out_size);

struct bb_decoder *bb_decoder_new(enum bb_codec c, unsigned rate, unsigned channels,
                                  unsigned frames, char *err, size_t err_size);
void bb_decoder_free(struct bb_decoder *d);
/// Decodes one wire frame into pcm (frames * channels floats). data == NULL
/// asks for concealment of a lost frame (Opus PLC; PCM repeats nothing and
/// fades the last frame to silence). An Opus payload of one block for a
/// stream of several channels is mono: every channel plays it (the first
/// two multi-block frames after it play channel 0 everywhere while the
/// other decoders warm up from a reset, the third fades to them; the first
/// one-block frame after stereo fades the others from their concealment
/// to channel 0). Returns frames
/// written or -1 for a malformed payload (pcm is then silence).
int bb_decode(struct bb_decoder *d, const uint8_t *data, size_t len, float *pcm);
/// The codec a decoder decodes (the jitter buffer conceals PCM itself).
enum bb_codec bb_decoder_codec(const struct bb_decoder *d);

#endif
