/*
 * policy.c - acceptance and weighting policies of the filter (see policy.h).
 */
#include "nodes/policy.h"
#include "runtime/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TINY 1e-12

int pf_policy_init(pf_policy *pp, pf_policy_kind kind, size_t classes, double tau, double momentum,
                   double min_weight, int align)
{
    memset(pp, 0, sizeof *pp);
    size_t k = classes ? classes : 1;
    pp->p_model = malloc(k * sizeof *pp->p_model);
    pp->batch_mean = malloc(k * sizeof *pp->batch_mean);
    pp->hist = calloc(k * PF_POLICY_BINS, sizeof *pp->hist);
    pp->cut = malloc(k * sizeof *pp->cut);
    pp->scratch = malloc(k * sizeof *pp->scratch);
    if (!pp->p_model || !pp->batch_mean || !pp->hist || !pp->cut || !pp->scratch) {
        pf_policy_free(pp);
        return pf_errorf(PF_ENOMEM, "filter: out of memory for %zu classes", classes);
    }
    pp->kind = kind;
    pp->tau = tau;
    pp->momentum = momentum;
    pp->min_weight = min_weight;
    pp->align = align;
    pp->classes = classes;
    for (size_t c = 0; c < classes; c++) pp->p_model[c] = 1.0 / (double)classes;
    pp->conf_mean = classes ? 1.0 / (double)classes : 0;
    pp->conf_var = 1.0;
    pp->keep = 0.5;
    pp->min_count = 50;
    for (size_t c = 0; c < classes; c++) pp->cut[c] = -1.0;
    return 0;
}

void pf_policy_set_quantile(pf_policy *pp, double keep, double min_count)
{
    pp->keep = keep;
    pp->min_count = min_count;
}

void pf_policy_free(pf_policy *pp)
{
    free(pp->p_model);
    free(pp->batch_mean);
    free(pp->hist);
    free(pp->cut);
    free(pp->scratch);
    pp->p_model = pp->batch_mean = pp->hist = pp->cut = NULL;
    pp->scratch = NULL;
}

static size_t argmax(const float *p, size_t classes)
{
    size_t best = 0;
    for (size_t c = 1; c < classes; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

double pf_policy_margin(const float *p, size_t classes)
{
    if (classes < 2) return HUGE_VAL;
    size_t a = argmax(p, classes), b = a == 0 ? 1 : 0;
    for (size_t j = 0; j < classes; j++)
        if (j != a && p[j] > p[b]) b = j;
    if (!(p[b] > 0)) return HUGE_VAL;
    return log((double)p[a]) - log((double)p[b]);
}

static size_t bin_of(double margin)
{
    double b = PF_POLICY_BINS_PER_OCTAVE * log2(1.0 + fmax(margin, 0.0));
    return b < PF_POLICY_BINS - 1 ? (size_t)b : PF_POLICY_BINS - 1;
}

/* Quantile: decay every class's histogram by m, add this batch's rows
 * (aligned first, as pf_policy_decide will see them), and put each cut at
 * the lower edge of the bin where the top `keep` of the class's mass
 * starts. A class seen less than min_count times keeps tau. */
static void observe_quantile(pf_policy *pp, const float *probs, const int32_t *labels, size_t n)
{
    size_t c = pp->classes;
    float *q = pp->scratch;
    for (size_t j = 0; j < c * PF_POLICY_BINS; j++) pp->hist[j] *= pp->momentum;
    for (size_t i = 0; i < n; i++) {
        if (labels && labels[i] >= 0) continue;
        const float *p = probs + i * c;
        if (pp->align) {
            pf_policy_align(pp, p, q);
            p = q;
        }
        size_t y = argmax(p, c);
        pp->hist[y * PF_POLICY_BINS + bin_of(pf_policy_margin(p, c))] += 1.0;
    }
    for (size_t y = 0; y < c; y++) {
        const double *h = pp->hist + y * PF_POLICY_BINS;
        double total = 0;
        for (size_t b = 0; b < PF_POLICY_BINS; b++) total += h[b];
        if (total < pp->min_count) {
            pp->cut[y] = -1.0;
            continue;
        }
        double above = 0, want = pp->keep * total;
        size_t b = PF_POLICY_BINS;
        while (b > 0 && above < want) above += h[--b];
        pp->cut[y] = exp2((double)b / PF_POLICY_BINS_PER_OCTAVE) - 1.0;
    }
}

/* p~, the mean confidence and its variance. */
static void observe_emas(pf_policy *pp, const float *probs, const int32_t *labels, size_t n)
{
    size_t c = pp->classes, u = 0;
    double *mean = pp->batch_mean, sum = 0, sq = 0;
    for (size_t j = 0; j < c; j++) mean[j] = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels && labels[i] >= 0) continue;
        const float *p = probs + i * c;
        for (size_t j = 0; j < c; j++) mean[j] += p[j];
        double conf = p[argmax(p, c)];
        sum += conf, sq += conf * conf;
        u++;
    }
    if (u == 0) return;
    double m = pp->momentum, bm = sum / (double)u;
    double bv = u > 1 ? (sq - (double)u * bm * bm) / (double)(u - 1) : 0;
    for (size_t j = 0; j < c; j++) pp->p_model[j] = m * pp->p_model[j] + (1 - m) * mean[j] / (double)u;
    pp->conf_mean = m * pp->conf_mean + (1 - m) * bm;
    pp->conf_var = m * pp->conf_var + (1 - m) * (bv > 0 ? bv : 0);
}

