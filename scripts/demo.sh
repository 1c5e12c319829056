#!/usr/bin/env bash
# The README's main command (`npm run demo`): replays the seed end to end on
# the local two-site sandbox, unattended, printing the member tables as the
# seed does:
#   four voters and a kube-apiserver on each control-plane host -> pulumi up
#   (learner-standby) -> a Kubernetes workload through master1's API server
#   -> site A loses power -> pulumi up (failover: restore, then site B's
#   Kubernetes components restarted) -> master3's API server serves every
#   object (same UIDs and content), lists the nodes, accepts a new object
#   -> site A's power returns with its network cut -> pulumi up fences it ->
#   network back, its old endpoints refuse -> summary.
# The sandbox is left running at the end; `npm run sandbox -- down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NAMESPACES="${DEMO_NAMESPACES:-10}"   # each with 20 config maps, 10 secrets, 5 deployments, 5 services

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
SB=/srv/etcd-standby-sandbox/sandbox.json
kube() { local api="$1" cmd="$2"; shift 2; node dist/scripts/kubeWorkload.js "$cmd" --sandbox "$SB" --api "$api" "$@"; }

say "The seed's starting state: a fresh sandbox with four voters and a kube-apiserver on master1, master2, master3"
t0=$(now)
bash sandbox/sandbox.sh down >/dev/null
bash sandbox/sandbox.sh up >/dev/null
until ctl --endpoints="$ALL_EPS" endpoint health >/dev/null 2>&1; do sleep 0.5; done
phase sandbox "$t0"
ctl --endpoints="$ALL_EPS" endpoint status --write-out=table
ctl --endpoints="$A_EPS" member list
for h in master1 master2 master3; do kube "$h" readyz --timeout-ms 60000; done

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

