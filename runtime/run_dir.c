/*
 * run_dir.c - see run_dir.h.
 *
 * The state of a run is listed here once, by who writes it:
 *   - per instance NAME#I: NAME#I.cursor (sources), NAME#I.files
 *     (dir_source), NAME#I.ckpt.pfm (student, teacher), NAME#I.ended (its
 *     end-of-stream record), NAME#I.tsv (file_sink's default output, which
 *     it appends to so that a restart continues it);
 *   - per run: every truth-*.bin (labels sources hid for the evaluator,
 *     which reads them all), metrics.jsonl (appended), summary.json,
 *     stats.json, run.finished, and the store's data.mdb and lock.mdb when
 *     the store lies inside the run directory (one placed elsewhere with
 *     store= may be shared, and run.lock does not guard it).
 * A node that adds a file to its run directory adds it here, or --fresh
 * would carry it into the next run. The student's final model (NAME.pfm)
 * is not state: no node reads it back when it starts, a run overwrites it
 * when it ends, and a model_teacher of another graph may be loading it.
 */
#include "runtime/run_dir.h"
#include "runtime/end_record.h"
#include "runtime/error.h"

#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_CAP 4352 /* a run_dir of up to 4096 bytes and a file name */
#define FINISHED "run.finished"

static const char *const instance_files[] = {PF_RUN_DIR_CURSOR, PF_RUN_DIR_FILES, PF_RUN_DIR_CKPT,
                                             PF_RUN_DIR_SINK};
static const char *const run_files[] = {"metrics.jsonl", "summary.json", "stats.json"};
static const char *const store_files[] = {"data.mdb", "lock.mdb"};

typedef int (*visit_fn)(const char *path, void *arg);

/* fn(fmt % (a, b), arg); a path too long to build is an error, never a
 * shorter path acted on. */
static int visit(visit_fn fn, void *arg, const char *fmt, const char *a, const char *b)
{
    char path[PATH_CAP];
    int n = snprintf(path, sizeof path, fmt, a, b);
    if (n < 0 || (size_t)n >= sizeof path)
        return pf_errorf(PF_ERANGE, "a path in '%s' is too long", a);
    return fn(path, arg);
}

int pf_run_dir_state_path(const char *run_dir, const char *instance, const char *suffix, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/%s%s", run_dir, instance, suffix);
    if (n < 0 || (size_t)n >= cap)
        return pf_errorf(PF_ERANGE, "run_dir '%s' too long for %s's %s file", run_dir, instance, suffix);
    return 0;
}

#define TRUTH_PREFIX "truth-"
#define TRUTH_SUFFIX ".bin"

int pf_run_dir_truth_path(const char *run_dir, const char *instance, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/" TRUTH_PREFIX "%s" TRUTH_SUFFIX, run_dir, instance);
    if (n < 0 || (size_t)n >= cap)
        return pf_errorf(PF_ERANGE, "run_dir '%s' too long for %s's truth file", run_dir, instance);
    return 0;
}

int pf_run_dir_each_truth(const char *run_dir, int (*fn)(const char *path, void *arg), void *arg)
{
    DIR *d = opendir(run_dir);
    if (!d) return 0;
    int rc = 0;
    for (struct dirent *e; rc >= 0 && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        size_t pre = sizeof TRUTH_PREFIX - 1,
               suf = sizeof TRUTH_SUFFIX - 1; /* and a name between them */
        if (len > pre + suf && strncmp(e->d_name, TRUTH_PREFIX, pre) == 0 &&
            strcmp(e->d_name + len - suf, TRUTH_SUFFIX) == 0)
            rc = visit(fn, arg, "%s/%s", run_dir, e->d_name);
    }
    closedir(d);
    return rc;
}

int pf_run_dir_store_inside(const pf_graph *g, const char *run_dir)
{
    size_t n = strlen(run_dir);
    return strncmp(g->cfg.store, run_dir, n) == 0 && g->cfg.store[n] == '/';
}

