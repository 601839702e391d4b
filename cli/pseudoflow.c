/*
 * pseudoflow.c - the command line: one binary, one subcommand per job.
 *
 *   pseudoflow run GRAPH        start, supervise and stop every node of a graph
 *   pseudoflow node GRAPH NAME  run one node instance (another host, a debugger)
 *   pseudoflow check GRAPH...   validate graphs, print every problem
 *   pseudoflow describe KIND    a kind's ports and parameters
 *   pseudoflow kinds            every kind
 *
 * Exit status: 0 success, 1 failure at run time, 2 bad usage or a graph that
 * does not check. Subcommands that grow past a screen live in their own
 * cli/cmd_*.c file and are listed in the table below.
 */
#include "cli/commands.h"
#include "runtime/curve.h"
#include "runtime/error.h"
#include "runtime/graph.h"
#include "runtime/kind.h"
#include "runtime/log.h"
#include "runtime/node_loop.h"
#include "runtime/supervisor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

/* Load and check; print diagnostics; move the run directory when run_dir is
 * given. Returns the graph or NULL (the problem printed). */
/* Is argv[i] one of the options named (NULL-terminated) without a value
 * after it (the end, or another --option)? Then say so: the caller exits 2. */
static int needs_value(int argc, char **argv, int i, const char *cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int missing = 0;
    for (const char *opt; !missing && (opt = va_arg(ap, const char *));)
        missing = !strcmp(argv[i], opt) && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2));
    va_end(ap);
    if (missing) fprintf(stderr, "%s: %s needs a value\n", cmd, argv[i]);
    return missing;
}

/* Settings given with --set NODE.PARAM=VALUE, over the graph file's (graph.h). */
#define MAX_SETS PF_RUN_MAX_SETS
typedef struct sets {
    const char *v[MAX_SETS];
    size_t n;
} sets;

/* Take argv[i] == "--set" and its value into *st. 1 taken, 0 not a --set, -1 too many. */
static int take_set(int argc, char **argv, int *i, sets *st, const char *cmd)
{
    if (strcmp(argv[*i], "--set") != 0 || *i + 1 >= argc) return 0;
    if (st->n == MAX_SETS) return fprintf(stderr, "%s: at most %d --set\n", cmd, MAX_SETS), -1;
    st->v[st->n++] = argv[++*i];
    return 1;
}

static pf_graph *load_graph(const char *path, const char *run_dir, const sets *st)
{
    pf_graph *g = NULL;
    pf_diags d = {0};
    if (pf_graph_load_set(path, st ? st->v : NULL, st ? st->n : 0, &g, &d) < 0) {
        pf_diags_print(&d, stderr);
        if (d.n == 0) fprintf(stderr, "%s: %s\n", path, pf_error_last());
        pf_diags_fini(&d);
        return NULL;
    }
    pf_diags_fini(&d);
    if (run_dir && pf_graph_set_run_dir(g, run_dir) < 0) {
        fprintf(stderr, "%s: %s\n", path, pf_error_last());
        pf_graph_destroy(&g);
    }
    return g;
}

static int set_log_level(const char *text)
{
    if (pf_log_parse_level(text, &pf_log_threshold) < 0) {
        fprintf(stderr, "%s\n", pf_error_last());
        return -1;
    }
    return 0;
}

static const char run_help[] =
    "usage: pseudoflow run GRAPH [options]\n"
    "\n"
    "Start every node of GRAPH as its own process, wire them over ZeroMQ, restart\n"
    "nodes that crash (with backoff), and stop them all cleanly on Ctrl-C.\n"
    "Exits 0 when a finite stream has been processed end to end, or after a clean\n"
    "stop; 1 when a node keeps failing or the run directory is in use or holds a\n"
    "finished run; 2 when the graph does not check.\n"
    "\n"
    "options:\n"
    "  --run-dir DIR       where sockets, the store and metrics go (default: the\n"
    "                      graph's run_dir, else runs/<graph name>)\n"
    "  --progress          always draw live progress (default: when stderr is a terminal)\n"
    "  --no-progress       never draw it; log a progress line every 10 s instead\n"
    "  --log-level LEVEL   debug, info (default), warn or error\n"
    "  --host HOST         run the nodes placed with host=HOST (default: the nodes\n"
    "                      without host= and those whose host= names this machine)\n"
    "  --set NODE.PARAM=VALUE\n"
    "                      a parameter for this run over the graph file's, checked like\n"
    "                      it (graph.PARAM=VALUE for `graph [...]`); repeatable, e.g.\n"
    "                      --set student.lr=0.002 --set graph.seed=1. Every node gets\n"
    "                      them; give the same ones on every machine of the graph\n"
    "  --resume            continue the run that stopped in this run directory (a crash,\n"
    "                      a reboot, Ctrl-C): each node starts as a restart, keeps its\n"
    "                      record of the end-of-stream it had received and answered, and\n"
    "                      so does not wait for peers on other machines that have ended.\n"
    "                      Without it a run begins those records anew (stores, checkpoints\n"
    "                      and source cursors are picked up either way). On a run that\n"
    "                      finished, it runs it again on its state with new records, for\n"
    "                      sources with more to send (a dir_source's new files)\n"
    "  --fresh             start over: first remove what an earlier run left in the run\n"
    "                      directory for the nodes placed here (its store, checkpoints,\n"
    "                      cursors, end-of-stream records, metrics and summary; not its\n"
    "                      final model files, nor a store placed outside it with store=)\n"
    "\n"
    "A second run in the same run directory is refused (run.lock holds its pid).\n"
    "So is a run in a directory whose run finished (run.finished): its sources are at\n"
    "the end of their streams, so it would end at once; use --fresh, another\n"
    "--run-dir or --resume. A run that did not finish (a crash, Ctrl-C) is\n"
    "continued, with a warning, from its store, checkpoints and cursors.\n"
    "\n"
    "environment:\n"
    "  PF_FAULT            tests only: make an instance fail on purpose, e.g.\n"
    "                      \"sink#0:exit_after=5\" (rules in runtime/inject.h)\n";

