/* Tests for data/: IDX, npy, fvecs and CSV readers, and the dispatching loader.
 * Each test writes tiny fixture files into its own directory under PF_TEST_TMP. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <criterion/criterion.h>
#include <float.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/csv.h"
#include "data/dataset.h"
#include "data/fvecs.h"
#include "data/idx.h"
#include "data/npy.h"
#include "runtime/error.h"

#define FASHION "/usr/share/datasets/fashion-mnist"

/* ---- fixtures ------------------------------------------------------------- */

static char dir[512];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "%s/data-XXXXXX", PF_TEST_TMP);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp under %s", PF_TEST_TMP);
}

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void remove_dir(void)
{
    if (dir[0]) nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(idx, .init = make_dir, .fini = remove_dir);
TestSuite(npy, .init = make_dir, .fini = remove_dir);
TestSuite(fvecs, .init = make_dir, .fini = remove_dir);
TestSuite(csv, .init = make_dir, .fini = remove_dir);
TestSuite(dataset, .init = make_dir, .fini = remove_dir);

/* A path in the test's directory; four live at once (a ring of buffers). */
static const char *in_dir(const char *name)
{
    static char ring[4][640];
    static int next;
    char *p = ring[next++ % 4];
    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

/* Write bytes to dir/name, gzip'd when gz; returns the path. */
static const char *put(const char *name, const void *data, size_t len, int gz)
{
    const char *p = in_dir(name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(gzwrite(f, data, (unsigned)len), (int)len);
        cr_assert_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(p, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(data, 1, len, f), len);
        fclose(f);
    }
    return p;
}

static const char *put_text(const char *name, const char *text)
{
    return put(name, text, strlen(text), 0);
}

/* An IDX file: type byte, dims, payload bytes. Returns its length in buf. */
static size_t idx_bytes(uint8_t *buf, uint8_t type, int ndims, const uint32_t *dims,
                        const uint8_t *payload, size_t plen)
{
    size_t k = 0;
    buf[k++] = 0, buf[k++] = 0, buf[k++] = type, buf[k++] = (uint8_t)ndims;
    for (int i = 0; i < ndims; i++)
        for (int b = 3; b >= 0; b--)
            buf[k++] = (uint8_t)(dims[i] >> (8 * b));
    memcpy(buf + k, payload, plen);
    return k + plen;
}

/* Three 2x2 images and their labels. */
static const uint8_t pixels3[12] = {0, 255, 128, 1, 2, 3, 4, 5, 250, 251, 252, 253};
static const uint8_t labels3[3] = {2, 0, 7};

static const char *put_images(const char *name, uint32_t n, size_t payload, int gz)
{
    uint8_t buf[256];
    uint32_t dims[3] = {n, 2, 2};
    return put(name, buf, idx_bytes(buf, 0x08, 3, dims, pixels3, payload), gz);
}

static const char *put_labels(const char *name, uint32_t n, int gz)
{
    uint8_t buf[64];
    uint32_t dims[1] = {n};
    return put(name, buf, idx_bytes(buf, 0x08, 1, dims, labels3, n < 3 ? n : 3), gz);
}

/* A version-1 .npy file: descr, fortran flag, shape text like "(3, 2)", data. */
static const char *put_npy(const char *name, const char *descr, int fortran, const char *shape,
                           const void *data, size_t len, int version)
{
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                      descr, fortran ? "True" : "False", shape);
    size_t pre = version == 1 ? 10 : 12;
    size_t hlen = (pre + (size_t)dl + 1 + 63) / 64 * 64 - pre; /* pad so data is 64-aligned */
    uint8_t *buf = calloc(1, pre + hlen + len);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)version, buf[7] = 0;
    buf[8] = (uint8_t)hlen, buf[9] = (uint8_t)(hlen >> 8);
    if (version != 1) buf[10] = 0, buf[11] = 0;
    memset(buf + pre, ' ', hlen);
    memcpy(buf + pre, dict, (size_t)dl);
    buf[pre + hlen - 1] = '\n';
    memcpy(buf + pre + hlen, data, len);
    const char *p = put(name, buf, pre + hlen + len, 0);
    free(buf);
    return p;
}

