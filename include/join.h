// SPDX-License-Identifier: GPL-2.0-or-later
// join.h: `bandbridge join`, the musician's side.
#ifndef BB_JOIN_H
#define BB_JOIN_H

/// `bandbridge join HOST[:PORT] --name NAME ...`; returns the exit status.
int bb_join_main(int argc, char **argv);

#endif
