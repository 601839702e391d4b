/*
 * dot.c - the DOT subset of graph files: a lexer and a recursive-descent
 * parser that produce an unchecked pf_graph (see dot.h).
 *
 * Why hand-written: Graphviz's cgraph parses full DOT but does not say on
 * which line a node or attribute was written, and every diagnostic must
 * carry FILE:LINE. The subset (graph.h lists it) needs one token of
 * lookahead: a statement is an attribute statement (graph/node/edge), an
 * edge chain (ID followed by '->') or a node statement.
 *
 * Nodes are created on first mention, in edges too, so that graph.c can say
 * "used in an edge but never declared" at the right line; attributes of a
 * node merge across statements in order, and its line becomes that of the
 * first statement that gives it a kind. The parser stops at the first
 * syntax error: what follows one cannot be trusted. Strings follow Graphviz:
 * \" is a quote, backslash-newline joins lines, other backslashes stay.
 * Numbers follow DOT too, so "1e-6" must be quoted (Graphviz would split an
 * unquoted 1e-6 into two tokens); the error says so.
 *
 * Not here: meaning. Kinds, parameters and ports are graph.c's; this file
 * only knows which attributes are Graphviz display attributes.
 */
#include "runtime/dot.h"
#include "runtime/error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Graphviz display attributes, by statement: accepted so `dot` draws the file, then ignored. */
static const char *const node_display[] = {
    "label",    "shape",     "color",     "style",       "fillcolor", "fontname",
    "fontsize", "fontcolor", "tooltip",   "xlabel",      "comment",   "penwidth",
    "width",    "height",    "fixedsize", "peripheries", "group",     NULL};
static const char *const edge_display[] = {
    "label",     "color",    "style",      "penwidth",  "arrowhead", "arrowtail", "arrowsize",
    "dir",       "fontname", "fontsize",   "fontcolor", "tooltip",   "xlabel",    "headlabel",
    "taillabel", "weight",   "constraint", "minlen",    "comment",   NULL};
static const char *const graph_display[] = {
    "label",   "rankdir", "fontname", "fontsize", "fontcolor", "bgcolor",     "size",     "ratio",
    "splines", "nodesep", "ranksep",  "labelloc", "labeljust", "concentrate", "compound", "newrank",
    "margin",  "pad",     "dpi",      "comment",  "tooltip",   "ordering",    NULL};

enum tok_type {
    T_EOF,
    T_ID,
    T_LBRACE,
    T_RBRACE,
    T_LBRACK,
    T_RBRACK,
    T_EQ,
    T_COMMA,
    T_SEMI,
    T_ARROW,
    T_ERR
};

typedef struct token {
    enum tok_type type;
    char *text; /* T_ID only; owned until take() */
    int quoted;
    int line;
} token;

typedef struct alist {
    pf_attr *a;
    size_t n, cap;
} alist;

typedef struct parser {
    const char *p, *end;
    int line, bol; /* bol: only blanks since the last newline (for '#' lines) */
    token tok;
    pf_dot *dot;
    pf_graph *g;
    pf_diags *d;
    int *kinded; /* per node: its line is already that of a statement giving it a kind */
    int oom;
} parser;

/* ---- small helpers -------------------------------------------------------- */

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0) return 1;
    return 0;
}

int pf_dot_display_attr(const char *stmt, const char *key)
{
    return in_list(stmt[0] == 'g'   ? graph_display
                   : stmt[0] == 'n' ? node_display
                                    : edge_display,
                   key);
}

static char *xstrdup(parser *ps, const char *s)
{
    char *c = strdup(s);
    if (!c) ps->oom = 1;
    return c;
}

/* `arr` (n in use, *cap allocated) with room for one more element: the same
 * pointer, a reallocated one (*cap updated), or NULL (oom set, arr intact). */
static void *grow(parser *ps, void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return arr;
    size_t nc = *cap ? *cap * 2 : 8;
    void *na = realloc(arr, nc * elem);
    if (!na) return ps->oom = 1, NULL;
    *cap = nc;
    return na;
}

__attribute__((format(printf, 5, 6))) static void diag(parser *ps, int line, const char *node,
                                                       const char *param, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pf_diags_addf(ps->d, line, node, param, "%s", msg) < 0) ps->oom = 1;
}

