/*
 * id_table.h - a fixed-size table of float rows kept by sample id, for state
 * a node keeps per sample (the student's ELR targets): memory stays the same
 * however long the stream, and the least recently used sample is forgotten
 * when its slots are taken.
 *
 *     pf_id_table t;
 *     pf_id_table_init(&t, 100000, classes);         // rounded up to 2^k rows
 *     int evicted;
 *     size_t k = pf_id_table_slot(&t, id, step, &evicted);
 *     if (k != SIZE_MAX) use(pf_id_table_row(&t, k)); // zeros for a new id
 *     pf_id_table_fini(&t);
 *
 * Open addressing: an id's slots are PF_ID_TABLE_PROBES consecutive ones
 * from its Fibonacci hash (the product's top bits, which spread sequential
 * ids, the usual kind, about evenly: half full, none is forgotten; tests/
 * test_id_table.c). A slot last used at the caller's `now` is never taken
 * from its id: rows handed out for one step stay that step's.
 */
#ifndef PF_ID_TABLE_H
#define PF_ID_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define PF_ID_TABLE_PROBES 8 /* slots tried per id: below half full a longer run is rare */

typedef struct pf_id_table {
    uint64_t *key, *used; /* per slot: the id, and the `now` it was last handed out at */
    uint8_t *full;        /* per slot: 1 = holds an id */
    float *rows;          /* [cap, width] */
    size_t cap, width;
    unsigned bits; /* cap = 2^bits */
} pf_id_table;

/* A table of at least min_rows rows (16 at least; rounded up to a power of
 * two) of `width` floats. Returns 0 or PF_ENOMEM (t then needs no fini). */
int pf_id_table_init(pf_id_table *t, size_t min_rows, size_t width);

void pf_id_table_fini(pf_id_table *t);

/* The slot of id, marked used at `now`; when id is not there it claims one
 * (row zeroed): the first free of its probes, else the least recently used
 * of them that was not used at `now` (*evicted = 1: that id is forgotten).
 * SIZE_MAX when every probe was used at `now` (nothing changes). */
size_t pf_id_table_slot(pf_id_table *t, uint64_t id, uint64_t now, int *evicted);

/* The row of a slot pf_id_table_slot returned: width floats. */
float *pf_id_table_row(const pf_id_table *t, size_t slot);

#endif
