/*
 * mlp.h - softmax regression and ReLU multilayer perceptrons over OpenBLAS:
 * forward, tempered/weighted cross-entropy training, EMA of weights, and
 * snapshots that round-trip bit-exactly through protobuf (message Model).
 *
 * A worked example: a 784-256-10 student trained on a batch, published,
 * and loaded back by the evaluator.
 *
 *     uint32_t sizes[] = {784, 256, 10};        // input, hidden..., classes
 *     pf_mlp *m;
 *     if (pf_mlp_new(sizes, 3, 42, &m) < 0) die(pf_error_last());
 *
 *     pf_optim_config oc = pf_optim_defaults(PF_OPTIM_ADAM);
 *     pf_optim *opt;
 *     pf_optim_new(&oc, pf_mlp_nparams(m), &opt);
 *
 *     // x: shape = [n, 784], row-major; y: [n] labels (or soft [n, 10])
 *     double loss;
 *     int rc = pf_mlp_train_step(m, opt, x, n, y, NULL, NULL, 1.0f, &loss);
 *
 *     float probs[n * 10];                      // shape = [n, 10]
 *     pf_mlp_predict_proba(m, x, n, 1.0f, probs);
 *
 *     pf_mlp_save(m, "runs/x/model.pfm", 7);    // atomic: temp file + rename
 *     pf_mlp *back;
 *     pf_mlp_load("runs/x/model.pfm", &back);   // bit-identical parameters
 *
 *     pf_mlp_destroy(&back);
 *     pf_optim_destroy(&opt);
 *     pf_mlp_destroy(&m);
 *
 * Layout. sizes = {d0, d1, ..., dL}: d0 inputs, dL classes, L layers; L == 1
 * is softmax regression. Layer l (1..L) has W_l, shape = [d_l, d_{l-1}],
 * row-major, and b_l [d_l]; hidden layers apply ReLU, the last one gives
 * logits. All parameters live in one contiguous float vector in the order
 * W_1, b_1, W_2, b_2, ... -- exactly Model.params in the proto.
 *
 * Input standardization (optional): x' = (x − in_mean) · in_scale per
 * feature (in_scale is 1/std, a multiplier) before the first layer.
 *
 * Initialization (deterministic from the seed, any machine): W of a layer
 * followed by ReLU ~ N(0, 2/fan_in) (He et al., 2015); the logits layer
 * ~ N(0, 1/fan_in) (LeCun); biases 0.
 *
 * Loss: see models/loss.h (hard/soft targets, per-sample weights,
 * temperature T with the T² factor; T = 1 is plain cross-entropy).
 *
 * Threads: a pf_mlp is not thread-safe, not even for forward: it keeps
 * work buffers that grow to the largest batch seen and are then reused
 * (no allocation per step in steady state). Use one model per thread, or
 * pf_mlp_clone. BLAS threads: models/models.h.
 *
 * Errors: fallible functions return 0 or a negative PF_E* code and set
 * pf_error_last() to one line of context (runtime/error.h).
 */
#ifndef PF_MLP_H
#define PF_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "models/optim.h"
#include "models/rng.h"
#include "pseudoflow.pb-c.h"

typedef struct pf_mlp pf_mlp;

/* Largest accepted layer width and depth, so a hostile snapshot cannot
 * ask for terabytes: 2^24 units and 64 layers. */
#define PF_MLP_MAX_WIDTH (1u << 24)
#define PF_MLP_MAX_SIZES 65

/* Bookkeeping carried with the parameters in every snapshot. */
typedef struct pf_mlp_counters {
    uint64_t version;      /* snapshot version (set by the publisher) */
    uint64_t steps;        /* optimizer steps taken (pf_mlp_train_step adds 1) */
    uint64_t samples_seen; /* training samples seen (pf_mlp_train_step adds n) */
    uint64_t preq_seen;    /* prequential (test-then-train) counts, kept by the student */
    uint64_t preq_correct;
    uint64_t fit_rows;     /* labeled rows of a teacher's last fit, kept in its checkpoints */
} pf_mlp_counters;

/* ---- lifecycle ---------------------------------------------------------- */