static void alist_free(alist *al)
{
    for (size_t i = 0; i < al->n; i++)
        free(al->a[i].key), free(al->a[i].value);
    free(al->a);
    memset(al, 0, sizeof *al);
}

/* ---- lexer ---------------------------------------------------------------- */

static int id_char(int c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

static void lex_error(parser *ps, int line, const char *fmt, const char *arg)
{
    char what[1024];
    snprintf(what, sizeof what, fmt, arg);
    diag(ps, line, NULL, NULL, "syntax error: %s", what);
    ps->tok.type = T_ERR;
}

static void skip_blanks_and_comments(parser *ps)
{
    const char *p = ps->p, *end = ps->end;
    while (p < end) {
        if (*p == '\n') {
            ps->line++, ps->bol = 1, p++;
        } else if (isspace((unsigned char)*p)) {
            p++;
        } else if (*p == '#' && ps->bol) { /* C preprocessor output lines, as in DOT */
            while (p < end && *p != '\n')
                p++;
        } else if (*p == '/' && p + 1 < end && p[1] == '/') {
            while (p < end && *p != '\n')
                p++;
        } else if (*p == '/' && p + 1 < end && p[1] == '*') {
            int open_line = ps->line;
            for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++)
                if (*p == '\n') ps->line++;
            if (p >= end) {
                ps->p = end;
                lex_error(ps, open_line, "%s", "unterminated /* comment");
                return;
            }
            p += 2;
        } else {
            break;
        }
    }
    ps->p = p;
}

/* A double-quoted string: \" is a quote, backslash-newline joins lines, and
 * every other backslash is kept as written (Graphviz does the same). */
static void lex_string(parser *ps)
{
    const char *p = ps->p + 1;
    int open_line = ps->line;
    size_t n = 0;
    char *out = malloc((size_t)(ps->end - p) + 1);
    if (!out) {
        ps->oom = 1, ps->tok.type = T_ERR;
        return;
    }
    while (p < ps->end && *p != '"') {
        if (*p == '\\' && p + 1 < ps->end && (p[1] == '"' || p[1] == '\n')) {
            if (p[1] == '"')
                out[n++] = '"';
            else
                ps->line++;
            p += 2;
            continue;
        }
        if (*p == '\\' && p + 1 < ps->end && p[1] == '\\') out[n++] = *p++;
        if (*p == '\n') ps->line++;
        out[n++] = *p++;
    }
    out[n] = '\0';
    if (p >= ps->end) {
        free(out);
        ps->p = ps->end;
        lex_error(ps, open_line, "%s", "unterminated string: a '\"' is missing");
        return;
    }
    ps->p = p + 1;
    ps->tok = (token){T_ID, out, 1, open_line};
}

/* DOT numerals: -?(.[0-9]+ | [0-9]+(.[0-9]*)?). Letters right after one are
 * an error in Graphviz too ("1e-6" must be quoted), so say so here. */
static void lex_number(parser *ps)
{
    const char *s = ps->p, *p = s;
    if (*p == '-') p++;
    while (p < ps->end && isdigit((unsigned char)*p))
        p++;
    if (p < ps->end && *p == '.')
        for (p++; p < ps->end && isdigit((unsigned char)*p); p++) {
        }
    if (p < ps->end && (id_char((unsigned char)*p) || *p == '.')) {
        const char *q = p;
        while (q < ps->end && (id_char((unsigned char)*q) || strchr(".+-", *q)))
            q++;
        char word[128];
        snprintf(word, sizeof word, "%.*s", (int)(q - s), s);
        ps->p = q;
        lex_error(ps, ps->line, "'%s' is not a DOT number or name: quote it, as in \"1e-6\"", word);
        return;
    }
    ps->tok = (token){T_ID, strndup(s, (size_t)(p - s)), 0, ps->line};
    if (!ps->tok.text) ps->oom = 1, ps->tok.type = T_ERR;
    ps->p = p;
}

