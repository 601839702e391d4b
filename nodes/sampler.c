/*
 * sampler.c - owns the label store: persists every arriving sample before it
 * forwards it, mixes labeled and unlabeled samples, replays, enforces a
 * teacher-query budget, and re-sends what was not decided within its lease.
 *
 * Delivery (DESIGN.md section 5): a batch from a source is written to the
 * store in one transaction, then acknowledged to the source instance that
 * sent it (`acks` output; the source re-sends what is not acknowledged), then
 * queued for the teacher. Every sample forwarded takes a lease of lease_ms;
 * the filter's decision coming back on `labels` is the ack that ends it and
 * is written as the sample's label record. A lease that runs out sends the
 * sample again, read back from the store. On start, every stored sample with
 * no decision is queued again, so a restart of the sampler (or of the whole
 * run on the same store) loses nothing. Writes are keyed by id, so a sample
 * or decision that arrives twice leaves one record.
 *
 * Mixing (FixMatch's mu): for every unlabeled_ratio unlabeled samples
 * forwarded, one labeled sample goes too: a new labeled arrival if there is
 * one, else a replay of a stored labeled sample (epochs over the small labeled
 * set, in a seeded order reshuffled every pass). Replay of unlabeled samples:
 * with epochs > 1, once the stream has ended every stored unlabeled sample
 * whose decision is below replay_confidence (or all of them) is sent again,
 * epochs - 1 more times, so later, better teachers relabel them.
 *
 * Memory is bounded by what is in flight: queues hold ids, embeddings are
 * read back from the store when a sample is sent again.
 */
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "models/rng.h"
#include "store/label_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sampler_cfg {
    int64_t unlabeled_ratio;
    int64_t lease_ms;
    int64_t epochs;
    int64_t batch;
    int64_t budget;
    double replay_confidence;
    int64_t map_mb;
} sampler_cfg;

static const pf_param sampler_params[] = {
    PF_PARAM_INT(sampler_cfg, unlabeled_ratio, 7, 0, 100000,
                 "unlabeled samples forwarded per labeled one (FixMatch mu); labeled ones are replayed to keep it; 0 = no replay"),
    PF_PARAM_INT(sampler_cfg, lease_ms, 30000, 10, 86400000, "re-send a forwarded sample not decided within this"),
    PF_PARAM_INT(sampler_cfg, epochs, 1, 1, 1000, "passes over the stored unlabeled samples (2+ relabel them after the stream ends)"),
    PF_PARAM_INT(sampler_cfg, batch, 0, 0, 65536, "samples per batch to the teacher; 0 = the graph's batch"),
    PF_PARAM_INT(sampler_cfg, budget, 0, 0, 1e15, "most unlabeled samples sent to the teacher; 0 = no limit"),
    PF_PARAM_FLOAT(sampler_cfg, replay_confidence, 1.0, 0, 1,
                   "in passes after the first, re-send only samples decided below this confidence (1 = all)"),
    PF_PARAM_INT(sampler_cfg, map_mb, 64, 1, 1 << 20, "initial LMDB map size in MiB (it grows when full)"),
    PF_PARAM_END,
};

enum { PORT_IN, PORT_LABELS, PORT_OUT, PORT_ACKS };

static const pf_port_spec sampler_ports[] = {
    {"in", PF_IN, PF_DATA, PF_PORT_REQUIRED, "arriving samples from sources"},
    {"labels", PF_IN, PF_DATA, PF_PORT_FEEDBACK, "filter decisions: stored as label records; the ack of a lease"},
    {"out", PF_OUT, PF_DATA, 0, "samples for the teacher: new, replayed and re-sent"},
    {"acks", PF_OUT, PF_DATA, 0, "ids persisted, back to the source instance that sent them"},
    {NULL},
};

/* --- a FIFO of ids ------------------------------------------------------ */

typedef struct idq {
    uint64_t *v;
    size_t head, len, cap;
} idq;

static int idq_push(idq *q, uint64_t id)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        uint64_t *v = malloc(cap * sizeof *v);
        if (!v) return pf_errorf(PF_ENOMEM, "sampler: out of memory");
        for (size_t i = 0; i < q->len; i++) v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v, q->head = 0, q->cap = cap;
    }
    q->v[(q->head + q->len++) % q->cap] = id;
    return 0;
}

static uint64_t idq_pop(idq *q)
{
    uint64_t id = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return id;
}

