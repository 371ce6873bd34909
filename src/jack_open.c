// SPDX-License-Identifier: GPL-2.0-or-later
// jack_open.c: bb_jack_open (jack_open.h).
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jack_open.h"
#include "log.h"

// While set, libjack's errors are what we are about to say better. Set
// by the thread that opens a client (the control thread, or the hub's JACK
// thread reopening after a server restart), read by libjack's threads.
static _Atomic int quiet;

// ThreadSanitizer builds only (make SAN=thread): jack_client_open maps
// jackd's shared memory in this thread while the notification thread it
// has just started reads the same pages under a lock of its own. The
// ordering is jackd's IPC, which TSan cannot see (libjack is not built
// with it), so it reports a race between two libjack frames with no
// bandbridge frame in either (it_status_tty, about 1 TSan run in 3). The
// open's memory accesses in this thread go unrecorded: libjack's own, and
// our log callbacks above if libjack calls them meanwhile; synchronisation
// (locks, thread starts) is still seen. A suppression cannot be this
// narrow: libjack has no symbols here and its frames are in every process
// callback's stack, so "race:libjack" would hide races in our callbacks.
#if defined(__SANITIZE_THREAD__)
void __tsan_ignore_thread_begin(void); // libtsan's, as its annotations use
void __tsan_ignore_thread_end(void);
#define UNRECORDED_BEGIN() __tsan_ignore_thread_begin()
#define UNRECORDED_END()   __tsan_ignore_thread_end()
#else
#define UNRECORDED_BEGIN() ((void)0)
#define UNRECORDED_END()   ((void)0)
#endif

static jack_client_t *client_open(const char *name, jack_options_t opt, jack_status_t *st)
{
    UNRECORDED_BEGIN();
    jack_client_t *c = jack_client_open(name, opt, st);
    UNRECORDED_END();
    return c;
}

// Called by libjack from any of its threads, as its default printer is.
static void on_error(const char *msg)
{
    if (atomic_load(&quiet))
        bb_debug("JACK: %s", msg);
    else
        bb_warn("JACK: %s", msg);
}

static void on_info(const char *msg)
{
    bb_debug("JACK: %s", msg);
}

// Why the open of name failed, asked of the server with a client of
// another name: there is no server, or a client has the name, or neither.
static enum bb_jack_fail diagnose(const char *name, jack_status_t st)
{
    if (st & JackNameNotUnique)
        return BB_JACK_NAME_TAKEN;
    jack_status_t st2;
    jack_client_t *probe = client_open("bandbridge-check", JackNoStartServer, &st2);
    if (!probe)
        return BB_JACK_NO_SERVER;
    char *uuid = jack_get_uuid_for_client_name(probe, name);
    enum bb_jack_fail why = uuid ? BB_JACK_NAME_TAKEN : BB_JACK_REFUSED;
    jack_free(uuid);
    jack_client_close(probe);
    return why;
}

// Whether a client other than c has ports under name. PipeWire's JACK
// opens a second client of the same name even with JackUseExactName, so
// its ports would mix with another's; c has registered none yet.
static int name_has_ports(jack_client_t *c, const char *name)
{
    char re[2 * 64 + 4];
    size_t n = 0;
    re[n++] = '^';
    for (const char *p = name; *p && n + 4 < sizeof re; p++) {
        if (strchr("\\^$.|?*+()[]{}", *p))
            re[n++] = '\\';
        re[n++] = *p;
    }
    re[n++] = ':';
    re[n] = '\0';
    const char **ports = jack_get_ports(c, re, NULL, 0);
    int found = ports && ports[0];
    jack_free(ports);
    return found;
}

jack_client_t *bb_jack_open(const char *name, int exact, const char *option,
                            enum bb_jack_fail *fail, char *err, size_t err_size)
{
    static atomic_flag set = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&set)) {
        jack_set_error_function(on_error);
        jack_set_info_function(on_info);
    }
    atomic_store(&quiet, 1);
    jack_status_t st = 0;
    jack_client_t *c =
        client_open(name, JackNoStartServer | (exact ? JackUseExactName : 0), &st);
    if (c && exact && name_has_ports(c, name)) {
        jack_client_close(c);
        c = NULL;
        st = JackNameNotUnique;
    }
    if (!c) {
        *fail = diagnose(name, st);
        const char *server = getenv("JACK_DEFAULT_SERVER");
        if (*fail == BB_JACK_NAME_TAKEN)
            snprintf(err, err_size, "the JACK client name '%s' is taken (another bandbridge "
                     "running?); pick another with %s NAME", name, option);
        else if (*fail == BB_JACK_NO_SERVER)
            snprintf(err, err_size, "no JACK server is running%s%s%s: start one (jackd, "
                     "qjackctl), or under PipeWire run bandbridge with pw-jack",
                     server ? " (JACK_DEFAULT_SERVER=" : "", server ? server : "",
                     server ? ")" : "");
        else
            snprintf(err, err_size, "the JACK server refused the client '%s' (status 0x%x)",
                     name, (unsigned)st);
    }
    atomic_store(&quiet, 0);
    return c;
}
