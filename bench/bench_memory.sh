#!/usr/bin/env bash
# bench_memory.sh - does a long run grow? Resident memory of every node
# process over one `pseudoflow run`.
#
# Runs GRAPH once and, every INTERVAL seconds, reads /proc/PID/status of the
# supervisor and of each node process it started (named by the instance in
# its command line, `student#0`; a restarted instance keeps its name). It
# prints, per instance, the anonymous resident memory (RssAnon: heap and
# stacks, what a leak grows) at a quarter, half and three quarters of the
# run and at its last sample, the peak, and the growth of the peak from the
# run's second quarter to its last (a process that allocates and frees
# while it works, like the evaluator scoring a snapshot, swings between
# samples; a leak raises its peaks); and, separately, the file-backed
# resident memory (RssFile: the binary, libraries and the LMDB store's
# mapped pages, which the kernel may drop at will). The first quarter is
# left out of the growth: buffers, the store's map and the models are
# allocated then. Figures only: nothing passes or fails.
#
# usage: bench/bench_memory.sh [GRAPH] [INTERVAL]
#        (default graphs/fashion.dot, 5 s)
# env:   PF_BIN (default build/pseudoflow),
#        BENCH_DIR (default /tmp/pfm; ipc paths must stay under 107 bytes).
# OPENBLAS_CORETYPE is printed and respected as the caller set it, never set here.
set -u
case "${1:-}" in -h | --help)
  sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 0
  ;;
esac
here=$(cd "$(dirname "$0")/.." && pwd)
graph=${1:-$here/graphs/fashion.dot}
interval=${2:-5}
bin=${PF_BIN:-$here/build/pseudoflow}
[ -x "$bin" ] || { echo "bench_memory: no pseudoflow binary at $bin; build first or set PF_BIN" >&2; exit 2; }
[ -r "$graph" ] || { echo "bench_memory: cannot read graph '$graph'" >&2; exit 2; }
case "$interval" in '' | *[!0-9]* | 0*) echo "bench_memory: INTERVAL must be whole seconds, at least 1, got '$interval'" >&2; exit 2 ;; esac
work=${BENCH_DIR:-/tmp/pfm}
rm -rf "$work/run"
mkdir -p "$work"
samples="$work/samples.tsv"
: > "$samples"

echo "pseudoflow memory benchmark"
echo "  binary            $bin"
echo "  graph             $graph"
echo "  OPENBLAS_CORETYPE ${OPENBLAS_CORETYPE:-(unset)}"
echo "  cpus              $(nproc)   load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  sampled every     ${interval} s"
echo

# The pids whose parent is $1 (from /proc alone: no procps needed).
children() {
  local f k v
  for f in /proc/[0-9]*/status; do
    while read -r k v; do
      if [ "$k" = PPid: ]; then
        [ "$v" = "$1" ] && { f=${f#/proc/}; echo "${f%/status}"; }
        break
      fi
    done 2>/dev/null < "$f"
  done
}

# One line per process: seconds, instance, RssAnon kB, RssFile kB.
sample() { # $1 = supervisor pid, $2 = seconds since start
  local pid name anon file
  for pid in "$1" $(children "$1"); do
    [ -r "/proc/$pid/status" ] || continue
    if [ "$pid" = "$1" ]; then
      name=supervisor
    else
      # `pseudoflow node GRAPH NAME#I ...`; between fork and exec a child
      # still shows the supervisor's command line, and is skipped.
      name=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | sed -n '2{/^node$/!q};4p')
      [ -n "$name" ] || continue
    fi
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    file=$(awk '/^RssFile:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$anon" ] && printf '%s\t%s\t%s\t%s\n' "$2" "$name" "$anon" "${file:-0}" >> "$samples"
  done
}

start=$(date +%s)
"$bin" run "$graph" --run-dir "$work/run" --no-progress > "$work/run.log" 2>&1 &
sup=$!
while kill -0 "$sup" 2>/dev/null; do
  sample "$sup" $(( $(date +%s) - start ))
  sleep "$interval"
done
wait "$sup"
rc=$?
secs=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ]; then
  echo "bench_memory: the run failed (exit $rc); its log: $work/run.log" >&2
  tail -5 "$work/run.log" >&2
  exit 1
fi
echo "run finished in ${secs} s ($(wc -l < "$samples") samples); log $work/run.log"
echo
awk -F'\t' -v T="$secs" '
  { t[NR] = $1; who[NR] = $2; anon[NR] = $3; file[NR] = $4
    if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
  # The last sample of `name` at or before time `at` (its first one if none).
  function at(name, when, field,   i, v, got) {
    for (i = 1; i <= NR; i++)
      if (who[i] == name) {
        if (!got || t[i] <= when) v = (field == "anon" ? anon[i] : file[i])
        got = 1
      }
    return v
  }
  # The largest sample of `name` in (lo, hi]; 0 if none.
  function qpeak(name, lo, hi,   i, v) {
    for (i = 1; i <= NR; i++)
      if (who[i] == name && t[i] > lo && t[i] <= hi && anon[i] > v) v = anon[i]
    return v + 0
  }
  function mib(kb) { return sprintf("%8.1f", kb / 1024) }
  END {
    printf "RssAnon, MiB (heap and stacks)\n"
    printf "%-14s %8s %8s %8s %8s %8s %11s\n", "instance", "25%", "50%", "75%", "end", "peak", "peak Q2->Q4"
    for (j = 1; j <= k; j++) {
      n = order[j]; peak = 0
      for (i = 1; i <= NR; i++) if (who[i] == n && anon[i] > peak) peak = anon[i]
      p2 = qpeak(n, T / 4, T / 2); p4 = qpeak(n, 3 * T / 4, T)
      printf "%-14s %s %s %s %s %s %+10.1f%%\n", n, mib(at(n, T / 4, "anon")), mib(at(n, T / 2, "anon")),
             mib(at(n, 3 * T / 4, "anon")), mib(at(n, T, "anon")), mib(peak), (p2 > 0 ? 100 * (p4 - p2) / p2 : 0)
    }
    printf "\nRssFile, MiB (binary, libraries, mapped store pages)\n"
    printf "%-14s %8s %8s\n", "instance", "25%", "end"
    for (j = 1; j <= k; j++) {
      n = order[j]
      printf "%-14s %s %s\n", n, mib(at(n, T / 4, "file")), mib(at(n, T, "file"))
    }
  }' "$samples"
