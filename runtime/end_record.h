/*
 * end_record.h - an instance's record of the end-of-stream it received and
 * had answered, so that a restart does not wait for peers that have ended.
 *
 * The supervisor tells a restarted instance which instances it has seen
 * finish, but it knows only the ones it runs. Each instance therefore keeps
 * its own record, <run_dir>/NAME#I.ended, one line per event:
 *
 *     in PORT SENDER      the first end-of-stream from SENDER ("src#0") on input PORT
 *     out PORT RECEIVER   the first answer from RECEIVER to ours on output PORT
 *
 *     pf_end_record_reset(path);                        // a first start
 *     pf_end_record_append(path, "in", "in", "src#0");  // as it happens
 *     pf_end_record_each(path, apply, ctx);             // a restart
 *
 * Appends are single write(2)s of one whole line with O_APPEND; a line cut
 * short (a full disk, a crash mid-write) has no newline and is skipped when
 * read, so a cut-off "filter#12" never reads as "filter#1".
 */
#ifndef PF_END_RECORD_H
#define PF_END_RECORD_H

#include <stddef.h>

/* Longest port or instance name a line may hold: node names are at most
 * PF_NODE_NAME_MAX (graph.h) and port names are short, so "NAME#I" fits. */
#define PF_END_RECORD_NAME_MAX 160

/* The record of instance `instance` ("NAME#I") in run_dir:
 * "<run_dir>/NAME#I.ended" into buf. Returns 0, or PF_ERANGE when it does
 * not fit. */
int pf_end_record_path(const char *run_dir, const char *instance, char *buf, size_t cap);

/* Remove the record (a first start: an earlier run's lines must not count).
 * Returns 0, or PF_EIO with the reason (a missing file is not an error). */
int pf_end_record_reset(const char *path);

/* Append "DIR PORT INSTANCE\n". Returns 0 or PF_EIO with the reason. */
int pf_end_record_append(const char *path, const char *dir, const char *port, const char *instance);

/* Call fn(ctx, dir, port, instance) for every complete line of three
 * names, in order; others are skipped. A missing file has no lines.
 * Returns 0, the first negative value fn returns, or PF_EIO. */
int pf_end_record_each(const char *path, int (*fn)(void *ctx, const char *dir, const char *port, const char *instance),
                       void *ctx);

#endif
