/*
 * endpoint.c - addresses of output ports (see endpoint.h).
 *
 * The tcp port number of an output is base_port plus its rank among all
 * (node, output port, instance) triples in graph order, so adding a node at
 * the end of a graph never moves the ports of the others.
 */
#include "runtime/endpoint.h"
#include "runtime/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define IPC_PREFIX "ipc://"

int pf_endpoint_distributed(const pf_graph *g)
{
    for (size_t i = 0; i < g->nnodes; i++)
        if (g->nodes[i].host && g->nodes[i].host[0]) return 1;
    return 0;
}

static int ipc_path(const char *run_dir, const char *leaf, char *buf, size_t len)
{
    struct sockaddr_un sun;
    int n = snprintf(buf, len, IPC_PREFIX "%s/sock/%s", run_dir, leaf);
    if (n < 0 || (size_t)n >= len || (size_t)n - strlen(IPC_PREFIX) >= sizeof sun.sun_path)
        return pf_errorf(PF_ERANGE,
                         "socket path '%s/sock/%s' is longer than the %zu bytes the OS allows; "
                         "use a shorter run_dir",
                         run_dir, leaf, sizeof sun.sun_path - 1);
    return 0;
}

int pf_endpoint_output(const pf_graph *g, const char *run_dir, size_t node, int port, int inst,
                       int bind, char *buf, size_t len)
{
    const pf_gnode *n = &g->nodes[node];
    if (!pf_endpoint_distributed(g)) {
        char leaf[256];
        snprintf(leaf, sizeof leaf, "%s.%s.%d", n->name, n->kind->ports[port].name, inst);
        return ipc_path(run_dir, leaf, buf, len);
    }
    long rank = 0;
    for (size_t i = 0; i < g->nnodes; i++) {
        const pf_gnode *m = &g->nodes[i];
        for (int p = 0; m->kind->ports[p].name; p++) {
            if (m->kind->ports[p].dir != PF_OUT) continue;
            if (i == node && p == port) goto found;
            rank += m->replicas;
        }
    }
    return pf_errorf(PF_ENOTFOUND, "node '%s' has no output port %d", n->name, port);
found:;
    long tcp_port = (long)g->cfg.base_port + rank + inst;
    if (tcp_port > 65535)
        return pf_errorf(PF_ERANGE, "node '%s': tcp port %ld exceeds 65535; lower base_port", n->name,
                         tcp_port);
    if (bind)
        snprintf(buf, len, "tcp://*:%ld", tcp_port);
    else
        snprintf(buf, len, "tcp://%s:%ld", (n->host && n->host[0]) ? n->host : "127.0.0.1", tcp_port);
    return 0;
}

int pf_endpoint_supervisor(const char *run_dir, char *buf, size_t len)
{
    return ipc_path(run_dir, "supervisor", buf, len);
}

int pf_endpoint_control(const char *run_dir, char *buf, size_t len)
{
    return ipc_path(run_dir, "control", buf, len);
}

int pf_mkdirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return pf_errorf(PF_ERANGE, "path too long: '%s'", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return pf_errorf(PF_EIO, "mkdir '%s': %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return pf_errorf(PF_EIO, "mkdir '%s': %s", tmp, strerror(errno));
    return 0;
}

int pf_endpoint_prepare(const char *run_dir)
{
    char sock[4096];
    snprintf(sock, sizeof sock, "%s/sock", run_dir);
    return pf_mkdirs(sock);
}

void pf_endpoint_cleanup(const char *run_dir)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sock", run_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    }
    closedir(d);
    rmdir(dir); /* only succeeds when empty: never removes a user's files */
}
