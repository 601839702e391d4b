/*
 * Tests for store/label_store.c and store/store_export.c: round trips,
 * idempotent writes, map growth from a tiny map, reopen, meta refusal, a
 * reader in another process while a writer grows the map, refused bad input
 * that leaves the store intact, undecided iteration, and exports that parse
 * back. Each test works in its own directory under PF_TEST_TMP.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, mkdtemp, open_memstream */
#endif
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.h"
#include "store/label_store.h"

#define DIM 16
#define CLASSES 10

static char dir[512];  /* this test's scratch directory */
static char path[600]; /* the store inside it */

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/label_store_XXXXXX", PF_TEST_TMP);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp under %s", PF_TEST_TMP);
    snprintf(path, sizeof path, "%s/run", dir);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void teardown(void)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(label_store, .init = setup, .fini = teardown);

/* The embedding every test stores for id: recognizable, finite, id-dependent. */
static void fill(float *x, uint64_t id, uint32_t dim)
{
    for (uint32_t j = 0; j < dim; j++)
        x[j] = (float)id + (float)j / 64.0f;
}

static pf_label_store *open_store(uint64_t map_size)
{
    pf_label_store_opts o = {.dim = DIM, .classes = CLASSES, .map_size = map_size};
    pf_label_store *s = NULL;
    int rc = pf_label_store_open(path, &o, &s);
    cr_assert_eq(rc, 0, "open: %s", pf_error_last());
    return s;
}

/* Put ids first..first+n-1; truth = id % CLASSES for even ids, none for odd. */
static void put_range(pf_label_store *s, uint64_t first, size_t n, uint64_t arrival_ms)
{
    uint64_t *ids = malloc(n * sizeof *ids);
    float *x = malloc(n * DIM * sizeof *x);
    int32_t *truth = malloc(n * sizeof *truth);
    for (size_t i = 0; i < n; i++) {
        ids[i] = first + i;
        fill(x + i * DIM, ids[i], DIM);
        truth[i] = ids[i] % 2 ? -1 : (int32_t)(ids[i] % CLASSES);
    }
    int rc = pf_label_store_put_samples(s, n, DIM, ids, x, truth, arrival_ms, 7);
    cr_assert_eq(rc, 0, "put samples: %s", pf_error_last());
    free(truth);
    free(x);
    free(ids);
}

static pf_label_record decision(uint64_t id, int32_t label, float conf, uint64_t teacher)
{
    pf_label_record r = {.id = id,
                         .label = label,
                         .confidence = conf,
                         .weight = conf,
                         .teacher_version = teacher,
                         .decided_ms = 1000 + id,
                         .flags = conf >= 0.9f ? PF_LABEL_ACCEPTED : 0,
                         .policy = "fixmatch",
                         .k = 2,
                         .topk_class = {label, (label + 1) % CLASSES},
                         .topk_prob = {conf, 1 - conf}};
    return r;
}

static void decide(pf_label_store *s, uint64_t id, int32_t label, float conf, uint64_t teacher)
{
    pf_label_record r = decision(id, label, conf, teacher);
    int rc = pf_label_store_put_decisions(s, 1, &r);
    cr_assert_eq(rc, 0, "put decision: %s", pf_error_last());
}

static pf_label_counts counts(pf_label_store *s)
{
    pf_label_counts c;
    cr_assert_eq(pf_label_store_counts(s, &c), 0, "%s", pf_error_last());
    return c;
}

static void assert_sample(pf_label_store *s, uint64_t id)
{
    float x[DIM], want[DIM];
    pf_label_sample smp;
    int rc = pf_label_store_get_sample(s, id, &smp, x);
    cr_assert_eq(rc, 0, "get %llu: %s", (unsigned long long)id, pf_error_last());
    fill(want, id, DIM);
    cr_assert_eq(smp.id, id);
    cr_assert_arr_eq(x, want, sizeof x);
}

