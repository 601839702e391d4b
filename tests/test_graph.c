/*
 * Tests for runtime/graph.c and runtime/dot.c: the DOT subset, every
 * diagnostic class with its exact line, node and parameter, and the graphs
 * shipped in graphs/.
 *
 * Most cases use synth_source (output `out`) and file_sink (required input
 * `in`, parameter `path`). Cases that need a stateful kind, a required
 * parameter, a feedback input or a pubsub output look such a kind up in the
 * registry and build the graph text around it; they skip until one exists.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/graph.h"

static pf_graph *g;
static pf_diags d;

static void cleanup(void)
{
    pf_graph_destroy(&g);
    pf_diags_fini(&d);
}

TestSuite(graph, .fini = cleanup);

static int parse(const char *text)
{
    pf_graph_destroy(&g);
    pf_diags_fini(&d);
    return pf_graph_parse("t.dot", text, strlen(text), &g, &d);
}

/* All diagnostics as pf_diags_print writes them; caller frees. */
static char *printed(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pf_diags_print(&d, f);
    fclose(f);
    return buf;
}

/* The one diagnostic whose message contains `needle`; fails the test if none. */
static const pf_diag *diag_with(const char *needle)
{
    for (size_t i = 0; i < d.n; i++)
        if (strstr(d.items[i].message, needle)) return &d.items[i];
    char *all = printed();
    cr_assert_fail("no diagnostic contains \"%s\"; got:\n%s", needle, all ? all : "");
    free(all);
    return NULL;
}

static void assert_diag(const pf_diag *x, int line, const char *node, const char *param,
                        const char *msg)
{
    cr_assert_eq(x->line, line, "line %d, expected %d (%s)", x->line, line, x->message);
    if (node)
        cr_assert_str_eq(x->node ? x->node : "(null)", node);
    else
        cr_assert_null(x->node, "unexpected node '%s'", x->node);
    if (param)
        cr_assert_str_eq(x->param ? x->param : "(null)", param);
    else
        cr_assert_null(x->param, "unexpected param '%s'", x->param);
    cr_assert_str_eq(x->message, msg);
}

static void assert_loads(const char *text)
{
    int rc = parse(text);
    char *all = printed();
    cr_assert_eq(rc, 0, "rc %d, diags:\n%s", rc, all);
    cr_assert_eq(d.n, 0);
    cr_assert_not_null(g);
    free(all);
}

/* A kind parameter's value, read through the kind's own table. */
static void *field(const pf_gnode *n, const char *param)
{
    const pf_param *p = pf_params_find(n->kind->params, param);
    cr_assert_not_null(p, "kind %s has no parameter %s", n->kind->name, param);
    return (char *)n->cfg + p->offset;
}
static int64_t cfg_int(const pf_gnode *n, const char *param)
{
    return *(int64_t *)field(n, param);
}
static double cfg_float(const pf_gnode *n, const char *param)
{
    return *(double *)field(n, param);
}
static const char *cfg_str(const pf_gnode *n, const char *param)
{
    return *(char **)field(n, param);
}

/* ---- what loads ----------------------------------------------------------- */

Test(graph, a_small_graph_loads_with_kinds_parameters_and_ports)
{
    assert_loads("// two nodes\n"
                 "digraph demo {\n"
                 "  graph [classes=3, seed=7]\n"
                 "  src  [kind=synth_source, n=500, dim=4, separation=2.5]\n"
                 "  sink [kind=file_sink, path=\"out.tsv\", label=\"the sink\", shape=box]\n"
                 "  src -> sink\n"
                 "}\n");
    cr_assert_str_eq(g->name, "demo");
    cr_assert_str_eq(g->path, "t.dot");
    cr_assert_eq(g->cfg.classes, 3);
    cr_assert_eq(g->cfg.seed, 7);
    cr_assert_eq(g->nnodes, 2);
    const pf_gnode *src = &g->nodes[0], *sink = &g->nodes[1];
    cr_assert_str_eq(src->name, "src");
    cr_assert_eq(src->line, 4);
    cr_assert_str_eq(src->kind->name, "synth_source");
    cr_assert_eq(cfg_int(src, "n"), 500);
    cr_assert_eq(cfg_int(src, "dim"), 4);
    cr_assert_float_eq(cfg_float(src, "separation"), 2.5, 1e-12);
    cr_assert_eq(cfg_int(src, "labeled"), 100, "unset parameters keep their defaults");
    cr_assert_eq(src->nattrs, 3, "attrs hold kind parameters only");
    cr_assert_str_eq(src->attrs[2].key, "separation");
    cr_assert_str_eq(src->attrs[2].value, "2.5");
    cr_assert_eq(src->attrs[2].line, 4);
    cr_assert_eq(src->replicas, 1);
    cr_assert_null(src->host);
    cr_assert_eq(sink->line, 5);
    cr_assert_str_eq(cfg_str(sink, "path"), "out.tsv");
    cr_assert_eq(sink->nattrs, 1, "display attributes are dropped");
    cr_assert_eq(g->nedges, 1);
    cr_assert_eq(g->edges[0].from, 0);
    cr_assert_eq(g->edges[0].to, 1);
    cr_assert_eq(g->edges[0].out_port, pf_kind_port(src->kind, "out", PF_OUT));
    cr_assert_eq(g->edges[0].in_port, pf_kind_port(sink->kind, "in", PF_IN));
    cr_assert_eq(g->edges[0].line, 6);
    cr_assert_eq(pf_graph_find(g, "sink"), 1);
    cr_assert_eq(pf_graph_find(g, "nope"), -1);
}