/* Call fn(path, arg) for every state file of g in run_dir, existing or not:
 * the files of the instances `mine` accepts (all when NULL), every
 * truth-*.bin (the evaluator reads them all, a renamed source's included),
 * the run's files, the store's when it lies inside run_dir, and the marker
 * last (a clear that fails halfway leaves a finished run marked). Stops at
 * the first negative return and returns it. */
static int each_state_file(const pf_graph *g, const char *run_dir, pf_run_dir_mine_fn mine,
                           void *mine_arg, visit_fn fn, void *arg)
{
    char name[PF_END_RECORD_NAME_MAX + 1];
    int rc = 0;
    for (size_t i = 0; i < g->ninstances && rc >= 0; i++) {
        if (mine && !mine(i, mine_arg)) continue;
        pf_graph_instance_name(g, i, name, sizeof name);
        char record[PATH_CAP];
        if ((rc = pf_end_record_path(run_dir, name, record, sizeof record)) == 0)
            rc = fn(record, arg);
        for (size_t f = 0; f < sizeof instance_files / sizeof *instance_files && rc >= 0; f++)
            if ((rc = pf_run_dir_state_path(run_dir, name, instance_files[f], record, sizeof record)) == 0)
                rc = fn(record, arg);
    }
    if (rc >= 0) rc = pf_run_dir_each_truth(run_dir, fn, arg);
    for (size_t f = 0; f < sizeof run_files / sizeof *run_files && rc >= 0; f++)
        rc = visit(fn, arg, "%s/%s", run_dir, run_files[f]);
    for (size_t f = 0; f < sizeof store_files / sizeof *store_files && rc >= 0 &&
                       pf_run_dir_store_inside(g, run_dir);
         f++)
        rc = visit(fn, arg, "%s/%s", g->cfg.store, store_files[f]);
    if (rc >= 0) rc = visit(fn, arg, "%s/%s", run_dir, FINISHED);
    return rc;
}

int pf_run_dir_finished(const char *run_dir, char *when, size_t cap)
{
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", run_dir, FINISHED);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        return pf_errorf(PF_EIO, "cannot read '%s': %s", path, strerror(errno));
    }
    if (when && cap) {
        if (!fgets(when, (int)cap, f)) when[0] = '\0';
        when[strcspn(when, "\n")] = '\0';
    }
    fclose(f);
    return 1;
}

int pf_run_dir_mark_finished(const char *run_dir, const char *graph_name, double seconds)
{
    char path[PATH_CAP], tmp[PATH_CAP + 8], stamp[32];
    snprintf(path, sizeof path, "%s/%s", run_dir, FINISHED);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    FILE *f = fopen(tmp, "w");
    if (!f) return pf_errorf(PF_EIO, "cannot write '%s': %s", tmp, strerror(errno));
    int bad = fprintf(f, "%s graph %s in %.1f s\n", stamp, graph_name, seconds) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return pf_errorf(PF_EIO, "cannot write '%s': %s", path, strerror(e));
    }
    return 0;
}

static int exists(const char *path, void *arg)
{
    (void)arg;
    struct stat st;
    return stat(path, &st) == 0 ? -1 : 0; /* -1 stops the walk: found one */
}

int pf_run_dir_has_state(const pf_graph *g, const char *run_dir)
{
    return each_state_file(g, run_dir, NULL, NULL, exists, NULL) < 0;
}

static int remove_one(const char *path, void *arg)
{
    if (unlink(path) == 0) {
        ++*(size_t *)arg;
        return 0;
    }
    if (errno == ENOENT) return 0;
    return pf_errorf(PF_EIO, "cannot remove '%s': %s", path, strerror(errno));
}

int pf_run_dir_clear(const pf_graph *g, const char *run_dir, pf_run_dir_mine_fn mine, void *arg,
                     size_t *removed)
{
    size_t n = 0;
    int rc = each_state_file(g, run_dir, mine, arg, remove_one, &n);
    if (removed) *removed = n;
    return rc;
}

int pf_run_dir_unmark_finished(const char *run_dir)
{
    size_t n = 0;
    return visit(remove_one, &n, "%s/%s", run_dir, FINISHED);
}
