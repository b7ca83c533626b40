// Package adminapi is trackstream's internal API for the GUI and for
// automation. It runs only in the admin-api role, on its own listener
// (loopback by default), never on the public collector's.
//
// Access is locked down in layers: an IP allowlist with trusted reverse
// proxies (access.go), optional TLS 1.2+ with HSTS (tls.go), users with
// roles and argon2id passwords under a strength policy, throttled logins,
// hashed sessions and scoped API tokens (auth.go, users.go), and a role on
// every route (routes.go). Users, sessions and tokens live in the compacted
// topic trackstream.admin (state.go), so replicas share them and restarts
// keep them.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/password"
	"github.com/trackstream/trackstream/internal/sources"
)

// Deps are the parts the API works with.
type Deps struct {
	// Events answers the ClickHouse queries.
	Events Queries
	// Kafka writes source changes, admin state and replayed dead letters;
	// it must produce with acks=all.
	Kafka *kgo.Client
	// KafkaOpts are the base client options (brokers, logger) for the
	// clients that read the admin state and dead-letter topics.
	KafkaOpts []kgo.Opt
	// Sources is the followed view of the sources topic.
	Sources *sources.Registry
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
	// ProcessorGroup is the processors' consumer group, whose lag
	// pipeline health reports; empty leaves lag out.
	ProcessorGroup string
	// Metrics, when set, is the process's metrics registry: pipeline
	// health reads ingest's and the processor's counters from it when
	// those roles run in this process.
	Metrics prometheus.Gatherer
	// CollectorURL is the public collector's base URL, shown in the GUI's
	// install snippets; empty lets the GUI guess from its own address.
	CollectorURL string
	// StateKey signs and checks the records of StateTopic (32 bytes or
	// more); every replica must have the same. Required.
	StateKey []byte
	// AdoptUnsigned accepts the unsigned records already in StateTopic
	// when the state is first loaded, and signs them again: set it only on
	// the start that created StateKey, when those records were written
	// before records were signed.
	AdoptUnsigned bool
}

// Server is the admin API.
type Server struct {
	cfg          config.Admin
	queryTimeout time.Duration
	deps         Deps
	now          func() time.Time
	log          *slog.Logger
	st           *state
	acc          *access
	accounts     *throttle
	clients      *throttle
	srv          *http.Server
	schemas      *schemaCatalog
	queries      *queryGate
	pw           *pwChecks
	gui          guiAssets
	m            metrics
	health       healthHistory
	audits       *auditRing
	copies       copyHorizon
	// dummyHash is verified against when the user is unknown, so an unknown
	// user and a wrong password take the same time.
	dummyHash string
}

type metrics struct {
	stateIgnored   *prometheus.CounterVec
	requests       *prometheus.CounterVec
	logins         *prometheus.CounterVec
	queriesRefused *prometheus.CounterVec
}

// writeTimeout bounds a Kafka write made for one request.
const writeTimeout = 10 * time.Second

