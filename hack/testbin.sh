#!/usr/bin/env bash
# testbin.sh builds the binaries of the integration tier into bin/ from the Go
# module proxy, only when they are missing or their pinned version changed:
#   bin/kube-apiserver  from hack/kube (k8s.io/kubernetes)
#   bin/etcd            from hack/etcd (go.etcd.io/etcd/server/v3)
#   bin/pilot-discovery from hack/istiod (istio.io/istio/pilot/cmd/pilot-discovery,
#                       istiod; about 7 minutes cold on 2 cores)
#   bin/istio-crds.yaml from istio.io/istio@$(cat hack/istio.version),
#                       manifests/charts/base/files/crd-all.gen.yaml
#   bin/istioctl        from hack/istiod (istio.io/istio/istioctl/cmd/istioctl),
#                       only when named: `hack/testbin.sh istioctl` (make
#                       fixtures). The tests read the rendered installs that
#                       are committed under testdata/installs, so neither
#                       `make test` nor CI builds it.
# With names as arguments, only those are built.
# A stamp file next to each (bin/.<name>.stamp) holds the hash of what pinned
# it; the Go build cache makes a forced rebuild of an unchanged pin quick.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin


# build NAME MODULE_DIR PACKAGE [LDFLAGS]
build() {
	local name=$1 dir=$2 pkg=$3 ldflags=${4:-}
	local want; want=$( (cat "$dir/go.mod" "$dir/go.sum"; echo "$ldflags") | sha256sum | cut -d' ' -f1)
	if [[ -x bin/$name && -f bin/.$name.stamp && "$(cat "bin/.$name.stamp")" == "$want" ]]; then
		echo "testbin: bin/$name is up to date"
		return
	fi
	echo "testbin: building bin/$name from $dir ($pkg)"
	local start=$SECONDS
	(cd "$dir" && go build -ldflags "$ldflags" -o "../../bin/$name.tmp" "$pkg")
	mv "bin/$name.tmp" "bin/$name"
	echo "$want" >"bin/.$name.stamp"
	echo "testbin: built bin/$name in $((SECONDS - start))s"
}

# want NAME: NAME was asked for (by default, everything but istioctl).
wanted=("$@")
if [[ ${#wanted[@]} -eq 0 ]]; then
	wanted=(kube-apiserver etcd pilot-discovery istio-crds)
fi
want() {
	local n
	for n in "${wanted[@]}"; do [[ $n == "$1" ]] && return 0; done
	return 1
}

# The version the API servers report (/version), as Kubernetes' own build
# stamps it; without it they say v0.0.0-master.
kver=$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' hack/kube/go.mod)
kminor=$(echo "$kver" | cut -d. -f2)
kpkg=k8s.io/component-base/version
if want kube-apiserver; then
	build kube-apiserver hack/kube k8s.io/kubernetes/cmd/kube-apiserver \
		"-X $kpkg.gitVersion=$kver -X $kpkg.gitMajor=1 -X $kpkg.gitMinor=$kminor -X $kpkg.gitTreeState=clean"
fi
want etcd && build etcd hack/etcd go.etcd.io/etcd/server/v3
want pilot-discovery && build pilot-discovery hack/istiod istio.io/istio/pilot/cmd/pilot-discovery
# istioctl shares most packages with pilot-discovery (same module, same
# build cache): 236 s after it on 2 busy cores; cold, a full Istio build.
want istioctl && build istioctl hack/istiod istio.io/istio/istioctl/cmd/istioctl
want istio-crds || exit 0

istio=$(tr -d '[:space:]' <hack/istio.version)
if [[ -f bin/istio-crds.yaml && -f bin/.istio-crds.stamp && "$(cat bin/.istio-crds.stamp)" == "$istio" ]]; then
	echo "testbin: bin/istio-crds.yaml is up to date"
else
	echo "testbin: fetching the Istio CRDs of istio.io/istio@$istio"
	dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "istio.io/istio@$istio" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [[ -z "$dir" || ! -f "$dir/manifests/charts/base/files/crd-all.gen.yaml" ]]; then
		echo "testbin: istio.io/istio@$istio has no manifests/charts/base/files/crd-all.gen.yaml" >&2
		exit 1
	fi
	{
		echo "# Istio CRDs from istio.io/istio@$istio manifests/charts/base/files/crd-all.gen.yaml (hack/testbin.sh)"
		cat "$dir/manifests/charts/base/files/crd-all.gen.yaml"
	} >bin/istio-crds.yaml
	echo "$istio" >bin/.istio-crds.stamp
	echo "testbin: wrote bin/istio-crds.yaml"
fi

# bin/gateway-api-crds.yaml: the Gateway API CRDs the pinned module tests
# with (tests/integration/pilot/testdata/gateway-api-crd.yaml), for the
# ambient scenarios (east-west Gateways of class istio-east-west, waypoints).
if [[ -f bin/gateway-api-crds.yaml && -f bin/.gateway-api-crds.stamp && "$(cat bin/.gateway-api-crds.stamp)" == "$istio" ]]; then
	echo "testbin: bin/gateway-api-crds.yaml is up to date"
else
	dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "istio.io/istio@$istio" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	src="$dir/tests/integration/pilot/testdata/gateway-api-crd.yaml"
	if [[ -z "$dir" || ! -f "$src" ]]; then
		echo "testbin: istio.io/istio@$istio has no tests/integration/pilot/testdata/gateway-api-crd.yaml" >&2
		exit 1
	fi
	{
		echo "# Gateway API CRDs from istio.io/istio@$istio tests/integration/pilot/testdata/gateway-api-crd.yaml (hack/testbin.sh)"
		cat "$src"
	} >bin/gateway-api-crds.yaml
	echo "$istio" >bin/.gateway-api-crds.stamp
	echo "testbin: wrote bin/gateway-api-crds.yaml"
fi
