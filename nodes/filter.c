/*
 * filter.c - turns the teacher's class distributions into training targets
 * and weights, sends the accepted ones to the student and every decision
 * back to the sampler (which stores it: the decision is the lease's ack).
 *
 * Samples with a given label are always accepted with their label as the
 * target and weight `labeled_weight`. For unlabeled samples the policy
 * decides (policy=):
 *
 *   fixmatch  keep iff max p >= tau; target argmax p, weight 1
 *             (Sohn et al. 2020, FixMatch; METHODS.md "Fixed threshold").
 *   freematch keep iff max p >= tau_t(argmax p), self-adaptive thresholds:
 *             tau_t = EMA of the mean confidence, scaled per class by the
 *             EMA class distribution p~ (p~(c) / max p~); starts at 1/C
 *             (Wang et al. 2023, FreeMatch; METHODS.md). Weight 1.
 *   softmatch keep every sample, target argmax p, weight 1 above the EMA
 *             mean confidence mu and a Gaussian decay below it,
 *             exp(-(max p - mu)^2 / (2 var / 4)) (Chen et al. 2023,
 *             SoftMatch). Samples whose weight falls under min_weight are
 *             rejected (they would teach nothing).
 *   quantile  keep iff the margin ln(p1 / p2) is in the top `keep`
 *             fraction of the recent rows predicted as the same class
 *             (percentile thresholds as in Curriculum Labeling, per class):
 *             insensitive to the teacher's temperature, every class gets
 *             its share, and rows at a float32 max p of 1 still rank.
 *             Weight 1. Until a class has been predicted 50 times, tau.
 *   none      reject every unlabeled sample: the student learns from the
 *             given labels alone. The supervised baseline of Lee 2013
 *             ("Pseudo-Label") and of every SSL table, measured by the same
 *             pipeline with pseudo-labels switched off (with
 *             unlabeled_to_student=1 the student may still use the
 *             unlabeled inputs, e.g. for VAT: then it is no baseline).
 *
 * With align=1 each unlabeled distribution is first aligned to uniform
 * classes (distribution alignment, ReMixMatch; SoftMatch's "uniform
 * alignment"): p <- normalize(p / p~), p~ the EMA of the teacher's mean
 * distribution over unlabeled samples. A teacher that over-predicts some
 * classes then stops flooding the student with them; the decision,
 * target and stored probabilities all use the aligned p. The classes of the
 * stream are assumed balanced; with a known skew, leave align off.
 *
 * Every EMA moves once per batch with momentum `momentum` (0.999 in the
 * papers). The EMAs are per replica and start over when a filter restarts;
 * they settle again within a few hundred batches.
 *
 * With soft=1 the student gets the teacher's distribution (sharpened by
 * temperature T: p^(1/T) renormalized) as a soft target instead of the
 * argmax, for distillation. Embeddings go only to the student; decisions go
 * back without them.
 *
 * With unlabeled_to_student=1 the rejected unlabeled samples go to the
 * student too, with target -1, weight 0 and no PF_FLAG_ACCEPTED in their
 * flags: no pseudo-label, only the input, for a student that regularizes on
 * unlabeled data (mlp_student vat=, virtual adversarial training, Miyato et
 * al. 2018). The decisions on `labels` are the same either way, so the
 * sampler stores and the evaluator scores exactly the accepted ones.
 */
#include "models/loss.h"
#include "nodes/policy.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct filter_cfg {
    int policy;
    double tau;
    double labeled_weight;
    int soft;
    double sharpen;
    int unlabeled_to_student;
    int align;
    double momentum;
    double min_weight;
    double keep;
} filter_cfg;

/* In the order of pf_policy_kind (nodes/policy.h). */
static const char *policy_names[] = {"fixmatch", "freematch", "softmatch", "none", "quantile"};

static const pf_param filter_params[] = {
    PF_PARAM_ENUM(filter_cfg, policy, "fixmatch", "fixmatch|freematch|softmatch|none|quantile",
                  "how unlabeled samples are accepted and weighted; none = no pseudo-labels (labeled-only baseline)"),
    PF_PARAM_FLOAT(filter_cfg, tau, 0.95, 0, 1,
                   "fixmatch: confidence threshold, keep iff max p >= tau (quantile: for classes seen too rarely yet)"),
    PF_PARAM_FLOAT(filter_cfg, keep, 0.5, 0.001, 1,
                   "quantile: fraction of each predicted class kept, those with the largest margin ln(p1/p2)"),
    PF_PARAM_FLOAT(filter_cfg, labeled_weight, 1.0, 0, 1000, "training weight of samples with a given label"),
    PF_PARAM_BOOL(filter_cfg, soft, 0, "send the teacher's distribution as a soft target (distillation)"),
    PF_PARAM_FLOAT(filter_cfg, sharpen, 1.0, 0.01, 100, "soft targets: temperature T, p^(1/T) renormalized"),
    PF_PARAM_BOOL(filter_cfg, unlabeled_to_student, 0,
                  "also send rejected unlabeled samples to the student (target -1, weight 0, not accepted), for VAT"),
    PF_PARAM_BOOL(filter_cfg, align, 0,
                  "align unlabeled distributions to uniform classes (divide by the EMA class distribution)"),
    PF_PARAM_FLOAT(filter_cfg, momentum, 0.999, 0, 1, "EMA momentum per batch (align, freematch, softmatch)"),
    PF_PARAM_FLOAT(filter_cfg, min_weight, 0.01, 0, 1, "softmatch: samples weighted below this are rejected"),
    PF_PARAM_END,
};

