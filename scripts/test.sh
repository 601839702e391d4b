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
# and from the node processes the end-to-end tests start alike; any report
# there fails the run, so a leak in a forked test worker cannot hide.
reports="$PWD/build-asan/sanitizer"
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan:log_exe_name=1"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan:log_exe_name=1"
status=0
(cd build-asan && ctest --output-on-failure) || status=$?
# Reports fail the run; empty logs and LeakSanitizer's register notices are
# named only (scripts/sanitizer_logs.sh says why).
scripts/sanitizer_logs.sh "$reports" || status=1
exit "$status"
