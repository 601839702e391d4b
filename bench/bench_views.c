/*
 * bench_views.c - does test-time averaging over the student's training
 * views lift a saved model? The student trains on noisy views of its rows
 * (feature dropout and Gaussian noise, pf_mlp_augment); averaging its
 * probabilities over several such views of each held-out row estimates the
 * prediction the training objective actually fits. If that scored clearly
 * above the clean prediction, the evaluator would be worth teaching it.
 *
 * For each saved model it prints the clean test accuracy and that of the
 * mean probability over 8, 16, 32 and 64 views, at the given drop rate and
 * noise (the recipe's student: 0.2 and 0.1), on the t10k files (DATA picks
 * the directory as in the graphs), then the mean gain over the models.
 * The views come from a fixed seed, so a rerun prints the same figures.
 * Prints figures only.
 *
 *     bench_views [--drop D] [--noise S] MODEL [MODEL...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fashion_data.h"
#include "data/dataset.h"
#include "models/metrics.h"
#include "models/mlp.h"
#include "models/models.h"
#include "models/rng.h"
#include "runtime/error.h"

#define NCOUNTS 4
static const int counts[NCOUNTS] = {8, 16, 32, 64}; /* views at which accuracy is printed */

/* Clean accuracy into acc[0], then the accuracy of the mean over counts[j]
 * views into acc[j + 1]. */
static int score(pf_mlp *m, const pf_dataset *d, float drop, float noise, double *acc)
{
    size_t n = d->n, D = d->dim, C = pf_mlp_classes(m);
    float *p = malloc(n * C * sizeof *p), *sum = calloc(n * C, sizeof *sum), *x = malloc(n * D * sizeof *x);
    int rc = p && sum && x ? 0 : pf_errorf(PF_ENOMEM, "out of memory");
    if (rc == 0) rc = pf_mlp_predict_proba(m, d->x, n, 1.0f, p);
    if (rc == 0) acc[0] = bench_accuracy(p, d->labels, n, C);
    pf_rng rng;
    pf_rng_seed(&rng, 7);
    for (int v = 1, j = 0; rc == 0 && v <= counts[NCOUNTS - 1]; v++) {
        memcpy(x, d->x, n * D * sizeof *x);
        if ((rc = pf_mlp_augment(x, n, D, drop, noise, &rng)) < 0) break;
        if ((rc = pf_mlp_predict_proba(m, x, n, 1.0f, p)) < 0) break;
        for (size_t i = 0; i < n * C; i++)
            sum[i] += p[i]; /* argmax of the sum = argmax of the mean */
        if (v == counts[j]) acc[++j] = bench_accuracy(sum, d->labels, n, C);
    }
    free(p), free(sum), free(x);
    return rc;
}

int main(int argc, char **argv)
{
    float drop = 0.2f, noise = 0.1f;
    int a = 1;
    for (; a + 1 < argc; a += 2) { /* out-of-range values are refused by pf_mlp_augment */
        if (!strcmp(argv[a], "--drop")) drop = strtof(argv[a + 1], NULL);
        else if (!strcmp(argv[a], "--noise")) noise = strtof(argv[a + 1], NULL);
        else break;
    }
    if (a >= argc || !strcmp(argv[a], "--help")) {
        fprintf(stderr, "usage: bench_views [--drop D] [--noise S] MODEL [MODEL...]\n"
                        "  test accuracy of each model, clean and averaged over 8/16/32/64 noisy views\n"
                        "  (feature dropout D, default 0.2; Gaussian noise S, default 0.1), on the t10k\n"
                        "  files (DATA: data directory)\n");
        return a < argc && !strcmp(argv[a], "--help") ? 0 : 2;
    }
    char im[4096];
    pf_models_set_threads(1);
    pf_dataset d = {0};
    pf_mlp *m = NULL;
    double gain[NCOUNTS] = {0};
    int models = 0, rc;
    float power = 0;
    printf("bench_views: views: dropout %g, noise %g\n", (double)drop, (double)noise);
    printf("%-44s  %7s  %7s  %7s  %7s  %7s\n", "model", "clean", "x8", "x16", "x32", "x64");
    for (; a < argc; a++) {
        double acc[NCOUNTS + 1];
        if ((rc = pf_mlp_load(argv[a], &m)) < 0 || (rc = bench_fashion_for_model("t10k", m, &d, &power, im, sizeof im)) < 0)
            goto out;
        if (pf_mlp_input_dim(m) != d.dim) {
            rc = pf_errorf(PF_EMISMATCH, "'%s' takes %u features; the held-out rows have %zu", argv[a],
                           pf_mlp_input_dim(m), d.dim);
            goto out;
        }
        if ((rc = score(m, &d, drop, noise, acc)) < 0) goto out;
        printf("%-44s  %7.4f  %7.4f  %7.4f  %7.4f  %7.4f\n", argv[a], acc[0], acc[1], acc[2], acc[3], acc[4]);
        fflush(stdout);
        for (int j = 0; j < NCOUNTS; j++) gain[j] += acc[j + 1] - acc[0];
        models++;
        pf_mlp_destroy(&m);
    }
    printf("%-44s  %7s  %+7.4f  %+7.4f  %+7.4f  %+7.4f\n", "mean gain over the models", "", gain[0] / models,
           gain[1] / models, gain[2] / models, gain[3] / models);
out:
    if (rc < 0) fprintf(stderr, "bench_views: %s\n", pf_error_last());
    pf_mlp_destroy(&m);
    pf_dataset_fini(&d);
    return rc < 0;
}
