// Package sources is the registry of event sources. admin-api publishes each
// source to the compacted topic trackstream.sources; every ingest replica
// (and admin-api itself) follows that topic into an in-memory Registry, so
// ingest needs nothing but Kafka and stays stateless.
package sources

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
)

// Source is one configured sender of events.
type Source struct {
	// ID is the public source id a browser puts in source.id.
	ID string `json:"id"`
	// Name is the operator's label for the source.
	Name string `json:"name"`
	// Enabled sources are accepted; disabled ones are refused.
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewID returns a fresh public source id: "src_" and 32 hex digits
// (128 random bits).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "src_" + hex.EncodeToString(b[:])
}

// Publish writes s to the sources topic and waits for Kafka's ack.
func Publish(ctx context.Context, cl *kgo.Client, s Source) error {
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode source %s: %w", s.ID, err)
	}
	rec := &kgo.Record{Topic: kafka.SourcesTopic, Key: []byte(s.ID), Value: v}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("publish source %s to %s: %w", s.ID, kafka.SourcesTopic, err)
	}
	return nil
}

// Registry is the in-memory view of the sources topic.
type Registry struct {
	mu     sync.RWMutex
	byID   map[string]Source
	loaded atomic.Bool
}

// NewRegistry returns an empty registry; Follow fills it.
func NewRegistry() *Registry {
	return &Registry{byID: map[string]Source{}}
}

// Get returns the source with id.
func (r *Registry) Get(id string) (Source, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.byID[id]
	return s, ok
}

// List returns every source, oldest first.
func (r *Registry) List() []Source {
	r.mu.RLock()
	out := make([]Source, 0, len(r.byID))
	for _, s := range r.byID {
		out = append(out, s)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// Loaded reports whether the registry has read the topic up to where it
// ended when Follow started.
func (r *Registry) Loaded() bool { return r.loaded.Load() }

// apply handles one record: a source, or a tombstone deleting one.
func (r *Registry) apply(rec *kgo.Record, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.Value == nil {
		delete(r.byID, string(rec.Key))
		return
	}
	var s Source
	if err := json.Unmarshal(rec.Value, &s); err != nil || s.ID == "" {
		log.Error("skipping malformed source record", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "error", err)
		return
	}
	r.byID[s.ID] = s
}

// Follow reads the sources topic from the start with its own client built
// from opts, marks the registry loaded once it has caught up, and keeps
// applying changes until ctx ends.
func (r *Registry) Follow(ctx context.Context, opts []kgo.Opt, log *slog.Logger) error {
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics(kafka.SourcesTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("sources client: %w", err)
	}
	defer cl.Close()

	end, err := r.endOffsets(ctx, cl, log)
	if err != nil {
		return err
	}
	next := map[int32]int64{}
	caughtUp := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	if caughtUp() {
		r.loaded.Store(true)
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			log.Warn("reading sources topic", "topic", t, "partition", p, "error", err)
		})
		fs.EachRecord(func(rec *kgo.Record) {
			r.apply(rec, log)
			next[rec.Partition] = rec.Offset + 1
		})
		if !r.loaded.Load() && caughtUp() {
			r.loaded.Store(true)
		}
	}
}

// endOffsets asks where the sources topic ends, retrying until Kafka answers
// or ctx ends.
func (r *Registry) endOffsets(ctx context.Context, cl *kgo.Client, log *slog.Logger) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		offs, err := adm.ListEndOffsets(ctx, kafka.SourcesTopic)
		if err == nil {
			err = offs.Error()
		}
		if err == nil {
			end := map[int32]int64{}
			offs.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
			return end, nil
		}
		log.Warn("sources topic end offsets unavailable, retrying", "topic", kafka.SourcesTopic, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
