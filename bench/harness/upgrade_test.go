package harness

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/testkit"
	testproc "github.com/trackstream/trackstream/internal/testkit/proc"
)

// UpgradeSeed serves a copy of a seeded data dir until the session
// finaliser has finalised every hour of its history, and leaves the
// source alone: the copy has a marker for each of the dataset's hours,
// the source none. A destination that exists is refused. Not skipped by
// -short: the bench module's tests run with it (task bench:test), and this
// one takes about 20 s.
func TestUpgradeSeed(t *testing.T) {
	lib := testkit.CHDBLib(t)
	log := testkit.Logger(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The bench module's go.mod is the nearest; trackstream's is above it.
	benchRoot, err := testproc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := testproc.Build(ctx, filepath.Dir(benchRoot), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "seed")
	if _, err := SeedQueryData(ctx, lib, src, 20_000, log); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "upgraded")
	res, err := UpgradeSeed(ctx, bin, lib, src, dst, log)
	if err != nil {
		t.Fatal(err)
	}
	if res.CatchUpSeconds <= 0 {
		t.Errorf("catch-up took %v s", res.CatchUpSeconds)
	}
	hours := func(dir string) string {
		db, err := chdb.Open(lib, filepath.Join(dir, "clickhouse"), 1)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		out, err := db.Query(ctx, "SELECT uniqExact(hour) FROM trackstream.sessions_hourly WHERE source_id = '' AND hour >= '"+
			QueryBase.Format(time.DateTime)+"' AND hour < '"+QueryBase.AddDate(0, 0, QueryDays).Format(time.DateTime)+"'", "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	if got, want := hours(dst), "720"; got != want {
		t.Errorf("finalised hours of the dataset in the copy: %s, want %s (30 days)", got, want)
	}
	if got := hours(src); got != "0" {
		t.Errorf("finalised hours in the source: %s, want 0 (it must stay as seeded)", got)
	}
	if _, err := UpgradeSeed(ctx, bin, lib, src, dst, log); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("upgrading into an existing dir: %v, want a refusal", err)
	}
}
