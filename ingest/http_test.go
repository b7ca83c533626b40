package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/internal/testkit"
)

// send makes a request to path with the given headers (name, value
// pairs).
func (env *testEnv) send(t *testing.T, method, path string, body []byte, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, env.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return env.do(t, req)
}

func basicAuth(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
}

func TestSegmentOverHTTP(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	call := func(id string, extra map[string]any) map[string]any {
		m := map[string]any{"messageId": id, "userId": "user-1", "anonymousId": "anon-1", "timestamp": time.Now().UTC().Add(-time.Second)}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		path    string
		body    map[string]any
		headers []string
		ids     []string
	}{
		{"track with write key in body", "/v1/track", withKey(call("seg-track", map[string]any{"event": "Order Completed", "properties": map[string]any{"revenue": 10}}), enabledSource), nil, []string{"seg-track"}},
		{"page with basic auth", "/v1/page", call("seg-page", map[string]any{"name": "Home", "properties": map[string]any{"url": "https://example.com/"}}), []string{"Authorization", basicAuth(enabledSource)}, []string{"seg-page"}},
		{"identify", "/v1/identify", withKey(call("seg-identify", map[string]any{"traits": map[string]any{"email": "a@example.com"}}), enabledSource), nil, []string{"seg-identify"}},
		{"screen", "/v1/screen", withKey(call("seg-screen", map[string]any{"name": "Main"}), enabledSource), nil, []string{"seg-screen"}},
		{"group", "/v1/group", withKey(call("seg-group", map[string]any{"groupId": "g-1"}), enabledSource), nil, []string{"seg-group"}},
		{"alias", "/v1/alias", withKey(call("seg-alias", map[string]any{"previousId": "anon-1"}), enabledSource), nil, []string{"seg-alias"}},
		{"batch from a server source", "/v1/batch", map[string]any{"batch": []any{
			map[string]any{"type": "track", "messageId": "seg-b1", "userId": "u-2", "event": "Paid", "context": map[string]any{"ip": "198.51.100.44"}},
			map[string]any{"type": "identify", "messageId": "seg-b2", "userId": "u-2", "traits": map[string]any{"plan": "pro"}},
		}}, []string{"Authorization", basicAuth(serverKey)}, []string{"seg-b1", "seg-b2"}},
		{"text/plain as analytics.js and sendBeacon send it", "/v1/track", withKey(call("seg-plain", map[string]any{"event": "Beacon"}), enabledSource), []string{"Content-Type", "text/plain;charset=UTF-8"}, []string{"seg-plain"}},
		{"track on its initial, as analytics-next sends it", "/v1/t", withKey(call("seg-t", map[string]any{"event": "Short"}), enabledSource), []string{"Content-Type", "text/plain"}, []string{"seg-t"}},
		{"batch on its initial", "/v1/b", map[string]any{"writeKey": enabledSource, "batch": []any{map[string]any{"type": "page", "messageId": "seg-b", "anonymousId": "a-9", "name": "Home"}}}, nil, []string{"seg-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.send(t, http.MethodPost, tc.path, trackJSON(t, tc.body), tc.headers...)
			wantStatus(t, r, http.StatusOK)
			if tr := decodeTrackResponse(t, r); !slices.Equal(tr.IDs, tc.ids) {
				t.Fatalf("answer %s, want ids %v", r.body, tc.ids)
			}
		})
	}
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			body    map[string]any
			headers []string
			status  int
			code    string
		}{
			{call("x", map[string]any{"event": "E"}), nil, 401, "missing_write_key"},
			{call("x", map[string]any{"event": "E"}), []string{"Authorization", basicAuth("tswk_wrong")}, 401, "unknown_source"},
			{withKey(call("x", map[string]any{"event": "E"}), disabledSource), nil, 403, "source_disabled"},
			{withKey(call("x", map[string]any{"event": "E"}), serverSource), nil, 401, "unknown_source"}, // a server source's id is not its key
		} {
			wantError(t, env.send(t, http.MethodPost, "/v1/track", trackJSON(t, tc.body), tc.headers...), tc.status, tc.code)
		}
		wantError(t, env.send(t, http.MethodPost, "/v1/track", []byte(`{}`), "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type")
	})

	recs := env.consumeEvents(t, 11)
	byID := map[string]*kgo.Record{}
	for _, r := range recs {
		byID[decodeRecord(t, r).ID] = r
	}
	for id, want := range map[string]struct{ typ, ip, key string }{
		"seg-track": {"Order Completed", "127.0.0.0", enabledSource + "/anon-1"},
		"seg-b1":    {"Paid", "198.51.100.44", serverSource + "/u-2"}, // a server source's user IP from context.ip, kept by policy
		"seg-b2":    {"identify", "127.0.0.1", serverSource + "/u-2"},
		"seg-alias": {"alias", "127.0.0.0", enabledSource + "/anon-1"},
	} {
		r, ok := byID[id]
		if !ok {
			t.Fatalf("event %s missing from Kafka", id)
		}
		e := decodeRecord(t, r)
		if e.Type != want.typ || e.IP != want.ip || string(r.Key) != want.key {
			t.Errorf("event %s: type %q ip %q key %q, want %q %q %q", id, e.Type, e.IP, r.Key, want.typ, want.ip, want.key)
		}
	}
}

