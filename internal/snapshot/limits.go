package snapshot

import (
	"errors"
	"fmt"
	"io"
)

// Limits bound what Read may inflate and allocate. A snapshot is hostile
// input: a few kilobytes of gzip'd `"pods":[{},{},...]` once took 1.5 GB,
// because each three-byte `{},` becomes a kilobyte-sized corev1.Pod.
type Limits struct {
	// Inflated bounds every byte gunzipped: tar headers, entries read and
	// entries skipped.
	Inflated int64
	// File bounds one entry that is read (manifest, network, inventory).
	File int64
	// Objects bounds the JSON objects and arrays over all entries, Values
	// the array elements and object members: counted before anything is
	// decoded.
	Objects, Values int
	// NestedItems bounds one array or object below the top-level lists.
	NestedItems int
}

// DefaultLimits hold a snapshot of a large mesh with room to spare: a
// 50,000-service cluster's inventory is about 1M JSON objects, a sidecar's
// config dump with EDS in a 5,000-service mesh is ~42 MB (kept as a
// string: one value), and no Kubernetes list the inventory holds nests
// more than a few thousand items in one array (an EndpointSlice has at most
// 1,000 endpoints).
func DefaultLimits() Limits {
	return Limits{Inflated: 1 << 30, File: 256 << 20, Objects: 1_000_000, Values: 8_000_000, NestedItems: 10_000}
}

// listLimit is the most items a top-level list of an entry may hold. The
// inventory lists hold what one cluster has (istio-system and probe pods,
// not every pod); the network lists one record per probe or read.
func listLimit(kind, key string) int {
	switch kind + "." + key {
	case "inventory.namespaces":
		return 20_000
	case "inventory.deployments", "inventory.configMaps", "inventory.gateways":
		return 5_000
	case "inventory.pods":
		return 20_000
	case "inventory.services", "inventory.serviceEntries":
		return 50_000
	case "inventory.endpointSlices":
		return 100_000
	case "inventory.remoteSecrets":
		return 1_000
	case "network.probes", "network.remoteAccess", "network.admin", "network.exec", "manifest.contexts":
		return 10_000
	}
	return 1_000 // any other top-level list (errors, ...)
}

// maxDepth is encoding/json's own nesting limit.
const maxDepth = 10_000

var errInflated = errors.New("x")
var _ = errInflated

// budgetReader fails once more than left bytes have been read through it.
type budgetReader struct {
	r    io.Reader
	left int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errInflated
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// shapeBudget counts JSON structure without decoding it: objects and
// arrays, their members and elements, with per-list limits. It only
// counts; json.Unmarshal still validates the text afterwards.
type shapeBudget struct {
	objects, values, nested int
}

type shapeFrame struct {
	array   bool
	items   int
	limit   int
	started bool // an item has begun since the last comma
	what    string
}

// check counts data (the JSON text of one entry of kind) against the
// budget, which spans all entries.
func (sb *shapeBudget) check(data []byte, kind string) error {
	var stack []shapeFrame
	var lastKey []byte // the last string read directly in the top-level object
	inString, escaped := false, false
	strStart := 0
	begin := func() error {
		if len(stack) == 0 {
			return nil
		}
		top := &stack[len(stack)-1]
		if top.started {
			return nil
		}
		top.started = true
		top.items++
		if !top.array {
			// Members are counted at their key; values need no count.
			if top.items%2 == 0 {
				return nil
			}
		}
		sb.values--
		if sb.values < 0 {
			return errors.New("snapshot has too many JSON values (at most the limit of a large mesh)")
		}
		n := top.items
		if !top.array {
			n = (top.items + 1) / 2
		}
		if n > top.limit {
			return fmt.Errorf("%s has more than %d items", top.what, top.limit)
		}
		return nil
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if len(stack) == 1 && !stack[0].array {
					lastKey = data[strStart:i]
				}
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			if err := begin(); err != nil {
				return err
			}
			inString, strStart = true, i+1
		case '{', '[':
			if err := begin(); err != nil {
				return err
			}
			sb.objects--
			if sb.objects < 0 {
				return errors.New("snapshot has too many JSON objects (at most the limit of a large mesh)")
			}
			f := shapeFrame{array: c == '[', limit: sb.nested, what: "a nested list"}
			if c == '{' {
				f.what = "an object"
			}
			switch {
			case len(stack) == 0:
				f.limit, f.what = 1_000, "the top-level object"
			case len(stack) == 1 && !stack[0].array && c == '[':
				f.limit, f.what = listLimit(kind, string(lastKey)), fmt.Sprintf("list %q", lastKey)
			}
			if len(stack) >= maxDepth {
				return fmt.Errorf("JSON nested deeper than %d", maxDepth)
			}
			stack = append(stack, f)
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if len(stack) > 0 {
				stack[len(stack)-1].started = false
			}
		case ':':
			if len(stack) > 0 {
				// The value after a key is the member's second half.
				top := &stack[len(stack)-1]
				top.started = false
			}
		default:
			if err := begin(); err != nil {
				return err
			}
		}
	}
	return nil
}