static void expect_error(int rc, int code, const char *want)
{
    cr_assert_eq(rc, code, "rc %d (%s), wanted %d", rc, pf_error_last(), code);
    cr_assert(strstr(pf_error_last(), want), "'%s' lacks '%s'", pf_error_last(), want);
}

/* ---- IDX ---------------------------------------------------------------- */

Test(idx, gzipped_images_and_labels_load_scaled_to_unit_range)
{
    const char *img = put_images("img-idx3-ubyte.gz", 3, 12, 1);
    const char *lab = put_labels("lab-idx1-ubyte.gz", 3, 1);
    pf_dataset d;
    cr_assert_eq(pf_idx_load(img, lab, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.dim, 4);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(d.x[i], (float)pixels3[i] / 255.0f);
    cr_assert_eq(d.x[1], 1.0f);
    cr_assert_eq(d.labels[2], 7);
    cr_assert_eq(d.classes, 8);
    pf_dataset_fini(&d);
    pf_dataset_fini(&d); /* idempotent */
    cr_assert_null(d.x);
}

/* The compact load keeps IDX pixels as bytes; its rows are the float load's
 * bit for bit, with labels, limit and an npy label file handled the same;
 * other formats load as floats and read back the same way. */
Test(dataset, a_compact_load_keeps_idx_bytes_and_gives_the_same_rows)
{
    const char *img = put_images("c-idx3-ubyte.gz", 3, 12, 1);
    const char *lab = put_labels("c-idx1-ubyte.gz", 3, 1);
    pf_dataset f, c;
    cr_assert_eq(pf_dataset_load(img, lab, 0, &f), 0, "%s", pf_error_last());
    cr_assert_eq(pf_dataset_load_compact(img, lab, 0, &c), 0, "%s", pf_error_last());
    cr_assert_null(c.x);
    cr_assert_not_null(c.bytes);
    cr_assert_arr_eq(c.bytes, pixels3, sizeof pixels3);
    cr_assert_eq(c.n, f.n);
    cr_assert_eq(c.dim, f.dim);
    cr_assert_eq(c.classes, f.classes);
    cr_assert_arr_eq(c.labels, f.labels, f.n * sizeof *f.labels);
    float row[4];
    for (size_t i = 0; i < f.n; i++) {
        pf_dataset_row(&c, i, row);
        cr_assert_arr_eq(row, f.x + i * f.dim, sizeof row, "row %zu differs", i);
        pf_dataset_row(&f, i, row);
        cr_assert_arr_eq(row, f.x + i * f.dim, sizeof row, "row %zu of the float load differs", i);
    }
    pf_dataset_fini(&c);
    cr_assert_null(c.bytes);

    const int32_t ylab[2] = {1, 0};
    const char *npy_lab = put_npy("c-y.npy", "<i4", 0, "(2,)", ylab, sizeof ylab, 1);
    cr_assert_eq(pf_dataset_load_compact(img, npy_lab, 0, &c), PF_EMISMATCH, "3 images, 2 labels: %s",
                 pf_error_last());
    cr_assert_eq(pf_dataset_load_compact(img, npy_lab, 2, &c), 0, "%s", pf_error_last());
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.labels[0], 1);
    pf_dataset_row(&c, 1, row);
    cr_assert_arr_eq(row, f.x + f.dim, sizeof row);
    pf_dataset_fini(&c);
    pf_dataset_fini(&f);

    const float v[4] = {0.5f, -2.0f, 3.0f, 1e-3f};
    const char *p = put_npy("c-x.npy", "<f4", 0, "(2, 2)", v, sizeof v, 1);
    cr_assert_eq(pf_dataset_load_compact(p, NULL, 0, &c), 0, "%s", pf_error_last());
    cr_assert_null(c.bytes);
    pf_dataset_row(&c, 1, row);
    cr_assert_arr_eq(row, v + 2, 2 * sizeof(float));
    pf_dataset_fini(&c);
}

/* Power normalization maps every feature x to sign(x)|x|^p: on a compact
 * IDX load through the byte table, on floats in place, the two alike bit
 * for bit; p = 1 leaves the data as loaded, a second call composes, and a
 * power outside (0, 16] is refused by value. */
