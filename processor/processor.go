// Package processor moves events from Kafka into ClickHouse: a consumer
// group member that decodes records, enriches them, batches them by rows,
// bytes and age, inserts each batch with a deduplication token derived from
// its offsets and contents, and commits those offsets only after the insert
// succeeded (contract G2). Records that can never be stored (undecodable,
// or rows ClickHouse rejects, isolated by splitting the batch within a
// bounded number of inserts) go to the dead-letter topic with the reason
// and their origin (G6).
package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/store"
)

// Sink stores a batch of rows; a retry with the same token must not store
// them twice. An error wrapping store.ErrRejected means the rows
// themselves were refused: the processor then splits the batch to find
// the bad rows and dead-letters them. Any other error is retried.
type Sink interface {
	InsertRows(ctx context.Context, token string, rows []store.Row) error
}

// Defaults applied to zero fields of the config the processor is given.
const (
	defaultBatchBytes = 16 << 20
	defaultBackoffMax = 5 * time.Second
	defaultLagEvery   = 10 * time.Second
	// maxFetchBytes caps one Kafka fetch response whatever BatchBytes is.
	maxFetchBytes = 64 << 20
	// firstBackoff is the first wait after a failed insert.
	firstBackoff = 100 * time.Millisecond
)

// ConsumerOpts are the franz-go options the processor needs on top of the
// shared client options: the group, manual commits, rebalances held off
// while a polled batch is not yet committed, and fetches bounded by the
// batch size so that buffered records stay within memory bounds.
func ConsumerOpts(cfg config.Processor) []kgo.Opt {
	cfg = withDefaults(cfg)
	fetch := int32(min(cfg.BatchBytes, maxFetchBytes))
	return []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(kafka.EventsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.FetchMaxBytes(fetch),
		kgo.FetchMaxPartitionBytes(fetch),
		kgo.MaxConcurrentFetches(2),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
}

func withDefaults(cfg config.Processor) config.Processor {
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = defaultBatchBytes
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 50_000
	}
	if cfg.BatchAge <= 0 {
		cfg.BatchAge = time.Second
	}
	if cfg.InsertBackoffMax <= 0 {
		cfg.InsertBackoffMax = defaultBackoffMax
	}
	if cfg.LagInterval <= 0 {
		cfg.LagInterval = defaultLagEvery
	}
	return cfg
}

// Processor is one consumer group member.
type Processor struct {
	cfg      config.Processor
	cl       *kgo.Client
	sink     Sink
	enricher *enrich.Enricher
	faults   *Faults
	log      *slog.Logger
	m        *metrics
	// afterInsert, when set, runs between a batch's insert and its commit;
	// tests use it to crash there.
	afterInsert func()
}

// Option adjusts a Processor at construction.
type Option func(*Processor)

// WithEnricher sets the enrichment applied to every event (see
// OpenEnrichment). Without it the processor applies the enrichments cfg
// switches on, without GeoIP.
func WithEnricher(e *enrich.Enricher) Option { return func(p *Processor) { p.enricher = e } }

// WithFaults installs test fault hooks (see FaultsFromEnv); nil installs
// none.
func WithFaults(f *Faults) Option { return func(p *Processor) { p.faults = f } }

// New builds a processor whose client is built from opts plus
// ConsumerOpts(cfg).
func New(cfg config.Processor, opts []kgo.Opt, sink Sink, log *slog.Logger, reg prometheus.Registerer, options ...Option) (*Processor, error) {
	cfg = withDefaults(cfg)
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, sink: sink, log: log, m: m}
	for _, o := range options {
		o(p)
	}
	if p.enricher == nil {
		p.enricher = enrich.New(enrichOptions(cfg))
	}
	if p.faults != nil {
		p.sink = p.faults.wrap(p.sink)
	}
	all := append(append([]kgo.Opt{}, opts...), ConsumerOpts(cfg)...)
	all = append(all, kgo.OnPartitionsRevoked(p.forget), kgo.OnPartitionsLost(p.forget))
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("processor kafka client: %w", err)
	}
	p.cl = cl
	return p, nil
}

