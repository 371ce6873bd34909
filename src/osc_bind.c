// SPDX-License-Identifier: GPL-2.0-or-later
// osc_bind.c: bb_osc_server_open (osc_bind.h), liblo's UDP server on the
// address the user chose.
#include <arpa/inet.h>
#include <errno.h>
#include <lo/lo.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osc_bind.h"

// liblo (0.31) binds its UDP servers to every address, and
// lo_server_new_from_url() takes a host only as a multicast group. So for
// --osc-bind the server is opened on a spare port and our own socket,
// bound where asked, takes the place of liblo's (same descriptor number).
static int bind_osc_socket(lo_server srv, const char *addr, uint16_t port, char *err,
                           size_t err_size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        snprintf(err, err_size, "--osc-bind %s: not an IPv4 address", addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(err, err_size, "cannot open the OSC port %s:%u: %s", addr, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int lo_fd = lo_server_get_socket_fd(srv);
    if (lo_fd < 0 || dup2(fd, lo_fd) < 0) {
        snprintf(err, err_size, "cannot bind the OSC port to %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

lo_server bb_osc_server_open(uint16_t port, const char *bind_addr, lo_err_handler on_error,
                             char *err, size_t err_size)
{
    int bound = bind_addr && bind_addr[0] && strcmp(bind_addr, "0.0.0.0") != 0;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    lo_server srv = lo_server_new_with_proto(bound ? NULL : ps, LO_UDP, on_error);
    if (!srv) {
        snprintf(err, err_size, "cannot open the OSC port %u (in use? change it with --osc-port)",
                 port);
        return NULL;
    }
    if (bound && bind_osc_socket(srv, bind_addr, port, err, err_size) < 0) {
        lo_server_free(srv);
        return NULL;
    }
    return srv;
}