Test(graph, graph_parameters_default_to_the_documented_values)
{
    assert_loads("digraph empty {}");
    cr_assert_str_eq(g->cfg.run_dir, "runs/empty");
    cr_assert_str_eq(g->cfg.store, "runs/empty/store");
    cr_assert_eq(g->cfg.classes, 10);
    cr_assert_eq(g->cfg.dim, 0);
    cr_assert_eq(g->cfg.seed, 0);
    cr_assert_eq(g->cfg.hwm, 64);
    cr_assert_eq(g->cfg.batch, 256);
    cr_assert_eq(g->cfg.base_port, 27100);
    cr_assert_eq(g->cfg.max_restarts, 5);
    cr_assert_str_eq(g->cfg.curve_dir, "");
    cr_assert_eq(g->cfg.tick_ms, 50);
    cr_assert_eq(g->nnodes, 0);
    cr_assert_eq(g->ninstances, 0);
}

Test(graph, store_follows_an_explicit_run_dir_unless_given)
{
    assert_loads("digraph a { graph [run_dir=\"/tmp/r\"] }");
    cr_assert_str_eq(g->cfg.store, "/tmp/r/store");
    assert_loads("digraph a { graph [run_dir=\"/tmp/r\", store=\"/s\"; hwm=8 tick_ms=10] }");
    cr_assert_str_eq(g->cfg.store, "/s");
    cr_assert_eq(g->cfg.hwm, 8);
    cr_assert_eq(g->cfg.tick_ms, 10);
}

Test(graph, statements_may_share_a_line_separated_by_semicolons)
{
    assert_loads("strict digraph a { s [kind=synth_source]; k [kind=file_sink]; s -> k; }");
    cr_assert_eq(g->nnodes, 2);
    cr_assert_eq(g->nedges, 1);
}

Test(graph, quoted_ids_keep_spaces_and_escaped_quotes)
{
    assert_loads("digraph \"my graph\" {\n"
                 "  \"the source\" [kind=\"synth_source\", n=\"5\"]\n"
                 "  \"sink\" [kind=file_sink, path=\"a \\\"b\\\" c\\\\d\"]\n"
                 "  \"the source\" -> sink\n"
                 "}\n");
    cr_assert_str_eq(g->name, "my graph");
    cr_assert_str_eq(g->nodes[0].name, "the source");
    cr_assert_eq(cfg_int(&g->nodes[0], "n"), 5);
    cr_assert_str_eq(cfg_str(&g->nodes[1], "path"), "a \"b\" c\\\\d");
}

Test(graph, comments_of_every_style_are_skipped_and_lines_still_counted)
{
    assert_loads("# preprocessor-style line\n"
                 "digraph c { // trailing\n"
                 "  /* a block\n"
                 "     over lines */ src [kind=synth_source]\n"
                 "  # indented hash line\n"
                 "  sink [kind=file_sink] /* inline */ src -> sink\n"
                 "}\n");
    cr_assert_eq(g->nodes[0].line, 4);
    cr_assert_eq(g->nodes[1].line, 6);
    cr_assert_eq(g->edges[0].line, 6);
}

Test(graph, attributes_merge_and_the_line_is_the_first_statement_with_a_kind)
{
    assert_loads("digraph m {\n"
                 "  src -> sink\n"
                 "  src [n=10]\n"
                 "  src [kind=synth_source]\n"
                 "  sink [kind=file_sink]\n"
                 "  src [n=20; dim=3]\n"
                 "}\n");
    const pf_gnode *src = &g->nodes[0];
    cr_assert_str_eq(src->name, "src", "nodes are numbered by first mention");
    cr_assert_eq(src->line, 4);
    cr_assert_eq(src->nattrs, 3);
    cr_assert_eq(src->attrs[0].line, 3);
    cr_assert_eq(cfg_int(src, "n"), 20, "the later value wins");
    cr_assert_eq(cfg_int(src, "dim"), 3);
    cr_assert_eq(g->nodes[1].line, 5);
}

/* Names become run-directory file names: "../evil" would write outside it. */
Test(graph, a_node_name_that_would_leave_the_run_directory_is_refused)
{
    static const char *const bad[] = {"../evil", "a/b", ".hidden", "x#1",
                                      "n23456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789xy"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text, "digraph n {\n  \"%s\" [kind=synth_source]\n  s [kind=file_sink]\n  \"%s\" -> s\n}\n",
                 bad[i], bad[i]);
        cr_assert_lt(parse(text), 0, "'%s' was accepted", bad[i]);
        assert_diag(diag_with("bad node name"), 2, bad[i], NULL, d.items[0].message);
    }
    assert_loads("digraph n { \"my source.v2\" [kind=synth_source]; s [kind=file_sink]; \"my source.v2\" -> s }");
    /* PF_NODE_NAME_MAX (100) bytes is still a name; the 101 above was refused */
    char name[PF_NODE_NAME_MAX + 1], text[512];
    memset(name, 'n', PF_NODE_NAME_MAX);
    name[PF_NODE_NAME_MAX] = 0;
    snprintf(text, sizeof text, "digraph n { %s [kind=synth_source]; s [kind=file_sink]; %s -> s }", name, name);
    assert_loads(text);
}

Test(graph, numerals_follow_dot_with_or_without_a_leading_digit)
{
    assert_loads("digraph n { s [kind=synth_source, separation=0.5, rate=.25]; k [kind=file_sink]; s -> k }");
    cr_assert_float_eq(cfg_float(&g->nodes[0], "rate"), 0.25, 1e-12);
    /* -.5 is one numeral: the parameter's range refuses it, not the lexer */
    cr_assert_lt(parse("digraph n { s [kind=synth_source, separation=-.5]; k [kind=file_sink]; s -> k }"), 0);
    assert_diag(diag_with("-.5 is outside"), 1, "s", "separation", "-.5 is outside [0, 1000]");
}

Test(graph, the_same_kind_given_twice_is_not_a_conflict)
{
    assert_loads("digraph m { s [kind=synth_source]; s [kind=synth_source, n=3]; k [kind=file_sink]\n"
                 "  s -> k }");
}

Test(graph, one_output_may_fan_out_to_several_nodes)
{
    assert_loads("digraph f { s [kind=synth_source]; a [kind=file_sink]; b [kind=file_sink]\n"
                 "  s -> a; s -> b [out=out, in=in] }");
    cr_assert_eq(g->nedges, 2);
    cr_assert_eq(g->edges[1].to, 2);
    cr_assert_eq(g->edges[1].line, 2);
}

