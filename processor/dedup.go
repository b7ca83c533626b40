package processor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/store"
)

// Write-time dedup of one worker. Each batch's rows are sorted into
// copies (dropped), new events and events to look up in ClickHouse
// (Sink.Copies). The windows (window.go) decide without a lookup:
//
//   - a row whose id is in its partition's window is a copy (the window
//     holds only events stored from that partition, or read back from
//     ClickHouse);
//   - a row missing from the window is new when every copy it may have is
//     in that window: its record key is the event's own key (Event.Key)
//     and goes to this partition under Kafka's default partitioner, so its
//     copies, which carry the same source and visitor ids, were consumed
//     here; its time is the client's own, skew-corrected (ClientTime set,
//     not clamped to the receive time), so copies' times differ by network
//     delay only, less than copySpread; and that time minus copySpread is
//     within the window's complete hours.
//
// Every other row is looked up: events older than the window (late events,
// DLQ replays of old events), events without a client time (their time is
// the receive time, so a copy sent a day later has a time a day later),
// records keyed or partitioned another way, partitions whose window is
// not built, and the hours a full window gave up.

// copySpread bounds how far apart the event times of an event's copies
// are when they carry a client time: receive time minus send time differs
// between attempts only by their network delay and the collectors'
// clock differences.
const copySpread = time.Hour

// rebuildTimeout bounds a window rebuild on assignment, well within the
// group's rebalance timeout (60 s by default). What it read by then
// stands; the hours it did not reach are looked up.
const rebuildTimeout = 30 * time.Second

// dedup is one worker's windows, by partition of the events topic.
type dedup struct {
	span time.Duration // cfg.DedupWindow; 0: no windows
	b    *budget
	m    *metrics
	log  *slog.Logger
	part kgo.TopicPartitioner

	// retryAfter is the wait before a failed or partial build is tried
	// again (defaultRetryAfter; tests shorten it).
	retryAfter time.Duration

	mu    sync.Mutex
	wins  map[int32]*window
	retry map[int32]time.Time // partitions whose build is to be retried, and when
	buf   []byte
}

// defaultRetryAfter is the wait before a failed or partial window build
// is tried again.
const defaultRetryAfter = time.Minute

func newDedup(span time.Duration, b *budget, m *metrics, log *slog.Logger) *dedup {
	return &dedup{span: span, b: b, m: m, log: log, part: kgo.StickyKeyPartitioner(nil).ForTopic(kafka.EventsTopic),
		retryAfter: defaultRetryAfter, wins: map[int32]*window{}, retry: map[int32]time.Time{}}
}

// start is the first hour a window built or advanced at now holds.
func (d *dedup) start(now time.Time) int32 {
	return hourOf(now.Add(-d.span - copySpread).UnixMilli())
}

// assigned builds the windows of newly assigned partitions from the events
// stored in ClickHouse, before their records are fetched (franz-go calls it
// before fetching them; with BlockRebalanceOnPoll, between batches).
func (d *dedup) assigned(ctx context.Context, cl *kgo.Client, sink Sink, assigned map[string][]int32) {
	if parts := assigned[kafka.EventsTopic]; d.span > 0 && len(parts) > 0 {
		d.build(ctx, cl, sink, parts)
	}
}

// retryBuilds builds again, between batches, the windows whose build failed
// or stopped early, once their retry is due. Reading ClickHouse between
// batches is as good as on assignment: every event stored from the
// partition is there, and the batch at hand is not stored yet.
func (d *dedup) retryBuilds(ctx context.Context, cl *kgo.Client, sink Sink, now time.Time) {
	d.mu.Lock()
	var due []int32
	for p, at := range d.retry {
		if !now.Before(at) {
			due = append(due, p)
		}
	}
	d.mu.Unlock()
	if len(due) > 0 {
		slices.Sort(due)
		d.build(ctx, cl, sink, due)
	}
}

