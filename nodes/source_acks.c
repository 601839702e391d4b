/*
 * source_acks.c - acknowledgement window of a source (see source_acks.h).
 *
 * State: `prefix` (every position below it is acknowledged), a byte map of
 * acknowledgements for positions [prefix, prefix + cap), and a FIFO of sent
 * ranges with their send times. Ranges are appended in time order (re-sends
 * too), so expiry only looks at the front. When the prefix advances past a
 * quarter of the map the map is shifted down; its size tracks the in-flight
 * window, which backpressure keeps small.
 */
#include "nodes/source_acks.h"
#include "runtime/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct range {
    uint64_t first, count, sent_ms;
} range;

struct pf_source_acks {
    uint64_t timeout_ms;
    uint64_t prefix;
    uint8_t *acked; /* [cap] for positions prefix .. prefix + cap - 1 */
    size_t cap;
    range *q; /* ring of sent ranges */
    size_t qhead, qlen, qcap;
};

int pf_source_acks_new(uint64_t timeout_ms, pf_source_acks **out)
{
    pf_source_acks *a = calloc(1, sizeof *a);
    if (!a) return pf_errorf(PF_ENOMEM, "source acks: out of memory");
    a->timeout_ms = timeout_ms;
    *out = a;
    return 0;
}

void pf_source_acks_destroy(pf_source_acks **ap)
{
    if (!*ap) return;
    free((*ap)->acked);
    free((*ap)->q);
    free(*ap);
    *ap = NULL;
}

static int ensure(pf_source_acks *a, uint64_t pos)
{
    if (pos < a->prefix + a->cap) return 0;
    size_t need = (size_t)(pos - a->prefix + 1), cap = a->cap ? a->cap : 4096;
    while (cap < need) cap *= 2;
    uint8_t *m = realloc(a->acked, cap);
    if (!m) return pf_errorf(PF_ENOMEM, "source acks: out of memory for %zu positions", cap);
    memset(m + a->cap, 0, cap - a->cap);
    a->acked = m;
    a->cap = cap;
    return 0;
}

static void advance(pf_source_acks *a)
{
    size_t k = 0;
    while (k < a->cap && a->acked[k]) k++;
    if (k < a->cap / 4 || k == 0) return;
    memmove(a->acked, a->acked + k, a->cap - k);
    memset(a->acked + a->cap - k, 0, k);
    a->prefix += k;
}

void pf_source_acks_skip_to(pf_source_acks *a, uint64_t prefix)
{
    if (prefix <= a->prefix) return;
    uint64_t shift = prefix - a->prefix;
    if (shift >= a->cap) {
        if (a->cap) memset(a->acked, 0, a->cap); /* acked is NULL while cap is 0 */
    } else {
        memmove(a->acked, a->acked + shift, a->cap - (size_t)shift);
        memset(a->acked + a->cap - shift, 0, (size_t)shift);
    }
    a->prefix = prefix;
}

int pf_source_acks_sent(pf_source_acks *a, uint64_t first, uint64_t count, uint64_t now_ms)
{
    if (count == 0) return 0;
    int rc = ensure(a, first + count - 1);
    if (rc < 0) return rc;
    if (a->qlen == a->qcap) {
        size_t cap = a->qcap ? a->qcap * 2 : 64;
        range *q = malloc(cap * sizeof *q);
        if (!q) return pf_errorf(PF_ENOMEM, "source acks: out of memory");
        for (size_t i = 0; i < a->qlen; i++) q[i] = a->q[(a->qhead + i) % a->qcap];
        free(a->q);
        a->q = q;
        a->qhead = 0;
        a->qcap = cap;
    }
    a->q[(a->qhead + a->qlen++) % a->qcap] = (range){first, count, now_ms};
    return 0;
}

void pf_source_acks_ack(pf_source_acks *a, uint64_t pos)
{
    if (pos < a->prefix || pos >= a->prefix + a->cap) return;
    a->acked[pos - a->prefix] = 1;
    if (pos == a->prefix) advance(a);
}

static int is_acked(const pf_source_acks *a, uint64_t pos)
{
    if (pos < a->prefix) return 1;
    if (pos >= a->prefix + a->cap) return 0;
    return a->acked[pos - a->prefix];
}

size_t pf_source_acks_expired(pf_source_acks *a, uint64_t now_ms, uint64_t *out, size_t cap)
{
    size_t n = 0;
    while (a->qlen && n < cap) {
        range *r = &a->q[a->qhead];
        if (n > 0 && n + r->count > cap) break; /* keep ranges whole */
        int pending = 0;
        for (uint64_t p = r->first; p < r->first + r->count; p++)
            if (!is_acked(a, p)) pending = 1;
        if (pending && now_ms < r->sent_ms + a->timeout_ms) break;
        range old = *r;
        a->qhead = (a->qhead + 1) % a->qcap;
        a->qlen--;
        if (!pending) continue;
        uint64_t first = UINT64_MAX, last = 0;
        for (uint64_t p = old.first; p < old.first + old.count && n < cap; p++) {
            if (is_acked(a, p)) continue;
            out[n++] = p;
            if (first == UINT64_MAX) first = p;
            last = p;
        }
        if (first != UINT64_MAX) pf_source_acks_sent(a, first, last - first + 1, now_ms);
    }
    return n;
}

int pf_source_acks_all(const pf_source_acks *a, uint64_t produced)
{
    for (uint64_t p = a->prefix; p < produced; p++)
        if (!is_acked(a, p)) return 0;
    return 1;
}

uint64_t pf_source_acks_prefix(const pf_source_acks *a)
{
    uint64_t p = a->prefix;
    while (p < a->prefix + a->cap && a->acked[p - a->prefix]) p++;
    return p;
}
