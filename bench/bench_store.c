/*
 * bench_store.c - how fast the label store persists samples and decisions,
 * next to what LMDB itself does with the same bytes in the same transactions.
 *
 *     bench_store [DIR]     (default $TMPDIR or /tmp; put it on the disk a run uses)
 *
 * Every figure is the median of 5 runs, each on a fresh store in a temporary
 * directory under DIR: 40 batches of 256 samples at dim 784 (the sampler's
 * shape for MNIST-like data), then 40 batches of 256 decisions. The LMDB
 * baseline does mdb_put of values of the same size (a 3160-byte sample
 * record, a 96-byte label record) in transactions of 256, so the gap is the
 * store's own cost: validation, encoding, the times_decided read-modify-write
 * and map growth from the 64 MiB default. The MDB_NOSYNC and MDB_NOMETASYNC
 * lines show what durable commits cost: the store keeps them synchronous
 * because at-least-once delivery acks a sample only once it is on disk.
 *
 * This file includes lmdb.h for its baseline only; product code reaches LMDB
 * through store/. Figures are printed, never judged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/error.h"
#include "runtime/log.h"
#include "store/label_store.h"

#define DIM 784
#define CLASSES 10
#define BATCH 256
#define BATCHES 40
#define RUNS 5
#define SAMPLE_BYTES (24 + 4 * DIM) /* the store's sample record at dim 784 */
#define LABEL_BYTES 96              /* the store's label record */

static char base[1024];

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void fresh_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/pf_bench_store_XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror(dir);
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp_double);
    return v[RUNS / 2];
}

static void die(const char *what)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, pf_error_last());
    exit(1);
}

/* One run through the store: rates of sample puts and of decisions, per second. */
static void run_store(int nometasync, double *samples_per_s, double *decisions_per_s)
{
    char dir[1100];
    fresh_dir(dir, sizeof dir);
    pf_label_store_opts o = {.dim = DIM, .classes = CLASSES, .nometasync = nometasync};
    pf_label_store *s = NULL;
    if (pf_label_store_open(dir, &o, &s) < 0) die("open");
    static uint64_t ids[BATCH];
    static float x[BATCH * DIM];
    static pf_label_record recs[BATCH];
    for (size_t i = 0; i < BATCH * DIM; i++)
        x[i] = (float)(i % 97) / 97.0f;

    double t0 = now_s();
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH; i++)
            ids[i] = (uint64_t)b * BATCH + (uint64_t)i + 1;
        if (pf_label_store_put_samples(s, BATCH, DIM, ids, x, NULL, 1, 0) < 0) die("put samples");
    }
    double t1 = now_s();
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH; i++)
            recs[i] = (pf_label_record){.id = (uint64_t)b * BATCH + (uint64_t)i + 1,
                                        .label = i % 10,
                                        .confidence = 0.9f,
                                        .weight = 1,
                                        .teacher_version = 1,
                                        .flags = PF_LABEL_ACCEPTED,
                                        .policy = "fixmatch",
                                        .k = 2,
                                        .topk_class = {i % 10, 0},
                                        .topk_prob = {0.9f, 0.1f}};
        if (pf_label_store_put_decisions(s, BATCH, recs) < 0) die("put decisions");
    }
    double t2 = now_s();
    *samples_per_s = BATCH * BATCHES / (t1 - t0);
    *decisions_per_s = BATCH * BATCHES / (t2 - t1);
    pf_label_store_close(&s);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One run of bare LMDB: BATCHES transactions of BATCH puts of value_bytes. */
static double run_raw(size_t value_bytes, unsigned env_flags)
{
    char dir[1100];
    static uint8_t value[SAMPLE_BYTES];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    fresh_dir(dir, sizeof dir);
    memset(value, 7, sizeof value);
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
        mdb_env_set_mapsize(env, 1ull << 30) || /* 1 GiB: the baseline never grows */
        mdb_env_open(env, dir, MDB_NOTLS | env_flags, 0664)) {
        fprintf(stderr, "bench_store: raw lmdb open failed\n");
        exit(1);
    }
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "samples", MDB_CREATE, &dbi);
    mdb_txn_commit(txn);
    double t0 = now_s();
    for (int b = 0; b < BATCHES; b++) {
        if (mdb_txn_begin(env, NULL, 0, &txn)) exit(1);
        for (int i = 0; i < BATCH; i++) {
            uint64_t id = (uint64_t)b * BATCH + (uint64_t)i + 1;
            uint8_t k[8];
            for (int j = 0; j < 8; j++)
                k[j] = (uint8_t)(id >> (56 - 8 * j));
            MDB_val key = {8, k}, val = {value_bytes, value};
            if (mdb_put(txn, dbi, &key, &val, 0)) exit(1);
        }
        if (mdb_txn_commit(txn)) exit(1);
    }
    double rate = BATCH * BATCHES / (now_s() - t0);
    mdb_env_close(env);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rate;
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s", argc > 1 ? argv[1] : tmp ? tmp : "/tmp");
    pf_log_threshold = PF_LOG_WARN; /* map growth lines are not figures */

    double smp[RUNS], dec[RUNS], smp_nm[RUNS], dec_nm[RUNS];
    double raw_s[RUNS], raw_l[RUNS], raw_s_nosync[RUNS], raw_s_nometa[RUNS];
    for (int r = 0; r < RUNS; r++) {
        run_store(0, &smp[r], &dec[r]);
        run_store(1, &smp_nm[r], &dec_nm[r]);
        raw_s[r] = run_raw(SAMPLE_BYTES, 0);
        raw_l[r] = run_raw(LABEL_BYTES, 0);
        raw_s_nosync[r] = run_raw(SAMPLE_BYTES, MDB_NOSYNC);
        raw_s_nometa[r] = run_raw(SAMPLE_BYTES, MDB_NOMETASYNC);
    }
    printf("bench_store: dim %d, batches of %d, %d batches per run, median of %d runs, in %s\n",
           DIM, BATCH, BATCHES, RUNS, base);
    printf("  %-44s %12.0f /s\n", "samples persisted (store, durable)", median(smp));
    printf("  %-44s %12.0f /s\n", "  raw mdb_put 3160 B values, durable", median(raw_s));
    printf("  %-44s %12.0f /s\n", "decisions recorded (store, durable)", median(dec));
    printf("  %-44s %12.0f /s\n", "  raw mdb_put 96 B values, durable", median(raw_l));
    printf("  %-44s %12.0f /s\n", "samples persisted (store, MDB_NOMETASYNC)", median(smp_nm));
    printf("  %-44s %12.0f /s\n", "decisions recorded (store, MDB_NOMETASYNC)", median(dec_nm));
    printf("  %-44s %12.0f /s\n", "  raw 3160 B, MDB_NOMETASYNC", median(raw_s_nometa));
    printf("  %-44s %12.0f /s\n", "  raw 3160 B, MDB_NOSYNC (not durable)", median(raw_s_nosync));
    return 0;
}
