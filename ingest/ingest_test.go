package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/internal/testkit"
)

// Sources every test environment publishes.
const (
	enabledSource  = "src_enabled"
	disabledSource = "src_disabled"
	// keepSource keeps client IPs; limitedSource takes 2 requests a
	// second; shopSource takes browser requests from shopOrigin only;
	// serverSource authenticates with serverKey.
	keepSource    = "src_keep"
	limitedSource = "src_limited"
	shopSource    = "src_shop"
	shopOrigin    = "https://shop.example"
	serverSource  = "src_server"
	serverKey     = "tswk_test-server-key-0123456789"
)

// testSources are the sources every test environment publishes.
func testSources(now time.Time) []sources.Source {
	return []sources.Source{
		{ID: enabledSource, Name: "test site", Enabled: true, CreatedAt: now, UpdatedAt: now},
		{ID: disabledSource, Name: "switched off", Enabled: false, CreatedAt: now, UpdatedAt: now},
		{ID: keepSource, Name: "keeps ips", Enabled: true, IPPolicy: sources.IPKeep, CreatedAt: now, UpdatedAt: now},
		{ID: limitedSource, Name: "limited", Enabled: true, RateLimit: 2, CreatedAt: now, UpdatedAt: now},
		{ID: shopSource, Name: "shop", Enabled: true, AllowedOrigins: []string{shopOrigin}, CreatedAt: now, UpdatedAt: now},
		{ID: serverSource, Name: "backend", Enabled: true, Kind: sources.KindServer, WriteKeyHash: sources.HashWriteKey(serverKey), IPPolicy: sources.IPKeep, CreatedAt: now, UpdatedAt: now},
	}
}

// testEnv is one ingest server on a real socket, in front of its own
// in-process Kafka (kfake) with the trackstream topics and two sources.
type testEnv struct {
	cfg     config.Ingest
	cluster *kfake.Cluster
	addrs   []string
	admin   *kgo.Client
	metrics *prometheus.Registry
	srv     *Server
	url     string
	client  *http.Client
	log     *slog.Logger
}

// newEnv starts a test environment; tune adjusts the ingest configuration.
func newEnv(t testing.TB, tune func(*config.Ingest), opts ...Option) *testEnv {
	t.Helper()
	cfg := config.Default().Ingest
	cfg.DrainDelay = 0 // tests that drain set their own
	if tune != nil {
		tune(&cfg)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	env := &testEnv{cfg: cfg, log: log, metrics: prometheus.NewRegistry()}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	env.cluster, env.addrs = cluster, cluster.ListenAddrs()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	env.admin, err = kgo.NewClient(kafka.ClientOpts(env.addrs, log)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.admin.Close)
	if err := kafka.EnsureTopics(ctx, env.admin, 1, kafka.Topics(3)); err != nil {
		t.Fatal(err)
	}

	registry := sources.NewRegistry()
	followCtx, stopFollow := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- registry.Follow(followCtx, kafka.ClientOpts(env.addrs, log), log) }()
	t.Cleanup(func() {
		stopFollow()
		if err := <-followed; err != nil {
			t.Errorf("registry.Follow: %v", err)
		}
	})
	all := testSources(time.Now().UTC())
	for _, s := range all {
		if err := sources.Publish(ctx, env.admin, s); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, "the registry to load every source", func() bool {
		return registry.Loaded() && len(registry.List()) == len(all)
	})

	producer, err := kgo.NewClient(append(kafka.ClientOpts(env.addrs, log), ProducerOpts(cfg)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)

	env.srv, err = New(cfg, producer, registry, log, env.metrics, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- env.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := env.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	env.url = "http://" + ln.Addr().String()
	env.client = &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
	}
	t.Cleanup(env.client.CloseIdleConnections)
	return env
}

// response is one answer of the server.
type response struct {
	status int
	header http.Header
	body   []byte
	// closed is set when the server asked to close the connection.
	closed bool
}

// post sends body to /track with the given extra headers (name, value
// pairs).
func (env *testEnv) post(t *testing.T, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.url+"/track", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return env.do(t, req)
}

func (env *testEnv) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := env.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return response{resp.StatusCode, resp.Header, b, resp.Close}
}

