/*
 * loss.h - softmax at a temperature and weighted cross-entropy on logits.
 *
 *     // z: logits, shape = [n, classes], row-major
 *     pf_loss_softmax(z, n, classes, 1.0f, probs);          // probs [n, classes]
 *     double L;
 *     pf_loss_xent(z, n, classes, labels, NULL, NULL, 1.0f, dz, &L);
 *
 * The loss, per sample i with s = softmax(z_i / T):
 *
 *     hard target y:  L_i = -log s_y · T²
 *     soft target q:  L_i = Σ_c q_c · (-log s_c) · T²      (METHODS.md, distillation)
 *     batch:          L   = (1/n) Σ_i w_i · L_i
 *
 * and its gradient with respect to the logits:
 *
 *     dL/dz_i = (w_i · T / n) · (s · Σ_c q_c - q)          (hard: q = one-hot(y))
 *
 * The T² factor keeps gradient magnitudes comparable across temperatures
 * (Hinton et al., 2015); at T = 1 this is plain cross-entropy. The batch
 * mean divides by n, not by Σ w: a weight is absolute trust, as in
 * FixMatch's masked mean and SoftMatch's weighted mean, so a batch of
 * barely trusted samples moves the model barely.
 */
#ifndef PF_LOSS_H
#define PF_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* Row-wise softmax of z / T into p (shape = [n, classes], row-major),
 * numerically stable (max subtracted). p may equal z. T must be finite and
 * > 0 and the logits finite (asserted by callers: this cannot fail). */
void pf_loss_softmax(const float *z, size_t n, size_t classes, float T, float *p);

/* Label smoothing: q [classes] = (1 - eps)·one_hot(y) + eps/classes. y must
 * be in [0, classes) and eps in [0, 1] (callers validate: this cannot fail). */
void pf_loss_smooth_target(int32_t y, size_t classes, float eps, float *q);

/* Sharpening (MixMatch's, Berthelot et al. 2019): q [n, classes] row-wise
 * proportional to p^(1/T), a distribution with the same argmax and lower
 * entropy for T < 1. Cross-entropy against q (no gradient through it) has
 * logit gradient p - q: a push towards a confident prediction, the
 * entropy-minimization term of VAT+EntMin without negative targets. p rows
 * are distributions (non-negative, not all 0); T finite > 0; q may equal p
 * (callers validate: this cannot fail). */
void pf_loss_sharpen(const float *p, size_t n, size_t classes, float T, float *q);

/* Weighted mean cross-entropy of logits z [n, classes] against targets.
 *
 * targets: [n] class indices, or NULL. soft: [n, classes] non-negative
 * target masses (usually summing to 1), or NULL. At least one is given;
 * when both are, sample i uses targets[i] if targets[i] >= 0 and the soft
 * row i if targets[i] == -1 (hard labels and distillation in one batch).
 * weights: [n] finite, >= 0, or NULL for all 1. T: temperature, finite > 0.
 *
 * Writes the mean loss to *loss (accumulated in double) and, if dz is not
 * NULL, dL/dz [n, classes] to dz (dz may equal z: each row is read before
 * it is written). n == 0 gives loss 0.
 *
 * Errors: PF_EINVAL for a missing target, a label outside [0, classes)
 * (or -1 without soft), a negative/NaN/Inf weight or soft mass, a bad T.
 * PF_ERANGE if the loss is not finite (diverged logits); dz is then
 * unspecified. Nothing is allocated. */
int pf_loss_xent(const float *z, size_t n, size_t classes, const int32_t *targets,
                 const float *soft, const float *weights, float T, float *dz, double *loss);

/* Early-learning regularization (ELR; Liu et al. 2020, METHODS.md): for
 * s = softmax(z) [n, classes] of logits z at T = 1 (pf_loss_softmax; the
 * caller has it, so it is not computed again) and running targets t
 * [n, classes] (no gradient through them), with p = clamp(s, PF_ELR_CLAMP,
 * 1 - PF_ELR_CLAMP) elementwise as the paper's code does,
 *
 *     R   = (1/n) Σ_i lambda_i · log(1 − <p_i, t_i>)
 *     dR/dz_ij = (lambda_i/n) · s_ij · (g_ij − Σ_k s_ik g_ik),
 *                g_ik = −t_ik · 1[p_ik unclamped] / (1 − <p_i, t_i>)
 *
 * (s the unclamped softmax). Minimizing R pulls each prediction towards
 * the average of its own earlier predictions, which the clean samples
 * dominate early in training, so a wrong label is fitted later or never.
 * R is ADDED to *loss and dR/dz ADDED to dz (call it after pf_loss_xent on
 * the same rows). lambda: [n] finite >= 0, 0 = no term for the row (its t
 * row is not read); t rows: finite, >= 0, sum <= 1. Errors: PF_EINVAL (a
 * bad lambda or t row), PF_ERANGE (R not finite). */
#define PF_ELR_CLAMP 1e-4f
int pf_loss_elr_add(const float *s, size_t n, size_t classes, const float *t, const float *lambda,
                    float *dz, double *loss);

/* The ELR running target update: t <- beta·t + (1 − beta)·p̂ with p̂ the
 * clamped probabilities p [classes] renormalized to sum 1. */
void pf_loss_elr_target(const float *p, size_t classes, float beta, float *t);

#endif
