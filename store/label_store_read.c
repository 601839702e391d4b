/*
 * label_store_read.c - the label store's reads: one sample, one decision, a
 * model, a state value or counter, the database sizes, and the ordered walk
 * over samples with their decisions and truth (pf_label_store_each).
 *
 * Every read is one read-only transaction, aborted when done: LMDB values
 * die with it, so everything is decoded or copied into caller memory first.
 * The walk follows the samples database with one cursor per id-keyed
 * database (labels, truth) moving in step, so it is one pass in key order
 * whatever the store's size. Writes and opening: label_store.c.
 */
#include "store/label_store_lmdb.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

/* ----------------------------------------------------------------- reads */

/* Begin a read transaction and look id up in dbi (k's bytes in kb): 0
 * found, 1 not found, or a PF_E* code; *txn is open either way unless the
 * transaction could not begin (*txn NULL then). */
static int read_id(pf_label_store *s, MDB_dbi dbi, const char *db, uint64_t id, uint8_t kb[8],
                   MDB_val *k, MDB_val *v, MDB_txn **txn)
{
    *txn = NULL;
    int rc = txn_begin(s, MDB_RDONLY, txn);
    if (rc < 0) return rc;
    key_encode(kb, id);
    *k = (MDB_val){8, kb};
    return get(s, *txn, dbi, db, k, v);
}

int pf_label_store_get_sample(pf_label_store *s, uint64_t id, pf_label_sample *out, float *x_out)
{
    MDB_txn *txn = NULL;
    uint8_t kb[8];
    MDB_val k, v;
    int rc = read_id(s, s->samples, "samples", id, kb, &k, &v, &txn);
    if (rc < 0) goto done;
    if (rc == 1) {
        rc = pf_errorf(PF_ENOTFOUND, "store '%s': no sample with id %llu", s->path,
                       (unsigned long long)id);
        goto done;
    }
    if ((rc = sample_decode(s, &v, id, out, x_out)) < 0) goto done;
    if ((rc = get(s, txn, s->truth, "truth", &k, &v)) < 0) goto done;
    if (rc == 0 && v.mv_size == 4) out->truth = (int32_t)get_u32(v.mv_data);
    rc = 0;
done:
    if (txn) mdb_txn_abort(txn);
    return rc;
}

int pf_label_store_get_label(pf_label_store *s, uint64_t id, pf_label_record *out)
{
    MDB_txn *txn = NULL;
    uint8_t kb[8];
    MDB_val k, v;
    int rc = read_id(s, s->labels, "labels", id, kb, &k, &v, &txn);
    if (rc < 0) goto done;
    if (rc == 1)
        rc = pf_errorf(PF_ENOTFOUND, "store '%s': no decision for id %llu", s->path,
                       (unsigned long long)id);
    else
        rc = label_decode(s, &v, id, out);
done:
    if (txn) mdb_txn_abort(txn);
    return rc;
}

/* Copy an LMDB value out to malloc'd memory (at least 1 byte, so 0-length works). */
static int copy_out(pf_label_store *s, const MDB_val *v, void **bytes, size_t *len)
{
    void *p = malloc(v->mv_size ? v->mv_size : 1);
    if (!p)
        return pf_errorf(PF_ENOMEM, "store '%s': out of memory (%zu bytes)", s->path, v->mv_size);
    if (v->mv_size) memcpy(p, v->mv_data, v->mv_size);
    *bytes = p;
    *len = v->mv_size;
    return 0;
}

int pf_label_store_get_model(pf_label_store *s, uint64_t version, void **bytes, size_t *len,
                             uint64_t *version_out)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc < 0) return rc;
    if ((rc = mdb_cursor_open(txn, s->models, &cur)) != 0) {
        rc = lmdb_fail(s, rc, "cursor", "models");
        goto done;
    }
    key_encode(kb, version);
    rc = mdb_cursor_get(cur, &k, &v, version == 0 ? MDB_LAST : MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) {
        rc = version ? pf_errorf(PF_ENOTFOUND, "store '%s': no model version %llu", s->path,
                                 (unsigned long long)version)
                     : pf_errorf(PF_ENOTFOUND, "store '%s': no model stored yet", s->path);
        goto done;
    }
    if (rc) {
        rc = lmdb_fail(s, rc, "get", "models");
        goto done;
    }
    if (version_out) *version_out = key_decode(&k);
    rc = copy_out(s, &v, bytes, len);
done:
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

int pf_label_store_get_state(pf_label_store *s, const char *key, void **bytes, size_t *len)
{
    MDB_txn *txn = NULL;
    int rc = check_key(s, key);
    if (rc < 0) return rc;
    if ((rc = txn_begin(s, MDB_RDONLY, &txn)) < 0) return rc;
    MDB_val k = {strlen(key), (void *)key}, v;
    if ((rc = get(s, txn, s->state, "state", &k, &v)) < 0) goto done;
    if (rc == 1)
        rc = pf_errorf(PF_ENOTFOUND, "store '%s': no state '%s'", s->path, key);
    else
        rc = copy_out(s, &v, bytes, len);
done:
    mdb_txn_abort(txn);
    return rc;
}

int pf_label_store_get_counter(pf_label_store *s, const char *key, uint64_t *value)
{
    MDB_txn *txn = NULL;
    int rc = check_key(s, key);
    if (rc < 0) return rc;
    if ((rc = txn_begin(s, MDB_RDONLY, &txn)) < 0) return rc;
    rc = read_counter(s, txn, key, value);
    mdb_txn_abort(txn);
    return rc;
}

