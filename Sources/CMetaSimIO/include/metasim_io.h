#ifndef METASIM_IO_H
#define METASIM_IO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Waits until `fd` is readable or `timeout_ns` nanoseconds have passed (ppoll, which Swift
/// cannot import), with the calling thread's timer slack lowered to `slack_ns` for the wait and
/// restored afterwards (Linux lets a sleep of a normal thread run up to 50 µs late by default).
/// Returns 1 if readable (or in error: the read that follows reports it), 0 on timeout, -1 with
/// errno on failure (EINTR included).
int metasim_wait_readable(int fd, int64_t timeout_ns, int64_t slack_ns);

/// glibc's malloc_trim(0) (malloc.h, which Swift cannot import): returns the free memory of
/// every arena to the system. Returns 1 if some was released.
int metasim_malloc_trim(void);

#ifdef __cplusplus
}
#endif

#endif
