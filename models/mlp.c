/*
 * mlp.c - softmax regression and ReLU MLPs: init, forward, backprop, one
 * training step, EMA, augmentation. Snapshots are in mlp_snapshot.c.
 *
 * Invariants. All parameters are one contiguous vector in the proto's
 * layout (W_1, b_1, W_2, b_2, ...), so snapshots, EMA and the optimizer
 * treat the model as a flat array, and a snapshot is a memcpy. Gradients
 * mirror that layout in m->grads. Rows are samples (row-major [n, d]), the
 * layout batches arrive in on the wire, so every product is one
 * cblas_sgemm over the whole batch; nothing loops per sample over weights.
 *
 * Work buffers (hidden activations, logits, two ping-pong delta buffers, a
 * vector of ones for bias sums) are sized to the largest batch seen and
 * reused, so steady-state training does not allocate. Inference runs in
 * chunks of FORWARD_CHUNK rows so scoring 10,000 samples does not need
 * 10,000-row buffers.
 *
 * Hidden activations are stored after ReLU; ReLU'(z) is recovered as
 * (a > 0), which needs no separate pre-activation buffer.
 *
 * Hidden dropout (pf_mlp_set_hidden_dropout): in training steps only, each
 * hidden unit's output is zeroed with probability p and the survivors are
 * scaled by 1/(1-p) (inverted dropout, so inference uses the weights as they
 * are). The mask is applied in place after ReLU, so backprop recovers it from
 * the stored activations: a dropped unit reads 0 like an inactive one, and a
 * surviving one passes its gradient scaled by 1/(1-p).
 *
 * Layer normalization (pf_mlp_set_layer_norm): each hidden layer's
 * pre-activation row z is replaced by y = (z − mean(z)) / sqrt(var(z) + eps)
 * over the layer's units, before ReLU, with no gain or bias of its own (the
 * next layer's weights scale it), so the parameter layout is unchanged. The
 * normalized rows and their 1/sqrt(var + eps) are kept for backprop:
 *     dz = (1/σ)·(dy − mean(dy) − y·mean(dy ⊙ y)).
 *
 * Not here: other activations, batch norm, and thread safety (one model per
 * thread; see mlp.h). Input perturbation is pf_mlp_augment.
 */
#include "models/mlp.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/loss.h"
#include "models/rng.h"
#include "runtime/error.h"

/* Rows per inference chunk: 1024 rows × 256 hidden floats is 1 MiB per
 * layer, large enough for sgemm to run at full speed. */
#define FORWARD_CHUNK 1024

/* Layer normalization's variance floor (as in most frameworks). */
#define LN_EPS 1e-5f

struct pf_mlp {
    size_t nsizes;                    /* layers + 1 */
    uint32_t sizes[PF_MLP_MAX_SIZES]; /* d_0 .. d_L */
    size_t w_off[PF_MLP_MAX_SIZES];   /* [l-1]: offset of W_l in params */
    size_t b_off[PF_MLP_MAX_SIZES];   /* [l-1]: offset of b_l in params */
    size_t nparams;
    float *params;             /* [nparams] */
    float *grads;              /* [nparams], same layout */
    float *in_mean, *in_scale; /* [d_0] each, or both NULL */
    float temperature;         /* calibration T carried in snapshots */
    pf_mlp_counters counters;
    float hidden_drop; /* training-time dropout of hidden units; 0 = off */
    pf_rng drop_rng;   /* draws the dropout masks */
    int norm;          /* layer normalization of hidden pre-activations; carried in snapshots */
    float input_power; /* power normalization its features had (metadata); carried in snapshots */

    /* Work buffers, valid for up to cap rows. */
    size_t cap;
    size_t max_width;             /* max d_l over l = 1..L */
    float *xs;                    /* [cap, d_0] standardized input */
    float *act[PF_MLP_MAX_SIZES]; /* [l] for 1 <= l < L: ReLU output [cap, d_l] */
    float *ln_y[PF_MLP_MAX_SIZES];   /* [l] with norm: normalized pre-activation [cap, d_l] */
    float *ln_rstd[PF_MLP_MAX_SIZES]; /* [l] with norm: 1/sqrt(var + eps) per row [cap] */
    float *logits;                /* [cap, d_L] */
    float *delta[2];              /* [cap, max_width] each */
    float *ones;                  /* [cap], all 1.0f */
};

