/* Tests for models/mlp.c, mlp_snapshot.c, loss.c, optim.c: gradients against
 * finite differences, learning, determinism, snapshots, EMA, bad inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/loss.h"
#include "models/mlp.h"
#include "models/models.h"
#include "models/optim.h"
#include "models/rng.h"
#include "runtime/error.h"

static void one_thread(void)
{
    pf_models_set_threads(1); /* bit-reproducible BLAS */
}

TestSuite(mlp, .init = one_thread);

/* ---- helpers ------------------------------------------------------------ */

static pf_mlp *new_mlp(const uint32_t *sizes, size_t nsizes, uint64_t seed)
{
    pf_mlp *m = NULL;
    int rc = pf_mlp_new(sizes, nsizes, seed, &m);
    cr_assert_eq(rc, 0, "pf_mlp_new: %s", pf_error_last());
    return m;
}

static float *normal_matrix(size_t n, size_t d, uint64_t seed)
{
    pf_rng r;
    pf_rng_seed(&r, seed);
    float *x = malloc(n * d * sizeof *x);
    for (size_t k = 0; k < n * d; k++)
        x[k] = (float)pf_rng_normal(&r);
    return x;
}

/* n points in `classes` Gaussian blobs (unit variance) in dim dimensions;
 * centers at ±2.5 per coordinate, so the classes are separable in practice. */
static void blobs(size_t n, size_t dim, size_t classes, uint64_t seed, float *x, int32_t *y)
{
    pf_rng r;
    pf_rng_seed(&r, seed);
    float centers[16][16];
    for (size_t c = 0; c < classes; c++)
        for (size_t j = 0; j < dim; j++)
            centers[c][j] = pf_rng_uniform(&r) < 0.5 ? -2.5f : 2.5f;
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % classes);
        for (size_t j = 0; j < dim; j++)
            x[i * dim + j] = centers[y[i]][j] + (float)pf_rng_normal(&r);
    }
}

/* The loss at the current parameters: the whole network's, or with
 * drop > 0 the loss under hidden dropout with the masks of `seed` (re-seeded
 * at every call, so every evaluation draws the same masks); with elr, the
 * ELR term included. */
static double loss_at(pf_mlp *m, const float *x, size_t n, const int32_t *t, const float *soft,
                      const float *w, float T, float drop, uint64_t seed, const pf_mlp_elr *elr)
{
    double loss;
    const float *g;
    if (elr) {
        cr_assert_eq(pf_mlp_set_hidden_dropout(m, drop, seed), 0);
        cr_assert_eq(pf_mlp_loss_grad_elr(m, x, n, t, soft, w, T, elr, &loss, &g), 0, "%s", pf_error_last());
        return loss;
    }
    if (drop == 0.0f) {
        cr_assert_eq(pf_mlp_loss(m, x, n, t, soft, w, T, &loss), 0, "%s", pf_error_last());
        return loss;
    }
    cr_assert_eq(pf_mlp_set_hidden_dropout(m, drop, seed), 0);
    cr_assert_eq(pf_mlp_loss_grad(m, x, n, t, soft, w, T, &loss, &g), 0, "%s", pf_error_last());
    return loss;
}

/* Relative error of the analytic gradient against central differences of
 * the loss, max over parameters; small gradients are measured against 1% of
 * the largest one so rounding noise on near-zero entries does not count.
 * drop > 0: both under hidden dropout with the masks of `seed`. */
static double grad_check_masked(pf_mlp *m, const float *x, size_t n, const int32_t *t, const float *soft,
                                const float *w, float T, float drop, uint64_t seed, const pf_mlp_elr *elr)
{
    size_t P = pf_mlp_nparams(m);
    double loss;
    const float *g;
    if (drop > 0.0f) cr_assert_eq(pf_mlp_set_hidden_dropout(m, drop, seed), 0);
    cr_assert_eq(pf_mlp_loss_grad_elr(m, x, n, t, soft, w, T, elr, &loss, &g), 0, "%s", pf_error_last());
    float *ga = malloc(P * sizeof *ga);
    memcpy(ga, g, P * sizeof *ga);
    double gmax = 0.0;
    for (size_t k = 0; k < P; k++)
        gmax = fmax(gmax, fabs(ga[k]));
    cr_assert_gt(gmax, 1e-3, "gradient is suspiciously zero");

    float *p = pf_mlp_params(m);
    const float eps = 2e-3f; /* float roundoff dominates below 1e-3, ReLU kinks above 3e-3 */
    double worst = 0.0;
    for (size_t k = 0; k < P; k++) {
        float saved = p[k];
        double lp, lm;
        p[k] = saved + eps;
        float hp = p[k] - saved; /* the step actually taken in float */
        lp = loss_at(m, x, n, t, soft, w, T, drop, seed, elr);
        p[k] = saved - eps;
        float hm = saved - p[k];
        lm = loss_at(m, x, n, t, soft, w, T, drop, seed, elr);
        p[k] = saved;
        double num = (lp - lm) / ((double)hp + (double)hm);
        double err = fabs(num - ga[k]) / fmax(fmax(fabs(num), fabs(ga[k])), 0.01 * gmax);
        worst = fmax(worst, err);
    }
    free(ga);
    if (getenv("PF_TEST_VERBOSE"))
        fprintf(stderr, "grad check: worst relative error %.2e\n", worst);
    return worst;
}

static double grad_check(pf_mlp *m, const float *x, size_t n, const int32_t *t, const float *soft,
                         const float *w, float T)
{
    return grad_check_masked(m, x, n, t, soft, w, T, 0.0f, 0, NULL);
}

/* The tiny net of the gradient checks: 4 inputs, two hidden ReLU layers. */
static const uint32_t tiny[] = {4, 6, 5, 3};

/* A tiny net for gradient checks, with biases moved off their initial 0: a
 * sample whose first hidden layer is all dead would otherwise put every
 * second-layer pre-activation exactly on the ReLU kink (z = b = 0), where
 * finite differences measure a one-sided slope. */
static pf_mlp *gradcheck_mlp(const uint32_t *sizes, size_t nsizes, uint64_t seed)
{
    pf_mlp *m = new_mlp(sizes, nsizes, seed);
    pf_rng r;
    pf_rng_seed(&r, seed + 1000);
    float *p = pf_mlp_params(m);
    for (size_t k = 0; k < pf_mlp_nparams(m); k++)
        p[k] += (float)(0.1 * pf_rng_normal(&r));
    return m;
}

/* ---- gradients ---------------------------------------------------------- */

Test(mlp, hard_cross_entropy_gradient_matches_finite_differences)
{
    pf_mlp *m = gradcheck_mlp(tiny, 4, 1);
    float *x = normal_matrix(8, 4, 2);
    int32_t y[8] = {0, 1, 2, 0, 1, 2, 2, 1};
    double err = grad_check(m, x, 8, y, NULL, NULL, 1.0f);
    cr_assert_lt(err, 1e-2, "relative error %g", err);
    free(x);
    pf_mlp_destroy(&m);
    cr_assert_null(m);
}

Test(mlp, softmax_regression_gradient_matches_finite_differences)
{
    const uint32_t sizes[] = {4, 3};
    pf_mlp *m = gradcheck_mlp(sizes, 2, 3);
    float *x = normal_matrix(8, 4, 4);
    int32_t y[8] = {2, 1, 0, 0, 1, 2, 2, 1};
    double err = grad_check(m, x, 8, y, NULL, NULL, 1.0f);
    cr_assert_lt(err, 1e-2, "relative error %g", err);
    free(x);
    pf_mlp_destroy(&m);
}

