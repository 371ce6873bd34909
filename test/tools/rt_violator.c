// SPDX-License-Identifier: GPL-2.0-or-later
// rt_violator.c: a JACK client that breaks the real-time rules on purpose, to prove rtcheck.so catches it.
//
//   rt_violator [--clean|--malloc|--mutex|--printf|--write|--sleep|--osc|--sqlite|--allowed]
//               [--thread] [--seconds S]
//
// Once per second of audio (on the first cycle, then every sample-rate frames)
// the process callback does the chosen forbidden thing; --clean does nothing
// but fill its output port with silence, --allowed only does what DESIGN.md
// permits (sem_post, eventfd write, mutex trylock, jack_ringbuffer_write).
// --thread delivers the cycles through jack_set_process_thread() instead of a
// process callback.  The server is the one named by JACK_DEFAULT_SERVER.
// Prints one summary line to stdout and exits 0 when it ran to the end.

#include <errno.h>
#include <fcntl.h>
#include <jack/jack.h>
#include <jack/ringbuffer.h>
#include <lo/lo.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum mode { M_CLEAN, M_MALLOC, M_MUTEX, M_PRINTF, M_WRITE, M_SLEEP, M_OSC, M_SQLITE, M_ALLOWED };
static const char *const mode_name[] = { "clean", "malloc", "mutex", "printf", "write",
                                         "sleep", "osc", "sqlite", "allowed" };

static enum mode mode = M_CLEAN;
static jack_client_t *client;
static jack_port_t *port;
static jack_nframes_t rate;
static uint64_t frames_done, next_action; // process thread only
static atomic_ulong callbacks, actions;
static atomic_int shutdown_seen;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned long shared_counter;
static void *volatile sink;        // keeps the compiler from eliding malloc/free
static int devnull = -1;
static int efd = -1;
static sem_t sem;
static jack_ringbuffer_t *ring;
static lo_address osc_to;
static sqlite3_stmt *stmt;

static void violate(void)
{
    switch (mode) {
    case M_CLEAN:
        break;
    case M_MALLOC:
        sink = malloc(64);
        free(sink);
        break;
    case M_MUTEX:
        pthread_mutex_lock(&mutex);
        shared_counter++;
        pthread_mutex_unlock(&mutex);
        break;
    case M_PRINTF:
        printf("rt_violator: tick %lu\n", (unsigned long)atomic_load(&actions));
        break;
    case M_WRITE:
        if (write(devnull, "x", 1) < 0)
            shared_counter++;
        break;
    case M_SLEEP:
        usleep(100);
        break;
    case M_OSC:
        lo_send(osc_to, "/rt_violator/tick", "i", (int)atomic_load(&actions));
        break;
    case M_SQLITE:
        sqlite3_step(stmt);
        sqlite3_reset(stmt);
        break;
    case M_ALLOWED: {
        uint64_t one = 1;
        char byte = 1;
        sem_post(&sem);
        if (write(efd, &one, sizeof one) < 0)
            shared_counter++;
        if (pthread_mutex_trylock(&mutex) == 0) {
            shared_counter++;
            pthread_mutex_unlock(&mutex);
        }
        if (jack_ringbuffer_write_space(ring) > 0)
            jack_ringbuffer_write(ring, &byte, 1);
        break;
    }
    }
}

static void cycle(jack_nframes_t nframes)
{
    float *out = jack_port_get_buffer(port, nframes);
    memset(out, 0, nframes * sizeof *out);
    atomic_fetch_add_explicit(&callbacks, 1, memory_order_relaxed);
    if (frames_done >= next_action) {
        next_action += rate;
        violate();
        atomic_fetch_add_explicit(&actions, 1, memory_order_relaxed);
    }
    frames_done += nframes;
}

static int process(jack_nframes_t nframes, void *arg)
{
    cycle(nframes);
    return 0;
}

static void *process_thread(void *arg)
{
    for (;;) {
        jack_nframes_t n = jack_cycle_wait(client);
        cycle(n);
        jack_cycle_signal(client, 0);
    }
    return NULL;
}

