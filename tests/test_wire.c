/* Tests for runtime/wire.c: header frames, round trips, and hostile payloads. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/wire.h"

#define N 4
#define DIM 3
#define CLASSES 3

/* A batch that has been through every stage: every optional array is filled. */
typedef struct sample_batch {
    Pf__Batch b;
    uint64_t ids[N];
    float x[N * DIM];
    int32_t labels[N];
    float probs[N * CLASSES];
    int32_t targets[N];
    float weights[N];
    float soft[N * CLASSES];
    uint32_t flags[N];
    uint64_t origin_ms[N];
} sample_batch;

static void sample_init(sample_batch *s)
{
    memset(s, 0, sizeof *s);
    pf__batch__init(&s->b);
    /* Values chosen to catch lossy encodings: -0, a subnormal, extremes of float. */
    const float xs[N * DIM] = {0.5f,     -0.0f, 1e-40f, FLT_MAX,     -FLT_MAX, FLT_MIN,
                               1.0f / 3, 2.0f,  -7.25f, 123456.789f, 0.1f,     -1e-30f};
    for (int i = 0; i < N; i++) {
        s->ids[i] = 17 + (uint64_t)i * 1000000007ull;
        s->labels[i] = i == 2 ? -1 : i % CLASSES;
        s->targets[i] = i == 1 ? -1 : (i + 1) % CLASSES;
        s->weights[i] = 0.25f * (float)i;
        s->flags[i] = PF_FLAG_ACCEPTED | (i ? PF_FLAG_REPLAY : 0);
        s->origin_ms[i] = 1700000000000ull + (uint64_t)i;
        for (int c = 0; c < CLASSES; c++) {
            s->probs[i * CLASSES + c] = c == 0 ? 0.5f : 0.25f;
            s->soft[i * CLASSES + c] = c == i % CLASSES ? 1.0f : 0.0f;
        }
    }
    memcpy(s->x, xs, sizeof xs);
    s->b.n_ids = N, s->b.ids = s->ids;
    s->b.dim = DIM;
    s->b.n_x = N * DIM, s->b.x = s->x;
    s->b.n_labels = N, s->b.labels = s->labels;
    s->b.classes = CLASSES;
    s->b.n_probs = N * CLASSES, s->b.probs = s->probs;
    s->b.n_targets = N, s->b.targets = s->targets;
    s->b.n_weights = N, s->b.weights = s->weights;
    s->b.n_soft = N * CLASSES, s->b.soft = s->soft;
    s->b.teacher_version = 42;
    s->b.n_flags = N, s->b.flags = s->flags;
    s->b.policy = "flexmatch";
    s->b.n_origin_ms = N, s->b.origin_ms = s->origin_ms;
}

static pf_wire_header header_for(pf_msg_type type)
{
    return (pf_wire_header){
        .magic = PF_WIRE_MAGIC, .version = PF_WIRE_VERSION, .type = type, .sender = 3, .seq = 99};
}

static const pf_wire_limits limits = {.max_bytes = 0, .dim = DIM, .classes = CLASSES};

/* Encodes a Pf__* message and decodes it back under `lim`; returns decode's code. */
static int round_trip(pf_msg_type type, const void *msg, const pf_wire_limits *lim, pf_msg *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(pf_wire_encode(type, msg, &buf, &len), 0, "%s", pf_error_last());
    pf_wire_header h = header_for(type);
    int rc = pf_wire_decode(&h, buf, len, lim, out);
    free(buf);
    return rc;
}

/* Encodes a batch and expects decoding to fail with a reason containing `want`. */
static void expect_batch_rejected(const Pf__Batch *b, const pf_wire_limits *lim, const char *want)
{
    pf_msg m;
    int rc = round_trip(PF_MSG_BATCH, b, lim, &m);
    cr_assert_eq(rc, PF_EPROTO, "accepted; wanted rejection '%s'", want);
    cr_assert_null(m.u.any);
    cr_assert(strstr(pf_error_last(), want), "reason '%s' lacks '%s'", pf_error_last(), want);
}

