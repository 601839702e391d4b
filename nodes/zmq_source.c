/*
 * zmq_source.c - a live source fed by outside producers over ZeroMQ.
 *
 * The one node kind that owns a socket: its purpose is to be the door for
 * programs that are not pseudoflow nodes. It binds a ROUTER at `endpoint`
 * (ipc:// or tcp://); a producer connects a DEALER and sends the pipeline's
 * own two-frame messages (runtime/wire.h): a header of type PF_MSG_BATCH and
 * a Batch with ids (> 0, chosen by the producer, stable across its retries),
 * x [n, dim] and optional labels (-1 = unlabeled). Every frame is validated
 * with pf_wire_decode against the graph's dim and classes; a bad one is
 * counted ("bad_frames"), logged once, and dropped without a reply.
 *
 * Acknowledgement: once the sampler has persisted every sample of a
 * producer's batch, the producer gets a reply on the same socket: a header
 * (type batch, seq = the seq of the producer's header) and a Batch holding
 * only the ids. That reply is the at-least-once boundary: before it, the
 * samples live only in this process's memory and in ZeroMQ queues, and a
 * crash loses them, so a producer must re-send (same ids) whatever was not
 * acknowledged within its own timeout; after it, they are in the store.
 * Re-sent ids still in flight here are merged, not duplicated; ones already
 * stored are stored again idempotently and acknowledged again.
 *
 * Inside, samples get stream positions and go through source_driver.h, which
 * re-sends to the sampler what it has not acknowledged. Memory is bounded by
 * max_pending samples: past it the socket is not read, producers' sends block
 * at the high-water mark. Producers are read at every tick (tick_ms).
 */
#include "nodes/source_driver.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

typedef struct zsrc_cfg {
    char *endpoint;
    int64_t batch;
    int64_t max_pending;
    int64_t ack_timeout_ms;
} zsrc_cfg;

static const pf_param zsrc_params[] = {
    PF_PARAM_STRING(zsrc_cfg, endpoint, NULL, "where producers connect: ipc://PATH or tcp://*:PORT (required)"),
    PF_PARAM_INT(zsrc_cfg, batch, 0, 0, 65536, "samples per batch to the sampler; 0 = the graph's batch"),
    PF_PARAM_INT(zsrc_cfg, max_pending, 8192, 1, 1e9, "samples held (not yet stored) before producers are made to wait"),
    PF_PARAM_INT(zsrc_cfg, ack_timeout_ms, 5000, 10, 3600000, "re-send a sample not acknowledged by the sampler within this"),
    PF_PARAM_END,
};

enum { PORT_OUT, PORT_ACKS };

static const pf_port_spec zsrc_ports[] = {
    {"out", PF_OUT, PF_DATA, 0, "batches of samples from producers"},
    {"acks", PF_IN, PF_DATA, PF_PORT_FEEDBACK, "ids the sampler has persisted; producers are acknowledged then"},
    {NULL},
};

#define READ_PER_TICK 64 /* producer messages read per tick: keeps the loop responsive */

/* A producer's batch waiting for the sampler. */
typedef struct pbatch {
    uint8_t peer[256];
    size_t peer_len;
    uint64_t seq;
    uint64_t *pos; /* [n] stream positions of its samples */
    uint64_t *ids; /* [n] */
    size_t n, checked; /* pos[0..checked) are known acknowledged */
} pbatch;

typedef struct zsrc {
    zsrc_cfg cfg;
    uint32_t dim, classes, sender;
    void *zctx, *sock;
    /* samples at positions [base, base + len), index pos - base; compacted as the front is acknowledged */
    uint64_t base, len, cap;
    uint64_t *ids;
    float *x;
    int32_t *labels;
    uint8_t *acked;
    /* id -> position of samples held, open addressing (0 = empty, UINT64_MAX = deleted) */
    uint64_t *hkey, *hval;
    size_t hcap, hused;
    pbatch *pb;
    size_t npb, pbcap;
    int logged_bad;
    pf_source_driver *drv;
} zsrc;

