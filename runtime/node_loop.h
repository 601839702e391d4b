/*
 * node_loop.h - running one node instance, and what a kind may ask of it.
 *
 * pf_node_run() is `pseudoflow node GRAPH NAME#I`: it opens the instance's
 * sockets (outputs bind, inputs connect), then loops: send what is queued,
 * poll inputs, decode and validate, call the kind's ops, tick, track
 * end-of-stream, report stats to the supervisor. Kinds see only pf_ctx.
 *
 * Emitting never blocks a kind: pf_ctx_emit encodes the message at once and
 * queues the frames; the loop sends them as peers accept them. While any
 * output has a backlog, the loop stops reading non-feedback inputs, so
 * backpressure travels upstream, but it keeps reading feedback inputs, so a
 * cycle (sampler -> ... -> filter -> sampler) can never deadlock. A kind that
 * produces on its own (a source, the sampler's replay) checks
 * pf_ctx_can_emit() first.
 */
#ifndef PF_NODE_LOOP_H
#define PF_NODE_LOOP_H

#include <stdint.h>

#include "runtime/graph.h"
#include "runtime/wire.h"

typedef struct pf_node_opts {
    const char *run_dir;   /* overrides the graph's run_dir when non-NULL */
    int supervised;        /* report stats to the supervisor's socket */
    const uint8_t *ended;  /* [ninstances] or NULL: instances that already finished, whose
                            * end-of-stream this one may have missed (set by the supervisor
                            * when it restarts an instance) */
    int restarts;          /* how many times the supervisor restarted this instance before
                            * (0 = first start); selects PF_FAULT rules (runtime/inject.h) */
} pf_node_opts;

/* Run instance `instance` of node `node` until end-of-stream or SIGTERM/SIGINT.
 * Returns 0 when it finished or was stopped cleanly; a negative code when a
 * kind op or the transport failed (message in pf_error_last()). */
int pf_node_run(const pf_graph *g, size_t node, int instance, const pf_node_opts *opts);

/* Exit status of a node that failed with PF_ECONFIG: a configuration that
 * no restart can fix (sysexits' EX_CONFIG); the supervisor stops the run
 * instead of restarting it. */
#define PF_NODE_EXIT_CONFIG 78

/* The signal (SIGTERM, SIGINT) that stopped pf_node_run in this process, or 0
 * when it ran to end-of-stream. `pseudoflow node` then exits 128 + signal, as
 * a shell would report it, so a supervisor never takes an instance that was
 * stopped half-way for one that finished its stream. */
int pf_node_stop_signal(void);

/* --- what a kind may ask of its context ---------------------------------- */

const pf_graph *pf_ctx_graph(const pf_ctx *ctx);
const pf_gnode *pf_ctx_node(const pf_ctx *ctx);
const char *pf_ctx_name(const pf_ctx *ctx);     /* "teacher#1" */
int pf_ctx_instance(const pf_ctx *ctx);
int pf_ctx_replicas(const pf_ctx *ctx);
const char *pf_ctx_run_dir(const pf_ctx *ctx);  /* exists, writable */
uint64_t pf_ctx_seed(const pf_ctx *ctx);        /* graph seed mixed with node name and instance */
uint64_t pf_ctx_now_ms(const pf_ctx *ctx);      /* monotonic */

/* Is output `port` wired to anything? */
int pf_ctx_connected(const pf_ctx *ctx, int port);

/* No backlog on output `port` (or it is not wired): emitting now will not grow a queue. */
int pf_ctx_can_emit(const pf_ctx *ctx, int port);

/* Queue a message on output `port`. For PF_DATA ports type is PF_MSG_BATCH;
 * for PF_PUBSUB ports PF_MSG_MODEL or PF_MSG_STATS. The message is encoded
 * before this returns: the caller keeps ownership of msg. Emitting on a port
 * that is not wired is a no-op. Returns 0, PF_EINVAL, PF_ENOMEM. */
int pf_ctx_emit(pf_ctx *ctx, int port, pf_msg_type type, const void *msg);

/* Queue a batch on output `port` for one instance only: the one whose flat
 * instance number is `to` (a pf_msg's sender), e.g. acknowledgements going
 * back to the source instance that sent the samples. PF_ENOTFOUND when that
 * instance is not a target of the port. */
int pf_ctx_emit_to(pf_ctx *ctx, int port, uint32_t to, pf_msg_type type, const void *msg);

/* A node with no data inputs (a source) says it has produced everything:
 * the loop then drains it and sends end-of-stream downstream. */
void pf_ctx_finish(pf_ctx *ctx);

/* Metrics reported to the supervisor, the progress line and the run report.
 * Names are static strings; "samples_in" and "samples_out" drive progress,
 * a gauge "total" (samples the source will produce) gives the ETA. */
void pf_ctx_count(pf_ctx *ctx, const char *name, double delta);
void pf_ctx_gauge(pf_ctx *ctx, const char *name, double value);

#endif