Test(label_store, put_then_get_returns_what_was_stored)
{
    pf_label_store *s = open_store(0);
    put_range(s, 1, 4, 5000);
    pf_label_record r = decision(2, 3, 0.95f, 4);
    r.flags |= PF_LABEL_SOFT;
    cr_assert_eq(pf_label_store_put_decisions(s, 1, &r), 0, "%s", pf_error_last());

    pf_label_sample smp;
    float x[DIM], want[DIM];
    cr_assert_eq(pf_label_store_get_sample(s, 2, &smp, x), 0);
    fill(want, 2, DIM);
    cr_assert_arr_eq(x, want, sizeof x);
    cr_assert_eq(smp.arrival_ms, 5000);
    cr_assert_eq(smp.source, 7);
    cr_assert_eq(smp.truth, 2);
    cr_assert_eq(pf_label_store_get_sample(s, 3, &smp, NULL), 0);
    cr_assert_eq(smp.truth, -1);
    cr_assert_null(smp.x);

    pf_label_record got;
    cr_assert_eq(pf_label_store_get_label(s, 2, &got), 0);
    cr_assert_eq(got.label, 3);
    cr_assert_float_eq(got.confidence, 0.95f, 0);
    cr_assert_eq(got.teacher_version, 4);
    cr_assert_eq(got.decided_ms, 1002);
    cr_assert_eq(got.times_decided, 1);
    cr_assert_eq(got.flags, PF_LABEL_ACCEPTED | PF_LABEL_SOFT);
    cr_assert_str_eq(got.policy, "fixmatch");
    cr_assert_eq(got.k, 2);
    cr_assert_eq(got.topk_class[1], 4);
    cr_assert_float_eq(got.topk_prob[1], 1 - 0.95f, 0);
    cr_assert_eq(pf_label_store_get_label(s, 1, &got), PF_ENOTFOUND);
    cr_assert_eq(pf_label_store_get_sample(s, 99, &smp, NULL), PF_ENOTFOUND);
    cr_assert_not_null(strstr(pf_error_last(), "no sample with id 99"), "%s", pf_error_last());
    pf_label_store_close(&s);
    cr_assert_null(s);
}

Test(label_store, models_state_and_counters_round_trip)
{
    pf_label_store *s = open_store(0);
    void *bytes = NULL;
    size_t len = 0;
    uint64_t version = 0, value = 0;
    cr_assert_eq(pf_label_store_get_model(s, 0, &bytes, &len, &version), PF_ENOTFOUND);
    cr_assert_eq(pf_label_store_put_model(s, 1, "one", 3), 0);
    cr_assert_eq(pf_label_store_put_model(s, 2, "two!", 4), 0);
    cr_assert_eq(pf_label_store_get_model(s, 0, &bytes, &len, &version), 0);
    cr_assert_eq(version, 2);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(bytes, "two!", 4), 0);
    free(bytes);
    cr_assert_eq(pf_label_store_get_model(s, 1, &bytes, &len, NULL), 0);
    cr_assert_eq(memcmp(bytes, "one", 3), 0);
    free(bytes);
    cr_assert_eq(pf_label_store_put_model(s, 0, "x", 1), PF_EINVAL);

    cr_assert_eq(pf_label_store_put_state(s, "cursor", "abc", 3), 0);
    cr_assert_eq(pf_label_store_get_state(s, "cursor", &bytes, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(bytes, "abc", 3), 0);
    free(bytes);
    cr_assert_eq(pf_label_store_delete_state(s, "cursor"), 0);
    cr_assert_eq(pf_label_store_get_state(s, "cursor", &bytes, &len), PF_ENOTFOUND);
    cr_assert_eq(pf_label_store_put_state(s, "", "x", 1), PF_EINVAL);

    cr_assert_eq(pf_label_store_get_counter(s, "budget", &value), 0);
    cr_assert_eq(value, 0);
    cr_assert_eq(pf_label_store_add_counter(s, "budget", 10, &value), 0);
    cr_assert_eq(pf_label_store_add_counter(s, "budget", -3, &value), 0);
    cr_assert_eq(value, 7);
    cr_assert_eq(pf_label_store_add_counter(s, "budget", -8, &value), PF_ERANGE);
    cr_assert_eq(pf_label_store_get_counter(s, "budget", &value), 0);
    cr_assert_eq(value, 7, "a refused decrement leaves the counter alone");
    cr_assert_eq(counts(s).state, 1);
    cr_assert_eq(counts(s).models, 2);
    pf_label_store_close(&s);
}

