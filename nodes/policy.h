/*
 * policy.h - the filter's acceptance and weighting policies, as pure
 * functions of the teacher's class distributions (no sockets, no context),
 * so that their formulas can be tested on hand-computed values.
 *
 * A policy sees each batch twice: pf_policy_observe moves its EMAs by the
 * batch's unlabeled rows, then, per unlabeled row, pf_policy_align (when
 * align is on) and pf_policy_decide give the target and weight.
 *
 *     pf_policy pp;
 *     pf_policy_init(&pp, PF_POLICY_FREEMATCH, classes, 0.95, 0.999, 0.01, 1);
 *     pf_policy_observe(&pp, probs, labels, n);
 *     pf_policy_align(&pp, probs + i * classes, q);
 *     int32_t t = pf_policy_decide(&pp, q, &w);   // -1: rejected
 *     pf_policy_free(&pp);
 *
 * Formulas: METHODS.md "Filter / reweight policies". The quantile policy
 * (percentile thresholds, as in Curriculum Labeling, Cascante-Bonilla et
 * al. 2021, per class as in FlexMatch) keeps a row iff its margin
 * ln(p1 / p2) is in the top `keep` fraction of the recent rows predicted as
 * the same class:
 * ranks, unlike fixed thresholds, do not move when the teacher's
 * temperature does, and every class gets its share. Every EMA moves once
 * per observed batch with momentum m and starts where the papers start it:
 * uniform class distribution, mean confidence 1/C, variance 1.
 */
#ifndef PF_NODES_POLICY_H
#define PF_NODES_POLICY_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PF_POLICY_FIXMATCH,  /* keep iff max p >= tau; weight 1 */
    PF_POLICY_FREEMATCH, /* keep iff max p >= tau_t * p~(y) / max p~; weight 1 */
    PF_POLICY_SOFTMATCH, /* keep all; weight 1 above the mean confidence, Gaussian below */
    PF_POLICY_NONE,      /* reject every unlabeled sample */
    PF_POLICY_QUANTILE,  /* keep the most confident `keep` fraction of each predicted class */
} pf_policy_kind;

/* Quantile: rows are ranked by their margin s = ln(p1 / p2), p1 the largest
 * and p2 the second largest probability (the logit margin, at any
 * temperature a monotone function of the teacher's certainty). Unlike max p,
 * it does not saturate: a float32 max p of exactly 1 still has p2 down to
 * 1e-45, so an overconfident teacher's rows keep distinct ranks. Margins are
 * binned on a log scale, bin = floor(PF_POLICY_BINS_PER_OCTAVE * log2(1 + s)),
 * capped at PF_POLICY_BINS - 1 (s about 245; p2 = 0 counts as that). */
#define PF_POLICY_BINS 128
#define PF_POLICY_BINS_PER_OCTAVE 16.0

typedef struct pf_policy {
    pf_policy_kind kind;
    double tau;        /* fixmatch threshold */
    double momentum;   /* EMA momentum per batch */
    double min_weight; /* softmatch: a lower weight rejects */
    int align;         /* divide by p~ and renormalize before deciding */
    size_t classes;
    double *p_model;    /* [classes]: p~, EMA of the mean unlabeled distribution */
    double *batch_mean; /* [classes]: scratch */
    double conf_mean;   /* EMA of the batch mean of max p (freematch tau_t, softmatch mu) */
    double conf_var;    /* EMA of its unbiased batch variance (softmatch sigma^2) */
    double keep;        /* quantile: fraction of each class kept */
    double min_count;   /* quantile: a class with fewer recent samples is judged by tau */
    double *hist;       /* quantile: [classes * PF_POLICY_BINS], decayed counts by predicted class */
    double *cut;        /* quantile: [classes], the margin a row must reach; < 0: judged by tau */
    float *scratch;     /* [classes] */
} pf_policy;

/* Returns 0 or PF_ENOMEM. */
int pf_policy_init(pf_policy *pp, pf_policy_kind kind, size_t classes, double tau, double momentum,
                   double min_weight, int align);

/* The margin ln(p1 / p2) of a distribution (see PF_POLICY_BINS). */
double pf_policy_margin(const float *p, size_t classes);

/* Quantile settings (defaults: keep 0.5, min_count 50). */
void pf_policy_set_quantile(pf_policy *pp, double keep, double min_count);
void pf_policy_free(pf_policy *pp);

/* Move the EMAs by the rows of probs [n x classes] whose label is < 0
 * (labels may be NULL: all unlabeled). A batch without such rows moves nothing. */
void pf_policy_observe(pf_policy *pp, const float *probs, const int32_t *labels, size_t n);

/* q = p aligned to uniform classes, p / p~ renormalized; a copy of p when
 * align is off. q may not alias p. */
void pf_policy_align(const pf_policy *pp, const float *p, float *q);

/* The decision on one unlabeled distribution: the target class, or -1 to
 * reject; *w the training weight (0 when rejected). */
int32_t pf_policy_decide(const pf_policy *pp, const float *p, float *w);

#endif
