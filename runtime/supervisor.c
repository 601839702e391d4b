/*
 * supervisor.c - process supervision for `pseudoflow run` (see supervisor.h).
 *
 * One loop: reap children (waitpid WNOHANG), start the ones whose backoff has
 * passed, read stats (a PULL socket every instance pushes to), redraw
 * progress. Signals only set a flag; everything happens in the loop. The
 * supervisor never touches the data path: if it dies, the children get
 * SIGTERM from the kernel (PR_SET_PDEATHSIG) and stop cleanly.
 *
 * A restarted instance is told which instances have already finished
 * (--ended), because an end-of-stream they sent to its previous incarnation
 * died with it. An upstream instance that finishes after the restart cannot
 * tell it either, so the supervisor also publishes the finished set on its
 * control socket every CONTROL_EVERY_MS while the run lasts.
 *
 * Only the instances placed here run (place_here): nodes without host= and
 * nodes whose host= names this machine, or, with --host H, the nodes with
 * host=H. The others are another machine's to run (`pseudoflow run --host`
 * or `pseudoflow node` there); the run ends when the local ones have. An
 * exclusive flock on <run_dir>/run.lock keeps a second run out of the same
 * directory: libzmq would silently take over its ipc sockets.
 */
#include "runtime/clock.h"
#include "runtime/supervisor.h"
#include "runtime/end_record.h"
#include "runtime/endpoint.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "runtime/run_dir.h"
#include "runtime/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define STOP_GRACE_MS 5000       /* SIGTERM, then SIGKILL after this long */
#define PROGRESS_TTY_MS 1000     /* live redraw interval on a terminal */
#define PROGRESS_LOG_MS 10000    /* progress log line interval otherwise */
#define MAX_STATS 64
#define CONTROL_EVERY_MS 200     /* publish the finished set this often */

typedef struct child {
    size_t node;
    int instance;
    pid_t pid;        /* 0 = not running */
    int restarts;
    int finished;     /* exited 0 after end-of-stream */
    int remote;       /* placed on another machine: never started here */
    uint64_t start_at; /* when to (re)start it, ms */
    /* latest stats */
    char names[MAX_STATS][32];
    double values[MAX_STATS];
    size_t nstats;
} child;

typedef struct sup {
    const pf_graph *g;
    const pf_run_opts *o;
    char run_dir[4096];
    char exe[4096];
    child *kids;
    size_t nkids;
    void *zctx, *stats, *control;
    int tty;
    int drawn_lines;
    uint64_t t0;
    double *prev_count;  /* per node: count at the previous progress draw */
    uint64_t prev_ms;
    double *rate;        /* per node, samples/s, smoothed */
    int lock_fd;         /* <run_dir>/run.lock, flocked for the run's life; -1 = none */
    int resume;          /* instances start as restarts keeping their end-of-stream records: --resume of a run
                          * that had not finished (prepare_run_dir) */
} sup;

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

/* "NAME#I", as every process names the instance (pf_graph_instance_name). */
static void child_name(const sup *s, const child *c, char *buf, size_t len)
{
    pf_graph_instance_name(s->g, s->g->nodes[c->node].first_instance + (size_t)c->instance, buf, len);
}

