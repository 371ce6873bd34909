// SPDX-License-Identifier: GPL-2.0-or-later
// rtcheck.c: LD_PRELOAD checker that reports blocking/allocating calls made inside JACK process callbacks.
//
// Usage:  LD_PRELOAD=build/rtcheck.so [RTCHECK_LOG=file] program ...
//
// No cooperation from the program is needed.  jack_set_process_callback() is
// interposed and the program's callback is wrapped: while the wrapper runs, a
// thread-local flag marks "inside the process callback".  Programs that use
// jack_set_process_thread() are covered too: the window is from the return of
// jack_cycle_wait() (or jack_thread_wait()) to the next jack_cycle_signal() /
// jack_cycle_wait().  Every interposed function below checks the flag; when set
// it records a violation and then calls the real function, so the program
// keeps working.  JACK's own machinery outside the window is never flagged.
//
// Environment:
//   RTCHECK_LOG=FILE      also append every report line to FILE (O_APPEND)
//   RTCHECK_ABORT=1       abort() at the first violation (core dump, debugger)
//   RTCHECK_EXIT_CODE=N   at exit, if there were violations, _exit(N)
//   RTCHECK_BACKTRACE=N   backtrace for the first N violations of each
//                         function (default 1, 0 = none)
//   RTCHECK_QUIET=1       no exit summary from processes that saw neither a
//                         callback nor a violation (helpers under the preload)
//
// Report lines go to fd 2 with raw write syscalls (never through stdio), the
// first RTC_REPORT_MAX per function:
//   rtcheck: VIOLATION malloc in JACK process callback (pid 123, #1)
// and at exit, always (then one "rtcheck:   NAME: COUNT" line per function):
//   rtcheck: 0 violations in 1500 callbacks (pid 123)
// If the program has closed fd 2 by then (coreutils do, in an atexit
// handler), the summary goes to a copy of the original stderr made at load.
//
// Checked: the allocator (malloc, calloc, realloc, reallocarray, free,
// aligned_alloc, posix_memalign, memalign, valloc, pvalloc; C++ new/delete and
// strdup arrive here too); pthread mutex/rwlock/spin locks, condition waits
// and signals, pthread_join, sem_wait & co, C11 mtx/cnd/thrd calls; read,
// write, pread, pwrite, readv, writev, send*, recv*, accept, connect,
// getaddrinfo, open*, creat, close, fsync, fdatasync, mmap, munmap; stdio
// (fopen, fclose, fread, fwrite, fflush, printf family, puts, fputs, putchar,
// fputc, putc) and syslog; sleep, usleep, nanosleep, clock_nanosleep, thrd_sleep,
// poll, ppoll, select, pselect, epoll_wait, epoll_pwait; the _FORTIFY_SOURCE
// variants (__printf_chk, __read_chk, __open_2, ...); SQLite (sqlite3_step,
// _exec, _prepare*, _open*, _close*) and liblo (lo_send = lo_send_internal,
// lo_send_timestamped, lo_send_from, lo_send_message*, lo_send_bundle*,
// lo_server_recv*, lo_server_wait), looked up lazily when those libraries are
// loaded.  The table RTC_LIBC/RTC_LIBS below is the authoritative list.
//
// Not seen: raw syscall() and inline futex code, calls glibc makes to itself
// (stdio's own write(), mtx_lock's mutex), libraries linked statically into the
// program, and JACK callbacks other than process (sync, timebase).
//
// Allowed in the callback (not interposed, or let through): sem_post,
// pthread_mutex_trylock, pthread_mutex_unlock, eventfd_write(), and write() on
// a descriptor this process obtained from eventfd().  A call made from inside
// a flagged function (the malloc inside sqlite3_step, say) is not reported
// again: the report names the call the program made.

#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <syslog.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define RTC_REPORT_MAX 20      // report lines per function; the rest are only counted
#define RTC_MAX_SLOTS  64      // process callbacks / threads we can wrap
#define RTC_ARENA_SIZE (256 * 1024)
#define RTC_EVENTFD_MAX 65536  // eventfd descriptors tracked (bitmap)

#define RTC_TLS _Thread_local __attribute__((tls_model("initial-exec")))

// --- the table of functions --------------------------------------------------
//
// X(name, library): library is the soname to look in when dlsym(RTLD_NEXT)
// fails (the library was loaded RTLD_LOCAL by a dlopen'd module), or 0 for libc.
// C: checked (a call inside the window is a violation).  H: hook or helper,
// resolved the same way but never reported.

#define RTC_LIBC(X) \
    X(malloc) X(calloc) X(realloc) X(reallocarray) X(free) X(aligned_alloc) \
    X(posix_memalign) X(memalign) X(valloc) X(pvalloc) \
    X(pthread_mutex_lock) X(pthread_mutex_timedlock) X(pthread_mutex_clocklock) \
    X(pthread_cond_wait) X(pthread_cond_timedwait) X(pthread_cond_clockwait) \
    X(pthread_cond_signal) X(pthread_cond_broadcast) \
    X(pthread_rwlock_rdlock) X(pthread_rwlock_wrlock) \
    X(pthread_rwlock_timedrdlock) X(pthread_rwlock_timedwrlock) \
    X(pthread_rwlock_clockrdlock) X(pthread_rwlock_clockwrlock) \
    X(pthread_spin_lock) X(pthread_join) \
    X(sem_wait) X(sem_timedwait) X(sem_clockwait) \
    X(mtx_lock) X(mtx_timedlock) X(cnd_wait) X(cnd_timedwait) X(cnd_signal) X(cnd_broadcast) \
    X(thrd_sleep) X(thrd_join) \
    X(read) X(write) X(pread) X(pread64) X(pwrite) X(pwrite64) X(readv) X(writev) \
    X(send) X(sendto) X(sendmsg) X(recv) X(recvfrom) X(recvmsg) \
    X(accept) X(accept4) X(connect) X(getaddrinfo) \
    X(open) X(open64) X(openat) X(openat64) X(creat) X(close) X(fsync) X(fdatasync) \
    X(mmap) X(munmap) \
    X(fopen) X(fopen64) X(fclose) X(fwrite) X(fread) X(fflush) \
    X(printf) X(fprintf) X(vprintf) X(vfprintf) X(dprintf) X(vdprintf) \
    X(puts) X(fputs) X(putchar) X(fputc) X(putc) X(syslog) X(vsyslog) \
    X(sleep) X(usleep) X(nanosleep) X(clock_nanosleep) \
    X(poll) X(ppoll) X(select) X(pselect) X(epoll_wait) X(epoll_pwait) \
    X(__printf_chk) X(__fprintf_chk) X(__vprintf_chk) X(__vfprintf_chk) \
    X(__dprintf_chk) X(__vdprintf_chk) X(__syslog_chk) X(__vsyslog_chk) \
    X(__read_chk) X(__pread_chk) X(__pread64_chk) X(__recv_chk) X(__recvfrom_chk) \
    X(__fread_chk) X(__poll_chk) X(__ppoll_chk) \
    X(__open_2) X(__open64_2) X(__openat_2) X(__openat64_2)

