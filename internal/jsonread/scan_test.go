package jsonread

import "testing"

// TestWordSearches puts every byte value at every offset of buffers of
// every length up to 24 (so in the eight-byte words and in the tail),
// after a run of plain bytes and before more of them and of every other
// value, and compares the word-at-a-time searches with byte loops.
func TestWordSearches(t *testing.T) {
	naiveQuote := func(b []byte, i int) int {
		for ; i < len(b) && b[i] != '"' && b[i] != '\\'; i++ {
		}
		return i
	}
	naivePlain := func(b []byte, i int) int {
		for ; i < len(b) && plainASCII[b[i]]; i++ {
		}
		return i
	}
	for n := 0; n <= 24; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				for _, after := range []byte{'a', 0, '"', 0xff, 0x1f} {
					b := make([]byte, n)
					for i := range b {
						b[i] = 'a'
						if i > at {
							b[i] = after
						}
					}
					b[at] = byte(c)
					for from := 0; from <= at; from++ {
						if got, want := quoteOrBackslash(b, from), naiveQuote(b, from); got != want {
							t.Fatalf("quoteOrBackslash(%q, %d) = %d, want %d", b, from, got, want)
						}
						if got, want := plainRun(b, from), naivePlain(b, from); got != want {
							t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
						}
					}
				}
			}
		}
	}
}

// TestStringEnd finds the end of strings whose escapes put backslashes
// and quotes on either side of the eight-byte words.
func TestStringEnd(t *testing.T) {
	for _, s := range []string{
		`""`, `"a"`, `"\\"`, `"\""`, `"\\\""`, `"abcdefg\\"`, `"abcdefgh\""`, `"abcdefg\"h\\\\"`,
		`"\u00e9\u0022 and \\\\\"quoted\" text of some length"`, `"日本語のテキスト\"x"`,
	} {
		b := []byte(s + `,"next"`)
		if got := stringEnd(b, 0); got != len(s) {
			t.Errorf("stringEnd(%s) = %d, want %d", b, got, len(s))
		}
	}
}
