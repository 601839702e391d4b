/*
 * graph.c - giving a parsed graph file its meaning, and checking it.
 *
 * dot.c reads the text into an unchecked pf_graph; this file resolves each
 * node's kind, fills its config from the kind's parameter table, resolves
 * edge ports, and checks what would otherwise fail at run time: missing
 * required parameters and inputs, mismatched port modes, replicas of stateful
 * kinds, duplicate edges, and cycles that do not go through a feedback input
 * (a cycle without one could deadlock under backpressure; see node_loop.h).
 *
 * Checking keeps going after each problem, so one `pseudoflow check` shows
 * all of them, each with line, node and parameter and, where a name was
 * probably mistyped, a "did you mean". Problems are sorted by line at the
 * end, like a compiler's. A kind's configure op runs last, and only for
 * nodes whose own attributes were valid, so it never sees a half-filled cfg.
 *
 * Invariants of a graph handed to a caller: every node has a kind and a
 * filled cfg, every edge has resolved port indexes, instances are numbered
 * node by node in declaration order (first_instance), and run_dir and store
 * are never empty. A graph that failed is destroyed here and never escapes.
 */
#include "runtime/graph.h"
#include "runtime/dot.h"
#include "runtime/graph_set.h"
#include "runtime/error.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSG_MAX 1024 /* bytes of one diagnostic message; longer ones are truncated */

const pf_param pf_graph_params[] = {
    PF_PARAM_STRING(pf_graph_cfg, run_dir, "",
                    "where sockets, the store, metrics and logs go (default runs/<graph name>)"),
    PF_PARAM_STRING(pf_graph_cfg, store, "", "LMDB store directory (default <run_dir>/store)"),
    PF_PARAM_INT(pf_graph_cfg, classes, 10, 1, 65535, "number of classes"),
    PF_PARAM_INT(pf_graph_cfg, dim, 0, 0, 1048576,
                 "embedding width; 0 = taken from the source at run time"),
    PF_PARAM_INT(pf_graph_cfg, seed, 0, 0, 4294967295.0,
                 "base seed; each node derives its own from it and its name"),
    PF_PARAM_INT(pf_graph_cfg, hwm, 64, 1, 1000000,
                 "ZeroMQ high-water mark on data edges, in messages"),
    PF_PARAM_INT(pf_graph_cfg, batch, 256, 1, 65536, "default batch size sources emit"),
    PF_PARAM_INT(pf_graph_cfg, base_port, 27100, 1024, 65000,
                 "first tcp port when nodes are placed with host="),
    PF_PARAM_INT(pf_graph_cfg, max_restarts, 5, 0, 1000,
                 "restarts of one instance before the run fails"),
    PF_PARAM_STRING(pf_graph_cfg, curve_dir, "",
                    "directory with CURVE key files; empty = no encryption"),
    PF_PARAM_INT(pf_graph_cfg, tick_ms, 50, 1, 10000, "node tick interval, in milliseconds"),
    PF_PARAM_END};

/* replicas= is parsed like a kind parameter, into this. */
typedef struct rep_cfg {
    int64_t replicas;
} rep_cfg;
static const pf_param rep_param =
    PF_PARAM_INT(rep_cfg, replicas, 1, 1, 1000, "processes of a stateless node");

typedef struct checker {
    pf_graph *g;
    pf_dot *dot;
    pf_diags *d;
    int *bad; /* per node: its own checks failed, so configure is not called */
    int oom;
} checker;

/* Closest of `cands` to `name`, using the parameter suggester on a throwaway table. */
static const char *suggest(const char *name, const char *const *cands, size_t n)
{
    pf_param *t = calloc(n + 1, sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++)
        t[i].name = cands[i];
    const char *s = pf_params_suggest(t, name);
    free(t);
    return s;
}

static const char *did_you_mean(const char *s, char *buf, size_t size)
{
    if (s)
        snprintf(buf, size, " (did you mean '%s'?)", s);
    else
        buf[0] = '\0';
    return buf;
}

