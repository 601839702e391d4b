/*
 * file_sink.c - writes every sample it receives to a tab-separated file.
 *
 * One line per sample: id, given label, target, weight, confidence (max of
 * probs). Missing fields print as -1 / 1 / nan. The file is opened for append,
 * so a restarted sink continues it; a test or a user checks "every id exactly
 * once" by reading it back. Lines are flushed at every tick and at the end,
 * not per sample: a crash can lose at most the last tick's lines, which an
 * at-least-once pipeline may deliver again.
 */
#include "runtime/error.h"
#include "runtime/node_loop.h"
#include "runtime/run_dir.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink_cfg {
    char *path;
} sink_cfg;

static const pf_param sink_params[] = {
    PF_PARAM_STRING(sink_cfg, path, "", "output file; empty = <run_dir>/<node>#<instance>.tsv"),
    PF_PARAM_END,
};

enum { PORT_IN };

static const pf_port_spec sink_ports[] = {
    {"in", PF_IN, PF_DATA, PF_PORT_REQUIRED, "batches to write"},
    {NULL},
};

typedef struct sink {
    FILE *f;
    char path[4096];
} sink;

static int sink_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const sink_cfg *cfg = cfgp;
    sink *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "file_sink: out of memory");
    int rc = 0;
    if (cfg->path && cfg->path[0]) {
        int n = snprintf(s->path, sizeof s->path, "%s", cfg->path);
        if (n < 0 || (size_t)n >= sizeof s->path) rc = pf_errorf(PF_ERANGE, "file_sink: path '%s' is too long", cfg->path);
    } else {
        rc = pf_run_dir_state_path(pf_ctx_run_dir(ctx), pf_ctx_name(ctx), PF_RUN_DIR_SINK, s->path, sizeof s->path);
    }
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->f = fopen(s->path, "a");
    if (!s->f) {
        int e = errno;
        free(s);
        return pf_errorf(PF_EIO, "file_sink: open '%s': %s", s->path, strerror(e));
    }
    *state = s;
    return 0;
}

static int sink_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    sink *s = state;
    const Pf__Batch *b = msg->u.batch;
    size_t n = b->n_ids, c = b->classes;
    for (size_t i = 0; i < n; i++) {
        float conf = NAN;
        if (b->n_probs == n * c && c > 0) {
            conf = b->probs[i * c];
            for (size_t k = 1; k < c; k++) conf = fmaxf(conf, b->probs[i * c + k]);
        }
        fprintf(s->f, "%llu\t%d\t%d\t%g\t%g\n", (unsigned long long)b->ids[i],
                b->n_labels ? b->labels[i] : -1, b->n_targets ? b->targets[i] : -1,
                b->n_weights ? b->weights[i] : 1.0, conf);
    }
    if (ferror(s->f)) return pf_errorf(PF_EIO, "file_sink: write '%s' failed", s->path);
    return 0;
}

static int sink_tick(void *state, pf_ctx *ctx)
{
    sink *s = state;
    if (fflush(s->f) != 0) return pf_errorf(PF_EIO, "file_sink: flush '%s': %s", s->path, strerror(errno));
    return 0;
}

static void sink_stop(void **state, pf_ctx *ctx)
{
    sink *s = *state;
    if (!s) return;
    fclose(s->f);
    free(s);
    *state = NULL;
}

static const pf_node_ops sink_ops = {
    .start = sink_start,
    .process = sink_process,
    .tick = sink_tick,
    .drain = sink_tick,
    .stop = sink_stop,
};

const pf_kind pf_kind_file_sink = {
    .name = "file_sink",
    .summary = "writes every received sample (id, label, target, weight, confidence) to a TSV file",
    .params = sink_params,
    .config_size = sizeof(sink_cfg),
    .ports = sink_ports,
    .flags = PF_KIND_STATELESS,
    .ops = &sink_ops,
};
