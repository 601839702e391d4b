/*
 * source_acks.h - what a source has sent and the sampler has persisted.
 *
 * A sample is safe once the sampler has written it to the store; until then
 * it lives only in ZeroMQ queues, which die with a killed process. So a
 * source numbers what it produces by stream position (0, 1, 2, ...), records
 * each batch it sends, marks positions the sampler acknowledges (the
 * sampler's `acks` output wired back to the source's `acks` feedback input),
 * and re-sends any position not acknowledged within a timeout. With acks
 * wired a source finishes only when everything is acknowledged.
 *
 *     pf_source_acks *a;
 *     pf_source_acks_new(5000, &a);                  // re-send after 5 s
 *     pf_source_acks_sent(a, first_pos, count, now); // after emitting
 *     pf_source_acks_ack(a, pos);                    // for each acked id
 *     n = pf_source_acks_expired(a, now, buf, cap);  // positions to re-send
 *
 * Memory is bounded by what is in flight, not by the stream: the acked
 * bitmap only covers positions past the contiguous acknowledged prefix.
 */
#ifndef PF_SOURCE_ACKS_H
#define PF_SOURCE_ACKS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_source_acks pf_source_acks;

/* Returns 0 or PF_ENOMEM. Caller owns *out. */
int pf_source_acks_new(uint64_t timeout_ms, pf_source_acks **out);
void pf_source_acks_destroy(pf_source_acks **a);

/* Positions below `prefix` count as acknowledged (a restarted source resuming). */
void pf_source_acks_skip_to(pf_source_acks *a, uint64_t prefix);

/* Record positions [first, first + count) sent at now_ms. Returns 0 or PF_ENOMEM. */
int pf_source_acks_sent(pf_source_acks *a, uint64_t first, uint64_t count, uint64_t now_ms);

/* Mark one position acknowledged (repeats and unknown positions are harmless). */
void pf_source_acks_ack(pf_source_acks *a, uint64_t pos);

/* Up to `cap` (at least the largest range sent) positions sent more than the timeout ago and still not
 * acknowledged, in stream order, written to out; they count as sent again at
 * now_ms. Returns how many. */
size_t pf_source_acks_expired(pf_source_acks *a, uint64_t now_ms, uint64_t *out, size_t cap);

/* Every position below `produced` is acknowledged. */
int pf_source_acks_all(const pf_source_acks *a, uint64_t produced);

/* Length of the contiguous acknowledged prefix. */
uint64_t pf_source_acks_prefix(const pf_source_acks *a);

#endif