static int cmd_run(int argc, char **argv)
{
    if (wants_help(argc, argv)) return fputs(run_help, stdout), 0;
    pf_run_opts o = {.progress = -1};
    sets st = {0};
    for (int i = 1; i < argc; i++) {
        if (needs_value(argc, argv, i, "pseudoflow run", "--run-dir", "--log-level", "--host", "--set", NULL)) return 2;
        int t = take_set(argc, argv, &i, &st, "pseudoflow run");
        if (t < 0) return 2;
        if (t) continue;
        if (strcmp(argv[i], "--run-dir") == 0 && i + 1 < argc) o.run_dir = argv[++i];
        else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) o.host = argv[++i];
        else if (strcmp(argv[i], "--progress") == 0) o.progress = 1;
        else if (strcmp(argv[i], "--no-progress") == 0) o.progress = 0;
        else if (strcmp(argv[i], "--resume") == 0) o.resume = 1;
        else if (strcmp(argv[i], "--fresh") == 0) o.fresh = 1;
        else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            o.log_level = argv[++i];
            if (set_log_level(o.log_level) < 0) return 2;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "pseudoflow run: unknown option '%s'\n\n%s", argv[i], run_help);
            return 2;
        } else if (!o.graph_path) o.graph_path = argv[i];
        else {
            fprintf(stderr, "pseudoflow run: one graph at a time ('%s' is extra)\n", argv[i]);
            return 2;
        }
    }
    if (!o.graph_path) return fprintf(stderr, "%s", run_help), 2;
    if (o.fresh && o.resume) {
        fprintf(stderr, "pseudoflow run: --fresh removes what --resume would continue; give one of them\n");
        return 2;
    }
    pf_kind_set_path_scope(o.host, NULL); /* check the files of the nodes this run starts */
    pf_graph *g = load_graph(o.graph_path, o.run_dir, &st);
    if (!g) return 2;
    o.sets = st.v, o.nsets = st.n;
    int rc = pf_supervisor_run(g, &o);
    if (rc < 0) fprintf(stderr, "pseudoflow run: %s\n", pf_error_last());
    pf_graph_destroy(&g);
    return rc < 0 ? 1 : 0;
}

static const char node_help[] =
    "usage: pseudoflow node GRAPH NAME[#INSTANCE] [options]\n"
    "\n"
    "Run one instance of one node of GRAPH in this process (instance 0 by default),\n"
    "for another host, a container or a debugger. It binds its outputs and connects\n"
    "its inputs at the same addresses `pseudoflow run` would use, so it takes part\n"
    "in the same graph. Stops on end-of-stream (exit 0), or cleanly on SIGINT or\n"
    "SIGTERM (exit 128 + the signal, as a shell reports it: stopped, not finished);\n"
    "exit 78 when it cannot run as configured (a restart would not help), 1 on\n"
    "other errors.\n"
    "\n"
    "options:\n"
    "  --run-dir DIR       as for `run` (must match the other nodes')\n"
    "  --set NODE.PARAM=VALUE  as for `run` (the same as the other nodes')\n"
    "  --log-level LEVEL   debug, info (default), warn or error\n"
    "  --supervised        report stats to `pseudoflow run` (set by the supervisor)\n"
    "  --ended LIST        flat instance numbers that already finished (set by the supervisor)\n"
    "  --restarts K        this is the K-th restart of the instance (set by the supervisor;\n"
    "                      selects PF_FAULT fault-injection rules, see runtime/inject.h). With\n"
    "                      K > 0 the instance takes in its record of the end-of-stream it had\n"
    "                      received and had answered (<run-dir>/NAME#I.ended), so it does not\n"
    "                      wait for peers that have ended; K = 0 starts a new record\n";