/* ---- lifecycle ---------------------------------------------------------- */

static int check_sizes(const uint32_t *sizes, size_t nsizes, size_t *nparams)
{
    if (!sizes || nsizes < 2 || nsizes > PF_MLP_MAX_SIZES)
        return pf_errorf(PF_EINVAL, "mlp: %zu layer widths, need 2..%d", nsizes, PF_MLP_MAX_SIZES);
    for (size_t i = 0; i < nsizes; i++)
        if (sizes[i] < 1 || sizes[i] > PF_MLP_MAX_WIDTH)
            return pf_errorf(PF_EINVAL, "mlp: width[%zu] = %u outside [1, %u]", i, sizes[i],
                             PF_MLP_MAX_WIDTH);
    if (sizes[nsizes - 1] < 2)
        return pf_errorf(PF_EINVAL, "mlp: %u classes, need >= 2", sizes[nsizes - 1]);
    size_t total = 0;
    for (size_t l = 1; l < nsizes; l++) {
        size_t in = sizes[l - 1], out = sizes[l];
        size_t layer = out * (in + 1); /* no overflow: both <= 2^24 */
        if (total > SIZE_MAX / sizeof(float) - layer)
            return pf_errorf(PF_ERANGE, "mlp: parameter count overflows");
        total += layer;
    }
    *nparams = total;
    return 0;
}

static void init_params(pf_mlp *m, uint64_t seed)
{
    pf_rng rng;
    pf_rng_seed(&rng, seed);
    size_t L = m->nsizes - 1;
    for (size_t l = 1; l <= L; l++) {
        size_t in = m->sizes[l - 1], out = m->sizes[l];
        /* He N(0, 2/fan_in) before a ReLU; LeCun N(0, 1/fan_in) into the softmax. */
        double std = sqrt((l < L ? 2.0 : 1.0) / (double)in);
        float *w = m->params + m->w_off[l - 1];
        for (size_t i = 0; i < out * in; i++)
            w[i] = (float)(std * pf_rng_normal(&rng));
        memset(m->params + m->b_off[l - 1], 0, out * sizeof(float));
    }
}

static pf_mlp *alloc_model(const uint32_t *sizes, size_t nsizes, size_t nparams)
{
    pf_mlp *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->nsizes = nsizes;
    memcpy(m->sizes, sizes, nsizes * sizeof *sizes);
    m->nparams = nparams;
    size_t off = 0;
    for (size_t l = 1; l < nsizes; l++) {
        m->w_off[l - 1] = off;
        off += (size_t)sizes[l] * sizes[l - 1];
        m->b_off[l - 1] = off;
        off += sizes[l];
        if (sizes[l] > m->max_width) m->max_width = sizes[l];
    }
    m->temperature = 1.0f;
    m->input_power = 1.0f;
    m->params = malloc(nparams * sizeof(float));
    m->grads = calloc(nparams, sizeof(float));
    if (!m->params || !m->grads) pf_mlp_destroy(&m);
    return m;
}

int pf_mlp_new(const uint32_t *sizes, size_t nsizes, uint64_t seed, pf_mlp **out)
{
    *out = NULL;
    size_t nparams = 0;
    int rc = check_sizes(sizes, nsizes, &nparams);
    if (rc < 0) return rc;
    pf_mlp *m = alloc_model(sizes, nsizes, nparams);
    if (!m) return pf_errorf(PF_ENOMEM, "mlp: %zu parameters", nparams);
    init_params(m, seed);
    *out = m;
    return 0;
}

static void free_work(pf_mlp *m)
{
    free(m->xs);
    for (size_t l = 0; l < PF_MLP_MAX_SIZES; l++) {
        free(m->act[l]);
        free(m->ln_y[l]);
        free(m->ln_rstd[l]);
    }
    free(m->logits);
    free(m->delta[0]);
    free(m->delta[1]);
    free(m->ones);
}

void pf_mlp_destroy(pf_mlp **pm)
{
    if (!pm || !*pm) return;
    pf_mlp *m = *pm;
    free_work(m);
    free(m->params);
    free(m->grads);
    free(m->in_mean);
    free(m->in_scale);
    free(m);
    *pm = NULL;
}

