package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

func TestJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := JSON(&buf, fixtureMeta(), fixtureResults()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", buf.Bytes())
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		meta Meta
		rs   []checks.Result
	}{
		{"fixture", fixtureMeta(), fixtureResults()},
		{"control characters and invalid UTF-8 survive as far as JSON allows", fixtureMeta(), validUTF8(nastyResults())},
		{"empty run", Meta{Tool: "meshdoctor", GeneratedAt: fixedTime}, []checks.Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := JSON(&buf, tt.meta, tt.rs); err != nil {
				t.Fatal(err)
			}
			doc, err := ReadJSON(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if doc.SchemaVersion != SchemaVersion {
				t.Errorf("schemaVersion = %q", doc.SchemaVersion)
			}
			if !reflect.DeepEqual(doc.Results, tt.rs) {
				t.Errorf("results differ after the round trip:\ngot  %+v\nwant %+v", doc.Results, tt.rs)
			}
			if doc.Summary != Summarize(tt.rs) {
				t.Errorf("summary = %+v, want %+v", doc.Summary, Summarize(tt.rs))
			}
			if !doc.GeneratedAt.Equal(tt.meta.GeneratedAt) {
				t.Errorf("generatedAt = %v, want %v", doc.GeneratedAt, tt.meta.GeneratedAt)
			}
			gotMeta, wantMeta := doc.Meta, tt.meta
			gotMeta.GeneratedAt, wantMeta.GeneratedAt = time.Time{}, time.Time{}
			if wantMeta.Contexts == nil {
				wantMeta.Contexts = []ContextInfo{}
			}
			if !reflect.DeepEqual(gotMeta, wantMeta) {
				t.Errorf("meta = %+v, want %+v", gotMeta, wantMeta)
			}
		})
	}
}

// validUTF8 replaces invalid UTF-8, which JSON cannot carry, with U+FFFD as
// encoding/json does.
func validUTF8(rs []checks.Result) []checks.Result {
	for i := range rs {
		rs[i].Message = strings.ToValidUTF8(rs[i].Message, "\uFFFD")
		for j := range rs[i].Evidence {
			rs[i].Evidence[j].Value = strings.ToValidUTF8(rs[i].Evidence[j].Value, "\uFFFD")
		}
	}
	return rs
}

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 23, 11, 15, 0, 123456789, time.FixedZone("CET", 3600))
	if err := JSON(&buf, Meta{Tool: "meshdoctor", GeneratedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, field, want string
	}{
		{"generatedAt is RFC 3339 in whole seconds", "generatedAt", `"2026-11-23T11:15:00+01:00"`},
		{"no results are an empty array, not null", "results", `[]`},
		{"no contexts are an empty array, not null", "contexts", `[]`},
		{"the schema version is named", "schemaVersion", `"meshdoctor/v1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(raw[tt.field]); got != tt.want {
				t.Errorf("%s = %s, want %s", tt.field, got, tt.want)
			}
		})
	}
	if !strings.HasPrefix(buf.String(), "{\n  \"schemaVersion\"") {
		t.Errorf("not indented by two spaces with schemaVersion first:\n%s", buf.String())
	}
}

func TestReadJSONRejects(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantSchema bool // errors.Is(err, ErrSchemaVersion)
		wantText   string
	}{
		{"a newer schema version", `{"schemaVersion":"meshdoctor/v2","results":"changed shape"}`, true, `schemaVersion "meshdoctor/v2", this meshdoctor reads "meshdoctor/v1"`},
		{"JSON that is not a report", `{"apiVersion":"v1","kind":"Pod"}`, true, "not a meshdoctor report"},
		{"text that is not JSON", `STATUS CHECK`, false, "read JSON report"},
		{"an unknown status", `{"schemaVersion":"meshdoctor/v1","results":[{"check":"a.b","status":"broken","message":""}]}`, false, `unknown status "broken"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := ReadJSON(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ReadJSON accepted it: %+v", doc)
			}
			if errors.Is(err, ErrSchemaVersion) != tt.wantSchema {
				t.Errorf("errors.Is(err, ErrSchemaVersion) = %v, want %v (err: %v)", !tt.wantSchema, tt.wantSchema, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
		})
	}
}

// The YAML document is the JSON one: same fields, same values.
func TestYAMLIsTheJSONDocument(t *testing.T) {
	var js, ys bytes.Buffer
	rs := append(fixtureResults(), nastyResults()...)
	if err := JSON(&js, fixtureMeta(), rs); err != nil {
		t.Fatal(err)
	}
	if err := YAML(&ys, fixtureMeta(), rs); err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(js.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(ys.Bytes(), &b); err != nil {
		t.Fatalf("YAML output does not parse: %v\n%s", err, ys.Bytes())
	}
	// YAML reads whole numbers as int, JSON as float64: compare through JSON.
	bj, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var b2 any
	if err := json.Unmarshal(bj, &b2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b2) {
		t.Errorf("YAML differs from JSON:\n%s\n---\n%s", js.Bytes(), ys.Bytes())
	}
}
