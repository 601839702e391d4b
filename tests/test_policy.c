/*
 * test_policy.c - the filter's policies (nodes/policy.c) against values
 * computed by hand from the formulas in METHODS.md.
 *
 * Two classes keep the arithmetic checkable: after one observed batch with
 * momentum 0.5 of unlabeled rows (0.8, 0.2) and (0.6, 0.4) (and a labeled
 * row that must be ignored), p~ = 0.5 * (0.5, 0.5) + 0.5 * (0.7, 0.3)
 * = (0.6, 0.4), the mean confidence 0.5 * 0.5 + 0.5 * 0.7 = 0.6 and its
 * variance 0.5 * 1 + 0.5 * 0.02 = 0.51.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "nodes/policy.h"

#define EPS 1e-6

static const float batch[] = {0.8f, 0.2f, 0.6f, 0.4f, 0.0f, 1.0f};
static const int32_t labels[] = {-1, -1, 1};

static void observed(pf_policy *pp, pf_policy_kind kind, int align)
{
    cr_assert_eq(pf_policy_init(pp, kind, 2, 0.95, 0.5, 0.01, align), 0);
    pf_policy_observe(pp, batch, labels, 3);
}

Test(policy, observe_moves_the_emas_by_the_unlabeled_rows_only)
{
    pf_policy pp;
    observed(&pp, PF_POLICY_FIXMATCH, 0);
    cr_assert_float_eq(pp.p_model[0], 0.6, EPS);
    cr_assert_float_eq(pp.p_model[1], 0.4, EPS);
    cr_assert_float_eq(pp.conf_mean, 0.6, EPS);
    cr_assert_float_eq(pp.conf_var, 0.51, EPS);
    /* A batch with only labeled rows moves nothing. */
    const int32_t all_given[] = {0, 1};
    pf_policy_observe(&pp, batch, all_given, 2);
    cr_assert_float_eq(pp.p_model[0], 0.6, EPS);
    cr_assert_float_eq(pp.conf_mean, 0.6, EPS);
    pf_policy_free(&pp);
}

Test(policy, fixmatch_keeps_exactly_the_rows_at_or_above_tau)
{
    pf_policy pp;
    observed(&pp, PF_POLICY_FIXMATCH, 0);
    float w;
    const float sure[] = {0.04f, 0.96f}, unsure[] = {0.9f, 0.1f};
    cr_assert_eq(pf_policy_decide(&pp, sure, &w), 1);
    cr_assert_float_eq(w, 1.0, EPS);
    cr_assert_eq(pf_policy_decide(&pp, unsure, &w), -1);
    cr_assert_float_eq(w, 0.0, EPS);
    pf_policy_free(&pp);
}

Test(policy, alignment_divides_by_the_class_distribution_and_renormalizes)
{
    pf_policy pp;
    observed(&pp, PF_POLICY_FIXMATCH, 1);
    float q[2];
    const float like_model[] = {0.6f, 0.4f}, p[] = {0.9f, 0.1f};
    pf_policy_align(&pp, like_model, q);
    cr_assert_float_eq(q[0], 0.5, EPS);
    cr_assert_float_eq(q[1], 0.5, EPS);
    pf_policy_align(&pp, p, q); /* (0.9/0.6, 0.1/0.4) = (1.5, 0.25), / 1.75 */
    cr_assert_float_eq(q[0], 1.5 / 1.75, EPS);
    cr_assert_float_eq(q[1], 0.25 / 1.75, EPS);
    pf_policy_free(&pp);
    observed(&pp, PF_POLICY_FIXMATCH, 0); /* align off: a copy */
    pf_policy_align(&pp, p, q);
    cr_assert_float_eq(q[0], 0.9, EPS);
    pf_policy_free(&pp);
}

Test(policy, freematch_scales_the_adaptive_threshold_per_class)
{
    /* tau_t = 0.6; class 0: 0.6 * 0.6 / 0.6 = 0.6, class 1: 0.6 * 0.4 / 0.6 = 0.4 */
    pf_policy pp;
    observed(&pp, PF_POLICY_FREEMATCH, 0);
    float w;
    const float below0[] = {0.55f, 0.45f}, above0[] = {0.62f, 0.38f}, above1[] = {0.42f, 0.58f};
    cr_assert_eq(pf_policy_decide(&pp, below0, &w), -1);
    cr_assert_eq(pf_policy_decide(&pp, above0, &w), 0);
    cr_assert_float_eq(w, 1.0, EPS);
    cr_assert_eq(pf_policy_decide(&pp, above1, &w), 1, "0.58 passes class 1's lower threshold 0.4");
    pf_policy_free(&pp);
}

Test(policy, softmatch_weighs_one_above_the_mean_and_gaussian_below)
{
    pf_policy pp;
    observed(&pp, PF_POLICY_SOFTMATCH, 0);
    float w;
    const float above[] = {0.7f, 0.3f}, below[] = {0.5f, 0.5f};
    cr_assert_eq(pf_policy_decide(&pp, above, &w), 0);
    cr_assert_float_eq(w, 1.0, EPS);
    cr_assert_eq(pf_policy_decide(&pp, below, &w), 0);
    cr_assert_float_eq(w, exp(-0.01 / (2 * 0.51 / 4)), 1e-5); /* d = -0.1, n_sigma = 2 */
    pf_policy_free(&pp);

    /* Momentum 0: the EMAs are this batch's figures, mean 0.8 and variance
     * 0.02; at 0.5, w = exp(-0.09 / 0.01) = 1.2e-4 < min_weight: rejected. */
    cr_assert_eq(pf_policy_init(&pp, PF_POLICY_SOFTMATCH, 2, 0.95, 0.0, 0.01, 0), 0);
    const float sharp[] = {0.9f, 0.1f, 0.7f, 0.3f};
    pf_policy_observe(&pp, sharp, NULL, 2);
    cr_assert_float_eq(pp.conf_mean, 0.8, EPS);
    cr_assert_float_eq(pp.conf_var, 0.02, EPS);
    cr_assert_eq(pf_policy_decide(&pp, below, &w), -1);
    cr_assert_float_eq(w, 0.0, EPS);
    pf_policy_free(&pp);
}