int pf_mlp_clone(const pf_mlp *src, pf_mlp **out)
{
    *out = NULL;
    pf_mlp *m = alloc_model(src->sizes, src->nsizes, src->nparams);
    if (!m) return pf_errorf(PF_ENOMEM, "mlp clone: %zu parameters", src->nparams);
    memcpy(m->params, src->params, src->nparams * sizeof(float));
    m->temperature = src->temperature;
    m->counters = src->counters;
    m->hidden_drop = src->hidden_drop;
    m->drop_rng = src->drop_rng;
    m->norm = src->norm;
    m->input_power = src->input_power;
    if (pf_mlp_set_standardization(m, src->in_mean, src->in_scale) < 0) {
        pf_mlp_destroy(&m);
        return pf_error_wrap(PF_ENOMEM, "mlp clone: ");
    }
    *out = m;
    return 0;
}

/* ---- accessors ---------------------------------------------------------- */

uint32_t pf_mlp_input_dim(const pf_mlp *m)
{
    return m->sizes[0];
}

uint32_t pf_mlp_classes(const pf_mlp *m)
{
    return m->sizes[m->nsizes - 1];
}

size_t pf_mlp_nparams(const pf_mlp *m)
{
    return m->nparams;
}

const uint32_t *pf_mlp_sizes(const pf_mlp *m, size_t *nsizes)
{
    *nsizes = m->nsizes;
    return m->sizes;
}

float *pf_mlp_params(pf_mlp *m)
{
    return m->params;
}

int pf_mlp_same_shape(const pf_mlp *a, const pf_mlp *b)
{
    return a->nsizes == b->nsizes && a->norm == b->norm &&
           memcmp(a->sizes, b->sizes, a->nsizes * sizeof(uint32_t)) == 0;
}

float pf_mlp_temperature(const pf_mlp *m)
{
    return m->temperature;
}

int pf_mlp_set_temperature(pf_mlp *m, float T)
{
    if (!(T > 0.0f) || !isfinite(T))
        return pf_errorf(PF_EINVAL, "mlp: temperature %g is not finite and > 0", (double)T);
    m->temperature = T;
    return 0;
}

int pf_mlp_set_hidden_dropout(pf_mlp *m, float p, uint64_t seed)
{
    if (!(p >= 0.0f && p < 1.0f))
        return pf_errorf(PF_EINVAL, "mlp: hidden dropout %g outside [0, 1)", (double)p);
    m->hidden_drop = p;
    pf_rng_seed(&m->drop_rng, seed);
    return 0;
}

void pf_mlp_set_layer_norm(pf_mlp *m, int on)
{
    m->norm = on != 0;
}

int pf_mlp_layer_norm(const pf_mlp *m)
{
    return m->norm;
}

int pf_mlp_set_input_power(pf_mlp *m, float p)
{
    if (!(p > 0.0f && isfinite(p))) return pf_errorf(PF_EINVAL, "mlp: input power %g is not finite and > 0", (double)p);
    m->input_power = p;
    return 0;
}

float pf_mlp_input_power(const pf_mlp *m)
{
    return m->input_power;
}

pf_mlp_counters pf_mlp_get_counters(const pf_mlp *m)
{
    return m->counters;
}

void pf_mlp_set_counters(pf_mlp *m, const pf_mlp_counters *c)
{
    m->counters = *c;
}

/* ---- standardization ---------------------------------------------------- */

int pf_mlp_set_standardization(pf_mlp *m, const float *mean, const float *scale)
{
    size_t d = m->sizes[0];
    if (!mean != !scale)
        return pf_errorf(PF_EINVAL, "mlp: standardization needs both mean and scale");
    if (!mean) {
        free(m->in_mean);
        free(m->in_scale);
        m->in_mean = m->in_scale = NULL;
        return 0;
    }
    for (size_t j = 0; j < d; j++)
        if (!isfinite(mean[j]) || !isfinite(scale[j]))
            return pf_errorf(PF_EINVAL, "mlp: standardization feature %zu not finite", j);
    float *nm = malloc(d * sizeof *nm), *ns = malloc(d * sizeof *ns);
    if (!nm || !ns) {
        free(nm);
        free(ns);
        return pf_errorf(PF_ENOMEM, "mlp: standardization for %zu features", d);
    }
    memcpy(nm, mean, d * sizeof *nm);
    memcpy(ns, scale, d * sizeof *ns);
    free(m->in_mean);
    free(m->in_scale);
    m->in_mean = nm;
    m->in_scale = ns;
    return 0;
}

