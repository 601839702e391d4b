/*
 * End-to-end tests of the runtime (runtime/node_loop.c, supervisor.c,
 * endpoint.c, fault.c): real `pseudoflow run` and `pseudoflow node`
 * processes over real ipc sockets.
 *
 * Graphs are written into a run directory under /tmp/pfr/<pid>/, short on
 * purpose: ipc socket paths are limited to 107 bytes. Every graph uses
 * synth_source (ids 1..n, each exactly once per run without faults) and
 * file_sink (one TSV line per sample, first column the id), so "counts
 * arrive intact" is read back from the sink files. Faults are injected with
 * PF_FAULT (runtime/fault.h). Crash tests check "at least once": a graph
 * without acks loses what was in flight to a dead node, a graph with a
 * sampler re-sends it.
 *
 * Timing never decides a result: every wait is for an event (an exit, a
 * file growing), with a generous safety net so a hang fails instead of
 * blocking the suite.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "runtime/end_record.h"
#include "runtime/endpoint.h"
#include "runtime/error.h"
#include "runtime/graph.h"
#include "runtime/outport.h"
#include "tests/e2e.h"
#include "runtime/wire.h"

#define SAFETY_NET_S 180 /* a run that takes longer is hung; nothing here needs more than seconds */

static char dir[256];  /* /tmp/pfr/<pid>/<test>: graph, logs and run dir */
static char rdir[300]; /* the run dir: <dir>/run */

static void sh(const char *fmt, const char *arg)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, arg);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void fresh_dir(const char *test)
{
    snprintf(dir, sizeof dir, "/tmp/pfr/%d/%s", (int)getpid(), test);
    snprintf(rdir, sizeof rdir, "%s/run", dir);
    sh("rm -rf '%s'", dir);
    sh("mkdir -p '%s'", dir);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* Start the binary with args (NULL-terminated), stderr and stdout to <dir>/<log>,
 * PF_FAULT set to fault (or unset). */
static pid_t start(const char *log, const char *fault, const char *const *args)
{
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/%s", dir, log);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2), dup2(fd, 1);
        if (fault) setenv("PF_FAULT", fault, 1);
        else unsetenv("PF_FAULT");
        unsetenv("PF_LOG_LEVEL");
        const char *argv[24] = {PF_BIN};
        int a = 1;
        for (const char *const *p = args; *p && a < 23; p++) argv[a++] = *p;
        argv[a] = NULL;
        execv(PF_BIN, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait for pid; its exit status, or 128+signal. Kills and fails after the safety net. */
static int wait_exit(pid_t pid)
{
    int status;
    for (int i = 0; i < SAFETY_NET_S * 50; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        cr_assert_neq(r, -1, "waitpid: %s", strerror(errno));
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pf_clock_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    cr_assert_fail("process %d did not exit within %d s", (int)pid, SAFETY_NET_S);
    return -1;
}

/* `pseudoflow run <dir>/g.dot --run-dir <rdir> --no-progress [a1 [a2]]`, to completion. */
static int run_graph_with(const char *fault, const char *a1, const char *a2)
{
    char graph[512];
    snprintf(graph, sizeof graph, "%s/g.dot", dir);
    const char *args[] = {"run", graph, "--run-dir", rdir, "--no-progress", a1, a2, NULL};
    return wait_exit(start("run.log", fault, args));
}

static int run_graph(const char *fault)
{
    return run_graph_with(fault, NULL, NULL);
}

static char *run_log(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/run.log", dir);
    return pf_e2e_slurp(path);
}

/* Add the ids in sink file <rdir>/<file> to seen[1..n]; returns the lines read.
 * An id outside 1..n fails the test. */
static size_t read_sink(const char *file, unsigned *seen, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", rdir, file);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t lines = 0;
    unsigned long long id;
    char rest[512];
    while (fscanf(f, "%llu%511[^\n]\n", &id, rest) >= 1) {
        cr_assert(id >= 1 && id <= n, "%s: id %llu outside 1..%zu", file, id, n);
        seen[id]++;
        lines++;
    }
    fclose(f);
    return lines;
}

/* Count, per id, the samples the store holds a decision for (via `pseudoflow
 * store export`): what the at-least-once guarantee is about. A consumer on a
 * side branch of the filter (a sink) can miss a copy that died with a killed
 * filter whose decision still reached the sampler. */
/* `pseudoflow store <rdir>/store export --format csv` into <dir>/<name>, opened. */
static FILE *export_store(const char *name)
{
    char cmd[2048], path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(cmd, sizeof cmd, "'%s' store '%s/store' export --format csv --out '%s' 2>>'%s/log'", PF_BIN, rdir,
             path, dir);
    cr_assert_eq(system(cmd), 0, "store export failed; see %s/log", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    return f;
}

static size_t read_store_decided(unsigned *seen, size_t n)
{
    FILE *f = export_store("labels.csv");
    char line[512];
    size_t decided = 0;
    cr_assert_not_null(fgets(line, sizeof line, f), "empty export");
    while (fgets(line, sizeof line, f)) {
        unsigned long long id;
        int truth, label;
        cr_assert_eq(sscanf(line, "%llu,%d,%d", &id, &truth, &label), 3, "bad export line: %s", line);
        cr_assert(id >= 1 && id <= n, "store holds id %llu outside 1..%zu", id, n);
        if (label < 0) continue;
        seen[id]++;
        decided++;
    }
    fclose(f);
    return decided;
}

/* Every id 1..n seen exactly once (exact) or at least once. */
static void assert_ids(const unsigned *seen, size_t n, int exact)
{
    size_t missing = 0, dup = 0;
    for (size_t i = 1; i <= n; i++) {
        missing += seen[i] == 0;
        dup += seen[i] > 1;
    }
    cr_assert_eq(missing, 0, "%zu of %zu ids never arrived", missing, n);
    if (exact) cr_assert_eq(dup, 0, "%zu ids arrived more than once", dup);
}

/* Processes whose command line mentions the run dir (our children, orphaned or not). */
static int processes_in_run_dir(void)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == getpid()) continue;
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (!buf[i]) buf[i] = ' ';
        buf[n] = '\0';
        if (strstr(buf, rdir)) count++;
    }
    closedir(d);
    return count;
}

/* Pid of the node process running instance `spec` ("sink#0") of this test's run, or 0. */
static pid_t node_pid(const char *spec)
{
    char want[600];
    snprintf(want, sizeof want, " node %s/g.dot %s --run-dir %s ", dir, spec, rdir);
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    pid_t found = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !found) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (!buf[i]) buf[i] = ' ';
        buf[n] = '\0';
        if (strstr(buf, want)) found = (pid_t)pid;
    }
    closedir(d);
    return found;
}

/* Socket files left in <rdir>/sock. */
static int sockets_left(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sock", rdir);
    DIR *d = opendir(path);
    if (!d) return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') count++;
    closedir(d);
    return count;
}

static void cleanup(void)
{
    if (dir[0] && !getenv("PF_KEEP_TEST_DIRS")) sh("rm -rf '%s'", dir);
}

TestSuite(runtime, .fini = cleanup, .timeout = 600);

/* ---- runs to the end ----------------------------------------------------- */

