/*
 * dot.h - reading the DOT subset of graph files (runtime-internal).
 *
 * graph.c is the only user: pf_dot_parse turns text into an unchecked
 * pf_graph (what was written, where), and graph.c gives it meaning (kinds,
 * parameters, ports, cycles). Kept apart because syntax and semantics are
 * two concerns and each fits in one reading this way.
 */
#ifndef PF_DOT_H
#define PF_DOT_H

#include <stddef.h>

#include "runtime/graph.h"

typedef struct pf_dot {
    /* The caller's graph, filled with: name; nodes in order of first mention
     * (name, line, every attribute as written including kind, replicas, host
     * and display ones; replicas = 1, kind and cfg NULL); edges (from, to,
     * line of the arrow; out_port and in_port -1). */
    pf_graph *g;
    int *declared;   /* per node: 1 = appeared in a node statement, 0 = only in edges */
    char **out_name; /* per edge: output port name as written ("out" by default) */
    char **in_name;  /* per edge: input port name as written ("in" by default) */
    pf_attr *gattrs; /* `graph [...]` attributes, in order */
    size_t ngattrs;
    size_t node_cap, edge_cap, gattr_cap; /* allocated lengths of the arrays above */
} pf_dot;

/* Parse `text` into dot->g (zeroed by the caller, except path). Stops at the
 * first syntax error: returns PF_EPARSE with one diagnostic in `diags`.
 * Problems that do not stop parsing (an unset ${VAR}, an unknown edge
 * attribute, a non-display attribute in `node [...]`) are added to `diags`
 * and parsing goes on: the caller checks diags->n. Returns 0, PF_EPARSE or
 * PF_ENOMEM. dot's side arrays are freed by pf_dot_fini; dot->g stays the caller's. */
int pf_dot_parse(pf_dot *dot, const char *text, size_t len, pf_diags *diags);

void pf_dot_fini(pf_dot *dot);

/* Is `key` a Graphviz display attribute (ignored by pseudoflow) in a
 * `stmt` statement: "graph", "node" or "edge"? */
int pf_dot_display_attr(const char *stmt, const char *key);

#endif
