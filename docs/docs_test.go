package docs

import (
	"bytes"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// sections are the headings every page has, in this order.
var sections = []string{
	"## What it checks",
	"## Why it breaks cross-cluster traffic",
	"## How to confirm",
	"## How to fix",
	"## Related checks",
	"## Istio documentation",
}

func catalogueIDs() []string {
	var ids []string
	for _, c := range checks.Catalogue() {
		ids = append(ids, c.ID)
	}
	return ids
}

// A check added to the catalogue without a page (or a page left behind by
// a removed or renamed check) fails here.
func TestEveryCheckHasAPageAndEveryPageACheck(t *testing.T) {
	ids := catalogueIDs()
	pages := IDs()
	for _, id := range ids {
		if !slices.Contains(pages, id) {
			t.Errorf("check %s has no page: write docs/checks/%s.md (sections as the other pages)", id, id)
		}
	}
	for _, id := range pages {
		if !slices.Contains(ids, id) {
			t.Errorf("docs/checks/%s.md belongs to no check of the catalogue", id)
		}
	}
}

func TestPathAndPage(t *testing.T) {
	if got := Path("trust.root-match"); got != "docs/checks/trust.root-match.md" {
		t.Errorf("Path(trust.root-match) = %q", got)
	}
	for _, id := range []string{"", "README", "trust.no-such-check", "../docs", "checks/trust.root-match", "trust.root-match.md"} {
		if got := Path(id); got != "" {
			t.Errorf("Path(%q) = %q, want none", id, got)
		}
		if _, ok := Page(id); ok {
			t.Errorf("Page(%q) found a page", id)
		}
	}
}

// section returns the body of a page's section (up to the next "## ").
func section(page, heading string) string {
	i := strings.Index(page, heading+"\n")
	if i < 0 {
		return ""
	}
	rest := page[i+len(heading)+1:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

var backticked = regexp.MustCompile("`([^`]+)`")

func TestPagesHaveTheSixSections(t *testing.T) {
	ids := catalogueIDs()
	for _, id := range IDs() {
		b, _ := Page(id)
		page := string(b)
		if first, _, _ := strings.Cut(page, "\n"); first != "# "+id {
			t.Errorf("%s: first line %q, want %q", id, first, "# "+id)
		}
		at := -1
		for _, h := range sections {
			i := strings.Index(page, "\n"+h+"\n")
			if i < 0 {
				t.Errorf("%s: no section %q", id, h)
				continue
			}
			if i < at {
				t.Errorf("%s: section %q out of order", id, h)
			}
			at = i
			if strings.TrimSpace(section(page, h)) == "" {
				t.Errorf("%s: section %q is empty", id, h)
			}
		}
		if n := strings.Count(page, "\n"); n < 25 || n > 70 {
			t.Errorf("%s: %d lines; keep a page short and factual (25–70)", id, n)
		}
		// Related checks name real check IDs.
		for _, m := range backticked.FindAllStringSubmatch(section(page, "## Related checks"), -1) {
			if idPattern.MatchString(m[1]) && !slices.Contains(ids, m[1]) {
				t.Errorf("%s: related check `%s` is not in the catalogue", id, m[1])
			}
		}
		// Istio documentation links go to istio.io.
		links := regexp.MustCompile(`\]\(([^)]+)\)`).FindAllStringSubmatch(section(page, "## Istio documentation"), -1)
		if len(links) == 0 {
			t.Errorf("%s: no link in Istio documentation", id)
		}
		for _, l := range links {
			if !strings.HasPrefix(l[1], "https://istio.io/latest/docs/") {
				t.Errorf("%s: Istio documentation link %s is not an istio.io docs page", id, l[1])
			}
		}
	}
}

func TestIndexListsEveryPage(t *testing.T) {
	index := string(Index())
	for _, id := range IDs() {
		if !strings.Contains(index, "[`"+id+"`]("+id+".md)") {
			t.Errorf("README.md does not link %s as [`%s`](%s.md)", id, id, id)
		}
	}
}

// fence finds fenced shell blocks.
var fence = regexp.MustCompile("(?s)```(sh|bash|shell)\n(.*?)```")

// placeholder is a <word> left for the reader, which bash would read as a
// redirection: pages use shell variables ($CTX) instead.
var placeholder = regexp.MustCompile(`<[A-Za-z][A-Za-z0-9 _-]*>`)

func TestShellBlocksParseAndHaveNoPlaceholders(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("needs bash to check the shell blocks: %v", err)
	}
	for _, id := range IDs() {
		b, _ := Page(id)
		blocks := fence.FindAllSubmatch(b, -1)
		if len(blocks) == 0 {
			t.Errorf("%s: no shell block (How to confirm needs commands)", id)
		}
		for i, m := range blocks {
			code := m[2]
			if p := placeholder.Find(code); p != nil {
				t.Errorf("%s block %d: placeholder %s; use a shell variable the page names", id, i+1, p)
			}
			cmd := exec.Command(bash, "-n")
			cmd.Stdin = bytes.NewReader(code)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s block %d does not parse (bash -n: %v):\n%s\n%s", id, i+1, err, out, code)
			}
		}
	}
}

// The tests above must be able to fail: a page without sections and a
// broken shell block are caught by the same helpers.
func TestHelpersCatchBrokenPages(t *testing.T) {
	page := "# x.y\n\n## What it checks\n\nthings\n\n## How to fix\n"
	if section(page, "## What it checks") == "" || section(page, "## Why it breaks cross-cluster traffic") != "" {
		t.Error("section() does not find sections")
	}
	m := fence.FindSubmatch([]byte("text\n```sh\nkubectl --context <context> get pods\n```\n"))
	if m == nil || placeholder.Find(m[2]) == nil {
		t.Error("placeholder in a shell block not found")
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = strings.NewReader("kubectl get pods | (\n")
		if cmd.Run() == nil {
			t.Error("bash -n accepted a broken block")
		}
	}
}
