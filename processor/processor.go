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
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

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
// Copies marks the rows that are copies of an event (earlier in the batch
// or already stored); the processor asks once per batch, for the rows its
// dedup window cannot decide (dedup.go), and drops them before the
// insert, so that no copy reaches the count rollups.
type Sink interface {
	InsertRows(ctx context.Context, token string, rows []store.Row) error
	Copies(ctx context.Context, rows []store.Row) ([]bool, error)
	// RecentIDs reads back the stored events of some partitions and
	// hours, to rebuild the dedup windows (see store.Embedded.RecentIDs);
	// RecentHours counts them by hour.
	RecentIDs(ctx context.Context, parts []int32, n int, from, to time.Time, fn func(store.RecentID)) error
	RecentHours(ctx context.Context, parts []int32, n int, from, to time.Time) (map[int64]int, error)
}

const (
	// maxFetchBytes caps one Kafka fetch response whatever BatchBytes is.
	maxFetchBytes = 64 << 20
	// firstBackoff is the first wait after a failed insert.
	firstBackoff = 100 * time.Millisecond
)

// consumerOpts are the franz-go options a processor worker needs on top of
// the shared client options: the group, manual commits, rebalances held
// off while a polled batch is not yet committed, and fetches bounded by
// the batch size so that buffered records stay within memory bounds.
func consumerOpts(cfg config.Processor) []kgo.Opt {
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

// Processor is the processor role of one process: cfg.Workers consumer
// group members sharing the sink, the enrichment (and its GeoIP
// database), the test fault hooks and one set of metrics.
type Processor struct {
	cfg     config.Processor
	log     *slog.Logger
	m       *metrics
	geo     *enrich.GeoIP
	faults  *faultHooks
	workers []*worker
}

// Option adjusts a Processor at construction.
type Option func(*Processor)

// WithGeoIP places, with g, the events that arrive without ingest's
// country lookup (see enrich.Options.Geo). The caller keeps g current.
func WithGeoIP(g *enrich.GeoIP) Option { return func(p *Processor) { p.geo = g } }

// New builds the processor of cfg: its metrics on reg, its enrichment and
// cfg.Workers consumer group members, each with a Kafka client built from
// opts plus consumerOpts(cfg) (static members <InstanceID>-<worker> when
// cfg.InstanceID is set, franz-go metrics labelled by worker). It refuses
// a cfg that fails cfg.Validate.
func New(cfg config.Processor, opts []kgo.Opt, sink Sink, log *slog.Logger, reg prometheus.Registerer, options ...Option) (_ *Processor, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("processor configuration: %w", err)
	}
	b := &budget{maxIDs: int64(cfg.DedupWindowMaxIDs)}
	m, err := newMetrics(reg, b)
	if err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, log: log, m: m, faults: newFaults(cfg, time.Now())}
	for _, o := range options {
		o(p)
	}
	enricher := newEnricher(cfg, p.geo)
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.faults != nil {
		log.Warn("TEST FAULT HOOKS ARE ON: this process will fail on purpose; never run it like this in production", p.faults.describe()...)
		sink = p.faults.wrap(sink)
	}
	for w := range cfg.Workers {
		wopts := append(append([]kgo.Opt{}, opts...), kgo.WithHooks(kprom.NewMetrics("trackstream_processor_kafka",
			kprom.Registerer(reg), kprom.WithStaticLabel(prometheus.Labels{"worker": strconv.Itoa(w)}))))
		if cfg.InstanceID != "" {
			// Static membership: a restarted member takes its partitions
			// back at once instead of waiting out the dead session.
			wopts = append(wopts, kgo.InstanceID(fmt.Sprintf("%s-%d", cfg.InstanceID, w)))
		}
		wlog := log.With("worker", w)
		wk := &worker{p: p, sink: sink, enricher: enricher, log: wlog, dd: newDedup(cfg.DedupWindow, b, m, wlog)}
		all := append(wopts, consumerOpts(cfg)...)
		all = append(all, kgo.OnPartitionsAssigned(wk.assigned), kgo.OnPartitionsRevoked(wk.forget), kgo.OnPartitionsLost(wk.forget))
		if wk.cl, err = kgo.NewClient(all...); err != nil {
			return nil, fmt.Errorf("processor kafka client: %w", err)
		}
		p.workers = append(p.workers, wk)
	}
	return p, nil
}

