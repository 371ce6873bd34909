// SPDX-License-Identifier: GPL-2.0-or-later
// join_net.c: the musician's network threads.
//
// receive [rx]: takes datagrams from the hub's address only, hands the
//   session's stream messages to its stream (AUDIO into the jitter buffer,
//   PING answered at once so round trips are honest, PONG timed) and the
//   session's control datagrams (WELCOME, REJECT, LEAVE, LEAVE_ACK, OSC) to
//   main through the event ring.
// send [tx]: woken by the process callback each period, turns what the
//   send ring holds into AUDIO datagrams.
// Both acknowledge the stream snapshot on every loop so main can free an
// old session's stream.
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "counter.h"
#include "join.h"
#include "log.h"

void join_net_send(struct join *j, const uint8_t *buf, int len)
{
    if (len > 0)
        sendto(j->sock, buf, (size_t)len, MSG_DONTWAIT, (const struct sockaddr *)&j->hub.ss,
               j->hub.len);
}

// [rx] Hands a control datagram to main through the event ring.
static void to_main(struct join *j, const uint8_t *buf, size_t len)
{
    struct join_event ev = {.len = (uint16_t)len};
    memcpy(ev.data, buf, len);
    if (bb_ring_write(&j->events, &ev, sizeof ev)) {
        uint64_t one = 1;
        if (write(j->event_fd, &one, sizeof one) < 0) {
            // the control loop polls with a timeout anyway
        }
    }
}

// [rx] A sealed session datagram that is not the stream's (LEAVE,
// LEAVE_ACK, OSC for one of our own controllers): to main. -1: not one.
static int session_to_main(struct join *j, const struct bb_header *hd, const uint8_t *buf,
                           size_t len)
{
    struct bb_osc o;
    if (hd->type == BB_MSG_OSC && bb_wire_read_osc(buf, len, &o) != BB_WIRE_OK)
        return -1;
    if (hd->type != BB_MSG_LEAVE && hd->type != BB_MSG_LEAVE_ACK && hd->type != BB_MSG_OSC)
        return -1;
    to_main(j, buf, len);
    return 0;
}

static void rx_handle(struct join *j, struct join_stream *s, uint8_t *pkt, size_t len)
{
    struct bb_header hd;
    // The header alone: a sealed datagram may be longer than a cleartext one.
    if (bb_wire_parse_header(pkt, len < BB_WIRE_HEADER_SIZE ? len : BB_WIRE_HEADER_SIZE, &hd) !=
        BB_WIRE_OK) {
        bb_counter_inc(&j->foreign);
        return;
    }
    uint64_t now = bb_now_ns();
    switch (hd.type) {
    case BB_MSG_COOKIE:
    case BB_MSG_WELCOME:
    case BB_MSG_REJECT:
        // The handshake: main checks what it can (handshake.h).
        if (len <= BB_MAX_DATAGRAM)
            to_main(j, pkt, len);
        return;
    default:
        break;
    }
    // Everything else belongs to our session and is sealed: a datagram that
    // does not open counts for nothing (not as the hub's keepalive, LEAVE...).
    uint8_t *buf;
    int n;
    if (!s || !s->active || hd.session != s->st.session ||
        (n = bb_stream_unseal(&s->st, pkt, len, &buf)) < 0 ||
        bb_wire_parse_header(buf, (size_t)n, &hd) != BB_WIRE_OK) {
        bb_counter_inc(&j->foreign);
        return;
    }
    len = (size_t)n;
    uint8_t reply[BB_STREAM_REPLY_SIZE];
    int rlen = 0;
    enum bb_stream_rx r = bb_stream_receive(&s->st, &hd, buf, len, now, reply, &rlen);
    if (r == BB_STREAM_RX_REPLY)
        join_net_send(j, reply, rlen);
    if (r == BB_STREAM_RX_BAD || (r == BB_STREAM_RX_SESSION && session_to_main(j, &hd, buf, len) < 0)) {
        bb_counter_inc(&j->foreign);
        return;
    }
    atomic_store(&j->last_heard_ns, now);
}

static void *rx_main(void *arg)
{
    struct join *j = arg;
    bb_thread_below_jack(j->jack_prio, "receive");
    uint8_t buf[2048];
    while (atomic_load(&j->running)) {
        struct pollfd pfd = {.fd = j->sock, .events = POLLIN};
        poll(&pfd, 1, 20);
        struct join_stream *s = bb_snap_get(&j->streams, JOIN_READER_RX);
        for (int i = 0; i < 256; i++) {
            struct bb_addr from;
            from.len = sizeof from.ss;
            ssize_t n = recvfrom(j->sock, buf, sizeof buf, MSG_DONTWAIT,
                                 (struct sockaddr *)&from.ss, &from.len);
            if (n < 0)
                break;
            if (!bb_addr_equal(&from, &j->hub) || (size_t)n > BB_MAX_SEALED) {
                bb_counter_inc(&j->foreign);
                continue;
            }
            rx_handle(j, s, buf, (size_t)n);
        }
    }
    bb_snap_idle(&j->streams, JOIN_READER_RX);
    return NULL;
}

static void *tx_main(void *arg)
{
    struct join *j = arg;
    bb_thread_below_jack(j->jack_prio, "send");
    uint8_t pkt[BB_MAX_SEALED];
    while (atomic_load(&j->running)) {
        // Woken every period; the timeout bounds how long an old stream
        // waits for our acknowledgement when JACK is not running us.
        bb_sem_wait_ms(&j->tx_wake, 20);
        struct join_stream *s = bb_snap_get(&j->streams, JOIN_READER_TX);
        if (!s || !s->active)
            continue;
        for (int n; (n = bb_stream_tx_next(&s->st, pkt, sizeof pkt)) != 0;)
            join_net_send(j, pkt, n);
    }
    bb_snap_idle(&j->streams, JOIN_READER_TX);
    return NULL;
}

int join_net_start(struct join *j, char *err, size_t err_size)
{
    j->sock = bb_udp_open(NULL, 0, j->hub.ss.ss_family, err, err_size);
    if (j->sock < 0)
        return -1;
    j->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    // Room for bursts of relayed OSC (meters, feedback) besides the session's own.
    if (j->event_fd < 0 || sem_init(&j->tx_wake, 0, 0) < 0 ||
        bb_ring_init(&j->events, sizeof(struct join_event) * 128) < 0) {
        snprintf(err, err_size, "cannot set up the network side");
        return -1;
    }
    atomic_store(&j->running, 1);
    if (pthread_create(&j->rx_thread, NULL, rx_main, j) != 0) {
        atomic_store(&j->running, 0);
        snprintf(err, err_size, "cannot start network threads");
        return -1;
    }
    if (pthread_create(&j->tx_thread, NULL, tx_main, j) != 0) {
        atomic_store(&j->running, 0);
        pthread_join(j->rx_thread, NULL);
        snprintf(err, err_size, "cannot start network threads");
        return -1;
    }
    pthread_setname_np(j->rx_thread, "bb-join-rx"); // for top -H, perf, /proc
    pthread_setname_np(j->tx_thread, "bb-join-tx");
    return 0;
}

void join_net_stop(struct join *j)
{
    if (!atomic_exchange(&j->running, 0))
        return;
    sem_post(&j->tx_wake);
    pthread_join(j->rx_thread, NULL);
    pthread_join(j->tx_thread, NULL);
}
