/* Tests for models/metrics.c, conformal.c and calibrate.c: every metric
 * against values worked out by hand in the comments. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/calibrate.h"
#include "models/conformal.h"
#include "models/loss.h"
#include "models/metrics.h"
#include "models/rng.h"
#include "runtime/error.h"

/* Six samples, three classes. Confidences avoid the ECE bin edges k/15.
 *   i  p                    y  ŷ  correct  conf  bin ⌈15·conf⌉−1
 *   0  .75  .15  .10        0  0  yes      .75   11
 *   1  .10  .85  .05        1  1  yes      .85   12
 *   2  .20  .50  .30        2  1  no       .50    7
 *   3  .62  .28  .10        1  0  no       .62    9
 *   4  .05  .10  .85        2  2  yes      .85   12
 *   5  .95  .03  .02        0  0  yes      .95   14
 */
static const float P6[18] = {0.75f, 0.15f, 0.10f, 0.10f, 0.85f, 0.05f, 0.20f, 0.50f, 0.30f,
                             0.62f, 0.28f, 0.10f, 0.05f, 0.10f, 0.85f, 0.95f, 0.03f, 0.02f};
static const int32_t Y6[6] = {0, 1, 2, 1, 2, 0};

Test(metrics, accuracy_and_per_class_accuracy_match_hand_counts)
{
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 3), 0);
    cr_assert_eq(pf_metrics_compute(&mt, P6, Y6, 6), 0, "%s", pf_error_last());
    /* 4 of 6 correct. Class 0: 2/2; class 1: 1/2 (sample 3 wrong); class 2: 1/2. */
    cr_assert_float_eq(mt.accuracy, 4.0 / 6.0, 1e-12);
    cr_assert_float_eq(mt.recall[0], 1.0, 1e-12);
    cr_assert_float_eq(mt.recall[1], 0.5, 1e-12);
    cr_assert_float_eq(mt.recall[2], 0.5, 1e-12);
    /* Confusion, rows = true: [2 0 0; 1 1 0; 0 1 1]. */
    const uint64_t expect[9] = {2, 0, 0, 1, 1, 0, 0, 1, 1};
    cr_assert_eq(memcmp(mt.confusion, expect, sizeof expect), 0);
    cr_assert_eq(mt.n, 6);
    pf_metrics_fini(&mt);
    pf_metrics_fini(&mt); /* idempotent */
}

Test(metrics, macro_f1_matches_hand_computation)
{
    /* F1 = 2TP/(2TP+FP+FN): class 0: TP 2, FP 1, FN 0 → 4/5;
     * class 1: TP 1, FP 1, FN 1 → 2/4; class 2: TP 1, FP 0, FN 1 → 2/3.
     * Mean (0.8 + 0.5 + 0.666667)/3 = 0.655556. */
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 3), 0);
    cr_assert_eq(pf_metrics_compute(&mt, P6, Y6, 6), 0);
    cr_assert_float_eq(mt.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0, 1e-12);
    cr_assert_float_eq(mt.macro_f1, 0.655556, 1e-6);
    pf_metrics_fini(&mt);
}

Test(metrics, nll_matches_hand_computation)
{
    /* p_y = .75 .85 .30 .28 .85 .95; −ln: 0.287682 0.162519 1.203973 1.272966
     * 0.162519 0.051293; sum 3.140952; mean 0.523492. */
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 3), 0);
    cr_assert_eq(pf_metrics_compute(&mt, P6, Y6, 6), 0);
    cr_assert_float_eq(mt.nll, 0.523492, 1e-6);
    pf_metrics_fini(&mt);
}

Test(metrics, ece_matches_hand_computation)
{
    /* Bins: 11 {0: conf .75, acc 1}, 12 {1, 4: conf 1.70, acc 2}, 7 {2: .50, 0},
     * 9 {3: .62, 0}, 14 {5: .95, 1}. ECE = Σ |Σacc − Σconf| / n
     * = (0.25 + 0.30 + 0.50 + 0.62 + 0.05) / 6 = 1.72 / 6 = 0.286667. */
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 3), 0);
    cr_assert_eq(pf_metrics_compute(&mt, P6, Y6, 6), 0);
    cr_assert_float_eq(mt.ece, 1.72 / 6.0, 1e-6);
    pf_metrics_fini(&mt);
}

Test(metrics, brier_matches_hand_computation)
{
    /* Per sample Σ_c (p_c − 1[c=y])²: .095 .035 .78 .9128 .035 .0038; sum 1.8616;
     * mean 0.310267. */
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 3), 0);
    cr_assert_eq(pf_metrics_compute(&mt, P6, Y6, 6), 0);
    cr_assert_float_eq(mt.brier, 1.8616 / 6.0, 1e-6);
    pf_metrics_fini(&mt);
}