static int spawn(sup *s, child *c)
{
    char spec[256], ended[8192] = "", restarts[32];
    child_name(s, c, spec, sizeof spec);
    /* Resumed, the first start is a restart of the incarnation that ran before this supervisor
     * stopped; c->restarts stays this run's count, which max_restarts bounds. */
    snprintf(restarts, sizeof restarts, "%d", c->restarts + (s->resume ? 1 : 0));
    if (c->restarts == 0 && !s->resume) {
        /* The instance's end-of-stream record (runtime/end_record.h) of an
         * earlier run here must not reach a restart of this one, even if
         * the first incarnation dies before it could remove it itself. */
        char record[sizeof s->run_dir + sizeof spec + 8];
        int rc = pf_end_record_path(s->run_dir, spec, record, sizeof record);
        if (rc == 0) rc = pf_end_record_reset(record);
        if (rc < 0) return rc;
    }
    size_t len = 0;
    for (size_t i = 0; i < s->nkids; i++) {
        if (!s->kids[i].finished) continue;
        int w = snprintf(ended + len, sizeof ended - len, "%s%zu", len ? "," : "", i);
        if (w < 0 || (size_t)w >= sizeof ended - len) break;
        len += (size_t)w;
    }
    pid_t pid = fork();
    if (pid < 0) return pf_errorf(PF_ECHILD, "fork for %s: %s", spec, strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1) _exit(1); /* the supervisor died before prctl took effect */
        const char *argv[16 + 2 * PF_RUN_MAX_SETS];
        int a = 0;
        argv[a++] = s->exe;
        argv[a++] = "node";
        argv[a++] = s->o->graph_path;
        argv[a++] = spec;
        argv[a++] = "--run-dir";
        argv[a++] = s->run_dir;
        argv[a++] = "--supervised";
        argv[a++] = "--restarts";
        argv[a++] = restarts;
        if (len) {
            argv[a++] = "--ended";
            argv[a++] = ended;
        }
        if (s->o->log_level) {
            argv[a++] = "--log-level";
            argv[a++] = s->o->log_level;
        }
        for (size_t k = 0; k < s->o->nsets; k++) { /* the graph as this run loaded it (at most PF_RUN_MAX_SETS) */
            argv[a++] = "--set";
            argv[a++] = s->o->sets[k];
        }
        argv[a] = NULL;
        execv(s->exe, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", s->exe, strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    return 0;
}

/* Take <run_dir>/run.lock, or say which run holds it. */
static int lock_run_dir(sup *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/run.lock", s->run_dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) return pf_errorf(PF_EIO, "cannot open '%s': %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(s->lock_fd), s->lock_fd = -1;
        if (e != EWOULDBLOCK && e != EAGAIN) /* not contention: say what it is */
            return pf_errorf(PF_EIO, "cannot lock '%s': %s", path, strerror(e));
        return pf_errorf(PF_ESTATE, "run dir '%s' is in use by another run (pid %s); give this one another "
                         "--run-dir", s->run_dir, pid[0] ? pid : "unknown");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, pid, (size_t)n, 0) != n)
        PF_WARN("cannot write the pid into '%s': %s", path, strerror(errno));
    return 0;
}

/* pf_run_dir_clear's filter: the instances that run here. */
static int local_instances(size_t flat, void *arg)
{
    const sup *s = arg;
    return !s->kids[flat].remote;
}

/* What the run directory holds from an earlier run (runtime/run_dir.h),
 * once the instances are placed: with --fresh, clear what the local ones
 * keep; a finished run is refused without --resume, and resumed it starts
 * a new round of end-of-stream on its state (its records say every peer
 * ended, which a new round must not believe); an unfinished run is
 * continued, saying so. Called holding run.lock. */
static int prepare_run_dir(sup *s)
{
    char when[160] = ""; /* run.finished's line, "<UTC time> graph NAME in SECONDS s"; a longer one is cut */
    int finished = pf_run_dir_finished(s->run_dir, when, sizeof when);
    if (finished < 0) return finished;
    s->resume = s->o->resume && !finished;
    if (s->o->fresh) {
        size_t removed = 0;
        int rc = pf_run_dir_clear(s->g, s->run_dir, local_instances, s, &removed);
        if (rc < 0) return rc;
        if (removed)
            PF_INFO("starting over (--fresh): removed %zu files of the earlier run in %s", removed, s->run_dir);
        if (!pf_run_dir_store_inside(s->g, s->run_dir))
            PF_WARN("--fresh leaves the store '%s': it lies outside the run directory (store=), where another run "
                    "may use it; remove it to start from an empty store", s->g->cfg.store);
        return 0;
    }
    if (finished && !s->o->resume)
        return pf_errorf(PF_ESTATE,
                         "run dir '%s' holds a run that finished (%s): its sources are at the end of their streams, "
                         "so it would end at once. `pseudoflow run --fresh` starts over there (removing that run's "
                         "store, checkpoints, cursors and metrics); --run-dir DIR starts in another directory; "
                         "--resume runs it again on its state, for sources with more to send (a dir_source's new "
                         "files)",
                         s->run_dir, when[0] ? when : "run.finished");
    if (finished) {
        PF_INFO("the run here had finished (%s): its instances start anew on its store, checkpoints and cursors",
                when[0] ? when : "run.finished");
        return pf_run_dir_unmark_finished(s->run_dir); /* an interrupted rerun is not a finished one */
    }
    if (!s->o->resume && pf_run_dir_has_state(s->g, s->run_dir))
        PF_WARN("run dir '%s' holds a run that did not finish: its nodes continue from its store, checkpoints and "
                "cursors (--fresh starts over; --resume also keeps its end-of-stream records)", s->run_dir);
    return 0;
}

