// Package processor moves events from Kafka into ClickHouse: a consumer
// group member that decodes records, batches them by rows, bytes and age,
// inserts each batch with a deduplication token derived from its offsets
// and commits those offsets only after the insert succeeded (contract G2).
// Records that can never be stored go to the dead-letter topic (G6).
package processor

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
)

// Sink stores a batch of events; a retry with the same token must not
// store them twice.
type Sink interface {
	InsertEvents(ctx context.Context, token string, events []event.Event) error
}

// maxBatchBytes bounds a batch's record values in memory.
const maxBatchBytes = 16 << 20

// ConsumerOpts are the franz-go options the processor needs on top of the
// shared client options: the group, manual commits, and rebalances held off
// while a polled batch is not yet committed.
func ConsumerOpts(cfg config.Processor) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(kafka.EventsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
}

// Processor is one consumer group member.
type Processor struct {
	cfg  config.Processor
	cl   *kgo.Client
	sink Sink
	log  *slog.Logger
	m    *metrics
	// afterInsert, when set, runs between a batch's insert and its commit;
	// tests use it to crash there.
	afterInsert func()
}

// New builds a processor whose client is built from opts plus
// ConsumerOpts(cfg).
func New(cfg config.Processor, opts []kgo.Opt, sink Sink, log *slog.Logger, reg prometheus.Registerer) (*Processor, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), ConsumerOpts(cfg)...)...)
	if err != nil {
		return nil, fmt.Errorf("processor kafka client: %w", err)
	}
	return &Processor{cfg: cfg, cl: cl, sink: sink, log: log, m: m}, nil
}

// batch is the events polled but not yet inserted, and for each partition
// the first and last offset they cover and a digest of the record values.
type batch struct {
	events  []event.Event
	bytes   int
	started time.Time
	first   map[int32]int64
	last    map[int32]*kgo.Record
	values  map[int32]hash.Hash64
}

func newBatch() *batch {
	return &batch{first: map[int32]int64{}, last: map[int32]*kgo.Record{}, values: map[int32]hash.Hash64{}}
}

func (b *batch) track(r *kgo.Record) {
	if len(b.last) == 0 {
		b.started = time.Now()
	}
	if _, ok := b.first[r.Partition]; !ok {
		b.first[r.Partition] = r.Offset
	}
	b.last[r.Partition] = r
	h, ok := b.values[r.Partition]
	if !ok {
		h = fnv.New64a()
		b.values[r.Partition] = h
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(r.Value)))
	h.Write(n[:])
	h.Write(r.Value)
}

func (b *batch) empty() bool { return len(b.last) == 0 }

