/*
 * outport.c - an output port's socket, targets and queues (see outport.h).
 *
 * Each target node has a FIFO of encoded messages; a message sent to several
 * targets shares one reference-counted payload. Flushing walks each FIFO in
 * order and offers the head to the target's instances round-robin, starting
 * after the last one that took a message; an addressed message waits for its
 * one instance. Per instance the port counts batches and samples sent, which
 * the end-of-stream message reports.
 *
 * End-of-stream is acknowledged: a downstream instance answers each one it
 * reads with an end-of-stream of its own, sent back on the same connection
 * (the only thing that ever travels upstream on a data edge). Until every
 * downstream instance has answered or finished, the sender keeps running.
 * zmq's linger alone is not enough: a receiver whose pipe is at its
 * high-water mark when the sender's connection closes can lose the last
 * messages the sender handed over (libzmq issue 4660, seen here as a lost
 * final batch). Data before end-of-stream travels in order on the same
 * connection, so an answered end-of-stream means everything arrived.
 */
#include "runtime/outport.h"
#include "runtime/endpoint.h"
#include "runtime/error.h"
#include "runtime/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define LINGER_MS 2000  /* zmq linger on close: frames already handed over get this long */
#define PUBSUB_HWM 1000 /* messages; subscribers drain eagerly, keeping the newest */
#define ROUTING_ID_MAX 160

typedef struct pf_buf {
    int refs;
    size_t len;
    uint8_t data[];
} pf_buf;

typedef struct qmsg {
    struct qmsg *next;
    int to;       /* instance it must go to, or -1 = any */
    int is_batch; /* counted in sent_batches */
    size_t samples;
    uint8_t hdr[PF_WIRE_HEADER_SIZE];
    pf_buf *payload;
} qmsg;

typedef struct target {
    size_t first;                /* flat number of the target node's instance 0 */
    int ninst;
    char (*ids)[ROUTING_ID_MAX]; /* routing ids of its instances */
    int rr;
    uint8_t *acked; /* [ninst]: answered our end-of-stream */
    uint8_t *done;  /* [ninst]: answered an earlier incarnation's (pf_outport_restore_answer): may be gone */
    qmsg *head, *tail;
    size_t qlen;
    uint64_t *sent_batches, *sent_samples; /* per instance */
} target;

struct pf_outport {
    int port;
    pf_port_mode mode;
    uint32_t sender; /* flat number of the instance that owns the port */
    void *sock;
    uint64_t seq;
    target *targets;
    size_t ntargets;
    pf_buf *last;         /* pubsub: the newest message, re-published with re-sent end-of-stream */
    uint64_t published;   /* pubsub: messages published, announced by end-of-stream */
    pf_msg_type last_type;
};

static pf_buf *encode(pf_msg_type type, const void *msg)
{
    size_t len = pf_wire_encoded_size(type, msg);
    pf_buf *b = malloc(sizeof *b + (len ? len : 1));
    if (!b) return NULL;
    b->refs = 1;
    b->len = pf_wire_pack(type, msg, b->data);
    return b;
}

static void buf_release(pf_buf *b)
{
    if (b && --b->refs == 0) free(b);
}

static void header_for(pf_outport *op, pf_msg_type type, uint8_t hdr[PF_WIRE_HEADER_SIZE])
{
    pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, (uint16_t)type, op->sender, 0, ++op->seq};
    pf_wire_header_encode(&h, hdr);
}

static int enqueue(target *t, const uint8_t hdr[PF_WIRE_HEADER_SIZE], pf_buf *payload, int to, int is_batch,
                   size_t samples)
{
    qmsg *m = calloc(1, sizeof *m);
    if (!m) return pf_errorf(PF_ENOMEM, "out of memory queueing a message");
    memcpy(m->hdr, hdr, PF_WIRE_HEADER_SIZE);
    m->payload = payload;
    payload->refs++;
    m->to = to;
    m->is_batch = is_batch;
    m->samples = samples;
    if (t->tail)
        t->tail->next = m;
    else
        t->head = m;
    t->tail = m;
    t->qlen++;
    return 0;
}

