/*
 * label_store.h - the LMDB label store: every sample, every given label, every
 * filter decision, the sampler's state and the student's model snapshots.
 *
 *     pf_label_store_opts opts = {.dim = 784, .classes = 10};
 *     pf_label_store *s = NULL;
 *     if (pf_label_store_open("runs/fashion", &opts, &s) < 0) {
 *         fprintf(stderr, "%s\n", pf_error_last());
 *         // store 'runs/fashion': has dim 784 and 10 classes; this graph wants ...
 *         return 1;
 *     }
 *     uint64_t ids[2] = {1, 2};
 *     float x[2 * 784] = {0};                  // shape = [n, dim], row-major
 *     int32_t truth[2] = {3, -1};              // -1 = no given label
 *     pf_label_store_put_samples(s, 2, 784, ids, x, truth, now_ms, 0);
 *
 *     pf_label_record r = {.id = 2, .label = 5, .confidence = 0.97f, .weight = 1,
 *                          .teacher_version = 1, .decided_ms = now_ms,
 *                          .flags = PF_LABEL_ACCEPTED, .policy = "fixmatch"};
 *     pf_label_store_put_decisions(s, 1, &r);  // last decision wins
 *
 *     pf_label_store_query q = {.undecided_only = 1};
 *     pf_label_store_each(s, &q, visit, ctx);  // samples with no decision yet
 *     pf_label_store_close(&s);
 *
 * Layout: one LMDB environment (a directory) per run, with named databases
 * `samples`, `truth`, `labels`, `state`, `models` and `meta`; keys are 64-bit
 * big-endian ids (so LMDB's byte order is id order), values are fixed
 * little-endian records with a version byte (see label_store.c).
 *
 * Guarantees:
 *  - Every write call is one transaction: all of it is on disk when the call
 *    returns 0 (commits are synchronous), none of it when it fails.
 *  - Every write call checks all of its input before it writes anything, so a
 *    bad batch (id 0, NaN/Inf, label out of range) changes nothing.
 *  - Writes are idempotent by id: putting a sample twice keeps one record.
 *  - A full map grows (doubles) and the batch is retried; callers never see
 *    MDB_MAP_FULL.
 *  - Readers in other processes (`pseudoflow store PATH stats`) see a
 *    consistent snapshot while a run writes, also while the writer grows the map.
 *
 * Threads: a handle is used by one thread at a time (the map can only be
 * resized with no transaction active in the process). LMDB allows one open
 * handle per store per process; open it once and share it.
 *
 * Errors: every fallible function returns 0 or a negative PF_E* code and sets
 * pf_error_last() to a line that starts with "store 'PATH': ".
 */
#ifndef PF_LABEL_STORE_H
#define PF_LABEL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct pf_label_store pf_label_store;

#define PF_LABEL_STORE_SCHEMA 1                  /* bumped when any on-disk record changes */
#define PF_LABEL_STORE_MAP_DEFAULT (64ull << 20) /* 64 MiB: ~20k samples at dim 784; grows */
#define PF_LABEL_TOPK_MAX 5                      /* top-k probabilities kept per decision */
#define PF_LABEL_POLICY_MAX 16                   /* bytes for a policy name, NUL included */
#define PF_LABEL_STATE_KEY_MAX 255               /* bytes in a state key (LMDB allows 511) */

/* Decision flags (pf_label_record.flags). */
#define PF_LABEL_ACCEPTED (1u << 0) /* the filter trusted it and sent it to the student */
#define PF_LABEL_SOFT (1u << 1)     /* the target is the soft top-k distribution */
#define PF_LABEL_ISSUE (1u << 2)    /* a given label the filter suspects is wrong */

