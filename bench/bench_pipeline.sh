#!/usr/bin/env bash
# bench_pipeline.sh - end-to-end throughput of `pseudoflow run`, in samples/s.
#
# Runs each graph RUNS times (default 3) to completion over real processes
# and ipc sockets, and prints every run's wall time and the median
# throughput: samples the sources declared (the "total" gauges in the run's
# stats.json) divided by wall time, start-up and shutdown included. It
# prints figures only and never passes or fails on time; a run that fails
# is reported and left out of the median.
#
# Graphs:
#   transport  synth_source -> file_sink: the runtime alone (encode, route,
#              decode, validate, write a line per sample)
#   light      synth_source -> sampler -> mlp_teacher (softmax) -> filter ->
#              file_sink, with the acks and labels feedback edges: every
#              stage of the real pipeline, each one cheap, the store included
#   fashion    graphs/fashion.dot as shipped (60,000 Fashion-MNIST images;
#              skipped when the data set is missing)
#
# usage: bench/bench_pipeline.sh [transport|light|fashion]...   (default: all)
# env:   PF_BIN (default build/pseudoflow), RUNS,
#        BENCH_DIR (default /tmp/pfb; ipc paths must stay under 107 bytes).
# OPENBLAS_CORETYPE is printed and respected as the caller set it, never set here.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${PF_BIN:-}
if [ -z "$bin" ]; then
  bin="$here/build/pseudoflow"
fi
[ -x "${bin:-}" ] || { echo "bench_pipeline: no pseudoflow binary; build first or set PF_BIN" >&2; exit 2; }
runs=${RUNS:-3}
work=${BENCH_DIR:-/tmp/pfb}
mkdir -p "$work"

echo "pseudoflow pipeline benchmark"
echo "  binary            $bin"
echo "  OPENBLAS_CORETYPE ${OPENBLAS_CORETYPE:-(unset)}"
echo "  cpus              $(nproc)   load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  runs per graph    $runs (median reported)"
echo

cat > "$work/transport.dot" <<'DOT'
digraph transport {
  graph [classes=10, seed=0, batch=256];
  src  [kind=synth_source, n=500000, dim=64, labeled=1000];
  sink [kind=file_sink];
  src -> sink;
}
DOT
cat > "$work/light.dot" <<'DOT'
digraph light {
  graph [classes=10, seed=0, batch=256];
  src     [kind=synth_source, n=100000, dim=64, labeled=2000];
  sampler [kind=sampler, unlabeled_ratio=0];
  teacher [kind=mlp_teacher, hidden="", warmup_epochs=5];
  filter  [kind=filter, tau=0.8];
  sink    [kind=file_sink];
  src -> sampler -> teacher -> filter -> sink;
  sampler -> src     [port=acks];
  filter  -> sampler [port=labels];
}
DOT

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

bench() { # name graph-file
  local name=$1 graph=$2 secs=() rates=()
  for i in $(seq 1 "$runs"); do
    local rd="$work/$name-$i"
    rm -rf "$rd"
    local t0 t1 rc
    t0=$(date +%s%N)
    "$bin" run "$graph" --run-dir "$rd" --no-progress --log-level warn 2> "$work/$name-$i.log"
    rc=$?
    t1=$(date +%s%N)
    local s total
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
    total=$(grep -o '"total": [0-9.e+]*' "$rd/stats.json" 2>/dev/null | awk '{t += $2} END {printf "%.0f", t}')
    if [ "$rc" != 0 ] || [ -z "$total" ] || [ "$total" = 0 ]; then
      printf "  %-10s run %d  FAILED (exit %s; see %s)\n" "$name" "$i" "$rc" "$work/$name-$i.log"
      continue
    fi
    local r
    r=$(awk -v n="$total" -v s="$s" 'BEGIN {printf "%.0f", n / s}')
    printf "  %-10s run %d  %8s s  %9s samples  %9s samples/s\n" "$name" "$i" "$s" "$total" "$r"
    secs+=("$s")
    rates+=("$r")
    rm -rf "$rd"
  done
  if [ ${#rates[@]} -gt 0 ]; then
    printf "  %-10s median %s s, %s samples/s\n\n" "$name" \
      "$(printf '%s\n' "${secs[@]}" | median)" "$(printf '%s\n' "${rates[@]}" | median)"
  fi
}

which=("$@")
[ ${#which[@]} -eq 0 ] && which=(transport light fashion)
for w in "${which[@]}"; do
  case $w in
    transport) bench transport "$work/transport.dot" ;;
    light) bench light "$work/light.dot" ;;
    fashion)
      if [ -e "${DATA:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz" ]; then
        bench fashion "$here/graphs/fashion.dot"
      else
        echo "  fashion    skipped: no Fashion-MNIST under \${DATA:-/usr/share/datasets/fashion-mnist}"
      fi ;;
    *) echo "bench_pipeline: unknown graph '$w' (transport, light, fashion)" >&2; exit 2 ;;
  esac
done
