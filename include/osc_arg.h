// SPDX-License-Identifier: GPL-2.0-or-later
// osc_arg.h: reading the arguments liblo hands a method handler (lo_arg **argv).
//
// lo_arg is a union with 64-bit members, so the compiler may assume every
// lo_arg is 8-byte aligned; but liblo's argv elements point into the
// message's data, where OSC aligns arguments to 4 bytes only. Reading a
// member in place (argv[i]->i, argv[i]->f, &argv[i]->s) is then a member
// access through a misaligned pointer: undefined behaviour, which UBSan
// reports ("member access within misaligned address ... for type 'union
// lo_arg', which requires 8 byte alignment"), harmless on x86 but not
// guaranteed anywhere. These accessors copy the bytes out with memcpy
// instead, and a string is the argument's own bytes, never a member.
// Use them for every argument read; anything that writes an lo_arg must
// copy in the same way.
#ifndef BB_OSC_ARG_H
#define BB_OSC_ARG_H

#include <lo/lo.h>
#include <stdint.h>
#include <string.h>

/// An 'i' argument.
static inline int32_t bb_arg_i32(const lo_arg *a)
{
    int32_t v;
    memcpy(&v, a, sizeof v);
    return v;
}

/// An 'f' argument.
static inline float bb_arg_f32(const lo_arg *a)
{
    float v;
    memcpy(&v, a, sizeof v);
    return v;
}

/// An 'h' argument.
static inline int64_t bb_arg_i64(const lo_arg *a)
{
    int64_t v;
    memcpy(&v, a, sizeof v);
    return v;
}

/// A 'd' argument.
static inline double bb_arg_f64(const lo_arg *a)
{
    double v;
    memcpy(&v, a, sizeof v);
    return v;
}

/// An 's' or 'S' argument: the NUL-terminated string stored in place.
static inline const char *bb_arg_str(const lo_arg *a)
{
    return (const char *)(const void *)a;
}

/// A numeric argument ('i', 'h', 'f' or 'd') as a double: 0, or -1 for any
/// other type (nothing written). Booleans are the caller's to decide.
static inline int bb_arg_number(char type, const lo_arg *a, double *out)
{
    switch (type) {
    case 'i':
        *out = bb_arg_i32(a);
        return 0;
    case 'h':
        *out = (double)bb_arg_i64(a);
        return 0;
    case 'f':
        *out = bb_arg_f32(a);
        return 0;
    case 'd':
        *out = bb_arg_f64(a);
        return 0;
    default:
        return -1;
    }
}

#endif
