/*
 * label_record.h - the on-disk layouts of the store's values and their codec.
 * Internal to store/: only label_store.c uses it; nothing here knows LMDB.
 *
 * Everything on disk is little-endian and starts with a version byte, so a
 * store reads the same on any host and a future layout can be told apart.
 * Keys are 64-bit big-endian ids: memcmp order is id order.
 */
#ifndef PF_LABEL_RECORD_H
#define PF_LABEL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "store/label_store.h"

#define PF_SAMPLE_RECORD_VERSION 1
#define PF_LABEL_RECORD_VERSION 1
#define PF_SAMPLE_RECORD_HEAD 24 /* bytes before the dim floats of a sample record */
#define PF_LABEL_RECORD_SIZE 96  /* bytes of a label record */

/* Bytes of a sample record with dim floats. */
size_t pf_label_record_sample_size(uint32_t dim);

/* 64-bit big-endian key of an id; get_key returns 0 (never an id) for a key that is not 8 bytes. */
void pf_label_record_put_key(uint8_t k[8], uint64_t id);
uint64_t pf_label_record_get_key(const void *k, size_t len);

/* Little-endian scalars (meta, truth, counters). */
void pf_label_record_put_u32(uint8_t *p, uint32_t v);
void pf_label_record_put_u64(uint8_t *p, uint64_t v);
uint32_t pf_label_record_get_u32(const uint8_t *p);
uint64_t pf_label_record_get_u64(const uint8_t *p);

/* Encode r (already validated) into PF_LABEL_RECORD_SIZE bytes at p. */
void pf_label_record_encode(uint8_t *p, const pf_label_record *r, uint32_t times_decided);

/* Decode len bytes at p into *r for id. Returns 0, or -1 for a damaged record. */
int pf_label_record_decode(const void *p, size_t len, uint64_t id, pf_label_record *r);

/* Encode a sample of dim floats into pf_label_record_sample_size(dim) bytes at p. */
void pf_label_record_encode_sample(uint8_t *p, uint32_t dim, const float *x, uint64_t arrival_ms,
                                   uint32_t source);

/* Decode a sample record; x_out is NULL or room for dim floats (out->x = x_out,
 * out->truth = -1). Returns 0, or -1 for a damaged record or another dim. */
int pf_label_record_decode_sample(const void *p, size_t len, uint32_t dim, uint64_t id,
                                  pf_label_sample *out, float *x_out);

#endif
