/* Tests for runtime/params.c: parsing, ranges, defaults, suggestions, describe. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/params.h"

typedef struct cfg {
    int64_t hidden;
    double lr;
    int verbose;
    char *path;
    int act;
    char *name;
} cfg;

static const pf_param table[] = {PF_PARAM_INT(cfg, hidden, 128, 0, 65536, "hidden units"),
                                 PF_PARAM_FLOAT(cfg, lr, 0.05, 1e-6, 10, "learning rate"),
                                 PF_PARAM_BOOL(cfg, verbose, false, "say more"),
                                 PF_PARAM_STRING(cfg, path, NULL, "model file to load"),
                                 PF_PARAM_ENUM(cfg, act, "relu", "relu|tanh|gelu", "activation"),
                                 PF_PARAM_STRING(cfg, name, "", "display name"),
                                 PF_PARAM_END};

static const pf_param *param(const char *name)
{
    const pf_param *p = pf_params_find(table, name);
    cr_assert_not_null(p, "no parameter '%s'", name);
    return p;
}

Test(params, type_names_are_the_words_users_see)
{
    cr_assert_str_eq(pf_param_type_name(PF_PT_INT), "int");
    cr_assert_str_eq(pf_param_type_name(PF_PT_FLOAT), "float");
    cr_assert_str_eq(pf_param_type_name(PF_PT_BOOL), "bool");
    cr_assert_str_eq(pf_param_type_name(PF_PT_STRING), "string");
    cr_assert_str_eq(pf_param_type_name(PF_PT_ENUM), "enum");
}

Test(params, find_returns_null_for_unknown_names)
{
    cr_assert_eq(pf_params_find(table, "lr"), &table[1]);
    cr_assert_null(pf_params_find(table, "momentum"));
}

Test(params, defaults_fill_every_field_and_leave_required_ones_empty)
{
    cfg c;
    memset(&c, 0xff, sizeof c);
    c.path = NULL;
    c.name = NULL;
    cr_assert_eq(pf_params_defaults(table, &c), 0);
    cr_assert_eq(c.hidden, 128);
    cr_assert_float_eq(c.lr, 0.05, 1e-12);
    cr_assert_eq(c.verbose, 0);
    cr_assert_null(c.path);
    cr_assert_eq(c.act, 0);
    cr_assert_str_eq(c.name, "");
    pf_params_fini(table, &c);
    cr_assert_null(c.name);
}

Test(params, integers_parse_and_report_what_was_expected)
{
    cfg c = {0};
    cr_assert_eq(pf_params_set(param("hidden"), &c, "256"), 0);
    cr_assert_eq(c.hidden, 256);
    cr_assert_eq(pf_params_set(param("hidden"), &c, " 64 "), 0);
    cr_assert_eq(c.hidden, 64);
    cr_assert_eq(pf_params_set(param("hidden"), &c, "12x"), PF_EINVAL);
    cr_assert_str_eq(pf_error_last(), "expected an integer, got '12x'");
    cr_assert_eq(c.hidden, 64, "a rejected value must not be stored");
    cr_assert_eq(pf_params_set(param("hidden"), &c, ""), PF_EINVAL);
    cr_assert_eq(pf_params_set(param("hidden"), &c, "1.5"), PF_EINVAL);
    cr_assert_str_eq(pf_error_last(), "expected an integer, got '1.5'");
}

Test(params, whole_numbers_written_as_floats_are_integers)
{
    cfg c = {0};
    cr_assert_eq(pf_params_set(param("hidden"), &c, "1e3"), 0);
    cr_assert_eq(c.hidden, 1000);
}

Test(params, integer_range_errors_show_the_range)
{
    cfg c = {0};
    cr_assert_eq(pf_params_set(param("hidden"), &c, "70000"), PF_ERANGE);
    cr_assert_str_eq(pf_error_last(), "70000 is outside [0, 65536]");
    cr_assert_eq(pf_params_set(param("hidden"), &c, "-1"), PF_ERANGE);
    cr_assert_str_eq(pf_error_last(), "-1 is outside [0, 65536]");
    cr_assert_eq(pf_params_set(param("hidden"), &c, "99999999999999999999999"), PF_ERANGE);
    cr_assert_eq(pf_params_set(param("hidden"), &c, "65536"), 0, "ranges are inclusive");
}

Test(params, floats_parse_and_reject_text_and_non_finite_values)
{
    cfg c = {0};
    cr_assert_eq(pf_params_set(param("lr"), &c, "1e-3"), 0);
    cr_assert_float_eq(c.lr, 1e-3, 1e-15);
    cr_assert_eq(pf_params_set(param("lr"), &c, "fast"), PF_EINVAL);
    cr_assert_str_eq(pf_error_last(), "expected a number, got 'fast'");
    cr_assert_eq(pf_params_set(param("lr"), &c, "nan"), PF_EINVAL);
    cr_assert_eq(pf_params_set(param("lr"), &c, "inf"), PF_EINVAL);
    cr_assert_eq(pf_params_set(param("lr"), &c, "11"), PF_ERANGE);
    cr_assert_str_eq(pf_error_last(), "11 is outside [1e-06, 10]");
}

Test(params, bools_accept_true_false_yes_no_one_zero)
{
    cfg c = {0};
    const char *yes[] = {"true", "TRUE", "1", "yes", "Yes"}, *no[] = {"false", "0", "no", "NO"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        c.verbose = 0;
        cr_assert_eq(pf_params_set(param("verbose"), &c, yes[i]), 0, "%s", yes[i]);
        cr_assert_eq(c.verbose, 1, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        c.verbose = 1;
        cr_assert_eq(pf_params_set(param("verbose"), &c, no[i]), 0, "%s", no[i]);
        cr_assert_eq(c.verbose, 0, "%s", no[i]);
    }
    cr_assert_eq(pf_params_set(param("verbose"), &c, "maybe"), PF_EINVAL);
    cr_assert_str_eq(pf_error_last(), "expected true or false (or yes/no, 1/0), got 'maybe'");
}

Test(params, enums_store_the_choice_index_and_list_the_choices_on_error)
{
    cfg c = {0};
    cr_assert_eq(pf_params_set(param("act"), &c, "gelu"), 0);
    cr_assert_eq(c.act, 2);
    cr_assert_eq(pf_params_set(param("act"), &c, "tanh"), 0);
    cr_assert_eq(c.act, 1);
    cr_assert_eq(pf_params_set(param("act"), &c, "sigmoid"), PF_EINVAL);
    cr_assert_str_eq(pf_error_last(), "expected one of relu|tanh|gelu, got 'sigmoid'");
    cr_assert_eq(pf_params_set(param("act"), &c, "rel"), PF_EINVAL, "no prefix matching");
}

Test(params, strings_are_copied_kept_verbatim_and_replaced_without_leaks)
{
    cfg c = {0};
    char text[] = "  /data/a b.gz ";
    cr_assert_eq(pf_params_set(param("path"), &c, text), 0);
    text[2] = 'X';
    cr_assert_str_eq(c.path, "  /data/a b.gz ");
    cr_assert_eq(pf_params_set(param("path"), &c, "other"), 0);
    cr_assert_str_eq(c.path, "other");
    pf_params_fini(table, &c);
    cr_assert_null(c.path);
    pf_params_fini(table, &c); /* twice is harmless */
}

