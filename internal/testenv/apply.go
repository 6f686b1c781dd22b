package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// objectRef names an applied object, for Reset.
type objectRef struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
}

// Apply creates a scenario's objects in the clusters of the same names:
// namespaces first (an existing namespace gets the scenario's labels and
// annotations), then the rest; an object with a status (Deployment ready
// replicas, LoadBalancer ingress) then gets it through the status
// subresource, which a create ignores.
func (e *Env) Apply(ctx context.Context, sc *scenario.Scenario) error {
	for _, name := range sc.Clusters {
		c := e.Cluster(name)
		if c == nil {
			return fmt.Errorf("scenario %s needs cluster %s; the environment has %d clusters", sc.Name, name, len(e.Clusters))
		}
		objs := sc.Objects[name]
		var first, crds, rest []runtime.Object
		for _, o := range objs {
			switch {
			case isNamespace(o):
				first = append(first, o)
			case isCRD(o):
				crds = append(crds, o)
			default:
				rest = append(rest, o)
			}
		}
		// A scenario's own CRDs (Admiral's) are served before the objects
		// of their kinds are made.
		if len(crds) > 0 {
			first = append(first, crds...)
			rest = append([]runtime.Object{crdsServed{}}, rest...)
		}
		for _, o := range append(first, rest...) {
			if _, ok := o.(crdsServed); ok {
				if err := c.waitServed(ctx, crds); err != nil {
					return fmt.Errorf("scenario %s cluster %s: %w", sc.Name, name, err)
				}
				continue
			}
			ref, existed, err := c.applyObject(ctx, o)
			if err != nil {
				return fmt.Errorf("scenario %s cluster %s: %w", sc.Name, name, err)
			}
			if existed && !isNamespace(o) {
				// The environment's own (setUp: istiod's reader account and
				// role, which a rendered install holds too): Reset must not
				// delete it, or the tokens minted for it stop working.
				continue
			}
			c.mu.Lock()
			c.applied = append(c.applied, ref)
			c.mu.Unlock()
			if isNamespace(o) {
				if err := c.bindExec(ctx, ref.name); err != nil {
					return fmt.Errorf("scenario %s cluster %s: %w", sc.Name, name, err)
				}
			}
		}
	}
	return nil
}

// ExecClusterRole is deploy/rbac.yaml's ClusterRole for pods/exec and
// pods/portforward, which it binds in istio-system only.
const ExecClusterRole = "meshdoctor-exec"

// bindExec does in a scenario namespace what deploy/rbac.yaml tells users to
// do in each namespace with probe pods or a --proxy sidecar:
//
//	kubectl -n NAMESPACE create rolebinding meshdoctor-exec --clusterrole=meshdoctor-exec --group=meshdoctor:readers
//
// The binding stays with the namespace across Reset.
func (c *Cluster) bindExec(ctx context.Context, namespace string) error {
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ExecClusterRole, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ExecClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: MeshdoctorGroup}},
	}
	_, err := c.Admin.RbacV1().RoleBindings(namespace).Create(ctx, rb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind %s in %s: %w", ExecClusterRole, namespace, err)
	}
	return nil
}

func isCRD(o runtime.Object) bool {
	gvk, err := kindOf(o)
	return err == nil && gvk.Group == crdGVR.Group && gvk.Kind == "CustomResourceDefinition"
}

// crdsServed marks, in Apply's object order, where the scenario's CRDs must
// be served.
type crdsServed struct{ runtime.Object }

