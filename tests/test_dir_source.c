/*
 * Tests for nodes/dir_source.c, end to end with real processes: files in a
 * watched directory become samples in the store under stable ids, files
 * dropped in while the run goes are picked up, and the state file marks a
 * file done once the sampler has persisted all of its rows.
 *
 * The graph is dir_source -> sampler -> teacher -> filter -> student with the
 * acks and labels feedback edges. The first file comes with given labels
 * ("X.labels.npy") so the teacher can fit; later ones are unlabeled. Waits are
 * state-based (the store's counts, the state file), with generous timeouts
 * only as a safety net. Run directories live under /tmp/pff (ipc paths are
 * limited to 107 bytes).
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "tests/e2e.h"
#include "runtime/error.h"
#include "store/label_store.h"

#define DIM 8
#define TIMEOUT_MS 120000 /* safety net only */

static char dir[128], watch[160];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void setup(void)
{
    mkdir("/tmp/pff", 0777);
    snprintf(dir, sizeof dir, "/tmp/pff/dirsrc-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(watch, sizeof watch, "%s/in", dir);
    cr_assert_eq(mkdir(watch, 0777), 0);
}

static void teardown(void)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(dir_source, .init = setup, .fini = teardown, .timeout = 300);

/* The value of feature j of row i in the file write_npy(..., seed, NULL) writes: class (i % 4) blobs, well separated. */
static float file_value(size_t i, int j, int seed)
{
    return (float)((int)(i % 4) == j % 4 ? 3 : 0) + (float)((seed * 31 + (int)i * 7 + j) % 13) / 26.0f;
}

/* A .npy file: '<f4' [n, DIM] (or '<i4' [n] labels when labels != NULL), written
 * under a temporary name and renamed into place, as producers should. */
static void write_npy(const char *name, size_t n, int seed, const int32_t *labels)
{
    char tmp[300], path[300], hdr[128];
    snprintf(tmp, sizeof tmp, "%s/.%s", watch, name);
    snprintf(path, sizeof path, "%s/%s", watch, name);
    int len = labels ? snprintf(hdr, sizeof hdr, "{'descr': '<i4', 'fortran_order': False, 'shape': (%zu,), }", n)
                     : snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }",
                                n, DIM);
    while ((10 + len + 1) % 64) hdr[len++] = ' ';
    hdr[len++] = '\n';
    FILE *f = fopen(tmp, "wb");
    cr_assert_not_null(f);
    uint16_t hl = (uint16_t)len;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hl, 2, 1, f);
    fwrite(hdr, 1, (size_t)len, f);
    for (size_t i = 0; i < n; i++) {
        if (labels) {
            fwrite(&labels[i], 4, 1, f);
            continue;
        }
        for (int j = 0; j < DIM; j++) { /* class (i % 4) blobs: well separated */
            float v = file_value(i, j, seed);
            fwrite(&v, 4, 1, f);
        }
    }
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0);
}

static void write_labeled(const char *stem, size_t n)
{
    int32_t *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = (int32_t)(i % 4);
    char name[64];
    snprintf(name, sizeof name, "%s.labels.npy", stem);
    write_npy(name, n, 0, y);
    free(y);
    snprintf(name, sizeof name, "%s.npy", stem);
    write_npy(name, n, 1, NULL);
}

static void write_graph_power(char *graph, size_t len, int once, double power)
{
    snprintf(graph, len, "%s/dir.dot", dir);
    FILE *f = fopen(graph, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "digraph dir {\n"
            "  graph   [classes=4, dim=%d, run_dir=\"%s\", batch=64];\n"
            "  source  [kind=dir_source, dir=\"%s\", poll_ms=50, once=%d, ack_timeout_ms=1000, power=%g];\n"
            "  sampler [kind=sampler, lease_ms=2000];\n"
            "  teacher [kind=mlp_teacher, hidden=16, warmup_epochs=5, calibrate=0];\n"
            "  filter  [kind=filter, tau=0.8];\n"
            "  student [kind=mlp_student, hidden=16];\n"
            "  source -> sampler -> teacher -> filter -> student;\n"
            "  sampler -> source  [port=acks];\n"
            "  filter  -> sampler [port=labels];\n"
            "}\n",
            DIM, dir, watch, once, power);
    fclose(f);
}

static void write_graph(char *graph, size_t len, int once)
{
    write_graph_power(graph, len, once, 1.0);
}

static int wait_status(pid_t pid)
{
    int status = 0;
    uint64_t until = pf_clock_mono_ms() + TIMEOUT_MS;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (pf_clock_mono_ms() > until) {
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
            cr_assert_fail("the run did not end within the safety net");
        }
        pf_clock_sleep_ms(50);
    }
    return status;
}

/* Store counts (zeros while there is no store). */
static pf_label_counts counts(void)
{
    char path[200];
    snprintf(path, sizeof path, "%s/store", dir);
    pf_label_store_opts o = {.readonly = 1};
    pf_label_store *s = NULL;
    pf_label_counts c = {0};
    if (pf_label_store_open(path, &o, &s) == 0) pf_label_store_counts(s, &c);
    pf_label_store_close(&s);
    return c;
}

