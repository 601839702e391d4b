/*
 * bench_mlp.c - training and inference throughput of the student MLP.
 *
 * Trains a 784-256-10 MLP (the Fashion-MNIST student) with Adam on batches
 * of 128 synthetic samples and prints samples/s, the median of 5 runs of
 * 200 steps each, for 1 BLAS thread and for the machine's default; then
 * the implied time for one pass over 59,000 samples, and inference
 * throughput. Prints figures only; never fails on time.
 *
 * OPENBLAS_CORETYPE is printed as found in the environment and never set:
 * it picks the CPU kernels and so the figures.
 *
 *     ./bench_mlp [steps_per_run]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/mlp.h"
#include "models/models.h"
#include "models/optim.h"
#include "models/rng.h"
#include "runtime/error.h"

#define IN 784
#define HIDDEN 256
#define CLASSES 10
#define BATCH 128
#define RUNS 5
#define POOL 4096 /* distinct samples cycled through, so caches see realistic traffic */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static int bench_train(const float *x, const int32_t *y, int steps, double *median_sps)
{
    const uint32_t sizes[] = {IN, HIDDEN, CLASSES};
    double sps[RUNS];
    for (int r = 0; r < RUNS; r++) {
        pf_mlp *m = NULL;
        pf_optim *opt = NULL;
        pf_optim_config oc = pf_optim_defaults(PF_OPTIM_ADAM);
        if (pf_mlp_new(sizes, 3, 1, &m) < 0 || pf_optim_new(&oc, pf_mlp_nparams(m), &opt) < 0)
            return -1;
        /* One untimed step grows the work buffers. */
        if (pf_mlp_train_step(m, opt, x, BATCH, y, NULL, NULL, 1.0f, NULL) < 0) return -1;
        double t0 = now_s();
        for (int s = 0; s < steps; s++) {
            size_t off = (size_t)(s * BATCH) % (POOL - BATCH);
            if (pf_mlp_train_step(m, opt, x + off * IN, BATCH, y + off, NULL, NULL, 1.0f, NULL) < 0)
                return -1;
        }
        sps[r] = (double)steps * BATCH / (now_s() - t0);
        pf_optim_destroy(&opt);
        pf_mlp_destroy(&m);
    }
    *median_sps = median(sps, RUNS);
    return 0;
}

static int bench_infer(const float *x, double *median_sps)
{
    const uint32_t sizes[] = {IN, HIDDEN, CLASSES};
    pf_mlp *m = NULL;
    float *probs = malloc((size_t)POOL * CLASSES * sizeof *probs);
    if (!probs || pf_mlp_new(sizes, 3, 1, &m) < 0) return -1;
    double sps[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        if (pf_mlp_predict_proba(m, x, POOL, 1.0f, probs) < 0) return -1;
        sps[r] = POOL / (now_s() - t0);
    }
    *median_sps = median(sps, RUNS);
    pf_mlp_destroy(&m);
    free(probs);
    return 0;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 200;
    if (steps < 1) steps = 200;
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("bench_mlp: %d-%d-%d, Adam, batch %d, median of %d runs x %d steps\n", IN, HIDDEN,
           CLASSES, BATCH, RUNS, steps);
    printf("OPENBLAS_CORETYPE=%s\n", core ? core : "(unset: OpenBLAS autodetects)");

    float *x = malloc((size_t)POOL * IN * sizeof *x);
    int32_t *y = malloc(POOL * sizeof *y);
    if (!x || !y) return 1;
    pf_rng rng;
    pf_rng_seed(&rng, 7);
    for (size_t k = 0; k < (size_t)POOL * IN; k++)
        x[k] = (float)pf_rng_uniform(&rng);
    for (int i = 0; i < POOL; i++)
        y[i] = (int32_t)pf_rng_below(&rng, CLASSES);

    int default_threads = pf_models_threads();
    int counts[2] = {1, default_threads};
    for (int t = 0; t < (default_threads > 1 ? 2 : 1); t++) {
        pf_models_set_threads(counts[t]);
        double train, infer;
        if (bench_train(x, y, steps, &train) < 0 || bench_infer(x, &infer) < 0) {
            fprintf(stderr, "bench_mlp: %s\n", pf_error_last());
            return 1;
        }
        printf("threads %d: train %.0f samples/s (%.1f s per 59,000-sample epoch), "
               "inference %.0f samples/s\n",
               counts[t], train, 59000.0 / train, infer);
    }
    free(y);
    free(x);
    return 0;
}
