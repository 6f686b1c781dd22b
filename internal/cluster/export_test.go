package cluster

// LargeCluster exposes the large-cluster generator to the external tests
// (scale_test.go).
var LargeCluster = largeCluster