static size_t hslot(uint64_t id, size_t cap)
{
    id ^= id >> 33, id *= 0xff51afd7ed558ccdull, id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static uint64_t *hfind(zsrc *s, uint64_t id)
{
    for (size_t i = hslot(id, s->hcap);; i = (i + 1) & (s->hcap - 1)) {
        if (s->hkey[i] == id) return &s->hval[i];
        if (s->hkey[i] == 0) return NULL;
    }
}

static int hput(zsrc *s, uint64_t id, uint64_t pos)
{
    if ((s->hused + 1) * 2 > s->hcap) { /* rebuild, dropping deleted slots; grow if over a quarter live */
        size_t cap = (s->len + 1) * 4 > s->hcap ? s->hcap * 2 : s->hcap;
        uint64_t *k = calloc(cap, sizeof *k), *v = calloc(cap, sizeof *v);
        if (!k || !v) return free(k), free(v), pf_errorf(PF_ENOMEM, "zmq_source: out of memory");
        uint64_t *ok = s->hkey, *ov = s->hval;
        size_t oc = s->hcap;
        s->hkey = k, s->hval = v, s->hcap = cap, s->hused = 0;
        for (size_t i = 0; i < oc; i++)
            if (ok[i] && ok[i] != UINT64_MAX) hput(s, ok[i], ov[i]);
        free(ok), free(ov);
    }
    size_t i = hslot(id, s->hcap);
    while (s->hkey[i] && s->hkey[i] != UINT64_MAX) i = (i + 1) & (s->hcap - 1);
    if (s->hkey[i] == 0) s->hused++;
    s->hkey[i] = id, s->hval[i] = pos;
    return 0;
}

static void hdel(zsrc *s, uint64_t id)
{
    uint64_t *v = hfind(s, id);
    if (v) s->hkey[v - s->hval] = UINT64_MAX;
}

static int is_acked(const zsrc *s, uint64_t pos)
{
    return pos < s->base || s->acked[pos - s->base];
}

static int zsrc_fill(void *self, uint64_t pos, uint64_t *id, float *x, int32_t *label, int32_t *truth)
{
    zsrc *s = self;
    if (pos >= s->base + s->len) return PF_EAGAIN; /* waiting for producers */
    if (pos < s->base) return pf_errorf(PF_ESTATE, "zmq_source: position %llu is gone", (unsigned long long)pos);
    size_t k = (size_t)(pos - s->base);
    *id = s->ids[k];
    memcpy(x, s->x + k * s->dim, s->dim * sizeof *x);
    *label = s->labels[k];
    *truth = s->labels[k];
    return 0;
}

static uint64_t zsrc_position(void *self, uint64_t id)
{
    zsrc *s = self;
    uint64_t *v = hfind(s, id);
    return v ? *v : UINT64_MAX;
}

/* Take one decoded producer batch: its samples join the stream (ids in flight are merged). */
static int accept(zsrc *s, const uint8_t *peer, size_t peer_len, uint64_t seq, const Pf__Batch *b)
{
    if (s->npb == s->pbcap) {
        size_t cap = s->pbcap ? s->pbcap * 2 : 64;
        pbatch *p = realloc(s->pb, cap * sizeof *p);
        if (!p) return pf_errorf(PF_ENOMEM, "zmq_source: out of memory");
        s->pb = p, s->pbcap = cap;
    }
    pbatch *p = &s->pb[s->npb];
    memset(p, 0, sizeof *p);
    memcpy(p->peer, peer, peer_len);
    p->peer_len = peer_len, p->seq = seq, p->n = b->n_ids;
    p->pos = malloc(b->n_ids * sizeof *p->pos);
    p->ids = malloc(b->n_ids * sizeof *p->ids);
    if (!p->pos || !p->ids) return free(p->pos), free(p->ids), pf_errorf(PF_ENOMEM, "zmq_source: out of memory");
    memcpy(p->ids, b->ids, b->n_ids * sizeof *p->ids);
    for (size_t i = 0; i < b->n_ids; i++) {
        uint64_t *held = hfind(s, b->ids[i]);
        if (held) {
            p->pos[i] = *held;
            continue;
        }
        uint64_t pos = s->base + s->len;
        size_t k = (size_t)s->len;
        s->ids[k] = b->ids[i];
        memcpy(s->x + k * s->dim, b->x + i * s->dim, s->dim * sizeof *s->x);
        s->labels[k] = b->n_labels ? b->labels[i] : -1;
        s->acked[k] = 0;
        s->len++;
        p->pos[i] = pos;
        int rc = hput(s, b->ids[i], pos);
        if (rc < 0) return rc;
    }
    s->npb++;
    return 0;
}

static void bad(zsrc *s, pf_ctx *ctx, const char *why)
{
    pf_ctx_count(ctx, "bad_frames", 1);
    if (!s->logged_bad) PF_WARN("dropped a bad frame from a producer (further ones are only counted): %s", why);
    s->logged_bad = 1;
}

/* Read producers while there is room. */
static int read_producers(zsrc *s, pf_ctx *ctx)
{
    pf_wire_limits lim = {PF_WIRE_MAX_BYTES, s->dim, s->classes};
    for (int m = 0; m < READ_PER_TICK; m++) {
        if (s->len + (uint64_t)s->cfg.batch > s->cap && s->len) return 0; /* full: producers wait at the HWM */
        zmq_msg_t f[3];
        int nf = 0, more = 1, rc = 0;
        while (more) {
            zmq_msg_t t;
            zmq_msg_init(&t);
            if (zmq_msg_recv(&t, s->sock, nf ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&t);
                if (nf == 0 && errno == EAGAIN) return 0;
                rc = -1;
                break;
            }
            more = zmq_msg_more(&t);
            if (nf < 3) f[nf] = t;
            else zmq_msg_close(&t);
            nf++;
        }
        pf_wire_header h;
        pf_msg msg = {0};
        if (rc < 0 || nf != 3) bad(s, ctx, "expected 2 frames after the routing id");
        else if (pf_wire_header_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &h) < 0 || h.type != PF_MSG_BATCH)
            bad(s, ctx, "header: not a batch");
        else if (pf_wire_decode(&h, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), &lim, &msg) < 0)
            bad(s, ctx, pf_error_last());
        else if (msg.u.batch->n_ids == 0 || msg.u.batch->n_x != msg.u.batch->n_ids * s->dim ||
                 msg.u.batch->n_ids > (size_t)s->cfg.batch * 64)
            bad(s, ctx, "batch without embeddings of the graph's dim, or too large");
        else if (s->len + msg.u.batch->n_ids > s->cap)
            bad(s, ctx, "batch larger than max_pending");
        else {
            rc = accept(s, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]) > 256 ? 256 : zmq_msg_size(&f[0]), h.seq,
                        msg.u.batch);
            pf_ctx_count(ctx, "produced", (double)msg.u.batch->n_ids);
        }
        pf_wire_msg_free(&msg);
        for (int i = 0; i < nf && i < 3; i++) zmq_msg_close(&f[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

/* Acknowledge complete producer batches; free acknowledged samples at the front. */
static void settle(zsrc *s, pf_ctx *ctx)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->npb; i++) {
        pbatch *p = &s->pb[i];
        while (p->checked < p->n && is_acked(s, p->pos[p->checked])) p->checked++;
        if (p->checked < p->n) {
            s->pb[keep++] = *p;
            continue;
        }
        pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, PF_MSG_BATCH, s->sender, 0, p->seq};
        uint8_t hdr[PF_WIRE_HEADER_SIZE];
        pf_wire_header_encode(&h, hdr);
        Pf__Batch ack = PF__BATCH__INIT;
        ack.n_ids = p->n, ack.ids = p->ids;
        uint8_t *buf = NULL;
        size_t len = 0;
        /* A producer gone or full misses its ack and re-sends: at-least-once, never a block here. */
        if (pf_wire_encode(PF_MSG_BATCH, &ack, &buf, &len) == 0 &&
            zmq_send(s->sock, p->peer, p->peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
            zmq_send(s->sock, hdr, sizeof hdr, ZMQ_SNDMORE);
            zmq_send(s->sock, buf, len, 0);
            pf_ctx_count(ctx, "producer_acks", 1);
        }
        free(buf);
        free(p->pos), free(p->ids);
    }
    s->npb = keep;
    size_t k = 0;
    while (k < s->len && s->acked[k]) hdel(s, s->ids[k++]);
    if (k == 0) return;
    size_t rest = (size_t)s->len - k;
    memmove(s->ids, s->ids + k, rest * sizeof *s->ids);
    memmove(s->x, s->x + k * s->dim, rest * s->dim * sizeof *s->x);
    memmove(s->labels, s->labels + k, rest * sizeof *s->labels);
    memmove(s->acked, s->acked + k, rest);
    s->base += k, s->len = rest;
}

