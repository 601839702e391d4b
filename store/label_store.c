/*
 * label_store.c - the LMDB label store: opening, transactions and writes
 * (reads and iteration: label_store_read.c; with label_store_lmdb.h, the
 * only files that include lmdb.h).
 *
 * One environment (a directory) per run, six named databases. Keys of
 * `samples`, `truth`, `labels` and `models` are 64-bit big-endian ids, so
 * LMDB's memcmp order is id order and a cursor walks ids ascending. Values
 * are fixed little-endian records with a version byte in front, laid out and
 * encoded in label_record.c; this file owns transactions, not bytes.
 *
 * Invariants:
 *  - every write call is one transaction and validates all of its input
 *    before the first mdb_put, so a refused batch leaves the store untouched;
 *  - a label record exists only for a stored sample (put_decisions checks),
 *    hence undecided = samples - decided;
 *  - LMDB values are never handed out: they die with their transaction, so
 *    everything is decoded into caller memory first.
 *
 * Map growth: MDB_MAP_FULL aborts the transaction, doubles the map
 * (mdb_env_set_mapsize, legal because a handle is used by one thread and no
 * transaction is open) and replays the batch. Another process that finds the
 * map grown gets MDB_MAP_RESIZED from mdb_txn_begin and adopts the new size
 * with mdb_env_set_mapsize(env, 0). Commits stay synchronous (no MDB_NOSYNC):
 * at-least-once delivery acks a sample only once it is on disk.
 */
#include "store/label_store_lmdb.h"

#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "runtime/error.h"
#include "runtime/log.h"
#include "store/label_record.h"

#define MAX_DBS 8           /* six named databases, two spare for later schemas */
#define MAX_GROW_TRIES 40   /* doublings before giving up: 64 KiB * 2^40 is far past any disk */
#define MAX_RESIZE_TRIES 16 /* MDB_MAP_RESIZED retries; each adopts the writer's newest size */

int pf_label_store_decode_label(const pf_label_store *s, const MDB_val *v, uint64_t id,
                                pf_label_record *r)
{
    if (pf_label_record_decode(v->mv_data, v->mv_size, id, r) == 0) return 0;
    return pf_errorf(PF_ESTORE, "store '%s': damaged label record for id %llu (%zu bytes)", s->path,
                     (unsigned long long)id, v->mv_size);
}

int pf_label_store_decode_sample(const pf_label_store *s, const MDB_val *v, uint64_t id,
                                 pf_label_sample *out, float *x_out)
{
    if (pf_label_record_decode_sample(v->mv_data, v->mv_size, s->dim, id, out, x_out) == 0)
        return 0;
    return pf_errorf(PF_ESTORE, "store '%s': damaged sample record for id %llu (%zu bytes)",
                     s->path, (unsigned long long)id, v->mv_size);
}

/* ---------------------------------------------------------- transactions */

/* Below this much room a failed write is called a full disk outright:
 * LMDB grows its file a page run at a time, and the store's batched
 * commits of 784-float samples are a few MiB each. */
#define FULL_DISK_BYTES ((uint64_t)64 << 20)

/* A write that failed with an I/O error is most often a full disk (LMDB
 * reports a failed page write as such, ENOSPC included): say how much room
 * the store's file system has left. Reads get no note. */
static void space_note(const char *path, const char *op, int rc, char *buf, size_t cap)
{
    struct statvfs fs;
    int write = !strcmp(op, "commit") || !strcmp(op, "put");
    buf[0] = 0;
    if (write && (rc == EIO || rc == ENOSPC || rc == EDQUOT || rc == EFBIG) &&
        statvfs(path, &fs) == 0) {
        uint64_t room = (uint64_t)fs.f_bavail * fs.f_frsize;
        snprintf(buf, cap, " (%llu MiB free on its file system%s)",
                 (unsigned long long)(room >> 20),
                 room < FULL_DISK_BYTES ? ": the disk is full" : "");
    }
}

