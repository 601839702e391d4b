/* Tests for data/truth.c: the hidden-truth side file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/truth.h"
#include "runtime/error.h"

static void temp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/truth-%d-%s.bin", PF_TEST_TMP, (int)getpid(), name);
    unlink(buf);
}

Test(truth, written_pairs_load_back_sorted_by_id)
{
    char path[512];
    temp_path(path, sizeof path, "roundtrip");
    pf_truth_writer *w;
    cr_assert_eq(pf_truth_writer_open(path, &w), 0);
    cr_assert_eq(pf_truth_writer_add(w, 30, 2), 0);
    cr_assert_eq(pf_truth_writer_add(w, 10, 0), 0);
    cr_assert_eq(pf_truth_writer_add(w, 20, 1), 0);
    pf_truth_writer_close(&w);
    cr_assert_null(w);
    pf_truth t;
    cr_assert_eq(pf_truth_load(path, &t), 0);
    cr_assert_eq(t.n, 3);
    cr_assert_eq(t.ids[0], 10);
    cr_assert_eq(pf_truth_get(&t, 20), 1);
    cr_assert_eq(pf_truth_get(&t, 30), 2);
    cr_assert_eq(pf_truth_get(&t, 31), -1);
    pf_truth_fini(&t);
    unlink(path);
}

Test(truth, a_missing_file_is_an_empty_table)
{
    pf_truth t;
    cr_assert_eq(pf_truth_load("/nonexistent/dir/truth.bin", &t), 0);
    cr_assert_eq(t.n, 0);
    cr_assert_eq(pf_truth_get(&t, 1), -1);
    pf_truth_fini(&t);
}

Test(truth, a_repeated_id_keeps_the_last_label)
{
    char path[512];
    temp_path(path, sizeof path, "dup");
    pf_truth_writer *w;
    cr_assert_eq(pf_truth_writer_open(path, &w), 0);
    pf_truth_writer_add(w, 5, 1);
    pf_truth_writer_add(w, 5, 3);
    pf_truth_writer_close(&w);
    pf_truth t;
    cr_assert_eq(pf_truth_load(path, &t), 0);
    cr_assert_eq(t.n, 1);
    cr_assert_eq(pf_truth_get(&t, 5), 3);
    pf_truth_fini(&t);
    unlink(path);
}

Test(truth, a_partial_trailing_record_from_a_killed_writer_is_ignored)
{
    char path[512];
    temp_path(path, sizeof path, "partial");
    pf_truth_writer *w;
    cr_assert_eq(pf_truth_writer_open(path, &w), 0);
    pf_truth_writer_add(w, 7, 4);
    pf_truth_writer_close(&w);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fwrite("\x01\x02\x03\x04\x05", 1, 5, f); /* 5 of 12 bytes */
    fclose(f);
    pf_truth t;
    cr_assert_eq(pf_truth_load(path, &t), 0);
    cr_assert_eq(t.n, 1);
    cr_assert_eq(pf_truth_get(&t, 7), 4);
    pf_truth_fini(&t);
    unlink(path);
}

Test(truth, merging_two_files_gives_one_table)
{
    char a[512], b[512];
    temp_path(a, sizeof a, "a");
    temp_path(b, sizeof b, "b");
    pf_truth_writer *w;
    pf_truth_writer_open(a, &w);
    pf_truth_writer_add(w, 1, 1);
    pf_truth_writer_close(&w);
    pf_truth_writer_open(b, &w);
    pf_truth_writer_add(w, 2, 2);
    pf_truth_writer_close(&w);
    pf_truth t;
    cr_assert_eq(pf_truth_load(a, &t), 0);
    cr_assert_eq(pf_truth_merge_file(&t, b), 0);
    cr_assert_eq(t.n, 2);
    cr_assert_eq(pf_truth_get(&t, 1), 1);
    cr_assert_eq(pf_truth_get(&t, 2), 2);
    pf_truth_fini(&t);
    unlink(a);
    unlink(b);
}

Test(truth, many_pairs_survive_the_writer_buffer_boundary)
{
    char path[512];
    temp_path(path, sizeof path, "many");
    pf_truth_writer *w;
    cr_assert_eq(pf_truth_writer_open(path, &w), 0);
    for (uint64_t id = 1; id <= 10000; id++) cr_assert_eq(pf_truth_writer_add(w, id, (int32_t)(id % 7)), 0);
    pf_truth_writer_close(&w);
    pf_truth t;
    cr_assert_eq(pf_truth_load(path, &t), 0);
    cr_assert_eq(t.n, 10000);
    for (uint64_t id = 1; id <= 10000; id += 997) cr_assert_eq(pf_truth_get(&t, id), (int32_t)(id % 7));
    pf_truth_fini(&t);
    unlink(path);
}
