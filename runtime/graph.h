/*
 * graph.h - the graph file: a strict subset of Graphviz DOT, loaded and checked.
 *
 *     digraph demo {
 *       graph   [classes=10, seed=0];
 *       source  [kind=idx_source, images="${DATA}/train-images-idx3-ubyte.gz", labels="..."];
 *       teacher [kind=prior_teacher, replicas=2];
 *       source -> sampler -> teacher -> filter -> student;
 *       filter -> sampler [port=labels];
 *     }
 *
 * Accepted syntax: `digraph NAME { ... }` with statements separated by
 * newlines or ';': `graph [k=v, ...]`, `NODE [k=v, ...]`, `A -> B -> C [k=v]`,
 * `node [...]`/`edge [...]` defaults holding display attributes only; IDs are
 * identifiers, numbers or double-quoted strings; C and C++ style comments,
 * and `#` lines.
 * Values may use `${VAR}` or `${VAR:-default}` from the environment.
 *
 * Edges: `port=P` wires the source's output P to the target's input P;
 * `out=` / `in=` name the two ends separately. Default ports: "out" -> "in".
 * An output may feed many targets: each message goes to one instance of
 * every target node (fan-out to nodes, load balancing across replicas).
 *
 * Node attributes the runtime owns (not kind parameters): kind (required),
 * replicas (stateless kinds only), host (place on another machine: tcp), and
 * Graphviz display attributes (label, shape, color, style, fillcolor,
 * fontname, fontsize, tooltip, xlabel), which are ignored.
 *
 * Checking collects every problem rather than stopping at the first, each
 * as one line `FILE:LINE: node 'NAME': parameter 'P': what was expected`.
 */
#ifndef PF_GRAPH_H
#define PF_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/kind.h"

/* Graph-level parameters: `graph [k=v]`. Filled through a pf_param table. */
typedef struct pf_graph_cfg {
    char *run_dir;      /* where sockets, the store, metrics and logs go; default "runs/<graph name>" */
    char *store;        /* LMDB store directory; default "<run_dir>/store" */
    int64_t classes;    /* number of classes */
    int64_t dim;        /* embedding width; 0 = taken from the source at run time */
    int64_t seed;       /* base seed; each node derives its own from it and its name */
    int64_t hwm;        /* ZeroMQ high-water mark on data edges, in messages */
    int64_t batch;      /* default batch size sources emit */
    int64_t base_port;  /* first tcp port when nodes are placed with host= */
    int64_t max_restarts; /* restarts of one instance before the run fails */
    char *curve_dir;    /* directory with CURVE key files; empty = no encryption */
    int64_t tick_ms;    /* node tick interval */
} pf_graph_cfg;

typedef struct pf_attr {
    char *key;
    char *value; /* after ${VAR} expansion */
    int line;
} pf_attr;

/* Longest node name: instance names ("NAME#I"), socket routing ids
 * ("NAME#I/PORT") and run-directory files built from it must fit their
 * buffers whole, or two instances could read as one. */
#define PF_NODE_NAME_MAX 100

struct pf_gnode {
    char *name;            /* at most PF_NODE_NAME_MAX bytes */
    int line;              /* of the statement that declared it (first mention) */
    const pf_kind *kind;   /* NULL only in a graph that failed to check */
    pf_attr *attrs;        /* kind parameters as written, in order */
    size_t nattrs;
    int replicas;          /* >= 1 */
    char *host;            /* NULL = this machine */
    void *cfg;             /* kind->config_size bytes, filled from attrs and defaults */
    size_t first_instance; /* index of instance 0 in the graph's flattened instance list */
};

typedef struct pf_gedge {
    size_t from, to;       /* node indexes */
    int out_port, in_port; /* port indexes in the kinds' port tables */
    int line;
} pf_gedge;

struct pf_graph {
    char *path;          /* file it was loaded from */
    char *name;          /* digraph NAME */
    pf_graph_cfg cfg;
    pf_gnode *nodes;
    size_t nnodes;
    pf_gedge *edges;
    size_t nedges;
    size_t ninstances;   /* sum of replicas */
};

