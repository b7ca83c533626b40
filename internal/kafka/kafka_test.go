package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func client(t *testing.T) ([]kgo.Opt, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := ClientOpts(c.ListenAddrs(), quiet)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return opts, cl
}

func TestEnsureTopicsIsIdempotent(t *testing.T) {
	_, cl := client(t)
	ctx := context.Background()
	for range 2 {
		if err := EnsureTopics(ctx, cl, 1, Topics(4)); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, EventsTopic, SourcesTopic, DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details[EventsTopic].Partitions); n != 4 {
		t.Fatalf("%s has %d partitions, want 4", EventsTopic, n)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, SourcesTopic)
	if err != nil {
		t.Fatal(err)
	}
	policy := ""
	for _, c := range cfgs[0].Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if cfgs[0].Err != nil || policy != "compact" {
		t.Fatalf("%s cleanup.policy = %q (%v), want compact", SourcesTopic, policy, cfgs[0].Err)
	}
}

func TestFollowAppliesHistoryThenChanges(t *testing.T) {
	opts, cl := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, cl, 1, Topics(1)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: SourcesTopic, Key: []byte(k), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var loaded atomic.Bool
	var applied atomic.Int64
	followCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Follow(followCtx, opts, SourcesTopic, func(*kgo.Record) { applied.Add(1) }, &loaded, quiet)
	}()
	testkit.Eventually(t, 10*time.Second, "the topic's history loaded", loaded.Load)
	appliedAtLoad := applied.Load()
	if appliedAtLoad < 3 {
		t.Fatalf("loaded after %d records, want the 3 that existed at start", appliedAtLoad)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: SourcesTopic, Key: []byte("d"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "a later change applied", func() bool { return applied.Load() >= 4 },
		func() string { return fmt.Sprintf("%d records applied", applied.Load()) })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Follow returned %v after its context ended", err)
	}
}
