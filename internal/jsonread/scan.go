package jsonread

import (
	"encoding/binary"
	"math/bits"
)

// Most strings of tracking events (keys, ids, short values) are a few
// to a hundred bytes, where bytes.IndexByte's call and setup cost more
// than the search: under single-event load it was an eighth of ingest's
// decode time. The searches below read eight bytes at a time in plain
// Go instead (SWAR: each byte of a word tested at once).

const (
	lsb = 0x0101010101010101 // the lowest bit of every byte
	msb = 0x8080808080808080 // the highest bit of every byte
)

// firstMarked is the index, within its word, of the first byte whose
// high bit is set in mask (mask must not be 0): the words are read
// little-endian, so the first byte is the lowest.
func firstMarked(mask uint64) int { return bits.TrailingZeros64(mask) / 8 }

// zeroBytes marks (high bit) the zero bytes of x. Bytes above the first
// zero byte may be marked wrongly (a borrow), so only the lowest mark
// is exact, and the callers use only it.
func zeroBytes(x uint64) uint64 { return (x - lsb) &^ x & msb }

// quoteOrBackslash returns the index of the first '"' or '\' in b at or
// after i, or len(b) if there is none.
func quoteOrBackslash(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if m := zeroBytes(w^(lsb*'"')) | zeroBytes(w^(lsb*'\\')); m != 0 {
			return i + firstMarked(m)
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' {
			return i
		}
	}
	return i
}

// plainRun returns the index of the first byte of b at or after i that
// is not plainASCII (a quote, a backslash, a control character or a
// byte of a multi-byte UTF-8 sequence), or len(b) if there is none.
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// Below 0x20: w - 0x20 borrows into the high bit of a byte whose
		// own high bit is clear, as for a zero byte. At or above 0x80:
		// the high bit itself.
		m := zeroBytes(w^(lsb*'"')) | zeroBytes(w^(lsb*'\\')) | (w-lsb*0x20)&^w&msb | w&msb
		if m != 0 {
			return i + firstMarked(m)
		}
	}
	for i < len(b) && plainASCII[b[i]] {
		i++
	}
	return i
}
