/*
 * supervisor.h - `pseudoflow run`: start, watch, restart and stop every node
 * instance of a graph on this machine, and show progress.
 *
 * Only the instances placed on this machine run: nodes without host= and
 * nodes whose host= names this machine, or with opts->host = H the nodes
 * with host=H. A second run in the same run directory is refused, and so
 * is a run in a directory whose run finished, unless opts->fresh clears it
 * or opts->resume asks for that run (runtime/run_dir.h); a run that
 * finishes marks its directory so.
 *
 * Each instance is its own OS process, the same binary exec'ed as
 * `pseudoflow node GRAPH NAME#I --supervised`. The supervisor:
 *   - stops the run at once when an instance exits with PF_NODE_EXIT_CONFIG
 *     (a configuration no restart can fix), naming it;
 *   - restarts an instance that exits with an error or dies of a signal,
 *     with exponential backoff (100 ms doubling to 5 s) and one WARN line
 *     each time; past max_restarts (graph parameter) the run fails, naming it;
 *   - on SIGINT/SIGTERM, sends SIGTERM to every instance, waits up to
 *     5 s, SIGKILLs what is left, removes the ipc sockets, and returns 0;
 *   - returns 0 when every instance has finished (end-of-stream everywhere);
 *   - collects each instance's stats (runtime/node_loop.c) and shows, per
 *     node, samples in and out, rate, queue, and an ETA when the sources
 *     declare their totals: a live block on a terminal, a log line every
 *     10 s otherwise; and writes <run_dir>/stats.json at the end.
 * Children get PR_SET_PDEATHSIG, so killing the supervisor outright still
 * leaves no orphans.
 */
#ifndef PF_SUPERVISOR_H
#define PF_SUPERVISOR_H

#include "runtime/graph.h"

#define PF_RUN_MAX_SETS 64 /* --set settings a run passes on to its nodes */

typedef struct pf_run_opts {
    const char *graph_path; /* passed to the children */
    const char *run_dir;    /* overrides the graph's run_dir when non-NULL */
    const char *exe;        /* the pseudoflow binary; NULL = /proc/self/exe */
    int progress;           /* -1 auto (on when stderr is a terminal), 0 off, 1 on */
    const char *log_level;  /* passed to children; NULL = theirs */
    const char *host;       /* run the nodes with host=HOST; NULL = the ones placed on this machine */
    const char *const *sets; /* [nsets] "NODE.PARAM=VALUE" the graph was loaded with, passed to the children */
    size_t nsets;
    int resume; /* continue a stopped run: every instance starts as a restart and keeps its end-of-stream
                 * record (runtime/end_record.h), so peers elsewhere that ended need not run again */
    int fresh;  /* start over: remove the earlier run's state from the run directory first (runtime/run_dir.h) */
} pf_run_opts;

/* Run the graph's local instances to completion or until interrupted.
 * Returns 0 on completion or a clean stop, PF_ECHILD when an instance kept
 * failing (pf_error_last() names it), PF_ESTATE when another run holds the
 * run directory or its run has finished, PF_EINVAL when no node is placed here, or another negative
 * code when the run could not start. */
int pf_supervisor_run(const pf_graph *g, const pf_run_opts *opts);

#endif