Test(graph, display_defaults_and_edge_display_attributes_are_accepted)
{
    assert_loads("digraph d {\n"
                 "  graph [rankdir=LR, label=\"demo\"]\n"
                 "  node [shape=box, style=filled]\n"
                 "  edge [color=gray]\n"
                 "  s [kind=synth_source, color=red, tooltip=\"x\"]\n"
                 "  k [kind=file_sink]\n"
                 "  s -> k [label=\"batches\", penwidth=2]\n"
                 "}\n");
}

Test(graph, replicas_number_instances_node_by_node)
{
    assert_loads("digraph r {\n"
                 "  src [kind=synth_source, replicas=2, host=\"gpu1\"]\n"
                 "  a [kind=file_sink, replicas=3]\n"
                 "  b [kind=file_sink]\n"
                 "  src -> a\n"
                 "  src -> b\n"
                 "}\n");
    cr_assert_eq(g->nodes[0].replicas, 2);
    cr_assert_str_eq(g->nodes[0].host, "gpu1");
    cr_assert_eq(g->nodes[0].nattrs, 0, "replicas and host are not kind parameters");
    cr_assert_eq(g->nodes[0].first_instance, 0);
    cr_assert_eq(g->nodes[1].first_instance, 2);
    cr_assert_eq(g->nodes[2].first_instance, 5);
    cr_assert_eq(g->ninstances, 6);
    const char *names[] = {"src#0", "src#1", "a#0", "a#1", "a#2", "b#0", "?#6"};
    for (size_t k = 0; k < 7; k++) {
        char name[64];
        pf_graph_instance_name(g, k, name, sizeof name);
        cr_assert_str_eq(name, names[k], "instance %zu", k);
    }
}

Test(graph, resolve_instance_takes_a_name_and_an_optional_index)
{
    assert_loads("digraph r { src [kind=synth_source]; teacher [kind=file_sink, replicas=2]; "
                 "src -> teacher }");
    size_t node = 99;
    int inst = 99;
    cr_assert_eq(pf_graph_resolve_instance(g, "teacher#1", &node, &inst), 0);
    cr_assert_eq(node, 1);
    cr_assert_eq(inst, 1);
    cr_assert_eq(pf_graph_resolve_instance(g, "src", &node, &inst), 0);
    cr_assert_eq(node, 0);
    cr_assert_eq(inst, 0);
    cr_assert_eq(pf_graph_resolve_instance(g, "teacher#2", &node, &inst), PF_ERANGE);
    cr_assert_str_eq(pf_error_last(),
                     "node 'teacher' has 2 replicas: instance 2 does not exist (0..1)");
    cr_assert_eq(pf_graph_resolve_instance(g, "teachr#0", &node, &inst), PF_ENOTFOUND);
    cr_assert_str_eq(pf_error_last(), "graph 'r' has no node 'teachr' (did you mean 'teacher'?)");
    cr_assert_eq(pf_graph_resolve_instance(g, "teacher#x", &node, &inst), PF_EINVAL);
    cr_assert_eq(pf_graph_resolve_instance(g, "teacher#", &node, &inst), PF_EINVAL);
}

Test(graph, environment_variables_expand_in_values)
{
    setenv("PF_TEST_DATA", "/data", 1);
    setenv("PF_TEST_EMPTY", "", 1);
    unsetenv("PF_TEST_UNSET");
    assert_loads("digraph e {\n"
                 "  s [kind=synth_source]\n"
                 "  k [kind=file_sink, path=\"${PF_TEST_DATA}/out-${PF_TEST_UNSET:-x}"
                 "${PF_TEST_EMPTY:-y}${PF_TEST_EMPTY}.tsv\"]\n"
                 "  s -> k\n"
                 "}\n");
    cr_assert_str_eq(cfg_str(&g->nodes[1], "path"), "/data/out-xy.tsv");
    cr_assert_str_eq(g->nodes[1].attrs[0].value, "/data/out-xy.tsv");
}

Test(graph, an_unset_variable_without_default_is_an_error_on_its_line)
{
    unsetenv("PF_TEST_UNSET");
    cr_assert_eq(parse("digraph e {\n"
                       "  s [kind=synth_source]\n"
                       "  k [kind=file_sink,\n"
                       "     path=\"${PF_TEST_UNSET}/x\"]\n"
                       "  s -> k\n"
                       "}\n"),
                 PF_EINVAL);
    cr_assert_null(g);
    cr_assert_eq(d.n, 1);
    assert_diag(&d.items[0], 4, "k", "path",
                "environment variable 'PF_TEST_UNSET' is not set (set it, or write "
                "${PF_TEST_UNSET:-default})");
}

Test(graph, a_graph_can_be_loaded_from_a_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/test_graph_load.dot", PF_TEST_TMP);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("digraph file {\n  s [kind=synth_source]\n  k [kind=file_sink]\n  s -> k\n}\n", f);
    fclose(f);
    cr_assert_eq(pf_graph_load(path, &g, &d), 0);
    cr_assert_str_eq(g->path, path);
    cr_assert_eq(g->nnodes, 2);
    remove(path);
}

Test(graph, diagnostics_may_be_skipped_by_passing_null)
{
    const char *text = "digraph x { a [kind=nope] }";
    cr_assert_eq(pf_graph_parse("t.dot", text, strlen(text), &g, NULL), PF_EINVAL);
    cr_assert_null(g);
    cr_assert_str_eq(pf_error_last(),
                     "t.dot:1: unknown kind 'nope'; `pseudoflow kinds` lists them (1 problem)");
}

Test(graph, every_graph_shipped_in_graphs_loads_without_diagnostics)
{
    glob_t gl;
    int found = glob(PF_SOURCE_DIR "/graphs/*.dot", 0, NULL, &gl) == 0;
    for (size_t i = 0; found && i < gl.gl_pathc; i++) {
        pf_graph_destroy(&g);
        pf_diags_fini(&d);
        int rc = pf_graph_load(gl.gl_pathv[i], &g, &d);
        char *all = printed();
        cr_expect_eq(rc, 0, "%s: rc %d\n%s", gl.gl_pathv[i], rc, all);
        cr_expect_eq(d.n, 0);
        free(all);
    }
    if (found) globfree(&gl);
}

