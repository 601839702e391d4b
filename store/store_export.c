/*
 * store_export.c - the read-side tools behind `pseudoflow store PATH
 * stats|get ID|export`: a summary, one record, and a dump in csv, jsonl or npy.
 *
 * Everything here goes through the public pf_label_store_each() walk, so each
 * tool reads one consistent snapshot in id order and runs beside a writing
 * run (LMDB readers never block the writer, nor see half a batch). Nothing
 * here includes lmdb.h.
 *
 * npy is written as one file per column in a directory rather than one
 * structured array: plain dtypes load with np.load() anywhere (numpy, Julia,
 * Rust's npyz) without a field-name contract, and the embedding matrix stays a
 * contiguous <f4 [n, dim] array ready for training. The row count is only
 * known after the walk (the snapshot may differ from an earlier count), so
 * each file starts with a fixed 128-byte header that is rewritten at the end.
 *
 * Output is little-endian regardless of host; floats are printed with %.9g so
 * a float32 survives a text round trip exactly.
 */
#include "store/label_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/error.h"

#define CONF_BINS 10   /* confidence histogram: [0,0.1), ..., [0.9,1.0] */
#define TIMES_BINS 10  /* times_decided histogram: 1..9, then 10+ */
#define NPY_HEADER 128 /* bytes: magic, version, length and a padded dict; fits any shape */

/* ----------------------------------------------------------------- stats */

struct teacher_count {
    uint64_t version, decisions;
};

struct stats {
    uint32_t classes;
    uint64_t samples, truth, decided, accepted, rejected, flagged, soft;
    uint64_t checked, correct; /* decisions on samples with a given label, and right ones */
    uint64_t *class_truth, *class_decided, *class_accepted; /* [classes] */
    uint64_t conf_decided[CONF_BINS], conf_accepted[CONF_BINS];
    uint64_t times[TIMES_BINS];
    struct teacher_count *teachers;
    size_t n_teachers, cap_teachers;
};

static int count_teacher(struct stats *st, uint64_t version)
{
    for (size_t i = st->n_teachers; i-- > 0;) /* newest versions are appended last */
        if (st->teachers[i].version == version) {
            st->teachers[i].decisions++;
            return 0;
        }
    if (st->n_teachers == st->cap_teachers) {
        size_t cap = st->cap_teachers ? 2 * st->cap_teachers : 16;
        struct teacher_count *t = realloc(st->teachers, cap * sizeof *t);
        if (!t) return pf_errorf(PF_ENOMEM, "store stats: out of memory");
        st->teachers = t;
        st->cap_teachers = cap;
    }
    st->teachers[st->n_teachers++] = (struct teacher_count){version, 1};
    return 0;
}

static int stats_visit(const pf_label_sample *smp, const pf_label_record *rec, void *ctx)
{
    struct stats *st = ctx;
    st->samples++;
    if (smp->truth >= 0) {
        st->truth++;
        if ((uint32_t)smp->truth < st->classes) st->class_truth[smp->truth]++;
    }
    if (!rec) return 0;
    int accepted = (rec->flags & PF_LABEL_ACCEPTED) != 0;
    int bin = (int)(rec->confidence * CONF_BINS);
    bin = bin < 0 ? 0 : bin >= CONF_BINS ? CONF_BINS - 1 : bin; /* 1.0 joins the top bin */
    st->decided++;
    st->accepted += accepted;
    st->rejected += !accepted;
    st->flagged += (rec->flags & PF_LABEL_ISSUE) != 0;
    st->soft += (rec->flags & PF_LABEL_SOFT) != 0;
    st->conf_decided[bin]++;
    st->conf_accepted[bin] += accepted;
    st->times[rec->times_decided >= TIMES_BINS ? TIMES_BINS - 1
              : rec->times_decided             ? rec->times_decided - 1
                                               : 0]++;
    if ((uint32_t)rec->label < st->classes) {
        st->class_decided[rec->label]++;
        st->class_accepted[rec->label] += accepted;
    }
    if (smp->truth >= 0) {
        st->checked++;
        st->correct += rec->label == smp->truth;
    }
    return count_teacher(st, rec->teacher_version);
}