// forget drops the lag series of partitions this member no longer owns.
// Rebalances are blocked while a batch is held, so by the time partitions
// are revoked everything consumed from them is inserted and committed.
func (p *Processor) forget(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for _, part := range lost[kafka.EventsTopic] {
		p.m.forgetPartition(part)
	}
}

// Run consumes until ctx ends, then flushes and commits what it holds
// (bounded by stopTimeout) and leaves the group.
func (p *Processor) Run(ctx context.Context, stopTimeout time.Duration) error {
	b := newBatch()
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); p.reportLag(lagCtx) }()
	defer func() {
		stopLag()
		<-lagDone
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if !b.empty() {
			if err := p.flush(stopCtx, b); err != nil {
				p.log.Error("final flush failed; the records stay uncommitted and will be consumed again", "error", err)
			}
		}
		// Closing waits for the group's requests in flight; a JoinGroup can
		// hang until the rebalance timeout, so the wait is bounded too.
		closed := make(chan struct{})
		go func() { p.cl.CloseAllowingRebalance(); close(closed) }()
		select {
		case <-closed:
		case <-stopCtx.Done():
			p.log.Warn("kafka client did not close within the stop timeout; stopping without waiting (the group expires this member)")
		}
	}()
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !b.empty() {
			pollCtx, cancel = context.WithDeadline(ctx, b.started.Add(p.cfg.BatchAge))
		}
		fs := p.cl.PollRecords(pollCtx, max(1, p.cfg.BatchRows-len(b.rows)))
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
				dead = append(dead, deadLetter(r, reasonFor(err), err))
				return
			}
			b.add(store.Row{Event: e, Fields: p.enricher.Event(&e)}, r)
		})
		if len(dead) > 0 {
			if err := p.park(ctx, dead); err != nil {
				// ctx ended while Kafka refused the dead letters: drop the
				// whole batch uncommitted so it is consumed again.
				b = newBatch()
				return nil
			}
		}
		if !b.empty() && (len(b.rows) >= p.cfg.BatchRows || b.bytes >= p.cfg.BatchBytes || time.Since(b.started) >= p.cfg.BatchAge) {
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

// flush inserts the batch (retrying, splitting out rejected rows), then
// commits its offsets. It fails only when ctx ends first.
func (p *Processor) flush(ctx context.Context, b *batch) error {
	token := b.Token()
	if len(b.rows) > 0 {
		p.m.batchRows.Observe(float64(len(b.rows)))
		p.m.batchBytes.Observe(float64(b.bytes))
		if err := p.insert(ctx, token, b.rows, b.recs); err != nil {
			return err
		}
		if p.faults != nil {
			p.faults.inserted(p.log)
		}
	}
	if p.afterInsert != nil {
		p.afterInsert()
	}
	recs := b.commitRecords()
	start := time.Now()
	err := p.cl.CommitRecords(ctx, recs...)
	p.m.commitDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			// Stopping: keep the batch so the deferred flush inserts it
			// again (the same token makes that a no-op) and commits it
			// within the stop timeout.
			return ctx.Err()
		}
		// The rows are stored; a later consumer re-inserts them and the
		// token or the events table collapses the duplicates.
		p.m.commitErrors.Inc()
		p.log.Warn("commit failed after insert; the batch will be consumed again and deduplicated", "token", token, "error", err)
	}
	return nil
}

// maxRejectedSplits bounds the work of isolating rows ClickHouse refuses
// in one batch: at most this many rejected parts are split in two. A
// rejected part met once the budget is spent is parked whole (reason
// ReasonUnisolated) instead of being split further, so a batch costs at
// most 2*maxRejectedSplits+1 failed inserts (and maxRejectedSplits+1
// successful ones) however many of its rows are bad, and a stream of bad
// rows cannot stall the good rows behind it. 24 splits isolate a single
// bad row in any batch of up to 2^23 rows.
const maxRejectedSplits = 24

