package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/finalise"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// pagesWindow is where the entry/exit page test's sessions start: before
// every other test's data, so that its finaliser passes (which start at
// the earliest session data) finalise its days only.
var pagesWindow = time.Date(2023, 6, 10, 0, 0, 0, 0, time.UTC)

// pageEvent is one stored row of the entry/exit page test.
type pageEvent struct {
	source, id, session, typ, path, profile string
	at                                      time.Time
	bot                                     bool
}

// randomPageSessions makes n sessions of 1-6 events over three days from
// pagesWindow minus two hours: pageviews (page, screen) on six paths
// and clicks, gaps of up to 50 minutes (sessions cross midnight), bot
// events and bot-first sessions, visitors by profile or anonymous id.
func randomPageSessions(r *rand.Rand, n int) []pageEvent {
	var out []pageEvent
	for i := range n {
		source := []string{"pages-a", "pages-b"}[r.IntN(2)]
		session := fmt.Sprintf("s%d", r.IntN(50))
		profile := ""
		if r.IntN(3) == 0 {
			profile = fmt.Sprintf("pr%d", r.IntN(20))
		}
		at := pagesWindow.Add(-2*time.Hour + time.Duration(r.Int64N(int64(74*time.Hour))).Truncate(time.Millisecond))
		for j := range 1 + r.IntN(6) {
			if j > 0 {
				at = at.Add(time.Duration(r.Int64N(int64(50 * time.Minute))).Truncate(time.Millisecond))
			}
			typ := []string{"page", "page", "page", "click", "screen"}[r.IntN(5)]
			out = append(out, pageEvent{source: source, id: fmt.Sprintf("pe%d-%d", i, j), session: session, typ: typ,
				path: fmt.Sprintf("/p%d", r.IntN(6)), profile: profile, at: at, bot: r.IntN(10) == 0 || (j == 0 && r.IntN(7) == 0)})
		}
	}
	return out
}

func pageRows(es []pageEvent) []store.Row {
	out := make([]store.Row, len(es))
	for i, e := range es {
		out[i] = store.Row{
			Event: event.Event{SourceID: e.source, ID: e.id, Type: e.typ, Time: e.at, ReceivedAt: e.at.Add(time.Second),
				SessionID: e.session, ProfileID: e.profile, AnonymousID: "v-" + e.session},
			Fields: enrich.Fields{URLPath: e.path, Bot: e.bot},
		}
	}
	return out
}

