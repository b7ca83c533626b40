package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// maxGeoIPBytes bounds the database file GeoIP reads into memory; the
// largest city databases are a few hundred megabytes.
const maxGeoIPBytes = 1 << 30

// GeoIP looks addresses up in a MaxMind-format database file, and reloads
// it when the file changes (see Watch). It reads two record layouts:
// MaxMind's (GeoLite2/GeoIP2 Country and City, DB-IP's own .mmdb files)
// and ip-location-db's (country_code, state1, city). It is safe for
// concurrent use.
type GeoIP struct {
	path string
	db   atomic.Pointer[geoDB]
}

// geoDB is one loaded version of the database file.
type geoDB struct {
	// reader reads a copy of the file mapped outside the Go heap (see
	// loadGeoDB), unmapped once the geoDB is unreachable: every use of
	// reader must keep its geoDB alive.
	reader *maxminddb.Reader
	// flat is set for ip-location-db's record layout.
	flat bool
	// version names the build: the file's name and the database's build
	// date, e.g. "GeoLite2-City@2026-11-24".
	version string
	// modTime and size identify the file it was read from.
	modTime time.Time
	size    int64
}

// Geo is what a lookup found; empty fields are unknown.
type Geo struct {
	// Country is the ISO 3166-1 alpha-2 code, e.g. "DE".
	Country string
	// Region is the ISO 3166-2 subdivision code of the first
	// subdivision, e.g. "BE", or the region's name where the database
	// has no codes.
	Region string
	// City is the English city name.
	City string
}

// OpenGeoIP reads the database file at path.
func OpenGeoIP(path string) (*GeoIP, error) {
	g := &GeoIP{path: path}
	db, err := loadGeoDB(path)
	if err != nil {
		return nil, err
	}
	g.db.Store(db)
	return g, nil
}

// loadGeoDB copies the file at path into memory (so a file rewritten in
// place never pulls pages from under a lookup) and checks it is a MaxMind
// DB. The copy lives in an anonymous mapping rather than the Go heap:
// as live heap it would count twice towards the heap size the garbage
// collector lets the process grow to (GOGC=100), which for the default
// country database costs 8 MiB more resident memory than the copy
// itself (S5 in docs/benchmarks.md). The mapping is read-only once
// filled and is unmapped by a cleanup when the geoDB becomes unreachable;
// while it is mapped, a soft memory limit leaves room for it
// (reserveMemory).
func loadGeoDB(path string) (*geoDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open GeoIP database %s (a MaxMind-format .mmdb file): %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("GeoIP database %s: %w", path, err)
	}
	if st.Size() > maxGeoIPBytes {
		return nil, fmt.Errorf("GeoIP database %s is %d bytes; the limit is %d", path, st.Size(), maxGeoIPBytes)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("GeoIP database %s is empty; it must be a MaxMind-format .mmdb file", path)
	}
	data, err := syscall.Mmap(-1, 0, int(st.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes for GeoIP database %s: %w", st.Size(), path, err)
	}
	db, err := readGeoDB(f, path, st, data)
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, err
	}
	m := mapping{data: data, reserved: reserveMemory(int64(len(data)))}
	runtime.AddCleanup(db, func(m mapping) {
		_ = syscall.Munmap(m.data)
		if m.reserved {
			releaseMemory(int64(len(m.data)))
		}
	}, m)
	return db, nil
}

// mapping is a database copy's memory, for the cleanup that unmaps it.
type mapping struct {
	data []byte
	// reserved is set when the soft memory limit was lowered by
	// len(data) (reserveMemory).
	reserved bool
}

// memoryLimitMu serialises the read-modify-write of the runtime's soft
// memory limit by loads and cleanups running at once.
var memoryLimitMu sync.Mutex

// reserveMemory lowers the runtime's soft memory limit (GOMEMLIMIT), where
// one is set, by n bytes of memory the runtime does not see, and reports
// whether it did. deploy/kubernetes sets the limit to the container's
// memory limit: without the reservation the heap could grow into the
// memory a database copy takes and the container be killed for it.
func reserveMemory(n int64) bool {
	memoryLimitMu.Lock()
	defer memoryLimitMu.Unlock()
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 || limit <= n {
		return false
	}
	debug.SetMemoryLimit(limit - n)
	return true
}