typedef struct pf_label_store_opts {
    uint32_t dim;      /* embedding length; 0 = accept what is stored (existing stores only) */
    uint32_t classes;  /* class count; 0 = accept what is stored (existing stores only) */
    uint64_t map_size; /* initial map bytes; 0 = PF_LABEL_STORE_MAP_DEFAULT; grows when full */
    int readonly;      /* 1 = open for reading only (tools); the store must exist */
    int unlocked_ok;   /* with readonly: 1 = where lock.mdb is not writable (EACCES, EPERM), read
                        * without LMDB's reader lock instead of failing; see
                        * pf_label_store_locked() */
    int nometasync;    /* 1 = MDB_NOMETASYNC: a crash may lose the last commit, never corrupt */
} pf_label_store_opts;

/* A stored sample. In callbacks `x` is borrowed for the duration of the call. */
typedef struct pf_label_sample {
    uint64_t id;         /* > 0; 0 is reserved */
    uint64_t arrival_ms; /* wall clock when the sampler persisted it, ms since the epoch */
    uint32_t source;     /* index of the source node it came from */
    int32_t truth;       /* given label, -1 = none */
    const float *x;      /* [dim] embedding, or NULL when not asked for */
} pf_label_sample;

/* One filter decision for one sample. */
typedef struct pf_label_record {
    uint64_t id;                           /* sample id, > 0 */
    int32_t label;                         /* hard pseudo-label (argmax), 0 <= label < classes */
    float confidence;                      /* in [0, 1] */
    float weight;                          /* training weight, >= 0 (0 for rejected) */
    uint64_t teacher_version;              /* model version of the teacher that labeled it */
    uint64_t decided_ms;                   /* when the filter decided, ms since the epoch */
    uint32_t times_decided;                /* kept by the store: ignored on put, 1.. on get */
    uint32_t flags;                        /* PF_LABEL_* bits */
    char policy[PF_LABEL_POLICY_MAX];      /* filter policy name, NUL-terminated */
    uint32_t k;                            /* valid top-k entries, 0..PF_LABEL_TOPK_MAX */
    int32_t topk_class[PF_LABEL_TOPK_MAX]; /* class ids, most probable first */
    float topk_prob[PF_LABEL_TOPK_MAX];    /* their probabilities, each in [0, 1] */
} pf_label_record;

typedef struct pf_label_counts {
    uint64_t samples; /* samples stored */
    uint64_t truth;   /* of them, with a given label */
    uint64_t decided; /* of them, with a label record (undecided = samples - decided) */
    uint64_t models;  /* model snapshots */
    uint64_t state;   /* state keys */
} pf_label_counts;

/* ------------------------------------------------------------------ open */

/* Open (or, unless readonly, create) the store in directory `path`, creating
 * the directory and its parents. A new store needs opts->dim and
 * opts->classes; an existing one must match them where they are non-zero.
 * Clears reader slots left by dead processes.
 * Readonly: data.mdb must be a regular file and is checked to be an LMDB
 * file before LMDB creates lock.mdb, so a directory that is not a store is
 * left untouched. A store is then read under LMDB's lock (lock.mdb, created
 * if missing) unless it cannot be: on a read-only filesystem LMDB reads
 * without it; where lock.mdb is not writable the open fails, or with
 * opts->unlocked_ok reads without it too.
 * Errors: PF_EINVAL (bad opts, new store without dim/classes), PF_ENOTFOUND
 * (readonly and no store at path: data.mdb missing, empty or not a regular
 * file), PF_EMISMATCH (other dim, classes or schema;
 * the line names both), PF_ESTORE/PF_EIO (LMDB or filesystem), PF_ENOMEM.
 * Ownership: *out is the caller's; release it with pf_label_store_close(). */
int pf_label_store_open(const char *path, const pf_label_store_opts *opts, pf_label_store **out);

/* Close the store and set *s = NULL. NULL-safe. Commits are already durable. */
void pf_label_store_close(pf_label_store **s);

/* 0 when the store is read without LMDB's lock (read-only filesystem, or
 * unlocked_ok and no write access to lock.mdb). A writer then cannot see this
 * reader and may reuse pages it is reading, so what it reads is trustworthy
 * only while no run writes the store; callers should say so. 1 otherwise. */
int pf_label_store_locked(const pf_label_store *s);

