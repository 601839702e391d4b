/*
 * truth.h - ground truth a source hides from the pipeline, kept aside for the
 * evaluator to measure pseudo-label precision and coverage.
 *
 * A source that hides labels (labeled=N) appends (id, label) pairs for the
 * hidden ones to a file in the run directory; nothing in the pipeline reads
 * it except the evaluator. The file is a flat array of 12-byte little-endian
 * records (u64 id, i32 label), append-only, so a restarted source that writes
 * a pair again does no harm: the table keeps one entry per id.
 *
 *     pf_truth_writer *w;
 *     pf_truth_writer_open("runs/x/truth-source.bin", &w);
 *     pf_truth_writer_add(w, 17, 3);
 *     pf_truth_writer_close(&w);            // flushes
 *
 *     pf_truth t;
 *     pf_truth_load("runs/x/truth-source.bin", &t);
 *     int32_t y = pf_truth_get(&t, 17);     // 3, or -1 when unknown
 *     pf_truth_fini(&t);
 */
#ifndef PF_TRUTH_H
#define PF_TRUTH_H

#include <stddef.h>
#include <stdint.h>

#define PF_TRUTH_RECORD_SIZE 12 /* u64 id + i32 label */

typedef struct pf_truth_writer pf_truth_writer;

/* Open for appending (created if missing). Returns 0 or PF_EIO. Caller owns *out. */
int pf_truth_writer_open(const char *path, pf_truth_writer **out);
/* Queue one pair; written on flush or when the buffer fills. Returns 0 or PF_EIO. */
int pf_truth_writer_add(pf_truth_writer *w, uint64_t id, int32_t label);
/* Write buffered pairs and fflush. Returns 0 or PF_EIO. */
int pf_truth_writer_flush(pf_truth_writer *w);
/* Flush and close; NULL-safe; sets *w = NULL. */
void pf_truth_writer_close(pf_truth_writer **w);

/* A loaded table, sorted by id, one entry per id (the last written wins). */
typedef struct pf_truth {
    uint64_t *ids;
    int32_t *labels;
    size_t n;
} pf_truth;

/* Load a truth file; a missing file loads as an empty table (nothing hidden
 * yet). A trailing partial record (a writer killed mid-write) is ignored.
 * Returns 0, PF_EIO or PF_ENOMEM. */
int pf_truth_load(const char *path, pf_truth *out);
/* Merge another file's pairs into t (several sources). Same errors. */
int pf_truth_merge_file(pf_truth *t, const char *path);
/* Label for id, or -1. O(log n). */
int32_t pf_truth_get(const pf_truth *t, uint64_t id);
void pf_truth_fini(pf_truth *t);

#endif
