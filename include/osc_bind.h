// SPDX-License-Identifier: GPL-2.0-or-later
// osc_bind.h: a liblo UDP server bound to one address, for the hub's OSC
// port and a musician's (`join --osc-port`). Nothing of the hub's OSC
// surface: `join` links this alone.
#ifndef BB_OSC_BIND_H
#define BB_OSC_BIND_H

#include <lo/lo.h>
#include <stddef.h>
#include <stdint.h>

/// [caller's thread] A non-blocking liblo UDP server on port, on every
/// IPv4 address or only on bind_addr (NULL or "" or "0.0.0.0": every one).
/// Returns NULL with err.
lo_server bb_osc_server_open(uint16_t port, const char *bind_addr, lo_err_handler on_error,
                             char *err, size_t err_size);

#endif