// releaseMemory gives back n bytes reserveMemory took.
func releaseMemory(n int64) {
	memoryLimitMu.Lock()
	defer memoryLimitMu.Unlock()
	debug.SetMemoryLimit(debug.SetMemoryLimit(-1) + n)
}

// readGeoDB fills data from f (the file at path, described by st) and
// opens the database in it.
func readGeoDB(f *os.File, path string, st os.FileInfo, data []byte) (*geoDB, error) {
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("read GeoIP database %s: %w", path, err)
	}
	// Read-only from here: a stray write would fault rather than
	// silently change answers.
	if err := syscall.Mprotect(data, syscall.PROT_READ); err != nil {
		return nil, fmt.Errorf("protect GeoIP database %s in memory: %w", path, err)
	}
	reader, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("GeoIP database %s is not a MaxMind-format .mmdb file: %w", path, err)
	}
	md := reader.Metadata
	return &geoDB{
		reader:  reader,
		flat:    isFlat(reader),
		version: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + "@" + md.BuildTime().UTC().Format("2006-01-02"),
		modTime: st.ModTime(), size: st.Size(),
	}, nil
}

// Version names the loaded database build: the file's name without its
// extension and the database's build date, e.g.
// "GeoLite2-City@2026-11-24".
func (g *GeoIP) Version() string {
	return g.db.Load().version
}

// Watch reloads the database whenever the file's modification time or
// size changes, checking every interval until ctx ends. A file that fails
// to load is logged and the database in use is kept. Replace the file by
// renaming a complete new file over it.
func (g *GeoIP) Watch(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := g.db.Load()
		st, err := os.Stat(g.path)
		if err != nil || (st.ModTime().Equal(cur.modTime) && st.Size() == cur.size) || st.ModTime().Equal(failed) {
			continue
		}
		db, err := loadGeoDB(g.path)
		if err != nil {
			failed = st.ModTime()
			log.Warn("GeoIP database changed but does not load; keeping the one in use", "path", g.path, "in_use", cur.version, "error", err)
			continue
		}
		if g.db.CompareAndSwap(cur, db) {
			log.Info("GeoIP database reloaded", "path", g.path, "version", db.version, "was", cur.version)
		}
	}
}

// maxMindRecord is MaxMind's record layout (GeoLite2/GeoIP2 Country and
// City, DB-IP's own .mmdb files).
type maxMindRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
}

// flatRecord is ip-location-db's record layout.
type flatRecord struct {
	CountryCode string `maxminddb:"country_code"`
	State1      string `maxminddb:"state1"`
	City        string `maxminddb:"city"`
}

// isFlat tells the layouts apart: ip-location-db records carry
// country_code at the top. It looks at the first record that has data.
func isFlat(r *maxminddb.Reader) bool {
	for res := range r.Networks() {
		var rec map[string]any
		if err := res.Decode(&rec); err == nil && len(rec) > 0 {
			_, flat := rec["country_code"]
			return flat
		}
	}
	return false
}

// Lookup finds addr. An invalid or unknown address gives the zero Geo.
func (g *GeoIP) Lookup(addr netip.Addr) Geo {
	if g == nil || !addr.IsValid() {
		return Geo{}
	}
	db := g.db.Load()
	geo := db.lookup(addr)
	// The decoded strings are copies, but decoding reads the mapping
	// that db's cleanup unmaps: db must stay alive until here.
	runtime.KeepAlive(db)
	return geo
}

// lookup finds addr in db.
func (db *geoDB) lookup(addr netip.Addr) Geo {
	res := db.reader.Lookup(addr.Unmap())
	if db.flat {
		var rec flatRecord
		if err := res.Decode(&rec); err != nil {
			return Geo{}
		}
		return Geo{Country: rec.CountryCode, Region: rec.State1, City: rec.City}
	}
	var rec maxMindRecord
	if err := res.Decode(&rec); err != nil {
		return Geo{}
	}
	geo := Geo{Country: rec.Country.ISOCode, City: rec.City.Names["en"]}
	if len(rec.Subdivisions) > 0 {
		geo.Region = rec.Subdivisions[0].ISOCode
	}
	return geo
}

// LookupString finds the address written in ip; see Lookup.
func (g *GeoIP) LookupString(ip string) Geo {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return Geo{}
	}
	return g.Lookup(addr)
}
