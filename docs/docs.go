// Package docs holds meshdoctor's documentation pages, embedded in the
// binary: one page per check ID (checks/<id>.md, printed by `meshdoctor
// explain <id>`) and the index (checks/README.md). Results point at their
// page by Path. The tests keep the pages and the check catalogue in step:
// every catalogue ID has a page, every page belongs to a catalogue ID.
package docs

import (
	"embed"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

//go:embed checks/*.md
var pages embed.FS

// Dir is where the pages live in the repository, relative to its root.
const Dir = "docs/checks"

// idPattern is what a check ID looks like ("trust.root-match"); anything
// else is never looked up (no README, no path).
var idPattern = regexp.MustCompile(`^[a-z0-9]+(\.[a-z0-9-]+)+$`)

// Page returns the markdown page of a check ID.
func Page(id string) ([]byte, bool) {
	if !idPattern.MatchString(id) {
		return nil, false
	}
	b, err := pages.ReadFile("checks/" + id + ".md")
	if err != nil {
		return nil, false
	}
	return b, true
}

// Path is the repository path of a check ID's page ("docs/checks/<id>.md"),
// or "" when there is no page for it.
func Path(id string) string {
	if _, ok := Page(id); !ok {
		return ""
	}
	return Dir + "/" + id + ".md"
}

// IDs returns the check IDs that have a page, sorted.
func IDs() []string {
	entries, err := fs.ReadDir(pages, "checks")
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".md")
		if ok && idPattern.MatchString(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Index returns the index page (checks/README.md).
func Index() []byte {
	b, _ := pages.ReadFile("checks/README.md")
	return b
}
