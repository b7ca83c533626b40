package ingest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/trackstream/trackstream/internal/config"
)

// A body over TRACKSTREAM_INGEST_MAX_BODY_BYTES, sent over a real socket
// by Go's HTTP client (which writes the whole body while it waits for the
// answer, as most clients do) gets its 413 body_too_large, not a
// connection reset the client would take for a network fault and retry
// (e2e scenario 13 saw resets). The server refuses from the declared
// length, before buffering the body, and only discards the rest; a
// chunked body is cut at the limit the same way.
func TestOversizedBodyGets413NotReset(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Ingest) { c.MaxBodyBytes = 64 << 10 })
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	body := bytes.Repeat([]byte("x"), 4<<20)
	for _, chunked := range []bool{false, true} {
		for i := range 20 {
			var rd io.Reader = bytes.NewReader(body)
			if chunked {
				rd = io.MultiReader(rd) // no length known: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, env.url+"/track", rd)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("request %d (chunked %v): no answer (%v), want 413 body_too_large", i, chunked, err)
			}
			answer, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(answer), "body_too_large") || !strings.Contains(string(answer), "65536") {
				t.Fatalf("request %d (chunked %v): %d %q (%v), want 413 body_too_large naming the 65536-byte limit", i, chunked, resp.StatusCode, answer, err)
			}
		}
	}
	if r := env.post(t, strings.NewReader(`{"source":{"id":"`+enabledSource+`"},"events":[{"id":"o1","type":"t"}]}`)); r.status != http.StatusOK {
		t.Fatalf("a request within the limit afterwards: %d %s", r.status, r.body)
	}
}