static void lex(parser *ps)
{
    free(ps->tok.text);
    ps->tok = (token){T_EOF, NULL, 0, ps->line};
    skip_blanks_and_comments(ps);
    if (ps->tok.type == T_ERR) return;
    ps->tok.line = ps->line;
    if (ps->p >= ps->end) return;
    ps->bol = 0;
    const char *p = ps->p;
    char c = *p, c1 = p + 1 < ps->end ? p[1] : '\0';
    static const char punct[] = "{}[]=,;";
    static const enum tok_type ptype[] = {T_LBRACE, T_RBRACE, T_LBRACK, T_RBRACK,
                                          T_EQ,     T_COMMA,  T_SEMI};
    const char *pc = c ? strchr(punct, c) : NULL;
    if (pc) {
        ps->tok.type = ptype[pc - punct];
        ps->p++;
    } else if (c == '-' && c1 == '>') {
        ps->tok.type = T_ARROW;
        ps->p += 2;
    } else if (c == '-' && c1 == '-') {
        ps->p += 2;
        lex_error(ps, ps->line, "%s", "'--' is an undirected edge; a digraph uses '->'");
    } else if (c == '"') {
        lex_string(ps);
    } else if (isdigit((unsigned char)c) || ((c == '-' || c == '.') && isdigit((unsigned char)c1)) ||
               (c == '-' && c1 == '.' && p + 2 < ps->end && isdigit((unsigned char)p[2]))) { /* -.5 */
        lex_number(ps);
    } else if (id_char((unsigned char)c)) {
        while (p < ps->end && id_char((unsigned char)*p))
            p++;
        ps->tok = (token){T_ID, strndup(ps->p, (size_t)(p - ps->p)), 0, ps->line};
        if (!ps->tok.text) ps->oom = 1, ps->tok.type = T_ERR;
        ps->p = p;
    } else if (c == ':') {
        ps->p++;
        lex_error(ps, ps->line, "%s",
                  "DOT node ports ('a:p') are not supported; put [port=p] on the edge");
    } else {
        char ch[8];
        snprintf(ch, sizeof ch, isprint((unsigned char)c) ? "%c" : "\\x%02x", (unsigned char)c);
        ps->p++;
        lex_error(ps, ps->line, "unexpected character '%s'", ch);
    }
}

/* The current ID's text, now the caller's. */
static char *take(parser *ps)
{
    char *t = ps->tok.text;
    ps->tok.text = NULL;
    return t;
}

/* ---- parser --------------------------------------------------------------- */

static int is_kw(const token *t, const char *kw)
{
    return t->type == T_ID && !t->quoted && strcasecmp(t->text, kw) == 0;
}

static int expected(parser *ps, const char *what)
{
    if (ps->tok.type == T_ERR) return PF_EPARSE; /* the lexer has said why */
    static const char *const names[] = {"end of file", "",    "'{'", "'}'", "'['",
                                        "']'",         "'='", "','", "';'", "'->'"};
    char found[160];
    if (ps->tok.type == T_ID)
        snprintf(found, sizeof found, ps->tok.quoted ? "\"%.100s\"" : "'%.100s'", ps->tok.text);
    else
        snprintf(found, sizeof found, "%s", names[ps->tok.type]);
    diag(ps, ps->tok.line, NULL, NULL, "syntax error: expected %s, found %s", what, found);
    return PF_EPARSE;
}

/* Append src to the buffer *buf (length *n, capacity *cap). */
static void buf_add(parser *ps, char **buf, size_t *n, size_t *cap, const char *src, size_t len)
{
    if (*n + len + 1 > *cap) {
        size_t nc = (*n + len + 1) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb) {
            ps->oom = 1;
            return;
        }
        *buf = nb, *cap = nc;
    }
    memcpy(*buf + *n, src, len);
    *n += len;
    (*buf)[*n] = '\0';
}

