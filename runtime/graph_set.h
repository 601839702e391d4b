/*
 * graph_set.h - `--set TARGET.PARAM=VALUE`: parameters given on the command
 * line for one run, over what the graph file says (graph.h,
 * pf_graph_load_set). For graph.c.
 *
 * The settings are added to the parsed file (runtime/dot.h) as attributes
 * after the file's own, so they go through exactly the checks the file's
 * attributes do, and attributes merge in order, so they win. Their "line"
 * is -(k + 1) for the k-th setting until pf_graph_sets_relabel turns each
 * diagnostic on one into the setting's own: line 0, the message led by
 * "--set TEXT:".
 */
#ifndef PF_GRAPH_SET_H
#define PF_GRAPH_SET_H

#include "runtime/dot.h"
#include "runtime/graph.h"

/* Add sets[nsets] to the parsed file: "graph.PARAM=VALUE" to its graph
 * attributes, "NODE.PARAM=VALUE" to the node's. A malformed setting, one
 * for a node the file does not have, or one giving `kind` (a setting tunes
 * a node; it does not make one) is a diagnostic at line 0 and adds nothing.
 * Returns 0 or PF_ENOMEM. */
int pf_graph_sets_apply(pf_dot *dot, const char *const *sets, size_t nsets, pf_diags *d);

/* Diagnostics d->items[from..] on a setting's line (-(k + 1)) become its
 * own: line 0, "--set TEXT: " before the message. Returns 0 or PF_ENOMEM. */
int pf_graph_sets_relabel(pf_diags *d, size_t from, const char *const *sets, size_t nsets);

#endif
