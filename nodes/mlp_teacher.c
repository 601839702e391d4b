/*
 * mlp_teacher.c - a teacher that learns from the labeled samples it sees and
 * labels the rest; a mean teacher of the student where the graph wires
 * `student -> teacher [port=model]`.
 *
 * Labeled samples (given label >= 0) are kept in a buffer (deduplicated by
 * id, at most `buffer`; reservoir-replaced past that). Whenever the buffer
 * has grown by a quarter since the teacher last fitted it (once it has seen
 * `min_labeled` labeled samples, held-out ones included), the teacher trains
 * `warmup_epochs` epochs over it in minibatches; between fits every arriving
 * batch adds `steps` minibatch steps on the buffer. Until the first fit it
 * emits the uniform distribution, which no sensible filter accepts (and
 * warns after 2000 batches without a fit). Setting min_labeled to the number
 * of labels the stream has makes the teacher wait for all of them: its first
 * pseudo-labels then come from every label, not from the first few.
 *
 * Calibration (calibrate=1): every 5th labeled sample (by id) is held out of
 * training and the softmax temperature is fitted on it after each fit
 * (temperature scaling, METHODS.md); accuracy is unchanged, confidences mean
 * what they say, which is what a threshold filter needs.
 *
 * Mean teacher: each student snapshot of the same architecture updates the
 * weights as theta <- ema * theta + (1 - ema) * theta_student (METHODS.md,
 * per snapshot). Its `version` (sent with every batch as teacher_version)
 * counts fits and snapshot updates.
 *
 * Checkpoints (resume=1): after every fit, and at most once a second
 * while it trains between fits or follows snapshots, the teacher saves its
 * model, temperature, version and the size of its last fit to
 * <run_dir>/<instance>.ckpt.pfm (pf_mlp_save: atomic, fsynced). A
 * restarted teacher starts from it: it labels with those weights at once
 * instead of emitting the uniform distribution until it has seen
 * min_labeled labels again (a graph that sends each label once, such as
 * unlabeled_ratio=0, would never give them back), and its next fit waits
 * until the labeled buffer, refilled by replayed labels, has grown past the
 * last fit's size by a quarter, as if it had never stopped; meanwhile
 * `steps` train on what the buffer holds. The buffer itself is not saved:
 * the sampler's store holds the labels.
 *
 * Replicas each train their own copy on what they see; with replicas=N the
 * labeled samples are spread across them.
 */
#include "models/calibrate.h"
#include "models/mlp.h"
#include "nodes/learner.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "runtime/run_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct teacher_cfg {
    pf_learner_cfg l;
    double ema;
    int64_t warmup_epochs;
    int64_t min_labeled;
    int64_t train_batch;
    int64_t steps;
    int calibrate;
    int64_t buffer;
    int64_t seed;
    int resume;
} teacher_cfg;
_Static_assert(offsetof(teacher_cfg, l) == 0, "pf_learner_cfg_of reads the learner config at the start");

static const pf_param teacher_params[] = {
    PF_LEARNER_PARAMS(teacher_cfg, l, "256"),
    PF_PARAM_FLOAT(teacher_cfg, ema, 0.5, 0, 1,
                   "mean teacher: theta <- ema*theta + (1-ema)*student per snapshot; 1 = ignore snapshots"),
    PF_PARAM_INT(teacher_cfg, warmup_epochs, 30, 0, 10000, "epochs over the labeled buffer at each fit"),
    PF_PARAM_INT(teacher_cfg, min_labeled, 20, 1, 1e9,
                 "labeled samples (held-out ones included) needed before the first fit"),
    PF_PARAM_INT(teacher_cfg, train_batch, 64, 1, 65536, "minibatch size when training on the buffer"),
    PF_PARAM_INT(teacher_cfg, steps, 1, 0, 1000, "minibatch steps on the buffer per arriving batch, between fits"),
    PF_PARAM_BOOL(teacher_cfg, calibrate, 1, "hold out every 5th labeled sample and fit a softmax temperature on it"),
    PF_PARAM_INT(teacher_cfg, buffer, 100000, 1, 1e8, "most labeled samples kept"),
    PF_PARAM_INT(teacher_cfg, seed, -1, -1, 1e18, "seed; -1 = derived from the graph's seed"),
    PF_PARAM_BOOL(teacher_cfg, resume, 1, "after a restart, continue from the checkpoint in the run directory"),
    PF_PARAM_END,
};