Test(runtime, a_two_node_graph_ends_on_end_of_stream_with_every_id_exactly_once)
{
    fresh_dir("two");
    /* hwm=2 with small batches: the source outruns the sink, so backpressure
     * must hold samples back rather than drop them. */
    write_file("g.dot", "digraph two {\n"
                        "  graph [classes=4, dim=8, batch=16, hwm=2];\n"
                        "  src  [kind=synth_source, n=20000, dim=8];\n"
                        "  sink [kind=file_sink];\n"
                        "  src -> sink;\n"
                        "}\n");
    int rc = run_graph(NULL);
    char *log = run_log();
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    static unsigned seen[20001];
    cr_assert_eq(read_sink("sink#0.tsv", seen, 20000), 20000);
    assert_ids(seen, 20000, 1);
    cr_assert(strstr(log, "run finished"), "log:\n%s", log);
    cr_assert_eq(sockets_left(), 0);
    free(log);
}

static const char five_graph[] =
    "digraph five {\n"
    "  graph [classes=4, seed=3, dim=8, batch=32];\n"
    "  src     [kind=synth_source, n=3000, dim=8, labeled=200, replicas=2];\n"
    "  sampler [kind=sampler, unlabeled_ratio=0, lease_ms=%d];\n"
    "  teacher [kind=mlp_teacher, hidden=\"\", warmup_epochs=2, replicas=2];\n"
    "  filter  [kind=filter, tau=0.5];\n"
    "  sink    [kind=file_sink];\n"
    "  src -> sampler -> teacher -> filter;\n"
    "  filter  -> sink    [out=labels];\n"
    "  sampler -> src     [port=acks];\n"
    "  filter  -> sampler [port=labels];\n"
    "}\n";

static void write_five(int lease_ms)
{
    char text[2048];
    snprintf(text, sizeof text, five_graph, lease_ms);
    write_file("g.dot", text);
}

Test(runtime, a_five_node_graph_with_replicas_and_feedback_ends_with_every_id_exactly_once)
{
    fresh_dir("five");
    write_five(600000); /* no lease expires: nothing is re-sent, so exactly once holds */
    int rc = run_graph(NULL);
    char *log = run_log();
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    static unsigned seen[3001];
    cr_assert_eq(read_sink("sink#0.tsv", seen, 3000), 3000, "log:\n%s", log);
    assert_ids(seen, 3000, 1);
    /* Every stage of the final progress table saw the whole stream. */
    cr_assert(strstr(log, "teacher      mlp_teacher    x2"), "log:\n%s", log);
    cr_assert_eq(sockets_left(), 0);
    free(log);
}

Test(runtime, replicas_split_the_work_and_every_id_still_arrives_exactly_once)
{
    fresh_dir("replicas");
    write_file("g.dot", "digraph reps {\n"
                        "  graph [classes=3, dim=4, batch=8, hwm=4];\n"
                        "  src  [kind=synth_source, n=6000, dim=4, replicas=2];\n"
                        "  sink [kind=file_sink, replicas=2];\n"
                        "  src -> sink;\n"
                        "}\n");
    int rc = run_graph(NULL);
    char *log = run_log();
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    static unsigned seen[6001];
    size_t a = read_sink("sink#0.tsv", seen, 6000), b = read_sink("sink#1.tsv", seen, 6000);
    cr_assert_gt(a, 0, "sink#0 got nothing");
    cr_assert_gt(b, 0, "sink#1 got nothing");
    cr_assert_eq(a + b, 6000);
    assert_ids(seen, 6000, 1);
    /* The final table shows the replica count, not the (zero) running processes. */
    cr_assert(strstr(log, "sink         file_sink      x2"), "log:\n%s", log);
    free(log);
}

/* ---- stopping ------------------------------------------------------------ */

/* Start `pseudoflow run` on an endless, paced source feeding `sinks` sink
 * replicas (only a signal ends it) and wait until samples reach sink#0 (its
 * file is flushed every tick): the run is then mid-stream. */
static pid_t start_endless(int sinks)
{
    char text[512], graph[512], sink0[512];
    snprintf(text, sizeof text,
             "digraph endless {\n"
             "  graph [classes=4, dim=8, batch=16];\n"
             "  src  [kind=synth_source, n=0, dim=8, rate=5000];\n"
             "  sink [kind=file_sink, replicas=%d];\n"
             "  src -> sink;\n"
             "}\n",
             sinks);
    write_file("g.dot", text);
    snprintf(graph, sizeof graph, "%s/g.dot", dir);
    snprintf(sink0, sizeof sink0, "%s/sink#0.tsv", rdir);
    const char *args[] = {"run", graph, "--run-dir", rdir, "--no-progress", NULL};
    pid_t pid = start("run.log", NULL, args);
    struct stat st;
    for (int i = 0; i < SAFETY_NET_S * 50 && (stat(sink0, &st) != 0 || st.st_size == 0); i++) pf_clock_sleep_ms(20);
    cr_assert(stat(sink0, &st) == 0 && st.st_size > 0, "no sample reached sink#0");
    return pid;
}

