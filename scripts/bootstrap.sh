#!/usr/bin/env bash
# Idempotent bootstrap: installs every real component etcd-standby needs on a
# fresh Debian bookworm machine, and is quick when everything is already there.
#
#   - Debian packages: etcd-server, etcd-client (3.4), openssh-server, docker.io,
#     iproute2, openssl, busybox-static, socat, procps, psmisc, curl, iptables
#   - Pulumi CLI (built from github.com/pulumi/pulumi/pkg/v3 at $PULUMI_VERSION)
#   - pulumi-language-nodejs (built from github.com/pulumi/pulumi/sdk/v3 at
#     $PULUMI_NODEJS_HOST_VERSION, the newest sdk module that still carries it)
#   - etcd 3.5.x and 3.6.x (server, etcdctl, etcdutl) from the go.etcd.io modules
#   - kube-apiserver, built from the wrapper module tools/kube-apiserver/ (its
#     go.mod pins k8s.io/kubernetes and the staging modules; ~5 min cold)
#   - the @pulumi/command provider plugin ($COMMAND_PLUGIN_VERSION), installed into
#     Pulumi's plugin cache ($PULUMI_HOME, default ~/.pulumi): downloaded the
#     normal way (`pulumi plugin install`) where that works within 20 s, else
#     built from the vendored source $ETCD_STANDBY_VENDOR/pulumi-command-v1.2.1
#     (default: ../shared/vendor beside the project's root)
#
# Everything built goes to a cache outside the repo ($ETCD_STANDBY_CACHE,
# default ~/.cache/etcd-standby) so a machine builds each piece once.
# Prints `export PATH=...` lines with --print-env.
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-v3.259.0}"
PULUMI_NODEJS_HOST_VERSION="${PULUMI_NODEJS_HOST_VERSION:-v3.68.0}"
ETCD35_VERSION="${ETCD35_VERSION:-v3.5.17}"
ETCD36_VERSION="${ETCD36_VERSION:-v3.6.16}"
COMMAND_PLUGIN_VERSION="${COMMAND_PLUGIN_VERSION:-1.2.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="${ETCD_STANDBY_VENDOR:-$ROOT/../shared/vendor}"
[ -d "$VENDOR" ] && VENDOR="$(cd "$VENDOR" && pwd)"
CACHE="${ETCD_STANDBY_CACHE:-$HOME/.cache/etcd-standby}"
BIN="$CACHE/bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

log() { printf '[bootstrap] %s\n' "$*" >&2; }
have_exec() { [ -x "$1" ]; }

if [ "${1:-}" = "--print-env" ]; then
  echo "export PATH=\"$BIN:$CACHE/pulumi/bin:\$PATH\""
  echo "export ETCD_STANDBY_CACHE=\"$CACHE\""
  exit 0
fi

mkdir -p "$BIN" "$CACHE/pulumi/bin" "$CACHE/build"

# ---------------------------------------------------------------- Debian ----
need_pkgs=()
for p in etcd-server etcd-client openssh-server docker.io iproute2 openssl busybox-static socat procps psmisc curl iptables; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Keep Debian's maintainer scripts from starting system-wide daemons: the
  # sandbox runs its own etcd, sshd and dockerd per host.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null || { log "go is required to build Pulumi and etcd once (Go 1.26 ships on this machine kind)"; exit 1; }

gobuild() { # gobuild <dir> <out> <pkg> [ldflags]
  local dir="$1" out="$2" pkg="$3" ldflags="${4:-}"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out" "$pkg")
}

# ----------------------------------------------------------- Pulumi CLI ----
PULUMI_BIN="$CACHE/pulumi/bin"
want="${PULUMI_VERSION#v}"
if ! have_exec "$PULUMI_BIN/pulumi" || ! "$PULUMI_BIN/pulumi" version 2>/dev/null | grep -qx "v$want"; then
  if command -v pulumi >/dev/null && pulumi version 2>/dev/null | grep -qx "v$want" && [ "$(command -v pulumi)" != "$PULUMI_BIN/pulumi" ]; then
    log "using pulumi $want already on PATH"
    ln -sf "$(command -v pulumi)" "$PULUMI_BIN/pulumi"
  else
    log "building pulumi CLI $PULUMI_VERSION from its Go module (once per machine)"
    d="$CACHE/build/pulumi-cli"; rm -rf "$d"; mkdir -p "$d"
    cat > "$d/go.mod" <<GOMOD
module etcdstandby.local/pulumi-cli
go 1.24
require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
)
GOMOD
    printf 'package tools\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' > "$d/tools.go"
    (cd "$d" && go mod tidy >/dev/null 2>&1 || go mod download all)
    gobuild "$d" "$PULUMI_BIN/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
      "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
    mv "$PULUMI_BIN/pulumi.tmp" "$PULUMI_BIN/pulumi"
  fi
