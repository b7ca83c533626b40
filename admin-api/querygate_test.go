package adminapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Heavy readers cannot take the API's query capacity: a user gets at most
// maxQueryRequestsPerUser statistics or search requests at once (then 429),
// the API runs at most maxQueryRequests (then 503), each refusal at once
// with Retry-After, and routes that do not query ClickHouse still answer.
func TestQueryRequestsAreBounded(t *testing.T) {
	entered := make(chan string, 16)
	release := make(chan struct{})
	events := counterFunc(func(ctx context.Context, source string) (uint64, error) {
		if source != "block" {
			return 1, nil
		}
		entered <- source
		select {
		case <-release:
		case <-ctx.Done():
		}
		return 1, nil
	})
	e := startWith(t, events, &clock{t: time.Now()})
	admin := e.login("admin", strong)
	for _, u := range []string{"vera", "walt"} {
		e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"`+u+`","role":"viewer","password":"`+strong+`-x"}`)
	}
	vera, walt := e.login("vera", strong+"-x"), e.login("walt", strong+"-x")

	// get answers a request that must not wait behind the blocked ones.
	get := func(token, path string) response {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v (it waited behind the running queries)", path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return response{code: resp.StatusCode, raw: string(raw), header: resp.Header}
	}
	done := make(chan response, 8)
	hold := func(token string, n int) {
		for range n {
			go func() { done <- e.call("GET", "/api/v1/events/count?source=block", token, "") }()
			<-entered
		}
	}
	const blocked = "/api/v1/events/count?source=block"

	hold(vera, maxQueryRequestsPerUser)
	r := get(vera, blocked)
	if r.code != http.StatusTooManyRequests || !strings.Contains(r.raw, "too_many_queries") || r.header.Get("Retry-After") == "" {
		t.Fatalf("vera's request beyond her share: %d %s (Retry-After %q), want 429 too_many_queries with Retry-After", r.code, r.raw, r.header.Get("Retry-After"))
	}
	hold(walt, maxQueryRequests-maxQueryRequestsPerUser)
	r = get(admin, blocked)
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.raw, "too_many_queries") || r.header.Get("Retry-After") == "" {
		t.Fatalf("a request beyond the API's capacity: %d %s, want 503 too_many_queries with Retry-After", r.code, r.raw)
	}
	if r := get(admin, "/api/v1/sources"); r.code != http.StatusOK {
		t.Fatalf("GET /sources while the queries run: %d %s", r.code, r.raw)
	}

	close(release)
	for range maxQueryRequests {
		if r := <-done; r.code != http.StatusOK {
			t.Errorf("a held request answered %d %s", r.code, r.raw)
		}
	}
	if r := get(vera, "/api/v1/events/count?source=free"); r.code != http.StatusOK {
		t.Fatalf("vera's request once hers finished: %d %s", r.code, r.raw)
	}
}