enum { PORT_IN, PORT_MODEL, PORT_OUT };

static const pf_port_spec teacher_ports[] = {
    {"in", PF_IN, PF_DATA, PF_PORT_REQUIRED, "samples to label; labeled ones also train the teacher"},
    {"model", PF_IN, PF_PUBSUB, PF_PORT_FEEDBACK, "student snapshots, for the mean teacher"},
    {"out", PF_OUT, PF_DATA, 0, "the samples with probs and teacher_version"},
    {NULL},
};

#define HOLDOUT_EVERY 5 /* every 5th labeled id calibrates instead of training */
#define MIN_HOLDOUT 20  /* fewer held-out samples than this: no temperature fit */
#define UNFITTED_WARN_BATCHES 2000 /* still no fit after this many batches: say why */
#define CKPT_EVERY_MS 1000 /* between fits: a crash loses at most a second of steps and snapshots */

typedef struct teacher {
    teacher_cfg cfg;
    pf_learner L;
    int ready, fitted;
    uint64_t seed, version;
    uint32_t dim, classes;
    /* labeled buffer: train part and held-out part */
    float *bx, *hx;
    int32_t *by, *hy;
    size_t bn, hn, bcap, hcap;
    uint64_t *seen; /* open-addressing id set, 0 = empty */
    size_t seen_cap, seen_n;
    size_t fitted_size;
    float temperature;
    float *probs, *mb_x, *logits;
    int32_t *mb_y;
    size_t probs_cap;
    int warned_shape;
    int unfitted_batches;
    char ckpt[4200];
    uint64_t saved_ms; /* when the checkpoint was last written */
    int dirty;         /* trained or followed a snapshot since */
} teacher;

static int seen_add(teacher *t, uint64_t id) /* 1 = new */
{
    if ((t->seen_n + 1) * 2 > t->seen_cap) {
        size_t cap = t->seen_cap ? t->seen_cap * 2 : 4096;
        uint64_t *v = calloc(cap, sizeof *v);
        if (!v) return pf_errorf(PF_ENOMEM, "mlp_teacher: out of memory");
        for (size_t i = 0; i < t->seen_cap; i++)
            if (t->seen[i])
                for (size_t j = (t->seen[i] * 0x9e3779b97f4a7c15ull) >> 20 & (cap - 1);; j = (j + 1) & (cap - 1))
                    if (!v[j]) {
                        v[j] = t->seen[i];
                        break;
                    }
        free(t->seen);
        t->seen = v, t->seen_cap = cap;
    }
    for (size_t j = (id * 0x9e3779b97f4a7c15ull) >> 20 & (t->seen_cap - 1);; j = (j + 1) & (t->seen_cap - 1)) {
        if (t->seen[j] == id) return 0;
        if (!t->seen[j]) {
            t->seen[j] = id;
            t->seen_n++;
            return 1;
        }
    }
}

static int push_row(float **x, int32_t **y, size_t *n, size_t *cap, size_t dim, const float *row, int32_t label)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        float *nx = realloc(*x, c * dim * sizeof *nx);
        if (!nx) return pf_errorf(PF_ENOMEM, "mlp_teacher: out of memory");
        *x = nx;
        int32_t *ny = realloc(*y, c * sizeof *ny);
        if (!ny) return pf_errorf(PF_ENOMEM, "mlp_teacher: out of memory");
        *y = ny, *cap = c;
    }
    memcpy(*x + *n * dim, row, dim * sizeof *row);
    (*y)[(*n)++] = label;
    return 0;
}

static int teacher_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    teacher *t = calloc(1, sizeof *t);
    if (!t) return pf_errorf(PF_ENOMEM, "mlp_teacher: out of memory");
    t->cfg = *(const teacher_cfg *)cfgp;
    t->cfg.l.input_power = pf_kind_graph_float(pf_ctx_graph(ctx), "power", 1.0);
    t->seed = t->cfg.seed >= 0 ? (uint64_t)t->cfg.seed : pf_ctx_seed(ctx);
    t->temperature = 1.0f;
    int rc = pf_run_dir_state_path(pf_ctx_run_dir(ctx), pf_ctx_name(ctx), PF_RUN_DIR_CKPT, t->ckpt, sizeof t->ckpt);
    if (rc < 0) {
        free(t);
        return rc;
    }
    *state = t;
    return 0;
}

