/*
 * params.h - typed, ranged, documented parameters for node kinds and graphs.
 *
 * A kind declares its parameters as a table that fills a plain config struct
 * by offset, the way GStreamer elements declare properties up front:
 *
 *     typedef struct { int64_t hidden; double lr; char *path; int act; } cfg;
 *     static const pf_param params[] = {
 *         PF_PARAM_INT(cfg, hidden, 128, 0, 65536, "hidden units (0 = softmax regression)"),
 *         PF_PARAM_FLOAT(cfg, lr, 0.05, 1e-6, 10, "learning rate"),
 *         PF_PARAM_STRING(cfg, path, NULL, "model file to load (required)"),
 *         PF_PARAM_ENUM(cfg, act, "relu", "relu|tanh", "activation"),
 *         PF_PARAM_END};
 *
 * Field types by parameter type: INT -> int64_t, FLOAT -> double,
 * BOOL -> int (0/1), STRING -> char * (owned by the config, freed by
 * pf_params_fini), ENUM -> int (index into the '|'-separated choices).
 * A NULL default makes the parameter required. Ranges are inclusive.
 */
#ifndef PF_PARAMS_H
#define PF_PARAMS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum pf_param_type {
    PF_PT_INT,
    PF_PT_FLOAT,
    PF_PT_BOOL,
    PF_PT_STRING,
    PF_PT_ENUM,
} pf_param_type;

typedef struct pf_param {
    const char *name;    /* NULL ends a table */
    pf_param_type type;
    size_t offset;       /* of the field in the config struct */
    const char *def;     /* default as text; NULL = required */
    double min, max;     /* inclusive range for INT and FLOAT */
    const char *choices; /* ENUM: "a|b|c" */
    const char *help;    /* one line */
} pf_param;

#define PF_STR_(x) #x
#define PF_STR(x) PF_STR_(x)
#define PF_PARAM_INT(T, f, def, lo, hi, help)                                                      \
    {#f, PF_PT_INT, offsetof(T, f), PF_STR(def), (lo), (hi), NULL, (help)}
#define PF_PARAM_FLOAT(T, f, def, lo, hi, help)                                                    \
    {#f, PF_PT_FLOAT, offsetof(T, f), PF_STR(def), (lo), (hi), NULL, (help)}
#define PF_PARAM_BOOL(T, f, def, help) {#f, PF_PT_BOOL, offsetof(T, f), PF_STR(def), 0, 1, NULL, (help)}
/* def is a string literal or NULL (required). */
#define PF_PARAM_STRING(T, f, def, help) {#f, PF_PT_STRING, offsetof(T, f), (def), 0, 0, NULL, (help)}
#define PF_PARAM_ENUM(T, f, def, choices, help)                                                    \
    {#f, PF_PT_ENUM, offsetof(T, f), (def), 0, 0, (choices), (help)}
#define PF_PARAM_END {NULL, 0, 0, NULL, 0, 0, NULL, NULL}

/* Name of a type as shown to users: "int", "float", "bool", "string", "enum". */
const char *pf_param_type_name(pf_param_type t);

/* Look a parameter up by name; NULL when the table has none. */
const pf_param *pf_params_find(const pf_param *table, const char *name);

/* Closest parameter name within edit distance 2 of `name`, for "did you mean"; or NULL. */
const char *pf_params_suggest(const pf_param *table, const char *name);

/* Write every default into cfg (strings strdup'ed). Required parameters are
 * left zero/NULL. Returns 0 or PF_ENOMEM. */
int pf_params_defaults(const pf_param *table, void *cfg);

/* Parse `text` as parameter p and store it into cfg. Returns 0, or PF_EINVAL
 * (wrong type: "expected an integer, got 'abc'") / PF_ERANGE ("1.5 is outside
 * [0, 1]") with the reason in pf_error_last() (without the parameter name:
 * the caller adds file, line, node and parameter). */
int pf_params_set(const pf_param *p, void *cfg, const char *text);

/* Free the strings a table's config owns and zero them. The struct itself is the caller's. */
void pf_params_fini(const pf_param *table, void *cfg);

/* Print one line per parameter: name, type, default, range or choices, help. */
void pf_params_describe(const pf_param *table, FILE *out);

#endif
