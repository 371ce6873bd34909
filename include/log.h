// SPDX-License-Identifier: GPL-2.0-or-later
// log.h: one-line log messages for non-realtime threads. Never call from
// the process callback: it reports through counters instead.
#ifndef BB_LOG_H
#define BB_LOG_H

enum bb_log_level { BB_LOG_ERR = 3, BB_LOG_WARN = 4, BB_LOG_INFO = 6, BB_LOG_DEBUG = 7 };

/// Messages above this level are dropped (default INFO; BB_LOG=debug env).
void bb_log_set_level(enum bb_log_level level);
void bb_log(enum bb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/// Prints the summaries of kinds of lines held back (log.c: at most 64
/// lines of one kind a second) whose second is over. Call it now and then
/// (the hub's control loop does, on its sweep).
void bb_log_flush(void);

#define bb_err(...)   bb_log(BB_LOG_ERR, __VA_ARGS__)
#define bb_warn(...)  bb_log(BB_LOG_WARN, __VA_ARGS__)
#define bb_info(...)  bb_log(BB_LOG_INFO, __VA_ARGS__)
#define bb_debug(...) bb_log(BB_LOG_DEBUG, __VA_ARGS__)

#endif
