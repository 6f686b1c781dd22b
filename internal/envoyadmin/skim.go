package envoyadmin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// A config dump is mostly listeners, clusters and routes that the endpoint
// checks never read: decoding the whole document with protojson spent three
// quarters of the parse on them (every Any is resolved, re-marshalled and
// decoded again at each nesting level). skimConfigs walks the document once
// without decoding it and hands back each element of the top-level "configs"
// array with its "@type", as a sub-slice of the input (no copy), so that only
// the sections wanted are decoded (by decodeEndpoints, or protojson).
//
// The skim checks the structure it walks (brackets, strings, separators, a
// nesting limit) so that a malformed document is an error, not a silent
// short table; the bytes of the sections it returns are validated again,
// fully, by the decoder that reads them. Whitespace and string bodies are
// scanned eight bytes at a time (scan.go): indentation is most of the bytes
// of a dump as Envoy pretty-prints it.

// configSpan is one element of "configs": its type URL and its JSON.
type configSpan struct {
	typeURL string
	raw     []byte
}

// maxSkimDepth bounds nesting as protojson's default RecursionLimit does.
const maxSkimDepth = 10000

type skimmer struct {
	data  []byte
	pos   int
	stack []byte // value's open brackets, kept between calls
}

type skimError struct {
	off int64
	msg string
}

func (e *skimError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.msg) }

func (s *skimmer) errorf(format string, a ...any) error {
	return &skimError{off: int64(s.pos), msg: fmt.Sprintf(format, a...)}
}

// skimConfigs returns the elements of the top-level "configs" array of a
// JSON object; other top-level members are skipped.
func skimConfigs(data []byte) ([]configSpan, error) {
	s := &skimmer{data: data}
	var spans []configSpan
	seen := false
	err := s.object(0, func(key []byte) error {
		if !keyIs(key, "configs") {
			return s.value(1)
		}
		if seen {
			return s.errorf("duplicate field configs")
		}
		seen = true
		s.ws()
		if s.peek() == 'n' {
			return s.literal("null")
		}
		return s.array(1, func() error {
			start := s.skipWS()
			typ, err := s.anyType(2)
			if err != nil {
				return err
			}
			spans = append(spans, configSpan{typeURL: typ, raw: s.data[start:s.pos]})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.pos != len(s.data) {
		return nil, s.errorf("unexpected data after the top-level object")
	}
	return spans, nil
}

// anyType reads one object (an Any in protojson form) and returns the value
// of its "@type" member, skipping the rest.
func (s *skimmer) anyType(depth int) (string, error) {
	var typ string
	err := s.object(depth, func(key []byte) error {
		if !keyIs(key, "@type") {
			return s.value(depth + 1)
		}
		s.ws()
		raw, err := s.str()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &typ); err != nil {
			return s.errorf("@type: %v", err)
		}
		return nil
	})
	return typ, err
}

// keyIs reports whether the raw key (between its quotes) is want once
// unescaped, as protojson reads it: "\u0040type" is "@type".
func keyIs(raw []byte, want string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == want
	}
	var k string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	return json.Unmarshal(q, &k) == nil && k == want
}

func (s *skimmer) ws() { s.pos = skipSpace(s.data, s.pos) }

func (s *skimmer) skipWS() int { s.ws(); return s.pos }

func (s *skimmer) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

var errEOF = errors.New("unexpected end of JSON input")

func (s *skimmer) expect(c byte) error {
	s.ws()
	if s.pos >= len(s.data) {
		return errEOF
	}
	if s.data[s.pos] != c {
		return s.errorf("want %q, found %q", c, s.data[s.pos])
	}
	s.pos++
	return nil
}

// object reads {"key": value, ...}, calling member with each raw key (the
// bytes between the quotes, escapes left as they are: compare them with
// keyIs) once the ':' is consumed; member must read the value.
func (s *skimmer) object(depth int, member func(key []byte) error) error {
	if depth > maxSkimDepth {
		return s.errorf("nesting deeper than %d", maxSkimDepth)
	}
	if err := s.expect('{'); err != nil {
		return err
	}
	s.ws()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		s.ws()
		raw, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(raw[1 : len(raw)-1]); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		case 0:
			return errEOF
		default:
			return s.errorf("want ',' or '}' in object, found %q", s.peek())
		}
	}
}

