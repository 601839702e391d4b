/*
 * run_dir.h - what one run of a graph leaves in its run directory, as the
 * next `pseudoflow run` there sees it.
 *
 * A run's nodes pick up their state from the run directory whenever they
 * start: the source its cursor, the sampler its store, the student and the
 * teacher their checkpoints. That is what makes a crashed run continue. A
 * run that finished, though, has spent that state: its sources are at the
 * end of their streams, so the same command again would start, find nothing
 * to do and end in seconds, leaving the old metrics in place. So the
 * supervisor marks a run that finished (every instance placed here reached
 * end-of-stream) with <run_dir>/run.finished, refuses to start a plain run
 * on such a directory, and `--fresh` removes the earlier run's state first:
 *
 *     if (pf_run_dir_finished(dir, when, sizeof when) == 1 && !fresh) refuse;
 *     if (fresh) pf_run_dir_clear(g, dir, NULL, NULL, &removed);
 *     ... the run ...
 *     pf_run_dir_mark_finished(dir, g->name, seconds);
 *
 * "State" is exactly the files this graph's nodes write by default (the
 * list in run_dir.c): a file with another name, or the files of a node the
 * graph no longer has, is never touched (truth files aside: the evaluator
 * reads every one), and neither is a store the graph places outside the run
 * directory.
 */
#ifndef PF_RUN_DIR_H
#define PF_RUN_DIR_H

#include "runtime/graph.h"

#include <stddef.h>

/* Whether <run_dir>/run.finished exists: 1 (when, if non-NULL, gets its
 * first line, "<UTC time> graph NAME in SECONDS s"), 0 when it does not.
 * Returns PF_EIO when it exists but cannot be read. */
int pf_run_dir_finished(const char *run_dir, char *when, size_t cap);

/* Write <run_dir>/run.finished (atomically: a temporary file renamed over
 * it). Returns 0 or PF_EIO with the reason. */
int pf_run_dir_mark_finished(const char *run_dir, const char *graph_name, double seconds);

/* Remove <run_dir>/run.finished (a missing one is not an error). Returns 0
 * or PF_EIO with the reason. */
int pf_run_dir_unmark_finished(const char *run_dir);

/* Whether any of the files graph g's nodes keep in run_dir exists: 1 or 0
 * (1 also when it cannot tell, a path too long to build). */
int pf_run_dir_has_state(const pf_graph *g, const char *run_dir);

/* The files an instance NAME#I keeps in the run directory, as suffixes of
 * its name: the one list the nodes that write them and pf_run_dir_clear
 * share (the end-of-stream record, NAME#I.ended, is end_record.h's). */
#define PF_RUN_DIR_CURSOR ".cursor"   /* sources: samples acknowledged so far */
#define PF_RUN_DIR_FILES ".files"     /* dir_source: the files it has taken */
#define PF_RUN_DIR_CKPT ".ckpt.pfm"   /* mlp_student, mlp_teacher: checkpoint */
#define PF_RUN_DIR_SINK ".tsv"        /* file_sink: default output, appended to */

/* "<run_dir>/<instance><suffix>" into buf, suffix one of the PF_RUN_DIR_*
 * above. Returns 0, or PF_ERANGE (naming the file) when it does not fit:
 * never a shorter path acted on. */
int pf_run_dir_state_path(const char *run_dir, const char *instance, const char *suffix, char *buf, size_t cap);

/* Where source instance `instance` ("NAME#I") keeps the labels it hides:
 * "<run_dir>/truth-NAME#I.bin" into buf, the name pf_run_dir_each_truth
 * finds. Returns 0, or PF_ERANGE when it does not fit. */
int pf_run_dir_truth_path(const char *run_dir, const char *instance, char *buf, size_t cap);

/* Call fn(path, arg) for every truth-NAME.bin in run_dir (labels sources
 * hid from the pipeline for the evaluator, data/truth.h), found by reading
 * the directory, so a run_dir holding *, ? or [ matches only itself; in
 * directory order. Stops at fn's first negative return and returns it; a
 * run_dir that cannot be opened holds none (0). */
int pf_run_dir_each_truth(const char *run_dir, int (*fn)(const char *path, void *arg), void *arg);

/* Whether g's store lies inside run_dir (the default, <run_dir>/store):
 * 1 or 0. Only then does holding run.lock make its files a run's to
 * remove: a store placed elsewhere (store=) may be shared. */
int pf_run_dir_store_inside(const pf_graph *g, const char *run_dir);

/* Which instances' files pf_run_dir_clear removes: nonzero for flat index
 * `flat` (pf_gnode.first_instance + replica) to remove them. */
typedef int (*pf_run_dir_mine_fn)(size_t flat, void *arg);

/* Remove the files graph g's nodes keep in run_dir: those of the instances
 * mine(flat, arg) accepts (every instance when mine is NULL; a machine
 * passes the instances it runs, the others' files being theirs), the run's
 * own, and run.finished last. The number removed goes to *removed (may be
 * NULL). Missing files are not errors. Returns 0, PF_EIO naming the first
 * file that could not be removed, or PF_ERANGE for a path too long to
 * build. The caller holds the run directory (run.lock). */
int pf_run_dir_clear(const pf_graph *g, const char *run_dir, pf_run_dir_mine_fn mine, void *arg,
                     size_t *removed);

#endif