#define RTC_LIBS(X) \
    X(sqlite3_step, "libsqlite3.so.0") X(sqlite3_exec, "libsqlite3.so.0") \
    X(sqlite3_prepare, "libsqlite3.so.0") X(sqlite3_prepare_v2, "libsqlite3.so.0") \
    X(sqlite3_prepare_v3, "libsqlite3.so.0") X(sqlite3_open, "libsqlite3.so.0") \
    X(sqlite3_open_v2, "libsqlite3.so.0") X(sqlite3_close, "libsqlite3.so.0") \
    X(sqlite3_close_v2, "libsqlite3.so.0") \
    X(lo_send_internal, "liblo.so.7") X(lo_send_timestamped_internal, "liblo.so.7") \
    X(lo_send_from_internal, "liblo.so.7") X(lo_send_message, "liblo.so.7") \
    X(lo_send_message_from, "liblo.so.7") X(lo_send_bundle, "liblo.so.7") \
    X(lo_send_bundle_from, "liblo.so.7") X(lo_server_recv, "liblo.so.7") \
    X(lo_server_recv_noblock, "liblo.so.7") X(lo_server_wait, "liblo.so.7")

// Hooks and helpers: resolved, never reported.
#define RTC_HOOKS(X) \
    X(eventfd, 0) \
    X(jack_set_process_callback, "libjack.so.0") X(jack_set_process_thread, "libjack.so.0") \
    X(jack_cycle_wait, "libjack.so.0") X(jack_cycle_signal, "libjack.so.0") \
    X(jack_thread_wait, "libjack.so.0") \
    X(lo_message_new, "liblo.so.7") X(lo_message_free, "liblo.so.7") \
    X(lo_message_add_varargs_internal, "liblo.so.7") X(lo_bundle_new, "liblo.so.7") \
    X(lo_bundle_add_message, "liblo.so.7") X(lo_bundle_free, "liblo.so.7")

enum rtc_fn {
#define RTC_ID1(n) FN_##n,
#define RTC_ID2(n, l) FN_##n,
    RTC_LIBC(RTC_ID1) RTC_LIBS(RTC_ID2)
    FN_CHECKED_COUNT,
    FN_HOOKS_BEFORE = FN_CHECKED_COUNT - 1,
    RTC_HOOKS(RTC_ID2)
    FN_COUNT
};

static const char *const fn_name[FN_COUNT] = {
#define RTC_NAME1(n) [FN_##n] = #n,
#define RTC_NAME2(n, l) [FN_##n] = #n,
    RTC_LIBC(RTC_NAME1) RTC_LIBS(RTC_NAME2) RTC_HOOKS(RTC_NAME2)
};

static const char *const fn_lib[FN_COUNT] = {
#define RTC_LIB2(n, l) [FN_##n] = l,
    RTC_LIBS(RTC_LIB2) RTC_HOOKS(RTC_LIB2)
};

// --- state ---------------------------------------------------------------------

static RTC_TLS int rtc_in_rt;        // inside the process callback window
static RTC_TLS int rtc_in_thread_cb; // inside a jack_set_process_thread() function
static RTC_TLS int rtc_bootstrap;    // resolving the allocator: serve from the arena

static void *_Atomic real_fn[FN_COUNT];
static atomic_ulong fn_count[FN_CHECKED_COUNT];
static atomic_ulong total_violations;
static atomic_ulong total_callbacks;

static int opt_abort;
static int opt_exit_code;
static int opt_quiet;
static unsigned long opt_backtrace = 1;
static int log_fd = -1;
static int err_saved = -1; // stderr as it was at load: used once the program has closed fd 2
static dev_t log_dev;
static ino_t log_ino;

static atomic_uchar eventfd_map[RTC_EVENTFD_MAX / 8];

// --- raw output (no stdio, no allocation) ---------------------------------------

static size_t rtc_cat(char *buf, size_t pos, size_t cap, const char *s)
{
    while (*s && pos + 1 < cap)
        buf[pos++] = *s++;
    buf[pos] = '\0';
    return pos;
}

static size_t rtc_catu(char *buf, size_t pos, size_t cap, unsigned long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && pos + 1 < cap)
        buf[pos++] = tmp[--n];
    buf[pos] = '\0';
    return pos;
}

