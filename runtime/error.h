/*
 * error.h - one list of error codes and a per-thread "last error" line.
 *
 * Fallible functions return 0 or a negative PF_E* code; the code says what
 * kind of failure it was, and pf_error_last() says which file, node, key or
 * socket it was about, in one line a person can act on:
 *
 *     int rc = pf_store_open(path, &opts, &store);
 *     if (rc < 0) fprintf(stderr, "%s\n", pf_error_last());
 *     // store 'runs/x': lmdb env open: No such file or directory
 *
 * pf_errorf() sets that line and returns its code, so a failure path reads
 * `return pf_errorf(PF_EIO, "store '%s': ...", path);`. Only the layer that
 * handles an error logs it; lower layers only set it.
 */
#ifndef PF_ERROR_H
#define PF_ERROR_H

#include <stddef.h>

/* X-macro: name, value, short description. */
#define PF_ERRORS(X)                                                                               \
    X(PF_OK, 0, "ok")                                                                              \
    X(PF_EINVAL, -1, "invalid argument")                                                           \
    X(PF_ENOMEM, -2, "out of memory")                                                              \
    X(PF_EIO, -3, "input/output error")                                                            \
    X(PF_EPARSE, -4, "parse error")                                                                \
    X(PF_ENOTFOUND, -5, "not found")                                                               \
    X(PF_ERANGE, -6, "value out of range")                                                         \
    X(PF_EPROTO, -7, "malformed message")                                                          \
    X(PF_EZMQ, -8, "zeromq error")                                                             \
    X(PF_ESTORE, -9, "store error")                                                                \
    X(PF_EMISMATCH, -10, "mismatch")                                                               \
    X(PF_EAGAIN, -11, "try again")                                                                 \
    X(PF_ESTATE, -12, "wrong state")                                                               \
    X(PF_ECHILD, -13, "child process failed")                                                      \
    X(PF_EINTR, -14, "interrupted")                                                                \
    X(PF_ECONFIG, -15, "invalid configuration")

enum pf_error {
#define PF_ERR_ENUM(name, value, text) name = value,
    PF_ERRORS(PF_ERR_ENUM)
#undef PF_ERR_ENUM
};

/* Short description of a code ("invalid argument"); never NULL. */
const char *pf_strerror(int code);

/* Set this thread's last error line (printf format) and return `code`. */
int pf_errorf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current last error line with more context ("node 'x': "). Returns `code`. */
int pf_error_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This thread's last error line; valid until the next pf_errorf() on this thread. */
const char *pf_error_last(void);

/* Forget the last error line. */
void pf_error_clear(void);

#endif
