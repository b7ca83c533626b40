package adminapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
)

// Dead-letter headers the processor adds (processor.deadLetter).
const (
	dlqHeaderPrefix = "trackstream-dlq-"
	dlqReasonHeader = "trackstream-dlq-reason"
	// replayedFromHeader marks a replayed record with the dead letter it
	// came from.
	replayedFromHeader = "trackstream-replayed-from"
)

// Bounds of dead-letter reads.
const (
	defaultDLQPage = 50
	maxDLQPage     = 500
	// maxDLQScan caps the records one request reads from the topic.
	maxDLQScan = 20_000
	// maxReplay caps the dead letters one replay sends.
	maxReplay = 1000
	// maxDLQValue caps the value bytes shown inline in a listing.
	maxDLQPreview = 512
)

// deadLetter is a record of the dead-letter topic as the API shows it.
type deadLetter struct {
	ID        string            `json:"id"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Time      time.Time         `json:"time"`
	Reason    string            `json:"reason"`
	Origin    map[string]string `json:"origin"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Size      int               `json:"size"`
	// Value is the record value when it is JSON; ValueBase64 otherwise.
	Value       json.RawMessage `json:"value,omitempty"`
	ValueBase64 string          `json:"value_base64,omitempty"`
	Truncated   bool            `json:"truncated,omitempty"`
	Replayed    bool            `json:"replayed"`
}

func dlqID(p int32, o int64) string { return fmt.Sprintf("%d/%d", p, o) }

func (s *Server) viewDeadLetter(r *kgo.Record, preview int) deadLetter {
	d := deadLetter{
		ID: dlqID(r.Partition, r.Offset), Partition: r.Partition, Offset: r.Offset,
		Time: r.Timestamp.UTC(), Key: strings.ToValidUTF8(string(r.Key), "\uFFFD"), Size: len(r.Value),
		Origin: map[string]string{}, Headers: map[string]string{},
		Replayed: s.st.replayed(dlqID(r.Partition, r.Offset)),
	}
	for _, h := range r.Headers {
		v := strings.ToValidUTF8(string(h.Value), "\uFFFD")
		switch {
		case h.Key == dlqReasonHeader:
			d.Reason = v
		case strings.HasPrefix(h.Key, dlqHeaderPrefix):
			d.Origin[strings.TrimPrefix(h.Key, dlqHeaderPrefix)] = v
		default:
			d.Headers[h.Key] = v
		}
	}
	value := r.Value
	if preview > 0 && len(value) > preview {
		value, d.Truncated = value[:preview], true
	}
	if !d.Truncated && json.Valid(value) && utf8.Valid(value) {
		d.Value = json.RawMessage(value)
	} else {
		d.ValueBase64 = base64.StdEncoding.EncodeToString(value)
	}
	return d
}

// dlqFilter selects dead letters.
type dlqFilter struct {
	reason   string
	from, to time.Time
}

func (f dlqFilter) match(r *kgo.Record) bool {
	if !f.to.IsZero() && r.Timestamp.After(f.to) {
		return false
	}
	if !f.from.IsZero() && r.Timestamp.Before(f.from) {
		return false
	}
	if f.reason == "" {
		return true
	}
	for _, h := range r.Headers {
		if h.Key == dlqReasonHeader {
			return strings.Contains(strings.ToLower(string(h.Value)), strings.ToLower(f.reason))
		}
	}
	return false
}

func parseTime(q, name string) (time.Time, error) {
	if q == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, q)
	if err != nil {
		return t, badRequest("invalid_parameter", "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}

// parseCursor reads "p:o,p:o", the next offset per partition.
func parseCursor(c string) (map[int32]int64, error) {
	out := map[int32]int64{}
	if c == "" {
		return out, nil
	}
	bad := badRequest("invalid_parameter", "cursor is not one this API returned")
	parts := strings.Split(c, ",")
	if len(parts) > 1000 {
		return nil, bad
	}
	for _, part := range parts {
		ps, os, ok := strings.Cut(part, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, bad
		}
		out[int32(p)] = o
	}
	return out, nil
}

func formatCursor(next map[int32]int64) string {
	ps := make([]int32, 0, len(next))
	for p := range next {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", p, next[p])
	}
	return b.String()
}

// dlqBounds returns where each dead-letter partition starts (at or after
// from, when set) and ends.
func (s *Server) dlqBounds(ctx context.Context, from time.Time) (start, end map[int32]int64, err error) {
	adm := kadm.NewClient(s.deps.Kafka)
	ends, err := adm.ListEndOffsets(ctx, kafka.DLQTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets of %s: %w", kafka.DLQTopic, err)
	}
	var starts kadm.ListedOffsets
	if from.IsZero() {
		starts, err = adm.ListStartOffsets(ctx, kafka.DLQTopic)
	} else {
		starts, err = adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), kafka.DLQTopic)
	}
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start offsets of %s: %w", kafka.DLQTopic, err)
	}
	start, end = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	starts.Each(func(o kadm.ListedOffset) { start[o.Partition] = o.Offset })
	return start, end, nil
}

