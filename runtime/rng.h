/*
 * rng.h - the project's one pseudo-random generator: splitmix64 seeding a
 * xoshiro256** state. Small, fast, and identical on every platform, so a
 * seed in a graph file reproduces a run anywhere (rand() does not).
 *
 *     pf_rng r;
 *     pf_rng_seed(&r, 42);
 *     double u = pf_rng_uniform(&r);      // [0, 1)
 *     uint64_t k = pf_rng_below(&r, 10);  // 0..9
 */
#ifndef PF_RNG_H
#define PF_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct pf_rng {
    uint64_t s[4];
} pf_rng;

static inline uint64_t pf_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void pf_rng_seed(pf_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = pf_splitmix64(&seed);
}

static inline uint64_t pf_rng_next(pf_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double pf_rng_uniform(pf_rng *r)
{
    return (double)(pf_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n); n > 0. Lemire's multiply-shift, bias < 2^-64 * n. */
static inline uint64_t pf_rng_below(pf_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)pf_rng_next(r) * n) >> 64);
}

/* Standard normal (Box-Muller; one value per call, the pair's twin discarded for simplicity). */
static inline double pf_rng_normal(pf_rng *r)
{
    double u1 = pf_rng_uniform(r), u2 = pf_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Mix a 64-bit value with a string (node names into seeds): FNV-1a over the bytes, then splitmix. */
static inline uint64_t pf_rng_mix(uint64_t seed, const char *text)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (; *text; text++) h = (h ^ (uint8_t)*text) * 0x100000001b3ull;
    return pf_splitmix64(&h);
}

#endif
