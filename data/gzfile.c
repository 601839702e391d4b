/*
 * gzfile.c - exact and growing whole-file reads over zlib's gzFile.
 *
 * gzread() takes an unsigned and returns an int, so large reads are split
 * into chunks of at most 1 GiB. A short read is either the end of the file
 * (reported as truncation, with how many bytes did arrive) or an error that
 * gzerror() describes (a corrupt gzip stream, or errno for Z_ERRNO).
 *
 * pf_gzfile_read_alloc starts with at most 64 MiB and doubles up to `want`
 * only while bytes keep coming: file headers are untrusted, and a claimed
 * size is a promise the file has to keep before we pay for it.
 */
#include "data/gzfile.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

#define READ_CHUNK ((size_t)1 << 30)   /* bytes per gzread call; fits its int return */
#define FIRST_ALLOC ((size_t)64 << 20) /* first buffer for a large read: 64 MiB */
#define IO_BUFFER (128u * 1024u)       /* zlib's buffer: 128 KiB keeps big reads fast */

int pf_gzfile_open(const char *path, gzFile *out)
{
    *out = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return pf_errorf(PF_EIO, "'%s': cannot open: %s", path,
                         errno ? strerror(errno) : "out of memory");
    gzbuffer(f, IO_BUFFER);
    *out = f;
    return 0;
}

/* The error behind a short read, or NULL at a clean end of file. */
static const char *read_error(gzFile f)
{
    int errnum = 0;
    const char *msg = gzerror(f, &errnum);
    if (errnum == Z_OK || errnum == Z_BUF_ERROR) return NULL; /* BUF_ERROR: gzip ended early */
    if (errnum == Z_ERRNO) return strerror(errno);
    return msg;
}

int pf_gzfile_read_some(gzFile f, const char *path, void *dst, size_t want, size_t *got)
{
    uint8_t *p = dst;
    size_t done = 0;
    *got = 0;
    while (done < want) {
        size_t ask = want - done < READ_CHUNK ? want - done : READ_CHUNK;
        int n = gzread(f, p + done, (unsigned)ask);
        if (n < 0) {
            const char *e = read_error(f);
            return pf_errorf(PF_EIO, "'%s': read error: %s", path, e ? e : "unknown");
        }
        if (n == 0) break;
        done += (size_t)n;
    }
    *got = done;
    if (done < want) {
        const char *e = read_error(f);
        if (e) return pf_errorf(PF_EIO, "'%s': read error: %s", path, e);
    }
    return 0;
}

int pf_gzfile_read_exact(gzFile f, const char *path, void *dst, size_t want, const char *what)
{
    size_t got = 0;
    int rc = pf_gzfile_read_some(f, path, dst, want, &got);
    if (rc < 0) return rc;
    if (got < want)
        return pf_errorf(PF_EIO, "'%s': truncated: expected %zu bytes of %s, got %zu", path, want,
                         what, got);
    return 0;
}

int pf_gzfile_read_alloc(gzFile f, const char *path, size_t want, const char *what, void **out)
{
    *out = NULL;
    size_t cap = want < FIRST_ALLOC ? want : FIRST_ALLOC, have = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return pf_errorf(PF_ENOMEM, "'%s': out of memory for %zu bytes", path, cap);
    for (;;) {
        size_t got = 0;
        int rc = pf_gzfile_read_some(f, path, buf + have, cap - have, &got);
        if (rc < 0) {
            free(buf);
            return rc;
        }
        have += got;
        if (have < cap) { /* end of file before the promised size */
            free(buf);
            return pf_errorf(PF_EIO, "'%s': truncated: expected %zu bytes of %s, got %zu", path,
                             want, what, have);
        }
        if (have == want) break;
        size_t next = cap > want / 2 ? want : cap * 2;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            free(buf);
            return pf_errorf(PF_ENOMEM, "'%s': out of memory for %zu bytes of %s", path, next,
                             what);
        }
        buf = grown;
        cap = next;
    }
    *out = buf;
    return 0;
}