int pf_label_store_fail(const pf_label_store *s, int rc, const char *op, const char *db)
{
    char note[128];
    space_note(s->path, op, rc, note, sizeof note);
    return pf_errorf(PF_ESTORE, "store '%s': lmdb %s '%s': %s%s", s->path, op, db, mdb_strerror(rc),
                     note);
}

/* Begin a transaction, adopting a map another process has grown. */
int pf_label_store_txn_begin(pf_label_store *s, unsigned flags, MDB_txn **txn)
{
    int rc = 0;
    for (int i = 0; i < MAX_RESIZE_TRIES; i++) {
        rc = mdb_txn_begin(s->env, NULL, flags, txn);
        if (rc != MDB_MAP_RESIZED) break;
        rc = mdb_env_set_mapsize(s->env, 0); /* 0 = the size the writer recorded */
        if (rc) break;
    }
    return rc ? lmdb_fail(s, rc, "begin", flags & MDB_RDONLY ? "read" : "write") : 0;
}

static int grow_map(pf_label_store *s)
{
    MDB_envinfo info;
    int dead = 0;
    mdb_reader_check(s->env, &dead); /* dead readers pin pages: free them before growing */
    mdb_env_info(s->env, &info);
    size_t next = info.me_mapsize * 2;
    int rc = mdb_env_set_mapsize(s->env, next);
    if (rc)
        return pf_errorf(PF_ESTORE, "store '%s': lmdb grow map to %zu bytes: %s", s->path, next,
                         mdb_strerror(rc));
    PF_INFO("store '%s': map full, grew it to %zu KiB", s->path, next >> 10);
    return 0;
}

/* A write step: returns 0, a PF_E* code (line set), or MDB_MAP_FULL to retry. */
typedef int (*write_fn)(pf_label_store *s, MDB_txn *txn, void *ctx);

/* Run fn in one write transaction; on MDB_MAP_FULL grow the map and rerun it. */
static int run_write(pf_label_store *s, write_fn fn, void *ctx)
{
    if (s->readonly) return pf_errorf(PF_ESTATE, "store '%s': opened read-only", s->path);
    for (int tries = 0; tries < MAX_GROW_TRIES; tries++) {
        MDB_txn *txn = NULL;
        int rc = txn_begin(s, 0, &txn);
        if (rc < 0) return rc;
        rc = fn(s, txn, ctx);
        if (rc == 0) {
            rc = mdb_txn_commit(txn); /* frees txn, also on failure */
            if (rc == 0) return 0;
            if (rc != MDB_MAP_FULL) return lmdb_fail(s, rc, "commit", "write");
        } else {
            mdb_txn_abort(txn);
            if (rc != MDB_MAP_FULL) return rc;
        }
        rc = grow_map(s);
        if (rc < 0) return rc;
    }
    return pf_errorf(PF_ESTORE, "store '%s': map still full after %d doublings", s->path,
                     MAX_GROW_TRIES);
}

/* mdb_put that passes MDB_MAP_FULL through for run_write and words other failures. */
static int put(pf_label_store *s, MDB_txn *txn, MDB_dbi dbi, const char *db, MDB_val *k, MDB_val *v,
               unsigned flags)
{
    int rc = mdb_put(txn, dbi, k, v, flags);
    if (rc == 0 || rc == MDB_MAP_FULL) return rc;
    return lmdb_fail(s, rc, "put", db);
}

/* mdb_get: 0 found, 1 not found, or a PF_E* code. */
int pf_label_store_get_val(pf_label_store *s, MDB_txn *txn, MDB_dbi dbi, const char *db, MDB_val *k,
                           MDB_val *v)
{
    int rc = mdb_get(txn, dbi, k, v);
    if (rc == 0) return 0;
    if (rc == MDB_NOTFOUND) return 1;
    return lmdb_fail(s, rc, "get", db);
}

/* ------------------------------------------------------------------ open */

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0775) < 0 && errno != EEXIST) return -1;
        buf[i] = c;
    }
    return 0;
}

