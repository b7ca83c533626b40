package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trackstream/trackstream/internal/finalise"
	"github.com/trackstream/trackstream/internal/testkit"
)

// TestSessionsBeforeTheFinalisedRun writes sessions over three days and
// lets a finaliser with a two-day events TTL pass at the start of the
// fourth: it leaves the first two days alone (their events may have
// expired) and finalises the third, so hours never finalised lie before
// finalised ones. The session figures of ranges over the three days, from
// the finalised rows and the rollups (the hours before the finalised run
// read as never finalised), must equal those from event rows (the events
// are all still there), as a summary and a series by hour and day, over
// all types and one; and the visitors of the first day must be labelled
// an estimate, those of the third exact. Mutations tried, each failed
// it: finalisedFor ignoring the run's first hour (the first two days read
// from sessions_hourly as no sessions), the finaliser's TTL guard removed
// (the first day's visitors labelled exact).
func TestSessionsBeforeTheFinalisedRun(t *testing.T) {
	testkit.SkipShort(t)
	st, _ := chStore(t)
	ctx := context.Background()
	d0 := time.Date(2031, 9, 1, 0, 0, 0, 0, time.UTC)
	t.Cleanup(func() {
		for _, q := range []string{
			"DELETE FROM " + sessionsHourly + " WHERE hour >= {d:DateTime('UTC')}",
			"DELETE FROM " + sessionsByType + " WHERE hour >= {d:DateTime('UTC')}",
			"DELETE FROM " + visitorsExact + " WHERE start >= {d:DateTime('UTC')}",
			"DELETE FROM " + sessionPagesDaily + " WHERE day >= toDate({d:DateTime('UTC')})",
		} {
			if err := st.Write(ctx, q, map[string]string{"d": d0.Format(time.DateTime)}); err != nil {
				t.Error(err)
			}
		}
	})
	r := rand.New(rand.NewPCG(31, 9))
	var rows []sessEvent
	n := 0
	for day := range 3 {
		for s := range 40 {
			at := d0.Add(time.Duration(day)*24*time.Hour + time.Duration(r.Int64N(int64(20*time.Hour))).Truncate(time.Millisecond))
			for i := range 1 + r.IntN(3) {
				n++
				rows = append(rows, sessEvent{source: "ttl-gap", id: fmt.Sprintf("tg%d", n), session: fmt.Sprintf("g%d-%d", day, s), typ: sessTypes(n),
					at: at.Add(time.Duration(i) * 7 * time.Minute), bot: r.IntN(9) == 0})
			}
		}
	}
	if err := write(ctx, st, "ttl-gap", storeRows(rows, time.Second)); err != nil {
		t.Fatal(err)
	}
	now := d0.Add(3*24*time.Hour + 3*time.Hour)
	fin, err := finalise.New(st, finalise.Settings{Interval: time.Minute, Lateness: 2 * time.Hour, TTL: 48 * time.Hour}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	res, err := fin.Pass(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	d2 := d0.Add(48 * time.Hour)
	if res.Expired.Days == 0 || !res.Expired.Last.Equal(d0.Add(24*time.Hour)) || res.Days != 2 {
		t.Fatalf("the finaliser's pass: %+v; want the first two days left alone, the third and the fourth's first hour finalised", res)
	}

	e := startWith(t, st, &clock{t: now})
	for _, rg := range [][2]time.Time{{d0, d0.Add(72 * time.Hour)}, {d0.Add(30 * time.Hour), d2.Add(5 * time.Hour)}, {d0.Add(90 * time.Minute), d2.Add(20*time.Hour + 30*time.Minute)}} {
		for _, types := range [][]string{nil, {"page"}} {
			f := filter{from: rg[0], to: rg[1], source: "ttl-gap", types: types}
			fin, err := e.srv.finalisedFor(httptest.NewRequest(http.MethodGet, "/", nil), f)
			if err != nil {
				t.Fatal(err)
			}
			if fin.until.IsZero() {
				t.Fatalf("range %s..%s: no finalised hours", rg[0], rg[1])
			}
			name := fmt.Sprintf("%s..%s %v (finalised %+v)", rg[0], rg[1], types, fin)
			if got, want := sessionsOf(t, sessionStatsFrom(f, fin, true)), sessionsOf(t, sessionStatsFrom(f, fin, false)); got != want || want == "[]" {
				t.Errorf("summary sessions %s: finalised and rollups %s, raw %s", name, got, want)
			}
			for _, iv := range []interval{hour, day} {
				if got, want := sessionsOf(t, seriesSessionsFrom(f, iv, fin, true)), sessionsOf(t, seriesSessionsFrom(f, iv, fin, false)); got != want {
					t.Errorf("series sessions by %s %s: finalised and rollups %s, raw %s", iv, name, got, want)
				}
			}
		}
	}

	for d, exact := range map[time.Time]bool{d0: false, d2: true} {
		q := summaryCountsSQL(filter{from: d, to: d.Add(24 * time.Hour), source: "ttl-gap"})
		out, err := st.QueryJSON(ctx, q.sql, q.params, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range out {
			var row struct {
				Period        string `json:"period"`
				Visitors      uint64 `json:"visitors"`
				VisitorsExact bool   `json:"visitors_exact"`
			}
			if err := json.Unmarshal(raw, &row); err != nil {
				t.Fatal(err)
			}
			if row.Period == "current" && (row.VisitorsExact != exact || row.Visitors == 0) {
				t.Errorf("the visitors of %s: %s, want exact %v", d.Format(time.DateOnly), raw, exact)
			}
		}
	}
}
