/*
 * truth.c - the hidden-truth side file (see truth.h).
 *
 * The writer buffers pairs and appends whole records with one fwrite, so a
 * reader sees only complete records or, after a kill, at most one partial
 * one at the end, which the loader drops. The table is two parallel sorted
 * arrays; lookups binary-search. Duplicates (a restarted source writing the
 * same ids again) collapse to the last one written.
 */
#include "data/truth.h"
#include "runtime/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITER_BUFFER_RECORDS 4096 /* 48 KiB: one fwrite per few batches */

struct pf_truth_writer {
    FILE *f;
    char *path;
    size_t n;
    uint8_t buf[WRITER_BUFFER_RECORDS * PF_TRUTH_RECORD_SIZE];
};

int pf_truth_writer_open(const char *path, pf_truth_writer **out)
{
    *out = NULL;
    pf_truth_writer *w = calloc(1, sizeof *w);
    if (!w) return pf_errorf(PF_ENOMEM, "truth '%s': out of memory", path);
    w->f = fopen(path, "ab");
    if (!w->f) {
        int e = errno;
        free(w);
        return pf_errorf(PF_EIO, "truth '%s': open for append: %s", path, strerror(e));
    }
    w->path = strdup(path);
    *out = w;
    return 0;
}

int pf_truth_writer_flush(pf_truth_writer *w)
{
    if (w->n && fwrite(w->buf, PF_TRUTH_RECORD_SIZE, w->n, w->f) != w->n)
        return pf_errorf(PF_EIO, "truth '%s': write: %s", w->path, strerror(errno));
    w->n = 0;
    if (fflush(w->f) != 0) return pf_errorf(PF_EIO, "truth '%s': flush: %s", w->path, strerror(errno));
    return 0;
}

int pf_truth_writer_add(pf_truth_writer *w, uint64_t id, int32_t label)
{
    uint8_t *p = w->buf + w->n * PF_TRUTH_RECORD_SIZE;
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(id >> (8 * i));
    uint32_t u = (uint32_t)label;
    for (int i = 0; i < 4; i++) p[8 + i] = (uint8_t)(u >> (8 * i));
    if (++w->n == WRITER_BUFFER_RECORDS) return pf_truth_writer_flush(w);
    return 0;
}

void pf_truth_writer_close(pf_truth_writer **wp)
{
    pf_truth_writer *w = *wp;
    if (!w) return;
    pf_truth_writer_flush(w);
    fclose(w->f);
    free(w->path);
    free(w);
    *wp = NULL;
}

typedef struct pair {
    uint64_t id;
    int32_t label;
    uint32_t order; /* position in input, so the last write of an id wins */
} pair;

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static int read_pairs(const char *path, pair **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        return pf_errorf(PF_EIO, "truth '%s': open: %s", path, strerror(errno));
    }
    size_t cap = 0;
    uint8_t rec[PF_TRUTH_RECORD_SIZE];
    pair *v = NULL;
    while (fread(rec, 1, sizeof rec, f) == sizeof rec) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            pair *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                fclose(f);
                return pf_errorf(PF_ENOMEM, "truth '%s': out of memory", path);
            }
            v = nv;
        }
        uint64_t id = 0;
        uint32_t u = 0;
        for (int i = 0; i < 8; i++) id |= (uint64_t)rec[i] << (8 * i);
        for (int i = 0; i < 4; i++) u |= (uint32_t)rec[8 + i] << (8 * i);
        v[*n] = (pair){id, (int32_t)u, (uint32_t)*n};
        (*n)++;
    }
    fclose(f);
    *out = v;
    return 0;
}

static int rebuild(pf_truth *t, pair *v, size_t n)
{
    qsort(v, n, sizeof *v, pair_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && v[m - 1].id == v[i].id)
            v[m - 1] = v[i]; /* later write wins */
        else
            v[m++] = v[i];
    }
    uint64_t *ids = malloc((m ? m : 1) * sizeof *ids);
    int32_t *labels = malloc((m ? m : 1) * sizeof *labels);
    if (!ids || !labels) {
        free(ids);
        free(labels);
        return pf_errorf(PF_ENOMEM, "truth: out of memory for %zu labels", m);
    }
    for (size_t i = 0; i < m; i++) {
        ids[i] = v[i].id;
        labels[i] = v[i].label;
    }
    free(t->ids);
    free(t->labels);
    t->ids = ids;
    t->labels = labels;
    t->n = m;
    return 0;
}

int pf_truth_merge_file(pf_truth *t, const char *path)
{
    pair *v;
    size_t n;
    int rc = read_pairs(path, &v, &n);
    if (rc < 0) return rc;
    pair *all = realloc(v, (n + t->n + 1) * sizeof *all);
    if (!all) {
        free(v);
        return pf_errorf(PF_ENOMEM, "truth '%s': out of memory", path);
    }
    /* Existing entries go first (lower order) so the file's pairs win. */
    memmove(all + t->n, all, n * sizeof *all);
    for (size_t i = 0; i < t->n; i++) all[i] = (pair){t->ids[i], t->labels[i], 0};
    for (size_t i = 0; i < n; i++) all[t->n + i].order += 1;
    rc = rebuild(t, all, n + t->n);
    free(all);
    return rc;
}

int pf_truth_load(const char *path, pf_truth *out)
{
    memset(out, 0, sizeof *out);
    return pf_truth_merge_file(out, path);
}

int32_t pf_truth_get(const pf_truth *t, uint64_t id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < t->n && t->ids[lo] == id) ? t->labels[lo] : -1;
}

void pf_truth_fini(pf_truth *t)
{
    free(t->ids);
    free(t->labels);
    memset(t, 0, sizeof *t);
}