func withKey(m map[string]any, key string) map[string]any {
	m["writeKey"] = key
	return m
}

func TestPixelOverHTTP(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	r := env.send(t, http.MethodGet, "/p.gif?s="+enabledSource+"&e=page-view&id=px-1&pid=p-9&url=https%3A%2F%2Fexample.com%2F&p.title=Hi", nil, "User-Agent", "pixel-agent/1")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/gif" || !bytes.Equal(r.body, transparentGIF) {
		t.Fatalf("pixel answer %d %q %q, want 200 image/gif and the GIF", r.status, r.header.Get("Content-Type"), r.body)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("pixel Cache-Control %q, want no-store", cc)
	}
	wantError(t, env.send(t, http.MethodGet, "/p.gif?e=page-view", nil), 400, "missing_field")
	recs := env.consumeEvents(t, 1)
	e := decodeRecord(t, recs[0])
	if e.ID != "px-1" || e.ProfileID != "p-9" || e.URL != "https://example.com/" || string(e.Properties) != `{"title":"Hi"}` || e.UserAgent != "pixel-agent/1" {
		t.Fatalf("pixel event %+v", e)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	body := func(src, id string) []byte {
		return trackJSON(t, map[string]any{"source": map[string]any{"id": src}, "events": []any{map[string]any{"id": id, "type": "t"}}})
	}
	t.Run("preflight", func(t *testing.T) {
		for _, path := range []string{"/track", "/v1/batch"} {
			r := env.send(t, http.MethodOptions, path, nil, "Origin", "https://anywhere.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
			h := r.header
			if r.status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
				h.Get("Access-Control-Allow-Headers") != "Authorization, *" ||
				h.Get("Access-Control-Max-Age") != strconv.Itoa(preflightMaxAge) || h.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("preflight of %s: %d %v", path, r.status, h)
			}
		}
	})
	t.Run("open source answers any origin", func(t *testing.T) {
		r := env.send(t, http.MethodPost, "/track", body(enabledSource, "c-1"), "Origin", "https://anywhere.example")
		wantStatus(t, r, 200)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("Access-Control-Allow-Origin %q (credentials %q), want * without credentials", got, r.header.Get("Access-Control-Allow-Credentials"))
		}
	})
	t.Run("allowlisted origin echoed", func(t *testing.T) {
		r := env.send(t, http.MethodPost, "/track", body(shopSource, "c-2"), "Origin", shopOrigin)
		wantStatus(t, r, 200)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != shopOrigin || !strings.Contains(r.header.Get("Vary"), "Origin") {
			t.Fatalf("Access-Control-Allow-Origin %q Vary %q, want %s and Vary: Origin", got, r.header.Get("Vary"), shopOrigin)
		}
	})
	t.Run("origin not allowed", func(t *testing.T) {
		r := env.send(t, http.MethodPost, "/track", body(shopSource, "c-3"), "Origin", "https://evil.example")
		wantError(t, r, 403, "origin_not_allowed")
		if got := r.header.Get("Access-Control-Allow-Origin"); got == "https://evil.example" {
			t.Fatal("a refused origin was echoed")
		}
	})
	var ids []string
	for _, r := range env.consumeEvents(t, 2) {
		ids = append(ids, decodeRecord(t, r).ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"c-1", "c-2"}) {
		t.Fatalf("Kafka holds %v, want c-1 and c-2", ids)
	}
}