Test(mlp, weighted_hard_cross_entropy_gradient_matches_finite_differences)
{
    pf_mlp *m = gradcheck_mlp(tiny, 4, 5);
    float *x = normal_matrix(8, 4, 6);
    int32_t y[8] = {0, 1, 2, 0, 1, 2, 2, 1};
    float w[8] = {1.0f, 0.0f, 0.3f, 2.0f, 0.7f, 1.5f, 0.1f, 1.0f};
    double err = grad_check(m, x, 8, y, NULL, w, 1.0f);
    cr_assert_lt(err, 1e-2, "relative error %g", err);
    free(x);
    pf_mlp_destroy(&m);
}

Test(mlp, soft_targets_at_temperature_two_gradient_matches_finite_differences)
{
    pf_mlp *m = gradcheck_mlp(tiny, 4, 7);
    float *x = normal_matrix(6, 4, 8);
    float q[6 * 3] = {0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.3f, 0.3f, 0.4f,
                      1.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.5f, 0.2f, 0.6f, 0.2f};
    float w[6] = {1.0f, 0.5f, 1.0f, 0.2f, 1.0f, 0.9f};
    double err = grad_check(m, x, 6, NULL, q, w, 2.0f);
    cr_assert_lt(err, 1e-2, "relative error %g", err);
    free(x);
    pf_mlp_destroy(&m);
}

/* Also through layer normalization (norm = 1), hidden layers and all. */
Test(mlp, mixed_hard_and_soft_targets_gradient_matches_finite_differences)
{
    float *x = normal_matrix(4, 4, 10);
    int32_t y[4] = {2, -1, 0, -1}; /* -1: use the soft row */
    float q[4 * 3] = {0, 0, 0, 0.2f, 0.5f, 0.3f, 0, 0, 0, 0.9f, 0.05f, 0.05f};
    float w[4] = {1.0f, 0.5f, 2.0f, 0.3f};
    for (int norm = 0; norm <= 1; norm++) {
        pf_mlp *m = gradcheck_mlp(tiny, 4, 9);
        pf_mlp_set_layer_norm(m, norm);
        double err = grad_check(m, x, 4, y, q, norm ? w : NULL, 1.5f);
        cr_assert_lt(err, 1e-2, "norm %d: relative error %g", norm, err);
        pf_mlp_destroy(&m);
    }
    free(x);
}

/* Worst relative error of pf_mlp_input_grad against central differences of
 * pf_mlp_loss over the inputs, on hard and soft rows (as VAT mixes them). */
static double input_grad_check(pf_mlp *m, uint64_t seed)
{
    enum { N = 6, D = 4 };
    float *x = normal_matrix(N, D, seed);
    int32_t y[N] = {0, -1, 2, 1, -1, 2};
    float q[N * 3] = {0, 0, 0, 0.2f, 0.5f, 0.3f, 0, 0, 0, 0, 0, 0, 0.6f, 0.3f, 0.1f, 0, 0, 0};
    float w[N] = {1.0f, 0.5f, 2.0f, 0.3f, 1.0f, 0.8f};
    float g[N * D];
    double loss;
    cr_assert_eq(pf_mlp_input_grad(m, x, N, y, q, w, 1.0f, &loss, g), 0, "%s", pf_error_last());
    double gmax = 0.0;
    for (size_t k = 0; k < N * D; k++)
        gmax = fmax(gmax, fabs(g[k]));
    cr_assert_gt(gmax, 1e-3, "input gradient is suspiciously zero");
    const float eps = 2e-3f; /* as in grad_check: above float roundoff, below ReLU kinks */
    double worst = 0.0;
    for (size_t k = 0; k < N * D; k++) {
        float saved = x[k];
        double lp, lm;
        x[k] = saved + eps;
        float hp = x[k] - saved;
        pf_mlp_loss(m, x, N, y, q, w, 1.0f, &lp);
        x[k] = saved - eps;
        float hm = saved - x[k];
        pf_mlp_loss(m, x, N, y, q, w, 1.0f, &lm);
        x[k] = saved;
        double num = (lp - lm) / ((double)hp + (double)hm);
        worst = fmax(worst, fabs(num - g[k]) / fmax(fmax(fabs(num), fabs(g[k])), 0.01 * gmax));
    }
    free(x);
    return worst;
}

Test(mlp, input_gradient_matches_finite_differences_through_standardization_and_layer_norm)
{
    const float mean[4] = {0.3f, -0.2f, 0.1f, 0.0f}, scale[4] = {2.0f, 0.5f, 1.5f, 0.8f};
    for (int norm = 0; norm <= 1; norm++) {
        pf_mlp *m = gradcheck_mlp(tiny, 4, 11 + 2 * (uint64_t)norm);
        if (norm) pf_mlp_set_layer_norm(m, 1);
        else cr_assert_eq(pf_mlp_set_standardization(m, mean, scale), 0, "%s", pf_error_last());
        double worst = input_grad_check(m, 12 + 2 * (uint64_t)norm);
        cr_assert_lt(worst, 1e-2, "%s: relative error %g", norm ? "layer norm" : "standardization", worst);
        pf_mlp_destroy(&m);
    }
}

Test(mlp, layer_norm_makes_the_logits_blind_to_the_scale_of_a_hidden_layer)
{
    /* y = (z − mean z)/std z does not change when W_1 and b_1 are scaled by
     * c > 0; without normalization the logits move. Layer 1 is W_1 [6, 4]
     * then b_1 [6] at the front of the parameter vector. */
    enum { N = 5, C = 3, P1 = 6 * 4 + 6 };
    float *x = normal_matrix(N, 4, 20);
    float before[N * C], after[N * C];
    for (int norm = 0; norm <= 1; norm++) {
        pf_mlp *m = gradcheck_mlp(tiny, 4, 21);
        pf_mlp_set_layer_norm(m, norm);
        cr_assert_eq(pf_mlp_layer_norm(m), norm);
        cr_assert_eq(pf_mlp_forward(m, x, N, before), 0);
        float *p = pf_mlp_params(m);
        for (size_t k = 0; k < P1; k++) p[k] *= 3.0f;
        cr_assert_eq(pf_mlp_forward(m, x, N, after), 0);
        double diff = 0.0, mag = 0.0;
        for (size_t k = 0; k < N * C; k++) {
            diff = fmax(diff, fabs(after[k] - before[k]));
            mag = fmax(mag, fabs(before[k]));
        }
        cr_assert_gt(mag, 0.1, "logits are suspiciously small");
        if (norm) cr_assert_lt(diff, 1e-4 * mag, "normalized logits moved by %g", diff);
        else cr_assert_gt(diff, 0.1 * mag, "unnormalized logits moved only by %g", diff);
        pf_mlp_destroy(&m);
    }
    free(x);
}

Test(mlp, hidden_dropout_gradient_matches_finite_differences_under_the_same_masks)
{
    float *x = normal_matrix(16, 4, 6);
    int32_t y[16];
    for (int i = 0; i < 16; i++) y[i] = i % 3;
    for (int norm = 0; norm <= 1; norm++) { /* with and without layer normalization */
        pf_mlp *m = gradcheck_mlp(tiny, 4, 5);
        pf_mlp_set_layer_norm(m, norm);
        /* The masks are applied (the loss is not the whole network's) and are a
         * function of the seed. */
        double full = loss_at(m, x, 16, y, NULL, NULL, 1.0f, 0.0f, 0, NULL);
        double loss = loss_at(m, x, 16, y, NULL, NULL, 1.0f, 0.3f, 9, NULL);
        cr_assert_gt(fabs(loss - full), 1e-4, "dropout loss %g equals the full loss %g", loss, full);
        cr_assert_eq(loss_at(m, x, 16, y, NULL, NULL, 1.0f, 0.3f, 9, NULL), loss);

        double err = grad_check_masked(m, x, 16, y, NULL, NULL, 1.0f, 0.3f, 9, NULL);
        cr_assert_lt(err, 1e-2, "norm %d: relative error %g", norm, err);
        pf_mlp_destroy(&m);
    }
    free(x);
}