/* Mark the instances placed elsewhere; warn about hosts that do not resolve
 * (their peers here would wait for them without a word). Fails when nothing
 * at all is placed here. */
static int place_instances(sup *s)
{
    size_t here = 0;
    for (size_t i = 0; i < s->nkids; i++) {
        const pf_gnode *n = &s->g->nodes[s->kids[i].node];
        s->kids[i].remote = !pf_graph_node_placed_here(n, s->o->host);
        here += !s->kids[i].remote;
        if (!s->kids[i].remote || s->kids[i].instance != 0) continue;
        int e = 0;
        if (n->host && n->host[0]) pf_graph_host_lookup(n->host, &e); /* asked once per host and process */
        if (e != 0)
            PF_WARN("node %s is placed on host '%s', which does not resolve here (%s): nodes here that read "
                    "from it will wait", n->name, n->host, gai_strerror(e));
        PF_INFO("node %s runs on %s, not here", n->name, n->host && n->host[0] ? n->host : "the main machine");
    }
    if (here > 0) return 0;
    char hosts[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < s->g->nnodes; i++) {
        const char *h = s->g->nodes[i].host && s->g->nodes[i].host[0] ? s->g->nodes[i].host : "(none)";
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            const char *o = s->g->nodes[j].host && s->g->nodes[j].host[0] ? s->g->nodes[j].host : "(none)";
            seen = !strcmp(o, h);
        }
        int w = seen ? 0 : snprintf(hosts + len, sizeof hosts - len, "%s%s", len ? ", " : "", h);
        if (w > 0 && (size_t)w < sizeof hosts - len) len += (size_t)w;
    }
    return pf_errorf(PF_EINVAL, "no node of graph '%s' is placed %s%s%s; the graph's hosts: %s", s->g->name,
                     s->o->host ? "on host '" : "on this machine", s->o->host ? s->o->host : "",
                     s->o->host ? "'" : "", hosts);
}

/* Reap exited children. Returns 0, or PF_ECHILD when one exceeded its restarts. */
static int reap(sup *s, int stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        child *c = NULL;
        for (size_t i = 0; i < s->nkids; i++)
            if (s->kids[i].pid == pid) c = &s->kids[i];
        if (!c) continue;
        c->pid = 0;
        if (stopping) continue;
        char name[256];
        child_name(s, c, name, sizeof name);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            c->finished = 1;
            PF_DEBUG("%s finished", name);
            continue;
        }
        char how[64];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) == PF_NODE_EXIT_CONFIG)
            return pf_errorf(PF_ECHILD, "node %s cannot run as configured (see its log lines above); not restarting "
                             "it: fix the graph or its data and run again", name);
        if (c->restarts >= s->g->cfg.max_restarts)
            return pf_errorf(PF_ECHILD, "node %s %s and has failed %d times (max_restarts=%lld); "
                             "stopping the run; see its log lines above",
                             name, how, c->restarts + 1, (long long)s->g->cfg.max_restarts);
        long backoff = BACKOFF_FIRST_MS << (c->restarts < 6 ? c->restarts : 6);
        if (backoff > BACKOFF_MAX_MS) backoff = BACKOFF_MAX_MS;
        c->restarts++;
        c->start_at = pf_clock_mono_ms() + (uint64_t)backoff;
        PF_WARN("node %s %s; restart %d of at most %lld in %ld ms", name, how, c->restarts,
                (long long)s->g->cfg.max_restarts, backoff);
    }
    return 0;
}

/* Publish which instances have finished: one byte (0/1) per flat instance. */
static void publish_finished(sup *s)
{
    uint8_t *set = calloc(s->nkids, 1);
    if (!set) return;
    for (size_t i = 0; i < s->nkids; i++) set[i] = (uint8_t)s->kids[i].finished;
    zmq_send(s->control, set, s->nkids, ZMQ_DONTWAIT);
    free(set);
}