static int meta_get_u32(pf_label_store *s, MDB_txn *txn, const char *name, uint32_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = get(s, txn, s->meta, "meta", &k, &d);
    if (rc != 0) return rc;
    if (d.mv_size != 4) return pf_errorf(PF_ESTORE, "store '%s': damaged meta '%s'", s->path, name);
    *v = get_u32(d.mv_data);
    return 0;
}

static int meta_put_u32(pf_label_store *s, MDB_txn *txn, const char *name, uint32_t v)
{
    uint8_t b[4];
    put_u32(b, v);
    MDB_val k = {strlen(name), (void *)name}, d = {4, b};
    return put(s, txn, s->meta, "meta", &k, &d, 0);
}

/* Open the databases and check (or, for a new store, write) meta. */
static int open_dbs(pf_label_store *s, MDB_txn *txn, const pf_label_store_opts *o)
{
    static const char *names[] = {"samples", "truth", "labels", "state", "models", "meta"};
    MDB_dbi *dbis[] = {&s->samples, &s->truth, &s->labels, &s->state, &s->models, &s->meta};
    for (int i = 0; i < 6; i++) {
        int rc = mdb_dbi_open(txn, names[i], s->readonly ? 0 : MDB_CREATE, dbis[i]);
        if (rc == MDB_NOTFOUND)
            return pf_errorf(PF_ENOTFOUND, "store '%s': not a pseudoflow store (no '%s' database)",
                             s->path, names[i]);
        if (rc) return lmdb_fail(s, rc, "open database", names[i]);
    }
    uint32_t schema = 0, dim = 0, classes = 0;
    int rc = meta_get_u32(s, txn, "schema", &schema);
    if (rc < 0) return rc;
    if (rc == 1) { /* a new store */
        if (s->readonly)
            return pf_errorf(PF_ENOTFOUND, "store '%s': not a pseudoflow store (no meta)", s->path);
        if (o->dim == 0 || o->classes == 0)
            return pf_errorf(PF_EINVAL, "store '%s': a new store needs dim and classes", s->path);
        s->dim = o->dim;
        s->classes = o->classes;
        if ((rc = meta_put_u32(s, txn, "schema", PF_LABEL_STORE_SCHEMA)) != 0 ||
            (rc = meta_put_u32(s, txn, "dim", o->dim)) != 0 ||
            (rc = meta_put_u32(s, txn, "classes", o->classes)) != 0)
            return rc == MDB_MAP_FULL ? lmdb_fail(s, rc, "put", "meta") : rc;
        return 0;
    }
    if ((rc = meta_get_u32(s, txn, "dim", &dim)) != 0 ||
        (rc = meta_get_u32(s, txn, "classes", &classes)) != 0)
        return rc < 0 ? rc : pf_errorf(PF_ESTORE, "store '%s': damaged meta", s->path);
    if (schema != PF_LABEL_STORE_SCHEMA)
        return pf_errorf(PF_EMISMATCH, "store '%s': has schema version %u; this build reads %u",
                         s->path, schema, PF_LABEL_STORE_SCHEMA);
    if ((o->dim && o->dim != dim) || (o->classes && o->classes != classes))
        return pf_errorf(PF_EMISMATCH,
                         "store '%s': has dim %u and %u classes; this graph wants dim %u and %u "
                         "classes",
                         s->path, dim, classes, o->dim ? o->dim : dim,
                         o->classes ? o->classes : classes);
    s->dim = dim;
    s->classes = classes;
    return 0;
}

/* Create s->env and open it with `flags`; map_size 0 keeps the size the
 * store recorded. Returns 0 or the raw LMDB/errno code, with s->env NULL on
 * failure (a handle whose mdb_env_open failed must be discarded). */
