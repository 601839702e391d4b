/*
 * fvecs.c - .fvecs vectors: per row a little-endian int32 dim, then dim floats.
 *
 * The format has no header and no row count, so rows are read one at a time
 * into a buffer that doubles as it fills; a gzip'd file streams the same way.
 * Every row must repeat the first row's dim: a differing one means a corrupt
 * or concatenated file, and is reported with its row number. A file that ends
 * inside a row is truncated; one that ends between rows is complete.
 *
 * The floats are read in place, so this file assumes a little-endian host
 * (checked at compile time); the dim prefix is decoded from explicit bytes.
 */
#include "data/fvecs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/gzfile.h"
#include "runtime/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fvecs.c reads float32 rows in place: it needs a little-endian host"
#endif

#define FVECS_MAX_DIM                                                                              \
    (1 << 24)           /* 16M floats per row: far past any embedding, bounds a bad prefix */
#define FIRST_ROWS 1024 /* initial row capacity; doubles after */

/* Read a row's dim prefix. *eof = 1 on a clean end of file between rows. */
static int read_dim(gzFile f, const char *path, size_t row, int32_t *dim, int *eof)
{
    uint8_t b[4];
    size_t got = 0;
    *eof = 0;
    int rc = pf_gzfile_read_some(f, path, b, sizeof b, &got);
    if (rc < 0) return rc;
    if (got == 0) {
        *eof = 1;
        return 0;
    }
    if (got < sizeof b)
        return pf_errorf(PF_EIO, "'%s': truncated: row %zu ends inside its dim prefix", path, row);
    *dim = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24);
    return 0;
}

int pf_fvecs_load(const char *path, size_t limit, pf_dataset *out)
{
    memset(out, 0, sizeof *out);
    gzFile f;
    float *x = NULL;
    size_t rows = 0, cap = 0, dim = 0;
    int rc = pf_gzfile_open(path, &f);
    if (rc < 0) return rc;

    while (!limit || rows < limit) {
        int32_t d = 0;
        int eof = 0;
        if ((rc = read_dim(f, path, rows, &d, &eof)) < 0) goto fail;
        if (eof) break;
        if (d <= 0 || d > FVECS_MAX_DIM) {
            rc = pf_errorf(PF_EPARSE, "'%s': row %zu has dim %d, expected 1..%d", path, rows,
                           (int)d, FVECS_MAX_DIM);
            goto fail;
        }
        if (rows == 0) dim = (size_t)d;
        if ((size_t)d != dim) {
            rc = pf_errorf(PF_EPARSE, "'%s': row %zu has dim %d, expected %zu (as row 0)", path,
                           rows, (int)d, dim);
            goto fail;
        }
        if (rows == cap) {
            size_t next = cap ? cap * 2 : FIRST_ROWS;
            if (next > SIZE_MAX / sizeof(float) / dim) {
                rc = pf_errorf(PF_ENOMEM, "'%s': too many rows", path);
                goto fail;
            }
            float *grown = realloc(x, next * dim * sizeof *x);
            if (!grown) {
                rc = pf_errorf(PF_ENOMEM, "'%s': out of memory for %zu rows of %zu", path, next,
                               dim);
                goto fail;
            }
            x = grown;
            cap = next;
        }
        char what[48];
        snprintf(what, sizeof what, "row %zu", rows);
        if ((rc = pf_gzfile_read_exact(f, path, x + rows * dim, dim * sizeof *x, what)) < 0)
            goto fail;
        rows++;
    }
    if (rows == 0) {
        rc = pf_errorf(PF_EPARSE, "'%s': no vectors", path);
        goto fail;
    }
    float *shrunk = realloc(x, rows * dim * sizeof *x);
    out->x = shrunk ? shrunk : x;
    out->n = rows;
    out->dim = dim;
    gzclose(f);
    if ((rc = pf_dataset_validate(out, path)) < 0) pf_dataset_fini(out);
    return rc;
fail:
    free(x);
    gzclose(f);
    return rc;
}