enum { PORT_IN, PORT_OUT, PORT_LABELS };

static const pf_port_spec filter_ports[] = {
    {"in", PF_IN, PF_DATA, PF_PORT_REQUIRED, "samples with the teacher's probs"},
    {"out", PF_OUT, PF_DATA, 0,
     "accepted samples with targets, weights and flags, for the student (and rejected unlabeled ones, "
     "target -1 and weight 0, with unlabeled_to_student=1)"},
    {"labels", PF_OUT, PF_DATA, 0, "every decision (no embeddings), for the sampler and the evaluator"},
    {NULL},
};

typedef struct filter {
    filter_cfg cfg;
    size_t cap, dim, classes;
    int32_t *targets, *acc_targets, *acc_labels;
    float *weights, *acc_weights, *acc_x, *acc_soft, *acc_probs;
    uint32_t *flags, *acc_flags;
    uint64_t *acc_ids;
    float *aligned;  /* [cap * classes]: this batch's distributions after alignment */
    pf_policy policy; /* its EMAs; classes == 0 before the first batch */
} filter;

static void filter_free(filter *f)
{
    free(f->targets), free(f->acc_targets), free(f->acc_labels);
    free(f->weights), free(f->acc_weights), free(f->acc_x), free(f->acc_soft), free(f->acc_probs);
    free(f->flags), free(f->acc_flags), free(f->acc_ids);
    free(f->aligned);
    pf_policy_free(&f->policy);
    free(f);
}

static int filter_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    filter *f = calloc(1, sizeof *f);
    if (!f) return pf_errorf(PF_ENOMEM, "filter: out of memory");
    f->cfg = *(const filter_cfg *)cfgp;
    *state = f;
    return 0;
}

static int reserve(filter *f, size_t n, size_t dim, size_t classes)
{
    if (n <= f->cap && dim <= f->dim && classes <= f->classes) return 0;
    size_t cap = n > f->cap ? n : f->cap;
    size_t fdim = dim > f->dim ? dim : f->dim, fclasses = classes > f->classes ? classes : f->classes;
#define GROW(p, count)                                                                             \
    do {                                                                                           \
        void *q = realloc((p), (count) * sizeof *(p) + 1);                                         \
        if (!q) return pf_errorf(PF_ENOMEM, "filter: out of memory for a batch of %zu", cap);       \
        (p) = q;                                                                                   \
    } while (0)
    GROW(f->targets, cap);
    GROW(f->acc_targets, cap);
    GROW(f->acc_labels, cap);
    GROW(f->weights, cap);
    GROW(f->acc_weights, cap);
    GROW(f->flags, cap);
    GROW(f->acc_flags, cap);
    GROW(f->acc_ids, cap);
    GROW(f->acc_x, cap * fdim);
    GROW(f->acc_soft, cap * fclasses);
    GROW(f->acc_probs, cap * fclasses);
    GROW(f->aligned, cap * fclasses);
#undef GROW
    f->cap = cap, f->dim = fdim, f->classes = fclasses; /* only once every buffer has its size */
    return 0;
}

