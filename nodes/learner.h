/*
 * learner.h - a model with its optimizer and training recipe, as the
 * trainable node kinds (mlp_teacher, mlp_student) configure and use it.
 *
 *     typedef struct { pf_learner_cfg l; ... } student_cfg;
 *     static const pf_param params[] = { PF_LEARNER_PARAMS(student_cfg, l, "256"), ... };
 *     pf_learner L;
 *     pf_learner_init(&L, &cfg->l, dim, classes, seed);
 *     pf_learner_train(&L, x, n, targets, soft, weights, 1.0f, &loss);
 *     pf_learner_fini(&L);
 *
 * Training perturbs a copy of x first when drop/noise are set (the "strong
 * view" of consistency training: inputs may be embeddings, not images, so
 * the general augmentations are feature dropout and Gaussian noise). Where
 * the rows are images (pixels in row-major order), shift= also translates
 * each one by a few pixels first. The caller's x is never changed.
 */
#ifndef PF_LEARNER_H
#define PF_LEARNER_H

#include <stddef.h>
#include <stdint.h>

#include "models/mlp.h"
#include "models/optim.h"
#include "models/rng.h"
#include "runtime/graph.h"
#include "runtime/params.h"

#define PF_LEARNER_MAX_LAYERS 16

typedef struct pf_learner_cfg {
    char *hidden;        /* "256" or "512,256"; "" = softmax regression */
    int optimizer;       /* 0 adam, 1 sgd */
    double lr;
    double momentum;     /* sgd */
    double weight_decay;
    double drop;         /* input feature dropout while training */
    double noise;        /* Gaussian feature noise std while training */
    double hidden_drop;  /* dropout of hidden units while training */
    int norm;            /* layer normalization of the hidden layers */
    int64_t shift;       /* random translation of image rows while training, in pixels; 0 = off */
    int64_t image_width; /* width of those images; 0 = the square root of the dimension */
    int64_t threads;     /* BLAS threads */
    double input_power;  /* not a parameter: the power= of the features (pf_kind_graph_float), recorded
                            in the model (pf_mlp_set_input_power); 0 = 1 */
} pf_learner_cfg;

/* Parameter table entries for a pf_learner_cfg embedded as field `m` of T. */
#define PF_LEARNER_PARAMS(T, m, hidden_def)                                                        \
    {"hidden", PF_PT_STRING, offsetof(T, m.hidden), hidden_def, 0, 0, NULL,                        \
     "hidden layer widths, comma-separated (\"512,256\"); \"\" = softmax regression"},             \
    {"optimizer", PF_PT_ENUM, offsetof(T, m.optimizer), "adam", 0, 0, "adam|sgd", "optimizer"},     \
    {"lr", PF_PT_FLOAT, offsetof(T, m.lr), "0.001", 1e-7, 10, NULL, "learning rate"},              \
    {"momentum", PF_PT_FLOAT, offsetof(T, m.momentum), "0.9", 0, 0.999, NULL, "sgd momentum"},      \
    {"weight_decay", PF_PT_FLOAT, offsetof(T, m.weight_decay), "0.0001", 0, 1, NULL,               \
     "weight decay (decoupled for adam, L2 for sgd)"},                                             \
    {"drop", PF_PT_FLOAT, offsetof(T, m.drop), "0", 0, 0.95, NULL,                                 \
     "training-time input feature dropout (strong view)"},                                         \
    {"noise", PF_PT_FLOAT, offsetof(T, m.noise), "0", 0, 100, NULL,                                \
     "training-time Gaussian feature noise std (strong view)"},                                    \
    {"hidden_drop", PF_PT_FLOAT, offsetof(T, m.hidden_drop), "0", 0, 0.95, NULL,                   \
     "training-time dropout of hidden units (inverted: inference uses every unit)"},               \
    {"norm", PF_PT_BOOL, offsetof(T, m.norm), "0", 0, 1, NULL,                                     \
     "layer-normalize each hidden layer before ReLU (part of the architecture)"},                 \
    {"shift", PF_PT_INT, offsetof(T, m.shift), "0", 0, 64, NULL,                                   \
     "training-time random translation of image rows by up to this many pixels (strong view)"},   \
    {"image_width", PF_PT_INT, offsetof(T, m.image_width), "0", 0, 65536, NULL,                    \
     "width of the images shift= moves; 0 = square images (the square root of the dimension)"},   \
    {"threads", PF_PT_INT, offsetof(T, m.threads), "1", 1, 256, NULL, "BLAS threads for this node"}

