/*
 * evaluator.c - scores the student's snapshots on a held-out labeled set and
 * the filter's pseudo-labels against the truth the sources kept aside.
 *
 * Held-out metrics (models/metrics.h, conformal.h): accuracy, macro-F1,
 * per-class accuracy, NLL, ECE (15 bins), Brier, and split-conformal LAC
 * sets at level alpha: the even rows of the held-out set calibrate q-hat,
 * the odd rows measure coverage and mean set size. Snapshots are evaluated
 * when the model has seen `every` more training samples than at the last
 * evaluation, and always the last one, at end of stream.
 *
 * Pseudo-labels (from the `labels` input, a copy of the filter's decisions):
 * precision = accepted pseudo-labels equal to the truth / accepted ones with
 * known truth; coverage = accepted / decided, over unlabeled samples, counted
 * per decision (a replayed sample counts again). Each accepted pseudo-label
 * also carries the filter's probability of its target: their mean
 * (`confidence`) and ECE against the truth say whether the teacher's
 * confidence means what the filter's threshold assumes. `recent` repeats
 * these over the last `recent` decisions and the last `recent` scored
 * pseudo-labels (sliding windows), which the run-long figures average away. Truth comes from the
 * <run_dir>/truth-*.bin files (data/truth.h), re-read at every evaluation;
 * decisions whose truth is not written yet wait in a bounded list.
 *
 * Prequential accuracy comes with each snapshot (the student counts it).
 * Every evaluation appends one JSON object to <run_dir>/metrics.jsonl; the
 * last is also written to <run_dir>/summary.json at the end.
 *
 * Snapshots whose input width differs from the held-out set's are a
 * configuration error (PF_ECONFIG): the instance fails naming both widths,
 * and the supervisor stops the run instead of restarting it, rather than
 * every snapshot being ignored and the run ending "successfully" with
 * nothing scored.
 */
#include "data/dataset.h"
#include "data/truth.h"
#include "models/conformal.h"
#include "models/metrics.h"
#include "models/mlp.h"
#include "models/models.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "runtime/run_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct eval_cfg {
    char *images;
    char *labels;
    int64_t limit;
    int64_t every;
    double alpha;
    int64_t threads;
    int64_t recent;
    double power;
} eval_cfg;

static const pf_param eval_params[] = {
    PF_PARAM_STRING(eval_cfg, images, NULL, "held-out features (IDX/npy/fvecs/CSV), never trained on (required)"),
    PF_PARAM_STRING(eval_cfg, labels, NULL, "held-out labels (IDX or npy) (required)"),
    PF_PARAM_INT(eval_cfg, limit, 0, 0, 1e12, "use only the first N held-out rows; 0 = all"),
    PF_PARAM_INT(eval_cfg, every, 5000, 0, 1e12, "evaluate after this many more training samples; 0 = every snapshot"),
    PF_PARAM_FLOAT(eval_cfg, alpha, 0.1, 0.001, 0.999, "conformal miscoverage level: sets aim at 1 - alpha coverage"),
    PF_PARAM_INT(eval_cfg, threads, 1, 1, 256, "BLAS threads"),
    PF_PARAM_INT(eval_cfg, recent, 10000, 1, 1e8,
                 "pseudo.recent covers the last this many decisions (and accepted pseudo-labels scored)"),
    PF_PARAM_FLOAT(eval_cfg, power, 1, 0.01, 16, PF_POWER_HELP),
    PF_PARAM_END,
};

enum { PORT_MODEL, PORT_LABELS };

static const pf_port_spec eval_ports[] = {
    {"model", PF_IN, PF_PUBSUB, PF_PORT_REQUIRED, "student snapshots to score"},
    {"labels", PF_IN, PF_DATA, 0, "the filter's decisions, to measure pseudo-label precision and coverage"},
    {NULL},
};

#define PENDING_MAX 1000000 /* decisions waiting for their truth; beyond this they are not scored */

