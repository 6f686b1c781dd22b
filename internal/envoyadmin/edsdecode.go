package envoyadmin

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The endpoint sections are most of what is left once the skim has dropped
// listeners, clusters and routes. decodeEndpoints reads them by hand, on the
// bytes where they lie, straight into the table: no proto, no reflection,
// no second pass over a value to find its end.
//
// It is strict. It reads the proto field names Envoy writes and nothing
// else, and declines (returns an error, and the caller decodes the section
// with protojson instead) whenever it is not sure to read what protojson
// reads: a field it does not know, the camelCase names protojson also
// accepts, an escaped key, null, a number written as a string or with a
// fraction or exponent, an enum given by number or by a name it does not
// know, a Struct nested deeper than maxStructDepth, an Any of a type
// protojson would decode. Where protojson would fail (a duplicate field or
// map key, two members of a oneof, invalid UTF-8, a bad escape or surrogate
// pair, a timestamp out of range, a uint32 out of range), it declines too,
// and protojson then gives the error. What it accepts is checked as
// protojson's decoder checks it (google.golang.org/protobuf
// internal/encoding/json decode_string.go parseString for strings,
// encoding/protojson decode.go unmarshalMessage for fields, well_known_types.go
// for Any, Struct and Timestamp), so that a section it takes gives the table
// protojson gives: TestDecodeEndpointsMatchesProtojson and
// FuzzDecodeEndpoints hold the two to that.

var (
	claURL     = typeURL(&endpointv3.ClusterLoadAssignment{})
	edsDumpURL = typeURL(&adminv3.EndpointsConfigDump{})
	dynamicURL = typeURL(&adminv3.EndpointsConfigDump_DynamicEndpointConfig{})
	staticURL  = typeURL(&adminv3.EndpointsConfigDump_StaticEndpointConfig{})
)

// maxStructDepth bounds the nesting of Struct and list values this decoder
// walks (metadata); deeper ones go to protojson.
const maxStructDepth = 64

// maxStructKeys bounds the keys of one Struct or map checked for duplicates
// pairwise; a larger one goes to protojson.
const maxStructKeys = 64

// errDeclined marks every error of the decoder: the section goes to
// protojson.
var errDeclined = errors.New("declined by the endpoint decoder")

type edsDecoder struct {
	data []byte
	pos  int
	t    Table
	eps  []Endpoint  // the endpoints of the ClusterLoadAssignment being read
	adds []addrFacts // the additional addresses of the LbEndpoint being read
	buf  []byte      // unescaping
	// The locality last turned into a string, to share it between groups.
	locRaw [3]string
	locStr string
}

type declineError struct {
	off int
	msg string
}

func (e *declineError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.msg) }
func (e *declineError) Unwrap() error { return errDeclined }

func (d *edsDecoder) decline(format string, a ...any) error {
	return &declineError{off: d.pos, msg: fmt.Sprintf(format, a...)}
}

// decodeEndpoints decodes one endpoint section of a dump (any of the four
// types isEndpointType accepts) into t. An error means the section must be
// read by protojson, and what t was given must then be dropped.
func decodeEndpoints(typ string, raw []byte, t Table) error {
	d := &edsDecoder{data: raw, t: t}
	var err error
	switch typ {
	case edsDumpURL:
		err = d.edsDump()
	case dynamicURL:
		err = d.endpointConfig(false, typ)
	case staticURL:
		err = d.endpointConfig(true, typ)
	case claURL:
		err = d.cla()
	default:
		return d.decline("not an endpoint section: %s", typ)
	}
	if err != nil {
		return err
	}
	if d.pos != len(d.data) {
		return d.decline("data after the value")
	}
	return nil
}

// Structure. Every reader starts at its value's first byte and leaves
// d.pos just after it; open, key and next consume the whitespace after
// what they read.

func (d *edsDecoder) ws() { d.pos = skipSpace(d.data, d.pos) }

