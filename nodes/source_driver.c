/*
 * source_driver.c - batching, acks and re-sending for sources (see
 * source_driver.h).
 *
 * Positions are produced in order; `produced` is the next new one. Re-sends
 * go first in each tick, so an unacknowledged sample is never starved by new
 * ones. The cursor file holds the acknowledged prefix as decimal text,
 * replaced atomically (write, rename) at most once a second: after a crash a
 * source repeats at most a second's worth of samples, which the sampler
 * recognises by id.
 */
#include "nodes/source_driver.h"
#include "data/truth.h"
#include "nodes/source_acks.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/run_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ACK_TIMEOUT_MS 5000
#define CURSOR_EVERY_MS 1000
#define BATCHES_PER_TICK 8 /* keep the loop responsive to acks and signals */

struct pf_source_driver {
    pf_source_spec spec;
    int out_port, acks_port;
    int acks_wired;
    uint64_t produced; /* next new position */
    uint64_t exhausted; /* fill said PF_EAGAIN at this position: retry next tick */
    uint64_t started_ms, cursor_ms;
    uint64_t start_pos;
    pf_source_acks *acks;
    pf_truth_writer *truth;
    char cursor_path[4200];
    uint64_t *ids, *resend;
    float *x;
    int32_t *labels;
};

static uint64_t read_cursor(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return v;
}

static void write_cursor(pf_source_driver *d)
{
    if (!d->acks_wired) return;
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->cursor_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%llu\n", (unsigned long long)pf_source_acks_prefix(d->acks));
    if (fclose(f) == 0) rename(tmp, d->cursor_path);
}

int pf_source_driver_new(pf_ctx *ctx, const pf_source_spec *spec, int out_port, int acks_port,
                         pf_source_driver **out)
{
    pf_source_driver *d = calloc(1, sizeof *d);
    if (!d) return pf_errorf(PF_ENOMEM, "source: out of memory");
    d->spec = *spec;
    if (!d->spec.ack_timeout_ms) d->spec.ack_timeout_ms = DEFAULT_ACK_TIMEOUT_MS;
    if (!d->spec.batch) d->spec.batch = (uint32_t)pf_ctx_graph(ctx)->cfg.batch;
    d->out_port = out_port;
    d->acks_port = acks_port;
    /* An input is wired when some edge ends at it. */
    const pf_graph *g = pf_ctx_graph(ctx);
    size_t me = (size_t)(pf_ctx_node(ctx) - g->nodes);
    for (size_t e = 0; e < g->nedges; e++)
        if (g->edges[e].to == me && g->edges[e].in_port == acks_port) d->acks_wired = 1;
    size_t b = d->spec.batch;
    d->ids = malloc(b * sizeof *d->ids);
    d->resend = malloc(b * sizeof *d->resend);
    d->x = malloc(b * d->spec.dim * sizeof *d->x);
    d->labels = malloc(b * sizeof *d->labels);
    int rc = 0;
    if (!d->ids || !d->resend || !d->x || !d->labels) {
        rc = pf_errorf(PF_ENOMEM, "source: out of memory for a batch of %zu x %u", b, d->spec.dim);
        goto fail;
    }
    if ((rc = pf_source_acks_new(d->spec.ack_timeout_ms, &d->acks)) < 0) goto fail;
    char path[4200];
    if ((rc = pf_run_dir_truth_path(pf_ctx_run_dir(ctx), pf_ctx_name(ctx), path, sizeof path)) < 0 ||
        (rc = pf_truth_writer_open(path, &d->truth)) < 0)
        goto fail;
    if ((rc = pf_run_dir_state_path(pf_ctx_run_dir(ctx), pf_ctx_name(ctx), PF_RUN_DIR_CURSOR, d->cursor_path,
                                    sizeof d->cursor_path)) < 0)
        goto fail;
    if (d->acks_wired) {
        d->start_pos = read_cursor(d->cursor_path);
        if (d->spec.total && d->start_pos > d->spec.total) d->start_pos = d->spec.total;
        if (d->start_pos) PF_INFO("resuming after %llu acknowledged samples", (unsigned long long)d->start_pos);
        pf_source_acks_skip_to(d->acks, d->start_pos);
        d->produced = d->start_pos;
    }
    if (d->spec.total) pf_ctx_gauge(ctx, "total", (double)d->spec.total);
    pf_ctx_count(ctx, "samples_out", 0);
    d->started_ms = d->cursor_ms = pf_ctx_now_ms(ctx);
    *out = d;
    return 0;
fail:
    pf_source_driver_destroy(&d);
    return rc;
}