/* New model with layer widths sizes[0..nsizes): input, hidden..., classes.
 * nsizes >= 2 (2 = softmax regression); every width in [1, PF_MLP_MAX_WIDTH]
 * and classes >= 2. Parameters initialized from seed as described above;
 * no standardization; temperature 1; counters 0.
 * *out is owned by the caller (pf_mlp_destroy).
 * Errors: PF_EINVAL (bad sizes), PF_ERANGE (parameter count overflows),
 * PF_ENOMEM. */
int pf_mlp_new(const uint32_t *sizes, size_t nsizes, uint64_t seed, pf_mlp **out);

/* Free the model and set *m = NULL; NULL-safe. */
void pf_mlp_destroy(pf_mlp **m);

/* Deep copy (parameters, standardization, temperature, counters; not work
 * buffers). *out owned by the caller. Errors: PF_ENOMEM. */
int pf_mlp_clone(const pf_mlp *m, pf_mlp **out);

/* ---- shape and parameters ----------------------------------------------- */

uint32_t pf_mlp_input_dim(const pf_mlp *m);
uint32_t pf_mlp_classes(const pf_mlp *m);
size_t pf_mlp_nparams(const pf_mlp *m);

/* Layer widths; *nsizes gets their count. Borrowed, valid for m's life. */
const uint32_t *pf_mlp_sizes(const pf_mlp *m, size_t *nsizes);

/* The parameter vector [pf_mlp_nparams], in the layout above. Borrowed,
 * valid for m's life; writing through it changes the model. */
float *pf_mlp_params(pf_mlp *m);

/* 1 if a and b have the same layer widths and layer normalization. */
int pf_mlp_same_shape(const pf_mlp *a, const pf_mlp *b);

/* Calibration temperature carried in snapshots (fitted by
 * pf_calibrate_temperature; 1 = none). Prediction does not apply it by
 * itself: pass pf_mlp_temperature(m) to pf_mlp_predict_proba for
 * calibrated probabilities. Set: PF_EINVAL unless finite and > 0. */
float pf_mlp_temperature(const pf_mlp *m);
int pf_mlp_set_temperature(pf_mlp *m, float T);

/* Training-time dropout of hidden units: in pf_mlp_loss_grad and
 * pf_mlp_train_step each hidden unit's output is zeroed with probability p
 * and the survivors scaled by 1/(1 − p) (inverted dropout); prediction,
 * pf_mlp_loss and pf_mlp_input_grad use the whole network. The masks come
 * from a generator seeded here, so the same seed and calls give the same
 * masks. A setting of the model in memory, not of its snapshots (clones
 * keep it). Errors: PF_EINVAL (p outside [0, 1)). */
int pf_mlp_set_hidden_dropout(pf_mlp *m, float p, uint64_t seed);

/* Layer normalization of every hidden layer (on != 0): each row's
 * pre-activations are shifted and scaled to mean 0 and variance 1 over the
 * layer's units, before ReLU, with no parameters of its own (mlp.c). Part
 * of the architecture: carried in snapshots (Model.norm) and compared by
 * pf_mlp_same_shape. Switch it before training, not between steps. */
void pf_mlp_set_layer_norm(pf_mlp *m, int on);
int pf_mlp_layer_norm(const pf_mlp *m);

/* The power normalization the model's input features had
 * (data/dataset.h: pf_dataset_power; 1 = none, the default). The model
 * does not apply it: features arrive transformed. It travels in snapshots
 * (Model.input_power) so that a model file used in another graph can be
 * checked against that graph's features; it is not part of the shape.
 * Errors: PF_EINVAL (p not finite and > 0). */
int pf_mlp_set_input_power(pf_mlp *m, float p);
float pf_mlp_input_power(const pf_mlp *m);

pf_mlp_counters pf_mlp_get_counters(const pf_mlp *m);
void pf_mlp_set_counters(pf_mlp *m, const pf_mlp_counters *c);

/* ---- input standardization ---------------------------------------------- */

/* Use x' = (x − mean) · scale, both [input_dim] (copied). Both NULL turns
 * standardization off. Errors: PF_EINVAL (only one NULL, non-finite
 * values), PF_ENOMEM. */
int pf_mlp_set_standardization(pf_mlp *m, const float *mean, const float *scale);

