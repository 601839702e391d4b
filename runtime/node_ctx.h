/*
 * node_ctx.h - the state of one running node instance (pf_ctx), shared by
 * the event loop (node_loop.c) and the calls a kind makes on it
 * (node_ctx.c). Private to runtime/: kinds see pf_ctx only through
 * runtime/kind.h.
 */
#ifndef PF_NODE_CTX_H
#define PF_NODE_CTX_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "runtime/curve.h"
#include "runtime/graph.h"
#include "runtime/inject.h"
#include "runtime/kind.h"
#include "runtime/outport.h"
#include "runtime/wire.h"

#define MAX_METRICS 64
#define MAX_BAD_KINDS 64 /* distinct (port, reason) pairs logged once each */

typedef struct in_port {
    int port;
    pf_port_mode mode;
    int feedback;
    void *sock;
    uint8_t *expected; /* [ninstances]: 1 where that instance feeds this port */
    uint8_t *eos;      /* [ninstances]: 1 once it sent end-of-stream */
    uint8_t *heard;    /* [ninstances], pubsub: 1 once a message from it arrived */
    size_t nexpected;
    pf_msg latest; /* pubsub: newest model/stats waiting for dispatch */
} in_port;

typedef struct metric {
    const char *name;
    double value;
} metric;

enum loop_state { RUNNING, DRAINING, FLUSHING, DONE };

struct pf_ctx {
    const pf_graph *g;
    size_t node;
    int instance;
    uint32_t sender; /* flat instance id */
    char name[160];
    char run_dir[4096];
    const pf_kind *kind;
    void *state;
    void *zctx;
    void *stats_sock;
    pf_outport **outs; /* wired outputs only */
    size_t nouts;
    in_port *ins;
    size_t nins;
    zmq_pollitem_t *items; /* [nins + nouts + 1]: what the loop polls */
    void **polled;         /* [nins + nouts]: the in_port or pf_outport behind each item */
    pf_wire_limits limits;
    enum loop_state st;
    int finished; /* pf_ctx_finish called */
    int emitted;  /* something was emitted since the loop last looked */
    uint64_t start_ms;
    uint64_t flush_ms; /* when FLUSHING began */
    metric metrics[MAX_METRICS];
    size_t nmetrics;
    uint32_t bad_logged[MAX_BAD_KINDS];
    size_t nbad_logged;
    uint8_t *ended;       /* [ninstances]: instances the supervisor says finished */
    char ended_path[4096 + 200]; /* <run_dir>/<name>.ended: run_dir and name, and ".ended" */
    int record_warned;           /* the record could not be written: said once */
    void *control_sock;   /* SUB to the supervisor's finished set, when supervised */
    int has_data_in;      /* some non-feedback data input is wired (else: a source) */
    pf_inject fault;      /* PF_FAULT rule for this incarnation, if any */
    pf_curve *curve;      /* keys and ZAP handler when tcp edges use CURVE */
    uint64_t fault_batches;
    int fault_hit;        /* the rule fired: the loop fails */
};

/* Count one data batch against the PF_FAULT rule (runtime/inject.h);
 * 1 when the rule fires (the loop then fails the instance). */
int pf_ctx_fault_step(pf_ctx *ctx);

#endif