/* --- leases: id -> deadline, open addressing, plus a FIFO in deadline order - */

typedef struct lease_slot {
    uint64_t id; /* 0 = empty (ids are never 0), UINT64_MAX = deleted */
    uint64_t deadline;
} lease_slot;

typedef struct leases {
    lease_slot *t;
    size_t cap, len, used; /* used counts deleted slots too */
    idq order;             /* ids in the order leased (deadline order, lease_ms is fixed) */
} leases;

static size_t lease_hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static lease_slot *lease_find(leases *l, uint64_t id)
{
    if (!l->cap) return NULL;
    for (size_t i = lease_hash(id, l->cap);; i = (i + 1) & (l->cap - 1)) {
        if (l->t[i].id == id) return &l->t[i];
        if (l->t[i].id == 0) return NULL;
    }
}

static int lease_put(leases *l, uint64_t id, uint64_t deadline);

static int lease_grow(leases *l)
{
    lease_slot *old = l->t;
    size_t oldcap = l->cap;
    size_t cap = oldcap ? oldcap * 2 : 4096;
    while (cap < 2 * (l->len + 1)) cap *= 2;
    l->t = calloc(cap, sizeof *l->t);
    if (!l->t) {
        l->t = old;
        return pf_errorf(PF_ENOMEM, "sampler: out of memory for leases");
    }
    l->cap = cap, l->len = 0, l->used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id && old[i].id != UINT64_MAX) lease_put(l, old[i].id, old[i].deadline);
    free(old);
    return 0;
}

static int lease_put(leases *l, uint64_t id, uint64_t deadline)
{
    if ((l->used + 1) * 2 > l->cap) {
        int rc = lease_grow(l);
        if (rc < 0) return rc;
    }
    lease_slot *s = lease_find(l, id);
    if (s) {
        s->deadline = deadline;
        return 0;
    }
    for (size_t i = lease_hash(id, l->cap);; i = (i + 1) & (l->cap - 1)) {
        if (l->t[i].id == 0 || l->t[i].id == UINT64_MAX) {
            if (l->t[i].id == 0) l->used++;
            l->t[i] = (lease_slot){id, deadline};
            l->len++;
            return 0;
        }
    }
}

static void lease_del(leases *l, uint64_t id)
{
    lease_slot *s = lease_find(l, id);
    if (!s) return;
    s->id = UINT64_MAX;
    l->len--;
}

/* --- the sampler -------------------------------------------------------- */

typedef struct sampler {
    sampler_cfg cfg;
    pf_label_store *store;
    uint32_t dim, classes;
    size_t batch;
    idq fresh;     /* new arrivals, persisted, not yet forwarded */
    idq resend;    /* undecided at start, expired leases, replays */
    uint64_t *labeled; /* stored ids with a given label, for replay */
    size_t nlabeled, labeled_cap, labeled_next;
    leases lease;
    pf_rng rng;
    uint64_t unlabeled_sent, labeled_sent, queries;
    int64_t epoch_done; /* passes over stored unlabeled samples completed */
    int stream_ended;
    uint64_t replay_from; /* id cursor of the current replay pass */
    /* buffers for one outgoing batch */
    uint64_t *ids, *origin;
    float *x;
    int32_t *labels;
    uint32_t *flags;
    pf_label_record *recs;
    size_t recs_cap;
    uint8_t *known; /* [known_cap]: per sample of an arriving batch, already stored */
    size_t known_cap;
} sampler;

static int add_labeled(sampler *s, uint64_t id)
{
    if (s->nlabeled == s->labeled_cap) {
        size_t cap = s->labeled_cap ? s->labeled_cap * 2 : 1024;
        uint64_t *v = realloc(s->labeled, cap * sizeof *v);
        if (!v) return pf_errorf(PF_ENOMEM, "sampler: out of memory");
        s->labeled = v, s->labeled_cap = cap;
    }
    s->labeled[s->nlabeled++] = id;
    return 0;
}

typedef struct startup_scan {
    sampler *s;
    int rc;
} startup_scan;

/* At start: every undecided sample goes back on the resend queue; labeled ones join the pool. */
static int scan_visit(const pf_label_sample *smp, const pf_label_record *rec, void *p)
{
    startup_scan *sc = p;
    if (smp->truth >= 0 && (sc->rc = add_labeled(sc->s, smp->id)) < 0) return sc->rc;
    if (!rec && (sc->rc = idq_push(&sc->s->resend, smp->id)) < 0) return sc->rc;
    return 0;
}