void pf_source_driver_destroy(pf_source_driver **dp)
{
    pf_source_driver *d = *dp;
    if (!d) return;
    pf_truth_writer_close(&d->truth);
    pf_source_acks_destroy(&d->acks);
    free(d->ids), free(d->resend), free(d->x), free(d->labels);
    free(d);
    *dp = NULL;
}

/* Fill and emit the given positions (or, with pos == NULL, up to `count` new ones). */
static int emit(pf_source_driver *d, pf_ctx *ctx, const uint64_t *pos, size_t count)
{
    size_t n = 0, dim = d->spec.dim;
    uint64_t first = d->produced;
    for (size_t k = 0; k < count; k++) {
        uint64_t p = pos ? pos[k] : d->produced;
        int32_t truth = -1;
        int rc = d->spec.fill(d->spec.self, p, &d->ids[n], d->x + n * dim, &d->labels[n], &truth);
        if (rc == PF_EAGAIN) break;
        if (rc < 0) return rc;
        if (!pos) {
            d->produced++;
            if (d->labels[n] < 0 && truth >= 0 && (rc = pf_truth_writer_add(d->truth, d->ids[n], truth)) < 0)
                return rc;
        }
        n++;
    }
    if (n == 0) return 0;
    Pf__Batch b = PF__BATCH__INIT;
    b.n_ids = n, b.ids = d->ids;
    b.dim = (uint32_t)dim;
    b.n_x = n * dim, b.x = d->x;
    b.n_labels = n, b.labels = d->labels;
    b.classes = d->spec.classes;
    int rc = pf_ctx_emit(ctx, d->out_port, PF_MSG_BATCH, &b);
    if (rc < 0) return rc;
    if (!pos && d->acks_wired) return pf_source_acks_sent(d->acks, first, n, pf_ctx_now_ms(ctx));
    if (pos) pf_ctx_count(ctx, "resent", (double)n);
    return 0;
}

int pf_source_driver_tick(pf_source_driver *d, pf_ctx *ctx)
{
    uint64_t now = pf_ctx_now_ms(ctx);
    int rc;
    if (d->acks_wired) {
        size_t n = pf_source_acks_expired(d->acks, now, d->resend, d->spec.batch);
        if (n && (rc = emit(d, ctx, d->resend, n)) < 0) return rc;
        if (now >= d->cursor_ms + CURSOR_EVERY_MS) {
            write_cursor(d);
            d->cursor_ms = now;
        }
    }
    for (int round = 0; round < BATCHES_PER_TICK && pf_ctx_can_emit(ctx, d->out_port); round++) {
        if (d->spec.total && d->produced >= d->spec.total) break;
        uint64_t want = d->spec.batch;
        if (d->spec.total && d->produced + want > d->spec.total) want = d->spec.total - d->produced;
        if (d->spec.rate > 0) {
            double due = (double)(now - d->started_ms) * d->spec.rate / 1000.0;
            double done = (double)(d->produced - d->start_pos);
            if (done >= due) break;
            if (done + (double)want > due + 1) want = (uint64_t)(due - done) + 1;
        }
        uint64_t before = d->produced;
        if ((rc = emit(d, ctx, NULL, (size_t)want)) < 0) return rc;
        if (d->produced == before) break; /* nothing available yet */
    }
    if (d->spec.total && d->produced >= d->spec.total &&
        (!d->acks_wired || pf_source_acks_all(d->acks, d->produced))) {
        if ((rc = pf_truth_writer_flush(d->truth)) < 0) return rc;
        pf_ctx_finish(ctx);
    }
    return 0;
}

int pf_source_driver_process(pf_source_driver *d, pf_ctx *ctx, const pf_msg *msg)
{
    const Pf__Batch *b = msg->u.batch;
    for (size_t i = 0; i < b->n_ids; i++) {
        uint64_t p = d->spec.position(d->spec.self, b->ids[i]);
        if (p != UINT64_MAX) pf_source_acks_ack(d->acks, p);
    }
    pf_ctx_count(ctx, "acked", (double)b->n_ids);
    return 0;
}

int pf_source_driver_drain(pf_source_driver *d, pf_ctx *ctx)
{
    write_cursor(d);
    return pf_truth_writer_flush(d->truth);
}

uint64_t pf_source_driver_acked(const pf_source_driver *d)
{
    return d->acks_wired ? pf_source_acks_prefix(d->acks) : d->produced;
}

void pf_source_driver_skip_to(pf_source_driver *d, uint64_t pos)
{
    if (pos <= d->produced) return;
    pf_source_acks_skip_to(d->acks, pos);
    d->produced = d->start_pos = pos;
}

uint64_t pf_source_driver_produced(const pf_source_driver *d)
{
    return d->produced;
}
