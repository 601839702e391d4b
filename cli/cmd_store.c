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
 * All arguments are checked before the store is opened, so bad usage exits 2
 * whether or not PATH holds a store.
 *
 * It deliberately never writes: repairing or deleting records is not a
 * command-line job while a sampler may own the store. The one file LMDB may
 * create is lock.mdb beside a valid store (its reader table, which keeps a
 * writer off the pages a reader uses); where that cannot be written the
 * store is read without it and a warning says when that is safe.
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

/* What to do, taken from the command line and checked whole before the store
 * is opened: a usage error exits 2 whether or not PATH holds a store. */
typedef struct store_action {
    enum { ACTION_STATS, ACTION_GET, ACTION_EXPORT } verb;
    uint64_t id;     /* get: the sample id, > 0 */
    int format;      /* export: PF_LABEL_EXPORT_* */
    int embeddings;  /* export: 1 = add the embedding */
    const char *out; /* export: borrowed from argv; NULL = stdout (csv/jsonl) */
} store_action;

/* Parse export's options (argv after "export"). Returns 0, or 2 with the
 * reason on stderr. */
static int parse_export(int argc, char **argv, store_action *a)
{
    const char *format = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
            format = argv[++i];
        else if (strncmp(argv[i], "--format=", 9) == 0)
            format = argv[i] + 9;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            a->out = argv[++i];
        else if (strncmp(argv[i], "--out=", 6) == 0)
            a->out = argv[i] + 6;
        else if (strcmp(argv[i], "--embeddings") == 0)
            a->embeddings = 1;
        else {
            fprintf(stderr, "pseudoflow store export: unexpected '%s'\n\n%s", argv[i], store_help);
            return 2;
        }
    }
    if (!format) {
        fprintf(stderr, "pseudoflow store export: --format csv|jsonl|npy is required\n");
        return 2;
    }
    if (pf_label_store_parse_format(format, &a->format) < 0) {
        fprintf(stderr, "pseudoflow store export: %s\n", pf_error_last());
        return 2;
    }
    if (a->format == PF_LABEL_EXPORT_NPY && (!a->out || strcmp(a->out, "-") == 0)) {
        fprintf(stderr, "pseudoflow store export: npy writes a directory of .npy files; name it "
                        "with --out DIR\n");
        return 2;
    }
    return 0;
}

/* Parse the action and its arguments (argv after PATH). Returns 0, or 2 with
 * the reason on stderr. */
static int parse_action(int argc, char **argv, store_action *a)
{
    const char *verb = argv[0];
    if (strcmp(verb, "stats") == 0) {
        a->verb = ACTION_STATS;
        if (argc != 1)
            return fprintf(stderr, "pseudoflow store stats: unexpected '%s'\n", argv[1]), 2;
        return 0;
    }
    if (strcmp(verb, "get") == 0) {
        a->verb = ACTION_GET;
        if (argc != 2)
            return fprintf(stderr, "pseudoflow store get: give exactly one sample ID\n"), 2;
        if (parse_id(argv[1], &a->id) < 0) {
            fprintf(stderr, "pseudoflow store get: bad id '%s': ids are decimal integers > 0\n",
                    argv[1]);
            return 2;
        }
        return 0;
    }
    if (strcmp(verb, "export") == 0) {
        a->verb = ACTION_EXPORT;
        return parse_export(argc - 1, argv + 1, a);
    }
    fprintf(stderr, "pseudoflow store: unknown action '%s'; expected stats, get or export\n\n%s",
            verb, store_help);
    return 2;
}

/* Open the store for reading. Where its lock file cannot be written (another
 * user's store, a read-only mount) it is read without LMDB's lock, which is
 * only safe while no run writes it: say so once. */
static int open_readonly(const char *path, pf_label_store **s)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "pseudoflow store: no store at '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "pseudoflow store: '%s' is not a directory (a store is a run's <run_dir>/store)\n",
                path);
        return -1;
    }
    pf_label_store_opts o = {.readonly = 1, .unlocked_ok = 1};
    if (pf_label_store_open(path, &o, s) < 0) {
        fprintf(stderr, "pseudoflow store: %s\n", pf_error_last());
        return -1;
    }
    if (!pf_label_store_locked(*s))
        fprintf(stderr,
                "pseudoflow store: warning: cannot write '%s/lock.mdb' (another user's store or a "
                "read-only filesystem): reading without a lock, which is safe only while no run "
                "is writing this store\n",
                path);
    return 0;
}

int pf_cmd_store(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return fputs(store_help, stdout), 0;
    if (argc < 3) return fputs(store_help, stderr), 2;
    const char *path = argv[1];
    store_action a = {0};
    int status = parse_action(argc - 2, argv + 2, &a);
    if (status != 0) return status;

    pf_label_store *s = NULL;
    if (open_readonly(path, &s) < 0) return 1;
    if (a.verb == ACTION_STATS) {
        if (pf_label_store_print_stats(s, stdout) < 0) {
            fprintf(stderr, "pseudoflow store stats: %s\n", pf_error_last());
            status = 1;
        }
    } else if (a.verb == ACTION_GET) {
        int rc = pf_label_store_print_record(s, a.id, stdout);
        if (rc == PF_ENOTFOUND) {
            fprintf(stderr, "pseudoflow store get: no sample with id %" PRIu64 " in '%s'\n", a.id,
                    path);
            status = 1;
        } else if (rc < 0) {
            fprintf(stderr, "pseudoflow store get: %s\n", pf_error_last());
            status = 1;
        }
    } else if (pf_label_store_export(s, a.format, a.embeddings, a.out) < 0) {
        fprintf(stderr, "pseudoflow store export: %s\n", pf_error_last());
        status = 1;
    }
    pf_label_store_close(&s);
    return status;
}