static void rtc_write_fd(int fd, const char *s, size_t len)
{
    while (len) {
        long r = syscall(SYS_write, fd, s, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        s += r;
        len -= (size_t)r;
    }
}

// The log fd may have been closed (and its number reused) by the program.
static int rtc_log_ok(void)
{
    struct stat st;
    if (log_fd < 0)
        return 0;
    if (syscall(SYS_fstat, log_fd, &st) != 0 || st.st_dev != log_dev || st.st_ino != log_ino) {
        log_fd = -1;
        return 0;
    }
    return 1;
}

// fd 2, or the saved copy of it when the program has closed fd 2 (coreutils
// close stderr in an atexit handler, before our destructor reports).
static int rtc_err_fd(void)
{
    if (err_saved < 0 || syscall(SYS_fcntl, 2, F_GETFD) >= 0)
        return 2;
    return err_saved;
}

static void rtc_emit(const char *s, size_t len)
{
    rtc_write_fd(rtc_err_fd(), s, len);
    if (rtc_log_ok())
        rtc_write_fd(log_fd, s, len);
}

static void rtc_backtrace(void)
{
    void *frames[48];
    int n = backtrace(frames, 48);
    static const char head[] = "rtcheck: backtrace:\n";
    if (n <= 1)
        return;
    int efd = rtc_err_fd();
    rtc_write_fd(efd, head, sizeof head - 1);
    backtrace_symbols_fd(frames + 1, n - 1, efd);
    if (rtc_log_ok()) {
        rtc_write_fd(log_fd, head, sizeof head - 1);
        backtrace_symbols_fd(frames + 1, n - 1, log_fd);
    }
}

static void rtc_fatal(const char *what, const char *name)
{
    char line[256];
    size_t p = rtc_cat(line, 0, sizeof line, "rtcheck: fatal: ");
    p = rtc_cat(line, p, sizeof line, what);
    p = rtc_cat(line, p, sizeof line, name);
    p = rtc_cat(line, p, sizeof line, "\n");
    rtc_emit(line, p);
    abort();
}

// Called with rtc_in_rt already cleared, so whatever the reporting calls
// (backtrace, dladdr) passes straight through the wrappers.
__attribute__((noinline)) static void rtc_violation(enum rtc_fn id)
{
    int saved_errno = errno;
    unsigned long n = atomic_fetch_add_explicit(&fn_count[id], 1, memory_order_relaxed) + 1;
    atomic_fetch_add_explicit(&total_violations, 1, memory_order_relaxed);
    if (n <= RTC_REPORT_MAX || opt_abort) {
        char line[256];
        size_t p = rtc_cat(line, 0, sizeof line, "rtcheck: VIOLATION ");
        p = rtc_cat(line, p, sizeof line, fn_name[id]);
        p = rtc_cat(line, p, sizeof line, " in JACK process callback (pid ");
        p = rtc_catu(line, p, sizeof line, (unsigned long)syscall(SYS_getpid));
        p = rtc_cat(line, p, sizeof line, ", #");
        p = rtc_catu(line, p, sizeof line, n);
        p = rtc_cat(line, p, sizeof line, ")\n");
        rtc_emit(line, p);
        if (n <= opt_backtrace)
            rtc_backtrace();
    } else if (n == RTC_REPORT_MAX + 1) {
        char line[256];
        size_t p = rtc_cat(line, 0, sizeof line, "rtcheck: further ");
        p = rtc_cat(line, p, sizeof line, fn_name[id]);
        p = rtc_cat(line, p, sizeof line, " violations are counted, not shown\n");
        rtc_emit(line, p);
    }
    if (opt_abort) {
        static const char msg[] = "rtcheck: RTCHECK_ABORT set: aborting\n";
        rtc_emit(msg, sizeof msg - 1);
        abort();
    }
    errno = saved_errno;
}

// Every checked wrapper: leave the window for the duration of the real call (so
// the real function's own malloc/lock calls are not reported twice), report.
#define RT_BEGIN(id)                                  \
    const int rtc_was_ = rtc_in_rt;                   \
    if (__builtin_expect(rtc_was_, 0)) {              \
        rtc_in_rt = 0;                                \
        rtc_violation(id);                            \
    }
#define RT_END() (rtc_in_rt = rtc_was_)

// --- bootstrap arena (dlsym may allocate while we look up malloc) ----------------

static _Alignas(64) unsigned char arena[RTC_ARENA_SIZE];
static atomic_size_t arena_used;

static int in_arena(const void *p)
{
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + sizeof arena;
}

static void *arena_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    size_t old = atomic_load(&arena_used), start, end;
    do {
        start = (old + 16 + align - 1) & ~(align - 1); // 16 bytes before start hold the size
        end = start + size;
        if (size > sizeof arena || end > sizeof arena)
            return NULL;
    } while (!atomic_compare_exchange_weak(&arena_used, &old, end));
    memcpy(arena + start - sizeof(size_t), &size, sizeof size);
    return arena + start; // static storage: already zero, never reused
}

static size_t arena_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - sizeof(size_t), sizeof size);
    return size;
}

// --- resolving the real functions --------------------------------------------------

static int is_alloc_fn(enum rtc_fn id)
{
    return id <= FN_pvalloc;
}

static void *rtc_lookup(enum rtc_fn id)
{
    void *p = dlsym(RTLD_NEXT, fn_name[id]);
    if (!p && fn_lib[id]) {
        void *h = dlopen(fn_lib[id], RTLD_LAZY | RTLD_NOLOAD);
        if (h)
            p = dlsym(h, fn_name[id]); // the handle is kept: the library is in use
    }
    if (!p)
        (void)dlerror(); // do not leave our failure for the program's dlerror()
    return p;
}

// Pointers freed while the real free() was still being looked up.
static void *_Atomic deferred[32];
static atomic_uint deferred_n;

static RTC_TLS void *rtc_freeing; // the pointer whose free() is looking up the real free()

static void defer_free(void *p)
{
    if (p == rtc_freeing) // glibc frees the old error string before forgetting it:
        return;           // the outer free() will free it once
    for (size_t i = 0; i < sizeof deferred / sizeof deferred[0]; i++)
        if (atomic_load(&deferred[i]) == p)
            return;
    unsigned i = atomic_fetch_add(&deferred_n, 1);
    if (i < sizeof deferred / sizeof deferred[0])
        atomic_store(&deferred[i], p); // else: leaked, harmless
}

static void drain_deferred(void (*real_free)(void *))
{
    for (size_t i = 0; i < sizeof deferred / sizeof deferred[0]; i++) {
        void *p = atomic_exchange(&deferred[i], NULL);
        if (p)
            real_free(p);
    }
}

// Look the real function up (NULL if it is not there).
static void *rtc_try(enum rtc_fn id)
{
    void *p = atomic_load_explicit(&real_fn[id], memory_order_acquire);
    if (__builtin_expect(p != NULL, 1))
        return p;
    int was_boot = rtc_bootstrap;
    if (is_alloc_fn(id))
        rtc_bootstrap = 1;
    p = rtc_lookup(id);
    rtc_bootstrap = was_boot;
    if (!p)
        return NULL;
    atomic_store_explicit(&real_fn[id], p, memory_order_release);
    if (id == FN_free)
        drain_deferred((void (*)(void *))p);
    return p;
}

// The real function of a wrapper that has been called: it must exist.
static void *rtc_real(enum rtc_fn id)
{
    void *p = rtc_try(id);
    if (__builtin_expect(!p, 0))
        rtc_fatal("cannot find the real ", fn_name[id]);
    return p;
}

#define REAL(name, type) ((type)rtc_real(FN_##name))

// --- generic wrappers ----------------------------------------------------------------

