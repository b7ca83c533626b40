package tracker

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// gzipBudget is the most the served script may weigh gzip-compressed
// (1.5 KB). Plausible's full v2 build is ~2.7 KB, Umami 3.1 ~2.2 KB.
const gzipBudget = 1500

func TestScriptWithinBudget(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trackstream.min.js: %d bytes, %d gzip (budget %d)", len(s.JS), len(s.Gzip), gzipBudget)
	if len(s.Gzip) > gzipBudget {
		t.Fatalf("the tracker is %d bytes gzip-compressed; the budget is %d", len(s.Gzip), gzipBudget)
	}
	zr, err := gzip.NewReader(bytes.NewReader(s.Gzip))
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(back, s.JS) {
		t.Fatalf("the gzip form does not decompress to the script (%v)", err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(s.Version) {
		t.Fatalf("version %q is not 12 hex digits", s.Version)
	}
}

// TestMinifiedUpToDate runs the go:generate command of tracker.go into a
// temporary file and compares it with the committed trackstream.min.js.
func TestMinifiedUpToDate(t *testing.T) {
	src, err := os.ReadFile("tracker.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate (.+)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("tracker.go has no go:generate line")
	}
	args := strings.Fields(string(m[1]))
	out := filepath.Join(t.TempDir(), "min.js")
	found := false
	for i, a := range args {
		if strings.HasPrefix(a, "--outfile=") {
			args[i], found = "--outfile="+out, true
		}
	}
	if !found || args[0] != "go" {
		t.Fatalf("go:generate line %q: want a go command with --outfile=", m[1])
	}
	cmd := exec.Command("go", args[1:]...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(script, want) {
		t.Fatal("trackstream.min.js is not what esbuild makes of trackstream.js: run `go generate ./internal/tracker` (task tracker:build) and commit the result")
	}
}