static int env_open(pf_label_store *s, unsigned flags, size_t map_size)
{
    int rc = mdb_env_create(&s->env);
    if (rc) {
        s->env = NULL;
        return rc;
    }
    mdb_env_set_maxdbs(s->env, MAX_DBS);
    if (map_size) mdb_env_set_mapsize(s->env, map_size);
    rc = mdb_env_open(s->env, s->path, flags, 0664);
    if (rc) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

/* Open an existing store for reading. MDB_RDONLY still creates lock.mdb and
 * writes its reader table, and it does so before it reads data.mdb's header:
 * so data.mdb is first checked with MDB_NOLOCK, which creates nothing, and a
 * directory that is not a store is left as it was. The lock cannot be had
 * where lock.mdb is not writable: EACCES on another user's or a chmod a-w
 * store (EPERM on an immutable one); on a read-only mount (EROFS) LMDB itself
 * silently reads without it. With unlocked_ok the first case falls back to
 * MDB_NOLOCK too, and s->unlocked records both, for the caller to warn
 * (pf_label_store_locked). */
static int env_open_readonly(pf_label_store *s, unsigned flags, int unlocked_ok)
{
    int rc = env_open(s, flags | MDB_NOLOCK, 0);
    if (rc) return lmdb_fail(s, rc, "open", "env");
    mdb_env_close(s->env);
    s->env = NULL;
    struct statvfs fs;
    int rofs = statvfs(s->path, &fs) == 0 && (fs.f_flag & ST_RDONLY);
    rc = env_open(s, flags, 0);
    if ((rc == EACCES || rc == EPERM || rc == EROFS) && unlocked_ok) {
        s->unlocked = 1;
        rc = env_open(s, flags | MDB_NOLOCK, 0);
    } else if (rc == 0 && rofs) {
        s->unlocked = 1;
    }
    return rc ? lmdb_fail(s, rc, "open", "env") : 0;
}

int pf_label_store_open(const char *path, const pf_label_store_opts *opts, pf_label_store **out)
{
    static const pf_label_store_opts defaults = {0};
    const pf_label_store_opts *o = opts ? opts : &defaults;
    pf_label_store *s = NULL;
    MDB_txn *txn = NULL;
    char data_file[4200];
    struct stat st;
    int rc;

    assert(out);
    *out = NULL;
    if (!path || !path[0] || strlen(path) > 4000)
        return pf_errorf(PF_EINVAL, "store: path is empty or too long");
    snprintf(data_file, sizeof data_file, "%s/data.mdb", path);
    int exists = stat(data_file, &st) == 0;
    /* A readonly open must not touch a directory that is not a store. A
     * data.mdb that is not a regular file is not one (a FIFO would block the
     * open), nor is an empty one (LMDB would try to write a new header). */
    const char *not_store = !exists                ? "missing"
                            : !S_ISREG(st.st_mode) ? "not a regular file"
                            : st.st_size == 0      ? "empty"
                                                   : NULL;
    if (o->readonly && not_store)
        return pf_errorf(PF_ENOTFOUND, "store '%s': no store here (%s is %s)", path, data_file,
                         not_store);
    if (!o->readonly && mkdir_p(path) < 0)
        return pf_errorf(PF_EIO, "store '%s': create directory: %s", path, strerror(errno));

    s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        rc = pf_errorf(PF_ENOMEM, "store '%s': out of memory", path);
        goto fail;
    }
    s->readonly = o->readonly != 0;
    /* An existing store opens at the map size it recorded (no size set = LMDB
     * reads it from the file), so a small default never shrinks a grown store;
     * a larger request is applied after the open. */
    size_t map = o->map_size ? (size_t)o->map_size : (size_t)PF_LABEL_STORE_MAP_DEFAULT;
    unsigned flags =
        MDB_NOTLS | (s->readonly ? MDB_RDONLY : 0) | (o->nometasync ? MDB_NOMETASYNC : 0);
    if (s->readonly) {
        if ((rc = env_open_readonly(s, flags, o->unlocked_ok)) < 0) goto fail;
    } else if ((rc = env_open(s, flags, exists ? 0 : map)) != 0) {
        rc = lmdb_fail(s, rc, "open", "env");
        goto fail;
    }
    if (exists && !s->readonly && map > pf_label_store_map_size(s))
        mdb_env_set_mapsize(s->env, map);
    int dead = 0;
    mdb_reader_check(s->env, &dead); /* reader slots of killed processes */
    if (dead > 0) PF_INFO("store '%s': cleared %d stale reader slots", path, dead);

    if ((rc = txn_begin(s, s->readonly ? MDB_RDONLY : 0, &txn)) < 0) goto fail;
    if ((rc = open_dbs(s, txn, o)) < 0) goto fail;
    rc = mdb_txn_commit(txn); /* also for a read txn: it keeps the dbi handles */
    txn = NULL;
    if (rc) {
        rc = lmdb_fail(s, rc, "commit", "meta");
        goto fail;
    }
    s->sample_bytes = pf_label_record_sample_size(s->dim);
    *out = s;
    return 0;
fail:
    if (txn) mdb_txn_abort(txn);
    pf_label_store_close(&s);
    return rc;
}