Test(params, suggest_finds_close_names_only)
{
    cr_assert_str_eq(pf_params_suggest(table, "hiden"), "hidden");
    cr_assert_str_eq(pf_params_suggest(table, "HIDDEN"), "hidden");
    cr_assert_str_eq(pf_params_suggest(table, "pth"), "path");
    cr_assert_str_eq(pf_params_suggest(table, "acts"), "act");
    cr_assert_null(pf_params_suggest(table, "momentum"));
    cr_assert_null(pf_params_suggest(table, "x"), "one letter shares nothing with a name");
}

typedef struct bad_cfg {
    int64_t n;
} bad_cfg;

Test(params, a_default_outside_its_own_range_fails_loudly)
{
    static const pf_param bad[] = {PF_PARAM_INT(bad_cfg, n, 5, 10, 20, "n"), PF_PARAM_END};
    bad_cfg c = {0};
    cr_assert_eq(pf_params_defaults(bad, &c), PF_ERANGE);
    cr_assert_str_eq(pf_error_last(), "parameter 'n': bad default '5': 5 is outside [10, 20]");
}

Test(params, describe_prints_name_type_default_range_and_help_aligned)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pf_params_describe(table, f);
    fclose(f);
    const char *expect = "  hidden   int     128       [0, 65536]      hidden units\n"
                         "  lr       float   0.05      [1e-06, 10]     learning rate\n"
                         "  verbose  bool    false                     say more\n"
                         "  path     string  required                  model file to load\n"
                         "  act      enum    relu      relu|tanh|gelu  activation\n"
                         "  name     string  \"\"                        display name\n";
    cr_assert_str_eq(buf, expect);
    free(buf);
}