fi

# ----------------------------------------------- Node.js language host ----
if ! have_exec "$PULUMI_BIN/pulumi-language-nodejs"; then
  log "building pulumi-language-nodejs from github.com/pulumi/pulumi/sdk/v3 $PULUMI_NODEJS_HOST_VERSION"
  d="$CACHE/build/pulumi-language-nodejs"; rm -rf "$d"; mkdir -p "$d"
  cat > "$d/go.mod" <<GOMOD
module etcdstandby.local/pulumi-language-nodejs
go 1.24
require github.com/pulumi/pulumi/sdk/v3 $PULUMI_NODEJS_HOST_VERSION
GOMOD
  printf 'package tools\nimport _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"\n' > "$d/tools.go"
  (cd "$d" && go mod tidy >/dev/null 2>&1 || go mod download all)
  gobuild "$d" "$PULUMI_BIN/pulumi-language-nodejs.tmp" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_NODEJS_HOST_VERSION"
  # The dynamic-provider shim ships in the same module.
  src="$(cd "$d" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)/nodejs/dist"
  install -m 0755 "$src/pulumi-resource-pulumi-nodejs" "$PULUMI_BIN/pulumi-resource-pulumi-nodejs"
  mv "$PULUMI_BIN/pulumi-language-nodejs.tmp" "$PULUMI_BIN/pulumi-language-nodejs"
fi

# ------------------------------------------------------------------ etcd ----
build_etcd() { # build_etcd <version> <suffix>
  local v="$1" s="$2"
  local d="$CACHE/build/etcd-$s"
  if have_exec "$BIN/etcd-$s" && have_exec "$BIN/etcdctl-$s" && have_exec "$BIN/etcdutl-$s"; then return; fi
  log "building etcd $v (server, etcdctl, etcdutl) from go.etcd.io modules"
  rm -rf "$d"; mkdir -p "$d/etcdmain"
  cat > "$d/go.mod" <<GOMOD
module etcdstandby.local/etcd$s
go 1.24
require (
	go.etcd.io/etcd/server/v3 $v
	go.etcd.io/etcd/etcdctl/v3 $v
	go.etcd.io/etcd/etcdutl/v3 $v
)
GOMOD
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > "$d/etcdmain/main.go"
  printf 'package tools\nimport (\n _ "go.etcd.io/etcd/etcdctl/v3"\n _ "go.etcd.io/etcd/etcdutl/v3"\n)\n' > "$d/tools.go"
  (cd "$d" && go mod tidy >/dev/null 2>&1 || go mod download all)
  # CGO off: the binaries go into minimal container images.
  CGO_ENABLED=0 gobuild "$d" "$BIN/etcd-$s" ./etcdmain
  CGO_ENABLED=0 gobuild "$d" "$BIN/etcdctl-$s" go.etcd.io/etcd/etcdctl/v3
  CGO_ENABLED=0 gobuild "$d" "$BIN/etcdutl-$s" go.etcd.io/etcd/etcdutl/v3
}
build_etcd "$ETCD35_VERSION" 3.5
build_etcd "$ETCD36_VERSION" 3.6

# -------------------------------------------------------- kube-apiserver ----
# `go install k8s.io/kubernetes/cmd/kube-apiserver@...` is refused (the module
# replaces its staging modules with folders of its own repository), so the
# project keeps a wrapper module whose go.mod points each of them at its
# published release. The Kubernetes version is the one its go.mod requires; the
# stamp also covers the module's files, so an edit there rebuilds.
KAS_DIR="$ROOT/tools/kube-apiserver"
KUBE_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$KAS_DIR/go.mod")"
[ -n "$KUBE_VERSION" ] || { log "no k8s.io/kubernetes version in $KAS_DIR/go.mod"; exit 1; }
kas_stamp="$KUBE_VERSION $(cat "$KAS_DIR/go.mod" "$KAS_DIR/go.sum" "$KAS_DIR/main.go" | sha256sum | cut -c1-16)"
if ! have_exec "$BIN/kube-apiserver" || [ "$(cat "$BIN/kube-apiserver.stamp" 2>/dev/null)" != "$kas_stamp" ]; then
  log "building kube-apiserver $KUBE_VERSION from $KAS_DIR (once per machine; about 5 min on 2 cores)"
  kv="${KUBE_VERSION#v}"; kmajor="${kv%%.*}"; kminor="${kv#*.}"; kminor="${kminor%%.*}"
  kdate="$(cd "$KAS_DIR" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
  kflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kflags="$kflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$kmajor -X $pkg.gitMinor=$kminor -X $pkg.gitTreeState=clean -X $pkg.gitCommit= ${kdate:+-X $pkg.buildDate=$kdate}"
  done
  CGO_ENABLED=0 gobuild "$KAS_DIR" "$BIN/kube-apiserver.tmp.$$" . "$kflags"
  mv "$BIN/kube-apiserver.tmp.$$" "$BIN/kube-apiserver"
  printf '%s\n' "$kas_stamp" > "$BIN/kube-apiserver.stamp"
