// SPDX-License-Identifier: GPL-2.0-or-later
// bb.h: limits, version and small helpers shared by every module.
#ifndef BB_H
#define BB_H

#include <stddef.h>
#include <semaphore.h>
#include <stdint.h>

#ifndef BB_VERSION
#define BB_VERSION "0.1.0"
#endif

#define BB_DEFAULT_PORT      48100  ///< UDP port of the hub (audio and control)
#define BB_MAX_CLIENTS       128    ///< musicians on one hub (bench/scale.md: a choir)
#define BB_MAX_CLIENT_CH     8      ///< channels a musician may send
#define BB_MAX_LOCAL_CH      16     ///< local JACK inputs of the hub
#define BB_MIX_CH            2      ///< personal and main mixes are stereo
#define BB_NAME_MAX          32     ///< a musician's name, with its NUL
#define BB_MAX_PERIOD        4096   ///< largest JACK period we accept
#define BB_MAX_DATAGRAM      1200   ///< every datagram we send fits in this

/// Every source slot of the mixer: client channels first, then local inputs.
#define BB_MAX_SOURCES (BB_MAX_CLIENTS * BB_MAX_CLIENT_CH + BB_MAX_LOCAL_CH)

/// Marks a function that runs in the JACK process thread: it must not
/// block, allocate, lock, log or do I/O.
#if defined(__clang__) && __clang_major__ >= 20
#define BB_RT __attribute__((nonblocking))
#else
#define BB_RT
#endif

#define BB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/// Monotonic clock in nanoseconds.
uint64_t bb_now_ns(void);

/// Copies src into dst (size dst_size) keeping only characters that are safe
/// in a JACK port name and in a log line: letters, digits, '-', '_', '.'.
/// Others become '_'. Returns the length written (0 means nothing usable).
size_t bb_sanitize_name(char *dst, size_t dst_size, const char *src);

/// Network threads run just below the JACK client's realtime priority
/// (jack_client_real_time_priority()): above everything ordinary, so a
/// packet is handled within the period, yet never in the way of a process
/// callback (SCHED_FIFO at equal priority would run to completion ahead of
/// it). jack_prio <= 1 (JACK not realtime): the thread stays as it is.
/// Returns 0, or -1 when the system refused (what: for the log line).
int bb_thread_below_jack(int jack_prio, const char *what);

/// The nice value a control thread takes when SCHED_FIFO is refused or
/// there is no realtime priority below the network threads to take.
#define BB_CONTROL_NICE (-10)

/// A control thread (the hub's: OSC, joins, the store) runs SCHED_FIFO two
/// below the JACK client's realtime priority: below the network threads
/// and the process callback, which it never delays, yet ahead of every
/// ordinary process, so that a compiler or a flood generator on the same
/// machine cannot keep it waiting for a core. Its callers bound its work
/// per wake-up; what it does that blocks (SQLite's writes, fsync) gives the
/// CPU up as at any priority. Threads it starts afterwards would inherit
/// the policy: call it once every other thread is started.
/// jack_prio <= 1 (JACK not realtime): the thread stays as it is, never
/// ahead of the callback. jack_prio 2 (no priority left below the network
/// threads), or SCHED_FIFO refused (no rtprio limit): nice BB_CONTROL_NICE
/// instead, where allowed; a refusal is one line on stderr (what: for it).
/// Returns the SCHED_FIFO priority taken, or 0.
int bb_thread_below_network(int jack_prio, const char *what);

/// Waits for sem to be posted, or ms milliseconds: a thread woken every
/// period that must still look round now and then when nobody posts.
void bb_sem_wait_ms(sem_t *sem, unsigned ms);

/// Makes every page of p[0..n) resident now (locked where the memlock
/// limit allows): memory the process callback is the first to write would
/// otherwise take a page fault per page on its first lap.
void bb_touch_pages(void *p, size_t n);

/// A musician's file in the state directory: $XDG_STATE_HOME/bandbridge/
/// PREFIX-NAME (or ~/.local/state/...), NAME sanitised. 0, or -1 with err.
int bb_state_file_path(const char *prefix, const char *name, char *path, size_t size, char *err,
                       size_t err_size);

/// Writes a one-line reason into err (err_size bytes), when err is not NULL.
void bb_set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/// Creates the missing directories leading to the file path (mode 0700).
/// Returns 0 or -1 (errno set).
int bb_mkdirs_for(const char *path);

/// dB to linear amplitude (-inf and anything below -120 dB give 0).
float bb_db_to_gain(float db);

/// A decimal unsigned integer in lo..hi, the whole string (no sign, no
/// trailing text, no overflow): 0 with *out set, or -1 (nothing written).
int bb_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);

#endif
