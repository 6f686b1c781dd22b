package checks

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/pki"
)

// ExpiryWarning is how close to expiry a CA certificate warns.
const ExpiryWarning = 30 * 24 * time.Hour

var trustChecks = []Check{
	{ID: "trust.cacerts-present", Title: "cacerts holds a complete plugged-in CA bundle", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResSecrets}, Cluster: cacertsPresent},
	{ID: "trust.cacerts-valid", Title: "cacerts parses, chains to its root, key matches, CA flags set", Scope: PerCluster,
		DependsOn: []string{"trust.cacerts-present"}, Needs: []string{cluster.ResSecrets}, Cluster: cacertsValid},
	{ID: "trust.cacerts-expiry", Title: "CA certificates are not expired nor expiring within 30 days", Scope: PerCluster,
		DependsOn: []string{"trust.cacerts-valid"}, Needs: []string{cluster.ResSecrets}, Cluster: cacertsExpiry},
	{ID: "trust.root-match", Title: "all clusters share one root CA", Scope: Mesh,
		DependsOn: []string{"trust.cacerts-valid"}, Mesh: rootMatch},
	{ID: "trust.istiod-uses-cacerts", Title: "the root istiod distributes (istio-ca-root-cert) is the cacerts root", Scope: PerCluster,
		DependsOn: []string{"trust.cacerts-valid"}, Needs: []string{cluster.ResConfigMaps}, Cluster: istiodUsesCacerts},
}

// bundle is a parsed cacerts.
type bundle struct {
	caCert *x509.Certificate
	chain  []*x509.Certificate // cert-chain.pem
	roots  []*x509.Certificate // root-cert.pem (several during a rotation)
}

func parseBundle(b *cluster.CABundle) (*bundle, []string) {
	var problems []string
	out := &bundle{}
	f := filesOf(b)
	caName, chainName, rootName := f.cert, f.chain, f.root
	bad := func(key string, err error) {
		p := fmt.Sprintf("key %s does not parse: %v", key, err)
		if !slices.Contains(problems, p) {
			problems = append(problems, p)
		}
	}
	if certs, err := pki.ParseCerts(b.CACert); err != nil {
		bad(caName, err)
	} else {
		out.caCert = certs[0]
	}
	if certs, err := pki.ParseCerts(b.CertChain); err != nil {
		bad(chainName, err)
	} else {
		out.chain = certs
	}
	if certs, err := pki.ParseCerts(b.Root); err != nil {
		bad(rootName, err)
	} else {
		out.roots = certs
	}
	return out, problems
}

// parseError is the result about a ConfigMap or secret that does not
// parse: an error (meshdoctor could not read what it checks), naming the
// object, the key and the parse error, never a default or a verdict.
func parseError(remedy, format string, a ...any) Result {
	return Result{Status: Error, Message: fmt.Sprintf(format, a...), Remediation: remedy}
}

// cacertsFiles are the data keys istiod reads for each part of a cacerts
// bundle, in its layout (pilot/pkg/bootstrap/istio_ca.go
// detectSigningCABundleAndCRL): the istio layout, or cert-manager's
// kubernetes.io/tls layout when tls.crt exists, whose chain is tls.crt
// followed by ca.crt.
type cacertsFiles struct{ cert, key, chain, root string }

func filesOf(b *cluster.CABundle) cacertsFiles {
	if b != nil && b.Form == "tls" {
		return cacertsFiles{cert: "tls.crt", key: "tls.key", chain: "tls.crt", root: "ca.crt"}
	}
	return cacertsFiles{cert: "ca-cert.pem", key: "ca-key.pem", chain: "cert-chain.pem", root: "root-cert.pem"}
}

// field reads one key of the cacerts secret of a cluster.
func (f cacertsFiles) field(c *mesh.Cluster, key string) string {
	return fmt.Sprintf("%s -n istio-system get secret cacerts -o jsonpath='{.data.%s}' | base64 -d", kc(c.Name), strings.ReplaceAll(key, ".", `\.`))
}