Test(runtime, sigterm_mid_stream_stops_every_process_cleanly_and_removes_the_sockets)
{
    fresh_dir("sigterm");
    pid_t pid = start_endless(2);
    cr_assert_eq(processes_in_run_dir(), 4, "expected the supervisor and 3 node processes");
    kill(pid, SIGTERM);
    int rc = wait_exit(pid);
    char *log = run_log();
    cr_assert_eq(rc, 0, "a clean stop exits 0 (pseudoflow run --help); got %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "stopping on signal 15"), "log:\n%s", log);
    cr_assert(strstr(log, "run stopped after"), "log:\n%s", log);
    cr_assert_null(strstr(log, "killing it"), "a node needed SIGKILL; log:\n%s", log);
    cr_assert_eq(processes_in_run_dir(), 0, "orphan processes remain");
    cr_assert_eq(sockets_left(), 0, "socket files remain in %s/sock", rdir);
    /* What the sinks wrote is whole lines of valid ids. */
    static unsigned seen[1u << 20];
    size_t lines = read_sink("sink#0.tsv", seen, (1u << 20) - 1) + read_sink("sink#1.tsv", seen, (1u << 20) - 1);
    cr_assert_gt(lines, 0);
    free(log);
}

/* A second run in a busy run dir would take over the first's ipc sockets
 * (libzmq unlinks a bound path) and split its stream: it is refused, naming
 * the pid that holds the directory, and the first run is untouched. */
Test(runtime, a_second_run_in_the_same_run_dir_is_refused)
{
    fresh_dir("second_run");
    pid_t first = start_endless(1);
    char graph[512];
    snprintf(graph, sizeof graph, "%s/g.dot", dir);
    const char *args[] = {"run", graph, "--run-dir", rdir, "--no-progress", NULL};
    int rc = wait_exit(start("second.log", NULL, args));
    char path[512], pid[32];
    snprintf(path, sizeof path, "%s/second.log", dir);
    char *second = pf_e2e_slurp(path);
    snprintf(pid, sizeof pid, "(pid %d)", (int)first);
    cr_assert_eq(rc, 1, "the second run should exit 1, got %d; log:\n%s", rc, second);
    cr_assert(strstr(second, "is in use by another run") && strstr(second, pid), "log:\n%s", second);
    cr_assert_eq(processes_in_run_dir(), 3, "the first run lost processes");
    kill(first, SIGTERM);
    cr_assert_eq(wait_exit(first), 0);
    /* once the first run is over, the directory is free again */
    write_file("g.dot", "digraph again {\n  graph [classes=4, dim=8];\n  src [kind=synth_source, n=50, dim=8];\n"
                        "  sink [kind=file_sink];\n  src -> sink;\n}\n");
    cr_assert_eq(run_graph(NULL), 0, "a later run in the same dir failed; log:\n%s", run_log());
    free(second);
}

/* A run that finished has spent its sources' streams: the same command
 * again is refused, saying why and what to do, and leaves the directory as
 * it was; --fresh removes that run's state (here the sink's file, which a
 * sink appends to so that a restart continues it) and runs the graph again
 * from the start; --fresh with --resume is a usage error. */
Test(runtime, a_finished_run_is_refused_until_fresh_starts_it_over)
{
    fresh_dir("finished");
    write_file("g.dot", "digraph fin {\n  graph [classes=4, dim=8];\n  src [kind=synth_source, n=500, dim=8];\n"
                        "  sink [kind=file_sink];\n  src -> sink;\n}\n");
    cr_assert_eq(run_graph(NULL), 0, "the first run failed; log:\n%s", run_log());
    char path[512];
    snprintf(path, sizeof path, "%s/run.finished", rdir);
    char *marker = pf_e2e_slurp(path);
    cr_assert(marker && strstr(marker, " graph fin in "), "run.finished: %s", marker ? marker : "(missing)");
    free(marker);

    int rc = run_graph(NULL);
    char *log = run_log();
    cr_assert_eq(rc, 1, "a plain run of a finished run dir should exit 1, got %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "holds a run that finished") && strstr(log, "--fresh"), "log:\n%s", log);
    free(log);
    static unsigned seen[501];
    cr_assert_eq(read_sink("sink#0.tsv", seen, 500), 500, "the refused run changed the sink's file");

    /* a renamed source's truth file: the evaluator reads every truth-*.bin, so --fresh removes them all */
    sh("touch '%s/truth-oldsrc#0.bin'", rdir);
    sh("touch '%s/notes.txt'", rdir);
    rc = run_graph_with(NULL, "--fresh", NULL);
    log = run_log();
    cr_assert_eq(rc, 0, "the --fresh run failed; log:\n%s", log);
    cr_assert(strstr(log, "starting over (--fresh): removed"), "log:\n%s", log);
    snprintf(path, sizeof path, "%s/stats.json", rdir);
    char *stats = pf_e2e_slurp(path);
    cr_assert(strstr(stats, "\"instance\": \"src#0\"") && strstr(stats, "\"samples_out\": 500"),
              "the source should have streamed all 500 samples again: %s", stats);
    free(stats);
    snprintf(path, sizeof path, "%s/truth-oldsrc#0.bin", rdir);
    cr_assert_neq(access(path, F_OK), 0, "--fresh left an earlier run's truth file");
    snprintf(path, sizeof path, "%s/notes.txt", rdir);
    cr_assert_eq(access(path, F_OK), 0, "--fresh removed a file that is not a run's state");
    memset(seen, 0, sizeof seen);
    cr_assert_eq(read_sink("sink#0.tsv", seen, 500), 500, "the sink's file should hold the new run only; log:\n%s",
                 log);
    assert_ids(seen, 500, 1);
    free(log);

    rc = run_graph_with(NULL, "--fresh", "--resume");
    log = run_log();
    cr_assert_eq(rc, 2, "--fresh with --resume should exit 2, got %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "give one of them"), "log:\n%s", log);
    free(log);
}

/* host= places a node on another machine: `run` starts only the nodes
 * placed here (no host=, or a name of this machine), says where the others
 * run, and with --host H runs exactly the nodes placed on H. */
Test(runtime, run_starts_only_the_nodes_placed_on_this_machine)
{
    fresh_dir("placement");
    write_file("g.dot", "digraph placed {\n  graph [classes=4, dim=4];\n"
                        "  src  [kind=synth_source, n=100, dim=4, host=\"far.invalid\"];\n"
                        "  sink [kind=file_sink, host=\"localhost\"];\n  src -> sink;\n}\n");
    char graph[512];
    snprintf(graph, sizeof graph, "%s/g.dot", dir);
    /* only the sink is here: it waits for a source that never comes */
    const char *args[] = {"run", graph, "--run-dir", rdir, "--no-progress", NULL};
    pid_t pid = start("run.log", NULL, args);
    char *log = NULL;
    int procs = 0;
    for (int i = 0; i < SAFETY_NET_S * 50; i++) { /* until the sink runs; nothing else may */
        free(log);
        log = run_log();
        procs = processes_in_run_dir();
        if (strstr(log, "running graph") && procs >= 2) break;
        pf_clock_sleep_ms(20);
    }
    cr_assert(strstr(log, "running graph"), "the run did not start; log:\n%s", log);
    pf_clock_sleep_ms(200); /* a wrongly started source would show up by now */
    procs = processes_in_run_dir();
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);
    free(log);
    log = run_log();
    cr_assert_eq(procs, 2, "expected the supervisor and the sink only; log:\n%s", log);
    cr_assert(strstr(log, "node src runs on far.invalid, not here"), "log:\n%s", log);
    cr_assert(strstr(log, "'far.invalid', which does not resolve here"), "log:\n%s", log);
    free(log);

    /* --host names a host without any node: nothing to run, exit 1 */
    const char *none[] = {"run", graph, "--run-dir", rdir, "--no-progress", "--host", "elsewhere", NULL};
    cr_assert_eq(wait_exit(start("none.log", NULL, none)), 1);
    char path[512];
    snprintf(path, sizeof path, "%s/none.log", dir);
    log = pf_e2e_slurp(path);
    cr_assert(strstr(log, "no node of graph 'placed' is placed on host 'elsewhere'"), "log:\n%s", log);
    free(log);
}

/* The store's width is fixed when it is created. A rerun in the same run
 * dir whose source sends another width used to have its batches refused
 * and re-sent forever; now the run fails, saying why. */
Test(runtime, a_rerun_with_another_width_fails_instead_of_waiting_forever)
{
    fresh_dir("rerun_dim");
    static const char graph[] = "digraph sd {\n  graph [classes=3, max_restarts=1];\n"
                                "  src [kind=synth_source, n=200, dim=%d, classes=3, labeled=50];\n"
                                "  s [kind=sampler];\n  t [kind=mlp_teacher, hidden=8, warmup_epochs=2];\n"
                                "  f [kind=filter];\n  st [kind=mlp_student, hidden=8];\n"
                                "  src -> s -> t -> f -> st;\n  s -> src [port=acks];\n  f -> s [port=labels];\n}\n";
    char text[1024];
    snprintf(text, sizeof text, graph, 4);
    write_file("g.dot", text);
    cr_assert_eq(run_graph(NULL), 0, "the first run failed; log:\n%s", run_log());
    snprintf(text, sizeof text, graph, 6);
    write_file("g.dot", text);
    char rm[700];
    /* a fresh source, which must send its samples again, on the old store, as a run stopped before it
     * finished would leave them (a finished one is refused: a_finished_run_is_refused_until_fresh_starts_it_over) */
    snprintf(rm, sizeof rm, "rm -f '%s'/*.cursor '%s/run.finished'", rdir, rdir);
    cr_assert_eq(system(rm), 0);
    int rc = run_graph(NULL);
    char *log = run_log();
    cr_assert_eq(rc, 1, "the rerun should fail, got %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "a batch of dim 6, but the store") && strstr(log, "holds dim 4 samples"), "log:\n%s", log);
    cr_assert(strstr(log, "node s#0 cannot run as configured") && !strstr(log, "restart 1 of"),
              "the sampler should fail once, not be restarted; log:\n%s", log);
    free(log);
}

/* Files are checked where they are read: `run --host H` on H does not
 * refuse the graph because the main machine's source file is not on H,
 * while `check` on the main machine does. */
Test(runtime, run_on_another_host_checks_only_that_hosts_files)
{
    fresh_dir("host_files");
    write_file("g.dot", "digraph hf {\n  graph [classes=4, dim=4];\n"
                        "  src  [kind=idx_source, images=\"/nonexistent/x-idx3-ubyte.gz\"];\n"
                        "  sink [kind=file_sink, host=\"elsewhere\"];\n  src -> sink;\n}\n");
    char graph[512];
    snprintf(graph, sizeof graph, "%s/g.dot", dir);
    const char *check[] = {"check", graph, NULL};
    cr_assert_eq(wait_exit(start("check.log", NULL, check)), 2);
    char path[512];
    snprintf(path, sizeof path, "%s/check.log", dir);
    char *log = pf_e2e_slurp(path);
    cr_assert(strstr(log, "no such file '/nonexistent/x-idx3-ubyte.gz'"), "check.log:\n%s", log);
    free(log);

    const char *args[] = {"run", graph, "--run-dir", rdir, "--no-progress", "--host", "elsewhere", NULL};
    pid_t pid = start("run.log", NULL, args);
    log = NULL;
    int started = 0;
    for (int i = 0; i < SAFETY_NET_S * 50 && !started; i++) {
        free(log);
        log = run_log();
        started = strstr(log, "running graph") != NULL;
        if (!started) pf_clock_sleep_ms(20);
        if (!started && waitpid(pid, NULL, WNOHANG) == pid) break; /* it exited: refused */
    }
    cr_assert(started, "run --host elsewhere did not start; log:\n%s", log);
    cr_assert_null(strstr(log, "no such file"), "log:\n%s", log);
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);
    free(log);
}

Test(runtime, a_node_stopped_by_sigterm_on_its_own_is_restarted_not_taken_as_finished)
{
    fresh_dir("sigterm_one");
    pid_t pid = start_endless(1);
    pid_t sink = node_pid("sink#0");
    cr_assert_neq(sink, 0, "no sink#0 process");
    kill(sink, SIGTERM);
    /* Wait for the restarted incarnation: a new pid for sink#0. */
    pid_t again = 0;
    for (int i = 0; i < SAFETY_NET_S * 50 && (!(again = node_pid("sink#0")) || again == sink); i++) pf_clock_sleep_ms(20);
    cr_assert(again && again != sink, "sink#0 was not restarted");
    kill(pid, SIGTERM);
    int rc = wait_exit(pid);
    char *log = run_log();
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "node sink#0 exited with status 143; restart 1"), "log:\n%s", log);
    cr_assert_eq(processes_in_run_dir(), 0);
    free(log);
}

