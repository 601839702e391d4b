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

/* Share of the n rows of probabilities p [n, C] whose argmax is the label y. */
static inline double bench_accuracy(const float *p, const int32_t *y, size_t n, size_t C)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += (int32_t)pf_metrics_argmax(p + i * C, C) == y[i];
    return (double)ok / (double)n;
}

#endif
