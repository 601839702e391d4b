#!/usr/bin/env bash
# sanitizer_logs.sh DIR: sort the sanitizer logs in DIR (ASAN_OPTIONS /
# UBSAN_OPTIONS log_path) into reports, which fail (exit 1, each printed with
# its file name), and two kinds of file that hold no report, which are only
# named: exit 0 when there is no report. scripts/test.sh runs it after the
# sanitizer build's tests; tests/test_sanitizer_logs.c checks each kind.
#
# Empty files. A sanitizer opens its log only to write a report; test_fault
# SIGKILLs node processes at random moments, and one killed after the open
# but before the first byte leaves an empty file.
#
# LeakSanitizer notices. LeakSanitizer checks for leaks from a tracer task
# that stops every thread of the exiting process; a thread whose registers
# cannot be read at that moment is scanned whole instead, and the tracer
# writes "Unable to get registers from thread N." into the process's own log
# (prefixed "==EXE==TRACER_PID==" with log_exe_name, "==TRACER_PID=="
# without). A leak found in the same check lands in the same file, so a file
# holding nothing but such lines holds no report. Any other content is one.
set -euo pipefail
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: sanitizer_logs.sh DIR  (DIR: the sanitizers' log directory)" >&2
  exit 2
fi
notice='^==([^=]+==)?[0-9]+==Unable to get registers from thread [0-9]+\.$'
empty=() notices=() failed=()
while IFS= read -r -d '' f; do
  if [ ! -s "$f" ]; then empty+=("${f##*/}")
  elif ! grep -qvE "$notice" "$f"; then notices+=("${f##*/}")
  else failed+=("$f")
  fi
done < <(find "$1" -type f -print0 | sort -z)
[ ${#empty[@]} -eq 0 ] || echo "== empty sanitizer logs (a process killed before it wrote): ${empty[*]}" >&2
[ ${#notices[@]} -eq 0 ] || echo "== LeakSanitizer notices only (a thread exiting during the check): ${notices[*]}" >&2
[ ${#failed[@]} -eq 0 ] && exit 0
echo "== sanitizer reports:" >&2
for f in "${failed[@]}"; do echo "-- ${f##*/}" >&2; cat "$f" >&2; done
exit 1