/* Write the checkpoint now (force) or when a second has passed with changes. */
static int checkpoint(teacher *t, pf_ctx *ctx, int force)
{
    uint64_t now = pf_ctx_now_ms(ctx);
    if (!t->cfg.resume || !t->fitted || !(force || (t->dirty && now >= t->saved_ms + CKPT_EVERY_MS))) return 0;
    pf_mlp_counters c = pf_mlp_get_counters(t->L.model);
    c.version = t->version;
    c.fit_rows = t->fitted_size;
    pf_mlp_set_counters(t->L.model, &c);
    int rc = pf_mlp_set_temperature(t->L.model, t->temperature);
    if (rc == 0) rc = pf_mlp_save(t->L.model, t->ckpt, t->version);
    if (rc < 0) return rc;
    t->saved_ms = now;
    t->dirty = 0;
    pf_ctx_count(ctx, "checkpoints", 1);
    return 0;
}

/* A restart: adopt the checkpoint of an earlier incarnation, if any. */
static int restore(teacher *t)
{
    pf_mlp_counters c;
    int rc = t->cfg.resume ? pf_learner_resume(&t->L, t->ckpt, &c) : 0;
    if (rc <= 0) return rc;
    t->version = c.version;
    t->fitted_size = (size_t)c.fit_rows;
    t->temperature = pf_mlp_temperature(t->L.model);
    t->fitted = 1;
    PF_INFO("resuming from checkpoint %s (version %llu, last fit on %llu labeled samples, temperature %.3f)", t->ckpt,
            (unsigned long long)c.version, (unsigned long long)c.fit_rows, (double)t->temperature);
    return 0;
}

/* Add the batch's labeled samples to the buffer (train or held-out part). */
static int collect(teacher *t, const Pf__Batch *b)
{
    for (size_t i = 0; i < b->n_ids; i++) {
        if (!b->n_labels || b->labels[i] < 0) continue;
        int rc = seen_add(t, b->ids[i]);
        if (rc <= 0) {
            if (rc < 0) return rc;
            continue;
        }
        const float *row = b->x + i * t->dim;
        if (t->cfg.calibrate && b->ids[i] % HOLDOUT_EVERY == 0) {
            rc = push_row(&t->hx, &t->hy, &t->hn, &t->hcap, t->dim, row, b->labels[i]);
        } else if (t->bn < (size_t)t->cfg.buffer) {
            rc = push_row(&t->bx, &t->by, &t->bn, &t->bcap, t->dim, row, b->labels[i]);
        } else { /* reservoir: replace a random row */
            size_t j = pf_rng_below(&t->L.rng, t->seen_n);
            if (j < t->bn) {
                memcpy(t->bx + j * t->dim, row, t->dim * sizeof *row);
                t->by[j] = b->labels[i];
            }
        }
        if (rc < 0) return rc;
    }
    return 0;
}

/* k minibatch steps on random rows of the buffer. */
static int train_steps(teacher *t, size_t k)
{
    size_t mb = (size_t)t->cfg.train_batch < t->bn ? (size_t)t->cfg.train_batch : t->bn;
    for (size_t s = 0; s < k; s++) {
        for (size_t i = 0; i < mb; i++) {
            size_t j = pf_rng_below(&t->L.rng, t->bn);
            memcpy(t->mb_x + i * t->dim, t->bx + j * t->dim, t->dim * sizeof(float));
            t->mb_y[i] = t->by[j];
        }
        int rc = pf_learner_train(&t->L, t->mb_x, mb, t->mb_y, NULL, NULL, 1.0f, NULL);
        if (rc < 0 && rc != PF_ERANGE) return rc;
    }
    return 0;
}