void pf_label_store_close(pf_label_store **sp)
{
    if (!sp || !*sp) return;
    pf_label_store *s = *sp;
    if (s->env) mdb_env_close(s->env);
    free(s->path);
    free(s);
    *sp = NULL;
}

int pf_label_store_locked(const pf_label_store *s)
{
    return !s->unlocked;
}

uint32_t pf_label_store_dim(const pf_label_store *s)
{
    return s->dim;
}

uint32_t pf_label_store_classes(const pf_label_store *s)
{
    return s->classes;
}

const char *pf_label_store_path(const pf_label_store *s)
{
    return s->path;
}

uint64_t pf_label_store_map_size(const pf_label_store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    return info.me_mapsize;
}

/* ---------------------------------------------------------------- writes */

struct samples_batch {
    size_t n;
    const uint64_t *ids;
    const float *x;
    const int32_t *truth;
    uint64_t arrival_ms;
    uint32_t source;
};

static int write_samples(pf_label_store *s, MDB_txn *txn, void *ctx)
{
    const struct samples_batch *b = ctx;
    for (size_t i = 0; i < b->n; i++) {
        uint8_t kb[8];
        key_encode(kb, b->ids[i]);
        MDB_val k = {8, kb}, v = {s->sample_bytes, NULL};
        /* MDB_RESERVE: encode straight into the page, no staging copy. */
        int rc = put(s, txn, s->samples, "samples", &k, &v, MDB_RESERVE);
        if (rc) return rc;
        pf_label_record_encode_sample(v.mv_data, s->dim, b->x + i * s->dim, b->arrival_ms,
                                      b->source);
        if (b->truth && b->truth[i] >= 0) {
            uint8_t tb[4];
            put_u32(tb, (uint32_t)b->truth[i]);
            MDB_val t = {4, tb};
            if ((rc = put(s, txn, s->truth, "truth", &k, &t, 0)) != 0) return rc;
        }
    }
    return 0;
}

int pf_label_store_put_samples(pf_label_store *s, size_t n, uint32_t dim, const uint64_t *ids,
                               const float *x, const int32_t *truth, uint64_t arrival_ms,
                               uint32_t source)
{
    if (dim != s->dim)
        return pf_errorf(PF_EMISMATCH,
                         "store '%s': put samples: embeddings have dim %u; the store has dim %u",
                         s->path, dim, s->dim);
    if (n == 0) return 0;
    if (!ids || !x)
        return pf_errorf(PF_EINVAL, "store '%s': put samples: ids or x is NULL", s->path);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == 0)
            return pf_errorf(PF_EINVAL, "store '%s': put samples: row %zu has id 0 (reserved)",
                             s->path, i);
        const float *row = x + i * s->dim;
        for (uint32_t j = 0; j < s->dim; j++)
            if (!isfinite(row[j]))
                return pf_errorf(PF_EINVAL,
                                 "store '%s': put samples: id %llu has a non-finite embedding "
                                 "value (%g at %u)",
                                 s->path, (unsigned long long)ids[i], (double)row[j], j);
        if (truth && (truth[i] < -1 || truth[i] >= (int32_t)s->classes))
            return pf_errorf(PF_EINVAL,
                             "store '%s': put samples: id %llu has label %d, outside -1..%u",
                             s->path, (unsigned long long)ids[i], truth[i], s->classes - 1);
    }
    struct samples_batch b = {n, ids, x, truth, arrival_ms, source};
    return run_write(s, write_samples, &b);
}