Test(mlp, hidden_dropout_leaves_prediction_and_the_loss_of_the_whole_network_alone)
{
    pf_mlp *m = gradcheck_mlp(tiny, 4, 7);
    float *x = normal_matrix(16, 4, 8);
    int32_t y[16];
    for (int i = 0; i < 16; i++) y[i] = i % 3;
    float before[16 * 3], after[16 * 3];
    double l0, l1;
    cr_assert_eq(pf_mlp_forward(m, x, 16, before), 0);
    cr_assert_eq(pf_mlp_loss(m, x, 16, y, NULL, NULL, 1.0f, &l0), 0);
    cr_assert_eq(pf_mlp_set_hidden_dropout(m, 0.5f, 3), 0);
    cr_assert_eq(pf_mlp_forward(m, x, 16, after), 0);
    cr_assert_eq(pf_mlp_loss(m, x, 16, y, NULL, NULL, 1.0f, &l1), 0);
    cr_assert_eq(memcmp(before, after, sizeof before), 0, "prediction changed under hidden dropout");
    cr_assert_eq(l0, l1);
    cr_assert_eq(pf_mlp_set_hidden_dropout(m, 1.0f, 3), PF_EINVAL);
    cr_assert_eq(pf_mlp_set_hidden_dropout(m, -0.1f, 3), PF_EINVAL);
    free(x);
    pf_mlp_destroy(&m);
}

Test(mlp, temperature_scales_hard_loss_by_t_squared)
{
    /* Logits 0 everywhere: s = 1/3 at any T, so L = ln 3 · T². */
    float z[3] = {0, 0, 0};
    int32_t y = 1;
    double l1, l2;
    cr_assert_eq(pf_loss_xent(z, 1, 3, &y, NULL, NULL, 1.0f, NULL, &l1), 0);
    cr_assert_eq(pf_loss_xent(z, 1, 3, &y, NULL, NULL, 2.0f, NULL, &l2), 0);
    cr_assert_float_eq(l1, log(3.0), 1e-12);
    cr_assert_float_eq(l2, 4.0 * log(3.0), 1e-12);
}

Test(mlp, smoothed_target_puts_eps_over_classes_everywhere_and_the_rest_on_y)
{
    /* eps 0.2 over 4 classes: 0.05 each, and 0.8 + 0.05 on class 2. */
    float q[4];
    pf_loss_smooth_target(2, 4, 0.2f, q);
    cr_assert_float_eq(q[0], 0.05f, 1e-7);
    cr_assert_float_eq(q[1], 0.05f, 1e-7);
    cr_assert_float_eq(q[2], 0.85f, 1e-7);
    cr_assert_float_eq(q[3], 0.05f, 1e-7);
    /* eps 0 is the one-hot target: the loss equals the hard-label loss. */
    float z[4] = {0.3f, -1.0f, 2.0f, 0.5f};
    int32_t y = 2, none = -1;
    double hard, soft;
    pf_loss_smooth_target(2, 4, 0.0f, q);
    cr_assert_eq(pf_loss_xent(z, 1, 4, &y, NULL, NULL, 1.0f, NULL, &hard), 0);
    cr_assert_eq(pf_loss_xent(z, 1, 4, &none, q, NULL, 1.0f, NULL, &soft), 0);
    cr_assert_float_eq(soft, hard, 1e-6);
}

Test(mlp, sharpened_target_is_p_to_the_one_over_t_renormalized)
{
    /* p = (0.5, 0.3, 0.2), T = 0.5: squares 0.25, 0.09, 0.04 over 0.38. */
    float p[6] = {0.5f, 0.3f, 0.2f, 0.0f, 1.0f, 0.0f}, q[6];
    pf_loss_sharpen(p, 2, 3, 0.5f, q);
    cr_assert_float_eq(q[0], 0.25f / 0.38f, 1e-6);
    cr_assert_float_eq(q[1], 0.09f / 0.38f, 1e-6);
    cr_assert_float_eq(q[2], 0.04f / 0.38f, 1e-6);
    /* a one-hot row stays one-hot (zeros stay zero) */
    cr_assert_float_eq(q[3], 0.0f, 1e-9);
    cr_assert_float_eq(q[4], 1.0f, 1e-9);
    cr_assert_float_eq(q[5], 0.0f, 1e-9);
    /* T = 1 leaves p as it is; in place works */
    pf_loss_sharpen(p, 2, 3, 1.0f, p);
    cr_assert_float_eq(p[0], 0.5f, 1e-6);
    cr_assert_float_eq(p[1], 0.3f, 1e-6);
    cr_assert_float_eq(p[2], 0.2f, 1e-6);
    /* cross-entropy against q has logit gradient softmax(z) - q: with
     * z = log p, that is p - q, towards the argmax */
    float z[3] = {logf(0.5f), logf(0.3f), logf(0.2f)}, dz[3];
    int32_t none = -1;
    double l;
    cr_assert_eq(pf_loss_xent(z, 1, 3, &none, q, NULL, 1.0f, dz, &l), 0);
    cr_assert_float_eq(dz[0], 0.5f - q[0], 1e-6);
    cr_assert_lt(dz[0], 0.0f, "the top class's logit must go up");
    cr_assert_gt(dz[2], 0.0f, "the bottom class's logit must go down");
}

Test(mlp, elr_term_and_gradient_match_hand_computed_values)
{
    /* z = 0: p = (1/3, 1/3, 1/3); t = (0.5, 0.5, 0): <p, t> = 1/3, R = log(2/3).
     * g = -t / (2/3) = (-0.75, -0.75, 0), sum_k s_k g_k = -0.5, so
     * dz = (1/3)(g + 0.5) = (-1/12, -1/12, 1/6): the logits of t's classes go up. */
    float z[6] = {0, 0, 0, 1, 2, 3}, t[6] = {0.5f, 0.5f, 0, NAN, NAN, NAN}, lam[2] = {1.0f, 0.0f};
    float dz[6] = {0.25f, 0, 0, 0, 0, 0}, s[6]; /* dz: added to, not overwritten */
    double loss = 1.0;
    pf_loss_softmax(z, 2, 3, 1.0f, s);
    cr_assert_eq(pf_loss_elr_add(s, 2, 3, t, lam, dz, &loss), 0, "%s", pf_error_last());
    cr_assert_float_eq(loss, 1.0 + log(2.0 / 3.0) / 2.0, 1e-6, "the mean over both rows, added");
    cr_assert_float_eq(dz[0], 0.25f - 1.0f / 24, 1e-6);
    cr_assert_float_eq(dz[1], -1.0f / 24, 1e-6);
    cr_assert_float_eq(dz[2], 1.0f / 12, 1e-6);
    for (int k = 3; k < 6; k++) cr_assert_eq(dz[k], 0.0f, "a row with lambda 0 has no term (its NaN t is not read)");
    /* a clamped class (p < 1e-4) gets no pull from its target mass */
    float zc[3] = {0, 0, -20}, tc[3] = {0, 0, 1}, dzc[3] = {0}, sc[3];
    double lc = 0;
    pf_loss_softmax(zc, 1, 3, 1.0f, sc);
    cr_assert_eq(pf_loss_elr_add(sc, 1, 3, tc, lam, dzc, &lc), 0);
    cr_assert_float_eq(lc, log(1.0 - 1e-4), 1e-6, "<p, t> uses the clamped p");
    cr_assert_eq(dzc[0], 0.0f);
    cr_assert_eq(dzc[2], 0.0f);
    /* bad inputs */
    float bad_lam[1] = {-1.0f}, big_t[3] = {0.7f, 0.7f, 0};
    cr_assert_eq(pf_loss_elr_add(s, 1, 3, t, bad_lam, NULL, &loss), PF_EINVAL);
    cr_assert_eq(pf_loss_elr_add(s, 1, 3, big_t, lam, NULL, &loss), PF_EINVAL);
}