int pf_mlp_fit_standardization(pf_mlp *m, const float *x, size_t n, float min_std)
{
    size_t d = m->sizes[0];
    if (n == 0) return pf_errorf(PF_EINVAL, "mlp: standardization from 0 samples");
    if (!(min_std > 0.0f) || !isfinite(min_std))
        return pf_errorf(PF_EINVAL, "mlp: min_std %g is not finite and > 0", (double)min_std);
    int rc = 0;
    double *sum = calloc(d, sizeof *sum), *sq = calloc(d, sizeof *sq);
    float *mean = malloc(d * sizeof *mean), *scale = malloc(d * sizeof *scale);
    if (!sum || !sq || !mean || !scale) {
        rc = pf_errorf(PF_ENOMEM, "mlp: standardization for %zu features", d);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            sum[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++)
        sum[j] /= (double)n;
    /* Second pass about the mean: no catastrophic cancellation. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double dv = x[i * d + j] - sum[j];
            sq[j] += dv * dv;
        }
    for (size_t j = 0; j < d; j++) {
        double sd = sqrt(sq[j] / (double)n);
        if (!isfinite(sd)) {
            rc = pf_errorf(PF_EINVAL, "mlp: standardization: feature %zu not finite", j);
            goto out;
        }
        mean[j] = (float)sum[j];
        scale[j] = (float)(1.0 / (sd > min_std ? sd : min_std));
    }
    rc = pf_mlp_set_standardization(m, mean, scale);
out:
    free(scale);
    free(mean);
    free(sq);
    free(sum);
    return rc;
}

const float *pf_mlp_in_mean(const pf_mlp *m)
{
    return m->in_mean;
}

const float *pf_mlp_in_scale(const pf_mlp *m)
{
    return m->in_scale;
}

/* ---- forward and backward ----------------------------------------------- */

static int grow(float **p, size_t rows, size_t cols)
{
    if (cols && rows > SIZE_MAX / sizeof(float) / cols) return -1;
    float *q = realloc(*p, rows * cols * sizeof(float));
    if (!q) return -1;
    *p = q;
    return 0;
}

/* Make the work buffers hold n rows; they only ever grow. */
static int ensure_cap(pf_mlp *m, size_t n)
{
    if (n <= m->cap) return 0;
    size_t L = m->nsizes - 1;
    int bad = grow(&m->xs, n, m->sizes[0]) | grow(&m->logits, n, m->sizes[L]) |
              grow(&m->delta[0], n, m->max_width) | grow(&m->delta[1], n, m->max_width) |
              grow(&m->ones, n, 1);
    for (size_t l = 1; l < L; l++)
        bad |= grow(&m->act[l], n, m->sizes[l]) | grow(&m->ln_y[l], n, m->sizes[l]) |
               grow(&m->ln_rstd[l], n, 1);
    if (bad) return pf_errorf(PF_ENOMEM, "mlp: work buffers for %zu rows", n);
    for (size_t i = m->cap; i < n; i++)
        m->ones[i] = 1.0f;
    m->cap = n;
    return 0;
}

/* The input of layer 1 for rows x [n, d_0]: x itself, or its standardized
 * copy in m->xs. */
static const float *layer_input(pf_mlp *m, const float *x, size_t n)
{
    if (!m->in_mean) return x;
    size_t d = m->sizes[0];
    const float *mu = m->in_mean, *sc = m->in_scale;
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *o = m->xs + i * d;
        for (size_t j = 0; j < d; j++)
            o[j] = (xi[j] - mu[j]) * sc[j];
    }
    return m->xs;
}

/* Layer normalization of z [n, d] into y_out [n, d]: y = (z − mean)·rstd
 * per row, rstd = 1/sqrt(var + eps) into rstd_out [n]; both are kept for
 * backprop. Sums in double: d is up to thousands of units. */
static void layer_norm_rows(const float *z, size_t n, size_t d, float *y_out, float *rstd_out)
{
    for (size_t i = 0; i < n; i++) {
        const float *r = z + i * d;
        float *y = y_out + i * d;
        double s = 0.0, sq = 0.0;
        for (size_t j = 0; j < d; j++) s += r[j];
        float mu = (float)(s / (double)d);
        for (size_t j = 0; j < d; j++) {
            double dv = (double)r[j] - mu;
            sq += dv * dv;
        }
        float rstd = (float)(1.0 / sqrt(sq / (double)d + LN_EPS));
        for (size_t j = 0; j < d; j++) y[j] = (r[j] - mu) * rstd;
        rstd_out[i] = rstd;
    }
}

/* Backprop through layer normalization, in place: g [n, d] holds dL/dy on
 * entry and dL/dz on return, dz = rstd·(dy − mean(dy) − y·mean(dy ⊙ y)). */
static void layer_norm_backward(float *g, size_t n, size_t d, const float *y, const float *rstd)
{
    for (size_t i = 0; i < n; i++) {
        float *gi = g + i * d;
        const float *yi = y + i * d;
        double sg = 0.0, sgy = 0.0;
        for (size_t j = 0; j < d; j++) {
            sg += gi[j];
            sgy += (double)gi[j] * yi[j];
        }
        float mg = (float)(sg / (double)d), mgy = (float)(sgy / (double)d);
        for (size_t j = 0; j < d; j++) gi[j] = rstd[i] * (gi[j] - mg - yi[j] * mgy);
    }
}

/* Forward n <= cap rows; the last layer's logits go to out [n, d_L].
 * Returns the input actually fed to layer 1 (needed by backprop). `train`
 * applies hidden dropout, if set. */
static const float *forward_rows(pf_mlp *m, const float *x, size_t n, float *out, int train)
{
    float p = train ? m->hidden_drop : 0.0f, keep_scale = 1.0f / (1.0f - p);
    size_t L = m->nsizes - 1;
    const float *a = layer_input(m, x, n);
    const float *a0 = a;
    for (size_t l = 1; l <= L; l++) {
        int in = (int)m->sizes[l - 1], nout = (int)m->sizes[l];
        const float *W = m->params + m->w_off[l - 1];
        const float *b = m->params + m->b_off[l - 1];
        float *z = l < L ? m->act[l] : out;
        for (size_t i = 0; i < n; i++)
            memcpy(z + i * nout, b, (size_t)nout * sizeof(float));
        /* Z [n, out] = A [n, in] · W^T ([out, in] row-major) + Z (Z = b broadcast). */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, nout, in, 1.0f, a, in, W, in,
                    1.0f, z, nout);
        if (l < L) {
            size_t cnt = n * (size_t)nout;
            /* ReLU of z, or of its normalized rows; written so that NaN stays NaN
             * (a NaN input must not look valid). */
            const float *pre = z;
            if (m->norm) {
                layer_norm_rows(z, n, (size_t)nout, m->ln_y[l], m->ln_rstd[l]);
                pre = m->ln_y[l];
            }
            for (size_t k = 0; k < cnt; k++)
                z[k] = pre[k] < 0.0f ? 0.0f : pre[k];
            /* A dropped unit is z·0, not 0, so a NaN still shows. */
            if (p > 0.0f)
                for (size_t k = 0; k < cnt; k++)
                    z[k] *= pf_rng_uniform(&m->drop_rng) < p ? 0.0f : keep_scale;
        }
        a = z;
    }
    return a0;
}

