/*
 * fashion_data.h - the benches' one way to read Fashion-MNIST: split "train"
 * or "t10k" from DATA (default Debian's /usr/share/datasets/fashion-mnist,
 * as in the graphs), and score probabilities against its labels. Header-only:
 * each bench is its own program.
 */
#ifndef PF_BENCH_FASHION_DATA_H
#define PF_BENCH_FASHION_DATA_H

#include <stdio.h>
#include <stdlib.h>

#include "data/dataset.h"
#include "models/metrics.h"
#include "models/mlp.h"

/* Load split's images and labels into d; the images' path goes to
 * images[size]. Returns pf_dataset_load's result. */
static inline int bench_fashion_load(const char *split, pf_dataset *d, char *images, size_t size)
{
    const char *dir = getenv("DATA") ? getenv("DATA") : "/usr/share/datasets/fashion-mnist";
    char labels[4096];
    snprintf(images, size, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    return pf_dataset_load(images, labels, 0, d);
}

/* Load split into d as model m's features were: power-transformed by the
 * power m records (models/mlp.h). *loaded holds the power d was loaded
 * with (0 = not loaded yet); d is reloaded only when m's differs, so a
 * bench scoring several models reads the file once per power. */
static inline int bench_fashion_for_model(const char *split, const pf_mlp *m, pf_dataset *d, float *loaded,
                                          char *images, size_t size)
{
    float p = pf_mlp_input_power(m);
    if (*loaded == p) return 0;
    pf_dataset_fini(d);
    *loaded = 0;
    int rc = bench_fashion_load(split, d, images, size);
    if (rc < 0 || (rc = pf_dataset_power(d, p)) < 0) return rc;
    *loaded = p;
    return 0;
}

/* Share of the n rows of probabilities p [n, C] whose argmax is the label y. */
static inline double bench_accuracy(const float *p, const int32_t *y, size_t n, size_t C)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += (int32_t)pf_metrics_argmax(p + i * C, C) == y[i];
    return (double)ok / (double)n;
}

#endif
