/*
 * optim.c - SGD with momentum and Adam over flat float vectors; the update
 * rules are in optim.h.
 *
 * The model hands over its parameters in segments (one per weight matrix
 * and bias vector) so that weight decay can skip biases without the
 * optimizer knowing about layers. State is one or two float vectors the
 * size of the model, allocated once in pf_optim_new: no allocation per
 * step.
 *
 * These are elementwise loops, not BLAS: each is a single pass over
 * memory that the compiler vectorizes, and BLAS axpy kernels may fuse
 * multiply-adds differently across CPUs, which would break
 * bit-reproducibility between machines for no speed gain. Adam's bias
 * corrections are computed once per step in double (1 − β^t underflows
 * gracefully to 1 for large t).
 *
 * Not here: learning-rate schedules (callers use pf_optim_set_lr), gradient
 * clipping, and per-parameter-group hyperparameters.
 */
#include "models/optim.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

struct pf_optim {
    pf_optim_config cfg;
    size_t nparams;
    uint64_t t;     /* steps begun */
    float *m;       /* SGD velocity, or Adam first moment; [nparams] */
    float *v;       /* Adam second moment; [nparams]; NULL for SGD */
    float bc1, bc2; /* Adam: 1 / (1 − β^t) for the current step */
};

pf_optim_config pf_optim_defaults(pf_optim_kind kind)
{
    pf_optim_config c = {.kind = kind, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == PF_OPTIM_SGD) {
        c.lr = 0.05f;
        c.momentum = 0.9f;
    } else {
        c.lr = 1e-3f;
    }
    return c;
}

static int in_unit(float x)
{
    return x >= 0.0f && x < 1.0f;
}

static int check_config(const pf_optim_config *c)
{
    if (c->kind != PF_OPTIM_SGD && c->kind != PF_OPTIM_ADAM)
        return pf_errorf(PF_EINVAL, "optim: unknown kind %d", (int)c->kind);
    if (!(c->lr > 0.0f) || !isfinite(c->lr))
        return pf_errorf(PF_EINVAL, "optim: lr %g is not finite and > 0", (double)c->lr);
    if (!(c->weight_decay >= 0.0f) || !isfinite(c->weight_decay))
        return pf_errorf(PF_EINVAL, "optim: weight_decay %g is not finite and >= 0",
                         (double)c->weight_decay);
    if (c->kind == PF_OPTIM_SGD && !in_unit(c->momentum))
        return pf_errorf(PF_EINVAL, "optim: momentum %g outside [0, 1)", (double)c->momentum);
    if (c->kind == PF_OPTIM_ADAM) {
        if (!in_unit(c->beta1) || !in_unit(c->beta2))
            return pf_errorf(PF_EINVAL, "optim: adam betas (%g, %g) outside [0, 1)",
                             (double)c->beta1, (double)c->beta2);
        if (!(c->eps > 0.0f) || !isfinite(c->eps))
            return pf_errorf(PF_EINVAL, "optim: adam eps %g is not finite and > 0", (double)c->eps);
    }
    return 0;
}

int pf_optim_new(const pf_optim_config *cfg, size_t nparams, pf_optim **out)
{
    *out = NULL;
    int rc = check_config(cfg);
    if (rc < 0) return rc;
    if (nparams == 0) return pf_errorf(PF_EINVAL, "optim: 0 parameters");
    pf_optim *o = calloc(1, sizeof *o);
    if (!o) return pf_errorf(PF_ENOMEM, "optim: %zu parameters", nparams);
    o->cfg = *cfg;
    o->nparams = nparams;
    o->m = calloc(nparams, sizeof *o->m);
    if (cfg->kind == PF_OPTIM_ADAM) o->v = calloc(nparams, sizeof *o->v);
    if (!o->m || (cfg->kind == PF_OPTIM_ADAM && !o->v)) {
        pf_optim_destroy(&o);
        return pf_errorf(PF_ENOMEM, "optim: state for %zu parameters", nparams);
    }
    *out = o;
    return 0;
}

void pf_optim_destroy(pf_optim **o)
{
    if (!o || !*o) return;
    free((*o)->m);
    free((*o)->v);
    free(*o);
    *o = NULL;
}

void pf_optim_begin_step(pf_optim *o)
{
    o->t++;
    if (o->cfg.kind == PF_OPTIM_ADAM) {
        o->bc1 = (float)(1.0 / (1.0 - pow(o->cfg.beta1, (double)o->t)));
        o->bc2 = (float)(1.0 / (1.0 - pow(o->cfg.beta2, (double)o->t)));
    }
}

static void sgd_update(pf_optim *o, float *restrict vel, float *restrict p, const float *restrict g,
                       size_t count, float wd)
{
    const float lr = o->cfg.lr, mu = o->cfg.momentum;
    if (o->cfg.nesterov) {
        for (size_t i = 0; i < count; i++) {
            float gi = g[i] + wd * p[i];
            vel[i] = mu * vel[i] + gi;
            p[i] -= lr * (gi + mu * vel[i]);
        }
    } else {
        for (size_t i = 0; i < count; i++) {
            vel[i] = mu * vel[i] + g[i] + wd * p[i];
            p[i] -= lr * vel[i];
        }
    }
}

static void adam_update(pf_optim *o, float *restrict m, float *restrict v, float *restrict p,
                        const float *restrict g, size_t count, float wd)
{
    const float lr = o->cfg.lr, b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const float bc1 = o->bc1, bc2 = o->bc2;
    for (size_t i = 0; i < count; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        float mhat = m[i] * bc1, vhat = v[i] * bc2;
        p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
    }
}

void pf_optim_update(pf_optim *o, size_t offset, float *params, const float *grads, size_t count,
                     int decay)
{
    assert(offset <= o->nparams && count <= o->nparams - offset);
    assert(o->t > 0 && "pf_optim_begin_step before pf_optim_update");
    float wd = decay ? o->cfg.weight_decay : 0.0f;
    if (o->cfg.kind == PF_OPTIM_SGD)
        sgd_update(o, o->m + offset, params, grads, count, wd);
    else
        adam_update(o, o->m + offset, o->v + offset, params, grads, count, wd);
}

int pf_optim_set_lr(pf_optim *o, float lr)
{
    if (!(lr > 0.0f) || !isfinite(lr))
        return pf_errorf(PF_EINVAL, "optim: lr %g is not finite and > 0", (double)lr);
    o->cfg.lr = lr;
    return 0;
}

void pf_optim_reset(pf_optim *o)
{
    o->t = 0;
    memset(o->m, 0, o->nparams * sizeof *o->m);
    if (o->v) memset(o->v, 0, o->nparams * sizeof *o->v);
}

float pf_optim_lr(const pf_optim *o)
{
    return o->cfg.lr;
}

size_t pf_optim_nparams(const pf_optim *o)
{
    return o->nparams;
}

uint64_t pf_optim_steps(const pf_optim *o)
{
    return o->t;
}

const pf_optim_config *pf_optim_config_of(const pf_optim *o)
{
    return &o->cfg;
}