Test(metrics, ece_bins_are_closed_on_the_right)
{
    /* Two samples with confidence exactly 0.5 (in (7/15, 8/15]) and 1.0 (in
     * (14/15, 1]), both correct: ECE = (0.5 + 0) / 2 = 0.25. Confidence 1.0
     * must not fall off the last bin. */
    const float p[4] = {0.5f, 0.5f, 0.0f, 1.0f};
    const int32_t y[2] = {0, 1};
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 2), 0);
    cr_assert_eq(pf_metrics_compute(&mt, p, y, 2), 0);
    cr_assert_float_eq(mt.ece, 0.25, 1e-12);
    /* p_y = 0 for no sample here; a zero probability is clipped in the NLL: */
    const int32_t y_wrong[2] = {0, 0};
    cr_assert_eq(pf_metrics_compute(&mt, p, y_wrong, 2), 0);
    cr_assert_float_eq(mt.nll, (-log(0.5) - log(1e-12)) / 2.0, 1e-9);
    pf_metrics_fini(&mt);
}

Test(metrics, absent_classes_have_nan_recall_and_are_left_out_of_macro_f1)
{
    /* The six samples scored as a 4-class problem with class 3 never seen or
     * predicted: recall[3] is NaN and macro-F1 is unchanged. */
    float p[24];
    for (int i = 0; i < 6; i++) {
        memcpy(p + i * 4, P6 + i * 3, 3 * sizeof(float));
        p[i * 4 + 3] = 0.0f;
    }
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 4), 0);
    cr_assert_eq(pf_metrics_compute(&mt, p, Y6, 6), 0);
    cr_assert(isnan(mt.recall[3]));
    cr_assert_float_eq(mt.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0, 1e-12);
    pf_metrics_fini(&mt);
}

Test(metrics, bad_inputs_are_errors)
{
    pf_metrics mt;
    cr_assert_eq(pf_metrics_init(&mt, 1), PF_EINVAL);
    cr_assert_eq(pf_metrics_init(&mt, 3), 0);
    int32_t y[6];
    memcpy(y, Y6, sizeof y);
    y[4] = 3;
    cr_assert_eq(pf_metrics_compute(&mt, P6, y, 6), PF_EINVAL);
    cr_assert(strstr(pf_error_last(), "sample 4: label 3"), "%s", pf_error_last());
    float p[18];
    memcpy(p, P6, sizeof p);
    p[7] = NAN;
    cr_assert_eq(pf_metrics_compute(&mt, p, Y6, 6), PF_EINVAL);
    cr_assert_eq(pf_metrics_compute(&mt, P6, Y6, 0), PF_EINVAL);
    pf_metrics_fini(&mt);
}

/* ---- conformal ---------------------------------------------------------- */

Test(conformal, qhat_is_the_ceil_n_plus_1_quantile)
{
    /* Nine calibration samples, 2 classes, p_y = .95 .85 ... .15: scores
     * 1 − p_y = .05 .15 ... .85. α = 0.2: k = ⌈10 · 0.8⌉ = 8, q̂ = 8th
     * smallest = 1 − 0.25 = .75. */
    float p[18];
    int32_t y[9];
    for (int i = 0; i < 9; i++) {
        float py = 0.95f - 0.1f * (float)i;
        y[i] = i % 2;
        p[i * 2 + y[i]] = py;
        p[i * 2 + 1 - y[i]] = 1.0f - py;
    }
    double q;
    cr_assert_eq(pf_conformal_lac_fit(p, y, 9, 2, 0.2, &q), 0);
    cr_assert_float_eq(q, 1.0 - (double)(0.95f - 0.1f * 7.0f), 1e-15);
    /* α = 0.05: k = ⌈9.5⌉ = 10 > 9, too few samples: q̂ = 1 (all classes). */
    cr_assert_eq(pf_conformal_lac_fit(p, y, 9, 2, 0.05, &q), 0);
    cr_assert_eq(q, 1.0);
    cr_assert_eq(pf_conformal_lac_fit(p, y, 9, 2, 0.0, &q), PF_EINVAL);
}