static int cmd_node(int argc, char **argv)
{
    if (wants_help(argc, argv)) return fputs(node_help, stdout), 0;
    const char *path = NULL, *spec = NULL, *ended = NULL;
    pf_node_opts o = {0};
    sets st = {0};
    for (int i = 1; i < argc; i++) {
        if (needs_value(argc, argv, i, "pseudoflow node", "--run-dir", "--ended", "--restarts", "--log-level", "--set",
                        NULL))
            return 2;
        int t = take_set(argc, argv, &i, &st, "pseudoflow node");
        if (t < 0) return 2;
        if (t) continue;
        if (strcmp(argv[i], "--run-dir") == 0 && i + 1 < argc) o.run_dir = argv[++i];
        else if (strcmp(argv[i], "--supervised") == 0) o.supervised = 1;
        else if (strcmp(argv[i], "--ended") == 0 && i + 1 < argc) ended = argv[++i];
        else if (strcmp(argv[i], "--restarts") == 0 && i + 1 < argc) {
            char *end;
            long k = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || k < 0 || k > 1000000)
                return fprintf(stderr, "pseudoflow node: --restarts expects a count >= 0, not '%s'\n", argv[i]), 2;
            o.restarts = (int)k;
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            if (set_log_level(argv[++i]) < 0) return 2;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "pseudoflow node: unknown option '%s'\n\n%s", argv[i], node_help);
            return 2;
        } else if (!path) path = argv[i];
        else if (!spec) spec = argv[i];
        else return fprintf(stderr, "pseudoflow node: unexpected '%s'\n", argv[i]), 2;
    }
    if (!path || !spec) return fprintf(stderr, "%s", node_help), 2;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(spec, "#"), spec);
    pf_kind_set_path_scope(NULL, name); /* this node's files, wherever it is placed */
    pf_graph *g = load_graph(path, o.run_dir, &st);
    if (!g) return 2;
    size_t node;
    int inst, rc;
    uint8_t *ended_set = NULL;
    if (pf_graph_resolve_instance(g, spec, &node, &inst) < 0) {
        fprintf(stderr, "pseudoflow node: %s\n", pf_error_last());
        pf_graph_destroy(&g);
        return 2;
    }
    if (ended) {
        ended_set = calloc(g->ninstances, 1);
        for (char *p = (char *)ended; ended_set && *p;) {
            char *end;
            unsigned long k = strtoul(p, &end, 10);
            if (end == p) break;
            if (k < g->ninstances) ended_set[k] = 1;
            p = *end ? end + 1 : end;
        }
        o.ended = ended_set;
    }
    rc = pf_node_run(g, node, inst, &o);
    if (rc < 0) PF_ERROR("%s", pf_error_last());
    free(ended_set);
    pf_graph_destroy(&g);
    if (rc == 0 && pf_node_stop_signal()) return 128 + pf_node_stop_signal(); /* stopped, not finished */
    if (rc == PF_ECONFIG) return PF_NODE_EXIT_CONFIG;
    return rc < 0 ? 1 : 0;
}

static const char check_help[] =
    "usage: pseudoflow check GRAPH... [--set NODE.PARAM=VALUE]...\n"
    "\n"
    "Validate graph files without starting anything: DOT syntax, kinds, parameter\n"
    "names, types and ranges, required parameters, ports, dangling inputs, cycles\n"
    "that do not pass through a feedback port, duplicate nodes. Prints every\n"
    "problem as FILE:LINE: node 'N': parameter 'P': what was expected.\n"
    "--set checks each graph with these settings over its own, as `run --set`\n"
    "would run it. Exits 0 when all graphs check, 2 otherwise.\n";

