/*
 * mlp_student.c - the student: learns online from the filter's weighted
 * hard or soft targets and publishes model snapshots.
 *
 * Each arriving batch is first scored (prequential, test-then-train: samples
 * with a given label are predicted before the student trains on them), then
 * appended to a small buffer that is cut into minibatches of `batch` rows
 * (the filter's batches vary in size with what it accepts; fixed minibatches
 * keep the step size meaningful); each minibatch gets `steps` optimizer
 * steps, on a strong view when shift/drop/noise are set (a random
 * translation of image rows by up to `shift` pixels, then feature dropout
 * and noise; pf_learner).
 *
 * Consistency (consistency=lambda > 0; Pi-model / FixMatch's weak-strong
 * pairing for embeddings): the student predicts a weak view of each row
 * (x + N(0, weak_noise^2), no dropout), and the same step also trains a
 * second strong view of the row towards that prediction (a soft target, no
 * gradient through it), with weight lambda. Both halves go through one
 * cblas_sgemm batch of 2m rows.
 *
 * Virtual adversarial training (vat=lambda > 0; Miyato et al. 2018, VAT):
 * every unlabeled row of a minibatch (accepted or not: wire the filter with
 * unlabeled_to_student=1 so the rejected ones arrive too, target -1 and
 * weight 0) adds a row x + r_adv trained towards p = softmax(f(x)) (soft
 * target, no gradient through p) with weight lambda, where
 *   d ~ N(0, I) per row, unit length;  g = dKL(p || f(x + xi*d)) / dx
 *   (pf_mlp_input_grad, soft cross-entropy at x + xi*d);
 *   r_adv = vat_eps * g / ||g||_2   (one power iteration, as the paper).
 * These rows join the supervised ones in the same optimizer step and are not
 * augmented by drop/noise (their perturbation is already the worst one).
 * Supervised cross-entropy uses only the rows with weight > 0: a rejected
 * row (weight 0, no target) is an input for VAT and entmin, or, without
 * them, for consistency, and never a mixup partner (its target is a
 * placeholder).
 *
 * Entropy minimization (entmin=lambda > 0; Grandvalet & Bengio 2005, the
 * EntMin of VAT+EntMin): every unlabeled row also adds a row at its clean x
 * trained towards sharpen(p, entmin_t) = p^(1/T) / sum (pf_loss_sharpen; no
 * gradient through it) with weight lambda: the logit gradient p - q pushes
 * each prediction towards its own argmax, away from the class boundaries.
 * A young model's argmax is mostly wrong and entmin would lock it in (on
 * the test blobs, from step 0: half the accuracy), so the weight ramps up
 * over entmin_rampup steps as lambda * exp(-5 (1 - t/N)^2) (Laine & Aila
 * 2017's ramp). The step's loss is a mean over all its rows (pf_loss_xent),
 * VAT and entmin rows included, as every row is one more sample of the same
 * objective. (Rescaling the other terms by rows / (rows - entmin rows)
 * instead made that factor swing from 1 to 32 between minibatches of the
 * test blobs, where few rows carry a label, and left the student less sure
 * of itself than without entmin.)
 *
 * VAT, entmin and consistency targets are probabilities at T = 1, so they
 * need temperature=1 (student_configure: `pseudoflow check` refuses it).
 *
 * Label smoothing (smooth=eps > 0; Szegedy et al. 2016, against label noise
 * as in Lukasik et al. 2020): a pseudo-label y (a hard target on a row
 * without a given label) becomes the soft target (1 - eps)*one_hot(y) +
 * eps/C, so a wrong pseudo-label is never fitted to certainty; given labels
 * keep their hard targets.
 *
 * Early-learning regularization (elr=lambda > 0; Liu et al. 2020, ELR):
 * every pseudo-labeled row (a target, weight w > 0, no given label) adds
 * lambda * w * log(1 - <p, t>) to the step's loss (pf_loss_elr_add), where
 * p is the step's prediction of the row and t the running average of the
 * student's earlier predictions of the same sample (by id), updated after
 * each step as t <- elr_beta * t + (1 - elr_beta) * p (pf_loss_elr_target;
 * a sample's first visit starts from t = 0, no term). Early in training the
 * clean samples dominate those predictions, so the term holds a row near
 * what the student predicted before it could memorize a wrong pseudo-label.
 * The targets live in a table of elr_rows samples (nodes/id_table.h: when
 * an id's slots are taken the least recently trained sample is forgotten,
 * counted as elr_evicted; a row whose slots all hold rows of the same step
 * gets no term, elr_no_slot), so a stream of any length uses fixed memory. They are not checkpointed: a restarted student rebuilds
 * them (at elr_beta 0.7 a target is mostly its last three visits).
 * Unlike the paper's code, which first moves t towards the current
 * prediction and then takes the term, t here is updated after the step:
 * it lags one visit, so a sample's first visit has no term; a "visit" is
 * an optimizer step (steps > 1 makes several per minibatch), and an id
 * twice in one minibatch moves its target twice.
 *
 * Learning-rate decay (lr_decay_steps=N > 0): cosine from lr to lr/20 over
 * the first N optimizer steps, then lr/20 (SGDR's half cosine without
 * restarts); a stream has no known end, so N is set from the expected run.
 *
 * Weight averaging (ema=m > 0): the student keeps theta_avg <- m*theta_avg +
 * (1-m)*theta after every step and publishes theta_avg (Polyak averaging;
 * with Adam at a constant rate it removes the step noise); m ramps up from 0
 * over the first steps so a short run is not an average with its init. Every
 * publish_every steps the published model goes out on `model` (to the
 * evaluator, and to a mean teacher where wired) and is saved as a checkpoint;
 * a restarted student resumes from that checkpoint. At the end of the stream
 * the buffer is flushed and the final model published and saved to `save`
 * (default <run_dir>/<node>.pfm), a file model_teacher reads.
 *
 * Warm start (init=FILE): the student starts from the weights of a saved
 * model of its architecture (`pseudoflow train` on the labels, or an
 * earlier run's student) instead of a random initialization; its counters
 * start at 0 and its temperature at 1. A checkpoint to resume from wins.
 * The file's input standardization, if it has one, comes with its weights
 * (they depend on it), while noise, drop and VAT stay in raw input units;
 * `pseudoflow train --no-standardize` gives a file without one, like a
 * student's own.
 */
