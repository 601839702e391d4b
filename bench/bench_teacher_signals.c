/*
 * bench_teacher_signals.c - would another teacher signal make better
 * pseudo-labels than a model's own softmax? Measured offline, before any
 * of them is built into a node.
 *
 * For a saved model (a student's final model, or `pseudoflow train`'s), it
 * scores every training row that idx_source would leave unlabeled (labeled
 * and seed as in the graph) and prints, per signal, the precision of the
 * predicted class against the true label when only the most confident
 * fraction c of rows is kept: the trade a confidence filter makes. Signals:
 *
 *   softmax     the model's calibrated softmax (what mlp_teacher sends)
 *   views       the mean softmax over VIEWS noisy copies of each row (feature
 *               dropout 0.2, noise 0.1: the student's strong view)
 *   views-std   the same mean, ranked by mean - KAPPA * std of the chosen
 *               class's probability over the views (UPS, Rizve et al. 2021:
 *               keep confident rows whose views also agree)
 *   knn         the K nearest labeled rows by cosine in the last hidden
 *               layer, votes weighted exp(cos / 0.1)
 *   softmax+knn, softmax+proto   the softmax averaged with the neighbour
 *               votes, or with a softmax over cosines to class prototypes
 *               (the mean hidden vector of each class's labeled rows)
 *
 * Prints figures only. DATA picks the data directory as in the graphs.
 *
 *     bench_teacher_signals MODEL [labeled=1000] [seed=0]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/fashion_data.h"
#include "data/dataset.h"
#include "models/loss.h"
#include "models/mlp.h"
#include "models/models.h"
#include "models/rng.h"
#include "nodes/idx_source.h"
#include "runtime/error.h"

#define VIEWS 8         /* noisy copies per row for `views` */
#define KAPPA 2.0f      /* std penalty of `views-std` */
#define VIEW_DROP 0.2f  /* the recipe's student drop= */
#define VIEW_NOISE 0.1f /* and noise= */
#define K 20            /* neighbours */
#define COS_T 0.1f      /* temperature on cosines, neighbours and prototypes */

typedef struct scored {
    float conf;
    int correct;
} scored;

static int by_conf_desc(const void *a, const void *b)
{
    float x = ((const scored *)a)->conf, y = ((const scored *)b)->conf;
    return (x < y) - (x > y);
}

/* One line: precision of the top fraction c of rows by confidence: the top
 * class's probability, or rank[i] when rank is not NULL. */
static int report_ranked(const char *name, const float *p, const float *rank, const int32_t *truth,
                         size_t n, size_t C)
{
    static const double cov[] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    scored *r = malloc(n * sizeof *r);
    if (!r) return pf_errorf(PF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t a = 0;
        for (size_t c = 1; c < C; c++)
            if (p[i * C + c] > p[i * C + a]) a = c;
        r[i] = (scored){rank ? rank[i] : p[i * C + a], (int32_t)a == truth[i]};
    }
    qsort(r, n, sizeof *r, by_conf_desc);
    printf("%-14s", name);
    size_t ok = 0, j = 0;
    for (size_t q = 0; q < sizeof cov / sizeof *cov; q++) {
        size_t m = (size_t)(cov[q] * (double)n);
        for (; j < m; j++)
            ok += (size_t)r[j].correct;
        printf("  %.4f", m ? (double)ok / (double)m : 0.0);
    }
    printf("\n");
    free(r);
    return 0;
}

static int report(const char *name, const float *p, const int32_t *truth, size_t n, size_t C)
{
    return report_ranked(name, p, NULL, truth, n, C);
}