/* ---- failures ------------------------------------------------------------ */

Test(runtime, a_source_that_exits_with_an_error_is_restarted_and_the_run_completes)
{
    fresh_dir("crash_src");
    write_file("g.dot", "digraph crash {\n"
                        "  graph [classes=4, dim=8, batch=16];\n"
                        "  src  [kind=synth_source, n=2000, dim=8];\n"
                        "  sink [kind=file_sink];\n"
                        "  src -> sink;\n"
                        "}\n");
    int rc = run_graph("src#0:exit_after=5");
    char *log = run_log();
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "failing on purpose after 5 batches"), "log:\n%s", log);
    cr_assert(strstr(log, "node src#0 exited with status 1; restart 1 of at most 5"), "log:\n%s", log);
    static unsigned seen[2001];
    read_sink("sink#0.tsv", seen, 2000);
    assert_ids(seen, 2000, 0); /* no acks: the restarted source starts over */
    free(log);
}

Test(runtime, crashed_and_killed_stages_are_restarted_and_every_id_is_decided_in_the_store)
{
    fresh_dir("crash_mid");
    write_five(1000); /* samples lost with a dead stage are re-sent after 1 s */
    int rc = run_graph("teacher#0:exit_after=5,filter#0:kill_after=10");
    char *log = run_log();
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "node teacher#0 exited with status 1; restart 1"), "log:\n%s", log);
    cr_assert(strstr(log, "node filter#0 was killed by signal 9"), "log:\n%s", log);
    static unsigned seen[3001];
    cr_assert_eq(read_store_decided(seen, 3000), 3000);
    assert_ids(seen, 3000, 1); /* the store keeps one record per id */
    cr_assert_eq(processes_in_run_dir(), 0);
    free(log);
}

/* Decisions in the store export whose teacher_version is 0: made by a
 * teacher that had not fitted (the uniform distribution). */
static size_t decisions_of_an_unfitted_teacher(void)
{
    FILE *f = export_store("versions.csv");
    char line[512];
    size_t unfitted = 0, rows = 0;
    cr_assert_not_null(fgets(line, sizeof line, f), "empty export");
    while (fgets(line, sizeof line, f)) {
        unsigned long long id, version;
        int truth, label;
        double conf, weight;
        cr_assert_eq(sscanf(line, "%llu,%d,%d,%lf,%lf,%llu", &id, &truth, &label, &conf, &weight, &version), 6,
                     "bad export line: %s", line);
        unfitted += version == 0;
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, 2000);
    return unfitted;
}

/* A teacher restarted in a replay pass, in a graph that sends each label
 * once (unlabeled_ratio=0): from its checkpoint it labels the remaining
 * passes with its fitted weights (no decision of teacher version 0); with
 * resume=0, the control, it never sees a label again and every unlabeled
 * sample's last decision is the unfitted teacher's uniform distribution. */
Test(runtime, a_restarted_teacher_continues_from_its_checkpoint)
{
    static const char graph[] = "digraph tck {\n"
                                "  graph [classes=4, seed=3, dim=8, batch=32];\n"
                                "  src     [kind=synth_source, n=2000, dim=8, labeled=200];\n"
                                "  sampler [kind=sampler, unlabeled_ratio=0, epochs=4, lease_ms=500];\n"
                                "  teacher [kind=mlp_teacher, hidden=\"\", warmup_epochs=2, resume=%d];\n"
                                "  filter  [kind=filter, tau=0.5];\n"
                                "  src -> sampler -> teacher -> filter;\n"
                                "  sampler -> src     [port=acks];\n"
                                "  filter  -> sampler [port=labels];\n"
                                "}\n";
    char text[1024];
    for (int resume = 1; resume >= 0; resume--) {
        fresh_dir(resume ? "teacher_ckpt" : "teacher_no_ckpt");
        snprintf(text, sizeof text, graph, resume);
        write_file("g.dot", text);
        int rc = run_graph("teacher#0:exit_after=150"); /* pass 1 is 63 batches: this is pass 3 */
        char *log = run_log();
        cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
        cr_assert(strstr(log, "node teacher#0 exited with status 1; restart 1"), "log:\n%s", log);
        cr_assert_eq(strstr(log, "teacher#0 resuming from checkpoint") != NULL, resume, "log:\n%s", log);
        size_t unfitted = decisions_of_an_unfitted_teacher();
        if (resume)
            cr_assert_eq(unfitted, 0, "%zu decisions of an unfitted teacher after resuming", unfitted);
        else
            cr_assert_eq(unfitted, 1800, "the control: %zu decisions of an unfitted teacher, expected every "
                                         "unlabeled one", unfitted);
        free(log);
    }
}