#include "models/loss.h"
#include "models/mlp.h"
#include "nodes/id_table.h"
#include "nodes/learner.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "runtime/run_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct student_cfg {
    pf_learner_cfg l;
    int64_t batch;
    int64_t steps;
    int64_t publish_every;
    double temperature;
    double ema;
    double consistency;
    double weak_noise;
    double mixup;
    double smooth;
    double vat;
    double vat_eps;
    double vat_xi;
    double entmin;
    double entmin_t;
    int64_t entmin_rampup;
    int64_t lr_decay_steps;
    double elr;
    double elr_beta;
    int64_t elr_rows;
    char *save;
    char *init;
    int64_t seed;
    int resume;
} student_cfg;
_Static_assert(offsetof(student_cfg, l) == 0, "pf_learner_cfg_of reads the learner config at the start");

static const pf_param student_params[] = {
    PF_LEARNER_PARAMS(student_cfg, l, "256"),
    PF_PARAM_INT(student_cfg, batch, 64, 0, 65536, "minibatch rows; 0 = train on each batch as it arrives"),
    PF_PARAM_INT(student_cfg, steps, 1, 1, 100, "optimizer steps per minibatch"),
    PF_PARAM_INT(student_cfg, publish_every, 50, 1, 1e9, "publish a snapshot (and checkpoint) every this many steps"),
    PF_PARAM_FLOAT(student_cfg, temperature, 1.0, 0.05, 100, "distillation temperature T for soft targets"),
    PF_PARAM_FLOAT(student_cfg, ema, 0.0, 0, 0.99999,
                   "publish an average of the weights: avg <- ema*avg + (1-ema)*theta per step; 0 = the weights"),
    PF_PARAM_FLOAT(student_cfg, consistency, 0.0, 0, 100,
                   "weight of the weak/strong view consistency term; 0 = off"),
    PF_PARAM_FLOAT(student_cfg, weak_noise, 0.0, 0, 100, "Gaussian feature noise std of the weak view"),
    PF_PARAM_FLOAT(student_cfg, mixup, 0.0, 0, 100, "mixup Beta(a, a) parameter for pseudo-labeled rows; 0 = off"),
    PF_PARAM_FLOAT(student_cfg, smooth, 0.0, 0, 1,
                   "label smoothing eps on pseudo-labels (hard targets of rows without a given label); 0 = off"),
    PF_PARAM_FLOAT(student_cfg, vat, 0.0, 0, 100,
                   "virtual adversarial training weight lambda on every unlabeled row received; 0 = off"),
    PF_PARAM_FLOAT(student_cfg, vat_eps, 6.0, 0, 1000, "VAT perturbation L2 norm, in input units"),
    PF_PARAM_FLOAT(student_cfg, vat_xi, 1e-3, 1e-9, 100, "VAT finite-difference step for the power iteration"),
    PF_PARAM_FLOAT(student_cfg, entmin, 0.0, 0, 100,
                   "entropy-minimization weight lambda on every unlabeled row received (sharpened targets); 0 = off"),
    PF_PARAM_FLOAT(student_cfg, entmin_t, 0.5, 0.01, 1, "sharpening temperature of the entropy-minimization targets"),
    PF_PARAM_INT(student_cfg, entmin_rampup, 1000, 0, 1e12,
                 "optimizer steps over which the entmin weight ramps up from ~0 (exp(-5(1-t/N)^2))"),
    PF_PARAM_INT(student_cfg, lr_decay_steps, 0, 0, 1e12,
                 "cosine decay of lr to lr/20 over this many optimizer steps; 0 = constant lr"),
    PF_PARAM_FLOAT(student_cfg, elr, 0.0, 0, 100,
                   "early-learning regularization weight lambda on pseudo-labeled rows (ELR); 0 = off"),
    PF_PARAM_FLOAT(student_cfg, elr_beta, 0.7, 0, 0.9999, "ELR running-target momentum per visit of a sample"),
    PF_PARAM_INT(student_cfg, elr_rows, 131072, 16, 1e9,
                 "samples whose ELR targets are kept (rounded up to a power of two); beyond, the least recently "
                 "trained are forgotten"),
    PF_PARAM_STRING(student_cfg, save, "", "final model file; empty = <run_dir>/<node>.pfm"),
    PF_PARAM_STRING(student_cfg, init, "",
                    "start from this model file's weights (same architecture; `pseudoflow train --no-standardize`, or a "
                    "student's .pfm); empty = random"),
    PF_PARAM_INT(student_cfg, seed, -1, -1, 1e18, "initialization seed; -1 = derived from the graph's seed"),
    PF_PARAM_BOOL(student_cfg, resume, 1, "after a restart, continue from the checkpoint in the run directory"),
    PF_PARAM_END,
};

