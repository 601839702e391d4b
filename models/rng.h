/*
 * rng.h - a small, seedable, platform-independent random generator.
 *
 *     pf_rng r;
 *     pf_rng_seed(&r, 42);
 *     double u = pf_rng_uniform(&r);      // [0, 1)
 *     double g = pf_rng_normal(&r);       // N(0, 1)
 *
 * xoshiro256** seeded through splitmix64: the same seed gives the same
 * sequence on every machine and libc, which is what makes model
 * initialization, augmentation and test data reproducible. Never rand().
 * Not for cryptography. A pf_rng is a plain value: copy it to fork a stream,
 * embed it anywhere; it owns nothing.
 */
#ifndef PF_RNG_H
#define PF_RNG_H

#include <stdint.h>

typedef struct pf_rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero after pf_rng_seed */
} pf_rng;

/* Seed the generator; any seed (0 included) gives a valid, distinct stream. */
void pf_rng_seed(pf_rng *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t pf_rng_u64(pf_rng *r);

/* Uniform double in [0, 1) with 53 random bits. */
double pf_rng_uniform(pf_rng *r);

/* Uniform integer in [0, n); n > 0. Unbiased (rejection sampling). */
uint64_t pf_rng_below(pf_rng *r, uint64_t n);

/* Standard normal N(0, 1) (Box-Muller; one fresh pair of uniforms per call). */
double pf_rng_normal(pf_rng *r);

#endif
