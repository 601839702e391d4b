/*
 * metrics.h - classification metrics of predicted probabilities against
 * labels: accuracy, macro-F1, per-class accuracy, NLL, ECE, Brier score,
 * confusion matrix. The evaluator's numbers come from here.
 *
 *     pf_metrics mt;
 *     if (pf_metrics_init(&mt, classes) < 0) ...;
 *     pf_metrics_compute(&mt, probs, labels, n);   // probs [n, classes]
 *     printf("acc %.4f  ece %.4f\n", mt.accuracy, mt.ece);
 *     pf_metrics_fini(&mt);
 *
 * Definitions (ŷ = argmax_c p_c, ties to the lowest index; conf = p_ŷ):
 *   accuracy    (1/n) Σ 1[ŷ = y]
 *   recall[c]   per-class accuracy: correct / support of class c; NaN when
 *               class c has no samples
 *   macro_f1    mean over classes present in labels or predictions of
 *               F1_c = 2TP / (2TP + FP + FN) (scikit-learn's default set)
 *   nll         (1/n) Σ −log max(p_y, 1e-12)
 *   ece         Σ_m (|B_m|/n) · |acc(B_m) − conf(B_m)|, 15 equal-width bins
 *               (l, u] over conf (METHODS.md); conf = 0 goes to the first bin;
 *               conf is clamped to [0, 1] (pf_reliability_add)
 *   brier       (1/n) Σ_i Σ_c (p_ic − 1[c = y_i])²
 *   confusion   [classes, classes] row-major: row = true class, column =
 *               predicted class
 * All sums in double.
 */
#ifndef PF_METRICS_H
#define PF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define PF_METRICS_ECE_BINS 15    /* METHODS.md: 15 equal-width bins */
#define PF_METRICS_NLL_CLIP 1e-12 /* floor of p_y inside the log */

typedef struct pf_metrics {
    size_t classes;
    size_t n; /* samples in the last compute */
    double accuracy;
    double macro_f1;
    double nll;
    double ece;
    double brier;
    double *recall;      /* [classes], owned (freed by pf_metrics_fini) */
    uint64_t *confusion; /* [classes * classes], owned */
} pf_metrics;

/* Prepare mt for `classes` classes (>= 2). Errors: PF_EINVAL, PF_ENOMEM. */
int pf_metrics_init(pf_metrics *mt, size_t classes);

/* Free the arrays; NULL-safe and idempotent. */
void pf_metrics_fini(pf_metrics *mt);

/* Compute every metric from probs [n, classes] row-major and labels [n];
 * overwrites the previous results. Rows need not be normalized exactly.
 * Errors: PF_EINVAL (n == 0, label outside [0, classes), a probability
 * not finite or < 0); on error mt's previous values are unspecified. */
int pf_metrics_compute(pf_metrics *mt, const float *probs, const int32_t *labels, size_t n);

/* A running reliability tally: confidences and whether each was right, in
 * the ECE's 15 bins, for predictions scored one at a time (the evaluator's
 * pseudo-labels against their hidden truth). Zero-initialize to start. */
typedef struct pf_reliability {
    uint64_t n, correct;
    double conf_sum;
    double bin_n[PF_METRICS_ECE_BINS], bin_conf[PF_METRICS_ECE_BINS], bin_correct[PF_METRICS_ECE_BINS];
} pf_reliability;

/* Count one prediction of confidence conf (clamped to [0, 1]) that was
 * right (correct != 0) or not. */
void pf_reliability_add(pf_reliability *r, double conf, int correct);

/* Take back one prediction added with the same arguments (a sliding window
 * adds the newest and removes the oldest). */
void pf_reliability_remove(pf_reliability *r, double conf, int correct);

/* Accuracy, mean confidence and ECE (as above) of what was added; 0 when
 * nothing was. */
double pf_reliability_accuracy(const pf_reliability *r);
double pf_reliability_confidence(const pf_reliability *r);
double pf_reliability_ece(const pf_reliability *r);

/* Index of the largest of p[0..classes) (ties: lowest index). */
size_t pf_metrics_argmax(const float *p, size_t classes);

#endif