#define WRAP(ret, name, params, args)                     \
    ret name params                                       \
    {                                                     \
        RT_BEGIN(FN_##name);                              \
        ret rtc_r_ = REAL(name, ret(*) params) args;      \
        RT_END();                                         \
        return rtc_r_;                                    \
    }

#define WRAP_VOID(name, params, args)                     \
    void name params                                      \
    {                                                     \
        RT_BEGIN(FN_##name);                              \
        REAL(name, void(*) params) args;                  \
        RT_END();                                         \
    }

// --- allocation -------------------------------------------------------------------

void *malloc(size_t size)
{
    if (__builtin_expect(rtc_bootstrap, 0))
        return arena_alloc(size, 16);
    RT_BEGIN(FN_malloc);
    void *r = REAL(malloc, void *(*)(size_t))(size);
    RT_END();
    return r;
}

void *calloc(size_t n, size_t size)
{
    if (__builtin_expect(rtc_bootstrap, 0)) {
        if (size && n > SIZE_MAX / size)
            return NULL;
        return arena_alloc(n * size, 16);
    }
    RT_BEGIN(FN_calloc);
    void *r = REAL(calloc, void *(*)(size_t, size_t))(n, size);
    RT_END();
    return r;
}

void *realloc(void *old, size_t size)
{
    if (__builtin_expect(old && in_arena(old), 0)) {
        void *p = rtc_bootstrap ? arena_alloc(size, 16) : malloc(size);
        if (p) {
            size_t os = arena_size(old);
            memcpy(p, old, os < size ? os : size);
        }
        return p;
    }
    if (__builtin_expect(rtc_bootstrap, 0)) {
        void *real = atomic_load(&real_fn[FN_realloc]);
        if (!old)
            return arena_alloc(size, 16);
        if (real)
            return ((void *(*)(void *, size_t))real)(old, size);
        errno = ENOMEM; // cannot know the size of old before the allocator is resolved
        return NULL;
    }
    RT_BEGIN(FN_realloc);
    void *r = REAL(realloc, void *(*)(void *, size_t))(old, size);
    RT_END();
    return r;
}

void *reallocarray(void *old, size_t n, size_t size)
{
    if (__builtin_expect(rtc_bootstrap || (old && in_arena(old)), 0)) {
        if (size && n > SIZE_MAX / size) {
            errno = ENOMEM;
            return NULL;
        }
        return realloc(old, n * size);
    }
    RT_BEGIN(FN_reallocarray);
    void *r = REAL(reallocarray, void *(*)(void *, size_t, size_t))(old, n, size);
    RT_END();
    return r;
}

void free(void *p)
{
    if (!p || __builtin_expect(in_arena(p), 0)) // free(NULL) is harmless anywhere
        return;
    // dlsym() frees the previous dlerror() string: while we are looking up the
    // allocator that must not recurse into another lookup.  Free it later.
    if (__builtin_expect(rtc_bootstrap, 0)) {
        void *real = atomic_load(&real_fn[FN_free]);
        if (real)
            ((void (*)(void *))real)(p);
        else
            defer_free(p);
        return;
    }
    RT_BEGIN(FN_free);
    void (*real)(void *) = (void (*)(void *))atomic_load_explicit(&real_fn[FN_free], memory_order_acquire);
    if (__builtin_expect(!real, 0)) {
        rtc_freeing = p;
        real = REAL(free, void (*)(void *));
        rtc_freeing = NULL;
    }
    real(p);
    RT_END();
}

void *aligned_alloc(size_t align, size_t size)
{
    if (__builtin_expect(rtc_bootstrap, 0))
        return arena_alloc(size, align);
    RT_BEGIN(FN_aligned_alloc);
    void *r = REAL(aligned_alloc, void *(*)(size_t, size_t))(align, size);
    RT_END();
    return r;
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (__builtin_expect(rtc_bootstrap, 0)) {
        *out = arena_alloc(size, align);
        return *out ? 0 : ENOMEM;
    }
    RT_BEGIN(FN_posix_memalign);
    int r = REAL(posix_memalign, int (*)(void **, size_t, size_t))(out, align, size);
    RT_END();
    return r;
}

void *memalign(size_t align, size_t size)
{
    if (__builtin_expect(rtc_bootstrap, 0))
        return arena_alloc(size, align);
    RT_BEGIN(FN_memalign);
    void *r = REAL(memalign, void *(*)(size_t, size_t))(align, size);
    RT_END();
    return r;
}

void *valloc(size_t size)
{
    if (__builtin_expect(rtc_bootstrap, 0))
        return arena_alloc(size, 4096);
    RT_BEGIN(FN_valloc);
    void *r = REAL(valloc, void *(*)(size_t))(size);
    RT_END();
    return r;
}

void *pvalloc(size_t size)
{
    if (__builtin_expect(rtc_bootstrap, 0))
        return arena_alloc((size + 4095) & ~(size_t)4095, 4096);
    RT_BEGIN(FN_pvalloc);
    void *r = REAL(pvalloc, void *(*)(size_t))(size);
    RT_END();
    return r;
}

// --- locks and waits -------------------------------------------------------------------

WRAP(int, pthread_mutex_lock, (pthread_mutex_t *m), (m))
WRAP(int, pthread_mutex_timedlock, (pthread_mutex_t *restrict m, const struct timespec *restrict t), (m, t))
WRAP(int, pthread_mutex_clocklock, (pthread_mutex_t *restrict m, clockid_t c, const struct timespec *restrict t), (m, c, t))
WRAP(int, pthread_cond_wait, (pthread_cond_t *restrict c, pthread_mutex_t *restrict m), (c, m))
WRAP(int, pthread_cond_timedwait,
     (pthread_cond_t *restrict c, pthread_mutex_t *restrict m, const struct timespec *restrict t), (c, m, t))
WRAP(int, pthread_cond_clockwait,
     (pthread_cond_t *restrict c, pthread_mutex_t *restrict m, clockid_t k, const struct timespec *restrict t),
     (c, m, k, t))
WRAP(int, pthread_cond_signal, (pthread_cond_t *c), (c))
WRAP(int, pthread_cond_broadcast, (pthread_cond_t *c), (c))
WRAP(int, pthread_rwlock_rdlock, (pthread_rwlock_t *l), (l))
WRAP(int, pthread_rwlock_wrlock, (pthread_rwlock_t *l), (l))
WRAP(int, pthread_rwlock_timedrdlock, (pthread_rwlock_t *restrict l, const struct timespec *restrict t), (l, t))
WRAP(int, pthread_rwlock_timedwrlock, (pthread_rwlock_t *restrict l, const struct timespec *restrict t), (l, t))
WRAP(int, pthread_rwlock_clockrdlock, (pthread_rwlock_t *restrict l, clockid_t c, const struct timespec *restrict t),
     (l, c, t))
WRAP(int, pthread_rwlock_clockwrlock, (pthread_rwlock_t *restrict l, clockid_t c, const struct timespec *restrict t),
     (l, c, t))
WRAP(int, pthread_spin_lock, (pthread_spinlock_t *l), (l))
WRAP(int, pthread_join, (pthread_t t, void **ret), (t, ret))
WRAP(int, sem_wait, (sem_t *s), (s))
WRAP(int, sem_timedwait, (sem_t *restrict s, const struct timespec *restrict t), (s, t))
WRAP(int, sem_clockwait, (sem_t *restrict s, clockid_t c, const struct timespec *restrict t), (s, c, t))

// C11 <threads.h>: glibc implements these with internal calls, not through pthread_*.
WRAP(int, mtx_lock, (mtx_t *m), (m))
WRAP(int, mtx_timedlock, (mtx_t *restrict m, const struct timespec *restrict t), (m, t))
WRAP(int, cnd_wait, (cnd_t *c, mtx_t *m), (c, m))
WRAP(int, cnd_timedwait, (cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict t), (c, m, t))
WRAP(int, cnd_signal, (cnd_t *c), (c))
WRAP(int, cnd_broadcast, (cnd_t *c), (c))
WRAP(int, thrd_sleep, (const struct timespec *req, struct timespec *rem), (req, rem))
WRAP(int, thrd_join, (thrd_t t, int *res), (t, res))

// --- file and socket I/O ------------------------------------------------------------------

static int is_eventfd(int fd)
{
    return fd >= 0 && fd < RTC_EVENTFD_MAX &&
           (atomic_load_explicit(&eventfd_map[fd / 8], memory_order_relaxed) & (1u << (fd % 8)));
}

int eventfd(unsigned int initval, int flags)
{
    int fd = REAL(eventfd, int (*)(unsigned int, int))(initval, flags);
    if (fd >= 0 && fd < RTC_EVENTFD_MAX)
        atomic_fetch_or(&eventfd_map[fd / 8], (unsigned char)(1u << (fd % 8)));
    return fd;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    // Waking another thread through an eventfd is allowed (DESIGN.md rule 1).
    if (__builtin_expect(rtc_in_rt, 0) && is_eventfd(fd))
        return REAL(write, ssize_t(*)(int, const void *, size_t))(fd, buf, n);
    RT_BEGIN(FN_write);
    ssize_t r = REAL(write, ssize_t(*)(int, const void *, size_t))(fd, buf, n);
    RT_END();
    return r;
}

int close(int fd)
{
    RT_BEGIN(FN_close);
    if (fd >= 0 && fd < RTC_EVENTFD_MAX)
        atomic_fetch_and(&eventfd_map[fd / 8], (unsigned char)~(1u << (fd % 8)));
    int r = REAL(close, int (*)(int))(fd);
    RT_END();
    return r;
}

WRAP(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
WRAP(ssize_t, pread, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off))
WRAP(ssize_t, pread64, (int fd, void *buf, size_t n, off64_t off), (fd, buf, n, off))
WRAP(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off), (fd, buf, n, off))
WRAP(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t off), (fd, buf, n, off))
WRAP(ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n))
WRAP(ssize_t, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n))
WRAP(ssize_t, send, (int fd, const void *buf, size_t n, int fl), (fd, buf, n, fl))
WRAP(ssize_t, sendto, (int fd, const void *buf, size_t n, int fl, const struct sockaddr *a, socklen_t al),
     (fd, buf, n, fl, a, al))
