/*
 * dataset.h - a labeled (or not) matrix of embeddings loaded from a file.
 *
 *     pf_dataset d;
 *     int rc = pf_dataset_load("fashion-mnist/train-images-idx3-ubyte.gz",
 *                              "fashion-mnist/train-labels-idx1-ubyte.gz", 0, &d);
 *     if (rc < 0) { fprintf(stderr, "%s\n", pf_error_last()); return rc; }
 *     // d.n = 60000, d.dim = 784, d.x[i * d.dim + j] in [0, 1],
 *     // d.labels[i] in 0..9, d.classes = 10
 *     pf_dataset_fini(&d);
 *
 * Formats, chosen by the file name (a trailing ".gz" is looked through; every
 * reader also reads gzip'd files):
 *
 *   IDX    "*-ubyte", "*.idx*", or any other "*.gz"   data/idx.h
 *          unsigned-byte images [n, rows, cols] scaled to [0, 1], idx1 labels
 *   npy    "*.npy"    2-D '<f4' or '<f8' C-order features; 1-D int labels      data/npy.h
 *   fvecs  "*.fvecs"  per row: int32 dim, then dim float32                  data/fvecs.h
 *   CSV    "*.csv"    floats, header line detected, no label column          data/csv.h
 *          (call pf_csv_load directly for a label column or another delimiter)
 *
 * Labels are int32, -1 meaning unlabeled. classes is 1 + the largest label
 * (0 when there are none), so labels lie in [-1, classes). Every float is
 * finite: loaders reject NaN and Inf with the row and column.
 *
 * Errors are one line naming the file ("'x.gz': truncated: expected 47040000
 * bytes of pixels, got 1000") via pf_error_last(); nothing here logs.
 */
#ifndef PF_DATASET_H
#define PF_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_dataset {
    size_t n;         /* rows (samples) */
    size_t dim;       /* floats per row */
    float *x;         /* [n, dim] row-major, malloc'ed, owned by the dataset; NULL when bytes is set */
    uint8_t *bytes;   /* [n, dim] IDX pixels kept as bytes (value = byte / 255) by
                         pf_dataset_load_compact, instead of x; else NULL; owned */
    float *byte_values; /* [256] with bytes, after pf_dataset_power: the value each byte
                           stands for; NULL = byte / 255; owned */
    int32_t *labels;  /* [n] in [-1, classes), or NULL when unlabeled; owned */
    uint32_t classes; /* 1 + max label, 0 if no labels */
} pf_dataset;

/* Load features from `path` and, when labels_path is not NULL, labels from it
 * (IDX or .npy, chosen by its name; for IDX features pf_idx_load checks the
 * pair). `limit` > 0 keeps only the first `limit` rows; 0 keeps all.
 * On success *out owns its arrays (pf_dataset_fini); on failure *out is empty.
 * Returns 0, PF_EINVAL (unknown format), PF_EIO (missing, unreadable or
 * truncated file), PF_EPARSE (malformed contents), PF_EMISMATCH (label count
 * differs from row count), PF_ENOMEM. */
int pf_dataset_load(const char *path, const char *labels_path, size_t limit, pf_dataset *out);

/* pf_dataset_load, except that IDX images stay bytes (d.bytes, d.x NULL): a
 * quarter of the memory, for a reader that takes rows one at a time
 * (pf_dataset_row). Other formats load as floats, as above. */
int pf_dataset_load_compact(const char *path, const char *labels_path, size_t limit, pf_dataset *out);

/* Row `row` (< d->n) as d->dim floats into dst, from x or from bytes (the
 * same values pf_dataset_load gives, bit for bit). */
void pf_dataset_row(const pf_dataset *d, size_t row, float *dst);

/* Power normalization: every feature x becomes sign(x) * |x|^p (for
 * pixels in [0, 1], x^p: p = 0.5 lifts faint strokes toward bright ones, so
 * how dark a garment is weighs less than its shape). p = 1 changes nothing.
 * Rows kept as bytes stay bytes: the 256 values they stand for are mapped
 * once (byte_values) and pf_dataset_row reads them from there. Returns 0,
 * PF_EINVAL (p not in (0, 16], with the reason) or PF_ENOMEM. */
int pf_dataset_power(pf_dataset *d, double p);

/* The help line of the `power` parameter of the kinds that read features
 * from files (sources, evaluator). */
#define PF_POWER_HELP                                                                              \
    "features become sign(x)*|x|^power as they are read (power normalization; 0.5 suits pixels); " \
    "1 = as stored. Every source and evaluator of a graph must agree"

/* The same transform for one feature, as pf_dataset_power applies it. */
float pf_power(float x, double p);

/* Load a 1-D label file (IDX idx1 or .npy, by name) into a new malloc'ed
 * array (*labels, caller frees) of *n entries; `limit` as above. Same errors. */
int pf_labels_load(const char *path, size_t limit, int32_t **labels, size_t *n);

/* Check that every float is finite (bytes always are) and every label >= -1, and set classes to
 * 1 + the largest label. `name` prefixes errors ("'x.npy': row 3, column 7 is
 * NaN"). The loaders call it; call it on datasets built by hand. Returns 0 or
 * PF_EPARSE. */
int pf_dataset_validate(pf_dataset *d, const char *name);

/* Free the arrays and zero *d; NULL-safe and idempotent. */
void pf_dataset_fini(pf_dataset *d);

#endif