Test(mlp, elr_target_is_a_running_mean_of_clamped_renormalized_predictions)
{
    /* t = 0.7 t + 0.3 p: from 0, then again with the same p */
    float p[3] = {0.6f, 0.4f, 0.0f}, t[3] = {0, 0, 0};
    float pc[3], sum = 0.6f + 0.4f + 1e-4f;
    for (int c = 0; c < 3; c++) pc[c] = fmaxf(p[c], 1e-4f) / sum;
    pf_loss_elr_target(p, 3, 0.7f, t);
    for (int c = 0; c < 3; c++) cr_assert_float_eq(t[c], 0.3f * pc[c], 1e-6);
    pf_loss_elr_target(p, 3, 0.7f, t);
    for (int c = 0; c < 3; c++) cr_assert_float_eq(t[c], 0.51f * pc[c], 1e-6);
    cr_assert_float_eq(t[0] + t[1] + t[2], 0.51f, 1e-6, "a sum below 1 until the history fills");
}

Test(mlp, elr_gradient_matches_finite_differences)
{
    /* hard and soft targets with weights, the ELR term on some rows with
     * targets away from the clamp; its probs_out is the step's softmax */
    pf_mlp *m = gradcheck_mlp(tiny, 4, 21);
    float *x = normal_matrix(6, 4, 22);
    int32_t y[6] = {0, 1, -1, 2, 1, 0};
    float q[6 * 3] = {0, 0, 0, 0, 0, 0, 0.2f, 0.5f, 0.3f, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    float w[6] = {1.0f, 0.5f, 1.0f, 2.0f, 1.0f, 0.0f};
    float t[6 * 3] = {0.6f, 0.3f, 0.1f, 0.1f, 0.1f, 0.7f, 0.3f, 0.3f, 0.3f,
                      0, 0, 0, 0.2f, 0.5f, 0.2f, 0.1f, 0.1f, 0.1f};
    float lam[6] = {3.0f, 1.5f, 0.5f, 0.0f, 2.0f, 1.0f}, probs[6 * 3];
    pf_mlp_elr elr = {t, lam, probs};
    double err = grad_check_masked(m, x, 6, y, q, w, 1.0f, 0.0f, 0, &elr);
    cr_assert_lt(err, 1e-2, "relative error %g", err);
    double with, without;
    const float *g;
    cr_assert_eq(pf_mlp_loss_grad_elr(m, x, 6, y, q, w, 1.0f, &elr, &with, &g), 0);
    cr_assert_eq(pf_mlp_loss_grad(m, x, 6, y, q, w, 1.0f, &without, &g), 0);
    cr_assert_lt(with, without - 0.1, "log(1 - <p, t>) < 0 adds a negative term");
    float expect[6 * 3];
    cr_assert_eq(pf_mlp_predict_proba(m, x, 6, 1.0f, expect), 0);
    for (int k = 0; k < 18; k++) cr_assert_float_eq(probs[k], expect[k], 1e-6);
    free(x);
    pf_mlp_destroy(&m);
}

Test(mlp, sgd_weight_decay_step_follows_the_l2_gradient)
{
    /* SGD, no momentum, lr η: θ1 = θ0 − η(∇L + λθ0) on weights, θ0 − η∇L on
     * biases, so (θ0 − θ1)/η must match finite differences of
     * L + λ/2·Σ_W θ². */
    pf_mlp *m = gradcheck_mlp(tiny, 4, 11);
    float *x = normal_matrix(8, 4, 12);
    int32_t y[8] = {0, 1, 2, 0, 1, 2, 2, 1};
    const float lr = 0.5f, lambda = 0.1f;
    size_t P = pf_mlp_nparams(m);
    float *p = pf_mlp_params(m);
    float *p0 = malloc(P * sizeof *p0);
    memcpy(p0, p, P * sizeof *p0);

    pf_optim_config oc = pf_optim_defaults(PF_OPTIM_SGD);
    oc.lr = lr;
    oc.momentum = 0.0f;
    oc.weight_decay = lambda;
    pf_optim *opt;
    cr_assert_eq(pf_optim_new(&oc, P, &opt), 0);
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 8, y, NULL, NULL, 1.0f, NULL), 0);
    float *step = malloc(P * sizeof *step);
    for (size_t k = 0; k < P; k++)
        step[k] = (p0[k] - p[k]) / lr;
    memcpy(p, p0, P * sizeof *p0);

    /* Which entries are weights: W_1 [6,4], b_1 [6], W_2 [5,6], b_2 [5], W_3 [3,5], b_3 [3]. */
    size_t bounds[][2] = {{0, 24}, {30, 60}, {65, 80}};
    double worst = 0.0, gmax = 0.0;
    for (size_t k = 0; k < P; k++)
        gmax = fmax(gmax, fabs(step[k]));
    const float eps = 2e-3f; /* float roundoff dominates below 1e-3, ReLU kinks above 3e-3 */
    for (size_t k = 0; k < P; k++) {
        int is_w = 0;
        for (int b = 0; b < 3; b++)
            is_w |= k >= bounds[b][0] && k < bounds[b][1];
        float saved = p[k];
        double lp, lm;
        p[k] = saved + eps;
        float hp = p[k] - saved;
        pf_mlp_loss(m, x, 8, y, NULL, NULL, 1.0f, &lp);
        double rp = is_w ? 0.5 * lambda * (double)p[k] * p[k] : 0.0;
        p[k] = saved - eps;
        float hm = saved - p[k];
        pf_mlp_loss(m, x, 8, y, NULL, NULL, 1.0f, &lm);
        double rm = is_w ? 0.5 * lambda * (double)p[k] * p[k] : 0.0;
        p[k] = saved;
        double num = (lp + rp - lm - rm) / ((double)hp + hm);
        double err = fabs(num - step[k]) / fmax(fmax(fabs(num), fabs(step[k])), 0.01 * gmax);
        worst = fmax(worst, err);
    }
    if (getenv("PF_TEST_VERBOSE"))
        fprintf(stderr, "decay check: worst relative error %.2e\n", worst);
    cr_assert_eq(P, 83);
    cr_assert_lt(worst, 1e-2, "relative error %g", worst);
    free(step);
    free(p0);
    free(x);
    pf_optim_destroy(&opt);
    pf_mlp_destroy(&m);
}

Test(mlp, adam_first_step_is_sign_of_gradient_plus_decoupled_decay)
{
    /* Adam's first bias-corrected step is g/(|g| + ε) ≈ sign(g); AdamW adds
     * lr·λ·θ on weights only. */
    const uint32_t sizes[] = {4, 3};
    pf_mlp *m = new_mlp(sizes, 2, 13);
    float *x = normal_matrix(8, 4, 14);
    int32_t y[8] = {0, 1, 2, 0, 1, 2, 2, 1};
    size_t P = pf_mlp_nparams(m);
    float *p = pf_mlp_params(m);
    float p0[15], g[15];
    memcpy(p0, p, sizeof p0);
    double loss;
    const float *gv;
    cr_assert_eq(pf_mlp_loss_grad(m, x, 8, y, NULL, NULL, 1.0f, &loss, &gv), 0);
    memcpy(g, gv, sizeof g);

    pf_optim_config oc = pf_optim_defaults(PF_OPTIM_ADAM);
    oc.lr = 0.01f;
    oc.weight_decay = 0.5f;
    pf_optim *opt;
    cr_assert_eq(pf_optim_new(&oc, P, &opt), 0);
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 8, y, NULL, NULL, 1.0f, NULL), 0);
    cr_assert_eq(pf_optim_steps(opt), 1);
    for (size_t k = 0; k < P; k++) {
        double sign = g[k] > 0 ? 1.0 : g[k] < 0 ? -1.0 : 0.0;
        double decay = k < 12 ? 0.5 * p0[k] : 0.0; /* W [3,4] first, then b [3] */
        double expect = p0[k] - 0.01 * (sign + decay);
        cr_assert_float_eq(p[k], expect, 1e-5, "param %zu: %g vs %g", k, p[k], expect);
    }
    free(x);
    pf_optim_destroy(&opt);
    pf_mlp_destroy(&m);
}