static int cmp_teacher(const void *a, const void *b)
{
    uint64_t x = ((const struct teacher_count *)a)->version;
    uint64_t y = ((const struct teacher_count *)b)->version;
    return (x > y) - (x < y);
}

static void stats_print(pf_label_store *s, const struct stats *st, const pf_label_counts *c,
                        FILE *fp)
{
    typedef unsigned long long ull;
    fprintf(fp, "store '%s': dim %u, %u classes, map %llu MiB\n", pf_label_store_path(s),
            pf_label_store_dim(s), st->classes, (ull)(pf_label_store_map_size(s) >> 20));
    fprintf(fp, "samples        %llu\n", (ull)st->samples);
    fprintf(fp, "  given label  %llu\n", (ull)st->truth);
    fprintf(fp, "  decided      %llu (accepted %llu, rejected %llu, soft %llu, flagged %llu)\n",
            (ull)st->decided, (ull)st->accepted, (ull)st->rejected, (ull)st->soft,
            (ull)st->flagged);
    fprintf(fp, "  undecided    %llu\n", (ull)(st->samples - st->decided));
    if (st->checked)
        fprintf(fp, "pseudo-labels that match a given label: %.4f (%llu of %llu)\n",
                (double)st->correct / (double)st->checked, (ull)st->correct, (ull)st->checked);
    fprintf(fp, "models %llu, state keys %llu\n", (ull)c->models, (ull)c->state);

    fprintf(fp, "\nclass       given     decided    accepted\n");
    for (uint32_t k = 0; k < st->classes; k++)
        fprintf(fp, "%5u  %10llu  %10llu  %10llu\n", k, (ull)st->class_truth[k],
                (ull)st->class_decided[k], (ull)st->class_accepted[k]);

    fprintf(fp, "\nconfidence     decided    accepted\n");
    for (int b = 0; b < CONF_BINS; b++)
        fprintf(fp, "[%.1f,%.1f%c  %10llu  %10llu\n", b / (double)CONF_BINS,
                (b + 1) / (double)CONF_BINS, b == CONF_BINS - 1 ? ']' : ')',
                (ull)st->conf_decided[b], (ull)st->conf_accepted[b]);

    fprintf(fp, "\nteacher_version   decisions\n");
    for (size_t i = 0; i < st->n_teachers; i++)
        fprintf(fp, "%15llu  %10llu\n", (ull)st->teachers[i].version,
                (ull)st->teachers[i].decisions);

    fprintf(fp, "\ntimes_decided     samples\n");
    for (int b = 0; b < TIMES_BINS; b++)
        fprintf(fp, "%12d%s  %10llu\n", b + 1, b == TIMES_BINS - 1 ? "+" : " ", (ull)st->times[b]);
}

int pf_label_store_print_stats(pf_label_store *s, FILE *fp)
{
    struct stats st = {.classes = pf_label_store_classes(s)};
    pf_label_counts c;
    pf_label_store_query q = {0}; /* every sample, no embeddings */
    int rc;
    st.class_truth = calloc(st.classes, sizeof(uint64_t));
    st.class_decided = calloc(st.classes, sizeof(uint64_t));
    st.class_accepted = calloc(st.classes, sizeof(uint64_t));
    if (!st.class_truth || !st.class_decided || !st.class_accepted) {
        rc = pf_errorf(PF_ENOMEM, "store '%s': stats: out of memory", pf_label_store_path(s));
        goto done;
    }
    if ((rc = pf_label_store_each(s, &q, stats_visit, &st)) < 0) goto done;
    if ((rc = pf_label_store_counts(s, &c)) < 0) goto done;
    qsort(st.teachers, st.n_teachers, sizeof *st.teachers, cmp_teacher);
    stats_print(s, &st, &c, fp);
    if (fflush(fp) != 0 || ferror(fp))
        rc = pf_errorf(PF_EIO, "store '%s': stats: write: %s", pf_label_store_path(s),
                       strerror(errno));
done:
    free(st.teachers);
    free(st.class_accepted);
    free(st.class_decided);
    free(st.class_truth);
    return rc;
}