Test(dataset, power_normalization_maps_bytes_and_floats_alike)
{
    const char *img = put_images("p-idx3-ubyte.gz", 3, 12, 1);
    pf_dataset f, c;
    cr_assert_eq(pf_dataset_load(img, NULL, 0, &f), 0, "%s", pf_error_last());
    cr_assert_eq(pf_dataset_load_compact(img, NULL, 0, &c), 0, "%s", pf_error_last());
    float before[12];
    memcpy(before, f.x, sizeof before);
    cr_assert_eq(pf_dataset_power(&f, 1.0), 0);
    cr_assert_arr_eq(f.x, before, sizeof before, "power 1 changes nothing");
    cr_assert_eq(pf_dataset_power(&f, 0.5), 0, "%s", pf_error_last());
    cr_assert_eq(pf_dataset_power(&c, 0.5), 0, "%s", pf_error_last());
    cr_assert_not_null(c.byte_values);
    cr_assert_not_null(c.bytes, "the rows stay bytes");
    float row[4];
    for (size_t i = 0; i < 3; i++) {
        pf_dataset_row(&c, i, row);
        cr_assert_arr_eq(row, f.x + i * 4, sizeof row, "row %zu: table and floats differ", i);
        for (size_t j = 0; j < 4; j++)
            cr_assert_float_eq(row[j], sqrtf(pixels3[i * 4 + j] / 255.0f), 1e-6, "row %zu column %zu", i, j);
    }
    cr_assert_eq(pf_dataset_power(&c, 2.0), 0, "%s", pf_error_last());
    pf_dataset_row(&c, 0, row);
    for (size_t j = 0; j < 4; j++)
        cr_assert_float_eq(row[j], pixels3[j] / 255.0f, 1e-6, "0.5 then 2 gives the pixels back (column %zu)", j);
    cr_assert_eq(pf_dataset_power(&c, 0.0), PF_EINVAL);
    cr_assert(strstr(pf_error_last(), "power 0 is outside (0, 16]"), "%s", pf_error_last());
    cr_assert_eq(pf_dataset_power(&c, NAN), PF_EINVAL);
    pf_dataset_fini(&c);
    cr_assert_null(c.byte_values);
    pf_dataset_fini(&f);

    const float v[4] = {-4.0f, 0.0f, 9.0f, -0.25f}, want[4] = {-2.0f, 0.0f, 3.0f, -0.5f};
    const char *p = put_npy("p-x.npy", "<f4", 0, "(2, 2)", v, sizeof v, 1);
    cr_assert_eq(pf_dataset_load(p, NULL, 0, &f), 0, "%s", pf_error_last());
    cr_assert_eq(pf_dataset_power(&f, 0.5), 0, "%s", pf_error_last());
    cr_assert_arr_eq(f.x, want, sizeof want, "signed: sign(x)|x|^0.5");
    cr_assert_float_eq(pf_power(-8.0f, 1.0 / 3), -2.0f, 1e-6);
    pf_dataset_fini(&f);
}