enum { PORT_IN, PORT_MODEL };

static const pf_port_spec student_ports[] = {
    {"in", PF_IN, PF_DATA, PF_PORT_REQUIRED,
     "samples with targets, weights (and soft targets); unlabeled ones also feed VAT/entmin, weight 0 = only those"},
    {"model", PF_OUT, PF_PUBSUB, 0, "model snapshots, every publish_every steps and at the end"},
    {NULL},
};

typedef struct student {
    student_cfg cfg;
    pf_learner L;
    pf_mlp *avg; /* weight average (ema > 0), else NULL */
    int ready;
    uint64_t seed;
    uint64_t version;
    uint64_t last_publish_step;
    uint64_t preq_seen, preq_correct;
    char ckpt[4200], save[4200];
    uint32_t dim, classes;
    /* pending rows, [cap] each (x: [cap, dim], soft: [cap, classes]) */
    float *bx, *bsoft, *bw;
    uint64_t *bid;
    int32_t *by;
    uint8_t *bu; /* [cap] 1 = no given label: a VAT/entmin row */
    size_t bn, bcap;
    /* one training step's rows: supervised (doubled by consistency), VAT, entmin */
    float *tx, *tsoft, *tw;
    int32_t *ty;
    size_t tcap;
    /* clean unlabeled rows (VAT, entmin) and their input gradients (VAT), [vcap, dim] each */
    float *vx, *vg;
    size_t vcap;
    int32_t *pred;
    size_t pcap;
    pf_id_table elr; /* ELR (elr > 0): running targets by sample id, rows of [classes]; cap 0 = off */
    /* ... and one step's: targets [tcap, classes], lambda [tcap], probs [tcap, classes], slot [tcap] */
    float *tt, *tl, *tp;
    size_t *tslot;
} student;

static int student_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const student_cfg *cfg = cfgp;
    student *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "mlp_student: out of memory");
    s->cfg = *cfg;
    s->cfg.l.input_power = pf_kind_graph_float(pf_ctx_graph(ctx), "power", 1.0);
    s->seed = cfg->seed >= 0 ? (uint64_t)cfg->seed : pf_ctx_seed(ctx);
    int rc = pf_run_dir_state_path(pf_ctx_run_dir(ctx), pf_ctx_name(ctx), PF_RUN_DIR_CKPT, s->ckpt, sizeof s->ckpt);
    if (rc < 0) {
        free(s);
        return rc;
    }
    if (cfg->save && cfg->save[0])
        snprintf(s->save, sizeof s->save, "%s", cfg->save);
    else
        snprintf(s->save, sizeof s->save, "%s/%s.pfm", pf_ctx_run_dir(ctx), pf_ctx_node(ctx)->name);
    *state = s;
    return 0;
}

/* "784-512-10" into buf. */
static void shape_text(const pf_mlp *m, char *buf, size_t cap)
{
    size_t n = 0, used = 0;
    const uint32_t *sizes = pf_mlp_sizes(m, &n);
    buf[0] = 0;
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%u", i ? "-" : "", sizes[i]);
    if (pf_mlp_layer_norm(m) && used < cap) snprintf(buf + used, cap - used, " layer-normalized");
}

/* init=FILE: adopt its weights (and standardization), counters 0, T 1.
 * Every failure is a configuration error: restarting would not help. */
static int warm_start(student *s)
{
    pf_mlp *m = NULL;
    if (pf_mlp_load(s->cfg.init, &m) < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", pf_error_last());
        return pf_errorf(PF_ECONFIG, "mlp_student: init: %s", why);
    }
    if (!pf_mlp_same_shape(m, s->L.model)) {
        char have[128], want[128];
        shape_text(m, have, sizeof have);
        shape_text(s->L.model, want, sizeof want);
        pf_mlp_destroy(&m);
        return pf_errorf(PF_ECONFIG, "mlp_student: init model '%s' is %s; this student is %s (hidden=\"%s\", norm=%d)",
                         s->cfg.init, have, want, s->cfg.l.hidden, s->cfg.l.norm);
    }
    int rc = pf_learner_check_input_power(m, pf_learner_input_power(&s->cfg.l), "mlp_student: init model",
                                          s->cfg.init);
    if (rc < 0) {
        pf_mlp_destroy(&m);
        return rc;
    }
    int standardized = pf_mlp_in_mean(m) != NULL;
    pf_mlp_counters zero = {0};
    pf_mlp_set_counters(m, &zero);
    if ((rc = pf_mlp_set_temperature(m, 1.0f)) < 0 || (rc = pf_learner_adopt(&s->L, &m)) < 0) {
        pf_mlp_destroy(&m);
        return rc;
    }
    PF_INFO("starting from the weights of %s%s", s->cfg.init,
            standardized ? " (with its input standardization: noise, drop and VAT stay in raw input units)" : "");
    return 0;
}

