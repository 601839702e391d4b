/*
 * label_record.c - encode and decode the store's values, byte by byte.
 *
 * The layouts are the structs below, static_assert'ed so they cannot drift;
 * fields are written at their offsetof() one byte at a time in little-endian
 * order rather than by memcpy of the struct, so padding, host byte order and
 * alignment never reach the disk (LMDB hands out values only 2-byte aligned).
 * The one bulk copy is the embedding on little-endian hosts, where disk and
 * host order agree. Decoders check size and version and refuse, never guess.
 */
#include "store/label_record.h"

#include <assert.h>
#include <string.h>

/* samples value: this head, then dim little-endian f32. */
struct sample_disk {
    uint8_t version; /* PF_SAMPLE_RECORD_VERSION */
    uint8_t pad[3];  /* zero */
    uint32_t source;
    uint64_t arrival_ms;
    uint32_t dim; /* repeated so a record can be checked on its own */
    uint32_t reserved;
};
static_assert(sizeof(struct sample_disk) == PF_SAMPLE_RECORD_HEAD, "sample record head drifted");
static_assert(offsetof(struct sample_disk, arrival_ms) == 8, "sample record head drifted");

/* labels value: exactly this. */
struct label_disk {
    uint8_t version;                       /* PF_LABEL_RECORD_VERSION */
    uint8_t k;                             /* valid top-k entries */
    uint8_t pad[2];                        /* zero */
    int32_t label;                         /* offset 4 */
    float confidence;                      /* offset 8 */
    float weight;                          /* offset 12 */
    uint64_t teacher_version;              /* offset 16 */
    uint64_t decided_ms;                   /* offset 24 */
    uint32_t times_decided;                /* offset 32 */
    uint32_t flags;                        /* offset 36 */
    char policy[PF_LABEL_POLICY_MAX];      /* offset 40, NUL-padded */
    int32_t topk_class[PF_LABEL_TOPK_MAX]; /* offset 56 */
    float topk_prob[PF_LABEL_TOPK_MAX];    /* offset 76 */
};
static_assert(sizeof(struct label_disk) == PF_LABEL_RECORD_SIZE, "label record drifted");
static_assert(offsetof(struct label_disk, topk_prob) == 76, "label record drifted");

#define LOFF(field) offsetof(struct label_disk, field)
#define SOFF(field) offsetof(struct sample_disk, field)

void pf_label_record_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void pf_label_record_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t pf_label_record_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t pf_label_record_get_u64(const uint8_t *p)
{
    return (uint64_t)pf_label_record_get_u32(p) | (uint64_t)pf_label_record_get_u32(p + 4) << 32;
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    pf_label_record_put_u32(p, v);
}

static float get_f32(const uint8_t *p)
{
    uint32_t v = pf_label_record_get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

size_t pf_label_record_sample_size(uint32_t dim)
{
    return PF_SAMPLE_RECORD_HEAD + (size_t)dim * 4;
}

void pf_label_record_put_key(uint8_t k[8], uint64_t id)
{
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t)(id >> (56 - 8 * i));
}

uint64_t pf_label_record_get_key(const void *k, size_t len)
{
    const uint8_t *p = k;
    uint64_t id = 0;
    if (len != 8) return 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | p[i];
    return id;
}

