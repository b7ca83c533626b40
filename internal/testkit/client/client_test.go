package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAdmin answers like the admin API: login hands out session n, and
// only the newest session is accepted (as after a restart).
func fakeAdmin(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var session atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Password != "right" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"token":"s%d"}`, session.Add(1))
	})
	mux.HandleFunc("GET /api/v1/events/count", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != fmt.Sprintf("Bearer s%d", session.Load()) {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"count":%d}`, len(r.URL.Query().Get("source")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &session
}

func TestLoginAgainAfterTheSessionIsForgotten(t *testing.T) {
	srv, session := fakeAdmin(t)
	ctx := context.Background()
	if _, err := Login(ctx, srv.URL, "admin", "wrong"); Code(err) != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password = %v, want a 401 StatusError", err)
	}
	a, err := Login(ctx, srv.URL, "admin", "right")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.Count(ctx, "abc"); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	session.Add(1) // the server forgot the client's session
	if n, err := a.Count(ctx, "abcd"); err != nil || n != 4 {
		t.Fatalf("Count after the session was forgotten = %d, %v; want 4 after logging in again", n, err)
	}
	anon := &Admin{URL: srv.URL}
	if _, err := anon.Count(ctx, "x"); Code(err) != http.StatusUnauthorized {
		t.Fatalf("Count without a session = %v, want a 401 StatusError", err)
	}
}

func TestWaitSourceKnown(t *testing.T) {
	var known atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !known.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	// The error names the last answer, the 401. On a loaded machine a
	// second may pass before the first request is answered (then the error
	// names the cancelled request), so up to five waits may time out.
	var err error
	for range 5 {
		if err = WaitSourceKnown(ctx, srv.URL, "src", time.Second); err == nil || strings.Contains(err.Error(), "status 401") {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("WaitSourceKnown while the source is unknown = %v, want a timeout naming the last 401", err)
	}
	known.Store(true)
	if err := WaitSourceKnown(ctx, srv.URL, "src", 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP x_total x\nx_total 42\nx_total_other 1\ny{l=\"a\"} 3\n")
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	if v, err := Metric(context.Background(), addr, "x_total"); err != nil || v != 42 {
		t.Fatalf("Metric(x_total) = %v, %v; want 42", v, err)
	}
	if _, err := Metric(context.Background(), addr, "z"); err == nil {
		t.Fatal("a series that is not exposed read without an error")
	}
}
