package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// wideDay holds the wide events, away from the seeded day so no other
// test's figures see them.
var wideDay = t0.Add(10 * 24 * time.Hour)

var wideOnce sync.Once

// wideEnv is an admin API over the shared store holding wideEvents events
// of about 700 KB each (source "wide", session "W"), its clock a day later.
const wideEvents = 40

func wideEnv(t *testing.T) *env {
	t.Helper()
	st, _ := chStore(t)
	var err error
	wideOnce.Do(func() {
		events := make([]seedEvent, wideEvents)
		for i := range events {
			events[i] = seedEvent{source: "wide", id: fmt.Sprintf("w%02d", i), typ: "big", at: wideDay.Sub(t0) + time.Duration(i)*time.Minute,
				session: "W", profile: "pW", props: `{"blob":"` + strings.Repeat("x", 700_000) + `"}`}
		}
		err = write(context.Background(), st, "seed-wide", rows(events, 0))
	})
	if err != nil {
		t.Fatalf("seed wide events: %v", err)
	}
	return startWith(t, st, &clock{t: wideDay.Add(24 * time.Hour)})
}

// maxAnswer is what one listing answer may hold: maxListBytes, one more
// event and the envelope.
const maxAnswer = maxListBytes + 800_000

func (e *env) getRaw(token, path string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// Event listings are bounded in bytes whatever the page size: a search
// for limit=1000 over events of 700 KB answers about maxListBytes with a
// next_cursor, the pages together hold every event once, newest first,
// and a session detail is cut the same way (truncated).
func TestListingAnswersAreBoundedInBytes(t *testing.T) {
	testkit.SkipShort(t)
	e := wideEnv(t)
	tok := e.login("admin", strong)
	rangeQ := "from=" + url.QueryEscape(wideDay.Format(time.RFC3339)) + "&to=" + url.QueryEscape(wideDay.Add(24*time.Hour).Format(time.RFC3339))
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > wideEvents {
			t.Fatal("more pages than events")
		}
		q := "/api/v1/events?source=wide&limit=1000&" + rangeQ
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		code, body := e.getRaw(tok, q)
		if code != http.StatusOK || len(body) > maxAnswer {
			t.Fatalf("page %d: %d, %d bytes, want 200 within %d bytes", pages, code, len(body), maxAnswer)
		}
		var p struct {
			Events []struct {
				EventID string `json:"event_id"`
			} `json:"events"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, ev := range p.Events {
			ids = append(ids, ev.EventID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(ids) != wideEvents {
		t.Fatalf("pages listed %d events, want %d: %v", len(ids), wideEvents, ids)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("w%02d", wideEvents-1-i); id != want {
			t.Fatalf("event %d is %s, want %s (newest first, each once): %v", i, id, want, ids)
		}
	}

	code, body := e.getRaw(tok, "/api/v1/sessions/W?source=wide&"+rangeQ)
	if code != http.StatusOK || len(body) > maxAnswer {
		t.Fatalf("session detail: %d, %d bytes, want 200 within %d bytes", code, len(body), maxAnswer)
	}
	var sd struct {
		Truncated bool `json:"truncated"`
		Count     int  `json:"event_count"`
	}
	if err := json.Unmarshal(body, &sd); err != nil {
		t.Fatal(err)
	}
	if !sd.Truncated || sd.Count < 1 || sd.Count >= wideEvents {
		t.Fatalf("session detail: %d events, truncated %v; want a truncated part of the %d", sd.Count, sd.Truncated, wideEvents)
	}
}

// Concurrent heavy listings (as many as the query gate admits, each
// asking for 1000 events of 700 KB) keep the Go heap under the 256 MiB
// the shipped admin-api pod is given, with GOMEMLIMIT set to it as the
// manifests do.
func TestConcurrentHeavyListingsStayUnderThePodLimit(t *testing.T) {
	testkit.SkipShort(t)
	const podLimit = 256 << 20
	e := wideEnv(t)
	admin := e.login("admin", strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"vera","role":"viewer","password":"`+strong+`-x"}`)
	tokens := []string{admin, admin, e.login("vera", strong+"-x"), e.login("vera", strong+"-x")}
	rangeQ := "from=" + url.QueryEscape(wideDay.Format(time.RFC3339)) + "&to=" + url.QueryEscape(wideDay.Add(24*time.Hour).Format(time.RFC3339))

	defer debug.SetMemoryLimit(debug.SetMemoryLimit(podLimit))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				code, body := e.getRaw(tok, "/api/v1/events?source=wide&limit=1000&"+rangeQ)
				if code != http.StatusOK {
					t.Errorf("heavy search: %d %.200s", code, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if p := peak.Load(); p > podLimit {
		t.Fatalf("Go heap in use peaked at %d MiB (%d MiB before), over the %d MiB pod limit", p>>20, base.HeapInuse>>20, podLimit>>20)
	}
	t.Logf("Go heap in use peaked at %d MiB (%d MiB before)", peak.Load()>>20, base.HeapInuse>>20)
}