typedef struct pending {
    uint64_t id;
    int32_t target;
    float conf; /* the filter's probability of target; < 0 when it sent none */
} pending;

typedef struct scored {
    float conf; /* as in pending */
    uint8_t right;
} scored;

/* Held-out rows are kept as loaded (IDX pixels as bytes) and converted to
 * floats this many at a time when a model is scored: 3 MiB of floats for
 * 784 features, large enough that each prediction is one efficient GEMM. */
#define EVAL_CHUNK 1024

typedef struct evaluator {
    eval_cfg cfg;
    pf_dataset test;
    float *chunk; /* [EVAL_CHUNK, dim]: rows of test converted from bytes, for one prediction; NULL for floats */
    float *probs;
    pf_metrics mt;
    pf_mlp *latest;
    int latest_scored;
    uint64_t last_eval_seen;
    char metrics_path[4200], summary_path[4200], run_dir[4200];
    FILE *jsonl;
    char last_line[16384];
    uint64_t evals;
    uint64_t started_ms; /* when this evaluator started: uptime_s counts from it */
    uint64_t unreadable; /* snapshots ignored because they did not decode */
    /* pseudo-label quality */
    uint64_t decided, accepted, known, correct;
    pf_reliability rel; /* scored pseudo-labels with a confidence */
    /* pseudo.recent: the last cfg.recent decisions (1 = accepted) and the
     * last cfg.recent scored pseudo-labels, in rings */
    uint8_t *dec_ring;
    size_t dec_head, dec_len, dec_accepted;
    scored *score_ring;
    size_t score_head, score_len, score_correct;
    pf_reliability recent_rel;
    pending *wait;
    size_t nwait, wait_cap;
} evaluator;

static void eval_free(evaluator *e)
{
    pf_dataset_fini(&e->test);
    free(e->chunk);
    free(e->probs);
    pf_metrics_fini(&e->mt);
    pf_mlp_destroy(&e->latest);
    if (e->jsonl) fclose(e->jsonl);
    free(e->wait);
    free(e->dec_ring), free(e->score_ring);
    free(e);
}

/* Before any process starts: the held-out files exist and can be read (not
 * loaded: their shapes and labels are checked at start). */
static int eval_configure(const void *cfgp, const pf_graph *g, const pf_gnode *node)
{
    const eval_cfg *cfg = cfgp;
    int rc = pf_kind_check_path(0, node, "images", cfg->images, PF_PATH_FILE);
    rc = pf_kind_check_path(rc, node, "labels", cfg->labels, PF_PATH_FILE);
    return pf_kind_check_same_float(rc, g, node, "power");
}

