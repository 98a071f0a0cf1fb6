#!/usr/bin/env bash
# Installs what evcluster needs to build and test (Debian 12), only what is missing.
# Usage: scripts/deps.sh [--bench]   (--bench adds the peers: nginx, lighttpd, h2o, wrk)
set -euo pipefail

pkgs=(build-essential cmake pkg-config libevent-dev libconfig-dev libcmocka-dev node-llhttp
      libssl-dev openssl libnghttp2-dev libjson-c-dev libsystemd-dev libbrotli-dev zlib1g-dev
      curl python3 clang iproute2
      nghttp2-client  # nghttp and h2load, the HTTP/2 tests' clients
      tmux            # drives evcluster top in its test
      systemd         # systemd-socket-activate, for the socket activation test
      prometheus      # promtool, which checks /metrics
      haproxy)        # the load balancer of the fleet test (69) and scripts/fleet.sh
[[ ${1:-} == --bench ]] && pkgs+=(wrk nginx-light lighttpd lighttpd-mod-openssl lighttpd-mod-deflate h2o)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The conformance oracle is the machine's node (20); Debian's nodejs (18) only if none is there.
command -v node >/dev/null 2>&1 || missing+=(nodejs)

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
