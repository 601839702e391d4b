/*
 * conformal.c - split conformal LAC sets: calibration quantile and test
 * coverage (formulas in conformal.h).
 *
 * Scores are computed in double as 1 − (double)p in both fit and eval, so a
 * calibration sample whose score equals q̂ is inside its own set: the ≤ in
 * C(x) is honored bit for bit. The quantile is found by sorting a copy of
 * the n scores (O(n log n) on a few thousand held-out samples is nothing
 * next to the forward pass that produced them). Stream drift handling and
 * APS scores are not here; the evaluator reports coverage as measured.
 */
#include "models/conformal.h"

#include <math.h>
#include <stdlib.h>

#include "runtime/error.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int pf_conformal_lac_fit(const float *probs, const int32_t *labels, size_t n, size_t classes,
                         double alpha, double *qhat)
{
    if (n == 0) return pf_errorf(PF_EINVAL, "conformal: no calibration samples");
    if (!(alpha > 0.0 && alpha < 1.0))
        return pf_errorf(PF_EINVAL, "conformal: alpha %g outside (0, 1)", alpha);
    double *s = malloc(n * sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "conformal: %zu scores", n);
    for (size_t i = 0; i < n; i++) {
        int32_t y = labels[i];
        if (y < 0 || (size_t)y >= classes || !isfinite(probs[i * classes + y])) {
            free(s);
            return pf_errorf(PF_EINVAL, "conformal: sample %zu: bad label %d or probability", i,
                             (int)y);
        }
        s[i] = 1.0 - (double)probs[i * classes + y];
    }
    /* k = ⌈(n+1)(1−α)⌉; the small epsilon keeps e.g. (9+1)·0.9 = 9.000000000000002
     * from becoming 10 through floating-point noise. */
    double kf = ceil((double)(n + 1) * (1.0 - alpha) - 1e-9);
    if (kf > (double)n) {
        *qhat = 1.0;
    } else {
        size_t k = kf < 1.0 ? 1 : (size_t)kf;
        qsort(s, n, sizeof *s, cmp_double);
        *qhat = s[k - 1];
    }
    free(s);
    return 0;
}

int pf_conformal_lac_eval(const float *probs, const int32_t *labels, size_t n, size_t classes,
                          double qhat, double *coverage, double *mean_set_size)
{
    if (n == 0) return pf_errorf(PF_EINVAL, "conformal: no test samples");
    size_t covered = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = probs + i * classes;
        int32_t y = labels ? labels[i] : -1;
        if (labels && (y < 0 || (size_t)y >= classes))
            return pf_errorf(PF_EINVAL, "conformal: sample %zu: label %d outside [0, %zu)", i,
                             (int)y, classes);
        for (size_t c = 0; c < classes; c++) {
            if (1.0 - (double)p[c] <= qhat) {
                total++;
                if ((int32_t)c == y) covered++;
            }
        }
    }
    *coverage = (double)covered / (double)n;
    *mean_set_size = (double)total / (double)n;
    return 0;
}
