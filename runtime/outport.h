/*
 * outport.h - one wired output port of a node instance: its socket, the
 * nodes it feeds, and the messages waiting for them.
 *
 * A data output is a ROUTER socket, bound; each downstream input is a DEALER
 * with routing id "<node>#<instance>/<port>". ROUTER rather than PUSH so that
 * a message can be addressed to one downstream instance (end-of-stream must
 * reach every replica; acknowledgements go back to the source instance that
 * sent the samples). With ZMQ_ROUTER_MANDATORY a send to a full or absent
 * peer fails (EAGAIN, EHOSTUNREACH) instead of dropping, so the port balances
 * across the replicas with room and keeps a message queued while none has
 * any: backpressure, never a silent drop. Every message goes to one instance
 * of every target node (fan-out across nodes, balance across replicas).
 *
 * A pubsub output is a PUB socket: sending never blocks, never queues.
 *
 *     pf_outport *op;
 *     pf_outport_open(zctx, g, run_dir, node, port, inst, &op);
 *     pf_outport_emit(op, PF_MSG_BATCH, &batch, -1);  // encoded now, queued
 *     pf_outport_flush(op, ended);                    // send what peers take
 *     pf_outport_close(&op);
 */
#ifndef PF_OUTPORT_H
#define PF_OUTPORT_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/curve.h"
#include "runtime/graph.h"
#include "runtime/wire.h"

typedef struct pf_outport pf_outport;

/* Bind output `port` of instance `inst` of node `node` and resolve the nodes
 * it feeds; with curve (may be NULL) the socket is a CURVE server. Returns 0, or PF_ENOMEM / PF_EZMQ (bind failed: the line names
 * the address) / PF_ERANGE (address too long). *out is NULL when the port is
 * not wired (not an error). Caller owns *out. */
int pf_outport_open(void *zctx, const pf_graph *g, const char *run_dir, size_t node, int port, int inst,
                    const pf_curve *curve, pf_outport **out);

/* Close the socket (lingering briefly for frames already handed to ZeroMQ)
 * and drop what is still queued. NULL-safe; sets *op = NULL. */
void pf_outport_close(pf_outport **op);

int pf_outport_port(const pf_outport *op);
pf_port_mode pf_outport_mode(const pf_outport *op);

/* Messages waiting for a peer (0 on pubsub ports). */
size_t pf_outport_queued(const pf_outport *op);

/* Encode msg now (the caller keeps it) and send it (pubsub) or queue it for
 * one instance of every target (data, to = -1), or for the one target
 * instance whose flat number is `to`. Returns 0, PF_ENOMEM, or PF_ENOTFOUND
 * when `to` is not an instance this port feeds. */
int pf_outport_emit(pf_outport *op, pf_msg_type type, const void *msg, long to);

/* Send queued messages while peers accept them. A message whose every
 * possible destination has finished (ended [ninstances], may be NULL) is
 * dropped: nobody will ever read it. */
void pf_outport_flush(pf_outport *op, const uint8_t *ended);

/* End-of-stream to every instance of every target (data), or published
 * (pubsub; a re-send first publishes the port's last message again, for a
 * subscriber that joined after it). The first time (resend = 0) it is queued behind the data; a
 * re-send is offered once to each instance not known to have finished and
 * never queued, so an exited peer cannot hold the sender forever.
 * Returns 0 or PF_ENOMEM. */
int pf_outport_eos(pf_outport *op, int resend, const uint8_t *ended);

/* The socket, for polling: a data output becomes readable when a downstream
 * instance answers end-of-stream. */
void *pf_outport_socket(const pf_outport *op);

/* Read the answers waiting (non-blocking); anything else that arrives is
 * dropped. The flat numbers of the instances that answered for the first
 * time go to newly[]; reading stops when cap of them are there (call again
 * while it returns cap). Returns their count; 0 for pubsub. */
size_t pf_outport_read_acks(pf_outport *op, uint32_t *newly, size_t cap);

/* 1 when every downstream instance has answered our end-of-stream or has
 * finished (ended [ninstances], may be NULL): nothing we sent can still be
 * lost by exiting. Always 1 for pubsub, which promises nothing. */
int pf_outport_eos_answered(const pf_outport *op, const uint8_t *ended);

/* A restarted sender: instance `flat` answered an earlier incarnation's
 * end-of-stream, so it has everything this port will ever send it and may
 * have exited. From now on it counts as finished for this port alone: no
 * end-of-stream is queued for it, messages only it could take are dropped,
 * and no answer is awaited. Returns 0 (also for pubsub, a no-op), or
 * PF_ENOTFOUND when this port does not feed that instance. */
int pf_outport_restore_answer(pf_outport *op, size_t flat);

#endif
