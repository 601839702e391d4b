/* Tests for runtime/error.c: codes, strings and the last-error line. */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/error.h"

Test(error, every_code_has_its_own_text)
{
    cr_assert_str_eq(pf_strerror(PF_OK), "ok");
    cr_assert_str_eq(pf_strerror(PF_EINVAL), "invalid argument");
    cr_assert_str_eq(pf_strerror(PF_ESTORE), "store error");
    cr_assert_str_eq(pf_strerror(-999), "unknown error");
}

Test(error, errorf_returns_its_code_and_keeps_the_line)
{
    int rc = pf_errorf(PF_EIO, "store '%s': lmdb put '%s': %s", "runs/x", "labels", "MDB_MAP_FULL");
    cr_assert_eq(rc, PF_EIO);
    cr_assert_str_eq(pf_error_last(), "store 'runs/x': lmdb put 'labels': MDB_MAP_FULL");
}

Test(error, wrap_prefixes_context)
{
    pf_errorf(PF_EINVAL, "expected an integer, got 'abc'");
    int rc = pf_error_wrap(PF_EINVAL, "node '%s': ", "teacher");
    cr_assert_eq(rc, PF_EINVAL);
    cr_assert_str_eq(pf_error_last(), "node 'teacher': expected an integer, got 'abc'");
    pf_error_clear();
    cr_assert_str_eq(pf_error_last(), "no error");
}

Test(error, long_lines_are_truncated_not_overflowed)
{
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pf_errorf(PF_EINVAL, "%s", big);
    cr_assert_lt(strlen(pf_error_last()), 512);
}
