#!/usr/bin/env bash
# The README's main command (`npm run demo`): replays the seed end to end on
# the local two-site sandbox, unattended, printing the member tables as the
# seed does:
#   four voters -> pulumi up (learner-standby) -> a workload of /registry keys
#   -> site A loses power -> pulumi up (failover) -> site B serves every key and
#   accepts writes -> summary.
# The sandbox is left running at the end; `npm run sandbox -- down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KEYS="${DEMO_KEYS:-3000}"

bash scripts/bootstrap.sh
. scripts/env.sh
ensure_node_modules
npm run --silent build

# A throwaway local stack for the sandbox: its own backend folder and a copy
# of the sandbox config, so the demo never edits tracked files.
DEMO="$ROOT/.pulumi/demo"
export PULUMI_BACKEND_URL="file://$DEMO/state"
export PULUMI_CONFIG_PASSPHRASE="etcd-standby-sandbox"
CFG="$DEMO/Pulumi.sandbox.yaml"
P=(--stack sandbox --config-file "$CFG" --non-interactive)

declare -A T
now() { date +%s.%N; }
phase() { T[$1]=$(awk -v a="$2" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'); }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { bash sandbox/sandbox.sh etcdctl "$@"; }
A_EPS=https://10.250.0.101:2379,https://10.250.0.102:2379,https://10.250.0.104:2379
ALL_EPS=$A_EPS,https://10.250.0.103:2379
B_EP=https://10.250.0.103:2379
pki=/srv/etcd-standby-sandbox/pki

say "The seed's starting state: a fresh sandbox with four voters"
t0=$(now)
bash sandbox/sandbox.sh down >/dev/null
bash sandbox/sandbox.sh up >/dev/null
until ctl --endpoints="$ALL_EPS" endpoint health >/dev/null 2>&1; do sleep 0.5; done
phase sandbox "$t0"
ctl --endpoints="$ALL_EPS" endpoint status --write-out=table
ctl --endpoints="$A_EPS" member list

say "pulumi up: learner-standby (remove master3's voter, clean its RKE containers, start a learner)"
rm -rf "$DEMO"; mkdir -p "$DEMO/state"
cp stacks/Pulumi.sandbox.yaml "$CFG"
pulumi stack init sandbox --non-interactive >/dev/null
pulumi config set topology.mode learner-standby "${P[@]}"
pulumi preview --diff "${P[@]}" | sed -n '/etcdstandby/p'
t0=$(now)
pulumi up --yes --skip-preview "${P[@]}"
phase learner "$t0"
ctl --endpoints="$A_EPS" member list
ctl --endpoints="$ALL_EPS" endpoint status --write-out=table

say "A workload of Kubernetes-shaped keys, written through site A's voters"
t0=$(now)
work=$(node dist/scripts/workload.js --endpoints "$A_EPS" --ca "$pki/kube-ca.pem" --cert "$pki/kube-etcd-10-250-0-101.pem" --key "$pki/kube-etcd-10-250-0-101-key.pem" --count "$KEYS")
phase workload "$t0"
echo "$work"
before=$(ctl --endpoints="$A_EPS" get /registry/ --prefix --keys-only | grep -c '^/registry/')
applied() { ctl --endpoints="$1" endpoint status -w json | grep -o '"raftAppliedIndex":[0-9]*' | cut -d: -f2; }
until [ "$(applied "$B_EP")" = "$(applied https://10.250.0.101:2379)" ]; do sleep 0.2; done
echo "keys under /registry/: $before; the learner on master3 has applied index $(applied "$B_EP"), the same as the leader's"

say "Site A loses power (master1, master2, node1: every process SIGKILLed)"
bash sandbox/sandbox.sh power-off A
bash sandbox/sandbox.sh status

say "pulumi up: failover (site B's learner becomes a one-member cluster)"
pulumi config set topology.mode failover "${P[@]}"
t0=$(now)
pulumi up --yes --skip-preview "${P[@]}"
phase failover "$t0"

say "Site B serves every key and accepts writes"
ctl --endpoints="$B_EP" member list
ctl --endpoints="$B_EP" endpoint status --write-out=table
after=$(ctl --endpoints="$B_EP" get /registry/ --prefix --keys-only | grep -c '^/registry/')
ctl --endpoints="$B_EP" put /registry/demo/after-failover written-on-site-b
ctl --endpoints="$B_EP" get /registry/demo/after-failover

say "Summary"
printf '%-44s %s\n' "phase" "seconds"
printf '%-44s %s\n' "sandbox up (four voters healthy)" "${T[sandbox]}" "pulumi up learner-standby" "${T[learner]}" \
  "workload ($KEYS keys)" "${T[workload]}" "pulumi up failover (to a writable site B)" "${T[failover]}"
echo "keys under /registry/ before the power cut: $before; served by site B after failover: $after"
[ "$before" = "$after" ] && echo "no key lost" || echo "WARNING: $((before - after)) keys missing"
echo
echo "The sandbox is left running (site A powered off). Explore it with:"
echo "  npm run sandbox -- status | power-on A | ssh master3 docker ps"
echo "  PULUMI_BACKEND_URL=file://$DEMO/state PULUMI_CONFIG_PASSPHRASE=etcd-standby-sandbox pulumi stack output --stack sandbox --config-file $CFG"
echo "Tear it down with:"
echo "  npm run sandbox -- down"