WRAP(ssize_t, sendmsg, (int fd, const struct msghdr *m, int fl), (fd, m, fl))
WRAP(ssize_t, recv, (int fd, void *buf, size_t n, int fl), (fd, buf, n, fl))
WRAP(ssize_t, recvfrom, (int fd, void *restrict buf, size_t n, int fl, struct sockaddr *restrict a, socklen_t *restrict al),
     (fd, buf, n, fl, a, al))
WRAP(ssize_t, recvmsg, (int fd, struct msghdr *m, int fl), (fd, m, fl))
WRAP(int, accept, (int fd, struct sockaddr *restrict a, socklen_t *restrict al), (fd, a, al))
WRAP(int, accept4, (int fd, struct sockaddr *restrict a, socklen_t *restrict al, int fl), (fd, a, al, fl))
WRAP(int, connect, (int fd, const struct sockaddr *a, socklen_t al), (fd, a, al))
WRAP(int, getaddrinfo,
     (const char *restrict node, const char *restrict service, const struct addrinfo *restrict hints,
      struct addrinfo **restrict res),
     (node, service, hints, res))
WRAP(int, creat, (const char *path, mode_t mode), (path, mode))
WRAP(int, fsync, (int fd), (fd))
WRAP(int, fdatasync, (int fd), (fd))
WRAP(void *, mmap, (void *addr, size_t len, int prot, int fl, int fd, off_t off), (addr, len, prot, fl, fd, off))
WRAP(int, munmap, (void *addr, size_t len), (addr, len))

static mode_t open_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, unsigned int) : 0;
}

