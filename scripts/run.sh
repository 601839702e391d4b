#!/usr/bin/env bash
# The main job from a fresh clone: install, build, run the default graph
# (graphs/fashion.dot: Fashion-MNIST, 1000 labels) end to end. Extra
# arguments go to `pseudoflow run` (e.g. --run-dir /tmp/x). Each call is a
# new run: it passes --fresh, which removes what the previous run left in
# the run directory (store, checkpoints, cursors, metrics), unless the
# arguments say --resume (continue a run that stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
graph="${GRAPH:-graphs/fashion.dot}"
echo "running $graph" >&2
fresh=--fresh
for a in "$@"; do [ "$a" = --resume ] && fresh=; done
./build/pseudoflow run "$graph" $fresh "$@"
run_dir="${RUN_DIR:-runs/$(sed -n 's/^digraph \([A-Za-z0-9_]*\).*/\1/p' "$graph" | head -n1)}"
if [ -f "$run_dir/summary.json" ]; then
  echo "final metrics ($run_dir/summary.json):" >&2
  cat "$run_dir/summary.json"
fi