static int eval_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const eval_cfg *cfg = cfgp;
    const pf_graph *g = pf_ctx_graph(ctx);
    evaluator *e = calloc(1, sizeof *e);
    if (!e) return pf_errorf(PF_ENOMEM, "evaluator: out of memory");
    e->cfg = *cfg;
    int rc = pf_dataset_load_compact(cfg->images, cfg->labels, (size_t)cfg->limit, &e->test);
    if (rc < 0 || (rc = pf_dataset_power(&e->test, cfg->power)) < 0) goto fail;
    if (!e->test.labels || e->test.n < 2) {
        rc = pf_errorf(PF_EINVAL, "evaluator: '%s' needs labels and at least 2 rows", cfg->images);
        goto fail;
    }
    for (size_t i = 0; i < e->test.n; i++)
        if (e->test.labels[i] < 0 || e->test.labels[i] >= g->cfg.classes) {
            rc = pf_errorf(PF_EINVAL, "evaluator: '%s' row %zu has label %d; every held-out row needs one in [0, %lld)",
                           cfg->labels, i, e->test.labels[i], (long long)g->cfg.classes);
            goto fail;
        }
    if (g->cfg.dim && (size_t)g->cfg.dim != e->test.dim) {
        rc = pf_errorf(PF_ECONFIG,
                       "evaluator: held-out set '%s' has %zu features per row but the graph says dim=%lld",
                       cfg->images, e->test.dim, (long long)g->cfg.dim);
        goto fail;
    }
    e->probs = malloc(e->test.n * (size_t)g->cfg.classes * sizeof *e->probs);
    if (e->test.bytes)
        e->chunk = malloc((e->test.n < EVAL_CHUNK ? e->test.n : EVAL_CHUNK) * e->test.dim * sizeof *e->chunk);
    e->dec_ring = malloc((size_t)cfg->recent * sizeof *e->dec_ring);
    e->score_ring = malloc((size_t)cfg->recent * sizeof *e->score_ring);
    if (!e->probs || (e->test.bytes && !e->chunk) || !e->dec_ring || !e->score_ring) {
        rc = pf_errorf(PF_ENOMEM, "evaluator: out of memory");
        goto fail;
    }
    if ((rc = pf_metrics_init(&e->mt, (size_t)g->cfg.classes)) < 0) goto fail;
    pf_models_set_threads((int)cfg->threads);
    snprintf(e->metrics_path, sizeof e->metrics_path, "%s/metrics.jsonl", pf_ctx_run_dir(ctx));
    snprintf(e->summary_path, sizeof e->summary_path, "%s/summary.json", pf_ctx_run_dir(ctx));
    snprintf(e->run_dir, sizeof e->run_dir, "%s", pf_ctx_run_dir(ctx));
    e->jsonl = fopen(e->metrics_path, "a");
    if (!e->jsonl) {
        rc = pf_errorf(PF_EIO, "evaluator: cannot open '%s' for appending", e->metrics_path);
        goto fail;
    }
    PF_INFO("held-out set %s: %zu samples", cfg->images, e->test.n);
    e->started_ms = pf_ctx_now_ms(ctx);
    *state = e;
    return 0;
fail:
    eval_free(e);
    return rc;
}

static int merge_truth(const char *path, void *arg)
{
    return pf_truth_merge_file(arg, path);
}