static int open_store(sampler *s, pf_ctx *ctx, uint32_t dim)
{
    const pf_graph *g = pf_ctx_graph(ctx);
    pf_label_store_opts o = {.dim = dim, .classes = (uint32_t)g->cfg.classes,
                             .map_size = (uint64_t)s->cfg.map_mb << 20};
    int rc = pf_label_store_open(g->cfg.store, &o, &s->store);
    if (rc < 0) return rc;
    s->dim = pf_label_store_dim(s->store);
    s->classes = pf_label_store_classes(s->store);
    s->x = malloc(s->batch * s->dim * sizeof *s->x);
    if (!s->x) return pf_errorf(PF_ENOMEM, "sampler: out of memory");
    startup_scan sc = {s, 0};
    pf_label_store_query q = {0};
    rc = pf_label_store_each(s->store, &q, scan_visit, &sc);
    if (rc < 0) return rc;
    pf_label_counts c;
    if (pf_label_store_counts(s->store, &c) == 0 && c.samples)
        PF_INFO("store %s: %llu samples, %llu decided; %zu undecided queued again, %zu labeled for replay",
                g->cfg.store, (unsigned long long)c.samples, (unsigned long long)c.decided, s->resend.len,
                s->nlabeled);
    pf_ctx_gauge(ctx, "stored", (double)c.samples);
    /* Shuffle the labeled pool once; later passes reshuffle. */
    for (size_t i = s->nlabeled; i > 1; i--) {
        size_t j = pf_rng_below(&s->rng, i);
        uint64_t t = s->labeled[i - 1];
        s->labeled[i - 1] = s->labeled[j], s->labeled[j] = t;
    }
    return 0;
}

static void sampler_free(sampler *s)
{
    pf_label_store_close(&s->store);
    free(s->fresh.v), free(s->resend.v), free(s->labeled);
    free(s->lease.t), free(s->lease.order.v);
    free(s->ids), free(s->origin), free(s->x), free(s->labels), free(s->flags), free(s->recs), free(s->known);
    free(s);
}

static int sampler_start(pf_ctx *ctx, const void *cfgp, void **state)
{
    const sampler_cfg *cfg = cfgp;
    const pf_graph *g = pf_ctx_graph(ctx);
    sampler *s = calloc(1, sizeof *s);
    if (!s) return pf_errorf(PF_ENOMEM, "sampler: out of memory");
    s->cfg = *cfg;
    s->batch = (size_t)(cfg->batch ? cfg->batch : g->cfg.batch);
    pf_rng_seed(&s->rng, pf_ctx_seed(ctx));
    s->ids = malloc(s->batch * sizeof *s->ids);
    s->origin = malloc(s->batch * sizeof *s->origin);
    s->labels = malloc(s->batch * sizeof *s->labels);
    s->flags = malloc(s->batch * sizeof *s->flags);
    int rc = 0;
    if (!s->ids || !s->origin || !s->labels || !s->flags) {
        rc = pf_errorf(PF_ENOMEM, "sampler: out of memory");
        goto fail;
    }
    /* The store needs dim: from the graph, else from an existing store, else
     * from the first batch (opened then). */
    pf_label_store_opts probe = {.readonly = 1};
    pf_label_store *existing = NULL;
    uint32_t dim = (uint32_t)g->cfg.dim;
    if (!dim && pf_label_store_open(g->cfg.store, &probe, &existing) == 0) {
        dim = pf_label_store_dim(existing);
        pf_label_store_close(&existing);
    }
    if (dim && (rc = open_store(s, ctx, dim)) < 0) goto fail;
    *state = s;
    return 0;
fail:
    sampler_free(s);
    return rc;
}

