/*
 * idx_source.c - streams a labeled data set from files (IDX, npy, fvecs,
 * CSV; data/dataset.h), hiding all but `labeled` labels.
 *
 * Sample ids are stable: id = id_offset + 1 + row index in the file, the
 * same in every run and after every restart, so the store, the truth file
 * and the evaluator agree on them. The rows that keep their label are chosen
 * class-balanced by `seed` (labeled / classes per class, the remainder to the
 * lowest classes); every other row arrives unlabeled and its label goes to
 * the truth file, for the evaluator only. With shuffle=1 the stream order is
 * a seeded permutation of the rows.
 *
 * The whole file is loaded at start; IDX images stay bytes and become floats
 * a row at a time as they are sent (Fashion-MNIST's 60,000 x 784 pixels:
 * 45 MiB, against 179 MiB as floats); replicas split the stream order into
 * contiguous shares.
 */
#include "nodes/idx_source.h"
#include "data/dataset.h"
#include "nodes/source_driver.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "models/rng.h"

#include <stdlib.h>
#include <string.h>

typedef struct idx_cfg {
    char *images;
    char *labels;
    int64_t labeled;
    int64_t limit;
    int64_t batch;
    int64_t seed;
    int shuffle;
    double rate;
    int64_t id_offset;
    int64_t ack_timeout_ms;
    double power;
} idx_cfg;

static const pf_param idx_params[] = {
    PF_PARAM_STRING(idx_cfg, images, NULL, "features: IDX (.gz ok), .npy, .fvecs or .csv file (required)"),
    PF_PARAM_STRING(idx_cfg, labels, "", "labels file (IDX or .npy); empty = every sample unlabeled"),
    PF_PARAM_INT(idx_cfg, labeled, 1000, -1, 1e12, "labels kept visible, class-balanced; -1 = all"),
    PF_PARAM_INT(idx_cfg, limit, 0, 0, 1e12, "use only the first N rows; 0 = all"),
    PF_PARAM_INT(idx_cfg, batch, 0, 0, 65536, "samples per batch; 0 = the graph's batch"),
    PF_PARAM_INT(idx_cfg, seed, -1, -1, 1e18, "seed for the labeled subset and the order; -1 = the graph's seed"),
    PF_PARAM_BOOL(idx_cfg, shuffle, 1, "stream rows in a seeded random order"),
    PF_PARAM_FLOAT(idx_cfg, rate, 0, 0, 1e9, "samples per second; 0 = as fast as downstream takes them"),
    PF_PARAM_INT(idx_cfg, id_offset, 0, 0, 1e18, "added to every id, to keep several sources' ids apart"),
    PF_PARAM_INT(idx_cfg, ack_timeout_ms, 5000, 10, 3600000, "re-send a sample not acknowledged by the sampler within this"),
    PF_PARAM_FLOAT(idx_cfg, power, 1, 0.01, 16, PF_POWER_HELP),
    PF_PARAM_END,
};

enum { PORT_OUT, PORT_ACKS };

static const pf_port_spec idx_ports[] = {
    {"out", PF_OUT, PF_DATA, 0, "batches of samples: ids, x, labels (-1 = unlabeled)"},
    {"acks", PF_IN, PF_DATA, PF_PORT_FEEDBACK, "ids the sampler has persisted; unacknowledged ones are re-sent"},
    {NULL},
};

typedef struct idx_src {
    idx_cfg cfg;
    pf_dataset ds;
    uint32_t *order;   /* [n] stream position -> row */
    uint32_t *pos_of;  /* [n] row -> stream position */
    uint8_t *visible;  /* [n] row keeps its label */
    uint64_t first;    /* this instance's first stream position */
    uint64_t count;
    pf_source_driver *drv;
} idx_src;

static int idx_fill(void *self, uint64_t pos, uint64_t *id, float *x, int32_t *label, int32_t *truth)
{
    const idx_src *s = self;
    uint32_t row = s->order[s->first + pos];
    pf_dataset_row(&s->ds, row, x);
    *id = (uint64_t)s->cfg.id_offset + 1 + row;
    *truth = s->ds.labels ? s->ds.labels[row] : -1;
    *label = s->visible[row] ? *truth : -1;
    return 0;
}

static uint64_t idx_position(void *self, uint64_t id)
{
    const idx_src *s = self;
    uint64_t off = (uint64_t)s->cfg.id_offset + 1;
    if (id < off || id - off >= s->ds.n) return UINT64_MAX;
    uint64_t p = s->pos_of[id - off];
    return (p >= s->first && p < s->first + s->count) ? p - s->first : UINT64_MAX;
}

static void idx_free(idx_src *s)
{
    pf_source_driver_destroy(&s->drv);
    pf_dataset_fini(&s->ds);
    free(s->order), free(s->pos_of), free(s->visible);
    free(s);
}

int pf_idx_source_choose_labeled(const pf_dataset *d, long long labeled, pf_rng *r, uint8_t *visible)
{
    size_t n = d->n, classes = d->classes;
    memset(visible, 0, n);
    if (!d->labels) return 0;
    if (labeled < 0) {
        for (size_t i = 0; i < n; i++) visible[i] = d->labels[i] >= 0;
        return 0;
    }
    uint32_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!perm) return pf_errorf(PF_ENOMEM, "idx_source: out of memory for %zu rows", n);
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = pf_rng_below(r, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (size_t c = 0; c < classes; c++) {
        size_t quota = (size_t)labeled / classes + (c < (size_t)labeled % classes);
        for (size_t i = 0; i < n && quota; i++)
            if (d->labels[perm[i]] == (int32_t)c) {
                visible[perm[i]] = 1;
                quota--;
            }
    }
    free(perm);
    return 0;
}