func TestPathAliases(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Ingest) { c.PathAliases = []string{"/e=/track", "/s/b=/v1/batch", "/i.gif=/p.gif"} })
	r := env.send(t, http.MethodPost, "/e", trackJSON(t, map[string]any{"source": map[string]any{"id": enabledSource}, "events": []any{map[string]any{"id": "a-1", "type": "t"}}}))
	wantStatus(t, r, 200)
	r = env.send(t, http.MethodPost, "/s/b", trackJSON(t, map[string]any{"writeKey": enabledSource, "batch": []any{map[string]any{"type": "track", "event": "E", "userId": "u", "messageId": "a-2"}}}))
	wantStatus(t, r, 200)
	if r = env.send(t, http.MethodGet, "/i.gif?s="+enabledSource+"&id=a-3", nil); r.status != 200 {
		t.Fatalf("pixel alias: %d %s", r.status, r.body)
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_requests_total", map[string]string{"route": "/e", "status": "2xx"}); got != 1 {
		t.Errorf("requests on the alias /e counted %v times, want 1", got)
	}
	env.consumeEvents(t, 3)

	for _, bad := range [][]string{{"/x=/nowhere"}, {"/track=/v1/batch"}, {"/readyz=/track"}} {
		cfg := config.Default().Ingest
		cfg.PathAliases = bad
		_, err := New(cfg, env.admin, sources.NewRegistry(), env.log, prometheus.NewRegistry())
		if err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_INGEST_PATH_ALIASES") {
			t.Errorf("aliases %v: New returned %v, want a refusal naming the setting", bad, err)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	r := env.send(t, http.MethodGet, "/healthz", nil)
	wantStatus(t, r, 200)
	r = env.send(t, http.MethodGet, "/readyz", nil)
	wantStatus(t, r, 200)
	if !bytes.Contains(r.body, []byte(`"ready":true`)) {
		t.Fatalf("readyz %s", r.body)
	}
	// Kafka gone: readiness fails within a bounded time, and the public
	// answer names the cause in fixed words, not the client's error
	// (which names the broker's address).
	env.cluster.Close()
	testkit.Eventually(t, 15*time.Second, "readyz to fail once Kafka is gone", func() bool {
		r = env.send(t, http.MethodGet, "/readyz", nil)
		return r.status == http.StatusServiceUnavailable
	})
	if string(r.body) != `{"ready":false,"reason":"kafka unreachable"}` {
		t.Errorf("readyz with Kafka gone answered %s", r.body)
	}
	if err := env.srv.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "kafka unreachable: ") {
		t.Errorf("Ready = %v, want the cause kept for the log", err)
	}
}

