#!/usr/bin/env bash
# Builds the real control plane the tests run beside the sandbox: kube-apiserver,
# kube-controller-manager and kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3
# (versions pinned in tools/controlplane/go.mod), and fetches the Prometheus Operator CRDs from
# its Go module. Everything lands in $CONTROLPLANE_DIR (default .controlplane, git-ignored) and is
# reused until tools/controlplane or this script changes. Needs Go >= 1.24 and the module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${CONTROLPLANE_DIR:-$root/.controlplane}
tools=$root/tools/controlplane
prometheus_operator=github.com/prometheus-operator/prometheus-operator@v0.85.0
binaries=(kube-apiserver kube-controller-manager kubectl etcd)

if ! command -v go >/dev/null 2>&1; then
  echo "controlplane: Go is not installed (need Go >= 1.24 to build kube-apiserver and etcd)" >&2
  # Outside CI the real-world tests then skip loudly; under CI=true a missing toolchain fails.
  case ${CI:-} in 1|true|yes) exit 1 ;; *) exit 0 ;; esac
fi
stamp=$(cat "$tools/go.mod" "$tools/go.sum" "$tools/etcd/main.go" "$0" | sha256sum | cut -c1-16)
stamp=$stamp-$(go env GOVERSION)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] \
  && for b in "${binaries[@]}"; do [ -x "$out/bin/$b" ] || exit 1; done; then
  exit 0
fi

echo "controlplane: building ${binaries[*]} into $out/bin (first build: ~10-15 min on 2 cores)"
start=$(date +%s)
mkdir -p "$out/bin" "$out/crds"
rm -f "$out/stamp"
# The version the binaries report (kubectl version, /version, skew checks), as Kubernetes' own
# build stamps it (hack/lib/version.sh); without it they say v0.0.0-master.
version=$(cd "$tools" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
case $version in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "controlplane: no k8s.io/kubernetes version" >&2; exit 1 ;; esac
major=${version#v}; minor=${major#*.}; major=${major%%.*}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done
(
  cd "$tools"
  go build -trimpath -ldflags="$ldflags" -o "$out/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl \
    ./etcd
  dir=$(go mod download -json "$prometheus_operator" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  for kind in servicemonitors prometheusrules; do
    cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$out/crds/"
  done
)
chmod u+w "$out/crds/"*
echo "$stamp" > "$out/stamp"
echo "controlplane: built in $(( $(date +%s) - start )) s:" \
  "$(cd "$out/bin" && for b in "${binaries[@]}"; do printf '%s %s; ' "$b" "$(du -h "$b" | cut -f1)"; done)"