static int diags_addv(pf_diags *d, int line, const char *node, const char *param, const char *fmt,
                      va_list ap)
{
    char msg[MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 8;
        pf_diag *ni = realloc(d->items, nc * sizeof *ni);
        if (!ni) return PF_ENOMEM;
        d->items = ni;
        d->cap = nc;
    }
    pf_diag *x = &d->items[d->n];
    x->line = line;
    x->node = node ? strdup(node) : NULL;
    x->param = param ? strdup(param) : NULL;
    x->message = strdup(msg);
    if ((node && !x->node) || (param && !x->param) || !x->message) {
        free(x->node), free(x->param), free(x->message);
        return PF_ENOMEM;
    }
    d->n++;
    return 0;
}

int pf_diags_addf(pf_diags *d, int line, const char *node, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = diags_addv(d, line, node, param, fmt, ap);
    va_end(ap);
    return rc;
}

__attribute__((format(printf, 5, 6))) static void diag(checker *ps, int line, const char *node,
                                                       const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (diags_addv(ps->d, line, node, param, fmt, ap) < 0) ps->oom = 1;
    va_end(ap);
}

static char *xstrdup(checker *ps, const char *s)
{
    char *c = strdup(s);
    if (!c) ps->oom = 1;
    return c;
}

/* ---- checks --------------------------------------------------------------- */

static void check_graph_attrs(checker *ps)
{
    for (size_t k = 0; k < ps->dot->ngattrs; k++) {
        pf_attr *a = &ps->dot->gattrs[k];
        const pf_param *p = pf_params_find(pf_graph_params, a->key);
        char dym[128];
        if (p) {
            int rc = pf_params_set(p, &ps->g->cfg, a->value);
            if (rc == PF_ENOMEM)
                ps->oom = 1;
            else if (rc < 0)
                diag(ps, a->line, NULL, a->key, "%s", pf_error_last());
        } else if (!pf_dot_display_attr("graph", a->key)) {
            diag(ps, a->line, NULL, a->key,
                 "unknown graph parameter%s; `pseudoflow describe graph` lists them",
                 did_you_mean(pf_params_suggest(pf_graph_params, a->key), dym, sizeof dym));
        }
    }
}