/* ---- syntax errors --------------------------------------------------------- */

Test(graph, syntax_errors_say_what_was_expected_and_what_was_found)
{
    static const struct {
        const char *text;
        int line;
        const char *message;
    } cases[] = {
        {"digraph g\n  a [kind=x]\n}", 2,
         "syntax error: expected '{' after the graph's name, found 'a'"},
        {"graph g {}", 1,
         "syntax error: expected 'digraph', found 'graph': pseudoflow graphs are directed"},
        {"digraph {}", 1, "syntax error: expected the graph's name after 'digraph', found '{'"},
        {"\ndigraph g {\n  a [kind=synth_source]\n", 4,
         "syntax error: expected '}' to close the digraph, found end of file"},
        {"digraph g {\n  a [kind synth_source]\n}", 2,
         "syntax error: expected '=' after 'kind', found 'synth_source'"},
        {"digraph g {\n  a [kind=]\n}", 2,
         "syntax error: expected a value after 'kind=', found ']'"},
        {"digraph g {\n  a [kind=synth_source, ]\n  a ->\n}", 4,
         "syntax error: expected a node name after '->', found '}'"},
        {"digraph g {\n\n  a [path=\"x\n  y]\n}", 3,
         "syntax error: unterminated string: a '\"' is missing"},
        {"digraph g {\n  a -- b\n}", 2,
         "syntax error: '--' is an undirected edge; a digraph uses '->'"},
        {"digraph g {\n  a [lr=1e-6]\n}", 2,
         "syntax error: '1e-6' is not a DOT number or name: quote it, as in \"1e-6\""},
        {"digraph g {\n  a:out -> b\n}", 2,
         "syntax error: DOT node ports ('a:p') are not supported; put [port=p] on the edge"},
        {"digraph g {\n  subgraph s { a }\n}", 2,
         "syntax error: 'subgraph' is not supported inside a graph"},
        {"digraph g {\n  classes = 3\n}", 2,
         "syntax error: top-level 'classes = ...' is not supported; write graph [classes=...]"},
        {"digraph g {\n  a [kind=synth_source] # no\n}", 2,
         "syntax error: unexpected character '#'"},
        {"digraph g {\n  /* never closed\n}", 2, "syntax error: unterminated /* comment"},
        {"digraph g {\n}\ndigraph h {}", 3,
         "syntax error: expected end of file after the closing '}', found 'digraph'"},
        {"digraph g {\n  graph classes=3\n}", 2,
         "syntax error: expected '[' after 'graph', found 'classes'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_assert_eq(parse(cases[i].text), PF_EPARSE, "case %zu: %s", i, cases[i].text);
        cr_assert_null(g);
        cr_assert_eq(d.n, 1, "case %zu: %zu diags", i, d.n);
        assert_diag(&d.items[0], cases[i].line, NULL, NULL, cases[i].message);
    }
}

/* ---- semantic errors ------------------------------------------------------- */

Test(graph, unknown_kind_suggests_a_close_name_and_the_kinds_command)
{
    cr_assert_eq(parse("digraph k {\n  src [kind=synth_sorce]\n}"), PF_EINVAL);
    cr_assert_null(g);
    cr_assert_eq(d.n, 1);
    assert_diag(
        &d.items[0], 2, "src", NULL,
        "unknown kind 'synth_sorce' (did you mean 'synth_source'?); `pseudoflow kinds` lists them");
}

Test(graph, a_node_without_kind_is_reported)
{
    cr_assert_eq(parse("digraph k {\n  src [n=3]\n}"), PF_EINVAL);
    cr_assert_eq(d.n, 1);
    assert_diag(&d.items[0], 2, "src", NULL,
                "has no kind: add kind=... (`pseudoflow kinds` lists them)");
}

Test(graph, an_edge_cannot_create_a_node_without_kind)
{
    cr_assert_eq(parse("digraph k {\n"
                       "  src [kind=synth_source]\n"
                       "  sink [kind=file_sink]\n"
                       "  src -> sink\n"
                       "  src -> snk\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 1);
    assert_diag(&d.items[0], 5, "snk", NULL,
                "has no kind: it is used in an edge but never declared (did you mean 'sink'?); "
                "declare it as `snk [kind=...]`");
}

Test(graph, unknown_parameter_names_line_node_and_suggestion)
{
    cr_assert_eq(parse("digraph p {\n"
                       "  src [kind=synth_source,\n"
                       "       seperation=2]\n"
                       "  sink [kind=file_sink]\n"
                       "  src -> sink\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 1);
    char *all = printed();
    cr_assert_str_eq(all, "t.dot:3: node 'src': parameter 'seperation': unknown parameter of kind "
                          "'synth_source' (did you mean 'separation'?); `pseudoflow describe "
                          "synth_source` lists them\n");
    free(all);
}

Test(graph, wrong_types_and_out_of_range_values_name_the_parameter)
{
    cr_assert_eq(parse("digraph p {\n"
                       "  src [kind=synth_source, n=\"12x\"]\n"
                       "  src [dim=0, separation=\"far\"]\n"
                       "  sink [kind=file_sink, replicas=two]\n"
                       "  src -> sink\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 4);
    assert_diag(diag_with("12x"), 2, "src", "n", "expected an integer, got '12x'");
    assert_diag(diag_with("outside"), 3, "src", "dim", "0 is outside [1, 65536]");
    assert_diag(diag_with("far"), 3, "src", "separation", "expected a number, got 'far'");
    assert_diag(diag_with("two"), 4, "sink", "replicas", "expected an integer, got 'two'");
}

Test(graph, replicas_must_be_at_least_one)
{
    cr_assert_eq(
        parse("digraph r { s [kind=synth_source, replicas=0]; k [kind=file_sink]; s -> k }"),
        PF_EINVAL);
    assert_diag(diag_with("outside"), 1, "s", "replicas", "0 is outside [1, 1000]");
}

Test(graph, conflicting_kinds_for_one_node_are_reported_with_both_lines)
{
    cr_assert_eq(parse("digraph c {\n"
                       "  sink [kind=file_sink]\n"
                       "  src [kind=synth_source]\n"
                       "  sink [kind=synth_source]\n"
                       "  src -> sink\n"
                       "}"),
                 PF_EINVAL);
    assert_diag(diag_with("one kind"), 4, "sink", NULL,
                "declared again with kind 'synth_source', but line 2 gave it kind 'file_sink'; "
                "a node has one kind");
}

Test(graph, unknown_graph_parameters_and_bad_values_are_reported)
{
    cr_assert_eq(parse("digraph g {\n"
                       "  graph [clases=3,\n"
                       "         hwm=0, tick_ms=fast]\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 3);
    assert_diag(&d.items[0], 2, NULL, "clases",
                "unknown graph parameter (did you mean 'classes'?); `pseudoflow describe graph` "
                "lists them");
    assert_diag(diag_with("outside"), 3, NULL, "hwm", "0 is outside [1, 1000000]");
    assert_diag(diag_with("fast"), 3, NULL, "tick_ms", "expected an integer, got 'fast'");
}

Test(graph, unknown_ports_list_the_ports_of_that_direction)
{
    cr_assert_eq(parse("digraph p {\n"
                       "  src [kind=synth_source]\n"
                       "  a [kind=file_sink]\n"
                       "  b [kind=file_sink]\n"
                       "  src -> a [out=outt]\n"
                       "  src -> b [port=labels]\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 3);
    assert_diag(
        &d.items[0], 5, "src", NULL,
        "kind 'synth_source' has no output port 'outt' (did you mean 'out'?); its outputs: out");
    assert_diag(&d.items[1], 6, "src", NULL,
                "kind 'synth_source' has no output port 'labels'; its outputs: out");
    assert_diag(&d.items[2], 6, "b", NULL,
                "kind 'file_sink' has no input port 'labels'; its inputs: in");
}

Test(graph, edge_chains_make_one_edge_per_arrow_on_the_arrow_line)
{
    cr_assert_eq(parse("digraph c {\n"
                       "  src [kind=synth_source]; a [kind=file_sink]; b [kind=file_sink]\n"
                       "  src -> a\n"
                       "    -> b\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(g, NULL);
    cr_assert_eq(d.n, 1, "a sink has no output to chain from");
    assert_diag(&d.items[0], 4, "a", NULL,
                "kind 'file_sink' has no output port 'out'; its outputs: none");
}

Test(graph, unknown_edge_attributes_suggest_port)
{
    cr_assert_eq(
        parse("digraph e {\n  s [kind=synth_source]; k [kind=file_sink]\n  s -> k [prot=in]\n}"),
        PF_EINVAL);
    cr_assert_eq(d.n, 1);
    assert_diag(
        &d.items[0], 3, NULL, "prot",
        "unknown edge attribute (did you mean 'port'?); edges take port, out, in and display "
        "attributes");
}

Test(graph, node_and_edge_defaults_hold_display_attributes_only)
{
    cr_assert_eq(parse("digraph e {\n"
                       "  node [shape=box, kind=file_sink]\n"
                       "  edge [port=in]\n"
                       "  s [kind=synth_source]; k [kind=file_sink]; s -> k\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 2);
    assert_diag(&d.items[0], 2, NULL, "kind",
                "node [...] defaults may only hold display attributes (label, color, style, ...); "
                "set 'kind' on each node instead");
    assert_diag(&d.items[1], 3, NULL, "port",
                "edge [...] defaults may only hold display attributes (label, color, style, ...); "
                "set 'port' on each edge instead");
}

Test(graph, a_required_input_left_unwired_is_a_dangling_input)
{
    cr_assert_eq(parse("digraph d {\n  src [kind=synth_source]\n  sink [kind=file_sink]\n}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 2);
    assert_diag(&d.items[0], 2, "src", NULL,
                "wired to nothing: what it produces would go nowhere; add an edge `src -> X` or "
                "remove the node");
    assert_diag(&d.items[1], 3, "sink", NULL,
                "required input 'in' is not wired (dangling input); add an edge `X -> sink`");
}

Test(graph, a_source_wired_to_nothing_is_refused)
{
    /* a feeds k; b touches no edge, and c only gets acks (a feedback
     * input): the samples of both would go nowhere. */
    cr_assert_eq(parse("digraph d {\n  a [kind=synth_source]\n  b [kind=synth_source]\n"
                       "  c [kind=synth_source]\n  k [kind=sampler]\n  a -> k\n  k -> c [port=acks]\n}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 2, "%zu diagnostics", d.n);
    assert_diag(&d.items[0], 3, "b", NULL,
                "wired to nothing: what it produces would go nowhere; add an edge `b -> X` or "
                "remove the node");
    assert_diag(&d.items[1], 4, "c", NULL,
                "wired to nothing: what it produces would go nowhere; add an edge `c -> X` or "
                "remove the node");
}

Test(graph, duplicate_edges_point_at_the_first)
{
    cr_assert_eq(parse("digraph d {\n"
                       "  src [kind=synth_source]; sink [kind=file_sink]\n"
                       "  src -> sink\n"
                       "  src -> sink [out=out]\n"
                       "}"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 1);
    assert_diag(&d.items[0], 4, NULL, NULL,
                "duplicate edge src -> sink (out -> in), first on line 3");
}

Test(graph, every_problem_is_collected_and_printed_in_line_order)
{
    cr_assert_eq(parse("digraph many {\n"
                       "  graph [seed=-1]\n"
                       "  src [kind=synth_source, n=abc, colour=red]\n"
                       "  t [kind=teecher]\n"
                       "  sink [kind=file_sink]\n"
                       "  src -> t\n"
                       "  src -> ghost\n"
                       "}\n"),
                 PF_EINVAL);
    cr_assert_null(g);
    char *all = printed();
    cr_assert_str_eq(
        all, "t.dot:2: parameter 'seed': -1 is outside [0, 4294967295]\n"
             "t.dot:3: node 'src': parameter 'n': expected an integer, got 'abc'\n"
             "t.dot:3: node 'src': parameter 'colour': unknown parameter of kind "
             "'synth_source'; `pseudoflow describe synth_source` lists them\n"
             "t.dot:4: node 't': unknown kind 'teecher'; `pseudoflow kinds` lists them\n"
             "t.dot:5: node 'sink': required input 'in' is not wired (dangling input); add "
             "an edge `X -> sink`\n"
             "t.dot:7: node 'ghost': has no kind: it is used in an edge but never declared; "
             "declare it as `ghost [kind=...]`\n");
    free(all);
}

Test(graph, a_missing_file_is_an_io_error_with_a_diagnostic)
{
    cr_assert_eq(pf_graph_load("/nonexistent/x.dot", &g, &d), PF_EIO);
    cr_assert_null(g);
    char *all = printed();
    cr_assert_str_eq(all,
                     "/nonexistent/x.dot: cannot open the graph file: No such file or directory\n");
    free(all);
}

Test(graph, diags_print_omits_the_parts_that_are_absent)
{
    d.file = strdup("f.dot");
    pf_diags_addf(&d, 3, "n", "p", "bad %d", 1);
    pf_diags_addf(&d, 4, "n", NULL, "worse");
    pf_diags_addf(&d, 5, NULL, "p", "odd");
    pf_diags_addf(&d, 0, NULL, NULL, "whole file");
    char *all = printed();
    cr_assert_str_eq(all, "f.dot:3: node 'n': parameter 'p': bad 1\n"
                          "f.dot:4: node 'n': worse\n"
                          "f.dot:5: parameter 'p': odd\n"
                          "f.dot: whole file\n");
    free(all);
}

Test(graph, the_sampler_closes_cycles_through_its_feedback_inputs)
{
    assert_loads("digraph loop {\n"
                 "  src [kind=synth_source]\n"
                 "  sampler [kind=sampler]\n"
                 "  sink [kind=file_sink]\n"
                 "  src -> sampler -> sink\n"
                 "  sampler -> src [out=acks, in=acks]\n"
                 "  sampler -> sampler [in=labels]\n"
                 "}\n");
    const pf_kind *k = g->nodes[1].kind;
    cr_assert_eq(g->nedges, 4);
    cr_assert_eq(g->edges[2].out_port, pf_kind_port(k, "acks", PF_OUT));
    cr_assert_eq(g->edges[3].in_port, pf_kind_port(k, "labels", PF_IN));
}

Test(graph, the_sampler_is_stateful_and_its_plain_input_cannot_close_a_cycle)
{
    cr_assert_eq(parse("digraph loop {\n"
                       "  src [kind=synth_source]\n"
                       "  sampler [kind=sampler, replicas=2]\n"
                       "  src -> sampler\n"
                       "  sampler -> sampler\n"
                       "}\n"),
                 PF_EINVAL);
    cr_assert_eq(d.n, 2);
    assert_diag(&d.items[0], 3, "sampler", "replicas",
                "kind 'sampler' is stateful and runs as exactly one process; replicas=2 needs a "
                "stateless kind");
    assert_diag(&d.items[1], 5, NULL, NULL,
                "cycle sampler -> sampler does not pass through a feedback input; the edge closing "
                "it must end in a feedback port (like a sampler's 'labels')");
}

/* ---- cases that need a kind with a given shape ------------------------------ */

/* First registered kind with a port matching (dir, mode, flags on/off); its port name in *port. */
static const pf_kind *kind_with_port(pf_port_dir dir, pf_port_mode mode, unsigned on, unsigned off,
                                     const char **port)
{
    for (size_t i = 0; i < pf_kind_count(); i++) {
        const pf_kind *k = pf_kind_at(i);
        for (int p = 0; k->ports[p].name; p++) {
            const pf_port_spec *s = &k->ports[p];
            if (s->dir == dir && s->mode == mode && (s->flags & on) == on && !(s->flags & off)) {
                *port = s->name;
                return k;
            }
        }
    }
    return NULL;
}

static const char *port_of(const pf_kind *k, pf_port_dir dir, pf_port_mode mode, unsigned on,
                           unsigned off)
{
    for (int p = 0; k->ports[p].name; p++) {
        const pf_port_spec *s = &k->ports[p];
        if (s->dir == dir && s->mode == mode && (s->flags & on) == on && !(s->flags & off))
            return s->name;
    }
    return NULL;
}

Test(graph, replicas_above_one_need_a_stateless_kind)
{
    const pf_kind *k = NULL;
    for (size_t i = 0; i < pf_kind_count() && !k; i++)
        if (!(pf_kind_at(i)->flags & PF_KIND_STATELESS)) k = pf_kind_at(i);
    if (!k) cr_skip_test("no stateful kind is registered yet");
    char text[512];
    snprintf(text, sizeof text, "digraph r {\n  a [kind=%s,\n     replicas=3]\n}", k->name);
    cr_assert_eq(parse(text), PF_EINVAL);
    char msg[256];
    snprintf(
        msg, sizeof msg,
        "kind '%s' is stateful and runs as exactly one process; replicas=3 needs a stateless kind",
        k->name);
    assert_diag(diag_with("stateful"), 3, "a", "replicas", msg);
}

Test(graph, a_missing_required_parameter_is_reported_on_the_node)
{
    const pf_kind *k = NULL;
    const pf_param *req = NULL;
    for (size_t i = 0; i < pf_kind_count() && !k; i++)
        for (const pf_param *p = pf_kind_at(i)->params; p->name && !k; p++)
            if (!p->def) k = pf_kind_at(i), req = p;
    if (!k) cr_skip_test("no kind with a required parameter is registered yet");
    char text[512];
    snprintf(text, sizeof text, "digraph r {\n\n  a [kind=%s]\n}", k->name);
    cr_assert_eq(parse(text), PF_EINVAL);
    const pf_diag *x = diag_with("missing required parameter");
    cr_assert_eq(x->line, 3);
    cr_assert_str_eq(x->node, "a");
    cr_assert_str_eq(x->param, req->name);
}

Test(graph, a_cycle_without_a_feedback_input_is_reported_in_order)
{
    const char *in = NULL, *out = NULL;
    const pf_kind *k = NULL;
    for (size_t i = 0; i < pf_kind_count() && !k; i++) {
        const pf_kind *c = pf_kind_at(i);
        in = port_of(c, PF_IN, PF_DATA, 0, PF_PORT_FEEDBACK);
        out = port_of(c, PF_OUT, PF_DATA, 0, 0);
        if (in && out) k = c;
    }
    if (!k) cr_skip_test("no kind with a data input and a data output is registered yet");
    char text[1024];
    snprintf(text, sizeof text,
             "digraph c {\n"
             "  a [kind=%s]; b [kind=%s]; c [kind=%s]\n"
             "  a -> b [out=%s, in=%s]\n"
             "  b -> c [out=%s, in=%s]\n"
             "  c -> a [out=%s, in=%s]\n"
             "}",
             k->name, k->name, k->name, out, in, out, in, out, in);
    cr_assert_eq(parse(text), PF_EINVAL);
    assert_diag(
        diag_with("cycle"), 5, NULL, NULL,
        "cycle a -> b -> c -> a does not pass through a feedback input; the edge closing it "
        "must end in a feedback port (like a sampler's 'labels')");
}

Test(graph, a_cycle_through_a_feedback_input_is_allowed)
{
    const char *in = NULL, *out = NULL, *fb = NULL;
    const pf_kind *k = NULL;
    for (size_t i = 0; i < pf_kind_count() && !k; i++) {
        const pf_kind *c = pf_kind_at(i);
        in = port_of(c, PF_IN, PF_DATA, 0, PF_PORT_FEEDBACK);
        out = port_of(c, PF_OUT, PF_DATA, 0, 0);
        fb = port_of(c, PF_IN, PF_DATA, PF_PORT_FEEDBACK, 0);
        if (in && out && fb) k = c;
    }
    if (!k)
        cr_skip_test("no kind with data input, feedback input and data output is registered yet");
    char text[1024];
    snprintf(text, sizeof text,
             "digraph c {\n"
             "  a [kind=%s]; b [kind=%s]\n"
             "  a -> b [out=%s, in=%s]\n"
             "  b -> a [out=%s, in=%s]\n"
             "}",
             k->name, k->name, out, in, out, fb);
    parse(text);
    for (size_t i = 0; i < d.n; i++)
        cr_assert_null(strstr(d.items[i].message, "cycle"), "%s", d.items[i].message);
}

Test(graph, a_pubsub_output_cannot_feed_a_data_input)
{
    const char *model = NULL;
    const pf_kind *k = kind_with_port(PF_OUT, PF_PUBSUB, 0, 0, &model);
    if (!k) cr_skip_test("no kind with a pubsub output is registered yet");
    char text[512];
    snprintf(text, sizeof text,
             "digraph m {\n  a [kind=%s]\n  sink [kind=file_sink]\n  a -> sink [out=%s]\n}",
             k->name, model);
    cr_assert_eq(parse(text), PF_EINVAL);
    char msg[512];
    snprintf(msg, sizeof msg,
             "edge a -> sink: output '%s' is pubsub but input 'in' is data; both ends of an edge "
             "must be data ports or both pubsub ports",
             model);
    assert_diag(diag_with("both ends"), 4, NULL, NULL, msg);
}

/* Where a host= is: this machine by name or loopback address, or not, with
 * the resolver's error for a name that does not resolve; asked again, the
 * remembered answer is the same. */
Test(graph, a_host_is_here_elsewhere_or_unresolvable)
{
    int err = -1;
    cr_assert_eq(pf_graph_host_lookup("localhost", &err), 1);
    cr_assert_eq(err, 0);
    cr_assert_eq(pf_graph_host_lookup("127.0.0.1", &err), 1);
    cr_assert_eq(err, 0);
    for (int k = 0; k < 2; k++) {
        err = 0;
        cr_assert_eq(pf_graph_host_lookup("far.invalid", &err), 0, "lookup %d", k);
        cr_assert_neq(err, 0, "lookup %d: an .invalid name resolved", k);
    }
    cr_assert_eq(pf_graph_host_is_here("far.invalid"), 0);
    cr_assert_eq(pf_graph_host_lookup("far.invalid", NULL), 0, "gai_err may be NULL");
}

/* ---- --set: parameters from the command line ------------------------------ */

static int parse_set(const char *text, const char *const *sets, size_t n)
{
    pf_graph_destroy(&g);
    pf_diags_fini(&d);
    return pf_graph_parse_set("t.dot", text, strlen(text), sets, n, &g, &d);
}

static const char set_graph[] = "digraph s {\n"
                                "  graph [seed=3];\n"
                                "  src [kind=synth_source, n=100, dim=4];\n"
                                "  t [kind=model_teacher];\n"
                                "  k [kind=file_sink];\n"
                                "  src -> t -> k;\n"
                                "}\n";

/* A setting wins over the file's value, reaches graph attributes, may give
 * a required parameter the file leaves out, and keeps quotes in values. */
Test(graph, a_set_overrides_the_file_and_may_supply_what_it_lacks)
{
    const char *sets[] = {"src.n=7", "graph.seed=11", "t.path=/dev/null", "k.path=a \"q\" b\\"};
    int rc = parse_set(set_graph, sets, 4);
    char *all = printed();
    cr_assert_eq(rc, 0, "diags:\n%s", all);
    free(all);
    cr_assert_eq(cfg_int(&g->nodes[pf_graph_find(g, "src")], "n"), 7);
    cr_assert_eq(cfg_int(&g->nodes[pf_graph_find(g, "src")], "dim"), 4, "the file's other values stay");
    cr_assert_eq(g->cfg.seed, 11);
    cr_assert_str_eq(cfg_str(&g->nodes[pf_graph_find(g, "t")], "path"), "/dev/null");
    cr_assert_str_eq(cfg_str(&g->nodes[pf_graph_find(g, "k")], "path"), "a \"q\" b\\", "values are taken as given");
    /* without the setting the teacher's required path is missing */
    cr_assert_lt(parse_set(set_graph, sets, 0), 0);
    diag_with("missing required parameter");
}

/* A bad setting is reported as itself, at line 0, never as a line of the
 * file: a malformed one, one for a node the graph lacks, a bad value, an
 * unknown parameter. */
Test(graph, a_bad_set_is_reported_as_the_setting_it_is)
{
    const char *malformed[] = {"src.n", "n=3", ".n=3", "src.=3", "src.9n=3"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_lt(parse_set(set_graph, &malformed[i], 1), 0, "'%s' was accepted", malformed[i]);
        char want[128];
        snprintf(want, sizeof want, "--set %s: expected NODE.PARAM=VALUE or graph.PARAM=VALUE", malformed[i]);
        assert_diag(diag_with("expected NODE.PARAM"), 0, NULL, NULL, want);
    }
    const char *nonode[] = {"tacher.path=/dev/null", "t.path=/dev/null"};
    cr_assert_lt(parse_set(set_graph, nonode, 2), 0);
    assert_diag(diag_with("there is no node"), 0, NULL, NULL,
                "--set tacher.path=/dev/null: there is no node 'tacher' in the graph");
    const char *badval[] = {"src.n=-5", "t.path=/dev/null"};
    cr_assert_lt(parse_set(set_graph, badval, 2), 0);
    const pf_diag *x = diag_with("--set src.n=-5: ");
    cr_assert_eq(x->line, 0);
    cr_assert_str_eq(x->param, "n");
    const char *unknown[] = {"src.m=5", "t.path=/dev/null"};
    cr_assert_lt(parse_set(set_graph, unknown, 2), 0);
    x = diag_with("--set src.m=5: unknown parameter");
    cr_assert_eq(x->line, 0);
    cr_assert_eq(d.n, 1, "only the setting is wrong");
    /* a setting tunes a node; it cannot make one or change its kind */
    const char *kind[] = {"k.kind=synth_source", "t.path=/dev/null"};
    cr_assert_lt(parse_set(set_graph, kind, 2), 0);
    assert_diag(diag_with("cannot give or change a kind"), 0, NULL, NULL,
                "--set k.kind=synth_source: a setting tunes a node the graph has; it cannot give or change a kind");
}

/* Settings are added to the parsed file, not its text: a '}' in a comment
 * after the graph does not swallow them, and a file that does not parse is
 * reported as it is, never as a setting's fault. */
Test(graph, a_set_never_meets_the_files_text)
{
    static const char commented[] = "digraph s {\n  src [kind=synth_source, n=100, dim=4];\n  k [kind=file_sink];\n"
                                    "  src -> k;\n}\n/* } */\n// }\n";
    const char *bad[] = {"src.n=-1"};
    cr_assert_lt(parse_set(commented, bad, 1), 0, "a setting after a commented brace was ignored");
    diag_with("--set src.n=-1: ");
    const char *good[] = {"src.n=9"};
    cr_assert_eq(parse_set(commented, good, 1), 0);
    cr_assert_eq(cfg_int(&g->nodes[pf_graph_find(g, "src")], "n"), 9);
    static const char unfinished[] = "digraph s {\n  src [kind=synth_source, n=100\n  k [kind=file_sink];\n}\n";
    const char *any[] = {"k.path=x"};
    cr_assert_lt(parse_set(unfinished, any, 1), 0);
    for (size_t i = 0; i < d.n; i++)
        cr_assert_null(strstr(d.items[i].message, "--set"), "the file's error is blamed on a setting: %s",
                       d.items[i].message);
    cr_assert_gt(d.items[0].line, 0, "the file's error has its line");
}

/* A mean teacher (ema < 1) averages in the snapshots of the learner on its
 * model port: a different architecture (hidden widths or norm) is refused at
 * check time, naming both; with ema=1 the snapshots are ignored, so it is not. */
Test(graph, a_mean_teacher_needs_the_architecture_of_the_learner_it_follows)
{
    static const char fmt[] = "digraph mt {\n"
                              "  graph [classes=2, batch=32];\n"
                              "  src [kind=synth_source, n=100, dim=4];\n"
                              "  sampler [kind=sampler];\n"
                              "  teacher [kind=mlp_teacher, %s];\n"
                              "  filter [kind=filter];\n"
                              "  student [kind=mlp_student, %s];\n"
                              "  src -> sampler -> teacher -> filter -> student;\n"
                              "  sampler -> src [port=acks];\n"
                              "  filter -> sampler [port=labels];\n"
                              "  student -> teacher [port=model];\n"
                              "}\n";
    char text[1024];
    snprintf(text, sizeof text, fmt, "hidden=\"16,8\", norm=1", "hidden=\"16, 8\", norm=1");
    assert_loads(text); /* the same widths, written differently */
    snprintf(text, sizeof text, fmt, "hidden=16", "hidden=32");
    cr_assert_eq(parse(text), PF_EINVAL);
    assert_diag(diag_with("mean teacher"), 5, "teacher", NULL,
                "mean teacher (line 11): 'student' has hidden=\"32\" and norm=0, this teacher hidden=\"16\" and "
                "norm=0; its snapshots cannot be averaged in (give both the same hidden= and norm=, or set ema=1)");
    snprintf(text, sizeof text, fmt, "hidden=16", "hidden=16, norm=1");
    cr_assert_eq(parse(text), PF_EINVAL);
    diag_with("'student' has hidden=\"16\" and norm=1, this teacher hidden=\"16\" and norm=0");
    snprintf(text, sizeof text, fmt, "hidden=16, ema=1", "hidden=32");
    assert_loads(text);
}
