/*
 * error.c - error code strings and the per-thread last error line.
 *
 * The line lives in a fixed thread-local buffer so that setting an error
 * never allocates (it is used on out-of-memory paths too). Lines longer than
 * the buffer are truncated; 512 bytes holds a path, a node name and a reason.
 */
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERROR_LINE_MAX 512 /* bytes, including the NUL */

static _Thread_local char last_line[ERROR_LINE_MAX];

const char *pf_strerror(int code)
{
    switch (code) {
#define PF_ERR_CASE(name, value, text)                                                             \
    case value:                                                                                    \
        return text;
        PF_ERRORS(PF_ERR_CASE)
#undef PF_ERR_CASE
    }
    return "unknown error";
}

int pf_errorf(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_line, sizeof last_line, fmt, ap);
    va_end(ap);
    return code;
}

int pf_error_wrap(int code, const char *fmt, ...)
{
    char prefix[ERROR_LINE_MAX];
    char old[ERROR_LINE_MAX];
    char joined[2 * ERROR_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_line, sizeof old);
    snprintf(joined, sizeof joined, "%s%s", prefix, old[0] ? old : pf_strerror(code));
    memcpy(last_line, joined, sizeof last_line - 1); /* truncates an over-long line */
    last_line[sizeof last_line - 1] = '\0';
    return code;
}

const char *pf_error_last(void)
{
    return last_line[0] ? last_line : "no error";
}

void pf_error_clear(void)
{
    last_line[0] = '\0';
}