/* A batch from a source: persist, acknowledge, queue. */
static int on_samples(sampler *s, pf_ctx *ctx, const pf_msg *msg)
{
    const Pf__Batch *b = msg->u.batch;
    int rc;
    if (b->n_ids == 0) return 0;
    if (b->n_x != b->n_ids * b->dim || b->dim == 0) {
        pf_ctx_count(ctx, "rejected_batches", 1);
        PF_WARN("dropped a batch of %zu samples without embeddings", b->n_ids);
        return 0;
    }
    if (!s->store && (rc = open_store(s, ctx, b->dim)) < 0) return rc;
    if (b->dim != s->dim)
        /* The store's width is fixed when it is created (by the graph's dim=,
         * else the first batch); refusing the batch would leave its source
         * re-sending it forever. */
        return pf_errorf(PF_ECONFIG,
                         "sampler: a batch of dim %u, but the store '%s' holds dim %u samples (every source must "
                         "send one width; a store left by an earlier run keeps its own: use another --run-dir or "
                         "remove it)",
                         b->dim, pf_ctx_graph(ctx)->cfg.store, s->dim);
    /* Which of them are new: a source re-sending after a crash must not add a
     * labeled sample to the replay pool twice. */
    if (b->n_ids > s->known_cap) {
        uint8_t *k = realloc(s->known, b->n_ids);
        if (!k) return pf_errorf(PF_ENOMEM, "sampler: out of memory");
        s->known = k, s->known_cap = b->n_ids;
    }
    for (size_t i = 0; i < b->n_ids; i++) {
        pf_label_sample smp;
        s->known[i] = pf_label_store_get_sample(s->store, b->ids[i], &smp, NULL) == 0;
    }
    rc = pf_label_store_put_samples(s->store, b->n_ids, b->dim, b->ids, b->x, b->n_labels ? b->labels : NULL,
                                    pf_clock_wall_ms(), msg->sender);
    if (rc == PF_EINVAL || rc == PF_EMISMATCH) {
        /* Bad input is refused whole and nothing is stored; the source is not
         * acknowledged, so a fixed source may send it again. */
        pf_ctx_count(ctx, "rejected_batches", 1);
        PF_WARN("refused a batch of %zu samples: %s", b->n_ids, pf_error_last());
        return 0;
    }
    if (rc < 0) return rc;
    Pf__Batch ack = PF__BATCH__INIT;
    ack.n_ids = b->n_ids, ack.ids = b->ids;
    if ((rc = pf_ctx_emit_to(ctx, PORT_ACKS, msg->sender, PF_MSG_BATCH, &ack)) < 0 && rc != PF_ENOTFOUND) return rc;
    for (size_t i = 0; i < b->n_ids; i++) {
        int lab = b->n_labels && b->labels[i] >= 0;
        /* A sample already decided (a source re-sending after a crash) is not queried again. */
        pf_label_record r;
        if (pf_label_store_get_label(s->store, b->ids[i], &r) == 0 && !lab) continue;
        if (lab && !s->known[i] && (rc = add_labeled(s, b->ids[i])) < 0) return rc;
        if ((rc = idq_push(&s->fresh, b->ids[i])) < 0) return rc;
    }
    pf_ctx_gauge(ctx, "fresh", (double)s->fresh.len);
    return 0;
}

/* Decisions from the filter: store them; each ends a lease. */
static int on_decisions(sampler *s, pf_ctx *ctx, const pf_msg *msg)
{
    const Pf__Batch *b = msg->u.batch;
    size_t n = b->n_ids, c = b->classes;
    if (!s->store || n == 0) return 0;
    if (n > s->recs_cap) {
        pf_label_record *r = realloc(s->recs, n * sizeof *r);
        if (!r) return pf_errorf(PF_ENOMEM, "sampler: out of memory");
        s->recs = r, s->recs_cap = n;
    }
    uint64_t now = pf_clock_wall_ms();
    for (size_t i = 0; i < n; i++) {
        pf_label_record *r = &s->recs[i];
        memset(r, 0, sizeof *r);
        r->id = b->ids[i];
        r->weight = b->n_weights ? b->weights[i] : 0;
        r->teacher_version = b->teacher_version;
        r->decided_ms = now;
        uint32_t f = b->n_flags ? b->flags[i] : 0;
        r->flags = ((f & PF_FLAG_ACCEPTED) ? PF_LABEL_ACCEPTED : 0) | ((f & PF_FLAG_LABEL_ISSUE) ? PF_LABEL_ISSUE : 0) |
                   (b->n_soft ? PF_LABEL_SOFT : 0);
        snprintf(r->policy, sizeof r->policy, "%s", b->policy ? b->policy : "");
        /* top-k of the teacher's distribution, by selection (k <= 5, classes small) */
        const float *p = (b->n_probs == n * c && c) ? b->probs + i * c : NULL;
        if (p) {
            uint32_t k = c < PF_LABEL_TOPK_MAX ? (uint32_t)c : PF_LABEL_TOPK_MAX;
            for (uint32_t j = 0; j < k; j++) {
                int best = -1;
                for (size_t q = 0; q < c; q++) {
                    int taken = 0;
                    for (uint32_t t = 0; t < j; t++) taken |= r->topk_class[t] == (int32_t)q;
                    if (!taken && (best < 0 || p[q] > p[best])) best = (int)q;
                }
                r->topk_class[j] = best;
                r->topk_prob[j] = fminf(fmaxf(p[best], 0.f), 1.f);
            }
            r->k = k;
            r->confidence = r->topk_prob[0];
        }
        int32_t t = b->n_targets ? b->targets[i] : -1;
        r->label = t >= 0 ? t : (r->k ? r->topk_class[0] : 0);
    }
    int rc = pf_label_store_put_decisions(s->store, n, s->recs);
    if (rc == PF_ENOTFOUND || rc == PF_EINVAL) {
        /* One bad record refuses the batch: store the good ones one by one. */
        PF_DEBUG("decision batch refused (%s); storing record by record", pf_error_last());
        for (size_t i = 0; i < n; i++)
            if (pf_label_store_put_decisions(s->store, 1, &s->recs[i]) < 0) pf_ctx_count(ctx, "bad_decisions", 1);
    } else if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) lease_del(&s->lease, b->ids[i]);
    pf_ctx_count(ctx, "decisions", (double)n);
    pf_ctx_gauge(ctx, "in_flight", (double)s->lease.len);
    return 0;
}

