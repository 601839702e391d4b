/*
 * npy.h - NumPy .npy files (format versions 1, 2 and 3), gzip'd or plain.
 *
 * Features are a 2-D C-order array of '<f4' (read as is) or '<f8' (narrowed
 * to float); labels are a 1-D array of '<i4', '<i8' or '|u1'. Fortran-order
 * arrays and big-endian dtypes are refused with a clear error rather than
 * transposed or swapped: re-save with np.ascontiguousarray(a, '<f4').
 *
 *     pf_dataset d;
 *     pf_npy_load("emb.npy", 0, &d);        // d.labels == NULL
 */
#ifndef PF_NPY_H
#define PF_NPY_H

#include "data/dataset.h"

/* Load a 2-D float array as an unlabeled dataset. `limit` > 0 keeps the first
 * `limit` rows. Returns 0, PF_EIO, PF_EPARSE (not .npy, unsupported dtype,
 * shape or order), PF_ENOMEM. On failure *out is empty. */
int pf_npy_load(const char *path, size_t limit, pf_dataset *out);

/* Load a 1-D integer array as labels (new malloc'ed array, caller frees);
 * values must fit int32 and be >= -1. Same errors. */
int pf_npy_load_labels(const char *path, size_t limit, int32_t **labels, size_t *n);

#endif
