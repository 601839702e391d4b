/*
 * clock.h - the two clocks the project reads, in milliseconds.
 *
 * Monotonic time measures intervals (ticks, leases, backoff, rates) and never
 * jumps with the wall clock; wall time stamps what is stored or reported
 * (arrival and decision times in the store), comparable across machines.
 */
#ifndef PF_CLOCK_H
#define PF_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (arbitrary origin). */
static inline uint64_t pf_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds since the Unix epoch. */
static inline uint64_t pf_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleep about ms milliseconds (a signal may cut it short). */
static inline void pf_clock_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