Test(idx, plain_files_load_and_limit_keeps_the_first_rows)
{
    const char *img = put_images("img.idx", 3, 12, 0);
    const char *lab = put_labels("lab.idx", 3, 0);
    pf_dataset d;
    cr_assert_eq(pf_idx_load(img, lab, 2, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.x[7], 5.0f / 255.0f);
    cr_assert_eq(d.labels[1], 0);
    cr_assert_eq(d.classes, 3);
    pf_dataset_fini(&d);

    cr_assert_eq(pf_idx_load(img, NULL, 0, &d), 0);
    cr_assert_null(d.labels);
    cr_assert_eq(d.classes, 0);
    pf_dataset_fini(&d);
}

Test(idx, bad_magic_and_unsupported_element_type_are_rejected)
{
    pf_dataset d;
    const char *p = put_text("junk.idx", "hello, world, this is not IDX");
    expect_error(pf_idx_load(p, NULL, 0, &d), PF_EPARSE, "not an IDX file");
    cr_assert_null(d.x);

    uint8_t buf[64];
    uint32_t dims[2] = {1, 4};
    float payload[4] = {0};
    p = put("float.idx", buf, idx_bytes(buf, 0x0D, 2, dims, (uint8_t *)payload, 16), 0);
    expect_error(pf_idx_load(p, NULL, 0, &d), PF_EPARSE, "element type 0x0d not supported");

    p = put_labels("lab.idx", 3, 0); /* 1-D file given as images */
    expect_error(pf_idx_load(p, NULL, 0, &d), PF_EPARSE, "images have 1 dimensions");
}

Test(idx, truncated_pixels_name_the_file_and_the_byte_counts)
{
    const char *p = put_images("short-idx3-ubyte.gz", 3, 5, 1);
    pf_dataset d;
    char want[700];
    snprintf(want, sizeof want, "'%s': truncated: expected 12 bytes of pixels, got 5", p);
    expect_error(pf_idx_load(p, NULL, 0, &d), PF_EIO, want);

    uint8_t head[6] = {0, 0, 8, 3, 0, 0}; /* ends inside the sizes */
    p = put("cut.idx", head, sizeof head, 0);
    expect_error(pf_idx_load(p, NULL, 0, &d), PF_EIO, "truncated: expected 12 bytes of IDX sizes");
}

Test(idx, a_header_claiming_billions_of_images_fails_as_truncated_without_a_huge_allocation)
{
    uint8_t buf[256];
    uint32_t dims[3] = {0xffffffffu, 28, 28};
    const char *p = put("liar.idx", buf, idx_bytes(buf, 0x08, 3, dims, pixels3, 12), 0);
    pf_dataset d;
    expect_error(pf_idx_load(p, NULL, 0, &d), PF_EIO, "bytes of pixels, got 12");
}

Test(idx, label_count_mismatch_is_rejected)
{
    const char *img = put_images("img.idx", 3, 12, 0);
    const char *lab = put_labels("lab.idx", 2, 0);
    pf_dataset d;
    expect_error(pf_idx_load(img, lab, 0, &d), PF_EMISMATCH, "2 labels, but");
    /* Also under a limit both files would satisfy: the header counts must agree. */
    expect_error(pf_idx_load(img, lab, 1, &d), PF_EMISMATCH, "has 3 images");
    cr_assert_null(d.labels);
}

Test(idx, missing_file_is_an_io_error_naming_it)
{
    pf_dataset d;
    expect_error(pf_idx_load(in_dir("nope.gz"), NULL, 0, &d), PF_EIO, "nope.gz': cannot open");
}

Test(idx, real_fashion_mnist_test_set_loads_with_balanced_classes)
{
    if (access(FASHION "/t10k-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("no " FASHION " on this machine");
    pf_dataset d;
    cr_assert_eq(pf_dataset_load(FASHION "/t10k-images-idx3-ubyte.gz",
                                 FASHION "/t10k-labels-idx1-ubyte.gz", 0, &d),
                 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 10000);
    cr_assert_eq(d.dim, 784);
    cr_assert_eq(d.classes, 10);
    size_t per_class[10] = {0};
    for (size_t i = 0; i < d.n; i++) {
        cr_assert(d.labels[i] >= 0 && d.labels[i] < 10);
        per_class[d.labels[i]]++;
    }
    for (int c = 0; c < 10; c++)
        cr_assert_eq(per_class[c], 1000, "class %d", c);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < d.n * d.dim; i++) {
        if (d.x[i] < lo) lo = d.x[i];
        if (d.x[i] > hi) hi = d.x[i];
    }
    cr_assert_eq(lo, 0.0f);
    cr_assert_eq(hi, 1.0f);
    pf_dataset_fini(&d);
}

/* ---- npy ---------------------------------------------------------------- */

Test(npy, float32_matrix_round_trips_bit_exact)
{
    const float v[6] = {1.5f, -0.0f, 1e-40f, 3.25f, -FLT_MAX, 0.1f};
    const char *p = put_npy("x.npy", "<f4", 0, "(3, 2)", v, sizeof v, 1);
    pf_dataset d;
    cr_assert_eq(pf_npy_load(p, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.dim, 2);
    cr_assert_arr_eq(d.x, v, sizeof v);
    cr_assert_null(d.labels);
    pf_dataset_fini(&d);

    p = put_npy("x2.npy", "<f4", 0, "(3, 2)", v, sizeof v, 2); /* version 2 header */
    cr_assert_eq(pf_npy_load(p, 2, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 2);
    cr_assert_arr_eq(d.x, v, 4 * sizeof(float));
    pf_dataset_fini(&d);
}

Test(npy, float64_is_narrowed_to_float)
{
    const double v[4] = {0.5, -2.0, 1.0 / 3, 1e10};
    const char *p = put_npy("x.npy", "<f8", 0, "(2, 2)", v, sizeof v, 1);
    pf_dataset d;
    cr_assert_eq(pf_npy_load(p, 0, &d), 0, "%s", pf_error_last());
    for (int i = 0; i < 4; i++)
        cr_assert_eq(d.x[i], (float)v[i]);
    pf_dataset_fini(&d);

    const double big[2] = {1.0, 1e300};
    p = put_npy("big.npy", "<f8", 0, "(1, 2)", big, sizeof big, 1);
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "row 0, column 1 is +Inf");
}

Test(npy, integer_labels_of_every_supported_width_load)
{
    const int32_t l4[4] = {0, 3, -1, 2};
    const int64_t l8[4] = {0, 3, -1, 2};
    const uint8_t l1[4] = {0, 3, 255, 2};
    int32_t *l;
    size_t n;
    const char *p = put_npy("l4.npy", "<i4", 0, "(4,)", l4, sizeof l4, 1);
    cr_assert_eq(pf_npy_load_labels(p, 0, &l, &n), 0, "%s", pf_error_last());
    cr_assert_eq(n, 4);
    cr_assert_arr_eq(l, l4, sizeof l4);
    free(l);
    p = put_npy("l8.npy", "<i8", 0, "(4,)", l8, sizeof l8, 1);
    cr_assert_eq(pf_npy_load_labels(p, 3, &l, &n), 0, "%s", pf_error_last());
    cr_assert_eq(n, 3);
    cr_assert_eq(l[2], -1);
    free(l);
    p = put_npy("l1.npy", "|u1", 0, "(4, 1)", l1, sizeof l1, 1);
    cr_assert_eq(pf_npy_load_labels(p, 0, &l, &n), 0, "%s", pf_error_last());
    cr_assert_eq(l[2], 255);
    free(l);

    const int64_t huge[1] = {(int64_t)1 << 40};
    p = put_npy("huge.npy", "<i8", 0, "(1,)", huge, sizeof huge, 1);
    expect_error(pf_npy_load_labels(p, 0, &l, &n), PF_EPARSE, "label 0 is 1099511627776");
    cr_assert_null(l);
}

Test(npy, fortran_order_is_refused_with_advice)
{
    const float v[4] = {0};
    const char *p = put_npy("f.npy", "<f4", 1, "(2, 2)", v, sizeof v, 1);
    pf_dataset d;
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "Fortran-order");
    cr_assert(strstr(pf_error_last(), "np.ascontiguousarray"));
}

Test(npy, wrong_dtype_shape_magic_and_truncation_are_rejected)
{
    const float v[4] = {1, 2, 3, 4};
    pf_dataset d;
    const char *p = put_npy("be.npy", ">f4", 0, "(2, 2)", v, sizeof v, 1);
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "dtype '>f4' not supported");
    p = put_npy("one.npy", "<f4", 0, "(4,)", v, sizeof v, 1);
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "expected a 2-D array");
    p = put_npy("three.npy", "<f4", 0, "(1, 2, 2)", v, sizeof v, 1);
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "got 3-D");
    p = put_npy("short.npy", "<f4", 0, "(3, 2)", v, sizeof v, 1);
    expect_error(pf_npy_load(p, 0, &d), PF_EIO,
                 "truncated: expected 24 bytes of array data, got 16");
    p = put_npy("weird.npy", "<f4", 0, "(2, x)", v, sizeof v, 1);
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "'shape' is malformed");
    p = put_text("text.npy", "just some text, long enough");
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "not a .npy file");
    p = put_text("tiny.npy", "\x93NUM");
    expect_error(pf_npy_load(p, 0, &d), PF_EIO, "truncated");

    float nan[4] = {1, 2, NAN, 4};
    p = put_npy("nan.npy", "<f4", 0, "(2, 2)", nan, sizeof nan, 1);
    expect_error(pf_npy_load(p, 0, &d), PF_EPARSE, "row 1, column 0 is NaN");
    cr_assert_null(d.x);
}

