/*
 * mlp_snapshot.c - the snapshot half of pf_mlp (declared in mlp.h): to and
 * from the protobuf Model message, and to and from files.
 *
 * Bit-exactness: parameters travel as packed IEEE-754 floats (protobuf's
 * `repeated float` is little-endian fixed32), never through text or
 * double, so a loaded model's parameters memcmp equal to the saved ones.
 *
 * File format (all integers little-endian):
 *     offset 0   4 bytes  magic "PFMD"
 *     offset 4   u32      format version, 1
 *     offset 8   u64      payload length in bytes
 *     offset 16  u32      CRC-32 (IEEE) of the payload
 *     offset 20  payload  the packed Pf__Model
 * The length detects truncation, the CRC detects a torn or flipped file
 * (protobuf alone would happily decode many corrupted float arrays).
 * Files are written to a temp name, fsynced, and renamed, so a reader (or
 * a crash) sees the old snapshot or the new one, never half of one.
 *
 * Everything read is untrusted: sizes are validated before anything is
 * allocated from them. This file uses only mlp.h's public API.
 */
#include "models/mlp.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"

#define SNAP_MAGIC "PFMD"
#define SNAP_FORMAT 1u
#define SNAP_HEADER 20              /* bytes: magic 4 + format 4 + length 8 + crc 4 */
#define SNAP_MAX_BYTES (1ull << 32) /* 4 GiB: 1 G float parameters, far above any MLP here */

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    /* Bitwise reflected CRC-32 (polynomial 0xEDB88320), as in zlib; ~10 ms
     * per MB, negligible next to writing the file. */
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- proto -------------------------------------------------------------- */

void pf_mlp_to_proto(const pf_mlp *m, Pf__Model *out)
{
    size_t nsizes;
    const uint32_t *sizes = pf_mlp_sizes(m, &nsizes);
    pf_mlp_counters c = pf_mlp_get_counters(m);
    /* Borrowed views: protobuf-c's fields are not const, the caller promises
     * (mlp.h) not to write through them. */
    out->n_sizes = nsizes;
    out->sizes = (uint32_t *)sizes;
    out->n_params = pf_mlp_nparams(m);
    out->params = pf_mlp_params((pf_mlp *)m);
    const float *mean = pf_mlp_in_mean(m), *scale = pf_mlp_in_scale(m);
    out->n_in_mean = mean ? pf_mlp_input_dim(m) : 0;
    out->in_mean = (float *)mean;
    out->n_in_scale = scale ? pf_mlp_input_dim(m) : 0;
    out->in_scale = (float *)scale;
    out->temperature = pf_mlp_temperature(m);
    out->version = c.version;
    out->steps = c.steps;
    out->samples_seen = c.samples_seen;
    out->preq_seen = c.preq_seen;
    out->preq_correct = c.preq_correct;
    out->fit_rows = c.fit_rows;
    out->norm = (uint32_t)pf_mlp_layer_norm(m);
    out->input_power = pf_mlp_input_power(m);
}

static int check_proto(const Pf__Model *msg)
{
    if (msg->n_sizes < 2 || msg->n_sizes > PF_MLP_MAX_SIZES)
        return pf_errorf(PF_EPROTO, "model snapshot: %zu layer widths, need 2..%d", msg->n_sizes,
                         PF_MLP_MAX_SIZES);
    size_t expect = 0;
    for (size_t i = 0; i < msg->n_sizes; i++) {
        uint32_t w = msg->sizes[i];
        if (w < 1 || w > PF_MLP_MAX_WIDTH)
            return pf_errorf(PF_EPROTO, "model snapshot: width[%zu] = %u outside [1, %u]", i, w,
                             PF_MLP_MAX_WIDTH);
        if (i > 0) expect += (size_t)w * ((size_t)msg->sizes[i - 1] + 1);
    }
    if (msg->sizes[msg->n_sizes - 1] < 2)
        return pf_errorf(PF_EPROTO, "model snapshot: %u classes", msg->sizes[msg->n_sizes - 1]);
    if (msg->n_params != expect)
        return pf_errorf(PF_EPROTO, "model snapshot: %zu params, widths imply %zu", msg->n_params,
                         expect);
    for (size_t k = 0; k < msg->n_params; k++)
        if (!isfinite(msg->params[k]))
            return pf_errorf(PF_EPROTO, "model snapshot: param %zu not finite", k);
    size_t d = msg->sizes[0];
    if (msg->n_in_mean != msg->n_in_scale || (msg->n_in_mean != 0 && msg->n_in_mean != d))
        return pf_errorf(PF_EPROTO, "model snapshot: standardization %zu/%zu values, input %zu",
                         msg->n_in_mean, msg->n_in_scale, d);
    for (size_t j = 0; j < msg->n_in_mean; j++)
        if (!isfinite(msg->in_mean[j]) || !isfinite(msg->in_scale[j]))
            return pf_errorf(PF_EPROTO, "model snapshot: standardization %zu not finite", j);
    if (msg->norm > 1) return pf_errorf(PF_EPROTO, "model snapshot: norm %u, expected 0 or 1", msg->norm);
    if (msg->input_power != 0.0f && !(msg->input_power > 0.0f && isfinite(msg->input_power)))
        return pf_errorf(PF_EPROTO, "model snapshot: input power %g", (double)msg->input_power);
    if (msg->temperature != 0.0f && !(msg->temperature > 0.0f && isfinite(msg->temperature)))
        return pf_errorf(PF_EPROTO, "model snapshot: temperature %g", (double)msg->temperature);
    return 0;
}

