package envoyadmin

import (
	"encoding/binary"
	"math/bits"
)

// Word-at-a-time scanning for the skimmer and the endpoint decoder. Most of
// a pretty-printed dump is indentation and string bodies; both are scanned
// eight bytes at a time here, with the usual bit tricks on a uint64 read in
// little-endian order (so byte i of the word is bits 8i..8i+7 on every
// architecture):
//
//   - zeroBytes(x) has the high bit of byte i set when byte i of x is 0, and
//     possibly of higher bytes too (a borrow runs upwards only), so its lowest
//     set bit is always the first zero byte;
//   - lessBytes(x, n), for n <= 0x80, is the same for "byte i < n".
//
// The OR of such masks still has its lowest set bit at the first byte any of
// them flags, since none flags a byte below its own first true hit.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

func zeroBytes(x uint64) uint64 { return (x - lsb) & ^x & msb }

func lessBytes(x uint64, n byte) uint64 { return (x - lsb*uint64(n)) & ^x & msb }

// firstByte is the index of the byte the lowest set bit of a non-zero
// mask falls in.
func firstByte(mask uint64) int { return bits.TrailingZeros64(mask) >> 3 }

// skipSpace returns the position of the first byte at or after pos that is
// not JSON whitespace (space, tab, newline, carriage return).
func skipSpace(data []byte, pos int) int {
	for pos < len(data) {
		switch data[pos] {
		case ' ':
			// Runs of spaces (indentation) are taken eight at a time.
			for pos+8 <= len(data) {
				x := binary.LittleEndian.Uint64(data[pos:]) ^ (lsb * ' ')
				if x != 0 {
					// The first byte that is not a space.
					pos += firstByte(x)
					break
				}
				pos += 8
			}
			for pos < len(data) && data[pos] == ' ' {
				pos++
			}
		case '\n', '\t', '\r':
			pos++
		default:
			return pos
		}
	}
	return pos
}

// stringEnd scans a string body from pos (just after the opening quote)
// for the skimmer: it returns the position just after the closing quote.
// Escapes are stepped over, not checked; a control character is an error
// (ok false), as is the end of the data.
func stringEnd(data []byte, pos int) (end int, ok bool) {
	for {
		for pos+8 <= len(data) {
			w := binary.LittleEndian.Uint64(data[pos:])
			m := zeroBytes(w^(lsb*'"')) | zeroBytes(w^(lsb*'\\')) | lessBytes(w, 0x20)
			if m != 0 {
				pos += firstByte(m)
				break
			}
			pos += 8
		}
		for pos < len(data) {
			c := data[pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			pos++
		}
		if pos >= len(data) {
			return pos, false
		}
		switch c := data[pos]; {
		case c == '"':
			return pos + 1, true
		case c == '\\':
			pos += 2
		default:
			return pos, false
		}
	}
}

func leUint64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