static int load_truth(evaluator *e, pf_truth *t)
{
    memset(t, 0, sizeof *t);
    return pf_run_dir_each_truth(e->run_dir, merge_truth, t);
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* The mean confidence and ECE of a tally as JSON numbers, or null when no
 * scored pseudo-label came with a distribution (none accepted yet, or a
 * filter that sends no probs): 0 would read as a teacher sure of nothing. */
static void reliability_json(const pf_reliability *r, char conf[32], char ece[32])
{
    if (!r->n) {
        snprintf(conf, 32, "null");
        snprintf(ece, 32, "null");
        return;
    }
    snprintf(conf, 32, "%.6f", pf_reliability_confidence(r));
    snprintf(ece, 32, "%.6f", pf_reliability_ece(r));
}

/* Slide the window of decisions: the newest in, the oldest out when full. */
static void recent_decision(evaluator *e, int accepted)
{
    size_t cap = (size_t)e->cfg.recent;
    if (e->dec_len == cap) {
        e->dec_accepted -= e->dec_ring[e->dec_head];
        e->dec_head = (e->dec_head + 1) % cap;
        e->dec_len--;
    }
    e->dec_ring[(e->dec_head + e->dec_len++) % cap] = (uint8_t)(accepted != 0);
    e->dec_accepted += accepted != 0;
}

/* Slide the window of scored pseudo-labels. */
static void recent_score(evaluator *e, int right, float conf)
{
    size_t cap = (size_t)e->cfg.recent;
    if (e->score_len == cap) {
        const scored *old = &e->score_ring[e->score_head];
        e->score_correct -= old->right;
        if (old->conf >= 0) pf_reliability_remove(&e->recent_rel, old->conf, old->right);
        e->score_head = (e->score_head + 1) % cap;
        e->score_len--;
    }
    e->score_ring[(e->score_head + e->score_len++) % cap] = (scored){conf, (uint8_t)(right != 0)};
    e->score_correct += right != 0;
    if (conf >= 0) pf_reliability_add(&e->recent_rel, conf, right);
}

/* Score waiting decisions whose truth is now known. */
static int settle_pending(evaluator *e)
{
    if (!e->nwait) return 0;
    pf_truth t;
    int rc = load_truth(e, &t);
    if (rc < 0) return rc;
    size_t k = 0;
    for (size_t i = 0; i < e->nwait; i++) {
        int32_t y = pf_truth_get(&t, e->wait[i].id);
        if (y < 0) {
            e->wait[k++] = e->wait[i];
            continue;
        }
        int right = y == e->wait[i].target;
        e->known++;
        e->correct += right;
        if (e->wait[i].conf >= 0) pf_reliability_add(&e->rel, e->wait[i].conf, right);
        recent_score(e, right, e->wait[i].conf);
    }
    e->nwait = k;
    pf_truth_fini(&t);
    return 0;
}

/* e->probs = the model's distributions on every held-out row. */
static int predict_test(evaluator *e, pf_mlp *m, size_t classes)
{
    for (size_t r = 0; r < e->test.n; r += EVAL_CHUNK) {
        size_t k = e->test.n - r < EVAL_CHUNK ? e->test.n - r : EVAL_CHUNK;
        const float *x = e->chunk;
        if (e->test.x)
            x = e->test.x + r * e->test.dim; /* floats already: no copy */
        else
            for (size_t i = 0; i < k; i++) pf_dataset_row(&e->test, r + i, e->chunk + i * e->test.dim);
        int rc = pf_mlp_predict_proba(m, x, k, pf_mlp_temperature(m), e->probs + r * classes);
        if (rc < 0) return rc;
    }
    return 0;
}

static int evaluate(evaluator *e, pf_ctx *ctx, int final)
{
    pf_mlp *m = e->latest;
    size_t n = e->test.n, c = (size_t)pf_ctx_graph(ctx)->cfg.classes;
    int rc = predict_test(e, m, c);
    if (rc < 0) return rc;
    if ((rc = pf_metrics_compute(&e->mt, e->probs, e->test.labels, n)) < 0) return rc;
    /* Conformal: even rows calibrate, odd rows test. */
    size_t half = n / 2;
    float *cp = malloc(half * c * sizeof *cp), *tp = malloc((n - half) * c * sizeof *tp);
    int32_t *cy = malloc(half * sizeof *cy), *ty = malloc((n - half) * sizeof *ty);
    double qhat = 1, coverage = 0, set_size = 0;
    if (cp && tp && cy && ty) {
        size_t a = 0, b = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 2 == 0 && a < half) {
                memcpy(cp + a * c, e->probs + i * c, c * sizeof *cp);
                cy[a++] = e->test.labels[i];
            } else {
                memcpy(tp + b * c, e->probs + i * c, c * sizeof *tp);
                ty[b++] = e->test.labels[i];
            }
        }
        if (pf_conformal_lac_fit(cp, cy, a, c, e->cfg.alpha, &qhat) == 0)
            pf_conformal_lac_eval(tp, ty, b, c, qhat, &coverage, &set_size);
    }
    free(cp), free(tp), free(cy), free(ty);
    if ((rc = settle_pending(e)) < 0) return rc;

    pf_mlp_counters k = pf_mlp_get_counters(m);
    char conf[32], ece[32], r_conf[32], r_ece[32];
    reliability_json(&e->rel, conf, ece);
    reliability_json(&e->recent_rel, r_conf, r_ece);
    char *p = e->last_line, *end = e->last_line + sizeof e->last_line;
    p += snprintf(p, (size_t)(end - p),
                  "{\"eval\": %llu, \"final\": %s, \"version\": %llu, \"steps\": %llu, \"samples_seen\": %llu, "
                  "\"uptime_s\": %.3f, \"test_n\": %zu, \"accuracy\": %.6f, \"macro_f1\": %.6f, \"nll\": %.6f, "
                  "\"ece\": %.6f, \"brier\": %.6f, \"per_class_accuracy\": [",
                  (unsigned long long)++e->evals, final ? "true" : "false", (unsigned long long)k.version,
                  (unsigned long long)k.steps, (unsigned long long)k.samples_seen,
                  (double)(pf_ctx_now_ms(ctx) - e->started_ms) / 1000.0, n, e->mt.accuracy, e->mt.macro_f1, e->mt.nll, e->mt.ece,
                  e->mt.brier);
    for (size_t j = 0; j < c && p < end; j++)
        p += snprintf(p, (size_t)(end - p), "%s%.6f", j ? ", " : "", isnan(e->mt.recall[j]) ? -1.0 : e->mt.recall[j]);
    if (p < end)
        p += snprintf(p, (size_t)(end - p),
                      "], \"conformal\": {\"alpha\": %.4f, \"qhat\": %.6f, \"coverage\": %.6f, \"set_size\": %.4f}, "
                      "\"pseudo\": {\"decided\": %llu, \"accepted\": %llu, \"coverage\": %.6f, \"known\": %llu, "
                      "\"precision\": %.6f, \"confidence\": %s, \"ece\": %s, \"recent\": {\"decided\": %llu, "
                      "\"accepted\": %llu, \"coverage\": %.6f, \"known\": %llu, \"precision\": %.6f, "
                      "\"confidence\": %s, \"ece\": %s}}, \"prequential\": {\"seen\": %llu, \"accuracy\": %.6f}}",
                      e->cfg.alpha, qhat, coverage, set_size, (unsigned long long)e->decided,
                      (unsigned long long)e->accepted, ratio(e->accepted, e->decided), (unsigned long long)e->known,
                      ratio(e->correct, e->known), conf, ece,
                      (unsigned long long)e->dec_len, (unsigned long long)e->dec_accepted,
                      ratio(e->dec_accepted, e->dec_len), (unsigned long long)e->score_len,
                      ratio(e->score_correct, e->score_len), r_conf, r_ece,
                      (unsigned long long)k.preq_seen,
                      k.preq_seen ? (double)k.preq_correct / (double)k.preq_seen : 0.0);
    fprintf(e->jsonl, "%s\n", e->last_line);
    fflush(e->jsonl);
    e->latest_scored = 1;
    e->last_eval_seen = k.samples_seen;
    pf_ctx_gauge(ctx, "accuracy", e->mt.accuracy);
    pf_ctx_gauge(ctx, "macro_f1", e->mt.macro_f1);
    pf_ctx_gauge(ctx, "ece", e->mt.ece);
    pf_ctx_gauge(ctx, "pseudo_precision", ratio(e->correct, e->known));
    pf_ctx_gauge(ctx, "pseudo_coverage", ratio(e->accepted, e->decided));
    if (e->rel.n) pf_ctx_gauge(ctx, "pseudo_confidence", pf_reliability_confidence(&e->rel)); /* none yet: no gauge */
    PF_INFO("model v%llu after %llu samples: accuracy %.4f, macro-F1 %.4f, NLL %.4f, ECE %.4f; pseudo-labels "
            "precision %.4f coverage %.4f; the last %zu: %.4f / %.4f at mean confidence %.4f",
            (unsigned long long)k.version, (unsigned long long)k.samples_seen, e->mt.accuracy, e->mt.macro_f1,
            e->mt.nll, e->mt.ece, ratio(e->correct, e->known), ratio(e->accepted, e->decided), e->dec_len,
            ratio(e->score_correct, e->score_len), ratio(e->dec_accepted, e->dec_len),
            pf_reliability_confidence(&e->recent_rel));
    return 0;
}