Test(conformal, coverage_and_set_size_on_a_constructed_case)
{
    /* q̂ = 0.6: class c is in the set iff p_c ≥ 0.4.
     *   p                y   set      covered
     *   .70 .20 .10      0   {0}      yes
     *   .45 .45 .10      1   {0,1}    yes
     *   .30 .30 .40      0   {2}      no
     *   .50 .10 .40      2   {0,2}    yes
     * coverage 3/4, mean set size (1 + 2 + 1 + 2)/4 = 1.5. */
    const float p[12] = {0.70f, 0.20f, 0.10f, 0.45f, 0.45f, 0.10f,
                         0.30f, 0.30f, 0.40f, 0.50f, 0.10f, 0.40f};
    const int32_t y[4] = {0, 1, 0, 2};
    double cov, size;
    cr_assert_eq(pf_conformal_lac_eval(p, y, 4, 3, 0.6, &cov, &size), 0);
    cr_assert_float_eq(cov, 0.75, 1e-12);
    cr_assert_float_eq(size, 1.5, 1e-12);
    int32_t bad[4] = {0, 1, 5, 2};
    cr_assert_eq(pf_conformal_lac_eval(p, bad, 4, 3, 0.6, &cov, &size), PF_EINVAL);
}

/* Logits z ~ N(0, scale²) per class, labels drawn from softmax(z / T_true). */
static void sample_logits(size_t n, size_t C, double scale, double T_true, uint64_t seed, float *z,
                          int32_t *y)
{
    pf_rng r;
    pf_rng_seed(&r, seed);
    float *p = malloc(C * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < C; c++)
            z[i * C + c] = (float)(scale * pf_rng_normal(&r));
        pf_loss_softmax(z + i * C, 1, C, (float)T_true, p);
        double u = pf_rng_uniform(&r), acc = 0.0;
        y[i] = (int32_t)(C - 1);
        for (size_t c = 0; c < C; c++) {
            acc += p[c];
            if (u < acc) {
                y[i] = (int32_t)c;
                break;
            }
        }
    }
    free(p);
}

Test(conformal, exchangeable_data_is_covered_at_the_requested_rate)
{
    /* Labels drawn from the model's own probabilities: exchangeable, so with
     * α = 0.1 the test coverage is ≥ 0.9 in expectation; over 5000 test
     * samples its spread is about ±0.004 per sd. */
    enum { NCAL = 2000, NTEST = 5000, C = 5 };
    float *z = malloc((NCAL + NTEST) * C * sizeof *z);
    int32_t *y = malloc((NCAL + NTEST) * sizeof *y);
    sample_logits(NCAL + NTEST, C, 2.0, 1.0, 7, z, y);
    pf_loss_softmax(z, NCAL + NTEST, C, 1.0f, z); /* probabilities in place */
    double q, cov, size;
    cr_assert_eq(pf_conformal_lac_fit(z, y, NCAL, C, 0.1, &q), 0);
    cr_assert_eq(pf_conformal_lac_eval(z + NCAL * C, y + NCAL, NTEST, C, q, &cov, &size), 0);
    cr_assert(cov > 0.88 && cov < 0.93, "coverage %g", cov);
    cr_assert(size > 1.0 && size < C, "mean set size %g", size);
    free(y);
    free(z);
}

/* ---- temperature scaling ------------------------------------------------ */

Test(calibrate, temperature_scaling_recovers_a_known_temperature)
{
    enum { N = 20000, C = 5 };
    float *z = malloc(N * C * sizeof *z);
    int32_t *y = malloc(N * sizeof *y);
    sample_logits(N, C, 3.0, 2.0, 11, z, y);
    float T;
    cr_assert_eq(pf_calibrate_temperature(z, y, N, C, &T), 0, "%s", pf_error_last());
    cr_assert(T > 1.8f && T < 2.2f, "fitted T = %g", (double)T);

    /* It is the minimum: NLL at T below NLL at 1 and at T ± 10%. */
    double at_t, at_1, lo, hi;
    cr_assert_eq(pf_calibrate_nll(z, y, N, C, T, &at_t), 0);
    cr_assert_eq(pf_calibrate_nll(z, y, N, C, 1.0f, &at_1), 0);
    cr_assert_eq(pf_calibrate_nll(z, y, N, C, T * 0.9f, &lo), 0);
    cr_assert_eq(pf_calibrate_nll(z, y, N, C, T * 1.1f, &hi), 0);
    cr_assert_lt(at_t, at_1);
    cr_assert_lt(at_t, lo);
    cr_assert_lt(at_t, hi);

    /* Accuracy unchanged; calibration (ECE) improved. */
    float *p1 = malloc(N * C * sizeof *p1), *pt = malloc(N * C * sizeof *pt);
    pf_loss_softmax(z, N, C, 1.0f, p1);
    pf_loss_softmax(z, N, C, T, pt);
    pf_metrics m1, mt;
    cr_assert_eq(pf_metrics_init(&m1, C), 0);
    cr_assert_eq(pf_metrics_init(&mt, C), 0);
    cr_assert_eq(pf_metrics_compute(&m1, p1, y, N), 0);
    cr_assert_eq(pf_metrics_compute(&mt, pt, y, N), 0);
    cr_assert_eq(m1.accuracy, mt.accuracy);
    cr_assert_lt(mt.ece, m1.ece);
    cr_assert_lt(mt.ece, 0.02, "ECE after scaling %g", mt.ece);
    pf_metrics_fini(&m1);
    pf_metrics_fini(&mt);
    free(pt);
    free(p1);
    free(y);
    free(z);
}