// open consumes the opening bracket c and reports whether the container is
// empty (its closing bracket consumed too).
func (d *edsDecoder) open(c byte) (empty bool, err error) {
	if d.pos >= len(d.data) || d.data[d.pos] != c {
		return false, d.decline("want %q", c)
	}
	d.pos++
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == c+2 { // '{'+2 is '}', '['+2 is ']'
		d.pos++
		return true, nil
	}
	return false, nil
}

// next consumes the ',' after a member or element (more) or the closing
// bracket.
func (d *edsDecoder) next(closer byte) (more bool, err error) {
	d.ws()
	if d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.ws()
			return true, nil
		case closer:
			d.pos++
			return false, nil
		}
	}
	return false, d.decline("want ',' or %q", closer)
}

// array reads a JSON array, calling elem for each element (positioned at
// its first byte); the opening and closing bytes and the separators are
// checked as open and next check them.
func (d *edsDecoder) array(elem func() error) error {
	empty, err := d.open('[')
	if err != nil {
		return err
	}
	for more := !empty; more; {
		if err := elem(); err != nil {
			return err
		}
		if more, err = d.next(']'); err != nil {
			return err
		}
	}
	return nil
}

// key reads a member's name and its ':'. A name with an escape is
// declined: message fields are then not matched by their bytes, nor map
// keys compared by them.
func (d *edsDecoder) key() ([]byte, error) {
	body, esc, err := d.str()
	if err != nil {
		return nil, err
	}
	if esc {
		return nil, d.decline("escaped key")
	}
	d.ws()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		return nil, d.decline("want ':'")
	}
	d.pos++
	d.ws()
	return body, nil
}

// once sets bit in *seen, and declines a field met twice (protojson:
// "duplicate field").
func (d *edsDecoder) once(seen *uint32, bit uint32, key []byte) error {
	if *seen&bit != 0 {
		return d.decline("duplicate field %s", key)
	}
	*seen |= bit
	return nil
}

// Strings.

// str reads a string and returns its body (the bytes between the quotes)
// and whether it holds escapes. It checks what protojson's parseString
// checks: valid UTF-8, no control character, only the JSON escapes, \u
// escapes of surrogates only as a valid pair.
func (d *edsDecoder) str() (body []byte, esc bool, err error) {
	data, pos := d.data, d.pos
	if pos >= len(data) || data[pos] != '"' {
		return nil, false, d.decline("want a string")
	}
	pos++
	start := pos
	for {
		for pos+8 <= len(data) {
			w := leUint64(data[pos:])
			m := zeroBytes(w^(lsb*'"')) | zeroBytes(w^(lsb*'\\')) | lessBytes(w, 0x20) | (w & msb)
			if m != 0 {
				pos += firstByte(m)
				break
			}
			pos += 8
		}
		for pos < len(data) {
			c := data[pos]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			pos++
		}
		if pos >= len(data) {
			d.pos = pos
			return nil, false, d.decline("unterminated string")
		}
		switch c := data[pos]; {
		case c == '"':
			d.pos = pos + 1
			return data[start:pos], esc, nil
		case c == '\\':
			esc = true
			n := escapeLen(data[pos:])
			if n == 0 {
				d.pos = pos
				return nil, false, d.decline("invalid escape in string")
			}
			pos += n
		case c >= 0x80:
			r, n := utf8.DecodeRune(data[pos:])
			if r == utf8.RuneError && n == 1 {
				d.pos = pos
				return nil, false, d.decline("invalid UTF-8 in string")
			}
			pos += n
		default:
			d.pos = pos
			return nil, false, d.decline("control character in string")
		}
	}
}

// escapeLen is the length of the escape at the start of b (b[0] is '\\'),
// 0 if protojson rejects it.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return 0
		}
		if !utf16.IsSurrogate(r) {
			return 6
		}
		if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0
		}
		r2, ok := hex4(b[8:])
		if !ok || utf16.DecodeRune(r, r2) == utf8.RuneError {
			return 0
		}
		return 12
	}
	return 0
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// text is the value of a string str checked.
func (d *edsDecoder) text(body []byte, esc bool) string {
	if !esc {
		return string(body)
	}
	out := d.buf[:0]
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch body[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(body[i+2:])
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(body[i+8:])
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			out = append(out, body[i+1])
		}
		i += 2
	}
	d.buf = out
	return string(out)
}