/* Last hidden layer [n, H] of x [n, d] (ReLU outputs), each row L2-normalized. */
static int hidden_features(pf_mlp *m, const float *x, size_t n, float **out, size_t *H)
{
    size_t ns;
    const uint32_t *sz = pf_mlp_sizes(m, &ns);
    if (ns < 3) return pf_errorf(PF_EINVAL, "the model has no hidden layer");
    const float *params = pf_mlp_params(m), *mu = pf_mlp_in_mean(m), *sc = pf_mlp_in_scale(m);
    size_t d = sz[0], off = 0;
    float *a = malloc(n * d * sizeof *a);
    if (!a) return pf_errorf(PF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n * d; i++)
        a[i] = mu ? (x[i] - mu[i % d]) * sc[i % d] : x[i];
    for (size_t l = 1; l + 1 < ns; l++) {
        size_t in = sz[l - 1], w = sz[l];
        const float *W = params + off, *b = params + off + w * in;
        off += w * (in + 1);
        float *z = malloc(n * w * sizeof *z);
        if (!z) return free(a), pf_errorf(PF_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            memcpy(z + i * w, b, w * sizeof *z);
        /* Z [n, w] = A [n, in] · W^T ([w, in] row-major) + b, then ReLU. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)w, (int)in, 1.0f, a,
                    (int)in, W, (int)in, 1.0f, z, (int)w);
        for (size_t k = 0; k < n * w; k++)
            z[k] = z[k] > 0.0f ? z[k] : 0.0f;
        free(a);
        a = z;
        *H = w;
    }
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < *H; j++)
            s += (double)a[i * *H + j] * a[i * *H + j];
        float inv = (float)(1.0 / sqrt(s + 1e-12));
        for (size_t j = 0; j < *H; j++)
            a[i * *H + j] *= inv;
    }
    *out = a;
    return 0;
}

/* Rows i of p [n, C] become softmax(cos / COS_T) of their cosines to the
 * prototypes P [C, H] (unit rows); h [n, H]. */
static void proto_probs(const float *h, size_t n, size_t H, const float *P, size_t C, float *p)
{
    /* Cos [n, C] = h [n, H] · P^T. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)C, (int)H, 1.0f, h, (int)H, P,
                (int)H, 0.0f, p, (int)C);
    pf_loss_softmax(p, n, C, COS_T, p);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4 || !strcmp(argv[1], "--help")) {
        fprintf(stderr,
                "usage: bench_teacher_signals MODEL [labeled=1000] [seed=0]\n"
                "  precision of pseudo-labels at fixed coverage, per teacher signal,\n"
                "  on the training rows idx_source leaves unlabeled (DATA: data directory)\n");
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    long long labeled = argc > 2 ? atoll(argv[2]) : 1000, seed = argc > 3 ? atoll(argv[3]) : 0;
    char im[4096];
    pf_models_set_threads(1);

    pf_dataset d = {0};
    pf_mlp *m = NULL;
    uint8_t *vis = NULL;
    float *xu = NULL, *xl = NULL; /* unlabeled and labeled rows, [nu|nl, dim] */
    float *p = NULL, *acc = NULL,
          *pk = NULL;             /* softmax, combined, neighbour/prototype probs: [nu, C] */
    float *hu = NULL, *hl = NULL; /* hidden features, [nu|nl, H] */
    float *sim = NULL, *P = NULL; /* cosines [block, nl]; prototypes [C, H] */
    int32_t *yu = NULL, *yl = NULL;
    int rc;
    float power = 0;
    if ((rc = pf_mlp_load(argv[1], &m)) < 0 || (rc = bench_fashion_for_model("train", m, &d, &power, im, sizeof im)) < 0)
        goto out;
    size_t dim = d.dim, C = pf_mlp_classes(m), H = 0, nu = 0, nl = 0;
    if (pf_mlp_input_dim(m) != dim) {
        rc = pf_errorf(PF_EMISMATCH, "model for %u features, data has %zu", pf_mlp_input_dim(m),
                       dim);
        goto out;
    }
    pf_rng r;
    pf_rng_seed(&r, (uint64_t)seed); /* the labeled rows of idx_source labeled=N with this seed */
    if (!(vis = malloc(d.n))) goto oom;
    if ((rc = pf_idx_source_choose_labeled(&d, labeled, &r, vis)) < 0) goto out;
    for (size_t i = 0; i < d.n; i++)
        nl += vis[i] != 0;
    nu = d.n - nl;
    if (!nl || !nu) {
        rc = pf_errorf(PF_EINVAL,
                       "labeled=%lld leaves %zu labeled and %zu unlabeled rows; need both", labeled,
                       nl, nu);
        goto out;
    }
    xu = malloc(nu * dim * sizeof *xu), xl = malloc(nl * dim * sizeof *xl);
    yu = malloc(nu * sizeof *yu), yl = malloc(nl * sizeof *yl);
    p = malloc(nu * C * sizeof *p), acc = calloc(nu * C, sizeof *acc),
    pk = calloc(nu * C, sizeof *pk);
    if (!xu || !xl || !yu || !yl || !p || !acc || !pk) goto oom;
    for (size_t i = 0, a = 0, b = 0; i < d.n; i++) {
        if (vis[i])
            memcpy(xl + b * dim, d.x + i * dim, dim * sizeof *xl), yl[b++] = d.labels[i];
        else
            memcpy(xu + a * dim, d.x + i * dim, dim * sizeof *xu), yu[a++] = d.labels[i];
    }
    printf("bench_teacher_signals: %s, %zu unlabeled rows scored, %zu labeled (seed %lld)\n",
           argv[1], nu, nl, seed);
    printf("precision at coverage  0.5     0.6     0.7     0.8     0.9     1.0\n");

    float T = pf_mlp_temperature(m);
    if ((rc = pf_mlp_predict_proba(m, xu, nu, T, p)) < 0 ||
        (rc = report("softmax", p, yu, nu, C)) < 0)
        goto out;

    /* views: noisy copies of the rows go through hu, their softmax through tmp. */
    float *tmp = malloc(nu * C * sizeof *tmp), *sq = calloc(nu * C, sizeof *sq);
    if (!(hu = malloc(nu * dim * sizeof *hu)) || !tmp || !sq) {
        free(tmp), free(sq);
        goto oom;
    }
    for (int v = 0; v < VIEWS; v++) {
        memcpy(hu, xu, nu * dim * sizeof *hu);
        if ((rc = pf_mlp_augment(hu, nu, dim, VIEW_DROP, VIEW_NOISE, &r)) < 0 ||
            (rc = pf_mlp_predict_proba(m, hu, nu, T, tmp)) < 0)
            break;
        for (size_t k = 0; k < nu * C; k++)
            acc[k] += tmp[k] / VIEWS, sq[k] += tmp[k] * tmp[k] / VIEWS;
    }
    free(hu), hu = NULL;
    if (rc >= 0) { /* tmp[i] <- mean - KAPPA * std of row i's top class */
        for (size_t i = 0; i < nu; i++) {
            size_t a = 0;
            for (size_t c = 1; c < C; c++)
                if (acc[i * C + c] > acc[i * C + a]) a = c;
            float mu = acc[i * C + a], var = sq[i * C + a] - mu * mu;
            tmp[i] = mu - KAPPA * sqrtf(var > 0.0f ? var : 0.0f);
        }
    }
    free(sq);
    if (rc < 0 || (rc = report("views", acc, yu, nu, C)) < 0 ||
        (rc = report_ranked("views-std", acc, tmp, yu, nu, C)) < 0) {
        free(tmp);
        goto out;
    }
    free(tmp);

    if ((rc = hidden_features(m, xu, nu, &hu, &H)) < 0 ||
        (rc = hidden_features(m, xl, nl, &hl, &H)) < 0)
        goto out;
    /* Similarities in blocks of rows, so [block, nl] stays small. */
    size_t block = 4096;
    if (!(sim = malloc(block * nl * sizeof *sim)) || !(P = calloc(C * H, sizeof *P))) goto oom;
    for (size_t i0 = 0; i0 < nu; i0 += block) {
        size_t bn = nu - i0 < block ? nu - i0 : block;
        /* S [bn, nl] = Hu [bn, H] · Hl^T: cosines, rows being unit vectors. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bn, (int)nl, (int)H, 1.0f,
                    hu + i0 * H, (int)H, hl, (int)H, 0.0f, sim, (int)nl);
        for (size_t i = 0; i < bn; i++) {
            float *s = sim + i * nl, *q = pk + (i0 + i) * C, z = 0.0f;
            for (int k = 0; k < K && k < (int)nl; k++) {
                size_t best = 0;
                for (size_t j = 1; j < nl; j++)
                    if (s[j] > s[best]) best = j;
                float w = expf((s[best] - 1.0f) / COS_T); /* shifted by the largest cosine, 1 */
                q[yl[best]] += w, z += w;
                s[best] = -INFINITY;
            }
            for (size_t c = 0; c < C; c++)
                q[c] /= z;
        }
    }
    if ((rc = report("knn", pk, yu, nu, C)) < 0) goto out;
    for (size_t k = 0; k < nu * C; k++)
        acc[k] = 0.5f * (p[k] + pk[k]);
    if ((rc = report("softmax+knn", acc, yu, nu, C)) < 0) goto out;

    for (size_t i = 0; i < nl; i++)
        for (size_t j = 0; j < H; j++)
            P[(size_t)yl[i] * H + j] += hl[i * H + j];
    for (size_t c = 0; c < C; c++) {
        double s = 0.0;
        for (size_t j = 0; j < H; j++)
            s += (double)P[c * H + j] * P[c * H + j];
        for (size_t j = 0; j < H; j++)
            P[c * H + j] = s > 0 ? (float)(P[c * H + j] / sqrt(s)) : 0.0f;
    }
    proto_probs(hu, nu, H, P, C, pk);
    for (size_t k = 0; k < nu * C; k++)
        acc[k] = 0.5f * (p[k] + pk[k]);
    rc = report("softmax+proto", acc, yu, nu, C);
    goto out;
oom:
    rc = pf_errorf(PF_ENOMEM, "out of memory");
out:
    if (rc < 0) fprintf(stderr, "bench_teacher_signals: %s\n", pf_error_last());
    free(vis), free(xu), free(xl), free(yu), free(yl), free(p), free(acc), free(hu), free(hl),
        free(sim);
    free(pk), free(P);
    pf_mlp_destroy(&m);
    pf_dataset_fini(&d);
    return rc < 0;
}
