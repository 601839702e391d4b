/*
 * log.h - one line per event on stderr: time, level, node#instance, message.
 *
 *     2026-11-27T11:20:03.512Z INFO  teacher#1 loaded model v3 (10 classes)
 *
 * The level is checked before the message is formatted, so a disabled
 * PF_DEBUG() costs one comparison. Counters and rates are metrics, not logs.
 */
#ifndef PF_LOG_H
#define PF_LOG_H

enum pf_log_level { PF_LOG_DEBUG = 0, PF_LOG_INFO = 1, PF_LOG_WARN = 2, PF_LOG_ERROR = 3 };

extern int pf_log_threshold; /* lines below this level are skipped; default PF_LOG_INFO */

/* Set the identity printed on every line ("teacher#1"); copied. */
void pf_log_set_ident(const char *ident);

/* Parse "debug|info|warn|error"; returns 0 or PF_EINVAL. */
int pf_log_parse_level(const char *text, int *level);

void pf_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define PF_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= pf_log_threshold) pf_log_write((level), __VA_ARGS__);                       \
    } while (0)
#define PF_DEBUG(...) PF_LOG(PF_LOG_DEBUG, __VA_ARGS__)
#define PF_INFO(...) PF_LOG(PF_LOG_INFO, __VA_ARGS__)
#define PF_WARN(...) PF_LOG(PF_LOG_WARN, __VA_ARGS__)
#define PF_ERROR(...) PF_LOG(PF_LOG_ERROR, __VA_ARGS__)

#endif
