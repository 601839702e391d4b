/*
 * rng.c - xoshiro256** (Blackman & Vigna, 2018) seeded by splitmix64.
 *
 * Why these two: xoshiro256** is fast, has 256 bits of state and passes
 * BigCrush; splitmix64 turns any 64-bit seed (even 0 or 1) into a
 * well-mixed, non-zero state, as the authors recommend. Everything here is
 * integer arithmetic plus one log/sqrt/cos in pf_rng_normal, so sequences
 * are identical across compilers and machines (the normal deviates up to
 * libm's last-bit accuracy).
 *
 * Deliberately not here: a cached second Box-Muller deviate. Caching would
 * make "copy the struct to fork the stream" subtly stateful; one pair of
 * uniforms per normal is cheap next to any use in this project.
 */
#include "models/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL); /* golden-ratio increment */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void pf_rng_seed(pf_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t pf_rng_u64(pf_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pf_rng_uniform(pf_rng *r)
{
    /* Top 53 bits scaled by 2^-53: every double in [0, 1) on that grid. */
    return (double)(pf_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t pf_rng_below(pf_rng *r, uint64_t n)
{
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = pf_rng_u64(r);
    } while (x >= limit);
    return x % n;
}

double pf_rng_normal(pf_rng *r)
{
    /* 1 - u lies in (0, 1], so the log is finite. */
    double u1 = 1.0 - pf_rng_uniform(r);
    double u2 = pf_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