/* Two machines, played by two supervisors on loopback names: the source
 * "on" 127.0.0.1 (run dir <dir>/a), everything else "on" localhost
 * (<dir>/b). graph_extra is added to the graph's attributes; acks wires
 * the source's acks edge. */
static char split_graph[512];

static void write_split(int port_offset, const char *graph_extra, int acks)
{
    char text[1024];
    snprintf(text, sizeof text,
             "digraph split {\n"
             "  graph [classes=4, seed=3, dim=8, batch=32, base_port=%d%s];\n"
             "  src     [kind=synth_source, n=2000, dim=8, labeled=200, host=\"127.0.0.1\"];\n"
             "  sampler [kind=sampler, unlabeled_ratio=0, epochs=4, host=\"localhost\"];\n"
             "  teacher [kind=mlp_teacher, hidden=\"\", warmup_epochs=2, host=\"localhost\"];\n"
             "  filter  [kind=filter, tau=0.5, host=\"localhost\"];\n"
             "  src -> sampler -> teacher -> filter;\n"
             "%s"
             "  filter  -> sampler [port=labels];\n"
             "}\n",
             10000 + port_offset + (int)(getpid() % 100) * 100, graph_extra,
             acks ? "  sampler -> src     [port=acks];\n" : "");
    write_file("g.dot", text);
    snprintf(split_graph, sizeof split_graph, "%s/g.dot", dir);
}

/* `pseudoflow run` of one machine of the split graph ("a" or "b"), logging to <dir>/<log>. */
static pid_t start_machine(const char *machine, const char *log, const char *fault, int resume)
{
    char run_dir[400];
    snprintf(run_dir, sizeof run_dir, "%s/%s", dir, machine);
    const char *host = strcmp(machine, "a") == 0 ? "127.0.0.1" : "localhost";
    const char *args[] = {"run", split_graph, "--run-dir", run_dir, "--no-progress", "--host", host,
                          resume ? "--resume" : NULL, NULL};
    return start(log, fault, args);
}

static char *machine_log(const char *log)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, log);
    return pf_e2e_slurp(path);
}

/* The sampler fails once in its replay passes, after the source's
 * end-of-stream, which it had answered: the source will not send it again
 * (it waits only for the sampler's acks to end), and the supervisor that
 * restarts the sampler does not know the source. The restarted sampler
 * reads its own record (sampler#0.ended) instead of waiting forever, and
 * both machines' runs complete with every id decided. */
Test(runtime, a_node_restarted_after_its_upstream_on_another_machine_ended_completes)
{
    fresh_dir("two_hosts");
    write_split(0, "", 1);
    /* The sampler's first pass is at most 63 input and 63 decision batches:
     * failing after 150 is in a replay pass, after the source's end. */
    pid_t b = start_machine("b", "b.log", "sampler#0:exit_after=150", 0);
    pid_t a = start_machine("a", "a.log", NULL, 0);
    cr_assert_eq(wait_exit(a), 0, "the source's machine failed");
    int rc = wait_exit(b);
    char *log = machine_log("b.log");
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "node sampler#0 exited with status 1; restart 1"),
              "the sampler did not fail; log:\n%s", log);
    cr_assert(strstr(log, "before this restart: 1 end-of-stream received"), "log:\n%s", log);
    free(log);
    log = machine_log("a.log");
    cr_assert(strstr(log, "run finished"), "log:\n%s", log);
    free(log);
    snprintf(rdir, sizeof rdir, "%s/b", dir); /* the store is the sampler's, on its machine */
    static unsigned seen[2001];
    cr_assert_eq(read_store_decided(seen, 2000), 2000);
    assert_ids(seen, 2000, 1);
}

/* The same two machines, but the sampler's whole machine stops: with
 * max_restarts=0 its one failure, in a replay pass after the source's
 * end-of-stream, ends that machine's run. Without the acks edge the source
 * ends as soon as the sampler has answered its end-of-stream (with it, it
 * would wait for the sampler's acks to end), so the source's machine has
 * finished and does not run again. `run --resume` on the sampler's machine
 * starts every instance there as a restart that keeps its record, so the
 * sampler counts the source's end-of-stream it had answered instead of
 * waiting for a source that is gone, and the resumed run completes with
 * every id decided in the store the first run left. (Started again without
 * --resume, the same machine begins new records and waits: checked by
 * hand, it was still waiting when stopped after 30 s.) */