static int build(student *s, uint32_t dim, uint32_t classes)
{
    int rc = pf_learner_init(&s->L, &s->cfg.l, dim, classes, s->seed);
    if (rc < 0) return rc;
    s->dim = dim, s->classes = classes;
    s->ready = 1;
    pf_mlp_counters c;
    int resumed = s->cfg.resume ? pf_learner_resume(&s->L, s->ckpt, &c) : 0;
    if (resumed < 0) return resumed;
    if (resumed) {
        s->version = c.version;
        s->preq_seen = c.preq_seen;
        s->preq_correct = c.preq_correct;
        s->last_publish_step = c.steps;
        PF_INFO("resuming from checkpoint %s (version %llu, %llu steps)", s->ckpt, (unsigned long long)c.version,
                (unsigned long long)c.steps);
    }
    if (!resumed && s->cfg.init && s->cfg.init[0] && (rc = warm_start(s)) < 0) return rc;
    if (s->cfg.ema > 0 && (rc = pf_mlp_clone(s->L.model, &s->avg)) < 0) return rc;
    if (s->cfg.elr > 0 && (rc = pf_id_table_init(&s->elr, (size_t)s->cfg.elr_rows, classes)) < 0) return rc;
    return 0;
}

static int publish(student *s, pf_ctx *ctx, int final)
{
    pf_mlp_counters c = pf_mlp_get_counters(s->L.model);
    c.version = ++s->version;
    c.preq_seen = s->preq_seen;
    c.preq_correct = s->preq_correct;
    pf_mlp_set_counters(s->L.model, &c);
    pf_mlp *out = s->avg ? s->avg : s->L.model;
    if (s->avg) pf_mlp_set_counters(s->avg, &c);
    Pf__Model m = PF__MODEL__INIT;
    pf_mlp_to_proto(out, &m);
    int rc = pf_ctx_emit(ctx, PORT_MODEL, PF_MSG_MODEL, &m);
    if (rc < 0) return rc;
    s->last_publish_step = c.steps;
    pf_ctx_gauge(ctx, "version", (double)c.version);
    if ((rc = pf_mlp_save(out, final ? s->save : s->ckpt, c.version)) < 0) return rc;
    if (final) rc = pf_mlp_save(out, s->ckpt, c.version);
    return rc;
}

#define GROW(p, count, what)                                                                       \
    do {                                                                                           \
        void *q_ = realloc((p), (count) * sizeof *(p) + 1);                                        \
        if (!q_) return pf_errorf(PF_ENOMEM, "mlp_student: out of memory for %s", what);            \
        (p) = q_;                                                                                  \
    } while (0)

static int reserve(student *s, size_t need)
{
    if (need <= s->bcap) return 0;
    size_t cap = s->bcap ? s->bcap : 256;
    while (cap < need) cap *= 2;
    GROW(s->bx, cap * s->dim, "the minibatch buffer");
    GROW(s->bsoft, cap * s->classes, "the minibatch buffer");
    GROW(s->bw, cap, "the minibatch buffer");
    GROW(s->bid, cap, "the minibatch buffer");
    GROW(s->by, cap, "the minibatch buffer");
    GROW(s->bu, cap, "the minibatch buffer");
    s->bcap = cap;
    return 0;
}