// strValue reads a string field.
func (d *edsDecoder) strValue() (string, error) {
	body, esc, err := d.str()
	if err != nil {
		return "", err
	}
	return d.text(body, esc), nil
}

// skipStr reads a string field the table does not use.
func (d *edsDecoder) skipStr() error {
	_, _, err := d.str()
	return err
}

// Scalars.

// uint32 reads a uint32 field written as protojson writes it: a plain
// integer. A fraction, an exponent, a sign or a string (which protojson
// also accepts) are declined, as is a value out of range (which it
// rejects).
func (d *edsDecoder) uint32() (uint32, error) {
	data, pos := d.data, d.pos
	if pos >= len(data) || data[pos] < '0' || data[pos] > '9' {
		return 0, d.decline("want an unsigned integer")
	}
	var v uint64
	if data[pos] == '0' {
		pos++
	} else {
		for pos < len(data) && data[pos] >= '0' && data[pos] <= '9' {
			v = v*10 + uint64(data[pos]-'0')
			if v > math.MaxUint32 {
				return 0, d.decline("uint32 out of range")
			}
			pos++
		}
	}
	if pos < len(data) {
		switch c := data[pos]; {
		case c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9'):
			return 0, d.decline("number form not read here")
		}
	}
	d.pos = pos
	return uint32(v), nil
}

func (d *edsDecoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.decline("want %s", word)
	}
	d.pos += len(word)
	return nil
}

func (d *edsDecoder) boolean() error {
	if d.pos < len(d.data) && d.data[d.pos] == 't' {
		return d.literal("true")
	}
	return d.literal("false")
}

// number reads a JSON number (RFC 8259 grammar, as protojson's tokenizer
// has it) that a float64 holds, as a Struct's number_value.
func (d *edsDecoder) number() error {
	data, pos := d.data, d.pos
	start := pos
	digits := func() bool {
		p := pos
		for pos < len(data) && data[pos] >= '0' && data[pos] <= '9' {
			pos++
		}
		return pos > p
	}
	if pos < len(data) && data[pos] == '-' {
		pos++
	}
	switch {
	case pos < len(data) && data[pos] == '0':
		pos++
	case !digits():
		return d.decline("invalid number")
	}
	if pos < len(data) && data[pos] == '.' {
		pos++
		if !digits() {
			return d.decline("invalid number")
		}
	}
	if pos < len(data) && (data[pos] == 'e' || data[pos] == 'E') {
		pos++
		if pos < len(data) && (data[pos] == '+' || data[pos] == '-') {
			pos++
		}
		if !digits() {
			return d.decline("invalid number")
		}
	}
	if _, err := strconv.ParseFloat(string(data[start:pos]), 64); err != nil {
		return d.decline("number out of range")
	}
	d.pos = pos
	return nil
}

// enum reads an enum field given by name; a number or a name not in
// values is declined.
func (d *edsDecoder) enum(values map[string]int32) (int32, error) {
	body, esc, err := d.str()
	if err != nil {
		return 0, err
	}
	v, ok := values[string(body)]
	if esc || !ok {
		return 0, d.decline("enum value %q not read here", body)
	}
	return v, nil
}

// timestamp reads a google.protobuf.Timestamp as protojson does
// (well_known_types.go unmarshalTimestamp).
func (d *edsDecoder) timestamp() error {
	body, esc, err := d.str()
	if err != nil {
		return err
	}
	if esc {
		return d.decline("escaped timestamp")
	}
	s := string(body)
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return d.decline("invalid timestamp")
	}
	if secs := ts.Unix(); secs < -62135596800 || secs > 253402300799 {
		return d.decline("timestamp out of range")
	}
	i := strings.LastIndexByte(s, '.')
	j := strings.LastIndexAny(s, "Z-+")
	if i >= 0 && j >= i && j-i > len(".999999999") {
		return d.decline("invalid timestamp")
	}
	return nil
}

