/*
 * graph_set.c - `--set TARGET.PARAM=VALUE`: a parameter given on the command
 * line for one run, over what the graph file says (see graph.h).
 *
 * Each setting becomes one DOT attribute statement, `"NODE" [PARAM="VALUE"]`
 * or `graph [PARAM="VALUE"]`, added on its own line before the graph's
 * closing brace, so it goes through exactly the parsing and checking the
 * file's own statements do; attributes merge in order, so it wins over the
 * file's value. Problems on those lines are reported as the setting's own:
 * line 0, the message led by "--set TEXT:", and a setting for a node the
 * file does not have says that instead of "never declared".
 */
#include "runtime/graph.h"
#include "runtime/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Split "TARGET.PARAM=VALUE" (TARGET and PARAM non-empty, PARAM an
 * identifier, no quote or backslash in TARGET, no newline anywhere, no
 * backslash ending VALUE: it would escape the closing quote). 0 or -1. */
static int split(const char *set, size_t *tlen, const char **param, size_t *plen, const char **value)
{
    const char *eq = strchr(set, '='), *dot = eq ? memchr(set, '.', (size_t)(eq - set)) : NULL;
    size_t n = strlen(set);
    if (!dot || dot == set || dot + 1 == eq || strchr(set, '\n') || set[n - 1] == '\\') return -1;
    for (const char *c = set; c < dot; c++)
        if (*c == '"' || *c == '\\') return -1;
    for (const char *c = dot + 1; c < eq; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_') || (c == dot + 1 && isdigit((unsigned char)*c))) return -1;
    *tlen = (size_t)(dot - set), *param = dot + 1, *plen = (size_t)(eq - dot - 1), *value = eq + 1;
    return 0;
}

/* Append one statement for set to buf (grown as needed). */
static int append_stmt(char **buf, size_t *len, size_t *cap, const char *set)
{
    size_t tlen, plen;
    const char *param, *value;
    split(set, &tlen, &param, &plen, &value);
    size_t need = *len + tlen + plen + 2 * strlen(value) + 32;
    if (need > *cap) {
        char *nb = realloc(*buf, need * 2);
        if (!nb) return pf_errorf(PF_ENOMEM, "out of memory");
        *buf = nb, *cap = need * 2;
    }
    int graph = tlen == 5 && !strncmp(set, "graph", 5);
    *len += (size_t)sprintf(*buf + *len, graph ? "%.*s [%.*s=\"" : "\"%.*s\" [%.*s=\"", (int)tlen, set, (int)plen,
                            param);
    for (const char *c = value; *c; c++) { /* DOT strings: \" is a quote, other backslashes stay */
        if (*c == '"') (*buf)[(*len)++] = '\\';
        (*buf)[(*len)++] = *c;
    }
    *len += (size_t)sprintf(*buf + *len, "\"];\n");
    return 0;
}

/* Diagnostics from line `first` on belong to the well-formed sets, in order
 * (ok[k] = index in sets of the k-th one). */
static int own_diags(pf_diags *d, size_t from, int first, const char *const *sets, const size_t *ok, size_t nok)
{
    for (size_t i = from; i < d->n; i++) {
        pf_diag *x = &d->items[i];
        if (x->line < first || (size_t)(x->line - first) >= nok) continue;
        const char *set = sets[ok[x->line - first]];
        size_t tlen = (size_t)(strchr(set, '.') - set);
        const char *why = x->message;
        char buf[512];
        if (x->node && strstr(why, "has no kind")) {
            snprintf(buf, sizeof buf, "there is no node '%.*s' in the graph", (int)tlen, set);
            why = buf;
        }
        size_t n = strlen(set) + strlen(why) + 16;
        char *m = malloc(n);
        if (!m) return pf_errorf(PF_ENOMEM, "out of memory");
        snprintf(m, n, "--set %s: %s", set, why);
        free(x->message);
        x->message = m, x->line = 0;
    }
    return 0;
}

int pf_graph_parse_set(const char *path, const char *text, size_t len, const char *const *sets, size_t nsets,
                       pf_graph **out, pf_diags *diags)
{
    *out = NULL;
    if (nsets == 0) return pf_graph_parse(path, text, len, out, diags);
    pf_diags local = {0};
    pf_diags *d = diags ? diags : &local;
    if (!d->file && !(d->file = strdup(path))) return pf_errorf(PF_ENOMEM, "out of memory");
    /* the malformed ones are reported here, the others go through the parser: every problem at once */
    size_t *ok = malloc(nsets * sizeof *ok), nok = 0, from = d->n;
    if (!ok) return pf_errorf(PF_ENOMEM, "out of memory");
    for (size_t k = 0; k < nsets; k++) {
        size_t tlen, plen;
        const char *param, *value;
        if (split(sets[k], &tlen, &param, &plen, &value) == 0) ok[nok++] = k;
        else pf_diags_addf(d, 0, NULL, NULL, "--set %s: expected NODE.PARAM=VALUE or graph.PARAM=VALUE", sets[k]);
    }
    size_t close = len; /* one past the graph's closing brace, the last '}' */
    while (close > 0 && text[close - 1] != '}') close--;
    if (close-- == 0) { /* no body to add to: let the parser say what is wrong */
        free(ok);
        int rc = pf_graph_parse(path, text, len, out, d);
        pf_diags_fini(&local);
        return rc;
    }
    int first = 2; /* text before the brace, then a newline: the first statement's line */
    for (size_t i = 0; i < close; i++) first += text[i] == '\n';
    size_t cap = len + 256, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        free(ok);
        return pf_errorf(PF_ENOMEM, "out of memory");
    }
    memcpy(buf, text, close), n = close;
    buf[n++] = '\n';
    int rc = 0;
    for (size_t k = 0; k < nok && rc == 0; k++) rc = append_stmt(&buf, &n, &cap, sets[ok[k]]);
    if (rc == 0 && n + (len - close) + 1 > cap) {
        char *nb = realloc(buf, n + (len - close) + 1);
        if (!nb) rc = pf_errorf(PF_ENOMEM, "out of memory");
        else buf = nb;
    }
    if (rc == 0) {
        memcpy(buf + n, text + close, len - close), n += len - close;
        size_t parsed_from = d->n;
        rc = pf_graph_parse(path, buf, n, out, d);
        if (rc < 0 && own_diags(d, parsed_from, first, sets, ok, nok) < 0) rc = PF_ENOMEM;
        if (rc == 0 && nok < nsets) { /* the file and the good settings check; a malformed one still fails */
            pf_graph_destroy(out);
            rc = PF_EINVAL;
        }
        if (rc < 0 && d->n > from) {
            const pf_diag *x = &d->items[from];
            pf_errorf(rc, "%s:%d: %s", path, x->line, x->message);
        }
    }
    free(buf);
    free(ok);
    pf_diags_fini(&local);
    return rc;
}
