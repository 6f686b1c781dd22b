package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshdoctor/meshdoctor/docs"
	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// SchemaVersion names the JSON document's schema. Fields may be added within
// a version; renaming, removing or changing the meaning of one makes a new
// version.
const SchemaVersion = "meshdoctor/v1"

// Document is the JSON report (schema meshdoctor/v1):
//
//	{
//	  "schemaVersion": "meshdoctor/v1",
//	  "tool": "meshdoctor", "version": "v0.4.0",
//	  "generatedAt": "2026-11-23T11:15:00Z",       // RFC 3339, whole seconds
//	  "hostname": "ci-runner-7",                   // omitted when unknown
//	  "source": "live",                            // or "snapshot <file> taken <time>"
//	  "topology": "multi-primary",
//	  "contexts": [{"name", "server", "clusterID", "network", "role", "version"}],
//	  "summary": {"pass", "warn", "fail", "skipped", "error", "total",
//	              "causes"},                        // failures and errors no other problem explains
//	  "causes": [{"key": "gateway.address west",  // the cause's result key (check and subject)
//	              "check": "gateway.address", "status": "fail",
//	              "cluster": "west",                          // omitted for mesh scope
//	              "consequences": ["endpoints.proxy-table east outbound|5000||..."]}],
//	                                               // keys of the problems it explains, in the
//	                                               // order the table lists them; [] when none
//	  "results": [{"check": "trust.root-match", "status": "fail",   // pass|warn|fail|skipped|error
//	               "cluster", "peer", "target",                      // omitted when empty
//	               "message", "evidence": [{"key", "value"}],       // evidence omitted when empty
//	               "remediation", "durationMs",
//	               "causedBy": ["gateway.address west"],            // keys (check and subject) of the
//	                                                                 // problems that explain this one
//	                                                                 // (omitted for a cause)
//	               "doc": "docs/checks/trust.root-match.md"}]      // the check's page (docs.Path),
//	                                                                 // omitted when it has none
//	}
//
// contexts, causes and results are always arrays, never null. Results keep
// the order the runner produced them in (catalogue order); causes is the
// causes-first index in the order the table, TUI and HTML show: every
// problem that no other explains (a warning too, when nothing explains it;
// summary.causes counts the failures and errors among them), each with the
// keys of the problems listed under it (CausesFirst). A consequence whose
// cause is not in the run (a filtered run) is in no entry; its causedBy
// still names the cause. causedBy, summary.causes, causes and doc were added
// within v1: a v1 reader that does not know them reads the rest as before.
type Document struct {
	SchemaVersion string `json:"schemaVersion"`
	Meta
	Summary Summary         `json:"summary"`
	Causes  []Cause         `json:"causes"`
	Results []checks.Result `json:"results"`
}

// Cause is one entry of Document.Causes: a problem no other explains and
// the problems it explains.
type Cause struct {
	Key          string        `json:"key"`
	Check        string        `json:"check"`
	Status       checks.Status `json:"status"`
	Cluster      string        `json:"cluster,omitempty"`
	Consequences []string      `json:"consequences"`
}

// CauseIndex is the causes-first index of rs (Document.Causes): the causes
// in CausesFirst order, each with the keys of the consequences listed under
// it.
func CauseIndex(rs []checks.Result) []Cause {
	out := []Cause{}
	for _, o := range CausesFirst(rs) {
		switch {
		case !o.Problem():
		case !o.Consequence:
			out = append(out, Cause{Key: o.Key(), Check: o.CheckID, Status: o.Status, Cluster: o.Cluster, Consequences: []string{}})
		case o.Under != "" && len(out) > 0:
			// CausesFirst lists a consequence right after its cause.
			c := &out[len(out)-1]
			c.Consequences = append(c.Consequences, o.Key())
		}
	}
	return out
}

// JSON writes rs as a Document, indented by two spaces.
func JSON(w io.Writer, m Meta, rs []checks.Result) error {
	// Truncate also drops the monotonic clock reading.
	m.GeneratedAt = m.GeneratedAt.Truncate(time.Second)
	if m.Contexts == nil {
		m.Contexts = []ContextInfo{}
	}
	if rs == nil {
		rs = []checks.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Messages and remediation commands are read by people: keep <, > and &
	// as they are rather than \u003c.
	enc.SetEscapeHTML(false)
	out := struct {
		Document
		Results []docResult `json:"results"`
	}{Document: Document{SchemaVersion: SchemaVersion, Meta: m, Summary: Summarize(rs), Causes: CauseIndex(rs)}, Results: make([]docResult, len(rs))}
	for i, r := range rs {
		out.Results[i] = docResult{r}
	}
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// ErrSchemaVersion is returned (wrapped) by ReadJSON for a document of
// another schema version, or for JSON that is not a meshdoctor report.
var ErrSchemaVersion = errors.New("unsupported report schema version")

// ReadJSON reads a Document written by JSON. It rejects documents whose
// schemaVersion is not SchemaVersion before looking at anything else, so a
// newer report fails with a clear error rather than a decoding one.
func ReadJSON(r io.Reader) (*Document, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read JSON report: %w", err)
	}
	var head struct {
		SchemaVersion *string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("read JSON report: %w", err)
	}
	switch {
	case head.SchemaVersion == nil:
		return nil, fmt.Errorf("read JSON report: no schemaVersion, not a meshdoctor report: %w", ErrSchemaVersion)
	case *head.SchemaVersion != SchemaVersion:
		return nil, fmt.Errorf("read JSON report: schemaVersion %q, this meshdoctor reads %q: %w",
			*head.SchemaVersion, SchemaVersion, ErrSchemaVersion)
	}
	var doc Document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read JSON report (%s): %w", SchemaVersion, err)
	}
	return &doc, nil
}

// YAML writes the same document as JSON, as YAML (the JSON field names,
// keys sorted). Strings with control characters, which YAML forbids raw,
// are written double-quoted with escapes.
func YAML(w io.Writer, m Meta, rs []checks.Result) error {
	var js bytes.Buffer
	if err := JSON(&js, m, rs); err != nil {
		return err
	}
	var doc any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		return fmt.Errorf("write YAML report: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write YAML report: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write YAML report: %w", err)
	}
	return nil
}

// docResult is a result as the JSON report writes it: with "doc", the path
// of its check's page, after the result's own fields.
type docResult struct{ checks.Result }

// MarshalJSON appends "doc" to the result's object.
func (r docResult) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.Result)
	path := docs.Path(r.CheckID)
	if err != nil || path == "" || len(b) < 2 || b[len(b)-1] != '}' {
		return b, err
	}
	p, err := json.Marshal(path)
	if err != nil {
		return nil, err
	}
	return append(append(append(b[:len(b)-1:len(b)-1], `,"doc":`...), p...), '}'), nil
}
