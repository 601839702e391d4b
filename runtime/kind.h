/*
 * kind.h - the contract between the runtime and a node kind.
 *
 * A node kind is one file in nodes/: a config struct with its parameter
 * table, a port table, and an ops table. It never touches ZeroMQ, signals or
 * LMDB: the runtime owns sockets, polling, decoding, heartbeats and shutdown
 * and hands the kind decoded messages; the store owns LMDB.
 *
 * Life of one node instance (runtime/node_loop.c):
 *
 *   start(ctx, cfg, &state)           once, after sockets are up
 *   process(state, ctx, port, msg)    for every valid message on an input
 *   tick(state, ctx)                  every tick_ms, and whenever idle
 *   drain(state, ctx)                 after every non-feedback data input has
 *                                     seen end-of-stream from every upstream
 *                                     instance (for a node without data inputs:
 *                                     after it called pf_ctx_finish); called
 *                                     again each tick until it returns 0.
 *                                     Then the runtime sends end-of-stream on
 *                                     every output, waits for end-of-stream on
 *                                     feedback inputs, and calls stop.
 *   stop(&state, ctx)                 once; frees the state (also on SIGTERM).
 *
 * Messages passed to process are borrowed: they are freed by the runtime
 * when process returns; copy what you keep. A negative return from any op
 * ends the instance with exit status 1 (the supervisor restarts it) after
 * logging pf_error_last().
 */
#ifndef PF_KIND_H
#define PF_KIND_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/params.h"

typedef struct pf_ctx pf_ctx;      /* runtime/node_loop.h */
typedef struct pf_msg pf_msg;      /* runtime/wire.h */
typedef struct pf_graph pf_graph;  /* runtime/graph.h */
typedef struct pf_gnode pf_gnode;  /* runtime/graph.h */

typedef enum pf_port_dir { PF_IN = 0, PF_OUT = 1 } pf_port_dir;

typedef enum pf_port_mode {
    PF_DATA = 0,   /* batches; reliable, ordered per sender, backpressure at the high-water mark */
    PF_PUBSUB = 1, /* model snapshots and metrics; latest wins, never blocks the sender */
} pf_port_mode;

enum pf_port_flags {
    PF_PORT_FEEDBACK = 1u << 0, /* input closing a cycle (labels back to the sampler, model to a teacher) */
    PF_PORT_REQUIRED = 1u << 1, /* input that must be wired for the graph to be valid */
};

typedef struct pf_port_spec {
    const char *name; /* NULL ends a table */
    pf_port_dir dir;
    pf_port_mode mode;
    unsigned flags;
    const char *help;
} pf_port_spec;

enum pf_kind_flags {
    PF_KIND_STATELESS = 1u << 0, /* replicas=N allowed */
};

typedef struct pf_node_ops {
    /* Cross-parameter checks at `pseudoflow check` time, before any process
     * starts; may be NULL. Return 0 or PF_EINVAL with the reason in
     * pf_error_last() (the caller prefixes file, line and node). */
    int (*configure)(const void *cfg, const pf_graph *graph, const pf_gnode *node);
    int (*start)(pf_ctx *ctx, const void *cfg, void **state);
    int (*process)(void *state, pf_ctx *ctx, int port, const pf_msg *msg);
    int (*tick)(void *state, pf_ctx *ctx);
    int (*drain)(void *state, pf_ctx *ctx); /* 0 = flushed, PF_EAGAIN = call again */
    void (*stop)(void **state, pf_ctx *ctx);
} pf_node_ops;

typedef struct pf_kind {
    const char *name;           /* "mlp_teacher" */
    const char *summary;        /* one line for `pseudoflow kinds` */
    const pf_param *params;     /* PF_PARAM_END-terminated */
    size_t config_size;         /* sizeof the config struct params fill */
    const pf_port_spec *ports;  /* {NULL}-terminated; port numbers are indexes in this table */
    unsigned flags;             /* pf_kind_flags */
    const pf_node_ops *ops;
} pf_kind;

/* What a path parameter must name (pf_kind_check_path). */
typedef enum pf_path_kind {
    PF_PATH_FILE = 0, /* a regular file this process can read */
    PF_PATH_DIR = 1,  /* a directory this process can list */
} pf_path_kind;

/* For configure ops: the cheap part of checking a path parameter, so that
 * `pseudoflow check` refuses a run certain to fail when the node starts.
 * `path`, the value of parameter `param` of `node`, must be non-empty, exist,
 * be a `what` and be readable. Only stat(2) and access(2): nothing is opened
 * or loaded, so a malformed file still fails only when the node starts.
 * Only the nodes in scope (pf_kind_set_path_scope) are checked: another
 * machine's files are that machine's to check.
 * `rc` is the result of the op's checks so far; a failing check appends its
 * reason after theirs ("; "), so one line names every bad path of a node.
 * Returns rc when this path is fine, else PF_EINVAL with pf_error_last()
 * such as "parameter 'images': no such file '/data/x.gz'" (or "empty",
 * "is a directory", "cannot read '...': Permission denied"). */
int pf_kind_check_path(int rc, const pf_gnode *node, const char *param, const char *path,
                       pf_path_kind what);

/* For configure ops: every node of the graph whose kind declares the FLOAT
 * parameter `param` must give it the value `node` gives it (the features
 * the sources stream and the held-out set the evaluator scores must be
 * transformed alike: `power`). `rc` as for pf_kind_check_path. Returns rc,
 * or PF_EINVAL with pf_error_last() such as "power=1 here but 0.5 on node
 * 'source' (line 4): its features and these would differ (give every
 * source and evaluator the same power=)". */
int pf_kind_check_same_float(int rc, const pf_graph *g, const pf_gnode *node, const char *param);

/* The value of the FLOAT parameter `param` on the first node of the graph
 * whose kind declares it (pf_kind_check_same_float makes them agree), or
 * `dflt` when none does: a learner asks for the `power` of the features it
 * will see this way. */
double pf_kind_graph_float(const pf_graph *g, const char *param, double dflt);

/* Whose files pf_kind_check_path checks: by default the nodes placed on
 * this machine (pf_graph_node_placed_here, want = NULL); host = H for
 * `pseudoflow run --host H`; node (not NULL) for `pseudoflow node NAME#I`:
 * that node only, wherever it is placed. Call before the graph is loaded;
 * the strings must outlive the loading. */
void pf_kind_set_path_scope(const char *host, const char *node);

/* The registry: every kind, in nodes/registry.c. */
const pf_kind *pf_kind_find(const char *name);
size_t pf_kind_count(void);
const pf_kind *pf_kind_at(size_t i);

/* Index of a port by name and direction, or -1. */
int pf_kind_port(const pf_kind *kind, const char *name, pf_port_dir dir);

/* Print a kind's summary, ports and parameters (for `pseudoflow describe`). */
void pf_kind_describe(const pf_kind *kind, FILE *out);

#endif
