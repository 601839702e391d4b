/*
 * idx.h - IDX files (the MNIST / Fashion-MNIST format), gzip'd or plain.
 *
 * An IDX file is: u8 0, u8 0, u8 element type (0x08 = unsigned byte), u8
 * ndims, ndims big-endian u32 sizes, then the elements in C order. Images are
 * [n, rows, cols] (or any [n, d...]) unsigned bytes, loaded as floats / 255;
 * labels are [n] unsigned bytes.
 *
 *     pf_dataset d;
 *     pf_idx_load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 0, &d);
 */
#ifndef PF_IDX_H
#define PF_IDX_H

#include "data/dataset.h"

/* The value of a pixel byte: byte / 255, in [0, 1]. */
static inline float pf_idx_pixel(uint8_t byte)
{
    return (float)byte / 255.0f;
}

/* Load unsigned-byte images (and, when labels_path is not NULL, the matching
 * idx1 labels, whose count must equal the image count) into *out. `limit` > 0
 * keeps the first `limit` rows. Returns 0, PF_EIO (open/read/truncated),
 * PF_EPARSE (bad magic, element type, dims), PF_EMISMATCH (counts differ),
 * PF_ENOMEM. On failure *out is empty. */
int pf_idx_load(const char *images_path, const char *labels_path, size_t limit, pf_dataset *out);

/* pf_idx_load, keeping the pixels as bytes in out->bytes (out->x NULL). */
int pf_idx_load_bytes(const char *images_path, const char *labels_path, size_t limit, pf_dataset *out);

/* Load idx1 unsigned-byte labels into a new malloc'ed array (caller frees).
 * *n_total, when not NULL, receives the count in the file before `limit`.
 * Same errors. */
int pf_idx_load_labels(const char *path, size_t limit, int32_t **labels, size_t *n,
                       size_t *n_total);

#endif
