// Package knownissues holds the catalogue of known multi-cluster bugs of
// Istio (known-issues.yaml, embedded) and the small declarative matcher
// that decides whether one applies: a version range and a list of
// conditions over named facts. The file is data: it is decoded strictly,
// validated, and evaluated with four comparison operators; nothing in it is
// executed, fetched, or used as a path or a command.
package knownissues

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed known-issues.yaml
var embedded []byte

// Issue is one known bug.
type Issue struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Affected are the version ranges that have the bug.
	Affected []Range `json:"affected"`
	// When are conditions that must all hold.
	When []Condition `json:"when"`
	// Link is the upstream issue (or pull request).
	Link string `json:"link"`
	// Sources are further pages the entry was checked against (the fix,
	// the release note).
	Sources    []string `json:"sources,omitempty"`
	Workaround string   `json:"workaround"`
}

// Range is [From, Fixed): From empty means every older version, Fixed
// empty means not fixed yet.
type Range struct {
	From  string `json:"from,omitempty"`
	Fixed string `json:"fixed,omitempty"`
}

// Condition compares one fact with exactly one operator.
type Condition struct {
	Fact string `json:"fact"`
	// Equals holds when a value of the fact is equal to it.
	Equals *string `json:"equals,omitempty"`
	// NotEquals holds when the fact has values and none is equal to it.
	NotEquals *string `json:"notEquals,omitempty"`
	// In holds when a value of the fact is one of it.
	In []string `json:"in,omitempty"`
	// Exists holds when the fact has (true) or has no (false) value.
	Exists *bool `json:"exists,omitempty"`
}

type file struct {
	Issues []Issue `json:"issues"`
}

// Facts are what the conditions read, per cluster: a fact name and its
// values (several for the mesh-wide ones, e.g. gateway address kinds).
type Facts map[string][]string

// Names of the facts a condition may use (besides env.NAME). The checks
// package computes them (checks/knownissues.go facts); keep the two and
// docs/checks/controlplane.known-issues.md in step.
var factNames = []string{
	"role",                       // primary | remote
	"remote-secrets",             // true | false: istio/multiCluster secrets in this cluster
	"trust-domain",               // the revision's MeshConfig trustDomain
	"ambient",                    // true | false: PILOT_ENABLE_AMBIENT
	"ambient-multi-network",      // true | false: ambient and AMBIENT_ENABLE_MULTI_NETWORK
	"xds-cache",                  // true | false: PILOT_ENABLE_XDS_CACHE (default true)
	"mesh.topology",              // multi-primary | primary-remote | single-cluster | ...
	"mesh.multi-network",         // true | false
	"mesh.gateway-address-kinds", // ip | hostname, over every cluster's network gateways
	"mesh.trust-domains-differ",  // true | false
}

// FactNames returns the fact names conditions may use besides env.NAME.
func FactNames() []string { return slices.Clone(factNames) }

var (
	idPattern  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	envPattern = regexp.MustCompile(`^env\.[A-Z][A-Z0-9_]{0,80}$`)
)

// Load decodes and validates the embedded catalogue.
func Load() ([]Issue, error) { return Parse(embedded) }

// Parse decodes and validates a catalogue.
func Parse(data []byte) ([]Issue, error) {
	var f file
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("known issues: %w", err)
	}
	if err := Validate(f.Issues); err != nil {
		return nil, err
	}
	return f.Issues, nil
}

