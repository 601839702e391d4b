/*
 * csv.c - a matrix of floats from delimited text, one sample per line.
 *
 * Deliberately small: no quoting, no escapes, no missing-value syntax,
 * because feature files are numbers. What it is strict about is what makes
 * a bad file obvious: every cell must parse completely as a finite number
 * (strtof, C locale), every data line must have the first line's width, and
 * each error names file:line and the 1-based column with the offending text.
 *
 * Lines are read with gzgets into a buffer that grows for long lines (a
 * 784-column row is ~5 KB), so gzip'd CSV works too. Rows accumulate into
 * arrays that double as they fill. A header is detected when the first
 * non-blank line has a cell that is not a number (opts->header = -1), or
 * forced either way.
 */
#include "data/csv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/gzfile.h"
#include "runtime/error.h"

#define FIRST_LINE_BYTES 4096 /* grows by doubling for wide rows */
#define FIRST_ROWS 1024       /* row capacity before the first doubling */
#define SHOW_CELL 40          /* characters of a bad cell quoted in an error */

typedef struct reader {
    gzFile f;
    const char *path;
    char *line;
    size_t cap;
    size_t lineno; /* 1-based number of the line in `line` */
} reader;

/* Next line without its "\n" / "\r\n"; *eof at end of file. */
static int next_line(reader *r, size_t *len, int *eof)
{
    size_t n = 0;
    *eof = 0;
    for (;;) {
        if (r->cap - n < 2) {
            size_t next = r->cap ? r->cap * 2 : FIRST_LINE_BYTES;
            char *grown = realloc(r->line, next);
            if (!grown)
                return pf_errorf(PF_ENOMEM, "%s:%zu: out of memory", r->path, r->lineno + 1);
            r->line = grown;
            r->cap = next;
        }
        if (!gzgets(r->f, r->line + n, (int)(r->cap - n > INT32_MAX ? INT32_MAX : r->cap - n))) {
            int errnum = 0;
            const char *msg = gzerror(r->f, &errnum);
            if (errnum != Z_OK && errnum != Z_BUF_ERROR)
                return pf_errorf(PF_EIO, "'%s': read error: %s", r->path,
                                 errnum == Z_ERRNO ? strerror(errno) : msg);
            if (n == 0) {
                *eof = 1;
                return 0;
            }
            break; /* last line without a newline */
        }
        n += strlen(r->line + n);
        if (n > 0 && r->line[n - 1] == '\n') break;
    }
    r->lineno++;
    while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r'))
        r->line[--n] = '\0';
    *len = n;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

/* Split the line in place at delim; returns the cell count, cells[] up to max. */
static size_t split(char *line, char delim, char **cells, size_t max)
{
    size_t n = 0;
    for (char *p = line;; p++) {
        char *start = p;
        while (*p && *p != delim)
            p++;
        int last = *p == '\0';
        *p = '\0';
        if (n < max) cells[n] = trim(start);
        n++;
        if (last) return n;
    }
}

static int parse_float(const char *cell, float *v)
{
    char *end;
    errno = 0;
    float f = strtof(cell, &end);
    if (!*cell || *end || !isfinite(f)) return -1; /* empty, trailing junk, nan, inf, overflow */
    *v = f;
    return 0;
}

static int parse_label(const char *cell, int32_t *v)
{
    if (!*cell) {
        *v = -1; /* empty label cell: unlabeled */
        return 0;
    }
    char *end;
    errno = 0;
    long long l = strtoll(cell, &end, 10);
    if (*end || errno || l < -1 || l > INT32_MAX) return -1;
    *v = (int32_t)l;
    return 0;
}

/* Does every cell parse as what its column should hold? (header detection) */
static int all_numbers(char **cells, size_t n, int label_col)
{
    for (size_t c = 0; c < n; c++) {
        float f;
        int32_t l;
        if ((int)c == label_col ? parse_label(cells[c], &l) : parse_float(cells[c], &f)) return 0;
    }
    return 1;
}

static int cell_error(const reader *r, size_t col, const char *want, const char *cell)
{
    return pf_errorf(PF_EPARSE, "%s:%zu: column %zu: expected %s, got '%.*s%s'", r->path, r->lineno,
                     col + 1, want, SHOW_CELL, cell, strlen(cell) > SHOW_CELL ? "..." : "");
}

int pf_csv_load(const char *path, const pf_csv_opts *opts, size_t limit, pf_dataset *out)
{
    const pf_csv_opts o = opts ? *opts : PF_CSV_OPTS_DEFAULT;
    memset(out, 0, sizeof *out);
    reader r = {.path = path};
    char **cells = NULL;
    float *x = NULL;
    int32_t *labels = NULL;
    size_t ncols = 0, dim = 0, rows = 0, cap = 0, width_line = 0, max_cells = 0;
    int header = o.header;
    int rc = pf_gzfile_open(path, &r.f);
    if (rc < 0) return rc;

    while (!limit || rows < limit) {
        size_t len = 0;
        int eof;
        if ((rc = next_line(&r, &len, &eof)) < 0) goto fail;
        if (eof) break;
        if (!*trim(r.line)) continue; /* blank line */
        /* Room for as many cells as the line could hold: delimiters + 1. */
        size_t need = 1;
        for (size_t i = 0; i < len; i++)
            need += r.line[i] == o.delim;
        if (need > max_cells) {
            char **grown = realloc(cells, need * sizeof *cells);
            if (!grown) {
                rc = pf_errorf(PF_ENOMEM, "%s:%zu: out of memory", path, r.lineno);
                goto fail;
            }
            cells = grown;
            max_cells = need;
        }
        size_t n = split(r.line, o.delim, cells, max_cells);
        if (header != 0 && ncols == 0) { /* the first non-blank line: a header? */
            int is_header = header == 1 || !all_numbers(cells, n, o.label_col);
            header = 0;
            if (is_header) continue;
        }
        if (ncols == 0) {
            ncols = n;
            width_line = r.lineno;
            if (o.label_col >= 0 && (size_t)o.label_col >= ncols) {
                rc = pf_errorf(PF_EPARSE, "%s:%zu: label column %d is out of range (%zu columns)",
                               path, r.lineno, o.label_col + 1, ncols);
                goto fail;
            }
            dim = ncols - (o.label_col >= 0);
            if (dim == 0) {
                rc = pf_errorf(PF_EPARSE, "%s:%zu: no feature columns", path, r.lineno);
                goto fail;
            }
        } else if (n != ncols) {
            rc = pf_errorf(PF_EPARSE, "%s:%zu: %zu columns, expected %zu (as on line %zu)", path,
                           r.lineno, n, ncols, width_line);
            goto fail;
        }
        if (rows == cap) {
            size_t next = cap ? cap * 2 : FIRST_ROWS;
            float *gx = realloc(x, next * dim * sizeof *x);
            if (gx) x = gx;
            int32_t *gl = o.label_col >= 0 ? realloc(labels, next * sizeof *labels) : NULL;
            if (gl) labels = gl;
            if (!gx || (o.label_col >= 0 && !gl)) {
                rc = pf_errorf(PF_ENOMEM, "%s:%zu: out of memory for %zu rows", path, r.lineno,
                               next);
                goto fail;
            }
            cap = next;
        }
        float *row = x + rows * dim;
        for (size_t c = 0, j = 0; c < n; c++) {
            if ((int)c == o.label_col) {
                if (parse_label(cells[c], &labels[rows]) < 0) {
                    rc = cell_error(&r, c, "an integer label >= -1", cells[c]);
                    goto fail;
                }
            } else if (parse_float(cells[c], &row[j++]) < 0) {
                rc = cell_error(&r, c, "a number", cells[c]);
                goto fail;
            }
        }
        rows++;
    }
    if (rows == 0) {
        rc = pf_errorf(PF_EPARSE, "%s: no data rows", path);
        goto fail;
    }
    out->n = rows;
    out->dim = dim;
    out->x = x;
    out->labels = labels;
    free(cells);
    free(r.line);
    gzclose(r.f);
    if ((rc = pf_dataset_validate(out, path)) < 0) pf_dataset_fini(out); /* sets classes */
    return rc;
fail:
    free(x);
    free(labels);
    free(cells);
    free(r.line);
    gzclose(r.f);
    return rc;
}
