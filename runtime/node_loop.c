/*
 * node_loop.c - the event loop of one node instance (see node_loop.h).
 *
 * Sockets. Outputs bind, inputs connect. Data outputs are ROUTER sockets
 * that address each downstream instance themselves (runtime/outport.h: why,
 * and how backpressure works); a data input is one DEALER per upstream
 * instance, routing id "<node>#<instance>/<port>", so that the answer to an
 * end-of-stream goes back to the instance that sent it. Pubsub outputs are
 * PUB; their inputs one SUB per port, and
 * the loop keeps only the newest message per input ("latest wins") before
 * handing it to the kind. While any output has a backlog the loop stops
 * reading non-feedback data inputs (backpressure travels upstream) but keeps
 * reading feedback inputs, so a cycle cannot deadlock.
 *
 * States: RUNNING -> DRAINING (all non-feedback inputs ended) -> FLUSHING
 * (end-of-stream queued on every output; waiting for queues to empty, for
 * every downstream instance to answer it, and for end-of-stream on feedback
 * inputs) -> done. End-of-stream is re-sent every
 * EOS_RESEND_MS while flushing, so a downstream instance restarted after it
 * lost the first one still learns the stream ended; receivers count each
 * sender once. An upstream instance that has exited cannot re-send: under
 * the supervisor, an instance counts end-of-stream from every instance the
 * supervisor says has finished (--ended at start, then the supervisor's
 * control socket, which publishes the finished set while the run lasts).
 * The supervisor knows only the instances it runs, so an instance also
 * keeps its own record of the end-of-stream it received and the answers to
 * its own (runtime/end_record.h). A restarted incarnation (restarts > 0)
 * takes the first as end-of-stream received and the second as a receiver
 * that has everything and may have exited (pf_outport_restore_answer). That
 * is what lets an instance restart after a peer on another machine has
 * ended and exited. A first start (restarts = 0) removes the record of an
 * earlier run in the same directory before anything else can fail; `run
 * --resume` starts every instance of a machine whose whole run stopped as
 * a restart (restarts 1), so each keeps and reads its record.
 *
 * PUB/SUB drops what is published before a subscription arrives (ZeroMQ's
 * slow joiner). A node with pubsub outputs that starts FLUSHING less than
 * SLOW_JOIN_MS after its start stays until then, and each end-of-stream
 * re-send, including one at that deadline, publishes the port's last
 * message again; a pubsub end-of-stream says how many messages were
 * published, and a subscriber that heard none of them waits for the
 * re-send instead of ending (it may have subscribed between the last
 * message and the end-of-stream). In a sub-second run the evaluator would
 * otherwise miss the student's only snapshot, the final one (3 runs in 6 on
 * a 300-sample graph). Longer runs see no re-send and no delay.
 *
 * Every frame is untrusted: wrong frame counts, bad headers and payloads
 * that fail pf_wire_decode are counted in "bad_frames", logged once per
 * (port, reason kind), and dropped.
 *
 * Tests make an instance fail on purpose with PF_FAULT (runtime/inject.h);
 * the loop counts batches and fails where the rule says.
 */
#include "runtime/clock.h"
#include "runtime/curve.h"
#include "runtime/node_loop.h"
#include "runtime/node_ctx.h"
#include "runtime/end_record.h"
#include "runtime/endpoint.h"
#include "runtime/error.h"
#include "runtime/inject.h"
#include "runtime/log.h"
#include "runtime/outport.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define EOS_RESEND_MS 500     /* re-send end-of-stream this often while flushing */
#define SLOW_JOIN_MS 2000     /* a node with pubsub outputs lives at least this long (see the top comment) */
#define FLUSH_POLL_MS 100     /* poll timeout while flushing, so re-sends and the deadline keep their time */
#define STATS_EVERY_MS 250    /* stats to the supervisor */
#define READ_BURST 32         /* messages read from one input per loop turn */
#define BACKLOG_POLL_MS 2     /* poll timeout while an output has a backlog */
#define STOP_FLUSH_MS 1000    /* on SIGTERM, time given to queued output */
#define STATS_LINGER_MS 500   /* the final stats reach a live supervisor; a dead one costs this */
#define PUBSUB_HWM 1000       /* messages; subscribers drain eagerly, keeping the newest */
#define ANSWERS_PER_READ 64   /* first answers to our end-of-stream taken per read (more: read again) */
#define ANSWER_LINGER_MS 1000 /* an input's answer to end-of-stream gets this long on exit */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* --- sending ------------------------------------------------------------ */