uint32_t pf_label_store_dim(const pf_label_store *s);
uint32_t pf_label_store_classes(const pf_label_store *s);
const char *pf_label_store_path(const pf_label_store *s);  /* borrowed, lives with s */
uint64_t pf_label_store_map_size(const pf_label_store *s); /* current map bytes */

/* ---------------------------------------------------------------- writes */

/* Persist n samples in one transaction. x is [n, dim] row-major and dim must
 * be the store's (it is passed so a batch of another shape is caught); truth is
 * NULL or n given labels (-1 = none; an existing given label is then kept).
 * A sample put twice keeps one record: the later put overwrites it.
 * Errors: PF_EMISMATCH (dim), PF_EINVAL (id 0, NaN/Inf in x, truth out of
 * [-1, classes)), both with nothing written; PF_ESTATE (readonly); PF_ESTORE (LMDB). */
int pf_label_store_put_samples(pf_label_store *s, size_t n, uint32_t dim, const uint64_t *ids,
                               const float *x, const int32_t *truth, uint64_t arrival_ms,
                               uint32_t source);

/* Record n filter decisions in one transaction. The last decision for an id
 * wins; its times_decided is one more than the record it replaces (so it
 * counts duplicates in the same batch too). recs[i].times_decided is ignored.
 * Errors: PF_EINVAL (id 0, label/top-k class out of range, NaN/Inf or
 * out-of-range confidence/weight/prob, k > 5, unterminated policy),
 * PF_ENOTFOUND (no sample with that id: a decision must follow its sample),
 * both with nothing written; PF_ESTATE (readonly); PF_ESTORE (LMDB). */
int pf_label_store_put_decisions(pf_label_store *s, size_t n, const pf_label_record *recs);

/* Store a model snapshot (opaque bytes, copied) under version > 0; a version
 * put twice is overwritten. Errors: PF_EINVAL, PF_ESTATE, PF_ESTORE. */
int pf_label_store_put_model(pf_label_store *s, uint64_t version, const void *bytes, size_t len);

/* Store opaque bytes (copied) under a state key (1..PF_LABEL_STATE_KEY_MAX
 * bytes, NUL-terminated string). Errors: PF_EINVAL, PF_ESTATE, PF_ESTORE. */
int pf_label_store_put_state(pf_label_store *s, const char *key, const void *bytes, size_t len);

/* Delete a state key; deleting a missing key is not an error. */
int pf_label_store_delete_state(pf_label_store *s, const char *key);

/* Add delta to the u64 counter under state key `key` (missing = 0) in one
 * transaction, and return the new value in *value (may be NULL).
 * Errors: PF_ERANGE (would go below 0 or wrap; nothing written), PF_EINVAL
 * (bad key, or the key holds something that is not a counter), PF_ESTORE. */
int pf_label_store_add_counter(pf_label_store *s, const char *key, int64_t delta, uint64_t *value);

/* ----------------------------------------------------------------- reads */

/* Read one sample. x_out is NULL or room for dim floats; out->x = x_out.
 * Errors: PF_ENOTFOUND (no such id), PF_ESTORE (LMDB or a damaged record). */
int pf_label_store_get_sample(pf_label_store *s, uint64_t id, pf_label_sample *out, float *x_out);

/* Read the current decision for one sample. Errors: PF_ENOTFOUND, PF_ESTORE. */
int pf_label_store_get_label(pf_label_store *s, uint64_t id, pf_label_record *out);

/* Read a model snapshot; version 0 means the newest. On success *bytes is a
 * malloc'd copy the caller frees, *len its size, *version_out (may be NULL)
 * the version read. Errors: PF_ENOTFOUND, PF_ENOMEM, PF_ESTORE. */
int pf_label_store_get_model(pf_label_store *s, uint64_t version, void **bytes, size_t *len,
                             uint64_t *version_out);

/* Read a state key into a malloc'd copy (*bytes, caller frees; *len bytes).
 * Errors: PF_ENOTFOUND, PF_EINVAL, PF_ENOMEM, PF_ESTORE. */
int pf_label_store_get_state(pf_label_store *s, const char *key, void **bytes, size_t *len);

