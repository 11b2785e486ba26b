#define _GNU_SOURCE
#include "metasim_io.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int metasim_wait_readable(int fd, int64_t timeout_ns, int64_t slack_ns) {
    struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
    struct timespec t = { .tv_sec = (time_t)(timeout_ns / 1000000000), .tv_nsec = (long)(timeout_ns % 1000000000) };
#ifdef __linux__
    int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    int lowered = old > slack_ns && prctl(PR_SET_TIMERSLACK, (unsigned long)slack_ns, 0, 0, 0) == 0;
    int r = ppoll(&p, 1, &t, NULL);
    int saved = errno;
    if (lowered) prctl(PR_SET_TIMERSLACK, (unsigned long)old, 0, 0, 0);
    errno = saved;
#else
    (void)t;
    (void)slack_ns;
    int r = poll(&p, 1, (int)((timeout_ns + 999999) / 1000000));  /* no ppoll: millisecond resolution */
#endif
    return r;
}