static void flush_outputs(pf_ctx *ctx)
{
    for (size_t o = 0; o < ctx->nouts; o++) pf_outport_flush(ctx->outs[o], ctx->ended);
}

static size_t queued(const pf_ctx *ctx)
{
    size_t q = 0;
    for (size_t o = 0; o < ctx->nouts; o++) q += pf_outport_queued(ctx->outs[o]);
    return q;
}

static int backlog(const pf_ctx *ctx)
{
    return queued(ctx) != 0;
}

/* End-of-stream on every output (see pf_outport_eos for what a re-send is). */
static int send_eos(pf_ctx *ctx, int resend)
{
    for (size_t o = 0; o < ctx->nouts; o++) {
        int rc = pf_outport_eos(ctx->outs[o], resend, ctx->ended);
        if (rc < 0) return rc;
    }
    return 0;
}

/* --- receiving ---------------------------------------------------------- */

/* One line of the record (runtime/end_record.h). A record that cannot be
 * written costs only the restart it would help: the run goes on, saying
 * so once. */
static void record_end(pf_ctx *ctx, const char *dir, int port, uint32_t k)
{
    char name[PF_END_RECORD_NAME_MAX];
    pf_graph_instance_name(ctx->g, k, name, sizeof name);
    if (pf_end_record_append(ctx->ended_path, dir, ctx->kind->ports[port].name, name) < 0 && !ctx->record_warned++)
        PF_WARN("%s: a restart of this instance would wait for peers that have already ended", pf_error_last());
}

typedef struct restored {
    pf_ctx *ctx;
    size_t nin, nout;
} restored;

/* A line of the record, taken in by a restarted incarnation; lines that
 * name no port or instance of this graph are skipped. */
static int restore_line(void *p, const char *dir, const char *port, const char *name)
{
    restored *r = p;
    pf_ctx *ctx = r->ctx;
    size_t node;
    int inst;
    if (pf_graph_resolve_instance(ctx->g, name, &node, &inst) < 0) return 0;
    size_t k = ctx->g->nodes[node].first_instance + (size_t)inst;
    if (!strcmp(dir, "in")) {
        for (size_t i = 0; i < ctx->nins; i++) {
            in_port *ip = &ctx->ins[i];
            if (strcmp(ctx->kind->ports[ip->port].name, port) || !ip->expected[k] || ip->eos[k]) continue;
            ip->eos[k] = ip->heard[k] = 1;
            r->nin++;
        }
    } else if (!strcmp(dir, "out")) {
        for (size_t o = 0; o < ctx->nouts; o++)
            if (!strcmp(ctx->kind->ports[pf_outport_port(ctx->outs[o])].name, port) &&
                pf_outport_restore_answer(ctx->outs[o], k) == 0)
                r->nout++;
    }
    return 0;
}

static void load_end_record(pf_ctx *ctx)
{
    restored r = {ctx, 0, 0};
    if (pf_end_record_each(ctx->ended_path, restore_line, &r) < 0)
        PF_WARN("%s: this restart may wait for peers that have already ended", pf_error_last());
    if (r.nin || r.nout)
        PF_INFO("before this restart: %zu end-of-stream received, %zu of ours answered (%s)", r.nin, r.nout,
                ctx->ended_path);
}

static void bad_frame(pf_ctx *ctx, in_port *ip, unsigned reason_kind, const char *why)
{
    pf_ctx_count(ctx, "bad_frames", 1);
    uint32_t key = ((uint32_t)ip->port << 8) | (reason_kind & 0xff);
    for (size_t i = 0; i < ctx->nbad_logged; i++)
        if (ctx->bad_logged[i] == key) return;
    if (ctx->nbad_logged < MAX_BAD_KINDS) ctx->bad_logged[ctx->nbad_logged++] = key;
    PF_WARN("dropped a bad frame on input '%s' (further ones of this kind are only counted): %s",
            ctx->kind->ports[ip->port].name, why);
}

