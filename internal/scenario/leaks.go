package scenario

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

// Leaks lists what of the given secrets (private key PEMs and tokens a
// scenario handed out) appears in text: the secret itself, its base64
// form, a key's body without its PEM armour or its first body line, a
// token's signature — and anything the production scan that guards every
// snapshot write (snapshot.Scan) finds: private key blocks of any type,
// JWT-shaped tokens, token and bearer values, also inside base64. Every
// tier that proves "no key or token is ever printed or stored" asks this.
func Leaks(secrets []string, text string) []string {
	var out []string
	for _, f := range snapshot.Scan([]byte(text)) {
		out = append(out, f.String())
	}
	for _, s := range secrets {
		needles := []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
		if strings.Contains(s, "PRIVATE KEY") {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			if len(lines) > 2 {
				needles = append(needles, strings.Join(lines[1:len(lines)-1], ""), lines[1])
			}
		} else if parts := strings.Split(s, "."); len(parts) == 3 {
			needles = append(needles, parts[2]) // a token's signature
		}
		for _, n := range needles {
			if strings.TrimSpace(n) != "" && strings.Contains(text, n) {
				out = append(out, fmt.Sprintf("fixture secret material (%q...)", n[:min(12, len(n))]))
			}
		}
	}
	return out
}