#define ASSERT_SAME_ARRAY(a, na, b, nb)                                                            \
    do {                                                                                           \
        cr_assert_eq((na), (nb));                                                                  \
        cr_assert((na) == 0 || memcmp((a), (b), (na) * sizeof *(a)) == 0, #a " differs");          \
    } while (0)

Test(wire, header_round_trips_every_field_in_little_endian)
{
    pf_wire_header h = {.magic = PF_WIRE_MAGIC,
                        .version = PF_WIRE_VERSION,
                        .type = PF_MSG_MODEL,
                        .sender = 0x01020304u,
                        .reserved = 0,
                        .seq = 0x1122334455667788ull};
    uint8_t buf[PF_WIRE_HEADER_SIZE];
    pf_wire_header_encode(&h, buf);
    const uint8_t want[PF_WIRE_HEADER_SIZE] = {'P',  'F',  'W',  '1',  PF_WIRE_VERSION, 0,    3,    0,
                                               4,    3,    2,    1,    0,    0,    0,    0,
                                               0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    cr_assert_arr_eq(buf, want, sizeof want);
    pf_wire_header g;
    cr_assert_eq(pf_wire_header_decode(buf, sizeof buf, &g), 0);
    cr_assert_eq(g.magic, h.magic);
    cr_assert_eq(g.version, h.version);
    cr_assert_eq(g.type, h.type);
    cr_assert_eq(g.sender, h.sender);
    cr_assert_eq(g.seq, h.seq);
}

Test(wire, header_with_wrong_magic_version_or_size_is_rejected)
{
    pf_wire_header h = header_for(PF_MSG_BATCH), g;
    uint8_t buf[PF_WIRE_HEADER_SIZE + 1] = {0};
    pf_wire_header_encode(&h, buf);
    cr_assert_eq(pf_wire_header_decode(buf, PF_WIRE_HEADER_SIZE - 1, &g), PF_EPROTO);
    cr_assert_eq(pf_wire_header_decode(buf, PF_WIRE_HEADER_SIZE + 1, &g), PF_EPROTO);
    cr_assert_eq(pf_wire_header_decode(buf, 0, &g), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "0 bytes"));

    buf[0] ^= 0xff;
    cr_assert_eq(pf_wire_header_decode(buf, PF_WIRE_HEADER_SIZE, &g), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "magic"));
    buf[0] ^= 0xff;

    buf[4] = PF_WIRE_VERSION + 1;
    cr_assert_eq(pf_wire_header_decode(buf, PF_WIRE_HEADER_SIZE, &g), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "version"));
}

Test(wire, batch_round_trips_bit_exact)
{
    sample_batch s;
    sample_init(&s);
    pf_msg m;
    cr_assert_eq(round_trip(PF_MSG_BATCH, &s.b, &limits, &m), 0, "%s", pf_error_last());
    cr_assert_eq(m.type, PF_MSG_BATCH);
    cr_assert_eq(m.sender, 3);
    cr_assert_eq(m.seq, 99);
    const Pf__Batch *b = m.u.batch;
    ASSERT_SAME_ARRAY(b->ids, b->n_ids, s.ids, (size_t)N);
    ASSERT_SAME_ARRAY(b->x, b->n_x, s.x, (size_t)N * DIM);
    ASSERT_SAME_ARRAY(b->labels, b->n_labels, s.labels, (size_t)N);
    ASSERT_SAME_ARRAY(b->probs, b->n_probs, s.probs, (size_t)N * CLASSES);
    ASSERT_SAME_ARRAY(b->targets, b->n_targets, s.targets, (size_t)N);
    ASSERT_SAME_ARRAY(b->weights, b->n_weights, s.weights, (size_t)N);
    ASSERT_SAME_ARRAY(b->soft, b->n_soft, s.soft, (size_t)N * CLASSES);
    ASSERT_SAME_ARRAY(b->flags, b->n_flags, s.flags, (size_t)N);
    ASSERT_SAME_ARRAY(b->origin_ms, b->n_origin_ms, s.origin_ms, (size_t)N);
    cr_assert_eq(b->dim, DIM);
    cr_assert_eq(b->classes, CLASSES);
    cr_assert_eq(b->teacher_version, 42);
    cr_assert_str_eq(b->policy, "flexmatch");
    pf_wire_msg_free(&m);
    cr_assert_null(m.u.any);
}