Test(label_store, duplicate_put_keeps_one_record)
{
    pf_label_store *s = open_store(0);
    put_range(s, 1, 3, 100);
    put_range(s, 2, 1, 200); /* a re-sent sample */
    cr_assert_eq(counts(s).samples, 3);
    pf_label_sample smp;
    cr_assert_eq(pf_label_store_get_sample(s, 2, &smp, NULL), 0);
    cr_assert_eq(smp.arrival_ms, 200, "the later put overwrites");
    cr_assert_eq(smp.truth, 2);

    decide(s, 2, 5, 0.5f, 1);
    decide(s, 2, 6, 0.99f, 2);
    pf_label_record got;
    cr_assert_eq(pf_label_store_get_label(s, 2, &got), 0);
    cr_assert_eq(got.label, 6, "last decision wins");
    cr_assert_eq(got.teacher_version, 2);
    cr_assert_eq(got.times_decided, 2);
    cr_assert_eq(counts(s).decided, 1);

    /* Duplicates inside one batch count too. */
    pf_label_record twice[2] = {decision(3, 1, 0.7f, 1), decision(3, 2, 0.8f, 1)};
    cr_assert_eq(pf_label_store_put_decisions(s, 2, twice), 0, "%s", pf_error_last());
    cr_assert_eq(pf_label_store_get_label(s, 3, &got), 0);
    cr_assert_eq(got.label, 2);
    cr_assert_eq(got.times_decided, 2);
    cr_assert_eq(counts(s).decided, 2);
    pf_label_store_close(&s);
}

Test(label_store, a_full_map_grows_and_keeps_every_sample)
{
    pf_label_store *s = open_store(64 << 10); /* 64 KiB: full after a few dozen samples */
    for (uint64_t first = 1; first <= 5000; first += 250)
        put_range(s, first, 250, 1);
    for (uint64_t id = 1; id <= 5000; id += 50)
        decide(s, id, 1, 0.9f, 1);
    pf_label_counts c = counts(s);
    cr_assert_eq(c.samples, 5000);
    cr_assert_eq(c.truth, 2500);
    cr_assert_eq(c.decided, 100);
    cr_assert_gt(pf_label_store_map_size(s), 64 << 10);
    assert_sample(s, 1);
    assert_sample(s, 2500);
    assert_sample(s, 5000);
    pf_label_store_close(&s);
}

Test(label_store, reopen_after_close_keeps_everything)
{
    pf_label_store *s = open_store(64 << 10);
    put_range(s, 1, 1000, 1);
    decide(s, 10, 4, 0.97f, 3);
    cr_assert_eq(pf_label_store_put_state(s, "lease", "l", 1), 0);
    uint64_t grown = pf_label_store_map_size(s);
    pf_label_store_close(&s);

    s = open_store(64 << 10); /* a smaller request must not shrink a grown store */
    cr_assert_geq(pf_label_store_map_size(s), grown);
    pf_label_counts c = counts(s);
    cr_assert_eq(c.samples, 1000);
    cr_assert_eq(c.decided, 1);
    cr_assert_eq(c.state, 1);
    assert_sample(s, 777);
    pf_label_record got;
    cr_assert_eq(pf_label_store_get_label(s, 10, &got), 0);
    cr_assert_eq(got.label, 4);
    put_range(s, 1001, 10, 2);
    cr_assert_eq(counts(s).samples, 1010);
    pf_label_store_close(&s);

    pf_label_store_opts ro = {.readonly = 1}; /* dim 0, classes 0: take what is stored */
    cr_assert_eq(pf_label_store_open(path, &ro, &s), 0, "%s", pf_error_last());
    cr_assert_eq(pf_label_store_dim(s), DIM);
    cr_assert_eq(pf_label_store_classes(s), CLASSES);
    cr_assert_eq(counts(s).samples, 1010);
    cr_assert_eq(pf_label_store_put_state(s, "k", "v", 1), PF_ESTATE);
    pf_label_store_close(&s);
}