func TestReadinessNeedsSources(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	// A registry nobody follows is never loaded.
	srv, err := New(env.cfg, env.admin, sources.NewRegistry(), env.log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Ready(t.Context())
	if err == nil || !strings.Contains(err.Error(), "sources not loaded") {
		t.Fatalf("Ready with unloaded sources = %v", err)
	}
	if err := env.srv.Ready(t.Context()); err != nil {
		t.Fatalf("Ready of the running server = %v", err)
	}
	env.srv.Drain()
	if err := env.srv.Ready(t.Context()); err == nil {
		t.Fatal("Ready after Drain = nil")
	}
	r := env.send(t, http.MethodGet, "/readyz", nil)
	wantStatus(t, r, http.StatusServiceUnavailable)
	if !r.closed {
		t.Errorf("a draining server answered without Connection: close: %v", r.header)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	body := func(id string) []byte {
		return trackJSON(t, map[string]any{"source": map[string]any{"id": limitedSource}, "events": []any{map[string]any{"id": id, "type": "t"}}})
	}
	var ok, limited int
	for i := range 5 {
		r := env.send(t, http.MethodPost, "/track", body(fmt.Sprint("rl-", i)))
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			wantError(t, r, 429, "rate_limited")
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("Retry-After %q, want whole seconds >= 1", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	// The bucket holds 2 and refills 2 a second: 5 requests in well under a
	// second get 2 or 3 through.
	if ok < 2 || ok > 3 || limited != 5-ok {
		t.Fatalf("%d accepted and %d limited of 5, want 2-3 accepted", ok, limited)
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_rate_limited_requests_total", nil); got != float64(limited) {
		t.Errorf("rate-limited counter %v, want %d", got, limited)
	}
	// Other sources are not affected.
	r := env.send(t, http.MethodPost, "/track", trackJSON(t, map[string]any{"source": map[string]any{"id": enabledSource}, "events": []any{map[string]any{"type": "t"}}}))
	wantStatus(t, r, 200)
	env.consumeEvents(t, ok+1)
}

func TestClientIPAndProxies(t *testing.T) {
	t.Parallel()
	body := func(src, id string) []byte {
		return trackJSON(t, map[string]any{"source": map[string]any{"id": src}, "events": []any{map[string]any{"id": id, "type": "t"}}, "context": map[string]any{"ip": "203.0.113.99"}})
	}
	for _, tc := range []struct {
		name    string
		trusted []string
		src     string
		xff     string
		wantIP  string
	}{
		{"untrusted peer: header ignored", nil, keepSource, "198.51.100.7", "127.0.0.1"},
		{"trusted peer: client from header", []string{"127.0.0.1"}, keepSource, "198.51.100.7", "198.51.100.7"},
		{"trusted chain read from the right", []string{"127.0.0.0/8", "10.0.0.0/8"}, keepSource, "192.0.2.1, 198.51.100.7, 10.1.2.3", "198.51.100.7"},
		{"malformed header ignored", []string{"127.0.0.1"}, keepSource, "not-an-ip", "127.0.0.1"},
		{"truncated by default policy", []string{"127.0.0.1"}, enabledSource, "198.51.100.7", "198.51.100.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, func(c *config.Ingest) { c.TrustedProxies = tc.trusted })
			r := env.send(t, http.MethodPost, "/track", body(tc.src, "ip-1"), "X-Forwarded-For", tc.xff)
			wantStatus(t, r, 200)
			recs := env.consumeEvents(t, 1)
			e := decodeRecord(t, recs[0])
			if e.IP != tc.wantIP {
				t.Fatalf("event ip %q, want %q", e.IP, tc.wantIP)
			}
			// A browser source's context.ip is the sender's claim, kept
			// only under the keep policy and never raw otherwise.
			if tc.src != keepSource && bytes.Contains(recs[0].Value, []byte("203.0.113.99")) {
				t.Fatalf("record %s holds the raw IP from the context", recs[0].Value)
			}
			if bytes.Contains(recs[0].Value, []byte(`"198.51.100.7"`)) && tc.src != keepSource {
				t.Fatalf("record %s holds the raw client IP", recs[0].Value)
			}
		})
	}
}

func TestBodyDecodedLimit(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Ingest) { c.MaxBodyBytes, c.MaxDecodedBytes = 64<<10, 8<<10 })
	big := trackJSON(t, map[string]any{"source": map[string]any{"id": enabledSource}, "events": []any{map[string]any{"type": "t", "properties": map[string]any{"pad": strings.Repeat("x", 10<<10)}}}})
	wantError(t, env.send(t, http.MethodPost, "/track", big), 413, "body_too_large")
	env.consumeEvents(t, 0)
}

// TestBufferCapUnderFlood: while Kafka refuses writes (retriably), a flood
// of requests fills the producer buffer; from then on requests get a 503
// at once instead of queueing, the buffer never exceeds its cap, and no
// request is answered 2xx. Not parallel: it asserts latencies.
func TestBufferCapUnderFlood(t *testing.T) {
	testkit.SkipShort(t)
	const bufferCap = 64 << 10
	env := newEnv(t, func(c *config.Ingest) {
		c.MaxBufferedBytes = bufferCap
		c.ProduceTimeout = 3 * time.Second
	})
	var refusing atomic.Bool
	var refused atomic.Int64
	refusing.Store(true)
	refuseProduce(env.cluster, &refusing, &refused)

	events := make([]any, 20)
	for i := range events {
		events[i] = map[string]any{"type": "t", "properties": map[string]any{"pad": strings.Repeat("p", 900)}}
	}
	body := trackJSON(t, map[string]any{"source": map[string]any{"id": enabledSource}, "events": events})

	var (
		maxBuffered atomic.Int64
		stop        = make(chan struct{})
		sampled     sync.WaitGroup
	)
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			if b := env.srv.producer.BufferedProduceBytes(); b > maxBuffered.Load() {
				maxBuffered.Store(b)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	type answer struct {
		status  int
		code    string
		elapsed time.Duration
	}
	const workers, perWorker = 8, 3
	answers := make(chan answer, workers*perWorker)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				start := time.Now()
				req, _ := http.NewRequest(http.MethodPost, env.url+"/track", bytes.NewReader(body))
				resp, err := env.client.Do(req)
				if err != nil {
					answers <- answer{status: -1, code: err.Error()}
					continue
				}
				var e requestError
				_ = json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				answers <- answer{resp.StatusCode, e.Code, time.Since(start)}
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampled.Wait()
	close(answers)
	var overloaded, unavailable int
	for a := range answers {
		switch {
		case a.status == 503 && a.code == "overloaded":
			overloaded++
			// Immediate means well before the produce timeout; the
			// bound leaves room for slow (race-detector, loaded) runs.
			if a.elapsed > env.cfg.ProduceTimeout/2 {
				t.Errorf("an overloaded 503 took %v; it must not wait for Kafka (produce timeout %v)", a.elapsed, env.cfg.ProduceTimeout)
			}
		case a.status == 503 && a.code == "kafka_unavailable":
			unavailable++
		default:
			t.Errorf("answer %+v while Kafka refuses writes; want only 503s", a)
		}
	}
	if overloaded == 0 {
		t.Fatalf("no request was refused for a full buffer (%d timed out); the flood did not fill it", unavailable)
	}
	if m := maxBuffered.Load(); m > bufferCap {
		t.Fatalf("producer buffered %d bytes; the cap is %d", m, bufferCap)
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_events_total", map[string]string{"outcome": "accepted"}); got != 0 {
		t.Errorf("%v events counted accepted while Kafka refused every write", got)
	}
	t.Logf("%d overloaded, %d timed out; buffer peaked at %d of %d bytes", overloaded, unavailable, maxBuffered.Load(), bufferCap)
}

// TestShutdownUnderLoadLosesNothingAcknowledged: Shutdown while clients
// send; readiness fails first, requests keep being served through the
// drain delay, and every event answered 2xx is in Kafka afterwards.
func TestShutdownUnderLoadLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	const drain = 300 * time.Millisecond
	env := newEnv(t, func(c *config.Ingest) { c.DrainDelay = drain })
	var (
		mu    sync.Mutex
		acked []string
		sent  atomic.Int64
		wg    sync.WaitGroup
		stop  atomic.Bool
	)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("sd-%d-%d", w, i)
				body := trackJSON(t, map[string]any{"source": map[string]any{"id": enabledSource}, "profile": map[string]any{"id": fmt.Sprint("p", w)},
					"events": []any{map[string]any{"id": id, "type": "t"}}})
				sent.Add(1)
				resp, err := env.client.Post(env.url+"/track", "application/json", bytes.NewReader(body))
				if err != nil {
					if errors.Is(err, context.Canceled) {
						return
					}
					continue // refused once the listener closed: not acknowledged
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	testkit.Eventually(t, 10*time.Second, "load to build up", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 50 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	start := time.Now()
	go func() { shutdown <- env.srv.Shutdown(ctx) }()
	// During the drain delay readiness fails and requests still succeed.
	testkit.Eventually(t, drain, "readiness to fail", func() bool { return env.srv.Ready(ctx) != nil })
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	testkit.Eventually(t, 5*time.Second, "requests to be answered during the drain", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > before || time.Since(start) > drain
	})
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took < drain {
		t.Errorf("Shutdown returned after %v, before the %v drain delay", took, drain)
	}
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	recs := env.consumeAtLeast(t, len(acked))
	have := map[string]bool{}
	for _, r := range recs {
		have[decodeRecord(t, r).ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("event %s was answered 200 but is not in Kafka", id)
		}
	}
	t.Logf("%d requests sent, %d acknowledged, %d records in Kafka", sent.Load(), len(acked), len(recs))
}

// consumeAtLeast reads trackstream.events from the start until it has at
// least want records, and returns them all.
func (env *testEnv) consumeAtLeast(t *testing.T, want int) []*kgo.Record {
	t.Helper()
	n := env.eventCount(t)
	if n < int64(want) {
		t.Fatalf("%d records in Kafka, want at least %d", n, want)
	}
	return env.consumeEvents(t, int(n))
}

// TestFiberHeaderReuse: headers kept for an event (User-Agent, Origin,
// the write key) must be copied out of Fiber's reused buffers. Many
// requests over reused connections, each with its own User-Agent.
func TestFiberHeaderReuse(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	const workers, perWorker = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := fmt.Sprintf("hr-%d-%d", w, i)
				ua := fmt.Sprintf("agent-%d-%d-%s", w, i, strings.Repeat("u", (w*31+i*7)%200))
				req, _ := http.NewRequest(http.MethodPost, env.url+"/v1/track", bytes.NewReader(trackJSON(t, map[string]any{
					"messageId": id, "userId": fmt.Sprint("u", w), "event": "E",
				})))
				req.Header.Set("User-Agent", ua)
				req.Header.Set("Authorization", basicAuth(enabledSource))
				resp, err := env.client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("request %s: status %d", id, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range env.consumeEvents(t, workers*perWorker) {
		e := decodeRecord(t, r)
		var w, i int
		if _, err := fmt.Sscanf(e.ID, "hr-%d-%d", &w, &i); err != nil {
			t.Fatalf("unexpected event %s", e.ID)
		}
		if want := fmt.Sprintf("agent-%d-%d-%s", w, i, strings.Repeat("u", (w*31+i*7)%200)); e.UserAgent != want || e.SourceID != enabledSource {
			t.Fatalf("event %s: user agent %q source %q, want %q %q", e.ID, e.UserAgent, e.SourceID, want, enabledSource)
		}
	}
}

// TestSlowClientCut: Fiber sets no timeouts of its own; with ours, a
// client that sends its request too slowly is disconnected.
func TestSlowClientCut(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Ingest) { c.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /track HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v; the read timeout did not cut it", time.Since(start))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("connection cut only after %v", took)
	}
}
