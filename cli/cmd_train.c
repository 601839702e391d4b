/*
 * cmd_train.c - `pseudoflow train`: fit a model offline on a labeled file and
 * save it where a model_teacher (or anything that calls pf_mlp_load) reads it.
 *
 * Two jobs: the teacher of the distillation case (a model trained once,
 * loaded by `model_teacher path=...`), and the reference rows of the results
 * table (labeled-only with --labeled N, fully supervised with all labels).
 *
 * The labeled subset is the one idx_source keeps visible for the same
 * --labeled and --seed (pf_idx_source_choose_labeled, the one rule for it),
 * so an offline model and a pipeline run see the same labels.
 *
 * Recipe: minibatch Adam (or SGD) over shuffled epochs with a cosine learning
 * rate, optional input standardization fitted on the training rows, optional
 * feature dropout/noise (pf_learner's strong view). With --calibrate, every
 * 5th labeled row is held out and a softmax temperature is fitted on it
 * (temperature scaling) and stored in the model file.
 *
 * Progress goes to stderr (one line per epoch at most every 2 s, with an
 * ETA); --json prints the final test metrics as one JSON object on stdout.
 * It deliberately does not do early stopping or model selection on the test
 * file: the test file is only ever scored, never used to choose anything.
 */
#include "cli/commands.h"
#include "nodes/idx_source.h"
#include "data/dataset.h"
#include "models/calibrate.h"
#include "models/metrics.h"
#include "models/mlp.h"
#include "models/models.h"
#include "models/rng.h"
#include "nodes/learner.h"
#include "runtime/error.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIN_STD 0.1f        /* standardization floor: border pixels are ~always 0 */
#define HOLDOUT_EVERY 5     /* --calibrate: every 5th labeled row calibrates */
#define PROGRESS_EVERY_S 2. /* at most one progress line per this many seconds */

static const char train_help[] =
    "usage: pseudoflow train --images F --labels F --out MODEL [options]\n"
    "\n"
    "Train an MLP (or softmax regression) offline on a labeled data file and save\n"
    "it as a model file that `model_teacher path=MODEL` loads. With --labeled N only\n"
    "the N labels idx_source would keep visible for the same --seed are used.\n"
    "Values go after the option or after '=' (--epochs 20, --epochs=20). Every\n"
    "option and the directory of --out are checked before any data is read.\n"
    "\n"
    "data:\n"
    "  --images F          features: IDX (.gz ok), .npy, .fvecs or .csv (required)\n"
    "  --labels F          labels: IDX or .npy (required)\n"
    "  --labeled N         use N class-balanced labels (as idx_source); -1 = all (default)\n"
    "  --seed S            seed of the labeled subset, the initialization and the order (0)\n"
    "  --limit N           read only the first N rows (0 = all)\n"
    "  --power P           features become sign(x)*|x|^P as read, training and test\n"
    "                      alike (as the sources' and evaluator's power=; default 1)\n"
    "  --test-images F     held-out features, scored after training (and every epoch\n"
    "  --test-labels F     with --eval-every-epoch); never trained on\n"
    "model and training:\n"
    "  --hidden W[,W...]   hidden widths (default 256); \"\" = softmax regression\n"
    "  --epochs E          passes over the labeled rows (default 50)\n"
    "  --batch B           minibatch size (default 64)\n"
    "  --optimizer adam|sgd  (default adam)\n"
    "  --lr X              peak learning rate (default 0.001), cosine-annealed to 0\n"
    "  --constant-lr       keep the learning rate constant instead\n"
    "  --weight-decay X    (default 0.0001)\n"
    "  --drop X            input feature dropout while training (default 0)\n"
    "  --noise X           Gaussian input noise std while training (default 0)\n"
    "  --shift N           move each training image by up to N pixels each way, at\n"
    "                      random, before dropout and noise (default 0 = off)\n"
    "  --image-width W     width of those images (default 0: square images)\n"
    "  --hidden-drop X     dropout of hidden units while training (default 0)\n"
    "  --norm              layer-normalize each hidden layer before ReLU\n"
    "  --no-standardize    do not standardize inputs (default: fit mean/std on the\n"
    "                      training rows, stored in the model)\n"
    "  --calibrate         hold out every 5th labeled row and fit a temperature on it\n"
    "  --threads N         BLAS threads (default 1)\n"
    "output:\n"
    "  --out MODEL         model file to write (required)\n"
    "  --json              print the final test metrics as one JSON object on stdout\n"
    "  --eval-every-epoch  score the test file after every epoch (progress lines)\n"
    "\n"
    "example:\n"
    "  pseudoflow train --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \\\n"
    "      --labeled 1000 --hidden 256 --epochs 100 --out teacher.pfm \\\n"
    "      --test-images t10k-images-idx3-ubyte.gz --test-labels t10k-labels-idx1-ubyte.gz\n";

