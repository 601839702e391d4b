/*
 * Tests for cli/pseudoflow.c through the binary, as a user meets it: exit
 * statuses (0 ok, 1 run-time failure, 2 usage or a graph that does not
 * check), `check` messages that carry FILE:LINE, node and parameter, every
 * graph in graphs/ checking clean, `describe`, `kinds`, and --help on every
 * command the binary lists (including ones added from other cli/ files),
 * `train` refusing bad options before it reads data (on a 20-row data set
 * written here, so a wrongly accepted flag shows as a finished run), and
 * `keygen` writing all of its files or none; `check` refusing data files
 * that are missing or empty, and a run failing when its evaluator's
 * held-out width differs from the stream's.
 *
 * Each case runs the binary with its output captured in files under
 * PF_TEST_TMP/cli; only the evaluator-width case at the end starts a graph
 * (tiny, synthetic, a few seconds).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e.h"

#define TMP PF_TEST_TMP "/cli"

typedef struct result {
    int status; /* exit status, or 128+signal */
    char *out, *err;
} result;

static result r;

static void clear(void)
{
    free(r.out), free(r.err);
    r = (result){0};
}

/* Run the binary with args (NULL-terminated); fills r. */
static void pf(const char *const *args)
{
    clear();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int o = open(TMP "/out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(TMP "/err", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1), dup2(e, 2);
        const char *argv[32] = {PF_BIN};
        int a = 1;
        for (const char *const *p = args; *p && a < 31; p++) argv[a++] = *p;
        argv[a] = NULL;
        execv(PF_BIN, (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = pf_e2e_slurp(TMP "/out");
    r.err = pf_e2e_slurp(TMP "/err");
}

#define PF(...) pf((const char *const[]){__VA_ARGS__, NULL})

static void setup(void)
{
    cr_assert_eq(system("mkdir -p '" TMP "'"), 0);
}

TestSuite(cli, .init = setup, .fini = clear);

static void write_graph(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void assert_err_has(const char *needle)
{
    cr_assert(strstr(r.err, needle), "stderr lacks \"%s\"; stderr:\n%s", needle, r.err);
}

Test(cli, help_works_whatever_pf_log_level_says)
{
    setenv("PF_LOG_LEVEL", "bogus", 1);
    PF("--help");
    int help = r.status;
    PF("kinds");
    unsetenv("PF_LOG_LEVEL");
    cr_assert_eq(help, 0, "--help with PF_LOG_LEVEL=bogus exited %d", help);
    cr_assert_eq(r.status, 2, "a command with PF_LOG_LEVEL=bogus should exit 2, got %d", r.status);
    assert_err_has("bogus");
}

/* ---- check ---------------------------------------------------------------- */

Test(cli, check_passes_every_graph_shipped_in_graphs)
{
    glob_t gl;
    cr_assert_eq(glob(PF_SOURCE_DIR "/graphs/*.dot", 0, NULL, &gl), 0, "no graphs in graphs/");
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        PF("check", gl.gl_pathv[i]);
        cr_assert_eq(r.status, 0, "%s: exit %d\n%s", gl.gl_pathv[i], r.status, r.err);
        cr_assert(strstr(r.out, ": ok ("), "%s", r.out);
    }
    globfree(&gl);
}

Test(cli, check_prints_every_error_with_file_line_node_and_parameter_and_exits_2)
{
    const char *path = TMP "/broken.dot";
    write_graph(path, "digraph broken {\n"
                      "  graph [classes=4];\n"
                      "  src  [kind=synth_source, n=-5, bogus=1];\n"
                      "  mid  [kind=no_such_kind];\n"
                      "  sink [kind=file_sink];\n"
                      "  src -> sink [port=nope];\n"
                      "}\n");
    PF("check", path);
    cr_assert_eq(r.status, 2, "exit %d", r.status);
    assert_err_has(TMP "/broken.dot:3: node 'src': parameter 'n': -5 is outside");
    assert_err_has(TMP "/broken.dot:3: node 'src': parameter 'bogus': unknown parameter");
    assert_err_has(TMP "/broken.dot:4: node 'mid': unknown kind 'no_such_kind'");
    assert_err_has(TMP "/broken.dot:6: node 'src': kind 'synth_source' has no output port 'nope'");
    cr_assert_eq(r.out[0], '\0', "nothing on stdout for a broken graph: %s", r.out);
}

Test(cli, check_reports_a_syntax_error_with_its_line)
{
    const char *path = TMP "/syntax.dot";
    write_graph(path, "digraph x {\n  a [kind=synth_source\n}\n");
    PF("check", path);
    cr_assert_eq(r.status, 2);
    assert_err_has(TMP "/syntax.dot:3: syntax error");
}

Test(cli, check_reports_a_dangling_required_input)
{
    const char *path = TMP "/dangling.dot";
    write_graph(path, "digraph d {\n  src [kind=synth_source];\n  sink [kind=file_sink];\n}\n");
    PF("check", path);
    cr_assert_eq(r.status, 2);
    assert_err_has(TMP "/dangling.dot:3: node 'sink'");
}

Test(cli, check_of_several_graphs_exits_2_if_any_fails_and_reports_the_good_ones)
{
    const char *good = TMP "/good.dot", *bad = TMP "/bad.dot";
    write_graph(good, "digraph g {\n  src [kind=synth_source];\n  sink [kind=file_sink];\n  src -> sink;\n}\n");
    write_graph(bad, "digraph b {\n  src [kind=synth_source, dim=0];\n  sink [kind=file_sink];\n  src -> sink;\n}\n");
    PF("check", good, bad);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.out, TMP "/good.dot: ok (2 nodes, 1 edges, 2 processes)"), "%s", r.out);
    assert_err_has(TMP "/bad.dot:2: node 'src': parameter 'dim'");
}

Test(cli, check_of_a_missing_file_names_it_and_exits_2)
{
    PF("check", TMP "/no-such-graph.dot");
    cr_assert_eq(r.status, 2);
    assert_err_has("no-such-graph.dot");
}

Test(cli, run_and_node_refuse_a_graph_that_does_not_check_with_exit_2)
{
    const char *path = TMP "/broken_run.dot";
    write_graph(path, "digraph b {\n  src [kind=synth_source, n=-1];\n  sink [kind=file_sink];\n  src -> sink;\n}\n");
    PF("run", path, "--run-dir", TMP "/never");
    cr_assert_eq(r.status, 2);
    assert_err_has("broken_run.dot:2: node 'src': parameter 'n'");
    PF("node", path, "sink", "--run-dir", TMP "/never");
    cr_assert_eq(r.status, 2);
    assert_err_has("broken_run.dot:2: node 'src': parameter 'n'");
}

/* --set gives a parameter for one run over the graph file's: every node
 * process the run starts gets it (the source, a child process, stops at
 * 37 samples, not the file's 100), check reports a bad one as itself, and
 * one the graph needs can come from it alone. */
Test(cli, set_gives_every_node_of_a_run_a_parameter_over_the_file)
{
    const char *path = TMP "/set.dot";
    write_graph(path, "digraph s {\n  graph [classes=4, dim=4];\n  src [kind=synth_source, n=100, dim=4];\n"
                      "  sink [kind=file_sink];\n  src -> sink;\n}\n");
    cr_assert_eq(system("rm -rf '" TMP "/setrun'"), 0);
    PF("run", path, "--run-dir", TMP "/setrun", "--no-progress", "--log-level", "warn", "--set", "src.n=37");
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
    char *tsv = pf_e2e_slurp(TMP "/setrun/sink#0.tsv");
    cr_assert_not_null(tsv);
    size_t lines = 0;
    for (const char *c = tsv; *c; c++) lines += *c == '\n';
    free(tsv);
    cr_assert_eq(lines, 37, "the sink got %zu samples", lines);
    PF("check", path, "--set", "src.n=-1", "--set", "bad");
    cr_assert_eq(r.status, 2);
    assert_err_has("set.dot: node 'src': parameter 'n': --set src.n=-1: -1 is outside");
    assert_err_has("set.dot: --set bad: expected NODE.PARAM=VALUE or graph.PARAM=VALUE");
    const char *needs = TMP "/needs.dot";
    write_graph(needs, "digraph n {\n  graph [classes=4, dim=4];\n  src [kind=synth_source, dim=4];\n"
                       "  t [kind=model_teacher];\n  k [kind=file_sink];\n  src -> t -> k;\n}\n");
    PF("check", needs);
    cr_assert_eq(r.status, 2);
    PF("check", "--set", "t.path=/dev/null", needs);
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
}

Test(cli, node_rejects_an_unknown_node_or_instance_with_exit_2)
{
    const char *path = TMP "/two.dot";
    write_graph(path, "digraph t {\n  src [kind=synth_source];\n  sink [kind=file_sink];\n  src -> sink;\n}\n");
    PF("node", path, "nobody", "--run-dir", TMP "/never");
    cr_assert_eq(r.status, 2);
    assert_err_has("nobody");
    PF("node", path, "sink#1", "--run-dir", TMP "/never");
    cr_assert_eq(r.status, 2);
}

/* ---- describe and kinds --------------------------------------------------- */

static const char *const all_kinds[] = {"idx_source", "synth_source", "sampler", "mlp_teacher",
                                        "filter", "mlp_student", "evaluator", "file_sink"};

Test(cli, kinds_lists_every_kind_with_a_summary)
{
    PF("kinds");
    cr_assert_eq(r.status, 0);
    for (size_t i = 0; i < sizeof all_kinds / sizeof *all_kinds; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n%s ", all_kinds[i]);
        char *with_nl = NULL;
        cr_assert(asprintf(&with_nl, "\n%s", r.out) > 0);
        cr_assert(strstr(with_nl, line), "kinds lacks %s:\n%s", all_kinds[i], r.out);
        free(with_nl);
    }
}

Test(cli, describe_shows_the_ports_and_parameters_of_every_kind)
{
    for (size_t i = 0; i < sizeof all_kinds / sizeof *all_kinds; i++) {
        PF("describe", all_kinds[i]);
        cr_assert_eq(r.status, 0, "describe %s: exit %d", all_kinds[i], r.status);
        cr_assert(strstr(r.out, all_kinds[i]) && strstr(r.out, "ports:") && strstr(r.out, "parameters:"),
                  "describe %s:\n%s", all_kinds[i], r.out);
    }
    PF("describe", "synth_source");
    cr_assert(strstr(r.out, "separation") && strstr(r.out, "out ") && strstr(r.out, "acks"), "%s", r.out);
}

Test(cli, describe_graph_lists_the_graph_parameters)
{
    PF("describe", "graph");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "max_restarts") && strstr(r.out, "hwm") && strstr(r.out, "run_dir"), "%s", r.out);
}

