/* Tests for runtime/run_dir.c: the finished marker, and the truth files
 * found by reading the run directory rather than by a pattern built from
 * its path. (--fresh and the refusal run end to end in test_runtime.c.) */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"
#include "runtime/run_dir.h"

static char base[256]; /* PF_TEST_TMP/run_dir-XXXXXX */

static void touch(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fclose(f);
}

static void setup(void)
{
    snprintf(base, sizeof base, "%s/run_dir-XXXXXX", PF_TEST_TMP);
    cr_assert_not_null(mkdtemp(base));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", base);
}

TestSuite(run_dir, .init = setup, .fini = teardown);

/* A marked run reads back as finished, with its line; unmarked, it is not;
 * unmarking twice is not an error. */
Test(run_dir, a_finished_mark_reads_back_and_unmarks)
{
    char when[160];
    cr_assert_eq(pf_run_dir_finished(base, when, sizeof when), 0);
    cr_assert_eq(pf_run_dir_mark_finished(base, "g", 12.34), 0);
    cr_assert_eq(pf_run_dir_finished(base, when, sizeof when), 1);
    cr_assert(strstr(when, " graph g in 12.3 s") && when[4] == '-', "line: '%s'", when);
    cr_assert_eq(pf_run_dir_unmark_finished(base), 0);
    cr_assert_eq(pf_run_dir_finished(base, NULL, 0), 0);
    cr_assert_eq(pf_run_dir_unmark_finished(base), 0);
}

static int collect(const char *path, void *arg)
{
    char *names = arg;
    const char *slash = strrchr(path, '/');
    strcat(names, slash ? slash + 1 : path);
    strcat(names, ";");
    return 0;
}

/* A run dir named "r[1]" holds truth-a.bin; its neighbour "r1", which the
 * pattern "r[1]/truth-*.bin" would match, holds truth-b.bin. Only the run
 * dir's own truth files are found, and nothing that is not one. */
Test(run_dir, truth_files_are_the_run_dirs_own_even_with_pattern_characters_in_its_name)
{
    char dir[512], other[512];
    snprintf(dir, sizeof dir, "%s/r[1]", base);
    snprintf(other, sizeof other, "%s/r1", base);
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(mkdir(other, 0755), 0);
    touch(dir, "truth-a.bin");
    touch(dir, "truth-.bin"); /* no name: not a source's */
    touch(dir, "truth-c.binx");
    touch(dir, "notes.txt");
    touch(other, "truth-b.bin");
    char names[256] = "";
    cr_assert_eq(pf_run_dir_each_truth(dir, collect, names), 0);
    cr_assert_str_eq(names, "truth-a.bin;");
    names[0] = '\0';
    snprintf(dir, sizeof dir, "%s/missing", base);
    cr_assert_eq(pf_run_dir_each_truth(dir, collect, names), 0,
                 "a run dir not made yet holds no truth");
    cr_assert_str_eq(names, "");
}

/* The nodes name their files with pf_run_dir_state_path, the same function
 * --fresh finds them by; a run directory too long for the name is an
 * error naming the file, never a shortened path. */
Test(run_dir, state_paths_are_built_whole_or_refused)
{
    char buf[64];
    cr_assert_eq(pf_run_dir_state_path("runs/x", "student#0", PF_RUN_DIR_CKPT, buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "runs/x/student#0.ckpt.pfm");
    cr_assert_eq(pf_run_dir_state_path("runs/x", "source#1", PF_RUN_DIR_CURSOR, buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "runs/x/source#1.cursor");
    char small[sizeof "runs/x/student#0.ckpt.pfm" - 1]; /* one byte short */
    cr_assert_eq(pf_run_dir_state_path("runs/x", "student#0", PF_RUN_DIR_CKPT, small, sizeof small), PF_ERANGE);
    cr_assert_not_null(strstr(pf_error_last(), "student#0"), "%s", pf_error_last());
}
