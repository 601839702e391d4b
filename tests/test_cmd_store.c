/*
 * Tests for cli/cmd_store.c: `pseudoflow store PATH stats|get ID|export` run
 * as a real process on a store this test writes through the store API. They
 * check the output of each action and that every bad use (missing store,
 * bad id, unknown id, bad format, npy without a directory) exits non-zero
 * with a one-line reason on stderr, never touching the store; that usage is
 * checked before the store is opened; that a directory which is not a store
 * is left as it was; and that a store the reader may not write (modes, a
 * read-only mount) is still read, with one warning.
 *
 * Tests run as root in CI, where file modes stop nobody: the no-write-access
 * test drops CAP_DAC_OVERRIDE from the bounding set, which Criterion's
 * one-process-per-test keeps to that test, so the command it runs is held
 * to the modes; the read-only mount is made in a child's private mount
 * namespace. Each skips, saying why, where the system does not allow that.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
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
    chmod(store, 0755); /* a test may have taken write access away */
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cmd_store, .init = setup, .fini = teardown);

/* Run `pseudoflow store ARGS` with stdout and stderr into dir/out and dir/err;
 * returns its exit status. */
static int run_to_files(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s store %s >%s/out 2>%s/err", PF_BIN, args, dir, dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Read dir/out and dir/err into out/err (each up to 64 KiB). */
static void read_outputs(char *out, char *err)
{
    const char *names[2] = {"out", "err"};
    char *bufs[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "r");
        size_t n = f ? fread(bufs[i], 1, 65535, f) : 0;
        bufs[i][n] = '\0';
        if (f) fclose(f);
    }
}

/* Run `pseudoflow store ARGS`; stdout and stderr into out/err. */
static int run(char *out, char *err, const char *args)
{
    int status = run_to_files(args);
    read_outputs(out, err);
    return status;
}

/* Times `word` occurs in `text`. */
static int count(const char *text, const char *word)
{
    int n = 0;
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        n++;
    return n;
}

/* 1 when `name` exists in directory `d`. */
static int has_file(const char *d, const char *name)
{
    char p[1400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", d, name);
    return lstat(p, &st) == 0;
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

Test(cmd_store, usage_errors_exit_2_before_any_store_is_opened)
{
    /* No store at this path: a usage error must still be exit 2, not 1. */
    char a[1400];
    const char *bad[] = {"export --format xml",
                         "export --format npy",
                         "export",
                         "export --format csv --bogus",
                         "get 0",
                         "stats extra"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(a, sizeof a, "%s/nothing-here %s", dir, bad[i]);
        cr_expect_eq(run(out, err, a), 2, "'%s': %s", bad[i], err);
        cr_expect_null(strstr(err, "no store"), "'%s': %s", bad[i], err);
    }
    snprintf(a, sizeof a, "%s/nothing-here export --format xml", dir);
    run(out, err, a);
    cr_expect_not_null(strstr(err, "csv, jsonl or npy"), "%s", err);
    snprintf(a, sizeof a, "%s/nothing-here export --format csv", dir);
    cr_expect_eq(run(out, err, a), 1, "good usage, no store: %s", err);
}

Test(cmd_store, a_directory_that_is_not_a_store_is_left_untouched)
{
    char junk[700], p[800], a[1400];
    snprintf(junk, sizeof junk, "%s/junk", dir);
    cr_assert_eq(mkdir(junk, 0755), 0);
    snprintf(p, sizeof p, "%s/data.mdb", junk);

    /* No data.mdb at all. */
    snprintf(a, sizeof a, "%s stats", junk);
    cr_expect_eq(run(out, err, a), 1, "%s", err);
    cr_expect_not(has_file(junk, "lock.mdb"), "no data.mdb: lock.mdb was created");

    /* A data.mdb that is not an LMDB file: 16 KiB of 0xA5, no LMDB magic. */
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 16384; i++)
        fputc(0xA5, f);
    fclose(f);
    cr_expect_eq(run(out, err, a), 1, "%s", err);
    cr_expect_not_null(strstr(err, "not an LMDB file"), "%s", err);
    cr_expect_not(has_file(junk, "lock.mdb"), "garbage data.mdb: lock.mdb was created");

    /* An empty data.mdb (LMDB would try to write a header into it). */
    cr_assert_eq(truncate(p, 0), 0);
    cr_expect_eq(run(out, err, a), 1, "%s", err);
    cr_expect_not_null(strstr(err, "empty"), "%s", err);
    cr_expect_not(has_file(junk, "lock.mdb"), "empty data.mdb: lock.mdb was created");
    struct stat st;
    cr_expect_eq(stat(p, &st), 0);
    cr_expect_eq(st.st_size, 0, "the empty data.mdb was written: %lld bytes",
                 (long long)st.st_size);

    /* A data.mdb that is a directory. */
    cr_assert_eq(remove(p), 0);
    cr_assert_eq(mkdir(p, 0755), 0);
    cr_expect_eq(run(out, err, a), 1, "%s", err);
    cr_expect_not_null(strstr(err, "not a regular file"), "%s", err);
    cr_expect_not(has_file(junk, "lock.mdb"), "data.mdb directory: lock.mdb was created");
}

/* Make this test's commands obey file modes even as root: drop the
 * capabilities that override them from the bounding set, so every program
 * this process runs starts without them. Skips the test when that is not
 * possible or does not stop a write. */
static void lose_write_override(void)
{
    if (geteuid() == 0 && (prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) < 0 ||
                           prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) < 0))
        cr_skip_test("root without CAP_SETPCAP cannot give up CAP_DAC_OVERRIDE, so file modes "
                     "cannot take write access away here");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "touch %s/probe 2>/dev/null", store);
    if (system(cmd) == 0)
        cr_skip_test("a child process can still write a chmod a-w directory here");
}