Test(label_store, a_mismatched_dim_or_class_count_is_refused_with_a_clear_message)
{
    pf_label_store *s = open_store(0);
    pf_label_store_close(&s);
    pf_label_store_opts o = {.dim = 512, .classes = CLASSES};
    cr_assert_eq(pf_label_store_open(path, &o, &s), PF_EMISMATCH);
    cr_assert_null(s);
    char want[800];
    snprintf(want, sizeof want,
             "store '%s': has dim 16 and 10 classes; this graph wants dim 512 and 10 classes",
             path);
    cr_assert_str_eq(pf_error_last(), want);
    o = (pf_label_store_opts){.dim = DIM, .classes = 100};
    cr_assert_eq(pf_label_store_open(path, &o, &s), PF_EMISMATCH);
    cr_assert_not_null(strstr(pf_error_last(), "wants dim 16 and 100 classes"));
    o = (pf_label_store_opts){.classes = CLASSES}; /* dim 0: accept the stored dim */
    cr_assert_eq(pf_label_store_open(path, &o, &s), 0, "%s", pf_error_last());
    pf_label_store_close(&s);
}

Test(label_store, opening_what_is_not_there_is_refused)
{
    pf_label_store *s = NULL;
    pf_label_store_opts ro = {.readonly = 1};
    cr_assert_eq(pf_label_store_open(path, &ro, &s), PF_ENOTFOUND);
    cr_assert_not_null(strstr(pf_error_last(), "no store here"), "%s", pf_error_last());
    pf_label_store_opts nodim = {.classes = CLASSES};
    cr_assert_eq(pf_label_store_open(path, &nodim, &s), PF_EINVAL);
    cr_assert_not_null(strstr(pf_error_last(), "needs dim and classes"));
    cr_assert_null(s);
}

Test(label_store, bad_input_is_refused_and_earlier_data_is_intact)
{
    pf_label_store *s = open_store(0);
    put_range(s, 1, 10, 1);
    decide(s, 4, 4, 0.95f, 1);
    pf_label_counts before = counts(s);

    uint64_t ids[3] = {20, 0, 5};
    float x[3 * DIM];
    fill(x, 20, DIM);
    fill(x + DIM, 21, DIM);
    fill(x + 2 * DIM, 99, DIM); /* would overwrite sample 5 if anything were written */
    cr_assert_eq(pf_label_store_put_samples(s, 3, DIM, ids, x, NULL, 2, 0), PF_EINVAL);
    cr_assert_not_null(strstr(pf_error_last(), "id 0 (reserved)"), "%s", pf_error_last());

    ids[1] = 21;
    x[DIM + 3] = NAN;
    cr_assert_eq(pf_label_store_put_samples(s, 3, DIM, ids, x, NULL, 2, 0), PF_EINVAL);
    cr_assert_not_null(strstr(pf_error_last(), "id 21 has a non-finite"), "%s", pf_error_last());
    x[DIM + 3] = INFINITY;
    cr_assert_eq(pf_label_store_put_samples(s, 3, DIM, ids, x, NULL, 2, 0), PF_EINVAL);
    x[DIM + 3] = 0;

    cr_assert_eq(pf_label_store_put_samples(s, 3, DIM + 1, ids, x, NULL, 2, 0), PF_EMISMATCH);
    cr_assert_not_null(strstr(pf_error_last(), "dim 17; the store has dim 16"), "%s",
                       pf_error_last());
    int32_t truth[3] = {1, CLASSES, -1};
    cr_assert_eq(pf_label_store_put_samples(s, 3, DIM, ids, x, truth, 2, 0), PF_EINVAL);

    pf_label_record recs[2] = {decision(5, 1, 0.9f, 9), decision(6, 1, NAN, 9)};
    cr_assert_eq(pf_label_store_put_decisions(s, 2, recs), PF_EINVAL);
    recs[1] = decision(6, CLASSES, 0.9f, 9);
    cr_assert_eq(pf_label_store_put_decisions(s, 2, recs), PF_EINVAL);
    recs[1] = decision(0, 1, 0.9f, 9);
    cr_assert_eq(pf_label_store_put_decisions(s, 2, recs), PF_EINVAL);
    recs[1] = decision(6, 1, 0.9f, 9);
    recs[1].k = 6;
    cr_assert_eq(pf_label_store_put_decisions(s, 2, recs), PF_EINVAL);
    recs[1] = decision(6, 1, 0.9f, 9);
    memset(recs[1].policy, 'p', sizeof recs[1].policy);
    cr_assert_eq(pf_label_store_put_decisions(s, 2, recs), PF_EINVAL);
    recs[1] = decision(404, 1, 0.9f, 9); /* no such sample: checked after 5 was looked up */
    cr_assert_eq(pf_label_store_put_decisions(s, 2, recs), PF_ENOTFOUND);
    cr_assert_not_null(strstr(pf_error_last(), "no sample with id 404"), "%s", pf_error_last());

    pf_label_counts after = counts(s);
    cr_assert_eq(after.samples, before.samples);
    cr_assert_eq(after.truth, before.truth);
    cr_assert_eq(after.decided, before.decided);
    for (uint64_t id = 1; id <= 10; id++)
        assert_sample(s, id);
    pf_label_record got;
    cr_assert_eq(pf_label_store_get_label(s, 5, &got), PF_ENOTFOUND);
    cr_assert_eq(pf_label_store_get_label(s, 4, &got), 0);
    cr_assert_eq(got.times_decided, 1);
    pf_label_store_close(&s);
}