Test(runtime, a_whole_machine_run_resumed_after_its_peer_ended_completes)
{
    fresh_dir("resume_host");
    write_split(50, ", max_restarts=0", 0);
    pid_t b = start_machine("b", "b.log", "sampler#0:exit_after=150", 0);
    pid_t a = start_machine("a", "a.log", NULL, 0);
    int rc = wait_exit(b);
    char *log = machine_log("b.log");
    cr_assert_eq(rc, 1, "the sampler's machine should have failed; exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "has failed 1 times (max_restarts=0)"), "log:\n%s", log);
    free(log);
    cr_assert_eq(wait_exit(a), 0, "the source's machine failed");
    rc = wait_exit(start_machine("b", "b2.log", NULL, 1));
    log = machine_log("b2.log");
    cr_assert_eq(rc, 0, "exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "resuming graph 'split'"), "log:\n%s", log);
    cr_assert(strstr(log, "before this restart: 1 end-of-stream received"), "log:\n%s", log);
    cr_assert(strstr(log, "run finished"), "log:\n%s", log);
    free(log);
    snprintf(rdir, sizeof rdir, "%s/b", dir);
    static unsigned seen[2001];
    cr_assert_eq(read_store_decided(seen, 2000), 2000);
    assert_ids(seen, 2000, 1);
}

static int collect_line(void *ctx, const char *way, const char *port, const char *instance)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%s|%s|%s;", way, port, instance);
    return 0;
}

/* The end-of-stream record (runtime/end_record.h): lines come back in order;
 * a line cut short (no newline: a full disk, a crash mid-write), of another
 * shape, or with a name longer than any written is skipped, so "filter#12"
 * cut to "filter#1" never counts; a reset removes it and a missing record
 * has no lines. */
Test(runtime, the_end_of_stream_record_keeps_whole_lines_only)
{
    fresh_dir("record");
    char path[400], lines[1024] = "";
    snprintf(path, sizeof path, "%s/x#0.ended", dir);
    cr_assert_eq(pf_end_record_each(path, collect_line, lines), 0, "a missing record is empty");
    cr_assert_str_eq(lines, "");
    cr_assert_eq(pf_end_record_append(path, "in", "in", "src#0"), 0, "%s", pf_error_last());
    cr_assert_eq(pf_end_record_append(path, "out", "acks", "src#1"), 0);
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    fputs("in in one two three\nin in\n", f); /* four names, two names */
    fputs("out ", f);
    for (int i = 0; i < PF_END_RECORD_NAME_MAX + 10; i++) fputc('p', f); /* a name too long: not split in two */
    fputs(" x#0\nin labels filter#0\nout out filter#1", f);         /* then a good line, then one cut short */
    fclose(f);
    cr_assert_eq(pf_end_record_each(path, collect_line, lines), 0);
    cr_assert_str_eq(lines, "in|in|src#0;out|acks|src#1;in|labels|filter#0;");
    cr_assert_eq(pf_end_record_reset(path), 0);
    cr_assert_eq(access(path, F_OK), -1, "the reset left the file");
    cr_assert_eq(pf_end_record_reset(path), 0, "resetting a missing record is fine");
}

/* In-process: a graph src -> sink (sink with `replicas` instances) in a
 * fresh dir named `test`, and src's output opened on a new context *z. */
static pf_outport *open_src_output(const char *test, int replicas, pf_graph **g, void **z)
{
    fresh_dir(test);
    char text[256];
    snprintf(text, sizeof text,
             "digraph r {\n  graph [classes=4, dim=4];\n  src [kind=synth_source, dim=4];\n"
             "  sink [kind=file_sink, replicas=%d];\n  src -> sink;\n}\n", replicas);
    *g = NULL;
    cr_assert_eq(pf_graph_parse("r.dot", text, strlen(text), g, NULL), 0, "%s", pf_error_last());
    cr_assert_eq(pf_endpoint_prepare(dir), 0, "%s", pf_error_last());
    *z = zmq_ctx_new();
    pf_outport *op = NULL;
    cr_assert_eq(pf_outport_open(*z, *g, dir, (size_t)pf_graph_find(*g, "src"), 0, 0, NULL, &op), 0, "%s",
                 pf_error_last());
    cr_assert_not_null(op);
    return op;
}

/* A restarted sender's output, told that a receiver answered an earlier
 * incarnation's end-of-stream (pf_outport_restore_answer): that receiver
 * may have exited, so a message only it could take is dropped instead of
 * waiting forever, no end-of-stream is queued for it, and no answer awaited. */
Test(runtime, an_output_restored_with_an_answer_no_longer_waits_for_that_receiver)
{
    pf_graph *g;
    void *z;
    pf_outport *op = open_src_output("restore", 1, &g, &z);
    size_t src = (size_t)pf_graph_find(g, "src"), sink = (size_t)pf_graph_find(g, "sink");
    uint64_t ids[2] = {1, 2};
    float x[8] = {0};
    Pf__Batch b = PF__BATCH__INIT;
    b.n_ids = 2, b.ids = ids, b.n_x = 8, b.x = x, b.dim = 4;
    cr_assert_eq(pf_outport_emit(op, PF_MSG_BATCH, &b, -1), 0);
    pf_outport_flush(op, NULL);
    cr_assert_eq(pf_outport_queued(op), 1, "nobody reads the sink's end: the batch waits");
    cr_assert_eq(pf_outport_eos_answered(op, NULL), 0);
    size_t flat = g->nodes[sink].first_instance;
    cr_assert_eq(pf_outport_restore_answer(op, g->nodes[src].first_instance), PF_ENOTFOUND, "src is not fed");
    cr_assert_eq(pf_outport_restore_answer(op, flat), 0);
    pf_outport_flush(op, NULL);
    cr_assert_eq(pf_outport_queued(op), 0, "a message only the answered receiver could take is dropped");
    cr_assert_eq(pf_outport_eos(op, 0, NULL), 0);
    cr_assert_eq(pf_outport_queued(op), 0, "no end-of-stream is queued for it");
    cr_assert_eq(pf_outport_eos_answered(op, NULL), 1, "its answer is not awaited again");
    pf_outport_close(&op);
    zmq_ctx_term(z);
    pf_graph_destroy(&g);
}

/* A DEALER connected to ep as the input `id` ("sink#1/in"). */
static void *peer(void *z, const char *ep, const char *id)
{
    void *d = zmq_socket(z, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_ROUTING_ID, id, strlen(id));
    cr_assert_eq(zmq_connect(d, ep), 0);
    return d;
}

/* Messages waiting on a DEALER within ms (each: header and payload frames). */
static int drain_count(void *d, int ms)
{
    int n = 0;
    zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, ms) > 0) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        cr_assert_geq(zmq_msg_recv(&m, d, 0), 0);
        n += !zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return n;
}

/* An output feeding two replicas, with real peers: once sink#0 is restored
 * as having answered an earlier incarnation, round-robin sends everything
 * to sink#1; and read_acks reports every first answer even one at a time
 * (a buffer of 1), never the same receiver twice. */
Test(runtime, an_output_skips_a_restored_replica_and_reports_each_first_answer)
{
    pf_graph *g;
    void *z;
    pf_outport *op = open_src_output("rr", 2, &g, &z);
    size_t src = (size_t)pf_graph_find(g, "src"), sink0 = g->nodes[pf_graph_find(g, "sink")].first_instance;
    char ep[PF_ENDPOINT_MAX];
    cr_assert_eq(pf_endpoint_output(g, dir, src, 0, 0, 0, ep, sizeof ep), 0);
    void *d0 = peer(z, ep, "sink#0/in"), *d1 = peer(z, ep, "sink#1/in");
    cr_assert_eq(pf_outport_restore_answer(op, sink0), 0);
    uint64_t ids[1] = {1};
    float x[4] = {0};
    Pf__Batch b = PF__BATCH__INIT;
    b.n_ids = 1, b.ids = ids, b.n_x = 4, b.x = x, b.dim = 4;
    for (int k = 0; k < 4; k++) cr_assert_eq(pf_outport_emit(op, PF_MSG_BATCH, &b, -1), 0);
    for (int i = 0; i < 500 && pf_outport_queued(op); i++) { /* until sink#1 has connected */
        pf_outport_flush(op, NULL);
        pf_clock_sleep_ms(10);
    }
    cr_assert_eq(pf_outport_queued(op), 0, "sink#1 never took the batches");
    cr_assert_eq(drain_count(d1, 500), 4, "sink#1 did not get all four batches");
    cr_assert_eq(drain_count(d0, 100), 0, "the restored sink#0 got batches");
    /* both answer an end-of-stream; a buffer of one reports them one call at a time */
    pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, PF_MSG_EOS, 7, 0, 1};
    uint8_t hdr[PF_WIRE_HEADER_SIZE], *eos = NULL;
    size_t len = 0;
    Pf__Eos e = PF__EOS__INIT;
    pf_wire_header_encode(&h, hdr);
    cr_assert_eq(pf_wire_encode(PF_MSG_EOS, &e, &eos, &len), 0);
    for (int k = 0; k < 2; k++) {
        void *d = k ? d1 : d0;
        cr_assert_geq(zmq_send(d, hdr, sizeof hdr, ZMQ_SNDMORE), 0);
        cr_assert_geq(zmq_send(d, eos, len, 0), 0);
    }
    free(eos);
    uint32_t got[2] = {0}, one;
    size_t n = 0;
    for (int i = 0; i < 500 && n < 2; i++) {
        size_t r = pf_outport_read_acks(op, &one, 1);
        cr_assert_leq(r, 1);
        if (r) got[n++] = one;
        else pf_clock_sleep_ms(10);
    }
    cr_assert_eq(n, 2, "only %zu of the two first answers were reported", n);
    cr_assert(got[0] != got[1] && got[0] + got[1] == 2 * sink0 + 1, "reported %u and %u", got[0], got[1]);
    cr_assert_eq(pf_outport_read_acks(op, &one, 1), 0, "nothing more to report");
    zmq_close(d0), zmq_close(d1);
    pf_outport_close(&op);
    zmq_ctx_term(z);
    pf_graph_destroy(&g);
}

