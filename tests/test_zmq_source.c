/*
 * Tests for nodes/zmq_source.c, end to end: this test process is an outside
 * producer. It connects a DEALER to the source's endpoint, pushes pf Batch
 * frames (header + Batch, runtime/wire.h) while `pseudoflow run` goes, and
 * waits for the source's replies: one per batch, echoing its seq, once the
 * sampler has stored every sample of it. A batch re-sent with the same ids is
 * acknowledged again and stored once; a bad frame (NaN embedding) is dropped
 * without a reply and without harm. Finally the store must hold exactly the
 * ids sent, each decided. Waits are state-based, timeouts a safety net only.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "runtime/clock.h"
#include "tests/e2e.h"
#include "runtime/error.h"
#include "runtime/wire.h"
#include "store/label_store.h"

#define DIM 8
#define NBATCH 20
#define PER 100
#define TIMEOUT_MS 120000 /* safety net only */

static char dir[128];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void setup(void)
{
    mkdir("/tmp/pff", 0777);
    snprintf(dir, sizeof dir, "/tmp/pff/zsrc-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(zmq_source, .init = setup, .fini = teardown, .timeout = 300);

/* Send batch k (ids k*PER+1 .. (k+1)*PER; the first 2 batches labeled) with seq k+1. */
static void send_batch(void *sock, int k, int poison)
{
    uint64_t ids[PER];
    float x[PER * DIM];
    int32_t labels[PER];
    for (int i = 0; i < PER; i++) {
        uint64_t id = (uint64_t)(k * PER + i + 1);
        ids[i] = poison ? 1000000 + (uint64_t)i : id;
        labels[i] = k < 2 ? (int32_t)(id % 4) : -1;
        for (int j = 0; j < DIM; j++) x[i * DIM + j] = (float)((int)(id % 4) == j % 4 ? 3 : 0) + (float)(j % 3) / 7;
    }
    if (poison) x[5] = NAN;
    Pf__Batch b = PF__BATCH__INIT;
    b.n_ids = PER, b.ids = ids;
    b.dim = DIM, b.n_x = PER * DIM, b.x = x;
    b.n_labels = PER, b.labels = labels;
    b.classes = 4;
    uint8_t hdr[PF_WIRE_HEADER_SIZE], *buf = NULL;
    size_t len = 0;
    pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, PF_MSG_BATCH, 0, 0, (uint64_t)k + 1};
    pf_wire_header_encode(&h, hdr);
    cr_assert_eq(pf_wire_encode(PF_MSG_BATCH, &b, &buf, &len), 0);
    cr_assert(zmq_send(sock, hdr, sizeof hdr, ZMQ_SNDMORE) >= 0);
    cr_assert(zmq_send(sock, buf, len, 0) >= 0);
    free(buf);
}

/* Receive one reply within timeout_ms; its seq in *seq and id count in *n. 0 = none. */
static int recv_ack(void *sock, long timeout_ms, uint64_t *seq, size_t *n)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) return 0;
    uint8_t hdr[64], body[65536];
    int hl = zmq_recv(sock, hdr, sizeof hdr, 0);
    int bl = zmq_recv(sock, body, sizeof body, 0);
    cr_assert(hl == PF_WIRE_HEADER_SIZE && bl >= 0, "reply frames %d, %d", hl, bl);
    pf_wire_header h;
    pf_msg m = {0};
    cr_assert_eq(pf_wire_header_decode(hdr, (size_t)hl, &h), 0);
    cr_assert_eq(pf_wire_decode(&h, body, (size_t)bl, NULL, &m), 0, "%s", pf_error_last());
    *seq = h.seq;
    *n = m.u.batch->n_ids;
    pf_wire_msg_free(&m);
    return 1;
}

static pf_label_counts counts(void)
{
    char path[200];
    snprintf(path, sizeof path, "%s/store", dir);
    pf_label_store_opts o = {.readonly = 1};
    pf_label_store *s = NULL;
    pf_label_counts c = {0};
    if (pf_label_store_open(path, &o, &s) == 0) pf_label_store_counts(s, &c);
    pf_label_store_close(&s);
    return c;
}

Test(zmq_source, producer_batches_are_stored_and_acknowledged)
{
    char graph[200], ep[200];
    snprintf(graph, sizeof graph, "%s/zmq.dot", dir);
    snprintf(ep, sizeof ep, "ipc://%s/producers", dir);
    FILE *f = fopen(graph, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "digraph zmq {\n"
            "  graph   [classes=4, dim=%d, run_dir=\"%s\", batch=64];\n"
            "  source  [kind=zmq_source, endpoint=\"%s\", ack_timeout_ms=1000];\n"
            "  sampler [kind=sampler, lease_ms=2000];\n"
            "  teacher [kind=mlp_teacher, hidden=16, warmup_epochs=5, calibrate=0];\n"
            "  filter  [kind=filter, tau=0.8];\n"
            "  student [kind=mlp_student, hidden=16];\n"
            "  source -> sampler -> teacher -> filter -> student;\n"
            "  sampler -> source  [port=acks];\n"
            "  filter  -> sampler [port=labels];\n"
            "}\n",
            DIM, dir, ep);
    fclose(f);
    pid_t sup = pf_e2e_start_run(dir, graph);

    void *zctx = zmq_ctx_new();
    void *sock = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(sock, ep), 0); /* connects whenever the source binds */
    send_batch(sock, 0, 1);                 /* NaN: dropped, never acknowledged */
    for (int k = 0; k < NBATCH; k++) send_batch(sock, k, 0);
    send_batch(sock, 3, 0); /* a re-send: same ids, acknowledged again, stored once */

    int acked[NBATCH + 2] = {0}, replies = 0;
    uint64_t until = pf_clock_mono_ms() + TIMEOUT_MS;
    while (replies < NBATCH + 1 && pf_clock_mono_ms() < until) {
        uint64_t seq;
        size_t n;
        if (!recv_ack(sock, 200, &seq, &n)) continue;
        cr_assert(seq >= 1 && seq <= NBATCH, "reply for seq %llu", (unsigned long long)seq);
        cr_expect_eq(n, PER);
        acked[seq]++;
        replies++;
    }
    for (int k = 1; k <= NBATCH; k++) cr_expect_geq(acked[k], 1, "batch seq %d never acknowledged", k);
    cr_expect_eq(acked[4], 2, "the re-sent batch is acknowledged twice");

    pf_label_counts c;
    while ((c = counts()).decided < NBATCH * PER && pf_clock_mono_ms() < until) usleep(50000);
    kill(sup, SIGTERM); /* a live source never ends: stop the run */
    int status;
    waitpid(sup, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run status 0x%x", status);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    c = counts();
    cr_expect_eq(c.samples, NBATCH * PER, "stored %llu", (unsigned long long)c.samples);
    cr_expect_eq(c.decided, NBATCH * PER, "decided %llu", (unsigned long long)c.decided);
    cr_expect_eq(c.truth, 2 * PER);
}
