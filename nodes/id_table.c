/*
 * id_table.c - see id_table.h. Without deletions, a free probe means the id
 * is not in the table: insertion takes the first free probe, so an id is
 * never stored past a free slot of its own run.
 */
#include "nodes/id_table.h"
#include "runtime/error.h"

#include <stdlib.h>
#include <string.h>

int pf_id_table_init(pf_id_table *t, size_t min_rows, size_t width)
{
    memset(t, 0, sizeof *t);
    size_t cap = 16;
    unsigned bits = 4;
    while (cap < min_rows) cap *= 2, bits++;
    t->key = calloc(cap, sizeof *t->key), t->used = calloc(cap, sizeof *t->used);
    t->full = calloc(cap, 1), t->rows = calloc(cap * width, sizeof *t->rows);
    if (!t->key || !t->used || !t->full || !t->rows) {
        pf_id_table_fini(t);
        return pf_errorf(PF_ENOMEM, "out of memory for a table of %zu rows of %zu", cap, width);
    }
    t->cap = cap, t->width = width, t->bits = bits;
    return 0;
}

void pf_id_table_fini(pf_id_table *t)
{
    free(t->key), free(t->used), free(t->full), free(t->rows);
    memset(t, 0, sizeof *t);
}

size_t pf_id_table_slot(pf_id_table *t, uint64_t id, uint64_t now, int *evicted)
{
    size_t mask = t->cap - 1, first = (size_t)((id * 0x9E3779B97F4A7C15ull) >> (64 - t->bits)), victim = SIZE_MAX;
    *evicted = 0;
    for (size_t k = 0; k < PF_ID_TABLE_PROBES; k++) {
        size_t j = (first + k) & mask;
        if (!t->full[j]) {
            victim = j;
            break;
        }
        if (t->key[j] == id) {
            t->used[j] = now;
            return j;
        }
        if (t->used[j] != now && (victim == SIZE_MAX || t->used[j] < t->used[victim])) victim = j;
    }
    if (victim == SIZE_MAX) return SIZE_MAX;
    *evicted = t->full[victim];
    t->full[victim] = 1, t->key[victim] = id, t->used[victim] = now;
    memset(t->rows + victim * t->width, 0, t->width * sizeof *t->rows);
    return victim;
}

float *pf_id_table_row(const pf_id_table *t, size_t slot)
{
    return t->rows + slot * t->width;
}
