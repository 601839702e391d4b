/*
 * source_driver.h - the part every source kind shares: batching, pacing,
 * hidden truth, acknowledgements and re-sending, and when to finish.
 *
 * A source kind only says how to produce the sample at a stream position;
 * the driver does the rest:
 *
 *     static int fill(void *self, uint64_t pos, uint64_t *id, float *x,
 *                     int32_t *label, int32_t *truth) { ... }
 *     pf_source_spec spec = {.self = s, .total = n, .dim = 784, .classes = 10,
 *                            .fill = fill, .position = position};
 *     pf_source_driver_new(ctx, &spec, PORT_OUT, PORT_ACKS, &s->drv);
 *     // tick -> pf_source_driver_tick, process(acks) -> _process,
 *     // drain -> _drain, stop -> _destroy
 *
 * `label` is what the pipeline sees (-1 = unlabeled); `truth` is the real
 * label, or -1 when unknown. Where label is hidden and truth known, the
 * driver writes the truth to <run_dir>/truth-<node>#<i>.bin for the
 * evaluator (data/truth.h).
 *
 * With the acks port wired (sampler -> source [port=acks]) every sample is
 * re-sent until the sampler acknowledges it has persisted it, and the source
 * finishes only then; the contiguous acknowledged prefix is saved to
 * <run_dir>/<node>#<i>.cursor so a restarted source resumes after it.
 * Without acks the source finishes once it has emitted everything.
 */
#ifndef PF_SOURCE_DRIVER_H
#define PF_SOURCE_DRIVER_H

#include <stdint.h>

#include "runtime/node_loop.h"

typedef struct pf_source_spec {
    void *self;
    uint64_t total;     /* positions this instance produces; 0 = no end */
    uint32_t dim;
    uint32_t classes;
    uint32_t batch;     /* samples per batch */
    double rate;        /* samples per second; 0 = as fast as downstream takes them */
    uint64_t ack_timeout_ms;
    /* Produce position pos. Return 0, PF_EAGAIN when it is not available yet
     * (a live source waiting for data), or another negative code. */
    int (*fill)(void *self, uint64_t pos, uint64_t *id, float *x, int32_t *label, int32_t *truth);
    /* Stream position of an id this instance produced, or UINT64_MAX. */
    uint64_t (*position)(void *self, uint64_t id);
} pf_source_spec;

typedef struct pf_source_driver pf_source_driver;

/* Returns 0, PF_ENOMEM or PF_EIO (truth file). Caller owns *out. */
int pf_source_driver_new(pf_ctx *ctx, const pf_source_spec *spec, int out_port, int acks_port,
                         pf_source_driver **out);
void pf_source_driver_destroy(pf_source_driver **d);

/* Emit what downstream can take; re-send expired samples; finish at the end. */
int pf_source_driver_tick(pf_source_driver *d, pf_ctx *ctx);
/* Take acknowledgements (a batch of ids) from the acks port. */
int pf_source_driver_process(pf_source_driver *d, pf_ctx *ctx, const pf_msg *msg);
/* Flush the truth file and the cursor. */
int pf_source_driver_drain(pf_source_driver *d, pf_ctx *ctx);

/* For live sources (total = 0) that track their own progress:
 * _acked is the contiguous acknowledged prefix (every position below it is
 * persisted by the sampler; without the acks port wired, nothing can be
 * known persisted and it is what was emitted); _skip_to, before the first tick,
 * declares positions below pos already persisted (the kind's own durable
 * state says so), so the driver neither re-sends nor asks fill() for them. */
uint64_t pf_source_driver_acked(const pf_source_driver *d);
void pf_source_driver_skip_to(pf_source_driver *d, uint64_t pos);
/* Positions produced so far (the next new position). */
uint64_t pf_source_driver_produced(const pf_source_driver *d);

#endif