int pf_mlp_forward(pf_mlp *m, const float *x, size_t n, float *logits_out)
{
    size_t d = m->sizes[0], C = pf_mlp_classes(m);
    int rc = ensure_cap(m, n < FORWARD_CHUNK ? n : FORWARD_CHUNK);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n; i += FORWARD_CHUNK) {
        size_t k = n - i < FORWARD_CHUNK ? n - i : FORWARD_CHUNK;
        forward_rows(m, x + i * d, k, logits_out + i * C, 0);
    }
    return 0;
}

int pf_mlp_predict_proba(pf_mlp *m, const float *x, size_t n, float T, float *probs_out)
{
    if (!(T > 0.0f) || !isfinite(T))
        return pf_errorf(PF_EINVAL, "mlp: temperature %g is not finite and > 0", (double)T);
    int rc = pf_mlp_forward(m, x, n, probs_out);
    if (rc < 0) return rc;
    pf_loss_softmax(probs_out, n, pf_mlp_classes(m), T, probs_out);
    return 0;
}

int pf_mlp_predict(pf_mlp *m, const float *x, size_t n, int32_t *classes_out)
{
    size_t d = m->sizes[0], C = pf_mlp_classes(m);
    int rc = ensure_cap(m, n < FORWARD_CHUNK ? n : FORWARD_CHUNK);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n; i += FORWARD_CHUNK) {
        size_t k = n - i < FORWARD_CHUNK ? n - i : FORWARD_CHUNK;
        forward_rows(m, x + i * d, k, m->logits, 0);
        for (size_t r = 0; r < k; r++) {
            const float *z = m->logits + r * C;
            size_t best = 0;
            for (size_t c = 1; c < C; c++)
                if (z[c] > z[best]) best = c;
            classes_out[i + r] = (int32_t)best;
        }
    }
    return 0;
}

