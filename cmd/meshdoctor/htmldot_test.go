package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckWritesHTMLAndDot: --html writes the page beside the table (the
// table headed by the map), -o dot prints the graph, and both keep the
// exit code of the run (1: the demo has failures).
func TestCheckWritesHTMLAndDot(t *testing.T) {
	const demo = "../../testdata/demo/mesh.tar.gz"
	page := filepath.Join(t.TempDir(), "report.html")
	out, errOut, code := runCLI(t, "check", "--from", demo, "--html", page, "-o", "short")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Mesh map (multi-primary with remotes):") || !strings.Contains(out, "[fail: gateway.address]") {
		t.Errorf("the table has no map:\n%s", out)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"<!DOCTYPE html>", `<svg class="meshmap"`, `data-key="gateway.address west"`, "4 causes explain 8 failures"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("the HTML report lacks %q", w)
		}
	}

	out, errOut, code = runCLI(t, "check", "--from", demo, "-o", "dot")
	if code != 1 || !strings.HasPrefix(out, "digraph meshdoctor {\n") || !strings.Contains(out, `"cluster/east" -> "external/legacy"`) {
		t.Errorf("-o dot: exit %d\n%s\n%s", code, out, errOut)
	}

	_, errOut, code = runCLI(t, "check", "--from", demo, "-o", "svg")
	if code != 2 || !strings.Contains(errOut, "want table, short, wide, json, yaml or dot") {
		t.Errorf("-o svg: exit %d, %s", code, errOut)
	}
}
