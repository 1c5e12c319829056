#!/usr/bin/env bash
# Idempotent bootstrap: installs every real component etcd-standby needs on a
# fresh Debian bookworm machine, and is quick when everything is already there.
#
#   - Debian packages: etcd-server, etcd-client (3.4), openssh-server, docker.io,
#     iproute2, openssl, busybox-static, socat
#   - Pulumi CLI (built from github.com/pulumi/pulumi/pkg/v3 at $PULUMI_VERSION)
#   - pulumi-language-nodejs (built from github.com/pulumi/pulumi/sdk/v3 at
#     $PULUMI_NODEJS_HOST_VERSION, the newest sdk module that still carries it)
#   - etcd 3.5.x and 3.6.x (server, etcdctl, etcdutl) from the go.etcd.io modules
#
# Everything built goes to a cache outside the repo ($ETCD_STANDBY_CACHE,
# default ~/.cache/etcd-standby) so a machine builds each piece once.
# Prints `export PATH=...` lines with --print-env.
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-v3.259.0}"
PULUMI_NODEJS_HOST_VERSION="${PULUMI_NODEJS_HOST_VERSION:-v3.68.0}"
ETCD35_VERSION="${ETCD35_VERSION:-v3.5.17}"
ETCD36_VERSION="${ETCD36_VERSION:-v3.6.16}"
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
for p in etcd-server etcd-client openssh-server docker.io iproute2 openssl busybox-static socat procps psmisc; do
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

log "ready: $("$PULUMI_BIN/pulumi" version), etcd $("$BIN/etcd-3.5" --version | head -1 | awk '{print $3}') and $("$BIN/etcd-3.6" --version | head -1 | awk '{print $3}'), Debian $(etcd --version 2>/dev/null | head -1)"