/* "out, labels" for the ports of one direction, or "none". */
static void port_names(const pf_kind *k, pf_port_dir dir, char *buf, size_t size,
                       const char **names, size_t max, size_t *n)
{
    size_t len = 0;
    *n = 0;
    buf[0] = '\0';
    for (int i = 0; k->ports && k->ports[i].name; i++) {
        if (k->ports[i].dir != dir) continue;
        if (*n < max) names[(*n)++] = k->ports[i].name;
        if (len < size)
            len +=
                (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", k->ports[i].name);
    }
    if (!*n) snprintf(buf, size, "none");
}

static const pf_kind *check_kind(checker *ps, size_t i)
{
    pf_gnode *n = &ps->g->nodes[i];
    const char *kname = NULL;
    int kline = n->line;
    char dym[128];
    for (size_t k = 0; k < n->nattrs; k++) {
        pf_attr *a = &n->attrs[k];
        if (strcmp(a->key, "kind") != 0) continue;
        if (!kname)
            kname = a->value, kline = a->line;
        else if (strcmp(kname, a->value) != 0)
            diag(
                ps, a->line, n->name, NULL,
                "declared again with kind '%s', but line %d gave it kind '%s'; a node has one kind",
                a->value, kline, kname);
    }
    if (!kname && !ps->dot->declared[i]) {
        const char **names = malloc(ps->g->nnodes * sizeof *names);
        size_t m = 0;
        for (size_t j = 0; names && j < ps->g->nnodes; j++)
            if (ps->dot->declared[j]) names[m++] = ps->g->nodes[j].name;
        diag(ps, n->line, n->name, NULL,
             "has no kind: it is used in an edge but never declared%s; declare it as `%s "
             "[kind=...]`",
             did_you_mean(names ? suggest(n->name, names, m) : NULL, dym, sizeof dym), n->name);
        free(names);
        return NULL;
    }
    if (!kname) {
        diag(ps, n->line, n->name, NULL,
             "has no kind: add kind=... (`pseudoflow kinds` lists them)");
        return NULL;
    }
    const pf_kind *kind = pf_kind_find(kname);
    if (!kind) {
        size_t m = pf_kind_count();
        const char **names = malloc((m ? m : 1) * sizeof *names);
        for (size_t j = 0; names && j < m; j++)
            names[j] = pf_kind_at(j)->name;
        diag(ps, kline, n->name, NULL, "unknown kind '%s'%s; `pseudoflow kinds` lists them", kname,
             did_you_mean(names ? suggest(kname, names, m) : NULL, dym, sizeof dym));
        free(names);
    }
    return kind;
}

/* A node's name becomes file names in the run directory (<name>.pfm,
 * <name>#<i>.tsv, ...) and part of NAME#I on the command line, so it holds
 * no '/', no '#' and no control character, and does not start with '.'
 * (no "..", no hidden files). Spaces are fine (quoted ids). */
static void check_name(checker *ps, const pf_gnode *n)
{
    const char *bad = NULL;
    if (!n->name[0] || n->name[0] == '.') bad = "must not be empty or start with '.'";
    for (const char *c = n->name; !bad && *c; c++)
        if (*c == '/' || *c == '#' || iscntrl((unsigned char)*c)) bad = "must not hold '/', '#' or control characters";
    if (!bad && strlen(n->name) > PF_NODE_NAME_MAX) bad = "must be at most " PF_STR(PF_NODE_NAME_MAX) " bytes long";
    if (bad)
        diag(ps, n->line, n->name, NULL, "bad node name: it names files in the run directory and instances (NAME#I), so it %s",
             bad);
}

static void check_node(checker *ps, size_t i)
{
    pf_gnode *n = &ps->g->nodes[i];
    size_t before = ps->d->n;
    check_name(ps, n);
    const pf_kind *kind = check_kind(ps, i);
    n->kind = kind;
    if (kind) {
        if (!(n->cfg = calloc(1, kind->config_size ? kind->config_size : 1))) {
            ps->oom = 1;
            return;
        }
        int rc = pf_params_defaults(kind->params, n->cfg);
        if (rc == PF_ENOMEM)
            ps->oom = 1;
        else if (rc < 0)
            diag(ps, n->line, n->name, NULL, "kind '%s': %s", kind->name, pf_error_last());
    }
    rep_cfg rep = {1};
    int rep_line = n->line;
    size_t keep = 0;
    for (size_t k = 0; k < n->nattrs; k++) {
        pf_attr *a = &n->attrs[k];
        const pf_param *p = kind ? pf_params_find(kind->params, a->key) : NULL;
        int rc = 0;
        char dym[128];
        if (strcmp(a->key, "replicas") == 0) {
            rc = pf_params_set(&rep_param, &rep, a->value);
            rep_line = a->line;
        } else if (strcmp(a->key, "host") == 0) {
            free(n->host);
            n->host = a->value[0] ? xstrdup(ps, a->value) : NULL;
        } else if (p) {
            rc = pf_params_set(p, n->cfg, a->value);
            n->attrs[keep++] = *a;
            if (rc == PF_ENOMEM)
                ps->oom = 1;
            else if (rc < 0)
                diag(ps, a->line, n->name, a->key, "%s", pf_error_last());
            continue;
        } else if (kind && strcmp(a->key, "kind") != 0 && !pf_dot_display_attr("node", a->key)) {
            diag(ps, a->line, n->name, a->key,
                 "unknown parameter of kind '%s'%s; `pseudoflow describe %s` lists them",
                 kind->name, did_you_mean(pf_params_suggest(kind->params, a->key), dym, sizeof dym),
                 kind->name);
        }
        if (rc < 0) diag(ps, a->line, n->name, a->key, "%s", pf_error_last());
        free(a->key), free(a->value);
    }
    n->nattrs = keep;
    n->replicas = (int)rep.replicas;
    if (kind && n->replicas > 1 && !(kind->flags & PF_KIND_STATELESS))
        diag(ps, rep_line, n->name, "replicas",
             "kind '%s' is stateful and runs as exactly one process; replicas=%d needs a "
             "stateless kind",
             kind->name, n->replicas);
    for (const pf_param *p = kind ? kind->params : NULL; p && p->name; p++) {
        if (p->def) continue;
        int given = 0;
        for (size_t k = 0; k < n->nattrs && !given; k++)
            given = strcmp(n->attrs[k].key, p->name) == 0;
        if (!given)
            diag(ps, n->line, n->name, p->name, "missing required parameter (%s)",
                 p->help ? p->help : pf_param_type_name(p->type));
    }
    ps->bad[i] = !kind || ps->d->n > before;
}

/* Resolve one end of edge k; -1 and a diagnostic when the kind has no such port. */
static int resolve_port(checker *ps, size_t k, size_t node, const char *port, pf_port_dir dir)
{
    const pf_gnode *n = &ps->g->nodes[node];
    if (!n->kind) return -1;
    int idx = pf_kind_port(n->kind, port, dir);
    if (idx >= 0) return idx;
    const char *names[64];
    char list[512], dym[128];
    size_t m;
    port_names(n->kind, dir, list, sizeof list, names, 64, &m);
    const char *d = dir == PF_OUT ? "output" : "input";
    diag(ps, ps->g->edges[k].line, n->name, NULL, "kind '%s' has no %s port '%s'%s; its %ss: %s",
         n->kind->name, d, port, did_you_mean(suggest(port, names, m), dym, sizeof dym), d, list);
    return -1;
}

static void check_edges(checker *ps)
{
    pf_graph *g = ps->g;
    for (size_t k = 0; k < g->nedges; k++) {
        pf_gedge *e = &g->edges[k];
        const pf_gnode *a = &g->nodes[e->from], *b = &g->nodes[e->to];
        e->out_port = resolve_port(ps, k, e->from, ps->dot->out_name[k], PF_OUT);
        e->in_port = resolve_port(ps, k, e->to, ps->dot->in_name[k], PF_IN);
        if (e->out_port >= 0 && e->in_port >= 0) {
            pf_port_mode mo = a->kind->ports[e->out_port].mode,
                         mi = b->kind->ports[e->in_port].mode;
            if (mo != mi)
                diag(ps, e->line, NULL, NULL,
                     "edge %s -> %s: output '%s' is %s but input '%s' is %s; both ends of an edge "
                     "must be data ports or both pubsub ports",
                     a->name, b->name, ps->dot->out_name[k], mo == PF_DATA ? "data" : "pubsub",
                     ps->dot->in_name[k], mi == PF_DATA ? "data" : "pubsub");
        }
        for (size_t j = 0; j < k; j++) {
            const pf_gedge *f = &g->edges[j];
            if (f->from == e->from && f->to == e->to &&
                !strcmp(ps->dot->out_name[j], ps->dot->out_name[k]) &&
                !strcmp(ps->dot->in_name[j], ps->dot->in_name[k])) {
                diag(ps, e->line, NULL, NULL,
                     "duplicate edge %s -> %s (%s -> %s), first on line %d", a->name, b->name,
                     ps->dot->out_name[k], ps->dot->in_name[k], f->line);
                break;
            }
        }
    }
}

static void check_dangling(checker *ps)
{
    const pf_graph *g = ps->g;
    for (size_t i = 0; i < g->nnodes; i++) {
        const pf_gnode *n = &g->nodes[i];
        int unresolved = 0;
        for (size_t k = 0; k < g->nedges; k++)
            unresolved |= g->edges[k].to == i && g->edges[k].in_port < 0;
        if (!n->kind || unresolved) continue; /* already reported; do not pile on */
        /* A node producing something must feed a node or be fed by one;
         * feedback inputs (a source's acks) alone do not count. */
        int flows = 0, outputs = 0;
        for (size_t k = 0; k < g->nedges; k++) {
            const pf_gedge *e = &g->edges[k];
            flows |= e->from == i || (e->to == i && e->in_port >= 0 &&
                                      !(n->kind->ports[e->in_port].flags & PF_PORT_FEEDBACK));
        }
        for (int p = 0; n->kind->ports && n->kind->ports[p].name; p++)
            outputs += n->kind->ports[p].dir == PF_OUT;
        if (!flows && outputs > 0)
            diag(ps, n->line, n->name, NULL,
                 "wired to nothing: what it produces would go nowhere; add an edge `%s -> X` "
                 "or remove the node",
                 n->name);
        for (int p = 0; n->kind->ports && n->kind->ports[p].name; p++) {
            const pf_port_spec *s = &n->kind->ports[p];
            if (s->dir != PF_IN || !(s->flags & PF_PORT_REQUIRED)) continue;
            int wired = 0;
            for (size_t k = 0; k < g->nedges && !wired; k++)
                wired = g->edges[k].to == i && g->edges[k].in_port == p;
            if (!wired)
                diag(ps, n->line, n->name, NULL,
                     "required input '%s' is not wired (dangling input); add an edge `X -> "
                     "%s%s%s%s`",
                     s->name, n->name, strcmp(s->name, "in") ? " [in=" : "",
                     strcmp(s->name, "in") ? s->name : "", strcmp(s->name, "in") ? "]" : "");
        }
    }
}

/* Depth-first search over edges that do not end in a feedback input; a back
 * edge closes a cycle, reported from the node it returns to, in order. */
static void dfs(checker *ps, size_t u, char *color, size_t *path, size_t depth)
{
    const pf_graph *g = ps->g;
    color[u] = 1;
    path[depth] = u;
    for (size_t k = 0; k < g->nedges; k++) {
        const pf_gedge *e = &g->edges[k];
        if (e->from != u || e->out_port < 0 || e->in_port < 0) continue;
        if (g->nodes[e->to].kind->ports[e->in_port].flags & PF_PORT_FEEDBACK) continue;
        if (color[e->to] == 0) {
            dfs(ps, e->to, color, path, depth + 1);
        } else if (color[e->to] == 1) {
            char cyc[MSG_MAX / 2];
            size_t len = 0, start = 0;
            while (path[start] != e->to)
                start++;
            for (size_t j = start; j <= depth && len < sizeof cyc; j++)
                len +=
                    (size_t)snprintf(cyc + len, sizeof cyc - len, "%s -> ", g->nodes[path[j]].name);
            diag(ps, e->line, NULL, NULL,
                 "cycle %s%s does not pass through a feedback input; the edge closing it must end "
                 "in a feedback port (like a sampler's 'labels')",
                 len < sizeof cyc ? cyc : "", g->nodes[e->to].name);
        }
    }
    color[u] = 2;
}

static void check_cycles(checker *ps)
{
    size_t n = ps->g->nnodes;
    char *color = calloc(n ? n : 1, 1);
    size_t *path = calloc(n ? n : 1, sizeof *path);
    if (!color || !path) ps->oom = 1;
    for (size_t i = 0; color && path && i < n; i++)
        if (!color[i]) dfs(ps, i, color, path, 0);
    free(color);
    free(path);
}

/* Stable sort of the diagnostics this load added, by line. */
static void sort_diags(pf_diags *d, size_t from)
{
    for (size_t i = from + 1; i < d->n; i++) {
        pf_diag x = d->items[i];
        size_t j = i;
        for (; j > from && d->items[j - 1].line > x.line; j--)
            d->items[j] = d->items[j - 1];
        d->items[j] = x;
    }
}

static void fill_defaults(checker *ps)
{
    pf_graph_cfg *c = &ps->g->cfg;
    if (!c->run_dir[0]) {
        size_t n = strlen(ps->g->name) + sizeof "runs/";
        char *s = malloc(n);
        if (!s) return (void)(ps->oom = 1);
        snprintf(s, n, "runs/%s", ps->g->name);
        free(c->run_dir), c->run_dir = s;
    }
    if (!c->store[0]) {
        size_t n = strlen(c->run_dir) + sizeof "/store";
        char *s = malloc(n);
        if (!s) return (void)(ps->oom = 1);
        snprintf(s, n, "%s/store", c->run_dir);
        free(c->store), c->store = s;
    }
}

static void check(checker *ps)
{
    pf_graph *g = ps->g;
    check_graph_attrs(ps);
    fill_defaults(ps);
    for (size_t i = 0; i < g->nnodes; i++)
        check_node(ps, i);
    check_edges(ps);
    check_dangling(ps);
    check_cycles(ps);
    for (size_t i = 0; i < g->nnodes; i++) {
        g->nodes[i].first_instance = g->ninstances;
        g->ninstances += (size_t)g->nodes[i].replicas;
    }
    for (size_t i = 0; i < g->nnodes && !ps->oom; i++) {
        pf_gnode *n = &g->nodes[i];
        if (ps->bad[i] || !n->kind->ops || !n->kind->ops->configure) continue;
        pf_error_clear();
        if (n->kind->ops->configure(n->cfg, g, n) < 0)
            diag(ps, n->line, n->name, NULL, "%s", pf_error_last());
    }
}

/* ---- public API ----------------------------------------------------------- */

int pf_graph_parse(const char *path, const char *text, size_t len, pf_graph **out, pf_diags *diags)
{
    return pf_graph_parse_set(path, text, len, NULL, 0, out, diags);
}

int pf_graph_parse_set(const char *path, const char *text, size_t len, const char *const *sets, size_t nsets,
                       pf_graph **out, pf_diags *diags)
{
    pf_diags local = {0};
    pf_diags *d = diags ? diags : &local;
    size_t first = d->n;
    pf_dot dot = {0};
    checker ck = {.d = d, .dot = &dot};
    int rc = 0;
    *out = NULL;
    if (!d->file && !(d->file = strdup(path))) return pf_errorf(PF_ENOMEM, "out of memory");
    if (!(ck.g = dot.g = calloc(1, sizeof *ck.g)) || !(ck.g->path = strdup(path))) {
        rc = PF_ENOMEM;
        goto done;
    }
    if ((rc = pf_params_defaults(pf_graph_params, &ck.g->cfg)) < 0) goto done;
    if ((rc = pf_dot_parse(&dot, text, len, d)) < 0) goto done;
    if ((rc = pf_graph_sets_apply(&dot, sets, nsets, d)) < 0) goto done;
    if (!(ck.bad = calloc(ck.g->nnodes + 1, sizeof *ck.bad))) {
        rc = PF_ENOMEM;
        goto done;
    }
    check(&ck);
    if (ck.oom)
        rc = PF_ENOMEM;
    else if (d->n > first)
        rc = PF_EINVAL;
done:
    if (pf_graph_sets_relabel(d, first, sets, nsets) < 0) rc = PF_ENOMEM;
    sort_diags(d, first);
    free(ck.bad);
    pf_dot_fini(&dot);
    if (rc == PF_ENOMEM) {
        pf_errorf(rc, "graph '%s': out of memory", path);
    } else if (rc < 0 && d->n > first) {
        const pf_diag *x = &d->items[first];
        pf_errorf(rc, "%s:%d: %s (%zu problem%s)", path, x->line, x->message, d->n - first,
                  d->n - first == 1 ? "" : "s");
    }
    if (rc < 0)
        pf_graph_destroy(&ck.g);
    else
        *out = ck.g;
    pf_diags_fini(&local);
    return rc;
}

int pf_graph_load(const char *path, pf_graph **out, pf_diags *diags)
{
    return pf_graph_load_set(path, NULL, 0, out, diags);
}

int pf_graph_load_set(const char *path, const char *const *sets, size_t nsets, pf_graph **out, pf_diags *diags)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    char why[256] = "";
    if (!f) {
        snprintf(why, sizeof why, "cannot open the graph file: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        if (len + 4096 > cap) {
            char *nt = realloc(text, cap = (len + 4096) * 2);
            if (!nt) {
                rc = pf_errorf(PF_ENOMEM, "graph '%s': out of memory", path);
                goto out;
            }
            text = nt;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) snprintf(why, sizeof why, "cannot read the graph file: %s", strerror(errno));
out:
    if (f) fclose(f);
    if (why[0]) {
        rc = pf_errorf(PF_EIO, "%s: %s", path, why);
        if (diags && !diags->file) diags->file = strdup(path);
        if (diags) pf_diags_addf(diags, 0, NULL, NULL, "%s", why);
    }
    if (rc == 0) rc = pf_graph_parse_set(path, text, len, sets, nsets, out, diags);
    free(text);
    return rc;
}

void pf_graph_destroy(pf_graph **gp)
{
    if (!gp || !*gp) return;
    pf_graph *g = *gp;
    for (size_t i = 0; i < g->nnodes; i++) {
        pf_gnode *n = &g->nodes[i];
        for (size_t k = 0; k < n->nattrs; k++)
            free(n->attrs[k].key), free(n->attrs[k].value);
        free(n->attrs);
        free(n->name);
        free(n->host);
        if (n->cfg && n->kind) pf_params_fini(n->kind->params, n->cfg);
        free(n->cfg);
    }
    free(g->nodes);
    free(g->edges);
    pf_params_fini(pf_graph_params, &g->cfg);
    free(g->path);
    free(g->name);
    free(g);
    *gp = NULL;
}

int pf_graph_find(const pf_graph *g, const char *name)
{
    for (size_t i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return (int)i;
    return -1;
}

int pf_graph_resolve_instance(const pf_graph *g, const char *spec, size_t *node, int *instance)
{
    const char *hash = strchr(spec, '#');
    size_t nlen = hash ? (size_t)(hash - spec) : strlen(spec);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)nlen, spec);
    int i = pf_graph_find(g, name);
    if (i < 0) {
        const char **names = malloc((g->nnodes ? g->nnodes : 1) * sizeof *names);
        char dym[128];
        for (size_t j = 0; names && j < g->nnodes; j++)
            names[j] = g->nodes[j].name;
        pf_errorf(PF_ENOTFOUND, "graph '%s' has no node '%s'%s", g->name, name,
                  did_you_mean(names ? suggest(name, names, g->nnodes) : NULL, dym, sizeof dym));
        free(names);
        return PF_ENOTFOUND;
    }
    long inst = 0;
    if (hash) {
        char *end;
        errno = 0;
        inst = strtol(hash + 1, &end, 10);
        if (!isdigit((unsigned char)hash[1]) || *end || errno)
            return pf_errorf(PF_EINVAL, "'%s': expected NAME or NAME#INSTANCE, as in %s#0", spec,
                             name);
    }
    if (inst >= g->nodes[i].replicas)
        return pf_errorf(PF_ERANGE,
                         "node '%s' has %d replica%s: instance %ld does not exist (0..%d)", name,
                         g->nodes[i].replicas, g->nodes[i].replicas == 1 ? "" : "s", inst,
                         g->nodes[i].replicas - 1);
    *node = (size_t)i;
    *instance = (int)inst;
    return 0;
}

