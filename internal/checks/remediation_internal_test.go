package checks

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

// RemediationProblems is remediationProblems for the external tests.
var RemediationProblems = remediationProblems

// remediationCommands is the explicit list of words a remediation command
// (each line, and each part after ;, && or ||) may start with, after the
// shell keywords do/then/else: anything else is taken for prose.
var remediationCommands = map[string]bool{
	"kubectl": true, "istioctl": true, "curl": true, "make": true, "openssl": true,
	"for": true, "if": true, "echo": true, "dig": true, "helm": true,
	"samples/multicluster/gen-eastwest-gateway.sh": true,
	// sed fills the one parameter of samples/multicluster/expose-istiod-rev.yaml.tmpl
	// ({{.Revision}}) before kubectl applies it (controlplane.expose-istiod).
	"sed": true,
}

var (
	placeholderRE = regexp.MustCompile(`<[^<>|&;]*>|…|\.\.\.|YOUR_`)
	assignmentRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// remediationProblems returns why a remediation would not run as pasted.
func remediationProblems(rem string) []string {
	var out []string
	if err := exec.Command("bash", "-n", "-c", rem).Run(); err != nil {
		out = append(out, fmt.Sprintf("bash -n: %v", err))
	}
	if m := placeholderRE.FindString(rem); m != "" {
		out = append(out, fmt.Sprintf("placeholder %q", m))
	}
	for _, line := range strings.Split(rem, "\n") {
		for _, cmd := range commandsOf(line) {
			cmd = strings.TrimSpace(cmd)
			if cmd == "" || cmd == "do" || cmd == "then" || cmd == "else" || cmd == "done" || cmd == "fi" {
				continue
			}
			word, rest, _ := strings.Cut(cmd, " ")
			for (word == "do" || word == "then" || word == "else") && rest != "" {
				word, rest, _ = strings.Cut(strings.TrimSpace(rest), " ")
			}
			if !remediationCommands[word] && !assignmentRE.MatchString(word) {
				out = append(out, fmt.Sprintf("command %q does not start with a known command word", cmd))
			}
		}
	}
	return out
}

// commandsOf splits a line at ;, && and || outside quotes: each part must
// start with a command word, so prose after a ";" is caught too.
func commandsOf(line string) []string {
	var out []string
	var quote rune
	start := 0
	for i := 0; i < len(line); i++ {
		ch := rune(line[i])
		switch {
		case ch == '\\' && quote != '\'':
			i++ // an escaped character, also inside double quotes
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == ';':
			out, start = append(out, line[start:i]), i+1
		case (ch == '&' || ch == '|') && i+1 < len(line) && rune(line[i+1]) == ch:
			out, start = append(out, line[start:i]), i+2
			i++
		}
	}
	return append(out, line[start:])
}

// TestReachRemediationsRun covers the gateway probe remediations, which no
// offline scenario reaches (they need a network probe), with a context, a
// namespace and an SNI that need quoting.
func TestReachRemediationsRun(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not on PATH: cannot parse remediations")
	}
	c := &mesh.Cluster{Name: "kind west's"}
	g := &mesh.Gateway{Service: &cluster.Service{Namespace: "istio-system", Name: "istio-eastwestgateway",
		Spec: cluster.ServiceSpec{Selector: cluster.LabelsOf(map[string]string{"istio": "eastwestgateway", "app": "istio-eastwestgateway"})}}}
	tgt := probe.GatewayTarget{Address: "gw.example.test", SNI: "outbound_.5000_._.helloworld.sample.svc.cluster.local"}
	for _, o := range []probe.Outcome{probe.OutcomeTCPOnly, probe.OutcomeTimeout, probe.OutcomeRefused, probe.OutcomeReset, probe.OutcomeClosed,
		probe.OutcomeRootMismatch, probe.OutcomeDNS, probe.OutcomeBadSAN, probe.OutcomeExpired, probe.OutcomeNotTLS} {
		for _, port := range []probe.Port{{Number: 15443, Kind: probe.KindTLSPassthrough}, {Number: 15008, Kind: probe.KindHBONE}} {
			if port.Kind == probe.KindHBONE && o == probe.OutcomeTCPOnly {
				continue // an HBONE probe always tries TLS
			}
			pr := probe.PortResult{Port: port, Address: fmt.Sprintf("gw.example.test:%d", port.Number), Outcome: o}
			r := portResult(c, g, tgt, pr, []string{"42f3edb0d326bbed"}, time.Time{})
			if r.Remediation == "" {
				t.Errorf("%s %s: no remediation", port.Kind, o)
				continue
			}
			if !strings.Contains(r.Remediation, shellQuote(c.Name)) {
				t.Errorf("%s %s: remediation %q does not name the context quoted", port.Kind, o, r.Remediation)
			}
			if p := remediationProblems(r.Remediation); len(p) > 0 {
				t.Errorf("%s %s: remediation %q: %s", port.Kind, o, r.Remediation, strings.Join(p, "; "))
			}
		}
	}
}

// TestRegenerateWithoutContext: when meshdoctor has no context for the
// remote cluster, the command lists contexts and Note says what to run.
func TestRegenerateWithoutContext(t *testing.T) {
	c := &mesh.Cluster{Name: "east"}
	cmd, note := regenerate(c, "", "legacy", "https://legacy.mesh.test:6443")
	if p := remediationProblems(cmd); len(p) > 0 {
		t.Errorf("%q: %v", cmd, p)
	}
	if !strings.Contains(note, "create-remote-secret --context=CONTEXT --name=legacy | kubectl --context east apply -f -") {
		t.Errorf("note %q does not say what to run", note)
	}
	cmd, note = regenerate(c, "kind-legacy", "legacy", "")
	if cmd != "istioctl create-remote-secret --context=kind-legacy --name=legacy | kubectl --context east apply -f -" || note != "" {
		t.Errorf("with a context: %q, %q", cmd, note)
	}
}

// TestSecretRemediationsPrintNoCredential: the remote-access commands show
// the server line or ask auth can-i by impersonation; none decodes the
// whole kubeconfig to a file or the terminal.
func TestSecretRemediationsPrintNoCredential(t *testing.T) {
	c := &mesh.Cluster{Name: "east"}
	got := secretServer(c, "istio-remote-secret-west", "west.1")
	if !strings.HasSuffix(got, "| base64 -d | grep -E '^ *server:'") || !strings.Contains(got, `{.data.west\.1}`) {
		t.Errorf("secretServer = %q", got)
	}
}