static int filter_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    filter *f = state;
    const Pf__Batch *b = msg->u.batch;
    size_t n = b->n_ids, c = b->classes, dim = b->dim;
    if (n == 0) return 0;
    if (b->n_probs != n * c || c == 0) {
        pf_ctx_count(ctx, "no_probs", (double)n);
        PF_WARN("dropped a batch of %zu samples without teacher probabilities; is a teacher upstream?", n);
        return 0;
    }
    int rc = reserve(f, n, dim, c);
    if (rc < 0) return rc;
    if (f->policy.classes != c) { /* first batch, or the class count changed: start over */
        pf_policy_free(&f->policy);
        const filter_cfg *k = &f->cfg;
        if ((rc = pf_policy_init(&f->policy, (pf_policy_kind)k->policy, c, k->tau, k->momentum, k->min_weight,
                                 k->align)) < 0)
            return rc;
        pf_policy_set_quantile(&f->policy, k->keep, 50);
    }
    const int32_t *labels = b->n_labels ? b->labels : NULL;
    pf_policy_observe(&f->policy, b->probs, labels, n);
    for (size_t i = 0; i < n; i++) {
        if (labels && labels[i] >= 0)
            memcpy(f->aligned + i * c, b->probs + i * c, c * sizeof(float));
        else
            pf_policy_align(&f->policy, b->probs + i * c, f->aligned + i * c);
    }
    size_t k = 0, accepted_unlabeled = 0, unlabeled = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = f->aligned + i * c;
        int32_t given = b->n_labels ? b->labels[i] : -1;
        float w;
        int32_t t;
        uint32_t fl = 0;
        if (given >= 0) {
            t = given;
            w = (float)f->cfg.labeled_weight;
            fl = PF_FLAG_ACCEPTED | PF_FLAG_GIVEN;
        } else {
            unlabeled++;
            t = pf_policy_decide(&f->policy, p, &w);
            if (t >= 0) {
                fl = PF_FLAG_ACCEPTED;
                accepted_unlabeled++;
            }
        }
        f->targets[i] = t;
        f->weights[i] = w;
        f->flags[i] = fl;
        int to_student = (fl & PF_FLAG_ACCEPTED) || (f->cfg.unlabeled_to_student && given < 0);
        if (!to_student || b->n_x != n * dim) continue;
        f->acc_ids[k] = b->ids[i];
        f->acc_flags[k] = fl;
        f->acc_targets[k] = t;
        f->acc_labels[k] = given;
        f->acc_weights[k] = w;
        memcpy(f->acc_x + k * dim, b->x + i * dim, dim * sizeof(float));
        memcpy(f->acc_probs + k * c, p, c * sizeof(float));
        if (f->cfg.soft) {
            /* Sharpen: q_c ∝ p_c^(1/T) (relative to the row's largest p, so
             * no row underflows to 0/0); given labels stay one-hot. */
            float *q = f->acc_soft + k * c;
            if (given >= 0)
                for (size_t j = 0; j < c; j++) q[j] = j == (size_t)given;
            else
                pf_loss_sharpen(p, 1, c, (float)f->cfg.sharpen, q);
        }
        k++;
    }
    pf_ctx_count(ctx, "unlabeled", (double)unlabeled);
    pf_ctx_count(ctx, "accepted", (double)accepted_unlabeled);
    if (k) {
        Pf__Batch o = PF__BATCH__INIT;
        o.n_ids = k, o.ids = f->acc_ids;
        o.dim = (uint32_t)dim, o.n_x = k * dim, o.x = f->acc_x;
        o.classes = (uint32_t)c;
        o.n_labels = k, o.labels = f->acc_labels;
        o.n_targets = k, o.targets = f->acc_targets;
        o.n_weights = k, o.weights = f->acc_weights;
        o.n_probs = k * c, o.probs = f->acc_probs;
        o.n_flags = k, o.flags = f->acc_flags;
        if (f->cfg.soft) o.n_soft = k * c, o.soft = f->acc_soft;
        o.teacher_version = b->teacher_version;
        o.policy = (char *)policy_names[f->cfg.policy];
        if ((rc = pf_ctx_emit(ctx, PORT_OUT, PF_MSG_BATCH, &o)) < 0) return rc;
    }
    Pf__Batch d = PF__BATCH__INIT;
    d.n_ids = n, d.ids = b->ids;
    d.classes = (uint32_t)c;
    d.n_labels = b->n_labels, d.labels = b->labels;
    d.n_probs = n * c, d.probs = f->aligned;
    d.n_targets = n, d.targets = f->targets;
    d.n_weights = n, d.weights = f->weights;
    d.n_flags = n, d.flags = f->flags;
    d.teacher_version = b->teacher_version;
    d.policy = (char *)policy_names[f->cfg.policy];
    return pf_ctx_emit(ctx, PORT_LABELS, PF_MSG_BATCH, &d);
}

static void filter_stop(void **state, pf_ctx *ctx)
{
    if (*state) filter_free(*state);
    *state = NULL;
}

static const pf_node_ops filter_ops = {
    .start = filter_start,
    .process = filter_process,
    .stop = filter_stop,
};

const pf_kind pf_kind_filter = {
    .name = "filter",
    .summary = "turns teacher distributions into targets and weights (policy=fixmatch|freematch|softmatch|quantile|none); "
               "decisions back to the sampler",
    .params = filter_params,
    .config_size = sizeof(filter_cfg),
    .ports = filter_ports,
    .flags = PF_KIND_STATELESS,
    .ops = &filter_ops,
};