static int check_decision(const pf_label_store *s, size_t i, const pf_label_record *r)
{
    const char *why = NULL;
    if (r->id == 0)
        why = "id 0 (reserved)";
    else if (r->label < 0 || r->label >= (int32_t)s->classes)
        why = "label out of range";
    else if (!isfinite(r->confidence) || r->confidence < 0 || r->confidence > 1)
        why = "confidence outside [0, 1]";
    else if (!isfinite(r->weight) || r->weight < 0)
        why = "weight negative or not finite";
    else if (r->k > PF_LABEL_TOPK_MAX)
        why = "more than 5 top-k entries";
    else if (memchr(r->policy, '\0', PF_LABEL_POLICY_MAX) == NULL)
        why = "policy name not NUL-terminated within 16 bytes";
    for (uint32_t j = 0; !why && j < r->k; j++) {
        if (r->topk_class[j] < 0 || r->topk_class[j] >= (int32_t)s->classes)
            why = "top-k class out of range";
        else if (!isfinite(r->topk_prob[j]) || r->topk_prob[j] < 0 || r->topk_prob[j] > 1)
            why = "top-k probability outside [0, 1]";
    }
    if (!why) return 0;
    return pf_errorf(PF_EINVAL, "store '%s': put decisions: record %zu (id %llu): %s", s->path, i,
                     (unsigned long long)r->id, why);
}

struct decisions_batch {
    size_t n;
    const pf_label_record *recs;
};

static int write_decisions(pf_label_store *s, MDB_txn *txn, void *ctx)
{
    const struct decisions_batch *b = ctx;
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    int rc;
    /* Every check before the first put: a refused batch aborts having written nothing. */
    for (size_t i = 0; i < b->n; i++) {
        key_encode(kb, b->recs[i].id);
        if ((rc = get(s, txn, s->samples, "samples", &k, &v)) < 0) return rc;
        if (rc == 1)
            return pf_errorf(PF_ENOTFOUND,
                             "store '%s': put decisions: no sample with id %llu to label", s->path,
                             (unsigned long long)b->recs[i].id);
    }
    for (size_t i = 0; i < b->n; i++) {
        const pf_label_record *r = &b->recs[i];
        uint32_t times = 1;
        key_encode(kb, r->id);
        if ((rc = get(s, txn, s->labels, "labels", &k, &v)) < 0) return rc;
        if (rc == 0) {
            pf_label_record old;
            if ((rc = label_decode(s, &v, r->id, &old)) < 0) return rc;
            times = old.times_decided + 1;
        }
        v.mv_size = PF_LABEL_RECORD_SIZE;
        if ((rc = put(s, txn, s->labels, "labels", &k, &v, MDB_RESERVE)) != 0) return rc;
        pf_label_record_encode(v.mv_data, r, times);
    }
    return 0;
}

int pf_label_store_put_decisions(pf_label_store *s, size_t n, const pf_label_record *recs)
{
    if (n == 0) return 0;
    if (!recs) return pf_errorf(PF_EINVAL, "store '%s': put decisions: recs is NULL", s->path);
    for (size_t i = 0; i < n; i++) {
        int rc = check_decision(s, i, &recs[i]);
        if (rc < 0) return rc;
    }
    struct decisions_batch b = {n, recs};
    return run_write(s, write_decisions, &b);
}

