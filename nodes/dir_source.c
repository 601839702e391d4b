/*
 * dir_source.c - a live source that watches a directory: every data file
 * dropped into it (.npy, .fvecs, .csv, IDX; data/dataset.h) becomes samples.
 *
 * Files are taken once each, in name order among those present at a scan
 * (every poll_ms). Producers must make a file appear whole: write it under a
 * name starting with '.' or ending in .tmp/.part, then rename it (rename is
 * atomic); such names are never read. A file "X.npy" may come with given
 * labels in "X.labels.npy" (present before X.npy appears); without one, its
 * rows arrive unlabeled.
 *
 * Ids are stable: rows are numbered by one counter across files (the stream
 * position), id = id_offset + 1 + position. Before a file's first row is sent
 * its name, first position and row count are written to the state file
 * <run_dir>/<node>#<i>.files (replaced atomically), so a restarted source
 * re-sends the same rows under the same ids. A file is marked done there only
 * once the sampler has acknowledged every row of it (source_driver.h);
 * restarting, the source skips what is done and resumes the rest. Files are
 * never moved or deleted: the state file is the record of what was consumed.
 *
 * It never ends, unless once=1: then it finishes when every file present is
 * done and a scan finds nothing new. A file that does not load, or has the
 * wrong dim, is logged and marked bad (never retried).
 */
#include "data/dataset.h"
#include "nodes/source_driver.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct dirsrc_cfg {
    char *dir;
    int64_t dim;
    int64_t poll_ms;
    int once;
    int64_t batch;
    int64_t id_offset;
    int64_t ack_timeout_ms;
    double power;
} dirsrc_cfg;

static const pf_param dirsrc_params[] = {
    PF_PARAM_STRING(dirsrc_cfg, dir, NULL, "directory to watch for data files (required)"),
    PF_PARAM_INT(dirsrc_cfg, dim, 0, 0, 1048576, "features per row; 0 = the graph's dim (one of them is required)"),
    PF_PARAM_INT(dirsrc_cfg, poll_ms, 500, 10, 3600000, "look for new files this often"),
    PF_PARAM_BOOL(dirsrc_cfg, once, 0, "finish once every file present is done (default: watch forever)"),
    PF_PARAM_INT(dirsrc_cfg, batch, 0, 0, 65536, "samples per batch; 0 = the graph's batch"),
    PF_PARAM_INT(dirsrc_cfg, id_offset, 0, 0, 1e18, "added to every id, to keep several sources' ids apart"),
    PF_PARAM_INT(dirsrc_cfg, ack_timeout_ms, 5000, 10, 3600000, "re-send a sample not acknowledged by the sampler within this"),
    PF_PARAM_FLOAT(dirsrc_cfg, power, 1, 0.01, 16, PF_POWER_HELP),
    PF_PARAM_END,
};

enum { PORT_OUT, PORT_ACKS };

static const pf_port_spec dirsrc_ports[] = {
    {"out", PF_OUT, PF_DATA, 0, "batches of samples: ids, x, labels (-1 = unlabeled)"},
    {"acks", PF_IN, PF_DATA, PF_PORT_FEEDBACK, "ids the sampler has persisted; files are done when all are"},
    {NULL},
};

enum { FILE_OPEN = 0, FILE_DONE = 1, FILE_BAD = 2 };

typedef struct dfile {
    char *name;     /* file name inside dir */
    uint64_t first; /* stream position of its first row */
    uint64_t rows;
    int status;     /* FILE_* */
} dfile;

typedef struct dirsrc {
    dirsrc_cfg cfg;
    uint32_t dim, classes;
    dfile *files;
    size_t nfiles, cap;
    uint64_t end;      /* positions assigned so far: first free position */
    size_t loaded;     /* index of the file in ds, or SIZE_MAX */
    pf_dataset ds;
    uint64_t next_scan;
    int scanned_empty; /* the last scan found nothing new */
    char state_path[4200];
    pf_source_driver *drv;
} dirsrc;

