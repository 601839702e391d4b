/*
 * mlp_student.c - the student: learns online from the filter's weighted
 * hard or soft targets and publishes model snapshots.
 *
 * Each arriving batch is first scored (prequential, test-then-train: samples
 * with a given label are predicted before the student trains on them), then
 * trained on `steps` times; on a strong view (feature dropout/noise) when
 * drop/noise are set. Every publish_every steps the model goes out on
 * `model` (to the evaluator, and to a mean teacher where wired) and is saved
 * as a checkpoint in the run directory; a restarted student resumes from that
 * checkpoint. At the end of the stream the final model is published and
 * saved to `save` (default <run_dir>/<node>.pfm), a file model_teacher and
 * `pseudoflow train` read.
 *
 * The model is built on the first batch, when the embedding width is known.
 */
#include "models/mlp.h"
#include "nodes/learner.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct student_cfg {
    pf_learner_cfg l;
    int64_t steps;
    int64_t publish_every;
    double temperature;
    char *save;
    int64_t seed;
    int resume;
} student_cfg;

static const pf_param student_params[] = {
    PF_LEARNER_PARAMS(student_cfg, l, "256"),
    PF_PARAM_INT(student_cfg, steps, 1, 1, 100, "optimizer steps per arriving batch"),
    PF_PARAM_INT(student_cfg, publish_every, 50, 1, 1e9, "publish a snapshot (and checkpoint) every this many steps"),
    PF_PARAM_FLOAT(student_cfg, temperature, 1.0, 0.05, 100, "distillation temperature T for soft targets"),
    PF_PARAM_STRING(student_cfg, save, "", "final model file; empty = <run_dir>/<node>.pfm"),
    PF_PARAM_INT(student_cfg, seed, -1, -1, 1e18, "initialization seed; -1 = derived from the graph's seed"),
    PF_PARAM_BOOL(student_cfg, resume, 1, "after a restart, continue from the checkpoint in the run directory"),
    PF_PARAM_END,
};

enum { PORT_IN, PORT_MODEL };

static const pf_port_spec student_ports[] = {
    {"in", PF_IN, PF_DATA, PF_PORT_REQUIRED, "accepted samples with targets, weights (and soft targets)"},
    {"model", PF_OUT, PF_PUBSUB, 0, "model snapshots, every publish_every steps and at the end"},
    {NULL},
};

typedef struct student {
    student_cfg cfg;
    pf_learner L;
    int ready;
    uint64_t seed;
    uint64_t version;
    uint64_t last_publish_step;
    uint64_t preq_seen, preq_correct;
    char ckpt[4200], save[4200];
    float *probs;
    int32_t *pred;
    size_t cap;
} student;

static int student_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const student_cfg *cfg = cfgp;
    student *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "mlp_student: out of memory");
    s->cfg = *cfg;
    s->seed = cfg->seed >= 0 ? (uint64_t)cfg->seed : pf_ctx_seed(ctx);
    snprintf(s->ckpt, sizeof s->ckpt, "%s/%s.ckpt.pfm", pf_ctx_run_dir(ctx), pf_ctx_name(ctx));
    if (cfg->save && cfg->save[0])
        snprintf(s->save, sizeof s->save, "%s", cfg->save);
    else
        snprintf(s->save, sizeof s->save, "%s/%s.pfm", pf_ctx_run_dir(ctx), pf_ctx_node(ctx)->name);
    *state = s;
    return 0;
}

static int build(student *s, pf_ctx *ctx, uint32_t dim, uint32_t classes)
{
    int rc = pf_learner_init(&s->L, &s->cfg.l, dim, classes, s->seed);
    if (rc < 0) return rc;
    s->ready = 1;
    pf_mlp *ck = NULL;
    if (s->cfg.resume && access(s->ckpt, R_OK) == 0) {
        if (pf_mlp_load(s->ckpt, &ck) == 0 && pf_mlp_same_shape(ck, s->L.model)) {
            pf_mlp_counters c = pf_mlp_get_counters(ck);
            s->version = c.version;
            s->preq_seen = c.preq_seen;
            s->preq_correct = c.preq_correct;
            s->last_publish_step = c.steps;
            PF_INFO("resuming from checkpoint %s (version %llu, %llu steps)", s->ckpt,
                    (unsigned long long)c.version, (unsigned long long)c.steps);
            return pf_learner_adopt(&s->L, &ck);
        }
        PF_WARN("ignoring checkpoint %s: %s", s->ckpt, ck ? "another architecture" : pf_error_last());
        pf_mlp_destroy(&ck);
    }
    return 0;
}

