# Integration tier (internal/testenv, e2e/): include from the Makefile with
#   include hack/testenv.mk

SCENARIO ?= healthy-multi-primary
CLUSTERS ?=

.PHONY: testbin e2e playground

## testbin: build bin/kube-apiserver, kubectl, etcd, pilot-discovery, prometheus and promtool from the Go module proxy and fetch the Istio CRDs (only when missing or re-pinned)
testbin:
	bash hack/testbin.sh

## e2e: the real meshdoctor binary against real API servers, every scenario, audit/dead-cluster/forbidden tests
e2e: testbin
	go test -count=1 ./internal/testenv/ ./e2e/

## playground: bring up SCENARIO on real API servers (CLUSTERS= for more) and print KUBECONFIG=; Ctrl-C tears down
playground: testbin
	go build -o bin/playground ./hack/playground
	./bin/playground -scenario '$(SCENARIO)' $(if $(CLUSTERS),-clusters $(CLUSTERS))
