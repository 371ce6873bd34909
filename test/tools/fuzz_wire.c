// SPDX-License-Identifier: GPL-2.0-or-later
// fuzz_wire.c: libFuzzer entry point feeding one datagram to every wire reader (not built by default).
//
//   clang -std=c17 -D_GNU_SOURCE -Iinclude -g -O1 -fsanitize=fuzzer,address,undefined
//         -o /tmp/fuzz_wire test/fuzz_wire.c src/wire.c
//   /tmp/fuzz_wire -max_len=1300 CORPUS_DIR
#include "wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/// Stops the fuzzer on a broken invariant (libFuzzer reports the input).
static void must(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t out[BB_MAX_DATAGRAM];
    struct bb_header h;
    int hs = bb_wire_parse_header(data, size, &h);
    must(hs <= BB_WIRE_OK && hs >= BB_WIRE_FIELD_BAD);
    must(bb_wire_strerror(hs) != NULL);

    struct bb_join j;
    if (bb_wire_read_join(data, size, &j) == BB_WIRE_OK) {
        size_t n = strnlen(j.name, BB_NAME_MAX);
        must(hs == BB_WIRE_OK && n >= 1 && n < BB_NAME_MAX);
        struct bb_join j2;
        int w = bb_wire_write_join(out, sizeof out, &h, &j);
        must(w > 0 && (size_t)w <= size && bb_wire_read_join(out, (size_t)w, &j2) == BB_WIRE_OK);
        must(memcmp(j.identity, j2.identity, sizeof j.identity) == 0 && strcmp(j.name, j2.name) == 0);
    }

    struct bb_welcome wl;
    if (bb_wire_read_welcome(data, size, &wl) == BB_WIRE_OK) {
        must(strnlen(wl.name, BB_NAME_MAX) < BB_NAME_MAX);
        int w = bb_wire_write_welcome(out, sizeof out, &h, &wl);
        must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0);
    }

    struct bb_reject rj;
    if (bb_wire_read_reject(data, size, &rj) == BB_WIRE_OK) {
        must(strnlen(rj.reason, BB_REASON_MAX) < BB_REASON_MAX);
        int w = bb_wire_write_reject(out, sizeof out, &h, &rj);
        must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0);
    }

    struct bb_leave lv;
    if (bb_wire_read_leave(data, size, &lv) == BB_WIRE_OK) {
        must(strnlen(lv.reason, BB_REASON_MAX) < BB_REASON_MAX);
        int w = bb_wire_write_leave(out, sizeof out, &h, &lv);
        must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0);
    }

    struct bb_ping pg;
    if (bb_wire_read_ping(data, size, &pg) == BB_WIRE_OK) {
        int w = bb_wire_write_ping(out, sizeof out, &h, &pg);
        must(w > 0 && (size_t)w == size && memcmp(out, data, size) == 0);
    }

    struct bb_audio a;
    if (bb_wire_read_audio(data, size, &a) == BB_WIRE_OK) {
        must(a.payload == data + BB_WIRE_HEADER_SIZE + 4);
        must(a.payload_len == size - BB_WIRE_HEADER_SIZE - 4);
        // touch every payload byte so ASan checks the bounds
        unsigned sum = 0;
        for (size_t i = 0; i < a.payload_len; i++)
            sum += a.payload[i];
        (void)sum;
    }
    return 0;
}
