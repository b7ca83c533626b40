// Package ops is the operations listener every trackstream process runs:
// /metrics (Prometheus, from the process's one registry), /healthz (the
// process is alive), /readyz (the process can do its job now) and
// /debug/pprof/ (Go profiles, answered to loopback clients only). It is
// kept apart from the public and admin listeners and defaults to loopback.
package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition: Fn returns nil when ready. /readyz
// answers Name with Reason, a short fixed text ("unreachable", "not
// loaded"; "not ready" when empty), never Fn's error: that names hosts,
// addresses and internals, and goes to the log instead.
type Check struct {
	Name   string
	Reason string
	Fn     func(ctx context.Context) error
}

// Server is a running ops listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
	// checks are the readiness checks, nil until Started.
	checks   atomic.Pointer[[]Check]
	draining atomic.Bool
	log      *slog.Logger
	// failing holds the error each failing check last logged, so a
	// failure is logged when it starts or changes, not at every probe.
	failingMu sync.Mutex
	failing   map[string]string
}

// Listen binds addr and serves the ops endpoints in the background. A
// process listens first and stops the listener last, so /metrics covers
// its start and its final flushes and /readyz answers 503 (rather than
// refusing connections) until Started and again from Drain on.
func Listen(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ops listener on %s: %w (set TRACKSTREAM_OPS_ADDR to a free address)", addr, err)
	}
	s := &Server{ln: ln, log: log, failing: map[string]string{}}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, Timeout: 10 * time.Second}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /debug/pprof/", loopbackOnly(pprof.Index))
	mux.Handle("GET /debug/pprof/cmdline", loopbackOnly(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", loopbackOnly(pprof.Profile))
	mux.Handle("GET /debug/pprof/symbol", loopbackOnly(pprof.Symbol))
	mux.Handle("GET /debug/pprof/trace", loopbackOnly(pprof.Trace))
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      90 * time.Second, // a CPU profile runs up to a minute
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Started says every part of the process has started: from now on
// /readyz runs checks.
func (s *Server) Started(checks ...Check) { s.checks.Store(&checks) }

// Drain makes /readyz fail from now on, so load balancers stop sending
// traffic before the process stops.
func (s *Server) Drain() { s.draining.Store(true) }

// Ready runs every check and returns the failures by name, each with its
// check's Reason. A check's error is logged when it starts failing or its
// error changes, and its recovery too.
func (s *Server) Ready(ctx context.Context) map[string]string {
	// A stopping process answers at once: its parts are closing, and
	// their checks would only wait for them.
	if s.draining.Load() {
		return map[string]string{"shutdown": "the process is stopping"}
	}
	checks := s.checks.Load()
	if checks == nil {
		return map[string]string{"startup": "the process is starting"}
	}
	failed := map[string]string{}
	for _, c := range *checks {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Fn(cctx)
		cancel()
		s.note(c.Name, err)
		if err != nil {
			failed[c.Name] = cmp.Or(c.Reason, "not ready")
		}
	}
	return failed
}

// note logs check name's error when it differs from the last one logged,
// and its recovery.
func (s *Server) note(name string, err error) {
	s.failingMu.Lock()
	defer s.failingMu.Unlock()
	last, was := s.failing[name]
	switch {
	case err == nil && was:
		delete(s.failing, name)
		s.log.Info("readiness check passes again", "check", name)
	case err != nil && (!was || last != err.Error()):
		s.failing[name] = err.Error()
		s.log.Warn("readiness check failed", "check", name, "error", err)
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	failed := s.Ready(r.Context())
	w.Header().Set("Content-Type", "application/json")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": false, "failed": failed})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": true})
}

// Close stops the listener, waiting up to ctx for scrapes in flight.
func (s *Server) Close(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

// loopbackOnly answers only clients connecting from a loopback address:
// profiles show the program's internals and a CPU profile or trace costs
// CPU, so even where the ops listener binds every interface (containers,
// for Prometheus) they are reached only from the machine itself
// (docker exec, kubectl port-forward).
func loopbackOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "profiles are served to loopback clients only; use docker exec or kubectl port-forward", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}
