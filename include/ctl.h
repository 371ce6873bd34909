// SPDX-License-Identifier: GPL-2.0-or-later
// ctl.h: `bandbridge ctl` (one OSC request to a hub from the terminal) and
// `bandbridge status` (the live table of musicians).
#ifndef BB_CTL_H
#define BB_CTL_H

/// `bandbridge ctl [--host H] [--port P] [--timeout S] ADDRESS [ARG...]`;
/// returns 0 on a reply, 1 on an /error reply, 3 when nothing answered,
/// 2 on bad usage.
int bb_ctl_main(int argc, char **argv);

/// `bandbridge status [--host H] [--port P] [--once] [--interval S]`: a
/// live table of the musicians (OSC /status); returns 0, 1 on an /error,
/// 3 when nothing answered, 2 on bad usage.
int bb_status_main(int argc, char **argv);

#endif