static int cmd_check(int argc, char **argv)
{
    if (wants_help(argc, argv)) return fputs(check_help, stdout), 0;
    if (argc < 2) return fprintf(stderr, "%s", check_help), 2;
    sets st = {0};
    const char **graphs = calloc((size_t)argc, sizeof *graphs);
    int ngraphs = 0;
    if (!graphs) return fprintf(stderr, "pseudoflow check: out of memory\n"), 1;
    for (int i = 1; i < argc; i++) {
        int t = needs_value(argc, argv, i, "pseudoflow check", "--set", NULL) ? -1 : take_set(argc, argv, &i, &st,
                                                                                              "pseudoflow check");
        if (t < 0) return free(graphs), 2;
        if (t) continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "pseudoflow check: unknown option '%s'\n\n%s", argv[i], check_help);
            return free(graphs), 2;
        }
        graphs[ngraphs++] = argv[i];
    }
    if (!ngraphs) return free(graphs), fprintf(stderr, "%s", check_help), 2;
    int bad = 0;
    for (int i = 0; i < ngraphs; i++) {
        pf_graph *g = load_graph(graphs[i], NULL, &st);
        if (!g) {
            bad = 1;
            continue;
        }
        printf("%s: ok (%zu nodes, %zu edges, %zu processes)\n", graphs[i], g->nnodes, g->nedges, g->ninstances);
        pf_graph_destroy(&g);
    }
    free(graphs);
    return bad ? 2 : 0;
}

static const char describe_help[] =
    "usage: pseudoflow describe KIND|graph\n"
    "\n"
    "List a node kind's ports and parameters (type, default, range, help), or with\n"
    "`graph`, the parameters a graph takes in `graph [...]`.\n";

static int cmd_describe(int argc, char **argv)
{
    if (wants_help(argc, argv)) return fputs(describe_help, stdout), 0;
    if (argc != 2) return fprintf(stderr, "%s", describe_help), 2;
    if (strcmp(argv[1], "graph") == 0) {
        printf("graph parameters, set with `graph [name=value, ...]`:\n");
        pf_params_describe(pf_graph_params, stdout);
        return 0;
    }
    const pf_kind *k = pf_kind_find(argv[1]);
    if (!k) {
        fprintf(stderr, "pseudoflow describe: unknown kind '%s'; `pseudoflow kinds` lists them\n", argv[1]);
        return 2;
    }
    pf_kind_describe(k, stdout);
    return 0;
}

static int cmd_kinds(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        puts("usage: pseudoflow kinds\n\nList every node kind with a one-line summary.");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "pseudoflow kinds: unexpected '%s'\nusage: pseudoflow kinds\n", argv[1]);
        return 2;
    }
    for (size_t i = 0; i < pf_kind_count(); i++)
        printf("%-16s %s\n", pf_kind_at(i)->name, pf_kind_at(i)->summary);
    return 0;
}

static const char keygen_help[] =
    "usage: pseudoflow keygen DIR\n"
    "\n"
    "Create CURVE keys for graphs whose nodes run on several machines (host=):\n"
    "DIR/server.key and DIR/client.key (key pairs, mode 0600) and\n"
    "DIR/authorized_keys (client public keys the servers accept). Point the graph\n"
    "at them with `graph [curve_dir=\"DIR\"]` and copy DIR to every host; every tcp\n"
    "edge is then encrypted, and peers without an authorized key are refused.\n"
    "Existing keys are never overwritten: if any of the three files exists,\n"
    "nothing is written. DIR is created mode 0700 when missing; an existing DIR\n"
    "keeps its mode.\n";

static int cmd_keygen(int argc, char **argv)
{
    if (wants_help(argc, argv)) return fputs(keygen_help, stdout), 0;
    if (argc != 2 || argv[1][0] == '-') return fprintf(stderr, "%s", keygen_help), 2;
    if (pf_curve_keygen(argv[1]) < 0) {
        fprintf(stderr, "pseudoflow %s\n", pf_error_last()); /* the error starts "keygen: " */
        return 1;
    }
    printf("%s: server.key, client.key, authorized_keys\n", argv[1]);
    return 0;
}

static const pf_command commands[] = {
    {"run", cmd_run, "start, supervise and stop every node of a graph"},
    {"node", cmd_node, "run one node instance of a graph"},
    {"check", cmd_check, "validate graph files and print every problem"},
    {"describe", cmd_describe, "a kind's ports and parameters"},
    {"kinds", cmd_kinds, "list the node kinds"},
    {"keygen", cmd_keygen, "create CURVE keys for graphs that span machines"},
    PF_EXTRA_COMMANDS
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: pseudoflow COMMAND [args]   (pseudoflow COMMAND --help for more)\n\n"
                 "Continuous pseudo-labeling on streaming data: source -> sampler -> teacher ->\n"
                 "filter -> student -> evaluator, each stage its own process, wired by ZeroMQ\n"
                 "as a graph file describes.\n\ncommands:\n");
    for (const pf_command *c = commands; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout); /* help works whatever the environment says */
        return argc < 2 ? 2 : 0;
    }
    const char *lvl = getenv("PF_LOG_LEVEL");
    if (lvl && set_log_level(lvl) < 0) return 2;
    if (strcmp(argv[1], "--version") == 0) {
        printf("pseudoflow %s\n", PF_VERSION);
        return 0;
    }
    for (const pf_command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0) return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "pseudoflow: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