#define WRAP_OPEN(name)                                                             \
    int name(const char *path, int flags, ...)                                      \
    {                                                                               \
        va_list ap;                                                                 \
        va_start(ap, flags);                                                        \
        mode_t mode = open_mode(flags, ap);                                         \
        va_end(ap);                                                                 \
        RT_BEGIN(FN_##name);                                                        \
        int r = REAL(name, int (*)(const char *, int, ...))(path, flags, mode);     \
        RT_END();                                                                   \
        return r;                                                                   \
    }
#define WRAP_OPENAT(name)                                                               \
    int name(int dirfd, const char *path, int flags, ...)                               \
    {                                                                                   \
        va_list ap;                                                                     \
        va_start(ap, flags);                                                            \
        mode_t mode = open_mode(flags, ap);                                             \
        va_end(ap);                                                                     \
        RT_BEGIN(FN_##name);                                                            \
        int r = REAL(name, int (*)(int, const char *, int, ...))(dirfd, path, flags, mode); \
        RT_END();                                                                       \
        return r;                                                                       \
    }
WRAP_OPEN(open)
WRAP_OPEN(open64)
WRAP_OPENAT(openat)
WRAP_OPENAT(openat64)

// --- stdio and syslog -------------------------------------------------------------------------

WRAP(FILE *, fopen, (const char *restrict path, const char *restrict mode), (path, mode))
WRAP(FILE *, fopen64, (const char *restrict path, const char *restrict mode), (path, mode))
WRAP(int, fclose, (FILE *f), (f))
WRAP(size_t, fwrite, (const void *restrict p, size_t s, size_t n, FILE *restrict f), (p, s, n, f))
WRAP(size_t, fread, (void *restrict p, size_t s, size_t n, FILE *restrict f), (p, s, n, f))
WRAP(int, fflush, (FILE *f), (f))
WRAP(int, vfprintf, (FILE *restrict f, const char *restrict fmt, va_list ap), (f, fmt, ap))
WRAP(int, vdprintf, (int fd, const char *restrict fmt, va_list ap), (fd, fmt, ap))
WRAP(int, puts, (const char *s), (s))
WRAP(int, fputs, (const char *restrict s, FILE *restrict f), (s, f))
WRAP(int, fputc, (int c, FILE *f), (c, f))
WRAP(int, putc, (int c, FILE *f), (c, f))
WRAP_VOID(vsyslog, (int pri, const char *fmt, va_list ap), (pri, fmt, ap))

// <stdio.h> may define vprintf() and putchar() as extern inlines: give our
// definitions other C names and the right symbol names.
int rtc_vprintf(const char *restrict fmt, va_list ap) __asm__("vprintf");
int rtc_putchar(int c) __asm__("putchar");
int rtc_vprintf(const char *restrict fmt, va_list ap)
{
    RT_BEGIN(FN_vprintf);
    int r = REAL(vprintf, int (*)(const char *, va_list))(fmt, ap);
    RT_END();
    return r;
}
int rtc_putchar(int c)
{
    RT_BEGIN(FN_putchar);
    int r = REAL(putchar, int (*)(int))(c);
    RT_END();
    return r;
}

int printf(const char *restrict fmt, ...)
{
    RT_BEGIN(FN_printf);
    va_list ap;
    va_start(ap, fmt);
    int r = REAL(vprintf, int (*)(const char *, va_list))(fmt, ap);
    va_end(ap);
    RT_END();
    return r;
}

int fprintf(FILE *restrict f, const char *restrict fmt, ...)
{
    RT_BEGIN(FN_fprintf);
    va_list ap;
    va_start(ap, fmt);
    int r = REAL(vfprintf, int (*)(FILE *, const char *, va_list))(f, fmt, ap);
    va_end(ap);
    RT_END();
    return r;
}

int dprintf(int fd, const char *restrict fmt, ...)
{
    RT_BEGIN(FN_dprintf);
    va_list ap;
    va_start(ap, fmt);
    int r = REAL(vdprintf, int (*)(int, const char *, va_list))(fd, fmt, ap);
    va_end(ap);
    RT_END();
    return r;
}

void syslog(int pri, const char *fmt, ...)
{
    RT_BEGIN(FN_syslog);
    va_list ap;
    va_start(ap, fmt);
    REAL(vsyslog, void (*)(int, const char *, va_list))(pri, fmt, ap);
    va_end(ap);
    RT_END();
}

// --- sleeping and polling -------------------------------------------------------------------------

WRAP(unsigned int, sleep, (unsigned int s), (s))
WRAP(int, usleep, (useconds_t us), (us))
WRAP(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem))
WRAP(int, clock_nanosleep, (clockid_t c, int fl, const struct timespec *req, struct timespec *rem), (c, fl, req, rem))
WRAP(int, poll, (struct pollfd *fds, nfds_t n, int timeout), (fds, n, timeout))
WRAP(int, ppoll, (struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask), (fds, n, t, mask))
WRAP(int, select,
     (int n, fd_set *restrict r, fd_set *restrict w, fd_set *restrict e, struct timeval *restrict t),
     (n, r, w, e, t))
WRAP(int, pselect,
     (int n, fd_set *restrict r, fd_set *restrict w, fd_set *restrict e, const struct timespec *restrict t,
      const sigset_t *restrict mask),
     (n, r, w, e, t, mask))
WRAP(int, epoll_wait, (int fd, struct epoll_event *ev, int n, int timeout), (fd, ev, n, timeout))
WRAP(int, epoll_pwait, (int fd, struct epoll_event *ev, int n, int timeout, const sigset_t *mask),
     (fd, ev, n, timeout, mask))

// --- _FORTIFY_SOURCE variants (what read/printf/... become under -D_FORTIFY_SOURCE) -----------------

int __printf_chk(int flag, const char *fmt, ...);
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);
int __vprintf_chk(int flag, const char *fmt, va_list ap);
int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int __dprintf_chk(int fd, int flag, const char *fmt, ...);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
void __syslog_chk(int pri, int flag, const char *fmt, ...);
void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int fl);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int fl, struct sockaddr *a, socklen_t *al);
size_t __fread_chk(void *p, size_t plen, size_t s, size_t n, FILE *f);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask, size_t fdslen);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

WRAP(int, __vprintf_chk, (int flag, const char *fmt, va_list ap), (flag, fmt, ap))
WRAP(int, __vfprintf_chk, (FILE *f, int flag, const char *fmt, va_list ap), (f, flag, fmt, ap))
WRAP(int, __vdprintf_chk, (int fd, int flag, const char *fmt, va_list ap), (fd, flag, fmt, ap))
WRAP_VOID(__vsyslog_chk, (int pri, int flag, const char *fmt, va_list ap), (pri, flag, fmt, ap))
WRAP(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen), (fd, buf, n, buflen))
WRAP(ssize_t, __pread_chk, (int fd, void *buf, size_t n, off_t off, size_t buflen), (fd, buf, n, off, buflen))
WRAP(ssize_t, __pread64_chk, (int fd, void *buf, size_t n, off64_t off, size_t buflen), (fd, buf, n, off, buflen))
WRAP(ssize_t, __recv_chk, (int fd, void *buf, size_t n, size_t buflen, int fl), (fd, buf, n, buflen, fl))
WRAP(ssize_t, __recvfrom_chk,
     (int fd, void *buf, size_t n, size_t buflen, int fl, struct sockaddr *a, socklen_t *al),
     (fd, buf, n, buflen, fl, a, al))
WRAP(size_t, __fread_chk, (void *p, size_t plen, size_t s, size_t n, FILE *f), (p, plen, s, n, f))
WRAP(int, __poll_chk, (struct pollfd *fds, nfds_t n, int timeout, size_t fdslen), (fds, n, timeout, fdslen))
WRAP(int, __ppoll_chk, (struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask, size_t fdslen),
     (fds, n, t, mask, fdslen))
WRAP(int, __open_2, (const char *path, int flags), (path, flags))
WRAP(int, __open64_2, (const char *path, int flags), (path, flags))
WRAP(int, __openat_2, (int dirfd, const char *path, int flags), (dirfd, path, flags))
WRAP(int, __openat64_2, (int dirfd, const char *path, int flags), (dirfd, path, flags))

int __printf_chk(int flag, const char *fmt, ...)
{
    RT_BEGIN(FN___printf_chk);
    va_list ap;
    va_start(ap, fmt);
    int r = REAL(__vprintf_chk, int (*)(int, const char *, va_list))(flag, fmt, ap);
    va_end(ap);
    RT_END();
    return r;
}

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
    RT_BEGIN(FN___fprintf_chk);
    va_list ap;
    va_start(ap, fmt);
    int r = REAL(__vfprintf_chk, int (*)(FILE *, int, const char *, va_list))(f, flag, fmt, ap);
    va_end(ap);
    RT_END();
    return r;
}

int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    RT_BEGIN(FN___dprintf_chk);
    va_list ap;
    va_start(ap, fmt);
    int r = REAL(__vdprintf_chk, int (*)(int, int, const char *, va_list))(fd, flag, fmt, ap);
    va_end(ap);
    RT_END();
    return r;
}

void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
    RT_BEGIN(FN___syslog_chk);
    va_list ap;
    va_start(ap, fmt);
    REAL(__vsyslog_chk, void (*)(int, int, const char *, va_list))(pri, flag, fmt, ap);
    va_end(ap);
    RT_END();
}

// --- SQLite (own prototypes with opaque pointers: no header needed) ----------------------------------