/* Files the state file lists as done (status 1). */
static int files_done(void)
{
    char path[200], line[512];
    snprintf(path, sizeof path, "%s/source#0.files", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    unsigned long long a, b;
    int st;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%llu %llu %d", &a, &b, &st) == 3 && st == 1) n++;
    fclose(f);
    return n;
}

static int visit_ids(const pf_label_sample *smp, const pf_label_record *rec, void *p)
{
    uint64_t *expect = p;
    cr_expect_eq(smp->id, expect[0] + 1, "ids are 1..n in order, got %llu after %llu",
                 (unsigned long long)smp->id, (unsigned long long)expect[0]);
    cr_expect_not_null(rec, "id %llu has no label record", (unsigned long long)smp->id);
    expect[0] = smp->id;
    return 0;
}

/* Visit every sample of the run's store in id order (with its embedding
 * when asked). */
static void visit_store(int with_embeddings, pf_label_store_visit_fn fn, void *ctx)
{
    char path[200];
    snprintf(path, sizeof path, "%s/store", dir);
    pf_label_store_opts o = {.readonly = 1};
    pf_label_store *s = NULL;
    cr_assert_eq(pf_label_store_open(path, &o, &s), 0, "%s", pf_error_last());
    pf_label_store_query q = {.with_embeddings = with_embeddings};
    cr_assert_eq(pf_label_store_each(s, &q, fn, ctx), 0);
    pf_label_store_close(&s);
}

static void check_ids(uint64_t n)
{
    uint64_t last = 0;
    visit_store(0, visit_ids, &last);
    cr_expect_eq(last, n, "last id %llu, expected %llu", (unsigned long long)last, (unsigned long long)n);
}

Test(dir_source, once_streams_every_file_present_and_ends)
{
    write_labeled("a", 400);
    write_npy("b.npy", 300, 2, NULL);
    write_npy("c.npy", 200, 3, NULL);
    char graph[200];
    write_graph(graph, sizeof graph, 1);
    int status = wait_status(pf_e2e_start_run(dir, graph));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run status 0x%x", status);
    check_ids(900);
    cr_expect_eq(files_done(), 3);
}

static int visit_powered(const pf_label_sample *smp, const pf_label_record *rec, void *p)
{
    size_t *n = p, i = (size_t)smp->id - 1;
    for (int j = 0; j < DIM; j++)
        cr_expect_float_eq(smp->x[j], sqrtf(file_value(i, j, 1)), 1e-6, "id %llu feature %d",
                           (unsigned long long)smp->id, j);
    ++*n;
    return 0;
}

/* power=0.5: the samples the sampler stores are the file's rows with every
 * feature square-rooted, as the source streamed them. */
Test(dir_source, power_transforms_the_features_it_streams)
{
    write_labeled("a", 200);
    char graph[200];
    write_graph_power(graph, sizeof graph, 1, 0.5);
    int status = wait_status(pf_e2e_start_run(dir, graph));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run status 0x%x", status);
    size_t n = 0;
    visit_store(1, visit_powered, &n);
    cr_expect_eq(n, 200);
}

Test(dir_source, files_dropped_while_running_are_picked_up)
{
    write_labeled("a", 400);
    char graph[200];
    write_graph(graph, sizeof graph, 0);
    pid_t sup = pf_e2e_start_run(dir, graph);
    uint64_t until = pf_clock_mono_ms() + TIMEOUT_MS;
    while (counts().decided < 400) {
        cr_assert(pf_clock_mono_ms() < until && waitpid(sup, NULL, WNOHANG) == 0, "the first file never got decided");
        pf_clock_sleep_ms(50);
    }
    write_npy("b.npy", 500, 2, NULL);
    write_npy("c.npy", 250, 3, NULL);
    while (counts().decided < 1150 || files_done() < 3) {
        cr_assert(pf_clock_mono_ms() < until && waitpid(sup, NULL, WNOHANG) == 0, "the new files never got decided");
        pf_clock_sleep_ms(50);
    }
    kill(sup, SIGTERM); /* a live source never ends: stop the run */
    int status = wait_status(sup);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run status 0x%x", status);
    check_ids(1150);
    pf_label_counts c = counts();
    cr_expect_eq(c.samples, 1150);
    cr_expect_eq(c.truth, 400);
}

/* A once=1 run that finished is not run again by accident: a plain run
 * there is refused (runtime/run_dir.h) and touches nothing; --resume
 * continues it, and the source takes only the file that arrived since,
 * into the same store under the next ids. */
Test(dir_source, a_finished_once_run_resumed_takes_only_the_new_files)
{
    write_labeled("a", 400);
    char graph[200];
    write_graph(graph, sizeof graph, 1);
    int status = wait_status(pf_e2e_start_run(dir, graph));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "first run: status 0x%x", status);
    write_npy("b.npy", 300, 2, NULL);
    status = wait_status(pf_e2e_start_run(dir, graph));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "a plain run on the finished run: status 0x%x", status);
    cr_expect_eq(counts().samples, 400);
    cr_expect_eq(files_done(), 1);
    status = wait_status(pf_e2e_start_run_with(dir, graph, "--resume"));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the resumed run: status 0x%x", status);
    check_ids(700);
    cr_expect_eq(files_done(), 2);
    pf_label_counts c = counts();
    cr_expect_eq(c.samples, 700);
    cr_expect_eq(c.decided, 700, "every sample of the new file is decided");
}
