#!/usr/bin/env bash
# A local evcluster fleet behind HAProxy: three instances on 127.0.0.2, .3 and .4 (each its
# own config, port, admin port and folder, listening with proxy_protocol = true) and HAProxy on
# 127.0.0.1 (send-proxy-v2, GET /healthz checks on the admin ports). Prints where everything
# listens and where the configs are; Ctrl-C stops it all. The same configs, with real
# addresses, are a fleet of hosts (README, "Deployment").
#
# Usage: scripts/fleet.sh [--dir DIR] [--test [--rounds N] [--scenarios restart,upgrade,reload]]
#   --dir DIR  write configs, docroots and logs there (default: a new folder under /tmp)
#   --test     under load from 127.0.0.9, rolling restart, binary upgrade and reload (N rounds
#              each, default 2), zero failed requests; the access logs must show 127.0.0.9
# Builds build/ first if the binary is not there. Needs haproxy (scripts/deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${EVCLUSTER:-} ]]; then
  EVCLUSTER=$here/build/evcluster
  if [[ ! -x $EVCLUSTER ]]; then
    cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$here/build" -j "$(nproc)" --target evcluster >/dev/null
  fi
fi
export EVCLUSTER
exec python3 "$here/tests/integration/fleet.py" "$@"
