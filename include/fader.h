// SPDX-License-Identifier: GPL-2.0-or-later
// fader.h: the fader law, 0..1 fader positions to gain in dB and back.
//
// The law X32 users know (bandbridge-osc(7), FADER LAW): piecewise linear
// in dB, 0.75 is 0 dB, 1.0 is +10 dB, 0 is -inf. Pure functions, any thread.
#ifndef BB_FADER_H
#define BB_FADER_H

/// A fader position (clamped to 0..1; NaN and 0 or less are -inf) in dB.
float bb_fader_to_db(float pos);
/// A gain in dB as a fader position 0..1 (-90 dB or less, and NaN: 0;
/// above +10 dB: 1).
float bb_db_to_fader(float db);

#endif
