#!/usr/bin/env bash
# The README's test command (`npm test`): bootstrap, install, build, lint,
# unit tests, then the integration suite on real etcd, sshd, dockerd and the
# real Pulumi engine. Needs root (network namespaces, dockerd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. scripts/env.sh
ensure_node_modules
npm run --silent build
npm run --silent lint
npx mocha --config .mocharc.unit.json
# Each integration file alone, in its own mocha process: each suite builds its
# own fresh sandbox in its `before` hook (the old one down, a new one up) and
# takes it down in `after`, so a file that needed what another file left, or
# state of the same Node process, fails here. All files run; any failure
# fails the command at the end.
failed=()
for f in dist/test/integration/*.test.js; do
  echo "== $f (alone)"
  npx mocha --config .mocharc.integration.json "$f" || failed+=("$f")
done
if ((${#failed[@]})); then
  echo "integration files that failed: ${failed[*]}" >&2
  exit 1
fi