/* Fit mean and scale = 1 / max(std, min_std) from x [n, input_dim] and
 * turn standardization on. min_std > 0 guards constant features (pixels
 * that are always 0). Errors: PF_EINVAL (n == 0, bad min_std,
 * non-finite x), PF_ENOMEM. */
int pf_mlp_fit_standardization(pf_mlp *m, const float *x, size_t n, float min_std);

/* Borrowed views ([input_dim]) or NULL when off; valid until the next
 * set/fit call or destroy. */
const float *pf_mlp_in_mean(const pf_mlp *m);
const float *pf_mlp_in_scale(const pf_mlp *m);

/* ---- inference ---------------------------------------------------------- */

/* Logits for x [n, input_dim] into logits_out [n, classes], row-major.
 * Large n is processed in chunks, so memory does not grow with n.
 * Errors: PF_ENOMEM (work buffers). */
int pf_mlp_forward(pf_mlp *m, const float *x, size_t n, float *logits_out);

/* softmax(logits / T) into probs_out [n, classes]. Errors: PF_EINVAL (T not
 * finite and > 0), PF_ENOMEM. */
int pf_mlp_predict_proba(pf_mlp *m, const float *x, size_t n, float T, float *probs_out);

/* Top-1 class per sample into classes_out [n] (ties: lowest index). Errors:
 * PF_ENOMEM. */
int pf_mlp_predict(pf_mlp *m, const float *x, size_t n, int32_t *classes_out);

/* ---- training ----------------------------------------------------------- */

/* Loss only (no gradient, no update), with the arguments of
 * pf_mlp_train_step. Errors: those of pf_loss_xent, PF_ENOMEM. */
int pf_mlp_loss(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                const float *weights, float T, double *loss);

/* Loss and its gradient with respect to every parameter (backprop through
 * the ReLU layers). *grad gets a view [nparams] in the parameter layout,
 * borrowed until the next call on m. No weight decay term (that belongs to
 * the optimizer). Errors: those of pf_loss_xent (PF_EINVAL bad targets,
 * weights or T; PF_ERANGE non-finite loss), PF_EINVAL for n == 0 or a
 * non-finite feature in x, PF_ERANGE for n > INT_MAX, PF_ENOMEM. */
int pf_mlp_loss_grad(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                     const float *weights, float T, double *loss, const float **grad);

/* Early-learning regularization on a training step's rows (models/loss.h,
 * pf_loss_elr_add), added to their cross-entropy. */
typedef struct pf_mlp_elr {
    const float *targets; /* [n, classes] running targets t_i */
    const float *lambda;  /* [n] weight of each row's term; 0 = none */
    float *probs_out;     /* [n, classes]: gets the softmax (T = 1) of the step's own logits, before
                           * the update: the term's p, and the caller's for its target update */
} pf_mlp_elr;

/* pf_mlp_loss_grad plus the ELR term (elr NULL: exactly pf_mlp_loss_grad).
 * Errors: those of pf_mlp_loss_grad and pf_loss_elr_add. */
int pf_mlp_loss_grad_elr(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                         const float *weights, float T, const pf_mlp_elr *elr, double *loss, const float **grad);

/* Gradient of the same loss with respect to the inputs: gx [n, input_dim]
 * gets dL/dx (through the standardization when set). For adversarial
 * perturbations (virtual adversarial training). Parameters and their
 * gradient are untouched. Errors: as pf_mlp_loss_grad. */
int pf_mlp_input_grad(pf_mlp *m, const float *x, size_t n, const int32_t *targets, const float *soft,
                      const float *weights, float T, double *loss, float *gx);

/* One optimizer step on the batch x [n, input_dim] with
 *   targets [n] class indices (or -1 = use the soft row) or NULL,
 *   soft    [n, classes] target distributions or NULL,
 *   weights [n] per-sample weights >= 0 or NULL (= 1),
 *   T       temperature (1 = plain cross-entropy),
 * minimizing (1/n) Σ w_i·L_i (models/loss.h). Weight decay is applied to
 * the weight matrices, not the biases. *loss (may be NULL) gets the batch
 * loss before the update. Adds 1 to counters.steps and n to samples_seen.
 * On any error the parameters are left unchanged.
 * Errors: PF_EMISMATCH (opt made for another parameter count), PF_EINVAL
 * (n == 0, a NaN/Inf feature, bad targets/weights/T), PF_ERANGE (loss not
 * finite: nothing is updated, the batch should be dropped), PF_ENOMEM. */
