/*
 * bench_ensemble.c - do independently trained students make different
 * mistakes? If averaging their predictions scored well above any one of
 * them, an ensemble teacher (several students, one teacher averaging their
 * probabilities) would make better pseudo-labels; if it barely moves, the
 * students share their errors and an ensemble is not worth building.
 *
 * For each saved model in turn it prints the model's own test accuracy and
 * that of the mean probability over it and every model before it, on the
 * held-out set (Fashion-MNIST's t10k files; DATA picks the directory as in
 * the graphs). Prints figures only.
 *
 *     bench_ensemble MODEL [MODEL...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fashion_data.h"
#include "data/dataset.h"
#include "models/metrics.h"
#include "models/mlp.h"
#include "models/models.h"
#include "runtime/error.h"

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: bench_ensemble MODEL [MODEL...]\n"
                        "  test accuracy of each model and of the mean of its and the earlier models'\n"
                        "  probabilities, on the t10k files (DATA: data directory)\n");
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    char im[4096];
    pf_models_set_threads(1);

    pf_dataset d = {0};
    pf_mlp *m = NULL;
    float *p = NULL, *sum = NULL; /* one model's probabilities, and their running sum: [n, C] */
    size_t C = 0;
    int rc;
    float power = 0;
    for (int k = 1; k < argc; k++) {
        if ((rc = pf_mlp_load(argv[k], &m)) < 0) goto out;
        if (C && pf_mlp_input_power(m) != power) {
            rc = pf_errorf(PF_EMISMATCH, "'%s' was trained on features with power=%g, the models before it %g",
                           argv[k], (double)pf_mlp_input_power(m), (double)power);
            goto out;
        }
        if ((rc = bench_fashion_for_model("t10k", m, &d, &power, im, sizeof im)) < 0) goto out;
        if (k == 1) {
            printf("bench_ensemble: %zu held-out rows from %s (power %g)\n", d.n, im, (double)power);
            printf("%-48s  %8s  %8s\n", "model", "alone", "ensemble");
        }
        if (pf_mlp_input_dim(m) != d.dim || (C && pf_mlp_classes(m) != C)) {
            rc = pf_errorf(PF_EMISMATCH, "'%s' takes %u features and %u classes; expected %zu and %zu", argv[k],
                           pf_mlp_input_dim(m), pf_mlp_classes(m), d.dim, C ? C : (size_t)pf_mlp_classes(m));
            goto out;
        }
        if (!C) {
            C = pf_mlp_classes(m);
            p = malloc(d.n * C * sizeof *p), sum = calloc(d.n * C, sizeof *sum);
            if (!p || !sum) {
                rc = pf_errorf(PF_ENOMEM, "out of memory");
                goto out;
            }
        }
        if ((rc = pf_mlp_predict_proba(m, d.x, d.n, 1.0f, p)) < 0) goto out;
        for (size_t i = 0; i < d.n * C; i++)
            sum[i] += p[i]; /* argmax of the sum = argmax of the mean */
        printf("%-48s  %8.4f  %8.4f\n", argv[k], bench_accuracy(p, d.labels, d.n, C), bench_accuracy(sum, d.labels, d.n, C));
        pf_mlp_destroy(&m);
    }
out:
    if (rc < 0) fprintf(stderr, "bench_ensemble: %s\n", pf_error_last());
    free(p), free(sum);
    pf_mlp_destroy(&m);
    pf_dataset_fini(&d);
    return rc < 0;
}
