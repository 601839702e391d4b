/*
 * The fault test: at-least-once delivery end to end, with real processes.
 *
 * A graph source -> sampler -> teacher -> filter -> student (with the acks,
 * labels and model feedback edges) streams N synthetic samples (ids 1..N)
 * through `pseudoflow run`. While it runs, the test SIGKILLs node processes
 * (the source, the sampler, the teacher, the filter, the student) at random
 * moments and lets the supervisor restart them; in a second test it SIGKILLs
 * the whole run (the supervisor and every node at once) mid-stream and starts
 * it again on the same run directory and store. Either way the run must end
 * with exit status 0, and the store must hold exactly the ids 1..N, each with
 * one label record: nothing lost, nothing unexpected. A sample decided more
 * than once (times_decided > 1) is a duplicated delivery, allowed under
 * at-least-once and reported.
 *
 * Node pids are found in /proc (children of the supervisor, named by their
 * command line `pseudoflow node GRAPH NAME#I`), so the runtime needs no hook
 * for this. Kill moments and victims come from a seed printed at the start
 * (PF_FAULT_SEED=... repeats a run). Nothing here decides pass or fail by
 * time: the waits are state-based, with generous timeouts only as a safety
 * net against a hung run. Run directories live under /tmp/pff because ipc
 * socket paths are limited to 107 bytes.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "tests/e2e.h"
#include "runtime/error.h"
#include "store/label_store.h"

#define N_SAMPLES 20000
#define RUN_TIMEOUT_S 150 /* safety net only: a healthy run takes ~10-20 s */
#define MAX_NODES 16

static const char *const victims[] = {"source", "sampler", "teacher", "filter", "student"};
#define NVICTIMS (sizeof victims / sizeof victims[0])

static char dir[128];
static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    uint64_t z = rng_state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void setup(void)
{
    const char *seed = getenv("PF_FAULT_SEED");
    rng_state = seed ? strtoull(seed, NULL, 10) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    fprintf(stderr, "fault: seed %" PRIu64 " (PF_FAULT_SEED=%" PRIu64 " repeats it)\n", rng_state, rng_state);
    mkdir("/tmp/pff", 0777);
    snprintf(dir, sizeof dir, "/tmp/pff/fault-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    if (!getenv("PF_FAULT_KEEP")) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(fault, .init = setup, .fini = teardown, .timeout = 600);

/* The graph: small and fast (dim 8, 4 classes), paced so kills land mid-stream,
 * with short ack and lease timeouts so lost messages are re-sent quickly. */
static void write_graph(char *graph, size_t len)
{
    snprintf(graph, len, "%s/fault.dot", dir);
    FILE *f = fopen(graph, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "digraph fault {\n"
            "  graph   [classes=4, seed=7, run_dir=\"%s\", max_restarts=1000, batch=128, tick_ms=20];\n"
            "  source  [kind=synth_source, n=%d, dim=8, labeled=400, rate=2500, ack_timeout_ms=1000];\n"
            "  sampler [kind=sampler, lease_ms=2000, unlabeled_ratio=7];\n"
            "  teacher [kind=mlp_teacher, hidden=16, warmup_epochs=5, calibrate=0];\n"
            "  filter  [kind=filter, policy=fixmatch, tau=0.8];\n"
            "  student [kind=mlp_student, hidden=16, publish_every=20];\n"
            "  source -> sampler -> teacher -> filter -> student;\n"
            "  sampler -> source  [port=acks];\n"
            "  filter  -> sampler [port=labels];\n"
            "  student -> teacher [port=model];\n"
            "}\n",
            dir, N_SAMPLES);
    fclose(f);
}

typedef struct node_pid {
    pid_t pid;
    char name[64]; /* "sampler#0" */
} node_pid;

/* Children of `parent` that are pseudoflow node processes, from /proc. */
static int find_nodes(pid_t parent, node_pid *out, int cap)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = '\0';
        char *rp = strrchr(buf, ')'); /* comm may hold spaces; fields after it do not */
        char state;
        int ppid;
        if (!rp || sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || ppid != parent || state == 'Z') continue;
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
        f = fopen(path, "r");
        if (!f) continue;
        k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = '\0';
        /* argv: BIN node GRAPH NAME#I ... */
        const char *argv[4] = {0};
        size_t off = 0;
        for (int a = 0; a < 4 && off < k; a++) {
            argv[a] = buf + off;
            off += strlen(buf + off) + 1;
        }
        if (!argv[3] || strcmp(argv[1], "node") != 0) continue;
        out[n].pid = pid;
        snprintf(out[n].name, sizeof out[n].name, "%s", argv[3]);
        n++;
    }
    closedir(d);
    return n;
}