say "A Kubernetes workload through master1's API server (@kubernetes/client-node): nodes, namespaces, config maps, secrets, deployments, services"
t0=$(now)
kube master1 nodes
work=$(kube master1 create --run demo --namespaces "$NAMESPACES" --configmaps 20 --secrets 10 --deployments 5 --services 5)
phase workload "$t0"
echo "$work"
echo "(retried.learnerRefused should be 0: learner-standby re-pointed every kube-apiserver at the voters first)"
kube master1 get-nodes
kube master1 get --run demo
kube master1 snapshot --out "$DEMO/before.json"
before=$(ctl --endpoints="$A_EPS" get /registry/ --prefix --keys-only | grep -c '^/registry/')
raft() { ctl --endpoints="$1" endpoint status -w json | grep -o "\"$2\":[0-9]*" | cut -d: -f2; }
# The API servers keep writing (leases): wait until the learner has applied what the leader had committed after the snapshot.
target=$(raft https://10.250.0.101:2379 raftIndex)
until [ "$(raft "$B_EP" raftAppliedIndex)" -ge "$target" ]; do sleep 0.2; done
echo "objects served by master1: $(grep -o '"uid"' "$DEMO/before.json" | wc -l); keys under /registry/: $before; the learner on master3 has applied index $(raft "$B_EP" raftAppliedIndex) >= the leader's $target at the snapshot"

say "Site A loses power (master1, master2, node1: every process SIGKILLed)"
bash sandbox/sandbox.sh power-off A
bash sandbox/sandbox.sh status

say "pulumi up: failover (site B's learner becomes a one-member cluster)"
pulumi config set topology.mode failover "${P[@]}"
t0=$(now)
pulumi up --yes --skip-preview "${P[@]}"
phase failover "$t0"

say "Site B's etcd: one member, the new cluster"
ctl --endpoints="$B_EP" member list
ctl --endpoints="$B_EP" endpoint status --write-out=table
after=$(ctl --endpoints="$B_EP" get /registry/ --prefix --keys-only | grep -c '^/registry/')

say "The seed's closing checks, through master3's kube-apiserver (restarted by the failover)"
kube master3 readyz --timeout-ms 60000
echo "\$ kubectl get nodes -o wide   (no kubelet runs in the sandbox: the status is what was registered, nothing marks site A NotReady)"
kube master3 get-nodes
kube master3 get --run demo
echo "Every object master1 served before the power cut, served by master3 now (same UID, same content):"
if kube master3 compare --before "$DEMO/before.json" --run demo > "$DEMO/compare.txt"; then lost=0; else lost=1; fi
cat "$DEMO/compare.txt"
kube master3 put --run demo --name hello-world-after-failover
echo "in the new etcd cluster: $(ctl --endpoints="$B_EP" get /registry/configmaps/demo-0/hello-world-after-failover --keys-only)"
objects_before=$(grep -o '"uid"' "$DEMO/before.json" | wc -l)
same=$(sed -n 's/.*same UID: \([0-9]*\);.*/\1/p' "$DEMO/compare.txt")

say "Site A's power returns, its network cut off first (the safe order): RKE's restart=always brings its old etcd back"
bash sandbox/sandbox.sh power-on A --isolated
until ctl --endpoints="$A_EPS" endpoint health >/dev/null 2>&1; do sleep 0.5; done
echo "site A's old cluster serves again (a second writable cluster, reachable only from this machine while cut off):"
ctl --endpoints="$A_EPS" endpoint status --write-out=table

say "pulumi preview / pulumi up: the fence of site A (its etcd, snapshots and API servers stopped for good; data kept)"
pulumi preview --diff "${P[@]}" | grep -E 'SiteFence' || true
t0=$(now)
pulumi up --yes --skip-preview "${P[@]}"
phase fence "$t0"
bash sandbox/sandbox.sh reconnect A
refused=0
for e in ${A_EPS//,/ }; do
  if ctl --endpoints="$e" --command-timeout=3s put /etcd-standby/demo-probe x >/dev/null 2>&1; then echo "ERROR: $e still takes writes"; else echo "$e refuses a put"; refused=$((refused + 1)); fi
done
echo "master3's kube-apiserver: $(bash sandbox/sandbox.sh ssh master3 "docker inspect -f '{{range .Args}}{{println .}}{{end}}' kube-apiserver" | grep -- '--etcd-servers')"
echo "node2's nginx-proxy: $(bash sandbox/sandbox.sh ssh node2 "docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' nginx-proxy" | grep '^CP_HOSTS=')"
echo "backups of the new cluster on master3: $(bash sandbox/sandbox.sh ssh master3 'ls -1t /opt/rke/etcd-snapshots/ | head -3 | tr "\n" " "')"

if [ "${DEMO_LOOP:-0}" = 1 ]; then
  say "DEMO_LOOP=1: rebuild (site A's etcd hosts join the new cluster one at a time, each a learner first)"
  pulumi config set topology.mode rebuild "${P[@]}"
  t0=$(now)
  pulumi up --yes --skip-preview "${P[@]}"
  phase rebuild "$t0"
  ctl --endpoints="$B_EP" member list

  say "DEMO_LOOP=1: fail back (voters in site A, master3 a learner of the same new cluster; no restore)"
  pulumi config set topology.mode failback "${P[@]}"
  pulumi preview --diff "${P[@]}" | grep -E '^ *[-+~]+ pulumi-nodejs:dynamic' || true
  t0=$(now)
  pulumi up --yes --skip-preview "${P[@]}"
  phase failback "$t0"
  ctl --endpoints="$A_EPS" member list
  for h in master1 master2 master3; do echo "$h kube-apiserver: $(bash sandbox/sandbox.sh ssh "$h" "docker inspect -f '{{range .Args}}{{println .}}{{end}}' kube-apiserver" | grep -- '--etcd-servers')"; done
  kube master1 readyz --timeout-ms 60000
  kube master1 get-nodes
  pulumi preview --expect-no-changes "${P[@]}" >/dev/null && echo "pulumi preview --expect-no-changes: nothing to do"

  say "DEMO_LOOP=1: learner-standby again (the stack forgets the failover; nothing on the hosts changes; ready for the next one)"
  pulumi config set topology.mode learner-standby "${P[@]}"
  pulumi preview --diff "${P[@]}" | grep -E '^ *[-+~]+ pulumi-nodejs:dynamic' || true
  t0=$(now)
  pulumi up --yes --skip-preview "${P[@]}"
  phase standby "$t0"
  pulumi preview --expect-no-changes "${P[@]}" >/dev/null && echo "pulumi preview --expect-no-changes: nothing to do"
fi

say "Summary"
printf '%-44s %s\n' "phase" "seconds"
printf '%-44s %s\n' "sandbox up (four voters, three API servers)" "${T[sandbox]}" "pulumi up learner-standby" "${T[learner]}" \
  "workload ($(echo "$work" | grep -o '"created":[0-9]*' | cut -d: -f2) objects via the API)" "${T[workload]}" "pulumi up failover (restore + restarts)" "${T[failover]}" \
  "pulumi up after site A's power returned (fence)" "${T[fence]}"
[ "${DEMO_LOOP:-0}" = 1 ] && printf '%-44s %s\n' "pulumi up rebuild" "${T[rebuild]}" "pulumi up failback" "${T[failback]}" "pulumi up learner-standby again" "${T[standby]}"
echo "Kubernetes objects before the power cut: $objects_before; served by master3 after failover with the same UID: ${same:-0}"
echo "etcd keys under /registry/ before the power cut: $before; in site B's new cluster after failover: $after (the API servers keep writing theirs: leases, endpoints)"
echo "site A came back and was fenced: $refused of 3 old etcd endpoints refuse writes; master3's API server and node2's proxy point at site B only"
if [ "$lost" = 0 ]; then echo "no Kubernetes object lost or changed"; else echo "ERROR: objects lost or changed (see above)"; exit 1; fi
[ "$refused" = 3 ] || { echo "ERROR: site A is not fenced (see above)"; exit 1; }
echo
echo "The sandbox is left running (site A back on, fenced). Explore it with:"
echo "  npm run sandbox -- status | power-on A | ssh master3 docker ps"
echo "  PULUMI_BACKEND_URL=file://$DEMO/state PULUMI_CONFIG_PASSPHRASE=etcd-standby-sandbox pulumi stack output --stack sandbox --config-file $CFG"
echo "Tear it down with:"
echo "  npm run sandbox -- down"