// The entry and exit page breakdowns give the raw answer (sessions and
// visitors per page, total, order) when they read the finalised days of
// session_pages_daily: for whole finalised days, for ranges that mix them
// with raw hours and an unfinalised day, per source, with and without
// bots, on data with copies of events stored (one a copy at another time
// across midnight), after a pass, after late events and the pass that
// follows them, after the re-check rewrote every day, and after two
// finalisers ran at once, and after two passes drew the same version.
// Mutations tried: the reader without its newest-version condition and
// FINAL (a re-run counted twice: "after late events" failed), without
// FINAL alone ("after two passes wrote one version" failed), and the
// finaliser's pages by argMin(url_path, event_time) instead of the first
// pageview (failed at the first pass).
func TestSessionPagesRollupEqualsRaw(t *testing.T) {
	testkit.SkipShort(t)
	st, db := chStore(t)
	ctx := context.Background()
	// Old parts stay unmerged, so a reader that does not pick each day's
	// newest version sees every version the finaliser wrote.
	if err := db.Exec(ctx, "SYSTEM STOP MERGES trackstream.session_pages"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Exec(context.Background(), "SYSTEM START MERGES trackstream.session_pages") })
	r := rand.New(rand.NewPCG(21, 4))
	stored := randomPageSessions(r, 300)
	if err := write(ctx, st, "pages-1", pageRows(stored)); err != nil {
		t.Fatal(err)
	}
	// Exact copies stored anyway (as before write-time deduplication), and
	// a copy of an event just before midnight stored two minutes later,
	// on the next day.
	var copies []pageEvent
	crossed := false
	for i, e := range stored {
		if i%9 == 0 {
			copies = append(copies, e)
		}
		if d := e.at.Truncate(24 * time.Hour).Add(24 * time.Hour); !crossed && e.typ == "page" && d.Sub(e.at) < 40*time.Minute && d.Sub(e.at) > 0 {
			m := e
			m.at = d.Add(2 * time.Minute)
			copies = append(copies, m)
			crossed = true
		}
	}
	if !crossed {
		t.Fatal("no pageview before midnight to copy across it")
	}
	if err := st.InsertRows(ctx, "pages-copies", pageRows(copies)); err != nil {
		t.Fatal(err)
	}

	e := startWith(t, st, &clock{t: pagesWindow.Add(5 * 24 * time.Hour)})
	tok := e.login("admin", strong)
	d := 24 * time.Hour
	var paths []string
	for _, dim := range []string{"entry_page", "exit_page"} {
		for _, extra := range []string{"", "&source=pages-a", "&bots=true", "&source=pages-b&bots=true"} {
			for _, rg := range [][2]time.Time{
				{pagesWindow.Add(-d), pagesWindow.Add(3 * d)},                         // whole days, the last one open
				{pagesWindow, pagesWindow.Add(2 * d)},                                 // finalised days only
				{pagesWindow.Add(6 * time.Hour), pagesWindow.Add(2*d + 12*time.Hour)}, // raw hours around a finalised day
			} {
				paths = append(paths, "/api/v1/stats/breakdown?dimension="+dim+"&limit=100"+extra+
					"&from="+url.QueryEscape(rg[0].Format(time.RFC3339))+"&to="+url.QueryEscape(rg[1].Format(time.RFC3339)))
			}
		}
	}
	now := pagesWindow.Add(5 * d)
	answers := func() map[string]pagesAnswer {
		out := map[string]pagesAnswer{}
		for _, p := range paths {
			var a pagesAnswer
			e.get(tok, p, http.StatusOK, &a)
			out[p] = a
		}
		return out
	}
	for p, a := range answers() {
		if want := rawPagesAnswer(t, st, p, now); a.Rollup || !a.Scanned || a.TotalEvents == 0 || a.TotalEvents != want.TotalEvents || !reflect.DeepEqual(a.Rows, want.Rows) {
			t.Fatalf("before any pass %s: rollup %v, scanned %v, %d %+v; want the raw answer %d %+v", p, a.Rollup, a.Scanned, a.TotalEvents, a.Rows, want.TotalEvents, want.Rows)
		}
	}
	check := func(phase string) {
		t.Helper()
		for p, a := range answers() {
			want := rawPagesAnswer(t, st, p, now)
			if !a.Rollup || !a.VisitorsEstimated {
				t.Errorf("%s: %s: rollup %v, visitors_estimated %v; want the finalised days read", phase, p, a.Rollup, a.VisitorsEstimated)
			}
			if a.TotalEvents != want.TotalEvents || !reflect.DeepEqual(a.Rows, want.Rows) {
				t.Errorf("%s: %s:\ngot  %d %+v\nwant %d %+v", phase, p, a.TotalEvents, a.Rows, want.TotalEvents, want.Rows)
			}
		}
	}

	fin := newFinaliser(t, st)
	// Hours before 02:00 of the window's third day are closed: its first
	// two days and the day before are over, the third is open.
	if _, err := fin.Pass(ctx, pagesWindow.Add(2*d+4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("after a pass")

	// Late events: a pageview before some sessions' first event and one
	// after their last, on the finalised days (they mark them dirty).
	var late []pageEvent
	for i, ev := range stored {
		if i%11 == 0 && ev.at.Before(pagesWindow.Add(2*d-time.Hour)) && ev.at.After(pagesWindow.Add(-time.Hour)) {
			at := ev.at.Add(-time.Minute)
			if i%2 == 0 {
				at = ev.at.Add(55 * time.Minute)
			}
			if at.Truncate(d).Equal(ev.at.Truncate(d)) {
				late = append(late, pageEvent{source: ev.source, id: fmt.Sprintf("late%d", i), session: ev.session, typ: "page", path: "/late", at: at})
			}
		}
	}
	if err := write(ctx, st, "pages-late", pageRows(late)); err != nil {
		t.Fatal(err)
	}
	if _, err := fin.Pass(ctx, pagesWindow.Add(2*d+4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("after late events")

	if _, err := fin.Pass(ctx, pagesWindow.Add(4*d)); err != nil {
		t.Fatal(err)
	}
	check("after the re-check")

	other := newFinaliser(t, st)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, f := range []*finalise.Finaliser{fin, other} {
		wg.Go(func() { _, errs[i] = f.Pass(ctx, pagesWindow.Add(5*d)) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	check("after two concurrent passes")

	// Two passes that drew one version (the same millisecond and random
	// part; see internal/finalise, newVersion): each day's newest rows
	// stored twice under that version, in another part. Readers must
	// still count them once.
	if err := db.Exec(ctx, "INSERT INTO trackstream.session_pages SELECT * FROM trackstream.session_pages "+
		"WHERE (day, version) IN (SELECT day, max(version) FROM trackstream.session_pages WHERE source_id = '' GROUP BY day)"); err != nil {
		t.Fatal(err)
	}
	check("after two passes wrote one version")
}

// pagesAnswer is an entry/exit page breakdown as answered.
type pagesAnswer struct {
	TotalEvents       uint64 `json:"total_events"`
	Rollup            bool
	VisitorsEstimated bool `json:"visitors_estimated"`
	Scanned           bool
	Rows              []breakdownRow
}

// rawPagesAnswer is the answer to the breakdown request path from raw
// events alone (sessionPagesSQL without finalised days).
func rawPagesAnswer(t *testing.T, st *store.Embedded, path string, now time.Time) pagesAnswer {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &params{q: u.Query()}
	f, err := p.filter(now)
	if err == nil {
		err = p.eventFilters(&f)
	}
	if err != nil {
		t.Fatal(err)
	}
	q := sessionPagesSQL(newBuilder(), f, sessionPageDimensions[u.Query().Get("dimension")], 100, nil)
	js, err := st.QueryJSON(context.Background(), q.sql, q.params, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := pagesAnswer{Rows: []breakdownRow{}}
	for _, j := range js {
		var row breakdownRow
		if err := json.Unmarshal(j, &row); err != nil {
			t.Fatal(err)
		}
		a.Rows = append(a.Rows, row)
	}
	for i := range a.Rows {
		a.TotalEvents = a.Rows[i].Total
		a.Rows[i].Share = ratio(a.Rows[i].Events, a.TotalEvents)
		a.Rows[i].Total = 0
	}
	return a
}
