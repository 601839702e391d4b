/*
 * learner.c - model + optimizer + augmentation for trainable kinds (see
 * learner.h). Kept apart from models/ because it is about configuration
 * (parameter tables, strings) and node-side policy, while models/ stays
 * pure numerics.
 */
#include "nodes/learner.h"
#include "models/models.h"
#include "runtime/error.h"
#include "runtime/log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pf_learner_sizes(const char *hidden, uint32_t dim, uint32_t classes, uint32_t *sizes, size_t *nsizes)
{
    size_t n = 0;
    sizes[n++] = dim;
    const char *p = hidden ? hidden : "";
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        if (!isdigit((unsigned char)*p))
            return pf_errorf(PF_EINVAL, "hidden: expected widths like 512,256, got '%s'", hidden);
        char *end;
        unsigned long w = strtoul(p, &end, 10);
        if (w == 0 || w > PF_MLP_MAX_WIDTH)
            return pf_errorf(PF_EINVAL, "hidden: width %lu is outside [1, %u]", w, PF_MLP_MAX_WIDTH);
        if (n + 1 >= PF_LEARNER_MAX_LAYERS)
            return pf_errorf(PF_EINVAL, "hidden: at most %d hidden layers", PF_LEARNER_MAX_LAYERS - 2);
        sizes[n++] = (uint32_t)w;
        p = end;
    }
    sizes[n++] = classes;
    *nsizes = n;
    return 0;
}

extern const pf_kind pf_kind_mlp_teacher, pf_kind_mlp_student;

const pf_learner_cfg *pf_learner_cfg_of(const pf_gnode *n)
{
    if (n->kind != &pf_kind_mlp_teacher && n->kind != &pf_kind_mlp_student) return NULL;
    return n->cfg; /* both kinds' configs begin with their pf_learner_cfg */
}

int pf_learner_same_arch(const pf_learner_cfg *a, const pf_learner_cfg *b)
{
    uint32_t sa[PF_LEARNER_MAX_LAYERS], sb[PF_LEARNER_MAX_LAYERS];
    size_t na, nb;
    if (pf_learner_sizes(a->hidden, 1, 2, sa, &na) < 0 || pf_learner_sizes(b->hidden, 1, 2, sb, &nb) < 0) return 0;
    return !a->norm == !b->norm && na == nb && memcmp(sa, sb, na * sizeof *sa) == 0;
}

static int new_optim(pf_learner *L)
{
    pf_optim_config oc = pf_optim_defaults(L->cfg.optimizer == 0 ? PF_OPTIM_ADAM : PF_OPTIM_SGD);
    oc.lr = (float)L->cfg.lr;
    oc.weight_decay = (float)L->cfg.weight_decay;
    if (L->cfg.optimizer != 0) oc.momentum = (float)L->cfg.momentum;
    pf_optim_destroy(&L->opt);
    return pf_optim_new(&oc, pf_mlp_nparams(L->model), &L->opt);
}

float pf_learner_input_power(const pf_learner_cfg *cfg)
{
    return cfg->input_power > 0 ? (float)cfg->input_power : 1.0f;
}

int pf_learner_check_input_power(const pf_mlp *m, float want, const char *who, const char *path)
{
    float p = pf_mlp_input_power(m);
    if (p == want) return 0;
    return pf_errorf(PF_ECONFIG,
                     "%s '%s' was trained on features with power=%g; this graph's features have power=%g (train it "
                     "with `pseudoflow train --power %g`)",
                     who, path, (double)p, (double)want, (double)want);
}

/* The image shape shift= moves: image_width= wide, or square. */
static int image_shape(const pf_learner_cfg *cfg, uint32_t dim, size_t *w, size_t *h)
{
    *w = *h = 0;
    if (cfg->shift <= 0) return 0;
    size_t width = (size_t)cfg->image_width;
    if (width == 0) {
        for (width = 1; (width + 1) * (width + 1) <= dim; width++) {}
        if (width * width != dim)
            return pf_errorf(PF_ECONFIG, "shift=%lld: the %u features are not a square image; set image_width=",
                             (long long)cfg->shift, dim);
    }
    if (dim % width != 0)
        return pf_errorf(PF_ECONFIG, "shift=%lld: image_width=%zu does not divide the %u features",
                         (long long)cfg->shift, width, dim);
    if ((size_t)cfg->shift >= width || (size_t)cfg->shift >= dim / width)
        return pf_errorf(PF_ECONFIG, "shift=%lld: the images are only %zux%zu pixels", (long long)cfg->shift,
                         width, dim / width);
    *w = width, *h = dim / width;
    return 0;
}