// Token derives the insert_deduplication_token from the offset ranges the
// batch covers and the digests of their record values: the same records
// always give the same token. Offsets alone are not enough: after a topic is
// recreated, the embedded broker's data is wiped while ClickHouse keeps its
// own, or the processor is pointed at another cluster, the same offsets
// hold other records, and ClickHouse would silently drop their insert as a
// duplicate of the earlier one.
func (b *batch) Token() string {
	parts := make([]string, 0, len(b.last))
	for p, r := range b.last {
		parts = append(parts, r.Topic+"/"+strconv.Itoa(int(p))+":"+strconv.FormatInt(b.first[p], 10)+"-"+strconv.FormatInt(r.Offset, 10)+
			":"+strconv.FormatUint(b.values[p].Sum64(), 16))
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return "tsp-" + hex.EncodeToString(sum[:16])
}

// Run consumes until ctx ends, then flushes and commits what it holds
// (bounded by stopTimeout) and leaves the group.
func (p *Processor) Run(ctx context.Context, stopTimeout time.Duration) error {
	b := newBatch()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if !b.empty() {
			if err := p.flush(stopCtx, b); err != nil {
				p.log.Error("final flush failed; the records stay uncommitted and will be consumed again", "error", err)
			}
		}
		p.cl.CloseAllowingRebalance()
	}()
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !b.empty() {
			pollCtx, cancel = context.WithDeadline(ctx, b.started.Add(p.cfg.BatchAge))
		}
		fs := p.cl.PollRecords(pollCtx, max(1, p.cfg.BatchRows-len(b.events)))
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				p.log.Warn("fetch failed", "topic", t, "partition", part, "error", err)
			}
		})
		var dead []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			p.m.consumed.Inc()
			b.track(r)
			e, err := event.Unmarshal(header(r, event.FormatHeader), r.Value)
			if err != nil {
				dead = append(dead, deadLetter(r, err))
				return
			}
			b.events = append(b.events, e)
			b.bytes += len(r.Value)
		})
		if len(dead) > 0 {
			if err := p.park(ctx, dead); err != nil {
				// ctx ended while Kafka refused the dead letters: drop the
				// whole batch uncommitted so it is consumed again.
				b = newBatch()
				return nil
			}
		}
		if !b.empty() && (len(b.events) >= p.cfg.BatchRows || b.bytes >= maxBatchBytes || time.Since(b.started) >= p.cfg.BatchAge) {
			if err := p.flush(ctx, b); err != nil {
				return nil // ctx ended; the deferred flush retries within the stop timeout
			}
			b = newBatch()
		}
		if b.empty() {
			p.cl.AllowRebalance()
		}
	}
}

// flush inserts the batch, retrying with backoff and the same token until it
// succeeds or ctx ends, then commits its offsets.
func (p *Processor) flush(ctx context.Context, b *batch) error {
	token := b.Token()
	if len(b.events) > 0 {
		p.m.batchRows.Observe(float64(len(b.events)))
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			start := time.Now()
			err := p.sink.InsertEvents(ctx, token, b.events)
			p.m.insertDuration.Observe(time.Since(start).Seconds())
			if err == nil {
				p.m.rowsInserted.Add(float64(len(b.events)))
				break
			}
			p.m.insertErrors.Inc()
			p.log.Error("insert failed; retrying with the same deduplication token", "rows", len(b.events), "token", token, "retry_in", wait, "error", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	if p.afterInsert != nil {
		p.afterInsert()
	}
	recs := make([]*kgo.Record, 0, len(b.last))
	for _, r := range b.last {
		recs = append(recs, r)
	}
	if err := p.cl.CommitRecords(ctx, recs...); err != nil {
		if ctx.Err() != nil {
			// Stopping: keep the batch so the deferred flush inserts it
			// again (the same token makes that a no-op) and commits it
			// within the stop timeout.
			return ctx.Err()
		}
		// The rows are stored; a later consumer re-inserts them and the
		// events table collapses the duplicates.
		p.m.commitErrors.Inc()
		p.log.Warn("commit failed after insert; the batch will be consumed again and deduplicated", "token", token, "error", err)
	}
	return nil
}

// park produces dead letters to the DLQ topic, retrying until Kafka takes
// them or ctx ends.
func (p *Processor) park(ctx context.Context, dead []*kgo.Record) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := p.cl.ProduceSync(ctx, dead...).FirstErr()
		if err == nil {
			p.m.deadLetters.Add(float64(len(dead)))
			return nil
		}
		p.log.Error("dead-letter produce failed; retrying", "records", len(dead), "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// deadLetter is r as a DLQ record with the reason and origin in headers.
func deadLetter(r *kgo.Record, reason error) *kgo.Record {
	return &kgo.Record{
		Topic: kafka.DLQTopic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader{}, r.Headers...),
			kgo.RecordHeader{Key: "trackstream-dlq-reason", Value: []byte(reason.Error())},
			kgo.RecordHeader{Key: "trackstream-dlq-topic", Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: "trackstream-dlq-partition", Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: "trackstream-dlq-offset", Value: []byte(strconv.FormatInt(r.Offset, 10))},
		),
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
