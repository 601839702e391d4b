/*
 * idx.c - IDX images and labels (MNIST's format), gzip'd or plain.
 *
 * Layout: two zero bytes, an element-type byte, a dimension-count byte, then
 * that many big-endian u32 sizes and the elements in C order. Only unsigned
 * bytes (type 0x08) are read: that is what MNIST-style image and label files
 * hold, and a float IDX file is rare enough to refuse clearly rather than
 * half-support. Sizes are decoded byte by byte, so host byte order never
 * matters.
 *
 * The header's sizes are untrusted: their product is overflow-checked, and the
 * pixel read grows its buffer only as bytes arrive (data/gzfile.h), so a
 * corrupt header gives "truncated: expected N bytes of pixels, got M", not an
 * enormous allocation. Images and labels must agree on the count in their
 * headers (not just on the rows kept under a limit), which catches a
 * train-images file paired with t10k-labels.
 *
 * Pixels become x = byte / 255, so x lies in [0, 1] exactly as most MNIST
 * pipelines scale it; no mean/std standardization here (the model does that).
 */
#include "data/idx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/gzfile.h"
#include "runtime/error.h"

#define IDX_UBYTE 0x08 /* element type: unsigned byte */
#define IDX_MAX_DIMS 8 /* more dimensions than any image file has; bounds the header read */

typedef struct idx_header {
    int ndims;
    uint32_t dims[IDX_MAX_DIMS];
} idx_header;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read and check the magic and the sizes; `what` is "images" or "labels". */
static int read_header(gzFile f, const char *path, const char *what, int min_dims, int max_dims,
                       idx_header *h)
{
    uint8_t magic[4], raw[4 * IDX_MAX_DIMS];
    int rc = pf_gzfile_read_exact(f, path, magic, sizeof magic, "IDX header");
    if (rc < 0) return rc;
    if (magic[0] != 0 || magic[1] != 0)
        return pf_errorf(PF_EPARSE, "'%s': bad magic %02x %02x %02x %02x: not an IDX file", path,
                         magic[0], magic[1], magic[2], magic[3]);
    if (magic[2] != IDX_UBYTE)
        return pf_errorf(PF_EPARSE,
                         "'%s': IDX element type 0x%02x not supported (only unsigned byte, 0x08)",
                         path, magic[2]);
    h->ndims = magic[3];
    if (h->ndims < min_dims || h->ndims > max_dims)
        return pf_errorf(PF_EPARSE, "'%s': %s have %d dimensions, expected %d%s", path, what,
                         h->ndims, min_dims, max_dims > min_dims ? " or more" : "");
    if ((rc = pf_gzfile_read_exact(f, path, raw, 4 * (size_t)h->ndims, "IDX sizes")) < 0) return rc;
    for (int i = 0; i < h->ndims; i++)
        h->dims[i] = be32(raw + 4 * i);
    return 0;
}

int pf_idx_load_labels(const char *path, size_t limit, int32_t **labels, size_t *n, size_t *n_total)
{
    *labels = NULL;
    *n = 0;
    gzFile f = NULL;
    uint8_t *bytes = NULL;
    idx_header h;
    int rc = pf_gzfile_open(path, &f);
    if (rc < 0) return rc;
    if ((rc = read_header(f, path, "labels", 1, 1, &h)) < 0) goto out;
    size_t total = h.dims[0];
    size_t rows = limit && limit < total ? limit : total;
    if ((rc = pf_gzfile_read_alloc(f, path, rows, "labels", (void **)&bytes)) < 0) goto out;
    int32_t *l = malloc((rows ? rows : 1) * sizeof *l);
    if (!l) {
        rc = pf_errorf(PF_ENOMEM, "'%s': out of memory for %zu labels", path, rows);
        goto out;
    }
    for (size_t i = 0; i < rows; i++)
        l[i] = bytes[i];
    *labels = l;
    *n = rows;
    if (n_total) *n_total = total;
out:
    free(bytes);
    gzclose(f);
    return rc;
}

static int idx_load(const char *images_path, const char *labels_path, size_t limit, int keep_bytes,
                    pf_dataset *out)
{
    memset(out, 0, sizeof *out);
    gzFile f = NULL;
    uint8_t *pixels = NULL;
    int32_t *labels = NULL;
    size_t n_labels = 0, labels_total = 0;
    idx_header h;
    int rc;

    if (labels_path &&
        (rc = pf_idx_load_labels(labels_path, limit, &labels, &n_labels, &labels_total)) < 0)
        return rc;
    if ((rc = pf_gzfile_open(images_path, &f)) < 0) goto fail;
    if ((rc = read_header(f, images_path, "images", 2, IDX_MAX_DIMS, &h)) < 0) goto fail;

    size_t total = h.dims[0], dim = 1;
    for (int i = 1; i < h.ndims; i++) {
        if (h.dims[i] == 0 || dim > SIZE_MAX / h.dims[i]) {
            rc = pf_errorf(PF_EPARSE, "'%s': image size %u in dimension %d is %s", images_path,
                           (unsigned)h.dims[i], i, h.dims[i] ? "too large" : "zero");
            goto fail;
        }
        dim *= h.dims[i];
    }
    if (labels_path && labels_total != total) {
        rc = pf_errorf(PF_EMISMATCH, "'%s': %zu labels, but '%s' has %zu images", labels_path,
                       labels_total, images_path, total);
        goto fail;
    }
    size_t rows = limit && limit < total ? limit : total;
    if (rows > SIZE_MAX / sizeof(float) / dim) {
        rc = pf_errorf(PF_EPARSE, "'%s': %zu images of %zu pixels overflow memory", images_path,
                       rows, dim);
        goto fail;
    }
    if ((rc = pf_gzfile_read_alloc(f, images_path, rows * dim, "pixels", (void **)&pixels)) < 0)
        goto fail;
    size_t count = rows * dim;
    float *x = NULL;
    if (!keep_bytes) {
        x = malloc((count ? count : 1) * sizeof *x);
        if (!x) {
            rc = pf_errorf(PF_ENOMEM, "'%s': out of memory for %zu x %zu floats", images_path, rows,
                           dim);
            goto fail;
        }
        for (size_t i = 0; i < count; i++)
            x[i] = pf_idx_pixel(pixels[i]);
    }

    out->n = rows;
    out->dim = dim;
    out->x = x;
    if (keep_bytes) out->bytes = pixels, pixels = NULL;
    out->labels = labels;
    int32_t max = -1;
    for (size_t i = 0; labels && i < rows; i++)
        if (labels[i] > max) max = labels[i];
    out->classes = (uint32_t)(max + 1); /* labels are bytes: max <= 255 */
    free(pixels);
    gzclose(f);
    return 0;
fail:
    free(pixels);
    free(labels);
    if (f) gzclose(f);
    return rc;
}

int pf_idx_load(const char *images_path, const char *labels_path, size_t limit, pf_dataset *out)
{
    return idx_load(images_path, labels_path, limit, 0, out);
}

int pf_idx_load_bytes(const char *images_path, const char *labels_path, size_t limit, pf_dataset *out)
{
    return idx_load(images_path, labels_path, limit, 1, out);
}