/* ${VAR} and ${VAR:-default} (default also when VAR is empty, as in sh). */
static char *expand(parser *ps, const char *s, int line, const char *node, const char *key)
{
    char *out = NULL;
    size_t n = 0, cap = 0;
    buf_add(ps, &out, &n, &cap, "", 0);
    while (*s && !ps->oom) {
        const char *dollar = strstr(s, "${");
        if (!dollar) {
            buf_add(ps, &out, &n, &cap, s, strlen(s));
            break;
        }
        buf_add(ps, &out, &n, &cap, s, (size_t)(dollar - s));
        const char *close = strchr(dollar, '}');
        if (!close) {
            diag(ps, line, node, key, "unterminated '${' in '%s': a '}' is missing", s);
            break;
        }
        char var[256];
        snprintf(var, sizeof var, "%.*s", (int)(close - dollar - 2), dollar + 2);
        char *def = strstr(var, ":-");
        if (def) *def = '\0', def += 2;
        size_t vlen = strlen(var);
        if (!vlen || isdigit((unsigned char)var[0]) ||
            strspn(var, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != vlen) {
            diag(ps, line, node, key, "'%.*s' is not a variable: names are letters, digits and '_'",
                 (int)(close - dollar + 1), dollar);
        } else {
            const char *val = getenv(var);
            if (val && (*val || !def))
                buf_add(ps, &out, &n, &cap, val, strlen(val));
            else if (def)
                buf_add(ps, &out, &n, &cap, def, strlen(def));
            else
                diag(ps, line, node, key,
                     "environment variable '%s' is not set (set it, or write ${%s:-default})", var,
                     var);
        }
        s = close + 1;
    }
    return out;
}

/* One or more `[k=v, ...]` lists (separators ',' or ';' or none, as in DOT).
 * Values are expanded; `node` only names the node in diagnostics. */
static int parse_attrs(parser *ps, alist *al, const char *node)
{
    while (ps->tok.type == T_LBRACK) {
        lex(ps);
        while (ps->tok.type != T_RBRACK) {
            if (ps->tok.type != T_ID) return expected(ps, "an attribute name or ']'");
            int line = ps->tok.line;
            char *key = take(ps), what[160];
            lex(ps);
            if (ps->tok.type != T_EQ) {
                snprintf(what, sizeof what, "'=' after '%.100s'", key);
                free(key);
                return expected(ps, what);
            }
            lex(ps);
            if (ps->tok.type != T_ID) {
                snprintf(what, sizeof what, "a value after '%.100s='", key);
                free(key);
                return expected(ps, what);
            }
            char *raw = take(ps);
            int vline = ps->tok.line;
            char *value = expand(ps, raw, vline, node, key);
            free(raw);
            pf_attr *na = value ? grow(ps, al->a, &al->cap, al->n, sizeof *na) : NULL;
            if (!na) {
                free(key), free(value);
                return PF_ENOMEM;
            }
            al->a = na;
            al->a[al->n++] = (pf_attr){key, value, line};
            lex(ps);
            if (ps->tok.type == T_COMMA || ps->tok.type == T_SEMI) lex(ps);
        }
        lex(ps);
    }
    return 0;
}

/* Index of node `name`, created (without kind) on first mention; -1 on oom. */
static long node_ref(parser *ps, const char *name, int line)
{
    pf_graph *g = ps->g;
    for (size_t i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return (long)i;
    pf_dot *dot = ps->dot;
    if (g->nnodes == dot->node_cap) { /* three arrays indexed by node grow together */
        size_t nc = dot->node_cap ? dot->node_cap * 2 : 8;
        pf_gnode *nn = realloc(g->nodes, nc * sizeof *nn);
        if (nn) g->nodes = nn;
        int *nd = nn ? realloc(dot->declared, nc * sizeof *nd) : NULL;
        if (nd) dot->declared = nd;
        int *nk = nd ? realloc(ps->kinded, nc * sizeof *nk) : NULL;
        if (!nk) return ps->oom = 1, -1;
        ps->kinded = nk;
        dot->node_cap = nc;
    }
    pf_gnode *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    dot->declared[g->nnodes] = ps->kinded[g->nnodes] = 0;
    n->line = line;
    n->replicas = 1;
    if (!(n->name = xstrdup(ps, name))) return -1;
    return (long)g->nnodes++;
}

static int add_edge(parser *ps, long from, long to, int line, const char *out, const char *in)
{
    pf_graph *g = ps->g;
    pf_dot *dot = ps->dot;
    if (g->nedges == dot->edge_cap) { /* three arrays indexed by edge grow together */
        size_t nc = dot->edge_cap ? dot->edge_cap * 2 : 8;
        pf_gedge *ne = realloc(g->edges, nc * sizeof *ne);
        if (ne) g->edges = ne;
        char **no = ne ? realloc(dot->out_name, nc * sizeof *no) : NULL;
        if (no) dot->out_name = no;
        char **ni = no ? realloc(dot->in_name, nc * sizeof *ni) : NULL;
        if (!ni) return ps->oom = 1, PF_ENOMEM;
        dot->in_name = ni;
        dot->edge_cap = nc;
    }
    g->edges[g->nedges] = (pf_gedge){(size_t)from, (size_t)to, -1, -1, line};
    dot->out_name[g->nedges] = xstrdup(ps, out);
    dot->in_name[g->nedges] = xstrdup(ps, in);
    g->nedges++; /* counted even on oom, so that pf_dot_fini frees what was made */
    return ps->oom ? PF_ENOMEM : 0;
}

/* `NAME [attrs]`: attributes merge across statements, in order. */
static int parse_node_stmt(parser *ps, char *name, int line)
{
    alist al = {0};
    int rc = parse_attrs(ps, &al, name);
    long i = rc ? -1 : node_ref(ps, name, line);
    if (rc == 0 && i < 0) rc = PF_ENOMEM;
    for (size_t k = 0; rc == 0 && k < al.n; k++) {
        pf_gnode *n = &ps->g->nodes[i];
        if (strcmp(al.a[k].key, "kind") == 0 && !ps->kinded[i]) {
            n->line = line;
            ps->kinded[i] = 1;
        }
        size_t cap = n->nattrs; /* attrs grow by exact size: few per node */
        pf_attr *na = realloc(n->attrs, (cap + 1) * sizeof *na);
        if (!na) {
            rc = PF_ENOMEM, ps->oom = 1;
            break;
        }
        n->attrs = na;
        n->attrs[n->nattrs++] = al.a[k];
        al.a[k] = (pf_attr){0};
    }
    if (rc == 0) ps->dot->declared[i] = 1;
    alist_free(&al);
    free(name);
    return rc;
}

/* `A -> B -> C [attrs]`: one edge per arrow, each on the arrow's line. */
static int parse_edge_stmt(parser *ps, char *first, int first_line)
{
    struct hop {
        char *name;
        int name_line, arrow_line;
    } *hops = NULL;
    size_t n = 0, cap = 0;
    alist al = {0};
    int rc = 0;
    if (!(hops = grow(ps, NULL, &cap, 0, sizeof *hops))) {
        free(first);
        return PF_ENOMEM;
    }
    hops[n++] = (struct hop){first, first_line, first_line};
    while (ps->tok.type == T_ARROW) {
        int aline = ps->tok.line;
        lex(ps);
        if (ps->tok.type != T_ID || is_kw(&ps->tok, "subgraph")) {
            rc = expected(ps, "a node name after '->'");
            goto out;
        }
        struct hop *nh = grow(ps, hops, &cap, n, sizeof *nh);
        if (!nh) {
            rc = PF_ENOMEM;
            goto out;
        }
        hops = nh;
        hops[n].name_line = ps->tok.line;
        hops[n].arrow_line = aline;
        hops[n++].name = take(ps);
        lex(ps);
    }
    if ((rc = parse_attrs(ps, &al, NULL))) goto out;
    const char *outp = "out", *inp = "in";
    static const pf_param edge_keys[] = {{"port"}, {"out"}, {"in"}, {NULL}};
    for (size_t k = 0; k < al.n; k++) {
        const char *key = al.a[k].key, *v = al.a[k].value;
        const char *dym = pf_params_suggest(edge_keys, key);
        if (strcmp(key, "port") == 0)
            outp = inp = v;
        else if (strcmp(key, "out") == 0)
            outp = v;
        else if (strcmp(key, "in") == 0)
            inp = v;
        else if (!in_list(edge_display, key))
            diag(ps, al.a[k].line, NULL, key,
                 "unknown edge attribute%s%s%s; edges take port, out, in and display attributes",
                 dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
    }
    for (size_t k = 0; k + 1 < n && rc == 0; k++) {
        long a = node_ref(ps, hops[k].name, hops[k].name_line);
        long b = node_ref(ps, hops[k + 1].name, hops[k + 1].name_line);
        rc = a < 0 || b < 0 ? PF_ENOMEM : add_edge(ps, a, b, hops[k + 1].arrow_line, outp, inp);
    }
out:
    for (size_t k = 0; k < n; k++)
        free(hops[k].name);
    free(hops);
    alist_free(&al);
    return rc;
}

/* `graph [...]`, `node [...]`, `edge [...]`. */
static int parse_attr_stmt(parser *ps, const char *which)
{
    alist al = {0};
    char what[64];
    snprintf(what, sizeof what, "'[' after '%s'", which);
    lex(ps);
    if (ps->tok.type != T_LBRACK) return expected(ps, what);
    int rc = parse_attrs(ps, &al, NULL);
    for (size_t k = 0; rc == 0 && k < al.n; k++) {
        pf_attr *a = &al.a[k];
        if (which[0] == 'g') {
            pf_dot *dot = ps->dot;
            pf_attr *na = grow(ps, dot->gattrs, &dot->gattr_cap, dot->ngattrs, sizeof *na);
            if (!na) {
                rc = PF_ENOMEM;
                break;
            }
            dot->gattrs = na;
            dot->gattrs[dot->ngattrs++] = *a;
            *a = (pf_attr){0};
        } else if (!in_list(which[0] == 'n' ? node_display : edge_display, a->key)) {
            diag(ps, a->line, NULL, a->key,
                 "%s [...] defaults may only hold display attributes (label, color, style, ...); "
                 "set '%s' on each %s instead",
                 which, a->key, which);
        }
    }
    alist_free(&al);
    return rc;
}

static int parse_stmt(parser *ps)
{
    token *t = &ps->tok;
    if (t->type != T_ID) return expected(ps, "a statement (NAME [...], A -> B, or graph [...])");
    if (is_kw(t, "graph")) return parse_attr_stmt(ps, "graph");
    if (is_kw(t, "node")) return parse_attr_stmt(ps, "node");
    if (is_kw(t, "edge")) return parse_attr_stmt(ps, "edge");
    if (is_kw(t, "subgraph") || is_kw(t, "digraph") || is_kw(t, "strict")) {
        diag(ps, t->line, NULL, NULL, "syntax error: '%s' is not supported inside a graph",
             t->text);
        return PF_EPARSE;
    }
    int line = t->line;
    char *name = take(ps);
    lex(ps);
    if (ps->tok.type == T_EQ) {
        diag(ps, line, NULL, NULL,
             "syntax error: top-level '%s = ...' is not supported; write graph [%s=...]", name,
             name);
        free(name);
        return PF_EPARSE;
    }
    if (ps->tok.type == T_ARROW) return parse_edge_stmt(ps, name, line);
    return parse_node_stmt(ps, name, line);
}

static int parse_file(parser *ps)
{
    lex(ps);
    if (is_kw(&ps->tok, "strict")) lex(ps);
    if (is_kw(&ps->tok, "graph")) {
        diag(ps, ps->tok.line, NULL, NULL,
             "syntax error: expected 'digraph', found 'graph': pseudoflow graphs are directed");
        return PF_EPARSE;
    }
    if (!is_kw(&ps->tok, "digraph")) return expected(ps, "'digraph NAME {'");
    lex(ps);
    if (ps->tok.type != T_ID) return expected(ps, "the graph's name after 'digraph'");
    ps->g->name = take(ps);
    lex(ps);
    if (ps->tok.type != T_LBRACE) return expected(ps, "'{' after the graph's name");
    lex(ps);
    while (ps->tok.type != T_RBRACE) {
        if (ps->tok.type == T_SEMI) {
            lex(ps);
            continue;
        }
        if (ps->tok.type == T_EOF) return expected(ps, "'}' to close the digraph");
        int rc = parse_stmt(ps);
        if (rc) return rc;
        if (ps->oom) return PF_ENOMEM;
    }
    lex(ps);
    if (ps->tok.type != T_EOF) return expected(ps, "end of file after the closing '}'");
    return 0;
}

int pf_dot_parse(pf_dot *dot, const char *text, size_t len, pf_diags *diags)
{
    parser ps = {
        .p = text, .end = text + len, .line = 1, .bol = 1, .dot = dot, .g = dot->g, .d = diags};
    int rc = parse_file(&ps);
    free(ps.tok.text);
    free(ps.kinded);
    return ps.oom ? PF_ENOMEM : rc;
}

void pf_dot_fini(pf_dot *dot)
{
    for (size_t k = 0; dot->g && k < dot->g->nedges; k++)
        free(dot->out_name[k]), free(dot->in_name[k]);
    for (size_t k = 0; k < dot->ngattrs; k++)
        free(dot->gattrs[k].key), free(dot->gattrs[k].value);
    free(dot->declared);
    free(dot->out_name);
    free(dot->in_name);
    free(dot->gattrs);
    memset(dot, 0, sizeof *dot);
}
