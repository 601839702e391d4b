/* Tests for nodes/id_table.c: rows by sample id in fixed memory. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "nodes/id_table.h"

static pf_id_table t;

static void cleanup(void)
{
    pf_id_table_fini(&t);
}

TestSuite(id_table, .fini = cleanup);

/* An id finds its own row again, with what was written into it; a new id
 * gets a zeroed row; sequential ids fill a table to half its size (the
 * student's default: 131,072 rows for 59,000 unlabeled samples) without
 * forgetting any. */
Test(id_table, an_id_finds_its_row_again_and_sequential_ids_fill_half_the_table)
{
    cr_assert_eq(pf_id_table_init(&t, 1000, 3), 0);
    cr_assert_eq(t.cap, 1024, "rounded up to a power of two");
    int ev;
    for (uint64_t id = 1; id <= 512; id++) {
        size_t k = pf_id_table_slot(&t, id, id, &ev);
        cr_assert_neq(k, SIZE_MAX, "id %llu found no slot", (unsigned long long)id);
        cr_assert_eq(ev, 0, "id %llu forgot another in a half-full table", (unsigned long long)id);
        float *r = pf_id_table_row(&t, k);
        cr_assert(r[0] == 0 && r[1] == 0 && r[2] == 0, "a new id's row is not zeroed");
        r[0] = (float)id, r[2] = -(float)id;
    }
    for (uint64_t id = 1; id <= 512; id++) {
        size_t k = pf_id_table_slot(&t, id, 2000, &ev);
        float *r = pf_id_table_row(&t, k);
        cr_assert_eq(ev, 0);
        cr_assert(r[0] == (float)id && r[2] == -(float)id, "id %llu lost its row", (unsigned long long)id);
    }
}

/* Past its size the table forgets the least recently used id of the
 * probes, never one handed out in the same step: an id whose probes were
 * all used at `now` gets no slot, and the ids of that step keep theirs. */
Test(id_table, a_full_table_forgets_the_least_recent_id_but_never_one_of_this_step)
{
    cr_assert_eq(pf_id_table_init(&t, 16, 1), 0);
    int ev, refused = 0;
    size_t slot[64];
    for (uint64_t id = 0; id < 64; id++) { /* step 1: more ids than slots */
        slot[id] = pf_id_table_slot(&t, id, 1, &ev);
        cr_assert_eq(ev, 0, "id %llu took a slot of an id of the same step", (unsigned long long)id);
        if (slot[id] == SIZE_MAX) {
            refused++;
            continue;
        }
        pf_id_table_row(&t, slot[id])[0] = (float)id + 1;
    }
    cr_assert_eq(refused, 64 - 16, "16 slots, 64 ids in one step: 48 must go without");
    for (uint64_t id = 0; id < 64; id++)
        if (slot[id] != SIZE_MAX)
            cr_assert_eq(pf_id_table_row(&t, slot[id])[0], (float)id + 1, "id %llu's row changed",
                         (unsigned long long)id);
    /* step 2: a new id takes the least recently used slot of its probes */
    uint64_t kept = 0;
    while (slot[kept] == SIZE_MAX) kept++;
    pf_id_table_slot(&t, kept, 2, &ev); /* `kept` is now the most recent */
    size_t k = pf_id_table_slot(&t, 1000, 3, &ev);
    cr_assert_neq(k, SIZE_MAX);
    cr_assert_eq(ev, 1, "a full table took a slot without forgetting anyone");
    cr_assert_neq(k, slot[kept], "forgot the most recently used id");
    cr_assert_eq(pf_id_table_row(&t, k)[0], 0.0f, "the new id's row is not zeroed");
    cr_assert_neq(pf_id_table_slot(&t, kept, 4, &ev), SIZE_MAX);
    cr_assert_eq(ev, 0, "the most recent id was still there");
}
