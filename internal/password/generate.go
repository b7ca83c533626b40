package password

import "crypto/rand"

// generateAlphabet is alphanumeric without the easily confused characters
// 0 O o 1 I i l: 8 digits + 24 upper + 23 lower = 55 symbols, so a
// 24-character password carries 24*log2(55) ≈ 138 bits of entropy.
const generateAlphabet = "23456789" +
	"ABCDEFGHJKLMNPQRSTUVWXYZ" +
	"abcdefghjkmnpqrstuvwxyz"

// generateLen is the length of passwords returned by Generate.
const generateLen = 24

// Generate returns a new random 24-character password drawn uniformly from
// an unambiguous alphanumeric alphabet (no 0/O/o, 1/I/i/l) using
// crypto/rand, with rejection sampling so every character is equally
// likely.
//
// The result always satisfies every username-independent rule of [Check];
// a candidate that does not (which is astronomically unlikely) is discarded
// and a new one drawn. It passes the username rules too unless the username
// (at least 3 characters, case-insensitively) or its reverse happens to
// occur inside it. That cannot happen for "admin" (the alphabet has no 'i'
// or 'I'); for another 5-letter username the chance is about 1 in 400,000
// per password, for a 3-letter one about 1 in 500. Callers that must be
// certain for an arbitrary username can run Check and call Generate again.
func Generate() string {
	for {
		pw := randomString(generateLen)
		if Check("", pw) == nil {
			return pw
		}
	}
}

// randomString returns n characters drawn uniformly from generateAlphabet.
func randomString(n int) string {
	const size = len(generateAlphabet)
	// Largest multiple of size that fits in a byte: bytes at or above it
	// are rejected so that b%size is uniform.
	const limit = 256 - 256%size
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		_, _ = rand.Read(buf) // never returns an error (Go 1.24+); it crashes the program instead
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, generateAlphabet[int(b)%size])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}