// create replaces a cluster's cacerts with the files of dir (as
// Makefile.selfsigned.mk writes them), in the layout the secret has: the
// type of a Secret cannot change, so applying an Opaque cacerts over a
// kubernetes.io/tls one is refused.
func (f cacertsFiles) create(c *mesh.Cluster, dir string) string {
	if f.cert == "tls.crt" {
		return fmt.Sprintf("%s -n istio-system create secret generic cacerts --type=kubernetes.io/tls --from-file=tls.crt=%sca-cert.pem --from-file=tls.key=%sca-key.pem --from-file=ca.crt=%sroot-cert.pem --dry-run=client -o yaml | %s apply -f -", kc(c.Name), dir, dir, dir, kc(c.Name))
	}
	return fmt.Sprintf("%s -n istio-system create secret generic cacerts --from-file=%sca-cert.pem --from-file=%sca-key.pem --from-file=%sroot-cert.pem --from-file=%scert-chain.pem --dry-run=client -o yaml | %s apply -f -", kc(c.Name), dir, dir, dir, dir, kc(c.Name))
}

// tlsNote is what a fix of a cert-manager cacerts adds.
func (f cacertsFiles) note(note string) string {
	if f.cert == "tls.crt" {
		return note + "; when cert-manager manages cacerts (annotation cert-manager.io/certificate-name), fix its Certificate and issuer instead, or it overwrites the secret"
	}
	return note
}

// primaryOnly returns a skip result for clusters whose CA is not their own.
func primaryOnly(c *mesh.Cluster) []Result {
	if c.Role != mesh.Primary {
		return []Result{skipf("not applicable: %s cluster, its workload certificates come from a primary's istiod", c.Role)}
	}
	return nil
}

func cacertsPresent(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	if r := primaryOnly(c); r != nil {
		return r
	}
	b := c.Inv.CACerts
	files := filesOf(b)
	fix := files.create(c, "") + "\n" + kc(c.Name) + " -n istio-system rollout restart deploy/istiod"
	note := files.note(fmt.Sprintf("run it in the directory that holds %s's intermediate CA, issued from the mesh's one root (Istio release: make -f tools/certs/Makefile.selfsigned.mk %s-cacerts writes them to %s/)", c.Name, c.Name, c.Name))
	if b == nil {
		r := noted(failf(fix, "no cacerts secret in istio-system: istiod is not using a plugged-in CA"), note)
		if s := c.Inv.IstioCASecret; s != nil {
			r.Message = "no cacerts secret: istiod is not using cacerts, it signs with its self-signed istio-ca-secret (a different root in every cluster)"
			if roots, err := pki.ParseCerts(firstNonEmpty(s.Root, s.CACert)); err == nil {
				r.Evidence = append(r.Evidence, Ev("istio-ca-secret root", pki.Describe(roots[0])))
			}
		}
		return []Result{r}
	}
	want := []string{files.cert, files.key, files.chain, files.root}
	slices.Sort(want)
	want = slices.Compact(want)
	var missing []string
	for _, k := range want {
		if !slices.Contains(b.Keys, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		r := noted(failf(fix, "cacerts is incomplete, missing %s: istiod fails with \"incomplete signing CA bundle\"", strings.Join(missing, ", ")), note)
		return []Result{with(r, Ev("keys", strings.Join(b.Keys, ", ")), Ev("form", b.Form))}
	}
	return []Result{pass(fmt.Sprintf("cacerts present (%s form)", b.Form), Ev("keys", strings.Join(b.Keys, ", ")))}
}

func cacertsValid(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	if r := primaryOnly(c); r != nil {
		return r
	}
	files := filesOf(c.Inv.CACerts)
	inspect := files.field(c, files.cert) + " | openssl x509 -noout -text"
	bu, problems := parseBundle(c.Inv.CACerts)
	if len(problems) > 0 {
		var ev []Evidence
		for _, d := range c.Inv.CACerts.Dropped {
			ev = append(ev, Ev("in the secret", d))
		}
		return []Result{with(parseError(inspect, "secret istio-system/cacerts %s", strings.Join(problems, "; ")), ev...)}
	}
	ev := []Evidence{Ev("ca-cert", pki.Describe(bu.caCert)), Ev("issuer", bu.caCert.Issuer.String())}
	for _, r := range bu.roots {
		ev = append(ev, Ev("root", pki.Describe(r)))
	}
	if !bu.caCert.IsCA || !bu.caCert.BasicConstraintsValid {
		return []Result{with(failf(inspect, "ca-cert is not a CA certificate (basic constraints CA:FALSE or absent): istiod cannot sign with it"), ev...)}
	}
	if bu.caCert.KeyUsage != 0 && bu.caCert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return []Result{with(failf(inspect, "ca-cert's key usage lacks certSign"), ev...)}
	}
	switch kc := c.Inv.CACerts.KeyCheck; {
	case kc == "mismatch":
		return []Result{with(failf(inspect, "ca-key does not match ca-cert: the key belongs to another certificate"), ev...)}
	case kc == "missing":
		return []Result{with(failf(inspect, "%s is empty: istiod has no key to sign with", files.key), ev...)}
	case kc != "match":
		return []Result{with(parseError(inspect, "secret istio-system/cacerts key %s does not parse: %s", files.key, strings.TrimPrefix(kc, "invalid: ")), ev...)}
	}
	if err := verifyChain(bu); err != nil {
		field := func(k string) string { return "<(" + files.field(c, k) + ")" }
		return []Result{with(failf(inspect+"\nopenssl verify -CAfile "+field(files.root)+" -untrusted "+field(files.chain)+" "+field(files.cert),
			"ca-cert does not chain to root-cert: %v", err), ev...)}
	}
	if d := c.Inv.CACerts.Dropped; len(d) > 0 {
		// Only CERTIFICATE blocks were read (cluster.caBundle); what else
		// the fields held is named by PEM type, never copied.
		for _, s := range d {
			ev = append(ev, Ev("also in the secret", s))
		}
		return []Result{with(warnf(inspect, "ca-cert chains to root-cert and the key matches, but %s: keep the key in its own file (a certificate file gets copied and shared)", d[0]), ev...)}
	}
	return []Result{pass("ca-cert chains to root-cert, key matches, CA flags set", ev...)}
}

