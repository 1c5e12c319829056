#!/usr/bin/env bash
# The local two-site sandbox: the seed's RKE etcd cluster on one machine.
#
#   sandbox.sh up              build it (or start what is stopped); harmless twice
#   sandbox.sh down            remove every namespace, process, mount and interface
#   sandbox.sh status          hosts, their containers, `etcdctl endpoint status`
#   sandbox.sh power-off A|B   SIGKILL every process of a site's hosts (a power cut)
#   sandbox.sh power-off A|B --blackhole  the same, and the site's addresses go silent
#                              first: every packet to or from its hosts is dropped (no
#                              RST, no ICMP), so callers time out instead of being refused
#   sandbox.sh power-on A|B [--isolated]  start their sshd and dockerd again, with their
#                              disks; --isolated first cuts the site's network off (but
#                              for the management address and its own hosts); a
#                              --blackhole is lifted first
#   sandbox.sh reconnect A|B   undo --isolated
#   sandbox.sh latency MS|off  add MS ms each way between the sites (user-space relay)
#   sandbox.sh stall-peers HOST on|off  drop every peer-port (2380) packet in and out of
#                              HOST but its own: its etcd member hears nobody and nobody
#                              hears it (a learner falls behind while the voters write on)
#   sandbox.sh save-etcd DIR   stop every running etcd member, copy each etcd host's data
#                              dir to DIR/HOST/member, start them again (benchmark data)
#   sandbox.sh describe        print the machine-readable description (JSON)
#   sandbox.sh etcdctl ARGS    etcdctl with the sandbox's client certificate
#   sandbox.sh ssh HOST ARGS   ssh to a host with the sandbox key and known_hosts
#
# Environment at `up`: ETCD_STANDBY_SNAPSHOT_INTERVAL (seconds between rolling
# snapshots, default 30), ETCD_STANDBY_ETCD_DISKS (see has_etcd_disk),
# ETCD_STANDBY_ETCD_DATA=DIR (each etcd host starts from DIR/HOST/member, as
# `save-etcd DIR` wrote it from a sandbox of the same shape: member IDs follow
# from names, peer URLs and token, so the members restart where that one stopped).
#
# Hosts are network namespaces on a private bridge. Each has its own mount
# namespace (its own /var/lib, /etc/kubernetes and /opt/rke), its own sshd
# (key auth, pinned host key) and its own dockerd; an SSH session on a host
# talks to that host's dockerd. etcd runs RKE-style in containers named `etcd`
# with an `etcd-rolling-snapshots` container beside it, mTLS everywhere. Every
# controlplane host runs a real `kube-apiserver` container (RKE's name, flags
# and certificate names); the other Kubernetes components are placeholders.
set -Eeuo pipefail
trap 'printf "[sandbox] failed at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

SANDBOX_DIR="${ETCD_STANDBY_SANDBOX:-/srv/etcd-standby-sandbox}"
SUBNET="${ETCD_STANDBY_SUBNET:-10.250.0}"
BRIDGE="esb-br0"
CACHE="${ETCD_STANDBY_CACHE:-$HOME/.cache/etcd-standby}"
SNAPSHOT_INTERVAL="${ETCD_STANDBY_SNAPSHOT_INTERVAL:-30}"
VOTER_VERSION="v3.4.23"   # Debian's etcd, as the seed's voters ran 3.4
CLUSTER_TOKEN="etcd-cluster-1"
HEARTBEAT_MS=500
ELECTION_MS=5000
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RELAY_SRC="$ROOT/dist/sandbox/latencyRelay.js"
RELAY_BASE_PORT=23790
RELAY_UID=65534   # nobody: the relay's own connections are exempt from the redirect
KUBE_APISERVER_BIN="$CACHE/bin/kube-apiserver"   # built by scripts/bootstrap.sh
PROXY_IMAGE="rancher/rke-tools:sandbox-proxy"     # RKE's nginx-proxy, here a socat TCP proxy
KUBE_APISERVER_PORT=6443
SERVICE_CLUSTER_IP_RANGE="10.43.0.0/16"   # RKE's default; 10.43.0.1 is the `kubernetes` service
KUBE_READY_SECONDS="${ETCD_STANDBY_KUBE_READY_SECONDS:-180}"

# name site last-octet roles
HOSTS=(
  "master1 A 101 controlplane,etcd,worker"
  "master2 A 102 controlplane,etcd,worker"
  "master3 B 103 controlplane,etcd,worker"
  "node1 A 104 etcd,worker"
  "node2 B 105 worker"
)
# Placeholders (busybox sleeping under RKE's names) on site B, by role: no real
# controller-manager, scheduler, kubelet or kube-proxy runs in the sandbox.
KUBE_PLACEHOLDERS_CONTROLPLANE=(kube-controller-manager kube-scheduler)
KUBE_PLACEHOLDERS_WORKER=(kubelet kube-proxy)

log() { printf '[sandbox] %s\n' "$*" >&2; }
die() { printf '[sandbox] error: %s\n' "$*" >&2; exit 1; }

host_names() { local h; for h in "${HOSTS[@]}"; do echo "${h%% *}"; done; }
host_attr() { # host_attr NAME FIELD(2=site 3=octet 4=roles)
  local h f
  for h in "${HOSTS[@]}"; do
    read -r -a f <<< "$h"
    if [ "${f[0]}" = "$1" ]; then echo "${f[$(( $2 - 1 ))]}"; return 0; fi
  done
  die "unknown host $1"
}
host_site() { host_attr "$1" 2; }
host_ip() { echo "$SUBNET.$(host_attr "$1" 3)"; }
host_roles() { host_attr "$1" 4; }
site_hosts() { local h; for h in $(host_names); do if [ "$(host_site "$h")" = "$1" ]; then echo "$h"; fi; done; }
is_etcd_host() { [[ ",$(host_roles "$1")," == *,etcd,* ]]; }
etcd_hosts() { local h; for h in $(host_names); do if is_etcd_host "$h"; then echo "$h"; fi; done; }
is_controlplane_host() { [[ ",$(host_roles "$1")," == *,controlplane,* ]]; }
is_worker_host() { [[ ",$(host_roles "$1")," == *,worker,* ]]; }
controlplane_hosts() { local h; for h in $(host_names); do if is_controlplane_host "$h"; then echo "$h"; fi; done; }
kube_version() { "$KUBE_APISERVER_BIN" --version 2>/dev/null | awk '{print $2}'; }
kube_image() { echo "rancher/hyperkube:$(kube_version)"; }
dashed() { echo "${1//./-}"; }
# ETCD_STANDBY_ETCD_DISKS=master3,node1 (or all): those hosts' /var/lib/etcd is its own filesystem, as on real nodes
has_etcd_disk() { [[ ",${ETCD_STANDBY_ETCD_DISKS:-}," == *",$1,"* || "${ETCD_STANDBY_ETCD_DISKS:-}" == all ]]; }

