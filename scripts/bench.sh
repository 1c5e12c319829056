#!/usr/bin/env bash
# Benchmarks on the sandbox (not part of `npm test`): learner catch-up with
# EtcdLearner vs the raw procedure, steady-state preview vs the engine's
# floor, failover RTO/RPO (site A powered off with --blackhole by default).
# Writes bench/results/latest.{json,md}, or to --out DIR / ETCD_STANDBY_BENCH_OUT.
# Usage: npm run bench [-- --large] [--runs N] [--sizes 10,100] [--power-off blackhole|kill|both]
#        [--out DIR] ... (all options: scripts/bench.ts, bench/README.md)
# Needs root; takes the sandbox down before and after (on a shared machine,
# run it under the sandbox's lock: flock /tmp/esb-sandbox.lock npm run bench ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. scripts/env.sh
ensure_node_modules
npm run --silent build
exec node dist/scripts/bench.js "$@"
