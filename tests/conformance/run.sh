#!/usr/bin/env bash
# Runs one conformance scenario twice, as a Node.js script (the oracle) and as the C program on
# our loop, and compares their traces (one line per event). Prints which node ran, and both
# traces on a mismatch. A "// env: VAR=value" line in the script sets node's environment.
# Usage: run.sh NN_name.js C_BINARY
set -uo pipefail
js=$1
bin=$2
name=$(basename "$js" .js)

if ! command -v node >/dev/null 2>&1; then
  echo "FAIL $name: node not found: install nodejs (scripts/test.sh does)"
  exit 1
fi
node_ver=$(node --version)
uv_ver=$(node -p process.versions.uv)
echo "oracle: node $node_ver, libuv $uv_ver ($(command -v node))"
major=${node_ver#v}
major=${major%%.*}
# A scenario whose trace depends on a newer node than the one here says so on a line
# "// needs: node >= N (reason)"; on an older node it is skipped (exit 77, ctest's
# SKIP_RETURN_CODE) with that reason instead of failing for it. Node 18.20.4 (libuv 1.44.2,
# timers at the top of each iteration) was run over all 20 scenarios and agrees on every
# one: in the default run mode the phase cycle is the same, so none carries the line today.
needs=$(sed -n 's|^// needs: node >= \([0-9]*\) *||p' "$js" | head -n 1)
need_major=$(sed -n 's|^// needs: node >= \([0-9]*\).*|\1|p' "$js" | head -n 1)
if [[ -n $need_major ]] && ((major < need_major)); then
  echo "SKIP $name: needs node >= $need_major, this is $node_ver: $needs"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
read -r -a envs <<<"$(sed -n 's|^// env: ||p' "$js")"
env "${envs[@]}" timeout 20 node "$js" >"$tmp/node" 2>"$tmp/node.err"
node_rc=$?
timeout 20 "$bin" >"$tmp/c" 2>"$tmp/c.err"
c_rc=$?

show() { # show TITLE FILE
  echo "--- $1"
  sed 's/^/    /' "$2"
}
[[ -s $tmp/node.err ]] && show "node stderr" "$tmp/node.err"
[[ -s $tmp/c.err ]] && show "C stderr" "$tmp/c.err"
fail=""
if ((node_rc != 0)); then
  fail="node exited with $node_rc"
elif ((c_rc == 124)); then
  fail="the C program timed out (the loop never ended?)"
elif ((c_rc != 0)); then
  fail="the C program exited with $c_rc"
elif ! cmp -s "$tmp/node" "$tmp/c"; then
  fail="traces differ"
fi
if [[ -n $fail ]]; then
  echo "FAIL $name: $fail"
  show "node trace (${envs[*]:-default env})" "$tmp/node"
  show "C trace ($bin)" "$tmp/c"
  echo "--- diff (node -> C)"
  diff -u "$tmp/node" "$tmp/c" | tail -n +3
  exit 1
fi
echo "ok $name: $(wc -l <"$tmp/c") trace lines identical"
show "trace" "$tmp/c"