Test(cli, describe_an_unknown_kind_exits_2_and_points_to_kinds)
{
    PF("describe", "no_such_kind");
    cr_assert_eq(r.status, 2);
    assert_err_has("unknown kind 'no_such_kind'");
    assert_err_has("pseudoflow kinds");
}

/* ---- help and usage ------------------------------------------------------- */

Test(cli, help_on_every_listed_command_prints_its_usage_and_exits_0)
{
    PF("--help");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "usage: pseudoflow COMMAND"), "%s", r.out);
    char *cmds = strstr(r.out, "commands:\n");
    cr_assert_not_null(cmds, "%s", r.out);
    char *list = strdup(cmds + strlen("commands:\n"));
    size_t n = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64];
        if (sscanf(line, " %63s", name) != 1) continue;
        PF(name, "--help");
        cr_assert_eq(r.status, 0, "%s --help: exit %d\n%s", name, r.status, r.err);
        cr_assert(strlen(r.out) > 20 && strstr(r.out, "usage"), "%s --help:\n%s", name, r.out);
        PF(name, "-h");
        cr_assert_eq(r.status, 0, "%s -h: exit %d", name, r.status);
        n++;
    }
    free(list);
    cr_assert_geq(n, 5, "expected at least run, node, check, describe, kinds");
}