struct visits {
    uint64_t ids[64];
    size_t n;
    int with_rec;
};

static int collect(const pf_label_sample *smp, const pf_label_record *rec, void *ctx)
{
    struct visits *v = ctx;
    cr_assert_lt(v->n, 64);
    v->ids[v->n++] = smp->id;
    v->with_rec += rec != NULL;
    if (smp->x) {
        float want[DIM];
        fill(want, smp->id, DIM);
        cr_assert_arr_eq(smp->x, want, sizeof want);
    }
    return 0;
}

static int stop_after_two(const pf_label_sample *smp, const pf_label_record *rec, void *ctx)
{
    return ++*(int *)ctx == 2 ? 1 : 0;
}

Test(label_store, undecided_iteration_visits_samples_without_a_fresh_decision)
{
    pf_label_store *s = open_store(0);
    put_range(s, 1, 10, 1);
    decide(s, 2, 1, 0.95f, 3); /* fresh */
    decide(s, 4, 1, 0.95f, 1); /* old teacher */
    decide(s, 6, 1, 0.40f, 3); /* unsure */
    decide(s, 10, 1, 0.99f, 3);

    struct visits v = {0};
    pf_label_store_query q = {.undecided_only = 1, .with_embeddings = 1};
    cr_assert_eq(pf_label_store_each(s, &q, collect, &v), 0, "%s", pf_error_last());
    uint64_t undecided[] = {1, 3, 5, 7, 8, 9};
    cr_assert_eq(v.n, 6);
    cr_assert_arr_eq(v.ids, undecided, sizeof undecided);
    cr_assert_eq(v.with_rec, 0);

    v = (struct visits){0};
    q.stale_teacher_below = 3;
    q.stale_confidence_below = 0.5f;
    cr_assert_eq(pf_label_store_each(s, &q, collect, &v), 0);
    uint64_t stale[] = {1, 3, 4, 5, 6, 7, 8, 9};
    cr_assert_eq(v.n, 8);
    cr_assert_arr_eq(v.ids, stale, sizeof stale);
    cr_assert_eq(v.with_rec, 2);

    v = (struct visits){0};
    q = (pf_label_store_query){.undecided_only = 1, .from_id = 4, .limit = 3};
    cr_assert_eq(pf_label_store_each(s, &q, collect, &v), 0);
    uint64_t window[] = {5, 7, 8};
    cr_assert_eq(v.n, 3);
    cr_assert_arr_eq(v.ids, window, sizeof window);

    v = (struct visits){0};
    cr_assert_eq(pf_label_store_each(s, NULL, collect, &v), 0); /* all, id order */
    cr_assert_eq(v.n, 10);
    cr_assert_eq(v.with_rec, 4);
    for (size_t i = 0; i < v.n; i++)
        cr_assert_eq(v.ids[i], i + 1);

    int seen = 0;
    cr_assert_eq(pf_label_store_each(s, NULL, stop_after_two, &seen), 0);
    cr_assert_eq(seen, 2, "a positive return stops the walk");
    pf_label_store_close(&s);
}