Test(cmd_store, a_store_without_write_access_is_read_with_one_warning)
{
    char p[700], a[1400];
    cr_assert(has_file(store, "lock.mdb"), "the writer left no lock.mdb");
    /* Another user's finished run: lock.mdb exists but may not be written. */
    const char *files[] = {"data.mdb", "lock.mdb"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", store, files[i]);
        cr_assert_eq(chmod(p, 0444), 0);
    }
    cr_assert_eq(chmod(store, 0555), 0);
    lose_write_override();
    snprintf(a, sizeof a, "%s get 2", store);
    cr_expect_eq(run(out, err, a), 0, "%s", err);
    cr_expect_not_null(strstr(out, "fixmatch"), "%s", out);
    cr_expect_eq(count(err, "warning"), 1, "%s", err);
    cr_expect_not_null(strstr(err, "no run is writing"), "%s", err);

    /* No lock.mdb, and none may be created. */
    cr_assert_eq(chmod(store, 0755), 0);
    snprintf(p, sizeof p, "%s/lock.mdb", store);
    cr_assert_eq(remove(p), 0);
    cr_assert_eq(chmod(store, 0555), 0);
    snprintf(a, sizeof a, "%s stats", store);
    cr_expect_eq(run(out, err, a), 0, "%s", err);
    cr_expect_not_null(strstr(out, "samples        10"), "%s", out);
    cr_expect_eq(count(err, "warning"), 1, "%s", err);
    cr_expect_not(has_file(store, "lock.mdb"));
}

Test(cmd_store, a_store_on_a_read_only_mount_is_read_with_one_warning)
{
    /* The mount lives in a child's private mount namespace and dies with it;
     * the child exits 77 when it may not make one. */
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(store, store, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, store, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
            _exit(77);
        char a[700];
        snprintf(a, sizeof a, "%s stats", store);
        _exit(run_to_files(a));
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77)
        cr_skip_test("no private mount namespace here (needs CAP_SYS_ADMIN)");
    read_outputs(out, err);
    cr_expect_eq(WEXITSTATUS(st), 0, "%s", err);
    cr_expect_not_null(strstr(out, "samples        10"), "%s", out);
    cr_expect_eq(count(err, "warning"), 1, "%s", err);
}
