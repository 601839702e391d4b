#!/bin/sh
# fashion_table.sh - reproduce the learning results table of README.md.
#
# For each seed (graph seed = source seed = labeled subset) it runs the real
# pipeline on Fashion-MNIST five ways, from graphs/fashion.dot and
# graphs/fashion-100.dot with only these edits:
#
#   1000 labels   fashion.dot as it is                 (fixmatch + VAT)
#   1000 off      fashion.dot, filter policy=none, unlabeled_to_student=0,
#                 student vat=0                        (labeled only: unlabeled data unused)
#   100 labels    fashion-100.dot as it is             (fixmatch)
#   100 off       fashion-100.dot, the same edits as 1000 off
#   all labels    fashion.dot, source labeled=-1, teacher warmup_epochs=0,
#                 steps=0                              (fully supervised reference;
#                 nothing is left to pseudo-label, so the teacher does not fit:
#                 its refits on a 48,000-label buffer would only slow the stream)
#
# and prints test accuracy (t10k, summary.json) per seed and the mean, the
# wall time of each run, next to scikit-learn peer figures measured on the
# same splits. Figures, never pass/fail.
#
# The default rows and seeds took about 37 min on 2 cores with JOBS=2 while
# the all-labels row still fitted its teacher (6 min a run); that row now
# takes about 10 s a run alone, so expect a little over 30 min.
#
#   bench/fashion_table.sh [BUILD_DIR]        (default build)
#   SEEDS="0 1 2" OUT=/tmp/pft ROWS="1000 1000off 100 100off all" JOBS=1 bench/fashion_table.sh
#
# JOBS=N runs N pipelines at a time (lanes take the runs in turn): the
# table comes sooner, every wall time is inflated by the sharing.
#
# Each run gets its own run directory under $OUT, removed first; its label
# store (about 250 MB on Fashion-MNIST) is removed when the run ends unless
# KEEP_STORES=1, so a full table does not fill a disk.
set -eu
cd "$(dirname "$0")/.."
. bench/run_lib.sh
BUILD=${1:-build}
PF=$BUILD/pseudoflow
[ -x "$PF" ] || { echo "fashion_table: no $PF; build first (cmake --build $BUILD)" >&2; exit 2; }
SEEDS=${SEEDS:-0 1 2}
OUT=${OUT:-/tmp/pft}
ROWS=${ROWS:-1000 1000off 100 100off all}
mkdir -p "$OUT"
RES=$OUT/results.txt
: > "$RES"

# graph_for ROW SEED DIR: write the edited graph to DIR.dot
graph_for() {
  case $1 in
    1000|1000off|all) src=graphs/fashion.dot ;;
    100|100off) src=graphs/fashion-100.dot ;;
  esac
  edit="s|^\(  graph .*\)seed=0\]|\1seed=$2, run_dir=\"$3\"]|"
  case $1 in
    *off) edit="$edit; s|policy=fixmatch|policy=none|; s|unlabeled_to_student=1|unlabeled_to_student=0|; s|vat=[0-9.]*|vat=0|" ;;
    all) edit="$edit; s|labeled=1000|labeled=-1|; s|calibrate=1\]|calibrate=1, warmup_epochs=0, steps=0]|" ;;
  esac
  sed "$edit" "$src" > "$3.dot"
  grep -q "run_dir=\"$3\"" "$3.dot" || { echo "fashion_table: could not edit $src" >&2; exit 1; }
  [ "$1" != all ] || grep -q "warmup_epochs=0" "$3.dot" || { echo "fashion_table: could not stop the teacher in $src" >&2; exit 1; }
}

JOBS=${JOBS:-1}

# run_one ROW-SEED: one pipeline run, its line appended to $RES
run_one() {
  row=${1%-*} seed=${1##*-}
  dir=$OUT/$row-$seed
  rm -rf "$dir"
  graph_for "$row" "$seed" "$dir"
  pf_timed_run "$dir.dot" "$dir"
  acc=fail
  [ "$pf_ok" = 0 ] || acc=$(sed -n 's/.*"test_n": [0-9]*, "accuracy": \([0-9.]*\).*/\1/p' "$dir/summary.json" 2>/dev/null || true)
  echo "$row $seed ${acc:-fail} $pf_wall" >> "$RES"
  echo "  $row seed $seed: accuracy ${acc:-fail}, ${pf_wall} s" >&2
}

# every row of every seed, seed by seed
items=""
for seed in $SEEDS; do
  for row in $ROWS; do items="$items $row-$seed"; done
done
# shellcheck disable=SC2086 # items are words
pf_lanes "$JOBS" run_one $items || true # the table shows what finished; the lane said what did not

sort -s -k2,2n "$RES" | awk -v rows="$ROWS" '
BEGIN {
  name["1000"] = "pseudoflow, 1000 labels (fixmatch+VAT)";  peer["1000"] = "LR 0.797, MLP 0.811, SelfTraining(LR) 0.797, LabelSpreading 0.772"
  name["1000off"] = "pseudoflow, 1000 labels, labeled only"
  name["100"] = "pseudoflow, 100 labels (fixmatch)";    peer["100"] = "LR 0.697, MLP 0.683, SelfTraining(LR) 0.705, LabelSpreading 0.642"
  name["100off"] = "pseudoflow, 100 labels, labeled only"
  name["all"] = "pseudoflow, all 60,000 labels";        peer["all"] = "LR 0.845, MLP(256) 0.891"
}
{ acc[$1] = acc[$1] sprintf(" %6s", $3); wall[$1] = wall[$1] sprintf(" %4ss", $4)
  if ($3 != "fail") { sum[$1] += $3; n[$1]++ } }
END {
  printf "%-44s %8s  %-24s %-20s %s\n", "row", "mean", "per seed", "wall per run", "scikit-learn peers (same splits)"
  k = split(rows, r, " ")
  for (i = 1; i <= k; i++) {
    x = r[i]
    printf "%-44s %8s  %-24s %-20s %s\n", name[x], n[x] ? sprintf("%.4f", sum[x] / n[x]) : "-", acc[x], wall[x], peer[x]
  }
  if (n["1000"] && n["1000off"]) printf "\n1000 labels: unlabeled data adds %+.2f points over the same student without it\n", 100 * (sum["1000"] / n["1000"] - sum["1000off"] / n["1000off"])
  if (n["100"] && n["100off"]) printf "100 labels: unlabeled data adds %+.2f points over the same student without it\n", 100 * (sum["100"] / n["100"] - sum["100off"] / n["100off"])
}'
