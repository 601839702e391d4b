/*
 * gzfile.h - whole-file reads for the data readers, gzip'd or plain alike.
 *
 * zlib's gzopen reads gzip'd and plain files through one interface, so every
 * reader in data/ accepts "x.npy" and "x.npy.gz" without knowing which it has.
 * These helpers add what every reader needs on top: exact-size reads that
 * report truncation in one line naming the file and what was missing, and
 * large reads that grow their buffer as bytes actually arrive, so a header
 * that lies about its size cannot make us allocate terabytes up front.
 *
 *     gzFile f;
 *     if ((rc = pf_gzfile_open(path, &f)) < 0) return rc;
 *     uint8_t magic[4];
 *     rc = pf_gzfile_read_exact(f, path, magic, sizeof magic, "header");
 *     ...
 *     gzclose(f);
 *
 * Internal to data/: the readers' shared plumbing, not a public interface.
 */
#ifndef PF_GZFILE_H
#define PF_GZFILE_H

#include <stddef.h>
#include <zlib.h>

/* Open path for reading (gzip'd or plain). Returns 0 or PF_EIO
 * ("'x.gz': cannot open: No such file or directory"). Caller gzclose()s *out. */
int pf_gzfile_open(const char *path, gzFile *out);

/* Read exactly `want` bytes into dst. Returns 0, or PF_EIO naming `what` on a
 * short read ("'x.gz': truncated: expected 16 bytes of header, got 3") or a
 * gzip error. */
int pf_gzfile_read_exact(gzFile f, const char *path, void *dst, size_t want, const char *what);

/* Read exactly `want` bytes into a new malloc'ed buffer (*out, caller frees;
 * NULL on error). The buffer grows as data arrives, so a `want` larger than
 * the file fails with a truncation error, not a giant allocation. Returns 0,
 * PF_EIO or PF_ENOMEM. */
int pf_gzfile_read_alloc(gzFile f, const char *path, size_t want, const char *what, void **out);

/* Read up to `want` bytes into dst; *got says how many arrived (fewer only at
 * end of file). Returns 0 or PF_EIO on a gzip or I/O error. */
int pf_gzfile_read_some(gzFile f, const char *path, void *dst, size_t want, size_t *got);

#endif