fi

# ------------------------------------------------ @pulumi/command plugin ----
# The npm package @pulumi/command would download this plugin in its install
# script, which never runs here (.npmrc: ignore-scripts).
PULUMI="$PULUMI_BIN/pulumi"
command_plugin_installed() {
  # Fast path: the plugin's folder in Pulumi's plugin cache, complete (an
  # interrupted install leaves a .partial marker); else ask `pulumi plugin ls`.
  local d="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-command-v$COMMAND_PLUGIN_VERSION"
  { [ -x "$d/pulumi-resource-command" ] && [ ! -e "$d.partial" ]; } ||
    "$PULUMI" plugin ls 2>/dev/null | awk -v v="$COMMAND_PLUGIN_VERSION" '$1 == "command" && $2 == "resource" && $3 == v {f = 1} END {exit !f}'
}
if ! command_plugin_installed; then
  csrc="$VENDOR/pulumi-command-v$COMMAND_PLUGIN_VERSION/provider"
  log "installing the @pulumi/command plugin v$COMMAND_PLUGIN_VERSION: trying \`pulumi plugin install resource command v$COMMAND_PLUGIN_VERSION\` (20 s at most)"
  if timeout 20 "$PULUMI" plugin install resource command "v$COMMAND_PLUGIN_VERSION" >"$CACHE/build/command-plugin-download.log" 2>&1 && command_plugin_installed; then
    log "command plugin v$COMMAND_PLUGIN_VERSION: downloaded from Pulumi's plugin server"
  elif [ -f "$csrc/go.mod" ] && [ -d "$csrc/cmd/pulumi-resource-command" ]; then
    log "no download ($(grep -m1 -o 'no such host\|i/o timeout\|connection refused\|failed all [0-9]* attempts' "$CACHE/build/command-plugin-download.log" || echo "see $CACHE/build/command-plugin-download.log")); building it from the vendored source $csrc (once per machine; about 1.5 min on 2 cores)"
    out="$CACHE/build/pulumi-command"; mkdir -p "$out"
    cflags="-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_PLUGIN_VERSION"
    # The vendored folder may be read-only: go only reads it (go.sum is complete).
    # If go still wants to write there, build from a copy in the cache instead.
    if ! CGO_ENABLED=0 gobuild "$csrc" "$out/pulumi-resource-command" ./cmd/pulumi-resource-command "$cflags"; then
      log "building in place failed; building from a copy in $out/src"
      rm -rf "$out/src"; cp -r "$csrc" "$out/src"; chmod -R u+w "$out/src"
      GOFLAGS="$GOFLAGS -mod=mod" CGO_ENABLED=0 gobuild "$out/src" "$out/pulumi-resource-command" ./cmd/pulumi-resource-command "$cflags"
    fi
    "$PULUMI" plugin install resource command "v$COMMAND_PLUGIN_VERSION" --file "$out/pulumi-resource-command" >/dev/null 2>&1
    command_plugin_installed || { log "pulumi plugin install --file did not register command v$COMMAND_PLUGIN_VERSION"; exit 1; }
    log "command plugin v$COMMAND_PLUGIN_VERSION: built from the vendored source $csrc"
  else
    log "cannot install the @pulumi/command plugin v$COMMAND_PLUGIN_VERSION:"
    log "  - \`pulumi plugin install resource command v$COMMAND_PLUGIN_VERSION\` failed (no internet access?); its output is in $CACHE/build/command-plugin-download.log"
    log "  - and there is no vendored source at $csrc"
    log "Either set ETCD_STANDBY_VENDOR to a folder that holds pulumi-command-v$COMMAND_PLUGIN_VERSION/provider (the provider module of github.com/pulumi/pulumi-command at tag v$COMMAND_PLUGIN_VERSION),"
    log "or run this where get.pulumi.com is reachable (the \`pulumi plugin install\` above then works), or install the plugin into \$PULUMI_HOME by other means."
    exit 1
  fi
fi

log "ready: $("$PULUMI" version), etcd $("$BIN/etcd-3.5" --version | head -1 | awk '{print $3}') and $("$BIN/etcd-3.6" --version | head -1 | awk '{print $3}'), Debian $(etcd --version 2>/dev/null | head -1), kube-apiserver $KUBE_VERSION, command plugin v$COMMAND_PLUGIN_VERSION"