static void read_stats(sup *s)
{
    for (;;) {
        zmq_msg_t f0, f1;
        zmq_msg_init(&f0);
        if (zmq_msg_recv(&f0, s->stats, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f0);
            return;
        }
        zmq_msg_init(&f1);
        int ok = zmq_msg_more(&f0) && zmq_msg_recv(&f1, s->stats, 0) >= 0 && !zmq_msg_more(&f1);
        while (zmq_msg_more(&f1)) zmq_msg_recv(&f1, s->stats, 0);
        pf_wire_header h;
        pf_msg m = {0};
        if (ok && pf_wire_header_decode(zmq_msg_data(&f0), zmq_msg_size(&f0), &h) == 0 &&
            h.type == PF_MSG_STATS && h.sender < s->nkids &&
            pf_wire_decode(&h, zmq_msg_data(&f1), zmq_msg_size(&f1), NULL, &m) == 0) {
            child *c = &s->kids[h.sender];
            Pf__Stats *st = m.u.stats;
            c->nstats = 0;
            for (size_t i = 0; i < st->n_names && i < MAX_STATS; i++) {
                snprintf(c->names[i], sizeof c->names[i], "%s", st->names[i]);
                c->values[i] = st->values[i];
                c->nstats++;
            }
            pf_wire_msg_free(&m);
        }
        zmq_msg_close(&f0);
        zmq_msg_close(&f1);
    }
}

static double stat_of(const child *c, const char *name)
{
    for (size_t i = 0; i < c->nstats; i++)
        if (strcmp(c->names[i], name) == 0) return c->values[i];
    return 0;
}

/* Sum a stat over the instances of node n. */
static double node_stat(const sup *s, size_t n, const char *name)
{
    double v = 0;
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i].node == n) v += stat_of(&s->kids[i], name);
    return v;
}

static int node_has_stat(const sup *s, size_t n, const char *name)
{
    for (size_t i = 0; i < s->nkids; i++) {
        if (s->kids[i].node != n) continue;
        for (size_t k = 0; k < s->kids[i].nstats; k++)
            if (strcmp(s->kids[i].names[k], name) == 0) return 1;
    }
    return 0;
}

static void format_count(double v, char *buf, size_t len)
{
    if (v >= 1e9) snprintf(buf, len, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, len, "%.1fk", v / 1e3);
    else snprintf(buf, len, "%.0f", v);
}

/* Progress: per node, samples in/out, rate, queue; ETA from the sources' totals. */
static void progress(sup *s, int final)
{
    uint64_t t = pf_clock_mono_ms();
    double dt = (double)(t - s->prev_ms) / 1000.0;
    double total = 0, produced = 0;
    for (size_t n = 0; n < s->g->nnodes; n++) {
        double tot = node_stat(s, n, "total");
        if (tot > 0) {
            total += tot;
            produced += node_stat(s, n, "samples_out");
        }
    }
    char head[256];
    double el = (double)(t - s->t0) / 1000.0;
    int len = snprintf(head, sizeof head, "pseudoflow %s  %.0fs", s->g->name, el);
    if (total > 0) {
        double frac = produced / total;
        len += snprintf(head + len, sizeof head - (size_t)len, "  source %.1f%%", 100 * frac);
        if (frac > 0.01 && frac < 1) snprintf(head + len, sizeof head - (size_t)len, "  ETA %.0fs", el * (1 - frac) / frac);
    }
    if (s->tty && !final) {
        if (s->drawn_lines) fprintf(stderr, "\033[%dA", s->drawn_lines);
        fprintf(stderr, "\033[2K%s\n", head);
    } else if (!s->tty) {
        PF_INFO("%s", head);
    }
    int lines = 1;
    for (size_t n = 0; n < s->g->nnodes; n++) {
        const pf_gnode *gn = &s->g->nodes[n];
        double in = node_stat(s, n, "samples_in"), out = node_stat(s, n, "samples_out");
        double q = node_stat(s, n, "queued"), bad = node_stat(s, n, "bad_frames");
        double count = in > out ? in : out;
        if (dt > 0.2) {
            double r = (count - s->prev_count[n]) / dt;
            s->rate[n] = s->rate[n] > 0 ? 0.5 * s->rate[n] + 0.5 * r : r;
            s->prev_count[n] = count;
        }
        int restarts = 0, local = 0;
        for (size_t i = 0; i < s->nkids; i++)
            if (s->kids[i].node == n) restarts += s->kids[i].restarts, local += !s->kids[i].remote;
        char a[32], b[32], r[32];
        format_count(in, a, sizeof a);
        format_count(out, b, sizeof b);
        format_count(s->rate[n], r, sizeof r);
        char line[512];
        snprintf(line, sizeof line, "  %-12s %-14s x%d in %8s  out %8s  %8s/s  queued %3.0f%s%s", gn->name,
                 gn->kind->name, gn->replicas, a, b, r, q, restarts ? "  restarts " : "", "");
        if (restarts) snprintf(line + strlen(line), sizeof line - strlen(line), "%d", restarts);
        if (bad > 0) snprintf(line + strlen(line), sizeof line - strlen(line), "  bad frames %.0f", bad);
        if (!local)
            snprintf(line, sizeof line, "  %-12s %-14s x%d on %s, not run here", gn->name, gn->kind->name, gn->replicas,
                     gn->host && gn->host[0] ? gn->host : "the main machine");
        /* An evaluator's latest figures (gauges, so one instance's value). */
        if (node_has_stat(s, n, "accuracy"))
            snprintf(line + strlen(line), sizeof line - strlen(line),
                     "  accuracy %.4f  macro-F1 %.4f  ECE %.4f  pseudo precision %.3f coverage %.3f",
                     node_stat(s, n, "accuracy"), node_stat(s, n, "macro_f1"), node_stat(s, n, "ece"),
                     node_stat(s, n, "pseudo_precision"), node_stat(s, n, "pseudo_coverage"));
        if (s->tty && !final)
            fprintf(stderr, "\033[2K%s\n", line);
        else if (!s->tty || final)
            PF_INFO("%s", line);
        lines++;
    }
    if (dt > 0.2) s->prev_ms = t;
    s->drawn_lines = (s->tty && !final) ? lines : 0;
}