void pf_label_record_encode(uint8_t *p, const pf_label_record *r, uint32_t times_decided)
{
    memset(p, 0, PF_LABEL_RECORD_SIZE);
    p[LOFF(version)] = PF_LABEL_RECORD_VERSION;
    p[LOFF(k)] = (uint8_t)r->k;
    pf_label_record_put_u32(p + LOFF(label), (uint32_t)r->label);
    put_f32(p + LOFF(confidence), r->confidence);
    put_f32(p + LOFF(weight), r->weight);
    pf_label_record_put_u64(p + LOFF(teacher_version), r->teacher_version);
    pf_label_record_put_u64(p + LOFF(decided_ms), r->decided_ms);
    pf_label_record_put_u32(p + LOFF(times_decided), times_decided);
    pf_label_record_put_u32(p + LOFF(flags), r->flags);
    memcpy(p + LOFF(policy), r->policy, strnlen(r->policy, PF_LABEL_POLICY_MAX - 1));
    for (uint32_t i = 0; i < r->k; i++) {
        pf_label_record_put_u32(p + LOFF(topk_class) + 4 * i, (uint32_t)r->topk_class[i]);
        put_f32(p + LOFF(topk_prob) + 4 * i, r->topk_prob[i]);
    }
}

int pf_label_record_decode(const void *bytes, size_t len, uint64_t id, pf_label_record *r)
{
    const uint8_t *p = bytes;
    if (len != PF_LABEL_RECORD_SIZE || p[LOFF(version)] != PF_LABEL_RECORD_VERSION ||
        p[LOFF(k)] > PF_LABEL_TOPK_MAX)
        return -1;
    memset(r, 0, sizeof *r);
    r->id = id;
    r->k = p[LOFF(k)];
    r->label = (int32_t)pf_label_record_get_u32(p + LOFF(label));
    r->confidence = get_f32(p + LOFF(confidence));
    r->weight = get_f32(p + LOFF(weight));
    r->teacher_version = pf_label_record_get_u64(p + LOFF(teacher_version));
    r->decided_ms = pf_label_record_get_u64(p + LOFF(decided_ms));
    r->times_decided = pf_label_record_get_u32(p + LOFF(times_decided));
    r->flags = pf_label_record_get_u32(p + LOFF(flags));
    memcpy(r->policy, p + LOFF(policy), PF_LABEL_POLICY_MAX - 1); /* r->policy[15] stays NUL */
    for (uint32_t i = 0; i < r->k; i++) {
        r->topk_class[i] = (int32_t)pf_label_record_get_u32(p + LOFF(topk_class) + 4 * i);
        r->topk_prob[i] = get_f32(p + LOFF(topk_prob) + 4 * i);
    }
    return 0;
}

void pf_label_record_encode_sample(uint8_t *p, uint32_t dim, const float *x, uint64_t arrival_ms,
                                   uint32_t source)
{
    memset(p, 0, PF_SAMPLE_RECORD_HEAD);
    p[SOFF(version)] = PF_SAMPLE_RECORD_VERSION;
    pf_label_record_put_u32(p + SOFF(source), source);
    pf_label_record_put_u64(p + SOFF(arrival_ms), arrival_ms);
    pf_label_record_put_u32(p + SOFF(dim), dim);
    p += PF_SAMPLE_RECORD_HEAD;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, x, (size_t)dim * 4); /* disk order is host order: one copy */
#else
    for (uint32_t j = 0; j < dim; j++)
        put_f32(p + 4 * j, x[j]);
#endif
}

int pf_label_record_decode_sample(const void *bytes, size_t len, uint32_t dim, uint64_t id,
                                  pf_label_sample *out, float *x_out)
{
    const uint8_t *p = bytes;
    if (len != pf_label_record_sample_size(dim) || p[SOFF(version)] != PF_SAMPLE_RECORD_VERSION ||
        pf_label_record_get_u32(p + SOFF(dim)) != dim)
        return -1;
    out->id = id;
    out->source = pf_label_record_get_u32(p + SOFF(source));
    out->arrival_ms = pf_label_record_get_u64(p + SOFF(arrival_ms));
    out->truth = -1;
    out->x = x_out;
    if (!x_out) return 0;
    p += PF_SAMPLE_RECORD_HEAD;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(x_out, p, (size_t)dim * 4); /* memcpy, not a cast: the value may be misaligned */
#else
    for (uint32_t j = 0; j < dim; j++)
        x_out[j] = get_f32(p + 4 * j);
#endif
    return 0;
}
