// SPDX-License-Identifier: GPL-2.0-or-later
// test_thread_prio.c: bb_thread_below_network (bb.h): a control thread goes
// SCHED_FIFO two below the JACK client where it may, nice -10 where only
// that is allowed, stays as it is when JACK is not realtime, and says in
// one line on stderr when it got nothing.
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bb.h"
#include "check.h"

/// What one call did to the thread that made it.
struct outcome {
    int jack_prio;         ///< in
    int ret;               ///< bb_thread_below_network's return
    int policy, prio;      ///< the thread's scheduling afterwards
    int nice;              ///< and its nice value
    char said[512];        ///< what it wrote on stderr
};

static void call(struct outcome *o)
{
    fflush(stderr);
    FILE *f = tmpfile();
    int saved = dup(2);
    if (!f || saved < 0 || dup2(fileno(f), 2) < 0) {
        o->ret = -99;
        return;
    }
    o->ret = bb_thread_below_network(o->jack_prio, "test");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(o->said, 1, sizeof o->said - 1, f);
    o->said[n] = '\0';
    fclose(f);
    struct sched_param sp;
    pthread_getschedparam(pthread_self(), &o->policy, &sp);
    o->prio = sp.sched_priority;
    errno = 0;
    o->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

static void *call_thread(void *arg)
{
    call(arg);
    return NULL;
}

/// In a thread of its own: the main thread's scheduling stays as it was.
static struct outcome in_thread(int jack_prio)
{
    struct outcome o = {.jack_prio = jack_prio};
    pthread_t t;
    if (pthread_create(&t, NULL, call_thread, &o) == 0)
        pthread_join(t, NULL);
    else
        o.ret = -98;
    return o;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/// May a thread of this process take SCHED_FIFO 3, and nice -10?
static void *probe_thread(void *arg)
{
    int *may = arg;
    struct sched_param sp = {.sched_priority = 3};
    may[0] = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
    may[1] = setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -10) == 0;
    return NULL;
}

/// In a child process that gave up realtime (RLIMIT_RTPRIO 0) and may lower
/// its nice value to 20 - nice_limit at most: SCHED_FIFO refused, then nice
/// -10 taken (nice_limit 30) or refused too (0), one line saying which.
/// Exit status 0 if so, 77 when this process cannot set such limits.
static int refused_child(rlim_t nice_limit)
{
    struct rlimit none = {0, 0}, nice = {nice_limit, nice_limit};
    if (setrlimit(RLIMIT_RTPRIO, &none) < 0 || setrlimit(RLIMIT_NICE, &nice) < 0)
        return 77;
    if (getuid() == 0 && setuid(65534) < 0) // root's CAP_SYS_NICE ignores the limits
        return 11;
    int nice0 = getpriority(PRIO_PROCESS, 0);
    struct outcome o = {.jack_prio = 5};
    call(&o);
    int ok = o.ret == 0 && o.policy == SCHED_OTHER && lines(o.said) == 1 &&
             strstr(o.said, "test thread: no realtime priority (Operation not permitted)");
    if (nice_limit >= 30)
        ok = ok && o.nice == -10 && strstr(o.said, ": nice -10 instead");
    else
        ok = ok && o.nice == nice0 && strstr(o.said, "nor nice -10 (Permission denied)");
    if (!ok)
        printf("refused (nice limit %d): ret %d policy %d nice %d (was %d), said: %s\n",
               (int)nice_limit, o.ret, o.policy, o.nice, nice0, o.said);
    return ok ? 0 : 1;
}

static void check_refused(rlim_t nice_limit)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = refused_child(nice_limit);
        fflush(stdout);
        _exit(rc);
    }
    int st = -1;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        printf("nice limit %d: cannot set it here, not checked\n", (int)nice_limit);
        return;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    int nice0 = getpriority(PRIO_PROCESS, 0);
    int may[2] = {0, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, probe_thread, may) == 0)
        pthread_join(t, NULL);
    printf("this process may take SCHED_FIFO 3: %s, nice -10: %s\n", may[0] ? "yes" : "no",
           may[1] ? "yes" : "no");

    // JACK not realtime: never ahead of the callback, and quiet.
    struct outcome o = in_thread(1);
    CHECK(o.ret == 0 && o.policy == SCHED_OTHER && o.nice == nice0 && o.said[0] == '\0');
    o = in_thread(0);
    CHECK(o.ret == 0 && o.policy == SCHED_OTHER && o.nice == nice0 && o.said[0] == '\0');

    // A default jackd's clients (5): the network threads at 4, this at 3.
    o = in_thread(5);
    if (may[0])
        CHECK(o.ret == 3 && o.policy == SCHED_FIFO && o.prio == 3 && o.said[0] == '\0');
    else
        CHECK(o.ret == 0 && o.policy == SCHED_OTHER && lines(o.said) == 1 &&
              strstr(o.said, "no realtime priority"));
    o = in_thread(60); // jackd -P 61
    if (may[0])
        CHECK(o.ret == 58 && o.policy == SCHED_FIFO && o.prio == 58);

    // 2: the network threads at 1, nothing realtime below them: a nice value.
    o = in_thread(2);
    CHECK(o.ret == 0 && o.policy == SCHED_OTHER);
    if (may[1])
        CHECK(o.nice == BB_CONTROL_NICE && o.said[0] == '\0');
    else
        CHECK(o.nice == nice0 && lines(o.said) == 1 &&
              strstr(o.said, "none left below the network threads"));

    // The main thread is as it was: only the calling thread changes.
    int policy;
    struct sched_param sp;
    pthread_getschedparam(pthread_self(), &policy, &sp);
    CHECK(policy == SCHED_OTHER && getpriority(PRIO_PROCESS, 0) == nice0);

    // No realtime allowed: a nice value; and nothing allowed at all.
    check_refused(30);
    check_refused(0);
    return check_report("test_thread_prio");
}
