/*
 * loss.c - softmax and weighted, tempered cross-entropy; the formulas are
 * in loss.h.
 *
 * Every row is done in three passes over its C logits: the max (for
 * stability), the log-sum-exp, then log s_c, the loss term and the gradient
 * together. Computing -log s_c as (z_c - max)/T - log Σ exp(...) instead of
 * -log(p_c) keeps confident mistakes exact (no clipping of p at 1e-12 is
 * needed in the training loss). The gradient is written only in the third
 * pass, after the row's logits are read, which is why dz may alias z.
 *
 * Inputs are validated here because targets and weights arrive from other
 * processes (the filter): a bad label or weight is an error, not UB.
 * Per-sample loops are fine here: this is O(n·C), against the O(n·C·H)
 * GEMMs around it.
 */
#include "models/loss.h"

#include <math.h>

#include "runtime/error.h"

void pf_loss_softmax(const float *z, size_t n, size_t classes, float T, float *p)
{
    float inv_t = 1.0f / T;
    for (size_t i = 0; i < n; i++) {
        const float *zi = z + i * classes;
        float *pi = p + i * classes;
        float mx = zi[0];
        for (size_t c = 1; c < classes; c++)
            mx = zi[c] > mx ? zi[c] : mx;
        double sum = 0.0;
        for (size_t c = 0; c < classes; c++) {
            pi[c] = expf((zi[c] - mx) * inv_t);
            sum += pi[c];
        }
        float inv = (float)(1.0 / sum);
        for (size_t c = 0; c < classes; c++)
            pi[c] *= inv;
    }
}

static int check_inputs(size_t n, size_t classes, const int32_t *targets, const float *soft,
                        const float *weights, float T)
{
    if (!(T > 0.0f) || !isfinite(T))
        return pf_errorf(PF_EINVAL, "loss: temperature %g is not finite and > 0", (double)T);
    if (!targets && !soft) return pf_errorf(PF_EINVAL, "loss: neither hard nor soft targets");
    if (classes < 1) return pf_errorf(PF_EINVAL, "loss: 0 classes");
    for (size_t i = 0; i < n; i++) {
        if (weights && !(weights[i] >= 0.0f && isfinite(weights[i])))
            return pf_errorf(PF_EINVAL, "loss: sample %zu: weight %g is not finite and >= 0", i,
                             (double)weights[i]);
        int32_t y = targets ? targets[i] : -1;
        if (y >= 0 && (size_t)y < classes) continue;
        if (y != -1 || !soft)
            return pf_errorf(PF_EINVAL, "loss: sample %zu: label %d outside [0, %zu)%s", i, (int)y,
                             classes, soft ? " and not -1" : "");
        for (size_t c = 0; c < classes; c++) {
            float q = soft[i * classes + c];
            if (!(q >= 0.0f && isfinite(q)))
                return pf_errorf(PF_EINVAL, "loss: sample %zu: soft target[%zu] = %g", i, c,
                                 (double)q);
        }
    }
    return 0;
}

void pf_loss_smooth_target(int32_t y, size_t classes, float eps, float *q)
{
    float u = eps / (float)classes;
    for (size_t c = 0; c < classes; c++) q[c] = u;
    q[y] += 1.0f - eps;
}

void pf_loss_sharpen(const float *p, size_t n, size_t classes, float T, float *q)
{
    double e = 1.0 / (double)T;
    for (size_t i = 0; i < n; i++) {
        const float *pi = p + i * classes;
        float *qi = q + i * classes;
        float mx = 0.0f;
        for (size_t c = 0; c < classes; c++) mx = fmaxf(mx, pi[c]);
        double sum = 0.0; /* (p / max)^(1/T): the largest term is 1, so sum >= 1 */
        for (size_t c = 0; c < classes; c++) sum += qi[c] = (float)pow((double)pi[c] / mx, e);
        for (size_t c = 0; c < classes; c++) qi[c] = (float)(qi[c] / sum);
    }
}