static void zsrc_free(zsrc *s)
{
    pf_source_driver_destroy(&s->drv);
    if (s->sock) zmq_close(s->sock);
    if (s->zctx) zmq_ctx_term(s->zctx);
    for (size_t i = 0; i < s->npb; i++) free(s->pb[i].pos), free(s->pb[i].ids);
    free(s->pb), free(s->ids), free(s->x), free(s->labels), free(s->acked), free(s->hkey), free(s->hval);
    free(s);
}

static int zsrc_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const zsrc_cfg *cfg = cfgp;
    const pf_graph *g = pf_ctx_graph(ctx);
    zsrc *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "zmq_source: out of memory");
    s->cfg = *cfg;
    if (!s->cfg.batch) s->cfg.batch = g->cfg.batch;
    s->dim = (uint32_t)g->cfg.dim;
    s->classes = (uint32_t)g->cfg.classes;
    s->sender = (uint32_t)(pf_ctx_node(ctx)->first_instance + (size_t)pf_ctx_instance(ctx));
    s->cap = (uint64_t)cfg->max_pending;
    s->hcap = 1024;
    while (s->hcap < 2 * s->cap) s->hcap *= 2;
    int rc = 0;
    if (!s->dim) {
        rc = pf_errorf(PF_EINVAL, "zmq_source: the graph must set dim= (producers' batches are checked against it)");
        goto fail;
    }
    s->ids = malloc(s->cap * sizeof *s->ids);
    s->x = malloc(s->cap * s->dim * sizeof *s->x);
    s->labels = malloc(s->cap * sizeof *s->labels);
    s->acked = calloc(s->cap, 1);
    s->hkey = calloc(s->hcap, sizeof *s->hkey);
    s->hval = calloc(s->hcap, sizeof *s->hval);
    if (!s->ids || !s->x || !s->labels || !s->acked || !s->hkey || !s->hval) {
        rc = pf_errorf(PF_ENOMEM, "zmq_source: out of memory for %lld pending samples", (long long)cfg->max_pending);
        goto fail;
    }
    /* The producer-facing socket: the documented exception to "kinds never touch ZeroMQ". */
    s->zctx = zmq_ctx_new();
    s->sock = s->zctx ? zmq_socket(s->zctx, ZMQ_ROUTER) : NULL;
    int linger = 0;
    if (!s->sock || zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(s->sock, cfg->endpoint) != 0) {
        rc = pf_errorf(PF_EZMQ, "zmq_source: bind '%s': %s", cfg->endpoint, zmq_strerror(errno));
        goto fail;
    }
    pf_source_spec spec = {
        .self = s,
        .total = 0,
        .dim = s->dim,
        .classes = s->classes,
        .batch = (uint32_t)s->cfg.batch,
        .ack_timeout_ms = (uint64_t)cfg->ack_timeout_ms,
        .fill = zsrc_fill,
        .position = zsrc_position,
    };
    if ((rc = pf_source_driver_new(ctx, &spec, PORT_OUT, PORT_ACKS, &s->drv)) < 0) goto fail;
    /* Positions live only in this process: a restart starts a new stream. */
    pf_source_driver_skip_to(s->drv, pf_source_driver_produced(s->drv));
    s->base = pf_source_driver_produced(s->drv);
    PF_INFO("producers connect to %s", cfg->endpoint);
    *state = s;
    return 0;
