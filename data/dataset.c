/*
 * dataset.c - pick a reader by file name, attach labels, validate, free.
 *
 * The dispatch looks at the name only, never sniffs contents: a wrong
 * extension gets a clear "unknown format" rather than a confusing parse error
 * from the wrong reader. A trailing ".gz" is looked through because every
 * reader reads through zlib; a bare "*.gz" means IDX, the one format that is
 * conventionally shipped gzip'd under its own name (MNIST's "-ubyte.gz").
 *
 * Labels from a separate file are loaded with the same row limit as the
 * features, so with a limit only the first `limit` rows can be compared.
 *
 * Validation is one pass over the floats after loading: the wire would reject
 * NaN/Inf later anyway, and a source that fails at load time names the file,
 * row and column instead of a sample id three nodes downstream.
 */
#include "data/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "data/csv.h"
#include "data/fvecs.h"
#include "data/idx.h"
#include "data/npy.h"
#include "runtime/error.h"

enum format { FMT_UNKNOWN, FMT_IDX, FMT_NPY, FMT_FVECS, FMT_CSV };

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t k = strlen(suffix);
    return len >= k && strncasecmp(s + len - k, suffix, k) == 0;
}

static enum format format_of(const char *path)
{
    size_t len = strlen(path);
    int gz = ends_with(path, len, ".gz");
    if (gz) len -= 3;
    if (ends_with(path, len, ".npy")) return FMT_NPY;
    if (ends_with(path, len, ".fvecs")) return FMT_FVECS;
    if (ends_with(path, len, ".csv")) return FMT_CSV;
    if (ends_with(path, len, "-ubyte") || ends_with(path, len, ".idx") ||
        ends_with(path, len, ".idx1") || ends_with(path, len, ".idx3"))
        return FMT_IDX;
    return gz ? FMT_IDX : FMT_UNKNOWN;
}

/* A missing file is named as missing, before its name is read for a format. */
static int check_readable(const char *path)
{
    if (access(path, R_OK) != 0) return pf_errorf(PF_EIO, "cannot open '%s': %s", path, strerror(errno));
    return 0;
}

int pf_labels_load(const char *path, size_t limit, int32_t **labels, size_t *n)
{
    *labels = NULL;
    *n = 0;
    int rc = check_readable(path);
    if (rc < 0) return rc;
    switch (format_of(path)) {
    case FMT_IDX:
        return pf_idx_load_labels(path, limit, labels, n, NULL);
    case FMT_NPY:
        return pf_npy_load_labels(path, limit, labels, n);
    default:
        return pf_errorf(PF_EINVAL, "'%s': unknown label format (expected IDX or .npy)", path);
    }
}

static int load(const char *path, const char *labels_path, size_t limit, int compact, pf_dataset *out)
{
    int (*idx)(const char *, const char *, size_t, pf_dataset *) = compact ? pf_idx_load_bytes : pf_idx_load;
    memset(out, 0, sizeof *out);
    enum format fmt = format_of(path);
    int rc = check_readable(path);
    if (rc < 0 || (labels_path && (rc = check_readable(labels_path)) < 0)) return rc;
    switch (fmt) {
    case FMT_IDX:
        /* The IDX reader checks an IDX label file against the images' header count. */
        if (!labels_path || format_of(labels_path) == FMT_IDX) return idx(path, labels_path, limit, out);
        rc = idx(path, NULL, limit, out);
        break;
    case FMT_NPY:
        rc = pf_npy_load(path, limit, out);
        break;
    case FMT_FVECS:
        rc = pf_fvecs_load(path, limit, out);
        break;
    case FMT_CSV:
        rc = pf_csv_load(path, NULL, limit, out);
        break;
    default:
        return pf_errorf(PF_EINVAL,
                         "'%s': unknown data format (expected .npy, .fvecs, .csv or IDX "
                         "'-ubyte'/'.idx'/'.gz')",
                         path);
    }
    if (rc < 0 || !labels_path) return rc;

    int32_t *labels = NULL;
    size_t n = 0;
    if ((rc = pf_labels_load(labels_path, limit, &labels, &n)) < 0) goto fail;
    if (n != out->n) {
        free(labels);
        rc = pf_errorf(PF_EMISMATCH, "'%s': %zu labels for %zu rows of '%s'", labels_path, n,
                       out->n, path);
        goto fail;
    }
    free(out->labels); /* a CSV loaded with the defaults has none; be safe */
    out->labels = labels;
    if ((rc = pf_dataset_validate(out, labels_path)) < 0) goto fail;
    return 0;
fail:
    pf_dataset_fini(out);
    return rc;
}

int pf_dataset_load(const char *path, const char *labels_path, size_t limit, pf_dataset *out)
{
    return load(path, labels_path, limit, 0, out);
}

int pf_dataset_load_compact(const char *path, const char *labels_path, size_t limit, pf_dataset *out)
{
    return load(path, labels_path, limit, 1, out);
}

void pf_dataset_row(const pf_dataset *d, size_t row, float *dst)
{
    if (d->x) {
        memcpy(dst, d->x + row * d->dim, d->dim * sizeof *dst);
        return;
    }
    const uint8_t *b = d->bytes + row * d->dim;
    if (d->byte_values) {
        for (size_t j = 0; j < d->dim; j++) dst[j] = d->byte_values[b[j]];
        return;
    }
    for (size_t j = 0; j < d->dim; j++) dst[j] = pf_idx_pixel(b[j]);
}

float pf_power(float x, double p)
{
    if (p == 1.0) return x;
    float m = (float)pow(fabs((double)x), p);
    return x < 0 ? -m : m;
}

int pf_dataset_power(pf_dataset *d, double p)
{
    if (!(p > 0 && p <= 16)) return pf_errorf(PF_EINVAL, "power %g is outside (0, 16]", p);
    if (p == 1.0) return 0;
    if (d->bytes) {
        float *v = d->byte_values;
        if (!v && !(v = malloc(256 * sizeof *v))) return pf_errorf(PF_ENOMEM, "out of memory");
        for (int b = 0; b < 256; b++) v[b] = pf_power(d->byte_values ? v[b] : pf_idx_pixel((uint8_t)b), p);
        d->byte_values = v;
    }
    size_t count = d->x ? d->n * d->dim : 0;
    for (size_t i = 0; i < count; i++) d->x[i] = pf_power(d->x[i], p);
    return 0;
}

int pf_dataset_validate(pf_dataset *d, const char *name)
{
    size_t count = d->x ? d->n * d->dim : 0; /* bytes are always finite */
    for (size_t i = 0; i < count; i++) {
        if (isfinite(d->x[i])) continue;
        return pf_errorf(PF_EPARSE, "'%s': row %zu, column %zu is %s", name, i / d->dim, i % d->dim,
                         isnan(d->x[i]) ? "NaN"
                         : d->x[i] > 0  ? "+Inf"
                                        : "-Inf");
    }
    int32_t max = -1;
    for (size_t i = 0; d->labels && i < d->n; i++) {
        if (d->labels[i] < -1)
            return pf_errorf(PF_EPARSE, "'%s': label %zu is %d, expected >= -1 (-1 = unlabeled)",
                             name, i, (int)d->labels[i]);
        if (d->labels[i] > max) max = d->labels[i];
    }
    d->classes = (uint32_t)max + 1; /* max = -1 (none) wraps to 0 */
    return 0;
}

void pf_dataset_fini(pf_dataset *d)
{
    if (!d) return;
    free(d->x);
    free(d->bytes);
    free(d->byte_values);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
