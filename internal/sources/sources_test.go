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

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	waitFor(t, "loaded", r.Loaded)
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
	waitFor(t, "b deleted", func() bool { _, ok := r.Get(b.ID); return !ok })
	if got, ok := r.Get(a.ID); !ok || got.Enabled {
		t.Fatalf("a = %+v, %v; want present and disabled", got, ok)
	}
}

func TestFollowEmptyTopicIsLoaded(t *testing.T) {
	_, opts, _ := cluster(t)
	r := follow(t, opts)
	waitFor(t, "loaded", r.Loaded)
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
	waitFor(t, "loaded", r.Loaded)
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
