/* Tests for nodes/source_acks.c: the acknowledgement window of a source. */
#include <criterion/criterion.h>

#include "nodes/source_acks.h"

Test(source_acks, acknowledged_positions_are_never_resent)
{
    pf_source_acks *a;
    cr_assert_eq(pf_source_acks_new(100, &a), 0);
    cr_assert_eq(pf_source_acks_sent(a, 0, 4, 1000), 0);
    for (uint64_t p = 0; p < 4; p++) pf_source_acks_ack(a, p);
    uint64_t out[8];
    cr_assert_eq(pf_source_acks_expired(a, 5000, out, 8), 0);
    cr_assert(pf_source_acks_all(a, 4));
    cr_assert_eq(pf_source_acks_prefix(a), 4);
    pf_source_acks_destroy(&a);
    cr_assert_null(a);
}

Test(source_acks, unacknowledged_positions_come_back_after_the_timeout_only)
{
    pf_source_acks *a;
    pf_source_acks_new(100, &a);
    pf_source_acks_sent(a, 0, 4, 1000);
    pf_source_acks_ack(a, 1);
    pf_source_acks_ack(a, 3);
    uint64_t out[8];
    cr_assert_eq(pf_source_acks_expired(a, 1050, out, 8), 0, "not expired yet");
    size_t n = pf_source_acks_expired(a, 1100, out, 8);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0], 0);
    cr_assert_eq(out[1], 2);
    cr_assert_not(pf_source_acks_all(a, 4));
    /* re-sent at 1100: due again at 1200, not before */
    cr_assert_eq(pf_source_acks_expired(a, 1150, out, 8), 0);
    cr_assert_eq(pf_source_acks_expired(a, 1200, out, 8), 2);
    pf_source_acks_ack(a, 0);
    pf_source_acks_ack(a, 2);
    cr_assert(pf_source_acks_all(a, 4));
    pf_source_acks_destroy(&a);
}

Test(source_acks, the_prefix_advances_past_a_long_acknowledged_run)
{
    pf_source_acks *a;
    pf_source_acks_new(100, &a);
    for (uint64_t first = 0; first < 100000; first += 250) {
        cr_assert_eq(pf_source_acks_sent(a, first, 250, 0), 0);
        for (uint64_t p = first; p < first + 250; p++) pf_source_acks_ack(a, p);
    }
    cr_assert_eq(pf_source_acks_prefix(a), 100000);
    cr_assert(pf_source_acks_all(a, 100000));
    uint64_t out[256];
    cr_assert_eq(pf_source_acks_expired(a, 1000, out, 256), 0);
    pf_source_acks_destroy(&a);
}

Test(source_acks, skipping_to_a_saved_cursor_counts_earlier_positions_as_acknowledged)
{
    pf_source_acks *a;
    pf_source_acks_new(100, &a);
    pf_source_acks_skip_to(a, 500);
    cr_assert(pf_source_acks_all(a, 500));
    cr_assert_eq(pf_source_acks_prefix(a), 500);
    pf_source_acks_sent(a, 500, 10, 0);
    cr_assert_not(pf_source_acks_all(a, 510));
    uint64_t out[16];
    cr_assert_eq(pf_source_acks_expired(a, 100, out, 16), 10);
    cr_assert_eq(out[0], 500);
    pf_source_acks_destroy(&a);
}

Test(source_acks, stray_acknowledgements_outside_the_window_are_harmless)
{
    pf_source_acks *a;
    pf_source_acks_new(100, &a);
    pf_source_acks_ack(a, 123456789);
    pf_source_acks_sent(a, 0, 2, 0);
    pf_source_acks_ack(a, 0);
    pf_source_acks_ack(a, 0);
    cr_assert_not(pf_source_acks_all(a, 2));
    pf_source_acks_destroy(&a);
}