Test(cli, no_command_prints_usage_and_exits_2)
{
    pf((const char *const[]){NULL});
    cr_assert_eq(r.status, 2);
    assert_err_has("usage: pseudoflow COMMAND");
}

Test(cli, an_unknown_command_exits_2_with_usage)
{
    PF("frobnicate");
    cr_assert_eq(r.status, 2);
    assert_err_has("unknown command 'frobnicate'");
    assert_err_has("usage: pseudoflow COMMAND");
}

Test(cli, unknown_options_and_missing_arguments_exit_2)
{
    const char *path = TMP "/opts.dot";
    write_graph(path, "digraph t {\n  src [kind=synth_source];\n  sink [kind=file_sink];\n  src -> sink;\n}\n");
    PF("run", path, "--bogus");
    cr_assert_eq(r.status, 2);
    assert_err_has("unknown option '--bogus'");
    PF("node", path, "sink", "--bogus");
    cr_assert_eq(r.status, 2);
    assert_err_has("unknown option '--bogus'");
    PF("check", "--bogus", path);
    cr_assert_eq(r.status, 2);
    assert_err_has("unknown option '--bogus'");
    PF("kinds", "extra");
    cr_assert_eq(r.status, 2);
    PF("describe");
    cr_assert_eq(r.status, 2);
    PF("run");
    cr_assert_eq(r.status, 2);
    PF("node", path);
    cr_assert_eq(r.status, 2);
    PF("check");
    cr_assert_eq(r.status, 2);
    PF("run", path, "--log-level", "loud");
    cr_assert_eq(r.status, 2);
}

