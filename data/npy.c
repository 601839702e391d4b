/*
 * npy.c - NumPy .npy arrays: 2-D float features, 1-D integer labels.
 *
 * Format: "\x93NUMPY", major, minor, a little-endian header length (u16 in
 * version 1, u32 in 2 and 3), then a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }
 * padded with spaces, then the raw data. The dict is parsed for just those
 * three keys; anything else in it is ignored, as numpy itself does.
 *
 * Float features are read straight into the dataset's array, so this file
 * assumes a little-endian host (checked at compile time); '<f8' is read and
 * narrowed, because np.save of a default float64 array is the common case.
 * Labels are decoded element by element from explicit little-endian bytes.
 *
 * Deliberately refused: Fortran order (transposing silently would hide a
 * bug in the producer), big-endian dtypes, object arrays, more than 2 dims.
 * The header is capped at 1 MiB; real headers are under 200 bytes.
 */
#include "data/npy.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/gzfile.h"
#include "runtime/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c reads '<f4' data in place: it needs a little-endian host"
#endif

#define NPY_MAX_HEADER ((size_t)1 << 20) /* 1 MiB; numpy writes ~128 bytes */
#define NPY_MAX_DIMS 4                   /* we accept 1-D and 2-D; room to report more */

typedef struct npy_header {
    char descr[16];    /* "<f4" */
    int fortran_order; /* 1 = column-major */
    int ndims;
    size_t shape[NPY_MAX_DIMS];
} npy_header;

static const char *skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Pointer just past `'key':` (single or double quotes), or NULL. */
static const char *find_key(const char *dict, const char *key)
{
    char pat[32];
    for (int q = 0; q < 2; q++) {
        char quote = q ? '"' : '\'';
        snprintf(pat, sizeof pat, "%c%s%c", quote, key, quote);
        const char *p = strstr(dict, pat);
        if (!p) continue;
        p = skip_space(p + strlen(pat));
        if (*p == ':') return skip_space(p + 1);
    }
    return NULL;
}

static int parse_dict(const char *path, const char *dict, npy_header *h)
{
    memset(h, 0, sizeof *h);
    const char *p = find_key(dict, "descr");
    if (!p || (*p != '\'' && *p != '"'))
        return pf_errorf(PF_EPARSE, "'%s': npy header has no 'descr' string", path);
    const char *end = strchr(p + 1, *p);
    if (!end || (size_t)(end - p - 1) >= sizeof h->descr)
        return pf_errorf(PF_EPARSE, "'%s': npy header 'descr' is malformed", path);
    memcpy(h->descr, p + 1, (size_t)(end - p - 1));

    p = find_key(dict, "fortran_order");
    if (p && strncmp(p, "True", 4) == 0)
        h->fortran_order = 1;
    else if (!p || strncmp(p, "False", 5) != 0)
        return pf_errorf(PF_EPARSE, "'%s': npy header has no 'fortran_order' True/False", path);

    p = find_key(dict, "shape");
    if (!p || *p != '(') return pf_errorf(PF_EPARSE, "'%s': npy header has no 'shape' tuple", path);
    p = skip_space(p + 1);
    while (*p != ')') {
        char *num_end;
        if (!isdigit((unsigned char)*p)) goto bad_shape;
        unsigned long long v = strtoull(p, &num_end, 10);
        if (h->ndims == NPY_MAX_DIMS || v > SIZE_MAX) goto bad_shape;
        h->shape[h->ndims++] = (size_t)v;
        p = skip_space(num_end);
        if (*p == 'L') p = skip_space(p + 1); /* Python 2 longs */
        if (*p == ',')
            p = skip_space(p + 1);
        else if (*p != ')')
            goto bad_shape;
    }
    return 0;
bad_shape:
    return pf_errorf(PF_EPARSE, "'%s': npy 'shape' is malformed or has more than %d dimensions",
                     path, NPY_MAX_DIMS);
}

/* Open the file, read and parse the header; on success f is positioned at the data. */
static int open_npy(const char *path, gzFile *f, npy_header *h)
{
    uint8_t pre[10];
    char *dict = NULL;
    int rc = pf_gzfile_open(path, f);
    if (rc < 0) return rc;
    if ((rc = pf_gzfile_read_exact(*f, path, pre, 8, "npy preamble")) < 0) goto fail;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = pf_errorf(PF_EPARSE, "'%s': not a .npy file (bad magic)", path);
        goto fail;
    }
    int major = pre[6];
    size_t hlen;
    if (major == 1) {
        if ((rc = pf_gzfile_read_exact(*f, path, pre + 8, 2, "npy header length")) < 0) goto fail;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if ((rc = pf_gzfile_read_exact(*f, path, pre, 4, "npy header length")) < 0) goto fail;
        hlen = (size_t)pre[0] | (size_t)pre[1] << 8 | (size_t)pre[2] << 16 | (size_t)pre[3] << 24;
    } else {
        rc = pf_errorf(PF_EPARSE, "'%s': npy format version %d not supported (1, 2 or 3)", path,
                       major);
        goto fail;
    }
    if (hlen > NPY_MAX_HEADER) {
        rc = pf_errorf(PF_EPARSE, "'%s': npy header of %zu bytes is implausibly large", path, hlen);
        goto fail;
    }
    if (!(dict = malloc(hlen + 1))) {
        rc = pf_errorf(PF_ENOMEM, "'%s': out of memory", path);
        goto fail;
    }
    if ((rc = pf_gzfile_read_exact(*f, path, dict, hlen, "npy header")) < 0) goto fail;
    dict[hlen] = '\0';
    if ((rc = parse_dict(path, dict, h)) < 0) goto fail;
    if (h->fortran_order) {
        rc = pf_errorf(PF_EPARSE,
                       "'%s': Fortran-order (column-major) array not supported; save it with "
                       "np.ascontiguousarray(a)",
                       path);
        goto fail;
    }
    free(dict);
    return 0;