static size_t count_lines(const char *file, char *first, size_t cap)
{
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "open %s", file);
    char line[65536];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (n == 0 && first) snprintf(first, cap, "%s", line);
        n++;
    }
    fclose(f);
    return n;
}

static long file_size(const char *file)
{
    struct stat st;
    cr_assert_eq(stat(file, &st), 0, "stat %s", file);
    return (long)st.st_size;
}

Test(label_store, exports_parse_back_in_every_format)
{
    pf_label_store *s = open_store(0);
    put_range(s, 1, 25, 1);
    decide(s, 3, 2, 0.93f, 1);
    decide(s, 4, 7, 0.50f, 2);
    char out[700], first[65536];

    snprintf(out, sizeof out, "%s/labels.csv", dir);
    cr_assert_eq(pf_label_store_export(s, PF_LABEL_EXPORT_CSV, 0, out), 0, "%s", pf_error_last());
    cr_assert_eq(count_lines(out, first, sizeof first), 26);
    cr_assert_str_eq(first, "id,truth,label,confidence,weight,teacher_version,times_decided,"
                            "accepted\n");
    FILE *f = fopen(out, "r");
    char line[256];
    unsigned long long id, tv;
    int truth, label, acc;
    unsigned times;
    float conf, weight;
    int rows = 0, decided = 0;
    cr_assert_not_null(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        cr_assert_eq(sscanf(line, "%llu,%d,%d,%f,%f,%llu,%u,%d", &id, &truth, &label, &conf,
                            &weight, &tv, &times, &acc),
                     8, "row: %s", line);
        cr_assert_eq(id, (unsigned long long)++rows);
        if (id == 3) cr_assert(label == 2 && conf == 0.93f && acc == 1 && times == 1);
        decided += label >= 0;
    }
    fclose(f);
    cr_assert_eq(decided, 2);

    snprintf(out, sizeof out, "%s/labels_x.csv", dir);
    cr_assert_eq(pf_label_store_export(s, PF_LABEL_EXPORT_CSV, 1, out), 0);
    count_lines(out, first, sizeof first);
    cr_assert_not_null(strstr(first, ",x15\n"));

    snprintf(out, sizeof out, "%s/labels.jsonl", dir);
    cr_assert_eq(pf_label_store_export(s, PF_LABEL_EXPORT_JSONL, 1, out), 0);
    cr_assert_eq(count_lines(out, first, sizeof first), 25);
    cr_assert_eq(strncmp(first, "{\"id\":1,\"truth\":-1,\"label\":-1,", 30), 0, "%s", first);
    cr_assert_not_null(strstr(first, "\"x\":[1,1.015625,"), "%s", first);

    snprintf(out, sizeof out, "%s/npy", dir);
    cr_assert_eq(pf_label_store_export(s, PF_LABEL_EXPORT_NPY, 1, out), 0, "%s", pf_error_last());
    char file[800];
    snprintf(file, sizeof file, "%s/ids.npy", out);
    cr_assert_eq(file_size(file), 128 + 25 * 8);
    snprintf(file, sizeof file, "%s/x.npy", out);
    cr_assert_eq(file_size(file), 128 + 25 * DIM * 4);
    f = fopen(file, "rb");
    unsigned char head[128];
    cr_assert_eq(fread(head, 1, 128, f), 128);
    float x0[DIM], want[DIM];
    cr_assert_eq(fread(x0, sizeof(float), DIM, f), DIM);
    fclose(f);
    cr_assert_eq(memcmp(head, "\x93NUMPY\x01\x00", 8), 0);
    cr_assert_eq(head[8] | head[9] << 8, 118);
    cr_assert_not_null(strstr((char *)head + 10, "'shape': (25, 16)"));
    cr_assert_eq(head[127], '\n');
    fill(want, 1, DIM);
    cr_assert_arr_eq(x0, want, sizeof want);

    cr_assert_eq(pf_label_store_export(s, PF_LABEL_EXPORT_NPY, 0, NULL), PF_EINVAL);
    int fmt = -1;
    cr_assert_eq(pf_label_store_parse_format("jsonl", &fmt), 0);
    cr_assert_eq(fmt, PF_LABEL_EXPORT_JSONL);
    cr_assert_eq(pf_label_store_parse_format("parquet", &fmt), PF_EINVAL);
    pf_label_store_close(&s);
}

