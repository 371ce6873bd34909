// SPDX-License-Identifier: GPL-2.0-or-later
// fader.c: the fader law (fader.h). Its own module so that anything that
// shows a fader (the hub's OSC, a musician's tools) shares one law without
// linking the hub's OSC code.
#include <math.h>

#include "fader.h"

float bb_fader_to_db(float p)
{
    if (!(p > 0.0f))
        return -INFINITY;
    if (p > 1.0f)
        p = 1.0f;
    if (p >= 0.5f)
        return 40.0f * p - 30.0f;
    if (p >= 0.25f)
        return 80.0f * p - 50.0f;
    if (p >= 0.0625f)
        return 160.0f * p - 70.0f;
    return 480.0f * p - 90.0f;
}

float bb_db_to_fader(float db)
{
    if (!(db > -90.0f))
        return 0.0f;
    if (db >= -10.0f)
        return fminf(1.0f, (db + 30.0f) / 40.0f);
    if (db >= -30.0f)
        return (db + 50.0f) / 80.0f;
    if (db >= -60.0f)
        return (db + 70.0f) / 160.0f;
    return (db + 90.0f) / 480.0f;
}