/* ---- learning and determinism ------------------------------------------ */

static double train_blobs(pf_optim_kind kind, float lr, uint64_t seed, float *params_out)
{
    enum { N = 300, D = 5, C = 3, BATCH = 30, EPOCHS = 30 };
    static float x[N * D];
    static int32_t y[N];
    blobs(N, D, C, 99, x, y);
    const uint32_t sizes[] = {D, 16, C};
    pf_mlp *m = new_mlp(sizes, 3, seed);
    pf_optim_config oc = pf_optim_defaults(kind);
    oc.lr = lr;
    pf_optim *opt;
    cr_assert_eq(pf_optim_new(&oc, pf_mlp_nparams(m), &opt), 0);
    for (int e = 0; e < EPOCHS; e++)
        for (size_t i = 0; i < N; i += BATCH) {
            double loss;
            int rc = pf_mlp_train_step(m, opt, x + i * D, BATCH, y + i, NULL, NULL, 1.0f, &loss);
            cr_assert_eq(rc, 0, "%s", pf_error_last());
        }
    int32_t pred[N];
    cr_assert_eq(pf_mlp_predict(m, x, N, pred), 0);
    size_t correct = 0;
    for (size_t i = 0; i < N; i++)
        correct += pred[i] == y[i];
    pf_mlp_counters c = pf_mlp_get_counters(m);
    cr_assert_eq(c.steps, EPOCHS * N / BATCH);
    cr_assert_eq(c.samples_seen, EPOCHS * N);
    if (params_out) memcpy(params_out, pf_mlp_params(m), pf_mlp_nparams(m) * sizeof(float));
    pf_optim_destroy(&opt);
    pf_mlp_destroy(&m);
    return (double)correct / N;
}

Test(mlp, learns_three_blobs_with_sgd)
{
    double acc = train_blobs(PF_OPTIM_SGD, 0.05f, 1, NULL);
    cr_assert_geq(acc, 0.98, "train accuracy %g", acc);
}

Test(mlp, learns_three_blobs_with_adam)
{
    double acc = train_blobs(PF_OPTIM_ADAM, 0.01f, 1, NULL);
    cr_assert_geq(acc, 0.98, "train accuracy %g", acc);
}

Test(mlp, same_seed_gives_bit_identical_weights_after_training)
{
    /* 5·16+16 + 16·3+3 = 147 parameters. */
    float a[147], b[147], c[147];
    train_blobs(PF_OPTIM_ADAM, 0.01f, 42, a);
    train_blobs(PF_OPTIM_ADAM, 0.01f, 42, b);
    train_blobs(PF_OPTIM_ADAM, 0.01f, 43, c);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_neq(memcmp(a, c, sizeof a), 0);
}

Test(mlp, initialization_follows_he_scale)
{
    /* W_1 of 784-256-10 ~ N(0, 2/784): sample variance within 2% of 2/784. */
    const uint32_t sizes[] = {784, 256, 10};
    pf_mlp *m = new_mlp(sizes, 3, 5);
    cr_assert_eq(pf_mlp_nparams(m), 784 * 256 + 256 + 256 * 10 + 10);
    const float *w = pf_mlp_params(m);
    double s = 0, s2 = 0;
    size_t n = 784 * 256;
    for (size_t k = 0; k < n; k++) {
        s += w[k];
        s2 += (double)w[k] * w[k];
    }
    double var = s2 / n - (s / n) * (s / n);
    cr_assert_float_eq(var, 2.0 / 784, 0.02 * 2.0 / 784);
    for (size_t k = n; k < n + 256; k++)
        cr_assert_eq(w[k], 0.0f, "bias %zu", k - n);
    pf_mlp_destroy(&m);
}

/* ---- inference ---------------------------------------------------------- */

Test(mlp, probabilities_sum_to_one_and_temperature_flattens_them)
{
    pf_mlp *m = new_mlp(tiny, 4, 15);
    float *x = normal_matrix(5, 4, 16);
    float p1[15], p3[15];
    cr_assert_eq(pf_mlp_predict_proba(m, x, 5, 1.0f, p1), 0);
    cr_assert_eq(pf_mlp_predict_proba(m, x, 5, 3.0f, p3), 0);
    for (int i = 0; i < 5; i++) {
        double s1 = 0, s3 = 0, max1 = 0, max3 = 0;
        for (int c = 0; c < 3; c++) {
            s1 += p1[i * 3 + c];
            s3 += p3[i * 3 + c];
            max1 = fmax(max1, p1[i * 3 + c]);
            max3 = fmax(max3, p3[i * 3 + c]);
        }
        cr_assert_float_eq(s1, 1.0, 1e-6);
        cr_assert_float_eq(s3, 1.0, 1e-6);
        cr_assert_leq(max3, max1 + 1e-7);
    }
    free(x);
    pf_mlp_destroy(&m);
}

Test(mlp, large_batches_are_scored_in_chunks_like_small_ones)
{
    /* 2500 rows cross two chunk boundaries (1024 rows each). */
    const uint32_t sizes[] = {7, 9, 4};
    pf_mlp *m = new_mlp(sizes, 3, 17);
    float *x = normal_matrix(2500, 7, 18);
    float *big = malloc(2500 * 4 * sizeof *big), small[4];
    cr_assert_eq(pf_mlp_forward(m, x, 2500, big), 0);
    for (size_t i = 0; i < 2500; i += 97) {
        cr_assert_eq(pf_mlp_forward(m, x + i * 7, 1, small), 0);
        for (int c = 0; c < 4; c++)
            cr_assert_float_eq(big[i * 4 + c], small[c], 1e-5);
    }
    free(big);
    free(x);
    pf_mlp_destroy(&m);
}

