/*
 * csv.h - comma-separated floats, one sample per line, gzip'd or plain.
 *
 *     pf_csv_opts o = PF_CSV_OPTS_DEFAULT;
 *     o.label_col = 0;                     // first column holds the label
 *     pf_dataset d;
 *     if (pf_csv_load("data.csv", &o, 0, &d) < 0)
 *         fprintf(stderr, "%s\n", pf_error_last());
 *         // data.csv:17: column 3: expected a number, got 'x'
 *
 * Cells are trimmed of blanks; blank lines are skipped; "\r\n" endings are
 * fine. No quoting: cells are numbers. An empty label cell means unlabeled
 * (-1). Every data line must have as many cells as the first.
 */
#ifndef PF_CSV_H
#define PF_CSV_H

#include "data/dataset.h"

typedef struct pf_csv_opts {
    int label_col; /* 0-based column holding an integer label, or -1 for none */
    int header;    /* 1: a header line; 0: none; -1: detect (a cell that is not a number) */
    char delim;    /* cell separator, ',' by default */
} pf_csv_opts;

#define PF_CSV_OPTS_DEFAULT ((pf_csv_opts){.label_col = -1, .header = -1, .delim = ','})

/* Load up to `limit` data rows (0 = all); opts NULL means the defaults.
 * Returns 0, PF_EIO (open/read), PF_EPARSE (bad cell, ragged row, label
 * column out of range, no data: "path:line: column c: ..."), PF_ENOMEM.
 * On failure *out is empty. */
int pf_csv_load(const char *path, const pf_csv_opts *opts, size_t limit, pf_dataset *out);

#endif