Test(cli, version_prints_the_version)
{
    PF("--version");
    cr_assert_eq(r.status, 0);
    cr_assert(strncmp(r.out, "pseudoflow ", 11) == 0, "%s", r.out);
}

/* ---- train: options are checked before any data is read ------------------- */

#define TRAIN_X TMP "/tiny.csv"          /* 20 rows, 2 features */
#define TRAIN_Y TMP "/tiny-labels-idx1-ubyte" /* 20 labels, 2 classes */

/* A data set small enough that a whole training run takes milliseconds, so a
 * flag that is wrongly accepted shows up as a run that trains and exits 0. */
static void write_tiny_data(void)
{
    FILE *f = fopen(TRAIN_X, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 20; i++) fprintf(f, "%d.0,%d.0\n", i % 2, i * 7 % 5);
    fclose(f);
    f = fopen(TRAIN_Y, "wb");
    cr_assert_not_null(f);
    const unsigned char head[8] = {0, 0, 8, 1, 0, 0, 0, 20}; /* idx1 magic, big-endian count */
    fwrite(head, 1, sizeof head, f);
    for (int i = 0; i < 20; i++) fputc(i % 2, f);
    fclose(f);
}

/* `train` on the tiny data with --out model and one extra option and value. */
#define TRAIN(model, ...) PF("train", "--images", TRAIN_X, "--labels", TRAIN_Y, "--out", model, __VA_ARGS__)

static void assert_nothing_trained(const char *model)
{
    cr_assert_null(strstr(r.err, "train: epoch"), "trained anyway:\n%s", r.err);
    cr_assert_neq(access(model, F_OK), 0, "'%s' was written", model);
}

