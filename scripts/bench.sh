#!/usr/bin/env bash
# Benchmarks on the sandbox (not part of `npm test`): learner catch-up with
# EtcdLearner vs the raw procedure, steady-state preview vs the engine's
# floor, failover RTO/RPO. Writes bench/results/latest.{json,md}.
# Usage: npm run bench [-- --large] [--runs N] [--sizes 10,100]
# Needs root; takes the sandbox down before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. scripts/env.sh
ensure_node_modules
npm run --silent build
exec node dist/scripts/bench.js "$@"
