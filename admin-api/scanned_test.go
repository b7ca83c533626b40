package adminapi

import (
	"net/http"
	"testing"
)

// Answers that may read raw events say whether they did: scanned is true
// exactly for the funnel, property breakdowns, entry/exit pages, event
// filters and ranges the rollups cannot answer, and false when a rollup
// answered. Mutation tried: query.scans looking for the session rollup's
// table instead of events (every answer scanned false) made it fail.
func TestAnswersSayWhenTheyScanned(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	for path, want := range map[string]bool{
		"/api/v1/stats/funnel?step=page&step=signup&" + current:              true,
		"/api/v1/stats/breakdown?property=plan&" + current:                   true,
		"/api/v1/stats/breakdown?dimension=entry_page&" + current:            true,
		"/api/v1/stats/breakdown?dimension=country&prop.plan=pro&" + current: true,
		"/api/v1/stats/breakdown?dimension=page&" + unaligned:                true,
		"/api/v1/stats/breakdown?dimension=page&" + current:                  false,
		"/api/v1/stats/breakdown?dimension=type&" + current:                  false,
		// The clock is months before ClickHouse's: beyond the realtime
		// rollup's horizon.
		"/api/v1/stats/realtime?minutes=5": true,
	} {
		var got struct {
			Scanned *bool
			Rollup  *bool
		}
		e.get(tok, path, http.StatusOK, &got)
		if got.Scanned == nil {
			t.Errorf("%s: no scanned field", path)
		} else if *got.Scanned != want {
			t.Errorf("%s: scanned %v, want %v", path, *got.Scanned, want)
		}
		if got.Rollup != nil && *got.Rollup == want {
			t.Errorf("%s: rollup %v and scanned %v", path, *got.Rollup, want)
		}
	}
}
