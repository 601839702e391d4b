/*
 * idx_source.h - what idx_source shares with the rest of the project: the
 * rule that picks which rows keep their labels. `pseudoflow train` uses the
 * same rule, so an offline model trained "on the 1000 labels of seed 0" saw
 * exactly the labels the pipeline saw.
 */
#ifndef PF_IDX_SOURCE_H
#define PF_IDX_SOURCE_H

#include <stdint.h>

#include "data/dataset.h"
#include "models/rng.h"

/* Mark in visible [d->n] the rows that keep their label: `labeled` rows,
 * class-balanced (labeled / classes per class, the remainder to the lowest
 * classes), chosen by a shuffle drawn from r; labeled < 0 marks every row
 * (and draws nothing). Rows without a label are never marked. visible is
 * zeroed first. Returns 0 or PF_ENOMEM. */
int pf_idx_source_choose_labeled(const pf_dataset *d, long long labeled, pf_rng *r, uint8_t *visible);

#endif
