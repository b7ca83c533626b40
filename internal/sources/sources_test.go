package sources

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func cluster(t *testing.T) (*kfake.Cluster, []kgo.Opt, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := kafka.ClientOpts(c.ListenAddrs(), quiet)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, 1, kafka.Topics(2)); err != nil {
		t.Fatal(err)
	}
	return c, opts, cl
}

func follow(t *testing.T, opts []kgo.Opt) *Registry {
	t.Helper()
	r := NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Follow(ctx, opts, quiet) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Follow returned %v", err)
		}
	})
	return r
}

func TestFollowLoadsExistingThenFollowsChanges(t *testing.T) {
	_, opts, cl := cluster(t)
	ctx := context.Background()
	a := Source{ID: NewID(), Name: "a", Enabled: true, CreatedAt: time.Unix(1, 0)}
	b := Source{ID: NewID(), Name: "b", Enabled: true, CreatedAt: time.Unix(2, 0)}
	for _, s := range []Source{a, b} {
		if err := Publish(ctx, cl, s); err != nil {
			t.Fatal(err)
		}
	}
	r := follow(t, opts)
	testkit.Eventually(t, 10*time.Second, "loaded", r.Loaded)
	// Loaded means caught up with what existed at start.
	if got := r.List(); len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
		t.Fatalf("loaded %+v, want a then b", got)
	}
	// Later changes apply: disable a, delete b with a tombstone.
	a.Enabled = false
	if err := Publish(ctx, cl, a); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.SourcesTopic, Key: []byte(b.ID)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "b deleted", func() bool { _, ok := r.Get(b.ID); return !ok })
	if got, ok := r.Get(a.ID); !ok || got.Enabled {
		t.Fatalf("a = %+v, %v; want present and disabled", got, ok)
	}
}

func TestFollowEmptyTopicIsLoaded(t *testing.T) {
	_, opts, _ := cluster(t)
	r := follow(t, opts)
	testkit.Eventually(t, 10*time.Second, "loaded", r.Loaded)
	if n := len(r.List()); n != 0 {
		t.Fatalf("%d sources in an empty topic", n)
	}
}

func TestMalformedRecordSkipped(t *testing.T) {
	_, opts, cl := cluster(t)
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.SourcesTopic, Key: []byte("x"), Value: []byte("{not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	good := Source{ID: NewID(), Name: "good", Enabled: true}
	if err := Publish(ctx, cl, good); err != nil {
		t.Fatal(err)
	}
	r := follow(t, opts)
	testkit.Eventually(t, 10*time.Second, "loaded", r.Loaded)
	if _, ok := r.Get(good.ID); !ok || len(r.List()) != 1 {
		t.Fatalf("registry %+v, want only the good source", r.List())
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !strings.HasPrefix(id, "src_") || len(id) != 36 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestWriteKeys(t *testing.T) {
	_, opts, cl := cluster(t)
	ctx := context.Background()
	plain, hash := NewWriteKey()
	if !strings.HasPrefix(plain, writeKeyPrefix) || len(plain) != len(writeKeyPrefix)+43 || HashWriteKey(plain) != hash || len(hash) != 64 {
		t.Fatalf("NewWriteKey() = %q, %q", plain, hash)
	}
	if other, _ := NewWriteKey(); other == plain {
		t.Fatal("NewWriteKey repeated a key")
	}
	server := Source{ID: NewID(), Name: "backend", Enabled: true, Kind: KindServer, WriteKeyHash: hash}
	browser := Source{ID: NewID(), Name: "site", Enabled: true}
	for _, s := range []Source{server, browser} {
		if err := Publish(ctx, cl, s); err != nil {
			t.Fatal(err)
		}
	}
	r := follow(t, opts)
	testkit.Eventually(t, 10*time.Second, "both sources", func() bool { return len(r.List()) == 2 })
	for _, tc := range []struct {
		key  string
		want string
	}{
		{plain, server.ID},
		{plain + "x", ""},
		{hash, ""},       // the stored digest is not a key
		{browser.ID, ""}, // a browser id is not a write key
		{"", ""},
	} {
		got, ok := r.ByWriteKey(tc.key)
		if ok != (tc.want != "") || got.ID != tc.want {
			t.Errorf("ByWriteKey(%q) = %q, %v; want %q", tc.key, got.ID, ok, tc.want)
		}
	}
	// Rotating the key replaces the old one.
	plain2, hash2 := NewWriteKey()
	server.WriteKeyHash = hash2
	if err := Publish(ctx, cl, server); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the new key", func() bool { _, ok := r.ByWriteKey(plain2); return ok })
	if _, ok := r.ByWriteKey(plain); ok {
		t.Fatal("the rotated-out key still authenticates")
	}
}

func TestSourceValidate(t *testing.T) {
	_, hash := NewWriteKey()
	for _, tc := range []struct {
		name string
		s    Source
		want string // substring of the error; empty means valid
	}{
		{"browser defaults", Source{ID: "a"}, ""},
		{"server", Source{ID: "a", Kind: KindServer, WriteKeyHash: hash}, ""},
		{"no id", Source{}, "id is empty"},
		{"server without hash", Source{ID: "a", Kind: KindServer}, "write_key_hash"},
		{"bad kind", Source{ID: "a", Kind: "robot"}, "kind"},
		{"bad ip policy", Source{ID: "a", IPPolicy: "hash"}, "ip_policy"},
		{"bad unknown policy", Source{ID: "a", UnknownEventTypes: "maybe"}, "unknown_event_types"},
		{"negative rate", Source{ID: "a", RateLimit: -1}, "rate_limit"},
		{"bad origin", Source{ID: "a", AllowedOrigins: []string{"example.com"}}, "allowed origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	s := Source{ID: "a", AllowedOrigins: []string{"https://example.com", "https://*.shop.example", "http://localhost:3000/"}}
	for origin, want := range map[string]bool{
		"":                         true,
		"https://example.com":      true,
		"HTTPS://EXAMPLE.COM":      true,
		"http://example.com":       false,
		"https://example.com.evil": false,
		"https://a.shop.example":   true,
		"https://a.b.shop.example": true,
		"https://shop.example":     false,
		"https://evilshop.example": false,
		"http://localhost:3000":    true,
		"http://localhost:3001":    false,
		"null":                     false,
	} {
		if got := s.OriginAllowed(origin); got != want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", origin, got, want)
		}
	}
	if open := (Source{ID: "b"}); !open.OriginAllowed("https://anything.example") {
		t.Error("a source without an allowlist refused an origin")
	}
}

func TestPublishRefusesInvalidSource(t *testing.T) {
	_, _, cl := cluster(t)
	err := Publish(context.Background(), cl, Source{ID: "x", Kind: KindServer})
	if err == nil || !strings.Contains(err.Error(), "write_key_hash") {
		t.Fatalf("Publish of a server source without a key hash = %v, want a refusal", err)
	}
}