int pf_outport_open(void *zctx, const pf_graph *g, const char *run_dir, size_t node, int port, int inst,
                    const pf_curve *curve, pf_outport **out)
{
    *out = NULL;
    size_t nt = 0;
    for (size_t e = 0; e < g->nedges; e++)
        if (g->edges[e].from == node && g->edges[e].out_port == port) nt++;
    if (nt == 0) return 0;
    const pf_gnode *me = &g->nodes[node];
    pf_outport *op = calloc(1, sizeof *op);
    if (!op || !(op->targets = calloc(nt, sizeof *op->targets))) {
        free(op);
        return pf_errorf(PF_ENOMEM, "out of memory");
    }
    op->port = port;
    op->mode = me->kind->ports[port].mode;
    op->sender = (uint32_t)(me->first_instance + (size_t)inst);
    int rc = 0;
    for (size_t e = 0; e < g->nedges; e++) {
        const pf_gedge *ed = &g->edges[e];
        if (ed->from != node || ed->out_port != port) continue;
        target *t = &op->targets[op->ntargets++];
        const pf_gnode *tn = &g->nodes[ed->to];
        t->first = tn->first_instance;
        t->ninst = tn->replicas;
        t->ids = calloc((size_t)t->ninst, sizeof *t->ids);
        t->sent_batches = calloc((size_t)t->ninst, sizeof *t->sent_batches);
        t->sent_samples = calloc((size_t)t->ninst, sizeof *t->sent_samples);
        t->acked = calloc((size_t)t->ninst, 1);
        t->done = calloc((size_t)t->ninst, 1);
        if (!t->ids || !t->sent_batches || !t->sent_samples || !t->acked || !t->done) {
            rc = pf_errorf(PF_ENOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < t->ninst; i++)
            snprintf(t->ids[i], sizeof t->ids[i], "%s#%d/%s", tn->name, i, tn->kind->ports[ed->in_port].name);
    }
    op->sock = zmq_socket(zctx, op->mode == PF_DATA ? ZMQ_ROUTER : ZMQ_PUB);
    if (!op->sock) {
        rc = pf_errorf(PF_EZMQ, "zmq_socket: %s", zmq_strerror(errno));
        goto fail;
    }
    int one = 1, hwm = op->mode == PF_DATA ? (int)g->cfg.hwm : PUBSUB_HWM, linger = LINGER_MS;
    zmq_setsockopt(op->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(op->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (op->mode == PF_DATA) {
        zmq_setsockopt(op->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(op->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    }
    if (curve && (rc = pf_curve_server(curve, op->sock)) < 0) goto fail;
    char ep[PF_ENDPOINT_MAX];
    if ((rc = pf_endpoint_output(g, run_dir, node, port, inst, 1, ep, sizeof ep)) < 0) goto fail;
    if (zmq_bind(op->sock, ep) != 0) {
        rc = pf_errorf(PF_EZMQ, "%s#%d: bind output '%s' at %s: %s", me->name, inst, me->kind->ports[port].name,
                       ep, zmq_strerror(errno));
        goto fail;
    }
    *out = op;
    return 0;
fail:
    pf_outport_close(&op);
    return rc;
}

void pf_outport_close(pf_outport **opp)
{
    pf_outport *op = *opp;
    if (!op) return;
    for (size_t t = 0; t < op->ntargets; t++) {
        target *tg = &op->targets[t];
        while (tg->head) {
            qmsg *m = tg->head;
            tg->head = m->next;
            buf_release(m->payload);
            free(m);
        }
        free(tg->ids);
        free(tg->acked);
        free(tg->done);
        free(tg->sent_batches);
        free(tg->sent_samples);
    }
    free(op->targets);
    buf_release(op->last);
    if (op->sock) zmq_close(op->sock);
    free(op);
    *opp = NULL;
}

int pf_outport_port(const pf_outport *op)
{
    return op->port;
}

pf_port_mode pf_outport_mode(const pf_outport *op)
{
    return op->mode;
}

size_t pf_outport_queued(const pf_outport *op)
{
    size_t q = 0;
    for (size_t t = 0; t < op->ntargets; t++) q += op->targets[t].qlen;
    return q;
}

static void publish(pf_outport *op, pf_msg_type type, const pf_buf *b)
{
    uint8_t hdr[PF_WIRE_HEADER_SIZE];
    header_for(op, type, hdr);
    /* PUB never blocks: a subscriber at its high-water mark misses this one, and
     * latest-wins consumers only want the newest anyway. */
    if (zmq_send(op->sock, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(op->sock, b->data, b->len, ZMQ_DONTWAIT);
}

int pf_outport_emit(pf_outport *op, pf_msg_type type, const void *msg, long to)
{
    pf_buf *b = encode(type, msg);
    if (!b) return pf_errorf(PF_ENOMEM, "out of memory encoding a %s", pf_wire_type_name(type));
    int rc = 0;
    if (op->mode == PF_PUBSUB) {
        publish(op, type, b);
        op->published++;
        buf_release(op->last);
        op->last = b, op->last_type = type; /* keeps the reference */
        return 0;
    }
    size_t n = type == PF_MSG_BATCH ? ((const Pf__Batch *)msg)->n_ids : 0;
    uint8_t hdr[PF_WIRE_HEADER_SIZE];
    header_for(op, type, hdr);
    if (to < 0) {
        for (size_t t = 0; t < op->ntargets && rc == 0; t++) rc = enqueue(&op->targets[t], hdr, b, -1, 1, n);
    } else {
        rc = PF_ENOTFOUND;
        for (size_t t = 0; t < op->ntargets && rc == PF_ENOTFOUND; t++) {
            target *tg = &op->targets[t];
            if ((size_t)to >= tg->first && (size_t)to < tg->first + (size_t)tg->ninst)
                rc = enqueue(tg, hdr, b, (int)((size_t)to - tg->first), 1, n);
        }
        if (rc == PF_ENOTFOUND) pf_errorf(rc, "instance %ld is not fed by this output", to);
    }
    buf_release(b);
    return rc;
}

/* Try to send m to one instance of t. 1 = sent, 0 = every candidate is full or absent. */
static int try_send(pf_outport *op, target *t, const qmsg *m)
{
    for (int k = 0; k < t->ninst; k++) {
        int i = m->to >= 0 ? m->to : (t->rr + k) % t->ninst;
        if (m->to < 0 && t->done[i]) continue; /* answered an earlier incarnation: it has had its end */
        const char *id = t->ids[i];
        if (zmq_send(op->sock, id, strlen(id), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            if (errno != EAGAIN && errno != EHOSTUNREACH) PF_WARN("send to %s failed: %s", id, zmq_strerror(errno));
            if (m->to >= 0) return 0;
            continue;
        }
        /* The router checked this peer's high-water mark on the id frame; the
         * rest of a multipart message is then always accepted. */
        zmq_send(op->sock, m->hdr, PF_WIRE_HEADER_SIZE, ZMQ_SNDMORE);
        zmq_send(op->sock, m->payload->data, m->payload->len, 0);
        if (m->is_batch) {
            t->sent_batches[i]++;
            t->sent_samples[i] += m->samples;
        }
        if (m->to < 0) t->rr = (i + 1) % t->ninst;
        return 1;
    }
    return 0;
}

/* Instance i of t has finished (ended [ninstances], may be NULL), or
 * answered an earlier incarnation's end-of-stream and may have exited. */
static int finished(const target *t, int i, const uint8_t *ended)
{
    return t->done[i] || (ended && ended[t->first + (size_t)i]);
}

/* Nobody can ever read m: every instance it may go to has finished. Dropping
 * it keeps a finished peer, which ROUTER_MANDATORY reports as unreachable
 * forever, from holding the sender in its end phase. */
static int dest_ended(const target *t, const qmsg *m, const uint8_t *ended)
{
    if (m->to >= 0) return finished(t, m->to, ended);
    for (int i = 0; i < t->ninst; i++)
        if (!finished(t, i, ended)) return 0;
    return 1;
}

void pf_outport_flush(pf_outport *op, const uint8_t *ended)
{
    if (op->mode != PF_DATA) return;
    for (size_t t = 0; t < op->ntargets; t++) {
        target *tg = &op->targets[t];
        while (tg->head && (dest_ended(tg, tg->head, ended) || try_send(op, tg, tg->head))) {
            qmsg *m = tg->head;
            tg->head = m->next;
            if (!tg->head) tg->tail = NULL;
            tg->qlen--;
            buf_release(m->payload);
            free(m);
        }
    }
}

int pf_outport_eos(pf_outport *op, int resend, const uint8_t *ended)
{
    Pf__Eos e = PF__EOS__INIT;
    if (op->mode == PF_PUBSUB) {
        /* A subscriber that joined after the last message (a run shorter than
         * ZeroMQ's subscription handshake) gets it again with the re-send:
         * latest-wins readers take it as the newest. */
        if (resend && op->last) publish(op, op->last_type, op->last);
        e.batches = op->published; /* a subscriber that got none of them waits for the re-send */
        pf_buf *b = encode(PF_MSG_EOS, &e);
        if (!b) return pf_errorf(PF_ENOMEM, "out of memory");
        publish(op, PF_MSG_EOS, b);
        buf_release(b);
        return 0;
    }
    for (size_t t = 0; t < op->ntargets; t++) {
        target *tg = &op->targets[t];
        for (int i = 0; i < tg->ninst; i++) {
            /* Do not pile up copies behind a backlog: one queued EOS per instance is enough. */
            int queued = 0;
            for (qmsg *m = tg->head; m; m = m->next)
                if (!m->is_batch && m->to == i) queued = 1;
            if (queued || tg->done[i]) continue;
            if (resend && (tg->acked[i] || finished(tg, i, ended))) continue;
            e.batches = tg->sent_batches[i];
            e.samples = tg->sent_samples[i];
            pf_buf *b = encode(PF_MSG_EOS, &e);
            if (!b) return pf_errorf(PF_ENOMEM, "out of memory");
            uint8_t hdr[PF_WIRE_HEADER_SIZE];
            header_for(op, PF_MSG_EOS, hdr);
            int rc = 0;
            if (resend) {
                qmsg m = {.to = i, .payload = b};
                memcpy(m.hdr, hdr, sizeof hdr);
                try_send(op, tg, &m);
            } else {
                rc = enqueue(tg, hdr, b, i, 0, 0);
            }
            buf_release(b);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

void *pf_outport_socket(const pf_outport *op)
{
    return op->sock;
}

/* Which target instance has this routing id; 0 if none (t, i set otherwise). */
static int find_peer(pf_outport *op, const void *id, size_t len, target **t, int *i)
{
    for (size_t k = 0; k < op->ntargets; k++)
        for (int j = 0; j < op->targets[k].ninst; j++) {
            const char *want = op->targets[k].ids[j];
            if (strlen(want) == len && memcmp(want, id, len) == 0) {
                *t = &op->targets[k], *i = j;
                return 1;
            }
        }
    return 0;
}

size_t pf_outport_read_acks(pf_outport *op, uint32_t *newly, size_t cap)
{
    size_t nnew = 0;
    if (op->mode != PF_DATA) return 0;
    while (nnew < cap) { /* a full newly[] stops here, so no first answer goes unreported */
        zmq_msg_t f[3];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, op->sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                for (int k = 0; k < n; k++) zmq_msg_close(&f[k]);
                return nnew; /* nothing waiting (EAGAIN) or the context is ending */
            }
            more = zmq_msg_more(&m);
            if (n < 3)
                f[n++] = m;
            else
                zmq_msg_close(&m); /* extra frames: not an answer */
        }
        pf_wire_header h;
        target *t;
        int i;
        /* Anything but [routing id][header of an end-of-stream][payload] from a
         * peer this port feeds is ignored: nothing else travels upstream. */
        if (n == 3 && pf_wire_header_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &h) == 0 &&
            h.type == PF_MSG_EOS && find_peer(op, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), &t, &i)) {
            if (!t->acked[i]) newly[nnew++] = (uint32_t)(t->first + (size_t)i);
            t->acked[i] = 1;
        }
        for (int k = 0; k < n; k++) zmq_msg_close(&f[k]);
    }
    return nnew;
}

int pf_outport_eos_answered(const pf_outport *op, const uint8_t *ended)
{
    if (op->mode != PF_DATA) return 1;
    for (size_t k = 0; k < op->ntargets; k++) {
        const target *t = &op->targets[k];
        for (int i = 0; i < t->ninst; i++)
            if (!t->acked[i] && !finished(t, i, ended)) return 0;
    }
    return 1;
}

int pf_outport_restore_answer(pf_outport *op, size_t flat)
{
    if (op->mode != PF_DATA) return 0;
    for (size_t k = 0; k < op->ntargets; k++) {
        target *t = &op->targets[k];
        if (flat >= t->first && flat < t->first + (size_t)t->ninst) {
            t->done[flat - t->first] = 1;
            return 0;
        }
    }
    return pf_errorf(PF_ENOTFOUND, "instance %zu is not fed by this output", flat);
}
