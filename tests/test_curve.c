/*
 * Tests for runtime/curve.c: CURVE keys, encrypted tcp edges, and refusing
 * peers whose client key is not authorized. Real processes and real tcp
 * sockets on 127.0.0.1; ports derive from the test's pid to keep parallel
 * runs apart.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "runtime/curve.h"
#include "runtime/error.h"

static char dir[256];

static void fresh(const char *name)
{
    snprintf(dir, sizeof dir, "/tmp/pfc/%d-%s", (int)getpid(), name);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    cr_assert_eq(system(cmd), 0);
}

static int base_port(void)
{
    return 20000 + (int)(getpid() % 400) * 100;
}

static void write_graph(const char *name, const char *curve_dir, int port, int n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "digraph tcp {\n"
            "  graph [classes=4, run_dir=\"%s/run\", base_port=%d, max_restarts=0, curve_dir=\"%s\"];\n"
            "  src  [kind=synth_source, n=%d, dim=8, labeled=100, host=\"127.0.0.1\"];\n"
            "  sink [kind=file_sink, host=\"127.0.0.1\"];\n"
            "  src -> sink;\n"
            "}\n",
            dir, port, curve_dir, n);
    fclose(f);
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

/* Read "public\nsecret" after the comment line of a key file. */
static void read_pair(const char *path, char pub[41], char sec[41])
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[256];
    int k = 0;
    while (fgets(line, sizeof line, f) && k < 2) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = '\0';
        memcpy(k == 0 ? pub : sec, line, 41);
        k++;
    }
    fclose(f);
    cr_assert_eq(k, 2);
}

Test(curve, keygen_writes_secret_files_private_and_never_overwrites)
{
    fresh("keygen");
    char keys[320], path[400];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    cr_assert_eq(pf_curve_keygen(keys), 0, "%s", pf_error_last());
    struct stat st;
    snprintf(path, sizeof path, "%s/server.key", keys);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/client.key", keys);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(pf_curve_keygen(keys), PF_EIO);
    cr_assert(strstr(pf_error_last(), "not overwriting"), "%s", pf_error_last());
}

Test(curve, a_graph_over_encrypted_tcp_delivers_every_sample)
{
    fresh("run");
    char keys[320], cmd[1024], out[512];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    cr_assert_eq(pf_curve_keygen(keys), 0);
    write_graph("g.dot", keys, base_port(), 3000);
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' run '%s/g.dot' --no-progress > '%s/log' 2>&1", PF_BIN, dir, dir);
    cr_assert_eq(system(cmd), 0, "run failed; see %s/log", dir);
    snprintf(out, sizeof out, "%s/run/sink#0.tsv", dir);
    cr_assert_eq(count_lines(out), 3000);
}

Test(curve, missing_keys_fail_the_run_with_a_hint_to_create_them)
{
    fresh("nokeys");
    char cmd[1024], log[400];
    write_graph("g.dot", "/nonexistent/keys", base_port() + 10, 100);
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' run '%s/g.dot' --no-progress > '%s/log' 2>&1", PF_BIN, dir, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    snprintf(log, sizeof log, "%s/log", dir);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_assert(strstr(buf, "pseudoflow keygen"), "log: %s", buf);
}

/* A DEALER posing as the sink's input, with the given client key pair. */
static void *rogue(void *zctx, const char *server_pub, const char *pub, const char *sec, int port)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, "sink#0/in", 9);
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    cr_assert_eq(zmq_connect(s, ep), 0);
    return s;
}

static pid_t node_pid;

/* Runs after the test, passed or failed: no node outlives it. */
static void kill_node(void)
{
    if (node_pid > 0) {
        kill(node_pid, SIGTERM);
        waitpid(node_pid, NULL, 0);
        node_pid = 0;
    }
}

Test(curve, a_peer_whose_key_is_not_authorized_gets_nothing_and_an_authorized_one_does, .fini = kill_node)
{
    fresh("auth");
    char keys[320], path[400], spub[41], ssec[41], cpub[41], csec[41], rpub[41], rsec[41];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    cr_assert_eq(pf_curve_keygen(keys), 0);
    snprintf(path, sizeof path, "%s/server.key", keys);
    read_pair(path, spub, ssec);
    snprintf(path, sizeof path, "%s/client.key", keys);
    read_pair(path, cpub, csec);
    cr_assert_eq(zmq_curve_keypair(rpub, rsec), 0);
    int port = base_port() + 20;
    write_graph("g.dot", keys, port, 1000000);

    /* The source alone: it binds its CURVE server and waits for sink#0/in. */
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    node_pid = pid;
    if (pid == 0) {
        char g[400], logp[400];
        snprintf(g, sizeof g, "%s/g.dot", dir);
        snprintf(logp, sizeof logp, "%s/node.log", dir);
        freopen(logp, "w", stderr);
        execl(PF_BIN, PF_BIN, "node", g, "src", (char *)NULL);
        _exit(127);
    }
    void *zctx = zmq_ctx_new();
    void *bad = rogue(zctx, spub, rpub, rsec, port);
    zmq_pollitem_t it = {bad, 0, ZMQ_POLLIN, 0};
    /* Refusal cannot be observed as an event, only as silence: 2 s of it. An
     * accepted rogue would get batches at once, failing the test. */
    cr_assert_eq(zmq_poll(&it, 1, 2000), 0, "an unauthorized peer received data");
    zmq_close(bad);

    void *good = rogue(zctx, spub, cpub, csec, port);
    zmq_pollitem_t ok = {good, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&ok, 1, 60000), 1, "the authorized peer received nothing in 60 s");
    zmq_msg_t m;
    zmq_msg_init(&m);
    cr_assert_geq(zmq_msg_recv(&m, good, 0), 0);
    cr_assert_eq(zmq_msg_size(&m), 24, "first frame is the 24-byte header");
    zmq_msg_close(&m);
    zmq_close(good);
    zmq_ctx_term(zctx);

    kill(pid, SIGTERM);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    node_pid = 0;
    cr_assert(WIFEXITED(st), "the node did not stop cleanly on SIGTERM");
}