static int width_error(const evaluator *e, unsigned width)
{
    return pf_errorf(PF_ECONFIG,
                     "evaluator: the student's snapshots take %u features per row but the held-out "
                     "set '%s' has %zu; give the evaluator held-out data of the stream's width",
                     width, e->cfg.images, e->test.dim);
}

static int on_model(evaluator *e, pf_ctx *ctx, const Pf__Model *msg)
{
    pf_mlp *m = NULL;
    if (pf_mlp_from_proto(msg, &m) < 0) {
        e->unreadable++;
        pf_ctx_count(ctx, "bad_snapshots", 1);
        PF_WARN("ignored a snapshot: %s", pf_error_last());
        return 0;
    }
    unsigned width = pf_mlp_input_dim(m);
    if (width != e->test.dim) {
        pf_mlp_destroy(&m);
        return width_error(e, width);
    }
    pf_mlp_counters k0 = e->latest ? pf_mlp_get_counters(e->latest) : (pf_mlp_counters){0};
    pf_mlp_counters k1 = pf_mlp_get_counters(m);
    if (e->latest && k0.version == k1.version && k0.steps == k1.steps) { /* a re-published copy (node_loop.c) */
        pf_mlp_destroy(&m);
        return 0;
    }
    pf_mlp_destroy(&e->latest);
    e->latest = m;
    e->latest_scored = 0;
    pf_mlp_counters k = pf_mlp_get_counters(m);
    if (e->evals == 0 || k.samples_seen >= e->last_eval_seen + (uint64_t)e->cfg.every) return evaluate(e, ctx, 0);
    return 0;
}

