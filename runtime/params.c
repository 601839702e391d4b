/*
 * params.c - parsing, checking and describing parameter tables (params.h).
 *
 * A table is data, not code: one row per parameter says where the value
 * lives in the config struct (by offset), its type, its default as text, and
 * its range. Defaults go through the same parser as user values, so a
 * default that does not parse or is out of its own range is caught by the
 * table's first use (pf_params_defaults fails) rather than silently stored.
 *
 * Error lines say what was expected and what was found, never which
 * parameter: the caller knows the file, line, node and parameter and adds
 * them, so the same text reads well in a graph diagnostic and on the CLI.
 *
 * Numbers: integers are decimal; "1e6" is accepted where an integer is
 * expected when it is a whole number, because people write large counts that
 * way. Floats must be finite. Text is trimmed of surrounding blanks for every
 * type but string, whose value is kept exactly as written.
 *
 * Not here: cross-parameter checks (a kind's configure op does those).
 */
#include "runtime/params.h"
#include "runtime/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SUGGEST_MAX_DISTANCE 2 /* edits; 3 turns most short names into each other */

const char *pf_param_type_name(pf_param_type t)
{
    switch (t) {
    case PF_PT_INT:
        return "int";
    case PF_PT_FLOAT:
        return "float";
    case PF_PT_BOOL:
        return "bool";
    case PF_PT_STRING:
        return "string";
    case PF_PT_ENUM:
        return "enum";
    }
    return "?";
}

const pf_param *pf_params_find(const pf_param *table, const char *name)
{
    for (const pf_param *p = table; p && p->name; p++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}

/* Levenshtein distance, capped: returns cap + 1 as soon as it must exceed cap. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > cap) return cap + 1;
    size_t *row = malloc((lb + 1) * sizeof *row);
    if (!row) return cap + 1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best = row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub =
                diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t v = sub;
            if (up + 1 < v) v = up + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best) best = v;
        }
        if (best > cap) {
            free(row);
            return cap + 1;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

const char *pf_params_suggest(const pf_param *table, const char *name)
{
    const char *best = NULL;
    size_t best_d = SUGGEST_MAX_DISTANCE + 1;
    size_t len = strlen(name);
    for (const pf_param *p = table; p && p->name; p++) {
        size_t d = edit_distance(name, p->name, SUGGEST_MAX_DISTANCE);
        /* A distance as long as the word itself means nothing was shared. */
        if (d < best_d && d < len && d < strlen(p->name)) {
            best = p->name;
            best_d = d;
        }
    }
    return best;
}

int pf_params_defaults(const pf_param *table, void *cfg)
{
    for (const pf_param *p = table; p && p->name; p++) {
        if (!p->def) continue;
        int rc = pf_params_set(p, cfg, p->def);
        if (rc < 0) {
            if (rc == PF_ENOMEM) return rc;
            /* A table bug, not user input: say which row. */
            return pf_error_wrap(rc, "parameter '%s': bad default '%s': ", p->name, p->def);
        }
    }
    return 0;
}

/* The text without surrounding blanks, in buf (truncated to its size). */
static const char *trimmed(const char *text, char *buf, size_t size)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        n--;
    if (n >= size) n = size - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return buf;
}

static int parse_int(const char *s, int64_t *v)
{
    if (!*s) return -1;
    char *end;
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    if (*end == '\0') {
        if (errno == ERANGE) return -2;
        *v = ll;
        return 0;
    }
    /* "1e6", "2.0": whole numbers written as floats. 2^63 bounds what int64 holds. */
    double d = strtod(s, &end);
    if (*end != '\0' || !isfinite(d) || d != floor(d)) return -1;
    if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) return -2;
    *v = (int64_t)d;
    return 0;
}

static int parse_float(const char *s, double *v)
{
    if (!*s) return -1;
    char *end;
    double d = strtod(s, &end);
    if (*end != '\0' || !isfinite(d)) return -1;
    *v = d;
    return 0;
}

static int parse_bool(const char *s, int *v)
{
    static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *v = 1, 0;
        if (strcasecmp(s, no[i]) == 0) return *v = 0, 0;
    }
    return -1;
}

/* Index of `s` among "a|b|c", or -1. */
static int enum_index(const char *choices, const char *s)
{
    size_t n = strlen(s);
    int i = 0;
    for (const char *c = choices; c; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, s, n) == 0) return i;
        c = bar ? bar + 1 : NULL;
    }
    return -1;
}