Test(policy, none_rejects_even_a_certain_row)
{
    pf_policy pp;
    observed(&pp, PF_POLICY_NONE, 0);
    float w = 1;
    const float certain[] = {1.0f, 0.0f};
    cr_assert_eq(pf_policy_decide(&pp, certain, &w), -1);
    cr_assert_float_eq(w, 0.0, EPS);
    pf_policy_free(&pp);
}

/* Two classes, six rows predicted as class 0 with conf = 1 - e^-k, k = 1..6,
 * so margins ln(conf / (1 - conf)) = ln(e^k - 1) = 0.541, 1.855, 2.949,
 * 3.982, 4.993, 5.998, each in its own bin (floor(16 log2(1 + s)) = 9, 24,
 * 31, 37, 41, 44); labeled rows and class 1 stay out. */
static void observe_six(pf_policy *pp, double temperature)
{
    cr_assert_eq(pf_policy_init(pp, PF_POLICY_QUANTILE, 2, 0.95, 1.0, 0.01, 0), 0);
    pf_policy_set_quantile(pp, 0.5, 4);
    float rows[14];
    int32_t given[7];
    for (int k = 0; k < 6; k++) {
        double p = 1 - exp(-(k + 1)), a = pow(p, 1 / temperature), b = pow(1 - p, 1 / temperature);
        rows[2 * k] = (float)(a / (a + b)), rows[2 * k + 1] = (float)(b / (a + b));
        given[k] = -1;
    }
    rows[12] = 0.0f, rows[13] = 1.0f, given[6] = 1; /* a given label: not counted */
    pf_policy_observe(pp, rows, given, 7);
}

Test(policy, quantile_keeps_the_top_fraction_of_each_class)
{
    pf_policy pp;
    observe_six(&pp, 1.0);
    const float fourth[] = {(float)(1 - exp(-4)), (float)exp(-4)}, third[] = {(float)(1 - exp(-3)), (float)exp(-3)};
    /* The top 3 of 6 are the rows k = 6, 5, 4; k = 4's bin 37 starts at the
     * margin 2^(37/16) - 1. */
    cr_assert_float_eq(pf_policy_margin(fourth, 2), log(exp(4) - 1), 1e-5);
    cr_assert_float_eq(pp.cut[0], pow(2, 37 / 16.0) - 1, 1e-9);
    cr_assert_lt(pp.cut[1], 0, "class 1 was never predicted: no cut");
    float w;
    cr_assert_eq(pf_policy_decide(&pp, fourth, &w), 0);
    cr_assert_float_eq(w, 1.0, EPS);
    cr_assert_eq(pf_policy_decide(&pp, third, &w), -1);
    /* Class 1 was never predicted: tau decides. */
    const float sure1[] = {0.04f, 0.96f}, unsure1[] = {0.1f, 0.9f};
    cr_assert_eq(pf_policy_decide(&pp, sure1, &w), 1);
    cr_assert_eq(pf_policy_decide(&pp, unsure1, &w), -1);
    pf_policy_free(&pp);
}

Test(policy, quantile_keeps_the_same_rows_when_the_teacher_is_sharper)
{
    /* Temperature 0.5 squares the odds: every confidence moves, the ranks do not. */
    pf_policy pp;
    observe_six(&pp, 0.5);
    float w;
    for (int k = 0; k < 6; k++) {
        double p = 1 - exp(-(k + 1)), a = p * p, b = (1 - p) * (1 - p);
        const float row[] = {(float)(a / (a + b)), (float)(b / (a + b))};
        cr_assert_eq(pf_policy_decide(&pp, row, &w), k >= 3 ? 0 : -1, "row %d of 6", k + 1);
    }
    pf_policy_free(&pp);
}

Test(policy, quantile_ranks_rows_whose_confidence_is_exactly_one_in_float32)
{
    /* An overconfident teacher: max p rounds to 1.0f in every row, the
     * runner-up does not. Margins ln(1 / p2) = 20.7, 27.6, 34.5, 41.4 (p2 =
     * 1e-9 .. 1e-18) are four bins; keep 0.5 keeps the two largest. */
    pf_policy pp;
    cr_assert_eq(pf_policy_init(&pp, PF_POLICY_QUANTILE, 2, 0.95, 1.0, 0.01, 0), 0);
    pf_policy_set_quantile(&pp, 0.5, 4);
    const float rows[] = {1.0f, 1e-9f, 1.0f, 1e-12f, 1.0f, 1e-15f, 1.0f, 1e-18f};
    pf_policy_observe(&pp, rows, NULL, 4);
    float w;
    for (int k = 0; k < 4; k++)
        cr_assert_eq(pf_policy_decide(&pp, rows + 2 * k, &w), k >= 2 ? 0 : -1, "row with p2 = %g", rows[2 * k + 1]);
    pf_policy_free(&pp);
}
