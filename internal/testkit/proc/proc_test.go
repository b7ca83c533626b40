package proc

import (
	"os"
	"strings"
	"testing"
)

func TestOutputKeepsTheLastBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"under the bound", 10, []string{"abc", "def"}, "abcdef"},
		{"over the bound", 4, []string{"abc", "def"}, "cdef"},
		{"one big write", 3, []string{"abcdefgh"}, "fgh"},
		{"unbounded", 0, []string{"abc", "def"}, "abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &Output{max: tc.max}
			for _, w := range tc.writes {
				if n, err := o.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := o.String(); got != tc.want {
				t.Fatalf("kept %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("memory %+v: want 0 < RSS <= peak", m)
	}
	if _, err := ReadMemory(1 << 30); err == nil {
		t.Fatal("no error for a pid that does not exist")
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Fatalf("tail = %q", got)
	}
	if got := tail("a", 5); !strings.HasPrefix(got, "a") {
		t.Fatalf("tail = %q", got)
	}
}
