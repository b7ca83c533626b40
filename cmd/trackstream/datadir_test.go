package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The all role keeps its data dir private to the service user: a data dir
// left world-readable by an older version is narrowed to 0700, and what
// the broker and the engine write under it is readable by the owner only.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n, stop := startAll(t, testConfig(t, dir))
	adm := login(t, n.adminAddr)
	createSource(t, adm, "private") // writes to the broker's log
	stop()

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o700 {
		t.Errorf("data dir mode %o, want 700", mode)
	}
	var kafkaFiles int
	err = filepath.WalkDir(filepath.Join(dir, "kafka"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %o: readable by other users", path, info.Mode().Perm())
		}
		if !d.IsDir() {
			kafkaFiles++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kafkaFiles == 0 {
		t.Fatal("the broker wrote no files under the data dir")
	}
}
