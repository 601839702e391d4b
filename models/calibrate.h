/*
 * calibrate.h - temperature scaling (Guo et al., 2017): one scalar T > 0
 * that minimizes the NLL of softmax(z / T) on held-out labeled logits.
 *
 *     float T;
 *     pf_calibrate_temperature(logits, labels, n, classes, &T);  // logits [n, classes]
 *     pf_mlp_set_temperature(model, T);        // carried in snapshots
 *     pf_mlp_predict_proba(model, x, k, pf_mlp_temperature(model), probs);
 *
 * Dividing all logits by the same T > 0 keeps their order, so accuracy is
 * unchanged; only confidence moves (T > 1 softens an overconfident model).
 */
#ifndef PF_CALIBRATE_H
#define PF_CALIBRATE_H

#include <stddef.h>
#include <stdint.h>

#define PF_CALIBRATE_T_MIN 0.05f /* search range for T; outside it a model */
#define PF_CALIBRATE_T_MAX 20.0f /* is degenerate, not miscalibrated */

/* Mean NLL (1/n) Σ −log softmax(z_i / T)_{y_i}, computed stably in double.
 * Errors: PF_EINVAL (n == 0, T not finite and > 0, label outside
 * [0, classes), non-finite logit). */
int pf_calibrate_nll(const float *logits, const int32_t *labels, size_t n, size_t classes, float T,
                     double *nll);

/* Fit T in [PF_CALIBRATE_T_MIN, PF_CALIBRATE_T_MAX] minimizing
 * pf_calibrate_nll, by golden-section search on log T to a relative
 * precision of 1e-4. Errors: those of pf_calibrate_nll. */
int pf_calibrate_temperature(const float *logits, const int32_t *labels, size_t n, size_t classes,
                             float *T_out);

#endif
