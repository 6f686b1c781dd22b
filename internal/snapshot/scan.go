package snapshot

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
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

var (
	// Any PEM private key block: PRIVATE KEY, RSA/EC/DSA/OPENSSH PRIVATE
	// KEY, ENCRYPTED PRIVATE KEY ...
	privateKeyPEM = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----`)
	// A JWT: base64url of a JSON header ("eyJ" is `{"`), payload and a
	// signature. Service-account tokens and OIDC ID tokens look like this.
	jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`)
	// A token value after a "token" key (kubeconfig YAML or JSON, also when
	// quoted inside another JSON string) or a bearer credential. The value
	// must look like a credential: 16 or more token characters.
	tokenValue  = regexp.MustCompile(`(?i)(?:^|[^A-Za-z0-9_])token\\?"?\s*[:=]\s*\\?"?([A-Za-z0-9._~+/=-]{16,})`)
	bearerValue = regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{16,})`)
	// Runs of standard base64 long enough to hide a key or a token (a
	// Secret's data, a kubeconfig's client-key-data).
	base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}`)
)

// maxBase64Decode bounds how much of one base64 run Scan decodes to look
// inside: enough for any key or token, not a whole embedded file.
const maxBase64Decode = 64 << 10

// Scan looks for secrets in b: private key PEM blocks of any type, JWT-
// shaped tokens, token: and bearer values, in clear and inside base64 (one
// level, as a Secret's data or a kubeconfig's *-data fields hold them). It
// is what Write runs over every byte it is about to write, and what the
// test tiers run over every output (scenario.Leaks). Findings name the kind
// of secret and its offset, never its content.
func Scan(b []byte) []Finding {
	out := scanClear(b, 0, "")
	for _, loc := range base64Run.FindAllIndex(b, -1) {
		run := b[loc[0]:loc[1]]
		if len(run) > maxBase64Decode {
			run = run[:maxBase64Decode]
		}
		run = run[:len(run)/4*4]
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(run)))
		n, err := base64.StdEncoding.Decode(dec, run)
		if err != nil && n == 0 {
			continue
		}
		for _, f := range scanClear(dec[:n], loc[0], " (base64-encoded)") {
			f.Offset = loc[0]
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

func scanClear(b []byte, base int, suffix string) []Finding {
	var out []Finding
	for _, m := range privateKeyPEM.FindAllSubmatchIndex(b, -1) {
		out = append(out, Finding{What: "a PEM " + string(b[m[2]:m[3]]) + " block" + suffix, Offset: base + m[0]})
	}
	for _, m := range jwtShape.FindAllIndex(b, -1) {
		out = append(out, Finding{What: "a JWT-shaped token" + suffix, Offset: base + m[0]})
	}
	for _, m := range tokenValue.FindAllSubmatchIndex(b, -1) {
		if v := b[m[2]:m[3]]; !jwtShape.Match(v) && !placeholder(v) {
			out = append(out, Finding{What: "a token value" + suffix, Offset: base + m[2]})
		}
	}
	for _, m := range bearerValue.FindAllSubmatchIndex(b, -1) {
		if v := b[m[2]:m[3]]; !jwtShape.Match(v) && !placeholder(v) {
			out = append(out, Finding{What: "a bearer credential" + suffix, Offset: base + m[2]})
		}
	}
	return out
}

// placeholder reports whether a token-like value is one of the words that
// stand for a redacted or absent value.
func placeholder(v []byte) bool {
	return bytes.Contains(bytes.ToLower(v), []byte("redacted"))
}