static int on_decisions(evaluator *e, pf_ctx *ctx, const Pf__Batch *b)
{
    for (size_t i = 0; i < b->n_ids; i++) {
        if (b->n_labels && b->labels[i] >= 0) continue; /* given labels are not pseudo-labels */
        e->decided++;
        int accepted = b->n_flags && (b->flags[i] & PF_FLAG_ACCEPTED) && b->n_targets;
        recent_decision(e, accepted);
        if (!accepted) continue;
        e->accepted++;
        if (e->nwait == e->wait_cap) {
            if (e->wait_cap >= PENDING_MAX) continue;
            size_t cap = e->wait_cap ? e->wait_cap * 2 : 4096;
            pending *w = realloc(e->wait, cap * sizeof *w);
            if (!w) return pf_errorf(PF_ENOMEM, "evaluator: out of memory");
            e->wait = w, e->wait_cap = cap;
        }
        int32_t t = b->targets[i];
        size_t c = b->classes;
        float conf = c && t >= 0 && (size_t)t < c && b->n_probs == b->n_ids * c ? b->probs[i * c + (size_t)t] : -1.0f;
        e->wait[e->nwait++] = (pending){b->ids[i], t, conf};
    }
    return 0;
}

static int eval_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    evaluator *e = state;
    return port == PORT_MODEL ? on_model(e, ctx, msg->u.model) : on_decisions(e, ctx, msg->u.batch);
}

static int eval_drain(void *state, pf_ctx *ctx)
{
    evaluator *e = state;
    if (!e->latest) {
        if (e->unreadable)
            PF_WARN("none of the %llu model snapshots could be read (see above); nothing to score",
                    (unsigned long long)e->unreadable);
        else
            PF_WARN("the stream ended without a single model snapshot; nothing to score");
        return 0;
    }
    /* The last snapshot is scored once: now, unless on_model already did. */
    int rc = e->latest_scored ? 0 : evaluate(e, ctx, 1);
    if (rc < 0) return rc;
    FILE *f = fopen(e->summary_path, "w");
    if (!f) return pf_errorf(PF_EIO, "evaluator: cannot write '%s'", e->summary_path);
    fprintf(f, "%s\n", e->last_line);
    fclose(f);
    return 0;
}

static void eval_stop(void **state, pf_ctx *ctx)
{
    if (*state) eval_free(*state);
    *state = NULL;
}

static const pf_node_ops eval_ops = {
    .configure = eval_configure,
    .start = eval_start,
    .process = eval_process,
    .drain = eval_drain,
    .stop = eval_stop,
};

const pf_kind pf_kind_evaluator = {
    .name = "evaluator",
    .summary = "scores snapshots on held-out data (accuracy, F1, NLL, ECE, conformal) and pseudo-label precision",
    .params = eval_params,
    .config_size = sizeof(eval_cfg),
    .ports = eval_ports,
    .flags = 0,
    .ops = &eval_ops,
};
