package adminapi

import (
	"net/http"
	"strings"
	"testing"
)

// Times outside what the tables hold are refused with 400 naming the
// range, not answered with a 500 (year 0) or with zeros (year 2300).
func TestStatsTimesOutsideTheStoredRange(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	for _, q := range []string{
		"from=0000-01-01T00:00:00Z&to=0000-01-20",
		"from=1900-01-01&to=1900-02-01",
		"from=2300-01-01&to=2300-01-02",
		"from=2026-03-01&to=2300-01-02",
	} {
		r := e.call("GET", "/api/v1/stats/summary?"+q, tok, "")
		if r.code != http.StatusBadRequest || r.body["error"] != "invalid_parameter" || !strings.Contains(r.raw, "1971-03-01") {
			t.Errorf("%s: %d %s, want 400 invalid_parameter naming the range", q, r.code, r.raw)
		}
	}
	if r := e.call("GET", "/api/v1/stats/summary?from=2026-03-02&to=2026-03-03", tok, ""); r.code != http.StatusOK {
		t.Errorf("a range inside: %d %s", r.code, r.raw)
	}
}
