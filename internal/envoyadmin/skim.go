package envoyadmin

import (
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
// the sections wanted are given to protojson.
//
// The skim checks the structure it walks (brackets, strings, separators, a
// nesting limit) so that a malformed document is an error, not a silent
// short table; the bytes of the sections it returns are validated again,
// fully, by protojson.

// configSpan is one element of "configs": its type URL and its JSON.
type configSpan struct {
	typeURL string
	raw     []byte
}

// maxSkimDepth bounds nesting as protojson's default RecursionLimit does.
const maxSkimDepth = 10000

type skimmer struct {
	data []byte
	pos  int
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
		if string(key) != "configs" {
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
		if string(key) != "@type" {
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

func (s *skimmer) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

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
// bytes between the quotes, escapes left as they are: the keys compared are
// plain ASCII) once the ':' is consumed; member must read the value.
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

// value skips one JSON value.
func (s *skimmer) value(depth int) error {
	s.ws()
	switch c := s.peek(); {
	case c == '{':
		return s.object(depth, func([]byte) error { return s.value(depth + 1) })
	case c == '[':
		return s.array(depth, func() error { return s.value(depth + 1) })
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
	case c == 0:
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
	s.pos++
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			return s.data[start:s.pos], nil
		case c == '\\':
			s.pos += 2
		case c < 0x20:
			return nil, s.errorf("control character in string")
		default:
			s.pos++
		}
	}
	return nil, errEOF
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
