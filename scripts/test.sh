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
npx mocha --config .mocharc.integration.json