// Struct, Value and opaque Any.

// value reads a google.protobuf.Value: any JSON value, a Struct's keys
// unique.
func (d *edsDecoder) value(depth int) error {
	if d.pos >= len(d.data) {
		return d.decline("want a value")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.structValue(depth+1, nil, nil)
	case c == '[':
		if depth+1 > maxStructDepth {
			return d.decline("nesting deeper than %d", maxStructDepth)
		}
		return d.array(func() error { return d.value(depth + 1) })
	case c == '"':
		return d.skipStr()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return d.decline("want a value")
}

// structValue reads a google.protobuf.Struct; the string values of the
// keys in want are stored in got (same index).
func (d *edsDecoder) structValue(depth int, want []string, got []string) error {
	if depth > maxStructDepth {
		return d.decline("nesting deeper than %d", maxStructDepth)
	}
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var keysBuf [8][]byte
	keys := keysBuf[:0]
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		if keys, err = d.unique(keys, k); err != nil {
			return err
		}
		wanted := -1
		for i, w := range want {
			if string(k) == w {
				wanted = i
			}
		}
		if wanted >= 0 && d.pos < len(d.data) && d.data[d.pos] == '"' {
			if got[wanted], err = d.strValue(); err != nil {
				return err
			}
		} else if err := d.value(depth); err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

// unique adds k to the keys of a map or Struct, declining a duplicate
// (protojson: "duplicate map key").
func (d *edsDecoder) unique(keys [][]byte, k []byte) ([][]byte, error) {
	if len(keys) >= maxStructKeys {
		return nil, d.decline("more than %d keys", maxStructKeys)
	}
	for _, o := range keys {
		if string(o) == string(k) {
			return nil, d.decline("duplicate key %s", k)
		}
	}
	return append(keys, k), nil
}

// opaqueAny reads an Any of a type the global registry does not know:
// protojson resolves it to the placeholder (resolver.go) and skips its
// fields. An Any of a known type would be decoded as that type: declined.
func (d *edsDecoder) opaqueAny() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var typ string
	seen := false
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch {
		case string(k) == "@type":
			if seen {
				return d.decline("duplicate @type")
			}
			seen = true
			if typ, err = d.strValue(); err != nil {
				return err
			}
		case len(k) > 0 && k[0] == '[':
			return d.decline("extension name in an Any")
		default:
			if err := d.value(0); err != nil {
				return err
			}
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	if typ == "" {
		return d.decline("Any without @type")
	}
	if _, err := protoregistry.GlobalTypes.FindMessageByURL(typ); !errors.Is(err, protoregistry.NotFound) {
		return d.decline("Any of a known type %s", typ)
	}
	return nil
}

// Messages.

// typeField reads an "@type" and declines one that is not want.
func (d *edsDecoder) typeField(want string) error {
	body, esc, err := d.str()
	if err != nil {
		return err
	}
	if esc || string(body) != want {
		return d.decline("@type %q, want %s", body, want)
	}
	return nil
}

// edsDump reads an admin.v3.EndpointsConfigDump.
func (d *edsDecoder) edsDump() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "@type":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.typeField(edsDumpURL)
			}
		case "static_endpoint_configs", "dynamic_endpoint_configs":
			static := string(k) == "static_endpoint_configs"
			bit := uint32(2)
			if static {
				bit = 4
			}
			if err = d.once(&seen, bit, k); err == nil {
				err = d.configs(static)
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	if seen&1 == 0 {
		return d.decline("no @type")
	}
	return nil
}

func (d *edsDecoder) configs(static bool) error {
	return d.array(func() error { return d.endpointConfig(static, "") })
}

// endpointConfig reads an EndpointsConfigDump.StaticEndpointConfig or
// DynamicEndpointConfig; typ is its "@type" when it is a config of the
// dump itself (the ?resource= form), "" inside an EndpointsConfigDump.
func (d *edsDecoder) endpointConfig(static bool, typ string) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "@type":
			if typ == "" {
				return d.decline("unknown field @type")
			}
			if err = d.once(&seen, 1, k); err == nil {
				err = d.typeField(typ)
			}
		case "endpoint_config":
			if err = d.once(&seen, 2, k); err == nil {
				err = d.cla()
			}
		case "last_updated":
			if err = d.once(&seen, 4, k); err == nil {
				err = d.timestamp()
			}
		case "version_info":
			if static {
				return d.decline("unknown field %s", k)
			}
			if err = d.once(&seen, 8, k); err == nil {
				err = d.skipStr()
			}
		case "client_status":
			if static {
				return d.decline("unknown field %s", k)
			}
			if err = d.once(&seen, 16, k); err == nil {
				_, err = d.enum(adminv3.ClientResourceStatus_value)
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	if typ != "" && seen&1 == 0 {
		return d.decline("no @type")
	}
	return nil
}

// cla reads a ClusterLoadAssignment in an Any and adds its endpoints to
// the table (the cluster with none when it has none), as Table.addCLA does.
func (d *edsDecoder) cla() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	d.eps = d.eps[:0]
	var name string
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "@type":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.typeField(claURL)
			}
		case "cluster_name":
			if err = d.once(&seen, 2, k); err == nil {
				name, err = d.strValue()
			}
		case "endpoints":
			if err = d.once(&seen, 4, k); err == nil {
				err = d.groups()
			}
		case "policy":
			if err = d.once(&seen, 8, k); err == nil {
				err = d.policy()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	if seen&1 == 0 {
		return d.decline("no @type")
	}
	cur, ok := d.t[name]
	if !ok {
		cur = make([]Endpoint, 0, len(d.eps))
	}
	d.t[name] = append(cur, d.eps...)
	return nil
}

