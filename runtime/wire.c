/*
 * wire.c - the header frame and the checked protobuf frame.
 *
 * The header is written and read byte by byte in little-endian order, never
 * by copying the struct, so its layout does not depend on the compiler's
 * padding or the host's byte order; a static_assert ties PF_WIRE_HEADER_SIZE
 * to the sum of the field widths.
 *
 * Messages go through one table from pf_msg_type to the protobuf-c
 * descriptor; the generated pf__batch__pack() and friends are one-line
 * wrappers over the same protobuf_c_message_* calls used here.
 *
 * Decoding treats the bytes as hostile, in this order: the frame size is
 * checked against the limit before protobuf-c allocates anything; then the
 * message is unpacked (NULL allocator = malloc); then every array length is
 * checked against n, dim and classes before any element is read, so a lying
 * length can never make a check read out of bounds; then every value (ids,
 * class indices, floats for NaN/Inf and range). The first failure wins, is
 * described in one line via pf_errorf, and the message is freed here.
 *
 * Deliberately not here: sockets, logging (the caller counts and logs), and
 * any repair of bad data - a frame is accepted whole or rejected whole.
 */
#include "runtime/wire.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/error.h"

/* The header layout: magic u32 | version u16 | type u16 | sender u32 | reserved u32 | seq u64. */
static_assert(PF_WIRE_HEADER_SIZE == 4 + 2 + 2 + 4 + 4 + 8, "wire header layout drifted");

/* Probabilities are softmax outputs in float; allow rounding slightly past [0, 1]. */
#define PROB_TOL 1e-4f
/* Largest layer width a model snapshot may name (1M units): bounds params before summing. */
#define MODEL_MAX_WIDTH (1u << 20)

/* ---- header ------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void pf_wire_header_encode(const pf_wire_header *h, uint8_t out[PF_WIRE_HEADER_SIZE])
{
    put_u32(out + 0, h->magic);
    put_u16(out + 4, h->version);
    put_u16(out + 6, h->type);
    put_u32(out + 8, h->sender);
    put_u32(out + 12, h->reserved);
    put_u64(out + 16, h->seq);
}

int pf_wire_header_decode(const void *buf, size_t len, pf_wire_header *h)
{
    const uint8_t *p = buf;
    if (!p || len != PF_WIRE_HEADER_SIZE)
        return pf_errorf(PF_EPROTO, "wire: header frame has %zu bytes, expected %d", len,
                         PF_WIRE_HEADER_SIZE);
    pf_wire_header t;
    t.magic = get_u32(p + 0);
    t.version = get_u16(p + 4);
    t.type = get_u16(p + 6);
    t.sender = get_u32(p + 8);
    t.reserved = get_u32(p + 12);
    t.seq = get_u64(p + 16);
    if (t.magic != PF_WIRE_MAGIC)
        return pf_errorf(PF_EPROTO, "wire: bad magic 0x%08" PRIx32 ", expected 0x%08x", t.magic,
                         PF_WIRE_MAGIC);
    if (t.version != PF_WIRE_VERSION)
        return pf_errorf(PF_EPROTO, "wire: schema version %u, this build speaks %d",
                         (unsigned)t.version, PF_WIRE_VERSION);
    *h = t;
    return 0;
}

/* ---- message types -------------------------------------------------------- */

static const struct {
    const char *name;
    const ProtobufCMessageDescriptor *desc;
} types[] = {
    [PF_MSG_BATCH] = {"batch", &pf__batch__descriptor},
    [PF_MSG_EOS] = {"eos", &pf__eos__descriptor},
    [PF_MSG_MODEL] = {"model", &pf__model__descriptor},
    [PF_MSG_STATS] = {"stats", &pf__stats__descriptor},
    [PF_MSG_HEARTBEAT] = {"heartbeat", &pf__heartbeat__descriptor},
};
#define N_TYPES (sizeof types / sizeof types[0])

static const ProtobufCMessageDescriptor *type_desc(int type)
{
    if (type <= 0 || (size_t)type >= N_TYPES) return NULL;
    return types[type].desc;
}

const char *pf_wire_type_name(int type)
{
    return type_desc(type) ? types[type].name : "unknown";
}

/* The message as protobuf-c's base type, or NULL when it is not a `type`. */
static const ProtobufCMessage *as_message(pf_msg_type type, const void *msg)
{
    const ProtobufCMessageDescriptor *d = type_desc((int)type);
    const ProtobufCMessage *m = msg;
    if (!d || !m || m->descriptor != d) return NULL;
    return m;
}

