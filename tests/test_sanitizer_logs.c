/*
 * test_sanitizer_logs.c - scripts/sanitizer_logs.sh, which decides whether
 * the sanitizer build's logs fail the test suite: a report fails, an empty
 * log or one holding only LeakSanitizer's register notice does not (in both
 * forms the notice takes, with and without log_exe_name's executable
 * prefix). The logs are made here, in a directory per test (Criterion runs
 * each test in its own process) whose path has a space.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCRIPT PF_SOURCE_DIR "/scripts/sanitizer_logs.sh"

static char dir[256];

static void fresh_dir(void)
{
    char cmd[1024];
    snprintf(dir, sizeof dir, "%s/sanitizer logs %d", PF_TEST_TMP, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.err'", dir, dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(mkdir(dir, 0755), 0);
}

static void remove_dir(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.err'", dir, dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(sanitizer_logs, .init = fresh_dir, .fini = remove_dir);

static void write_log(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* The script's exit status on dir; its stderr goes to dir.err (outside dir). */
static int classify(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s' 2> '%s.err'", SCRIPT, dir, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "status %d", st);
    return WEXITSTATUS(st);
}

/* 1 if the script's stderr holds s. */
static int said(const char *s)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -qF -- '%s' '%s.err'", s, dir);
    return system(cmd) == 0;
}

#define NOTICE_EXE "==pseudoflow==29848==Unable to get registers from thread 29831.\n"
#define NOTICE "==29848==Unable to get registers from thread 29835.\n"
#define LEAK "==test_mlp==4242==ERROR: LeakSanitizer: detected memory leaks\n"

Test(sanitizer_logs, no_logs_pass)
{
    cr_assert_eq(classify(), 0);
}

Test(sanitizer_logs, an_empty_log_passes_and_is_named)
{
    write_log("asan.test_fault.17", "");
    cr_assert_eq(classify(), 0);
    cr_assert(said("empty sanitizer logs"));
    cr_assert(said("asan.test_fault.17"));
}

Test(sanitizer_logs, register_notices_with_and_without_the_executable_prefix_pass_and_are_named)
{
    write_log("asan.pseudoflow.29831", NOTICE_EXE NOTICE_EXE);
    write_log("asan.29835", NOTICE);
    cr_assert_eq(classify(), 0);
    cr_assert(said("LeakSanitizer notices only"));
    cr_assert(said("asan.pseudoflow.29831"));
    cr_assert(said("asan.29835"));
}

Test(sanitizer_logs, a_leak_report_fails_and_is_printed_even_beside_a_notice)
{
    write_log("asan.pseudoflow.29831", NOTICE_EXE);
    write_log("asan.test_mlp.4242", NOTICE_EXE LEAK);
    cr_assert_eq(classify(), 1);
    cr_assert(said("-- asan.test_mlp.4242"));
    cr_assert(said("detected memory leaks"));
}

Test(sanitizer_logs, an_undefined_behaviour_report_fails)
{
    write_log("ubsan.test_wire.7", "wire.c:12:5: runtime error: signed integer overflow\n");
    cr_assert_eq(classify(), 1);
    cr_assert(said("signed integer overflow"));
}

Test(sanitizer_logs, a_notice_line_with_more_on_it_is_a_report)
{
    write_log("asan.x.1", "==1==Unable to get registers from thread 2. ERROR: something else\n");
    cr_assert_eq(classify(), 1);
}

Test(sanitizer_logs, a_missing_directory_is_a_usage_error)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s/nope' 2> /dev/null", SCRIPT, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
}