func (d *edsDecoder) policy() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "overprovisioning_factor":
			if err = d.once(&seen, 1, k); err == nil {
				_, err = d.uint32()
			}
		case "weighted_priority_health":
			if err = d.once(&seen, 2, k); err == nil {
				err = d.boolean()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

// groups reads the LocalityLbEndpoints of a ClusterLoadAssignment.
func (d *edsDecoder) groups() error {
	return d.array(d.group)
}

func (d *edsDecoder) group() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	first := len(d.eps)
	var loc [3]string
	var priority uint32
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "locality":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.locality(&loc)
			}
		case "lb_endpoints":
			if err = d.once(&seen, 2, k); err == nil {
				err = d.lbEndpoints()
			}
		case "load_balancing_weight":
			if err = d.once(&seen, 4, k); err == nil {
				_, err = d.uint32()
			}
		case "priority":
			if err = d.once(&seen, 8, k); err == nil {
				priority, err = d.uint32()
			}
		case "proximity":
			if err = d.once(&seen, 16, k); err == nil {
				_, err = d.uint32()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	locality := d.localityString(loc)
	for i := first; i < len(d.eps); i++ {
		d.eps[i].Locality, d.eps[i].Priority = locality, priority
	}
	return nil
}

// localityString is localityString of table.go, the last result reused.
func (d *edsDecoder) localityString(loc [3]string) string {
	if loc != d.locRaw {
		d.locRaw = loc
		d.locStr = strings.TrimRight(loc[0]+"/"+loc[1]+"/"+loc[2], "/")
	}
	return d.locStr
}

