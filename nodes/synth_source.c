/*
 * synth_source.c - a source of synthetic embeddings: Gaussian class blobs.
 *
 * Sample id k (1-based; 0 is reserved) belongs to class (k-1) mod classes, so
 * classes are balanced and any prefix of the stream is too. Its embedding is
 * the class mean plus unit Gaussian noise; class means are drawn once from
 * N(0, (separation^2/dim) I) so `separation` sets how far apart classes are
 * whatever the dimension. The first `labeled` ids keep their labels; the
 * rest arrive unlabeled, their truth written to the run directory's truth
 * file for the evaluator. Everything is a pure function of (seed, id), so a
 * restarted source can regenerate any sample exactly.
 *
 * It is for demos, tests and benchmarks of the pipeline without a data set;
 * n=0 streams forever, and rate= paces it (samples/s) like a live feed.
 */
#include "nodes/source_driver.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "models/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct synth_cfg {
    int64_t n;
    int64_t dim;
    int64_t classes;
    int64_t labeled;
    int64_t batch;
    int64_t seed;
    double separation;
    double rate;
    int64_t ack_timeout_ms;
} synth_cfg;

static const pf_param synth_params[] = {
    PF_PARAM_INT(synth_cfg, n, 10000, 0, 1e12, "samples to produce; 0 = stream forever"),
    PF_PARAM_INT(synth_cfg, dim, 16, 1, 65536, "embedding width"),
    PF_PARAM_INT(synth_cfg, classes, 0, 0, 65535, "classes; 0 = the graph's classes"),
    PF_PARAM_INT(synth_cfg, labeled, 100, 0, 1e12, "first ids that keep their label; the rest arrive unlabeled"),
    PF_PARAM_INT(synth_cfg, batch, 0, 0, 65536, "samples per batch; 0 = the graph's batch"),
    PF_PARAM_INT(synth_cfg, seed, -1, -1, 1e18, "seed for class means and noise; -1 = the graph's seed"),
    PF_PARAM_FLOAT(synth_cfg, separation, 3.0, 0, 1000, "distance scale between class means"),
    PF_PARAM_FLOAT(synth_cfg, rate, 0, 0, 1e9, "samples per second; 0 = as fast as downstream takes them"),
    PF_PARAM_INT(synth_cfg, ack_timeout_ms, 5000, 10, 3600000, "re-send a sample not acknowledged by the sampler within this"),
    PF_PARAM_END,
};

enum { PORT_OUT, PORT_ACKS };

static const pf_port_spec synth_ports[] = {
    {"out", PF_OUT, PF_DATA, 0, "batches of samples: ids, x, labels (-1 = unlabeled)"},
    {"acks", PF_IN, PF_DATA, PF_PORT_FEEDBACK, "ids the sampler has persisted; unacknowledged ones are re-sent"},
    {NULL},
};

typedef struct synth {
    synth_cfg cfg;
    uint64_t seed;
    uint32_t classes;
    uint64_t first_id; /* this instance produces ids first_id, first_id + 1, ... */
    float *means;      /* [classes, dim] */
    pf_source_driver *drv;
} synth;

static int synth_fill(void *self, uint64_t pos, uint64_t *id, float *x, int32_t *label, int32_t *truth)
{
    const synth *s = self;
    uint64_t k = s->first_id + pos;
    pf_rng r;
    pf_rng_seed(&r, s->seed ^ (k * 0x9e3779b97f4a7c15ull));
    uint32_t c = (uint32_t)((k - 1) % s->classes);
    const float *mu = s->means + (size_t)c * (size_t)s->cfg.dim;
    for (int64_t j = 0; j < s->cfg.dim; j++) x[j] = mu[j] + (float)pf_rng_normal(&r);
    *id = k;
    *truth = (int32_t)c;
    *label = k <= (uint64_t)s->cfg.labeled ? (int32_t)c : -1;
    return 0;
}

static uint64_t synth_position(void *self, uint64_t id)
{
    const synth *s = self;
    return id >= s->first_id ? id - s->first_id : UINT64_MAX;
}

static void synth_free(synth *s)
{
    pf_source_driver_destroy(&s->drv);
    free(s->means);
    free(s);
}

static int synth_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const synth_cfg *cfg = cfgp;
    const pf_graph *g = pf_ctx_graph(ctx);
    synth *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "synth_source: out of memory");
    s->cfg = *cfg;
    s->classes = (uint32_t)(cfg->classes ? cfg->classes : g->cfg.classes);
    s->seed = (uint64_t)(cfg->seed >= 0 ? cfg->seed : g->cfg.seed);
    size_t dim = (size_t)cfg->dim;
    s->means = malloc((size_t)s->classes * dim * sizeof *s->means);
    if (!s->means) {
        free(s);
        return pf_errorf(PF_ENOMEM, "synth_source: out of memory");
    }
    pf_rng r;
    pf_rng_seed(&r, s->seed);
    double scale = cfg->separation / sqrt((double)dim);
    for (size_t i = 0; i < (size_t)s->classes * dim; i++) s->means[i] = (float)(scale * pf_rng_normal(&r));

    /* Replicas split the id range into contiguous shares; an endless stream
     * gives each replica its own block of 2^40 ids. */
    uint64_t reps = (uint64_t)pf_ctx_replicas(ctx), inst = (uint64_t)pf_ctx_instance(ctx), total = 0;
    if (cfg->n > 0) {
        uint64_t n = (uint64_t)cfg->n;
        s->first_id = 1 + n * inst / reps;
        total = 1 + n * (inst + 1) / reps - s->first_id;
    } else {
        s->first_id = 1 + (inst << 40);
    }
    pf_source_spec spec = {
        .self = s,
        .total = total,
        .dim = (uint32_t)dim,
        .classes = s->classes,
        .batch = (uint32_t)cfg->batch,
        .rate = cfg->rate / (double)reps,
        .ack_timeout_ms = (uint64_t)cfg->ack_timeout_ms,
        .fill = synth_fill,
        .position = synth_position,
    };
    int rc = pf_source_driver_new(ctx, &spec, PORT_OUT, PORT_ACKS, &s->drv);
    if (rc < 0) {
        synth_free(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int synth_tick(void *state, pf_ctx *ctx)
{
    return pf_source_driver_tick(((synth *)state)->drv, ctx);
}

static int synth_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    return pf_source_driver_process(((synth *)state)->drv, ctx, msg);
}

static int synth_drain(void *state, pf_ctx *ctx)
{
    return pf_source_driver_drain(((synth *)state)->drv, ctx);
}

static void synth_stop(void **state, pf_ctx *ctx)
{
    if (*state) synth_free(*state);
    *state = NULL;
}

static const pf_node_ops synth_ops = {
    .start = synth_start,
    .process = synth_process,
    .tick = synth_tick,
    .drain = synth_drain,
    .stop = synth_stop,
};

const pf_kind pf_kind_synth_source = {
    .name = "synth_source",
    .summary = "synthetic Gaussian class blobs; finite (n) or endless, optionally paced",
    .params = synth_params,
    .config_size = sizeof(synth_cfg),
    .ports = synth_ports,
    .flags = PF_KIND_STATELESS,
    .ops = &synth_ops,
};