Test(calibrate, a_calibrated_model_keeps_temperature_one)
{
    enum { N = 20000, C = 4 };
    float *z = malloc(N * C * sizeof *z);
    int32_t *y = malloc(N * sizeof *y);
    sample_logits(N, C, 2.0, 1.0, 12, z, y);
    float T;
    cr_assert_eq(pf_calibrate_temperature(z, y, N, C, &T), 0);
    cr_assert(T > 0.9f && T < 1.1f, "fitted T = %g", (double)T);
    free(y);
    free(z);
}

Test(calibrate, nll_is_ln_classes_for_zero_logits_and_rejects_bad_input)
{
    float z[6] = {0, 0, 0, 0, 0, 0};
    int32_t y[2] = {0, 2};
    double nll;
    cr_assert_eq(pf_calibrate_nll(z, y, 2, 3, 1.0f, &nll), 0);
    cr_assert_float_eq(nll, log(3.0), 1e-12);
    cr_assert_eq(pf_calibrate_nll(z, y, 2, 3, NAN, &nll), PF_EINVAL);
    z[4] = INFINITY;
    float T;
    cr_assert_eq(pf_calibrate_temperature(z, y, 2, 3, &T), PF_EINVAL);
    y[1] = 3;
    z[4] = 0;
    cr_assert_eq(pf_calibrate_temperature(z, y, 2, 3, &T), PF_EINVAL);
}

Test(metrics, a_reliability_tally_gives_the_hand_computed_accuracy_confidence_and_ece)
{
    pf_reliability r = {0};
    cr_assert_eq(pf_reliability_ece(&r), 0.0);
    cr_assert_eq(pf_reliability_accuracy(&r), 0.0);
    cr_assert_eq(pf_reliability_confidence(&r), 0.0);
    /* Bins (l, u] of width 1/15: 0.9 -> 13 (twice, one right), 0.5 -> 7
     * (right), 0.2 -> 2 (wrong). ECE = (|1 - 1.8| + |1 - 0.5| + |0 - 0.2|)
     * / 4 = 0.375; accuracy 2/4; mean confidence 2.5/4. */
    pf_reliability_add(&r, 0.9, 1);
    pf_reliability_add(&r, 0.9, 0);
    pf_reliability_add(&r, 0.5, 1);
    pf_reliability_add(&r, 0.2, 0);
    cr_assert_float_eq(pf_reliability_ece(&r), 0.375, 1e-12);
    cr_assert_float_eq(pf_reliability_accuracy(&r), 0.5, 1e-12);
    cr_assert_float_eq(pf_reliability_confidence(&r), 0.625, 1e-12);
    /* Out-of-range confidences are clamped: 1.5 counts as 1 (bin 14, right:
     * gap 0), -0.1 as 0 (bin 0, wrong: gap 0). ECE = 1.5 / 6. */
    pf_reliability_add(&r, 1.5, 1);
    pf_reliability_add(&r, -0.1, 0);
    cr_assert_float_eq(pf_reliability_ece(&r), 1.5 / 6, 1e-12);
    cr_assert_float_eq(pf_reliability_confidence(&r), 3.5 / 6, 1e-12);
    /* Taking back the first four leaves the two clamped ones: ECE 0. */
    pf_reliability_remove(&r, 0.9, 1);
    pf_reliability_remove(&r, 0.9, 0);
    pf_reliability_remove(&r, 0.5, 1);
    pf_reliability_remove(&r, 0.2, 0);
    cr_assert_eq(r.n, 2);
    cr_assert_float_eq(pf_reliability_ece(&r), 0.0, 1e-12);
    cr_assert_float_eq(pf_reliability_accuracy(&r), 0.5, 1e-12);
    cr_assert_float_eq(pf_reliability_confidence(&r), 0.5, 1e-12);
}