static int has_pubsub_out(const pf_ctx *ctx)
{
    for (size_t o = 0; o < ctx->nouts; o++)
        if (pf_outport_mode(ctx->outs[o]) == PF_PUBSUB) return 1;
    return 0;
}

static int eos_answered(const pf_ctx *ctx)
{
    for (size_t o = 0; o < ctx->nouts; o++)
        if (!pf_outport_eos_answered(ctx->outs[o], ctx->ended)) return 0;
    return 1;
}

static int inputs_ended(const pf_ctx *ctx, int feedback)
{
    int any = 0;
    for (size_t i = 0; i < ctx->nins; i++) {
        const in_port *ip = &ctx->ins[i];
        if (ip->feedback != feedback) continue;
        if (feedback && ip->mode == PF_PUBSUB) continue; /* nobody waits on a model feedback */
        any = 1;
        for (size_t s = 0; s < ctx->g->ninstances; s++)
            if (ip->expected[s] && !ip->eos[s] && !ctx->ended[s]) return 0;
    }
    if (!feedback && !any) return ctx->finished;
    return 1;
}

/* Tell the sender of an end-of-stream on ip that it arrived (outport.c: why).
 * Every copy is answered: the first answer may die with a restarted sender. */
static void answer_eos(pf_ctx *ctx, in_port *ip)
{
    Pf__Eos e = PF__EOS__INIT;
    uint8_t payload[16];
    size_t len = pf_wire_pack(PF_MSG_EOS, &e, payload);
    pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, PF_MSG_EOS, ctx->sender, 0, 0};
    uint8_t hdr[PF_WIRE_HEADER_SIZE];
    pf_wire_header_encode(&h, hdr);
    if (zmq_send(ip->sock, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(ip->sock, payload, len, ZMQ_DONTWAIT);
}

/* Receive one message from ip. Returns 1 if one was read, 0 if none waiting, <0 on error. */
static int receive_one(pf_ctx *ctx, in_port *ip)
{
    zmq_msg_t f0, f1;
    zmq_msg_init(&f0);
    if (zmq_msg_recv(&f0, ip->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&f0);
        if (errno == EAGAIN || errno == EINTR) return 0;
        return pf_errorf(PF_EZMQ, "%s: recv: %s", ctx->name, zmq_strerror(errno));
    }
    int more = zmq_msg_more(&f0);
    zmq_msg_init(&f1);
    int nframes = 1;
    if (more) {
        zmq_msg_recv(&f1, ip->sock, 0);
        nframes = 2;
        while (zmq_msg_more(&f1)) { /* drain and reject extra frames */
            zmq_msg_close(&f1);
            zmq_msg_init(&f1);
            zmq_msg_recv(&f1, ip->sock, 0);
            nframes++;
        }
    }
    int rc = 1;
    pf_wire_header h;
    pf_msg msg = {0};
    if (nframes != 2) {
        char why[64];
        snprintf(why, sizeof why, "expected 2 frames, got %d", nframes);
        bad_frame(ctx, ip, 0, why);
    } else if (pf_wire_header_decode(zmq_msg_data(&f0), zmq_msg_size(&f0), &h) < 0) {
        bad_frame(ctx, ip, 1, pf_error_last());
    } else if (h.sender >= ctx->g->ninstances || !ip->expected[h.sender]) {
        char why[96];
        snprintf(why, sizeof why, "sender %u is not wired to this input", h.sender);
        bad_frame(ctx, ip, 2, why);
    } else if (pf_wire_decode(&h, zmq_msg_data(&f1), zmq_msg_size(&f1), &ctx->limits, &msg) < 0) {
        bad_frame(ctx, ip, 16 + h.type, pf_error_last());
    } else if (msg.type == PF_MSG_EOS) {
        /* A pubsub end-of-stream after messages this subscriber never got
         * (it subscribed late) is not the end for it: the sender re-sends its
         * last message with the next end-of-stream (see the top comment). */
        if (ip->mode == PF_DATA || ip->heard[h.sender] || msg.u.eos->batches == 0) {
            if (!ip->eos[h.sender]) record_end(ctx, "in", ip->port, h.sender);
            ip->eos[h.sender] = 1;
        }
        pf_wire_msg_free(&msg);
        if (ip->mode == PF_DATA) answer_eos(ctx, ip);
    } else if ((ip->mode == PF_DATA) != (msg.type == PF_MSG_BATCH)) {
        bad_frame(ctx, ip, 3, "message type does not match the port");
        pf_wire_msg_free(&msg);
    } else if (ip->mode == PF_PUBSUB) {
        ip->heard[h.sender] = 1;
        pf_wire_msg_free(&ip->latest); /* latest wins */
        ip->latest = msg;
    } else {
        if (!ip->feedback) pf_ctx_count(ctx, "samples_in", (double)msg.u.batch->n_ids);
        int prc = ctx->kind->ops->process ? ctx->kind->ops->process(ctx->state, ctx, ip->port, &msg) : 0;
        pf_wire_msg_free(&msg);
        if (prc < 0) rc = pf_error_wrap(prc, "%s: process: ", ctx->name);
        else if (ctx->has_data_in && pf_ctx_fault_step(ctx)) rc = pf_errorf(PF_ESTATE, "%s: failing on purpose after %llu batches (PF_FAULT)",
                                                 ctx->name, (unsigned long long)ctx->fault_batches);
    }
    zmq_msg_close(&f0);
    zmq_msg_close(&f1);
    return rc;
}

/* Merge the supervisor's finished set: one frame, one byte (0 or 1) per instance. */
static void read_control(pf_ctx *ctx)
{
    uint8_t buf[4096];
    int n;
    while ((n = zmq_recv(ctx->control_sock, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0) {
        if ((size_t)n != ctx->g->ninstances || (size_t)n > sizeof buf) continue; /* not ours: ignore */
        for (size_t i = 0; i < (size_t)n; i++)
            if (buf[i] == 1) ctx->ended[i] = 1;
    }
}

static int dispatch_latest(pf_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nins; i++) {
        in_port *ip = &ctx->ins[i];
        if (!ip->latest.u.any) continue;
        int rc = ctx->kind->ops->process ? ctx->kind->ops->process(ctx->state, ctx, ip->port, &ip->latest) : 0;
        pf_wire_msg_free(&ip->latest);
        if (rc < 0) return pf_error_wrap(rc, "%s: process: ", ctx->name);
    }
    return 0;
}

/* --- stats -------------------------------------------------------------- */

static void send_stats(pf_ctx *ctx)
{
    if (!ctx->stats_sock) return;
    const char *names[MAX_METRICS + 2];
    double values[MAX_METRICS + 2];
    size_t n = 0;
    for (size_t i = 0; i < ctx->nmetrics; i++) {
        names[n] = ctx->metrics[i].name;
        values[n++] = ctx->metrics[i].value;
    }
    names[n] = "queued";
    values[n++] = (double)queued(ctx);
    names[n] = "state";
    values[n++] = (double)ctx->st;
    Pf__Stats s = PF__STATS__INIT;
    s.node = ctx->name;
    s.uptime_ms = pf_clock_mono_ms() - ctx->start_ms;
    s.n_names = n, s.names = (char **)names;
    s.n_values = n, s.values = values;
    uint8_t *buf;
    size_t len;
    if (pf_wire_encode(PF_MSG_STATS, &s, &buf, &len) < 0) return;
    pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, PF_MSG_STATS, ctx->sender, 0, 0};
    uint8_t hdr[PF_WIRE_HEADER_SIZE];
    pf_wire_header_encode(&h, hdr);
    if (zmq_send(ctx->stats_sock, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(ctx->stats_sock, buf, len, ZMQ_DONTWAIT);
    free(buf);
}

/* --- set-up and tear-down ----------------------------------------------- */

static int setup_outputs(pf_ctx *ctx)
{
    const pf_kind *k = ctx->kind;
    int nports = 0;
    while (k->ports[nports].name) nports++;
    ctx->outs = calloc((size_t)nports + 1, sizeof *ctx->outs);
    if (!ctx->outs) return pf_errorf(PF_ENOMEM, "out of memory");
    for (int p = 0; p < nports; p++) {
        if (k->ports[p].dir != PF_OUT) continue;
        pf_outport *op;
        int rc = pf_outport_open(ctx->zctx, ctx->g, ctx->run_dir, ctx->node, p, ctx->instance, ctx->curve, &op);
        if (rc < 0) return rc;
        if (op) ctx->outs[ctx->nouts++] = op;
    }
    return 0;
}

/* A new input socket for port p, connected to the given upstream instances
 * (flat numbers in `from`, their output endpoints in `eps`). */
static int open_input(pf_ctx *ctx, int p, const size_t *from, char (*eps)[PF_ENDPOINT_MAX], size_t n)
{
    const pf_graph *g = ctx->g;
    const pf_kind *k = ctx->kind;
    in_port *ip = &ctx->ins[ctx->nins++];
    ip->port = p;
    ip->mode = k->ports[p].mode;
    ip->feedback = (k->ports[p].flags & PF_PORT_FEEDBACK) != 0;
    if (ip->mode == PF_DATA && !ip->feedback) ctx->has_data_in = 1;
    ip->expected = calloc(g->ninstances, 1);
    ip->eos = calloc(g->ninstances, 1);
    ip->heard = calloc(g->ninstances, 1);
    if (!ip->expected || !ip->eos || !ip->heard) return pf_errorf(PF_ENOMEM, "out of memory");
    ip->sock = zmq_socket(ctx->zctx, ip->mode == PF_DATA ? ZMQ_DEALER : ZMQ_SUB);
    if (!ip->sock) return pf_errorf(PF_EZMQ, "zmq_socket: %s", zmq_strerror(errno));
    int hwm = ip->mode == PF_DATA ? (int)g->cfg.hwm : PUBSUB_HWM;
    int linger = ip->mode == PF_DATA ? ANSWER_LINGER_MS : 0;
    zmq_setsockopt(ip->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(ip->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (ip->mode == PF_DATA) {
        char id[sizeof ctx->name + 64];
        snprintf(id, sizeof id, "%s/%s", ctx->name, k->ports[p].name);
        zmq_setsockopt(ip->sock, ZMQ_ROUTING_ID, id, strlen(id));
    } else {
        zmq_setsockopt(ip->sock, ZMQ_SUBSCRIBE, "", 0);
    }
    if (ctx->curve) {
        int rc = pf_curve_client(ctx->curve, ip->sock);
        if (rc < 0) return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (zmq_connect(ip->sock, eps[i]) != 0)
            return pf_errorf(PF_EZMQ, "%s: connect input '%s' to %s: %s", ctx->name, k->ports[p].name, eps[i],
                             zmq_strerror(errno));
        if (!ip->expected[from[i]]) ip->nexpected++;
        ip->expected[from[i]] = 1;
    }
    return 0;
}

static int setup_inputs(pf_ctx *ctx)
{
    const pf_graph *g = ctx->g;
    const pf_kind *k = ctx->kind;
    int nports = 0;
    while (k->ports[nports].name) nports++;
    /* At most one socket per upstream instance of each edge, plus one per port. */
    size_t most = (size_t)nports;
    for (size_t e = 0; e < g->nedges; e++)
        if (g->edges[e].to == ctx->node) most += (size_t)g->nodes[g->edges[e].from].replicas;
    size_t *from = malloc(most * sizeof *from);
    char (*eps)[PF_ENDPOINT_MAX] = malloc(most * sizeof *eps);
    ctx->ins = calloc(most, sizeof *ctx->ins);
    int rc = 0;
    if (!from || !eps || !ctx->ins) {
        rc = pf_errorf(PF_ENOMEM, "out of memory");
        goto out;
    }
    for (int p = 0; p < nports && rc == 0; p++) {
        if (k->ports[p].dir != PF_IN) continue;
        size_t n = 0;
        for (size_t e = 0; e < g->nedges && rc == 0; e++) {
            const pf_gedge *ed = &g->edges[e];
            if (ed->to != ctx->node || ed->in_port != p) continue;
            const pf_gnode *up = &g->nodes[ed->from];
            for (int i = 0; i < up->replicas && rc == 0; i++, n++) {
                from[n] = up->first_instance + (size_t)i;
                rc = pf_endpoint_output(g, ctx->run_dir, ed->from, ed->out_port, i, 0, eps[n], sizeof eps[n]);
            }
        }
        if (rc < 0 || n == 0) continue; /* n == 0: not wired */
        if (k->ports[p].mode == PF_DATA)
            for (size_t i = 0; i < n && rc == 0; i++) rc = open_input(ctx, p, &from[i], &eps[i], 1);
        else
            rc = open_input(ctx, p, from, eps, n);
    }
    if (rc == 0) {
        size_t nitems = ctx->nins + (size_t)nports + 1; /* inputs, outputs, control */
        ctx->items = calloc(nitems, sizeof *ctx->items);
        ctx->polled = calloc(nitems, sizeof *ctx->polled);
        if (!ctx->items || !ctx->polled) rc = pf_errorf(PF_ENOMEM, "out of memory");
    }
out:
    free(from);
    free(eps);
    return rc;
}

static void teardown(pf_ctx *ctx)
{
    for (size_t o = 0; o < ctx->nouts; o++) pf_outport_close(&ctx->outs[o]);
    free(ctx->outs);
    for (size_t i = 0; i < ctx->nins; i++) {
        in_port *ip = &ctx->ins[i];
        pf_wire_msg_free(&ip->latest);
        free(ip->expected);
        free(ip->eos);
        free(ip->heard);
        if (ip->sock) zmq_close(ip->sock);
    }
    free(ctx->ins);
    free(ctx->items);
    free(ctx->polled);
    if (ctx->stats_sock) zmq_close(ctx->stats_sock);
    if (ctx->control_sock) zmq_close(ctx->control_sock);
    if (ctx->zctx) zmq_ctx_term(ctx->zctx);
    pf_curve_close(&ctx->curve); /* its ZAP thread ends with the context */
}

/* --- the loop ----------------------------------------------------------- */

static int loop(pf_ctx *ctx)
{
    const pf_node_ops *ops = ctx->kind->ops;
    uint64_t tick_ms = (uint64_t)ctx->g->cfg.tick_ms;
    uint64_t next_tick = pf_clock_mono_ms(), next_stats = pf_clock_mono_ms(), next_eos = 0;
    zmq_pollitem_t *items = ctx->items;
    while (ctx->st != DONE) {
        if (stop_signal) return PF_EINTR;
        if (ctx->fault_hit)
            return pf_errorf(PF_ESTATE, "%s: failing on purpose after %llu batches (PF_FAULT)", ctx->name,
                             (unsigned long long)ctx->fault_batches);
        flush_outputs(ctx);
        int bl = backlog(ctx);
        int n = 0;
        for (size_t i = 0; i < ctx->nins; i++) {
            in_port *ip = &ctx->ins[i];
            if (bl && ip->mode == PF_DATA && !ip->feedback) continue; /* backpressure */
            items[n] = (zmq_pollitem_t){ip->sock, 0, ZMQ_POLLIN, 0};
            ctx->polled[n++] = ip;
        }
        int nin = n;
        for (size_t o = 0; o < ctx->nouts; o++) { /* answers to our end-of-stream */
            if (pf_outport_mode(ctx->outs[o]) != PF_DATA) continue;
            items[n] = (zmq_pollitem_t){pf_outport_socket(ctx->outs[o]), 0, ZMQ_POLLIN, 0};
            ctx->polled[n++] = ctx->outs[o];
        }
        uint64_t t = pf_clock_mono_ms();
        long timeout = next_tick > t ? (long)(next_tick - t) : 0;
        if (bl && timeout > BACKLOG_POLL_MS) timeout = BACKLOG_POLL_MS;
        if (ctx->st == FLUSHING && timeout > FLUSH_POLL_MS) timeout = FLUSH_POLL_MS;
        if (ctx->emitted && !bl) timeout = 0; /* a producer keeps producing */
        ctx->emitted = 0;
        if (ctx->control_sock) items[n] = (zmq_pollitem_t){ctx->control_sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(items, n + (ctx->control_sock != NULL), timeout) < 0) {
            if (errno == EINTR) continue;
            return pf_errorf(PF_EZMQ, "%s: poll: %s", ctx->name, zmq_strerror(errno));
        }
        for (int i = 0; i < nin; i++) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            in_port *ip = ctx->polled[i];
            for (int k = 0; k < READ_BURST; k++) {
                int rc = receive_one(ctx, ip);
                if (rc < 0) return rc;
                if (rc == 0) break;
                if (ip->mode == PF_DATA && !ip->feedback && backlog(ctx)) break;
            }
        }
        for (int i = nin; i < n; i++) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            uint32_t newly[ANSWERS_PER_READ];
            size_t got;
            do { /* read_acks stops when newly[] is full: read again until it is not */
                got = pf_outport_read_acks(ctx->polled[i], newly, ANSWERS_PER_READ);
                for (size_t k = 0; k < got; k++) record_end(ctx, "out", pf_outport_port(ctx->polled[i]), newly[k]);
            } while (got == ANSWERS_PER_READ);
        }
        if (ctx->control_sock && (items[n].revents & ZMQ_POLLIN)) read_control(ctx);
        int rc = dispatch_latest(ctx);
        if (rc < 0) return rc;
        t = pf_clock_mono_ms();
        if (t >= next_tick || ctx->emitted == 0) {
            /* Hand over what the inputs just queued (a sampler's acks) before
             * judging the backlog: otherwise a node whose every pass reads
             * input, as on a loaded machine, always finds its own fresh
             * messages queued here and never ticks. */
            if (backlog(ctx)) flush_outputs(ctx);
            if (ops->tick && ctx->st == RUNNING && !backlog(ctx)) {
                rc = ops->tick(ctx->state, ctx);
                if (rc < 0) return pf_error_wrap(rc, "%s: tick: ", ctx->name);
            }
            if (t >= next_tick) next_tick = t + tick_ms;
        }
        if (ctx->st == RUNNING && inputs_ended(ctx, 0)) ctx->st = DRAINING;
        if (ctx->st == DRAINING) {
            rc = ops->drain ? ops->drain(ctx->state, ctx) : 0;
            if (rc == 0) {
                ctx->st = FLUSHING;
                ctx->flush_ms = t;
                next_eos = 0;
            } else if (rc != PF_EAGAIN) {
                return pf_error_wrap(rc, "%s: drain: ", ctx->name);
            }
        }
        if (ctx->st == FLUSHING) {
            if (t >= next_eos) {
                rc = send_eos(ctx, next_eos != 0);
                if (rc < 0) return rc;
                next_eos = t + EOS_RESEND_MS;
                flush_outputs(ctx);
            }
            uint64_t deadline = ctx->start_ms + SLOW_JOIN_MS;
            if (!backlog(ctx) && inputs_ended(ctx, 1) && eos_answered(ctx)) {
                if (!has_pubsub_out(ctx) || ctx->flush_ms >= deadline) {
                    ctx->st = DONE;
                } else if (t >= deadline) { /* one last re-send for a subscriber that joined late */
                    if ((rc = send_eos(ctx, 1)) < 0) return rc;
                    flush_outputs(ctx);
                    ctx->st = DONE;
                }
            }
        }
        if (t >= next_stats) {
            send_stats(ctx);
            next_stats = t + STATS_EVERY_MS;
        }
    }
    return 0;
}

int pf_node_stop_signal(void)
{
    return (int)stop_signal;
}

int pf_node_run(const pf_graph *g, size_t node, int instance, const pf_node_opts *opts)
{
    pf_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return pf_errorf(PF_ENOMEM, "out of memory");
    int rc = 0;
    const pf_gnode *gn = &g->nodes[node];
    ctx->g = g;
    ctx->node = node;
    ctx->instance = instance;
    ctx->sender = (uint32_t)(gn->first_instance + (size_t)instance);
    ctx->kind = gn->kind;
    ctx->start_ms = pf_clock_mono_ms();
    ctx->ended = calloc(g->ninstances ? g->ninstances : 1, 1);
    if (!ctx->ended) {
        rc = pf_errorf(PF_ENOMEM, "out of memory");
        goto out;
    }
    if (opts && opts->ended) memcpy(ctx->ended, opts->ended, g->ninstances);
    pf_graph_instance_name(g, gn->first_instance + (size_t)instance, ctx->name, sizeof ctx->name);
    snprintf(ctx->run_dir, sizeof ctx->run_dir, "%s", (opts && opts->run_dir) ? opts->run_dir : g->cfg.run_dir);
    if ((rc = pf_end_record_path(ctx->run_dir, ctx->name, ctx->ended_path, sizeof ctx->ended_path)) < 0) goto out;
    ctx->limits = (pf_wire_limits){PF_WIRE_MAX_BYTES, (uint32_t)g->cfg.dim, (uint32_t)g->cfg.classes};
    pf_log_set_ident(ctx->name);
    /* a first start by hand (`pseudoflow node`): an earlier run's record must not count
     * (under the supervisor, which removes it before the start, this finds nothing) */
    int restarts = opts ? opts->restarts : 0;
    if (restarts == 0 && (rc = pf_end_record_reset(ctx->ended_path)) < 0) goto out;
    if ((rc = pf_inject_parse(getenv("PF_FAULT"), ctx->name, restarts, &ctx->fault)) < 0)
        goto out;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((rc = pf_endpoint_prepare(ctx->run_dir)) < 0) goto out;
    ctx->zctx = zmq_ctx_new();
    if (!ctx->zctx) {
        rc = pf_errorf(PF_EZMQ, "zmq_ctx_new: %s", zmq_strerror(errno));
        goto out;
    }
    /* tcp edges (a graph with host=) are encrypted and authenticated when the graph names keys. */
    if (pf_endpoint_distributed(g) && g->cfg.curve_dir[0] &&
        (rc = pf_curve_open(ctx->zctx, g->cfg.curve_dir, &ctx->curve)) < 0)
        goto out;
    if ((rc = setup_outputs(ctx)) < 0 || (rc = setup_inputs(ctx)) < 0) goto out;
    if (restarts > 0) load_end_record(ctx);
    if (opts && opts->supervised) {
        char ep[PF_ENDPOINT_MAX];
        if ((rc = pf_endpoint_supervisor(ctx->run_dir, ep, sizeof ep)) < 0) goto out;
        ctx->stats_sock = zmq_socket(ctx->zctx, ZMQ_PUSH);
        int linger = STATS_LINGER_MS, hwm = 16;
        zmq_setsockopt(ctx->stats_sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(ctx->stats_sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_connect(ctx->stats_sock, ep);
        if ((rc = pf_endpoint_control(ctx->run_dir, ep, sizeof ep)) < 0) goto out;
        ctx->control_sock = zmq_socket(ctx->zctx, ZMQ_SUB);
        zmq_setsockopt(ctx->control_sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(ctx->control_sock, ZMQ_SUBSCRIBE, "", 0);
        zmq_connect(ctx->control_sock, ep);
    }
    if (gn->kind->ops->start && (rc = gn->kind->ops->start(ctx, gn->cfg, &ctx->state)) < 0) {
        rc = pf_error_wrap(rc, "%s: start: ", ctx->name);
        goto out;
    }
    PF_DEBUG("started (%zu outputs, %zu inputs)", ctx->nouts, ctx->nins);
    rc = loop(ctx);
    if (rc == PF_EINTR) {
        /* Asked to stop: give queued output a moment, then leave without end-of-stream. */
        uint64_t until = pf_clock_mono_ms() + STOP_FLUSH_MS;
        while (backlog(ctx) && pf_clock_mono_ms() < until) {
            flush_outputs(ctx);
            struct timespec ts = {0, BACKLOG_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        rc = 0;
        PF_INFO("stopped on signal %d", (int)stop_signal);
    } else if (rc == 0) {
        PF_DEBUG("finished");
    }
    send_stats(ctx);
out:
    if (ctx->state && gn->kind->ops->stop) gn->kind->ops->stop(&ctx->state, ctx);
    teardown(ctx);
    free(ctx->ended);
    free(ctx);
    return rc;
}
