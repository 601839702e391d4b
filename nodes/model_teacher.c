/*
 * model_teacher.c - a teacher that labels every sample with a model loaded
 * from a file: the distillation case (DESIGN.md 1), where the expensive
 * model was trained elsewhere (`pseudoflow train`, or a student's final
 * model from an earlier run) and the pipeline only asks it.
 *
 * The file is a snapshot written by pf_mlp_save (models/mlp.h), so its
 * input standardization and fitted temperature come with it; probabilities
 * are softmax(z / T) with T the file's temperature unless `temperature`
 * overrides it. It never trains. With reload=1 it checks the file's
 * modification time every reload_ms and swaps in a newer model (a trainer
 * elsewhere refreshing the teacher); a file that fails to load then keeps
 * the old model and is reported once per change.
 *
 * Stateless: replicas=N load N copies. A model whose input width differs
 * from the batches, or whose class count differs from the graph's, is a
 * configuration error: the instance fails with the reason instead of
 * silently dropping samples the sampler would re-send forever.
 */
#include "models/mlp.h"
#include "models/models.h"
#include "nodes/learner.h"
#include "runtime/error.h"
#include "runtime/graph.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct mt_cfg {
    char *path;
    double temperature;
    int reload;
    int64_t reload_ms;
    int64_t threads;
} mt_cfg;

static const pf_param mt_params[] = {
    PF_PARAM_STRING(mt_cfg, path, NULL, "model file (pf_mlp_save format: `pseudoflow train --out`, a student's save) (required)"),
    PF_PARAM_FLOAT(mt_cfg, temperature, 0, 0, 100, "softmax temperature; 0 = the one stored in the file"),
    PF_PARAM_BOOL(mt_cfg, reload, 0, "reload the file when it changes"),
    PF_PARAM_INT(mt_cfg, reload_ms, 2000, 10, 86400000, "how often to check the file with reload=1"),
    PF_PARAM_INT(mt_cfg, threads, 1, 1, 256, "BLAS threads"),
    PF_PARAM_END,
};

enum { PORT_IN, PORT_OUT };

static const pf_port_spec mt_ports[] = {
    {"in", PF_IN, PF_DATA, PF_PORT_REQUIRED, "samples to label"},
    {"out", PF_OUT, PF_DATA, 0, "the samples with probs and teacher_version"},
    {NULL},
};

typedef struct mteacher {
    mt_cfg cfg;
    pf_mlp *model;
    uint64_t version;       /* counts loads: 1 = the first */
    struct timespec mtime;  /* of the loaded file */
    uint64_t next_check_ms;
    float *probs;
    size_t cap;
    int warned_reload;
} mteacher;

static int mt_configure(const void *cfgp, const pf_graph *g, const pf_gnode *node)
{
    const mt_cfg *cfg = cfgp;
    /* With reload=1 the file may be written after the check. */
    if (cfg->reload && cfg->path && cfg->path[0]) return 0;
    int rc = pf_kind_check_path(0, node, "path", cfg->path, PF_PATH_FILE);
    if (rc < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", pf_error_last());
        return pf_errorf(rc, "%s (train one with `pseudoflow train --out`)", why);
    }
    return 0;
}

/* Load the file into *out, checking it against the graph. */
static int load(const mteacher *t, const pf_graph *g, pf_mlp **out, struct timespec *mtime)
{
    struct stat st;
    if (stat(t->cfg.path, &st) != 0) return pf_errorf(PF_EIO, "model_teacher: cannot stat '%s'", t->cfg.path);
    int rc = pf_mlp_load(t->cfg.path, out);
    if (rc < 0) return rc;
    if (pf_mlp_classes(*out) != (uint32_t)g->cfg.classes) {
        rc = pf_errorf(PF_EMISMATCH, "model_teacher: '%s' has %u classes but the graph says classes=%lld", t->cfg.path,
                       pf_mlp_classes(*out), (long long)g->cfg.classes);
        pf_mlp_destroy(out);
        return rc;
    }
    if (g->cfg.dim && pf_mlp_input_dim(*out) != (uint32_t)g->cfg.dim) {
        rc = pf_errorf(PF_EMISMATCH, "model_teacher: '%s' takes %u features but the graph says dim=%lld", t->cfg.path,
                       pf_mlp_input_dim(*out), (long long)g->cfg.dim);
        pf_mlp_destroy(out);
        return rc;
    }
    if ((rc = pf_learner_check_input_power(*out, (float)pf_kind_graph_float(g, "power", 1.0), "model_teacher:",
                                           t->cfg.path)) < 0) {
        pf_mlp_destroy(out);
        return rc;
    }
    *mtime = st.st_mtim;
    return 0;
}