func (d *edsDecoder) locality(loc *[3]string) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		i := -1
		switch string(k) {
		case "region":
			i = 0
		case "zone":
			i = 1
		case "sub_zone":
			i = 2
		default:
			return d.decline("unknown field %s", k)
		}
		if err := d.once(&seen, 1<<i, k); err != nil {
			return err
		}
		// Compared with the last locality before a string is made.
		body, esc, err := d.str()
		if err != nil {
			return err
		}
		if esc || string(body) != d.locRaw[i] {
			loc[i] = d.text(body, esc)
		} else {
			loc[i] = d.locRaw[i]
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

func (d *edsDecoder) lbEndpoints() error {
	return d.array(d.lbEndpoint)
}

// lbEndpoint reads one LbEndpoint into an Endpoint, as Table.addCLA does.
func (d *edsDecoder) lbEndpoint() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	ep := Endpoint{Weight: 1}
	var primary addrFacts
	var workload string
	var od [2]string // original_dst "local", "waypoint"
	d.adds = d.adds[:0]
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "endpoint":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.endpoint(&primary)
			}
		case "health_status":
			if err = d.once(&seen, 2, k); err == nil {
				var v int32
				if v, err = d.enum(corev3.HealthStatus_value); err == nil && v != 0 {
					ep.Health = corev3.HealthStatus(v).String()
				}
			}
		case "metadata":
			if err = d.once(&seen, 4, k); err == nil {
				err = d.metadata(&workload, &od)
			}
		case "load_balancing_weight":
			if err = d.once(&seen, 8, k); err == nil {
				ep.Weight, err = d.uint32()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	for _, a := range d.adds {
		ep.AdditionalAddresses = append(ep.AdditionalAddresses, a.hostPort())
	}
	ep.setPrimary(primary, od[0], od[1])
	ep.Workload, ep.SourceCluster = splitWorkload(workload)
	d.eps = append(d.eps, ep)
	return nil
}