size_t pf_wire_encoded_size(pf_msg_type type, const void *msg)
{
    const ProtobufCMessage *m = as_message(type, msg);
    return m ? protobuf_c_message_get_packed_size(m) : 0;
}

size_t pf_wire_pack(pf_msg_type type, const void *msg, uint8_t *buf)
{
    const ProtobufCMessage *m = as_message(type, msg);
    return m ? protobuf_c_message_pack(m, buf) : 0;
}

int pf_wire_encode(pf_msg_type type, const void *msg, uint8_t **buf, size_t *len)
{
    const ProtobufCMessage *m = as_message(type, msg);
    if (!m)
        return pf_errorf(PF_EINVAL, "wire: encode: message is not a %s",
                         pf_wire_type_name((int)type));
    size_t size = protobuf_c_message_get_packed_size(m);
    uint8_t *out = malloc(size ? size : 1); /* an all-default message packs to 0 bytes */
    if (!out)
        return pf_errorf(PF_ENOMEM, "wire: encode %s: out of memory (%zu bytes)",
                         pf_wire_type_name((int)type), size);
    size_t wrote = protobuf_c_message_pack(m, out);
    assert(wrote == size);
    *buf = out;
    *len = wrote;
    return 0;
}

/* ---- validation ----------------------------------------------------------- */

/* "NaN", "+Inf" or "-Inf" for a non-finite float. */
static const char *nonfinite_name(double v)
{
    if (isnan(v)) return "NaN";
    return v > 0 ? "+Inf" : "-Inf";
}

/* Checks every float of a [n, width] array (width 1 for per-sample arrays):
 * finite, and >= lo when check_lo, <= hi when check_hi. Names the field, the
 * index and the sample id of the first bad value. */
static int check_floats(const char *field, const float *v, size_t count, size_t width,
                        const uint64_t *ids, int check_lo, float lo, int check_hi, float hi)
{
    for (size_t i = 0; i < count; i++) {
        float f = v[i];
        /* One comparison per value in the common case: NaN fails both bounds. */
        if (f >= -FLT_MAX && f <= FLT_MAX && (!check_lo || f >= lo) && (!check_hi || f <= hi))
            continue;
        uint64_t id = ids[i / width];
        if (!isfinite(f))
            return pf_errorf(PF_EPROTO, "batch: %s[%zu] is %s (sample id %" PRIu64 ")", field, i,
                             nonfinite_name(f), id);
        if (check_hi)
            return pf_errorf(PF_EPROTO,
                             "batch: %s[%zu] is %g, outside [%g, %g] (sample id %" PRIu64 ")",
                             field, i, (double)f, (double)lo, (double)hi, id);
        return pf_errorf(PF_EPROTO, "batch: %s[%zu] is %g, must be >= %g (sample id %" PRIu64 ")",
                         field, i, (double)f, (double)lo, id);
    }
    return 0;
}

/* Checks class indices: each in [-1, classes), or just >= -1 when classes is unknown (0). */
static int check_classes(const char *field, const int32_t *v, size_t n, uint32_t classes,
                         const uint64_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] < -1 || (classes && v[i] >= 0 && (uint32_t)v[i] >= classes))
            return pf_errorf(PF_EPROTO,
                             "batch: %s[%zu] is %" PRId32 ", outside [-1, %" PRIu32
                             ") (sample id %" PRIu64 ")",
                             field, i, v[i], classes, ids[i]);
    }
    return 0;
}

/* An array must be empty or hold exactly `want` entries. */
static int check_len(const char *field, size_t have, size_t want, const char *shape)
{
    if (have == 0 || have == want) return 0;
    return pf_errorf(PF_EPROTO, "batch: %s has %zu entries, expected 0 or %zu (%s)", field, have,
                     want, shape);
}

