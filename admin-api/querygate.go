package adminapi

import (
	"net/http"
	"sync"
)

// Bounds of the query gate: admin requests that read ClickHouse at once,
// in all and per caller (user). Beyond them a request is refused at once
// rather than queued, so a burst of heavy reads cannot pile up goroutines,
// memory or ClickHouse work.
const (
	maxQueryRequests        = 4
	maxQueryRequestsPerUser = 2
)

// queryGate counts the ClickHouse-reading requests in flight.
type queryGate struct {
	mu     sync.Mutex
	total  int
	byUser map[string]int
}

func newQueryGate() *queryGate { return &queryGate{byUser: map[string]int{}} }

// enter admits a request of user, or answers why not: 429 when the user
// already has maxQueryRequestsPerUser in flight, 503 when the API has
// maxQueryRequests. A nil error must be followed by leave.
func (g *queryGate) enter(user string) *apiError {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byUser[user] >= maxQueryRequestsPerUser {
		e := errorf(http.StatusTooManyRequests, "too_many_queries", "you already have %d statistics or search requests running; wait for them to finish", maxQueryRequestsPerUser)
		e.retryAfter = 1
		return e
	}
	if g.total >= maxQueryRequests {
		e := errorf(http.StatusServiceUnavailable, "too_many_queries", "the API is running its maximum of %d statistics or search requests; retry shortly", maxQueryRequests)
		e.retryAfter = 1
		return e
	}
	g.total++
	g.byUser[user]++
	return nil
}

func (g *queryGate) leave(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.byUser[user]--; g.byUser[user] == 0 {
		delete(g.byUser, user)
	}
}

// gated runs serve within the query gate.
func (s *Server) gated(serve func(http.ResponseWriter, *http.Request, principal) error) func(http.ResponseWriter, *http.Request, principal) error {
	return func(w http.ResponseWriter, r *http.Request, p principal) error {
		if err := s.queries.enter(p.user); err != nil {
			limit := "all"
			if err.Status == http.StatusTooManyRequests {
				limit = "user"
			}
			s.m.queriesRefused.WithLabelValues(limit).Inc()
			return err
		}
		defer s.queries.leave(p.user)
		return serve(w, r, p)
	}
}
