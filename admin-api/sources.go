package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trackstream/trackstream/internal/sources"
)

// sourceView is a source as the API shows it: defaults spelled out, the
// write key's digest left out, and the write key itself only in the
// answer that created or rotated it.
type sourceView struct {
	sources.Source
	// WriteKeyHash shadows the embedded field so it is never shown.
	WriteKeyHash string `json:"write_key_hash,omitempty"`
	// AllowedOrigins and RateLimit shadow the embedded fields so they are
	// shown even when empty or zero.
	AllowedOrigins []string `json:"allowed_origins"`
	RateLimit      int      `json:"rate_limit"`
	// WriteKey is the secret of a server source, shown once.
	WriteKey string `json:"write_key,omitempty"`
}

func viewSource(src sources.Source, writeKey string) sourceView {
	src.Kind = src.EffectiveKind()
	src.IPPolicy = src.EffectiveIPPolicy()
	if src.UnknownEventTypes == "" {
		src.UnknownEventTypes = sources.UnknownAccept
	}
	origins := src.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return sourceView{Source: src, AllowedOrigins: origins, RateLimit: src.RateLimit, WriteKey: writeKey}
}

// sourceSettings are the fields a create or update may set; nil leaves a
// field as it is.
type sourceSettings struct {
	Name              *string                    `json:"name"`
	Enabled           *bool                      `json:"enabled"`
	AllowedOrigins    *[]string                  `json:"allowed_origins"`
	IPPolicy          *sources.IPPolicy          `json:"ip_policy"`
	UnknownEventTypes *sources.UnknownTypePolicy `json:"unknown_event_types"`
	RateLimit         *int                       `json:"rate_limit"`
}

type createSourceRequest struct {
	Kind sources.Kind `json:"kind"`
	sourceSettings
}

const (
	// readBackTimeout bounds the wait for this replica's own view of a
	// change it published.
	readBackTimeout = 3 * time.Second
	maxOrigins      = 100
	maxRateLimit    = 1_000_000
)

// applyTo checks the settings and copies them onto src.
func (in sourceSettings) applyTo(src *sources.Source) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" || utf8.RuneCountInString(name) > 200 {
			return badRequest("invalid_field", "name is required, at most 200 characters")
		}
		src.Name = name
	}
	if in.Enabled != nil {
		src.Enabled = *in.Enabled
	}
	if in.AllowedOrigins != nil {
		if len(*in.AllowedOrigins) > maxOrigins {
			return badRequest("invalid_field", "allowed_origins: at most %d origins", maxOrigins)
		}
		src.AllowedOrigins = append([]string(nil), *in.AllowedOrigins...)
	}
	if in.IPPolicy != nil {
		src.IPPolicy = *in.IPPolicy
	}
	if in.UnknownEventTypes != nil {
		src.UnknownEventTypes = *in.UnknownEventTypes
	}
	if in.RateLimit != nil {
		if *in.RateLimit < 0 || *in.RateLimit > maxRateLimit {
			return badRequest("invalid_field", "rate_limit must be 0 (unlimited) to %d requests per second", maxRateLimit)
		}
		src.RateLimit = *in.RateLimit
	}
	if err := src.Validate(); err != nil {
		return badRequest("invalid_field", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

func (s *Server) createSource(w http.ResponseWriter, r *http.Request, _ principal) error {
	var req createSourceRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return badRequest("invalid_field", "name is required, at most 200 characters")
	}
	now := s.now().UTC()
	src := sources.Source{ID: sources.NewID(), Enabled: true, Kind: req.Kind, CreatedAt: now, UpdatedAt: now}
	if src.Kind == "" {
		src.Kind = sources.KindBrowser
	}
	var key string
	if src.Kind == sources.KindServer {
		key, src.WriteKeyHash = sources.NewWriteKey()
	}
	if err := req.sourceSettings.applyTo(&src); err != nil {
		return err
	}
	if err := s.publishSource(r.Context(), src); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, viewSource(src, key))
}

func (s *Server) listSources(w http.ResponseWriter, _ *http.Request, _ principal) error {
	all := s.deps.Sources.List()
	out := make([]sourceView, len(all))
	for i, src := range all {
		out[i] = viewSource(src, "")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sources": out})
}

func (s *Server) source(r *http.Request) (sources.Source, error) {
	src, ok := s.deps.Sources.Get(r.PathValue("id"))
	if !ok {
		return src, errorf(http.StatusNotFound, "not_found", "no source %q", r.PathValue("id"))
	}
	return src, nil
}

func (s *Server) getSource(w http.ResponseWriter, r *http.Request, _ principal) error {
	src, err := s.source(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewSource(src, ""))
}

func (s *Server) updateSource(w http.ResponseWriter, r *http.Request, _ principal) error {
	src, err := s.source(r)
	if err != nil {
		return err
	}
	var req sourceSettings
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := req.applyTo(&src); err != nil {
		return err
	}
	src.UpdatedAt = s.now().UTC()
	if err := s.publishSource(r.Context(), src); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewSource(src, ""))
}

// rotateSourceKey gives a server source a new write key; the old one stops
// working on every ingest replica within seconds.
func (s *Server) rotateSourceKey(w http.ResponseWriter, r *http.Request, _ principal) error {
	src, err := s.source(r)
	if err != nil {
		return err
	}
	if src.EffectiveKind() != sources.KindServer {
		return errorf(http.StatusConflict, "not_a_server_source", "source %s is a browser source: its public id is its only key; create a new source to replace it", src.ID)
	}
	var key string
	key, src.WriteKeyHash = sources.NewWriteKey()
	src.UpdatedAt = s.now().UTC()
	if err := s.publishSource(r.Context(), src); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewSource(src, key))
}

func (s *Server) disableSource(w http.ResponseWriter, r *http.Request, _ principal) error {
	src, err := s.source(r)
	if err != nil {
		return err
	}
	src.Enabled = false
	src.UpdatedAt = s.now().UTC()
	if err := s.publishSource(r.Context(), src); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewSource(src, ""))
}

// publishSource writes src to the sources topic, then waits (briefly) until
// this replica's registry shows it, so a following read sees the change.
func (s *Server) publishSource(ctx context.Context, src sources.Source) error {
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := sources.Publish(wctx, s.deps.Kafka, src); err != nil {
		s.log.Error("publishing source failed", "source", src.ID, "error", err)
		return errKafka
	}
	ctx, cancelRead := context.WithTimeout(ctx, readBackTimeout)
	defer cancelRead()
	for {
		if got, ok := s.deps.Sources.Get(src.ID); ok && sameSource(got, src) {
			return nil
		}
		select {
		case <-ctx.Done():
			// Kafka has it; ingest replicas will apply it. Only this
			// replica's view lags.
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				s.log.Warn("source published but not yet read back", "source", src.ID)
			}
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sameSource reports whether a and b are the same record as published.
func sameSource(a, b sources.Source) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