int pf_wire_check_batch(const Pf__Batch *b, const pf_wire_limits *lim)
{
    static const pf_wire_limits none = {0};
    if (!lim) lim = &none;
    if (!b) return pf_errorf(PF_EPROTO, "batch: missing");
    size_t n = b->n_ids;
    char shape[96];
    int rc;

    /* Shapes first: nothing below reads an element before its length is known good. */
    if (b->n_x) {
        if (b->dim == 0)
            return pf_errorf(PF_EPROTO, "batch: x has %zu floats but dim is 0", b->n_x);
        if (lim->dim && b->dim != lim->dim)
            return pf_errorf(PF_EPROTO, "batch: dim is %" PRIu32 ", expected %" PRIu32, b->dim,
                             lim->dim);
        if (n > SIZE_MAX / b->dim)
            return pf_errorf(PF_EPROTO, "batch: n*dim overflows (n=%zu, dim=%" PRIu32 ")", n,
                             b->dim);
        if (b->n_x != n * b->dim)
            return pf_errorf(PF_EPROTO,
                             "batch: x has %zu floats, expected %zu (n=%zu, dim=%" PRIu32 ")",
                             b->n_x, n * b->dim, n, b->dim);
    }
    if (b->classes && lim->classes && b->classes != lim->classes)
        return pf_errorf(PF_EPROTO, "batch: classes is %" PRIu32 ", expected %" PRIu32, b->classes,
                         lim->classes);
    if ((b->n_probs || b->n_soft) && b->classes == 0)
        return pf_errorf(PF_EPROTO, "batch: %s present but classes is 0",
                         b->n_probs ? "probs" : "soft");
    size_t nc = 0; /* n*classes */
    if (b->classes) {
        if (n > SIZE_MAX / b->classes)
            return pf_errorf(PF_EPROTO, "batch: n*classes overflows (n=%zu, classes=%" PRIu32 ")",
                             n, b->classes);
        nc = n * b->classes;
    }
    snprintf(shape, sizeof shape, "n=%zu", n);
    if ((rc = check_len("labels", b->n_labels, n, shape)) < 0) return rc;
    if ((rc = check_len("targets", b->n_targets, n, shape)) < 0) return rc;
    if ((rc = check_len("weights", b->n_weights, n, shape)) < 0) return rc;
    if ((rc = check_len("flags", b->n_flags, n, shape)) < 0) return rc;
    if ((rc = check_len("origin_ms", b->n_origin_ms, n, shape)) < 0) return rc;
    snprintf(shape, sizeof shape, "n=%zu, classes=%" PRIu32, n, b->classes);
    if ((rc = check_len("probs", b->n_probs, nc, shape)) < 0) return rc;
    if ((rc = check_len("soft", b->n_soft, nc, shape)) < 0) return rc;

    /* Values. */
    for (size_t i = 0; i < n; i++)
        if (b->ids[i] == 0)
            return pf_errorf(PF_EPROTO, "batch: ids[%zu] is 0 (reserved, never a sample)", i);
    uint32_t classes = lim->classes ? lim->classes : b->classes; /* 0: range unknown */
    if ((rc = check_classes("labels", b->labels, b->n_labels, classes, b->ids)) < 0) return rc;
    if ((rc = check_classes("targets", b->targets, b->n_targets, classes, b->ids)) < 0) return rc;
    if ((rc = check_floats("x", b->x, b->n_x, b->dim ? b->dim : 1, b->ids, 0, 0, 0, 0)) < 0)
        return rc;
    if ((rc = check_floats("probs", b->probs, b->n_probs, b->classes, b->ids, 1, -PROB_TOL, 1,
                           1.0f + PROB_TOL)) < 0)
        return rc;
    if ((rc = check_floats("weights", b->weights, b->n_weights, 1, b->ids, 1, 0, 0, 0)) < 0)
        return rc;
    if ((rc = check_floats("soft", b->soft, b->n_soft, b->classes, b->ids, 1, 0, 0, 0)) < 0)
        return rc;
    return 0;
}