netns() { echo "esb-$1"; }
hdir() { echo "$SANDBOX_DIR/hosts/$1"; }
mntns() { echo "$SANDBOX_DIR/ns/$1"; }
dsock() { echo "$(hdir "$1")/docker.sock"; }
in_host() { local h="$1"; shift; nsenter --net="/var/run/netns/$(netns "$h")" --mount="$(mntns "$h")" -- "$@"; }
hdocker() { local h="$1"; shift; docker -H "unix://$(dsock "$h")" "$@"; }
pids_of() { ip netns pids "$(netns "$1")" 2>/dev/null || true; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs="$1" what="$2"; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}

# ------------------------------------------------------------ pieces ----
ensure_tools() {
  local t
  for t in ip nsenter unshare dockerd docker sshd ssh ssh-keygen openssl etcdctl busybox; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || die "missing $t: run scripts/bootstrap.sh first"
  done
  [ -x "$CACHE/bin/etcd-3.5" ] || die "missing etcd 3.5 build in $CACHE/bin: run scripts/bootstrap.sh first"
  [ -x "$KUBE_APISERVER_BIN" ] || die "missing $KUBE_APISERVER_BIN: run scripts/bootstrap.sh first"
  command -v curl >/dev/null || die "missing curl (sandbox up waits for each kube-apiserver's /readyz with it): apt-get install curl"
}

