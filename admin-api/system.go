package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/trackstream/trackstream/internal/kafka"
)

// Pipeline health (GET /api/v1/system/health) is what this process can see
// of the pipeline by itself: Kafka's offsets (events produced, the
// processors' lag, dead letters parked), ClickHouse (the newest stored
// event), and, when ingest or the processor run in the same process
// (trackstream all), their counters from the shared metrics registry
// (accepted and rejected events by reason, dead letters by reason). A
// sampler keeps a short history so the answer carries rates, not only
// totals.

const (
	// healthSampleEvery is the history's resolution.
	healthSampleEvery = 15 * time.Second
	// healthSamples is the history's length (15 minutes).
	healthSamples = 60
	// healthTimeout bounds the Kafka and ClickHouse reads of one answer.
	healthTimeout = 5 * time.Second
	// Thresholds of the status: lag in records and freshness.
	lagWarn       = 10_000
	freshnessWarn = 5 * time.Minute
)

// healthSample is one point of the history: cumulative counts.
type healthSample struct {
	T           time.Time `json:"t"`
	Produced    int64     `json:"events_produced"`
	DeadLetters int64     `json:"dead_letters"`
	Lag         int64     `json:"lag"`
	Accepted    float64   `json:"accepted"`
	Rejected    float64   `json:"rejected"`
}

// healthHistory is a ring of samples.
type healthHistory struct {
	mu      sync.Mutex
	samples []healthSample
}

func (h *healthHistory) add(s healthSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	if len(h.samples) > healthSamples {
		h.samples = h.samples[len(h.samples)-healthSamples:]
	}
}

func (h *healthHistory) list() []healthSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]healthSample(nil), h.samples...)
}

// kafkaView is what the offsets say.
type kafkaView struct {
	Reachable      bool             `json:"reachable"`
	Error          string           `json:"error,omitempty"`
	Produced       int64            `json:"events_produced"`
	Partitions     int              `json:"partitions"`
	Group          string           `json:"consumer_group"`
	Lag            int64            `json:"lag"`
	LagByPartition map[string]int64 `json:"lag_by_partition"`
	DeadLetters    int64            `json:"dead_letters"`
}

// readKafka reads the events topic's end offsets, the processors' lag and
// the dead-letter topic's size.
func (s *Server) readKafka(ctx context.Context) kafkaView {
	v := kafkaView{Group: s.deps.ProcessorGroup, LagByPartition: map[string]int64{}}
	adm := kadm.NewClient(s.deps.Kafka)
	ends, err := adm.ListEndOffsets(ctx, kafka.EventsTopic, kafka.DLQTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		v.Error = fmt.Sprintf("list offsets: %v", err)
		return v
	}
	starts, err := adm.ListStartOffsets(ctx, kafka.DLQTopic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		v.Error = fmt.Sprintf("list offsets of %s: %v", kafka.DLQTopic, err)
		return v
	}
	v.Reachable = true
	ends.Each(func(o kadm.ListedOffset) {
		switch o.Topic {
		case kafka.EventsTopic:
			v.Produced += o.Offset
			v.Partitions++
		case kafka.DLQTopic:
			v.DeadLetters += o.Offset
		}
	})
	starts.Each(func(o kadm.ListedOffset) { v.DeadLetters -= o.Offset })
	if v.Group == "" {
		return v
	}
	lags, err := adm.Lag(ctx, v.Group)
	if err != nil {
		v.Error = fmt.Sprintf("lag of group %s: %v", v.Group, err)
		return v
	}
	lags.Each(func(l kadm.DescribedGroupLag) {
		for part, ml := range l.Lag[kafka.EventsTopic] {
			if ml.Err == nil {
				v.LagByPartition[strconv.Itoa(int(part))] = ml.Lag
				v.Lag += ml.Lag
			}
		}
	})
	return v
}

// countersView is what the shared metrics registry says, when ingest or
// the processor run in this process.
type countersView struct {
	IngestVisible    bool               `json:"ingest_visible"`
	Accepted         float64            `json:"accepted"`
	Rejected         float64            `json:"rejected"`
	RejectedByReason map[string]float64 `json:"rejected_by_reason"`
	RateLimited      float64            `json:"rate_limited_requests"`
	ProduceErrors    float64            `json:"produce_errors"`
	ProcessorVisible bool               `json:"processor_visible"`
	DeadByReason     map[string]float64 `json:"dead_letters_by_reason"`
	InsertErrors     float64            `json:"insert_errors"`
}

func (s *Server) readCounters() countersView {
	v := countersView{RejectedByReason: map[string]float64{}, DeadByReason: map[string]float64{}}
	if s.deps.Metrics == nil {
		return v
	}
	families, err := s.deps.Metrics.Gather()
	if err != nil {
		s.log.Warn("reading the metrics registry for pipeline health failed", "error", err)
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			val := m.GetCounter().GetValue()
			switch mf.GetName() {
			case "trackstream_ingest_events_total":
				v.IngestVisible = true
				switch label(m, "outcome") {
				case "accepted":
					v.Accepted += val
				case "rejected":
					v.Rejected += val
				}
			case "trackstream_ingest_events_rejected_total":
				v.IngestVisible = true
				v.RejectedByReason[label(m, "reason")] += val
			case "trackstream_ingest_rate_limited_requests_total":
				v.RateLimited += val
			case "trackstream_ingest_produce_errors_total":
				v.ProduceErrors += val
			case "trackstream_processor_dead_letters_total":
				v.ProcessorVisible = true
				v.DeadByReason[label(m, "reason")] += val
			case "trackstream_processor_insert_errors_total":
				v.ProcessorVisible = true
				v.InsertErrors += val
			}
		}
	}
	return v
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// storageView is what ClickHouse says.
type storageView struct {
	Reachable        bool     `json:"reachable"`
	Error            string   `json:"error,omitempty"`
	NewestReceivedAt string   `json:"newest_received_at,omitempty"`
	Freshness        *float64 `json:"freshness_seconds"`
	LastHour         uint64   `json:"events_last_hour"`
}

