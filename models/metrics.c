/*
 * metrics.c - accuracy, macro-F1, per-class recall, NLL, ECE, Brier and the
 * confusion matrix in one pass over the predictions (definitions in
 * metrics.h).
 *
 * One pass fills the confusion matrix, the NLL and Brier sums, and per-bin
 * confidence/correctness sums for ECE; everything else is derived from the
 * confusion matrix. The ECE bin of a confidence c is ⌈15c⌉ − 1, which puts
 * c in (l, u] with l = b/15, u = (b+1)/15 as METHODS.md specifies, and
 * c = 0 in bin 0. Calibration of probabilities (temperature scaling) is
 * not done here but in calibrate.c; conformal sets in conformal.c.
 *
 * Predictions arrive from other processes, so labels and probabilities are
 * validated, not asserted.
 */
#include "models/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

int pf_metrics_init(pf_metrics *mt, size_t classes)
{
    memset(mt, 0, sizeof *mt);
    if (classes < 2) return pf_errorf(PF_EINVAL, "metrics: %zu classes, need >= 2", classes);
    if (classes > 65536) return pf_errorf(PF_EINVAL, "metrics: %zu classes, max 65536", classes);
    mt->classes = classes;
    mt->recall = calloc(classes, sizeof *mt->recall);
    mt->confusion = calloc(classes * classes, sizeof *mt->confusion);
    if (!mt->recall || !mt->confusion) {
        pf_metrics_fini(mt);
        return pf_errorf(PF_ENOMEM, "metrics: %zu classes", classes);
    }
    return 0;
}

void pf_metrics_fini(pf_metrics *mt)
{
    if (!mt) return;
    free(mt->recall);
    free(mt->confusion);
    mt->recall = NULL;
    mt->confusion = NULL;
}

size_t pf_metrics_argmax(const float *p, size_t classes)
{
    size_t best = 0;
    for (size_t c = 1; c < classes; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

static int ece_bin(double conf)
{
    int b = (int)ceil(conf * PF_METRICS_ECE_BINS) - 1;
    if (b < 0) b = 0;
    if (b >= PF_METRICS_ECE_BINS) b = PF_METRICS_ECE_BINS - 1;
    return b;
}

/* Add (sign 1) or take back (sign -1) one prediction. */
static void reliability_count(pf_reliability *r, double conf, int correct, int sign)
{
    conf = conf > 0 ? (conf < 1 ? conf : 1) : 0; /* NaN to 0 as well */
    int b = ece_bin(conf);
    r->n += (uint64_t)(int64_t)sign;
    r->correct += (uint64_t)(int64_t)(sign * (correct != 0));
    r->conf_sum += sign * conf;
    r->bin_n[b] += sign;
    r->bin_conf[b] += sign * conf;
    r->bin_correct[b] += sign * (correct != 0);
}

void pf_reliability_add(pf_reliability *r, double conf, int correct)
{
    reliability_count(r, conf, correct, 1);
}

void pf_reliability_remove(pf_reliability *r, double conf, int correct)
{
    reliability_count(r, conf, correct, -1);
}

double pf_reliability_accuracy(const pf_reliability *r)
{
    return r->n ? (double)r->correct / (double)r->n : 0.0;
}

double pf_reliability_confidence(const pf_reliability *r)
{
    return r->n ? r->conf_sum / (double)r->n : 0.0;
}

double pf_reliability_ece(const pf_reliability *r)
{
    double ece = 0.0;
    for (int b = 0; b < PF_METRICS_ECE_BINS; b++)
        if (r->bin_n[b] > 0.5) ece += fabs(r->bin_correct[b] - r->bin_conf[b]) / (double)r->n;
    return ece;
}

int pf_metrics_compute(pf_metrics *mt, const float *probs, const int32_t *labels, size_t n)
{
    size_t C = mt->classes;
    if (n == 0) return pf_errorf(PF_EINVAL, "metrics: no samples");
    memset(mt->confusion, 0, C * C * sizeof *mt->confusion);
    double nll = 0.0, brier = 0.0;
    pf_reliability rel = {0};

    for (size_t i = 0; i < n; i++) {
        const float *p = probs + i * C;
        int32_t y = labels[i];
        if (y < 0 || (size_t)y >= C)
            return pf_errorf(PF_EINVAL, "metrics: sample %zu: label %d outside [0, %zu)", i, (int)y,
                             C);
        for (size_t c = 0; c < C; c++) {
            if (!(p[c] >= 0.0f) || !isfinite(p[c]))
                return pf_errorf(PF_EINVAL, "metrics: sample %zu: p[%zu] = %g", i, c, (double)p[c]);
            double t = (double)p[c] - (c == (size_t)y ? 1.0 : 0.0);
            brier += t * t;
        }
        size_t yhat = pf_metrics_argmax(p, C);
        mt->confusion[(size_t)y * C + yhat]++;
        double py = p[y];
        nll -= log(py > PF_METRICS_NLL_CLIP ? py : PF_METRICS_NLL_CLIP);
        pf_reliability_add(&rel, p[yhat], yhat == (size_t)y);
    }

    double correct = 0.0, f1_sum = 0.0;
    size_t f1_classes = 0;
    for (size_t c = 0; c < C; c++) {
        uint64_t tp = mt->confusion[c * C + c], support = 0, predicted = 0;
        for (size_t k = 0; k < C; k++) {
            support += mt->confusion[c * C + k];
            predicted += mt->confusion[k * C + c];
        }
        correct += (double)tp;
        mt->recall[c] = support ? (double)tp / (double)support : NAN;
        if (support || predicted) {
            /* 2TP + FP + FN = support + predicted. */
            f1_sum += 2.0 * (double)tp / (double)(support + predicted);
            f1_classes++;
        }
    }
    mt->n = n;
    mt->accuracy = correct / (double)n;
    mt->macro_f1 = f1_sum / (double)f1_classes; /* >= 1 class: n > 0 */
    mt->nll = nll / (double)n;
    mt->ece = pf_reliability_ece(&rel);
    mt->brier = brier / (double)n;
    return 0;
}
