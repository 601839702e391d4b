/*
 * optim.h - first-order optimizers over a flat parameter vector: SGD with
 * momentum (optionally Nesterov) and Adam, with weight decay.
 *
 *     pf_optim_config cfg = pf_optim_defaults(PF_OPTIM_ADAM);
 *     cfg.lr = 1e-3f;
 *     cfg.weight_decay = 1e-4f;
 *     pf_optim *opt;
 *     if (pf_optim_new(&cfg, pf_mlp_nparams(model), &opt) < 0) ...;
 *     ... pf_mlp_train_step(model, opt, ...) ...
 *     pf_optim_destroy(&opt);
 *
 * Update rules, per parameter θ with gradient g (η = lr, λ = weight_decay):
 *
 *   SGD:      g ← g + λθ (L2, coupled: the same as adding λ/2·‖θ‖² to the loss)
 *             v ← μv + g
 *             θ ← θ − η·v                (Nesterov: θ ← θ − η·(g + μv))
 *   Adam:     m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
 *             m̂ = m / (1−β1^t),     v̂ = v / (1−β2^t)
 *             θ ← θ − η·(m̂ / (√v̂ + ε) + λθ)        (decoupled, AdamW)
 *
 * Decay applies only to the segments the caller marks (the MLP marks its
 * weight matrices, not its biases). The optimizer owns its state (velocity,
 * or both moments), sized to the model at creation; one optimizer serves
 * one model. Not thread-safe.
 */
#ifndef PF_OPTIM_H
#define PF_OPTIM_H

#include <stddef.h>
#include <stdint.h>

typedef enum pf_optim_kind {
    PF_OPTIM_SGD = 0,  /* SGD with (Nesterov) momentum and L2 weight decay */
    PF_OPTIM_ADAM = 1, /* Adam, bias-corrected, decoupled weight decay (AdamW) */
} pf_optim_kind;

typedef struct pf_optim_config {
    pf_optim_kind kind;
    float lr;           /* learning rate η, finite, > 0 */
    float momentum;     /* SGD μ in [0, 1) */
    int nesterov;       /* SGD: 1 = Nesterov momentum */
    float beta1, beta2; /* Adam moment decays in [0, 1) */
    float eps;          /* Adam denominator guard, > 0 */
    float weight_decay; /* λ >= 0; meaning depends on kind (see above) */
} pf_optim_config;

typedef struct pf_optim pf_optim;

/* Defaults: SGD lr 0.05, momentum 0.9, no Nesterov; Adam lr 1e-3,
 * β = (0.9, 0.999), ε = 1e-8. Weight decay 0 for both. */
pf_optim_config pf_optim_defaults(pf_optim_kind kind);

/* New optimizer for nparams parameters, state zeroed. *out owned by the
 * caller (pf_optim_destroy). Errors: PF_EINVAL for a value outside the
 * ranges above or nparams == 0; PF_ENOMEM. */
int pf_optim_new(const pf_optim_config *cfg, size_t nparams, pf_optim **out);

/* Free and set *o = NULL; NULL-safe. */
void pf_optim_destroy(pf_optim **o);

/* One optimizer step is pf_optim_begin_step() followed by pf_optim_update()
 * on each parameter segment, in any order, each segment once. begin_step
 * advances the step counter t (Adam's bias correction uses it). */
void pf_optim_begin_step(pf_optim *o);

/* Update params[0..count) (global indices offset..offset+count of the
 * vector this optimizer was made for) with grads[0..count); decay != 0
 * applies weight decay to this segment. Asserts the segment fits. */
void pf_optim_update(pf_optim *o, size_t offset, float *params, const float *grads, size_t count,
                     int decay);

/* Change the learning rate (schedules, warm restarts). Errors: PF_EINVAL. */
int pf_optim_set_lr(pf_optim *o, float lr);

/* Zero the state and the step counter (e.g. after loading new weights). */
void pf_optim_reset(pf_optim *o);

float pf_optim_lr(const pf_optim *o);
size_t pf_optim_nparams(const pf_optim *o);
uint64_t pf_optim_steps(const pf_optim *o); /* begin_step calls since new/reset */
const pf_optim_config *pf_optim_config_of(const pf_optim *o);

#endif
