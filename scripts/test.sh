#!/usr/bin/env bash
# Installs what is missing, builds evcluster (plain, ASan/UBSan, TSan) and runs every test.
# Exits non-zero on any failure. Usage: scripts/test.sh [--quick]  (--quick: plain build only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

jobs=$(nproc)
build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" >/dev/null
}

echo "== plain build: every test"
build build
ctest --test-dir build --output-on-failure -j "$jobs"

if [[ ${1:-} != --quick ]]; then
  echo "== ASan/UBSan build: unit, conformance and integration"
  build build-asan -DEVC_SANITIZE=asan
  # A worker that dies of a report is replaced by its supervisor; the integration helpers
  # (evtest.Server.stop) fail any test whose server printed one.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" -L 'unit|conformance|integration'

  echo "== TSan build: loop and pool"
  build build-tsan -DEVC_SANITIZE=tsan
  TSAN_OPTIONS=halt_on_error=1 \
    ctest --test-dir build-tsan --output-on-failure -R 'unit/test_(pool|loop)$'
fi
echo "all tests passed"