static int skip_name(const char *n)
{
    size_t len = strlen(n);
    if (n[0] == '.') return 1;
    static const char *const tails[] = {".tmp", ".part", ".labels.npy", ".labels.npy.gz"};
    for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
        size_t t = strlen(tails[i]);
        if (len >= t && strcmp(n + len - t, tails[i]) == 0) return 1;
    }
    return 0;
}

static int save_state(dirsrc *s)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->state_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return pf_errorf(PF_EIO, "dir_source: write '%s': %s", tmp, strerror(errno));
    for (size_t i = 0; i < s->nfiles; i++)
        fprintf(f, "%llu %llu %d %s\n", (unsigned long long)s->files[i].first,
                (unsigned long long)s->files[i].rows, s->files[i].status, s->files[i].name);
    int bad = ferror(f) | (fflush(f) != 0);
    if (fclose(f) != 0 || bad || rename(tmp, s->state_path) != 0)
        return pf_errorf(PF_EIO, "dir_source: write '%s': %s", s->state_path, strerror(errno));
    return 0;
}

static int add_file(dirsrc *s, const char *name, uint64_t first, uint64_t rows, int status)
{
    if (s->nfiles == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        dfile *f = realloc(s->files, cap * sizeof *f);
        if (!f) return pf_errorf(PF_ENOMEM, "dir_source: out of memory");
        s->files = f, s->cap = cap;
    }
    char *n = strdup(name);
    if (!n) return pf_errorf(PF_ENOMEM, "dir_source: out of memory");
    s->files[s->nfiles++] = (dfile){n, first, rows, status};
    if (status != FILE_BAD && first + rows > s->end) s->end = first + rows;
    return 0;
}

static int load_state(dirsrc *s)
{
    FILE *f = fopen(s->state_path, "r");
    if (!f) return 0;
    char line[4400];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        unsigned long long first, rows;
        int status, off = 0;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%llu %llu %d %n", &first, &rows, &status, &off) != 3 || !line[off]) continue;
        rc = add_file(s, line + off, first, rows, status);
    }
    fclose(f);
    return rc;
}

static int known(const dirsrc *s, const char *name)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].name, name) == 0) return 1;
    return 0;
}

