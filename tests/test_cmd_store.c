/*
 * Tests for cli/cmd_store.c: `pseudoflow store PATH stats|get ID|export` run
 * as a real process on a store this test writes through the store API. They
 * check the output of each action and that every bad use (missing store,
 * bad id, unknown id, bad format, npy without a directory) exits non-zero
 * with a one-line reason on stderr, never touching the store.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.h"
#include "store/label_store.h"

static char dir[512], store[600];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* A store with ids 1..10 (dim 4, 3 classes): 1..3 labeled, 1..8 decided. */
static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/cmd_store_XXXXXX", PF_TEST_TMP);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(store, sizeof store, "%s/store", dir);
    pf_label_store_opts o = {.dim = 4, .classes = 3};
    pf_label_store *s = NULL;
    cr_assert_eq(pf_label_store_open(store, &o, &s), 0, "%s", pf_error_last());
    uint64_t ids[10];
    float x[40];
    int32_t truth[10];
    for (int i = 0; i < 10; i++) {
        ids[i] = (uint64_t)i + 1;
        truth[i] = i < 3 ? i % 3 : -1;
        for (int j = 0; j < 4; j++) x[i * 4 + j] = (float)i + (float)j / 4;
    }
    cr_assert_eq(pf_label_store_put_samples(s, 10, 4, ids, x, truth, 1000, 0), 0);
    pf_label_record r[8];
    for (int i = 0; i < 8; i++)
        r[i] = (pf_label_record){.id = (uint64_t)i + 1, .label = i % 3, .confidence = 0.9f, .weight = 1,
                                 .teacher_version = 2, .decided_ms = 2000, .flags = PF_LABEL_ACCEPTED,
                                 .policy = "fixmatch"};
    cr_assert_eq(pf_label_store_put_decisions(s, 8, r), 0);
    pf_label_store_close(&s);
}

static void teardown(void)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cmd_store, .init = setup, .fini = teardown);

/* Run `pseudoflow store ARGS`; stdout and stderr into out/err (each up to 64 KiB). */
static int run(char *out, char *err, const char *args)
{
    char cmd[2048], o[700], e[700];
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(e, sizeof e, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s store %s >%s 2>%s", PF_BIN, args, o, e);
    int st = system(cmd);
    const char *paths[2] = {o, e};
    char *bufs[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        size_t n = f ? fread(bufs[i], 1, 65535, f) : 0;
        bufs[i][n] = '\0';
        if (f) fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char out[65536], err[65536];

Test(cmd_store, stats_counts_samples_and_decisions)
{
    char a[700];
    snprintf(a, sizeof a, "%s stats", store);
    cr_assert_eq(run(out, err, a), 0, "%s", err);
    cr_expect_not_null(strstr(out, "samples        10"), "%s", out);
    cr_expect_not_null(strstr(out, "decided      8"), "%s", out);
    cr_expect_not_null(strstr(out, "undecided    2"), "%s", out);
}

Test(cmd_store, get_prints_one_record_and_refuses_bad_ids)
{
    char a[700];
    snprintf(a, sizeof a, "%s get 2", store);
    cr_assert_eq(run(out, err, a), 0, "%s", err);
    cr_expect_not_null(strstr(out, "fixmatch"), "%s", out);
    snprintf(a, sizeof a, "%s get 0", store);
    cr_expect_eq(run(out, err, a), 2);
    cr_expect_not_null(strstr(err, "bad id '0'"), "%s", err);
    snprintf(a, sizeof a, "%s get 12x", store);
    cr_expect_eq(run(out, err, a), 2);
    snprintf(a, sizeof a, "%s get 99", store);
    cr_expect_eq(run(out, err, a), 1);
    cr_expect_not_null(strstr(err, "no sample with id 99"), "%s", err);
}

Test(cmd_store, a_missing_store_is_a_clear_error)
{
    char a[700];
    snprintf(a, sizeof a, "%s/nothing-here stats", dir);
    cr_expect_eq(run(out, err, a), 1);
    cr_expect_not_null(strstr(err, "no store at"), "%s", err);
}

Test(cmd_store, export_writes_one_row_per_sample)
{
    char a[1400];
    snprintf(a, sizeof a, "%s export --format csv", store);
    cr_assert_eq(run(out, err, a), 0, "%s", err);
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 11, "header + 10 rows:\n%s", out);
    snprintf(a, sizeof a, "%s export --format jsonl --embeddings", store);
    cr_assert_eq(run(out, err, a), 0, "%s", err);
    cr_expect_not_null(strstr(out, "\"x\""), "%s", out);
    snprintf(a, sizeof a, "%s export --format npy --out %s/npy", store, dir);
    cr_assert_eq(run(out, err, a), 0, "%s", err);
    char p[700];
    struct stat st;
    snprintf(p, sizeof p, "%s/npy/ids.npy", dir);
    cr_expect_eq(stat(p, &st), 0);
}

Test(cmd_store, bad_formats_and_usage_exit_2)
{
    char a[700];
    snprintf(a, sizeof a, "%s export --format xml", store);
    cr_expect_eq(run(out, err, a), 2);
    cr_expect_not_null(strstr(err, "csv, jsonl or npy"), "%s", err);
    snprintf(a, sizeof a, "%s export --format npy", store);
    cr_expect_eq(run(out, err, a), 2);
    snprintf(a, sizeof a, "%s export", store);
    cr_expect_eq(run(out, err, a), 2);
    snprintf(a, sizeof a, "%s frobnicate", store);
    cr_expect_eq(run(out, err, a), 2);
    cr_expect_eq(run(out, err, "--help"), 0);
    cr_expect_not_null(strstr(out, "usage: pseudoflow store"), "%s", out);
}