Test(cli, train_refuses_a_fraction_or_an_out_of_range_integer_flag_with_exit_2)
{
    write_tiny_data();
    const char *model = TMP "/int_flags.pfm";
    static const char *const bad[][2] = {
        {"--epochs", "2.7"}, {"--labeled", "12.9"}, {"--seed", "1.9"},  {"--limit", "5.5"},
        {"--batch", "1e2"},  {"--threads", "2x"},   {"--epochs", "0"},  {"--seed", "-1"},
        {"--labeled", "-2"}, {"--epochs", "99999999999999999999"},      {"--batch", " 8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unlink(model);
        TRAIN(model, bad[i][0], bad[i][1]);
        cr_assert_eq(r.status, 2, "%s '%s': exit %d\n%s", bad[i][0], bad[i][1], r.status, r.err);
        char want[128];
        snprintf(want, sizeof want, "%s expects a whole number in [", bad[i][0]);
        assert_err_has(want);
        snprintf(want, sizeof want, "got '%s'", bad[i][1]);
        assert_err_has(want);
        assert_nothing_trained(model);
    }
    TRAIN(model, "--epochs", "2", "--seed", "+3", "--labeled", "-1", "--limit", "0");
    cr_assert_eq(r.status, 0, "whole numbers refused:\n%s", r.err);
    assert_err_has("2 epochs");
}

Test(cli, train_checks_hidden_widths_up_front_with_exit_2)
{
    static const char *const bad[] = {"abc", "0", "8,0", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        /* No such data files: the flag must be refused before they are read. */
        PF("train", "--images", TMP "/no-such.csv", "--labels", TMP "/no-such-idx1-ubyte", "--out", TMP "/h.pfm",
           "--hidden", bad[i]);
        cr_assert_eq(r.status, 2, "--hidden '%s': exit %d\n%s", bad[i], r.status, r.err);
        char want[64];
        snprintf(want, sizeof want, "--hidden '%s': ", bad[i]);
        assert_err_has(want);
        cr_assert_null(strstr(r.err, "no-such"), "read the data first:\n%s", r.err);
    }
    write_tiny_data();
    TRAIN(TMP "/h.pfm", "--hidden", "", "--epochs", "1");
    cr_assert_eq(r.status, 0, "\"\" (softmax regression) refused:\n%s", r.err);
}

Test(cli, train_checks_the_output_directory_before_training)
{
    write_tiny_data();
    TRAIN(TMP "/no-such-dir/m.pfm", "--epochs", "2");
    cr_assert_neq(r.status, 0);
    assert_err_has("directory '" TMP "/no-such-dir': does not exist");
    assert_nothing_trained(TMP "/no-such-dir/m.pfm");
    TRAIN(TRAIN_X "/m.pfm", "--epochs", "2");
    cr_assert_neq(r.status, 0);
    assert_err_has("'" TRAIN_X "' is not a directory");
    cr_assert_null(strstr(r.err, "train: epoch"), "trained anyway:\n%s", r.err);
    TRAIN(TMP, "--epochs", "2");
    cr_assert_neq(r.status, 0);
    assert_err_has("is a directory");
    cr_assert_null(strstr(r.err, "train: epoch"), "trained anyway:\n%s", r.err);
    /* The check creates nothing: a run that fails later leaves no model. */
    const char *model = TMP "/never.pfm";
    unlink(model);
    PF("train", "--images", TMP "/no-such.csv", "--labels", TRAIN_Y, "--out", model);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_assert_neq(access(model, F_OK), 0, "'%s' created before training", model);
}

Test(cli, train_names_an_option_whose_value_is_missing)
{
    PF("train", "--images", "--labels", "y.npy", "--out", TMP "/m.pfm");
    cr_assert_eq(r.status, 2);
    assert_err_has("--images needs a value");
    PF("train", "--labels", "y.npy", "--out", TMP "/m.pfm", "--images");
    cr_assert_eq(r.status, 2);
    assert_err_has("--images needs a value");
    PF("train", "--images", "x.csv", "--labels", "y.npy", "--out", TMP "/m.pfm", "--epochs", "--json");
    cr_assert_eq(r.status, 2);
    assert_err_has("--epochs needs a value");
    PF("train", "--images=", "--labels", "y.npy", "--out", TMP "/m.pfm");
    cr_assert_eq(r.status, 2);
    assert_err_has("--images needs a value");
}

Test(cli, train_accepts_option_equals_value)
{
    write_tiny_data();
    const char *model = TMP "/eq.pfm";
    unlink(model);
    PF("train", "--images=" TRAIN_X, "--labels=" TRAIN_Y, "--out=" TMP "/eq.pfm", "--epochs=2", "--hidden=4,3",
       "--lr=0.01");
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    assert_err_has("hidden '4,3', 2 epochs");
    cr_assert_eq(access(model, F_OK), 0, "no model written");
    TRAIN(model, "--epochs=2.5");
    cr_assert_eq(r.status, 2);
    assert_err_has("--epochs expects a whole number");
    TRAIN(model, "--json=1");
    cr_assert_eq(r.status, 2);
    assert_err_has("--json takes no value");
}

/* --shift moves images: features that are no square image, or images too
 * small for the shift, are refused by name; a 4x4 image trains. */
Test(cli, train_shifts_only_images_it_can_shape)
{
    write_tiny_data(); /* 2 features: not a square image */
    const char *model = TMP "/shift.pfm";
    unlink(model);
    TRAIN(model, "--epochs", "2", "--shift", "1");
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    assert_err_has("shift=1: the 2 features are not a square image; set image_width=");
    TRAIN(model, "--epochs", "2", "--shift", "1", "--image-width", "2");
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    assert_err_has("shift=1: the images are only 2x1 pixels");
    assert_nothing_trained(model);
    const char *x16 = TMP "/tiny16.csv";
    FILE *f = fopen(x16, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 20; i++)
        for (int k = 0; k < 16; k++) fprintf(f, "%d.0%c", (i % 2) * (k % 4 < 2) + (k % 3), k < 15 ? ',' : '\n');
    fclose(f);
    PF("train", "--images", x16, "--labels", TRAIN_Y, "--out", model, "--epochs", "2", "--shift", "1");
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_eq(access(model, F_OK), 0, "no model written");
    PF("train", "--images", x16, "--labels", TRAIN_Y, "--out", model, "--epochs", "2", "--shift", "1",
       "--image-width", "3");
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    assert_err_has("shift=1: image_width=3 does not divide the 16 features");
}

/* ---- keygen --------------------------------------------------------------- */

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "no '%s'", path);
    return st.st_mode & 07777;
}