Test(runtime, a_node_that_keeps_crashing_fails_the_run_with_a_message_naming_it)
{
    fresh_dir("crash_loop");
    write_file("g.dot", "digraph loop {\n"
                        "  graph [classes=4, dim=8, batch=16, max_restarts=2];\n"
                        "  src  [kind=synth_source, n=2000, dim=8];\n"
                        "  sink [kind=file_sink];\n"
                        "  src -> sink;\n"
                        "}\n");
    int rc = run_graph("src#0:exit_after=2:times=0");
    char *log = run_log();
    cr_assert_eq(rc, 1, "exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "restart 2 of at most 2"), "log:\n%s", log);
    cr_assert(strstr(log, "pseudoflow run: node src#0 exited with status 1 and has failed 3 times (max_restarts=2)"),
              "log:\n%s", log);
    cr_assert_eq(processes_in_run_dir(), 0, "the sink was left running");
    cr_assert_eq(sockets_left(), 0);
    free(log);
}

Test(runtime, a_malformed_fault_rule_is_an_error_not_silently_ignored)
{
    fresh_dir("bad_fault");
    write_file("g.dot", "digraph t {\n"
                        "  graph [classes=4, dim=8, max_restarts=0];\n"
                        "  src  [kind=synth_source, n=10, dim=8];\n"
                        "  sink [kind=file_sink];\n"
                        "  src -> sink;\n"
                        "}\n");
    int rc = run_graph("src#0:explode_after=1");
    char *log = run_log();
    cr_assert_eq(rc, 1, "exit %d; log:\n%s", rc, log);
    cr_assert(strstr(log, "PF_FAULT: cannot parse rule 'src#0:explode_after=1'"), "log:\n%s", log);
    free(log);
}

/* ---- untrusted frames, and `pseudoflow node` on its own ------------------- */

static void *zctx, *up, *stats;

/* Send one message of nframes frames to the sink's input, as src#0 would. */
static void send_frames(const void *const *frames, const size_t *lens, int nframes)
{
    static const char id[] = "sink#0/in";
    for (int i = 0; i < SAFETY_NET_S * 100; i++) { /* until the sink has connected */
        if (zmq_send(up, id, strlen(id), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) goto rest;
        cr_assert(errno == EHOSTUNREACH || errno == EAGAIN, "send: %s", zmq_strerror(errno));
        pf_clock_sleep_ms(10);
    }
    cr_assert_fail("the standalone sink never connected");
rest:
    for (int f = 0; f < nframes; f++)
        cr_assert_geq(zmq_send(up, frames[f], lens[f], f + 1 < nframes ? ZMQ_SNDMORE : 0), 0);
}

static void send_msg(uint32_t sender, uint16_t type, const void *payload, size_t len)
{
    static uint64_t seq;
    pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, type, sender, 0, ++seq};
    uint8_t hdr[PF_WIRE_HEADER_SIZE];
    pf_wire_header_encode(&h, hdr);
    const void *frames[] = {hdr, payload};
    size_t lens[] = {sizeof hdr, len};
    send_frames(frames, lens, 2);
}

/* A batch of ids first..first+n-1, dim wide, x all `v`; packed into buf (caller frees). */
static size_t pack_batch(uint64_t first, size_t n, uint32_t dim, float v, uint8_t **buf)
{
    uint64_t ids[64];
    float x[64 * 16];
    int32_t labels[64];
    cr_assert(n <= 64 && dim <= 16);
    for (size_t i = 0; i < n; i++) {
        ids[i] = first + i;
        labels[i] = -1;
        for (uint32_t j = 0; j < dim; j++) x[i * dim + j] = v;
    }
    Pf__Batch b = PF__BATCH__INIT;
    b.n_ids = n, b.ids = ids;
    b.dim = dim, b.n_x = n * dim, b.x = x;
    b.n_labels = n, b.labels = labels;
    b.classes = 4;
    size_t len;
    cr_assert_eq(pf_wire_encode(PF_MSG_BATCH, &b, buf, &len), 0);
    return len;
}

/* The newest value of stat `name` the node pushed to the stats socket. */
static double last_stat(const char *name)
{
    double v = -1;
    zmq_pollitem_t it = {stats, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, 2000) > 0) { /* the final stats are flushed before the node exits */
        zmq_msg_t f0, f1;
        zmq_msg_init(&f0), zmq_msg_init(&f1);
        zmq_msg_recv(&f0, stats, 0);
        zmq_msg_recv(&f1, stats, 0);
        pf_wire_header h;
        pf_msg m = {0};
        if (pf_wire_header_decode(zmq_msg_data(&f0), zmq_msg_size(&f0), &h) == 0 &&
            pf_wire_decode(&h, zmq_msg_data(&f1), zmq_msg_size(&f1), NULL, &m) == 0) {
            for (size_t i = 0; i < m.u.stats->n_names; i++)
                if (strcmp(m.u.stats->names[i], name) == 0) v = m.u.stats->values[i];
            pf_wire_msg_free(&m);
        }
        zmq_msg_close(&f0), zmq_msg_close(&f1);
    }
    return v;
}

/* Read messages from sock (a ROUTER: [routing id] first; a DEALER: none)
 * until an end-of-stream header arrives: 1, or 0 after the safety net.
 * With from != NULL the routing id must be that. Other messages are skipped. */
static int read_answer(void *sock, const char *from, int router)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, SAFETY_NET_S * 1000) > 0) {
        zmq_msg_t f[4];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            cr_assert_geq(zmq_msg_recv(&m, sock, 0), 0);
            more = zmq_msg_more(&m);
            if (n < 4) f[n++] = m;
            else zmq_msg_close(&m);
        }
        int hdr = router ? 1 : 0, found = 0;
        pf_wire_header h;
        if (n == hdr + 2 && pf_wire_header_decode(zmq_msg_data(&f[hdr]), zmq_msg_size(&f[hdr]), &h) == 0 &&
            h.type == PF_MSG_EOS) {
            found = 1;
            if (from)
                cr_assert(zmq_msg_size(&f[0]) == strlen(from) && memcmp(zmq_msg_data(&f[0]), from, strlen(from)) == 0,
                          "the answer came from '%.*s', not %s", (int)zmq_msg_size(&f[0]),
                          (const char *)zmq_msg_data(&f[0]), from);
        }
        for (int k = 0; k < n; k++) zmq_msg_close(&f[k]);
        if (found) return 1;
    }
    return 0;
}

