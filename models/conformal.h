/*
 * conformal.h - split conformal prediction sets with the LAC score.
 *
 *     double qhat, coverage, set_size;
 *     pf_conformal_lac_fit(cal_probs, cal_labels, ncal, classes, 0.1, &qhat);
 *     pf_conformal_lac_eval(test_probs, test_labels, ntest, classes, qhat,
 *                           &coverage, &set_size);
 *
 * LAC (least ambiguous set-valued classifier, Sadinle et al. 2019): score
 * s(x, y) = 1 − p_y. On n calibration samples, q̂ is the ⌈(n+1)(1−α)⌉-th
 * smallest score, i.e. the ⌈(n+1)(1−α)⌉/n empirical quantile (METHODS.md),
 * and the set is C(x) = {y : 1 − p_y ≤ q̂}. Under exchangeability the
 * coverage P(y ∈ C(x)) is at least 1 − α; drift breaks that, which is
 * exactly why the evaluator reports the measured coverage.
 * When ⌈(n+1)(1−α)⌉ > n there are too few calibration samples for that
 * guarantee and q̂ = 1: every set holds every class.
 */
#ifndef PF_CONFORMAL_H
#define PF_CONFORMAL_H

#include <stddef.h>
#include <stdint.h>

/* q̂ from probs [n, classes] and labels [n] of the calibration part;
 * alpha in (0, 1). Errors: PF_EINVAL (n == 0, bad alpha, label outside
 * [0, classes), p_y not finite), PF_ENOMEM (n doubles of scratch). */
int pf_conformal_lac_fit(const float *probs, const int32_t *labels, size_t n, size_t classes,
                         double alpha, double *qhat);

/* Coverage (fraction with y ∈ C(x)) and mean |C(x)| of the sets
 * {c : 1 − p_c ≤ qhat} on probs [n, classes], labels [n]. labels may be
 * NULL (coverage then 0; set size still computed). Errors: PF_EINVAL
 * (n == 0, label outside [0, classes)). */
int pf_conformal_lac_eval(const float *probs, const int32_t *labels, size_t n, size_t classes,
                          double qhat, double *coverage, double *mean_set_size);

#endif