typedef struct train_opts {
    const char *images, *labels, *test_images, *test_labels, *out;
    long long labeled, seed, limit, epochs, batch, threads;
    double power;
    int json, calibrate, standardize, constant_lr, eval_each;
    pf_learner_cfg l;
} train_opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "pseudoflow train: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* Strict: an optional sign and decimal digits, the whole string, in [lo, hi]
 * ("2.7", "1e3", " 5" and "" are refused, never truncated). */
static int parse_int(const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    int digits_first = isdigit((unsigned char)v[0]) || ((v[0] == '-' || v[0] == '+') && isdigit((unsigned char)v[1]));
    if (!digits_first || errno || *end || x < lo || x > hi) {
        fprintf(stderr, "pseudoflow train: %s expects a whole number in [%lld, %lld], got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* --hidden is checked here, with the other flags, not after the data loaded:
 * the same rule pf_learner_init applies (pf_learner_sizes), for any dim. */
static int check_hidden(const char *hidden)
{
    uint32_t sizes[PF_LEARNER_MAX_LAYERS];
    size_t ns;
    if (pf_learner_sizes(hidden, 1, 2, sizes, &ns) == 0) return 0;
    const char *why = pf_error_last(); /* "hidden: width 0 is outside [1, N]", "hidden: expected ..." */
    if (!strncmp(why, "hidden: ", 8)) why += 8;
    if (!strncmp(why, "expected", 8))
        why = "expected comma-separated widths like 256 or 512,256 (\"\" = softmax regression)";
    fprintf(stderr, "pseudoflow train: --hidden '%s': %s\n", hidden, why);
    return -1;
}

/* The model is written last, after all the training: find out now if it
 * cannot be. Checks that --out's directory exists and is writable and that
 * --out is not a directory, without creating anything (pf_mlp_save writes a
 * temporary file there and renames it). Prints the problem; returns 0 or -1. */
static int check_out(const char *out)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", out) >= (int)sizeof dir) {
        fprintf(stderr, "pseudoflow train: --out: path too long: '%s'\n", out);
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0'; /* "/m.pfm": the root */
    else *slash = '\0';
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "pseudoflow train: --out '%s' is a directory; name the model file to write\n", out);
        return -1;
    }
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "pseudoflow train: --out '%s': directory '%s': %s\n", out, dir,
                errno == ENOENT ? "does not exist" : strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "pseudoflow train: --out '%s': '%s' is not a directory\n", out, dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "pseudoflow train: --out '%s': cannot write in '%s': %s\n", out, dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Options that take a value (as "--opt V" or "--opt=V"); the rest are flags. */
static const char *const value_opts[] = {
    "--images", "--labels", "--test-images", "--test-labels", "--out", "--hidden", "--optimizer", "--labeled",
    "--seed", "--limit", "--epochs", "--batch", "--threads", "--lr", "--weight-decay", "--drop", "--noise",
    "--shift", "--image-width",
    "--hidden-drop", "--power", NULL};

static int takes_value(const char *a)
{
    for (const char *const *p = value_opts; *p; p++)
        if (!strcmp(a, *p)) return 1;
    return 0;
}

/* Returns 0, or 2 (usage) with the message printed. */
static int parse(int argc, char **argv, train_opts *o)
{
    *o = (train_opts){.labeled = -1, .epochs = 50, .batch = 64, .threads = 1, .standardize = 1, .power = 1};
    o->l = (pf_learner_cfg){.hidden = "256", .lr = 0.001, .momentum = 0.9, .weight_decay = 1e-4, .threads = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char name[32]; /* "--opt" of "--opt=V": longer than any option */
        const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
        if (eq) {
            size_t len = (size_t)(eq - a);
            if (len >= sizeof name) len = sizeof name - 1; /* then unknown below */
            memcpy(name, a, len), name[len] = '\0';
            a = name, v = eq + 1;
        }
        int flag = 1;
        if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--calibrate")) o->calibrate = 1;
        else if (!strcmp(a, "--no-standardize")) o->standardize = 0;
        else if (!strcmp(a, "--constant-lr")) o->constant_lr = 1;
        else if (!strcmp(a, "--eval-every-epoch")) o->eval_each = 1;
        else if (!strcmp(a, "--norm")) o->l.norm = 1;
        else flag = 0;
        if (flag && eq) {
            fprintf(stderr, "pseudoflow train: %s takes no value, got '%s'\n", a, argv[i]);
            return 2;
        }
        if (flag) continue;
        if (!takes_value(a)) {
            if (strncmp(a, "--", 2)) fprintf(stderr, "pseudoflow train: unexpected argument '%s' (see --help)\n", a);
            else fprintf(stderr, "pseudoflow train: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
        /* A value that looks like an option means the value was forgotten:
         * "--images --labels y" must not read "--labels" as a file name. */
        if (!eq) v = i + 1 < argc && strncmp(argv[i + 1], "--", 2) ? argv[++i] : NULL;
        if (!v || (!*v && strcmp(a, "--hidden"))) {
            fprintf(stderr, "pseudoflow train: %s needs a value (see --help)\n", a);
            return 2;
        }
        double x = 0;
        long long n = 0;
        int rc = 0;
        if (!strcmp(a, "--images")) o->images = v;
        else if (!strcmp(a, "--labels")) o->labels = v;
        else if (!strcmp(a, "--test-images")) o->test_images = v;
        else if (!strcmp(a, "--test-labels")) o->test_labels = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--hidden")) (rc = check_hidden(v)), o->l.hidden = (char *)v;
        else if (!strcmp(a, "--optimizer")) {
            if (strcmp(v, "adam") && strcmp(v, "sgd")) {
                fprintf(stderr, "pseudoflow train: --optimizer expects adam or sgd, got '%s'\n", v);
                return 2;
            }
            o->l.optimizer = !strcmp(v, "sgd");
        }
        else if (!strcmp(a, "--labeled")) (rc = parse_int(a, v, -1, 1000000000000LL, &n)), o->labeled = n;
        else if (!strcmp(a, "--seed")) (rc = parse_int(a, v, 0, LLONG_MAX, &n)), o->seed = n;
        else if (!strcmp(a, "--limit")) (rc = parse_int(a, v, 0, 1000000000000LL, &n)), o->limit = n;
        else if (!strcmp(a, "--epochs")) (rc = parse_int(a, v, 1, 1000000, &n)), o->epochs = n;
        else if (!strcmp(a, "--batch")) (rc = parse_int(a, v, 1, 65536, &n)), o->batch = n;
        else if (!strcmp(a, "--threads")) (rc = parse_int(a, v, 1, 256, &n)), o->l.threads = n;
        else if (!strcmp(a, "--lr")) (rc = parse_num(a, v, 1e-7, 10, &x)), o->l.lr = x;
        else if (!strcmp(a, "--weight-decay")) (rc = parse_num(a, v, 0, 1, &x)), o->l.weight_decay = x;
        else if (!strcmp(a, "--drop")) (rc = parse_num(a, v, 0, 0.95, &x)), o->l.drop = x;
        else if (!strcmp(a, "--noise")) (rc = parse_num(a, v, 0, 100, &x)), o->l.noise = x;
        else if (!strcmp(a, "--shift")) (rc = parse_int(a, v, 0, 64, &n)), o->l.shift = n;
        else if (!strcmp(a, "--image-width")) (rc = parse_int(a, v, 0, 65536, &n)), o->l.image_width = n;
        else if (!strcmp(a, "--hidden-drop")) (rc = parse_num(a, v, 0, 0.95, &x)), o->l.hidden_drop = x;
        else if (!strcmp(a, "--power")) (rc = parse_num(a, v, 0.01, 16, &x)), o->power = x;
        if (rc < 0) return 2;
    }
    const char *missing = !o->images ? "--images" : !o->labels ? "--labels" : !o->out ? "--out" : NULL;
    if (missing) {
        fprintf(stderr, "pseudoflow train: %s is required (see --help)\n", missing);
        return 2;
    }
    if (!o->test_images != !o->test_labels) {
        fprintf(stderr, "pseudoflow train: --test-images and --test-labels go together\n");
        return 2;
    }
    return 0;
}

/* Score m on d; fills mt. */
static int score(pf_mlp *m, const pf_dataset *d, pf_metrics *mt)
{
    float *p = malloc(d->n * pf_mlp_classes(m) * sizeof *p);
    if (!p) return pf_errorf(PF_ENOMEM, "train: out of memory scoring %zu rows", d->n);
    int rc = pf_mlp_predict_proba(m, d->x, d->n, pf_mlp_temperature(m), p);
    if (rc == 0) rc = pf_metrics_compute(mt, p, d->labels, d->n);
    free(p);
    return rc;
}

/* Copy the chosen rows into xt/yt (training) and xh/yh (held out). */
static int split(const pf_dataset *d, const uint8_t *visible, int calibrate, float **xt, int32_t **yt, size_t *nt,
                 float **xh, int32_t **yh, size_t *nh)
{
    size_t nv = 0;
    for (size_t i = 0; i < d->n; i++) nv += visible[i] && d->labels[i] >= 0;
    *xt = malloc((nv ? nv : 1) * d->dim * sizeof **xt), *yt = malloc((nv ? nv : 1) * sizeof **yt);
    *xh = malloc((nv / HOLDOUT_EVERY + 1) * d->dim * sizeof **xh), *yh = malloc((nv / HOLDOUT_EVERY + 1) * sizeof **yh);
    if (!*xt || !*yt || !*xh || !*yh) return pf_errorf(PF_ENOMEM, "train: out of memory for %zu rows", nv);
    *nt = *nh = 0;
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!visible[i] || d->labels[i] < 0) continue;
        int hold = calibrate && k++ % HOLDOUT_EVERY == HOLDOUT_EVERY - 1;
        float *x = hold ? *xh + *nh * d->dim : *xt + *nt * d->dim;
        memcpy(x, d->x + i * d->dim, d->dim * sizeof *x);
        if (hold) (*yh)[(*nh)++] = d->labels[i];
        else (*yt)[(*nt)++] = d->labels[i];
    }
    return 0;
}

static void print_json(FILE *f, const train_opts *o, size_t nt, double secs, const pf_metrics *mt, float T)
{
    fprintf(f, "{\"labeled\": %zu, \"seed\": %lld, \"hidden\": \"%s\", \"epochs\": %lld, \"power\": %g, "
               "\"seconds\": %.2f, \"temperature\": %.4f",
            nt, o->seed, o->l.hidden, o->epochs, o->power, secs, (double)T);
    if (mt)
        fprintf(f, ", \"accuracy\": %.6f, \"macro_f1\": %.6f, \"nll\": %.6f, \"ece\": %.6f", mt->accuracy, mt->macro_f1,
                mt->nll, mt->ece);
    fprintf(f, "}\n");
}

int pf_cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return fputs(train_help, stdout), 0;
    train_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    if (check_out(o.out) < 0) return 1;

    pf_dataset tr = {0}, te = {0};
    pf_learner L = {0};
    pf_metrics mt = {0};
    uint8_t *visible = NULL;
    float *xt = NULL, *xh = NULL, *mbx = NULL;
    int32_t *yt = NULL, *yh = NULL, *mby = NULL;
    size_t *order = NULL, nt = 0, nh = 0;
    int status = 1, have_test = 0;
    double t0 = now_s();

    if ((rc = pf_dataset_load(o.images, o.labels, (size_t)o.limit, &tr)) < 0 ||
        (rc = pf_dataset_power(&tr, o.power)) < 0)
        goto fail;
    if (tr.classes < 2) {
        rc = pf_errorf(PF_EINVAL, "'%s': needs at least 2 classes, found %u", o.labels, tr.classes);
        goto fail;
    }
    if (o.test_images) {
        if ((rc = pf_dataset_load(o.test_images, o.test_labels, 0, &te)) < 0 ||
            (rc = pf_dataset_power(&te, o.power)) < 0)
            goto fail;
        if (te.dim != tr.dim) {
            rc = pf_errorf(PF_EMISMATCH, "'%s' has %zu features per row, '%s' has %zu", o.test_images, te.dim,
                           o.images, tr.dim);
            goto fail;
        }
        for (size_t i = 0; i < te.n; i++)
            if (te.labels[i] < 0 || te.labels[i] >= (int32_t)tr.classes) {
                rc = pf_errorf(PF_EINVAL, "'%s' row %zu: label %d outside [0, %u)", o.test_labels, i, te.labels[i],
                               tr.classes);
                goto fail;
            }
        have_test = 1;
    }
    visible = malloc(tr.n);
    if (!visible) {
        rc = pf_errorf(PF_ENOMEM, "train: out of memory");
        goto fail;
    }
    pf_rng lr;
    pf_rng_seed(&lr, (uint64_t)o.seed);
    if ((rc = pf_idx_source_choose_labeled(&tr, o.labeled, &lr, visible)) < 0) goto fail;
    if ((rc = split(&tr, visible, o.calibrate, &xt, &yt, &nt, &xh, &yh, &nh)) < 0) goto fail;
    if (nt == 0) {
        rc = pf_errorf(PF_EINVAL, "'%s': no labeled rows to train on", o.labels);
        goto fail;
    }
    o.l.input_power = o.power;
    if ((rc = pf_learner_init(&L, &o.l, (uint32_t)tr.dim, tr.classes, (uint64_t)o.seed)) < 0) goto fail;
    if (o.standardize && (rc = pf_mlp_fit_standardization(L.model, xt, nt, MIN_STD)) < 0) goto fail;
    if ((rc = pf_metrics_init(&mt, tr.classes)) < 0) goto fail;
    size_t B = (size_t)o.batch < nt ? (size_t)o.batch : nt;
    mbx = malloc(B * tr.dim * sizeof *mbx), mby = malloc(B * sizeof *mby), order = malloc(nt * sizeof *order);
    if (!mbx || !mby || !order) {
        rc = pf_errorf(PF_ENOMEM, "train: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nt; i++) order[i] = i;
    fprintf(stderr, "train: %zu labeled rows (%zu held out for calibration), %zu features, %u classes, hidden '%s', %lld epochs\n",
            nt, nh, tr.dim, tr.classes, o.l.hidden, o.epochs);

    size_t per_epoch = (nt + B - 1) / B, total = per_epoch * (size_t)o.epochs, step = 0;
    double last_print = now_s();
    for (long long e = 0; e < o.epochs; e++) {
        for (size_t i = nt; i > 1; i--) { /* reshuffle every epoch */
            size_t j = pf_rng_below(&L.rng, i), t = order[i - 1];
            order[i - 1] = order[j], order[j] = t;
        }
        double sum = 0;
        for (size_t s = 0; s < per_epoch; s++, step++) {
            size_t lo = s * B, n = lo + B <= nt ? B : nt - lo;
            for (size_t i = 0; i < n; i++) {
                memcpy(mbx + i * tr.dim, xt + order[lo + i] * tr.dim, tr.dim * sizeof *mbx);
                mby[i] = yt[order[lo + i]];
            }
            /* cosine: lr_t = lr / 2 · (1 + cos(π t / total)) */
            if (!o.constant_lr) pf_optim_set_lr(L.opt, (float)(o.l.lr * 0.5 * (1 + cos(M_PI * (double)step / (double)total))) + 1e-7f);
            double loss = 0;
            rc = pf_learner_train(&L, mbx, n, mby, NULL, NULL, 1.0f, &loss);
            if (rc < 0 && rc != PF_ERANGE) goto fail;
            sum += loss;
        }
        double t = now_s();
        if (t - last_print >= PROGRESS_EVERY_S || e + 1 == o.epochs || o.eval_each) {
            double eta = (t - t0) / (double)(e + 1) * (double)(o.epochs - e - 1);
            fprintf(stderr, "train: epoch %lld/%lld  loss %.4f  %.1f s  eta %.0f s", e + 1, o.epochs,
                    sum / (double)per_epoch, t - t0, eta);
            if (o.eval_each && have_test && (rc = score(L.model, &te, &mt)) == 0)
                fprintf(stderr, "  test accuracy %.4f", mt.accuracy);
            fputc('\n', stderr);
            last_print = t;
        }
    }
    float T = 1.0f;
    if (o.calibrate && nh >= 2) {
        float *z = malloc(nh * tr.classes * sizeof *z);
        if (!z) {
            rc = pf_errorf(PF_ENOMEM, "train: out of memory");
            goto fail;
        }
        rc = pf_mlp_forward(L.model, xh, nh, z);
        if (rc == 0) rc = pf_calibrate_temperature(z, yh, nh, tr.classes, &T);
        free(z);
        if (rc < 0 || (rc = pf_mlp_set_temperature(L.model, T)) < 0) goto fail;
        fprintf(stderr, "train: temperature %.3f fitted on %zu held-out rows\n", (double)T, nh);
    }
    pf_mlp_counters c = pf_mlp_get_counters(L.model);
    if ((rc = pf_mlp_save(L.model, o.out, c.version)) < 0) goto fail;
    fprintf(stderr, "train: saved %s (%zu parameters) in %.1f s\n", o.out, pf_mlp_nparams(L.model), now_s() - t0);
    if (have_test) {
        if ((rc = score(L.model, &te, &mt)) < 0) goto fail;
        fprintf(stderr, "train: test accuracy %.4f  macro-F1 %.4f  NLL %.4f  ECE %.4f  (%zu rows)\n", mt.accuracy,
                mt.macro_f1, mt.nll, mt.ece, te.n);
    }
    if (o.json) print_json(stdout, &o, nt, now_s() - t0, have_test ? &mt : NULL, T);
    status = 0;
    goto out;
fail:
    fprintf(stderr, "pseudoflow train: %s\n", pf_error_last());
out:
    pf_metrics_fini(&mt);
    pf_learner_fini(&L);
    pf_dataset_fini(&tr), pf_dataset_fini(&te);
    free(visible), free(xt), free(yt), free(xh), free(yh), free(mbx), free(mby), free(order);
    return status;
}