/* ---------------------------------------------------------------- record */

static void print_flags(uint32_t flags, FILE *fp)
{
    fputs(flags & PF_LABEL_ACCEPTED ? "accepted" : "rejected", fp);
    if (flags & PF_LABEL_SOFT) fputs(", soft", fp);
    if (flags & PF_LABEL_ISSUE) fputs(", flagged as a label issue", fp);
}

int pf_label_store_print_record(pf_label_store *s, uint64_t id, FILE *fp)
{
    typedef unsigned long long ull;
    uint32_t dim = pf_label_store_dim(s);
    float *x = malloc((size_t)dim * sizeof *x + 1);
    pf_label_sample smp;
    pf_label_record rec;
    int rc;
    if (!x) return pf_errorf(PF_ENOMEM, "store '%s': out of memory", pf_label_store_path(s));
    if ((rc = pf_label_store_get_sample(s, id, &smp, x)) < 0) goto done;
    rc = pf_label_store_get_label(s, id, &rec);
    if (rc < 0 && rc != PF_ENOTFOUND) goto done;
    int decided = rc == 0;
    fprintf(fp, "id             %llu\n", (ull)id);
    fprintf(fp, "arrival_ms     %llu\n", (ull)smp.arrival_ms);
    fprintf(fp, "source         %u\n", smp.source);
    if (smp.truth >= 0)
        fprintf(fp, "given label    %d\n", smp.truth);
    else
        fprintf(fp, "given label    none\n");
    if (!decided) {
        fprintf(fp, "decision       none yet\n");
    } else {
        fprintf(fp, "label          %d (", rec.label);
        print_flags(rec.flags, fp);
        fprintf(fp, ")\nconfidence     %.6g\n", rec.confidence);
        fprintf(fp, "weight         %.6g\n", rec.weight);
        fprintf(fp, "teacher        v%llu\n", (ull)rec.teacher_version);
        fprintf(fp, "policy         %s\n", rec.policy[0] ? rec.policy : "-");
        fprintf(fp, "decided_ms     %llu\n", (ull)rec.decided_ms);
        fprintf(fp, "times_decided  %u\n", rec.times_decided);
        fprintf(fp, "top-k         ");
        for (uint32_t i = 0; i < rec.k; i++)
            fprintf(fp, " %d:%.4f", rec.topk_class[i], rec.topk_prob[i]);
        fprintf(fp, "\n");
    }
    double sum = 0, lo = dim ? x[0] : 0, hi = lo; /* min/max/mean: no libm in pf_store */
    for (uint32_t j = 0; j < dim; j++) {
        sum += x[j];
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    fprintf(fp, "embedding      dim %u, min %.4g, max %.4g, mean %.4g, first:", dim, lo, hi,
            dim ? sum / dim : 0.0);
    for (uint32_t j = 0; j < dim && j < 8; j++)
        fprintf(fp, " %.4g", x[j]); /* 8 fit a line */
    fprintf(fp, "%s\n", dim > 8 ? " ..." : "");
    rc = 0;
    if (fflush(fp) != 0 || ferror(fp))
        rc = pf_errorf(PF_EIO, "store '%s': get: write: %s", pf_label_store_path(s),
                       strerror(errno));
done:
    free(x);
    return rc;
}

/* ---------------------------------------------------------------- export */

int pf_label_store_parse_format(const char *text, int *format)
{
    static const char *names[] = {"csv", "jsonl", "npy"};
    for (int i = 0; i < 3; i++)
        if (text && strcmp(text, names[i]) == 0) {
            *format = i;
            return 0;
        }
    return pf_errorf(PF_EINVAL, "export format '%s': expected csv, jsonl or npy", text ? text : "");
}

/* npy columns, in file order; x is last and only written with embeddings. */
enum {
    COL_ID,
    COL_TRUTH,
    COL_LABEL,
    COL_CONF,
    COL_WEIGHT,
    COL_TEACHER,
    COL_TIMES,
    COL_ACC,
    COL_X,
    N_COLS
};
static const struct {
    const char *file, *descr;
    int bytes;
} npy_cols[N_COLS] = {
    {"ids.npy", "<u8", 8},           {"truth.npy", "<i4", 4},    {"label.npy", "<i4", 4},
    {"confidence.npy", "<f4", 4},    {"weight.npy", "<f4", 4},   {"teacher_version.npy", "<u8", 8},
    {"times_decided.npy", "<u4", 4}, {"accepted.npy", "|u1", 1}, {"x.npy", "<f4", 4},
};

struct export_ctx {
    int format;
    uint32_t dim;
    FILE *fp;          /* csv, jsonl */
    FILE *col[N_COLS]; /* npy */
    uint8_t *row;      /* npy: dim * 4 bytes of staging for one embedding */
    uint64_t rows;
};

static void le_bytes(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void npy_put(FILE *f, uint64_t v, int bytes)
{
    uint8_t b[8];
    le_bytes(b, v, bytes);
    fwrite(b, 1, (size_t)bytes, f);
}

static uint32_t f32_bits(float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    return v;
}

/* Write (or rewrite, at offset 0) a version 1.0 header padded to NPY_HEADER bytes. */
static void npy_header(FILE *f, const char *descr, uint64_t rows, uint32_t dim)
{
    char dict[NPY_HEADER];
    int n = dim ? snprintf(dict, sizeof dict,
                           "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %u), }", descr,
                           (unsigned long long)rows, dim)
                : snprintf(dict, sizeof dict,
                           "{'descr': '%s', 'fortran_order': False, 'shape': (%llu,), }", descr,
                           (unsigned long long)rows);
    int len = NPY_HEADER - 10; /* after magic (6), version (2) and length (2) */
    memset(dict + n, ' ', (size_t)(len - n - 1));
    dict[len - 1] = '\n';
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    npy_put(f, (uint64_t)len, 2);
    fwrite(dict, 1, (size_t)len, f);
}

static int export_visit(const pf_label_sample *smp, const pf_label_record *rec, void *ctx)
{
    struct export_ctx *e = ctx;
    static const pf_label_record none = {.label = -1};
    const pf_label_record *r = rec ? rec : &none;
    int accepted = (r->flags & PF_LABEL_ACCEPTED) != 0;
    typedef unsigned long long ull;
    e->rows++;
    if (e->format == PF_LABEL_EXPORT_CSV) {
        fprintf(e->fp, "%llu,%d,%d,%.9g,%.9g,%llu,%u,%d", (ull)smp->id, smp->truth, r->label,
                r->confidence, r->weight, (ull)r->teacher_version, r->times_decided, accepted);
        for (uint32_t j = 0; smp->x && j < e->dim; j++)
            fprintf(e->fp, ",%.9g", smp->x[j]);
        fputc('\n', e->fp);
    } else if (e->format == PF_LABEL_EXPORT_JSONL) {
        fprintf(e->fp,
                "{\"id\":%llu,\"truth\":%d,\"label\":%d,\"confidence\":%.9g,\"weight\":%.9g,"
                "\"teacher_version\":%llu,\"times_decided\":%u,\"accepted\":%s",
                (ull)smp->id, smp->truth, r->label, r->confidence, r->weight,
                (ull)r->teacher_version, r->times_decided, accepted ? "true" : "false");
        if (smp->x) {
            fputs(",\"x\":[", e->fp);
            for (uint32_t j = 0; j < e->dim; j++)
                fprintf(e->fp, j ? ",%.9g" : "%.9g", smp->x[j]);
            fputc(']', e->fp);
        }
        fputs("}\n", e->fp);
    } else {
        npy_put(e->col[COL_ID], smp->id, 8);
        npy_put(e->col[COL_TRUTH], (uint32_t)smp->truth, 4);
        npy_put(e->col[COL_LABEL], (uint32_t)r->label, 4);
        npy_put(e->col[COL_CONF], f32_bits(r->confidence), 4);
        npy_put(e->col[COL_WEIGHT], f32_bits(r->weight), 4);
        npy_put(e->col[COL_TEACHER], r->teacher_version, 8);
        npy_put(e->col[COL_TIMES], r->times_decided, 4);
        npy_put(e->col[COL_ACC], (uint64_t)accepted, 1);
        if (smp->x) {
            for (uint32_t j = 0; j < e->dim; j++)
                le_bytes(e->row + 4 * j, f32_bits(smp->x[j]), 4);
            fwrite(e->row, 4, e->dim, e->col[COL_X]);
        }
    }
    return 0;
}

static int export_npy(pf_label_store *s, struct export_ctx *e, const pf_label_store_query *q,
                      const char *dir)
{
    const char *path = pf_label_store_path(s);
    char file[4200];
    int ncols = q->with_embeddings ? N_COLS : COL_X;
    int rc = 0;
    if (mkdir(dir, 0775) < 0 && errno != EEXIST)
        return pf_errorf(PF_EIO, "store '%s': export: create '%s': %s", path, dir, strerror(errno));
    if (q->with_embeddings && !(e->row = malloc((size_t)e->dim * 4 + 1)))
        return pf_errorf(PF_ENOMEM, "store '%s': export: out of memory", path);
    for (int c = 0; c < ncols; c++) {
        snprintf(file, sizeof file, "%s/%s", dir, npy_cols[c].file);
        if (!(e->col[c] = fopen(file, "wb"))) {
            rc =
                pf_errorf(PF_EIO, "store '%s': export: open '%s': %s", path, file, strerror(errno));
            goto done;
        }
        npy_header(e->col[c], npy_cols[c].descr, 0, c == COL_X ? e->dim : 0);
    }
    if ((rc = pf_label_store_each(s, q, export_visit, e)) < 0) goto done;
    for (int c = 0; c < ncols; c++) { /* now the row count is known */
        rewind(e->col[c]);
        npy_header(e->col[c], npy_cols[c].descr, e->rows, c == COL_X ? e->dim : 0);
    }
done:
    for (int c = 0; c < ncols; c++) {
        if (!e->col[c]) continue;
        if ((ferror(e->col[c]) || fclose(e->col[c]) != 0) && rc == 0)
            rc = pf_errorf(PF_EIO, "store '%s': export: write '%s/%s': %s", path, dir,
                           npy_cols[c].file, strerror(errno));
        e->col[c] = NULL;
    }
    free(e->row);
    return rc;
}

int pf_label_store_export(pf_label_store *s, int format, int with_embeddings, const char *out_path)
{
    const char *path = pf_label_store_path(s);
    pf_label_store_query q = {.with_embeddings = with_embeddings != 0};
    struct export_ctx e = {.format = format, .dim = pf_label_store_dim(s)};
    int to_stdout = !out_path || strcmp(out_path, "-") == 0;
    int rc;
    if (format < PF_LABEL_EXPORT_CSV || format > PF_LABEL_EXPORT_NPY)
        return pf_errorf(PF_EINVAL, "store '%s': export: unknown format %d", path, format);
    if (format == PF_LABEL_EXPORT_NPY) {
        if (to_stdout)
            return pf_errorf(PF_EINVAL, "store '%s': export npy: needs an output directory", path);
        return export_npy(s, &e, &q, out_path);
    }
    e.fp = to_stdout ? stdout : fopen(out_path, "w");
    if (!e.fp)
        return pf_errorf(PF_EIO, "store '%s': export: open '%s': %s", path, out_path,
                         strerror(errno));
    if (format == PF_LABEL_EXPORT_CSV) {
        fputs("id,truth,label,confidence,weight,teacher_version,times_decided,accepted", e.fp);
        for (uint32_t j = 0; with_embeddings && j < e.dim; j++)
            fprintf(e.fp, ",x%u", j);
        fputc('\n', e.fp);
    }
    rc = pf_label_store_each(s, &q, export_visit, &e);
    int bad = fflush(e.fp) != 0 || ferror(e.fp);
    if (!to_stdout && fclose(e.fp) != 0) bad = 1;
    if (bad && rc == 0)
        rc = pf_errorf(PF_EIO, "store '%s': export: write '%s': %s", path,
                       to_stdout ? "stdout" : out_path, strerror(errno));
    return rc;
}
