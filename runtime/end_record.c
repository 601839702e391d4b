/*
 * end_record.c - see end_record.h.
 */
#include "runtime/end_record.h"
#include "runtime/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A line: "out" + two names + two spaces + newline, with room to spare. */
#define LINE_MAX_BYTES (2 * PF_END_RECORD_NAME_MAX + 16)
/* sscanf widths are literals: one byte past the longest name, so that a
 * longer one is seen whole enough to be refused, not split in two */
#define NAME_FIELD "%161s"
_Static_assert(PF_END_RECORD_NAME_MAX + 1 == 161, "NAME_FIELD must read one byte past PF_END_RECORD_NAME_MAX");

int pf_end_record_path(const char *run_dir, const char *instance, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/%s.ended", run_dir, instance);
    if (n < 0 || (size_t)n >= cap) return pf_errorf(PF_ERANGE, "run_dir '%s' too long for %s's record", run_dir, instance);
    return 0;
}

int pf_end_record_reset(const char *path)
{
    if (unlink(path) == 0 || errno == ENOENT) return 0;
    return pf_errorf(PF_EIO, "cannot remove '%s': %s", path, strerror(errno));
}

int pf_end_record_append(const char *path, const char *dir, const char *port, const char *instance)
{
    char line[LINE_MAX_BYTES];
    int len = snprintf(line, sizeof line, "%s %s %s\n", dir, port, instance);
    if (len < 0 || (size_t)len >= sizeof line)
        return pf_errorf(PF_EIO, "'%s': a record line for '%s' is too long", path, instance);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return pf_errorf(PF_EIO, "cannot open '%s': %s", path, strerror(errno));
    ssize_t w = write(fd, line, (size_t)len);
    int err = errno;
    close(fd);
    if (w != (ssize_t)len)
        return pf_errorf(PF_EIO, "cannot write '%s': %s", path, w < 0 ? strerror(err) : "short write");
    return 0;
}

int pf_end_record_each(const char *path, int (*fn)(void *ctx, const char *dir, const char *port, const char *instance),
                       void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : pf_errorf(PF_EIO, "cannot read '%s': %s", path, strerror(errno));
    char line[LINE_MAX_BYTES];
    int rc = 0;
    while (rc >= 0 && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') { /* cut short, or longer than any line we write */
            if (n == sizeof line - 1) /* skip the rest of an overlong line */
                for (int c; (c = fgetc(f)) != EOF && c != '\n';) {}
            continue;
        }
        char dir[8], port[PF_END_RECORD_NAME_MAX + 2], inst[PF_END_RECORD_NAME_MAX + 2], extra;
        if (sscanf(line, "%7s " NAME_FIELD " " NAME_FIELD " %c", dir, port, inst, &extra) != 3) continue;
        if (strlen(port) > PF_END_RECORD_NAME_MAX || strlen(inst) > PF_END_RECORD_NAME_MAX) continue;
        rc = fn(ctx, dir, port, inst);
    }
    fclose(f);
    return rc < 0 ? rc : 0;
}
