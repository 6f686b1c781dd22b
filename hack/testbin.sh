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
#   bin/kubectl         from hack/kube (k8s.io/kubernetes/cmd/kubectl): the
#                       krew plugin test (kubectl meshdoctor ...)
#   bin/prometheus,     from hack/prometheus (github.com/prometheus/prometheus,
#   bin/promtool        without service discovery but static/file): the serve
#                       e2e and the alerting-rule unit tests
#   bin/goreleaser,     from hack/goreleaser, only when named (make
#   bin/cyclonedx-gomod release-check, make release-snapshot)
# With names as arguments, only those are built.
# A stamp file next to each (bin/.<name>.stamp) holds the hash of what pinned
# it; the Go build cache makes a forced rebuild of an unchanged pin quick.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin


# build NAME MODULE_DIR PACKAGE [LDFLAGS] [TAGS]
build() {
	local name=$1 dir=$2 pkg=$3 ldflags=${4:-} tags=${5:-}
	local want; want=$( (cat "$dir/go.mod" "$dir/go.sum"; echo "$ldflags"; [[ -z $tags ]] || echo "tags $tags") | sha256sum | cut -d' ' -f1)
	if [[ -x bin/$name && -f bin/.$name.stamp && "$(cat "bin/.$name.stamp")" == "$want" ]]; then
		echo "testbin: bin/$name is up to date"
		return
	fi
	echo "testbin: building bin/$name from $dir ($pkg)"
	local start=$SECONDS
	(cd "$dir" && go build -tags "$tags" -ldflags "$ldflags" -o "../../bin/$name.tmp" "$pkg")
	mv "bin/$name.tmp" "bin/$name"
	echo "$want" >"bin/.$name.stamp"
	echo "testbin: built bin/$name in $((SECONDS - start))s"
}

# want NAME: NAME was asked for (by default, everything but istioctl,
# goreleaser and cyclonedx-gomod).
wanted=("$@")
if [[ ${#wanted[@]} -eq 0 ]]; then
	wanted=(kube-apiserver kubectl etcd pilot-discovery prometheus promtool istio-crds)
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
# kubectl, same module and version stamps: the krew plugin test runs
# `kubectl meshdoctor version` through kubectl's own plugin lookup.
if want kubectl; then
	build kubectl hack/kube k8s.io/kubernetes/cmd/kubectl \
		"-X $kpkg.gitVersion=$kver -X $kpkg.gitMajor=1 -X $kpkg.gitMinor=$kminor -X $kpkg.gitTreeState=clean"
fi
want etcd && build etcd hack/etcd go.etcd.io/etcd/server/v3
want pilot-discovery && build pilot-discovery hack/istiod istio.io/istio/pilot/cmd/pilot-discovery
# istioctl shares most packages with pilot-discovery (same module, same
# build cache): 236 s after it on 2 busy cores; cold, a full Istio build.
want istioctl && build istioctl hack/istiod istio.io/istio/istioctl/cmd/istioctl
# Prometheus's server and promtool (hack/prometheus): the serve e2e scrapes
# meshdoctor with the real server; the alerting rules are unit-tested with
# `promtool test rules`. remove_all_sd leaves out every service discovery but
# static and file (Prometheus's own build tag, plugins/*.go): the cloud SDKs
# are most of a full build, and the tests scrape a static target.
# Its module versions are v0.3MM.P for Prometheus 3.MM.P.
pmod=$(sed -n 's/^require github.com\/prometheus\/prometheus v0\.\([0-9]*\.[0-9]*\)$/\1/p' hack/prometheus/go.mod)
pver=3.$((${pmod%%.*} - 300)).${pmod#*.}
ppkg=github.com/prometheus/common/version
want prometheus && build prometheus hack/prometheus github.com/prometheus/prometheus/cmd/prometheus \
	"-X $ppkg.Version=$pver -X $ppkg.Branch=module" remove_all_sd
want promtool && build promtool hack/prometheus github.com/prometheus/prometheus/cmd/promtool \
	"-X $ppkg.Version=$pver -X $ppkg.Branch=module" remove_all_sd
# GoReleaser and cyclonedx-gomod (hack/goreleaser), only when named:
# `make release-check` and `make release-snapshot` build them.
grver=$(sed -n 's/^\tgithub.com\/goreleaser\/goreleaser\/v2 \(v[0-9.]*\)$/\1/p' hack/goreleaser/go.mod)
want goreleaser && build goreleaser hack/goreleaser github.com/goreleaser/goreleaser/v2 \
	"-X main.version=$grver -X main.builtBy=meshdoctor-testbin"
want cyclonedx-gomod && build cyclonedx-gomod hack/goreleaser github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod
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
