package snapshot_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

const validManifest = `{"format":"meshdoctor-snapshot/v1","contexts":["a"]}`

// tarGzStream writes entries in order; a body may be a reader (big bodies
// are generated, not held).
func tarGzStream(t testing.TB, entries ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for i := 0; i < len(entries); i += 3 {
		name, size := entries[i].(string), entries[i+1].(int64)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, entries[i+2].(io.Reader)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func str(s string) (int64, io.Reader) { return int64(len(s)), strings.NewReader(s) }

func entry(name, body string) []any { n, r := str(body); return []any{name, n, r} }

// allocated runs fn and returns the bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before) // TotalAlloc only grows: no GC needed
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bomb is `{"context":"a","<list>":[` + n × item + `]}`.
func bomb(list, item string, n int) string {
	return `{"context":"a","` + list + `":[` + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + `]}`
}

func TestReadBoundsObjectsNotOnlyBytes(t *testing.T) {
	cases := []struct {
		name, inventory, want string
	}{
		// 100,000 empty pods are 300 KB of JSON and 120 MB of corev1.Pod.
		{"many empty pods", bomb("pods", "{}", 100_000), `list "pods" has more than 20000 items`},
		{"many empty containers in one pod", bomb("pods", `{"spec":{"containers":[`+strings.TrimSuffix(strings.Repeat("{},", 100_000), ",")+`]}}`, 1), "a nested list has more than 10000 items"},
		{"containers spread over pods", bomb("pods", `{"spec":{"containers":[`+strings.TrimSuffix(strings.Repeat("{},", 9_000), ",")+`]}}`, 200), "too many JSON objects"},
		{"a label map with a million keys", `{"context":"a","namespaces":[{"metadata":{"labels":{` + strings.TrimSuffix(strings.Repeat(`"k":"v",`, 1_000_000), ",") + `}}}]}`, "an object has more than 10000 items"},
		{"deep nesting", `{"context":"a","x":` + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + `}`, "nested deeper"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tarGzStream(t, append(append(entry("manifest.json", validManifest), entry("network.json", "{}")...), entry("inventory/a.json", tc.inventory)...)...)
			var err error
			n := allocated(func() { _, err = snapshot.Read(bytes.NewReader(data)) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			// The text itself is buffered (a few MB); nothing is decoded.
			if limit := uint64(4*len(tc.inventory)) + 8<<20; n > limit {
				t.Errorf("Read allocated %d MB for a %d KB file (%d KB of JSON) before refusing it; want under %d MB",
					n>>20, len(data)>>10, len(tc.inventory)>>10, limit>>20)
			}
		})
	}
}

// zeros is n zero bytes, generated.
func zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestReadDiscardsUnknownEntriesUnread(t *testing.T) {
	const big = 64 << 20
	data := tarGzStream(t, append(append(entry("manifest.json", `{"format":"meshdoctor-snapshot/v1"}`), "extra/blob.bin", int64(big), zeros(big)),
		entry("network.json", "{}")...)...)
	var err error
	n := allocated(func() { _, err = snapshot.Read(bytes.NewReader(data)) })
	if err != nil {
		t.Fatal(err)
	}
	if n > 8<<20 {
		t.Errorf("Read allocated %d MB for a snapshot with a %d MB unknown entry; want it skipped unread", n>>20, big>>20)
	}
}

func TestReadHasOneInflateBudget(t *testing.T) {
	// 4 MB of zeros in an unknown entry, 1 MB of budget: skipping counts.
	data := tarGzStream(t, append(append(entry("manifest.json", `{"format":"meshdoctor-snapshot/v1"}`), "extra/blob.bin", int64(4<<20), zeros(4<<20)),
		entry("network.json", "{}")...)...)
	lim := snapshot.DefaultLimits()
	lim.Inflated = 1 << 20
	if _, err := snapshot.ReadWithLimits(bytes.NewReader(data), lim); err == nil || !strings.Contains(err.Error(), "inflates to more than 1048576 bytes") {
		t.Fatalf("err = %v, want the inflate budget named", err)
	}
	lim.Inflated = 8 << 20
	if _, err := snapshot.ReadWithLimits(bytes.NewReader(data), lim); err != nil {
		t.Fatalf("within the budget: %v", err)
	}
}

func TestReadRejectsDuplicateEntries(t *testing.T) {
	data := tarGzStream(t, append(append(append(entry("manifest.json", validManifest), entry("network.json", "{}")...),
		entry("inventory/a.json", `{"context":"a"}`)...), entry("./inventory/a.json", `{"context":"a"}`)...)...)
	if _, err := snapshot.Read(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("err = %v, want a duplicate entry named", err)
	}
}

func TestReadDoesNotTrustAnEntrysClaimedSize(t *testing.T) {
	// A header that claims 200 MB over a truncated body: nothing near the
	// claim is allocated.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	_ = tw.WriteHeader(&tar.Header{Name: "network.json", Mode: 0o644, Size: 200 << 20, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("{}"))
	_ = zw.Close()
	var err error
	n := allocated(func() { _, err = snapshot.Read(bytes.NewReader(buf.Bytes())) })
	if err == nil {
		t.Fatal("a truncated entry was accepted")
	}
	if n > 16<<20 {
		t.Errorf("Read allocated %d MB for an entry claiming 200 MB", n>>20)
	}
}
