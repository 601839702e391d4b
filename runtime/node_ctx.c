/*
 * node_ctx.c - what a kind can ask of and tell its instance (runtime/kind.h):
 * who it is, its seed, its outputs, its counters and gauges, emitting. The
 * event loop that owns the instance is node_loop.c.
 */
#include "runtime/node_ctx.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/log.h"

#include <signal.h>
#include <string.h>

/* --- the context a kind sees -------------------------------------------- */

const pf_graph *pf_ctx_graph(const pf_ctx *ctx) { return ctx->g; }
const pf_gnode *pf_ctx_node(const pf_ctx *ctx) { return &ctx->g->nodes[ctx->node]; }
const char *pf_ctx_name(const pf_ctx *ctx) { return ctx->name; }
int pf_ctx_instance(const pf_ctx *ctx) { return ctx->instance; }
int pf_ctx_replicas(const pf_ctx *ctx) { return ctx->g->nodes[ctx->node].replicas; }
const char *pf_ctx_run_dir(const pf_ctx *ctx) { return ctx->run_dir; }
uint64_t pf_ctx_now_ms(const pf_ctx *ctx) { return pf_clock_mono_ms(); }

/* Graph seed mixed with "node#instance": FNV-1a over the name, then a splitmix64
 * finalizer, so every instance gets its own stream from one seed in the graph. */
uint64_t pf_ctx_seed(const pf_ctx *ctx)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)ctx->g->cfg.seed;
    for (const char *p = ctx->name; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static pf_outport *find_out(const pf_ctx *ctx, int port)
{
    for (size_t i = 0; i < ctx->nouts; i++)
        if (pf_outport_port(ctx->outs[i]) == port) return ctx->outs[i];
    return NULL;
}

int pf_ctx_connected(const pf_ctx *ctx, int port)
{
    return find_out(ctx, port) != NULL;
}

int pf_ctx_can_emit(const pf_ctx *ctx, int port)
{
    const pf_outport *op = find_out(ctx, port);
    return !op || pf_outport_queued(op) == 0;
}

void pf_ctx_finish(pf_ctx *ctx)
{
    ctx->finished = 1;
}

static metric *metric_slot(pf_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nmetrics; i++)
        if (ctx->metrics[i].name == name || strcmp(ctx->metrics[i].name, name) == 0)
            return &ctx->metrics[i];
    if (ctx->nmetrics == MAX_METRICS) return NULL;
    ctx->metrics[ctx->nmetrics] = (metric){name, 0};
    return &ctx->metrics[ctx->nmetrics++];
}

void pf_ctx_count(pf_ctx *ctx, const char *name, double delta)
{
    metric *m = metric_slot(ctx, name);
    if (m) m->value += delta;
}

void pf_ctx_gauge(pf_ctx *ctx, const char *name, double value)
{
    metric *m = metric_slot(ctx, name);
    if (m) m->value = value;
}

/* Count one batch towards a PF_FAULT rule; 1 when the rule fires. */
int pf_ctx_fault_step(pf_ctx *ctx)
{
    if (ctx->fault.action == PF_INJECT_NONE || ctx->fault_hit) return ctx->fault_hit;
    if (++ctx->fault_batches < ctx->fault.after) return 0;
    if (ctx->fault.action == PF_INJECT_KILL) {
        PF_WARN("killing itself after %llu batches (PF_FAULT)", (unsigned long long)ctx->fault_batches);
        raise(SIGKILL);
    }
    ctx->fault_hit = 1;
    return 1;
}

/* Progress counts samples on the first wired data output only, so a filter that
 * sends every sample both to the student and back to the sampler counts it once. */
static const pf_outport *first_data_out(const pf_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nouts; i++)
        if (pf_outport_mode(ctx->outs[i]) == PF_DATA) return ctx->outs[i];
    return NULL;
}

int pf_ctx_emit(pf_ctx *ctx, int port, pf_msg_type type, const void *msg)
{
    pf_outport *op = find_out(ctx, port);
    if (!op) return 0;
    if (pf_outport_mode(op) == PF_DATA && type != PF_MSG_BATCH)
        return pf_errorf(PF_EINVAL, "%s: port '%s' carries batches, not %s", ctx->name,
                         ctx->kind->ports[port].name, pf_wire_type_name(type));
    if (type == PF_MSG_BATCH) {
        int rc = pf_wire_check_batch(msg, &ctx->limits);
        if (rc < 0) return pf_error_wrap(rc, "%s: emitting on '%s': ", ctx->name, ctx->kind->ports[port].name);
    }
    int rc = pf_outport_emit(op, type, msg, -1);
    if (rc < 0) return pf_error_wrap(rc, "%s: ", ctx->name);
    if (pf_outport_mode(op) == PF_DATA) {
        size_t n = ((const Pf__Batch *)msg)->n_ids;
        if (op == first_data_out(ctx)) pf_ctx_count(ctx, "samples_out", (double)n);
        if (!ctx->has_data_in) pf_ctx_fault_step(ctx);
    }
    ctx->emitted = 1;
    return 0;
}

int pf_ctx_emit_to(pf_ctx *ctx, int port, uint32_t to, pf_msg_type type, const void *msg)
{
    pf_outport *op = find_out(ctx, port);
    if (!op) return 0;
    if (pf_outport_mode(op) != PF_DATA || type != PF_MSG_BATCH)
        return pf_errorf(PF_EINVAL, "%s: addressed sends take batches on data ports", ctx->name);
    int rc = pf_outport_emit(op, type, msg, (long)to);
    if (rc < 0) return pf_error_wrap(rc, "%s: output '%s': ", ctx->name, ctx->kind->ports[port].name);
    ctx->emitted = 1;
    return 0;
}

