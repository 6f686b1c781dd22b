package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// RBACFile is meshdoctor's least-privilege RBAC, relative to the repository
// root; the environment applies it to every cluster, so the e2e suite proves
// that what the README documents is enough.
const RBACFile = "deploy/rbac.yaml"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// setUp installs the Istio CRDs, istio-system, deploy/rbac.yaml and istiod's
// reader account, and mints the reader's token.
func (e *Env) setUp(ctx context.Context, c *Cluster) error {
	if err := c.installCRDs(ctx, filepath.Join(e.root, "bin/istio-crds.yaml")); err != nil {
		return fmt.Errorf("%s: install Istio CRDs: %w", c.Name, err)
	}
	// The Gateway API CRDs (ambient scenarios), when hack/testbin.sh wrote them.
	if gw := filepath.Join(e.root, GatewayAPICRDs); fileExists(gw) {
		if err := c.installCRDs(ctx, gw); err != nil {
			return fmt.Errorf("%s: install Gateway API CRDs: %w", c.Name, err)
		}
		c.gatewayAPI = true
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}
	if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("%s: create istio-system: %w", c.Name, err)
	}
	rbac, err := os.ReadFile(filepath.Join(e.root, RBACFile))
	if err != nil {
		return err
	}
	objs, err := decodeTyped(rbac)
	if err != nil {
		return fmt.Errorf("%s: %w", RBACFile, err)
	}
	for _, o := range objs {
		if _, err := c.apply(ctx, o); err != nil {
			return fmt.Errorf("%s: apply %s: %w", c.Name, RBACFile, err)
		}
	}
	// The opt-in deploy/rbac.yaml documents (not bound there): the
	// metadata-only list of istio/multiCluster secrets in every namespace
	// (secrets.remote-namespace), bound as its comment says, so that the
	// unit tier's results hold on real API servers too.
	optIn := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "meshdoctor-secret-metadata"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "meshdoctor-secret-metadata"},
		Subjects:   []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "meshdoctor:readers"}},
	}
	if _, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, optIn, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("%s: bind meshdoctor-secret-metadata: %w", c.Name, err)
	}
	if err := c.setUpReader(ctx); err != nil {
		return fmt.Errorf("%s: istio reader: %w", c.Name, err)
	}
	return c.waitCRDs(ctx)
}

func (c *Cluster) installCRDs(ctx context.Context, path string) error {
	f, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(f), 64*1024)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("decode %s: %w", path, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if _, err := c.dyn.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create CRD %s: %w", u.GetName(), err)
		}
	}
}

// waitCRDs waits until networking.istio.io/v1 and security.istio.io/v1
// serve what meshdoctor reads (a scenario's objects are applied, and its
// traffic configuration listed, only once they are), and
// gateway.networking.k8s.io/v1 Gateways when installed.
func (c *Cluster) waitCRDs(ctx context.Context) error {
	want := map[string][]string{
		"networking.istio.io/v1": {"gateways", "serviceentries", "destinationrules", "virtualservices"},
		"security.istio.io/v1":   {"peerauthentications", "authorizationpolicies"},
	}
	if c.gatewayAPI {
		want["gateway.networking.k8s.io/v1"] = []string{"gateways"}
	}
	for {
		var err error
		served := true
		for gv, names := range want {
			var l *metav1.APIResourceList
			l, err = c.Admin.Discovery().ServerResourcesForGroupVersion(gv)
			if err != nil {
				served = false
				break
			}
			var have []string
			for _, r := range l.APIResources {
				have = append(have, r.Name)
			}
			for _, n := range names {
				served = served && slices.Contains(have, n)
			}
		}
		if served {
			c.mapper.Reset()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: Istio's networking/v1 and security/v1 not served (%v): %w", c.Name, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// setUpReader makes istiod's reader account in istio-system, the ClusterRole
// istiod needs in a remote cluster, and a token for remote secrets.
func (c *Cluster) setUpReader(ctx context.Context) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ReaderServiceAccount, Namespace: "istio-system"}}
	if _, err := c.Admin.CoreV1().ServiceAccounts("istio-system").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return err
	}
	read := []string{"get", "list", "watch"}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: IstioReaderRole},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "services", "endpoints", "namespaces", "nodes", "secrets", "configmaps", "serviceaccounts", "replicationcontrollers"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: read},
			{APIGroups: []string{"networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io"}, Resources: []string{"*"}, Verbs: read},
			// As the pinned istio-discovery chart's reader-clusterrole.yaml:
			// what istiod watches besides (secrets.remote-access reviews each).
			{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gateways"}, Verbs: read},
			{APIGroups: []string{"multicluster.x-k8s.io"}, Resources: []string{"serviceexports", "serviceimports"}, Verbs: read},
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		},
	}
	if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: IstioReaderRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: IstioReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: ReaderServiceAccount, Namespace: "istio-system"}},
	}
	if _, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return err
	}
	year := int64(365 * 24 * 3600)
	tr, err := c.Admin.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, ReaderServiceAccount,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &year}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token request: %w", err)
	}
	c.token = tr.Status.Token
	return nil
}

// BindClusterRole binds a ClusterRole to a user in every cluster (for tests
// of identities other than meshdoctor's).
func (e *Env) BindClusterRole(ctx context.Context, user, role string) error {
	for _, c := range e.Clusters {
		b := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role + ":" + user},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
		}
		_, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: bind %s to %s: %w", c.Name, role, user, err)
		}
	}
	return nil
}
