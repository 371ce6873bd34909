// SPDX-License-Identifier: GPL-2.0-or-later
// osc_args.c: an OSC address's arguments checked against their
// specification (osc_args.h): count, types, ranges, accepted strings, with
// the /error reason written from the specification itself.
#include <lo/lo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "osc_arg.h"
#include "osc_args.h"

static int is_str(char t)
{
    return t == 's' || t == 'S';
}

// Reads one numeric or boolean argument (T is 1, F is 0); returns 0 or -1.
static int arg_number(char type, const lo_arg *a, float *out)
{
    double d;
    if (type == 'T' || type == 'F')
        d = type == 'T';
    else if (bb_arg_number(type, a, &d) < 0)
        return -1;
    *out = (float)d;
    return 0;
}

static int value_listed(const char *values, const char *s)
{
    size_t len = strlen(s);
    for (const char *v = values; *v;) {
        size_t n = strcspn(v, "|");
        if (n == len && strncmp(v, s, n) == 0)
            return 1;
        v += n + (v[n] == '|');
    }
    return 0;
}

// "expected [i:lease_seconds] [i:reply_port] [s:style]", "expected s:name".
static void args_usage(const struct osc_args *a, char *buf, size_t size)
{
    if (a->form == OSC_ARGS_QUERY && a->n == 1 && a->a[0].type == 'f') {
        snprintf(buf, size, "expected one number");
        return;
    }
    int opt = a->form == OSC_ARGS_OPTIONAL;
    size_t len = (size_t)snprintf(buf, size, "expected");
    for (unsigned i = 0; i < a->n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, " %s%c:%s%s", opt ? "[" : "",
                                a->a[i].type, a->a[i].name, opt ? "]" : "");
}

// `style is "names" or "slots"`.
static void args_values_error(const struct osc_argspec *s, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "%s is ", s->name);
    for (const char *v = s->values; *v && len < size;) {
        size_t n = strcspn(v, "|");
        const char *sep = v == s->values ? "" : v[n] ? ", " : " or ";
        len += (size_t)snprintf(buf + len, size - len, "%s\"%.*s\"", sep, (int)n, v);
        v += n + (v[n] == '|');
    }
}

int osc_args_check(const struct osc_args *a, const char *types, lo_arg **argv, int argc,
                   struct osc_vals *v, char *why, size_t why_size)
{
    memset(v, 0, sizeof *v);
    if (a->form == OSC_ARGS_NONE)
        return 0;
    if (a->form == OSC_ARGS_QUERY && argc == 0) {
        v->query = 1;
        return 0;
    }
    unsigned nspec = a->n;
    int k = argc;
    if (a->form == OSC_ARGS_OPTIONAL && nspec && a->a[nspec - 1].type == 's') {
        // A final string (the style) is known by its type: it may come
        // alone, or after some of the numbers.
        const struct osc_argspec *s = &a->a[--nspec];
        if (argc > 0 && is_str(types[argc - 1])) {
            const char *str = bb_arg_str(argv[argc - 1]);
            if (s->values && !value_listed(s->values, str)) {
                args_values_error(s, why, why_size);
                return -1;
            }
            v->str[nspec] = str;
            v->given |= 1u << nspec;
            k--;
        }
    }
    if (k > (int)nspec || (a->form != OSC_ARGS_OPTIONAL && k != (int)nspec))
        goto usage;
    for (int i = 0; i < k; i++) { // every type first, then the ranges
        const struct osc_argspec *s = &a->a[i];
        if (s->type == 's') {
            if (!is_str(types[i]))
                goto usage;
            v->str[i] = bb_arg_str(argv[i]);
            if (s->values && !value_listed(s->values, v->str[i])) {
                args_values_error(s, why, why_size);
                return -1;
            }
        } else {
            float f;
            if (arg_number(types[i], argv[i], &f) < 0 || isnan(f) ||
                (s->type == 'i' && f != floorf(f)))
                goto usage;
            v->num[i] = f;
        }
        v->given |= 1u << i;
    }
    for (int i = 0; i < k; i++) {
        const struct osc_argspec *s = &a->a[i];
        // In float: a whole number such as 2.5e27 is out of range, not an
        // int conversion's undefined behaviour.
        if (s->type != 's' && !(v->num[i] >= s->min && v->num[i] <= s->max)) {
            snprintf(why, why_size, "%s", s->range_error ? s->range_error : "value out of range");
            return -1;
        }
    }
    return 0;
usage:
    args_usage(a, why, why_size);
    return -1;
}

void osc_args_format(const struct osc_args *a, char *buf, size_t size)
{
    int opt = a->form == OSC_ARGS_OPTIONAL || a->form == OSC_ARGS_QUERY;
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < a->n && len < size; i++) {
        const struct osc_argspec *s = &a->a[i];
        len += (size_t)snprintf(buf + len, size - len, "%s%s%c:%s", i ? " " : "", opt ? "[" : "",
                                s->type, s->name);
        if (len < size && s->type != 's')
            len += (size_t)snprintf(buf + len, size - len, " %g..%g", (double)s->min,
                                    (double)s->max);
        else if (len < size && s->values)
            len += (size_t)snprintf(buf + len, size - len, " %s", s->values);
        if (len < size && opt)
            len += (size_t)snprintf(buf + len, size - len, "]");
    }
}