void pf_policy_observe(pf_policy *pp, const float *probs, const int32_t *labels, size_t n)
{
    observe_emas(pp, probs, labels, n);
    if (pp->kind == PF_POLICY_QUANTILE) observe_quantile(pp, probs, labels, n);
}

void pf_policy_align(const pf_policy *pp, const float *p, float *q)
{
    size_t c = pp->classes;
    if (!pp->align) {
        memcpy(q, p, c * sizeof *q);
        return;
    }
    double z = 0;
    for (size_t j = 0; j < c; j++) {
        q[j] = (float)(p[j] / (pp->p_model[j] > TINY ? pp->p_model[j] : TINY));
        z += q[j];
    }
    for (size_t j = 0; j < c; j++) q[j] = z > 0 ? (float)(q[j] / z) : 1.0f / (float)c;
}

int32_t pf_policy_decide(const pf_policy *pp, const float *p, float *w)
{
    size_t c = pp->classes, best = argmax(p, c);
    double conf = p[best], keep_from;
    *w = 0.0f;
    switch (pp->kind) {
    case PF_POLICY_FIXMATCH:
        keep_from = pp->tau;
        break;
    case PF_POLICY_QUANTILE: /* by margin against the class's cut; tau for a class seen too rarely yet */
        if (pp->cut[best] >= 0) conf = pf_policy_margin(p, c);
        keep_from = pp->cut[best] >= 0 ? pp->cut[best] : pp->tau;
        break;
    case PF_POLICY_FREEMATCH: {
        double top = 0;
        for (size_t j = 0; j < c; j++)
            if (pp->p_model[j] > top) top = pp->p_model[j];
        keep_from = pp->conf_mean * (top > TINY ? pp->p_model[best] / top : 1.0);
        break;
    }
    case PF_POLICY_SOFTMATCH: {
        /* w = exp(-(min(conf - mu, 0))^2 / (2 sigma^2 / n_sigma^2)), n_sigma = 2 */
        double d = conf < pp->conf_mean ? conf - pp->conf_mean : 0.0;
        double var = pp->conf_var > TINY ? pp->conf_var : TINY;
        double wt = exp(-d * d / (2.0 * var / 4.0));
        if (wt < pp->min_weight) return -1;
        *w = (float)wt;
        return (int32_t)best;
    }
    default:
        return -1;
    }
    if (conf < keep_from) return -1;
    *w = 1.0f;
    return (int32_t)best;
}