/* Load file i into ds (once; the previous one is released). */
static int load(dirsrc *s, size_t i, pf_dataset *out)
{
    char path[8400], labels[8500];
    snprintf(path, sizeof path, "%s/%s", s->cfg.dir, s->files[i].name);
    snprintf(labels, sizeof labels, "%s", path);
    char *dot = strrchr(labels, '.'); /* X.npy -> X.labels.npy */
    struct stat st;
    int have_labels = 0;
    if (dot && strcmp(dot, ".npy") == 0) {
        snprintf(dot, sizeof labels - (size_t)(dot - labels), ".labels.npy");
        have_labels = stat(labels, &st) == 0;
    }
    int rc = pf_dataset_load(path, have_labels ? labels : NULL, 0, out);
    if (rc < 0) return rc;
    if (out->dim != s->dim) {
        pf_dataset_fini(out);
        return pf_errorf(PF_EMISMATCH, "dir_source: '%s' has %zu features per row, expected %u", path,
                         out->dim, s->dim);
    }
    if ((rc = pf_dataset_power(out, s->cfg.power)) < 0) {
        pf_dataset_fini(out);
        return rc;
    }
    if (out->labels && out->classes > s->classes) {
        pf_dataset_fini(out);
        return pf_errorf(PF_EMISMATCH, "dir_source: '%s' has labels up to %u, the graph has %u classes",
                         labels, out->classes - 1, s->classes);
    }
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Look for the next new file (in name order) and open it at position `end`.
 * Returns 1 when one was opened, 0 when none is there, < 0 on error. */
static int open_next(dirsrc *s, pf_ctx *ctx)
{
    uint64_t now = pf_ctx_now_ms(ctx);
    if (now < s->next_scan) return 0;
    s->next_scan = now + (uint64_t)s->cfg.poll_ms;
    DIR *d = opendir(s->cfg.dir);
    if (!d) return pf_errorf(PF_EIO, "dir_source: open directory '%s': %s", s->cfg.dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (skip_name(e->d_name) || known(s, e->d_name)) continue;
        char path[8400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", s->cfg.dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(names, cap * sizeof *v);
            if (!v) { rc = pf_errorf(PF_ENOMEM, "dir_source: out of memory"); break; }
            names = v;
        }
        if (!(names[n] = strdup(e->d_name))) { rc = pf_errorf(PF_ENOMEM, "dir_source: out of memory"); break; }
        n++;
    }
    closedir(d);
    if (rc == 0 && n) qsort(names, n, sizeof *names, cmp_name);
    s->scanned_empty = rc == 0 && n == 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pf_dataset ds = {0};
        if ((rc = add_file(s, names[i], s->end, 0, FILE_BAD)) < 0) break;
        if (load(s, s->nfiles - 1, &ds) < 0) {
            PF_WARN("skipping '%s/%s' for good: %s", s->cfg.dir, names[i], pf_error_last());
            rc = save_state(s);
            continue;
        }
        dfile *f = &s->files[s->nfiles - 1];
        f->rows = ds.n, f->status = ds.n ? FILE_OPEN : FILE_DONE;
        s->end = f->first + f->rows;
        /* Durable before any row goes out: a restart re-sends these rows under the same ids. */
        if ((rc = save_state(s)) < 0) {
            pf_dataset_fini(&ds);
            break;
        }
        PF_INFO("%s/%s: %zu rows as ids %llu..%llu", s->cfg.dir, names[i], ds.n,
                (unsigned long long)(s->cfg.id_offset + 1 + f->first),
                (unsigned long long)(s->cfg.id_offset + f->first + f->rows));
        pf_dataset_fini(&s->ds);
        s->ds = ds;
        s->loaded = s->nfiles - 1;
        pf_ctx_count(ctx, "files", 1);
        if (ds.n) rc = 1;
        break; /* one file at a time: the rest wait for the next call */
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int dirsrc_fill(void *self, uint64_t pos, uint64_t *id, float *x, int32_t *label, int32_t *truth)
{
    dirsrc *s = self;
    size_t i = s->nfiles;
    while (i > 0 && !(s->files[i - 1].status != FILE_BAD && pos >= s->files[i - 1].first &&
                      pos < s->files[i - 1].first + s->files[i - 1].rows))
        i--;
    if (i == 0) return PF_EAGAIN; /* not assigned yet: tick opens the next file */
    i--;
    if (s->loaded != i) {
        pf_dataset ds = {0};
        int rc = load(s, i, &ds);
        if (rc < 0) return rc; /* a file that loaded before must load again: an error to restart on */
        pf_dataset_fini(&s->ds);
        s->ds = ds, s->loaded = i;
    }
    size_t row = (size_t)(pos - s->files[i].first);
    memcpy(x, s->ds.x + row * s->dim, s->dim * sizeof *x);
    *id = (uint64_t)s->cfg.id_offset + 1 + pos;
    *label = s->ds.labels ? s->ds.labels[row] : -1;
    *truth = *label;
    return 0;
}

static uint64_t dirsrc_position(void *self, uint64_t id)
{
    const dirsrc *s = self;
    uint64_t off = (uint64_t)s->cfg.id_offset + 1;
    return id >= off && id - off < s->end ? id - off : UINT64_MAX;
}

static void dirsrc_free(dirsrc *s)
{
    pf_source_driver_destroy(&s->drv);
    pf_dataset_fini(&s->ds);
    for (size_t i = 0; i < s->nfiles; i++) free(s->files[i].name);
    free(s->files);
    free(s);
}

/* Before any process starts: the directory is there and can be listed, and
 * files have a width to be checked against. */
static int dirsrc_configure(const void *cfgp, const pf_graph *g, const pf_gnode *node)
{
    const dirsrc_cfg *cfg = cfgp;
    int rc = 0;
    if (!cfg->dim && !g->cfg.dim)
        rc = pf_errorf(PF_EINVAL, "parameter 'dim': set dim= on the node or the graph "
                                  "(files are checked against it)");
    rc = pf_kind_check_path(rc, node, "dir", cfg->dir, PF_PATH_DIR);
    return pf_kind_check_same_float(rc, g, node, "power");
}

static int dirsrc_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const dirsrc_cfg *cfg = cfgp;
    const pf_graph *g = pf_ctx_graph(ctx);
    dirsrc *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "dir_source: out of memory");
    s->cfg = *cfg;
    s->loaded = SIZE_MAX;
    s->dim = (uint32_t)(cfg->dim ? cfg->dim : g->cfg.dim);
    s->classes = (uint32_t)g->cfg.classes;
    int rc = 0;
    struct stat st;
    if (!s->dim) {
        rc = pf_errorf(PF_EINVAL, "dir_source: set dim= on the node or the graph (files are checked against it)");
        goto fail;
    }
    if (stat(cfg->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = pf_errorf(PF_EIO, "dir_source: '%s' is not a directory", cfg->dir);
        goto fail;
    }
    if ((rc = pf_run_dir_state_path(pf_ctx_run_dir(ctx), pf_ctx_name(ctx), PF_RUN_DIR_FILES, s->state_path,
                                    sizeof s->state_path)) < 0 ||
        (rc = load_state(s)) < 0)
        goto fail;
    pf_source_spec spec = {
        .self = s,
        .total = 0,
        .dim = s->dim,
        .classes = s->classes,
        .batch = (uint32_t)cfg->batch,
        .ack_timeout_ms = (uint64_t)cfg->ack_timeout_ms,
        .fill = dirsrc_fill,
        .position = dirsrc_position,
    };
    if ((rc = pf_source_driver_new(ctx, &spec, PORT_OUT, PORT_ACKS, &s->drv)) < 0) goto fail;
    /* Rows of files marked done are persisted: start at the first file that is not. */
    uint64_t done_to = s->end;
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i].status == FILE_OPEN && s->files[i].first < done_to) done_to = s->files[i].first;
    pf_source_driver_skip_to(s->drv, done_to);
    if (s->nfiles) PF_INFO("resuming: %zu files known, rows from position %llu on", s->nfiles, (unsigned long long)done_to);
    *state = s;
    return 0;