/* Before any process starts: the files exist and can be read (not loaded:
 * their shapes are checked at start). */
static int idx_configure(const void *cfgp, const pf_graph *g, const pf_gnode *node)
{
    const idx_cfg *cfg = cfgp;
    int rc = pf_kind_check_path(0, node, "images", cfg->images, PF_PATH_FILE);
    if (cfg->labels[0]) rc = pf_kind_check_path(rc, node, "labels", cfg->labels, PF_PATH_FILE);
    return pf_kind_check_same_float(rc, g, node, "power");
}

static int idx_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const idx_cfg *cfg = cfgp;
    const pf_graph *g = pf_ctx_graph(ctx);
    idx_src *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "idx_source: out of memory");
    s->cfg = *cfg;
    int rc = pf_dataset_load_compact(cfg->images, cfg->labels[0] ? cfg->labels : NULL, (size_t)cfg->limit, &s->ds);
    if (rc < 0 || (rc = pf_dataset_power(&s->ds, cfg->power)) < 0) goto fail;
    if (s->ds.n > UINT32_MAX) {
        rc = pf_errorf(PF_ERANGE, "idx_source: %zu rows; at most 2^32 per file", s->ds.n);
        goto fail;
    }
    if (g->cfg.dim && (size_t)g->cfg.dim != s->ds.dim) {
        rc = pf_errorf(PF_EMISMATCH, "idx_source: '%s' has %zu features per row but the graph says dim=%lld",
                       cfg->images, s->ds.dim, (long long)g->cfg.dim);
        goto fail;
    }
    if (s->ds.classes > (uint32_t)g->cfg.classes) {
        rc = pf_errorf(PF_EMISMATCH, "idx_source: '%s' has labels up to %u but the graph says classes=%lld",
                       cfg->labels, s->ds.classes - 1, (long long)g->cfg.classes);
        goto fail;
    }
    size_t n = s->ds.n;
    s->order = malloc(n * sizeof *s->order);
    s->pos_of = malloc(n * sizeof *s->pos_of);
    s->visible = calloc(n ? n : 1, 1);
    if (!s->order || !s->pos_of || !s->visible) {
        rc = pf_errorf(PF_ENOMEM, "idx_source: out of memory for %zu rows", n);
        goto fail;
    }
    pf_rng r;
    pf_rng_seed(&r, (uint64_t)(cfg->seed >= 0 ? cfg->seed : g->cfg.seed));
    if ((rc = pf_idx_source_choose_labeled(&s->ds, (long long)cfg->labeled, &r, s->visible)) < 0) goto fail;
    for (size_t i = 0; i < n; i++) s->order[i] = (uint32_t)i;
    if (cfg->shuffle)
        for (size_t i = n; i > 1; i--) {
            size_t j = pf_rng_below(&r, i);
            uint32_t t = s->order[i - 1];
            s->order[i - 1] = s->order[j];
            s->order[j] = t;
        }
    for (size_t i = 0; i < n; i++) s->pos_of[s->order[i]] = (uint32_t)i;
    uint64_t reps = (uint64_t)pf_ctx_replicas(ctx), inst = (uint64_t)pf_ctx_instance(ctx);
    s->first = n * inst / reps;
    s->count = n * (inst + 1) / reps - s->first;
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) shown += s->visible[i];
    PF_INFO("%s: %zu samples of dim %zu, %zu with visible labels; this instance streams %llu", cfg->images, n,
            s->ds.dim, shown, (unsigned long long)s->count);
    pf_source_spec spec = {
        .self = s,
        .total = s->count,
        .dim = (uint32_t)s->ds.dim,
        .classes = (uint32_t)g->cfg.classes,
        .batch = (uint32_t)cfg->batch,
        .rate = cfg->rate / (double)reps,
        .ack_timeout_ms = (uint64_t)cfg->ack_timeout_ms,
        .fill = idx_fill,
        .position = idx_position,
    };
    if (s->count == 0) {
        rc = pf_errorf(PF_EINVAL, "idx_source: '%s' has no rows for this instance", cfg->images);
        goto fail;
    }
    if ((rc = pf_source_driver_new(ctx, &spec, PORT_OUT, PORT_ACKS, &s->drv)) < 0) goto fail;
    *state = s;
    return 0;
fail:
    idx_free(s);
    return rc;
}

static int idx_tick(void *state, pf_ctx *ctx)
{
    return pf_source_driver_tick(((idx_src *)state)->drv, ctx);
}

static int idx_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    return pf_source_driver_process(((idx_src *)state)->drv, ctx, msg);
}

static int idx_drain(void *state, pf_ctx *ctx)
{
    return pf_source_driver_drain(((idx_src *)state)->drv, ctx);
}

static void idx_stop(void **state, pf_ctx *ctx)
{
    if (*state) idx_free(*state);
    *state = NULL;
}

static const pf_node_ops idx_ops = {
    .configure = idx_configure,
    .start = idx_start,
    .process = idx_process,
    .tick = idx_tick,
    .drain = idx_drain,
    .stop = idx_stop,
};

const pf_kind pf_kind_idx_source = {
    .name = "idx_source",
    .summary = "streams a labeled data set file (IDX/npy/fvecs/CSV), hiding all but `labeled` labels",
    .params = idx_params,
    .config_size = sizeof(idx_cfg),
    .ports = idx_ports,
    .flags = PF_KIND_STATELESS,
    .ops = &idx_ops,
};
