// Package adminapi is trackstream's internal API for the GUI and for
// automation: login with the admin password, source management and event
// counts read from ClickHouse. It runs only in the admin-api role, on its own
// listener (loopback by default), never on the public collector's.
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/password"
	"github.com/trackstream/trackstream/internal/sources"
)

// EventCounter is the ClickHouse read the API needs.
type EventCounter interface {
	CountEvents(ctx context.Context, sourceID string) (uint64, error)
}

// Deps are the parts the API works with.
type Deps struct {
	// AdminHash is the admin password's argon2id hash (AdminPasswordHash).
	AdminHash string
	// Events answers event counts.
	Events EventCounter
	// Kafka publishes source changes to the sources topic.
	Kafka *kgo.Client
	// Sources is the followed view of the sources topic.
	Sources *sources.Registry
}

// Server is the admin API.
type Server struct {
	cfg          config.Admin
	queryTimeout time.Duration
	deps         Deps
	sessions     *sessions
	srv          *http.Server
	mux          *http.ServeMux
	log          *slog.Logger
	requests     *prometheus.CounterVec
	// dummyHash is verified against when the user is unknown, so an unknown
	// user and a wrong password take the same time.
	dummyHash string
}

const maxBodyBytes = 64 << 10

// New builds the admin API.
func New(cfg config.Admin, queryTimeout time.Duration, deps Deps, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	dummy, err := password.Hash(password.Generate(), password.DefaultParams())
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, queryTimeout: queryTimeout, deps: deps, log: log,
		sessions:  newSessions(cfg.SessionTTL),
		mux:       http.NewServeMux(),
		dummyHash: dummy,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_admin_requests_total",
			Help: "Admin API requests by route and status class.",
		}, []string{"route", "status"}),
	}
	if err := reg.Register(s.requests); err != nil {
		return nil, err
	}
	for _, r := range s.routes() {
		s.mux.Handle(r.pattern, s.instrument(r.pattern, s.handler(r)))
	}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      queryTimeout + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	return s, nil
}

// route is one API endpoint and whether it needs a logged-in caller.
type route struct {
	pattern string
	public  bool
	serve   func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routes() []route {
	return []route{
		{pattern: "POST /api/v1/auth/login", public: true, serve: s.login},
		{pattern: "POST /api/v1/sources", serve: s.createSource},
		{pattern: "GET /api/v1/sources", serve: s.listSources},
		{pattern: "GET /api/v1/events/count", serve: s.countEvents},
		{pattern: "/api/", serve: func(http.ResponseWriter, *http.Request) error {
			return &apiError{http.StatusNotFound, "not_found", "no such endpoint"}
		}},
	}
}

// Routes lists every route pattern.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.pattern)
	}
	return out
}

// Handler is the API's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown lets requests in flight finish, bounded by ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// apiError is an error answered as {"error": code, "message": message}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

var errUnauthorized = &apiError{http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token> from POST /api/v1/auth/login"}

func (s *Server) handler(r route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, maxBodyBytes)
		if !r.public {
			if _, ok := s.authenticate(req); !ok {
				writeError(w, errUnauthorized)
				return
			}
		}
		if err := r.serve(w, req); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				s.log.Error("admin request failed", "route", r.pattern, "error", err)
				ae = &apiError{http.StatusInternalServerError, "internal", "internal error; see the admin-api log"}
			}
			writeError(w, ae)
		}
	})
}

func (s *Server) authenticate(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return "", false
	}
	return s.sessions.lookup(strings.TrimSpace(token), time.Now())
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	hash := s.dummyHash
	if req.Username == AdminUser {
		hash = s.deps.AdminHash
	}
	ok, err := password.Verify(req.Password, hash)
	if err != nil {
		return fmt.Errorf("verify admin password: %w", err)
	}
	if !ok || req.Username != AdminUser {
		s.log.Warn("failed admin login", "remote", r.RemoteAddr)
		return &apiError{http.StatusUnauthorized, "invalid_credentials", "wrong username or password"}
	}
	token := s.sessions.issue(AdminUser, time.Now())
	return writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_in": int(s.cfg.SessionTTL.Seconds())})
}

type createSourceRequest struct {
	Name string `json:"name"`
}

func (s *Server) createSource(w http.ResponseWriter, r *http.Request) error {
	var req createSourceRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || utf8.RuneCountInString(req.Name) > 200 {
		return &apiError{http.StatusBadRequest, "invalid_field", "name is required, at most 200 characters"}
	}
	now := time.Now().UTC()
	src := sources.Source{ID: sources.NewID(), Name: req.Name, Enabled: true, CreatedAt: now, UpdatedAt: now}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := sources.Publish(ctx, s.deps.Kafka, src); err != nil {
		s.log.Error("create source failed", "error", err)
		return &apiError{http.StatusServiceUnavailable, "kafka_unavailable", "the source could not be stored; retry later"}
	}
	return writeJSON(w, http.StatusCreated, src)
}

func (s *Server) listSources(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"sources": s.deps.Sources.List()})
}

func (s *Server) countEvents(w http.ResponseWriter, r *http.Request) error {
	src := r.URL.Query().Get("source")
	if src == "" {
		return &apiError{http.StatusBadRequest, "missing_parameter", "source is required: /api/v1/events/count?source=<id>"}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.queryTimeout)
	defer cancel()
	n, err := s.deps.Events.CountEvents(ctx, src)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"source": src, "count": n})
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes)}
		}
		return &apiError{http.StatusBadRequest, "invalid_json", err.Error()}
	}
	if dec.More() {
		return &apiError{http.StatusBadRequest, "invalid_json", "unexpected data after the JSON object"}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	_ = writeJSON(w, e.Status, e)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *Server) instrument(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		s.requests.WithLabelValues(pattern, fmt.Sprintf("%dxx", rec.status/100)).Inc()
	})
}
