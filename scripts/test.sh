#!/usr/bin/env bash
# The whole test suite from a fresh clone: install, then build and run every
# Criterion test through ctest twice, once optimized and once under
# AddressSanitizer + UndefinedBehaviorSanitizer. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs="$(nproc)"

echo "== build (RelWithDebInfo)" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== tests (RelWithDebInfo)" >&2
(cd build && ctest --output-on-failure)

echo "== build (ASan + UBSan)" >&2
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPF_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests (ASan + UBSan)" >&2
# Every report goes to a file under build-asan/sanitizer/, from test binaries
# and from the node processes the end-to-end tests start alike; any file
# there fails the run, so a leak in a forked test worker cannot hide.
reports="$PWD/build-asan/sanitizer"
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan:log_exe_name=1"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan:log_exe_name=1"
status=0
(cd build-asan && ctest --output-on-failure) || status=$?
# A sanitizer opens its log only to write a report; test_fault SIGKILLs node
# processes at random moments, and one killed after the open but before the
# first byte leaves an empty file. An empty file holds no report: it is named,
# not failed on.
#
# LeakSanitizer checks for leaks from a tracer task that stops every thread of
# the exiting process; a thread whose registers cannot be read at that moment
# is scanned whole instead, and the tracer writes "Unable to get registers from
# thread N." into the process's own log (prefixed "==EXE==TRACER_PID==" with
# log_exe_name, "==TRACER_PID==" without). That line is a notice, not a
# report: a leak found in the same check lands in the same file, so a file
# holding nothing else is named, not failed on. Any other content fails the
# run.
notice='^==([^=]+==)?[0-9]+==Unable to get registers from thread [0-9]+\.$'
empty=() notices=() failed=()
while IFS= read -r -d '' f; do
  if [ ! -s "$f" ]; then empty+=("${f##*/}")
  elif ! grep -qvE "$notice" "$f"; then notices+=("${f##*/}")
  else failed+=("$f")
  fi
done < <(find "$reports" -type f -print0 | sort -z)
[ ${#empty[@]} -eq 0 ] || echo "== empty sanitizer logs (a process killed before it wrote): ${empty[*]}" >&2
[ ${#notices[@]} -eq 0 ] || echo "== LeakSanitizer notices only (a thread exiting during the check): ${notices[*]}" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "== sanitizer reports:" >&2
  for f in "${failed[@]}"; do echo "-- ${f##*/}" >&2; cat "$f" >&2; done
  status=1
fi
exit "$status"