static int fit_temperature(teacher *t)
{
    if (!t->cfg.calibrate || t->hn < MIN_HOLDOUT) return 0;
    float *z = malloc(t->hn * t->classes * sizeof *z);
    if (!z) return pf_errorf(PF_ENOMEM, "mlp_teacher: out of memory");
    int rc = pf_mlp_forward(t->L.model, t->hx, t->hn, z);
    float T = 1.0f;
    if (rc == 0) rc = pf_calibrate_temperature(z, t->hy, t->hn, t->classes, &T);
    free(z);
    if (rc < 0) return rc;
    t->temperature = T;
    return 0;
}

static int fit(teacher *t, pf_ctx *ctx)
{
    size_t per_epoch = (t->bn + (size_t)t->cfg.train_batch - 1) / (size_t)t->cfg.train_batch;
    int rc = train_steps(t, per_epoch * (size_t)t->cfg.warmup_epochs);
    if (rc < 0) return rc;
    if ((rc = fit_temperature(t)) < 0) return rc;
    t->fitted_size = t->bn;
    t->fitted = 1;
    t->version++;
    t->dirty = 1;
    pf_ctx_gauge(ctx, "labeled", (double)t->bn);
    pf_ctx_gauge(ctx, "temperature", t->temperature);
    PF_DEBUG("fitted on %zu labeled samples (%zu held out), temperature %.3f", t->bn, t->hn, t->temperature);
    return 0;
}

/* Why every sample gets the uniform distribution: too few labels seen. */
static void warn_unfitted(const teacher *t, const char *what)
{
    PF_WARN("%s: %zu labeled samples seen, min_labeled=%lld; every sample gets the uniform distribution, which no "
            "filter accepts",
            what, t->bn + t->hn, (long long)t->cfg.min_labeled);
}

static int on_batch(teacher *t, pf_ctx *ctx, const Pf__Batch *b)
{
    size_t n = b->n_ids;
    int rc;
    if (n == 0 || b->n_x != n * b->dim) {
        pf_ctx_count(ctx, "no_embeddings", (double)n);
        return 0;
    }
    if (!t->ready) {
        t->dim = b->dim;
        t->classes = (uint32_t)pf_ctx_graph(ctx)->cfg.classes;
        if ((rc = pf_learner_init(&t->L, &t->cfg.l, t->dim, t->classes, t->seed)) < 0) return rc;
        t->mb_x = malloc((size_t)t->cfg.train_batch * t->dim * sizeof *t->mb_x);
        t->mb_y = malloc((size_t)t->cfg.train_batch * sizeof *t->mb_y);
        if (!t->mb_x || !t->mb_y) return pf_errorf(PF_ENOMEM, "mlp_teacher: out of memory");
        t->ready = 1;
        if ((rc = restore(t)) < 0) return rc;
    }
    if (b->dim != t->dim) {
        pf_ctx_count(ctx, "wrong_dim", (double)n);
        return 0;
    }
    if ((rc = collect(t, b)) < 0) return rc;
    if (t->bn > 0 && t->bn + t->hn >= (size_t)t->cfg.min_labeled && (!t->fitted || t->bn * 4 >= t->fitted_size * 5)) {
        if ((rc = fit(t, ctx)) < 0 || (rc = checkpoint(t, ctx, 1)) < 0) return rc;
    } else if (t->fitted) {
        if (t->bn > 0 && t->cfg.steps > 0) { /* a restored teacher's buffer starts empty */
            if ((rc = train_steps(t, (size_t)t->cfg.steps)) < 0) return rc;
            t->dirty = 1;
        }
        if ((rc = checkpoint(t, ctx, 0)) < 0) return rc;
    } else if (++t->unfitted_batches == UNFITTED_WARN_BATCHES) {
        warn_unfitted(t, "no fit yet");
    }
    if (n * t->classes > t->probs_cap) {
        float *p = realloc(t->probs, n * t->classes * sizeof *p);
        if (!p) return pf_errorf(PF_ENOMEM, "mlp_teacher: out of memory");
        t->probs = p, t->probs_cap = n * t->classes;
    }
    if (t->fitted) {
        if ((rc = pf_mlp_predict_proba(t->L.model, b->x, n, t->temperature, t->probs)) < 0) return rc;
    } else {
        for (size_t i = 0; i < n * t->classes; i++) t->probs[i] = 1.0f / (float)t->classes;
    }
    Pf__Batch o = PF__BATCH__INIT; /* the same samples, with probs */
    o.n_ids = n, o.ids = b->ids;
    o.dim = b->dim, o.n_x = b->n_x, o.x = b->x;
    o.n_labels = b->n_labels, o.labels = b->labels;
    o.n_flags = b->n_flags, o.flags = b->flags;
    o.n_origin_ms = b->n_origin_ms, o.origin_ms = b->origin_ms;
    o.classes = t->classes;
    o.n_probs = n * t->classes, o.probs = t->probs;
    o.teacher_version = t->version;
    return pf_ctx_emit(ctx, PORT_OUT, PF_MSG_BATCH, &o);
}