// build (re)builds the windows of parts; when it fails or stops early it
// schedules a retry of them after retryAfter.
func (d *dedup) build(ctx context.Context, cl *kgo.Client, sink Sink, parts []int32) {
	ctx, cancel := context.WithTimeout(ctx, rebuildTimeout)
	defer cancel()
	start := time.Now()
	n, err := partitionCount(ctx, cl)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range parts {
		delete(d.retry, p)
	}
	if err != nil {
		d.m.rebuilds.WithLabelValues("failed").Inc()
		d.log.Warn("dedup window not built: the events topic's partition count is unknown; these partitions' events are looked up in ClickHouse until a retry succeeds",
			"partitions", parts, "retry_in", d.retryAfter, "error", err)
		for _, p := range parts {
			d.retry[p] = start.Add(d.retryAfter)
		}
		return
	}
	from := d.start(start)
	wins := map[int32]*window{}
	for _, p := range parts {
		if old := d.wins[p]; old != nil {
			old.release()
		}
		// Complete for no hour until one is read whole.
		w := newWindow(d.b, math.MaxInt32, n)
		d.wins[p], wins[p] = w, w
	}
	ids, err := d.rebuild(ctx, sink, parts, n, from, wins)
	took := time.Since(start)
	d.m.rebuildSeconds.Observe(took.Seconds())
	if err != nil {
		d.m.rebuilds.WithLabelValues("partial").Inc()
		d.log.Warn("dedup window rebuild stopped early; the events of the hours it did not read are looked up in ClickHouse until a retry succeeds",
			"partitions", parts, "took", took, "retry_in", d.retryAfter, "error", err)
		for _, p := range parts {
			d.retry[p] = start.Add(d.retryAfter)
		}
		return
	}
	d.m.rebuilds.WithLabelValues("ok").Inc()
	d.log.Info("dedup window built", "partitions", parts, "ids", ids, "took", took.Round(time.Millisecond))
}

// rebuildChunkIDs bounds the ids one read of a rebuild returns (the answer
// is held in memory whole): about 60 bytes each.
const rebuildChunkIDs = 500_000

// rebuild fills wins, the new windows of parts, with the stored events of
// hours >= from: it counts them by hour, then reads them newest first in
// chunks of whole hours, so a cap or an error leaves each window complete
// for the newest hours it read. It returns the ids read.
func (d *dedup) rebuild(ctx context.Context, sink Sink, parts []int32, n int, from int32, wins map[int32]*window) (int, error) {
	counts, err := sink.RecentHours(ctx, parts, n, time.UnixMilli(int64(from)*3_600_000), farFuture)
	if err != nil {
		return 0, err
	}
	hours := slices.Sorted(maps.Keys(counts))
	slices.Reverse(hours)
	complete := int32(math.MaxInt32) // the windows hold every hour from here on
	ids := 0
	for i := 0; i < len(hours); {
		// The next chunk: hours[i] down to hours[j-1], at most
		// rebuildChunkIDs ids (or one hour).
		j, size := i, 0
		for j < len(hours) && (j == i || size+counts[hours[j]] <= rebuildChunkIDs) {
			size += counts[hours[j]]
			j++
		}
		lo := int32(max(math.MinInt32, min(math.MaxInt32, hours[j-1])))
		hi := farFuture
		if i > 0 {
			hi = time.UnixMilli(int64(complete) * 3_600_000)
		}
		for _, w := range wins {
			if w.from == complete {
				w.from = lo
			}
		}
		err := sink.RecentIDs(ctx, parts, n, time.UnixMilli(int64(lo)*3_600_000), hi, func(r store.RecentID) {
			if w := wins[r.Partition]; w != nil {
				var k idKey
				k, d.buf = keyOf(d.buf, r.Source, r.ID)
				w.add(k, hourOf(r.TimeMs))
				ids++
			}
		})
		if err != nil {
			for _, w := range wins {
				w.advance(complete)
			}
			return ids, err
		}
		complete, i = lo, j
		more := false
		for _, w := range wins {
			more = more || w.from <= lo
		}
		if !more {
			return ids, nil // the cap moved every window past lo: older hours cannot fit
		}
	}
	// No stored event of these partitions in the hours left.
	for _, w := range wins {
		if w.from == complete {
			w.from = from
		}
	}
	return ids, nil
}

