package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	adminapi "github.com/trackstream/trackstream/admin-api"
	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// BenchmarkStatsQueries is S7 in-process: it seeds
// TRACKSTREAM_QUERY_BENCH_EVENTS events (default 1,000,000) plus 1%
// resent duplicates with QuerySeedSQL into the embedded engine, starts the
// admin API on it (kfake for its Kafka state) and times each of
// QueryCases through HTTP, without building the binary. ns/op is one
// call's latency.
//
//	TRACKSTREAM_QUERY_BENCH_EVENTS=10000000 go test ./harness -run '^$' -bench StatsQueries -benchtime 20x -timeout 60m
func BenchmarkStatsQueries(b *testing.B) {
	total := uint64(1_000_000)
	if s := os.Getenv("TRACKSTREAM_QUERY_BENCH_EVENTS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n < 1000 {
			b.Fatalf("TRACKSTREAM_QUERY_BENCH_EVENTS=%q: want a number >= 1000", s)
		}
		total = n
	}
	ctx := context.Background()
	lib := testkit.CHDBLib(b)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := b.TempDir()
	st, err := store.OpenEmbedded(ctx, lib, dir, quiet, store.Options{})
	if err != nil {
		b.Fatalf("open the embedded store (run `go tool -modfile=tools/go.mod task chdb:fetch` if libchdb is missing): %v", err)
	}
	b.Cleanup(func() { st.Close() })
	// A second handle on the same path runs the generating INSERT ...
	// SELECT, which the store's API does not offer.
	db, err := chdb.Open(lib, filepath.Join(dir, "clickhouse"), 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	start := time.Now()
	for from := uint64(0); from < total; from += seedChunk {
		if err := db.Exec(ctx, QuerySeedSQL(from, min(seedChunk, total-from), total)); err != nil {
			b.Fatalf("seed events %d..: %v", from, err)
		}
	}
	if err := db.Exec(ctx, QuerySeedSQL(0, total/100, total)); err != nil {
		b.Fatalf("seed duplicates: %v", err)
	}
	b.Logf("seeded %d events + %d duplicates in %s", total, total/100, time.Since(start).Round(time.Second))

	adm := startAdminAPI(b, st, QueryBase.Add(QueryDays*24*time.Hour))
	for _, c := range QueryCases() {
		b.Run(c.Name, func(b *testing.B) {
			// The first call warms caches and is not timed.
			if err := adm.Call(ctx, http.MethodGet, c.Path, nil, &json.RawMessage{}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := adm.Call(ctx, http.MethodGet, c.Path, nil, &json.RawMessage{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// startAdminAPI runs the admin API on st with a kfake cluster for its
// state and sources, the clock stopped at now, and returns a client logged
// in as the admin.
func startAdminAPI(b testing.TB, st *store.Embedded, now time.Time) *client.Admin {
	b.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	opts := kafka.ClientOpts(c.ListenAddrs(), quiet)
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := kafka.EnsureTopics(ctx, cl, 1, append(kafka.Topics(1), adminapi.Topic())); err != nil {
		b.Fatal(err)
	}
	reg := sources.NewRegistry()
	go func() { _ = reg.Follow(ctx, opts, quiet) }()
	// A generous query timeout, so slow figures are measured rather than
	// cut at the default 10 s.
	srv, err := adminapi.New(config.Default().Admin, 2*time.Minute, adminapi.Deps{
		Events: st, Kafka: cl, KafkaOpts: opts, Sources: reg, Now: func() time.Time { return now },
		StateKey: []byte("bench-state-key-0123456789abcdef-0123"),
	}, quiet, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Run(ctx) }()
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	password := "Bench-" + hex.EncodeToString(pw[:])
	bootCtx, bootCancel := context.WithTimeout(ctx, 30*time.Second)
	defer bootCancel()
	if err := srv.Bootstrap(bootCtx, b.TempDir(), password, io.Discard); err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	adm, err := client.Login(ctx, ts.URL, "admin", password)
	if err != nil {
		b.Fatal(err)
	}
	adm.HTTP = &http.Client{Timeout: 3 * time.Minute}
	return adm
}