typedef struct pf_learner {
    pf_learner_cfg cfg;
    pf_mlp *model;
    pf_optim *opt;
    pf_rng rng;
    uint64_t seed;
    float *xbuf; /* augmented copy */
    size_t xcap;
    size_t img_w, img_h; /* the image shape shift= moves; 0 when it is off */
} pf_learner;

/* Parse a hidden-width list into sizes {dim, h..., classes}. Returns 0 or
 * PF_EINVAL ("hidden: expected widths like 512,256, got 'x'"). */
int pf_learner_sizes(const char *hidden, uint32_t dim, uint32_t classes, uint32_t *sizes, size_t *nsizes);

/* The learner configuration of a graph node whose kind trains a model
 * (mlp_teacher, mlp_student: each keeps it as the first member of its
 * config), or NULL for any other kind. */
const pf_learner_cfg *pf_learner_cfg_of(const pf_gnode *n);

/* 1 if a and b build the same architecture (hidden widths and norm): the
 * condition for averaging one's weights into the other's (a mean teacher).
 * A hidden list that does not parse matches nothing. */
int pf_learner_same_arch(const pf_learner_cfg *a, const pf_learner_cfg *b);

/* cfg->input_power as the model records it (1 when unset). */
float pf_learner_input_power(const pf_learner_cfg *cfg);

/* 0 when model m was trained on features of power `want` (the graph's);
 * else PF_ECONFIG, "WHO 'PATH' was trained on features with power=0.5;
 * this graph's features have power=1 (train it with ...)". For a node
 * about to use a model file it did not train. */
int pf_learner_check_input_power(const pf_mlp *m, float want, const char *who, const char *path);

/* Build the model and optimizer (the model records cfg->input_power).
 * A checkpoint of features with another power is ignored by
 * pf_learner_resume, with a warning, like one of another architecture.
 * Errors: PF_EINVAL, PF_ENOMEM. */
int pf_learner_init(pf_learner *L, const pf_learner_cfg *cfg, uint32_t dim, uint32_t classes, uint64_t seed);

/* Replace the model by m (taken: *m is NULLed), keeping the optimizer if the
 * shapes agree and starting a fresh one otherwise. Errors: PF_ENOMEM. */
int pf_learner_adopt(pf_learner *L, pf_mlp **m);

/* A restarted node's checkpoint: when path exists and holds a model of this
 * learner's shape, adopt it (pf_learner_adopt) and return 1 with its
 * counters in *counters; a missing file returns 0, and an unreadable one or
 * one of another shape is logged as ignored and returns 0. Errors (< 0):
 * those of pf_learner_adopt. */
int pf_learner_resume(pf_learner *L, const char *path, pf_mlp_counters *counters);

/* One optimizer step on a batch (augmented when drop/noise are set). */
int pf_learner_train(pf_learner *L, const float *x, size_t n, const int32_t *targets, const float *soft,
                     const float *weights, float T, double *loss);

/* As pf_learner_train, but only the first n_aug rows (n_aug <= n) are
 * augmented; the rest are trained on as given (adversarial rows, whose
 * perturbation is already chosen); elr (or NULL) adds early-learning
 * regularization (pf_mlp_train_step_elr). */
int pf_learner_train_prefix(pf_learner *L, const float *x, size_t n, size_t n_aug, const int32_t *targets,
                            const float *soft, const float *weights, float T, const pf_mlp_elr *elr,
                            double *loss);

void pf_learner_fini(pf_learner *L);

#endif