static pid_t pid_of(pid_t sup, const char *node)
{
    node_pid nodes[MAX_NODES];
    int n = find_nodes(sup, nodes, MAX_NODES);
    size_t len = strlen(node);
    for (int i = 0; i < n; i++)
        if (strncmp(nodes[i].name, node, len) == 0 && nodes[i].name[len] == '#') return nodes[i].pid;
    return 0;
}

static void dump_log(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "tail -n 60 %s/run.log >&2", dir);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
}

/* The supervisor: reaped at most once, its exit status kept. */
static pid_t reaped_pid;
static int reaped_status;

static int alive(pid_t sup)
{
    if (reaped_pid == sup) return 0;
    if (waitpid(sup, &reaped_status, WNOHANG) != sup) return 1;
    reaped_pid = sup;
    return 0;
}

static void wait_run(pid_t sup)
{
    uint64_t until = pf_clock_mono_ms() + RUN_TIMEOUT_S * 1000ull;
    while (alive(sup)) {
        if (pf_clock_mono_ms() > until) {
            kill(sup, SIGTERM);
            waitpid(sup, NULL, 0);
            dump_log();
            cr_assert_fail("the run did not finish within %d s (safety net); log above", RUN_TIMEOUT_S);
        }
        pf_clock_sleep_ms(50);
    }
    int status = reaped_status;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) dump_log();
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pseudoflow run ended with status 0x%x", status);
}

/* Samples stored so far (0 while there is no store yet). */
static uint64_t stored(void)
{
    char path[200];
    snprintf(path, sizeof path, "%s/store", dir);
    pf_label_store_opts o = {.readonly = 1};
    pf_label_store *s = NULL;
    if (pf_label_store_open(path, &o, &s) < 0) return 0;
    pf_label_counts c = {0};
    pf_label_store_counts(s, &c);
    pf_label_store_close(&s);
    return c.samples;
}

typedef struct tally {
    uint64_t seen, decided, unexpected, duplicated, deliveries, labeled;
    uint8_t *have; /* [N_SAMPLES + 1] */
} tally;

static int tally_visit(const pf_label_sample *smp, const pf_label_record *rec, void *p)
{
    tally *t = p;
    if (smp->id < 1 || smp->id > N_SAMPLES || t->have[smp->id]) {
        t->unexpected++;
        return 0;
    }
    t->have[smp->id] = 1;
    t->seen++;
    if (rec) {
        t->decided++;
        t->deliveries += rec->times_decided;
        /* Labeled samples are replayed on purpose (the mixing ratio); only an
         * unlabeled sample decided twice is a duplicated delivery. */
        if (smp->truth >= 0) t->labeled++;
        else if (rec->times_decided > 1) t->duplicated++;
    }
    return 0;
}

/* Read the store back: every id 1..N present exactly once, each with a label record. */
static void check_store(const char *what, int kills)
{
    char path[200];
    snprintf(path, sizeof path, "%s/store", dir);
    pf_label_store_opts o = {.readonly = 1};
    pf_label_store *s = NULL;
    cr_assert_eq(pf_label_store_open(path, &o, &s), 0, "%s", pf_error_last());
    tally t = {0};
    t.have = calloc(N_SAMPLES + 1, 1);
    cr_assert_not_null(t.have);
    pf_label_store_query q = {0};
    cr_assert_eq(pf_label_store_each(s, &q, tally_visit, &t), 0, "%s", pf_error_last());
    pf_label_store_close(&s);
    uint64_t lost = N_SAMPLES - t.seen, undecided = t.seen - t.decided;
    fprintf(stderr,
            "fault: %s: %d kills; %d ids expected, %" PRIu64 " stored, %" PRIu64 " lost, %" PRIu64
            " undecided, %" PRIu64 " unexpected; %" PRIu64 " duplicated deliveries (unlabeled samples decided"
            " more than once); %" PRIu64 " decisions in all, labeled replays included\n",
            what, kills, N_SAMPLES, t.seen, lost, undecided, t.unexpected, t.duplicated, t.deliveries);
    free(t.have);
    cr_expect_eq(lost, 0, "%" PRIu64 " samples lost", lost);
    cr_expect_eq(undecided, 0, "%" PRIu64 " samples without a label record", undecided);
    cr_expect_eq(t.unexpected, 0, "%" PRIu64 " unexpected ids", t.unexpected);
}