Test(wire, pack_into_own_buffer_matches_encode)
{
    sample_batch s;
    sample_init(&s);
    size_t size = pf_wire_encoded_size(PF_MSG_BATCH, &s.b);
    uint8_t *own = malloc(size), *buf = NULL;
    size_t len = 0;
    cr_assert_eq(pf_wire_pack(PF_MSG_BATCH, &s.b, own), size);
    cr_assert_eq(pf_wire_encode(PF_MSG_BATCH, &s.b, &buf, &len), 0);
    cr_assert_eq(len, size);
    cr_assert_arr_eq(own, buf, len);
    free(own);
    free(buf);
}

Test(wire, encode_refuses_a_message_of_another_type)
{
    Pf__Eos eos = PF__EOS__INIT;
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(pf_wire_encode(PF_MSG_BATCH, &eos, &buf, &len), PF_EINVAL);
    cr_assert_eq(pf_wire_encode((pf_msg_type)77, &eos, &buf, &len), PF_EINVAL);
    cr_assert_null(buf);
    cr_assert_eq(pf_wire_encoded_size(PF_MSG_MODEL, &eos), 0);
}

Test(wire, eos_and_heartbeat_round_trip)
{
    Pf__Eos eos = PF__EOS__INIT;
    eos.batches = 12345678901ull;
    eos.samples = UINT64_MAX;
    pf_msg m;
    cr_assert_eq(round_trip(PF_MSG_EOS, &eos, NULL, &m), 0);
    cr_assert_eq(m.u.eos->batches, eos.batches);
    cr_assert_eq(m.u.eos->samples, eos.samples);
    pf_wire_msg_free(&m);

    Pf__Heartbeat hb = PF__HEARTBEAT__INIT; /* all defaults: a 0-byte payload */
    cr_assert_eq(round_trip(PF_MSG_HEARTBEAT, &hb, NULL, &m), 0);
    cr_assert_eq(m.u.heartbeat->now_ms, 0);
    pf_wire_msg_free(&m);
    hb.now_ms = 1700000000123ull;
    cr_assert_eq(round_trip(PF_MSG_HEARTBEAT, &hb, NULL, &m), 0);
    cr_assert_eq(m.u.heartbeat->now_ms, hb.now_ms);
    pf_wire_msg_free(&m);
}

/* A 3-4-2 MLP: params = 4*3 + 4 + 2*4 + 2 = 26 floats. */
typedef struct sample_model {
    Pf__Model m;
    uint32_t sizes[3];
    float params[26];
    float mean[3], scale[3];
} sample_model;

static void model_init(sample_model *s)
{
    pf__model__init(&s->m);
    s->sizes[0] = 3, s->sizes[1] = 4, s->sizes[2] = 2;
    for (int i = 0; i < 26; i++)
        s->params[i] = (float)i / 7 - 1.5f;
    for (int i = 0; i < 3; i++)
        s->mean[i] = (float)i * 0.5f, s->scale[i] = 1.0f / (float)(i + 1);
    s->m.version = 7;
    s->m.n_sizes = 3, s->m.sizes = s->sizes;
    s->m.n_params = 26, s->m.params = s->params;
    s->m.temperature = 1.25f;
    s->m.steps = 1000, s->m.samples_seen = 64000;
    s->m.n_in_mean = 3, s->m.in_mean = s->mean;
    s->m.n_in_scale = 3, s->m.in_scale = s->scale;
    s->m.preq_seen = 500, s->m.preq_correct = 400;
}

