#!/bin/sh
# screen.sh - run one change to a graph on several seeds and print what the
# screens in docs/learning-experiments.md report: test accuracy, NLL and
# ECE of the final student, the precision and coverage of the pseudo-labels
# over the run and over the last 10,000 decisions, and the wall time; then
# the mean accuracy. Figures, never pass/fail.
#
#   bench/screen.sh NAME 'SED_EDITS' [GRAPH] [BUILD_DIR]
#   bench/screen.sh elr3 's|smooth=0.1,|smooth=0.1, elr=3,|'
#   SEEDS="0 1 2" JOBS=3 OUT=/tmp/pfscreen bench/screen.sh b32 \
#       's|batch=64|batch=32|; s|lr_decay_steps=30000|lr_decay_steps=63000|'
#
# GRAPH defaults to graphs/fashion.dot; SED_EDITS is a sed script applied to
# it (an edit that changes nothing is an error, so a typo cannot screen the
# unchanged recipe). Graph seed = source seed = the labeled subset, as in
# bench/fashion_table.sh. JOBS=N runs N pipelines at a time (the docs'
# screens ran three at a time: each wall time is then inflated). Every run
# gets OUT/NAME-SEED (graph, log, metrics); its label store, about 250 MB
# on Fashion-MNIST, is removed when the run ends unless KEEP_STORES=1.
set -eu
cd "$(dirname "$0")/.."
. bench/run_lib.sh
[ $# -ge 2 ] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
NAME=$1
EDITS=$2
GRAPH=${3:-graphs/fashion.dot}
BUILD=${4:-build}
PF=$BUILD/pseudoflow
[ -x "$PF" ] || { echo "screen: no $PF; build first (cmake --build $BUILD)" >&2; exit 2; }
[ -r "$GRAPH" ] || { echo "screen: cannot read graph '$GRAPH'" >&2; exit 2; }
SEEDS=${SEEDS:-0 1 2}
OUT=${OUT:-/tmp/pfscreen}
JOBS=${JOBS:-1}
mkdir -p "$OUT"
RES=$OUT/$NAME.results
: > "$RES"

sed "$EDITS" "$GRAPH" > "$OUT/$NAME.check.dot" || { echo "screen: sed could not apply '$EDITS'" >&2; exit 2; }
if cmp -s "$GRAPH" "$OUT/$NAME.check.dot"; then
    echo "screen: '$EDITS' changes nothing in $GRAPH" >&2
    exit 2
fi
"$PF" check "$OUT/$NAME.check.dot" >&2 || { echo "screen: the edited graph does not check" >&2; exit 2; }
grep -q "^  graph .*seed=0\]" "$OUT/$NAME.check.dot" ||
    { echo "screen: $GRAPH has no '  graph [... seed=0]' line to set the seed in" >&2; exit 2; }

run_one() {
    d=$OUT/$NAME-$1
    rm -rf "$d"
    sed -e "$EDITS" -e "s|^\(  graph .*\)seed=0\]|\1seed=$1, run_dir=\"$d\"]|" "$GRAPH" > "$d.dot"
    grep -q "run_dir=\"$d\"" "$d.dot" || { echo "screen: could not set the seed in $GRAPH" >&2; exit 1; }
    pf_timed_run "$d.dot" "$d"
    acc=fail nll=- ece=- pp="- -" rp="- -"
    if [ "$pf_ok" = 1 ]; then
        s=$d/summary.json
        acc=$(sed -n 's/.*"test_n": [0-9]*, "accuracy": \([0-9.]*\).*/\1/p' "$s" 2>/dev/null || true)
        nll=$(sed -n 's/.*"nll": \([0-9.]*\).*/\1/p' "$s" | head -1)
        ece=$(sed -n 's/.*"nll": [0-9.]*, "ece": \([0-9.]*\).*/\1/p' "$s" | head -1)
        num='[0-9]*, "accepted": [0-9]*, "coverage": \([0-9.]*\), "known": [0-9]*, "precision": \([0-9.]*\)'
        pp=$(sed -n "s/.*\"pseudo\": {\"decided\": $num.*/\2 \1/p" "$s")
        rp=$(sed -n "s/.*\"recent\": {\"decided\": $num.*/\2 \1/p" "$s")
    fi
    echo "$1 ${acc:-fail} ${nll:--} ${ece:--} ${pp:-- -} ${rp:-- -} $pf_wall" >> "$RES"
    echo "  $NAME seed $1: accuracy ${acc:-fail}" >&2
}

# shellcheck disable=SC2086 # seeds are words
pf_lanes "$JOBS" run_one $SEEDS || true # the table shows what finished; the lane said what did not

echo "$NAME: $GRAPH with '$EDITS'"
sort -n "$RES" | awk '
BEGIN { printf "%-5s %-9s %-7s %-7s %-21s %-21s %s\n", "seed", "accuracy", "NLL", "ECE", "precision / coverage", "last 10,000", "wall" }
{ printf "%-5s %-9s %-7s %-7s %-21s %-21s %ss\n", $1, $2, $3, $4, $5 " / " $6, $7 " / " $8, $9
  if ($2 != "fail") { s += $2; n++ } }
END { if (n) printf "mean accuracy over %d seed%s: %.4f\n", n, n == 1 ? "" : "s", s / n }'