/* One key/value put (models, state). */
struct one_put {
    MDB_dbi dbi;
    const char *db;
    MDB_val k, v;
    int del; /* 1 = delete k instead */
};

static int write_one(pf_label_store *s, MDB_txn *txn, void *ctx)
{
    struct one_put *p = ctx;
    if (!p->del) return put(s, txn, p->dbi, p->db, &p->k, &p->v, 0);
    int rc = mdb_del(txn, p->dbi, &p->k, NULL);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_fail(s, rc, "delete", p->db);
}

int pf_label_store_put_model(pf_label_store *s, uint64_t version, const void *bytes, size_t len)
{
    uint8_t kb[8];
    if (version == 0 || (!bytes && len))
        return pf_errorf(PF_EINVAL, "store '%s': put model: version 0 is reserved", s->path);
    key_encode(kb, version);
    struct one_put p = {s->models, "models", {8, kb}, {len, (void *)bytes}, 0};
    return run_write(s, write_one, &p);
}

int pf_label_store_check_key(const pf_label_store *s, const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > PF_LABEL_STATE_KEY_MAX)
        return pf_errorf(PF_EINVAL, "store '%s': state key must be 1..%d bytes", s->path,
                         PF_LABEL_STATE_KEY_MAX);
    return 0;
}

int pf_label_store_put_state(pf_label_store *s, const char *key, const void *bytes, size_t len)
{
    int rc = check_key(s, key);
    if (rc < 0) return rc;
    if (!bytes && len) return pf_errorf(PF_EINVAL, "store '%s': put state: bytes is NULL", s->path);
    struct one_put p = {s->state, "state", {strlen(key), (void *)key}, {len, (void *)bytes}, 0};
    return run_write(s, write_one, &p);
}

int pf_label_store_delete_state(pf_label_store *s, const char *key)
{
    int rc = check_key(s, key);
    if (rc < 0) return rc;
    struct one_put p = {s->state, "state", {strlen(key), (void *)key}, {0, NULL}, 1};
    return run_write(s, write_one, &p);
}

struct counter_add {
    const char *key;
    int64_t delta;
    uint64_t value;
};

int pf_label_store_read_counter(pf_label_store *s, MDB_txn *txn, const char *key, uint64_t *value)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = get(s, txn, s->state, "state", &k, &v);
    if (rc < 0) return rc;
    *value = 0;
    if (rc == 1) return 0;
    if (v.mv_size != 8)
        return pf_errorf(PF_EINVAL, "store '%s': state '%s' is not a counter (%zu bytes)", s->path,
                         key, v.mv_size);
    *value = get_u64(v.mv_data);
    return 0;
}

static int write_counter(pf_label_store *s, MDB_txn *txn, void *ctx)
{
    struct counter_add *c = ctx;
    uint64_t old;
    int rc = read_counter(s, txn, c->key, &old);
    if (rc < 0) return rc;
    uint64_t mag = c->delta < 0 ? (uint64_t)0 - (uint64_t)c->delta : (uint64_t)c->delta;
    if (c->delta < 0 ? mag > old : old + mag < old)
        return pf_errorf(PF_ERANGE, "store '%s': counter '%s' is %llu; adding %lld leaves u64",
                         s->path, c->key, (unsigned long long)old, (long long)c->delta);
    c->value = c->delta < 0 ? old - mag : old + mag;
    uint8_t b[8];
    put_u64(b, c->value);
    MDB_val k = {strlen(c->key), (void *)c->key}, v = {8, b};
    return put(s, txn, s->state, "state", &k, &v, 0);
}

int pf_label_store_add_counter(pf_label_store *s, const char *key, int64_t delta, uint64_t *value)
{
    int rc = check_key(s, key);
    if (rc < 0) return rc;
    struct counter_add c = {key, delta, 0};
    if ((rc = run_write(s, write_counter, &c)) < 0) return rc;
    if (value) *value = c.value;
    return 0;
}