static int sampler_process(void *state, pf_ctx *ctx, int port, const pf_msg *msg)
{
    sampler *s = state;
    return port == PORT_IN ? on_samples(s, ctx, msg) : on_decisions(s, ctx, msg);
}

/* Expired leases go back on the resend queue. */
static int expire(sampler *s, pf_ctx *ctx)
{
    uint64_t now = pf_ctx_now_ms(ctx);
    while (s->lease.order.len) {
        uint64_t id = s->lease.order.v[s->lease.order.head];
        lease_slot *l = lease_find(&s->lease, id);
        if (l && l->deadline > now) break;
        idq_pop(&s->lease.order);
        if (!l) continue; /* decided */
        lease_del(&s->lease, id);
        int rc = idq_push(&s->resend, id);
        if (rc < 0) return rc;
        pf_ctx_count(ctx, "lease_expired", 1);
    }
    return 0;
}

/* Add one stored sample to the outgoing batch at slot n. */
static int load(sampler *s, uint64_t id, size_t n, uint32_t flags)
{
    pf_label_sample smp;
    int rc = pf_label_store_get_sample(s->store, id, &smp, s->x + n * s->dim);
    if (rc < 0) return rc;
    s->ids[n] = id;
    s->labels[n] = smp.truth;
    s->origin[n] = smp.arrival_ms;
    s->flags[n] = flags;
    return 0;
}

typedef struct replay_scan {
    sampler *s;
    size_t want;
    uint64_t last;
    int rc;
} replay_scan;

static int replay_visit(const pf_label_sample *smp, const pf_label_record *rec, void *p)
{
    replay_scan *r = p;
    r->last = smp->id;
    if (smp->truth >= 0) return 0; /* labeled ones are replayed by the mixing rule */
    if (rec && rec->confidence >= r->s->cfg.replay_confidence && r->s->cfg.replay_confidence < 1) return 0;
    if ((r->rc = idq_push(&r->s->resend, smp->id)) < 0) return r->rc;
    return --r->want == 0;
}

/* After the stream ended and everything is decided: start the next replay pass, a chunk at a time. */
static int replay_more(sampler *s)
{
    replay_scan r = {s, s->batch * 4, 0, 0};
    pf_label_store_query q = {.from_id = s->replay_from};
    int rc = pf_label_store_each(s->store, &q, replay_visit, &r);
    if (rc < 0) return rc;
    if (r.want == 0) {
        s->replay_from = r.last + 1;
    } else {
        s->replay_from = 0;
        s->epoch_done++;
    }
    return 0;
}

