#!/usr/bin/env bash
# npm run preview:ci -- --stack NAME [--expect-no-changes] [--refresh]
# Markdown summary of `pulumi preview --diff --json` for a pull request.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
ensure_node_modules
[ -f dist/scripts/preview-ci.js ] || npm run --silent build
exec node dist/scripts/preview-ci.js "$@"