int pf_mlp_loss(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                const float *weights, float T, double *loss)
{
    size_t d = m->sizes[0], C = pf_mlp_classes(m);
    *loss = 0.0;
    int rc = ensure_cap(m, n < FORWARD_CHUNK ? n : FORWARD_CHUNK);
    if (rc < 0) return rc;
    double total = 0.0;
    for (size_t i = 0; i < n; i += FORWARD_CHUNK) {
        size_t k = n - i < FORWARD_CHUNK ? n - i : FORWARD_CHUNK;
        forward_rows(m, x + i * d, k, m->logits, 0);
        double part;
        rc = pf_loss_xent(m->logits, k, C, targets ? targets + i : NULL, soft ? soft + i * C : NULL,
                          weights ? weights + i : NULL, T, NULL, &part);
        if (rc < 0) return pf_error_wrap(rc, "mlp: rows from %zu: ", i);
        total += part * (double)k; /* part is a mean over k rows */
    }
    *loss = n ? total / (double)n : 0.0;
    return 0;
}

int pf_mlp_loss_grad(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                     const float *weights, float T, double *loss, const float **grad)
{
    return pf_mlp_loss_grad_elr(m, x, n, targets, soft, weights, T, NULL, loss, grad);
}

int pf_mlp_loss_grad_elr(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                         const float *weights, float T, const pf_mlp_elr *elr, double *loss, const float **grad)
{
    if (n == 0) return pf_errorf(PF_EINVAL, "mlp: empty batch");
    if (n > (size_t)INT_MAX) return pf_errorf(PF_ERANGE, "mlp: batch of %zu rows > INT_MAX", n);
    size_t L = m->nsizes - 1, C = m->sizes[L], d = m->sizes[0];
    /* A NaN feature would poison every weight it touches through dW_1 (ReLU
     * can hide it from the loss); one pass over x is cheap next to the GEMMs. */
    for (size_t k = 0; k < n * d; k++)
        if (!isfinite(x[k]))
            return pf_errorf(PF_EINVAL, "mlp: sample %zu: feature %zu not finite", k / d, k % d);
    int rc = ensure_cap(m, n);
    if (rc < 0) return rc;
    const float *a0 = forward_rows(m, x, n, m->logits, 1);
    float keep_scale = 1.0f / (1.0f - m->hidden_drop);

    /* dZ_L [n, C] = (w_i·T/n)·(s·Σq − q): models/loss.h. */
    float *dz = m->delta[0], *dnext = m->delta[1];
    rc = pf_loss_xent(m->logits, n, C, targets, soft, weights, T, dz, loss);
    if (rc == 0 && elr) {
        pf_loss_softmax(m->logits, n, C, 1.0f, elr->probs_out); /* the term's p, and the caller's */
        rc = pf_loss_elr_add(elr->probs_out, n, C, elr->targets, elr->lambda, dz, loss);
    }
    if (rc < 0) return pf_error_wrap(rc, "mlp: ");

    for (size_t l = L; l >= 1; l--) {
        int in = (int)m->sizes[l - 1], nout = (int)m->sizes[l];
        const float *a = l > 1 ? m->act[l - 1] : a0; /* A_{l-1} [n, in] */
        const float *W = m->params + m->w_off[l - 1];
        float *gW = m->grads + m->w_off[l - 1], *gb = m->grads + m->b_off[l - 1];
        /* dW_l [out, in] = dZ^T ([n, out] transposed) · A_{l-1} [n, in]. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nout, in, (int)n, 1.0f, dz, nout, a,
                    in, 0.0f, gW, in);
        /* db_l [out] = dZ^T [out, n] · 1 [n]: column sums of dZ. */
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)n, nout, 1.0f, dz, nout, m->ones, 1, 0.0f, gb,
                    1);
        if (l == 1) break;
        /* dA_{l-1} [n, in] = dZ [n, out] · W [out, in]; then dZ_{l-1} = dA ⊙ 1[A_{l-1} > 0]
         * (A is stored after ReLU, so A > 0 exactly where the pre-activation was and
         * the unit was kept; a kept unit was scaled by keep_scale, and so is its gradient). */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, in, nout, 1.0f, dz, nout, W,
                    in, 0.0f, dnext, in);
        size_t cnt = n * (size_t)in;
        if (m->hidden_drop > 0.0f) {
            for (size_t k = 0; k < cnt; k++)
                dnext[k] = a[k] > 0.0f ? dnext[k] * keep_scale : 0.0f;
        } else {
            for (size_t k = 0; k < cnt; k++)
                if (!(a[k] > 0.0f)) dnext[k] = 0.0f;
        }
        if (m->norm) layer_norm_backward(dnext, n, (size_t)in, m->ln_y[l - 1], m->ln_rstd[l - 1]);
        float *t = dz;
        dz = dnext;
        dnext = t;
    }
    *grad = m->grads;
    return 0;
}