Test(cli, keygen_keeps_the_mode_of_an_existing_directory_and_makes_a_new_one_private)
{
    cr_assert_eq(system("rm -rf '" TMP "/kg_shared' '" TMP "/kg_new'"), 0);
    cr_assert_eq(mkdir(TMP "/kg_shared", 0755), 0);
    cr_assert_eq(chmod(TMP "/kg_shared", 0755), 0);
    PF("keygen", TMP "/kg_shared");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(mode_of(TMP "/kg_shared"), 0755, "mode %o", mode_of(TMP "/kg_shared"));
    cr_assert_eq(mode_of(TMP "/kg_shared/server.key"), 0600);
    cr_assert_eq(mode_of(TMP "/kg_shared/client.key"), 0600);
    PF("keygen", TMP "/kg_shared"); /* fails: the keys exist */
    cr_assert_eq(r.status, 1);
    cr_assert_eq(mode_of(TMP "/kg_shared"), 0755, "mode %o after a failed keygen", mode_of(TMP "/kg_shared"));
    PF("keygen", TMP "/kg_new/keys");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(mode_of(TMP "/kg_new/keys"), 0700, "mode %o", mode_of(TMP "/kg_new/keys"));
}

Test(cli, keygen_writes_nothing_when_any_key_file_exists)
{
    static const char *const files[] = {"server.key", "client.key", "authorized_keys"};
    for (size_t i = 0; i < 3; i++) {
        char dir[256], path[320];
        snprintf(dir, sizeof dir, TMP "/kg_only_%zu", i);
        snprintf(path, sizeof path, "rm -rf '%s'", dir);
        cr_assert_eq(system(path), 0);
        cr_assert_eq(mkdir(dir, 0755), 0);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        write_graph(path, "old\n");
        PF("keygen", dir);
        cr_assert_eq(r.status, 1, "with only %s: exit %d", files[i], r.status);
        assert_err_has(path);
        assert_err_has("nothing written");
        for (size_t j = 0; j < 3; j++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[j]);
            cr_assert_eq(access(path, F_OK) == 0, i == j, "with only %s: %s %s", files[i], files[j],
                         i == j ? "gone" : "written");
        }
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        char *text = pf_e2e_slurp(path);
        cr_assert_str_eq(text, "old\n", "%s overwritten", files[i]);
        free(text);
    }
}

/* ---- check: data files; a run: an evaluator of the wrong width ------------- */

/* `check` stats the files a node will read (it never loads them): a missing,
 * empty or unreadable path is a problem like any bad value, so a graph that
 * is certain to fail at start never gets that far. PIPELINE(SOURCE, EVAL) is
 * a whole pipeline around the two nodes under test, at lines 3 and 8. */
#define PIPELINE(source, eval)                                                                     \
    "digraph files {\n"                                                                            \
    "  graph   [classes=2];\n"                                                                     \
    "  source  [" source "];\n"                                                                    \
    "  sampler [kind=sampler];\n"                                                                  \
    "  teacher [kind=mlp_teacher];\n"                                                              \
    "  filter  [kind=filter];\n"                                                                   \
    "  student [kind=mlp_student];\n"                                                              \
    "  eval    [" eval "];\n"                                                                      \
    "  source -> sampler -> teacher -> filter -> student;\n"                                       \
    "  student -> eval [port=model];\n"                                                            \
    "  sampler -> source [port=acks];\n"                                                           \
    "  filter -> sampler [port=labels];\n"                                                         \
    "}\n"

Test(cli, check_names_every_missing_data_file_of_a_source_and_an_evaluator)
{
    const char *path = TMP "/files.dot";
    write_graph(path, PIPELINE("kind=idx_source, images=\"/nonexistent/x.npy\", labels=\"/nonexistent/y.npy\"",
                               "kind=evaluator, images=\"/nonexistent/tx.npy\", labels=\"/nonexistent/ty.npy\""));
    PF("check", path);
    cr_assert_eq(r.status, 2, "exit %d\n%s", r.status, r.err);
    assert_err_has(TMP "/files.dot:3: node 'source': parameter 'images': no such file '/nonexistent/x.npy'; "
                       "parameter 'labels': no such file '/nonexistent/y.npy'");
    assert_err_has(TMP "/files.dot:8: node 'eval': parameter 'images': no such file '/nonexistent/tx.npy'; "
                       "parameter 'labels': no such file '/nonexistent/ty.npy'");
    cr_assert_eq(r.out[0], '\0', "nothing on stdout for a broken graph: %s", r.out);
}

Test(cli, check_refuses_an_empty_required_file_but_not_an_empty_optional_one)
{
    const char *path = TMP "/empty_files.dot";
    write_tiny_data();
    write_graph(path, PIPELINE("kind=idx_source, images=\"\", labels=\"\"",
                               "kind=evaluator, images=\"" TRAIN_X "\", labels=\"\""));
    PF("check", path);
    cr_assert_eq(r.status, 2, "exit %d\n%s", r.status, r.err);
    assert_err_has(TMP "/empty_files.dot:3: node 'source': parameter 'images': empty (a file is required)\n");
    assert_err_has(TMP "/empty_files.dot:8: node 'eval': parameter 'labels': empty (a file is required)\n");
    cr_assert_null(strstr(r.err, "'labels': empty (a file is required); "), "idx_source labels= is optional:\n%s",
                   r.err);
}

