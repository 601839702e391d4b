# run_lib.sh - shared by bench/fashion_table.sh and bench/screen.sh (sourced):
# run a graph and time it, and share runs between lanes.
#
#   pf_timed_run DOT DIR    runs "$PF run DOT" (log DIR.log); sets $pf_ok (1 or
#                           0) and $pf_wall (seconds); removes DIR/store after
#                           the run unless KEEP_STORES=1 (about 250 MB a
#                           Fashion-MNIST run: a table or screen would fill a disk)
#   pf_lanes JOBS FN ITEM...  calls "FN ITEM" for every item, JOBS at a time:
#                           lane L takes items L, L + JOBS, ... in order;
#                           fails (and says so) when a lane did

pf_timed_run() {
    t0=$(date +%s.%N)
    if "$PF" run "$1" --no-progress > "$2.log" 2>&1; then pf_ok=1; else pf_ok=0; fi
    t1=$(date +%s.%N)
    pf_wall=$(echo "$t1 $t0" | awk '{printf "%.0f", $1 - $2}')
    [ "${KEEP_STORES:-0}" = 1 ] || rm -rf "$2/store"
}

pf_lanes() {
    lanes=$1 fn=$2
    shift 2
    lane=0 pids=""
    while [ "$lane" -lt "$lanes" ]; do
        (
            k=0
            for item in "$@"; do
                if [ $((k % lanes)) -eq "$lane" ]; then "$fn" "$item"; fi
                k=$((k + 1))
            done
        ) &
        pids="$pids $!"
        lane=$((lane + 1))
    done
    failed=0
    for p in $pids; do wait "$p" || failed=1; done
    [ "$failed" = 0 ] || echo "a lane stopped early: the figures below miss its runs" >&2
    return "$failed"
}