// Validate rejects an entry that is incomplete or that the matcher could
// read in more than one way.
func Validate(issues []Issue) error {
	var errs []error
	seen := map[string]bool{}
	for i, is := range issues {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("known issue %d (%s): %s", i+1, is.ID, fmt.Sprintf(format, a...)))
		}
		if !idPattern.MatchString(is.ID) {
			bad("id must be lowercase words joined by dashes")
		}
		if seen[is.ID] {
			bad("duplicate id")
		}
		seen[is.ID] = true
		if strings.TrimSpace(is.Title) == "" || strings.TrimSpace(is.Workaround) == "" {
			bad("title and workaround are required")
		}
		for _, l := range append([]string{is.Link}, is.Sources...) {
			if u, err := url.Parse(l); err != nil || u.Scheme != "https" || u.Host == "" {
				bad("link %q is not an https URL", l)
			}
		}
		if len(is.Affected) == 0 {
			bad("affected lists no version range")
		}
		for _, r := range is.Affected {
			if r.From == "" && r.Fixed == "" {
				bad("a range needs from, fixed or both")
			}
			for _, v := range []string{r.From, r.Fixed} {
				if _, ok := ParseVersion(v); v != "" && !ok {
					bad("version %q is not MAJOR.MINOR.PATCH", v)
				}
			}
			if f, ok1 := ParseVersion(r.From); ok1 {
				if x, ok2 := ParseVersion(r.Fixed); ok2 && !f.Less(x) {
					bad("range from %s is not before fixed %s", r.From, r.Fixed)
				}
			}
		}
		if len(is.When) == 0 {
			bad("when lists no condition: an entry that applies to every mesh of a version is a release note, not a multi-cluster trigger")
		}
		for _, c := range is.When {
			if !slices.Contains(factNames, c.Fact) && !envPattern.MatchString(c.Fact) {
				bad("unknown fact %q (see FactNames, or env.NAME)", c.Fact)
			}
			ops := 0
			for _, set := range []bool{c.Equals != nil, c.NotEquals != nil, c.In != nil, c.Exists != nil} {
				if set {
					ops++
				}
			}
			if ops != 1 {
				bad("condition on %s needs exactly one of equals, notEquals, in, exists", c.Fact)
			}
		}
	}
	return errors.Join(errs...)
}

// Holds evaluates a condition over the facts.
func (c Condition) Holds(f Facts) bool {
	vs := f[c.Fact]
	switch {
	case c.Equals != nil:
		return slices.Contains(vs, *c.Equals)
	case c.NotEquals != nil:
		return len(vs) > 0 && !slices.Contains(vs, *c.NotEquals)
	case c.In != nil:
		return slices.ContainsFunc(vs, func(v string) bool { return slices.Contains(c.In, v) })
	case c.Exists != nil:
		return (len(vs) > 0) == *c.Exists
	}
	return false
}

// String shows a condition as evidence ("mesh.multi-network = true").
func (c Condition) String() string {
	switch {
	case c.Equals != nil:
		return c.Fact + " = " + *c.Equals
	case c.NotEquals != nil:
		return c.Fact + " ≠ " + *c.NotEquals
	case c.In != nil:
		return c.Fact + " in [" + strings.Join(c.In, ", ") + "]"
	case c.Exists != nil && *c.Exists:
		return c.Fact + " is set"
	}
	return c.Fact + " is not set"
}

// Affects reports whether version v is in one of the issue's ranges, and
// the range it is in.
func (is Issue) Affects(v Version) (Range, bool) {
	for _, r := range is.Affected {
		if f, ok := ParseVersion(r.From); ok && v.Less(f) {
			continue
		}
		if x, ok := ParseVersion(r.Fixed); ok && !v.Less(x) {
			continue
		}
		return r, true
	}
	return Range{}, false
}

// Applies reports whether the issue applies to a cluster of version v with
// the given facts.
func (is Issue) Applies(v Version, f Facts) bool {
	if _, ok := is.Affects(v); !ok {
		return false
	}
	for _, c := range is.When {
		if !c.Holds(f) {
			return false
		}
	}
	return true
}

// FixedIn lists the fixed versions of the issue's ranges ("" when no range
// is fixed).
func (is Issue) FixedIn() []string {
	var out []string
	for _, r := range is.Affected {
		if r.Fixed != "" {
			out = append(out, r.Fixed)
		}
	}
	return out
}

// Version is an Istio release version.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less orders versions.
func (v Version) Less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

// ParseVersion reads MAJOR.MINOR.PATCH from an image tag or a version
// ("1.28.1", "v1.28.1", "1.28.1-distroless", "1.28.0-beta.1"): anything
// after the patch number is ignored, so a pre-release counts as the release
// it precedes (a fix it may lack is then not reported: silence rather than a
// guess). Tags that are no version ("latest", a commit) do not parse.
func ParseVersion(s string) (Version, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if end := strings.IndexAny(s, "-+_"); end >= 0 {
		s = s[:end]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || x > 10000 || p == "" || p[0] == '+' {
			return Version{}, false
		}
		n[i] = x
	}
	return Version{n[0], n[1], n[2]}, true
}