// farFuture is past any event time ClickHouse's DateTime64 holds.
var farFuture = time.Date(2299, 12, 31, 0, 0, 0, 0, time.UTC)

// partitionCount asks the cluster how many partitions the events topic has.
func partitionCount(ctx context.Context, cl *kgo.Client) (int, error) {
	topics, err := kadm.NewClient(cl).ListTopics(ctx, kafka.EventsTopic)
	if err != nil {
		return 0, err
	}
	td, ok := topics[kafka.EventsTopic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return 0, fmt.Errorf("topic %s: no partitions in the metadata (%v)", kafka.EventsTopic, td.Err)
	}
	return len(td.Partitions), nil
}

// revoked drops the windows of partitions this worker no longer owns.
func (d *dedup) revoked(lost map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range lost[kafka.EventsTopic] {
		if w := d.wins[p]; w != nil {
			w.release()
			delete(d.wins, p)
		}
		delete(d.retry, p)
	}
}

// batchKey is an event's exact identity within a batch.
type batchKey struct{ source, id string }

// classify marks the rows that repeat an earlier row of the batch or hit
// their partition's window (copies), and returns the indexes of the rows
// the windows cannot decide, to be looked up. It first moves every
// window's start to now's.
func (d *dedup) classify(rows []store.Row, recs []*kgo.Record, now time.Time) (dup []bool, ask []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	from := d.start(now)
	for _, w := range d.wins {
		w.advance(from)
	}
	dup = make([]bool, len(rows))
	seen := make(map[batchKey]struct{}, len(rows))
	for i := range rows {
		e := &rows[i].Event
		bk := batchKey{e.SourceID, e.ID}
		if _, ok := seen[bk]; ok {
			dup[i] = true
			continue
		}
		seen[bk] = struct{}{}
		w := d.wins[recs[i].Partition]
		if w == nil {
			ask = append(ask, i)
			continue
		}
		var k idKey
		k, d.buf = keyOf(d.buf, e.SourceID, e.ID)
		switch {
		case w.has(k):
			dup[i] = true
		case !d.decides(w, e, recs[i]):
			ask = append(ask, i)
		}
	}
	return dup, ask
}

// decides reports whether w holds every copy e may have (see the comment
// at the top of the file).
func (d *dedup) decides(w *window, e *event.Event, r *kgo.Record) bool {
	if e.ClientTime == nil || hourOf(e.Time.UnixMilli()-copySpread.Milliseconds()) < w.from {
		return false
	}
	corrected := *e.ClientTime
	if e.SentAt != nil {
		corrected = e.ReceivedAt.Add(-e.SentAt.Sub(*e.ClientTime))
	}
	if diff := e.Time.Sub(corrected); diff > 2*time.Millisecond || diff < -2*time.Millisecond {
		return false // clamped to the receive time
	}
	d.buf = e.AppendKey(d.buf[:0])
	return bytes.Equal(r.Key, d.buf) && int32(d.part.Partition(r, w.partitions)) == r.Partition
}

// remember adds stored rows to their partitions' windows; recs are the
// records of rows, and rows whose record is in dead were not stored.
func (d *dedup) remember(rows []store.Row, recs []*kgo.Record, dead map[*kgo.Record]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range rows {
		w := d.wins[recs[i].Partition]
		if w == nil || dead[recs[i]] {
			continue
		}
		var k idKey
		e := &rows[i].Event
		k, d.buf = keyOf(d.buf, e.SourceID, e.ID)
		w.add(k, hourOf(e.Time.UnixMilli()))
	}
}
