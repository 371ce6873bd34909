// SPDX-License-Identifier: GPL-2.0-or-later
// osc_args.h: what arguments an OSC address takes (a row of osc_api.h),
// and checking a message's against it. Pure functions, any thread.
#ifndef BB_OSC_ARGS_H
#define BB_OSC_ARGS_H

#include <lo/lo.h>
#include <stddef.h>

/// How many of an address's arguments must come.
enum osc_args_form {
    OSC_ARGS_NONE,     ///< none are read: any given are ignored (the lists)
    OSC_ARGS_EXACT,    ///< exactly those specified
    OSC_ARGS_QUERY,    ///< none (a query) or exactly those specified (a set)
    OSC_ARGS_OPTIONAL, ///< any first ones; a final string may also come without numbers before it
};

#define OSC_ARGS_MAX 3

/// One argument an address takes.
struct osc_argspec {
    /// 'f' a number: OSC i, h, f, d, or T (1) and F (0); NaN is refused.
    /// 'i' a whole number, of the same types. 's' a string (s or S).
    char        type;
    const char *name;        ///< as documented ("lease_seconds")
    float       min, max;    ///< numbers: the range, checked before any conversion to int
    const char *values;      ///< strings: those accepted, '|'-separated; NULL: any
    const char *range_error; ///< /error for a number out of range; NULL: "value out of range"
};

/// The arguments of an address.
struct osc_args {
    enum osc_args_form form;
    unsigned           n;   ///< specified
    struct osc_argspec a[OSC_ARGS_MAX];
};

/// Arguments as checked.
struct osc_vals {
    int         query;             ///< none came to an OSC_ARGS_QUERY address
    unsigned    given;             ///< bit i: a[i] came
    float       num[OSC_ARGS_MAX]; ///< numbers, in range
    const char *str[OSC_ARGS_MAX]; ///< strings, in the message
};

/// Checks argc arguments against a: 0 with *v, or -1 with the /error
/// reason in why.
int  osc_args_check(const struct osc_args *a, const char *types, lo_arg **argv, int argc,
                    struct osc_vals *v, char *why, size_t why_size);
/// a as documented: "[i:lease_seconds 1..60] [i:reply_port 0..65535] ...".
void osc_args_format(const struct osc_args *a, char *buf, size_t size);

#endif
