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
#include "data/truth.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "runtime/rng.h"

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
    PF_PARAM_END,
};

enum { PORT_OUT };

static const pf_port_spec synth_ports[] = {
    {"out", PF_OUT, PF_DATA, 0, "batches of samples: ids, x, labels (-1 = unlabeled)"},
    {NULL},
};

typedef struct synth {
    synth_cfg cfg;
    uint64_t seed;
    uint32_t classes;
    float *means;  /* [classes, dim] */
    uint64_t next; /* next id to produce, from 1 */
    uint64_t end;  /* one past the last id this instance produces; 0 = forever */
    uint64_t started_ms;
    pf_truth_writer *truth;
    /* batch buffers, reused */
    uint64_t *ids;
    float *x;
    int32_t *labels;
} synth;

static void synth_sample(const synth *s, uint64_t id, float *x, int32_t *label)
{
    pf_rng r;
    pf_rng_seed(&r, s->seed ^ (id * 0x9e3779b97f4a7c15ull));
    uint32_t c = (uint32_t)((id - 1) % s->classes);
    const float *mu = s->means + (size_t)c * (size_t)s->cfg.dim;
    for (int64_t j = 0; j < s->cfg.dim; j++) x[j] = mu[j] + (float)pf_rng_normal(&r);
    *label = (int32_t)c;
}

static int synth_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const synth_cfg *cfg = cfgp;
    const pf_graph *g = pf_ctx_graph(ctx);
    synth *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "synth_source: out of memory");
    s->cfg = *cfg;
    if (s->cfg.batch == 0) s->cfg.batch = g->cfg.batch;
    s->classes = (uint32_t)(cfg->classes ? cfg->classes : g->cfg.classes);
    s->seed = (uint64_t)(cfg->seed >= 0 ? cfg->seed : g->cfg.seed);
    size_t dim = (size_t)cfg->dim;
    s->means = malloc((size_t)s->classes * dim * sizeof *s->means);
    s->ids = malloc((size_t)s->cfg.batch * sizeof *s->ids);
    s->x = malloc((size_t)s->cfg.batch * dim * sizeof *s->x);
    s->labels = malloc((size_t)s->cfg.batch * sizeof *s->labels);
    if (!s->means || !s->ids || !s->x || !s->labels) goto oom;
    pf_rng r;
    pf_rng_seed(&r, s->seed);
    double scale = cfg->separation / sqrt((double)dim);
    for (size_t i = 0; i < (size_t)s->classes * dim; i++) s->means[i] = (float)(scale * pf_rng_normal(&r));

    /* Replicas split the id range into contiguous shares. */
    uint64_t reps = (uint64_t)pf_ctx_replicas(ctx), inst = (uint64_t)pf_ctx_instance(ctx);
    if (cfg->n > 0) {
        uint64_t n = (uint64_t)cfg->n;
        s->next = 1 + n * inst / reps;
        s->end = 1 + n * (inst + 1) / reps;
        pf_ctx_gauge(ctx, "total", (double)(s->end - s->next));
    } else {
        s->next = 1 + inst;
        s->end = 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/truth-%s.bin", pf_ctx_run_dir(ctx), pf_ctx_name(ctx));
    int rc = pf_truth_writer_open(path, &s->truth);
    if (rc < 0) {
        void *p = s;
        free(s->means), free(s->ids), free(s->x), free(s->labels), free(p);
        return rc;
    }
    s->started_ms = pf_ctx_now_ms(ctx);
    *state = s;
    return 0;
oom:
    free(s->means), free(s->ids), free(s->x), free(s->labels), free(s);
    return pf_errorf(PF_ENOMEM, "synth_source: out of memory for batch %lld x dim %lld",
                     (long long)cfg->batch, (long long)cfg->dim);
}

static int synth_tick(void *state, pf_ctx *ctx)
{
    synth *s = state;
    uint64_t step = (uint64_t)pf_ctx_replicas(ctx) * (s->end ? 0 : 1); /* forever: interleave ids */
    for (int rounds = 0; rounds < 8 && pf_ctx_can_emit(ctx, PORT_OUT); rounds++) {
        if (s->end && s->next >= s->end) {
            pf_truth_writer_flush(s->truth);
            pf_ctx_finish(ctx);
            return 0;
        }
        if (s->cfg.rate > 0) {
            double due = (double)(pf_ctx_now_ms(ctx) - s->started_ms) * s->cfg.rate / 1000.0;
            if ((double)(s->next - 1) >= due) return 0;
        }
        size_t n = 0, dim = (size_t)s->cfg.dim;
        while (n < (size_t)s->cfg.batch && (!s->end || s->next < s->end)) {
            uint64_t id = s->next;
            s->next += step ? step : 1;
            synth_sample(s, id, s->x + n * dim, &s->labels[n]);
            s->ids[n] = id;
            if (id > (uint64_t)s->cfg.labeled) {
                int rc = pf_truth_writer_add(s->truth, id, s->labels[n]);
                if (rc < 0) return rc;
                s->labels[n] = -1;
            }
            n++;
        }
        Pf__Batch b = PF__BATCH__INIT;
        b.n_ids = n, b.ids = s->ids;
        b.dim = (uint32_t)dim;
        b.n_x = n * dim, b.x = s->x;
        b.n_labels = n, b.labels = s->labels;
        b.classes = s->classes;
        int rc = pf_ctx_emit(ctx, PORT_OUT, PF_MSG_BATCH, &b);
        if (rc < 0) return rc;
    }
    return 0;
}

static int synth_drain(void *state, pf_ctx *ctx)
{
    synth *s = state;
    return pf_truth_writer_flush(s->truth);
}

static void synth_stop(void **state, pf_ctx *ctx)
{
    synth *s = *state;
    if (!s) return;
    pf_truth_writer_close(&s->truth);
    free(s->means), free(s->ids), free(s->x), free(s->labels);
    free(s);
    *state = NULL;
}

static const pf_node_ops synth_ops = {
    .start = synth_start,
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