int pf_learner_init(pf_learner *L, const pf_learner_cfg *cfg, uint32_t dim, uint32_t classes, uint64_t seed)
{
    memset(L, 0, sizeof *L);
    L->cfg = *cfg;
    uint32_t sizes[PF_LEARNER_MAX_LAYERS];
    size_t ns;
    int rc = pf_learner_sizes(cfg->hidden, dim, classes, sizes, &ns);
    if (rc < 0) return rc;
    if ((rc = image_shape(cfg, dim, &L->img_w, &L->img_h)) < 0) return rc;
    pf_models_set_threads((int)cfg->threads);
    pf_rng_seed(&L->rng, seed ^ 0x5eedull);
    L->seed = seed;
    if ((rc = pf_mlp_new(sizes, ns, seed, &L->model)) < 0) return rc;
    pf_mlp_set_layer_norm(L->model, cfg->norm);
    if ((rc = pf_mlp_set_input_power(L->model, pf_learner_input_power(cfg))) < 0) return rc;
    /* Masks on a stream of their own, apart from the init (seed) and augmentation
     * (seed ^ 0x5eed) streams; the constant only has to differ from those. */
    if ((rc = pf_mlp_set_hidden_dropout(L->model, (float)cfg->hidden_drop, seed ^ 0xd20bull)) < 0) return rc;
    return new_optim(L);
}

int pf_learner_adopt(pf_learner *L, pf_mlp **m)
{
    int same = L->model && pf_mlp_same_shape(L->model, *m);
    pf_mlp_destroy(&L->model);
    L->model = *m;
    *m = NULL;
    /* The adopted model trains on with this learner's recipe, on a mask stream
     * of its own (one draw, only when dropout is on, so the augmentation
     * stream is unchanged otherwise). */
    uint64_t mask_seed = L->cfg.hidden_drop > 0 ? L->seed ^ pf_rng_u64(&L->rng) : 0;
    int rc = pf_mlp_set_hidden_dropout(L->model, (float)L->cfg.hidden_drop, mask_seed);
    if (rc < 0) return rc;
    return same ? 0 : new_optim(L);
}

int pf_learner_resume(pf_learner *L, const char *path, pf_mlp_counters *counters)
{
    pf_mlp *ck = NULL;
    if (access(path, R_OK) != 0) return 0;
    if (pf_mlp_load(path, &ck) < 0 || !pf_mlp_same_shape(ck, L->model)) {
        PF_WARN("ignoring checkpoint %s: %s", path, ck ? "another architecture" : pf_error_last());
        pf_mlp_destroy(&ck);
        return 0;
    }
    if (pf_mlp_input_power(ck) != pf_mlp_input_power(L->model)) {
        PF_WARN("ignoring checkpoint %s: trained on features with power=%g, the graph now gives power=%g", path,
                (double)pf_mlp_input_power(ck), (double)pf_mlp_input_power(L->model));
        pf_mlp_destroy(&ck);
        return 0;
    }
    *counters = pf_mlp_get_counters(ck);
    int rc = pf_learner_adopt(L, &ck);
    return rc < 0 ? rc : 1;
}

int pf_learner_train(pf_learner *L, const float *x, size_t n, const int32_t *targets, const float *soft,
                     const float *weights, float T, double *loss)
{
    return pf_learner_train_prefix(L, x, n, n, targets, soft, weights, T, NULL, loss);
}

int pf_learner_train_prefix(pf_learner *L, const float *x, size_t n, size_t n_aug, const int32_t *targets,
                            const float *soft, const float *weights, float T, const pf_mlp_elr *elr,
                            double *loss)
{
    const float *in = x;
    int perturb = L->cfg.drop > 0 || L->cfg.noise > 0;
    if (n_aug > n) n_aug = n;
    if ((perturb || L->img_w > 0) && n_aug > 0) {
        size_t need = n * pf_mlp_input_dim(L->model);
        if (need > L->xcap) {
            float *b = realloc(L->xbuf, need * sizeof *b);
            if (!b) return pf_errorf(PF_ENOMEM, "learner: out of memory");
            L->xbuf = b, L->xcap = need;
        }
        memcpy(L->xbuf, x, need * sizeof *x);
        int rc = L->img_w ? pf_mlp_shift(L->xbuf, n_aug, L->img_w, L->img_h, (unsigned)L->cfg.shift, &L->rng) : 0;
        if (rc == 0 && perturb)
            rc = pf_mlp_augment(L->xbuf, n_aug, pf_mlp_input_dim(L->model), (float)L->cfg.drop,
                                (float)L->cfg.noise, &L->rng);
        if (rc < 0) return rc;
        in = L->xbuf;
    }
    return pf_mlp_train_step_elr(L->model, L->opt, in, n, targets, soft, weights, T, elr, loss);
}

void pf_learner_fini(pf_learner *L)
{
    pf_mlp_destroy(&L->model);
    pf_optim_destroy(&L->opt);
    free(L->xbuf);
    memset(L, 0, sizeof *L);
}