void pf_diags_print(const pf_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const pf_diag *x = &d->items[i];
        fprintf(out, "%s", d->file ? d->file : "<graph>");
        if (x->line > 0) fprintf(out, ":%d", x->line);
        fprintf(out, ": ");
        if (x->node) fprintf(out, "node '%s': ", x->node);
        if (x->param) fprintf(out, "parameter '%s': ", x->param);
        fprintf(out, "%s\n", x->message);
    }
}

void pf_diags_fini(pf_diags *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++)
        free(d->items[i].node), free(d->items[i].param), free(d->items[i].message);
    free(d->items);
    free(d->file);
    memset(d, 0, sizeof *d);
}

int pf_graph_set_run_dir(pf_graph *g, const char *run_dir)
{
    char *old_default = NULL;
    if (asprintf(&old_default, "%s/store", g->cfg.run_dir) < 0) return pf_errorf(PF_ENOMEM, "out of memory");
    int moved = strcmp(old_default, g->cfg.store) == 0;
    free(old_default);
    char *dir = strdup(run_dir), *store = NULL;
    if (!dir || (moved && asprintf(&store, "%s/store", run_dir) < 0)) {
        free(dir);
        return pf_errorf(PF_ENOMEM, "out of memory");
    }
    free(g->cfg.run_dir);
    g->cfg.run_dir = dir;
    if (moved) {
        free(g->cfg.store);
        g->cfg.store = store;
    }
    return 0;
}