/* ---- fvecs -------------------------------------------------------------- */

/* rows x dim floats as fvecs, with row `bad_row` claiming `bad_dim` (if >= 0). */
static size_t fvecs_bytes(uint8_t *buf, int rows, int dim, int bad_row, int32_t bad_dim)
{
    size_t k = 0;
    for (int r = 0; r < rows; r++) {
        int32_t d = r == bad_row ? bad_dim : dim;
        memcpy(buf + k, &d, 4), k += 4;
        for (int j = 0; j < dim; j++) {
            float v = (float)(r * 10 + j) + 0.5f;
            memcpy(buf + k, &v, 4), k += 4;
        }
    }
    return k;
}

Test(fvecs, rows_round_trip_plain_and_gzipped)
{
    uint8_t buf[512];
    size_t len = fvecs_bytes(buf, 5, 3, -1, 0);
    pf_dataset d;
    for (int gz = 0; gz < 2; gz++) {
        const char *p = put(gz ? "v.fvecs.gz" : "v.fvecs", buf, len, gz);
        cr_assert_eq(pf_fvecs_load(p, 0, &d), 0, "%s", pf_error_last());
        cr_assert_eq(d.n, 5);
        cr_assert_eq(d.dim, 3);
        cr_assert_eq(d.x[4 * 3 + 2], 42.5f);
        pf_dataset_fini(&d);
    }
    const char *p = put("v.fvecs", buf, len, 0);
    cr_assert_eq(pf_fvecs_load(p, 2, &d), 0);
    cr_assert_eq(d.n, 2);
    pf_dataset_fini(&d);
}