// close releases what New opened, for a processor that will not run.
func (p *Processor) close() {
	for _, w := range p.workers {
		w.cl.Close()
	}
}

// Run runs every worker until ctx ends; then each flushes and commits
// what it holds (bounded by stopTimeout) and leaves the group. The
// workers stop together, so a stop takes one worker's stop time, not
// the sum. Run returns once all have stopped.
func (p *Processor) Run(ctx context.Context, stopTimeout time.Duration) error {
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); p.reportLag(ctx, p.workers[0].cl) }()
	errs := make(chan error, len(p.workers))
	for _, w := range p.workers {
		go func() { errs <- w.run(ctx, stopTimeout) }()
	}
	var all []error
	for range p.workers {
		all = append(all, <-errs)
	}
	<-lagDone
	return errors.Join(all...)
}

// worker is one consumer group member of a Processor.
type worker struct {
	p        *Processor
	cl       *kgo.Client
	sink     Sink
	enricher *enrich.Enricher
	log      *slog.Logger
	dd       *dedup
	// afterInsert, when set, runs between a batch's insert and its commit;
	// tests use it to crash there.
	afterInsert func()
}

// assigned builds the dedup windows of newly assigned partitions before
// their records are fetched.
func (w *worker) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	w.dd.assigned(ctx, cl, w.sink, assigned)
}

// forget drops the lag series and dedup windows of partitions this member
// no longer owns. Rebalances are blocked while a batch is held, so by the
// time partitions are revoked everything consumed from them is inserted
// and committed.
func (w *worker) forget(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for _, part := range lost[kafka.EventsTopic] {
		w.p.m.forgetPartition(part)
	}
	w.dd.revoked(lost)
}

// run consumes until ctx ends, then flushes and commits what it holds
// (bounded by stopTimeout) and leaves the group.
func (w *worker) run(ctx context.Context, stopTimeout time.Duration) error {
	b := newBatch()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if !b.empty() {
			if err := w.flush(stopCtx, b); err != nil {
				w.log.Error("final flush failed; the records stay uncommitted and will be consumed again", "error", err)
			}
		}
		// Closing waits for the group's requests in flight; a JoinGroup can
		// hang until the rebalance timeout, so the wait is bounded too.
		closed := make(chan struct{})
		go func() { w.cl.CloseAllowingRebalance(); close(closed) }()
		select {
		case <-closed:
		case <-stopCtx.Done():
			w.log.Warn("kafka client did not close within the stop timeout; stopping without waiting (the group expires this member)")
		}
	}()
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !b.empty() {
			pollCtx, cancel = context.WithDeadline(ctx, b.started.Add(w.p.cfg.BatchAge))
		}
		fs := w.cl.PollRecords(pollCtx, max(1, w.p.cfg.BatchRows-len(b.rows)))
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				w.log.Warn("fetch failed", "topic", t, "partition", part, "error", err)
			}
		})
		var dead []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			w.p.m.consumed.Inc()
			b.track(r)
			e, err := event.Unmarshal(header(r, event.FormatHeader), r.Value)
			if err != nil {
				dead = append(dead, deadLetter(r, reasonFor(err), err))
				return
			}
			b.add(store.Row{Event: e, Fields: w.enricher.Event(&e)}, r)
		})
		if len(dead) > 0 {
			if err := w.park(ctx, dead); err != nil {
				// ctx ended while Kafka refused the dead letters: drop the
				// whole batch uncommitted so it is consumed again.
				b = newBatch()
				return nil
			}
		}
		if !b.empty() && (len(b.rows) >= w.p.cfg.BatchRows || b.bytes >= w.p.cfg.BatchBytes || time.Since(b.started) >= w.p.cfg.BatchAge) {
			if err := w.flush(ctx, b); err != nil {
				return nil // ctx ended; the deferred flush retries within the stop timeout
			}
			b = newBatch()
		}
		if b.empty() {
			w.cl.AllowRebalance()
		}
	}
}

