/*
 * wire.h - frames on the wire: a fixed header and one protobuf message.
 *
 * Every ZeroMQ message is exactly two frames:
 *
 *   frame 0: header, PF_WIRE_HEADER_SIZE bytes, little-endian
 *            magic u32 'PFW1' | version u16 | type u16 | sender u32 | reserved u32 | seq u64
 *   frame 1: the protobuf encoding of the message named by type
 *
 * Everything that comes off a socket is untrusted. pf_wire_decode checks the
 * header, the frame size against the limits before decoding, and after
 * decoding every array length against n, dim and classes, ids != 0, labels
 * and targets in range, and every float for NaN/Inf. A frame that fails is
 * rejected with PF_EPROTO and a one-line reason; the caller counts and drops it.
 *
 * Encoding and decoding are pure functions over buffers: no sockets here.
 */
#ifndef PF_WIRE_H
#define PF_WIRE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "pseudoflow.pb-c.h"

#define PF_WIRE_MAGIC 0x31574650u /* "PFW1" read as a little-endian u32 */
#define PF_WIRE_VERSION 2         /* bump when a schema or the protocol changes incompatibly (2: end-of-stream is answered) */
#define PF_WIRE_HEADER_SIZE 24

typedef enum pf_msg_type {
    PF_MSG_BATCH = 1,
    PF_MSG_EOS = 2,
    PF_MSG_MODEL = 3,
    PF_MSG_STATS = 4,
    PF_MSG_HEARTBEAT = 5,
} pf_msg_type;

/* Decision flags in Batch.flags. */
enum pf_batch_flags {
    PF_FLAG_ACCEPTED = 1u << 0,    /* the filter kept this sample for training */
    PF_FLAG_GIVEN = 1u << 1,       /* target is the given label, not a pseudo-label */
    PF_FLAG_LABEL_ISSUE = 1u << 2, /* given label flagged as a likely error */
    PF_FLAG_REPLAY = 1u << 3,      /* sent again by the sampler (replay or lease expiry) */
};

typedef struct pf_wire_header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;   /* pf_msg_type */
    uint32_t sender; /* flattened instance index of the sender in the graph */
    uint32_t reserved;
    uint64_t seq;    /* per sender and port, from 1 */
} pf_wire_header;

/* Bounds a decoder holds a frame to; 0 = not checked. */
typedef struct pf_wire_limits {
    size_t max_bytes; /* largest protobuf frame accepted */
    uint32_t dim;     /* expected embedding width */
    uint32_t classes; /* expected class count */
} pf_wire_limits;

/* A decoded message. Exactly one member of the union is set, per type. */
struct pf_msg {
    pf_msg_type type;
    uint32_t sender;
    uint64_t seq;
    union {
        Pf__Batch *batch;
        Pf__Eos *eos;
        Pf__Model *model;
        Pf__Stats *stats;
        Pf__Heartbeat *heartbeat;
        void *any;
    } u;
};
typedef struct pf_msg pf_msg;

/* Default largest frame: 256 MiB, room for a batch of 4096 x 16384 floats. */
#define PF_WIRE_MAX_BYTES ((size_t)256 << 20)

/* Write/read the header frame. Decoding checks the size, the magic and the
 * version; returns 0 or PF_EPROTO. */
void pf_wire_header_encode(const pf_wire_header *h, uint8_t out[PF_WIRE_HEADER_SIZE]);
int pf_wire_header_decode(const void *buf, size_t len, pf_wire_header *h);

/* Encode a message of `type` (a Pf__* struct) into a new malloc'ed buffer;
 * caller frees *buf. Returns 0, PF_EINVAL (type and message disagree), PF_ENOMEM. */
int pf_wire_encode(pf_msg_type type, const void *msg, uint8_t **buf, size_t *len);

/* Size of the encoding, for callers that pack into their own buffer. */
size_t pf_wire_encoded_size(pf_msg_type type, const void *msg);
/* Pack into buf, which has at least pf_wire_encoded_size() bytes. Returns bytes written. */
size_t pf_wire_pack(pf_msg_type type, const void *msg, uint8_t *buf);

/* Decode and validate a payload described by header h. On success fills
 * *out (free it with pf_wire_msg_free). On failure returns PF_EPROTO with the
 * reason in pf_error_last() ("batch: x has 783 floats, expected 784 (n=1, dim=784)"). */
int pf_wire_decode(const pf_wire_header *h, const void *buf, size_t len,
                   const pf_wire_limits *lim, pf_msg *out);

/* Validate a batch's shapes and values (what pf_wire_decode checks after
 * unpacking); usable on batches built locally. Returns 0 or PF_EPROTO. */
int pf_wire_check_batch(const Pf__Batch *b, const pf_wire_limits *lim);

/* Free what pf_wire_decode allocated; NULL-safe; leaves out->u.any NULL. */
void pf_wire_msg_free(pf_msg *m);

/* Name of a message type ("batch"), for logs and counters. */
const char *pf_wire_type_name(int type);

#endif