// freshnessSQL reads the newest stored event's receive time and the
// events received in the last hour, over the last day only (the table is
// ordered by time, so this reads recent parts, never the whole table).
const freshnessSQL = "SELECT toUnixTimestamp64Milli(max(received_at)) AS newest_ms, " +
	"countIf(received_at >= now64(3) - INTERVAL 1 HOUR) AS last_hour FROM " + eventsTable +
	" WHERE event_time >= now64(3) - INTERVAL 1 DAY"

func (s *Server) readStorage(ctx context.Context, now time.Time) storageView {
	rows, err := s.deps.Events.QueryJSON(ctx, freshnessSQL, nil, s.statsSettings())
	if err != nil {
		return storageView{Error: err.Error()}
	}
	v := storageView{Reachable: true}
	if len(rows) == 1 {
		var r struct {
			NewestMS int64  `json:"newest_ms"`
			LastHour uint64 `json:"last_hour"`
		}
		if err := json.Unmarshal(rows[0], &r); err != nil {
			return storageView{Error: fmt.Sprintf("decode freshness row: %v", err)}
		}
		v.LastHour = r.LastHour
		if r.NewestMS > 0 {
			t := time.UnixMilli(r.NewestMS).UTC()
			v.NewestReceivedAt = t.Format(time.RFC3339Nano)
			f := round3(now.Sub(t).Seconds())
			v.Freshness = &f
		}
	}
	return v
}

// sampleHealth adds one point to the history every healthSampleEvery until
// ctx ends.
func (s *Server) sampleHealth(ctx context.Context) {
	t := time.NewTicker(healthSampleEvery)
	defer t.Stop()
	for {
		s.takeSample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) takeSample(ctx context.Context) healthSample {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	k := s.readKafka(ctx)
	c := s.readCounters()
	smp := healthSample{T: s.now().UTC(), Produced: k.Produced, DeadLetters: k.DeadLetters, Lag: k.Lag, Accepted: c.Accepted, Rejected: c.Rejected}
	if k.Reachable {
		s.health.add(smp)
	}
	return smp
}

// systemHealth: GET /api/v1/system/health.
func (s *Server) systemHealth(w http.ResponseWriter, r *http.Request, _ principal) error {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	now := s.now().UTC()
	var k kafkaView
	var st storageView
	done := make(chan struct{})
	go func() {
		st = s.readStorage(ctx, now)
		close(done)
	}()
	k = s.readKafka(ctx)
	<-done
	c := s.readCounters()

	var problems []string
	if !k.Reachable {
		problems = append(problems, "Kafka is not answering: "+k.Error)
	}
	if !st.Reachable {
		problems = append(problems, "ClickHouse is not answering: "+st.Error)
	}
	if k.Lag > lagWarn {
		problems = append(problems, fmt.Sprintf("the processors are %d events behind", k.Lag))
	}
	if st.Freshness != nil && k.Lag > 0 && time.Duration(*st.Freshness*float64(time.Second)) > freshnessWarn {
		problems = append(problems, "events are waiting and nothing was stored for "+time.Duration(*st.Freshness*float64(time.Second)).Round(time.Second).String())
	}
	status := "ok"
	switch {
	case !k.Reachable || !st.Reachable:
		status = "down"
	case len(problems) > 0:
		status = "degraded"
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"time": now.Format(time.RFC3339Nano), "status": status, "problems": nonNil(problems),
		"kafka": k, "storage": st, "counters": c,
		"rates":   rates(s.health.list()),
		"history": nonNil(s.health.list()),
	})
}

// rateView are per-second rates over the history's span.
type rateView struct {
	Seconds     float64 `json:"window_seconds"`
	Produced    float64 `json:"events_produced_per_second"`
	Accepted    float64 `json:"accepted_per_second"`
	Rejected    float64 `json:"rejected_per_second"`
	DeadLetters float64 `json:"dead_letters_per_minute"`
}

func rates(h []healthSample) *rateView {
	if len(h) < 2 {
		return nil
	}
	sort.Slice(h, func(i, j int) bool { return h[i].T.Before(h[j].T) })
	a, b := h[0], h[len(h)-1]
	secs := b.T.Sub(a.T).Seconds()
	if secs <= 0 {
		return nil
	}
	per := func(x, y float64) float64 { return round3(max(y-x, 0) / secs) }
	return &rateView{
		Seconds: round3(secs), Produced: per(float64(a.Produced), float64(b.Produced)),
		Accepted: per(a.Accepted, b.Accepted), Rejected: per(a.Rejected, b.Rejected),
		DeadLetters: round3(60 * max(float64(b.DeadLetters-a.DeadLetters), 0) / secs),
	}
}

// systemInfo: GET /api/v1/system/info — what the GUI needs to describe
// the installation.
func (s *Server) systemInfo(w http.ResponseWriter, _ *http.Request, _ principal) error {
	return writeJSON(w, http.StatusOK, map[string]any{
		"collector_url": s.deps.CollectorURL,
		"tls":           s.TLS(),
	})
}