Test(mlp, standardization_is_applied_before_the_first_layer)
{
    pf_mlp *m = new_mlp(tiny, 4, 19);
    float *x = normal_matrix(3, 4, 20);
    float mean[4] = {1.0f, -2.0f, 0.5f, 0.0f}, scale[4] = {0.5f, 2.0f, 1.0f, 4.0f};
    float xs[12], a[9], b[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            xs[i * 4 + j] = (x[i * 4 + j] - mean[j]) * scale[j];
    cr_assert_eq(pf_mlp_forward(m, xs, 3, a), 0);
    cr_assert_eq(pf_mlp_set_standardization(m, mean, scale), 0);
    cr_assert_eq(pf_mlp_forward(m, x, 3, b), 0);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_eq(pf_mlp_set_standardization(m, mean, NULL), PF_EINVAL);
    free(x);
    pf_mlp_destroy(&m);
}

Test(mlp, fitted_standardization_has_data_mean_and_inverse_std)
{
    const uint32_t sizes[] = {2, 2};
    pf_mlp *m = new_mlp(sizes, 2, 1);
    /* feature 0: 1, 3 → mean 2, std 1; feature 1: constant 5 → std 0 → 1/min_std. */
    float x[4] = {1, 5, 3, 5};
    cr_assert_eq(pf_mlp_fit_standardization(m, x, 2, 0.01f), 0);
    cr_assert_float_eq(pf_mlp_in_mean(m)[0], 2.0f, 1e-6);
    cr_assert_float_eq(pf_mlp_in_scale(m)[0], 1.0f, 1e-6);
    cr_assert_float_eq(pf_mlp_in_mean(m)[1], 5.0f, 1e-6);
    cr_assert_float_eq(pf_mlp_in_scale(m)[1], 100.0f, 1e-3);
    pf_mlp_destroy(&m);
}

/* ---- EMA, clone, augment ------------------------------------------------ */

Test(mlp, ema_matches_its_formula_exactly)
{
    pf_mlp *t = new_mlp(tiny, 4, 21), *s = new_mlp(tiny, 4, 22);
    size_t P = pf_mlp_nparams(t);
    float *t0 = malloc(P * sizeof *t0);
    memcpy(t0, pf_mlp_params(t), P * sizeof *t0);
    const float mom = 0.999f;
    cr_assert_eq(pf_mlp_ema_update(t, s, mom), 0);
    const float *tp = pf_mlp_params(t), *sp = pf_mlp_params(s);
    for (size_t k = 0; k < P; k += 7) {
        float expect = mom * t0[k] + (1.0f - mom) * sp[k];
        cr_assert_eq(tp[k], expect, "param %zu", k);
    }
    /* m = 0 copies the student, m = 1 keeps the teacher. */
    cr_assert_eq(pf_mlp_ema_update(t, s, 0.0f), 0);
    cr_assert_eq(memcmp(pf_mlp_params(t), sp, P * sizeof(float)), 0);
    cr_assert_eq(pf_mlp_ema_update(t, s, NAN), PF_EINVAL);
    free(t0);
    pf_mlp_destroy(&t);
    pf_mlp_destroy(&s);
}

Test(mlp, ema_rejects_models_of_different_shapes)
{
    const uint32_t other[] = {4, 7, 5, 3};
    pf_mlp *t = new_mlp(tiny, 4, 1), *s = new_mlp(other, 4, 1);
    cr_assert_eq(pf_mlp_ema_update(t, s, 0.9f), PF_EMISMATCH);
    pf_mlp_destroy(&t);
    pf_mlp_destroy(&s);
}

Test(mlp, clone_is_equal_and_independent)
{
    pf_mlp *m = new_mlp(tiny, 4, 23), *c = NULL;
    float mean[4] = {1, 2, 3, 4}, scale[4] = {1, 1, 2, 2};
    cr_assert_eq(pf_mlp_set_standardization(m, mean, scale), 0);
    cr_assert_eq(pf_mlp_clone(m, &c), 0);
    size_t P = pf_mlp_nparams(m);
    cr_assert_eq(memcmp(pf_mlp_params(m), pf_mlp_params(c), P * sizeof(float)), 0);
    cr_assert_eq(memcmp(pf_mlp_in_scale(c), scale, sizeof scale), 0);
    pf_mlp_params(c)[0] += 1.0f;
    cr_assert_neq(pf_mlp_params(m)[0], pf_mlp_params(c)[0]);
    pf_mlp_destroy(&c);
    pf_mlp_destroy(&m);
}

Test(mlp, augment_drops_and_rescales_reproducibly)
{
    enum { N = 10000 };
    float *x = malloc(N * sizeof *x), *x2 = malloc(N * sizeof *x2);
    for (int i = 0; i < N; i++)
        x[i] = x2[i] = 1.0f;
    pf_rng r1, r2;
    pf_rng_seed(&r1, 5);
    pf_rng_seed(&r2, 5);
    cr_assert_eq(pf_mlp_augment(x, N, 1, 0.25f, 0.0f, &r1), 0);
    cr_assert_eq(pf_mlp_augment(x2, N, 1, 0.25f, 0.0f, &r2), 0);
    cr_assert_eq(memcmp(x, x2, N * sizeof *x), 0);
    size_t zeros = 0;
    for (int i = 0; i < N; i++) {
        if (x[i] == 0.0f)
            zeros++;
        else
            cr_assert_float_eq(x[i], 1.0f / 0.75f, 1e-6);
    }
    /* Binomial(10000, 0.25): sd ≈ 43; 6 sd either side. */
    cr_assert(zeros > 2240 && zeros < 2760, "%zu zeros", zeros);
    cr_assert_eq(pf_mlp_augment(x, N, 1, 1.0f, 0.0f, &r1), PF_EINVAL);
    cr_assert_eq(pf_mlp_augment(x, N, 1, 0.0f, NAN, &r1), PF_EINVAL);
    free(x);
    free(x2);
}

/* Every row comes out as its image translated by one (dx, dy) in
 * [-2, 2]² with zeros moved in, every such shift occurs, and a seed
 * reproduces the draws. */
Test(mlp, shift_translates_each_image_by_at_most_max_pixels)
{
    enum { W = 5, H = 4, D = W * H, N = 500, S = 2 };
    float *x = malloc(N * D * sizeof *x), *x2 = malloc(N * D * sizeof *x2), img[D];
    for (int k = 0; k < D; k++)
        img[k] = (float)(k + 1); /* distinct and nonzero: a shift is recognizable */
    for (int r = 0; r < N; r++)
        memcpy(x + r * D, img, sizeof img);
    memcpy(x2, x, N * D * sizeof *x);
    pf_rng r1, r2;
    pf_rng_seed(&r1, 9);
    pf_rng_seed(&r2, 9);
    cr_assert_eq(pf_mlp_shift(x, N, W, H, S, &r1), 0);
    cr_assert_eq(pf_mlp_shift(x2, N, W, H, S, &r2), 0);
    cr_assert_eq(memcmp(x, x2, N * D * sizeof *x), 0);
    int seen[2 * S + 1][2 * S + 1] = {{0}};
    for (int r = 0; r < N; r++) {
        int found = 0;
        for (int dy = -S; dy <= S && !found; dy++)
            for (int dx = -S; dx <= S && !found; dx++) {
                int same = 1;
                for (int y = 0; y < H && same; y++)
                    for (int c = 0; c < W && same; c++) {
                        int sy = y - dy, sc = c - dx;
                        float want = sy >= 0 && sy < H && sc >= 0 && sc < W ? img[sy * W + sc] : 0.0f;
                        same = x[r * D + y * W + c] == want;
                    }
                if (same) found = 1, seen[dy + S][dx + S]++;
            }
        cr_assert(found, "row %d is not a translation of the image by at most %d pixels", r, S);
    }
    for (int dy = 0; dy <= 2 * S; dy++)
        for (int dx = 0; dx <= 2 * S; dx++)
            cr_assert(seen[dy][dx] > 0, "shift (%d, %d) never drawn in %d rows", dx - S, dy - S, N);
    cr_assert_eq(pf_mlp_shift(x, 1, W, H, H, &r1), PF_EINVAL);
    cr_assert_eq(pf_mlp_shift(x, 1, 0, H, 1, &r1), PF_EINVAL);
    free(x);
    free(x2);
}

/* ---- snapshots ---------------------------------------------------------- */

static pf_mlp *trained_model(void)
{
    pf_mlp *m = new_mlp(tiny, 4, 31);
    float *x = normal_matrix(16, 4, 32);
    int32_t y[16];
    for (int i = 0; i < 16; i++)
        y[i] = i % 3;
    pf_optim_config oc = pf_optim_defaults(PF_OPTIM_ADAM);
    pf_optim *opt;
    cr_assert_eq(pf_optim_new(&oc, pf_mlp_nparams(m), &opt), 0);
    for (int s = 0; s < 5; s++)
        cr_assert_eq(pf_mlp_train_step(m, opt, x, 16, y, NULL, NULL, 1.0f, NULL), 0);
    float mean[4] = {0.1f, 0.2f, 0.3f, 0.4f}, scale[4] = {1.5f, 0.7f, 1.0f / 3, 2.0f};
    cr_assert_eq(pf_mlp_set_standardization(m, mean, scale), 0);
    cr_assert_eq(pf_mlp_set_temperature(m, 1.37f), 0);
    pf_mlp_counters c = pf_mlp_get_counters(m);
    c.version = 9;
    c.preq_seen = 100;
    c.preq_correct = 61;
    c.fit_rows = 160;
    pf_mlp_set_counters(m, &c);
    pf_optim_destroy(&opt);
    free(x);
    return m;
}

static void assert_same_model(pf_mlp *a, pf_mlp *b)
{
    cr_assert(pf_mlp_same_shape(a, b));
    cr_assert_eq(pf_mlp_nparams(a), pf_mlp_nparams(b));
    cr_assert_eq(memcmp(pf_mlp_params(a), pf_mlp_params(b), pf_mlp_nparams(a) * sizeof(float)), 0);
    size_t d = pf_mlp_input_dim(a);
    cr_assert_eq(memcmp(pf_mlp_in_mean(a), pf_mlp_in_mean(b), d * sizeof(float)), 0);
    cr_assert_eq(memcmp(pf_mlp_in_scale(a), pf_mlp_in_scale(b), d * sizeof(float)), 0);
    cr_assert_eq(pf_mlp_temperature(a), pf_mlp_temperature(b));
    cr_assert_eq(pf_mlp_input_power(a), pf_mlp_input_power(b));
    pf_mlp_counters ca = pf_mlp_get_counters(a), cb = pf_mlp_get_counters(b);
    cr_assert_eq(ca.steps, cb.steps);
    cr_assert_eq(ca.samples_seen, cb.samples_seen);
    cr_assert_eq(ca.preq_seen, cb.preq_seen);
    cr_assert_eq(ca.preq_correct, cb.preq_correct);
    cr_assert_eq(ca.fit_rows, cb.fit_rows);
}

/* m through the wire: to_proto, pack, unpack (*dec, freed by the caller
 * with pf__model__free_unpacked), from_proto into *back. */
static void proto_round_trip(const pf_mlp *m, Pf__Model **dec, pf_mlp **back)
{
    Pf__Model msg = PF__MODEL__INIT;
    pf_mlp_to_proto(m, &msg);
    size_t len = pf__model__get_packed_size(&msg);
    uint8_t *buf = malloc(len);
    pf__model__pack(&msg, buf);
    *dec = pf__model__unpack(NULL, len, buf);
    free(buf);
    cr_assert_not_null(*dec);
    cr_assert_eq(pf_mlp_from_proto(*dec, back), 0, "%s", pf_error_last());
}

Test(mlp, snapshot_proto_round_trip_is_bit_exact)
{
    pf_mlp *m = trained_model(), *back = NULL;
    Pf__Model msg = PF__MODEL__INIT, *dec = NULL;
    pf_mlp_to_proto(m, &msg);
    cr_assert_eq(msg.n_params, 83);
    cr_assert_eq(msg.version, 9);
    cr_assert_eq(msg.norm, 0);
    proto_round_trip(m, &dec, &back);
    assert_same_model(m, back);
    cr_assert_eq(pf_mlp_get_counters(back).version, 9);
    cr_assert_eq(pf_mlp_get_counters(back).steps, 5);
    pf__model__free_unpacked(dec, NULL);
    pf_mlp_destroy(&back);
    pf_mlp_destroy(&m);
}

/* The input power is metadata: 1 by default and when a snapshot leaves it
 * unset, carried through snapshots and clones, not part of the shape. */
Test(mlp, input_power_travels_in_snapshots_and_clones)
{
    pf_mlp *m = trained_model(), *back = NULL, *c = NULL;
    cr_assert_eq(pf_mlp_input_power(m), 1.0f);
    Pf__Model msg = PF__MODEL__INIT, *dec = NULL;
    pf_mlp_to_proto(m, &msg);
    msg.input_power = 0.0f; /* as a file written before the field existed */
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), 0, "%s", pf_error_last());
    cr_assert_eq(pf_mlp_input_power(back), 1.0f);
    pf_mlp_destroy(&back);
    cr_assert_eq(pf_mlp_set_input_power(m, 0.5f), 0);
    cr_assert_eq(pf_mlp_set_input_power(m, -1.0f), PF_EINVAL);
    cr_assert_eq(pf_mlp_input_power(m), 0.5f, "a refused value changed the model");
    proto_round_trip(m, &dec, &back);
    cr_assert_eq(pf_mlp_input_power(back), 0.5f);
    assert_same_model(m, back);
    cr_assert_eq(pf_mlp_clone(back, &c), 0);
    cr_assert_eq(pf_mlp_input_power(c), 0.5f);
    pf_mlp_destroy(&back);
    dec->input_power = -2.0f;
    cr_assert_eq(pf_mlp_from_proto(dec, &back), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "input power -2"), "%s", pf_error_last());
    cr_assert_null(back);
    pf__model__free_unpacked(dec, NULL);
    pf_mlp_destroy(&c);
    pf_mlp_destroy(&m);
}