int pf_mlp_input_grad(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                      const float *weights, float T, double *loss, float *gx)
{
    if (n == 0) return pf_errorf(PF_EINVAL, "mlp: empty batch");
    if (n > (size_t)INT_MAX) return pf_errorf(PF_ERANGE, "mlp: batch of %zu rows > INT_MAX", n);
    size_t L = m->nsizes - 1, C = m->sizes[L], d = m->sizes[0];
    int rc = ensure_cap(m, n);
    if (rc < 0) return rc;
    forward_rows(m, x, n, m->logits, 0);
    float *dz = m->delta[0], *dnext = m->delta[1];
    rc = pf_loss_xent(m->logits, n, C, targets, soft, weights, T, dz, loss);
    if (rc < 0) return pf_error_wrap(rc, "mlp: ");
    for (size_t l = L; l >= 1; l--) {
        int in = (int)m->sizes[l - 1], nout = (int)m->sizes[l];
        const float *W = m->params + m->w_off[l - 1];
        /* dA_{l-1} [n, in] = dZ_l [n, out] · W_l [out, in]; layer 1 writes dL/dx' into gx. */
        float *out = l == 1 ? gx : dnext;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, in, nout, 1.0f, dz, nout, W,
                    in, 0.0f, out, in);
        if (l == 1) break;
        const float *a = m->act[l - 1];
        size_t cnt = n * (size_t)in;
        for (size_t k = 0; k < cnt; k++)
            if (!(a[k] > 0.0f)) dnext[k] = 0.0f;
        if (m->norm) layer_norm_backward(dnext, n, (size_t)in, m->ln_y[l - 1], m->ln_rstd[l - 1]);
        float *t = dz;
        dz = dnext;
        dnext = t;
    }
    /* Through the standardization x' = (x − mean)·scale: dL/dx = dL/dx' · scale. */
    if (m->in_scale)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) gx[i * d + j] *= m->in_scale[j];
    return 0;
}

int pf_mlp_train_step(pf_mlp *m, pf_optim *opt, const float *x, size_t n, const int32_t *targets,
                      const float *soft, const float *weights, float T, double *loss)
{
    return pf_mlp_train_step_elr(m, opt, x, n, targets, soft, weights, T, NULL, loss);
}

