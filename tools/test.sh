#!/usr/bin/env bash
# Runs every test suite (unit, integration, fuzz corpora, chaos short
# drills), then the unit suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh

setup() { # dir, extra meson args...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

setup build
meson compile -C build
meson test -C build --print-errorlogs --num-processes 2 | tee -a "$log"

setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --suite unit --print-errorlogs --num-processes 2 | tee -a "$log"

# One closing line for both runs (meson prints one summary per run).
ok=$(awk '/^Ok:/ {n += $2} END {print n + 0}' "$log")
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' "$log")
echo "tests: $ok passed, $failed failed"