// insert stores rows under token, parking in the dead-letter topic the
// rows ClickHouse refuses. A refused part (store.ErrRejected) is split in
// two halves, each inserted under a token derived from its parent's, until
// the bad rows are alone or the batch's split budget (maxRejectedSplits)
// is spent; the split order is fixed, so a re-consumption after a crash
// makes the same parts with the same tokens. Every other failure is
// retried (see insertRetrying).
func (p *Processor) insert(ctx context.Context, token string, rows []store.Row, recs []*kgo.Record) error {
	iso := isolation{splitsLeft: maxRejectedSplits}
	if err := p.isolate(ctx, token, rows, recs, &iso); err != nil {
		return err
	}
	if len(iso.dead) == 0 {
		return nil
	}
	p.log.Warn("clickhouse rejected events; parking them in the dead-letter topic",
		"rejected", iso.rejected, "unisolated", len(iso.dead)-iso.rejected, "batch_rows", len(rows),
		"token", token, "first_source", iso.firstRow.SourceID, "first_id", iso.firstRow.ID, "first_error", iso.firstErr)
	return p.park(ctx, iso.dead)
}

// isolation is the state of one batch's search for rejected rows.
type isolation struct {
	splitsLeft int
	dead       []*kgo.Record
	rejected   int // dead letters that are rows rejected alone
	firstErr   error
	firstRow   event.Event
}

// isolate stores rows under token, splitting rejected parts while the
// budget lasts and collecting what cannot be stored in iso.dead.
func (p *Processor) isolate(ctx context.Context, token string, rows []store.Row, recs []*kgo.Record, iso *isolation) error {
	err := p.insertRetrying(ctx, token, rows)
	if err == nil || !errors.Is(err, store.ErrRejected) {
		return err
	}
	if iso.firstErr == nil {
		iso.firstErr, iso.firstRow = err, rows[0].Event
	}
	switch {
	case len(rows) == 1:
		iso.rejected++
		iso.dead = append(iso.dead, deadLetter(recs[0], ReasonRejected, err))
		return nil
	case iso.splitsLeft == 0:
		why := fmt.Errorf("the part of the batch holding this record (%d records) was rejected after the batch's %d splits to isolate bad rows were spent; "+
			"the record itself may be fine, replay it: %w", len(rows), maxRejectedSplits, err)
		for _, r := range recs {
			iso.dead = append(iso.dead, deadLetter(r, ReasonUnisolated, why))
		}
		return nil
	}
	iso.splitsLeft--
	p.m.splits.Inc()
	mid := len(rows) / 2
	if err := p.isolate(ctx, token+".0", rows[:mid], recs[:mid], iso); err != nil {
		return err
	}
	return p.isolate(ctx, token+".1", rows[mid:], recs[mid:], iso)
}

// insertRetrying inserts rows under token, retrying every failure but a rejection
// with backoff and the same token (a failed send may still have
// inserted), with fetching paused so that nothing piles up in memory while
// ClickHouse is behind. It returns nil, an error wrapping
// store.ErrRejected, or ctx's error.
func (p *Processor) insertRetrying(ctx context.Context, token string, rows []store.Row) error {
	paused := false
	defer func() {
		if paused {
			p.cl.ResumeFetchTopics(kafka.EventsTopic)
		}
	}()
	for wait := firstBackoff; ; wait = min(2*wait, p.cfg.InsertBackoffMax) {
		start := time.Now()
		err := p.sink.InsertRows(ctx, token, rows)
		p.m.insertDuration.Observe(time.Since(start).Seconds())
		if err == nil {
			p.m.rowsInserted.Add(float64(len(rows)))
			now := time.Now()
			for i := range rows {
				p.m.freshness.Observe(now.Sub(rows[i].Event.ReceivedAt).Seconds())
			}
			return nil
		}
		p.m.insertErrors.Inc()
		if errors.Is(err, store.ErrRejected) {
			return err
		}
		if !paused {
			p.cl.PauseFetchTopics(kafka.EventsTopic)
			paused = true
		}
		p.m.retries.Inc()
		p.log.Error("insert failed; retrying with the same deduplication token", "rows", len(rows), "token", token, "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
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
