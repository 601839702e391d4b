/*
 * endpoint.h - where each output port listens, derived from the graph alone.
 *
 * Every process computes the same addresses from the same graph file, so
 * nothing has to be exchanged at start-up: an output port of instance I of
 * node N binds at
 *
 *     ipc://<run_dir>/sock/<N>.<port>.<I>     when no node has host=
 *     tcp, all interfaces, base_port + k      otherwise (k: the port's rank
 *                                             in graph order), reached at
 *                                             tcp://<host of N>:<same port>
 *
 * and every input connects to all instances of every output wired to it.
 * The supervisor's stats socket is ipc://<run_dir>/sock/supervisor, its
 * control socket ipc://<run_dir>/sock/control.
 */
#ifndef PF_ENDPOINT_H
#define PF_ENDPOINT_H

#include <stddef.h>

#include "runtime/graph.h"

/* Longest address we build; ipc paths are further limited by the OS (107 bytes). */
#define PF_ENDPOINT_MAX 512

/* Address of output `port` of node `node`, instance `inst`: for binding
 * (bind=1) or connecting (bind=0). Returns 0, or PF_ERANGE when an ipc path
 * would exceed the OS limit ("run_dir too long: ...; use a shorter run_dir"). */
int pf_endpoint_output(const pf_graph *g, const char *run_dir, size_t node, int port, int inst,
                       int bind, char *buf, size_t len);

/* Address of the supervisor's stats socket. Same errors. */
int pf_endpoint_supervisor(const char *run_dir, char *buf, size_t len);

/* Address of the supervisor's control socket (PUB: the set of finished
 * instances, one byte per flat instance). Same errors. */
int pf_endpoint_control(const char *run_dir, char *buf, size_t len);

/* Create <run_dir> and <run_dir>/sock (mkdir -p). Returns 0 or PF_EIO. */
int pf_endpoint_prepare(const char *run_dir);

/* Remove ipc socket files left in <run_dir>/sock and the folder if empty. */
void pf_endpoint_cleanup(const char *run_dir);

/* 1 when any node is placed with host= (all edges then use tcp). */
int pf_endpoint_distributed(const pf_graph *g);

/* Recursive mkdir; 0 or PF_EIO. */
int pf_mkdirs(const char *path);

#endif