fail:
    free(dict);
    gzclose(*f);
    *f = NULL;
    return rc;
}

int pf_npy_load(const char *path, size_t limit, pf_dataset *out)
{
    memset(out, 0, sizeof *out);
    gzFile f;
    npy_header h;
    void *raw = NULL;
    int rc = open_npy(path, &f, &h);
    if (rc < 0) return rc;
    size_t item = strcmp(h.descr, "<f4") == 0 ? 4 : strcmp(h.descr, "<f8") == 0 ? 8 : 0;
    if (!item) {
        rc = pf_errorf(PF_EPARSE, "'%s': dtype '%s' not supported for features ('<f4' or '<f8')",
                       path, h.descr);
        goto out;
    }
    if (h.ndims != 2 || h.shape[1] == 0) {
        rc = pf_errorf(PF_EPARSE, "'%s': expected a 2-D array [n, dim] with dim > 0, got %d-D",
                       path, h.ndims);
        goto out;
    }
    size_t rows = limit && limit < h.shape[0] ? limit : h.shape[0], dim = h.shape[1];
    if (dim > SIZE_MAX / 8 || rows > SIZE_MAX / 8 / dim) {
        rc = pf_errorf(PF_EPARSE, "'%s': shape (%zu, %zu) overflows memory", path, rows, dim);
        goto out;
    }
    if ((rc = pf_gzfile_read_alloc(f, path, rows * dim * item, "array data", &raw)) < 0) goto out;
    if (item == 8) { /* narrow in place: each float lands before the double it came from */
        const double *d = raw;
        float *x = raw;
        size_t count = rows * dim;
        for (size_t i = 0; i < count; i++) /* out-of-range doubles become Inf, then rejected */
            x[i] = d[i] > FLT_MAX ? INFINITY : d[i] < -FLT_MAX ? -INFINITY : (float)d[i];
        float *shrunk = realloc(raw, (count ? count : 1) * sizeof *x);
        if (shrunk) raw = shrunk;
    }
    out->n = rows;
    out->dim = dim;
    out->x = raw;
    raw = NULL;
    if ((rc = pf_dataset_validate(out, path)) < 0) pf_dataset_fini(out);
out:
    free(raw);
    gzclose(f);
    return rc;
}

int pf_npy_load_labels(const char *path, size_t limit, int32_t **labels, size_t *n)
{
    *labels = NULL;
    *n = 0;
    gzFile f;
    npy_header h;
    uint8_t *raw = NULL;
    int rc = open_npy(path, &f, &h);
    if (rc < 0) return rc;
    size_t item = strcmp(h.descr, "<i4") == 0   ? 4
                  : strcmp(h.descr, "<i8") == 0 ? 8
                  : strcmp(h.descr, "|u1") == 0 ? 1
                                                : 0;
    if (!item) {
        rc = pf_errorf(PF_EPARSE,
                       "'%s': dtype '%s' not supported for labels ('<i4', '<i8' or '|u1')", path,
                       h.descr);
        goto out;
    }
    /* [n] or a column vector [n, 1]. */
    if (!(h.ndims == 1 || (h.ndims == 2 && h.shape[1] == 1))) {
        rc = pf_errorf(PF_EPARSE, "'%s': expected a 1-D array of labels, got %d-D", path, h.ndims);
        goto out;
    }
    size_t rows = limit && limit < h.shape[0] ? limit : h.shape[0];
    if (rows > SIZE_MAX / 8) {
        rc = pf_errorf(PF_EPARSE, "'%s': %zu labels overflow memory", path, rows);
        goto out;
    }
    if ((rc = pf_gzfile_read_alloc(f, path, rows * item, "labels", (void **)&raw)) < 0) goto out;
    int32_t *l = malloc((rows ? rows : 1) * sizeof *l);
    if (!l) {
        rc = pf_errorf(PF_ENOMEM, "'%s': out of memory for %zu labels", path, rows);
        goto out;
    }
    for (size_t i = 0; i < rows; i++) {
        const uint8_t *p = raw + i * item;
        int64_t v = 0;
        if (item == 1) {
            v = p[0];
        } else {
            uint64_t u = 0;
            for (size_t b = 0; b < item; b++)
                u |= (uint64_t)p[b] << (8 * b);
            if (item == 4) u = (uint64_t)(int64_t)(int32_t)(uint32_t)u; /* sign-extend */
            v = (int64_t)u;
        }
        if (v < -1 || v > INT32_MAX) {
            free(l);
            rc = pf_errorf(PF_EPARSE, "'%s': label %zu is %lld, expected -1 (unlabeled) or 0..%d",
                           path, i, (long long)v, INT32_MAX);
            goto out;
        }
        l[i] = (int32_t)v;
    }
    *labels = l;
    *n = rows;
out:
    free(raw);
    gzclose(f);
    return rc;
}