int pf_params_set(const pf_param *p, void *cfg, const char *text)
{
    char *field = (char *)cfg + p->offset;
    char buf[256];
    const char *s = p->type == PF_PT_STRING ? text : trimmed(text, buf, sizeof buf);

    switch (p->type) {
    case PF_PT_INT: {
        int64_t v;
        int rc = parse_int(s, &v);
        if (rc == -1) return pf_errorf(PF_EINVAL, "expected an integer, got '%s'", text);
        if (rc == -2 || (double)v < p->min || (double)v > p->max)
            return pf_errorf(PF_ERANGE, "%s is outside [%.0f, %.0f]", s, p->min, p->max);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case PF_PT_FLOAT: {
        double v;
        if (parse_float(s, &v) < 0)
            return pf_errorf(PF_EINVAL, "expected a number, got '%s'", text);
        if (v < p->min || v > p->max)
            return pf_errorf(PF_ERANGE, "%s is outside [%g, %g]", s, p->min, p->max);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case PF_PT_BOOL: {
        int v;
        if (parse_bool(s, &v) < 0)
            return pf_errorf(PF_EINVAL, "expected true or false (or yes/no, 1/0), got '%s'", text);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case PF_PT_STRING: {
        char *copy = strdup(text), *old;
        if (!copy) return pf_errorf(PF_ENOMEM, "out of memory");
        memcpy(&old, field, sizeof old);
        free(old);
        memcpy(field, &copy, sizeof copy);
        return 0;
    }
    case PF_PT_ENUM: {
        int v = enum_index(p->choices, s);
        if (v < 0) return pf_errorf(PF_EINVAL, "expected one of %s, got '%s'", p->choices, text);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    }
    return pf_errorf(PF_EINVAL, "unknown parameter type %d", (int)p->type);
}

void pf_params_fini(const pf_param *table, void *cfg)
{
    for (const pf_param *p = table; p && p->name; p++) {
        if (p->type != PF_PT_STRING) continue;
        char *field = (char *)cfg + p->offset, *s;
        memcpy(&s, field, sizeof s);
        free(s);
        s = NULL;
        memcpy(field, &s, sizeof s);
    }
}

/* "[1, 65535]", "relu|tanh" or "" for one parameter. */
static void range_text(const pf_param *p, char *buf, size_t size)
{
    if (p->type == PF_PT_INT)
        snprintf(buf, size, "[%.0f, %.0f]", p->min, p->max);
    else if (p->type == PF_PT_FLOAT)
        snprintf(buf, size, "[%g, %g]", p->min, p->max);
    else if (p->type == PF_PT_ENUM)
        snprintf(buf, size, "%s", p->choices);
    else
        buf[0] = '\0';
}

static void default_text(const pf_param *p, char *buf, size_t size)
{
    int v;
    if (!p->def)
        snprintf(buf, size, "required");
    else if (p->type == PF_PT_STRING)
        snprintf(buf, size, "\"%s\"", p->def);
    else if (p->type == PF_PT_BOOL &&
             parse_bool(p->def, &v) == 0) /* "1" when <stdbool.h> expanded it */
        snprintf(buf, size, "%s", v ? "true" : "false");
    else
        snprintf(buf, size, "%s", p->def);
}

void pf_params_describe(const pf_param *table, FILE *out)
{
    /* Two passes: measure each column, then print aligned. */
    int wname = 0, wtype = 0, wdef = 0, wrange = 0;
    char buf[256];
    for (const pf_param *p = table; p && p->name; p++) {
        int n = (int)strlen(p->name);
        if (n > wname) wname = n;
        n = (int)strlen(pf_param_type_name(p->type));
        if (n > wtype) wtype = n;
        default_text(p, buf, sizeof buf);
        if ((n = (int)strlen(buf)) > wdef) wdef = n;
        range_text(p, buf, sizeof buf);
        if ((n = (int)strlen(buf)) > wrange) wrange = n;
    }
    for (const pf_param *p = table; p && p->name; p++) {
        char def[256], range[256];
        default_text(p, def, sizeof def);
        range_text(p, range, sizeof range);
        fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %s\n", wname, p->name, wtype,
                pf_param_type_name(p->type), wdef, def, wrange, range, p->help ? p->help : "");
    }
}
