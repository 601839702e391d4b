/*
 * curve.h - CURVE encryption and authentication for edges that cross
 * machines (graphs with host=), from key files in the graph's curve_dir.
 *
 *     pseudoflow keygen keys/          # once; copy keys/ to every host
 *     graph [curve_dir="keys", base_port=27100];
 *
 * curve_dir holds:
 *   server.key       public and secret key (Z85, one per line) of every
 *                    binding socket: outputs are CURVE servers
 *   client.key       public and secret key of every connecting socket:
 *                    inputs are CURVE clients that know server.key's public half
 *   authorized_keys  client public keys (Z85, one per line, '#' comments) a
 *                    server accepts; keygen puts client.key's in it
 *
 * Every frame on a tcp edge is then encrypted, and a peer whose client key
 * is not listed is refused during the handshake, by a ZAP handler (RFC 27)
 * this module runs in a thread of each node process. Without curve_dir, tcp
 * edges are plain: fine on a trusted network, nowhere else.
 */
#ifndef PF_CURVE_H
#define PF_CURVE_H

typedef struct pf_curve pf_curve;

/* Load the keys in dir and start the ZAP handler on zctx (before any CURVE
 * server socket binds). Errors: PF_EIO (missing or unreadable file: the
 * line names it and suggests `pseudoflow keygen`), PF_EPARSE (not a Z85
 * key), PF_EZMQ, PF_ENOMEM. Caller owns *out. */
int pf_curve_open(void *zctx, const char *dir, pf_curve **out);

/* Make sock a CURVE server (before bind) / client (before connect). Returns 0 or PF_EZMQ. */
int pf_curve_server(const pf_curve *c, void *sock);
int pf_curve_client(const pf_curve *c, void *sock);

/* Stop the ZAP handler; call after zmq_ctx_term on the context it was
 * opened on (the handler exits when the context terminates). NULL-safe. */
void pf_curve_close(pf_curve **c);

/* Write a new server.key, client.key (both 0600) and authorized_keys (0644)
 * into dir. A dir it creates is made 0700 (missing parents are made 0755);
 * an existing one keeps its mode. All or nothing for the keys: if any of the
 * three files exists it refuses, naming it, before writing anything, and on
 * a later failure it removes what it wrote and the dir it made (parents it
 * made stay). Errors, each starting "keygen: ": PF_EIO
 * (an existing key file, not a directory, cannot create or write), PF_EZMQ
 * (libzmq built without CURVE). */
int pf_curve_keygen(const char *dir);

#endif
