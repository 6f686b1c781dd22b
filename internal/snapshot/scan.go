package snapshot

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"sort"
)

// Finding is one secret-shaped thing a Scan found. What names the kind
// ("a PEM RSA PRIVATE KEY block", "a JWT-shaped token", ...) and Offset is
// where it starts in the scanned bytes; neither repeats the secret itself.
type Finding struct {
	What   string
	Offset int
}

func (f Finding) String() string { return fmt.Sprintf("%s at byte %d", f.What, f.Offset) }

// Character classes, as lookup tables: Scan runs over every byte of a
// snapshot (tens of MB of Envoy dumps), so it matches by hand, not with
// regexp.
var (
	base64URLChars = charClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
	base64Chars    = charClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	tokenChars     = charClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-")
	wordChars      = charClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
)

func charClass(s string) (c [256]bool) {
	for i := range len(s) {
		c[s[i]] = true
	}
	return c
}

const (
	// minBase64Run is the shortest base64 run Scan decodes to look inside:
	// shorter than any key and than a token's PEM or JWT header.
	minBase64Run = 40
	// minTokenValue is the shortest value after "token:" or "Bearer" that
	// counts as a credential.
	minTokenValue = 16
	// maxBase64Decode bounds how much of one base64 run Scan decodes: enough
	// for any key or token, not a whole embedded file.
	maxBase64Decode = 64 << 10
)

// Scan looks for secrets in b: private key PEM blocks of any type (PRIVATE
// KEY, RSA/EC/OPENSSH PRIVATE KEY, ENCRYPTED PRIVATE KEY ...), JWT-shaped
// tokens, token: and bearer values, in clear and inside base64 (one level,
// as a Secret's data or a kubeconfig's *-data fields hold them). It is what
// Write runs over every byte it is about to write, and what the test tiers
// run over every output (scenario.Leaks). Findings name the kind of secret
// and its offset, never its content.
func Scan(b []byte) []Finding {
	out := scanClear(b, 0, "")
	for i := 0; i < len(b); {
		if !base64Chars[b[i]] {
			i++
			continue
		}
		j := i
		for j < len(b) && base64Chars[b[j]] {
			j++
		}
		for j < len(b) && j-i < maxBase64Decode && b[j] == '=' {
			j++
		}
		if j-i >= minBase64Run {
			run := b[i:min(j, i+maxBase64Decode)]
			run = run[:len(run)/4*4]
			dec := make([]byte, base64.StdEncoding.DecodedLen(len(run)))
			if n, _ := base64.StdEncoding.Decode(dec, run); n > 0 {
				for _, f := range scanClear(dec[:n], 0, " (base64-encoded)") {
					f.Offset = i
					out = append(out, f)
				}
			}
		}
		i = j
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

func scanClear(b []byte, base int, suffix string) []Finding {
	var out []Finding
	// PEM private key blocks: "-----BEGIN <type ending in PRIVATE KEY>-----".
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte("-----BEGIN "))
		if k < 0 {
			break
		}
		start := i + k
		typ := start + len("-----BEGIN ")
		end := typ
		for end < len(b) && end-typ < 64 && (b[end] >= 'A' && b[end] <= 'Z' || b[end] >= '0' && b[end] <= '9' || b[end] == ' ') {
			end++
		}
		if t := b[typ:end]; bytes.HasSuffix(t, []byte("PRIVATE KEY")) && bytes.HasPrefix(b[end:], []byte("-----")) {
			out = append(out, Finding{What: "a PEM " + string(t) + " block" + suffix, Offset: base + start})
		}
		i = typ
	}
	// JWTs: base64url of a JSON header ("eyJ" is `{"`), a payload and a
	// signature. Service-account tokens and OIDC ID tokens look like this.
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte("eyJ"))
		if k < 0 {
			break
		}
		start := i + k
		if end, ok := jwtAt(b, start); ok {
			out = append(out, Finding{What: "a JWT-shaped token" + suffix, Offset: base + start})
			i = end
			continue
		}
		i = start + 3
	}
	// A value after a "token" key (kubeconfig YAML or JSON, also when
	// quoted inside another JSON string) and a bearer credential.
	for _, kw := range []struct {
		word, what string
		value      func([]byte, int) (int, int, bool)
	}{
		{"token", "a token value", tokenValueAt},
		{"bearer", "a bearer credential", bearerValueAt},
	} {
		for i := 0; ; {
			k := indexFold(b[i:], kw.word)
			if k < 0 {
				break
			}
			at := i + k
			i = at + len(kw.word)
			if at > 0 && wordChars[b[at-1]] {
				continue
			}
			vs, ve, ok := kw.value(b, i)
			if !ok {
				continue
			}
			if v := b[vs:ve]; !isJWT(v) && !placeholder(v) {
				out = append(out, Finding{What: kw.what + suffix, Offset: base + vs})
			}
			i = ve
		}
	}
	return out
}

// jwtAt matches header.payload.signature at b[start:] and returns its end.
func jwtAt(b []byte, start int) (int, bool) {
	i := start
	for seg, least := range []int{8 + 3, 8, 16} {
		j := i
		for j < len(b) && base64URLChars[b[j]] {
			j++
		}
		if j-i < least {
			return 0, false
		}
		if seg < 2 {
			if j >= len(b) || b[j] != '.' {
				return 0, false
			}
			j++
		}
		i = j
	}
	return i, true
}

func isJWT(v []byte) bool {
	k := bytes.Index(v, []byte("eyJ"))
	if k < 0 {
		return false
	}
	_, ok := jwtAt(v, k)
	return ok
}

// tokenValueAt matches `\?"?\s*[:=]\s*\?"?VALUE` after a "token" key.
func tokenValueAt(b []byte, i int) (int, int, bool) {
	i = skip(b, i, `\`)
	i = skip(b, i, `"`)
	i = skipSpace(b, i)
	if i >= len(b) || (b[i] != ':' && b[i] != '=') {
		return 0, 0, false
	}
	i = skipSpace(b, i+1)
	i = skip(b, i, `\`)
	i = skip(b, i, `"`)
	return valueAt(b, i)
}

// bearerValueAt matches `\s+VALUE` after "bearer".
func bearerValueAt(b []byte, i int) (int, int, bool) {
	j := skipSpace(b, i)
	if j == i {
		return 0, 0, false
	}
	return valueAt(b, j)
}

func valueAt(b []byte, i int) (int, int, bool) {
	j := i
	for j < len(b) && tokenChars[b[j]] {
		j++
	}
	return i, j, j-i >= minTokenValue
}

func skip(b []byte, i int, s string) int {
	if bytes.HasPrefix(b[i:], []byte(s)) {
		return i + len(s)
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// indexFold is bytes.Index ignoring ASCII case; word is lower case.
func indexFold(b []byte, word string) int {
	first, upper := word[0], word[0]-'a'+'A'
	for i := 0; i+len(word) <= len(b); i++ {
		if c := b[i]; c != first && c != upper {
			continue
		}
		match := true
		for k := 1; k < len(word); k++ {
			if c := b[i+k] | 0x20; c != word[k] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// placeholder reports whether a token-like value is one of the words that
// stand for a redacted or absent value.
func placeholder(v []byte) bool {
	return bytes.Contains(bytes.ToLower(v), []byte("redacted"))
}
