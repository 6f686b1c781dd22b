package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/docs"
	"github.com/meshdoctor/meshdoctor/internal/checks"
)

func TestExplainPrintsThePage(t *testing.T) {
	for _, c := range checks.Catalogue() {
		out, errOut, code := runCLI(t, "explain", c.ID)
		want, ok := docs.Page(c.ID)
		if code != 0 || !ok || out != string(want) {
			t.Errorf("explain %s: exit %d, stderr %q, page found %v, output equals page %v", c.ID, code, errOut, ok, out == string(want))
		}
	}
}

func TestExplainUnknownIDExits2NamingTheClosest(t *testing.T) {
	for _, tc := range []struct {
		typed string
		want  string
	}{
		{"trust.root-mach", "trust.root-match"},
		{"gateway.adress", "gateway.address"},
		{"root-match", "trust.root-match"},
		{"README", ""},
		{"../../go.mod", ""},
	} {
		out, errOut, code := runCLI(t, "explain", tc.typed)
		if code != exitUsage || out != "" {
			t.Errorf("explain %s: exit %d, stdout %q; want exit 2 and nothing on stdout", tc.typed, code, out)
		}
		if !strings.Contains(errOut, "no check") || tc.want != "" && !strings.Contains(errOut, tc.want) {
			t.Errorf("explain %s: stderr %q does not name %q", tc.typed, errOut, tc.want)
		}
	}
}

func TestExplainWithoutIDListsTheIDs(t *testing.T) {
	out, _, code := runCLI(t, "explain")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range checks.Catalogue() {
		if !strings.Contains(out, c.ID+" ") {
			t.Errorf("explain lists no %s", c.ID)
		}
	}
}

func TestExplainCompletesIDs(t *testing.T) {
	out, _, code := runCLI(t, "__complete", "explain", "trust.")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if id, _, ok := strings.Cut(line, "\t"); ok && strings.HasPrefix(line, "trust.") {
			got = append(got, id)
		}
	}
	var want []string
	for _, c := range checks.Catalogue() {
		if checks.Area(c.ID) == "trust" {
			want = append(want, c.ID)
		}
	}
	if !slices.Equal(got, want) || !strings.Contains(out, ":4") {
		t.Errorf("completion of 'explain trust.' = %q, want %v and no file completion (:4)", out, want)
	}
	// A second argument completes nothing.
	out, _, _ = runCLI(t, "__complete", "explain", "trust.root-match", "")
	if strings.Contains(out, "trust.") {
		t.Errorf("completion of a second argument = %q", out)
	}
}

func TestClosestIDs(t *testing.T) {
	ids := []string{"trust.root-match", "trust.cacerts-valid", "gateway.address", "gateway.ports"}
	if got := closestIDs("gateway", ids, 3); !slices.Equal(got, []string{"gateway.address", "gateway.ports"}) {
		t.Errorf("closestIDs(gateway) = %v", got)
	}
	if got := closestIDs("trust", ids, 1); !slices.Equal(got, []string{"trust.cacerts-valid", "trust.root-match"}) {
		t.Errorf("closestIDs(trust) = %v, want the area's IDs", got)
	}
	if got := closestIDs("zzzzzzzzzzzzzzzzzzzzzz", ids, 3); len(got) != 0 {
		t.Errorf("closestIDs(far) = %v, want none", got)
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
}