Test(label_store, stats_and_get_print_what_is_stored)
{
    pf_label_store *s = open_store(0);
    put_range(s, 1, 20, 1);
    decide(s, 2, 2, 0.95f, 1); /* matches its given label */
    decide(s, 4, 3, 0.55f, 2); /* does not */
    decide(s, 4, 3, 0.56f, 2);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    cr_assert_eq(pf_label_store_print_stats(s, mem), 0, "%s", pf_error_last());
    fclose(mem);
    cr_assert_not_null(strstr(text, "samples        20\n"), "%s", text);
    cr_assert_not_null(strstr(text, "  given label  10\n"), "%s", text);
    cr_assert_not_null(strstr(text, "decided      2 (accepted 1, rejected 1"), "%s", text);
    cr_assert_not_null(strstr(text, "  undecided    18\n"), "%s", text);
    cr_assert_not_null(strstr(text, "0.5000 (1 of 2)"), "%s", text);
    cr_assert_not_null(strstr(text, "[0.9,1.0]           1           1\n"), "%s", text);
    cr_assert_not_null(strstr(text, "              2           1\n"), "%s", text);
    free(text);

    mem = open_memstream(&text, &len);
    cr_assert_eq(pf_label_store_print_record(s, 4, mem), 0, "%s", pf_error_last());
    fclose(mem);
    cr_assert_not_null(strstr(text, "times_decided  2\n"), "%s", text);
    cr_assert_not_null(strstr(text, "label          3 (rejected)\n"), "%s", text);
    free(text);
    cr_assert_eq(pf_label_store_print_record(s, 404, stdout), PF_ENOTFOUND);
    pf_label_store_close(&s);
}

/* Child of the concurrency test: write ROUNDS batches, decide half of each. */
#define ROUNDS 60
#define BATCH 100

static int writer_child(void)
{
    pf_label_store_opts o = {.dim = DIM, .classes = CLASSES, .map_size = 64 << 10};
    pf_label_store *s = NULL;
    if (pf_label_store_open(path, &o, &s) < 0) return 1;
    uint64_t ids[BATCH];
    float x[BATCH * DIM];
    pf_label_record recs[BATCH / 2];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BATCH; i++) {
            ids[i] = (uint64_t)r * BATCH + (uint64_t)i + 1;
            fill(x + i * DIM, ids[i], DIM);
        }
        if (pf_label_store_put_samples(s, BATCH, DIM, ids, x, NULL, 1, 0) < 0) return 2;
        for (int i = 0; i < BATCH / 2; i++)
            recs[i] = decision(ids[2 * i], 1, 0.9f, (uint64_t)r);
        if (pf_label_store_put_decisions(s, BATCH / 2, recs) < 0) return 3;
    }
    pf_label_store_close(&s);
    return 0;
}

struct check {
    size_t visited, bad;
    uint64_t last_id;
};