Test(fvecs, differing_dim_truncated_row_and_bad_dim_are_rejected)
{
    uint8_t buf[512];
    pf_dataset d;
    const char *p = put("ragged.fvecs", buf, fvecs_bytes(buf, 4, 3, 2, 4), 0);
    expect_error(pf_fvecs_load(p, 0, &d), PF_EPARSE, "row 2 has dim 4, expected 3");
    size_t len = fvecs_bytes(buf, 3, 3, -1, 0);
    p = put("cut.fvecs", buf, len - 2, 0);
    expect_error(pf_fvecs_load(p, 0, &d), PF_EIO, "truncated: expected 12 bytes of row 2, got 10");
    p = put("cut2.fvecs", buf, 16 + 2, 0);
    expect_error(pf_fvecs_load(p, 0, &d), PF_EIO, "row 1 ends inside its dim prefix");
    p = put("zero.fvecs", buf, fvecs_bytes(buf, 1, 3, 0, 0), 0);
    expect_error(pf_fvecs_load(p, 0, &d), PF_EPARSE, "row 0 has dim 0");
    p = put("empty.fvecs", buf, 0, 0);
    expect_error(pf_fvecs_load(p, 0, &d), PF_EPARSE, "no vectors");
    cr_assert_null(d.x);
}

/* ---- CSV ---------------------------------------------------------------- */

