#!/usr/bin/env bash
# Builds a real Kubernetes control plane for the tests from the Go module proxy: kube-apiserver
# and kube-scheduler (Kubernetes 1.36.3), the etcd that release pins, and kwok 0.8.0 as the
# kubelet of fake nodes (exec and logs run as local processes). About 12 minutes cold on two
# cores; the binaries are cached under ~/.cache/petrel-k8s/<versions>/ and the script returns at
# once when they are there. Prints the bin directory as its last line.
set -euo pipefail

K8S=v1.36.3
STAGING=v0${K8S#v1}          # the staging modules (k8s.io/api, …) are versioned v0.<minor>.<patch>
KWOK=v0.8.0
CACHE=${PETREL_K8S_CACHE:-$HOME/.cache/petrel-k8s}
BIN="$CACHE/$K8S-kwok-$KWOK"
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

if [ -f "$BIN/COMPLETE" ]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "build.sh: Go >= 1.26 is needed to build the Kubernetes test binaries" >&2; exit 1; }

# One build at a time: test files may ask concurrently.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$BIN/COMPLETE" ]; then echo "$BIN"; exit 0; fi

started=$(date +%s)
say() { echo "[k8s build] $* ($(( $(date +%s) - started )) s)" >&2; }
work=$(mktemp -d "$CACHE/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init petrel-k8s-testbin >/dev/null 2>&1

# k8s.io/kubernetes refers to its staging modules as ./staging/…: pin each to its release.
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod"); do
  go mod edit -replace="$m=$m@$STAGING"
done
cmds="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler"
for c in $cmds; do go get -tool "$c@$K8S" 2>/dev/null; done
etcd=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
go get -tool "go.etcd.io/etcd/server/v3@$etcd" 2>/dev/null
say "modules resolved (etcd $etcd)"

minor=$(echo "$K8S" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=1"
ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
mkdir -p out
go build -trimpath -ldflags "$ldflags" -o out/ $cmds go.etcd.io/etcd/server/v3
mv out/server out/etcd       # go names the etcd command after its package directory
say "kube-apiserver, kube-scheduler, etcd built"

GOBIN="$work/out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
moddir=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK
mkdir -p out/kwok-stages out/kwok-crds
cp -r "$moddir/kustomize/stage/node" "$moddir/kustomize/stage/pod" out/kwok-stages/
cp "$moddir"/kustomize/crd/bases/*.yaml out/kwok-crds/
chmod -R u+w out
say "kwok built"

rm -rf "$BIN"
mv out "$BIN"
echo "$K8S etcd-$etcd kwok-$KWOK" > "$BIN/COMPLETE"
echo "$BIN"