Test(mlp, layer_norm_travels_in_snapshots_and_is_part_of_the_shape)
{
    pf_mlp *m = trained_model(), *plain = NULL, *back = NULL;
    cr_assert_eq(pf_mlp_clone(m, &plain), 0);
    pf_mlp_set_layer_norm(m, 1);
    cr_assert_not(pf_mlp_same_shape(m, plain), "a normalized net has the shape of a plain one");
    cr_assert_eq(pf_mlp_ema_update(m, plain, 0.9f), PF_EMISMATCH);
    Pf__Model msg = PF__MODEL__INIT, *dec = NULL;
    pf_mlp_to_proto(m, &msg);
    cr_assert_eq(msg.norm, 1);
    proto_round_trip(m, &dec, &back);
    cr_assert_eq(pf_mlp_layer_norm(back), 1);
    assert_same_model(m, back);
    float *x = normal_matrix(5, 4, 34), pa[15], pb[15], pp[15];
    pf_mlp_predict_proba(m, x, 5, 1.0f, pa);
    pf_mlp_predict_proba(back, x, 5, 1.0f, pb);
    pf_mlp_predict_proba(plain, x, 5, 1.0f, pp);
    cr_assert_eq(memcmp(pa, pb, sizeof pa), 0);
    cr_assert_neq(memcmp(pa, pp, sizeof pa), 0, "normalization changed no prediction");
    pf_mlp_destroy(&back);
    dec->norm = 2;
    cr_assert_eq(pf_mlp_from_proto(dec, &back), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "norm 2"), "%s", pf_error_last());
    cr_assert_null(back);
    pf__model__free_unpacked(dec, NULL);
    free(x);
    pf_mlp_destroy(&plain);
    pf_mlp_destroy(&m);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/test_mlp_%ld_%s", PF_TEST_TMP, (long)getpid(), name);
}

Test(mlp, snapshot_file_round_trip_is_bit_exact)
{
    char path[512];
    tmp_path(path, sizeof path, "model.pfm");
    pf_mlp *m = trained_model(), *back = NULL;
    cr_assert_eq(pf_mlp_save(m, path, 12), 0, "%s", pf_error_last());
    cr_assert_eq(pf_mlp_load(path, &back), 0, "%s", pf_error_last());
    assert_same_model(m, back);
    cr_assert_eq(pf_mlp_get_counters(back).version, 12);
    float *x = normal_matrix(5, 4, 33), pa[15], pb[15];
    pf_mlp_predict_proba(m, x, 5, 1.0f, pa);
    pf_mlp_predict_proba(back, x, 5, 1.0f, pb);
    cr_assert_eq(memcmp(pa, pb, sizeof pa), 0);
    /* Saving again replaces the file atomically and leaves no temp file. */
    cr_assert_eq(pf_mlp_save(back, path, 13), 0);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_neq(access(tmp, F_OK), 0);
    free(x);
    unlink(path);
    pf_mlp_destroy(&back);
    pf_mlp_destroy(&m);
}