func (d *edsDecoder) endpoint(primary *addrFacts) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "address":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.address(primary)
			}
		case "hostname":
			if err = d.once(&seen, 2, k); err == nil {
				err = d.skipStr()
			}
		case "additional_addresses":
			if err = d.once(&seen, 4, k); err == nil {
				err = d.additionalAddresses()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

func (d *edsDecoder) additionalAddresses() error {
	empty, err := d.open('[')
	if err != nil {
		return err
	}
	for more := !empty; more; {
		// An Endpoint.AdditionalAddress: {"address": {...}}.
		var a addrFacts
		inner, err := d.open('{')
		if err != nil {
			return err
		}
		var seen uint32
		for more := !inner; more; {
			k, err := d.key()
			if err != nil {
				return err
			}
			if string(k) != "address" {
				return d.decline("unknown field %s", k)
			}
			if err := d.once(&seen, 1, k); err != nil {
				return err
			}
			if err := d.address(&a); err != nil {
				return err
			}
			if more, err = d.next('}'); err != nil {
				return err
			}
		}
		d.adds = append(d.adds, a)
		if more, err = d.next(']'); err != nil {
			return err
		}
	}
	return nil
}

// address reads a core.v3.Address: one of socket_address, pipe and
// envoy_internal_address (a second one: protojson's "oneof is already
// set").
func (d *edsDecoder) address(a *addrFacts) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		kind := addrNone
		switch string(k) {
		case "socket_address":
			kind = addrSocket
		case "pipe":
			kind = addrPipe
		case "envoy_internal_address":
			kind = addrInternal
		default:
			return d.decline("unknown field %s", k)
		}
		if a.kind != addrNone {
			return d.decline("two addresses in one (oneof)")
		}
		*a = addrFacts{kind: kind}
		var fields []string
		var got [2]string
		switch kind {
		case addrSocket:
			err = d.socketAddress(a)
		case addrPipe:
			fields = []string{"path"}
			err = d.fields(fields, got[:], "mode")
			a.host = got[0]
		case addrInternal:
			fields = []string{"server_listener_name", "endpoint_id"}
			err = d.fields(fields, got[:], "")
			a.listener, a.id = got[0], got[1]
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

// fields reads a message whose fields are the strings names (stored in
// got) and, if not "", the uint32 field number.
func (d *edsDecoder) fields(names []string, got []string, number string) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		i := -1
		for j, n := range names {
			if string(k) == n {
				i = j
			}
		}
		switch {
		case i >= 0:
			if err = d.once(&seen, 1<<i, k); err == nil {
				got[i], err = d.strValue()
			}
		case number != "" && string(k) == number:
			if err = d.once(&seen, 1<<len(names), k); err == nil {
				_, err = d.uint32()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

func (d *edsDecoder) socketAddress(a *addrFacts) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "address":
			if err = d.once(&seen, 1, k); err == nil {
				a.host, err = d.strValue()
			}
		case "port_value":
			if err = d.once(&seen, 2, k); err == nil {
				a.port, err = d.uint32()
			}
		case "protocol":
			if err = d.once(&seen, 4, k); err == nil {
				_, err = d.enum(corev3.SocketAddress_Protocol_value)
			}
		case "resolver_name":
			if err = d.once(&seen, 8, k); err == nil {
				err = d.skipStr()
			}
		case "ipv4_compat":
			if err = d.once(&seen, 16, k); err == nil {
				err = d.boolean()
			}
		case "network_namespace_filepath":
			if err = d.once(&seen, 32, k); err == nil {
				err = d.skipStr()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

// metadata reads a core.v3.Metadata: the string "workload" of
// filter_metadata["istio"], "local" and "waypoint" of
// filter_metadata[originalDstKey]; the other Structs checked and skipped,
// typed_filter_metadata's Anys taken only of types protojson does not know.
func (d *edsDecoder) metadata(workload *string, od *[2]string) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "filter_metadata":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.filterMetadata(workload, od)
			}
		case "typed_filter_metadata":
			if err = d.once(&seen, 2, k); err == nil {
				err = d.typedFilterMetadata()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

var (
	istioFields       = []string{"workload"}
	originalDstFields = []string{"local", "waypoint"}
)

func (d *edsDecoder) filterMetadata(workload *string, od *[2]string) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var keysBuf [8][]byte
	keys := keysBuf[:0]
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		if keys, err = d.unique(keys, k); err != nil {
			return err
		}
		switch string(k) {
		case "istio":
			var got [1]string
			err = d.structValue(1, istioFields, got[:])
			*workload = got[0]
		case originalDstKey:
			err = d.structValue(1, originalDstFields, od[:])
		default:
			err = d.structValue(1, nil, nil)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

func (d *edsDecoder) typedFilterMetadata() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var keysBuf [8][]byte
	keys := keysBuf[:0]
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		if keys, err = d.unique(keys, k); err != nil {
			return err
		}
		if err := d.opaqueAny(); err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

// uint64 reads a uint64 field: a plain integer, or the same digits in a
// string (protojson writes 64-bit integers as strings). Other forms
// protojson accepts are declined.
func (d *edsDecoder) uint64() error {
	data, pos := d.data, d.pos
	quoted := pos < len(data) && data[pos] == '"'
	if quoted {
		pos++
	}
	start := pos
	for pos < len(data) && data[pos] >= '0' && data[pos] <= '9' {
		pos++
	}
	digits := string(data[start:pos])
	if digits == "" || (digits[0] == '0' && len(digits) > 1) {
		return d.decline("want an unsigned integer")
	}
	if _, err := strconv.ParseUint(digits, 10, 64); err != nil {
		return d.decline("uint64 out of range")
	}
	if quoted {
		if pos >= len(data) || data[pos] != '"' {
			return d.decline("number form not read here")
		}
		pos++
	} else if pos < len(data) && (data[pos] == '.' || data[pos] == 'e' || data[pos] == 'E') {
		return d.decline("number form not read here")
	}
	d.pos = pos
	return nil
}

// percent reads a type.v3.Percent: {"value": a JSON number}.
func (d *edsDecoder) percent() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		if string(k) != "value" {
			return d.decline("unknown field %s", k)
		}
		if err := d.once(&seen, 1, k); err != nil {
			return err
		}
		if err := d.number(); err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}