// flush inserts the batch (retrying, splitting out rejected rows), then
// commits its offsets. It fails only when ctx ends first.
func (w *worker) flush(ctx context.Context, b *batch) error {
	token := b.Token()
	if len(b.rows) > 0 {
		w.p.m.batchRows.Observe(float64(len(b.rows)))
		w.p.m.batchBytes.Observe(float64(b.bytes))
		if err := w.dropCopies(ctx, b); err != nil {
			return err
		}
	}
	if len(b.rows) > 0 {
		dead, err := w.insert(ctx, token, b.rows, b.recs)
		if err != nil {
			return err
		}
		w.dd.remember(b.rows, b.recs, dead)
		if w.p.faults != nil {
			w.p.faults.inserted(w.log)
		}
	}
	if w.afterInsert != nil {
		w.afterInsert()
	}
	recs := b.commitRecords()
	start := time.Now()
	err := w.cl.CommitRecords(ctx, recs...)
	w.p.m.commitDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			// Stopping: keep the batch so the deferred flush inserts it
			// again (the same token makes that a no-op) and commits it
			// within the stop timeout.
			return ctx.Err()
		}
		// The rows are stored; a later consumer re-inserts them and the
		// token or the events table collapses the duplicates.
		w.p.m.commitErrors.Inc()
		w.log.Warn("commit failed after insert; the batch will be consumed again and deduplicated", "token", token, "error", err)
	}
	return nil
}

// dropCopies removes from b the rows that are copies of an event (earlier
// in b or already stored). Windows whose build failed are built again
// first when their retry is due. The dedup windows decide what they can; the
// other rows are looked up in ClickHouse. It runs once per batch, so the
// insert's retries carry the same rows under the same token. While the
// lookup fails it is retried with backoff, counted as an insert retry,
// with fetching paused; it fails only when ctx ends.
func (w *worker) dropCopies(ctx context.Context, b *batch) error {
	w.dd.retryBuilds(ctx, w.cl, w.sink, time.Now())
	dup, ask := w.dd.classify(b.rows, b.recs, time.Now())
	if len(ask) > 0 {
		w.p.m.lookupIDs.Add(float64(len(ask)))
		asked := make([]store.Row, len(ask))
		for j, i := range ask {
			asked[j] = b.rows[i]
		}
		stored, err := w.lookUp(ctx, asked)
		if err != nil {
			return err
		}
		for j, i := range ask {
			dup[i] = stored[j]
		}
	}
	kept := 0
	for i := range b.rows {
		if !dup[i] {
			b.rows[kept], b.recs[kept] = b.rows[i], b.recs[i]
			kept++
		}
	}
	w.p.m.copiesDropped.Add(float64(len(b.rows) - kept))
	b.rows, b.recs = b.rows[:kept], b.recs[:kept]
	return nil
}