static void write_stats_json(sup *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/stats.json", s->run_dir);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "{\"graph\": \"%s\", \"seconds\": %.3f, \"instances\": [\n", s->g->name,
            (double)(pf_clock_mono_ms() - s->t0) / 1000.0);
    for (size_t i = 0; i < s->nkids; i++) {
        child *c = &s->kids[i];
        char name[256];
        child_name(s, c, name, sizeof name);
        fprintf(f, "  {\"instance\": \"%s\", \"restarts\": %d", name, c->restarts);
        for (size_t k = 0; k < c->nstats; k++) fprintf(f, ", \"%s\": %.17g", c->names[k], c->values[k]);
        fprintf(f, "}%s\n", i + 1 < s->nkids ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
}

static void stop_all(sup *s)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i].pid) kill(s->kids[i].pid, SIGTERM);
    uint64_t until = pf_clock_mono_ms() + STOP_GRACE_MS;
    for (;;) {
        reap(s, 1);
        int alive = 0;
        for (size_t i = 0; i < s->nkids; i++) alive += s->kids[i].pid != 0;
        if (!alive) break;
        if (pf_clock_mono_ms() >= until) {
            for (size_t i = 0; i < s->nkids; i++) {
                if (!s->kids[i].pid) continue;
                char name[256];
                child_name(s, &s->kids[i], name, sizeof name);
                PF_WARN("node %s did not stop within %d ms; killing it", name, STOP_GRACE_MS);
                kill(s->kids[i].pid, SIGKILL);
            }
            while (waitpid(-1, NULL, 0) > 0) {}
            for (size_t i = 0; i < s->nkids; i++) s->kids[i].pid = 0;
            break;
        }
        pf_clock_sleep_ms(20);
    }
}

