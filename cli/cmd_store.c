/*
 * cmd_store.c - `pseudoflow store PATH stats|get ID|export`: read a label
 * store from the command line.
 *
 * The store is always opened read-only, with dim and classes taken from the
 * store itself, so this works on any run's store and beside a run that is
 * writing it (LMDB readers see one committed snapshot and never block the
 * writer). The work is done by the store's own tools (store/store_export.c);
 * this file only parses arguments and turns errors into one clear line and
 * an exit status: 0 ok, 1 failure (no store, no such id, I/O), 2 bad usage.
 *
 * It deliberately never writes: repairing or deleting records is not a
 * command-line job while a sampler may own the store.
 */
#include "cli/commands.h"
#include "runtime/error.h"
#include "store/label_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char store_help[] =
    "usage: pseudoflow store PATH stats\n"
    "       pseudoflow store PATH get ID\n"
    "       pseudoflow store PATH export --format csv|jsonl|npy [--embeddings] [--out FILE|DIR]\n"
    "\n"
    "Read the LMDB label store at PATH (a run's <run_dir>/store), also while a\n"
    "run is writing it; nothing is ever written.\n"
    "\n"
    "  stats    counts (samples, given labels, decided, accepted, rejected),\n"
    "           per-class counts, a confidence histogram, decisions per teacher\n"
    "           version and how many times samples were decided\n"
    "  get ID   one sample (id > 0) and its label record\n"
    "  export   one row per sample in id order: id, truth, label, confidence,\n"
    "           weight, teacher_version, times_decided, accepted\n"
    "\n"
    "export options:\n"
    "  --format F      csv, jsonl or npy (required)\n"
    "  --embeddings    add the embedding (csv: x0..; jsonl: \"x\"; npy: x.npy)\n"
    "  --out PATH      csv/jsonl: a file (default stdout); npy: a directory (required)\n";

/* Parse a sample id: decimal, > 0, nothing after it. */
static int parse_id(const char *text, uint64_t *id)
{
    if (!text[0] || text[0] == '-' || text[0] == '+') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v == 0) return -1;
    *id = (uint64_t)v;
    return 0;
}

static int open_readonly(const char *path, pf_label_store **s)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "pseudoflow store: no store at '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "pseudoflow store: '%s' is not a directory (a store is a run's <run_dir>/store)\n", path);
        return -1;
    }
    pf_label_store_opts o = {.readonly = 1};
    if (pf_label_store_open(path, &o, s) < 0) {
        fprintf(stderr, "pseudoflow store: %s\n", pf_error_last());
        return -1;
    }
    return 0;
}

static int do_export(pf_label_store *s, int argc, char **argv)
{
    const char *format = NULL, *out = NULL;
    int embeddings = 0, fmt = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) format = argv[++i];
        else if (strncmp(argv[i], "--format=", 9) == 0) format = argv[i] + 9;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strncmp(argv[i], "--out=", 6) == 0) out = argv[i] + 6;
        else if (strcmp(argv[i], "--embeddings") == 0) embeddings = 1;
        else {
            fprintf(stderr, "pseudoflow store export: unexpected '%s'\n\n%s", argv[i], store_help);
            return 2;
        }
    }
    if (!format) {
        fprintf(stderr, "pseudoflow store export: --format csv|jsonl|npy is required\n");
        return 2;
    }
    if (pf_label_store_parse_format(format, &fmt) < 0) {
        fprintf(stderr, "pseudoflow store export: %s\n", pf_error_last());
        return 2;
    }
    if (fmt == PF_LABEL_EXPORT_NPY && (!out || strcmp(out, "-") == 0)) {
        fprintf(stderr, "pseudoflow store export: npy writes a directory of .npy files; name it with --out DIR\n");
        return 2;
    }
    if (pf_label_store_export(s, fmt, embeddings, out) < 0) {
        fprintf(stderr, "pseudoflow store export: %s\n", pf_error_last());
        return 1;
    }
    return 0;
}

int pf_cmd_store(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return fputs(store_help, stdout), 0;
    if (argc < 3) return fputs(store_help, stderr), 2;
    const char *path = argv[1], *verb = argv[2];
    uint64_t id = 0;
    if (strcmp(verb, "stats") == 0) {
        if (argc != 3) return fprintf(stderr, "pseudoflow store stats: unexpected '%s'\n", argv[3]), 2;
    } else if (strcmp(verb, "get") == 0) {
        if (argc != 4) return fprintf(stderr, "pseudoflow store get: give exactly one sample ID\n"), 2;
        if (parse_id(argv[3], &id) < 0) {
            fprintf(stderr, "pseudoflow store get: bad id '%s': ids are decimal integers > 0\n", argv[3]);
            return 2;
        }
    } else if (strcmp(verb, "export") != 0) {
        fprintf(stderr, "pseudoflow store: unknown action '%s'; expected stats, get or export\n\n%s", verb,
                store_help);
        return 2;
    }
    pf_label_store *s = NULL;
    if (open_readonly(path, &s) < 0) return 1;
    int status = 0;
    if (strcmp(verb, "stats") == 0) {
        if (pf_label_store_print_stats(s, stdout) < 0) {
            fprintf(stderr, "pseudoflow store stats: %s\n", pf_error_last());
            status = 1;
        }
    } else if (strcmp(verb, "get") == 0) {
        int rc = pf_label_store_print_record(s, id, stdout);
        if (rc == PF_ENOTFOUND) {
            fprintf(stderr, "pseudoflow store get: no sample with id %" PRIu64 " in '%s'\n", id, path);
            status = 1;
        } else if (rc < 0) {
            fprintf(stderr, "pseudoflow store get: %s\n", pf_error_last());
            status = 1;
        }
    } else {
        status = do_export(s, argc - 3, argv + 3);
    }
    pf_label_store_close(&s);
    return status;
}