// New builds the admin API. The TLS files, when configured, are loaded now
// so a bad certificate stops the start.
func New(cfg config.Admin, queryTimeout time.Duration, deps Deps, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if deps.Kafka == nil || deps.Sources == nil || deps.Events == nil {
		return nil, errors.New("admin api: Kafka, Sources and Events are required")
	}
	if len(deps.StateKey) < 32 {
		return nil, fmt.Errorf("admin api: the state key has %d bytes, want at least 32", len(deps.StateKey))
	}
	dummy, err := password.Hash(password.Generate(), password.DefaultParams())
	if err != nil {
		return nil, err
	}
	acc, err := newAccess(cfg)
	if err != nil {
		return nil, err
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		cfg: cfg, queryTimeout: queryTimeout, deps: deps, now: now, log: log,
		st:        newState(deps.Kafka, deps.StateKey, log),
		acc:       acc,
		accounts:  newThrottle(cfg.LoginFreeAttempts, cfg.LoginLockoutAttempts, cfg.LoginLockout, 100_000),
		clients:   newThrottle(4*cfg.LoginFreeAttempts, 4*cfg.LoginLockoutAttempts, cfg.LoginLockout, 100_000),
		dummyHash: dummy,
		queries:   newQueryGate(),
		pw:        newPWChecks(maxPasswordChecks),
		audits:    newAuditRing(auditRingSize),
		m: metrics{
			stateIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "trackstream_admin_state_records_ignored_total",
				Help: "Records of the admin state topic not applied, by reason (unsigned, bad_signature: not signed with this replica's state key; replayed: older than a record already seen for its key).",
			}, []string{"reason"}),
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "trackstream_admin_requests_total",
				Help: "Admin API requests by route and status class.",
			}, []string{"route", "status"}),
			logins: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "trackstream_admin_logins_total",
				Help: "Admin API login attempts by outcome (ok, failed, throttled, busy: refused because too many password checks were running).",
			}, []string{"outcome"}),
			queriesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "trackstream_admin_query_requests_refused_total",
				Help: "Statistics and search requests refused because too many were running, by the limit hit (user: the caller's share, all: the API's).",
			}, []string{"limit"}),
		},
	}
	s.st.ignored, s.st.adopt = s.m.stateIgnored, deps.AdoptUnsigned
	for _, reason := range []string{ignoredUnsigned, ignoredBadSig, ignoredReplayed} {
		s.m.stateIgnored.WithLabelValues(reason) // exported at 0 from the start, so alerts see a rate
	}
	for _, c := range []prometheus.Collector{s.m.stateIgnored, s.m.requests, s.m.logins, s.m.queriesRefused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register admin metrics: %w", err)
		}
	}
	if s.schemas, err = loadSchemas(); err != nil {
		return nil, err
	}
	if s.gui, err = loadGUI(); err != nil {
		return nil, err
	}
	tlsCfg, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.Handle(r.pattern(), s.instrument(r.pattern(), s.handler(r)))
	}
	s.gui.register(mux, s.instrument)
	mux.Handle("/", s.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errNotFound)
	})))
	s.srv = &http.Server{
		Handler:           acc.wrap(mux),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      queryTimeout + 15*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Run follows the admin state topic and removes expired sessions until ctx
// ends. Start it before Bootstrap.
func (s *Server) Run(ctx context.Context) error {
	go s.sweep(ctx)
	go s.sampleHealth(ctx)
	return s.st.follow(ctx, s.deps.KafkaOpts)
}

// Ready reports whether the admin state has been loaded.
func (s *Server) Ready(context.Context) error {
	if !s.st.loaded.Load() {
		return errors.New("admin state not loaded yet from " + StateTopic)
	}
	return nil
}

// sweep deletes expired sessions and old replay marks once a minute.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.st.loaded.Load() {
			continue
		}
		for _, key := range s.st.expired(s.now(), s.cfg.SessionIdleTTL, keepReplayMarks) {
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := s.st.del(wctx, key)
			cancel()
			if err != nil {
				s.log.Warn("removing expired admin state failed; will retry", "error", err)
				break
			}
		}
	}
}

// Handler is the API's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve answers requests on ln until Shutdown, over TLS when configured.
func (s *Server) Serve(ln net.Listener) error {
	var err error
	if s.srv.TLSConfig != nil {
		err = s.srv.ServeTLS(ln, "", "")
	} else {
		err = s.srv.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// TLS reports whether the listener serves TLS.
func (s *Server) TLS() bool { return s.srv.TLSConfig != nil }

// Shutdown lets requests in flight finish, bounded by ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *Server) handler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		var p principal
		if rt.role != "" {
			var ok bool
			if p, ok = s.authenticate(r); !ok {
				writeError(w, errUnauthorized)
				return
			}
			if !p.role.allows(rt.role) {
				writeError(w, errForbidden)
				return
			}
			if err := checkCSRF(r, p); err != nil {
				writeError(w, err)
				return
			}
		}
		err := rt.serve(w, r, p)
		if rt.role != "" && rt.method != http.MethodGet {
			s.audit(r, rt, p, err)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				s.log.Error("admin request failed", "route", rt.pattern(), "error", err)
				ae = errorf(http.StatusInternalServerError, "internal", "internal error; see the admin-api log")
			}
			writeError(w, ae)
		}
	})
}

// audit logs one line, and keeps one entry for GET /api/v1/audit, for
// every state-changing request of an authenticated caller: who (user, and the session or API token), what
// (route and path), from where (client address) and the outcome (ok or
// the error code). Request bodies are never logged: they may hold
// passwords.
func (s *Server) audit(r *http.Request, rt route, p principal, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "internal"
		var ae *apiError
		if errors.As(err, &ae) {
			outcome = ae.Code
		}
	}
	via := "session"
	if p.token != "" {
		via = "token " + p.token
	}
	client := clientIPFrom(r.Context()).String()
	s.log.Info("admin audit", "actor", p.user, "via", via, "action", rt.pattern(), "path", r.URL.Path,
		"client", client, "outcome", outcome)
	s.audits.add(auditEntry{Time: s.now().UTC(), Actor: p.user, Via: via, Action: rt.pattern(), Path: r.URL.Path, Client: client, Outcome: outcome})
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
		s.m.requests.WithLabelValues(pattern, fmt.Sprintf("%dxx", rec.status/100)).Inc()
	})
}