/* Build and emit batches while the teacher can take them. */
static int dispatch(sampler *s, pf_ctx *ctx)
{
    int rc;
    if (!s->store) return 0;
    if ((rc = expire(s, ctx)) < 0) return rc;
    uint64_t lease_until = pf_ctx_now_ms(ctx) + (uint64_t)s->cfg.lease_ms;
    while (pf_ctx_can_emit(ctx, PORT_OUT)) {
        size_t n = 0;
        while (n < s->batch && (s->resend.len || s->fresh.len)) {
            int is_resend = s->resend.len != 0;
            uint64_t id = is_resend ? idq_pop(&s->resend) : idq_pop(&s->fresh);
            if (lease_find(&s->lease, id)) continue; /* already in flight */
            rc = load(s, id, n, is_resend ? PF_FLAG_REPLAY : 0);
            if (rc == PF_ENOTFOUND) continue;
            if (rc < 0) return rc;
            if (s->labels[n] >= 0) {
                s->labeled_sent++;
            } else {
                if (s->cfg.budget && s->queries >= (uint64_t)s->cfg.budget) {
                    pf_ctx_count(ctx, "over_budget", 1);
                    continue;
                }
                s->queries++;
                s->unlabeled_sent++;
            }
            n++;
        }
        /* Labeled replays due by the mixing ratio. */
        while (n < s->batch && s->cfg.unlabeled_ratio > 0 && s->nlabeled &&
               s->labeled_sent * (uint64_t)s->cfg.unlabeled_ratio < s->unlabeled_sent) {
            if (s->labeled_next == s->nlabeled) { /* new pass: reshuffle */
                s->labeled_next = 0;
                for (size_t i = s->nlabeled; i > 1; i--) {
                    size_t j = pf_rng_below(&s->rng, i);
                    uint64_t t = s->labeled[i - 1];
                    s->labeled[i - 1] = s->labeled[j], s->labeled[j] = t;
                }
            }
            uint64_t id = s->labeled[s->labeled_next++];
            s->labeled_sent++;
            if (lease_find(&s->lease, id)) continue;
            if ((rc = load(s, id, n, PF_FLAG_REPLAY)) < 0) return rc;
            n++;
        }
        if (n == 0) break;
        for (size_t i = 0; i < n; i++) {
            if ((rc = lease_put(&s->lease, s->ids[i], lease_until)) < 0) return rc;
            if ((rc = idq_push(&s->lease.order, s->ids[i])) < 0) return rc;
        }
        Pf__Batch b = PF__BATCH__INIT;
        b.n_ids = n, b.ids = s->ids;
        b.dim = s->dim;
        b.n_x = n * s->dim, b.x = s->x;
        b.n_labels = n, b.labels = s->labels;
        b.classes = s->classes;
        b.n_flags = n, b.flags = s->flags;
        b.n_origin_ms = n, b.origin_ms = s->origin;
        if ((rc = pf_ctx_emit(ctx, PORT_OUT, PF_MSG_BATCH, &b)) < 0) return rc;
    }
    pf_ctx_gauge(ctx, "in_flight", (double)s->lease.len);
    pf_ctx_gauge(ctx, "fresh", (double)s->fresh.len);
    pf_ctx_gauge(ctx, "queries", (double)s->queries);
    return 0;
}

static int sampler_tick(void *state, pf_ctx *ctx)
{
    return dispatch(state, ctx);
}

/* The sources have ended: finish when every sample is decided and every replay pass is done. */
static int sampler_drain(void *state, pf_ctx *ctx)
{
    sampler *s = state;
    int rc = dispatch(s, ctx);
    if (rc < 0) return rc;
    if (!s->store) return 0; /* nothing ever arrived */
    if (s->fresh.len || s->resend.len || s->lease.len) return PF_EAGAIN;
    if (s->epoch_done + 1 < s->cfg.epochs) {
        if ((rc = replay_more(s)) < 0) return rc;
        return PF_EAGAIN;
    }
    PF_INFO("all %llu forwarded samples decided; ending the stream", (unsigned long long)(s->unlabeled_sent + s->labeled_sent));
    return 0;
}

static void sampler_stop(void **state, pf_ctx *ctx)
{
    if (*state) sampler_free(*state);
    *state = NULL;
}

static const pf_node_ops sampler_ops = {
    .start = sampler_start,
    .process = sampler_process,
    .tick = sampler_tick,
    .drain = sampler_drain,
    .stop = sampler_stop,
};

const pf_kind pf_kind_sampler = {
    .name = "sampler",
    .summary = "persists every sample to the LMDB store, mixes labeled/unlabeled, replays, leases and re-sends",
    .params = sampler_params,
    .config_size = sizeof(sampler_cfg),
    .ports = sampler_ports,
    .flags = 0,
    .ops = &sampler_ops,
};