Test(wire, model_round_trips_bit_exact)
{
    sample_model s;
    model_init(&s);
    pf_msg m;
    pf_wire_limits lim = {.dim = 3, .classes = 2};
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, &lim, &m), 0, "%s", pf_error_last());
    const Pf__Model *g = m.u.model;
    ASSERT_SAME_ARRAY(g->sizes, g->n_sizes, s.sizes, (size_t)3);
    ASSERT_SAME_ARRAY(g->params, g->n_params, s.params, (size_t)26);
    ASSERT_SAME_ARRAY(g->in_mean, g->n_in_mean, s.mean, (size_t)3);
    ASSERT_SAME_ARRAY(g->in_scale, g->n_in_scale, s.scale, (size_t)3);
    cr_assert_eq(g->temperature, 1.25f);
    cr_assert_eq(g->version, 7);
    cr_assert_eq(g->steps, 1000);
    cr_assert_eq(g->samples_seen, 64000);
    cr_assert_eq(g->preq_seen, 500);
    cr_assert_eq(g->preq_correct, 400);
    pf_wire_msg_free(&m);
}

Test(wire, malformed_models_are_rejected_with_a_reason)
{
    sample_model s;
    pf_msg m;
    model_init(&s);
    s.m.n_params = 25;
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "params has 25 floats"), "%s", pf_error_last());

    model_init(&s);
    s.m.n_sizes = 1, s.m.n_params = 0;
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "at least 2"), "%s", pf_error_last());

    model_init(&s);
    s.sizes[1] = 0;
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "sizes[1] is 0"), "%s", pf_error_last());

    model_init(&s);
    s.m.temperature = 0;
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "temperature"), "%s", pf_error_last());

    model_init(&s);
    s.params[20] = NAN;
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "params[20] is NaN"), "%s", pf_error_last());

    model_init(&s);
    s.m.n_in_scale = 2;
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "in_scale has 2"), "%s", pf_error_last());

    model_init(&s);
    pf_wire_limits lim = {.dim = 5};
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, &lim, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "expected dim 5"), "%s", pf_error_last());

    /* Widths whose products would overflow a naive 32-bit sum. */
    model_init(&s);
    s.sizes[0] = 1u << 20, s.sizes[1] = 1u << 20, s.sizes[2] = 1u << 20;
    s.m.n_in_mean = 0, s.m.n_in_scale = 0;
    cr_assert_eq(round_trip(PF_MSG_MODEL, &s.m, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "params has 26 floats"), "%s", pf_error_last());
}

Test(wire, stats_round_trip_and_mismatched_lengths_are_rejected)
{
    char *names[2] = {"batches_in", "queue_depth"};
    double values[2] = {12.0, 0.5};
    Pf__Stats st = PF__STATS__INIT;
    st.node = "teacher#1";
    st.uptime_ms = 5000;
    st.n_names = 2, st.names = names;
    st.n_values = 2, st.values = values;
    pf_msg m;
    cr_assert_eq(round_trip(PF_MSG_STATS, &st, NULL, &m), 0, "%s", pf_error_last());
    cr_assert_str_eq(m.u.stats->node, "teacher#1");
    cr_assert_str_eq(m.u.stats->names[1], "queue_depth");
    cr_assert_eq(m.u.stats->values[1], 0.5);
    pf_wire_msg_free(&m);

    st.n_values = 1;
    cr_assert_eq(round_trip(PF_MSG_STATS, &st, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "2 names but 1 values"), "%s", pf_error_last());

    st.n_values = 2;
    values[1] = INFINITY;
    cr_assert_eq(round_trip(PF_MSG_STATS, &st, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "values[1] ('queue_depth') is +Inf"), "%s", pf_error_last());
}

Test(wire, truncated_batch_never_crashes_and_any_prefix_accepted_is_valid)
{
    sample_batch s;
    sample_init(&s);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(pf_wire_encode(PF_MSG_BATCH, &s.b, &buf, &len), 0);
    pf_wire_header h = header_for(PF_MSG_BATCH);
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++) {
        /* A fresh exact-size copy, so a read past the cut is caught by ASan. */
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, buf, cut);
        pf_msg m;
        int rc = pf_wire_decode(&h, part, cut, &limits, &m);
        if (rc == 0) {
            accepted++;
            cr_assert_eq(pf_wire_check_batch(m.u.batch, &limits), 0, "cut %zu: %s", cut,
                         pf_error_last());
            cr_assert_leq(m.u.batch->n_ids, (size_t)N);
            pf_wire_msg_free(&m);
        } else {
            cr_assert_eq(rc, PF_EPROTO);
            cr_assert_null(m.u.any);
        }
        free(part);
    }
    cr_assert_gt(accepted, 0, "the empty prefix is a valid empty batch");
    free(buf);
}

