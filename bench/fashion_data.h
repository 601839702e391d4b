/*
 * fashion_data.h - the benches' one way to read Fashion-MNIST: split "train"
 * or "t10k" from DATA (default Debian's /usr/share/datasets/fashion-mnist,
 * as in the graphs). Header-only: each bench is its own program.
 */
#ifndef PF_BENCH_FASHION_DATA_H
#define PF_BENCH_FASHION_DATA_H

#include <stdio.h>
#include <stdlib.h>

#include "data/dataset.h"

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

#endif
