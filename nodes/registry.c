/*
 * registry.c - every node kind pseudoflow knows, in the order
 * `pseudoflow kinds` lists them. Adding a kind: its file in nodes/, one
 * extern line and one entry here.
 */
#include "runtime/kind.h"

extern const pf_kind pf_kind_synth_source;
extern const pf_kind pf_kind_file_sink;

const pf_kind *const pf_kind_registry[] = {
    &pf_kind_synth_source,
    &pf_kind_file_sink,
    NULL,
};
