package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// maxGeoIPBytes bounds the database file GeoIP maps; the largest city
// databases are a few hundred megabytes.
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
	// reader reads a read-only mapping of the file (see loadGeoDB),
	// unmapped once the geoDB is unreachable: every use of reader must
	// keep its geoDB alive and be guarded against faults (readMapped).
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

// loadGeoDB maps the file at path read-only and checks it is a MaxMind
// DB. Lookups read the kernel's page cache of the file: only the pages
// they touch are resident, they are shared with every process mapping
// the file, and being clean file pages the kernel can reclaim them under
// memory pressure, where a copy is memory the process holds (8 MiB for
// the default country database, S5 in docs/benchmarks.md). A file
// renamed over the path, as updaters and trackstream's own fetch replace
// it, leaves the mapping on the old file until Watch loads the new one. A
// file rewritten in place is not supported: until Watch reloads it,
// lookups read a mix of both versions, and a lookup of a page past a
// truncated end faults, which readMapped turns into an unknown address
// rather than a crash. The mapping is unmapped by a cleanup when the
// geoDB becomes unreachable.
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
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map GeoIP database %s (%d bytes) into memory: %w", path, st.Size(), err)
	}
	var db *geoDB
	if ferr := readMapped(func() { db, err = openGeoDB(path, st, data) }); ferr != nil {
		err = fmt.Errorf("GeoIP database %s changed while it was read (replace it by renaming a complete file over it): %w", path, ferr)
	}
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, err
	}
	runtime.AddCleanup(db, func(data []byte) { _ = syscall.Munmap(data) }, data)
	return db, nil
}

// readMapped runs f, which reads a database mapping, and returns the
// fault f met, if any, instead of crashing: a file truncated in place
// leaves pages of its mapping with nothing behind them (SIGBUS).
func readMapped(f func()) (fault error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err, ok := r.(runtime.Error)
			if !ok {
				panic(r)
			}
			if _, ok := err.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			fault = err
		}
	}()
	f()
	return nil
}

// openGeoDB opens the database in data, the mapping of the file at path
// described by st.
func openGeoDB(path string, st os.FileInfo, data []byte) (*geoDB, error) {
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
	var geo Geo
	if readMapped(func() { geo = db.lookup(addr) }) != nil {
		// The file was truncated in place under the mapping; Watch
		// loads what replaces it.
		return Geo{}
	}
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
