#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz/ (clang, ASan + UBSan) in build-fuzz/.
# Usage: scripts/fuzz.sh [SECONDS] [harness...]     (default 60 s each; all harnesses)
#   e.g. scripts/fuzz.sh 600 fuzz_http
# Each harness runs alone, in one process (no -jobs: the machine is shared), from its seeds;
# new inputs land in build-fuzz/corpus/<harness>/, not in the repository; crashes, leaks and
# timeouts are written to build-fuzz/artifacts/. To bring back a small coverage corpus:
#   LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp build-fuzz/tests/fuzz/<harness> -merge=1 \
#     NEW_DIR tests/fuzz/corpus/<harness> build-fuzz/corpus/<harness>
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
secs=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
fi
all=(fuzz_http fuzz_ipc fuzz_conf fuzz_proxy fuzz_h2 fuzz_sites)
harnesses=("$@")
((${#harnesses[@]})) || harnesses=("${all[@]}")

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: installing clang"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang >/dev/null
fi

build=$here/build-fuzz
cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER=clang -DEVC_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "${harnesses[@]}" -j "$(nproc)" >/dev/null

# The bytes each harness looks at: a request stream within one head buffer (8 KiB) plus the
# 16-byte prefix and a little pipelining; one IPC packet and a bit; a config file.
max_len() {
  case $1 in
    fuzz_http) echo 12288 ;;
    fuzz_ipc) echo 600 ;;
    fuzz_conf) echo 4096 ;;
    fuzz_h2) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

mkdir -p "$build/artifacts"
status=0
for h in "${harnesses[@]}"; do
  seeds=$here/tests/fuzz/corpus/$h
  work=$build/corpus/$h
  [[ -d $seeds ]] || { echo "fuzz: no corpus $seeds" >&2; exit 2; }
  mkdir -p "$work"
  echo "fuzz: $h for ${secs}s (log: $build/$h.log)"
  # detect_leaks: conf_load must not leak (lsan.supp: a known libconfig leak); UBSan reports
  # abort (-fno-sanitize-recover)
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS=suppressions=$here/tests/fuzz/lsan.supp:print_suppressions=0 \
    "$build/tests/fuzz/$h" -max_total_time="$secs" -max_len="$(max_len "$h")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$h-" "$work" "$seeds" >"$build/$h.log" 2>&1; then
    tail -n 12 "$build/$h.log" | grep -E '^(stat::|Done|#)' || true
  else
    status=1
    echo "fuzz: $h FAILED: see $build/$h.log and $build/artifacts/" >&2
    grep -E 'ERROR|SUMMARY|check failed|runtime error' "$build/$h.log" | head -n 5 >&2 || true
  fi
done
exit $status