static int publish(student *s, pf_ctx *ctx, int final)
{
    pf_mlp_counters c = pf_mlp_get_counters(s->L.model);
    c.version = ++s->version;
    c.preq_seen = s->preq_seen;
    c.preq_correct = s->preq_correct;
    pf_mlp_set_counters(s->L.model, &c);
    Pf__Model m = PF__MODEL__INIT;
    pf_mlp_to_proto(s->L.model, &m);
    int rc = pf_ctx_emit(ctx, PORT_MODEL, PF_MSG_MODEL, &m);
    if (rc < 0) return rc;
    s->last_publish_step = c.steps;
    pf_ctx_gauge(ctx, "version", (double)c.version);
    if ((rc = pf_mlp_save(s->L.model, final ? s->save : s->ckpt, c.version)) < 0) return rc;
    if (final) rc = pf_mlp_save(s->L.model, s->ckpt, c.version);
    return rc;
}

static int student_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    student *s = state;
    const Pf__Batch *b = msg->u.batch;
    size_t n = b->n_ids;
    int rc;
    if (n == 0 || b->n_x != n * b->dim) return 0;
    if (!b->n_targets && !b->n_soft) {
        pf_ctx_count(ctx, "untargeted", (double)n);
        return 0;
    }
    if (!s->ready && (rc = build(s, ctx, b->dim, (uint32_t)pf_ctx_graph(ctx)->cfg.classes)) < 0) return rc;
    if (b->dim != pf_mlp_input_dim(s->L.model)) {
        pf_ctx_count(ctx, "wrong_dim", (double)n);
        return 0;
    }
    /* Prequential: predict the samples with a given label before training on them. */
    if (b->n_labels) {
        if (n > s->cap) {
            int32_t *p = realloc(s->pred, n * sizeof *p);
            if (!p) return pf_errorf(PF_ENOMEM, "mlp_student: out of memory");
            s->pred = p, s->cap = n;
        }
        if ((rc = pf_mlp_predict(s->L.model, b->x, n, s->pred)) < 0) return rc;
        for (size_t i = 0; i < n; i++) {
            if (b->labels[i] < 0) continue;
            s->preq_seen++;
            s->preq_correct += s->pred[i] == b->labels[i];
        }
    }
    /* A soft row is used where targets[i] is -1 (pf_mlp_train_step). */
    const int32_t *targets = b->n_soft ? NULL : b->targets;
    const float *soft = b->n_soft ? b->soft : NULL;
    for (int64_t k = 0; k < s->cfg.steps; k++) {
        double loss;
        rc = pf_learner_train(&s->L, b->x, n, targets, soft, b->n_weights ? b->weights : NULL,
                              (float)s->cfg.temperature, &loss);
        if (rc == PF_ERANGE) { /* non-finite loss: drop the batch, keep the model */
            pf_ctx_count(ctx, "dropped_batches", 1);
            PF_WARN("dropped a batch: %s", pf_error_last());
            return 0;
        }
        if (rc < 0) return rc;
        pf_ctx_gauge(ctx, "loss", loss);
    }
    pf_ctx_count(ctx, "trained", (double)n);
    if (s->preq_seen) pf_ctx_gauge(ctx, "preq_accuracy", (double)s->preq_correct / (double)s->preq_seen);
    if (pf_mlp_get_counters(s->L.model).steps >= s->last_publish_step + (uint64_t)s->cfg.publish_every)
        return publish(s, ctx, 0);
    return 0;
}

static int student_drain(void *state, pf_ctx *ctx)
{
    student *s = state;
    if (!s->ready) return 0;
    int rc = publish(s, ctx, 1);
    if (rc == 0) PF_INFO("final model v%llu saved to %s", (unsigned long long)s->version, s->save);
    return rc;
}

static void student_stop(void **state, pf_ctx *ctx)
{
    student *s = *state;
    if (!s) return;
    pf_learner_fini(&s->L);
    free(s->probs), free(s->pred);
    free(s);
    *state = NULL;
}

static const pf_node_ops student_ops = {
    .start = student_start,
    .process = student_process,
    .drain = student_drain,
    .stop = student_stop,
};

const pf_kind pf_kind_mlp_student = {
    .name = "mlp_student",
    .summary = "online MLP/softmax student on weighted hard or soft targets; publishes snapshots",
    .params = student_params,
    .config_size = sizeof(student_cfg),
    .ports = student_ports,
    .flags = 0,
    .ops = &student_ops,
};
