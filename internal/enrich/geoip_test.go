package enrich

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// TestGeoIPSurvivesAFileTruncatedInPlace: the database in use is a
// mapping of the file, so a file rewritten in place (not renamed over,
// as documented), here caught as cp leaves it once it truncated the
// file, leaves the lookups with nothing behind the mapping: they must
// answer "unknown", not crash the process (SIGBUS), and the database
// Watch loads next answers again.
func TestGeoIPSurvivesAFileTruncatedInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	writeFlatDB(t, path, map[string]string{"81.2.69.0/24": "GB"})
	g, err := OpenGeoIP(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if got := g.LookupString("81.2.69.7"); got != (Geo{}) {
			t.Fatalf("after the file was truncated in place: %+v, want unknown", got)
		}
	}
	if _, err := loadGeoDB(path); err == nil {
		t.Fatal("the truncated file loaded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); g.Watch(ctx, 5*time.Millisecond, slog.New(slog.DiscardHandler)) }()
	writeFlatDB(t, path, map[string]string{"81.2.69.0/24": "IE"})
	testkit.Eventually(t, 10*time.Second, "the rewritten file loaded", func() bool { return g.LookupString("81.2.69.7").Country == "IE" })
	cancel()
	<-done
}

// TestGeoIPMapsTheFile: lookups read the file's pages in the kernel's page
// cache (reclaimable, shared with other processes, resident only where
// touched), not a copy the process holds.
func TestGeoIPMapsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	writeFlatDB(t, path, map[string]string{"81.2.69.0/24": "GB"})
	g, err := OpenGeoIP(path)
	if err != nil {
		t.Fatal(err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(maps, []byte(" "+path+"\n")) {
		t.Errorf("/proc/self/maps has no mapping of %s:\n%s", path, maps)
	}
	if got := g.LookupString("81.2.69.7"); got != (Geo{Country: "GB"}) {
		t.Fatalf("lookup: %+v", got)
	}
}

// TestGeoIPReloadWhileLookingUp replaces the file again and again while
// lookups run and the garbage collector unmaps the databases no longer in
// use: every lookup answers from one whole database, old or new.
func TestGeoIPReloadWhileLookingUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "country.mmdb")
	countries := []string{"GB", "IE"}
	write := func(i int) {
		tmp := filepath.Join(dir, fmt.Sprintf("next-%d.mmdb", i))
		writeFlatDB(t, tmp, map[string]string{"81.2.69.0/24": countries[i%2]})
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	g, err := OpenGeoIP(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := make(chan struct{})
	go func() { defer close(watched); g.Watch(ctx, 5*time.Millisecond, slog.New(slog.DiscardHandler)) }()

	var wrong atomic.Value
	var lookups atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if got := g.LookupString("81.2.69.7"); got != (Geo{Country: "GB"}) && got != (Geo{Country: "IE"}) {
					wrong.Store(got)
				}
				lookups.Add(1)
			}
		})
	}
	for i := 1; i <= 20; i++ {
		// A modification time within the file system's granularity of
		// the last one could hide the change from Watch; the sizes are
		// equal, so wait for a visibly newer time.
		time.Sleep(20 * time.Millisecond)
		write(i)
		want := countries[i%2]
		testkit.Eventually(t, 10*time.Second, "reload "+strconv.Itoa(i), func() bool {
			runtime.GC() // unmaps the databases replaced so far
			return g.LookupString("81.2.69.7").Country == want
		})
	}
	cancel()
	wg.Wait()
	<-watched
	if got := wrong.Load(); got != nil {
		t.Errorf("a lookup during the reloads answered %+v", got)
	}
	if lookups.Load() == 0 {
		t.Error("no lookup ran during the reloads")
	}
}

// TestGeoIPUnmapsReplacedDatabases: a database no longer in use gives its
// memory back, so a process reloading a changing file for months does
// not grow.
func TestGeoIPUnmapsReplacedDatabases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	writeFlatDB(t, path, map[string]string{"81.2.69.0/24": "GB"})
	const loads = 16
	dbs := make([]*geoDB, loads)
	for i := range dbs {
		db, err := loadGeoDB(path)
		if err != nil {
			t.Fatal(err)
		}
		dbs[i] = db
	}
	if held := mappingsOf(t, path); held != loads {
		t.Fatalf("%d mappings of %s for %d loaded databases; the test cannot see them", held, path, loads)
	}
	g := &GeoIP{path: path}
	g.db.Store(dbs[loads-1])
	if got := g.LookupString("81.2.69.7"); got != (Geo{Country: "GB"}) {
		t.Fatalf("database answers %+v", got)
	}
	dbs, g = nil, nil // unreachable from here: their cleanups may run
	testkit.Eventually(t, 10*time.Second, "the dropped databases unmapped", func() bool {
		runtime.GC()
		return mappingsOf(t, path) == 0
	}, func() string { return fmt.Sprintf("%d mappings of %s left", mappingsOf(t, path), path) })
}

// mappingsOf counts this process's memory mappings of the file at path
// (lines of /proc/self/maps naming it): one per loaded database, whatever
// else the process maps meanwhile.
func mappingsOf(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(line, " "+path) {
			n++
		}
	}
	return n
}