static int on_model(teacher *t, pf_ctx *ctx, const Pf__Model *m)
{
    if (!t->ready || t->cfg.ema >= 1.0) return 0;
    pf_mlp *s = NULL;
    int rc = pf_mlp_from_proto(m, &s);
    if (rc < 0) {
        pf_ctx_count(ctx, "bad_snapshots", 1);
        return 0;
    }
    if (!pf_mlp_same_shape(s, t->L.model)) {
        if (!t->warned_shape) PF_WARN("student snapshots have another architecture; mean-teacher updates are off");
        t->warned_shape = 1;
    } else if ((rc = pf_mlp_ema_update(t->L.model, s, (float)t->cfg.ema)) == 0) {
        t->version++;
        t->dirty = 1;
        pf_ctx_count(ctx, "snapshots", 1);
        if (t->fitted) rc = fit_temperature(t);
        if (rc == 0) rc = checkpoint(t, ctx, 0);
    }
    pf_mlp_destroy(&s);
    return rc;
}

static int teacher_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    teacher *t = state;
    return port == PORT_IN ? on_batch(t, ctx, msg->u.batch) : on_model(t, ctx, msg->u.model);
}

static void teacher_stop(void **state, pf_ctx *ctx)
{
    teacher *t = *state;
    if (!t) return;
    if (t->ready && !t->fitted) warn_unfitted(t, "the stream ended with no fit");
    pf_learner_fini(&t->L);
    free(t->bx), free(t->hx), free(t->by), free(t->hy), free(t->seen);
    free(t->probs), free(t->mb_x), free(t->mb_y), free(t->logits);
    free(t);
    *state = NULL;
}

/* `pseudoflow check`: a mean teacher averages in the snapshots of whatever
 * learner feeds its model port, which takes the same architecture; a
 * mismatch would only show at run time, as a warning, with the mean teacher
 * silently off. */
static int teacher_configure(const void *cfgp, const pf_graph *g, const pf_gnode *node)
{
    const teacher_cfg *cfg = cfgp;
    if (cfg->ema >= 1.0) return 0; /* snapshots ignored */
    size_t self = (size_t)(node - g->nodes);
    for (size_t i = 0; i < g->nedges; i++) {
        const pf_gedge *e = &g->edges[i];
        if (e->to != self || e->in_port != PORT_MODEL) continue;
        const pf_gnode *from = &g->nodes[e->from];
        const pf_learner_cfg *s = pf_learner_cfg_of(from);
        if (s && !pf_learner_same_arch(&cfg->l, s))
            return pf_errorf(PF_EINVAL,
                             "mean teacher (line %d): '%s' has hidden=\"%s\" and norm=%d, this teacher hidden=\"%s\" "
                             "and norm=%d; its snapshots cannot be averaged in (give both the same hidden= and norm=, "
                             "or set ema=1)",
                             e->line, from->name, s->hidden, s->norm, cfg->l.hidden, cfg->l.norm);
    }
    return 0;
}

static const pf_node_ops teacher_ops = {
    .configure = teacher_configure,
    .start = teacher_start,
    .process = teacher_process,
    .stop = teacher_stop,
};

const pf_kind pf_kind_mlp_teacher = {
    .name = "mlp_teacher",
    .summary = "MLP teacher trained on the labeled stream, calibrated, optionally a mean teacher of the student",
    .params = teacher_params,
    .config_size = sizeof(teacher_cfg),
    .ports = teacher_ports,
    .flags = PF_KIND_STATELESS,
    .ops = &teacher_ops,
};