int pf_loss_xent(const float *z, size_t n, size_t classes, const int32_t *targets,
                 const float *soft, const float *weights, float T, float *dz, double *loss)
{
    int rc = check_inputs(n, classes, targets, soft, weights, T);
    if (rc < 0) return rc;
    *loss = 0.0;
    if (n == 0) return 0;

    float inv_t = 1.0f / T;
    double t2 = (double)T * T;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *zi = z + i * classes;
        float *di = dz ? dz + i * classes : NULL;
        int32_t y = targets ? targets[i] : -1;
        const float *qi = y < 0 ? soft + i * classes : NULL;
        float w = weights ? weights[i] : 1.0f;

        float mx = zi[0];
        for (size_t c = 1; c < classes; c++)
            mx = zi[c] > mx ? zi[c] : mx;
        double sum = 0.0;
        for (size_t c = 0; c < classes; c++)
            sum += exp((double)((zi[c] - mx) * inv_t));
        double lse = log(sum);

        double qsum = 1.0; /* Σ_c q_c; exactly 1 for a hard target */
        if (qi) {
            qsum = 0.0;
            for (size_t c = 0; c < classes; c++)
                qsum += qi[c];
        }
        /* dL/dz_c = (w·T/n)·(s_c·Σq − q_c): T from the T² factor over the 1/T of z/T. */
        double coef = (double)w * T / (double)n;
        double li = 0.0;
        for (size_t c = 0; c < classes; c++) {
            double logs = (double)((zi[c] - mx) * inv_t) - lse; /* log s_c(T) */
            double q = qi ? (double)qi[c] : (c == (size_t)y ? 1.0 : 0.0);
            if (q != 0.0) li -= q * logs;
            if (di) di[c] = (float)(coef * (exp(logs) * qsum - q));
        }
        total += (double)w * li;
    }
    *loss = total * t2 / (double)n;
    if (!isfinite(*loss)) return pf_errorf(PF_ERANGE, "loss: not finite (diverged logits?)");
    return 0;
}

int pf_loss_elr_add(const float *s, size_t n, size_t classes, const float *t, const float *lambda,
                    float *dz, double *loss)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double lam = lambda[i];
        if (!(lam >= 0.0) || !isfinite(lam))
            return pf_errorf(PF_EINVAL, "elr: sample %zu: lambda %g is not finite and >= 0", i, lam);
        if (lam == 0.0) continue;
        const float *si = s + i * classes, *ti = t + i * classes;
        double tsum = 0.0;
        for (size_t c = 0; c < classes; c++) {
            if (!(ti[c] >= 0.0f) || !isfinite(ti[c]))
                return pf_errorf(PF_EINVAL, "elr: sample %zu: target[%zu] = %g", i, c, (double)ti[c]);
            tsum += ti[c];
        }
        if (tsum > 1.0 + 1e-4) return pf_errorf(PF_EINVAL, "elr: sample %zu: target sums to %g > 1", i, tsum);
        /* <p, t> over the clamped p; the clamp bounds 1 - <p, t> away from 0 */
        double dot = 0.0;
        for (size_t c = 0; c < classes; c++) dot += fmin(fmax(si[c], PF_ELR_CLAMP), 1.0 - PF_ELR_CLAMP) * ti[c];
        double gap = 1.0 - dot;
        total += lam * log(gap);
        if (!dz) continue;
        /* g_k = -t_k·1[unclamped]/gap; dz_j += (lam/n)·s_j·(g_j − Σ_k s_k g_k) */
        double sg = 0.0;
        for (size_t c = 0; c < classes; c++)
            if (si[c] > PF_ELR_CLAMP && si[c] < 1.0f - PF_ELR_CLAMP) sg += (double)si[c] * -ti[c] / gap;
        double coef = lam / (double)n;
        for (size_t c = 0; c < classes; c++) {
            double g = si[c] > PF_ELR_CLAMP && si[c] < 1.0f - PF_ELR_CLAMP ? -ti[c] / gap : 0.0;
            dz[i * classes + c] += (float)(coef * si[c] * (g - sg));
        }
    }
    double r = total / (double)n;
    if (!isfinite(r)) return pf_errorf(PF_ERANGE, "elr: not finite (diverged logits?)");
    *loss += r;
    return 0;
}

void pf_loss_elr_target(const float *p, size_t classes, float beta, float *t)
{
    double sum = 0.0;
    for (size_t c = 0; c < classes; c++) sum += fminf(fmaxf(p[c], PF_ELR_CLAMP), 1.0f - PF_ELR_CLAMP);
    for (size_t c = 0; c < classes; c++) {
        double pc = fminf(fmaxf(p[c], PF_ELR_CLAMP), 1.0f - PF_ELR_CLAMP) / sum;
        t[c] = (float)(beta * t[c] + (1.0 - beta) * pc);
    }
}