static int check_visit(const pf_label_sample *smp, const pf_label_record *rec, void *ctx)
{
    struct check *c = ctx;
    float want[DIM];
    fill(want, smp->id, DIM);
    c->bad += smp->id <= c->last_id || memcmp(smp->x, want, sizeof want) != 0;
    c->bad += rec && (rec->label != 1 || rec->times_decided != 1 || smp->id % 2 == 0);
    c->last_id = smp->id;
    c->visited++;
    return 0;
}

Test(label_store, a_reader_in_another_process_sees_growing_valid_snapshots_while_a_writer_runs)
{
    pf_label_store *s = open_store(64 << 10);
    pf_label_store_close(&s); /* never carry an open LMDB environment across fork */
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) _exit(writer_child());

    pf_label_store_opts ro = {.readonly = 1};
    cr_assert_eq(pf_label_store_open(path, &ro, &s), 0, "%s", pf_error_last());
    uint64_t last_samples = 0, last_decided = 0;
    int status = 0, reads = 0, done = 0;
    while (!done) {
        done = waitpid(pid, &status, WNOHANG) == pid; /* one more read after the writer ends */
        pf_label_counts c = counts(s);
        cr_assert_geq(c.samples, last_samples, "counts never go back");
        cr_assert_geq(c.decided, last_decided);
        cr_assert_eq(c.samples % BATCH, 0, "a batch is all or nothing");
        last_samples = c.samples;
        last_decided = c.decided;
        struct check chk = {0};
        cr_assert_eq(pf_label_store_each(s, &(pf_label_store_query){.with_embeddings = 1},
                                         check_visit, &chk),
                     0, "%s", pf_error_last());
        cr_assert_eq(chk.bad, 0);
        cr_assert_geq(chk.visited, last_samples);
        reads++;
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);
    cr_assert_eq(last_samples, ROUNDS * BATCH);
    cr_assert_eq(last_decided, ROUNDS * BATCH / 2);
    cr_assert_gt(pf_label_store_map_size(s), 64 << 10, "the reader adopted the grown map");
    cr_log_info("reader made %d passes while the writer ran", reads);
    pf_label_store_close(&s);
}

/* A store that cannot grow its file (here a file-size limit in a child
 * process; in production a full disk, which LMDB reports as an I/O error)
 * fails the write with a message that says how much room its file system
 * has left, so "Input/output error" is not all a user sees. */
Test(label_store, a_write_that_cannot_grow_the_file_says_how_much_room_is_left)
{
    char msg_path[700];
    snprintf(msg_path, sizeof msg_path, "%s/error.txt", dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead of killing us */
        struct rlimit lim = {256 << 10, 256 << 10};
        setrlimit(RLIMIT_FSIZE, &lim);
        pf_label_store_opts o = {.dim = DIM, .classes = CLASSES, .map_size = 64 << 20};
        pf_label_store *s = NULL;
        if (pf_label_store_open(path, &o, &s) < 0) _exit(1);
        static uint64_t ids[4096];
        static float x[4096 * DIM];
        int rc = 0;
        for (uint64_t r = 0; r < 64 && rc == 0; r++) {
            for (int i = 0; i < 4096; i++) ids[i] = r * 4096 + (uint64_t)i + 1, fill(x + i * DIM, ids[i], DIM);
            rc = pf_label_store_put_samples(s, 4096, DIM, ids, x, NULL, 1, 0);
        }
        FILE *f = fopen(msg_path, "w");
        if (f) fprintf(f, "%s", rc < 0 ? pf_error_last() : "no error");
        if (f) fclose(f);
        _exit(rc < 0 ? 0 : 2);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writes past the limit did not fail (status %d)",
              status);
    FILE *f = fopen(msg_path, "r");
    cr_assert_not_null(f);
    char msg[1024] = "";
    cr_assert_not_null(fgets(msg, sizeof msg, f));
    fclose(f);
    cr_log_info("%s", msg);
    cr_assert(strstr(msg, "MiB free on its file system"), "the error does not say how much room is left: %s", msg);
}
