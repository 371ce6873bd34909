// SPDX-License-Identifier: GPL-2.0-or-later
// status.h: `bandbridge status`, the live table of the musicians on a hub.
#ifndef BB_STATUS_H
#define BB_STATUS_H

/// `bandbridge status [--host H] [--port P] [--once] [--interval S]`: the
/// musicians (OSC /status) in 80 columns, redrawn in place on a terminal
/// until q, Ctrl-C or a signal; returns 0, 1 on an /error, 3 when nothing
/// answered (--once), 2 on bad usage.
int bb_status_main(int argc, char **argv);

#endif
