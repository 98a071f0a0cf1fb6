#!/usr/bin/env bash
# Runs each Node scenario N times (default 50) and reports those whose trace ever varies.
# A scenario belongs in the suite only if it never does. Usage: check_determinism.sh [N] [NN_name.js...]
set -uo pipefail
cd "$(dirname "$0")"
n=${1:-50}; shift || true
files=("$@"); ((${#files[@]})) || files=([0-9][0-9]_*.js)
echo "node $(node --version), libuv $(node -p process.versions.uv), $n runs each"
bad=0
for js in "${files[@]}"; do
  envs=$(sed -n 's|^// env: ||p' "$js")
  declare -A seen=()
  for ((i = 0; i < n; i++)); do
    out=$(env $envs node "$js" 2>&1 | md5sum | cut -c1-12)
    seen[$out]=$(( ${seen[$out]:-0} + 1 ))
  done
  if ((${#seen[@]} == 1)); then echo "ok       $js ($n/$n identical)"
  else echo "VARIES   $js: $(for k in "${!seen[@]}"; do printf '%s x%s ' "$k" "${seen[$k]}"; done)"; bad=1; fi
  unset seen
done
exit $bad