fail:
    dirsrc_free(s);
    return rc;
}

static int dirsrc_tick(void *state, pf_ctx *ctx)
{
    dirsrc *s = state;
    int rc;
    /* Every position assigned is produced: time for a new file. */
    if (pf_source_driver_produced(s->drv) >= s->end && (rc = open_next(s, ctx)) < 0) return rc;
    if ((rc = pf_source_driver_tick(s->drv, ctx)) < 0) return rc;
    uint64_t acked = pf_source_driver_acked(s->drv);
    int changed = 0, open = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        dfile *f = &s->files[i];
        if (f->status != FILE_OPEN) continue;
        if (f->first + f->rows <= acked) {
            f->status = FILE_DONE, changed = 1;
            PF_INFO("%s/%s: all %llu rows persisted; done", s->cfg.dir, f->name, (unsigned long long)f->rows);
        } else {
            open = 1;
        }
    }
    if (changed && (rc = save_state(s)) < 0) return rc;
    if (s->cfg.once && !open && s->scanned_empty && pf_source_driver_produced(s->drv) >= s->end)
        pf_ctx_finish(ctx);
    return 0;
}

static int dirsrc_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    return pf_source_driver_process(((dirsrc *)state)->drv, ctx, msg);
}

static int dirsrc_drain(void *state, pf_ctx *ctx)
{
    return pf_source_driver_drain(((dirsrc *)state)->drv, ctx);
}

static void dirsrc_stop(void **state, pf_ctx *ctx)
{
    if (*state) dirsrc_free(*state);
    *state = NULL;
}

static const pf_node_ops dirsrc_ops = {
    .configure = dirsrc_configure,
    .start = dirsrc_start,
    .process = dirsrc_process,
    .tick = dirsrc_tick,
    .drain = dirsrc_drain,
    .stop = dirsrc_stop,
};

const pf_kind pf_kind_dir_source = {
    .name = "dir_source",
    .summary = "watches a directory; every data file dropped in becomes samples with stable ids (live)",
    .params = dirsrc_params,
    .config_size = sizeof(dirsrc_cfg),
    .ports = dirsrc_ports,
    .flags = 0,
    .ops = &dirsrc_ops,
};
