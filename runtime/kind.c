/*
 * kind.c - looking kinds up in the registry and describing them, and the
 * path check every kind's configure op shares.
 *
 * The registry itself is a NULL-terminated array in nodes/registry.c, so that
 * adding a kind is one file plus one line there; this file only reads it.
 */
#include "runtime/kind.h"
#include "runtime/error.h"
#include "runtime/graph.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const pf_kind *const pf_kind_registry[]; /* nodes/registry.c */

const pf_kind *pf_kind_find(const char *name)
{
    for (size_t i = 0; pf_kind_registry[i]; i++)
        if (strcmp(pf_kind_registry[i]->name, name) == 0) return pf_kind_registry[i];
    return NULL;
}

size_t pf_kind_count(void)
{
    size_t n = 0;
    while (pf_kind_registry[n]) n++;
    return n;
}

const pf_kind *pf_kind_at(size_t i)
{
    return i < pf_kind_count() ? pf_kind_registry[i] : NULL;
}

int pf_kind_port(const pf_kind *kind, const char *name, pf_port_dir dir)
{
    for (int i = 0; kind->ports[i].name; i++)
        if (kind->ports[i].dir == dir && strcmp(kind->ports[i].name, name) == 0) return i;
    return -1;
}

void pf_kind_describe(const pf_kind *kind, FILE *out)
{
    fprintf(out, "%s - %s\n", kind->name, kind->summary);
    fprintf(out, "replicas: %s\n\nports:\n",
            (kind->flags & PF_KIND_STATELESS) ? "allowed (stateless)" : "1 only (stateful)");
    int any = 0;
    for (int i = 0; kind->ports[i].name; i++) {
        const pf_port_spec *p = &kind->ports[i];
        char flags[64] = "";
        if (p->flags & PF_PORT_REQUIRED) strcat(flags, ", required");
        if (p->flags & PF_PORT_FEEDBACK) strcat(flags, ", feedback");
        fprintf(out, "  %-4s %-10s %-6s%s  %s\n", p->dir == PF_IN ? "in" : "out", p->name,
                p->mode == PF_DATA ? "data" : "pubsub", flags, p->help);
        any = 1;
    }
    if (!any) fprintf(out, "  (none)\n");
    fprintf(out, "\nparameters:\n");
    if (kind->params[0].name)
        pf_params_describe(kind->params, out);
    else
        fprintf(out, "  (none)\n");
}

/* What is wrong with path as a `what`, written into why; 0 when nothing is. */
static int path_problem(const char *path, pf_path_kind what, char *why, size_t size)
{
    const char *noun = what == PF_PATH_DIR ? "directory" : "file";
    struct stat st;
    if (!path || !path[0]) return snprintf(why, size, "empty (a %s is required)", noun);
    if (stat(path, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR
                   ? snprintf(why, size, "no such %s '%s'", noun, path)
                   : snprintf(why, size, "cannot read '%s': %s", path, strerror(errno));
    if (what == PF_PATH_FILE && S_ISDIR(st.st_mode))
        return snprintf(why, size, "'%s' is a directory, not a file", path);
    if (what == PF_PATH_DIR && !S_ISDIR(st.st_mode))
        return snprintf(why, size, "'%s' is not a directory", path);
    /* A directory is listed through its read and search bits. */
    if (access(path, what == PF_PATH_DIR ? R_OK | X_OK : R_OK) != 0)
        return snprintf(why, size, "cannot read '%s': %s", path, strerror(errno));
    return 0;
}

static const char *scope_host, *scope_node; /* pf_kind_set_path_scope */

void pf_kind_set_path_scope(const char *host, const char *node)
{
    scope_host = host, scope_node = node;
}

/* rc with one more reason: PF_EINVAL with the reason alone when rc >= 0,
 * else the earlier reasons (pf_errorf overwrites them) then "; " and it. */
static int add_reason(int rc, const char *fmt, ...)
{
    char why[1024], before[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (rc >= 0) return pf_errorf(PF_EINVAL, "%s", why);
    snprintf(before, sizeof before, "%s", pf_error_last());
    return pf_errorf(PF_EINVAL, "%s; %s", before, why);
}

static int float_param(const pf_gnode *n, const char *param, double *out)
{
    const pf_param *p = n->kind && n->cfg ? pf_params_find(n->kind->params, param) : NULL;
    if (!p || p->type != PF_PT_FLOAT) return 0;
    memcpy(out, (const char *)n->cfg + p->offset, sizeof *out);
    return 1;
}

int pf_kind_check_same_float(int rc, const pf_graph *g, const pf_gnode *node, const char *param)
{
    double mine, theirs;
    if (!float_param(node, param, &mine)) return rc;
    for (size_t i = 0; i < g->nnodes; i++) {
        const pf_gnode *o = &g->nodes[i];
        if (o == node || !float_param(o, param, &theirs) || theirs == mine) continue;
        return add_reason(rc,
                          "%s=%g here but %g on node '%s' (line %d): its features and these would differ "
                          "(give every source and evaluator the same %s=)",
                          param, mine, theirs, o->name, o->line, param);
    }
    return rc;
}

double pf_kind_graph_float(const pf_graph *g, const char *param, double dflt)
{
    double v;
    for (size_t i = 0; i < g->nnodes; i++)
        if (float_param(&g->nodes[i], param, &v)) return v;
    return dflt;
}

int pf_kind_check_path(int rc, const pf_gnode *node, const char *param, const char *path,
                       pf_path_kind what)
{
    char why[256];
    int mine = scope_node ? !strcmp(node->name, scope_node) : pf_graph_node_placed_here(node, scope_host);
    if (!mine || path_problem(path, what, why, sizeof why) == 0) return rc;
    return add_reason(rc, "parameter '%s': %s", param, why);
}