static void on_shutdown(void *arg)
{
    atomic_store(&shutdown_seen, 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int osc_count(const char *path, const char *types, lo_arg **argv, int argc, lo_message m, void *user)
{
    (*(unsigned long *)user)++;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: rt_violator [--clean|--malloc|--mutex|--printf|--write|--sleep|--osc|--sqlite|"
                    "--allowed] [--thread] [--seconds S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double seconds = 2;
    int use_thread = 0;
    for (int i = 1; i < argc; i++) {
        int found = 0;
        for (size_t m = 0; m < sizeof mode_name / sizeof mode_name[0]; m++)
            if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, mode_name[m]) == 0) {
                mode = (enum mode)m;
                found = 1;
            }
        if (found)
            continue;
        if (strcmp(argv[i], "--thread") == 0) {
            use_thread = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0))
                usage();
        } else {
            usage();
        }
    }

    // Everything the callback touches is set up here, outside the callback.
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sem_init(&sem, 0, 0);
    ring = jack_ringbuffer_create(4096);
    lo_server osc_server = NULL;
    unsigned long osc_received = 0;
    sqlite3 *db = NULL;
    if (devnull < 0 || efd < 0 || !ring) {
        fprintf(stderr, "rt_violator: setup failed: %s\n", strerror(errno));
        return 1;
    }
    if (mode == M_OSC) {
        osc_server = lo_server_new_with_proto(NULL, LO_UDP, NULL);
        if (!osc_server) {
            fprintf(stderr, "rt_violator: cannot create an OSC server\n");
            return 1;
        }
        lo_server_add_method(osc_server, "/rt_violator/tick", "i", osc_count, &osc_received);
        char port_str[16];
        snprintf(port_str, sizeof port_str, "%d", lo_server_get_port(osc_server));
        osc_to = lo_address_new("127.0.0.1", port_str);
    }
    if (mode == M_SQLITE) {
        if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT 1", -1, &stmt, NULL) != SQLITE_OK) {
            fprintf(stderr, "rt_violator: sqlite setup failed\n");
            return 1;
        }
    }

    jack_status_t status;
    client = jack_client_open("rt_violator", JackNoStartServer, &status);
    if (!client) {
        fprintf(stderr, "rt_violator: cannot connect to the JACK server (status 0x%x)\n", (unsigned)status);
        return 1;
    }
    rate = jack_get_sample_rate(client);
    port = jack_port_register(client, "out", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    if (!port) {
        fprintf(stderr, "rt_violator: cannot register a port\n");
        return 1;
    }
    jack_on_shutdown(client, on_shutdown, NULL);
    int rc = use_thread ? jack_set_process_thread(client, process_thread, NULL)
                        : jack_set_process_callback(client, process, NULL);
    if (rc != 0 || jack_activate(client) != 0) {
        fprintf(stderr, "rt_violator: cannot set up or activate the client\n");
        return 1;
    }

    double end = now() + seconds;
    while (now() < end && !atomic_load(&shutdown_seen)) {
        if (osc_server) {
            lo_server_recv_noblock(osc_server, 50);
        } else {
            struct timespec ts = { 0, 50 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    jack_deactivate(client);
    jack_client_close(client);
    if (osc_server) // collect what is still queued
        while (lo_server_recv_noblock(osc_server, 100) > 0)
            ;

    printf("rt_violator: mode=%s%s callbacks=%lu actions=%lu", mode_name[mode], use_thread ? " (thread)" : "",
           (unsigned long)atomic_load(&callbacks), (unsigned long)atomic_load(&actions));
    if (mode == M_OSC)
        printf(" osc_received=%lu", osc_received);
    printf("\n");

    if (osc_server) {
        lo_address_free(osc_to);
        lo_server_free(osc_server);
    }
    if (db) {
        sqlite3_finalize(stmt);
        sqlite3_close(db);
    }
    jack_ringbuffer_free(ring);
    sem_destroy(&sem);
    close(efd);
    close(devnull);
    if (atomic_load(&shutdown_seen)) {
        fprintf(stderr, "rt_violator: the JACK server shut down\n");
        return 1;
    }
    return 0;
}