int pf_mlp_train_step(pf_mlp *m, pf_optim *opt, const float *x, size_t n, const int32_t *targets,
                      const float *soft, const float *weights, float T, double *loss);

/* pf_mlp_train_step with the ELR term on its rows (elr NULL: exactly
 * pf_mlp_train_step). */
int pf_mlp_train_step_elr(pf_mlp *m, pf_optim *opt, const float *x, size_t n, const int32_t *targets,
                          const float *soft, const float *weights, float T, const pf_mlp_elr *elr, double *loss);

/* Perturb x [n, dim] in place for augmentation: each feature is dropped
 * (set to 0) with probability drop_rate and survivors are scaled by
 * 1/(1 − drop_rate) (inverted dropout, expectation kept); then N(0,
 * noise_std²) is added to every feature. Draws from rng (caller-owned, so
 * successive batches get fresh noise and a seed reproduces the run).
 * Errors: PF_EINVAL (drop_rate outside [0, 1), noise_std < 0 or NaN). */
int pf_mlp_augment(float *x, size_t n, size_t dim, float drop_rate, float noise_std, pf_rng *rng);

/* Translate each row of x [n, height*width], read as a row-major
 * height × width image, by (dx, dy) drawn uniformly from [-max_shift,
 * max_shift]² (one draw per row); pixels moved in from outside are 0.
 * An augmentation for image features only (pixels, not embeddings).
 * Draws from rng. Errors: PF_EINVAL (width or height 0, max_shift not
 * under both). */
int pf_mlp_shift(float *x, size_t n, size_t width, size_t height, unsigned max_shift, pf_rng *rng);

/* Mean teacher: θ_t ← m·θ_t + (1 − m)·θ_s for every parameter, in float,
 * exactly that expression. Standardization, temperature and counters of
 * the teacher are left alone. Errors: PF_EMISMATCH (shapes differ),
 * PF_EINVAL (m outside [0, 1]). */
int pf_mlp_ema_update(pf_mlp *teacher, const pf_mlp *student, float m);

/* ---- snapshots ---------------------------------------------------------- */

/* Fill *out (a Pf__Model the caller initialized with PF__MODEL__INIT) from
 * m: sizes, params, in_mean/in_scale, temperature, counters (version from
 * counters.version). The repeated fields are BORROWED views into m, valid
 * until m is next changed or destroyed: pack or copy out, then drop *out;
 * never pf__model__free_unpacked it. Cannot fail. */
void pf_mlp_to_proto(const pf_mlp *m, Pf__Model *out);

/* New model from a (decoded, untrusted) Pf__Model, copying everything.
 * Validates: 2..PF_MLP_MAX_SIZES widths in [1, PF_MLP_MAX_WIDTH], classes
 * >= 2, params count equal to what sizes imply, all params finite,
 * in_mean/in_scale both empty or both input_dim long and finite,
 * temperature finite and > 0 (0, the proto default, reads as 1).
 * *out owned by the caller. Errors: PF_EPROTO (any of the above),
 * PF_ENOMEM. */
int pf_mlp_from_proto(const Pf__Model *msg, pf_mlp **out);

/* Write m to path as a snapshot file: a 20-byte header (magic "PFMD",
 * format 1, payload length, CRC-32 of the payload, little-endian) and the
 * packed Pf__Model with the given version. Atomic: written to
 * "<path>.tmp.<pid>", fsynced, renamed over path; on failure path is
 * untouched and the temp file removed. Errors: PF_EIO, PF_ENOMEM. */
int pf_mlp_save(const pf_mlp *m, const char *path, uint64_t version);

/* Read a snapshot file written by pf_mlp_save. *out owned by the caller.
 * Errors: PF_EIO (cannot read), PF_EPROTO (bad magic or format, truncated
 * or oversized, CRC mismatch, undecodable or invalid Model), PF_ENOMEM. */
int pf_mlp_load(const char *path, pf_mlp **out);

#endif
