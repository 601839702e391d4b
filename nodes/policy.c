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
    pp->p_model = malloc((classes ? classes : 1) * sizeof *pp->p_model);
    pp->batch_mean = malloc((classes ? classes : 1) * sizeof *pp->batch_mean);
    if (!pp->p_model || !pp->batch_mean) {
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
    return 0;
}

void pf_policy_free(pf_policy *pp)
{
    free(pp->p_model);
    free(pp->batch_mean);
    pp->p_model = pp->batch_mean = NULL;
}

static size_t argmax(const float *p, size_t classes)
{
    size_t best = 0;
    for (size_t c = 1; c < classes; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

void pf_policy_observe(pf_policy *pp, const float *probs, const int32_t *labels, size_t n)
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
