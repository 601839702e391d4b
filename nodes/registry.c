/*
 * registry.c - every node kind pseudoflow knows, in the order
 * `pseudoflow kinds` lists them. Adding a kind: its file in nodes/, one
 * extern line and one entry here.
 */
#include "runtime/kind.h"

extern const pf_kind pf_kind_idx_source;
extern const pf_kind pf_kind_synth_source;
extern const pf_kind pf_kind_dir_source;
extern const pf_kind pf_kind_zmq_source;
extern const pf_kind pf_kind_sampler;
extern const pf_kind pf_kind_mlp_teacher;
extern const pf_kind pf_kind_model_teacher;
extern const pf_kind pf_kind_filter;
extern const pf_kind pf_kind_mlp_student;
extern const pf_kind pf_kind_evaluator;
extern const pf_kind pf_kind_file_sink;

const pf_kind *const pf_kind_registry[] = {
    &pf_kind_idx_source,
    &pf_kind_synth_source,
    &pf_kind_dir_source,
    &pf_kind_zmq_source,
    &pf_kind_sampler,
    &pf_kind_mlp_teacher,
    &pf_kind_model_teacher,
    &pf_kind_filter,
    &pf_kind_mlp_student,
    &pf_kind_evaluator,
    &pf_kind_file_sink,
    NULL,
};