// waitServed waits until the API server serves every CRD's plural in its
// group and version, then refreshes the REST mapper.
func (c *Cluster) waitServed(ctx context.Context, crds []runtime.Object) error {
	for _, o := range crds {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("CRD %T is not unstructured", o)
		}
		group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
		if len(versions) == 0 {
			return fmt.Errorf("CRD %s has no versions", u.GetName())
		}
		v, _ := versions[0].(map[string]any)["name"].(string)
		for {
			l, err := c.Admin.Discovery().ServerResourcesForGroupVersion(group + "/" + v)
			if err == nil && slices.ContainsFunc(l.APIResources, func(r metav1.APIResource) bool { return r.Name == plural }) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: CRD %s not served (%v): %w", c.Name, u.GetName(), err, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	c.mapper.Reset()
	return nil
}

// waitGone waits until a deleted CRD is gone, so that the next scenario can
// make it again (deleting a CRD first deletes its objects).
func (c *Cluster) waitGone(ctx context.Context, name string) error {
	for {
		_, err := c.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			c.mapper.Reset()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: CRD %s not deleted (%v): %w", c.Name, name, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isNamespace(o runtime.Object) bool {
	gvk, err := kindOf(o)
	return err == nil && gvk.Group == "" && gvk.Kind == "Namespace"
}

var (
	scheme       = scenario.Scheme()
	deserializer = serializer.NewCodecFactory(scheme).UniversalDeserializer()
)

func kindOf(o runtime.Object) (schema.GroupVersionKind, error) {
	if gvk := o.GetObjectKind().GroupVersionKind(); gvk.Kind != "" {
		return gvk, nil
	}
	gvks, _, err := scheme.ObjectKinds(o)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	return gvks[0], nil
}

// decodeTyped decodes multi-document YAML into typed objects.
func decodeTyped(data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := deserializer.Decode(doc, nil, nil)
		if err != nil {
			if runtime.IsMissingKind(err) {
				continue // a document of comments only
			}
			return nil, err
		}
		out = append(out, obj)
	}
}

// apply creates (or, if it exists, replaces) one object and sets its status.
func (c *Cluster) apply(ctx context.Context, o runtime.Object) (objectRef, error) {
	ref, _, err := c.applyObject(ctx, o)
	return ref, err
}

// applyObject is apply that also says whether the object existed before.
func (c *Cluster) applyObject(ctx context.Context, o runtime.Object) (objectRef, bool, error) {
	gvk, err := kindOf(o)
	if err != nil {
		return objectRef{}, false, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return objectRef{}, false, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return objectRef{}, false, fmt.Errorf("map %s: %w", gvk, err)
	}
	ref := objectRef{gvr: mapping.Resource, name: u.GetName()}
	var r dynamic.ResourceInterface = c.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if u.GetNamespace() == "" {
			u.SetNamespace("default")
		}
		ref.namespace = u.GetNamespace()
		r = c.dyn.Resource(mapping.Resource).Namespace(ref.namespace)
	}
	status := u.Object["status"]
	delete(u.Object, "status")
	what := fmt.Sprintf("%s %s/%s", gvk.Kind, ref.namespace, ref.name)
	created, err := r.Create(ctx, u, metav1.CreateOptions{FieldManager: "testenv"})
	existed := apierrors.IsAlreadyExists(err)
	if existed {
		cur, gerr := r.Get(ctx, u.GetName(), metav1.GetOptions{})
		if gerr != nil {
			return ref, existed, fmt.Errorf("get %s: %w", what, gerr)
		}
		u.SetResourceVersion(cur.GetResourceVersion())
		created, err = r.Update(ctx, u, metav1.UpdateOptions{FieldManager: "testenv"})
	}
	if err != nil {
		return ref, existed, fmt.Errorf("create %s: %w", what, err)
	}
	if !isEmpty(status) {
		if st, ok := status.(map[string]any); ok && gvk.Kind == "Pod" {
			// The API server computes a pod's qosClass from its containers'
			// resources on create, and refuses to change it after: keep its
			// value, not the fixture's (a pod of a rendered install without
			// resources is BestEffort on the server, whatever its status said).
			if q, found, _ := unstructured.NestedString(created.Object, "status", "qosClass"); found {
				st["qosClass"] = q
			}
		}
		created.Object["status"] = status
		if _, err := r.UpdateStatus(ctx, created, metav1.UpdateOptions{FieldManager: "testenv"}); err != nil {
			return ref, existed, fmt.Errorf("update status of %s: %w", what, err)
		}
	}
	return ref, existed, nil
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, x := range v {
			if !isEmpty(x) {
				return false
			}
		}
		return true
	case []any:
		return len(v) == 0
	case string:
		return v == ""
	}
	return false
}

// Reset deletes what Apply created, so that the next scenario starts from
// the set-up state. Namespaces stay (no namespace controller runs to
// finalize a deletion) with their labels and annotations cleared.
func (e *Env) Reset(ctx context.Context) error {
	for _, c := range e.Clusters {
		c.mu.Lock()
		applied := c.applied
		c.applied = nil
		c.mu.Unlock()
		for i := len(applied) - 1; i >= 0; i-- {
			ref := applied[i]
			if ref.gvr.Group == "" && ref.gvr.Resource == "namespaces" {
				patch := []byte(`{"metadata":{"labels":null,"annotations":null}}`)
				_, err := c.dyn.Resource(ref.gvr).Patch(ctx, ref.name, "application/merge-patch+json", patch, metav1.PatchOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					return fmt.Errorf("%s: clear namespace %s: %w", c.Name, ref.name, err)
				}
				continue
			}
			var r dynamic.ResourceInterface = c.dyn.Resource(ref.gvr)
			if ref.namespace != "" {
				r = c.dyn.Resource(ref.gvr).Namespace(ref.namespace)
			}
			zero := int64(0)
			err := r.Delete(ctx, ref.name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s: delete %s %s/%s: %w", c.Name, ref.gvr.Resource, ref.namespace, ref.name, err)
			}
			if ref.gvr == crdGVR {
				if err := c.waitGone(ctx, ref.name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