Test(csv, header_is_detected_and_label_column_read)
{
    const char *p = put_text("d.csv", "label,a,b\n"
                                      "1, 0.5 ,2\r\n"
                                      "\n"
                                      "0,-1e-3,3.25\n"
                                      ",7,8"); /* empty label: unlabeled; no final newline */
    pf_csv_opts o = PF_CSV_OPTS_DEFAULT;
    o.label_col = 0;
    pf_dataset d;
    cr_assert_eq(pf_csv_load(p, &o, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.dim, 2);
    const float want[6] = {0.5f, 2, -1e-3f, 3.25f, 7, 8};
    cr_assert_arr_eq(d.x, want, sizeof want);
    cr_assert_eq(d.labels[0], 1);
    cr_assert_eq(d.labels[2], -1);
    cr_assert_eq(d.classes, 2);
    pf_dataset_fini(&d);
}

Test(csv, header_can_be_forced_either_way_and_other_delimiters_work)
{
    const char *p = put_text("d.csv", "1;2\n3;4\n");
    pf_csv_opts o = {.label_col = -1, .header = 1, .delim = ';'};
    pf_dataset d;
    cr_assert_eq(pf_csv_load(p, &o, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 1);
    cr_assert_eq(d.x[1], 4.0f);
    pf_dataset_fini(&d);

    p = put_text("h.csv", "a,b\n1,2\n");
    o = (pf_csv_opts){.label_col = -1, .header = 0, .delim = ','};
    expect_error(pf_csv_load(p, &o, 0, &d), PF_EPARSE,
                 "h.csv:1: column 1: expected a number, got 'a'");
}

Test(csv, bad_cell_names_file_line_and_column)
{
    char text[1024] = "x,y,z\n";
    for (int line = 2; line < 17; line++)
        strcat(text, "1,2,3\n");
    strcat(text, "1,2,x\n");
    const char *p = put_text("data.csv", text);
    pf_dataset d;
    expect_error(pf_csv_load(p, NULL, 0, &d), PF_EPARSE,
                 "data.csv:17: column 3: expected a number, got 'x'");
    cr_assert_null(d.x);
    /* A limit that stops before the bad line loads fine. */
    cr_assert_eq(pf_csv_load(p, NULL, 15, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 15);
    pf_dataset_fini(&d);
}

Test(csv, ragged_rows_nan_cells_and_bad_labels_are_rejected)
{
    pf_dataset d;
    const char *p = put_text("r.csv", "1,2,3\n4,5\n");
    expect_error(pf_csv_load(p, NULL, 0, &d), PF_EPARSE,
                 "r.csv:2: 2 columns, expected 3 (as on line 1)");
    p = put_text("n.csv", "1,2\n3,nan\n");
    expect_error(pf_csv_load(p, NULL, 0, &d), PF_EPARSE,
                 "n.csv:2: column 2: expected a number, got 'nan'");
    p = put_text("e.csv", "1,2,3\n1,,2\n");
    expect_error(pf_csv_load(p, NULL, 0, &d), PF_EPARSE,
                 "e.csv:2: column 2: expected a number, got ''");
    p = put_text("l.csv", "1,2\n2.5,3\n");
    pf_csv_opts o = {.label_col = 0, .header = 0, .delim = ','};
    expect_error(pf_csv_load(p, &o, 0, &d), PF_EPARSE,
                 "l.csv:2: column 1: expected an integer label");
    o.label_col = 5;
    expect_error(pf_csv_load(p, &o, 0, &d), PF_EPARSE,
                 "label column 6 is out of range (2 columns)");
    p = put_text("empty.csv", "a,b\n\n");
    expect_error(pf_csv_load(p, NULL, 0, &d), PF_EPARSE, "no data rows");
}

Test(csv, long_lines_and_gzip_are_read)
{
    enum { COLS = 3000 };
    char *text = malloc(COLS * 8 * 2 + 16), *q = text;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < COLS; c++)
            q += sprintf(q, "%d%c", c + r, c + 1 < COLS ? ',' : '\n');
    const char *p = put("wide.csv.gz", text, strlen(text), 1);
    free(text);
    pf_dataset d;
    cr_assert_eq(pf_csv_load(p, NULL, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.dim, COLS);
    cr_assert_eq(d.x[COLS + COLS - 1], (float)COLS);
    pf_dataset_fini(&d);
}

/* ---- the dispatching loader ---------------------------------------------------- */

Test(dataset, each_format_is_chosen_by_file_name)
{
    pf_dataset d;
    const char *img = put_images("train-images-idx3-ubyte", 3, 12, 0);
    cr_assert_eq(pf_dataset_load(img, NULL, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.dim, 4);
    pf_dataset_fini(&d);
    img = put_images("images.gz", 3, 12, 1);
    cr_assert_eq(pf_dataset_load(img, NULL, 0, &d), 0, "%s", pf_error_last());
    pf_dataset_fini(&d);

    const float v[6] = {1, 2, 3, 4, 5, 6};
    const char *p = put_npy("X.NPY", "<f4", 0, "(2, 3)", v, sizeof v, 1);
    cr_assert_eq(pf_dataset_load(p, NULL, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.dim, 3);
    pf_dataset_fini(&d);

    p = put_text("x.csv", "1,2\n3,4\n5,6\n");
    cr_assert_eq(pf_dataset_load(p, NULL, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 3);
    pf_dataset_fini(&d);

    uint8_t buf[256];
    p = put("x.fvecs", buf, fvecs_bytes(buf, 3, 2, -1, 0), 0);
    cr_assert_eq(pf_dataset_load(p, NULL, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.n, 3);
    pf_dataset_fini(&d);

    expect_error(pf_dataset_load(put("x.parquet", "PAR1", 4, 0), NULL, 0, &d), PF_EINVAL,
                 "unknown data format");
    /* a missing file is named as missing, whatever its name says */
    expect_error(pf_dataset_load(in_dir("missing.parquet"), NULL, 0, &d), PF_EIO, "No such file");
    expect_error(pf_dataset_load(in_dir("missing.npy"), NULL, 0, &d), PF_EIO, "cannot open");
}

Test(dataset, labels_from_a_separate_file_attach_and_must_match_the_row_count)
{
    uint8_t buf[256];
    const char *x = put("x.fvecs", buf, fvecs_bytes(buf, 3, 2, -1, 0), 0);
    const int32_t l3[3] = {4, -1, 1};
    const char *lab = put_npy("y.npy", "<i4", 0, "(3,)", l3, sizeof l3, 1);
    pf_dataset d;
    cr_assert_eq(pf_dataset_load(x, lab, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.labels[0], 4);
    cr_assert_eq(d.classes, 5);
    pf_dataset_fini(&d);

    /* npy features with IDX labels, and IDX images with npy labels. */
    const float v[6] = {1, 2, 3, 4, 5, 6};
    const char *xn = put_npy("x.npy", "<f4", 0, "(3, 2)", v, sizeof v, 1);
    const char *li = put_labels("y-idx1-ubyte", 3, 0);
    cr_assert_eq(pf_dataset_load(xn, li, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.labels[2], 7);
    pf_dataset_fini(&d);
    const char *img = put_images("i-idx3-ubyte", 3, 12, 0);
    cr_assert_eq(pf_dataset_load(img, lab, 0, &d), 0, "%s", pf_error_last());
    cr_assert_eq(d.classes, 5);
    pf_dataset_fini(&d);

    const int32_t l2[2] = {0, 1};
    lab = put_npy("y2.npy", "<i4", 0, "(2,)", l2, sizeof l2, 1);
    expect_error(pf_dataset_load(x, lab, 0, &d), PF_EMISMATCH, "2 labels for 3 rows");
    cr_assert_null(d.x);
    expect_error(pf_dataset_load(x, put("y.txt", "1\n2\n3\n", 6, 0), 0, &d), PF_EINVAL, "unknown label format");
    expect_error(pf_dataset_load(x, in_dir("missing.txt"), 0, &d), PF_EIO, "No such file");
    int32_t *lv = NULL;
    size_t nl = 0;
    expect_error(pf_labels_load(in_dir("missing-labels.txt"), 0, &lv, &nl), PF_EIO, "No such file");
}

Test(dataset, validate_rejects_non_finite_values_and_labels_below_minus_one)
{
    float x[4] = {0, 1, 2, INFINITY};
    int32_t l[2] = {0, -2};
    pf_dataset d = {.n = 2, .dim = 2, .x = x};
    expect_error(pf_dataset_validate(&d, "mine"), PF_EPARSE, "'mine': row 1, column 1 is +Inf");
    x[3] = 3;
    d.labels = l;
    expect_error(pf_dataset_validate(&d, "mine"), PF_EPARSE, "label 1 is -2");
    l[1] = 9;
    cr_assert_eq(pf_dataset_validate(&d, "mine"), 0);
    cr_assert_eq(d.classes, 10);
}