// lookUp asks the sink which of rows are stored, retrying with backoff
// and fetching paused while it fails; it fails only when ctx ends.
func (w *worker) lookUp(ctx context.Context, rows []store.Row) ([]bool, error) {
	paused := false
	defer func() {
		if paused {
			w.cl.ResumeFetchTopics(kafka.EventsTopic)
		}
	}()
	for wait := firstBackoff; ; wait = min(2*wait, w.p.cfg.InsertBackoffMax) {
		stored, err := w.sink.Copies(ctx, rows)
		if err == nil {
			return stored, nil
		}
		w.p.m.insertErrors.Inc()
		if !paused {
			w.cl.PauseFetchTopics(kafka.EventsTopic)
			paused = true
		}
		w.p.m.retries.Inc()
		w.log.Error("looking up which events are already stored failed; retrying", "rows", len(rows), "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
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
func (w *worker) insert(ctx context.Context, token string, rows []store.Row, recs []*kgo.Record) (unstored map[*kgo.Record]bool, err error) {
	iso := isolation{splitsLeft: maxRejectedSplits, unstored: map[*kgo.Record]bool{}}
	if err := w.isolate(ctx, token, rows, recs, &iso); err != nil {
		return nil, err
	}
	if len(iso.dead) == 0 {
		return nil, nil
	}
	w.log.Warn("clickhouse rejected events; parking them in the dead-letter topic",
		"rejected", iso.rejected, "unisolated", len(iso.dead)-iso.rejected, "batch_rows", len(rows),
		"token", token, "first_source", iso.firstRow.SourceID, "first_id", iso.firstRow.ID, "first_error", iso.firstErr)
	return iso.unstored, w.park(ctx, iso.dead)
}

// isolation is the state of one batch's search for rejected rows.
type isolation struct {
	splitsLeft int
	dead       []*kgo.Record
	unstored   map[*kgo.Record]bool // the records of the dead letters
	rejected   int                  // dead letters that are rows rejected alone
	firstErr   error
	firstRow   event.Event
}

// isolate stores rows under token, splitting rejected parts while the
// budget lasts and collecting what cannot be stored in iso.dead.
func (w *worker) isolate(ctx context.Context, token string, rows []store.Row, recs []*kgo.Record, iso *isolation) error {
	err := w.insertRetrying(ctx, token, rows)
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
		iso.unstored[recs[0]] = true
		return nil
	case iso.splitsLeft == 0:
		why := fmt.Errorf("the part of the batch holding this record (%d records) was rejected after the batch's %d splits to isolate bad rows were spent; "+
			"the record itself may be fine, replay it: %w", len(rows), maxRejectedSplits, err)
		for _, r := range recs {
			iso.dead = append(iso.dead, deadLetter(r, ReasonUnisolated, why))
			iso.unstored[r] = true
		}
		return nil
	}
	iso.splitsLeft--
	w.p.m.splits.Inc()
	mid := len(rows) / 2
	if err := w.isolate(ctx, token+".0", rows[:mid], recs[:mid], iso); err != nil {
		return err
	}
	return w.isolate(ctx, token+".1", rows[mid:], recs[mid:], iso)
}

// insertRetrying inserts rows under token, retrying every failure but a rejection
// with backoff and the same token (a failed send may still have
// inserted), with fetching paused so that nothing piles up in memory while
// ClickHouse is behind. It returns nil, an error wrapping
// store.ErrRejected, or ctx's error.
func (w *worker) insertRetrying(ctx context.Context, token string, rows []store.Row) error {
	paused := false
	defer func() {
		if paused {
			w.cl.ResumeFetchTopics(kafka.EventsTopic)
		}
	}()
	for wait := firstBackoff; ; wait = min(2*wait, w.p.cfg.InsertBackoffMax) {
		start := time.Now()
		err := w.sink.InsertRows(ctx, token, rows)
		w.p.m.insertDuration.Observe(time.Since(start).Seconds())
		if err == nil {
			w.p.m.rowsInserted.Add(float64(len(rows)))
			now := time.Now()
			for i := range rows {
				w.p.m.freshness.Observe(now.Sub(rows[i].Event.ReceivedAt).Seconds())
			}
			return nil
		}
		w.p.m.insertErrors.Inc()
		if errors.Is(err, store.ErrRejected) {
			return err
		}
		if !paused {
			w.cl.PauseFetchTopics(kafka.EventsTopic)
			paused = true
		}
		w.p.m.retries.Inc()
		w.log.Error("insert failed; retrying with the same deduplication token", "rows", len(rows), "token", token, "retry_in", wait, "error", err)
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
