/*
 * models.c - the process-wide BLAS thread setting.
 *
 * OpenBLAS keeps one global thread pool; its size is the only backend knob
 * the rest of pseudoflow needs. One thread gives reproducible sums (the
 * reduction order in sgemm does not depend on scheduling); more threads
 * give throughput on large batches. We wrap the call so that nothing
 * outside models/ includes cblas.h, and so a future backend swap touches
 * one file. Kernel choice (OPENBLAS_CORETYPE) is left to the environment.
 */
#include "models/models.h"

#include <cblas.h>

#include "runtime/error.h"

int pf_models_set_threads(int n)
{
    if (n < 1) return pf_errorf(PF_EINVAL, "models: thread count %d < 1", n);
    openblas_set_num_threads(n);
    return 0;
}

int pf_models_threads(void)
{
    return openblas_get_num_threads();
}
