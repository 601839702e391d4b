/*
 * label_store_lmdb.h - what the two halves of the label store share:
 * label_store.c (opening, transactions, writes) and label_store_read.c
 * (reads and iteration). Private to store/: nothing else includes it, so
 * LMDB types stay out of label_store.h and out of every other module.
 *
 * The helpers below keep their file-local short names through the macros
 * at the end, as they had when the store was one file.
 */
#ifndef PF_STORE_LABEL_STORE_LMDB_H
#define PF_STORE_LABEL_STORE_LMDB_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "store/label_record.h"
#include "store/label_store.h"

struct pf_label_store {
    MDB_env *env;
    MDB_dbi samples, truth, labels, state, models, meta;
    uint32_t dim, classes;
    int readonly;
    int unlocked;        /* read without lock.mdb: see env_open_readonly */
    size_t sample_bytes; /* pf_label_record_sample_size(dim) */
    char *path;
};

/* A label record's bytes, decoded into *r; PF_ESTORE names the id when they are damaged. */
int pf_label_store_decode_label(const pf_label_store *s, const MDB_val *v, uint64_t id,
                                pf_label_record *r);

/* A sample record's bytes into *out and x_out [dim]; PF_ESTORE when damaged. */
int pf_label_store_decode_sample(const pf_label_store *s, const MDB_val *v, uint64_t id,
                                 pf_label_sample *out, float *x_out);

/* An LMDB failure as a PF_ESTORE with the store, the operation and the
 * database in its message (and, for a failed write, the free space left). */
int pf_label_store_fail(const pf_label_store *s, int rc, const char *op, const char *db);

/* Begin a transaction, adopting a map another process has grown. */
int pf_label_store_txn_begin(pf_label_store *s, unsigned flags, MDB_txn **txn);

/* mdb_get: 0 found, 1 not found, or a PF_E* code. */
int pf_label_store_get_val(pf_label_store *s, MDB_txn *txn, MDB_dbi dbi, const char *db, MDB_val *k,
                           MDB_val *v);

/* A state key is 1..PF_LABEL_STATE_KEY_MAX bytes; PF_EINVAL otherwise. */
int pf_label_store_check_key(const pf_label_store *s, const char *key);

/* The u64 counter under key in the state database (0 when absent); PF_EINVAL
 * when the key holds something else. */
int pf_label_store_read_counter(pf_label_store *s, MDB_txn *txn, const char *key, uint64_t *value);

static inline uint64_t key_decode(const MDB_val *k)
{
    return pf_label_record_get_key(k->mv_data, k->mv_size);
}

#define put_u32 pf_label_record_put_u32
#define put_u64 pf_label_record_put_u64
#define get_u32 pf_label_record_get_u32
#define get_u64 pf_label_record_get_u64
#define key_encode pf_label_record_put_key
#define label_decode pf_label_store_decode_label
#define sample_decode pf_label_store_decode_sample
#define lmdb_fail pf_label_store_fail
#define txn_begin pf_label_store_txn_begin
#define get pf_label_store_get_val
#define check_key pf_label_store_check_key
#define read_counter pf_label_store_read_counter

#endif