Test(mlp, from_proto_rejects_params_that_do_not_match_the_sizes)
{
    pf_mlp *m = trained_model(), *back = (pf_mlp *)1;
    Pf__Model msg = PF__MODEL__INIT;
    pf_mlp_to_proto(m, &msg);
    msg.n_params -= 1;
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), PF_EPROTO);
    cr_assert_null(back);
    cr_assert(strstr(pf_error_last(), "82 params, widths imply 83"), "%s", pf_error_last());

    pf_mlp_to_proto(m, &msg);
    uint32_t sizes[4] = {4, 0, 5, 3};
    msg.sizes = sizes;
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), PF_EPROTO);

    pf_mlp_to_proto(m, &msg);
    msg.n_sizes = 1;
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), PF_EPROTO);

    pf_mlp_to_proto(m, &msg);
    msg.n_in_mean = 3;
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), PF_EPROTO);

    pf_mlp_to_proto(m, &msg);
    float *params = malloc(83 * sizeof *params);
    memcpy(params, msg.params, 83 * sizeof *params);
    params[40] = NAN;
    msg.params = params;
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), PF_EPROTO);

    pf_mlp_to_proto(m, &msg);
    msg.temperature = -1.0f;
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), PF_EPROTO);
    msg.temperature = 0.0f; /* unset in proto3: no calibration */
    cr_assert_eq(pf_mlp_from_proto(&msg, &back), 0);
    cr_assert_eq(pf_mlp_temperature(back), 1.0f);
    free(params);
    pf_mlp_destroy(&back);
    pf_mlp_destroy(&m);
}

static void write_bytes(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n);
    cr_assert_eq(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

Test(mlp, load_rejects_truncated_corrupt_and_foreign_files)
{
    char path[512], bad[512];
    tmp_path(path, sizeof path, "good.pfm");
    tmp_path(bad, sizeof bad, "bad.pfm");
    pf_mlp *m = trained_model(), *back = NULL;
    cr_assert_eq(pf_mlp_save(m, path, 1), 0);
    size_t n;
    uint8_t *bytes = read_bytes(path, &n);

    write_bytes(bad, bytes, n - 10); /* truncated payload */
    cr_assert_eq(pf_mlp_load(bad, &back), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "truncated"), "%s", pf_error_last());
    write_bytes(bad, bytes, 12); /* truncated header */
    cr_assert_eq(pf_mlp_load(bad, &back), PF_EPROTO);

    bytes[n / 2] ^= 0x40; /* one flipped bit in the payload */
    write_bytes(bad, bytes, n);
    cr_assert_eq(pf_mlp_load(bad, &back), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "CRC"), "%s", pf_error_last());
    bytes[n / 2] ^= 0x40;

    bytes[0] = 'X'; /* not a snapshot */
    write_bytes(bad, bytes, n);
    cr_assert_eq(pf_mlp_load(bad, &back), PF_EPROTO);

    unlink(bad);
    cr_assert_eq(pf_mlp_load(bad, &back), PF_EIO);
    cr_assert_null(back);
    free(bytes);
    unlink(path);
    pf_mlp_destroy(&m);
}

/* ---- bad inputs --------------------------------------------------------- */

Test(mlp, new_rejects_bad_sizes)
{
    pf_mlp *m = NULL;
    const uint32_t one[] = {4};
    const uint32_t zero_width[] = {4, 0, 3};
    const uint32_t one_class[] = {4, 8, 1};
    cr_assert_eq(pf_mlp_new(one, 1, 0, &m), PF_EINVAL);
    cr_assert_eq(pf_mlp_new(zero_width, 3, 0, &m), PF_EINVAL);
    cr_assert_eq(pf_mlp_new(one_class, 3, 0, &m), PF_EINVAL);
    cr_assert_null(m);
}

Test(mlp, bad_training_inputs_return_errors_and_leave_params_unchanged)
{
    pf_mlp *m = new_mlp(tiny, 4, 41);
    float *x = normal_matrix(4, 4, 42);
    int32_t y[4] = {0, 1, 2, 1};
    size_t P = pf_mlp_nparams(m);
    float *p0 = malloc(P * sizeof *p0);
    memcpy(p0, pf_mlp_params(m), P * sizeof *p0);
    pf_optim_config oc = pf_optim_defaults(PF_OPTIM_SGD);
    pf_optim *opt, *wrong;
    cr_assert_eq(pf_optim_new(&oc, P, &opt), 0);
    cr_assert_eq(pf_optim_new(&oc, P + 1, &wrong), 0);

    cr_assert_eq(pf_mlp_train_step(m, opt, x, 4, y, NULL, NULL, NAN, NULL), PF_EINVAL);
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 4, y, NULL, NULL, 0.0f, NULL), PF_EINVAL);
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 4, NULL, NULL, NULL, 1.0f, NULL), PF_EINVAL);
    int32_t bad_y[4] = {0, 3, 2, 1};
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 4, bad_y, NULL, NULL, 1.0f, NULL), PF_EINVAL);
    cr_assert(strstr(pf_error_last(), "sample 1: label 3"), "%s", pf_error_last());
    float w[4] = {1, -1, 1, 1};
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 4, y, NULL, w, 1.0f, NULL), PF_EINVAL);
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 0, y, NULL, NULL, 1.0f, NULL), PF_EINVAL);
    cr_assert_eq(pf_mlp_train_step(m, wrong, x, 4, y, NULL, NULL, 1.0f, NULL), PF_EMISMATCH);
    float nan_x[16];
    memcpy(nan_x, x, sizeof nan_x);
    nan_x[5] = NAN; /* a NaN feature is refused before it can poison the weights */
    cr_assert_eq(pf_mlp_train_step(m, opt, nan_x, 4, y, NULL, NULL, 1.0f, NULL), PF_EINVAL);
    cr_assert(strstr(pf_error_last(), "sample 1: feature 1 not finite"), "%s", pf_error_last());
    float *p = pf_mlp_params(m);
    float saved = p[80];
    p[80] = INFINITY; /* a diverged bias b_3[0]: the loss is not finite */
    cr_assert_eq(pf_mlp_train_step(m, opt, x, 4, y, NULL, NULL, 1.0f, NULL), PF_ERANGE);
    p[80] = saved;
    cr_assert_eq(memcmp(p0, pf_mlp_params(m), P * sizeof *p0), 0);
    cr_assert_eq(pf_mlp_get_counters(m).steps, 0);
    cr_assert_eq(pf_optim_steps(opt), 0);
    float probs[12];
    cr_assert_eq(pf_mlp_predict_proba(m, x, 4, NAN, probs), PF_EINVAL);
    cr_assert_eq(pf_mlp_set_temperature(m, INFINITY), PF_EINVAL);

    pf_optim_config bad = oc;
    bad.lr = NAN;
    pf_optim *o2 = (pf_optim *)1;
    cr_assert_eq(pf_optim_new(&bad, P, &o2), PF_EINVAL);
    cr_assert_null(o2);
    bad = oc;
    bad.momentum = 1.0f;
    cr_assert_eq(pf_optim_new(&bad, P, &o2), PF_EINVAL);

    pf_optim_destroy(&wrong);
    pf_optim_destroy(&opt);
    cr_assert_null(opt);
    free(p0);
    free(x);
    pf_mlp_destroy(&m);
    pf_mlp_destroy(&m); /* NULL-safe */
}

Test(mlp, set_threads_rejects_zero)
{
    cr_assert_eq(pf_models_set_threads(0), PF_EINVAL);
    cr_assert_eq(pf_models_set_threads(1), 0);
    cr_assert_eq(pf_models_threads(), 1);
}