// scanDLQ reads the dead-letter partitions from start up to end (offsets
// per partition, end exclusive) and calls fn for each record in offset
// order per partition until fn returns false, at most maxDLQScan records
// or until ctx ends. It returns the next offset per partition and whether
// every partition was read to its end.
func (s *Server) scanDLQ(ctx context.Context, start, end map[int32]int64, fn func(*kgo.Record) bool) (map[int32]int64, bool, error) {
	next := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	for p, e := range end {
		o := max(start[p], 0)
		next[p] = o
		if o < e {
			parts[p] = kgo.NewOffset().At(o)
		}
	}
	if len(parts) == 0 {
		return next, true, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, s.deps.KafkaOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.DLQTopic: parts}),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchMaxBytes(16<<20),
	)...)
	if err != nil {
		return nil, false, fmt.Errorf("dead-letter reader: %w", err)
	}
	defer cl.Close()
	done := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	scanned, stopped := 0, false
	for !done() && !stopped && scanned < maxDLQScan {
		pollCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollRecords(pollCtx, 1000)
		cancel()
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("reading %s: %w", kafka.DLQTopic, ctx.Err())
		}
		if err := fatalFetchError(fs); err != nil {
			return nil, false, err
		}
		if fs.NumRecords() == 0 {
			break // nothing more arrived: what remains below end is not readable (e.g. aborted writes)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if stopped || r.Offset < next[r.Partition] || r.Offset >= end[r.Partition] || scanned >= maxDLQScan {
				return
			}
			scanned++
			if !fn(r) {
				stopped = true
				return // r is not consumed: next stays at its offset
			}
			next[r.Partition] = r.Offset + 1
		})
	}
	return next, done(), nil
}

func fatalFetchError(fs kgo.Fetches) error {
	for _, e := range fs.Errors() {
		if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, context.Canceled) {
			continue
		}
		return fmt.Errorf("reading %s partition %d: %w", e.Topic, e.Partition, e.Err)
	}
	return nil
}

func (s *Server) dlqFilterFrom(r *http.Request) (dlqFilter, error) {
	q := r.URL.Query()
	f := dlqFilter{reason: q.Get("reason")}
	if len(f.reason) > 200 {
		return f, badRequest("invalid_parameter", "reason is at most 200 characters")
	}
	var err error
	if f.from, err = parseTime(q.Get("from"), "from"); err != nil {
		return f, err
	}
	if f.to, err = parseTime(q.Get("to"), "to"); err != nil {
		return f, err
	}
	return f, nil
}

// listDeadLetters lists dead letters oldest first, optionally those whose
// reason contains reason (case-insensitive) within [from, to]; pages
// continue with cursor=next_cursor.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, _ principal) error {
	f, err := s.dlqFilterFrom(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := defaultDLQPage
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > maxDLQPage {
			return badRequest("invalid_parameter", "limit must be 1-%d", maxDLQPage)
		}
	}
	cursor, err := parseCursor(q.Get("cursor"))
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	start, end, err := s.dlqBounds(ctx, f.from)
	if err != nil {
		return err
	}
	for p, o := range cursor {
		if _, ok := end[p]; ok {
			start[p] = max(start[p], o)
		}
	}
	out := []deadLetter{}
	next, complete, err := s.scanDLQ(ctx, start, end, func(rec *kgo.Record) bool {
		if len(out) == limit {
			return false
		}
		if f.match(rec) {
			out = append(out, s.viewDeadLetter(rec, maxDLQPreview))
		}
		return true
	})
	if err != nil {
		return err
	}
	resp := map[string]any{"dead_letters": out, "next_cursor": nil}
	if !complete {
		resp["next_cursor"] = formatCursor(next)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// deadLetterAt reads the dead letter at partition/offset.
func (s *Server) deadLetterAt(ctx context.Context, p int32, o int64) (*kgo.Record, error) {
	notFound := errorf(http.StatusNotFound, "not_found", "no dead letter %s", dlqID(p, o))
	start, end, err := s.dlqBounds(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	if e, ok := end[p]; !ok || o < start[p] || o >= e {
		return nil, notFound
	}
	var found *kgo.Record
	if _, _, err := s.scanDLQ(ctx, map[int32]int64{p: o}, map[int32]int64{p: o + 1}, func(r *kgo.Record) bool {
		if r.Offset == o {
			found = r
		}
		return true
	}); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, notFound
	}
	return found, nil
}

func parseDLQID(ps, os string) (int32, int64, error) {
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return 0, 0, badRequest("invalid_parameter", "a dead letter is named partition/offset, e.g. 0/42")
	}
	return int32(p), o, nil
}

