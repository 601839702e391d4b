/*
 * models.h - process-wide settings of the numerical backend (OpenBLAS).
 *
 *     pf_models_set_threads(1);   // tests and benchmarks that need
 *                                 // bit-reproducible results
 *
 * models/ is the only code that calls BLAS; nodes set the thread count here
 * instead of calling OpenBLAS themselves. The environment variable
 * OPENBLAS_CORETYPE (kernel selection) is respected and never set here.
 */
#ifndef PF_MODELS_H
#define PF_MODELS_H

/* Number of threads BLAS calls may use from now on (process-wide, not per
 * thread). n >= 1. Errors: PF_EINVAL if n < 1. With n == 1 every product
 * in models/ is deterministic for a given input and CPU kernel. */
int pf_models_set_threads(int n);

/* Number of threads BLAS currently uses. */
int pf_models_threads(void);

#endif