int sqlite3_step(void *stmt);
int sqlite3_exec(void *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg, char **err);
int sqlite3_prepare(void *db, const char *sql, int n, void **stmt, const char **tail);
int sqlite3_prepare_v2(void *db, const char *sql, int n, void **stmt, const char **tail);
int sqlite3_prepare_v3(void *db, const char *sql, int n, unsigned int fl, void **stmt, const char **tail);
int sqlite3_open(const char *file, void **db);
int sqlite3_open_v2(const char *file, void **db, int fl, const char *vfs);
int sqlite3_close(void *db);
int sqlite3_close_v2(void *db);

WRAP(int, sqlite3_step, (void *stmt), (stmt))
WRAP(int, sqlite3_exec, (void *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg, char **err),
     (db, sql, cb, arg, err))
WRAP(int, sqlite3_prepare, (void *db, const char *sql, int n, void **stmt, const char **tail), (db, sql, n, stmt, tail))
WRAP(int, sqlite3_prepare_v2, (void *db, const char *sql, int n, void **stmt, const char **tail),
     (db, sql, n, stmt, tail))
WRAP(int, sqlite3_prepare_v3, (void *db, const char *sql, int n, unsigned int fl, void **stmt, const char **tail),
     (db, sql, n, fl, stmt, tail))
WRAP(int, sqlite3_open, (const char *file, void **db), (file, db))
WRAP(int, sqlite3_open_v2, (const char *file, void **db, int fl, const char *vfs), (file, db, fl, vfs))
WRAP(int, sqlite3_close, (void *db), (db))
WRAP(int, sqlite3_close_v2, (void *db), (db))

// --- liblo ----------------------------------------------------------------------------------------------
//
// With GCC, lo_send()/lo_send_timestamped()/lo_send_from() are macros for the
// variadic lo_send_internal() & co.  A variadic call cannot be forwarded, so
// these wrappers do what liblo does (lo_message_new, add the arguments from
// the va_list, send, free).  Only difference: when the types and arguments do
// not match, liblo's own version also sets the address's error number.

typedef struct {
    uint32_t sec, frac;
} rtc_lo_timetag;

int lo_send_internal(void *t, const char *file, const int line, const char *path, const char *types, ...);
int lo_send_timestamped_internal(void *t, const char *file, const int line, rtc_lo_timetag ts, const char *path,
                                 const char *types, ...);
int lo_send_from_internal(void *t, void *from, const char *file, const int line, const rtc_lo_timetag ts,
                          const char *path, const char *types, ...);
int lo_send_message(void *t, const char *path, void *msg);
int lo_send_message_from(void *t, void *from, const char *path, void *msg);
int lo_send_bundle(void *t, void *b);
int lo_send_bundle_from(void *t, void *from, void *b);
int lo_server_recv(void *s);
int lo_server_recv_noblock(void *s, int timeout);
int lo_server_wait(void *s, int timeout);

WRAP(int, lo_send_message, (void *t, const char *path, void *msg), (t, path, msg))
WRAP(int, lo_send_message_from, (void *t, void *from, const char *path, void *msg), (t, from, path, msg))
WRAP(int, lo_send_bundle, (void *t, void *b), (t, b))
WRAP(int, lo_send_bundle_from, (void *t, void *from, void *b), (t, from, b))
WRAP(int, lo_server_recv, (void *s), (s))
WRAP(int, lo_server_recv_noblock, (void *s, int timeout), (s, timeout))
WRAP(int, lo_server_wait, (void *s, int timeout), (s, timeout))

// Send path/types/ap to t (from: optional server; ts: NULL = immediately).
static int rtc_lo_send_va(void *t, void *from, int use_from, const rtc_lo_timetag *ts, const char *file, int line,
                          const char *path, const char *types, va_list ap)
{
    void *msg = REAL(lo_message_new, void *(*)(void))();
    void *bundle = ts ? REAL(lo_bundle_new, void *(*)(rtc_lo_timetag))(*ts) : NULL;
    int ret = REAL(lo_message_add_varargs_internal, int (*)(void *, const char *, va_list, const char *, int))(
        msg, types, ap, file, line);
    if (ret == 0) {
        if (bundle) {
            REAL(lo_bundle_add_message, int (*)(void *, const char *, void *))(bundle, path, msg);
            ret = use_from ? REAL(lo_send_bundle_from, int (*)(void *, void *, void *))(t, from, bundle)
                           : REAL(lo_send_bundle, int (*)(void *, void *))(t, bundle);
        } else {
            ret = use_from ? REAL(lo_send_message_from, int (*)(void *, void *, const char *, void *))(t, from, path, msg)
                           : REAL(lo_send_message, int (*)(void *, const char *, void *))(t, path, msg);
        }
    }
    REAL(lo_message_free, void (*)(void *))(msg);
    if (bundle)
        REAL(lo_bundle_free, void (*)(void *))(bundle);
    return ret;
}

int lo_send_internal(void *t, const char *file, const int line, const char *path, const char *types, ...)
{
    RT_BEGIN(FN_lo_send_internal);
    va_list ap;
    va_start(ap, types);
    int r = rtc_lo_send_va(t, NULL, 0, NULL, file, line, path, types, ap);
    va_end(ap);
    RT_END();
    return r;
}

int lo_send_timestamped_internal(void *t, const char *file, const int line, rtc_lo_timetag ts, const char *path,
                                 const char *types, ...)
{
    RT_BEGIN(FN_lo_send_timestamped_internal);
    va_list ap;
    va_start(ap, types);
    int r = rtc_lo_send_va(t, NULL, 0, &ts, file, line, path, types, ap);
    va_end(ap);
    RT_END();
    return r;
}

int lo_send_from_internal(void *t, void *from, const char *file, const int line, const rtc_lo_timetag ts,
                          const char *path, const char *types, ...)
{
    RT_BEGIN(FN_lo_send_from_internal);
    int immediate = ts.sec == 0 && ts.frac == 1; // LO_TT_IMMEDIATE
    va_list ap;
    va_start(ap, types);
    int r = rtc_lo_send_va(t, from, 1, immediate ? NULL : &ts, file, line, path, types, ap);
    va_end(ap);
    RT_END();
    return r;
}

// --- JACK: finding the process callback window -------------------------------------------------------

typedef int (*rtc_process_fn)(uint32_t nframes, void *arg);
typedef void *(*rtc_thread_fn)(void *arg);

struct rtc_slot {
    rtc_process_fn process;
    rtc_thread_fn thread;
    void *arg;
};
static struct rtc_slot slots[RTC_MAX_SLOTS];
static atomic_uint slots_used;

