package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateMakesAPrivateFileOnceThenReadsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.secret")
	first, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	if len(first) < MinLen {
		t.Fatalf("generated secret has %d bytes, want >= %d", len(first), MinLen)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created || string(again) != string(first) {
		t.Fatalf("second LoadOrCreate: created=%v err=%v same=%v", created, err, string(again) == string(first))
	}
}

func TestReadRefusesShortMissingAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tooshort\n"), 0o600)
	if _, err := Read(short); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	huge := filepath.Join(dir, "huge")
	os.WriteFile(huge, []byte(strings.Repeat("x", 5000)), 0o600)
	if _, err := Read(huge); err == nil {
		t.Fatal("a 5000-byte secret file was accepted")
	}
	ok := filepath.Join(dir, "ok")
	os.WriteFile(ok, []byte("  "+strings.Repeat("k", 40)+"\n"), 0o600)
	if b, err := Read(ok); err != nil || string(b) != strings.Repeat("k", 40) {
		t.Fatalf("Read = %q, %v; want the trimmed text", b, err)
	}
}
