// SPDX-License-Identifier: GPL-2.0-or-later
// jack_open.h: opening a JACK client, with what went wrong in our words.
//
// libjack says why it failed on stderr in its own words ("Cannot connect
// to server socket err = No such file or directory", a taken name as a
// server failure in jack2) and in status bits that do not always tell. So
// its messages go to the debug log while a client is opened, and a failure
// is asked about: is there a server at all, does a client of that name
// exist. PipeWire's JACK lets two clients have one name, so an exact name
// is also refused when another client has ports under it. After the open
// libjack's errors are logged as warnings, its informational lines at
// debug level.
#ifndef BB_JACK_OPEN_H
#define BB_JACK_OPEN_H

#include <stddef.h>
#include <jack/jack.h>

enum bb_jack_fail {
    BB_JACK_NO_SERVER = 1, ///< no JACK server to talk to
    BB_JACK_NAME_TAKEN,    ///< exact: a client of that name is there
    BB_JACK_REFUSED,       ///< the server is there and said no
};

/// jack_client_open(name) without starting a server, with JackUseExactName
/// if exact. Returns the client, or NULL with *fail set and one line for
/// the user in err that says what to do; option names the option that
/// sets the name ("--jack-name").
jack_client_t *bb_jack_open(const char *name, int exact, const char *option,
                            enum bb_jack_fail *fail, char *err, size_t err_size);

#endif
