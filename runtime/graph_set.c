/*
 * graph_set.c - `--set TARGET.PARAM=VALUE` (see graph_set.h).
 *
 * Working on the parsed file rather than its text keeps a setting from ever
 * landing in a comment, completing a statement the file left unfinished, or
 * being blamed for the file's own syntax errors: a file that does not parse
 * is reported as it is, before any setting is looked at. A value is taken
 * as given (the shell has already expanded it): no DOT escaping, no ${VAR}.
 */
#include "runtime/graph_set.h"
#include "runtime/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Split "TARGET.PARAM=VALUE": TARGET and PARAM non-empty, PARAM an
 * identifier other than `kind`. 0 or -1 (why set). */
static int split(const char *set, size_t *tlen, const char **param, size_t *plen, const char **value,
                 const char **why)
{
    const char *eq = strchr(set, '='), *dot = eq ? memchr(set, '.', (size_t)(eq - set)) : NULL;
    *why = "expected NODE.PARAM=VALUE or graph.PARAM=VALUE";
    if (!dot || dot == set || dot + 1 == eq) return -1;
    for (const char *c = dot + 1; c < eq; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_') || (c == dot + 1 && isdigit((unsigned char)*c))) return -1;
    *tlen = (size_t)(dot - set), *param = dot + 1, *plen = (size_t)(eq - dot - 1), *value = eq + 1;
    if (*plen == 4 && !strncmp(*param, "kind", 4)) {
        *why = "a setting tunes a node the graph has; it cannot give or change a kind";
        return -1;
    }
    return 0;
}

/* Append {key, value, line} to *a (length *n, grown by one). */
static int push_attr(pf_attr **a, size_t *n, const char *key, size_t klen, const char *value, int line)
{
    pf_attr *na = realloc(*a, (*n + 1) * sizeof *na);
    if (!na) return PF_ENOMEM;
    *a = na;
    char *k = strndup(key, klen), *v = strdup(value);
    if (!k || !v) {
        free(k), free(v);
        return PF_ENOMEM;
    }
    na[(*n)++] = (pf_attr){k, v, line};
    return 0;
}

int pf_graph_sets_apply(pf_dot *dot, const char *const *sets, size_t nsets, pf_diags *d)
{
    pf_graph *g = dot->g;
    for (size_t k = 0; k < nsets; k++) {
        size_t tlen, plen;
        const char *param, *value, *why;
        int line = -(int)(k + 1), rc = 0;
        if (split(sets[k], &tlen, &param, &plen, &value, &why) < 0) {
            rc = pf_diags_addf(d, 0, NULL, NULL, "--set %s: %s", sets[k], why);
        } else if (tlen == 5 && !strncmp(sets[k], "graph", 5)) {
            rc = push_attr(&dot->gattrs, &dot->ngattrs, param, plen, value, line);
            dot->gattr_cap = dot->ngattrs;
        } else {
            size_t i = 0;
            while (i < g->nnodes && (strlen(g->nodes[i].name) != tlen || strncmp(g->nodes[i].name, sets[k], tlen)))
                i++;
            if (i == g->nnodes)
                rc = pf_diags_addf(d, 0, NULL, NULL, "--set %s: there is no node '%.*s' in the graph", sets[k],
                                   (int)tlen, sets[k]);
            else
                rc = push_attr(&g->nodes[i].attrs, &g->nodes[i].nattrs, param, plen, value, line);
        }
        if (rc == PF_ENOMEM) return pf_errorf(PF_ENOMEM, "out of memory");
    }
    return 0;
}

int pf_graph_sets_relabel(pf_diags *d, size_t from, const char *const *sets, size_t nsets)
{
    for (size_t i = from; i < d->n; i++) {
        pf_diag *x = &d->items[i];
        if (x->line >= 0 || (size_t)-x->line > nsets) continue;
        const char *set = sets[-x->line - 1];
        size_t n = strlen(set) + strlen(x->message) + sizeof "--set : ";
        char *m = malloc(n);
        if (!m) return pf_errorf(PF_ENOMEM, "out of memory");
        snprintf(m, n, "--set %s: %s", set, x->message);
        free(x->message);
        x->message = m, x->line = 0;
    }
    return 0;
}