/* One problem found while loading or checking. */
typedef struct pf_diag {
    int line;       /* 0 when not tied to a line */
    char *node;     /* may be NULL */
    char *param;    /* may be NULL */
    char *message;  /* what was expected, what was found */
} pf_diag;

typedef struct pf_diags {
    char *file;
    pf_diag *items;
    size_t n, cap;
} pf_diags;

/* Load and check a graph file. On success *out is a checked graph (every
 * node's kind resolved, every cfg filled) and diags is empty. On failure
 * returns PF_EPARSE (syntax) or PF_EINVAL (semantics), *out is NULL, and
 * diags holds every problem found. diags may be NULL. Caller owns *out
 * (pf_graph_destroy) and the diags (pf_diags_fini). */
int pf_graph_load(const char *path, pf_graph **out, pf_diags *diags);

/* pf_graph_load with settings from the command line over the file's own
 * (runtime/graph_set.h): each of sets[nsets] is "NODE.PARAM=VALUE" or
 * "graph.PARAM=VALUE" for a node the file has, checked like the file's
 * attributes; a problem with one is reported at line 0 and names it
 * ("--set NODE.PARAM=VALUE: ..."). */
int pf_graph_load_set(const char *path, const char *const *sets, size_t nsets, pf_graph **out, pf_diags *diags);

/* The same over text already in memory (pf_graph_parse when nsets is 0). */
int pf_graph_parse_set(const char *path, const char *text, size_t len, const char *const *sets, size_t nsets,
                       pf_graph **out, pf_diags *diags);

/* The same from text in memory; `path` is only used in messages. */
int pf_graph_parse(const char *path, const char *text, size_t len, pf_graph **out,
                   pf_diags *diags);

void pf_graph_destroy(pf_graph **g);

/* Move the run directory (`--run-dir`); a store left at its default
 * (<run_dir>/store) moves with it, an explicitly set one stays. Returns 0 or
 * PF_ENOMEM. */
int pf_graph_set_run_dir(pf_graph *g, const char *run_dir);

/* Node index by name, or -1. */
int pf_graph_find(const pf_graph *g, const char *name);

/* Resolve "NAME" or "NAME#I" into node index and instance. Returns 0 or
 * PF_ENOTFOUND / PF_ERANGE with a message. */
int pf_graph_resolve_instance(const pf_graph *g, const char *spec, size_t *node, int *instance);

/* "NAME#I" of the instance numbered `flat` in the graph's flattened list
 * (pf_gnode.first_instance) into buf; "?#flat" when there is none. */
void pf_graph_instance_name(const pf_graph *g, size_t flat, char *buf, size_t cap);

/* Is host name or address h this machine: localhost, a 127.* or ::1
 * address, this machine's hostname or its first label, or a name that
 * resolves to an address of one of this machine's interfaces? (May block on
 * name resolution, once per name and process: the answer is remembered.) */
int pf_graph_host_is_here(const char *h);

/* pf_graph_host_is_here, and *gai_err (may be NULL) the getaddrinfo error
 * when h had to be resolved and did not (0 otherwise): a host that is not
 * here may also be one nobody can reach. */
int pf_graph_host_lookup(const char *h, int *gai_err);

/* Is node n placed on this machine? With want = NULL: it has no host=, or
 * its host= is this machine (pf_graph_host_is_here); with want = H (as in
 * `pseudoflow run --host H`): its host= is H. */
int pf_graph_node_placed_here(const pf_gnode *n, const char *want);

/* Append one diag (printf-style message; node and param may be NULL, all
 * copied). Returns 0 or PF_ENOMEM. For the DOT reader and for tools that
 * add their own findings to a load's list. */
int pf_diags_addf(pf_diags *d, int line, const char *node, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Print each diag as "FILE:LINE: node 'N': parameter 'P': MESSAGE". */
void pf_diags_print(const pf_diags *d, FILE *out);
void pf_diags_fini(pf_diags *d);

/* The graph parameter table (for `pseudoflow describe graph`). */
extern const pf_param pf_graph_params[];

#endif