int jack_set_process_callback(void *client, rtc_process_fn cb, void *arg);
int jack_set_process_thread(void *client, rtc_thread_fn fn, void *arg);
uint32_t jack_cycle_wait(void *client);
void jack_cycle_signal(void *client, int status);
uint32_t jack_thread_wait(void *client, int status);

static struct rtc_slot *rtc_new_slot(void)
{
    unsigned i = atomic_fetch_add(&slots_used, 1);
    if (i < RTC_MAX_SLOTS)
        return &slots[i];
    static const char msg[] = "rtcheck: warning: too many JACK callbacks registered, not checking this one\n";
    rtc_emit(msg, sizeof msg - 1);
    return NULL;
}

static int rtc_process(uint32_t nframes, void *arg)
{
    const struct rtc_slot *s = arg;
    int was = rtc_in_rt;
    atomic_fetch_add_explicit(&total_callbacks, 1, memory_order_relaxed);
    rtc_in_rt = 1;
    int r = s->process(nframes, s->arg);
    rtc_in_rt = was;
    return r;
}

int jack_set_process_callback(void *client, rtc_process_fn cb, void *arg)
{
    int (*real)(void *, rtc_process_fn, void *) = REAL(jack_set_process_callback, int (*)(void *, rtc_process_fn, void *));
    struct rtc_slot *s = cb ? rtc_new_slot() : NULL;
    if (!s)
        return real(client, cb, arg);
    s->process = cb;
    s->arg = arg;
    return real(client, rtc_process, s);
}

// jack_set_process_thread(): the program's thread function loops over
// jack_cycle_wait() ... jack_cycle_signal(); the window is in between.
static void *rtc_thread(void *arg)
{
    const struct rtc_slot *s = arg;
    rtc_in_thread_cb = 1;
    void *r = s->thread(s->arg);
    rtc_in_thread_cb = 0;
    rtc_in_rt = 0;
    return r;
}

int jack_set_process_thread(void *client, rtc_thread_fn fn, void *arg)
{
    int (*real)(void *, rtc_thread_fn, void *) = REAL(jack_set_process_thread, int (*)(void *, rtc_thread_fn, void *));
    struct rtc_slot *s = fn ? rtc_new_slot() : NULL;
    if (!s)
        return real(client, fn, arg);
    s->thread = fn;
    s->arg = arg;
    return real(client, rtc_thread, s);
}

static void rtc_cycle_begin(void)
{
    if (rtc_in_thread_cb) {
        atomic_fetch_add_explicit(&total_callbacks, 1, memory_order_relaxed);
        rtc_in_rt = 1;
    }
}

uint32_t jack_cycle_wait(void *client)
{
    rtc_in_rt = 0;
    uint32_t n = REAL(jack_cycle_wait, uint32_t(*)(void *))(client);
    rtc_cycle_begin();
    return n;
}

void jack_cycle_signal(void *client, int status)
{
    rtc_in_rt = 0;
    REAL(jack_cycle_signal, void (*)(void *, int))(client, status);
}

uint32_t jack_thread_wait(void *client, int status)
{
    rtc_in_rt = 0;
    uint32_t n = REAL(jack_thread_wait, uint32_t(*)(void *, int))(client, status);
    rtc_cycle_begin();
    return n;
}

// --- load and exit ------------------------------------------------------------------------------------

static long rtc_env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    return *end ? dflt : v;
}

__attribute__((constructor)) static void rtc_init(void)
{
    // Resolve what we can now, outside any real-time thread.  A missing one
    // (an older glibc without sem_clockwait, no SQLite in this process) is
    // looked up again if its wrapper is ever called.
    for (int id = 0; id < FN_COUNT; id++)
        (void)rtc_try((enum rtc_fn)id);

    opt_abort = rtc_env_long("RTCHECK_ABORT", 0) != 0;
    opt_exit_code = (int)rtc_env_long("RTCHECK_EXIT_CODE", 0);
    opt_quiet = rtc_env_long("RTCHECK_QUIET", 0) != 0;
    long bt = rtc_env_long("RTCHECK_BACKTRACE", 1);
    opt_backtrace = bt < 0 ? 0 : (unsigned long)bt;

    err_saved = (int)syscall(SYS_fcntl, 2, F_DUPFD_CLOEXEC, 500);

    const char *log = getenv("RTCHECK_LOG");
    if (log && *log) {
        int fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            // Keep it out of the way of programs that expect small descriptor numbers.
            int hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 500);
            if (hi >= 0) {
                syscall(SYS_close, fd);
                fd = hi;
            }
            struct stat st;
            if (syscall(SYS_fstat, fd, &st) == 0) {
                log_dev = st.st_dev;
                log_ino = st.st_ino;
                log_fd = fd;
            } else {
                syscall(SYS_close, fd);
            }
        }
        if (log_fd < 0) {
            char line[512];
            size_t p = rtc_cat(line, 0, sizeof line, "rtcheck: warning: cannot open RTCHECK_LOG ");
            p = rtc_cat(line, p, sizeof line, log);
            p = rtc_cat(line, p, sizeof line, "\n");
            rtc_write_fd(2, line, p);
        }
    }

    // backtrace() loads libgcc_s (and allocates) the first time: do it now.
    void *frames[4];
    (void)backtrace(frames, 4);
}

__attribute__((destructor)) static void rtc_fini(void)
{
    unsigned long n = atomic_load(&total_violations);
    unsigned long m = atomic_load(&total_callbacks);
    if (opt_quiet && n == 0 && m == 0)
        return;
    char line[256];
    size_t p = rtc_cat(line, 0, sizeof line, "rtcheck: ");
    p = rtc_catu(line, p, sizeof line, n);
    p = rtc_cat(line, p, sizeof line, " violations in "); // always plural: easy to grep
    p = rtc_catu(line, p, sizeof line, m);
    p = rtc_cat(line, p, sizeof line, " callbacks (pid ");
    p = rtc_catu(line, p, sizeof line, (unsigned long)syscall(SYS_getpid));
    p = rtc_cat(line, p, sizeof line, ")\n");
    rtc_emit(line, p);
    for (int id = 0; id < FN_CHECKED_COUNT; id++) {
        unsigned long c = atomic_load(&fn_count[id]);
        if (!c)
            continue;
        p = rtc_cat(line, 0, sizeof line, "rtcheck:   ");
        p = rtc_cat(line, p, sizeof line, fn_name[id]);
        p = rtc_cat(line, p, sizeof line, ": ");
        p = rtc_catu(line, p, sizeof line, c);
        p = rtc_cat(line, p, sizeof line, "\n");
        rtc_emit(line, p);
    }
    if (n > 0 && opt_exit_code > 0) {
        fflush(NULL); // _exit() skips the stdio flush that exit() would still do
        _exit(opt_exit_code & 0xff);
    }
}