int pf_supervisor_run(const pf_graph *g, const pf_run_opts *o)
{
    if (o->nsets > PF_RUN_MAX_SETS) /* the children would run another graph than this one */
        return pf_errorf(PF_EINVAL, "%zu --set settings; at most %d reach the nodes", o->nsets, PF_RUN_MAX_SETS);
    sup s = {0};
    int rc = 0;
    s.lock_fd = -1;
    s.g = g;
    s.o = o;
    snprintf(s.run_dir, sizeof s.run_dir, "%s", o->run_dir ? o->run_dir : g->cfg.run_dir);
    if (o->exe) {
        snprintf(s.exe, sizeof s.exe, "%s", o->exe);
    } else {
        ssize_t n = readlink("/proc/self/exe", s.exe, sizeof s.exe - 1);
        if (n <= 0) return pf_errorf(PF_EIO, "cannot find the pseudoflow binary: %s", strerror(errno));
        s.exe[n] = '\0';
    }
    s.tty = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress;
    if ((rc = pf_endpoint_prepare(s.run_dir)) < 0 || (rc = lock_run_dir(&s)) < 0) return rc;
    s.nkids = g->ninstances;
    s.kids = calloc(s.nkids, sizeof *s.kids);
    s.prev_count = calloc(g->nnodes, sizeof *s.prev_count);
    s.rate = calloc(g->nnodes, sizeof *s.rate);
    if (!s.kids || !s.prev_count || !s.rate) {
        rc = pf_errorf(PF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t n = 0; n < g->nnodes; n++)
        for (int i = 0; i < g->nodes[n].replicas; i++) {
            child *c = &s.kids[g->nodes[n].first_instance + (size_t)i];
            c->node = n;
            c->instance = i;
        }
    if ((rc = place_instances(&s)) < 0 || (rc = prepare_run_dir(&s)) < 0) goto out;

    char ep[PF_ENDPOINT_MAX];
    if ((rc = pf_endpoint_supervisor(s.run_dir, ep, sizeof ep)) < 0) goto out;
    s.zctx = zmq_ctx_new();
    s.stats = zmq_socket(s.zctx, ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt(s.stats, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s.stats, ep) != 0) {
        rc = pf_errorf(PF_EZMQ, "bind %s: %s (is another run using run_dir '%s'?)", ep, zmq_strerror(errno), s.run_dir);
        goto out;
    }

    if ((rc = pf_endpoint_control(s.run_dir, ep, sizeof ep)) < 0) goto out;
    s.control = zmq_socket(s.zctx, ZMQ_PUB);
    zmq_setsockopt(s.control, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s.control, ep) != 0) {
        rc = pf_errorf(PF_EZMQ, "bind %s: %s", ep, zmq_strerror(errno));
        goto out;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    PF_INFO("%s graph '%s' from %s: %zu nodes, %zu processes, run dir %s", s.resume ? "resuming" : "running",
            g->name, o->graph_path, g->nnodes, s.nkids, s.run_dir);
    if (s.resume) PF_INFO("every instance starts as a restart and keeps its end-of-stream record (--resume)");
    s.t0 = s.prev_ms = pf_clock_mono_ms();
    uint64_t next_progress = s.t0 + (s.tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS), next_control = s.t0;
    int completed = 0; /* every instance placed here finished */
    for (;;) {
        if (got_signal) {
            if (s.tty && s.drawn_lines) fputc('\n', stderr);
            PF_INFO("stopping on signal %d: asking every node to stop", (int)got_signal);
            stop_all(&s);
            break;
        }
        if ((rc = reap(&s, 0)) < 0) {
            PF_ERROR("%s", pf_error_last());
            stop_all(&s);
            break;
        }
        uint64_t t = pf_clock_mono_ms();
        int all_done = 1;
        for (size_t i = 0; i < s.nkids; i++) {
            child *c = &s.kids[i];
            if (c->finished || c->remote) continue;
            all_done = 0;
            if (!c->pid && t >= c->start_at && (rc = spawn(&s, c)) < 0) break;
        }
        if (rc < 0) {
            PF_ERROR("%s", pf_error_last());
            stop_all(&s);
            break;
        }
        if (all_done) {
            completed = 1;
            break;
        }
        zmq_pollitem_t it = {s.stats, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 50);
        read_stats(&s);
        if (pf_clock_mono_ms() >= next_control) {
            publish_finished(&s);
            next_control = pf_clock_mono_ms() + CONTROL_EVERY_MS;
        }
        if (pf_clock_mono_ms() >= next_progress) {
            progress(&s, 0);
            next_progress = pf_clock_mono_ms() + (s.tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS);
        }
    }
    read_stats(&s);
    if (s.tty && s.drawn_lines) {
        fprintf(stderr, "\033[%dA\033[J", s.drawn_lines);
        s.drawn_lines = 0;
    }
    progress(&s, 1);
    write_stats_json(&s);
    double secs = (double)(pf_clock_mono_ms() - s.t0) / 1000.0;
    if (rc == 0 && completed && pf_run_dir_mark_finished(s.run_dir, g->name, secs) < 0)
        PF_WARN("%s: a plain `pseudoflow run` here will not know this run finished", pf_error_last());
    if (rc == 0) PF_INFO("run %s %.1f s", got_signal ? "stopped after" : "finished in", secs);
out:
    if (s.stats) zmq_close(s.stats);
    if (s.control) zmq_close(s.control);
    if (s.zctx) zmq_ctx_term(s.zctx);
    pf_endpoint_cleanup(s.run_dir);
    free(s.kids);
    free(s.prev_count);
    free(s.rate);
    if (s.lock_fd >= 0) close(s.lock_fd); /* releases the flock; the file stays, empty of meaning */
    return rc;
}
