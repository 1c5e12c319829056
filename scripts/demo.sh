#!/usr/bin/env bash
# The README's main command (`npm run demo`): installs what is missing, brings
# the local two-site sandbox up (the seed's starting state: four voters) and
# shows it. The sandbox is left running; `npm run sandbox -- down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. scripts/env.sh
ensure_node_modules
npm run --silent build
bash sandbox/sandbox.sh up
echo
echo "Member list (etcdctl, as in the seed):"
bash sandbox/sandbox.sh etcdctl --endpoints="$(bash sandbox/sandbox.sh describe | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).etcd.endpoints.join(","))')" member list
echo
echo "The sandbox is left running. Explore it with:"
echo "  npm run sandbox -- status | power-off A | power-on A | ssh master3 docker ps"
echo "Tear it down with:"
echo "  npm run sandbox -- down"