Test(cli, check_refuses_a_dir_source_without_its_directory)
{
    const char *path = TMP "/no_dir.dot";
    write_tiny_data();
    write_graph(path, PIPELINE("kind=dir_source, dim=2, dir=\"/nonexistent/inbox\"",
                               "kind=evaluator, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\""));
    PF("check", path);
    cr_assert_eq(r.status, 2, "exit %d\n%s", r.status, r.err);
    assert_err_has(TMP "/no_dir.dot:3: node 'source': parameter 'dir': no such directory '/nonexistent/inbox'\n");
    write_graph(path, PIPELINE("kind=dir_source, dim=2, dir=\"" TRAIN_X "\"",
                               "kind=evaluator, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\""));
    PF("check", path);
    cr_assert_eq(r.status, 2, "exit %d\n%s", r.status, r.err);
    assert_err_has(TMP "/no_dir.dot:3: node 'source': parameter 'dir': '" TRAIN_X "' is not a directory\n");
}

Test(cli, check_passes_files_that_exist_and_leaves_another_hosts_files_to_it)
{
    const char *path = TMP "/files_ok.dot";
    write_tiny_data();
    cr_assert_eq(system("mkdir -p '" TMP "/inbox'"), 0);
    write_graph(path, PIPELINE("kind=dir_source, dim=2, dir=\"" TMP "/inbox\"",
                               "kind=evaluator, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\""));
    PF("check", path);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    /* A node placed with host= reads its files on that machine, which this
     * one cannot see: `pseudoflow run` here must not refuse the graph. */
    write_graph(path, PIPELINE("kind=idx_source, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\"",
                               "kind=evaluator, images=\"/gpu1/tx.npy\", labels=\"/gpu1/ty.npy\", host=\"gpu1\""));
    PF("check", path);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    write_graph(path, "digraph far {\n  src [kind=synth_source];\n"
                      "  teacher [kind=model_teacher, path=\"/gpu1/model.pfm\", host=\"gpu1\"];\n"
                      "  src -> teacher;\n}\n");
    PF("check", path);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
}

/* The sources' features and the evaluator's held-out rows go through the
 * same power= transform: a graph where they differ is refused at check
 * time, naming the other node and both values; agreeing ones pass. */
Test(cli, check_refuses_sources_and_an_evaluator_with_different_powers)
{
    const char *path = TMP "/power.dot";
    write_tiny_data();
    write_graph(path, PIPELINE("kind=idx_source, power=0.5, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\"",
                               "kind=evaluator, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\""));
    PF("check", path);
    cr_assert_eq(r.status, 2, "exit %d\n%s", r.status, r.err);
    assert_err_has(TMP "/power.dot:3: node 'source': power=0.5 here but 1 on node 'eval' (line 8): its features "
                       "and these would differ (give every source and evaluator the same power=)");
    write_graph(path, PIPELINE("kind=idx_source, power=0.5, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\"",
                               "kind=evaluator, power=0.5, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\""));
    PF("check", path);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
}

/* `pseudoflow run GRAPH` bounded by `timeout`: a run that never ends is
 * stopped (exit 124) instead of hanging the suite. Fills r like pf(). */
static void run_within(const char *graph, int seconds)
{
    char cmd[1024];
    clear();
    snprintf(cmd, sizeof cmd, "timeout %d '%s' run '%s' --no-progress > '" TMP "/out' 2> '" TMP "/err'",
             seconds, PF_BIN, graph);
    int st = system(cmd);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = pf_e2e_slurp(TMP "/out");
    r.err = pf_e2e_slurp(TMP "/err");
}

/* A pipeline scoring a stream of width 4 (from SOURCE) on held-out rows of
 * width 2, in run directory RUN. */