make_pki() {
  local p="$SANDBOX_DIR/pki" h ip
  [ -f "$p/.complete" ] && return
  rm -rf "$p"; mkdir -p "$p"
  log "making the CA and per-host certificates (RKE file names)"
  openssl ecparam -name prime256v1 -genkey -noout -out "$p/kube-ca-key.pem" 2>/dev/null
  openssl req -x509 -new -key "$p/kube-ca-key.pem" -subj "/CN=kube-ca" -days 3650 -out "$p/kube-ca.pem" 2>/dev/null
  for h in $(host_names); do
    ip=$(host_ip "$h")
    local base="$p/kube-etcd-$(dashed "$ip")"
    openssl ecparam -name prime256v1 -genkey -noout -out "$base-key.pem.ec" 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$base-key.pem.ec" -out "$base-key.pem" 2>/dev/null
    rm -f "$base-key.pem.ec"
    openssl req -new -key "$base-key.pem" -subj "/CN=kube-etcd-$(dashed "$ip")" -out "$base.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost,DNS:%s\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' "$ip" "$h" > "$base.ext"
    openssl x509 -req -in "$base.csr" -CA "$p/kube-ca.pem" -CAkey "$p/kube-ca-key.pem" -CAcreateserial \
      -days 3650 -extfile "$base.ext" -out "$base.pem" 2>/dev/null
    rm -f "$base.csr" "$base.ext"
  done
  make_kube_pki "$p"
  chmod 600 "$p"/*-key.pem
  touch "$p/.complete"
}

sign_cert() { # sign_cert DIR NAME SUBJECT EXTENSIONS: DIR/NAME.pem and DIR/NAME-key.pem (P-256, PKCS#8) signed by kube-ca
  local p="$1" base="$1/$2"
  openssl ecparam -name prime256v1 -genkey -noout -out "$base-key.pem.ec" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$base-key.pem.ec" -out "$base-key.pem" 2>/dev/null
  rm -f "$base-key.pem.ec"
  openssl req -new -key "$base-key.pem" -subj "$3" -out "$base.csr" 2>/dev/null
  printf '%s\n' "$4" > "$base.ext"
  openssl x509 -req -in "$base.csr" -CA "$p/kube-ca.pem" -CAkey "$p/kube-ca-key.pem" -CAcreateserial \
    -days 3650 -extfile "$base.ext" -out "$base.pem" 2>/dev/null
  rm -f "$base.csr" "$base.ext"
}

make_kube_pki() { # RKE's Kubernetes certificates, service-account key and (sandbox only) an admin token
  local p="$1" h sans="IP:10.43.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  for h in $(controlplane_hosts); do sans+=",IP:$(host_ip "$h"),DNS:$h"; done
  # kube-node: RKE's etcd client certificate for kube-apiserver (and the nodes' identity)
  sign_cert "$p" kube-node "/O=system:nodes/CN=system:node" \
    "$(printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth')"
  # kube-apiserver: one serving certificate for every controlplane host, as RKE makes it
  sign_cert "$p" kube-apiserver "/CN=kube-apiserver" \
    "$(printf 'subjectAltName=%s\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth' "$sans")"
  openssl genrsa -out "$p/kube-service-account-token-key.pem" 2048 2>/dev/null
  openssl rsa -in "$p/kube-service-account-token-key.pem" -pubout -out "$p/kube-service-account-token.pem" 2>/dev/null
  # A static admin token for the tests and the demo (a throwaway sandbox; RKE itself uses certificates).
  openssl rand -hex 24 > "$p/kube-admin.token"
  printf '%s,kube-admin,kube-admin,system:masters\n' "$(cat "$p/kube-admin.token")" > "$p/kube-api-tokens.csv"
  chmod 600 "$p/kube-admin.token" "$p/kube-api-tokens.csv"
}

make_ssh_keys() {
  local s="$SANDBOX_DIR/ssh" h
  mkdir -p "$s"; chmod 700 "$s"
  [ -f "$s/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C etcd-standby-sandbox -f "$s/id_ed25519"
  cp "$s/id_ed25519.pub" "$s/authorized_keys"
  : > "$s/known_hosts.tmp"
  for h in $(host_names); do
    local k="$(hdir "$h")/ssh_host_ed25519_key"
    [ -f "$k" ] || ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$k"
    printf '%s %s\n' "$(host_ip "$h")" "$(cut -d' ' -f1,2 "$k.pub")" >> "$s/known_hosts.tmp"
  done
  mv "$s/known_hosts.tmp" "$s/known_hosts"
}

build_rootfs() { # build_rootfs DIR [BINARY...]: busybox plus the given binaries in /usr/local/bin
  local r="$1" b; shift
  rm -rf "$r"; mkdir -p "$r/bin" "$r/usr/local/bin" "$r/tmp" "$r/etc" "$r/lib64" "$r/lib/x86_64-linux-gnu"
  chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for b in sh ls cat date sleep rm mkdir mv cp tail head sort xargs echo test find wc du df stat ps kill true false; do ln -s busybox "$r/bin/$b"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
  printf 'root:x:0:\n' > "$r/etc/group"
  printf 'hosts: files\n' > "$r/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n' > "$r/etc/hosts"
  local src dst name
  for src in "$@"; do
    name=$(basename "$src"); name="${name%-3.[0-9]}"
    dst="$r/usr/local/bin/$name"
    cp "$src" "$dst"
    # Debian's 3.4 binaries are dynamically linked: bring their libraries.
    { ldd "$src" 2>/dev/null || true; } | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r lib; do
      [ -f "$lib" ] && cp -L "$lib" "$r$lib" 2>/dev/null || true
    done
  done
}

make_images() {
  local img="$SANDBOX_DIR/images"
  mkdir -p "$img"
  [ -f "$img/.complete" ] && return
  log "making container images from local etcd binaries (docker import, no registry)"
  build_rootfs "$img/rootfs-34" /usr/bin/etcd /usr/bin/etcdctl
  tar -C "$img/rootfs-34" -cf "$img/etcd-v3.4.23.tar" .
  build_rootfs "$img/rootfs-35" "$CACHE/bin/etcd-3.5" "$CACHE/bin/etcdctl-3.5" "$CACHE/bin/etcdutl-3.5"
  tar -C "$img/rootfs-35" -cf "$img/etcd-v3.5.tar" .
  build_rootfs "$img/rootfs-36" "$CACHE/bin/etcd-3.6" "$CACHE/bin/etcdctl-3.6" "$CACHE/bin/etcdutl-3.6"
  tar -C "$img/rootfs-36" -cf "$img/etcd-v3.6.tar" .
  build_rootfs "$img/rootfs-kube"
  tar -C "$img/rootfs-kube" -cf "$img/kube-placeholder.tar" .
  build_rootfs "$img/rootfs-kube-apiserver" "$KUBE_APISERVER_BIN"
  tar -C "$img/rootfs-kube-apiserver" -cf "$img/kube-apiserver.tar" .
  build_rootfs "$img/rootfs-proxy" /usr/bin/socat
  tar -C "$img/rootfs-proxy" -cf "$img/nginx-proxy.tar" .
  rm -rf "$img"/rootfs-*
  touch "$img/.complete"
}

etcd_version_of() { "$1" --version 2>/dev/null | awk '/etcd Version/ {print "v"$3}'; }

import_images() { # import_images HOST
  local h="$1" img="$SANDBOX_DIR/images" v35 v36
  v35=$(etcd_version_of "$CACHE/bin/etcd-3.5"); v36=$(etcd_version_of "$CACHE/bin/etcd-3.6")
  hdocker "$h" image inspect "$PROXY_IMAGE" >/dev/null 2>&1 ||
    hdocker "$h" import "$img/nginx-proxy.tar" "$PROXY_IMAGE" >/dev/null
  hdocker "$h" image inspect "rancher/mirrored-coreos-etcd:$VOTER_VERSION" >/dev/null 2>&1 ||
    hdocker "$h" import "$img/etcd-v3.4.23.tar" "rancher/mirrored-coreos-etcd:$VOTER_VERSION" >/dev/null
  hdocker "$h" image inspect "rancher/mirrored-coreos-etcd:$v35" >/dev/null 2>&1 ||
    hdocker "$h" import "$img/etcd-v3.5.tar" "rancher/mirrored-coreos-etcd:$v35" >/dev/null
  hdocker "$h" image inspect "rancher/mirrored-coreos-etcd:$v36" >/dev/null 2>&1 ||
    hdocker "$h" import "$img/etcd-v3.6.tar" "rancher/mirrored-coreos-etcd:$v36" >/dev/null
  hdocker "$h" image inspect "rancher/hyperkube:placeholder" >/dev/null 2>&1 ||
    hdocker "$h" import "$img/kube-placeholder.tar" "rancher/hyperkube:placeholder" >/dev/null
  if is_controlplane_host "$h"; then
    hdocker "$h" image inspect "$(kube_image)" >/dev/null 2>&1 ||
      hdocker "$h" import "$img/kube-apiserver.tar" "$(kube_image)" >/dev/null
  fi
}

make_bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && return
  ip link add "$BRIDGE" type bridge
  ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

make_host() { # namespaces, interfaces, folders
  local h="$1" ns d m ip
  ns=$(netns "$h"); d=$(hdir "$h"); m=$(mntns "$h"); ip=$(host_ip "$h")
  mkdir -p "$d/var-lib/etcd" "$d/var-lib/docker" "$d/etc-kubernetes/ssl" "$d/opt-rke/etcd-snapshots" "$d/exec"
  chmod 700 "$d/var-lib/etcd"
  if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"
    ip link add "esb-$h" type veth peer name eth0 netns "$ns"
    ip link set "esb-$h" master "$BRIDGE" up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  fi
  # Names resolve on the hosts as on real RKE nodes: every host in each host's /etc/hosts.
  { echo "127.0.0.1 localhost"; local o; for o in $(host_names); do echo "$(host_ip "$o") $o"; done; } > "$d/etc-hosts"
  if [ ! -e "$m" ] || ! nsenter --mount="$m" true 2>/dev/null; then
    touch "$m"
    unshare --mount="$m" --propagation private /bin/sh -ec '
      mount --bind "$1/var-lib" /var/lib
      mount --bind "$1/etc-kubernetes" /etc/kubernetes
      mount --bind "$1/opt-rke" /opt/rke
      mount --bind "$1/etc-hosts" /etc/hosts
      if [ "$2" = yes ]; then
        # its own filesystem, as a dedicated etcd disk (with the lost+found of a fresh ext4)
        mount -t tmpfs -o size=4g,mode=0700 etcd-disk /var/lib/etcd
        mkdir -m 0700 /var/lib/etcd/lost+found
      fi
    ' sh "$d" "$(has_etcd_disk "$h" && echo yes || echo no)"
  fi
  # certificates under RKE's names: the CA and this host's own pair
  local p="$SANDBOX_DIR/pki" base="kube-etcd-$(dashed "$ip")"
  cp "$p/kube-ca.pem" "$p/$base.pem" "$p/$base-key.pem" "$p/kube-node.pem" "$p/kube-node-key.pem" "$d/etc-kubernetes/ssl/"
  if is_controlplane_host "$h"; then
    cp "$p/kube-apiserver.pem" "$p/kube-apiserver-key.pem" "$p/kube-service-account-token-key.pem" "$p/kube-service-account-token.pem" "$d/etc-kubernetes/ssl/"
    install -m 0600 "$p/kube-api-tokens.csv" "$d/etc-kubernetes/kube-api-tokens.csv"
  fi
}

start_dockerd() {
  local h="$1" d; d=$(hdir "$h")
  if alive "$d/dockerd.pid" "$d/exec" && hdocker "$h" version >/dev/null 2>&1; then return; fi
  # After a power cut the pid files are stale, and a recycled PID in
  # containerd.pid makes dockerd wait for a containerd that is not there.
  rm -f "$d/dockerd.pid" "$(dsock "$h")" "$d/exec/containerd/containerd.pid"
  # nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroups.
  ( close_fds; exec setsid nsenter --net="/var/run/netns/$(netns "$h")" --mount="$(mntns "$h")" -- \
    dockerd --bridge=none --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
      --data-root=/var/lib/docker --exec-root="$d/exec" --pidfile="$d/dockerd.pid" \
      -H "unix://$(dsock "$h")" --storage-driver=overlay2 --log-level=warn \
      </dev/null >>"$d/dockerd.log" 2>&1 ) &
}

start_sshd() {
  local h="$1" d ip; d=$(hdir "$h"); ip=$(host_ip "$h")
  if alive "$d/sshd.pid" "$d/sshd_config"; then return; fi
  mkdir -p /run/sshd; chmod 755 /run/sshd
  cat > "$d/sshd_config" <<EOF
ListenAddress $ip
Port 22
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $SANDBOX_DIR/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 50
MaxStartups 100:30:200
SetEnv DOCKER_HOST=unix://$(dsock "$h") ESB_HOST=$h
Subsystem sftp internal-sftp
EOF
  ( close_fds; in_host "$h" /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" )
}

etcd_container_args() { # the RKE-style etcd container of a host
  local h="$1" ip cluster="" e
  ip=$(host_ip "$h")
  for e in $(etcd_hosts); do cluster+="${cluster:+,}etcd-$e=https://$(host_ip "$e"):2380"; done
  local ssl=/etc/kubernetes/ssl base="kube-etcd-$(dashed "$ip")"
  echo run -d --name etcd --restart=always --net=host \
    -v /var/lib/etcd:/var/lib/rancher/etcd/ -v /etc/kubernetes:/etc/kubernetes \
    "rancher/mirrored-coreos-etcd:$VOTER_VERSION" /usr/local/bin/etcd \
    --name="etcd-$h" --data-dir=/var/lib/rancher/etcd/ \
    --listen-client-urls=https://0.0.0.0:2379 --advertise-client-urls="https://$ip:2379" \
    --listen-peer-urls=https://0.0.0.0:2380 --initial-advertise-peer-urls="https://$ip:2380" \
    --initial-cluster="$cluster" --initial-cluster-state=new --initial-cluster-token="$CLUSTER_TOKEN" \
    --heartbeat-interval=$HEARTBEAT_MS --election-timeout=$ELECTION_MS \
    --client-cert-auth=true --peer-client-cert-auth=true \
    --trusted-ca-file=$ssl/kube-ca.pem --cert-file=$ssl/$base.pem --key-file=$ssl/$base-key.pem \
    --peer-trusted-ca-file=$ssl/kube-ca.pem --peer-cert-file=$ssl/$base.pem --peer-key-file=$ssl/$base-key.pem \
    --enable-v2=true
}

kube_apiserver_args() { # RKE's kube-apiserver container on a controlplane host
  local h="$1" ip servers="" e ssl=/etc/kubernetes/ssl
  ip=$(host_ip "$h")
  for e in $(etcd_hosts); do servers+="${servers:+,}https://$(host_ip "$e"):2379"; done
  # --hostname: the hosts share this machine's UTS namespace, and kube-apiserver names its identity lease after the host name
  echo run -d --name kube-apiserver --restart=always --net=host --hostname="$h" \
    -v /etc/kubernetes:/etc/kubernetes "$(kube_image)" /usr/local/bin/kube-apiserver \
    --advertise-address="$ip" --bind-address=0.0.0.0 --secure-port=$KUBE_APISERVER_PORT \
    --allow-privileged=true --anonymous-auth=false --authorization-mode=Node,RBAC --profiling=false \
    --client-ca-file=$ssl/kube-ca.pem --tls-cert-file=$ssl/kube-apiserver.pem --tls-private-key-file=$ssl/kube-apiserver-key.pem \
    --kubelet-client-certificate=$ssl/kube-apiserver.pem --kubelet-client-key=$ssl/kube-apiserver-key.pem \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
    --etcd-servers="$servers" --etcd-prefix=/registry --storage-backend=etcd3 \
    --etcd-cafile=$ssl/kube-ca.pem --etcd-certfile=$ssl/kube-node.pem --etcd-keyfile=$ssl/kube-node-key.pem \
    --service-account-key-file=$ssl/kube-service-account-token-key.pem \
    --service-account-signing-key-file=$ssl/kube-service-account-token-key.pem \
    --service-account-issuer=rke --api-audiences=unknown --service-account-lookup=true \
    --service-cluster-ip-range=$SERVICE_CLUSTER_IP_RANGE --service-node-port-range=30000-32767 \
    --token-auth-file=/etc/kubernetes/kube-api-tokens.csv
}

start_containers() { # first creation only: later `up`s never re-create removed containers
  local h="$1" d ip; d=$(hdir "$h"); ip=$(host_ip "$h")
  [ -f "$d/containers-created" ] && return
  import_images "$h"
  if is_etcd_host "$h"; then
    seed_etcd_data "$h"
    # shellcheck disable=SC2046
    hdocker "$h" $(etcd_container_args "$h") >/dev/null
    local ssl=/etc/kubernetes/ssl base="kube-etcd-$(dashed "$ip")"
    hdocker "$h" run -d --name etcd-rolling-snapshots --restart=always --net=host \
      -v /etc/kubernetes:/etc/kubernetes -v /opt/rke:/opt/rke \
      -e ETCDCTL_API=3 -e "ETCDCTL_ENDPOINTS=https://$ip:2379" -e "ETCDCTL_CACERT=$ssl/kube-ca.pem" \
      -e "ETCDCTL_CERT=$ssl/$base.pem" -e "ETCDCTL_KEY=$ssl/$base-key.pem" \
      "rancher/mirrored-coreos-etcd:$VOTER_VERSION" /bin/sh -c "
        trap 'exit 0' TERM
        while :; do
          f=/opt/rke/etcd-snapshots/\$(date +%Y%m%dT%H%M%S).db
          etcdctl --command-timeout=20s snapshot save \$f.part >/dev/null 2>&1 && mv \$f.part \$f || rm -f \$f.part
          ls -1t /opt/rke/etcd-snapshots/*.db 2>/dev/null | tail -n +6 | xargs rm -f
          sleep $SNAPSHOT_INTERVAL & wait \$!
        done" >/dev/null
  fi
  if is_controlplane_host "$h"; then
    # shellcheck disable=SC2046
    hdocker "$h" $(kube_apiserver_args "$h") >/dev/null
  else
    # RKE's nginx-proxy: a node without the control-plane role reaches the API
    # servers through it, at 127.0.0.1:6443; CP_HOSTS lists them, tried in order.
    hdocker "$h" run -d --name nginx-proxy --restart=always --net=host \
      -e "CP_HOSTS=$(controlplane_hosts | while read -r c; do host_ip "$c"; done | paste -sd, -)" "$PROXY_IMAGE" /bin/sh -c '
        trap "exit 0" TERM
        exec socat TCP-LISTEN:6443,bind=127.0.0.1,fork,reuseaddr SYSTEM:"IFS=,; for h in \$CP_HOSTS; do socat - TCP:\$h:6443,connect-timeout=2 && exit 0; done; exit 1"' >/dev/null
  fi
  if [ "$(host_site "$h")" = B ]; then
    local c placeholders=()
    if is_controlplane_host "$h"; then placeholders+=("${KUBE_PLACEHOLDERS_CONTROLPLANE[@]}"); fi
    if is_worker_host "$h"; then placeholders+=("${KUBE_PLACEHOLDERS_WORKER[@]}"); fi
    for c in "${placeholders[@]}"; do
      hdocker "$h" run -d --name "$c" --restart=always --net=host rancher/hyperkube:placeholder \
        /bin/sh -c "trap 'exit 0' TERM; echo $c started; while :; do sleep 3600 & wait \$!; done" >/dev/null
    done
  fi
  touch "$d/containers-created"
}

# has_own_etcd_fs HOST: its /var/lib/etcd is a filesystem of its own (only seen in its mount namespace)
has_own_etcd_fs() { nsenter --mount="$(mntns "$1")" mountpoint -q /var/lib/etcd; }

# seed_etcd_data HOST: with ETCD_STANDBY_ETCD_DATA=DIR, DIR/HOST/member becomes the
# host's etcd data before its etcd first starts (never over data it has).
seed_etcd_data() {
  local h="$1" src="${ETCD_STANDBY_ETCD_DATA:-}" d t0
  [ -n "$src" ] || return 0
  d=$(hdir "$h")
  [ -d "$src/$h/member" ] || die "ETCD_STANDBY_ETCD_DATA: no $src/$h/member"
  if nsenter --mount="$(mntns "$h")" test -e /var/lib/etcd/member; then log "$h: has etcd data already, not seeded"; return 0; fi
  t0=$(date +%s.%N)
  if has_own_etcd_fs "$h"; then
    tar -C "$src/$h" -cf - member | nsenter --mount="$(mntns "$h")" tar -C /var/lib/etcd -xf -
  else
    cp -a "$src/$h/member" "$d/var-lib/etcd/"
  fi
  log "$h: etcd data seeded from $src/$h ($(du -sb "$src/$h/member" | cut -f1) bytes) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s"
}

cmd_save_etcd() { # cmd_save_etcd DIR: every running etcd member stopped, its data copied to DIR/HOST/member, started again
  local dst="${1:-}" h pids=() pid t0 hosts=()
  [ -n "$dst" ] || die "save-etcd takes a folder"
  [ -f "$SANDBOX_DIR/sandbox.json" ] || die "the sandbox is not up"
  for h in $(etcd_hosts); do
    host_is_on "$h" && hdocker "$h" inspect etcd >/dev/null 2>&1 && hosts+=("$h")
  done
  [ "${#hosts[@]}" -gt 0 ] || die "no etcd member runs"
  mkdir -p "$dst"
  t0=$(date +%s.%N)
  # every member stopped before any copy: the copies are one consistent cluster
  for h in "${hosts[@]}"; do hdocker "$h" stop -t 30 etcd >/dev/null & pids+=("$!"); done
  for pid in "${pids[@]}"; do wait "$pid"; done
  pids=()
  for h in "${hosts[@]}"; do
    (
      rm -rf "${dst:?}/$h"; mkdir -p "$dst/$h"
      if has_own_etcd_fs "$h"; then
        nsenter --mount="$(mntns "$h")" tar -C /var/lib/etcd -cf - member | tar -C "$dst/$h" -xf -
      else
        cp -a "$(hdir "$h")/var-lib/etcd/member" "$dst/$h/"
      fi
    ) & pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  for h in "${hosts[@]}"; do hdocker "$h" start etcd >/dev/null; done
  log "etcd data of ${hosts[*]} saved to $dst ($(du -sb "$dst" | cut -f1) bytes) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s"
}

etcdctl_sb() { # etcdctl with the client certificate (master1's, as in the seed)
  local p="$SANDBOX_DIR/pki" base="kube-etcd-$(dashed "$(host_ip master1)")"
  ETCDCTL_API=3 etcdctl --cacert="$p/kube-ca.pem" --cert="$p/$base.pem" --key="$p/$base-key.pem" \
    --dial-timeout=2s --command-timeout=5s "$@"
}
all_endpoints() { local e out=""; for e in $(etcd_hosts); do out+="${out:+,}https://$(host_ip "$e"):2379"; done; echo "$out"; }

write_description() {
  local f="$SANDBOX_DIR/sandbox.json" p="$SANDBOX_DIR/pki" base first=1 h
  base="kube-etcd-$(dashed "$(host_ip master1)")"
  {
    printf '{\n  "dir": "%s",\n  "subnet": "%s.0/24",\n' "$SANDBOX_DIR" "$SUBNET"
    printf '  "etcd": {\n    "endpoints": [%s],\n' "$(for e in $(etcd_hosts); do printf '"https://%s:2379",' "$(host_ip "$e")"; done | sed 's/,$//')"
    printf '    "caFile": "%s/kube-ca.pem",\n    "certFile": "%s/%s.pem",\n    "keyFile": "%s/%s-key.pem",\n' "$p" "$p" "$base" "$p" "$base"
    printf '    "clusterToken": "%s",\n    "heartbeatMs": %d,\n    "electionMs": %d,\n' "$CLUSTER_TOKEN" "$HEARTBEAT_MS" "$ELECTION_MS"
    printf '    "images": {"v3.4": "rancher/mirrored-coreos-etcd:%s", "v3.5": "rancher/mirrored-coreos-etcd:%s", "v3.6": "rancher/mirrored-coreos-etcd:%s"}\n  },\n' \
      "$VOTER_VERSION" "$(etcd_version_of "$CACHE/bin/etcd-3.5")" "$(etcd_version_of "$CACHE/bin/etcd-3.6")"
    printf '  "ssh": {\n    "user": "root",\n    "port": 22,\n    "privateKeyFile": "%s/ssh/id_ed25519",\n    "knownHostsFile": "%s/ssh/known_hosts"\n  },\n' "$SANDBOX_DIR" "$SANDBOX_DIR"
    printf '  "kubernetes": {\n    "version": "%s",\n    "image": "%s",\n    "apiServers": [%s],\n' "$(kube_version)" "$(kube_image)" \
      "$(for h in $(controlplane_hosts); do printf '{"host": "%s", "url": "https://%s:%d"},' "$h" "$(host_ip "$h")" "$KUBE_APISERVER_PORT"; done | sed 's/,$//')"
    printf '    "caFile": "%s/kube-ca.pem",\n    "token": "%s",\n    "user": "kube-admin",\n    "serviceClusterIpRange": "%s",\n' "$p" "$(cat "$p/kube-admin.token")" "$SERVICE_CLUSTER_IP_RANGE"
    printf '    "placeholders": {"controlplane": ["%s"], "worker": ["%s"], "sites": ["B"]}\n  },\n' \
      "$(IFS=,; echo "${KUBE_PLACEHOLDERS_CONTROLPLANE[*]}" | sed 's/,/", "/g')" "$(IFS=,; echo "${KUBE_PLACEHOLDERS_WORKER[*]}" | sed 's/,/", "/g')"
    printf '  "hosts": [\n'
    for h in $(host_names); do
      [ $first = 1 ] || printf ',\n'; first=0
      local ip; ip=$(host_ip "$h")
      printf '    {"name": "%s", "site": "%s", "address": "%s", "roles": ["%s"], "netns": "%s", "dockerHost": "unix://%s", "hostPublicKey": "%s", "sslDir": "%s/etc-kubernetes/ssl", "etcdMember": %s, "etcdDisk": %s}' \
        "$h" "$(host_site "$h")" "$ip" "$(host_roles "$h" | sed 's/,/", "/g')" "$(netns "$h")" "$(dsock "$h")" \
        "$(cut -d' ' -f1,2 "$(hdir "$h")/ssh_host_ed25519_key.pub")" "$(hdir "$h")" \
        "$(is_etcd_host "$h" && printf '"etcd-%s"' "$h" || echo null)" "$(nsenter --mount="$(mntns "$h")" mountpoint -q /var/lib/etcd && echo true || echo false)"
    done
    printf '\n  ]\n}\n'
  } > "$f.tmp"
  mv "$f.tmp" "$f"
}

# ------------------------------------------------------------ latency ----
# With a latency set ($SANDBOX_DIR/latency-ms), every host runs a relay
# (dist/sandbox/latencyRelay.js) in its network namespace, as an unprivileged
# user, and iptables redirects the host's new connections to the other site's
# etcd ports (2379, 2380) into it. Each direction of a relayed connection is
# held MS ms, so a round trip between the sites gains 2 x MS.
in_net() { local h="$1"; shift; nsenter --net="/var/run/netns/$(netns "$h")" -- "$@"; }

latency_routes() { # latency_routes HOST: "LISTEN_PORT ADDRESS PORT" for the other site's etcd ports
  local h="$1" o port n=0
  for o in $(host_names); do
    [ "$(host_site "$o")" != "$(host_site "$h")" ] || continue
    for port in 2379 2380; do echo "$(( RELAY_BASE_PORT + n )) $(host_ip "$o") $port"; n=$(( n + 1 )); done
  done
}

relay_listening() { in_net "$1" ss -Hltn "sport = :$2" | grep -q .; }

start_relay() { # start_relay HOST: its relay, when a latency is set
  local h="$1" d ms lport ip port args=()
  d=$(hdir "$h")
  ms=$(cat "$SANDBOX_DIR/latency-ms" 2>/dev/null) || return 0
  alive "$d/relay.pid" latencyRelay && return 0
  while read -r lport ip port; do args+=("$lport=$ip:$port"); done < <(latency_routes "$h")
  install -m 0644 "$RELAY_SRC" "$SANDBOX_DIR/latencyRelay.js"
  ( close_fds; exec setsid nsenter --net="/var/run/netns/$(netns "$h")" -- \
      setpriv --reuid="$RELAY_UID" --regid="$RELAY_UID" --clear-groups node "$SANDBOX_DIR/latencyRelay.js" "$ms" "${args[@]}" \
      </dev/null >>"$d/relay.log" 2>&1 ) &
  echo "$!" > "$d/relay.pid"
  wait_for 15 "the latency relay on $h" relay_listening "$h" "${args[0]%%=*}"
}

stop_relay() {
  local d; d=$(hdir "$1")
  if alive "$d/relay.pid" latencyRelay; then kill "$(cat "$d/relay.pid")" 2>/dev/null || true; fi
  rm -f "$d/relay.pid"
}

set_redirects() { # set_redirects HOST: the iptables rules for the latency set (none when off)
  local h="$1" lport ip port
  in_net "$h" iptables -t nat -F OUTPUT
  [ -f "$SANDBOX_DIR/latency-ms" ] || return 0
  while read -r lport ip port; do
    in_net "$h" iptables -t nat -A OUTPUT -p tcp -d "$ip" --dport "$port" \
      -m owner ! --uid-owner "$RELAY_UID" -j REDIRECT --to-ports "$lport"
  done < <(latency_routes "$h")
}

cut_cross_site() { # cut_cross_site HOST: close its open connections to the other site, so new ones follow the rules
  local h="$1" o
  for o in $(host_names); do
    [ "$(host_site "$o")" != "$(host_site "$h")" ] || continue
    in_net "$h" ss -K dst "$(host_ip "$o")" >/dev/null 2>&1 || true
  done
}

# alive PIDFILE WORD: the pid file's process runs and its command line names WORD
# (PIDs are recycled quickly here, so a live PID alone proves nothing).
alive() { local p; p=$(cat "$1" 2>/dev/null) || return 1; [ -n "$p" ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2"; }

# close_fds: close every inherited descriptor above 2 (a caller's lock file,
# say), so long-lived daemons do not hold it for their whole life.
close_fds() { local fd; for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done; return 0; }

host_is_on() { [ -n "$(pids_of "$1")" ]; }
# apiserver_ready HOST: its kube-apiserver answers /readyz with "ok" (admin token, CA-verified TLS)
apiserver_ready() {
  local p="$SANDBOX_DIR/pki"
  [ "$(curl -sS --max-time 3 --cacert "$p/kube-ca.pem" -H "Authorization: Bearer $(cat "$p/kube-admin.token")" \
    "https://$(host_ip "$1"):$KUBE_APISERVER_PORT/readyz" 2>/dev/null)" = ok ]
}
cluster_healthy() { etcdctl_sb --endpoints="$(all_endpoints)" endpoint health >/dev/null 2>&1; }
any_healthy() { local e; for e in "$@"; do etcdctl_sb --endpoints="https://$(host_ip "$e"):2379" endpoint health >/dev/null 2>&1 && return 0; done; return 1; }

start_hosts() { # start_hosts HOST... : daemons up (parallel), then containers
  local h
  for h in "$@"; do start_dockerd "$h"; start_sshd "$h"; done
  for h in "$@"; do
    wait_for 60 "dockerd on $h" hdocker "$h" version
    wait_for 30 "sshd on $h" timeout 1 bash -c "</dev/tcp/$(host_ip "$h")/22"
    rm -f "$(hdir "$h")/powered-off"
  done
  for h in "$@"; do start_relay "$h"; done
  local pids=() pid
  for h in "$@"; do start_containers "$h" & pids+=("$!"); done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

# ------------------------------------------------------------ commands ----
cmd_up() {
  ensure_tools
  mkdir -p "$SANDBOX_DIR/ns" /etc/kubernetes /opt/rke
  [ -f "$SANDBOX_DIR/created-dirs" ] || printf '%s\n' /etc/kubernetes /opt/rke > "$SANDBOX_DIR/created-dirs"
  if ! mountpoint -q "$SANDBOX_DIR/ns"; then
    mount --bind "$SANDBOX_DIR/ns" "$SANDBOX_DIR/ns"
    mount --make-private "$SANDBOX_DIR/ns"
  fi
  make_pki; make_images; make_bridge
  local h
  for h in $(host_names); do make_host "$h"; done
  make_ssh_keys
  # a site powered off with --blackhole that `up` starts again gets its network back first
  for h in $(host_names); do if [ -e "$(hdir "$h")/blackholed" ]; then unblackhole "$h"; fi; done
  start_hosts $(host_names)
  write_description
  log "waiting for the etcd cluster to be healthy (election timeout ${ELECTION_MS} ms)"
  wait_for 90 "a healthy etcd member" any_healthy $(etcd_hosts)
  log "waiting for kube-apiserver /readyz on $(controlplane_hosts | tr '\n' ' ')(${KUBE_READY_SECONDS} s at most)"
  for h in $(controlplane_hosts); do
    host_is_on "$h" || continue
    wait_for "$KUBE_READY_SECONDS" "kube-apiserver /readyz on $h (docker logs kube-apiserver there)" apiserver_ready "$h"
  done
  log "up: $SANDBOX_DIR/sandbox.json"
}

cmd_power_off() {
  local site="${1:-}" h
  [[ "$site" == A || "$site" == B ]] || die "power-off takes a site: A or B, then optionally --blackhole"
  [ -f "$SANDBOX_DIR/sandbox.json" ] || die "the sandbox is not up"
  case "${2:-}" in
    "") ;;
    --blackhole)
      # before the kill: the FINs and RSTs the kernel sends for the killed sockets never leave
      for h in $(site_hosts "$site"); do blackhole "$h"; done ;;
    *) die "power-off takes a site: A or B, then optionally --blackhole" ;;
  esac
  for h in $(site_hosts "$site"); do
    local p; p=$(pids_of "$h")
    # shellcheck disable=SC2086
    [ -z "$p" ] || kill -9 $p 2>/dev/null || true
    touch "$(hdir "$h")/powered-off"
  done
  for h in $(site_hosts "$site"); do wait_for 20 "every process on $h to die" sh -c "[ -z \"\$(ip netns pids $(netns "$h"))\" ]"; done
  log "site $site is powered off: $(site_hosts "$site" | tr '\n' ' ')${2:+ (blackholed: its addresses drop every packet; power-on $site lifts it)}"
}

# blackhole HOST: the host's network namespace drops every packet in and out
# (but loopback), before its processes die: nothing answers, no RST, no ICMP,
# as a powered-off host behind a router. ARP still answers (the namespace's
# kernel lives on), so senders do not get a quick "no route to host" either:
# a connect or a request runs into the caller's own timeout.
blackhole() {
  local h="$1" c
  in_net "$h" iptables -N ESB-BLACKHOLE 2>/dev/null || in_net "$h" iptables -F ESB-BLACKHOLE
  in_net "$h" iptables -A ESB-BLACKHOLE -i lo -j RETURN
  in_net "$h" iptables -A ESB-BLACKHOLE -o lo -j RETURN
  in_net "$h" iptables -A ESB-BLACKHOLE -j DROP
  for c in INPUT OUTPUT FORWARD; do
    in_net "$h" iptables -C "$c" -j ESB-BLACKHOLE 2>/dev/null || in_net "$h" iptables -I "$c" -j ESB-BLACKHOLE
  done
  touch "$(hdir "$h")/blackholed"
}
unblackhole() {
  local h="$1" c
  for c in INPUT OUTPUT FORWARD; do
    while in_net "$h" iptables -D "$c" -j ESB-BLACKHOLE 2>/dev/null; do :; done
  done
  in_net "$h" iptables -F ESB-BLACKHOLE 2>/dev/null || true
  in_net "$h" iptables -X ESB-BLACKHOLE 2>/dev/null || true
  rm -f "$(hdir "$h")/blackholed"
}

# isolate HOST: its network cut off from everything but the other hosts of its
# own site and the management address ($SUBNET.1, where the operator's pulumi
# runs): the safe order for a site that comes back after a failover.
isolate() {
  local h="$1" o
  in_net "$h" iptables -N ESB-ISOLATE 2>/dev/null || in_net "$h" iptables -F ESB-ISOLATE
  in_net "$h" iptables -A ESB-ISOLATE -i lo -j ACCEPT
  in_net "$h" iptables -A ESB-ISOLATE -s "$SUBNET.1" -j ACCEPT
  for o in $(site_hosts "$(host_site "$h")"); do in_net "$h" iptables -A ESB-ISOLATE -s "$(host_ip "$o")" -j ACCEPT; done
  in_net "$h" iptables -A ESB-ISOLATE -j DROP
  in_net "$h" iptables -C INPUT -j ESB-ISOLATE 2>/dev/null || in_net "$h" iptables -I INPUT -j ESB-ISOLATE
  touch "$(hdir "$h")/isolated"
}
reconnect() {
  local h="$1"
  while in_net "$h" iptables -D INPUT -j ESB-ISOLATE 2>/dev/null; do :; done
  in_net "$h" iptables -F ESB-ISOLATE 2>/dev/null || true
  in_net "$h" iptables -X ESB-ISOLATE 2>/dev/null || true
  rm -f "$(hdir "$h")/isolated"
}

cmd_reconnect() {
  local site="${1:-}" h
  [[ "$site" == A || "$site" == B ]] || die "reconnect takes a site: A or B"
  for h in $(site_hosts "$site"); do reconnect "$h"; done
  log "site $site is connected again"
}

# stall-peers HOST on|off: HOST's peer traffic (TCP port 2380 either way, but for
# its own loopback) dropped, or let through again; its client port stays open.
cmd_stall_peers() {
  local h="${1:-}" c
  [ -n "$h" ] && [ -d "$(hdir "$h")" ] || die "stall-peers takes a host of the sandbox, then on or off"
  case "${2:-}" in
    on)
      in_net "$h" iptables -N ESB-STALL 2>/dev/null || in_net "$h" iptables -F ESB-STALL
      in_net "$h" iptables -A ESB-STALL -i lo -j RETURN
      in_net "$h" iptables -A ESB-STALL -o lo -j RETURN
      in_net "$h" iptables -A ESB-STALL -p tcp --dport 2380 -j DROP
      in_net "$h" iptables -A ESB-STALL -p tcp --sport 2380 -j DROP
      for c in INPUT OUTPUT; do
        in_net "$h" iptables -C "$c" -j ESB-STALL 2>/dev/null || in_net "$h" iptables -I "$c" -j ESB-STALL
      done
      log "$h's peer traffic is dropped (stall-peers $h off lets it through)" ;;
    off)
      for c in INPUT OUTPUT; do
        while in_net "$h" iptables -D "$c" -j ESB-STALL 2>/dev/null; do :; done
      done
      in_net "$h" iptables -F ESB-STALL 2>/dev/null || true
      in_net "$h" iptables -X ESB-STALL 2>/dev/null || true
      log "$h's peer traffic flows again" ;;
    *) die "stall-peers takes a host, then on or off" ;;
  esac
}

cmd_power_on() {
  local site="${1:-}" h
  [[ "$site" == A || "$site" == B ]] || die "power-on takes a site: A or B, then optionally --isolated"
  [ -f "$SANDBOX_DIR/sandbox.json" ] || die "the sandbox is not up"
  if [ "${2:-}" = --isolated ]; then
    # before any daemon starts: nothing of the site reaches the other site, even for a moment
    for h in $(site_hosts "$site"); do isolate "$h"; done
    log "site $site's network is cut off (but for the management address $SUBNET.1 and its own hosts): sandbox.sh reconnect $site restores it"
  fi
  # a power-off --blackhole ends with the power: after --isolated's rules are in, before any daemon starts
  for h in $(site_hosts "$site"); do
    if [ -e "$(hdir "$h")/blackholed" ]; then unblackhole "$h"; log "$h's blackhole is lifted"; fi
  done
  # shellcheck disable=SC2046
  start_hosts $(site_hosts "$site")
  log "site $site is powered on: $(site_hosts "$site" | tr '\n' ' ')"
}

cmd_latency() {
  local ms="${1:-}" h
  [ -f "$SANDBOX_DIR/sandbox.json" ] || die "the sandbox is not up"
  [[ "$ms" == off || ( "$ms" =~ ^[0-9]{1,5}$ && "$ms" -le 10000 ) ]] || die "latency takes the delay each way in ms (0 to 10000), or off"
  [ "$ms" != 0 ] || ms=off
  for h in $(host_names); do stop_relay "$h"; done
  if [ "$ms" = off ]; then
    rm -f "$SANDBOX_DIR/latency-ms"
  else
    [ -f "$RELAY_SRC" ] || die "missing $RELAY_SRC: run npm run build first"
    echo "$ms" > "$SANDBOX_DIR/latency-ms"
  fi
  for h in $(host_names); do
    host_is_on "$h" || continue
    start_relay "$h"
    set_redirects "$h"
  done
  for h in $(host_names); do host_is_on "$h" && cut_cross_site "$h"; done
  if [ "$ms" = off ]; then log "no added latency between the sites"; else log "latency between the sites: $ms ms each way (round trip +$(( 2 * ms )) ms)"; fi
}

cmd_status() {
  [ -f "$SANDBOX_DIR/sandbox.json" ] || { echo "sandbox: down"; return 0; }
  local h
  printf '%-8s %-4s %-13s %-5s %s\n' HOST SITE ADDRESS POWER CONTAINERS
  for h in $(host_names); do
    local power=off containers="-"
    if host_is_on "$h"; then
      power=on
      containers=$(hdocker "$h" ps --format '{{.Names}}' 2>/dev/null | sort | tr '\n' ' ')
    fi
    printf '%-8s %-4s %-13s %-5s %s\n' "$h" "$(host_site "$h")" "$(host_ip "$h")" "$power" "${containers:--}"
  done
  if [ -f "$SANDBOX_DIR/latency-ms" ]; then echo "latency between the sites: $(cat "$SANDBOX_DIR/latency-ms") ms each way"; fi
  for h in $(host_names); do
    if [ -e "$(hdir "$h")/blackholed" ]; then echo "$h is blackholed (power-off --blackhole): its address drops every packet"; fi
  done
  echo
  # every member's client URL (a learner may run on any host), else the RKE etcd hosts
  local eps
  eps=$(etcdctl_sb --endpoints="$(all_endpoints)" member list 2>/dev/null | awk -F', ' '{print $5}' | grep '^https' | sort -u | paste -sd, -) || eps=""
  [ -n "$eps" ] || eps=$(all_endpoints)
  etcdctl_sb --endpoints="$eps" endpoint status --write-out=table 2>&1 | grep -v '^{"level"' || true
}

cmd_down() {
  local h
  for h in $(host_names); do
    if [ -S "$(dsock "$h")" ] && host_is_on "$h"; then
      hdocker "$h" rm -f $(hdocker "$h" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    fi
    local p; p=$(pids_of "$h")
    # shellcheck disable=SC2086
    [ -z "$p" ] || kill -9 $p 2>/dev/null || true
  done
  for h in $(host_names); do
    local p; p=$(pids_of "$h")
    [ -z "$p" ] || wait_for 20 "processes on $h to die" sh -c "[ -z \"\$(ip netns pids $(netns "$h"))\" ]"
    # cgroups of containers whose engine died with them
    local c
    for c in "$(hdir "$h")"/var-lib/docker/containers/*; do
      [ -d "$c" ] || continue
      rmdir /sys/fs/cgroup/*/docker/"$(basename "$c")" 2>/dev/null || true
    done
    [ -e "$(mntns "$h")" ] && umount "$(mntns "$h")" 2>/dev/null || true
    ip netns del "$(netns "$h")" 2>/dev/null || true
    # deleting the namespace takes the veth pair with it, asynchronously
    ip link del "esb-$h" 2>/dev/null || true
  done
  rmdir /sys/fs/cgroup/*/docker 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  if mountpoint -q "$SANDBOX_DIR/ns" 2>/dev/null; then umount "$SANDBOX_DIR/ns"; fi
  if [ -f "$SANDBOX_DIR/created-dirs" ]; then
    while read -r d; do rmdir "$d" 2>/dev/null || true; done < "$SANDBOX_DIR/created-dirs"
  fi
  rm -rf "$SANDBOX_DIR"
  log "down: nothing left"
}

case "${1:-}" in
  up) cmd_up; cmd_status ;;
  down) cmd_down ;;
  status) cmd_status ;;
  power-off) cmd_power_off "${2:-}" "${3:-}" ;;
  power-on) cmd_power_on "${2:-}" "${3:-}" ;;
  reconnect) cmd_reconnect "${2:-}" ;;
  latency) cmd_latency "${2:-}" ;;
  stall-peers) cmd_stall_peers "${2:-}" "${3:-}" ;;
  save-etcd) cmd_save_etcd "${2:-}" ;;
  describe) cat "$SANDBOX_DIR/sandbox.json" ;;
  etcdctl) shift; etcdctl_sb "$@" ;;
  ssh) shift; h="${1:?host}"; shift
       exec ssh -i "$SANDBOX_DIR/ssh/id_ed25519" -o UserKnownHostsFile="$SANDBOX_DIR/ssh/known_hosts" \
         -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 "root@$(host_ip "$h")" "$@" ;;
  *) awk 'NR == 1 { next } /^#/ { print; next } { exit }' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
