package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
)

// Queries is what the API reads from ClickHouse. Both stores in
// internal/store implement it (Server and Embedded).
type Queries interface {
	// CountEvents is the exact number of distinct events of a source.
	CountEvents(ctx context.Context, sourceID string) (uint64, error)
	// QueryJSON runs one read-only SELECT (the store adds readonly = 1)
	// and returns its rows as JSON objects. params are the statement's
	// server-side parameters ({name:Type}) in text form; settings are
	// per-query ClickHouse settings (the limits of statsSettings).
	QueryJSON(ctx context.Context, sql string, params, settings map[string]string) ([]json.RawMessage, error)
}

// queryRoutes are the read-only ClickHouse endpoints; all need a viewer
// and pass the query gate.
// The statistics handlers are in stats.go, their SQL in stats_sql.go.
func (s *Server) queryRoutes() []route {
	const v1 = "/api/v1"
	return []route{
		{"GET", v1 + "/events/count", RoleViewer, s.gated(s.countEvents)},
		{"GET", v1 + "/events", RoleViewer, s.gated(s.searchEvents)},
		{"GET", v1 + "/stats/summary", RoleViewer, s.gated(s.statsSummary)},
		{"GET", v1 + "/stats/series", RoleViewer, s.gated(s.statsSeries)},
		{"GET", v1 + "/stats/breakdown", RoleViewer, s.gated(s.statsBreakdown)},
		{"GET", v1 + "/stats/funnel", RoleViewer, s.gated(s.statsFunnel)},
		{"GET", v1 + "/stats/realtime", RoleViewer, s.gated(s.statsRealtime)},
		{"GET", v1 + "/profiles/{id}/events", RoleViewer, s.gated(s.profileTimeline)},
		{"GET", v1 + "/sessions/{id}", RoleViewer, s.gated(s.sessionDetail)},
	}
}

// queryContext bounds one ClickHouse query.
func (s *Server) queryContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.queryTimeout)
}

func (s *Server) countEvents(w http.ResponseWriter, r *http.Request, _ principal) error {
	src := r.URL.Query().Get("source")
	if src == "" {
		return badRequest("missing_parameter", "source is required: /api/v1/events/count?source=<id>")
	}
	if len(src) > 128 {
		return badRequest("invalid_parameter", "source is at most 128 characters")
	}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	n, err := s.deps.Events.CountEvents(ctx, src)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"source": src, "count": n})
}