static size_t count_lines_with(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

Test(runtime, a_standalone_node_drops_bad_frames_keeps_running_and_processes_good_ones)
{
    fresh_dir("frames");
    write_file("g.dot", "digraph frames {\n"
                        "  graph [classes=4, dim=8];\n"
                        "  src  [kind=synth_source, n=100, dim=8];\n"
                        "  sink [kind=file_sink];\n"
                        "  src -> sink;\n"
                        "}\n");
    char graph[512], ep[512];
    snprintf(graph, sizeof graph, "%s/g.dot", dir);
    sh("mkdir -p '%s/sock'", rdir);
    /* This test plays the supervisor (stats) and the upstream src#0 (its output
     * address, ipc://<run_dir>/sock/<node>.<port>.<instance>, see endpoint.h). */
    zctx = zmq_ctx_new();
    stats = zmq_socket(zctx, ZMQ_PULL);
    up = zmq_socket(zctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(up, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(up, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(stats, ZMQ_LINGER, &linger, sizeof linger);
    snprintf(ep, sizeof ep, "ipc://%s/sock/supervisor", rdir);
    cr_assert_eq(zmq_bind(stats, ep), 0, "bind %s: %s", ep, zmq_strerror(errno));
    snprintf(ep, sizeof ep, "ipc://%s/sock/src.out.0", rdir);
    cr_assert_eq(zmq_bind(up, ep), 0, "bind %s: %s", ep, zmq_strerror(errno));

    const char *args[] = {"node", graph, "sink", "--run-dir", rdir, "--supervised", NULL};
    pid_t pid = start("node.log", NULL, args);

    uint8_t *good, *nan_b, *inf_b, *wide;
    size_t good_len = pack_batch(1, 10, 8, 0.5f, &good);
    size_t nan_len = pack_batch(900, 4, 8, NAN, &nan_b);
    size_t inf_len = pack_batch(910, 4, 8, INFINITY, &inf_b);
    size_t wide_len = pack_batch(920, 4, 7, 0.5f, &wide); /* the graph says dim=8 */
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    pf_wire_header bad_magic = {0xdeadbeef, PF_WIRE_VERSION, PF_MSG_BATCH, 0, 0, 1};
    uint8_t bad_hdr[PF_WIRE_HEADER_SIZE];
    pf_wire_header_encode(&bad_magic, bad_hdr);

    int sent_bad = 0;
    for (int round = 0; round < 3; round++) { /* each kind of damage more than once */
        const void *one_frame[] = {good};
        size_t one_len[] = {good_len};
        send_frames(one_frame, one_len, 1), sent_bad++;             /* one frame */
        const void *three[] = {bad_hdr, good, good};
        size_t three_len[] = {sizeof bad_hdr, good_len, good_len};
        send_frames(three, three_len, 3), sent_bad++;               /* three frames */
        const void *short_hdr[] = {bad_hdr, good};
        size_t short_len[] = {5, good_len};
        send_frames(short_hdr, short_len, 2), sent_bad++;           /* truncated header */
        size_t magic_len[] = {sizeof bad_hdr, good_len};
        send_frames(short_hdr, magic_len, 2), sent_bad++;           /* wrong magic */
        send_msg(0, PF_MSG_BATCH, good, good_len / 2), sent_bad++;  /* truncated payload */
        send_msg(0, PF_MSG_BATCH, junk, sizeof junk), sent_bad++;   /* corrupt payload */
        send_msg(0, PF_MSG_BATCH, nan_b, nan_len), sent_bad++;      /* NaN */
        send_msg(0, PF_MSG_BATCH, inf_b, inf_len), sent_bad++;      /* Inf */
        send_msg(0, PF_MSG_BATCH, wide, wide_len), sent_bad++;      /* wrong dimension */
        send_msg(1, PF_MSG_BATCH, good, good_len), sent_bad++;      /* from an instance not wired here */
    }
    /* Then good batches (ids 1..40) and end-of-stream: the node must still be alive to take them. */
    for (uint64_t first = 1; first <= 31; first += 10) {
        uint8_t *b;
        size_t len = pack_batch(first, 10, 8, (float)first, &b);
        send_msg(0, PF_MSG_BATCH, b, len);
        free(b);
    }
    Pf__Eos eos = PF__EOS__INIT;
    uint8_t *e;
    size_t elen;
    cr_assert_eq(pf_wire_encode(PF_MSG_EOS, &eos, &e, &elen), 0);
    send_msg(0, PF_MSG_EOS, e, elen);

    int rc = wait_exit(pid);
    char path[512];
    snprintf(path, sizeof path, "%s/node.log", dir);
    char *log = pf_e2e_slurp(path);
    cr_assert_eq(rc, 0, "the node ends on end-of-stream with status 0; got %d; log:\n%s", rc, log);
    cr_assert_eq(last_stat("bad_frames"), (double)sent_bad, "log:\n%s", log);
    /* Logged once per kind of damage, not once per frame. */
    size_t warned = count_lines_with(log, "dropped a bad frame");
    cr_assert(warned >= 1 && warned <= 10, "%zu warnings for %d bad frames; log:\n%s", warned, sent_bad, log);
    static unsigned seen[1001];
    cr_assert_eq(read_sink("sink#0.tsv", seen, 1000), 40, "only the good samples are written");
    assert_ids(seen, 40, 1);
    /* The sink answered the end-of-stream, on the same connection, as itself. */
    cr_assert(read_answer(up, "sink#0/in", 1), "no answer to end-of-stream came back");

    free(good), free(nan_b), free(inf_b), free(wide), free(e), free(log);
    zmq_close(up), zmq_close(stats);
    zmq_ctx_term(zctx);
}

Test(runtime, a_node_keeps_running_until_every_downstream_instance_answers_end_of_stream)
{
    fresh_dir("answer");
    write_file("g.dot", "digraph answer {\n"
                        "  graph [classes=4, dim=8, batch=10];\n"
                        "  src  [kind=synth_source, n=50, dim=8];\n"
                        "  sink [kind=file_sink];\n"
                        "  src -> sink;\n"
                        "}\n");
    char graph[512], ep[512];
    snprintf(graph, sizeof graph, "%s/g.dot", dir);
    sh("mkdir -p '%s/sock'", rdir);
    /* This test plays sink#0: a DEALER on src#0's output that reads everything
     * and answers end-of-stream only when it chooses to. */
    void *ctx = zmq_ctx_new();
    void *down = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(down, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(down, ZMQ_ROUTING_ID, "sink#0/in", 9);
    snprintf(ep, sizeof ep, "ipc://%s/sock/src.out.0", rdir);
    cr_assert_eq(zmq_connect(down, ep), 0);

    const char *args[] = {"node", graph, "src", "--run-dir", rdir, NULL};
    pid_t pid = start("node.log", NULL, args);
    /* The first end-of-stream, then its re-send: the source is still waiting. */
    cr_assert(read_answer(down, NULL, 0), "no end-of-stream from the source");
    cr_assert(read_answer(down, NULL, 0), "the source did not re-send end-of-stream while unanswered");
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the source exited before its end-of-stream was answered");

    Pf__Eos e = PF__EOS__INIT;
    uint8_t payload[16];
    size_t len = pf_wire_pack(PF_MSG_EOS, &e, payload);
    pf_wire_header h = {PF_WIRE_MAGIC, PF_WIRE_VERSION, PF_MSG_EOS, 1, 0, 1}; /* sink#0 is instance 1 */
    uint8_t hdr[PF_WIRE_HEADER_SIZE];
    pf_wire_header_encode(&h, hdr);
    cr_assert_geq(zmq_send(down, hdr, sizeof hdr, ZMQ_SNDMORE), 0);
    cr_assert_geq(zmq_send(down, payload, len, 0), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/node.log", dir);
    int rc = wait_exit(pid);
    char *log = pf_e2e_slurp(path);
    cr_assert_eq(rc, 0, "exit %d once answered; log:\n%s", rc, log);
    free(log);
    zmq_close(down);
    zmq_ctx_term(ctx);
}