fail:
    zsrc_free(s);
    return rc;
}

static int zsrc_tick(void *state, pf_ctx *ctx)
{
    zsrc *s = state;
    int rc = read_producers(s, ctx);
    if (rc < 0) return rc;
    if ((rc = pf_source_driver_tick(s->drv, ctx)) < 0) return rc;
    pf_ctx_gauge(ctx, "pending", (double)s->len);
    return 0;
}

static int zsrc_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    zsrc *s = state;
    const Pf__Batch *b = msg->u.batch;
    for (size_t i = 0; i < b->n_ids; i++) {
        uint64_t *pos = hfind(s, b->ids[i]);
        if (pos && *pos >= s->base && *pos < s->base + s->len) s->acked[*pos - s->base] = 1;
    }
    int rc = pf_source_driver_process(s->drv, ctx, msg);
    settle(s, ctx);
    return rc;
}

static int zsrc_drain(void *state, pf_ctx *ctx)
{
    return pf_source_driver_drain(((zsrc *)state)->drv, ctx);
}

static void zsrc_stop(void **state, pf_ctx *ctx)
{
    if (*state) zsrc_free(*state);
    *state = NULL;
}

static const pf_node_ops zsrc_ops = {
    .start = zsrc_start,
    .process = zsrc_process,
    .tick = zsrc_tick,
    .drain = zsrc_drain,
    .stop = zsrc_stop,
};

const pf_kind pf_kind_zmq_source = {
    .name = "zmq_source",
    .summary = "binds a ZeroMQ ROUTER for outside producers' batches; acknowledges them once stored (live)",
    .params = zsrc_params,
    .config_size = sizeof(zsrc_cfg),
    .ports = zsrc_ports,
    .flags = 0,
    .ops = &zsrc_ops,
};