// verifyChain checks that ca-cert's signatures lead, through the chain
// file, to one of the roots. Signatures only: validity periods are the
// expiry check's business, so an expired intermediate is reported there
// and not as a broken chain.
func verifyChain(b *bundle) error {
	cur := b.caCert
	pool := append(append([]*x509.Certificate{}, b.chain...), b.roots...)
	for depth := 0; depth < 10; depth++ {
		for _, r := range b.roots {
			if cur.Equal(r) || cur.CheckSignatureFrom(r) == nil {
				return nil
			}
		}
		var next *x509.Certificate
		for _, c := range pool {
			if !c.Equal(cur) && c.IsCA && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			return fmt.Errorf("no certificate in cert-chain.pem or root-cert.pem signed %q (issuer %q)", cur.Subject, cur.Issuer)
		}
		cur = next
	}
	return errors.New("chain longer than 10 certificates")
}

func cacertsExpiry(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if r := primaryOnly(c); r != nil {
		return r
	}
	bu, _ := parseBundle(c.Inv.CACerts)
	certs := append([]*x509.Certificate{bu.caCert}, bu.chain...)
	certs = append(certs, bu.roots...)
	seen := map[string]bool{}
	var expired, soon []string
	var ev []Evidence
	earliest := time.Time{}
	for _, x := range certs {
		fp := pki.Fingerprint(x)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		ev = append(ev, Ev(x.Subject.String(), "expires "+x.NotAfter.UTC().Format(time.RFC3339)))
		if earliest.IsZero() || x.NotAfter.Before(earliest) {
			earliest = x.NotAfter
		}
		switch {
		case env.Now.After(x.NotAfter):
			expired = append(expired, fmt.Sprintf("%s expired %s", x.Subject.String(), x.NotAfter.UTC().Format(time.RFC3339)))
		case x.NotAfter.Sub(env.Now) < ExpiryWarning:
			soon = append(soon, fmt.Sprintf("%s expires %s", x.Subject.String(), x.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	files := filesOf(c.Inv.CACerts)
	fix := files.field(c, files.cert) + " | openssl x509 -noout -subject -enddate"
	note := files.note("rotate the plugged-in CA: issue a new intermediate from the root, replace cacerts, then restart istiod")
	if len(expired) > 0 {
		return []Result{with(noted(failf(fix, "expired CA certificate: %s", strings.Join(expired, "; ")), note), ev...)}
	}
	if len(soon) > 0 {
		return []Result{with(noted(warnf(fix, "CA certificate expires within 30 days: %s", strings.Join(soon, "; ")), note), ev...)}
	}
	return []Result{pass(fmt.Sprintf("CA certificates valid until %s", earliest.UTC().Format("2006-01-02")), ev...)}
}

// rootSet returns the sorted root fingerprints of a primary's cacerts.
func rootSet(c *mesh.Cluster) []string {
	bu, _ := parseBundle(c.Inv.CACerts)
	fps := pki.FingerprintSet(bu.roots)
	slices.Sort(fps)
	return slices.Compact(fps)
}

func rootMatch(_ context.Context, env *Env) []Result {
	type member struct {
		name string
		fps  []string
	}
	var ms []member
	var ev []Evidence
	for _, c := range env.Mesh.Primaries() {
		fps := rootSet(c)
		ms = append(ms, member{c.Name, fps})
		ev = append(ev, Ev(c.Name+" root sha256", pki.JoinShort(fps)))
	}
	if len(ms) < 2 {
		// One primary: its remotes use its CA, so there is one root by
		// construction, but nothing was compared.
		return []Result{with(tooFew("primaries", len(ms)), ev...)}
	}
	// One new root, then per primary an intermediate from it in cacerts
	// and an istiod restart (Istio release tools/certs, the
	// plugin-ca-cert task).
	fix := []string{"make -f tools/certs/Makefile.selfsigned.mk root-ca"}
	var show []string
	for _, c := range env.Mesh.Primaries() {
		files := filesOf(c.Inv.CACerts)
		fix = append(fix, fmt.Sprintf("make -f tools/certs/Makefile.selfsigned.mk %s", shellQuote(c.Name+"-cacerts")),
			files.create(c, shellQuote(c.Name+"/")),
			kc(c.Name)+" -n istio-system rollout restart deploy/istiod")
		show = append(show, files.field(c, files.root)+" | openssl x509 -noout -fingerprint -sha256")
	}
	const fixNote = "run it from the Istio release directory: it makes one new root and plugs an intermediate from it into every primary; to keep an existing root instead, issue the intermediates from that one. Restart the workloads afterwards so they get certificates of the new root"
	var disjoint, differ []string
	for i := 1; i < len(ms); i++ {
		a, b := ms[0], ms[i]
		if slices.Equal(a.fps, b.fps) {
			continue
		}
		if intersects(a.fps, b.fps) {
			differ = append(differ, a.name+"/"+b.name)
		} else {
			disjoint = append(disjoint, a.name+"/"+b.name)
		}
	}
	if len(disjoint) > 0 {
		return []Result{with(noted(failf(strings.Join(fix, "\n"), "clusters trust different roots (%s): mTLS between them fails with certificate verify errors", strings.Join(disjoint, ", ")), fixNote), ev...)}
	}
	if len(differ) > 0 {
		return []Result{with(noted(warnf(strings.Join(show, "\n"), "root bundles differ but share a root (%s): a rotation in progress", strings.Join(differ, ", ")),
			"finish the root rotation: make every cluster's root-cert.pem hold the same roots"), ev...)}
	}
	return []Result{pass("one root for the whole mesh: "+pki.JoinShort(ms[0].fps), ev...)}
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// meshRoots returns the roots of every primary's cacerts and their sorted,
// distinct fingerprints.
func meshRoots(env *Env) ([]*x509.Certificate, []string) {
	var roots []*x509.Certificate
	var fps []string
	for _, p := range env.Mesh.Primaries() {
		if p.Inv.CACerts == nil {
			continue
		}
		bu, _ := parseBundle(p.Inv.CACerts)
		roots = append(roots, bu.roots...)
		fps = append(fps, pki.FingerprintSet(bu.roots)...)
	}
	slices.Sort(fps)
	return roots, slices.Compact(fps)
}

func istiodUsesCacerts(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	var want []string
	show := fmt.Sprintf("%s -n istio-system get cm istio-ca-root-cert -o jsonpath='{.data.root-cert\\.pem}' | openssl x509 -noout -fingerprint -sha256", kc(c.Name))
	fix := fmt.Sprintf("%s -n istio-system rollout restart deploy/istiod\n%s", kc(c.Name), show)
	var from []string // the primaries whose root a remote must hold
	if c.Role == mesh.Primary {
		want = rootSet(c)
	} else {
		// A remote's istio-ca-root-cert is written by the primary istiod
		// that leads it (namespace controller, multicluster.go
		// checkShouldLead): its root must be that primary's, the one whose
		// istiod signs the remote's workloads — any primary's root would
		// let a second primary's root pass.
		ps := servingPrimaries(env, c)
		if len(ps) == 0 {
			if p := discoveryPrimary(env, c); p != nil {
				ps = []*mesh.Cluster{p}
			}
		}
		var restarts []string
		for _, p := range ps {
			if p.Inv.CACerts == nil {
				continue
			}
			want = append(want, rootSet(p)...)
			from = append(from, p.Name)
			if p.Istiod != nil {
				restarts = append(restarts, fmt.Sprintf("%s -n istio-system rollout restart deploy/%s", kc(p.Name), shellQuote(p.Istiod.Name)))
			}
		}
		if len(from) == 0 {
			_, want = meshRoots(env)
		} else {
			slices.Sort(want)
			want = slices.Compact(want)
			// The leading istiod writes the ConfigMap again once it is gone.
			fix = strings.Join(append([]string{fmt.Sprintf("%s -n istio-system delete cm istio-ca-root-cert", kc(c.Name))}, append(restarts, show)...), "\n")
		}
	}
	cm := c.Inv.ConfigMap("istio-ca-root-cert")
	if cm == nil {
		msg := "no istio-ca-root-cert ConfigMap in istio-system: istiod has not distributed a root"
		if c.Role == mesh.Remote {
			msg = "no istio-ca-root-cert ConfigMap in istio-system: no primary's istiod leads this remote (see controlplane.remote-served), so its sidecars cannot verify istiod"
		}
		return []Result{failf(fix, "%s", msg)}
	}
	served, err := pki.ParseCerts(cm.Data["root-cert.pem"])
	if err != nil {
		return []Result{parseError(fix, "ConfigMap istio-system/istio-ca-root-cert key root-cert.pem does not parse: %v", err)}
	}
	got := pki.FingerprintSet(served)
	slices.Sort(got)
	ev := []Evidence{Ev("istio-ca-root-cert sha256", pki.JoinShort(got)), Ev("cacerts root sha256", pki.JoinShort(want))}
	if len(from) > 0 {
		ev = append(ev, Ev("serving primary", strings.Join(from, ", ")))
	}
	if intersects(got, want) {
		if len(from) > 0 {
			return []Result{pass(fmt.Sprintf("the remote's istio-ca-root-cert holds the root of primary %s", strings.Join(from, ", ")), ev...)}
		}
		return []Result{pass("istiod distributes the cacerts root", ev...)}
	}
	msg := "the root istiod distributes is not the cacerts root"
	if len(from) > 0 {
		msg = fmt.Sprintf("the remote's istio-ca-root-cert is not the root of primary %s, whose istiod serves it: its sidecars cannot verify istiod's certificate nor their peers'", strings.Join(from, ", "))
	}
	if s := c.Inv.IstioCASecret; s != nil && c.Role == mesh.Primary {
		if roots, err := pki.ParseCerts(firstNonEmpty(s.Root, s.CACert)); err == nil && slices.Contains(got, pki.Fingerprint(roots[0])) {
			msg = "istiod is not using cacerts: it distributes its self-signed istio-ca-secret root (istiod started before cacerts existed?)"
		}
	}
	return []Result{with(failf(fix, "%s", msg), ev...)}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return x
		}
	}
	return ""
}