static int check_model(const Pf__Model *m, const pf_wire_limits *lim)
{
    if (m->n_sizes < 2)
        return pf_errorf(PF_EPROTO, "model: %zu layer sizes, need at least 2 (input, classes)",
                         m->n_sizes);
    for (size_t i = 0; i < m->n_sizes; i++)
        if (m->sizes[i] < 1 || m->sizes[i] > MODEL_MAX_WIDTH)
            return pf_errorf(PF_EPROTO, "model: sizes[%zu] is %" PRIu32 ", outside [1, %u]", i,
                             m->sizes[i], MODEL_MAX_WIDTH);
    uint32_t in = m->sizes[0], out = m->sizes[m->n_sizes - 1];
    if (lim && lim->dim && in != lim->dim)
        return pf_errorf(PF_EPROTO, "model: input width %" PRIu32 ", expected dim %" PRIu32, in,
                         lim->dim);
    if (lim && lim->classes && out != lim->classes)
        return pf_errorf(PF_EPROTO, "model: output width %" PRIu32 ", expected %" PRIu32 " classes",
                         out, lim->classes);
    /* Each layer adds out*in + out <= 2^40 + 2^20; stop once past n_params, so no overflow. */
    uint64_t want = 0;
    for (size_t l = 0; l + 1 < m->n_sizes && want <= m->n_params; l++)
        want += (uint64_t)m->sizes[l + 1] * m->sizes[l] + m->sizes[l + 1];
    if (want != m->n_params)
        return pf_errorf(PF_EPROTO, "model: params has %zu floats, layer sizes need %s%" PRIu64,
                         m->n_params, want > m->n_params ? "at least " : "", want);
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            return pf_errorf(PF_EPROTO, "model: params[%zu] is %s", i,
                             nonfinite_name(m->params[i]));
    if (!isfinite(m->temperature) || !(m->temperature > 0))
        return pf_errorf(PF_EPROTO, "model: temperature is %g, must be finite and > 0",
                         (double)m->temperature);
    const char *names[2] = {"in_mean", "in_scale"};
    const size_t counts[2] = {m->n_in_mean, m->n_in_scale};
    const float *arrays[2] = {m->in_mean, m->in_scale};
    for (int a = 0; a < 2; a++) {
        if (counts[a] && counts[a] != in)
            return pf_errorf(PF_EPROTO, "model: %s has %zu floats, expected 0 or %" PRIu32,
                             names[a], counts[a], in);
        for (size_t i = 0; i < counts[a]; i++)
            if (!isfinite(arrays[a][i]))
                return pf_errorf(PF_EPROTO, "model: %s[%zu] is %s", names[a], i,
                                 nonfinite_name(arrays[a][i]));
    }
    return 0;
}

static int check_stats(const Pf__Stats *s)
{
    if (s->n_names != s->n_values)
        return pf_errorf(PF_EPROTO, "stats: %zu names but %zu values", s->n_names, s->n_values);
    for (size_t i = 0; i < s->n_values; i++)
        if (!isfinite(s->values[i]))
            return pf_errorf(PF_EPROTO, "stats: values[%zu] ('%s') is %s", i,
                             s->names[i] ? s->names[i] : "", nonfinite_name(s->values[i]));
    return 0;
}

/* ---- decode --------------------------------------------------------------- */

int pf_wire_decode(const pf_wire_header *h, const void *buf, size_t len, const pf_wire_limits *lim,
                   pf_msg *out)
{
    static const uint8_t empty[1];
    out->type = 0;
    out->sender = 0;
    out->seq = 0;
    out->u.any = NULL;
    if (!h) return pf_errorf(PF_EPROTO, "wire: missing header");
    if (h->magic != PF_WIRE_MAGIC || h->version != PF_WIRE_VERSION)
        return pf_errorf(PF_EPROTO, "wire: header magic 0x%08" PRIx32 " version %u not accepted",
                         h->magic, (unsigned)h->version);
    const ProtobufCMessageDescriptor *d = type_desc(h->type);
    if (!d) return pf_errorf(PF_EPROTO, "wire: unknown message type %u", (unsigned)h->type);
    const char *name = types[h->type].name;
    size_t max = lim && lim->max_bytes ? lim->max_bytes : PF_WIRE_MAX_BYTES;
    if (len > max)
        return pf_errorf(PF_EPROTO, "%s: frame of %zu bytes exceeds the limit of %zu", name, len,
                         max);
    if (!buf && len) return pf_errorf(PF_EPROTO, "%s: missing payload of %zu bytes", name, len);

    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, buf ? buf : empty);
    if (!m)
        return pf_errorf(PF_EPROTO, "%s: protobuf unpack failed (truncated or corrupt, %zu bytes)",
                         name, len);
    int rc = 0;
    switch ((pf_msg_type)h->type) {
    case PF_MSG_BATCH:
        rc = pf_wire_check_batch((const Pf__Batch *)m, lim);
        break;
    case PF_MSG_MODEL:
        rc = check_model((const Pf__Model *)m, lim);
        break;
    case PF_MSG_STATS:
        rc = check_stats((const Pf__Stats *)m);
        break;
    case PF_MSG_EOS:
    case PF_MSG_HEARTBEAT:
        break; /* counters only: every value is valid */
    }
    if (rc < 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    out->type = (pf_msg_type)h->type;
    out->sender = h->sender;
    out->seq = h->seq;
    out->u.any = m;
    return 0;
}

void pf_wire_msg_free(pf_msg *m)
{
    if (!m || !m->u.any) return;
    /* The message carries its own descriptor; it agrees with m->type for anything decoded here. */
    ProtobufCMessage *pm = m->u.any;
    assert(type_desc((int)m->type) == pm->descriptor);
    protobuf_c_message_free_unpacked(pm, NULL);
    m->u.any = NULL;
}