int pf_mlp_from_proto(const Pf__Model *msg, pf_mlp **out)
{
    *out = NULL;
    int rc = check_proto(msg);
    if (rc < 0) return rc;
    pf_mlp *m = NULL;
    rc = pf_mlp_new(msg->sizes, msg->n_sizes, 0, &m);
    if (rc < 0) return rc;
    memcpy(pf_mlp_params(m), msg->params, msg->n_params * sizeof(float));
    pf_mlp_set_layer_norm(m, (int)msg->norm);
    /* Unset (0, older files): features as stored. */
    pf_mlp_set_input_power(m, msg->input_power != 0.0f ? msg->input_power : 1.0f);
    if (msg->n_in_mean) {
        rc = pf_mlp_set_standardization(m, msg->in_mean, msg->in_scale);
        if (rc < 0) goto fail;
    }
    /* Proto3 sends an unset float as 0: read it as "no calibration". */
    pf_mlp_set_temperature(m, msg->temperature != 0.0f ? msg->temperature : 1.0f);
    pf_mlp_counters c = {.version = msg->version,
                         .steps = msg->steps,
                         .samples_seen = msg->samples_seen,
                         .preq_seen = msg->preq_seen,
                         .preq_correct = msg->preq_correct,
                         .fit_rows = msg->fit_rows};
    pf_mlp_set_counters(m, &c);
    *out = m;
    return 0;
fail:
    pf_mlp_destroy(&m);
    return rc;
}

/* ---- files -------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void fsync_parent(const char *path)
{
    /* Make the rename itself durable; best effort (some filesystems refuse). */
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

int pf_mlp_save(const pf_mlp *m, const char *path, uint64_t version)
{
    int rc = 0, fd = -1;
    char tmp[4096];
    Pf__Model msg = PF__MODEL__INIT;
    pf_mlp_to_proto(m, &msg);
    msg.version = version;
    size_t len = pf__model__get_packed_size(&msg);
    uint8_t *buf = malloc(SNAP_HEADER + len);
    if (!buf) return pf_errorf(PF_ENOMEM, "model '%s': %zu bytes", path, len);
    pf__model__pack(&msg, buf + SNAP_HEADER);
    memcpy(buf, SNAP_MAGIC, 4);
    put_le(buf + 4, SNAP_FORMAT, 4);
    put_le(buf + 8, len, 8);
    put_le(buf + 16, crc32_ieee(buf + SNAP_HEADER, len), 4);

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        rc = pf_errorf(PF_EINVAL, "model '%s': path too long", path);
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = pf_errorf(PF_EIO, "model '%s': open '%s': %s", path, tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, buf, SNAP_HEADER + len) < 0 || fsync(fd) < 0) {
        rc = pf_errorf(PF_EIO, "model '%s': write '%s': %s", path, tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = pf_errorf(PF_EIO, "model '%s': close '%s': %s", path, tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = pf_errorf(PF_EIO, "model '%s': rename: %s", path, strerror(errno));
        goto out;
    }
    fsync_parent(path);
out:
    if (fd >= 0) close(fd);
    if (rc < 0) unlink(tmp);
    free(buf);
    return rc;
}

int pf_mlp_load(const char *path, pf_mlp **out)
{
    *out = NULL;
    int rc = 0;
    uint8_t *buf = NULL;
    Pf__Model *msg = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pf_errorf(PF_EIO, "model '%s': open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = pf_errorf(PF_EIO, "model '%s': stat: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_size < SNAP_HEADER || (uint64_t)st.st_size > SNAP_MAX_BYTES) {
        rc = pf_errorf(PF_EPROTO, "model '%s': %lld bytes is not a snapshot", path,
                       (long long)st.st_size);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size);
    if (!buf) {
        rc = pf_errorf(PF_ENOMEM, "model '%s': %zu bytes", path, size);
        goto out;
    }
    for (size_t got = 0; got < size;) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = pf_errorf(PF_EIO, "model '%s': read: %s", path, r < 0 ? strerror(errno) : "EOF");
            goto out;
        }
        got += (size_t)r;
    }
    if (memcmp(buf, SNAP_MAGIC, 4) != 0 || get_le(buf + 4, 4) != SNAP_FORMAT) {
        rc = pf_errorf(PF_EPROTO, "model '%s': not a format-%u snapshot", path, SNAP_FORMAT);
        goto out;
    }
    uint64_t len = get_le(buf + 8, 8);
    if (len != size - SNAP_HEADER) {
        rc = pf_errorf(PF_EPROTO, "model '%s': header says %llu payload bytes, file has %zu%s",
                       path, (unsigned long long)len, size - SNAP_HEADER,
                       len > size - SNAP_HEADER ? " (truncated)" : "");
        goto out;
    }
    if (crc32_ieee(buf + SNAP_HEADER, len) != (uint32_t)get_le(buf + 16, 4)) {
        rc = pf_errorf(PF_EPROTO, "model '%s': CRC mismatch (corrupt file)", path);
        goto out;
    }
    msg = pf__model__unpack(NULL, len, buf + SNAP_HEADER);
    if (!msg) {
        rc = pf_errorf(PF_EPROTO, "model '%s': undecodable Model message", path);
        goto out;
    }
    rc = pf_mlp_from_proto(msg, out);
    if (rc < 0) pf_error_wrap(rc, "model '%s': ", path);
out:
    if (msg) pf__model__free_unpacked(msg, NULL);
    free(buf);
    close(fd);
    return rc;
}