static int mt_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    mteacher *t = calloc(1, sizeof *t);
    if (!t) return pf_errorf(PF_ENOMEM, "model_teacher: out of memory");
    t->cfg = *(const mt_cfg *)cfgp;
    pf_models_set_threads((int)t->cfg.threads);
    int rc = load(t, pf_ctx_graph(ctx), &t->model, &t->mtime);
    if (rc < 0) {
        free(t);
        return rc;
    }
    t->version = 1;
    size_t ns;
    const uint32_t *sz = pf_mlp_sizes(t->model, &ns);
    PF_INFO("teacher model %s: %u inputs, %zu layers, %u classes, temperature %.3f", t->cfg.path, sz[0], ns - 1,
            sz[ns - 1], (double)(t->cfg.temperature > 0 ? (float)t->cfg.temperature : pf_mlp_temperature(t->model)));
    *state = t;
    return 0;
}

static int maybe_reload(mteacher *t, pf_ctx *ctx)
{
    if (!t->cfg.reload || pf_ctx_now_ms(ctx) < t->next_check_ms) return 0;
    t->next_check_ms = pf_ctx_now_ms(ctx) + (uint64_t)t->cfg.reload_ms;
    struct stat st;
    if (stat(t->cfg.path, &st) != 0 ||
        (st.st_mtim.tv_sec == t->mtime.tv_sec && st.st_mtim.tv_nsec == t->mtime.tv_nsec))
        return 0;
    pf_mlp *m = NULL;
    struct timespec mt;
    if (load(t, pf_ctx_graph(ctx), &m, &mt) < 0 || !pf_mlp_same_shape(m, t->model)) {
        if (!t->warned_reload)
            PF_WARN("kept the current model: %s", m ? "the new file has another architecture" : pf_error_last());
        t->warned_reload = 1;
        t->mtime = st.st_mtim; /* report once per change */
        pf_mlp_destroy(&m);
        return 0;
    }
    pf_mlp_destroy(&t->model);
    t->model = m, t->mtime = mt, t->warned_reload = 0;
    t->version++;
    pf_ctx_count(ctx, "reloads", 1);
    PF_INFO("reloaded %s (teacher version %llu)", t->cfg.path, (unsigned long long)t->version);
    return 0;
}

static int mt_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    mteacher *t = state;
    const Pf__Batch *b = msg->u.batch;
    size_t n = b->n_ids;
    int rc = maybe_reload(t, ctx);
    if (rc < 0) return rc;
    if (n == 0 || b->n_x != n * b->dim) {
        pf_ctx_count(ctx, "no_embeddings", (double)n);
        return 0;
    }
    if (b->dim != pf_mlp_input_dim(t->model))
        return pf_errorf(PF_EMISMATCH, "model_teacher: '%s' takes %u features, the samples have %u", t->cfg.path,
                         pf_mlp_input_dim(t->model), b->dim);
    size_t c = pf_mlp_classes(t->model);
    if (n * c > t->cap) {
        float *p = realloc(t->probs, n * c * sizeof *p);
        if (!p) return pf_errorf(PF_ENOMEM, "model_teacher: out of memory");
        t->probs = p, t->cap = n * c;
    }
    float T = t->cfg.temperature > 0 ? (float)t->cfg.temperature : pf_mlp_temperature(t->model);
    if ((rc = pf_mlp_predict_proba(t->model, b->x, n, T, t->probs)) < 0) return rc;
    Pf__Batch o = PF__BATCH__INIT; /* the same samples, with probs */
    o.n_ids = n, o.ids = b->ids;
    o.dim = b->dim, o.n_x = b->n_x, o.x = b->x;
    o.n_labels = b->n_labels, o.labels = b->labels;
    o.n_flags = b->n_flags, o.flags = b->flags;
    o.n_origin_ms = b->n_origin_ms, o.origin_ms = b->origin_ms;
    o.classes = (uint32_t)c;
    o.n_probs = n * c, o.probs = t->probs;
    o.teacher_version = t->version;
    pf_ctx_count(ctx, "labeled", (double)n);
    return pf_ctx_emit(ctx, PORT_OUT, PF_MSG_BATCH, &o);
}

static int mt_tick(void *state, pf_ctx *ctx)
{
    return maybe_reload(state, ctx);
}

static void mt_stop(void **state, pf_ctx *ctx)
{
    mteacher *t = *state;
    if (!t) return;
    pf_mlp_destroy(&t->model);
    free(t->probs);
    free(t);
    *state = NULL;
}

static const pf_node_ops mt_ops = {
    .configure = mt_configure,
    .start = mt_start,
    .process = mt_process,
    .tick = mt_tick,
    .stop = mt_stop,
};

const pf_kind pf_kind_model_teacher = {
    .name = "model_teacher",
    .summary = "labels samples with a model loaded from a file (distillation); optionally reloads it",
    .params = mt_params,
    .config_size = sizeof(mt_cfg),
    .ports = mt_ports,
    .flags = PF_KIND_STATELESS,
    .ops = &mt_ops,
};