/* Read a u64 counter; a missing key reads as 0. Errors: PF_EINVAL, PF_ESTORE. */
int pf_label_store_get_counter(pf_label_store *s, const char *key, uint64_t *value);

/* Counts from one snapshot (LMDB's b-tree statistics: O(1)). */
int pf_label_store_counts(pf_label_store *s, pf_label_counts *out);

/* ------------------------------------------------------------- iteration */

typedef struct pf_label_store_query {
    uint64_t from_id;   /* first id to visit (inclusive); 0 = from the start */
    size_t limit;       /* stop after this many visits; 0 = no limit */
    int undecided_only; /* 1 = only samples without a decision, or with a stale one (below) */
    uint64_t stale_teacher_below; /* with undecided_only: decisions by teacher < this are stale */
    float stale_confidence_below; /* with undecided_only: decisions below this are stale; 0 = off */
    int with_embeddings;          /* 1 = fill sample->x; 0 = x is NULL (much cheaper) */
} pf_label_store_query;

/* Visit function: `rec` is the sample's decision or NULL when undecided. Both
 * pointers (and sample->x) are valid only during the call. Return 0 to go on,
 * > 0 to stop (pf_label_store_each then returns 0), < 0 to stop with that error. */
typedef int (*pf_label_store_visit_fn)(const pf_label_sample *sample, const pf_label_record *rec,
                                       void *ctx);

/* Visit samples in id order, each joined with its given label and decision,
 * all from one read snapshot (a concurrent writer neither blocks nor shows
 * through). Writes through `s` from inside fn are not allowed.
 * Errors: the visit function's negative return, PF_ENOMEM, PF_ESTORE. */
int pf_label_store_each(pf_label_store *s, const pf_label_store_query *q,
                        pf_label_store_visit_fn fn, void *ctx);

/* ----------------------------------------------------------------- tools
 * For `pseudoflow store PATH stats|get ID|export` (store_export.c). Each reads
 * one snapshot and works while a run writes the store. */

/* Print counts (samples, given labels, decided, undecided, accepted,
 * rejected, flagged), per-class given and accepted counts, a 10-bin
 * confidence histogram, decisions per teacher version and a times_decided
 * histogram. Errors: PF_ESTORE, PF_ENOMEM, PF_EIO (write to fp). */
int pf_label_store_print_stats(pf_label_store *s, FILE *fp);

/* Print one sample and its decision. Errors: PF_ENOTFOUND, PF_ESTORE, PF_EIO. */
int pf_label_store_print_record(pf_label_store *s, uint64_t id, FILE *fp);

enum pf_label_export_format {
    PF_LABEL_EXPORT_CSV = 0,   /* header line, then one line per sample */
    PF_LABEL_EXPORT_JSONL = 1, /* one JSON object per sample */
    PF_LABEL_EXPORT_NPY = 2,   /* a directory of .npy arrays, one per column */
};

/* Parse "csv" | "jsonl" | "npy". Errors: PF_EINVAL naming the choices. */
int pf_label_store_parse_format(const char *text, int *format);

/* Export one row per sample in id order: id, truth, label, confidence, weight,
 * teacher_version, times_decided, accepted (undecided rows: label -1, zeros),
 * and with with_embeddings the embedding (csv: x0..x{dim-1}; jsonl: "x": [..]).
 * csv/jsonl go to the file out_path, or stdout when out_path is NULL or "-".
 * npy writes into directory out_path (required, created): ids.npy <u8 [n],
 * truth.npy <i4 [n], label.npy <i4 [n], confidence.npy <f4 [n], weight.npy
 * <f4 [n], teacher_version.npy <u8 [n], times_decided.npy <u4 [n],
 * accepted.npy |u1 [n], and x.npy <f4 [n, dim] with embeddings; row i of
 * every file is the same sample, so np.load() each and index together.
 * Errors: PF_EINVAL (format, npy without a directory), PF_EIO, PF_ESTORE. */
int pf_label_store_export(pf_label_store *s, int format, int with_embeddings, const char *out_path);

#endif