#define WIDTH_PIPELINE(run, source)                                                                \
    "digraph width {\n"                                                                            \
    "  graph   [classes=2, batch=32, max_restarts=1, run_dir=\"" run "\"];\n"                      \
    "  source  [" source "];\n"                                                                    \
    "  sampler [kind=sampler];\n"                                                                  \
    "  teacher [kind=mlp_teacher, hidden=8];\n"                                                    \
    "  filter  [kind=filter];\n"                                                                   \
    "  student [kind=mlp_student, hidden=8, batch=16, publish_every=1];\n"                         \
    "  eval    [kind=evaluator, every=0, images=\"" TRAIN_X "\", labels=\"" TRAIN_Y "\"];\n"       \
    "  source -> sampler -> teacher -> filter -> student;\n"                                       \
    "  student -> eval [port=model];\n"                                                            \
    "  student -> teacher [port=model];\n"                                                         \
    "  sampler -> source [port=acks];\n"                                                           \
    "  filter -> sampler [port=labels];\n"                                                         \
    "  filter -> eval [port=labels];\n"                                                            \
    "}\n"

/* A run: every snapshot of an endless stream is unusable
 * to the evaluator, so the run must fail naming both widths (it used to
 * ignore them all: a finite stream ended "ok" without summary.json, this
 * one would run until `timeout`), at once: no restart fixes a width. */
Test(cli, a_run_whose_evaluator_has_another_width_than_the_stream_fails_naming_both, .timeout = 120)
{
    const char *path = TMP "/width.dot";
    write_tiny_data();
    cr_assert_eq(system("rm -rf '" TMP "/width-run'"), 0);
    write_graph(path, WIDTH_PIPELINE(TMP "/width-run",
                                     "kind=synth_source, n=0, rate=2000, dim=4, labeled=1000000000"));
    run_within(path, 60);
    cr_assert_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    assert_err_has("evaluator: the student's snapshots take 4 features per row but the held-out set '" TRAIN_X
                   "' has 2");
    /* a configuration error: the run stops at once instead of restarting the node */
    assert_err_has("node eval#0 cannot run as configured");
    cr_assert_null(strstr(r.err, "restart 1 of"), "the evaluator was restarted:\n%s", r.err);
    cr_assert_null(strstr(r.err, "without a single model snapshot"), "claims no snapshot arrived:\n%s", r.err);
    cr_assert_neq(access(TMP "/width-run/summary.json", F_OK), 0, "summary.json written anyway");
}

/* bench/bench_memory.sh on a short pipeline: it must finish the run and
 * print a row of figures for the supervisor and for every node instance it
 * sampled (an awk `>` once redirected those rows into a file instead). */
Test(cli, bench_memory_prints_a_row_for_every_instance_of_the_run, .timeout = 120)
{
    const char *path = TMP "/mem.dot";
    write_graph(path, "digraph mem {\n"
                      "  graph [classes=2, batch=64];\n"
                      "  src [kind=synth_source, n=40000, dim=8, rate=12000];\n"
                      "  sampler [kind=sampler];\n"
                      "  teacher [kind=mlp_teacher, hidden=\"\"];\n"
                      "  filter [kind=filter];\n"
                      "  student [kind=mlp_student, hidden=8];\n"
                      "  src -> sampler -> teacher -> filter -> student;\n"
                      "  sampler -> src [port=acks];\n"
                      "  filter -> sampler [port=labels];\n"
                      "}\n");
    clear();
    int st = system("PF_BIN='" PF_BIN "' BENCH_DIR='" TMP "/mem' timeout 100 bash '" PF_SOURCE_DIR
                    "/bench/bench_memory.sh' '" TMP "/mem.dot' 1 > '" TMP "/out' 2> '" TMP "/err'");
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = pf_e2e_slurp(TMP "/out");
    r.err = pf_e2e_slurp(TMP "/err");
    cr_assert_eq(r.status, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
    const char *anon = strstr(r.out, "RssAnon");
    const char *file = anon ? strstr(anon, "RssFile") : NULL;
    cr_assert(anon && file, "no RssAnon and RssFile tables:\n%s", r.out);
    const char *names[] = {"supervisor", "src#0", "sampler#0", "teacher#0", "filter#0", "student#0"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char row[64];
        snprintf(row, sizeof row, "\n%s ", names[i]);
        const char *at = strstr(anon, row);
        cr_assert(at && at < file, "no RssAnon row for %s:\n%s", names[i], r.out);
        double q1 = -1, mid = -1, q3 = -1, end = -1, peak = -1;
        cr_assert_eq(sscanf(at + strlen(row), "%lf %lf %lf %lf %lf", &q1, &mid, &q3, &end, &peak), 5,
                     "row for %s is not five figures:\n%s", names[i], r.out);
        cr_assert(end > 0 && peak >= end && peak >= q1, "implausible row for %s:\n%s", names[i], r.out);
        cr_assert(strstr(file, row), "no RssFile row for %s:\n%s", names[i], r.out);
    }
}