/* Gamma(a, 1) by Marsaglia and Tsang (2000); a < 1 through Gamma(a + 1) * U^(1/a). */
static double gamma_draw(pf_rng *r, double a)
{
    if (a < 1) return gamma_draw(r, a + 1) * pow(pf_rng_uniform(r) + 1e-300, 1 / a);
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = pf_rng_normal(r), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = pf_rng_uniform(r);
        if (log(u + 1e-300) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}

/* Mixup (Zhang et al. 2018, as in MixMatch): row i becomes
 * lam*row_i + (1-lam)*row_j for a random partner j, lam = max(l, 1-l) with
 * l ~ Beta(a, a), so the mixed row stays closest to its own; features,
 * target distributions and weights are mixed alike. Only rows with weight
 * > 0 mix, with each other: a rejected row's target is a placeholder, not a
 * label, and it stays as it is (weight 0). Reads the buffer, writes rows
 * [0, m) of the step (mixed targets become soft: ty = -1). */
static void mix_rows(student *s, size_t m)
{
    size_t d = s->dim, c = s->classes, w = 0;
    for (size_t i = 0; i < m; i++) w += s->bw[i] > 0;
    for (size_t i = 0; i < m; i++) {
        if (!(s->bw[i] > 0)) continue;
        size_t r = pf_rng_below(&s->L.rng, w), j = 0; /* j: the r-th row with weight > 0 */
        for (;; j++)
            if (s->bw[j] > 0 && r-- == 0) break;
        double g1 = gamma_draw(&s->L.rng, s->cfg.mixup), g2 = gamma_draw(&s->L.rng, s->cfg.mixup);
        float lam = (float)(g1 / (g1 + g2 + 1e-300));
        if (lam < 0.5f) lam = 1 - lam;
        const float *xi = s->bx + i * d, *xj = s->bx + j * d;
        float *x = s->tx + i * d, *q = s->tsoft + i * c;
        for (size_t k = 0; k < d; k++) x[k] = lam * xi[k] + (1 - lam) * xj[k];
        for (size_t k = 0; k < c; k++) {
            float qi = s->by[i] >= 0 ? (float)(s->by[i] == (int32_t)k) : s->bsoft[i * c + k];
            float qj = s->by[j] >= 0 ? (float)(s->by[j] == (int32_t)k) : s->bsoft[j * c + k];
            q[k] = lam * qi + (1 - lam) * qj;
        }
        s->ty[i] = -1;
        s->tw[i] = lam * s->bw[i] + (1 - lam) * s->bw[j];
    }
}

/* Move row i of the buffer to row j (j < i). */
static void move_row(student *s, size_t j, size_t i)
{
    size_t d = s->dim, c = s->classes;
    memcpy(s->bx + j * d, s->bx + i * d, d * sizeof *s->bx);
    memcpy(s->bsoft + j * c, s->bsoft + i * c, c * sizeof *s->bsoft);
    s->by[j] = s->by[i], s->bw[j] = s->bw[i], s->bu[j] = s->bu[i], s->bid[j] = s->bid[i];
}

/* VAT and entmin: copy the unlabeled rows among [0, m) to vx and set *nv
 * to their count, then keep only the rows with weight > 0 at the front of
 * the buffer (stable) and set *ns to their count. */
static int split_unlabeled(student *s, size_t m, size_t *ns, size_t *nv)
{
    size_t d = s->dim, u = 0;
    for (size_t i = 0; i < m; i++) u += s->bu[i];
    if (u > s->vcap) {
        GROW(s->vx, u * d, "VAT/entmin rows");
        if (s->cfg.vat > 0) GROW(s->vg, u * d, "VAT rows");
        s->vcap = u;
    }
    size_t k = 0, j = 0;
    for (size_t i = 0; i < m; i++) {
        if (s->bu[i]) memcpy(s->vx + k++ * d, s->bx + i * d, d * sizeof *s->vx);
        if (s->bw[i] > 0) {
            if (j != i) move_row(s, j, i);
            j++;
        }
    }
    *ns = j, *nv = k;
    return 0;
}

/* Adversarial rows for vx [nv, dim] into x_out [nv, dim], given their
 * targets p = softmax(f(vx)) [nv, classes] (see the top comment). */
static int vat_rows(student *s, size_t nv, float *x_out, const float *p)
{
    size_t d = s->dim;
    pf_mlp *m = s->L.model;
    int rc;
    /* x + xi*d, d a random unit direction per row */
    for (size_t i = 0; i < nv; i++) {
        float *dx = x_out + i * d;
        double nn = 0;
        for (size_t j = 0; j < d; j++) {
            dx[j] = (float)pf_rng_normal(&s->L.rng);
            nn += (double)dx[j] * dx[j];
        }
        float a = (float)(s->cfg.vat_xi / (sqrt(nn) + 1e-12));
        for (size_t j = 0; j < d; j++) dx[j] = s->vx[i * d + j] + a * dx[j];
    }
    double loss;
    if ((rc = pf_mlp_input_grad(m, x_out, nv, NULL, p, NULL, 1.0f, &loss, s->vg)) < 0) return rc;
    /* r_adv = eps * g / ||g||, per row */
    for (size_t i = 0; i < nv; i++) {
        const float *g = s->vg + i * d;
        double nn = 0;
        for (size_t j = 0; j < d; j++) nn += (double)g[j] * g[j];
        float a = (float)(s->cfg.vat_eps / (sqrt(nn) + 1e-12));
        for (size_t j = 0; j < d; j++) x_out[i * d + j] = s->vx[i * d + j] + a * g[j];
    }
    return 0;
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* ELR terms of a step: pseudo-labeled rows among the first m (the weight > 0
 * rows, ids in bid) get lambda * w and their running target; every other
 * row (given labels, the consistency, VAT and entmin rows) none. Returns
 * the number of rows with a term. */
static size_t elr_rows(student *s, pf_ctx *ctx, size_t m, size_t rows)
{
    size_t c = s->classes, k = 0;
    uint64_t step = pf_mlp_get_counters(s->L.model).steps;
    for (size_t i = 0; i < rows; i++) {
        s->tslot[i] = SIZE_MAX, s->tl[i] = 0.0f;
        if (i >= m || !s->bu[i] || !(s->bw[i] > 0)) continue;
        int evicted;
        s->tslot[i] = pf_id_table_slot(&s->elr, s->bid[i], step, &evicted);
        if (evicted) pf_ctx_count(ctx, "elr_evicted", 1);
        if (s->tslot[i] == SIZE_MAX) {
            pf_ctx_count(ctx, "elr_no_slot", 1);
            continue;
        }
        s->tl[i] = (float)s->cfg.elr * s->tw[i];
        memcpy(s->tt + i * c, pf_id_table_row(&s->elr, s->tslot[i]), c * sizeof *s->tt); /* lambda 0: not read */
        k++;
    }
    return k;
}

/* After a step: t <- beta*t + (1 - beta)*p for its ELR rows (the next step
 * of the same minibatch reads the updated targets). */
static void elr_update(student *s, size_t m)
{
    size_t c = s->classes;
    for (size_t i = 0; i < m; i++) {
        if (s->tslot[i] == SIZE_MAX) continue;
        float *t = pf_id_table_row(&s->elr, s->tslot[i]);
        pf_loss_elr_target(s->tp + i * c, c, (float)s->cfg.elr_beta, t);
        memcpy(s->tt + i * c, t, c * sizeof *t);
    }
}

/* One training step on rows [0, m) of the buffer. */
static int train_rows(student *s, pf_ctx *ctx, size_t m)
{
    size_t d = s->dim, c = s->classes, nv = 0, m_all = m;
    int rc;
    if ((s->cfg.vat > 0 || s->cfg.entmin > 0) && (rc = split_unlabeled(s, m, &m, &nv)) < 0) return rc;
    int cons = s->cfg.consistency > 0 && m > 0;
    /* rows: [0, sup) supervised (augmented), then nvat VAT rows, then nent entropy rows */
    size_t nvat = s->cfg.vat > 0 ? nv : 0, nent = s->cfg.entmin > 0 ? nv : 0;
    size_t sup = cons ? 2 * m : m, rows = sup + nvat + nent;
    if (rows == 0) return 0;
    if (rows > s->tcap) {
        GROW(s->tx, rows * d, "a training step");
        GROW(s->tsoft, rows * c, "a training step");
        GROW(s->tw, rows, "a training step");
        GROW(s->ty, rows, "a training step");
        if (s->elr.cap) {
            GROW(s->tt, rows * c, "a training step");
            GROW(s->tp, rows * c, "a training step");
            GROW(s->tl, rows, "a training step");
            GROW(s->tslot, rows, "a training step");
        }
        s->tcap = rows;
    }
    memcpy(s->tx, s->bx, m * d * sizeof *s->tx);
    memcpy(s->tsoft, s->bsoft, m * c * sizeof *s->tsoft);
    memcpy(s->ty, s->by, m * sizeof *s->ty);
    memcpy(s->tw, s->bw, m * sizeof *s->tw);
    if (s->cfg.mixup > 0) mix_rows(s, m);
    if (cons) {
        /* Weak view: x + N(0, weak_noise^2); its prediction is the target of a second strong view. */
        float *wx = s->tx + m * d;
        memcpy(wx, s->bx, m * d * sizeof *wx);
        if (s->cfg.weak_noise > 0 && (rc = pf_mlp_augment(wx, m, d, 0.0f, (float)s->cfg.weak_noise, &s->L.rng)) < 0)
            return rc;
        if ((rc = pf_mlp_predict_proba(s->L.model, wx, m, 1.0f, s->tsoft + m * c)) < 0) return rc;
        memcpy(wx, s->bx, m * d * sizeof *wx); /* the strong view is made from the clean row by the learner */
        /* The supervised loss is then a mean over 2m rows: doubling the weights keeps each term's scale
         * (VAT rows, when on, dilute both alike, as they always have). */
        for (size_t i = 0; i < m; i++) {
            s->tw[i] *= 2.0f;
            s->ty[m + i] = -1;
            s->tw[m + i] = 2.0f * (float)s->cfg.consistency;
        }
    }
    if (s->cfg.lr_decay_steps > 0) {
        /* lr_t = lr * (1/20 + (19/20) * (1 + cos(pi * min(t, N) / N)) / 2) */
        double t = fmin((double)pf_mlp_get_counters(s->L.model).steps / (double)s->cfg.lr_decay_steps, 1.0);
        double f = 0.05 + 0.95 * 0.5 * (1 + cos(M_PI * t));
        if ((rc = pf_optim_set_lr(s->L.opt, (float)(s->cfg.l.lr * f))) < 0) return rc;
    }
    if (nent) memcpy(s->tx + (sup + nvat) * d, s->vx, nv * d * sizeof *s->tx); /* clean rows, every step */
    pf_mlp_elr elr = {s->tt, s->tl, s->tp}, *elrp = s->elr.cap ? &elr : NULL;
    size_t nelr = elrp ? elr_rows(s, ctx, m, rows) : 0;
    for (int64_t k = 0; k < s->cfg.steps; k++) {
        double loss;
        if (nv) { /* fresh p (and r_adv) for every step: both depend on the weights */
            float *p = s->tsoft + sup * c; /* the first unlabeled block's targets */
            if ((rc = pf_mlp_predict_proba(s->L.model, s->vx, nv, 1.0f, p)) < 0) return rc;
            if (!all_finite(p, nv * c)) { /* diverged logits: drop the minibatch, keep the model */
                pf_ctx_count(ctx, "dropped_batches", 1);
                PF_WARN("dropped a minibatch: the model's predictions on its unlabeled rows are not finite");
                return 0;
            }
            if (nvat && (rc = vat_rows(s, nv, s->tx + sup * d, p)) < 0) return rc;
            if (nent) pf_loss_sharpen(p, nv, c, (float)s->cfg.entmin_t, s->tsoft + (sup + nvat) * c);
            double went = s->cfg.entmin, t = (double)pf_mlp_get_counters(s->L.model).steps;
            if (t < (double)s->cfg.entmin_rampup) {
                double r = 1.0 - t / (double)s->cfg.entmin_rampup;
                went *= exp(-5.0 * r * r);
            }
            for (size_t i = sup; i < rows; i++)
                s->ty[i] = -1, s->tw[i] = (float)(i < sup + nvat ? s->cfg.vat : went);
        }
        rc = pf_learner_train_prefix(&s->L, s->tx, rows, sup, s->ty, s->tsoft, s->tw, (float)s->cfg.temperature,
                                     elrp, &loss);
        if (rc == PF_ERANGE) { /* non-finite loss: drop the minibatch, keep the model */
            pf_ctx_count(ctx, "dropped_batches", 1);
            PF_WARN("dropped a minibatch: %s", pf_error_last());
            return 0;
        }
        if (rc < 0) return rc;
        if (elrp) elr_update(s, m);
        if (s->avg) {
            /* Warm-up: m_t = min(ema, (1 + t) / (10 + t)), so early averages are not
             * dominated by the initialization (TensorFlow's num_updates rule). */
            double t = (double)pf_mlp_get_counters(s->L.model).steps;
            double mom = fmin(s->cfg.ema, (1 + t) / (10 + t));
            if ((rc = pf_mlp_ema_update(s->avg, s->L.model, (float)mom)) < 0) return rc;
        }
        pf_ctx_gauge(ctx, "loss", loss);
    }
    pf_ctx_count(ctx, "trained", (double)m_all);
    if (nvat) pf_ctx_count(ctx, "vat_rows", (double)nvat);
    if (nent) pf_ctx_count(ctx, "entmin_rows", (double)nent);
    if (nelr) pf_ctx_count(ctx, "elr_rows", (double)nelr);
    if (pf_mlp_get_counters(s->L.model).steps >= s->last_publish_step + (uint64_t)s->cfg.publish_every)
        return publish(s, ctx, 0);
    return 0;
}

/* Train on full minibatches (or everything, when flushing); keep the rest. */
static int train_buffered(student *s, pf_ctx *ctx, int flush)
{
    size_t mb = s->cfg.batch > 0 ? (size_t)s->cfg.batch : s->bn;
    size_t done = 0;
    int rc = 0;
    while (rc == 0 && s->bn - done >= mb && mb > 0) {
        if (done) { /* move the next minibatch to the front */
            memmove(s->bx, s->bx + done * s->dim, mb * s->dim * sizeof *s->bx);
            memmove(s->bsoft, s->bsoft + done * s->classes, mb * s->classes * sizeof *s->bsoft);
            memmove(s->by, s->by + done, mb * sizeof *s->by);
            memmove(s->bw, s->bw + done, mb * sizeof *s->bw);
            memmove(s->bu, s->bu + done, mb * sizeof *s->bu);
            memmove(s->bid, s->bid + done, mb * sizeof *s->bid);
        }
        rc = train_rows(s, ctx, mb);
        done += mb;
    }
    size_t left = s->bn - done;
    if (left && done) {
        memmove(s->bx, s->bx + done * s->dim, left * s->dim * sizeof *s->bx);
        memmove(s->bsoft, s->bsoft + done * s->classes, left * s->classes * sizeof *s->bsoft);
        memmove(s->by, s->by + done, left * sizeof *s->by);
        memmove(s->bw, s->bw + done, left * sizeof *s->bw);
        memmove(s->bu, s->bu + done, left * sizeof *s->bu);
        memmove(s->bid, s->bid + done, left * sizeof *s->bid);
    }
    s->bn = left;
    if (rc == 0 && flush && s->bn) {
        rc = train_rows(s, ctx, s->bn);
        s->bn = 0;
    }
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
    if (!s->ready && (rc = build(s, b->dim, (uint32_t)pf_ctx_graph(ctx)->cfg.classes)) < 0) return rc;
    size_t c = s->classes;
    if (b->dim != s->dim || (b->n_soft && b->n_soft != n * c) || (b->n_targets && b->n_targets != n) ||
        (b->n_weights && b->n_weights != n)) {
        pf_ctx_count(ctx, "wrong_shape", (double)n);
        return 0;
    }
    /* Prequential: predict the samples with a given label before training on them. */
    if (b->n_labels == n) {
        if (n > s->pcap) {
            GROW(s->pred, n, "predictions");
            s->pcap = n;
        }
        if ((rc = pf_mlp_predict(s->L.model, b->x, n, s->pred)) < 0) return rc;
        for (size_t i = 0; i < n; i++) {
            if (b->labels[i] < 0) continue;
            s->preq_seen++;
            s->preq_correct += s->pred[i] == b->labels[i];
        }
    }
    if ((rc = reserve(s, s->bn + n)) < 0) return rc;
    memcpy(s->bx + s->bn * s->dim, b->x, n * s->dim * sizeof *s->bx);
    for (size_t i = 0; i < n; i++) {
        size_t r = s->bn + i;
        /* A soft row is used where the target is -1 (pf_mlp_train_step). */
        s->by[r] = b->n_soft ? -1 : b->targets[i];
        s->bw[r] = b->n_weights ? b->weights[i] : 1.0f;
        s->bid[r] = b->ids[i];
        s->bu[r] = b->n_labels == n ? b->labels[i] < 0 : (b->n_flags == n && !(b->flags[i] & PF_FLAG_GIVEN));
        float *q = s->bsoft + r * c;
        if (b->n_soft) {
            memcpy(q, b->soft + i * c, c * sizeof *q);
        } else if (s->bu[r] && s->cfg.smooth > 0 && s->by[r] >= 0 && s->by[r] < (int32_t)c) {
            pf_loss_smooth_target(s->by[r], c, (float)s->cfg.smooth, q); /* a pseudo-label: smoothed soft row */
            s->by[r] = -1;
        } else {
            memset(q, 0, c * sizeof *q);
            if (s->by[r] < 0 || s->by[r] >= (int32_t)c) s->bw[r] = 0, s->by[r] = 0; /* rejected row */
        }
    }
    s->bn += n;
    if ((rc = train_buffered(s, ctx, 0)) < 0) return rc;
    if (s->preq_seen) pf_ctx_gauge(ctx, "preq_accuracy", (double)s->preq_correct / (double)s->preq_seen);
    return 0;
}

static int student_drain(void *state, pf_ctx *ctx)
{
    student *s = state;
    if (!s->ready) return 0;
    int rc = train_buffered(s, ctx, 1);
    if (rc == 0) rc = publish(s, ctx, 1);
    if (rc == 0) PF_INFO("final model v%llu saved to %s", (unsigned long long)s->version, s->save);
    return rc;
}

static void student_stop(void **state, pf_ctx *ctx)
{
    student *s = *state;
    if (!s) return;
    pf_learner_fini(&s->L);
    pf_mlp_destroy(&s->avg);
    free(s->bx), free(s->bsoft), free(s->bw), free(s->by), free(s->bu), free(s->bid);
    pf_id_table_fini(&s->elr);
    free(s->tt), free(s->tl), free(s->tp), free(s->tslot);
    free(s->vx), free(s->vg);
    free(s->tx), free(s->tsoft), free(s->tw), free(s->ty), free(s->pred);
    free(s);
    *state = NULL;
}

/* `pseudoflow check`: VAT's, entmin's and consistency's targets are
 * probabilities at T = 1 (see the top comment). */
static int student_configure(const void *cfgp, const pf_graph *g, const pf_gnode *node)
{
    const student_cfg *cfg = cfgp;
    if (cfg->temperature != 1.0 && (cfg->vat > 0 || cfg->entmin > 0 || cfg->consistency > 0))
        return pf_errorf(PF_EINVAL, "temperature=%g needs vat=0, entmin=0 and consistency=0 (their targets are "
                                    "probabilities at T=1)", cfg->temperature);
    if (cfg->elr > 0 && cfg->mixup > 0)
        return pf_errorf(PF_EINVAL, "elr=%g needs mixup=0 (a mixed row is two samples; ELR follows one by id)",
                         cfg->elr);
    if (cfg->elr > 0 && cfg->temperature != 1.0)
        return pf_errorf(PF_EINVAL, "elr=%g needs temperature=1 (its targets are probabilities at T=1)", cfg->elr);
    if (cfg->init && cfg->init[0]) {
        int rc = pf_kind_check_path(0, node, "init", cfg->init, PF_PATH_FILE);
        if (rc < 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", pf_error_last());
            return pf_errorf(rc, "%s (train one with `pseudoflow train --out`)", why);
        }
    }
    return 0;
}

static const pf_node_ops student_ops = {
    .configure = student_configure,
    .start = student_start,
    .process = student_process,
    .drain = student_drain,
    .stop = student_stop,
};

const pf_kind pf_kind_mlp_student = {
    .name = "mlp_student",
    .summary = "online MLP/softmax student on weighted hard or soft targets, minibatched; publishes snapshots",
    .params = student_params,
    .config_size = sizeof(student_cfg),
    .ports = student_ports,
    .flags = 0,
    .ops = &student_ops,
};