int pf_mlp_train_step_elr(pf_mlp *m, pf_optim *opt, const float *x, size_t n, const int32_t *targets,
                          const float *soft, const float *weights, float T, const pf_mlp_elr *elr, double *loss)
{
    if (pf_optim_nparams(opt) != m->nparams)
        return pf_errorf(PF_EMISMATCH, "mlp: optimizer for %zu parameters, model has %zu",
                         pf_optim_nparams(opt), m->nparams);
    double l;
    const float *g;
    int rc = pf_mlp_loss_grad_elr(m, x, n, targets, soft, weights, T, elr, &l, &g);
    if (rc < 0) return rc;
    pf_optim_begin_step(opt);
    for (size_t k = 0; k + 1 < m->nsizes; k++) {
        size_t nw = (size_t)m->sizes[k + 1] * m->sizes[k], nb = m->sizes[k + 1];
        pf_optim_update(opt, m->w_off[k], m->params + m->w_off[k], g + m->w_off[k], nw, 1);
        pf_optim_update(opt, m->b_off[k], m->params + m->b_off[k], g + m->b_off[k], nb, 0);
    }
    m->counters.steps++;
    m->counters.samples_seen += n;
    if (loss) *loss = l;
    return 0;
}

/* ---- augmentation and EMA ----------------------------------------------- */

int pf_mlp_shift(float *x, size_t n, size_t width, size_t height, unsigned max_shift, pf_rng *rng)
{
    if (width == 0 || height == 0 || max_shift >= width || max_shift >= height)
        return pf_errorf(PF_EINVAL, "mlp shift: %u pixels do not fit a %zux%zu image", max_shift, width, height);
    const long s = (long)max_shift, w = (long)width, h = (long)height;
    for (size_t r = 0; r < n; r++) {
        float *img = x + r * width * height;
        long dx = (long)pf_rng_below(rng, 2 * (uint64_t)s + 1) - s;
        long dy = (long)pf_rng_below(rng, 2 * (uint64_t)s + 1) - s;
        if (dx == 0 && dy == 0) continue;
        /* out[y][x] = in[y - dy][x - dx]: walk so every source pixel is read
         * before it is overwritten (rows and columns against the motion). */
        for (long yi = 0; yi < h; yi++) {
            long y = dy > 0 ? h - 1 - yi : yi, sy = y - dy;
            float *row = img + y * w;
            if (sy < 0 || sy >= h) {
                memset(row, 0, (size_t)w * sizeof *row);
                continue;
            }
            const float *src = img + sy * w;
            long lo = dx > 0 ? dx : 0, hi = dx < 0 ? w + dx : w; /* columns with a source */
            memmove(row + lo, src + lo - dx, (size_t)(hi - lo) * sizeof *row);
            if (lo > 0) memset(row, 0, (size_t)lo * sizeof *row);
            if (hi < w) memset(row + hi, 0, (size_t)(w - hi) * sizeof *row);
        }
    }
    return 0;
}

int pf_mlp_augment(float *x, size_t n, size_t dim, float drop_rate, float noise_std, pf_rng *rng)
{
    if (!(drop_rate >= 0.0f && drop_rate < 1.0f))
        return pf_errorf(PF_EINVAL, "mlp augment: drop_rate %g outside [0, 1)", (double)drop_rate);
    if (!(noise_std >= 0.0f) || !isfinite(noise_std))
        return pf_errorf(PF_EINVAL, "mlp augment: noise_std %g is not finite and >= 0",
                         (double)noise_std);
    size_t cnt = n * dim;
    if (drop_rate > 0.0f) {
        float keep_scale = 1.0f / (1.0f - drop_rate);
        for (size_t k = 0; k < cnt; k++)
            x[k] = pf_rng_uniform(rng) < drop_rate ? 0.0f : x[k] * keep_scale;
    }
    if (noise_std > 0.0f)
        for (size_t k = 0; k < cnt; k++)
            x[k] += (float)(noise_std * pf_rng_normal(rng));
    return 0;
}

int pf_mlp_ema_update(pf_mlp *teacher, const pf_mlp *student, float m)
{
    if (!pf_mlp_same_shape(teacher, student))
        return pf_errorf(PF_EMISMATCH, "mlp ema: teacher and student shapes differ");
    if (!(m >= 0.0f && m <= 1.0f))
        return pf_errorf(PF_EINVAL, "mlp ema: momentum %g outside [0, 1]", (double)m);
    float *t = teacher->params;
    const float *s = student->params;
    float one_minus = 1.0f - m;
    for (size_t k = 0; k < teacher->nparams; k++)
        t[k] = m * t[k] + one_minus * s[k];
    return 0;
}
