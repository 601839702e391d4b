/*
 * fvecs.h - .fvecs files (the TEXMEX / ANN-benchmark vector format).
 *
 * Each row is a little-endian int32 dim followed by dim float32; every row
 * must have the same dim. There are no labels in the format.
 *
 *     pf_dataset d;
 *     pf_fvecs_load("sift_base.fvecs", 100000, &d);
 */
#ifndef PF_FVECS_H
#define PF_FVECS_H

#include "data/dataset.h"

/* Load up to `limit` rows (0 = all) as an unlabeled dataset. Returns 0,
 * PF_EIO (open/read, truncated row), PF_EPARSE (dim <= 0, rows of differing
 * dim, NaN/Inf), PF_ENOMEM. On failure *out is empty. */
int pf_fvecs_load(const char *path, size_t limit, pf_dataset *out);

#endif