Test(wire, random_byte_flips_never_crash)
{
    sample_batch s;
    sample_init(&s);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(pf_wire_encode(PF_MSG_BATCH, &s.b, &buf, &len), 0);
    uint8_t *work = malloc(len);
    uint64_t rng = 0x9e3779b97f4a7c15ull; /* fixed seed: the same 2000 cases every run */
    int accepted = 0, rejected = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(work, buf, len);
        int flips = 1 + it % 4;
        for (int f = 0; f < flips; f++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
            work[(rng >> 8) % len] ^= (uint8_t)(1u << (rng & 7));
        }
        pf_wire_header h = header_for(it % 3 == 0 ? PF_MSG_MODEL : PF_MSG_BATCH);
        pf_msg m;
        int rc = pf_wire_decode(&h, work, len, &limits, &m);
        if (rc == 0) {
            accepted++;
            if (m.type == PF_MSG_BATCH) cr_assert_eq(pf_wire_check_batch(m.u.batch, &limits), 0);
            pf_wire_msg_free(&m);
        } else {
            rejected++;
            cr_assert_eq(rc, PF_EPROTO);
        }
    }
    cr_assert_eq(accepted + rejected, 2000);
    cr_assert_gt(rejected, 0);
    free(work);
    free(buf);
}

Test(wire, oversized_frame_is_rejected_before_decoding)
{
    /* The claimed length far exceeds the 1-byte buffer: touching it would be caught by ASan. */
    static const uint8_t one[1] = {0};
    pf_wire_header h = header_for(PF_MSG_BATCH);
    pf_msg m;
    cr_assert_eq(pf_wire_decode(&h, one, PF_WIRE_MAX_BYTES + 1, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "exceeds the limit"), "%s", pf_error_last());

    sample_batch s;
    sample_init(&s);
    pf_wire_limits small = limits;
    small.max_bytes = 16;
    expect_batch_rejected(&s.b, &small, "exceeds the limit of 16");
}

Test(wire, unknown_type_and_garbage_payload_are_rejected)
{
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2};
    pf_wire_header h = header_for((pf_msg_type)9);
    pf_msg m;
    cr_assert_eq(pf_wire_decode(&h, garbage, sizeof garbage, NULL, &m), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "unknown message type 9"), "%s", pf_error_last());
    h.type = 0;
    cr_assert_eq(pf_wire_decode(&h, garbage, sizeof garbage, NULL, &m), PF_EPROTO);

    h.type = PF_MSG_BATCH;
    cr_assert_eq(pf_wire_decode(&h, garbage, sizeof garbage, NULL, &m), PF_EPROTO);
    cr_assert_str_eq(pf_error_last(),
                     "batch: protobuf unpack failed (truncated or corrupt, 8 bytes)");
    cr_assert_null(m.u.any);
}

Test(wire, nan_and_inf_are_rejected_naming_field_index_and_sample)
{
    sample_batch s;
    sample_init(&s);
    s.x[7] = NAN; /* row 2 of dim 3 */
    expect_batch_rejected(&s.b, &limits, "batch: x[7] is NaN (sample id 2000000031)");

    sample_init(&s);
    s.probs[4] = INFINITY;
    expect_batch_rejected(&s.b, &limits, "batch: probs[4] is +Inf (sample id 1000000024)");

    sample_init(&s);
    s.weights[3] = -INFINITY;
    expect_batch_rejected(&s.b, &limits, "batch: weights[3] is -Inf (sample id 3000000038)");

    sample_init(&s);
    s.soft[0] = NAN;
    expect_batch_rejected(&s.b, &limits, "batch: soft[0] is NaN (sample id 17)");
}

