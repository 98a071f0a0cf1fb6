#!/usr/bin/env bash
# Builds evcluster if needed and runs it in the foreground on the example site
# (config/example.conf: http://127.0.0.1:8080/). Extra arguments go to evcluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [[ ! -x build/evcluster ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build -j "$(nproc)" >/dev/null
exec build/evcluster -c config/example.conf "$@"
