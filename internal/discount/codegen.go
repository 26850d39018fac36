package discount

import (
	"crypto/rand"
	"fmt"
	"io"
)

// codeAlphabet has 32 symbols with no look-alikes (no 0/O, no 1/I): a
// shopper copying a code by hand cannot misread it, and 32 divides 256 so
// masking a random byte is unbiased.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// codeRandomLen random symbols carry 60 bits: unguessable, and collisions
// within a shop are negligible (and caught by a unique index anyway).
const codeRandomLen = 12

// newCode returns PREFIX-XXXX-XXXX-XXXX from crypto/rand.
func newCode(prefix string, r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, codeRandomLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("discount: generating code: %w", err)
	}
	out := make([]byte, 0, len(prefix)+codeRandomLen+codeRandomLen/4+1)
	out = append(out, prefix...)
	for i, c := range b {
		if i%4 == 0 {
			out = append(out, '-')
		}
		out = append(out, codeAlphabet[c&31])
	}
	return string(out), nil
}