/* An address is this machine's when a socket can bind to it (port 0: any
 * free port; nothing is sent). */
static int address_is_local(const struct sockaddr *a, socklen_t len)
{
    int fd = socket(a->sa_family, SOCK_DGRAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_storage ss;
    memcpy(&ss, a, len);
    if (a->sa_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = 0;
    if (a->sa_family == AF_INET6) ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
    int ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok;
}

static int host_locate(const char *h, int *gai_err)
{
    *gai_err = 0;
    if (!strcmp(h, "localhost") || !strncmp(h, "127.", 4) || !strcmp(h, "::1")) return 1;
    char me[256];
    if (gethostname(me, sizeof me) == 0) {
        me[sizeof me - 1] = '\0';
        size_t short_len = strcspn(me, ".");
        if (!strcmp(h, me) || (strlen(h) == short_len && !strncmp(h, me, short_len))) return 1;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_DGRAM;
    if ((*gai_err = getaddrinfo(h, NULL, &hints, &ai)) != 0) return 0;
    int here = 0;
    for (const struct addrinfo *p = ai; p && !here; p = p->ai_next)
        here = (p->ai_family == AF_INET || p->ai_family == AF_INET6) && address_is_local(p->ai_addr, p->ai_addrlen);
    freeaddrinfo(ai);
    return here;
}

/* Answers remembered per process (a graph names a handful of hosts; the
 * check, the placement and the warnings all ask, and an unresolvable name
 * can take seconds each time). Longer names, or more than HOST_CACHE of
 * them, are simply asked again. */
#define HOST_CACHE 32
static struct {
    char name[256];
    int here, gai_err;
} host_cache[HOST_CACHE];
static size_t host_cached;

int pf_graph_host_lookup(const char *h, int *gai_err)
{
    int err_local;
    if (!gai_err) gai_err = &err_local;
    for (size_t i = 0; i < host_cached; i++)
        if (!strcmp(host_cache[i].name, h)) {
            *gai_err = host_cache[i].gai_err;
            return host_cache[i].here;
        }
    int here = host_locate(h, gai_err);
    /* EAI_AGAIN is the resolver failing for now, not an answer: ask again next time */
    if (*gai_err != EAI_AGAIN && host_cached < HOST_CACHE && strlen(h) < sizeof host_cache[0].name) {
        snprintf(host_cache[host_cached].name, sizeof host_cache[0].name, "%s", h);
        host_cache[host_cached].here = here, host_cache[host_cached].gai_err = *gai_err;
        host_cached++;
    }
    return here;
}

void pf_graph_instance_name(const pf_graph *g, size_t flat, char *buf, size_t cap)
{
    for (size_t j = 0; j < g->nnodes; j++) {
        const pf_gnode *n = &g->nodes[j];
        if (flat >= n->first_instance && flat < n->first_instance + (size_t)n->replicas) {
            snprintf(buf, cap, "%s#%zu", n->name, flat - n->first_instance);
            return;
        }
    }
    snprintf(buf, cap, "?#%zu", flat);
}

int pf_graph_host_is_here(const char *h)
{
    return pf_graph_host_lookup(h, NULL);
}

int pf_graph_node_placed_here(const pf_gnode *n, const char *want)
{
    int hosted = n->host && n->host[0];
    if (want) return hosted && !strcmp(n->host, want);
    return !hosted || pf_graph_host_is_here(n->host);
}
