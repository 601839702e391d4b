/*
 * log.c - the stderr logger behind log.h.
 *
 * Each line is formatted into one buffer and written with a single write(2),
 * so lines from many node processes sharing a terminal or file never
 * interleave mid-line (POSIX keeps writes up to PIPE_BUF atomic on pipes).
 */
#include "runtime/log.h"
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024 /* bytes; longer messages are truncated */

int pf_log_threshold = PF_LOG_INFO;
static char ident[64] = "pseudoflow";

static const char *level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void pf_log_set_ident(const char *id)
{
    snprintf(ident, sizeof ident, "%s", id ? id : "");
}

int pf_log_parse_level(const char *text, int *level)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    return pf_errorf(PF_EINVAL, "log level '%s': expected debug, info, warn or error", text);
}

void pf_log_write(int level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], ident);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w; /* nowhere left to report a failed log write */
}