func (s *skimmer) array(depth int, elem func() error) error {
	if depth > maxSkimDepth {
		return s.errorf("nesting deeper than %d", maxSkimDepth)
	}
	if err := s.expect('['); err != nil {
		return err
	}
	s.ws()
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		case 0:
			return errEOF
		default:
			return s.errorf("want ',' or ']' in array, found %q", s.peek())
		}
	}
}

// value skips one JSON value. Objects and arrays are walked without
// recursion or callbacks (most of a dump is skipped, so this is the hot
// loop of the skim), with the same checks as object and array: brackets
// that match, strings as keys, ':' and ',' where they belong, and the
// nesting limit counted from depth.
func (s *skimmer) value(depth int) error {
	s.ws()
	switch c := s.peek(); c {
	case '{', '[':
	default:
		return s.scalar(c)
	}
	open := s.stack[:0]
	defer func() { s.stack = open[:0] }()
	for {
		// A value starts at s.pos (whitespace skipped).
		c := s.peek()
		if c == '{' || c == '[' {
			if depth+len(open) > maxSkimDepth {
				return s.errorf("nesting deeper than %d", maxSkimDepth)
			}
			s.pos++
			s.ws()
			if closer := s.peek(); (c == '{' && closer == '}') || (c == '[' && closer == ']') {
				s.pos++
			} else {
				open = append(open, c)
				if c == '{' {
					if err := s.key(); err != nil {
						return err
					}
				}
				continue
			}
		} else if err := s.scalar(c); err != nil {
			return err
		}
		// A value has ended: close containers until one goes on.
		for {
			if len(open) == 0 {
				return nil
			}
			s.ws()
			top := open[len(open)-1]
			c := s.peek()
			if c == ',' {
				s.pos++
				s.ws()
				if top == '{' {
					if err := s.key(); err != nil {
						return err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				s.pos++
				open = open[:len(open)-1]
				continue
			}
			if c == 0 && s.pos >= len(s.data) {
				return errEOF
			}
			if top == '{' {
				return s.errorf("want ',' or '}' in object, found %q", c)
			}
			return s.errorf("want ',' or ']' in array, found %q", c)
		}
	}
}

// key reads `"name":` and the whitespace after it, in value's walk.
func (s *skimmer) key() error {
	if _, err := s.str(); err != nil {
		return err
	}
	if err := s.expect(':'); err != nil {
		return err
	}
	s.ws()
	return nil
}

// scalar skips a string, literal or number starting with c at s.pos.
func (s *skimmer) scalar(c byte) error {
	switch {
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 0 && s.pos >= len(s.data):
		return errEOF
	default:
		return s.errorf("invalid character %q looking for a value", c)
	}
}

// str reads a string and returns it with its quotes.
func (s *skimmer) str() ([]byte, error) {
	if s.pos >= len(s.data) {
		return nil, errEOF
	}
	if s.data[s.pos] != '"' {
		return nil, s.errorf("want a string, found %q", s.data[s.pos])
	}
	start := s.pos
	end, ok := stringEnd(s.data, s.pos+1)
	if !ok {
		s.pos = end
		if end >= len(s.data) {
			return nil, errEOF
		}
		return nil, s.errorf("control character in string")
	}
	s.pos = end
	return s.data[start:end], nil
}

func (s *skimmer) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.errorf("invalid literal, want %s", word)
	}
	s.pos += len(word)
	return nil
}

func (s *skimmer) number() error {
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.pos++
			continue
		}
		break
	}
	if s.pos == start || (s.pos == start+1 && s.data[start] == '-') {
		return s.errorf("invalid number")
	}
	return nil
}
