// SPDX-License-Identifier: GPL-2.0-or-later
// osc_match.h: matching an OSC address against an address pattern of the
// hub's table, such as "/mix/<mix>/ch/<source>/gain", and taking out the
// variable segments. Pure functions, any thread.
//
// A pattern is '/'-separated segments; a segment "<name>" is a variable,
// anything else a literal. An address matches when it has as many
// segments, every literal is equal and every variable is a non-empty
// segment no longer than that variable may be (osc_match_var_max). OSC's
// own wildcards ('*', '?', '[...]', '{...}') are not honoured: they are
// ordinary characters of a name.
#ifndef BB_OSC_MATCH_H
#define BB_OSC_MATCH_H

#include <stddef.h>

#define OSC_MATCH_VARS    4  ///< variables in one pattern, at most
#define OSC_MATCH_VAR_MAX 39 ///< the longest a variable may be (a source: name_k)

/// The variable segments of a matched address, in pattern order.
struct osc_match {
    unsigned n;                                  ///< variables taken
    char     var[OSC_MATCH_VARS][OSC_MATCH_VAR_MAX + 1];
};

/// The longest segment the variable called name (as "mix" in "<mix>",
/// len characters) may match: mix and musician names 32 characters, a
/// source 39 (a name and _k), a parameter 15, a slot number 7 (it is
/// checked as a number afterwards); others OSC_MATCH_VAR_MAX. A longer
/// segment does not match: the address is misspelt, not a missing name.
size_t osc_match_var_max(const char *name, size_t len);

/// 1 when path matches pattern, with its variables in *m (m may be NULL);
/// else 0 (*m then undefined).
int osc_match(const char *pattern, const char *path, struct osc_match *m);

/// The length of pattern's literal start, before its first variable: the
/// "family" ("/mix/") an address belongs to when it matches no pattern.
/// The whole length when pattern has no variable.
size_t osc_match_prefix_len(const char *pattern);

#endif