func (s *Server) getDeadLetter(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, o, err := parseDLQID(r.PathValue("partition"), r.PathValue("offset"))
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	rec, err := s.deadLetterAt(ctx, p, o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.viewDeadLetter(rec, 0))
}

type replayRequest struct {
	// IDs are dead letters by "partition/offset".
	IDs []string `json:"ids"`
	// Or a filter: reason substring and time range, up to Limit records.
	Reason string `json:"reason"`
	From   string `json:"from"`
	To     string `json:"to"`
	Limit  int    `json:"limit"`
	// Force replays dead letters that were replayed before.
	Force bool `json:"force"`
}

// replayDeadLetters sends the selected dead letters back to the events
// topic with their original key, value and headers. A dead letter is
// replayed once (a mark in the admin state topic remembers it) unless
// force is set; and because the processor deduplicates by event id, an
// event replayed twice is still stored once.
func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request, _ principal) error {
	var req replayRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.queryTimeout+writeTimeout)
	defer cancel()
	var selected []*kgo.Record
	switch {
	case len(req.IDs) > 0 && (req.Reason != "" || req.From != "" || req.To != ""):
		return badRequest("invalid_field", "give either ids or a filter (reason, from, to), not both")
	case len(req.IDs) > maxReplay:
		return badRequest("invalid_field", "at most %d ids per replay", maxReplay)
	case len(req.IDs) > 0:
		seen := map[string]bool{}
		for _, id := range req.IDs {
			ps, os, _ := strings.Cut(id, "/")
			p, o, err := parseDLQID(ps, os)
			if err != nil {
				return err
			}
			if seen[dlqID(p, o)] {
				continue
			}
			seen[dlqID(p, o)] = true
			rec, err := s.deadLetterAt(ctx, p, o)
			if err != nil {
				return err
			}
			selected = append(selected, rec)
		}
	default:
		if req.Reason == "" && req.From == "" && req.To == "" {
			return badRequest("invalid_field", "select dead letters with ids, or with reason/from/to")
		}
		if req.Limit == 0 {
			req.Limit = maxReplay
		}
		if req.Limit < 1 || req.Limit > maxReplay {
			return badRequest("invalid_field", "limit must be 1-%d", maxReplay)
		}
		f := dlqFilter{reason: req.Reason}
		var err error
		if f.from, err = parseTime(req.From, "from"); err != nil {
			return err
		}
		if f.to, err = parseTime(req.To, "to"); err != nil {
			return err
		}
		start, end, err := s.dlqBounds(ctx, f.from)
		if err != nil {
			return err
		}
		if _, _, err := s.scanDLQ(ctx, start, end, func(rec *kgo.Record) bool {
			if len(selected) == req.Limit {
				return false
			}
			if f.match(rec) {
				selected = append(selected, rec)
			}
			return true
		}); err != nil {
			return err
		}
	}
	replayed, skipped := []string{}, []string{}
	var out []*kgo.Record
	for _, rec := range selected {
		id := dlqID(rec.Partition, rec.Offset)
		if !req.Force && s.st.replayed(id) {
			skipped = append(skipped, id)
			continue
		}
		headers := []kgo.RecordHeader{{Key: replayedFromHeader, Value: []byte(kafka.DLQTopic + "/" + id)}}
		for _, h := range rec.Headers {
			if !strings.HasPrefix(h.Key, dlqHeaderPrefix) && h.Key != replayedFromHeader {
				headers = append(headers, h)
			}
		}
		out = append(out, &kgo.Record{Topic: kafka.EventsTopic, Key: rec.Key, Value: rec.Value, Headers: headers})
		replayed = append(replayed, id)
	}
	if len(out) > 0 {
		if err := s.deps.Kafka.ProduceSync(ctx, out...).FirstErr(); err != nil {
			s.log.Error("replaying dead letters failed", "records", len(out), "error", err)
			return errorf(http.StatusServiceUnavailable, "kafka_unavailable", "the dead letters could not be sent to %s; retry later (replayed events are deduplicated by id)", kafka.EventsTopic)
		}
		marks := map[string]any{}
		for _, id := range replayed {
			marks[replayKey+id] = replayMark{At: s.now().UTC()}
		}
		if err := s.st.putMany(ctx, marks); err != nil {
			s.log.Warn("recording replay marks failed; a second replay would resend (and the processor deduplicate) them", "dead_letters", len(replayed), "error", err)
		}
	}
	s.log.Info("dead letters replayed", "replayed", len(replayed), "skipped", len(skipped))
	return writeJSON(w, http.StatusOK, map[string]any{"replayed": replayed, "skipped": skipped})
}