/* SIGKILL a node chosen at random every 200-1200 ms until `kills` are done or
 * the run ends; the first NVICTIMS kills hit every kind once, in random order. */
static int kill_nodes(pid_t sup, int kills)
{
    const char *order[64];
    for (size_t i = 0; i < NVICTIMS; i++) order[i] = victims[i];
    for (size_t i = NVICTIMS; i > 1; i--) {
        size_t j = rnd() % i;
        const char *t = order[i - 1];
        order[i - 1] = order[j], order[j] = t;
    }
    for (int i = (int)NVICTIMS; i < kills && i < 64; i++) order[i] = victims[rnd() % NVICTIMS];
    int done = 0;
    for (int i = 0; i < kills; i++) {
        pf_clock_sleep_ms(200 + (long)(rnd() % 1000));
        if (!alive(sup)) break;
        pid_t pid = pid_of(sup, order[i]);
        if (!pid) continue; /* between incarnations, or already finished */
        if (kill(pid, SIGKILL) == 0) {
            done++;
            fprintf(stderr, "fault: SIGKILL %s (pid %d)\n", order[i], (int)pid);
        }
    }
    return done;
}

/* Does the run's log hold `text` yet? */
static int log_has(const char *text)
{
    char path[200];
    snprintf(path, sizeof path, "%s/run.log", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

static int kill_one(pid_t sup, const char *v, const char *when)
{
    pid_t pid = pid_of(sup, v);
    if (!pid || kill(pid, SIGKILL) != 0) return 0;
    fprintf(stderr, "fault: SIGKILL %s (pid %d) %s\n", v, (int)pid, when);
    return 1;
}

/* The end phase: once the whole stream is stored, kill the teacher (its
 * in-flight samples must come back by lease); once the sampler has every
 * sample decided and sends end-of-stream down the graph, kill two of the
 * nodes that are flushing it. */
static int kill_at_the_end(pid_t sup)
{
    int done = 0;
    while (stored() < N_SAMPLES)
        if (!alive(sup)) return done; else pf_clock_sleep_ms(20);
    done += kill_one(sup, "teacher", "once the stream was stored");
    while (!log_has("ending the stream"))
        if (!alive(sup)) return done; else pf_clock_sleep_ms(5);
    for (int i = 0; i < 2; i++) {
        done += kill_one(sup, victims[1 + rnd() % (NVICTIMS - 1)], "while end-of-stream is flushed");
        pf_clock_sleep_ms((long)(rnd() % 300));
    }
    return done;
}

Test(fault, killed_nodes_lose_no_sample)
{
    char graph[200];
    write_graph(graph, sizeof graph);
    pid_t sup = pf_e2e_start_run(dir, graph);
    int kills = kill_nodes(sup, 10);
    kills += kill_at_the_end(sup);
    wait_run(sup);
    check_store("nodes killed", kills);
}

Test(fault, a_run_killed_whole_completes_on_restart)
{
    char graph[200];
    write_graph(graph, sizeof graph);
    pid_t sup = pf_e2e_start_run(dir, graph);
    /* Wait until part of the stream is stored, then kill everything at once. */
    uint64_t until = pf_clock_mono_ms() + RUN_TIMEOUT_S * 1000ull, have = 0;
    while ((have = stored()) < N_SAMPLES / 3) {
        cr_assert(alive(sup), "the run ended before it could be killed");
        cr_assert(pf_clock_mono_ms() < until, "no progress within %d s (safety net)", RUN_TIMEOUT_S);
        pf_clock_sleep_ms(100);
    }
    node_pid nodes[MAX_NODES];
    int n = find_nodes(sup, nodes, MAX_NODES);
    kill(sup, SIGKILL);
    for (int i = 0; i < n; i++) kill(nodes[i].pid, SIGKILL);
    waitpid(sup, NULL, 0);
    fprintf(stderr, "fault: SIGKILL the whole run (supervisor and %d nodes) at %" PRIu64 " stored samples\n", n,
            have);
    for (int i = 0; i < n; i++) /* reparented and reaped elsewhere: wait until they are gone */
        for (int k = 0; k < 200 && kill(nodes[i].pid, 0) == 0; k++) pf_clock_sleep_ms(10);

    /* Start again on the same run directory and store, with a few node kills too. */
    sup = pf_e2e_start_run(dir, graph);
    int kills = kill_nodes(sup, 3);
    wait_run(sup);
    cr_assert(log_has("holds a run that did not finish"), "the second start should say it continues the killed run");
    check_store("whole run killed and restarted", kills + 1 + n);
}