// trackJSON encodes a /track request body.
func trackJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantStatus fails the test unless r has status.
func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, r.body)
	}
}

// decodeTrackResponse decodes a 200 or 400 answer, failing on any field
// it does not know.
func decodeTrackResponse(t *testing.T, r response) trackResponse {
	t.Helper()
	var tr trackResponse
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil {
		t.Fatalf("decode answer %s: %v", r.body, err)
	}
	if tr.IDs == nil || tr.Rejected == nil || tr.Accepted != len(tr.IDs) {
		t.Fatalf("answer %s: ids and rejected must be lists and accepted their count", r.body)
	}
	return tr
}

// wantError fails the test unless r is a JSON error with status and code.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	wantStatus(t, r, status)
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error answer %s is not JSON: %v", r.body, err)
	}
	msg, _ := body["message"].(string)
	if body["error"] != code || msg == "" || len(body) != 2 {
		t.Fatalf("answer %s, want exactly {\"error\":%q,\"message\":...}", r.body, code)
	}
}

// eventCount returns how many records trackstream.events holds.
func (env *testEnv) eventCount(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(env.admin)
	ends, err := adm.ListEndOffsets(ctx, kafka.EventsTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", kafka.EventsTopic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, kafka.EventsTopic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("start offsets of %s: %v", kafka.EventsTopic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	return n
}

// consumeEvents reads trackstream.events from the start with a fresh
// consumer and fails unless it holds exactly want records.
func (env *testEnv) consumeEvents(t *testing.T, want int) []*kgo.Record {
	t.Helper()
	// Every accepted request was acknowledged before it was answered, so
	// the topic is complete now.
	if n := env.eventCount(t); n != int64(want) {
		t.Fatalf("%s holds %d records, want %d", kafka.EventsTopic, n, want)
	}
	if want == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(kafka.ClientOpts(env.addrs, env.log),
		kgo.ConsumeTopics(kafka.EventsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timing out", len(recs), want)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("consume %s[%d]: %v", topic, p, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// decodeRecord checks r's format header and decodes its value.
func decodeRecord(t *testing.T, r *kgo.Record) event.Event {
	t.Helper()
	if len(r.Headers) != 1 || r.Headers[0].Key != event.FormatHeader || string(r.Headers[0].Value) != event.FormatVersion {
		t.Fatalf("record at %s[%d]@%d has headers %+v, want only %s=%s", r.Topic, r.Partition, r.Offset, r.Headers, event.FormatHeader, event.FormatVersion)
	}
	e, err := event.Unmarshal(string(r.Headers[0].Value), r.Value)
	if err != nil {
		t.Fatalf("record at %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
	}
	if want := e.Key(); !bytes.Equal(r.Key, want) {
		t.Fatalf("record of event %s has key %q, want %q", e.ID, r.Key, want)
	}
	return e
}

// counterValue returns the value of the counter name with labels in reg,
// or 0 if it has not been written.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestTrackAccepted(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	eventTime := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	type sent struct {
		body    map[string]any
		profile string
		session string
		user    string
	}
	requests := []sent{
		{profile: "prof-1", session: "sess-1", body: map[string]any{
			"source": map[string]any{"id": enabledSource}, "session": map[string]any{"id": "sess-1"}, "profile": map[string]any{"id": "prof-1"},
			"events": []any{
				map[string]any{"id": "evt-1", "type": "page-view", "time": eventTime, "properties": map[string]any{"url": "/a"}},
				map[string]any{"type": "click", "properties": map[string]any{"button": "buy"}},
			},
		}},
		{profile: "prof-1", session: "sess-2", user: "user-1", body: map[string]any{
			"source": map[string]any{"id": enabledSource}, "session": map[string]any{"id": "sess-2"}, "profile": map[string]any{"id": "prof-1"}, "user": map[string]any{"id": "user-1"},
			"events": []any{map[string]any{"id": "evt-3", "type": "page-view", "time": eventTime}},
		}},
		{session: "sess-9", body: map[string]any{
			"source": map[string]any{"id": enabledSource}, "session": map[string]any{"id": "sess-9"},
			"events": []any{map[string]any{"id": "evt-4", "type": "page-view", "time": eventTime}},
		}},
	}
	before := time.Now().UTC().Truncate(time.Millisecond)
	want := map[string]sent{} // by event id
	for i := 0; i < len(requests); i++ {
		rq := requests[i]
		r := env.post(t, bytes.NewReader(trackJSON(t, rq.body)))
		wantStatus(t, r, http.StatusOK)
		tr := decodeTrackResponse(t, r)
		evs := rq.body["events"].([]any)
		if tr.Accepted != len(evs) || len(tr.Rejected) != 0 {
			t.Fatalf("request %d: answer %s, want %d accepted and none rejected", i, r.body, len(evs))
		}
		switch {
		case tr.Profile == nil:
			t.Fatalf("request %d: answer %s has no profile", i, r.body)
		case rq.profile != "" && tr.Profile.ID != rq.profile:
			t.Fatalf("request %d: answer %s, want the profile sent, %q", i, r.body, rq.profile)
		case rq.profile == "":
			// A first visit: the collector gave the session a profile,
			// and the tracker sends it from then on.
			if _, err := uuid.Parse(tr.Profile.ID); err != nil {
				t.Fatalf("request %d: server-made profile %q is not a UUID", i, tr.Profile.ID)
			}
			rq.profile = tr.Profile.ID
			requests = append(requests, sent{profile: rq.profile, session: rq.session, body: map[string]any{
				"source": map[string]any{"id": enabledSource}, "session": map[string]any{"id": rq.session}, "profile": tr.Profile,
				"events": []any{map[string]any{"id": "evt-5", "type": "page-view", "time": eventTime}},
			}})
		}
		for j, ev := range evs {
			id, _ := ev.(map[string]any)["id"].(string)
			switch {
			case id != "" && tr.IDs[j] != id:
				t.Fatalf("request %d: ids %v, want %q at %d", i, tr.IDs, id, j)
			case id == "":
				if u, err := uuid.Parse(tr.IDs[j]); err != nil || u.Version() != 7 {
					t.Fatalf("request %d: server-made id %q is not a UUIDv7", i, tr.IDs[j])
				}
			}
			want[tr.IDs[j]] = rq
		}
	}
	after := time.Now().UTC()

	recs := env.consumeEvents(t, len(want))
	partitionOf := map[string]int32{} // by key
	for _, r := range recs {
		e := decodeRecord(t, r)
		rq, ok := want[e.ID]
		if !ok {
			t.Fatalf("record of event %s that no answer listed", e.ID)
		}
		delete(want, e.ID)
		if e.SourceID != enabledSource || e.ProfileID != rq.profile || e.SessionID != rq.session || e.UserID != rq.user {
			t.Errorf("event %s: source %q profile %q session %q user %q, want %q %q %q %q", e.ID, e.SourceID, e.ProfileID, e.SessionID, e.UserID, enabledSource, rq.profile, rq.session, rq.user)
		}
		if e.ReceivedAt.Before(before) || e.ReceivedAt.After(after) {
			t.Errorf("event %s received_at %v outside the request window [%v, %v]", e.ID, e.ReceivedAt, before, after)
		}
		// Every page-view was sent with eventTime; the click with no time.
		if wantTime := map[bool]time.Time{true: eventTime, false: e.ReceivedAt}[e.Type == "page-view"]; !e.Time.Equal(wantTime) {
			t.Errorf("event %s (%s) time %v, want %v", e.ID, e.Type, e.Time, wantTime)
		}
		if wantKey := enabledSource + "/" + rq.profile; string(r.Key) != wantKey {
			t.Errorf("event %s key %q, want %q", e.ID, r.Key, wantKey)
		}
		if p, seen := partitionOf[string(r.Key)]; seen && p != r.Partition {
			t.Errorf("key %q is on partitions %d and %d; one visitor must stay on one partition", r.Key, p, r.Partition)
		}
		partitionOf[string(r.Key)] = r.Partition
	}
	if len(want) != 0 {
		t.Errorf("answered ids missing from Kafka: %v", want)
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_events_total", map[string]string{"outcome": "accepted"}); got != float64(len(recs)) {
		t.Errorf("trackstream_ingest_events_total{outcome=accepted} = %v, want %d", got, len(recs))
	}
}

func TestTrackRefusesSources(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	for _, tc := range []struct {
		source string
		status int
		code   string
	}{
		{"src_nobody_knows", http.StatusUnauthorized, "unknown_source"},
		{disabledSource, http.StatusForbidden, "source_disabled"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			body := trackJSON(t, map[string]any{
				"source": map[string]any{"id": tc.source},
				"events": []any{map[string]any{"id": "e1", "type": "page-view"}},
			})
			wantError(t, env.post(t, bytes.NewReader(body)), tc.status, tc.code)
		})
	}
	env.consumeEvents(t, 0)
	if got := counterValue(t, env.metrics, "trackstream_ingest_requests_total", map[string]string{"route": "/track", "status": "4xx"}); got != 2 {
		t.Errorf("trackstream_ingest_requests_total{route=/track,status=4xx} = %v, want 2", got)
	}
}

func TestTrackRejections(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)

	t.Run("all rejected", func(t *testing.T) {
		r := env.post(t, bytes.NewReader(trackJSON(t, map[string]any{
			"source": map[string]any{"id": enabledSource},
			"events": []any{
				map[string]any{"id": "bad-1"},
				map[string]any{"id": "bad-2", "type": "has  two spaces"},
			},
		})))
		wantStatus(t, r, http.StatusBadRequest)
		tr := decodeTrackResponse(t, r)
		want := []Rejection{
			{0, "events[0].type", rejectMissing, "is required"},
			{1, "events[1].type", rejectInvalid, "may hold only letters, digits, single spaces and _ . : - and must start with a letter or digit and not end with a space"},
		}
		if tr.Accepted != 0 || len(tr.IDs) != 0 || !reflect.DeepEqual(tr.Rejected, want) {
			t.Fatalf("answer %s, want nothing accepted and rejections %+v", r.body, want)
		}
	})

	t.Run("partly rejected", func(t *testing.T) {
		r := env.post(t, bytes.NewReader(trackJSON(t, map[string]any{
			"source": map[string]any{"id": enabledSource},
			"events": []any{
				map[string]any{"id": "good-1", "type": "page-view"},
				map[string]any{"id": "bad-3", "type": "page-view", "properties": []int{1}},
				map[string]any{"id": "good-2", "type": "click"},
			},
		})))
		wantStatus(t, r, http.StatusOK)
		tr := decodeTrackResponse(t, r)
		want := []Rejection{{1, "events[1].properties", rejectInvalid, "must be a JSON object"}}
		if tr.Accepted != 2 || !slices.Equal(tr.IDs, []string{"good-1", "good-2"}) || !reflect.DeepEqual(tr.Rejected, want) {
			t.Fatalf("answer %s, want good-1 and good-2 accepted and rejections %+v", r.body, want)
		}
	})

	var ids []string
	for _, r := range env.consumeEvents(t, 2) {
		ids = append(ids, decodeRecord(t, r).ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"good-1", "good-2"}) {
		t.Fatalf("Kafka holds events %v, want only good-1 and good-2", ids)
	}
	for outcome, want := range map[string]float64{"accepted": 2, "rejected": 3} {
		if got := counterValue(t, env.metrics, "trackstream_ingest_events_total", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("trackstream_ingest_events_total{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
}

func TestTrackBodyLimits(t *testing.T) {
	t.Parallel()
	const limit = 4096
	env := newEnv(t, func(c *config.Ingest) { c.MaxBodyBytes = limit })
	// big is a valid request of about twice the limit.
	big := trackJSON(t, map[string]any{
		"source": map[string]any{"id": enabledSource},
		"events": []any{map[string]any{"id": "big", "type": "t", "properties": map[string]any{"pad": strings.Repeat("x", 2*limit)}}},
	})
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}

	t.Run("content-length over the limit", func(t *testing.T) {
		wantError(t, env.post(t, bytes.NewReader(big)), http.StatusRequestEntityTooLarge, "body_too_large")
	})
	t.Run("chunked over the limit", func(t *testing.T) {
		// A reader of unknown length makes net/http send it chunked.
		wantError(t, env.post(t, io.MultiReader(bytes.NewReader(big))), http.StatusRequestEntityTooLarge, "body_too_large")
	})
	t.Run("gzip over the limit once decompressed", func(t *testing.T) {
		// A small compressed body must not get past the limit: Fiber's own
		// decompression has none.
		bomb := trackJSON(t, map[string]any{
			"source": map[string]any{"id": enabledSource},
			"events": []any{map[string]any{"id": "bomb", "type": "t", "properties": map[string]any{"pad": strings.Repeat("x", 1<<20)}}},
		})
		z := gz(bomb)
		if len(z) >= limit {
			t.Fatalf("compressed bomb is %d bytes; it must be under the %d byte limit", len(z), limit)
		}
		wantError(t, env.post(t, bytes.NewReader(z), "Content-Encoding", "gzip"), http.StatusRequestEntityTooLarge, "body_too_large")
	})
	t.Run("gzip not gzip", func(t *testing.T) {
		wantError(t, env.post(t, strings.NewReader(`{"source":{"id":"x"}}`), "Content-Encoding", "gzip"), http.StatusBadRequest, "invalid_encoding")
	})
	t.Run("unsupported encoding", func(t *testing.T) {
		wantError(t, env.post(t, bytes.NewReader(gz(big)), "Content-Encoding", "br"), http.StatusUnsupportedMediaType, "unsupported_encoding")
	})
	t.Run("gzip within the limit", func(t *testing.T) {
		body := trackJSON(t, map[string]any{
			"source": map[string]any{"id": enabledSource},
			"events": []any{map[string]any{"id": "zipped", "type": "t", "properties": map[string]any{"k": "v"}}},
		})
		r := env.post(t, bytes.NewReader(gz(body)), "Content-Encoding", "gzip")
		wantStatus(t, r, http.StatusOK)
		if tr := decodeTrackResponse(t, r); !slices.Equal(tr.IDs, []string{"zipped"}) {
			t.Fatalf("answer %s, want the event zipped accepted", r.body)
		}
	})

	recs := env.consumeEvents(t, 1)
	if e := decodeRecord(t, recs[0]); e.ID != "zipped" || string(e.Properties) != `{"k":"v"}` {
		t.Fatalf("Kafka holds %+v, want only the event zipped", e)
	}
}

// TestTrackEventTooLargeForKafka: an event within the body and event
// limits but over the producer's batch limit (franz-go's default
// ProducerBatchMaxBytes is 1,000,012 bytes) can never be stored, so it
// must not get a 503 that invites endless retries.
func TestTrackEventTooLargeForKafka(t *testing.T) {
	t.Parallel()
	// Limits raised above the producer's batch limit so the event gets
	// that far.
	env := newEnv(t, func(c *config.Ingest) {
		c.MaxBodyBytes, c.MaxDecodedBytes, c.MaxEventBytes, c.MaxStringBytes = 2<<20, 2<<20, 2<<20, 2<<20
	})
	body := trackJSON(t, map[string]any{
		"source": map[string]any{"id": enabledSource},
		"events": []any{map[string]any{"id": "huge", "type": "t", "properties": map[string]any{"pad": strings.Repeat("x", 1_010_000)}}},
	})
	if len(body) > env.cfg.MaxBodyBytes {
		t.Fatalf("body of %d bytes is over the %d byte body limit; the test needs it under", len(body), env.cfg.MaxBodyBytes)
	}
	r := env.post(t, bytes.NewReader(body))
	wantError(t, r, http.StatusRequestEntityTooLarge, "event_too_large")
	if r.header.Get("Retry-After") != "" {
		t.Errorf("a permanent refusal carries Retry-After %q", r.header.Get("Retry-After"))
	}
	env.consumeEvents(t, 0)
}

// refuseProduce makes the cluster answer every produce request with
// NOT_ENOUGH_REPLICAS on every partition while refusing is set, and counts
// the requests it refused.
func refuseProduce(cluster *kfake.Cluster, refusing *atomic.Bool, refused *atomic.Int64) {
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !refusing.Load() {
			cluster.DropControl()
			return nil, nil, false
		}
		cluster.KeepControl()
		refused.Add(1)
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// TestTrackKafkaRefusesWrites checks G1: no 2xx unless Kafka acknowledged,
// a bounded 503 when it does not, and recovery once it does again. Not
// parallel: it asserts a latency bound.
func TestTrackKafkaRefusesWrites(t *testing.T) {
	env := newEnv(t, func(c *config.Ingest) { c.ProduceTimeout = time.Second })
	var refusing atomic.Bool
	var refused atomic.Int64
	refusing.Store(true)
	refuseProduce(env.cluster, &refusing, &refused)

	body := func(id string) io.Reader {
		return bytes.NewReader(trackJSON(t, map[string]any{
			"source": map[string]any{"id": enabledSource},
			"events": []any{map[string]any{"id": id, "type": "page-view"}},
		}))
	}
	start := time.Now()
	r := env.post(t, body("while-refused"))
	elapsed := time.Since(start)
	wantError(t, r, http.StatusServiceUnavailable, "kafka_unavailable")
	if got := r.header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After %q, want 5", got)
	}
	if bound := env.cfg.ProduceTimeout + 2*time.Second; elapsed > bound {
		t.Errorf("503 after %v, want within %v", elapsed, bound)
	}
	if bytes.Contains(r.body, []byte("accepted")) || bytes.Contains(r.body, []byte("while-refused")) {
		t.Errorf("503 answer %s must not claim anything was accepted", r.body)
	}
	if refused.Load() == 0 {
		t.Fatal("no produce request reached the fault; the test proved nothing")
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_events_total", map[string]string{"outcome": "accepted"}); got != 0 {
		t.Errorf("trackstream_ingest_events_total{outcome=accepted} = %v after a 503, want 0", got)
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_produce_errors_total", nil); got != 1 {
		t.Errorf("trackstream_ingest_produce_errors_total = %v, want 1", got)
	}

	refusing.Store(false)
	r = env.post(t, body("after-recovery"))
	wantStatus(t, r, http.StatusOK)
	if tr := decodeTrackResponse(t, r); !slices.Equal(tr.IDs, []string{"after-recovery"}) {
		t.Fatalf("answer %s, want after-recovery accepted", r.body)
	}
	recs := env.consumeEvents(t, 1)
	if e := decodeRecord(t, recs[0]); e.ID != "after-recovery" {
		t.Fatalf("Kafka holds event %s, want only after-recovery", e.ID)
	}
}

func TestPublicRouterHasNoAdminRoutes(t *testing.T) {
	t.Parallel()
	// The router is all this test looks at; the producer never connects.
	producer, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	log := slog.New(slog.DiscardHandler)
	srv, err := New(config.Default().Ingest, producer, sources.NewRegistry(), log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	routes := srv.Routes()
	slices.Sort(routes)
	var want []string
	for _, p := range []string{"/track", "/v1/track", "/v1/page", "/v1/screen", "/v1/identify", "/v1/group", "/v1/alias", "/v1/batch",
		"/v1/t", "/v1/p", "/v1/s", "/v1/i", "/v1/g", "/v1/a", "/v1/b"} {
		want = append(want, "POST "+p, "OPTIONS "+p)
	}
	// No HEAD on the pixel: a HEAD must not produce an event.
	want = append(want, "GET /p.gif", "GET /ts.js", "GET /healthz", "HEAD /healthz", "GET /readyz", "HEAD /readyz")
	slices.Sort(want)
	if !slices.Equal(routes, want) {
		t.Errorf("public routes\n %v\nwant exactly\n %v", routes, want)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if method == "" || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q is not \"METHOD /path\"", r)
		}
		if strings.HasPrefix(path, "/api") || strings.Contains(path, "admin") || strings.HasPrefix(path, "/metrics") || strings.HasPrefix(path, "/debug") {
			t.Errorf("route %q is an admin route on the public router", r)
		}
	}
}

func TestUnknownRoutesOverHTTP(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/api/sources", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/api/login", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/track", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		req, err := http.NewRequest(tc.method, env.url+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, env.do(t, req), tc.status, tc.code)
	}
	// Unmatched paths must not become metric label values.
	mfs, err := env.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "api") {
					t.Errorf("metric %s has label %s=%q taken from the request path", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestTrackConcurrentKeepAlive guards against Fiber's memory reuse: many
// requests in parallel over reused connections, and every record in Kafka
// must hold exactly what the request that made it sent.
func TestTrackConcurrentKeepAlive(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	const (
		workers   = 8
		perWorker = 25
	)
	type sentEvent struct {
		typ, profile, session string
		props                 json.RawMessage
	}
	var (
		mu     sync.Mutex
		sent   = map[string]sentEvent{}
		reused atomic.Int64
		wg     sync.WaitGroup
		errs   = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				for i := range perWorker {
					n := 1 + (w+i)%3
					profile := fmt.Sprintf("prof-%d-%d", w, i%4)
					session := fmt.Sprintf("sess-%d-%d", w, i)
					var events []any
					mine := map[string]sentEvent{}
					for j := range n {
						id := fmt.Sprintf("w%02d-r%03d-e%d-%s", w, i, j, uuid.NewString())
						// Sizes vary so a reused buffer would show.
						props := json.RawMessage(fmt.Sprintf(`{"worker":%d,"request":%d,"event":%d,"pad":%q}`, w, i, j, strings.Repeat(string(rune('a'+(w+i+j)%26)), (w*37+i*11+j*5)%700)))
						typ := fmt.Sprintf("type-%d-%d", w, j)
						events = append(events, map[string]any{"id": id, "type": typ, "properties": props})
						mine[id] = sentEvent{typ, profile, session, props}
					}
					body, err := json.Marshal(map[string]any{
						"source":  map[string]any{"id": enabledSource},
						"profile": map[string]any{"id": profile},
						"session": map[string]any{"id": session},
						"events":  events,
					})
					if err != nil {
						return err
					}
					req, err := http.NewRequest(http.MethodPost, env.url+"/track", bytes.NewReader(body))
					if err != nil {
						return err
					}
					req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
						GotConn: func(ci httptrace.GotConnInfo) {
							if ci.Reused {
								reused.Add(1)
							}
						},
					}))
					resp, err := env.client.Do(req)
					if err != nil {
						return err
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						return err
					}
					if resp.StatusCode != http.StatusOK {
						return fmt.Errorf("worker %d request %d: status %d: %s", w, i, resp.StatusCode, b)
					}
					var tr trackResponse
					if err := json.Unmarshal(b, &tr); err != nil {
						return fmt.Errorf("worker %d request %d: %v", w, i, err)
					}
					var want []string
					for _, ev := range events {
						want = append(want, ev.(map[string]any)["id"].(string))
					}
					if !slices.Equal(tr.IDs, want) {
						return fmt.Errorf("worker %d request %d: answer lists ids %v, want %v", w, i, tr.IDs, want)
					}
					mu.Lock()
					for id, e := range mine {
						sent[id] = e
					}
					mu.Unlock()
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if reused.Load() == 0 {
		t.Fatal("no request reused a connection; the test did not exercise keep-alive")
	}

	recs := env.consumeEvents(t, len(sent))
	for _, r := range recs {
		e := decodeRecord(t, r)
		want, ok := sent[e.ID]
		if !ok {
			t.Fatalf("record of unknown event %q (value %s)", e.ID, r.Value)
		}
		delete(sent, e.ID)
		if e.Type != want.typ || e.ProfileID != want.profile || e.SessionID != want.session || e.SourceID != enabledSource {
			t.Errorf("event %s: type %q profile %q session %q source %q; sent %q %q %q %q", e.ID, e.Type, e.ProfileID, e.SessionID, e.SourceID, want.typ, want.profile, want.session, enabledSource)
		}
		if !bytes.Equal(e.Properties, want.props) {
			t.Errorf("event %s: properties %s; sent %s", e.ID, e.Properties, want.props)
		}
		if string(r.Key) != enabledSource+"/"+want.profile {
			t.Errorf("event %s: key %q, want %q", e.ID, r.Key, enabledSource+"/"+want.profile)
		}
	}
	if len(sent) != 0 {
		t.Errorf("%d acknowledged events missing from Kafka", len(sent))
	}
	total := workers * perWorker
	if got := counterValue(t, env.metrics, "trackstream_ingest_requests_total", map[string]string{"route": "/track", "status": "2xx"}); got != float64(total) {
		t.Errorf("trackstream_ingest_requests_total{route=/track,status=2xx} = %v, want %d", got, total)
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_events_total", map[string]string{"outcome": "accepted"}); got != float64(len(recs)) {
		t.Errorf("trackstream_ingest_events_total{outcome=accepted} = %v, want %d", got, len(recs))
	}
}