int pf_label_store_counts(pf_label_store *s, pf_label_counts *out)
{
    MDB_txn *txn = NULL;
    MDB_stat st;
    MDB_dbi dbis[] = {s->samples, s->truth, s->labels, s->models, s->state};
    uint64_t *dst[] = {&out->samples, &out->truth, &out->decided, &out->models, &out->state};
    int rc = txn_begin(s, MDB_RDONLY, &txn);
    if (rc < 0) return rc;
    for (int i = 0; i < 5; i++) {
        if ((rc = mdb_stat(txn, dbis[i], &st)) != 0) {
            rc = lmdb_fail(s, rc, "stat", "all");
            break;
        }
        *dst[i] = st.ms_entries;
    }
    mdb_txn_abort(txn);
    return rc;
}

/* ------------------------------------------------------------- iteration */

/* A cursor that follows the sample cursor through a second id-keyed database. */
struct follow {
    MDB_cursor *cur;
    uint64_t id; /* current key; UINT64_MAX once past the end */
    MDB_val v;
};

static int follow_step(pf_label_store *s, struct follow *f, MDB_cursor_op op, const char *db)
{
    MDB_val k = f->v; /* for MDB_SET_RANGE, set by the caller */
    int rc = mdb_cursor_get(f->cur, &k, &f->v, op);
    if (rc == MDB_NOTFOUND) {
        f->id = UINT64_MAX;
        return 0;
    }
    if (rc) return lmdb_fail(s, rc, "cursor", db);
    f->id = key_decode(&k);
    return 0;
}

/* Move f to the first key >= id; returns 1 when it sits exactly on id. */
static int follow_to(pf_label_store *s, struct follow *f, uint64_t id, const char *db)
{
    while (f->id < id) {
        int rc = follow_step(s, f, MDB_NEXT, db);
        if (rc < 0) return rc;
    }
    return f->id == id;
}

static int follow_open(pf_label_store *s, MDB_txn *txn, MDB_dbi dbi, uint64_t from, uint8_t kb[8],
                       struct follow *f, const char *db)
{
    int rc = mdb_cursor_open(txn, dbi, &f->cur);
    if (rc) {
        f->cur = NULL;
        return lmdb_fail(s, rc, "cursor", db);
    }
    key_encode(kb, from);
    f->v = (MDB_val){8, kb};
    return follow_step(s, f, MDB_SET_RANGE, db);
}

static int is_wanted(const pf_label_store_query *q, const pf_label_record *rec)
{
    if (!q->undecided_only || !rec) return 1;
    return rec->teacher_version < q->stale_teacher_below ||
           rec->confidence < q->stale_confidence_below;
}

int pf_label_store_each(pf_label_store *s, const pf_label_store_query *q,
                        pf_label_store_visit_fn fn, void *ctx)
{
    static const pf_label_store_query all = {0};
    MDB_txn *txn = NULL;
    struct follow smp = {0}, lab = {0}, tru = {0};
    uint8_t k1[8], k2[8], k3[8];
    float *x = NULL;
    size_t visits = 0;
    int rc;

    if (!q) q = &all;
    if (q->with_embeddings && !(x = malloc((size_t)s->dim * sizeof *x + 1)))
        return pf_errorf(PF_ENOMEM, "store '%s': out of memory", s->path);
    if ((rc = txn_begin(s, MDB_RDONLY, &txn)) < 0) goto done;
    uint64_t from = q->from_id ? q->from_id : 1;
    if ((rc = follow_open(s, txn, s->samples, from, k1, &smp, "samples")) < 0 ||
        (rc = follow_open(s, txn, s->labels, from, k2, &lab, "labels")) < 0 ||
        (rc = follow_open(s, txn, s->truth, from, k3, &tru, "truth")) < 0)
        goto done;
    while (smp.id != UINT64_MAX && (q->limit == 0 || visits < q->limit)) {
        pf_label_sample sample;
        pf_label_record rec;
        const pf_label_record *recp = NULL;
        if ((rc = follow_to(s, &lab, smp.id, "labels")) < 0) goto done;
        if (rc == 1) {
            if ((rc = label_decode(s, &lab.v, smp.id, &rec)) < 0) goto done;
            recp = &rec;
        }
        if (is_wanted(q, recp)) {
            if ((rc = sample_decode(s, &smp.v, smp.id, &sample, x)) < 0) goto done;
            if ((rc = follow_to(s, &tru, smp.id, "truth")) < 0) goto done;
            if (rc == 1 && tru.v.mv_size == 4) sample.truth = (int32_t)get_u32(tru.v.mv_data);
            visits++;
            rc = fn(&sample, recp, ctx);
            if (rc != 0) {
                rc = rc > 0 ? 0 : rc;
                goto done;
            }
        }
        if ((rc = follow_step(s, &smp, MDB_NEXT, "samples")) < 0) goto done;
    }
    rc = 0;
done:
    if (tru.cur) mdb_cursor_close(tru.cur);
    if (lab.cur) mdb_cursor_close(lab.cur);
    if (smp.cur) mdb_cursor_close(smp.cur);
    if (txn) mdb_txn_abort(txn);
    free(x);
    return rc;
}