Test(wire, out_of_range_values_are_rejected)
{
    sample_batch s;
    sample_init(&s);
    s.probs[2] = 1.5f;
    expect_batch_rejected(&s.b, &limits, "probs[2] is 1.5, outside [");

    sample_init(&s);
    s.weights[1] = -0.5f;
    expect_batch_rejected(&s.b, &limits, "weights[1] is -0.5, must be >= 0");

    sample_init(&s);
    s.labels[1] = CLASSES;
    expect_batch_rejected(&s.b, &limits, "labels[1] is 3, outside [-1, 3)");

    sample_init(&s);
    s.labels[0] = -2;
    expect_batch_rejected(&s.b, &limits, "labels[0] is -2");

    sample_init(&s);
    s.targets[3] = 100;
    expect_batch_rejected(&s.b, &limits, "targets[3] is 100");

    sample_init(&s);
    s.ids[2] = 0;
    expect_batch_rejected(&s.b, &limits, "ids[2] is 0");
}

Test(wire, shapes_that_disagree_with_n_dim_or_classes_are_rejected)
{
    sample_batch s;
    sample_init(&s);
    pf_wire_limits other = {.dim = 784, .classes = CLASSES};
    expect_batch_rejected(&s.b, &other, "batch: dim is 3, expected 784");

    other = (pf_wire_limits){.dim = DIM, .classes = 10};
    expect_batch_rejected(&s.b, &other, "batch: classes is 3, expected 10");

    sample_init(&s);
    s.b.n_x = N * DIM - 1;
    expect_batch_rejected(&s.b, &limits, "batch: x has 11 floats, expected 12 (n=4, dim=3)");

    sample_init(&s);
    s.b.n_labels = N - 1;
    expect_batch_rejected(&s.b, &limits, "labels has 3 entries, expected 0 or 4");

    sample_init(&s);
    s.b.n_probs = N;
    expect_batch_rejected(&s.b, &limits, "probs has 4 entries, expected 0 or 12");

    sample_init(&s);
    s.b.n_origin_ms = 1;
    expect_batch_rejected(&s.b, &limits, "origin_ms has 1 entries");

    sample_init(&s);
    s.b.classes = 0;
    expect_batch_rejected(&s.b, NULL, "probs present but classes is 0");
}

Test(wire, batches_without_optional_arrays_are_valid)
{
    Pf__Batch b = PF__BATCH__INIT;
    uint64_t ids[2] = {5, 6};
    float x[2 * DIM] = {0};
    b.n_ids = 2, b.ids = ids, b.dim = DIM, b.n_x = 2 * DIM, b.x = x;
    pf_msg m;
    cr_assert_eq(round_trip(PF_MSG_BATCH, &b, &limits, &m), 0, "%s", pf_error_last());
    cr_assert_eq(m.u.batch->n_labels, 0);
    pf_wire_msg_free(&m);
}

Test(wire, n_times_dim_overflow_is_rejected_without_reading_arrays)
{
    /* A locally built batch whose lengths lie; the check must fail on shape alone. */
    uint64_t id = 1;
    float x = 0;
    Pf__Batch b = PF__BATCH__INIT;
    b.n_ids = SIZE_MAX / 2, b.ids = &id;
    b.dim = 1u << 20;
    b.n_x = 1, b.x = &x;
    cr_assert_eq(pf_wire_check_batch(&b, NULL), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "n*dim overflows"), "%s", pf_error_last());

    b.n_x = 0, b.x = NULL;
    b.classes = 1u << 20;
    cr_assert_eq(pf_wire_check_batch(&b, NULL), PF_EPROTO);
    cr_assert(strstr(pf_error_last(), "n*classes overflows"), "%s", pf_error_last());
}

Test(wire, free_is_null_safe_and_type_names_are_stable)
{
    pf_msg m = {0};
    pf_wire_msg_free(&m);
    pf_wire_msg_free(NULL);
    cr_assert_str_eq(pf_wire_type_name(PF_MSG_BATCH), "batch");
    cr_assert_str_eq(pf_wire_type_name(PF_MSG_HEARTBEAT), "heartbeat");
    cr_assert_str_eq(pf_wire_type_name(0), "unknown");
    cr_assert_str_eq(pf_wire_type_name(-3), "unknown");
    cr_assert_str_eq(pf_wire_type_name(6), "unknown");
}
