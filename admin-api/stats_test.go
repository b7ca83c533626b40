package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// chDB may open one data path per process, so the package's tests share
// one embedded store (and a second connection pool on the same path for
// seeding, since the store's queries run read-only). It opens on first use
// and TestMain closes it.
var shared struct {
	once sync.Once
	dir  string
	st   *store.Embedded
	db   *chdb.DB
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.st != nil {
		_ = shared.db.Close()
		_ = shared.st.Close()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// chStore returns the shared embedded store and a writable connection to
// it. It fails (never skips) when libchdb is missing.
func chStore(t *testing.T) (*store.Embedded, *chdb.DB) {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "trackstream-adminapi-stats-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		lib, err := testkit.FindCHDBLib()
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if shared.st, shared.err = store.OpenEmbedded(ctx, lib, dir, quiet, store.Options{}); shared.err != nil {
			return
		}
		shared.db, shared.err = chdb.Open(lib, filepath.Join(dir, "clickhouse"), 1)
	})
	if shared.err != nil {
		t.Fatalf("open embedded clickhouse: %v", shared.err)
	}
	return shared.st, shared.db
}

// t0 is the start of the seeded day (a Monday); the previous day is the
// comparison period.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// seedEvent is one row of the seeded dataset.
type seedEvent struct {
	source, id, typ   string
	at                time.Duration // after t0
	session, profile  string
	anon, path, cc    string
	props             string
	bot               bool
	referrerHost, utm string
}

// dataset is the seeded dataset; its known answers are worked out in the
// tests below. Sessions: A (profile pA: home, pricing, signup, purchase
// over 10 minutes), B (anonymous vB: home, pricing, 30 s), C (vC: one
// pageview, a bounce), D (pD: blog, signup, 2 minutes), E (source s2, vE:
// one pageview), X (a bot), P (the previous day: two pageviews 60 s apart).
var dataset = []seedEvent{
	{source: "s1", id: "a1", typ: "page", at: time.Hour, session: "A", profile: "pA", path: "/home", cc: "DE", props: `{"plan":"pro"}`, referrerHost: "www.google.com", utm: "newsletter"},
	{source: "s1", id: "a2", typ: "page", at: time.Hour + time.Minute, session: "A", profile: "pA", path: "/pricing", cc: "DE"},
	{source: "s1", id: "a3", typ: "signup", at: time.Hour + 5*time.Minute, session: "A", profile: "pA", cc: "DE", props: `{"plan":"pro","n":3}`},
	{source: "s1", id: "a4", typ: "purchase", at: time.Hour + 10*time.Minute, session: "A", profile: "pA", cc: "DE"},
	{source: "s1", id: "b1", typ: "page", at: 2 * time.Hour, session: "B", anon: "vB", path: "/home", cc: "FR", props: `{"plan":"free","cart":{"items":2}}`},
	{source: "s1", id: "b2", typ: "page", at: 2*time.Hour + 30*time.Second, session: "B", anon: "vB", path: "/pricing", cc: "FR"},
	{source: "s1", id: "c1", typ: "page", at: 3 * time.Hour, session: "C", anon: "vC", path: "/home", cc: "DE", props: `{"plan":"pro"}`},
	{source: "s1", id: "d1", typ: "page-view", at: 5 * time.Hour, session: "D", profile: "pD", path: "/blog", cc: "US", props: `{"plan":"pro","cart":{"items":2,"coupon":true}}`},
	{source: "s1", id: "d2", typ: "signup", at: 5*time.Hour + 2*time.Minute, session: "D", profile: "pD", cc: "US"},
	{source: "s2", id: "e1", typ: "page", at: 6 * time.Hour, session: "E", anon: "vE", path: "/home"},
	{source: "s1", id: "x1", typ: "page", at: 4 * time.Hour, session: "X", anon: "bot", path: "/home", bot: true},
	{source: "s1", id: "p1", typ: "page", at: -12 * time.Hour, session: "P", anon: "vP", path: "/home"},
	{source: "s1", id: "p2", typ: "page", at: -12*time.Hour + time.Minute, session: "P", anon: "vP", path: "/pricing"},
	// A source id and event values full of SQL: stored, and found as
	// plain values.
	{source: "s3' OR 1=1 --", id: "h1'; DROP TABLE trackstream.events; --", typ: "page", at: 7 * time.Hour, session: "H", anon: "vH", path: "/x' UNION SELECT 1 --"},
}

// duplicates are resent events (same source and id, later receive time):
// they must count once everywhere.
var duplicates = []string{"a1", "c1", "d2", "p2"}

// rows are events as the processor hands them to the store.
func rows(events []seedEvent, receivedShift time.Duration) []store.Row {
	out := make([]store.Row, len(events))
	for i, e := range events {
		at := t0.Add(e.at)
		props := e.props
		if props == "" {
			props = "{}"
		}
		out[i] = store.Row{
			Event: event.Event{SourceID: e.source, ID: e.id, Type: e.typ, Time: at, ReceivedAt: at.Add(time.Second + receivedShift),
				SessionID: e.session, ProfileID: e.profile, AnonymousID: e.anon, Properties: json.RawMessage(props)},
			Fields: enrich.Fields{URLPath: e.path, ReferrerHost: e.referrerHost, UTMSource: e.utm, Country: e.cc, Bot: e.bot},
		}
	}
	return out
}

// write stores rows the way the processor does: copies (of an earlier
// row, or of a stored event) dropped, the rest inserted under token.
func write(ctx context.Context, st *store.Embedded, token string, rs []store.Row) error {
	dup, err := st.Copies(ctx, rs)
	if err != nil {
		return err
	}
	var keep []store.Row
	for i, r := range rs {
		if !dup[i] {
			keep = append(keep, r)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return st.InsertRows(ctx, token, keep)
}

var seedOnce sync.Once

// seeded returns an admin API over the shared store holding the dataset
// (written once per process the way the processor writes, duplicates in
// separate batches), its clock at t0 + 5h03m.
func seeded(t *testing.T) *env {
	t.Helper()
	st, _ := chStore(t)
	var err error
	seedOnce.Do(func() {
		ctx := context.Background()
		if err = write(ctx, st, "seed-dataset", rows(dataset, 0)); err != nil {
			return
		}
		var dups []seedEvent
		for _, e := range dataset {
			for _, d := range duplicates {
				if e.id == d {
					dups = append(dups, e)
				}
			}
		}
		// A resent copy of each duplicate, received later, in its own
		// batch (so insert deduplication does not drop it), and b1 again.
		if err = write(ctx, st, "seed-resent", rows(dups, time.Minute)); err != nil {
			return
		}
		err = write(ctx, st, "seed-b1", rows(dataset[4:5], 2*time.Minute))
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return startWith(t, st, &clock{t: t0.Add(5*time.Hour + 3*time.Minute)})
}

// startWith runs an admin API replica whose Events are q. Its query
// timeout is generous: these tests check answers, not speed, and a loaded
// machine must not turn a slow answer into a failure.
func startWith(t *testing.T, q Queries, clk *clock) *env {
	t.Helper()
	return startWithTimeout(t, q, clk, time.Minute)
}

func startWithTimeout(t *testing.T, q Queries, clk *clock, queryTimeout time.Duration) *env {
	t.Helper()
	return startReplica(t, newCluster(t), testConfig(), clk, queryTimeout, q)
}

// get calls path as an admin and decodes the answer into v, failing
// unless the status is want.
func (e *env) get(token, path string, want int, v any) {
	e.t.Helper()
	r := e.call("GET", path, token, "")
	if r.code != want {
		e.t.Fatalf("GET %s: %d %s, want %d", path, r.code, r.raw, want)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.raw), v); err != nil {
			e.t.Fatalf("GET %s: decode %s: %v", path, r.raw, err)
		}
	}
}

func rangeQS(from, to time.Duration) string {
	return "from=" + url.QueryEscape(t0.Add(from).Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(t0.Add(to).Format(time.RFC3339Nano))
}

// current is the seeded day; unaligned is the same data through a range
// that is not on whole hours: the rollups answer its whole hours, event
// rows its last, partial, hour.
var (
	current   = rangeQS(0, 24*time.Hour)
	unaligned = rangeQS(0, 24*time.Hour-time.Second)
)

func TestSummaryKnownAnswers(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	type metricsJSON struct {
		Events, Visitors, Sessions, Pageviews uint64
		BounceRate                            float64 `json:"bounce_rate"`
		AvgSessionDuration                    float64 `json:"avg_session_duration"`
	}
	type answer struct {
		Metrics  metricsJSON
		Previous struct{ Metrics metricsJSON }
		Rollup   bool
	}
	cases := []struct {
		name, query   string
		rollup        bool
		current, prev metricsJSON
	}{
		{"all sources, rollup", current, true,
			metricsJSON{Events: 11, Visitors: 6, Sessions: 6, Pageviews: 8, BounceRate: 0.5, AvgSessionDuration: 125},
			metricsJSON{Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, BounceRate: 0, AvgSessionDuration: 60}},
		{"all sources, rollups and a partial hour", unaligned, true,
			metricsJSON{Events: 11, Visitors: 6, Sessions: 6, Pageviews: 8, BounceRate: 0.5, AvgSessionDuration: 125},
			metricsJSON{Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, BounceRate: 0, AvgSessionDuration: 60}},
		{"source s1", current + "&source=s1", true,
			metricsJSON{Events: 9, Visitors: 4, Sessions: 4, Pageviews: 6, BounceRate: 0.25, AvgSessionDuration: 187.5},
			metricsJSON{Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, BounceRate: 0, AvgSessionDuration: 60}},
		{"source s1 with bots, rollups and a partial hour", unaligned + "&source=s1&bots=true", true,
			metricsJSON{Events: 10, Visitors: 5, Sessions: 5, Pageviews: 7, BounceRate: 0.4, AvgSessionDuration: 150},
			metricsJSON{Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, BounceRate: 0, AvgSessionDuration: 60}},
		{"unknown source", current + "&source=nope", true, metricsJSON{}, metricsJSON{}},
		// Sessions A (4 events, 600 s) and C (a bounce) are in DE.
		{"dimension filter", current + "&filter.country=DE", false,
			metricsJSON{Events: 5, Visitors: 2, Sessions: 2, Pageviews: 3, BounceRate: 0.5, AvgSessionDuration: 300},
			metricsJSON{}},
		{"property filter", current + "&prop.plan=free", false,
			metricsJSON{Events: 1, Visitors: 1, Sessions: 1, Pageviews: 1, BounceRate: 1, AvgSessionDuration: 0},
			metricsJSON{}},
		// filter.type is the type filter: the rollup still answers.
		{"type as a dimension filter", current + "&filter.type=signup", true,
			metricsJSON{Events: 2, Visitors: 2, Sessions: 2, Pageviews: 0, BounceRate: 1, AvgSessionDuration: 0},
			metricsJSON{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got answer
			e.get(tok, "/api/v1/stats/summary?"+c.query, http.StatusOK, &got)
			if got.Metrics != c.current || got.Previous.Metrics != c.prev || got.Rollup != c.rollup {
				t.Errorf("got current %+v previous %+v rollup %v\nwant current %+v previous %+v rollup %v",
					got.Metrics, got.Previous.Metrics, got.Rollup, c.current, c.prev, c.rollup)
			}
		})
	}
}

// The dataset's current day, all sources, no bots: sessions A (4 events,
// 600 s), B (2, 30 s), C (1, bounce), D (2, 120 s), E (1, bounce) and H
// (the hostile source: 1, bounce): 11 events, 6 visitors, 8 pageviews,
// bounce 3/6, average duration 750/6 = 125 s.

func TestSeriesKnownAnswers(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	type point struct {
		T                                     string
		Events, Visitors, Sessions, Pageviews uint64
		BounceRate                            float64 `json:"bounce_rate"`
		AvgSessionDuration                    float64 `json:"avg_session_duration"`
	}
	type answer struct {
		Points []point
		Rollup bool
	}
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	cases := []struct {
		name, query string
		buckets     int
		rollup      bool
		want        map[string]point // non-empty buckets; the rest must be zero
	}{
		{"hourly via rollup", current + "&interval=hour&source=s1", 24, true, map[string]point{
			at(time.Hour):     {Events: 4, Visitors: 1, Sessions: 1, Pageviews: 2, AvgSessionDuration: 600},
			at(2 * time.Hour): {Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, AvgSessionDuration: 30},
			at(3 * time.Hour): {Events: 1, Visitors: 1, Sessions: 1, Pageviews: 1, BounceRate: 1},
			at(5 * time.Hour): {Events: 2, Visitors: 1, Sessions: 1, Pageviews: 1, AvgSessionDuration: 120},
		}},
		{"hourly, rollups and a partial hour", unaligned + "&interval=hour&source=s1", 24, true, map[string]point{
			at(time.Hour):     {Events: 4, Visitors: 1, Sessions: 1, Pageviews: 2, AvgSessionDuration: 600},
			at(2 * time.Hour): {Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, AvgSessionDuration: 30},
			at(3 * time.Hour): {Events: 1, Visitors: 1, Sessions: 1, Pageviews: 1, BounceRate: 1},
			at(5 * time.Hour): {Events: 2, Visitors: 1, Sessions: 1, Pageviews: 1, AvgSessionDuration: 120},
		}},
		{"one event type", current + "&interval=hour&type=signup", 24, true, map[string]point{
			at(time.Hour):     {Events: 1, Visitors: 1, Sessions: 1, BounceRate: 1},
			at(5 * time.Hour): {Events: 1, Visitors: 1, Sessions: 1, BounceRate: 1},
		}},
		{"by minute", rangeQS(time.Hour, 2*time.Hour) + "&interval=minute", 60, true, map[string]point{
			at(time.Hour):                  {Events: 1, Visitors: 1, Sessions: 1, Pageviews: 1, AvgSessionDuration: 600},
			at(time.Hour + time.Minute):    {Events: 1, Visitors: 1, Pageviews: 1},
			at(time.Hour + 5*time.Minute):  {Events: 1, Visitors: 1},
			at(time.Hour + 10*time.Minute): {Events: 1, Visitors: 1},
		}},
		{"by day", rangeQS(-24*time.Hour, 24*time.Hour) + "&interval=day", 2, true, map[string]point{
			at(-24 * time.Hour): {Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, AvgSessionDuration: 60},
			at(0):               {Events: 11, Visitors: 6, Sessions: 6, Pageviews: 8, BounceRate: 0.5, AvgSessionDuration: 125},
		}},
		{"by week", rangeQS(-24*time.Hour, 24*time.Hour) + "&interval=week", 2, true, map[string]point{
			at(-7 * 24 * time.Hour): {Events: 2, Visitors: 1, Sessions: 1, Pageviews: 2, AvgSessionDuration: 60},
			at(0):                   {Events: 11, Visitors: 6, Sessions: 6, Pageviews: 8, BounceRate: 0.5, AvgSessionDuration: 125},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got answer
			e.get(tok, "/api/v1/stats/series?"+c.query, http.StatusOK, &got)
			if len(got.Points) != c.buckets || got.Rollup != c.rollup {
				t.Fatalf("%d points (rollup %v), want %d (rollup %v)", len(got.Points), got.Rollup, c.buckets, c.rollup)
			}
			seen := 0
			for _, p := range got.Points {
				want, ok := c.want[p.T]
				if ok {
					seen++
				}
				want.T = p.T
				if p != want {
					t.Errorf("bucket %s: got %+v, want %+v", p.T, p, want)
				}
			}
			if seen != len(c.want) {
				t.Errorf("only %d of the %d expected buckets present", seen, len(c.want))
			}
		})
	}
}

func TestBreakdownKnownAnswers(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	type row struct {
		Value            string
		Events, Visitors uint64
		Share            float64
	}
	type answer struct {
		TotalEvents uint64 `json:"total_events"`
		Rows        []row
		Rollup      bool
	}
	cases := []struct {
		name, query string
		total       uint64
		rollup      bool
		want        []row
	}{
		{"type via rollup", current + "&source=s1&dimension=type", 9, true,
			[]row{{"page", 5, 3, 0.5556}, {"signup", 2, 2, 0.2222}, {"page-view", 1, 1, 0.1111}, {"purchase", 1, 1, 0.1111}}},
		{"type, rollups and a partial hour", unaligned + "&source=s1&dimension=type", 9, true,
			[]row{{"page", 5, 3, 0.5556}, {"signup", 2, 2, 0.2222}, {"page-view", 1, 1, 0.1111}, {"purchase", 1, 1, 0.1111}}},
		{"page, top 3", current + "&source=s1&dimension=page&limit=3", 9, true,
			[]row{{"", 3, 2, 0.3333}, {"/home", 3, 3, 0.3333}, {"/pricing", 2, 2, 0.2222}}},
		{"page raw, top 3", unaligned + "&source=s1&dimension=page&limit=3", 9, false,
			[]row{{"", 3, 2, 0.3333}, {"/home", 3, 3, 0.3333}, {"/pricing", 2, 2, 0.2222}}},
		{"country", current + "&source=s1&dimension=country", 9, true,
			[]row{{"DE", 5, 2, 0.5556}, {"FR", 2, 1, 0.2222}, {"US", 2, 1, 0.2222}}},
		{"referrer host", current + "&source=s1&dimension=referrer_host", 9, true,
			[]row{{"", 8, 4, 0.8889}, {"www.google.com", 1, 1, 0.1111}}},
		{"utm source", current + "&source=s1&dimension=utm_source&limit=1", 9, true,
			[]row{{"", 8, 4, 0.8889}}},
		{"property", current + "&source=s1&dimension=property&property=plan", 9, false,
			[]row{{"", 4, 3, 0.4444}, {"pro", 4, 3, 0.4444}, {"free", 1, 1, 0.1111}}},
		{"property without dimension, with a type filter", current + "&property=n&type=signup", 2, false,
			[]row{{"", 1, 1, 0.5}, {"3", 1, 1, 0.5}}},
		{"filtered by a property", current + "&dimension=page&prop.plan=pro", 4, false,
			[]row{{"/home", 2, 2, 0.5}, {"", 1, 1, 0.25}, {"/blog", 1, 1, 0.25}}},
		{"filtered by a dimension", current + "&source=s1&dimension=page&filter.country=FR", 2, false,
			[]row{{"/home", 1, 1, 0.5}, {"/pricing", 1, 1, 0.5}}},
		// Sessions A (/home, /pricing), B (/home, /pricing), C (/home) and
		// D (/blog); "events" counts sessions here.
		{"entry pages", current + "&source=s1&dimension=entry_page", 4, false,
			[]row{{"/home", 3, 3, 0.75}, {"/blog", 1, 1, 0.25}}},
		{"exit pages", current + "&source=s1&dimension=exit_page", 4, false,
			[]row{{"/pricing", 2, 2, 0.5}, {"/blog", 1, 1, 0.25}, {"/home", 1, 1, 0.25}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got answer
			e.get(tok, "/api/v1/stats/breakdown?"+c.query, http.StatusOK, &got)
			if got.TotalEvents != c.total || got.Rollup != c.rollup || !reflect.DeepEqual(got.Rows, c.want) {
				t.Errorf("got total %d rollup %v rows %+v\nwant total %d rollup %v rows %+v", got.TotalEvents, got.Rollup, got.Rows, c.total, c.rollup, c.want)
			}
		})
	}
}

func TestFunnelKnownAnswers(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	type step struct {
		Step           string
		Visitors       uint64
		Conversion     float64
		StepConversion float64 `json:"step_conversion"`
	}
	var got struct{ Steps []step }
	// pA: home, pricing, signup; vB: home, pricing; vC and vE: home; pD
	// never saw /home.
	e.get(tok, "/api/v1/stats/funnel?"+current+"&step=page@/home&step=page@/pricing&step=signup&window=1h", http.StatusOK, &got)
	want := []step{{"page@/home", 4, 1, 1}, {"page@/pricing", 2, 0.5, 0.5}, {"signup", 1, 0.25, 0.5}}
	if !reflect.DeepEqual(got.Steps, want) {
		t.Errorf("got %+v\nwant %+v", got.Steps, want)
	}
	// A window shorter than pA's 5 minutes from home to signup stops pA
	// at pricing (1 minute after home).
	e.get(tok, "/api/v1/stats/funnel?"+current+"&step=page@/home&step=page@/pricing&step=signup&window=2m", http.StatusOK, &got)
	want = []step{{"page@/home", 4, 1, 1}, {"page@/pricing", 2, 0.5, 0.5}, {"signup", 0, 0, 0}}
	if !reflect.DeepEqual(got.Steps, want) {
		t.Errorf("2m window: got %+v\nwant %+v", got.Steps, want)
	}
}

func TestSearchPaginatesNewestFirstOnce(t *testing.T) {
	testkit.SkipShort(t)
	e := seeded(t)
	tok := e.login("admin", strong)
	type page struct {
		Events []struct {
			SourceID   string `json:"source_id"`
			EventID    string `json:"event_id"`
			Time       string
			Properties map[string]any
		}
		NextCursor string `json:"next_cursor"`
	}
	all := func(query string, limit int) []string {
		t.Helper()
		var ids []string
		cur := ""
		for range 20 {
			var p page
			q := query + "&limit=" + fmt.Sprint(limit)
			if cur != "" {
				q += "&cursor=" + url.QueryEscape(cur)
			}
			e.get(tok, "/api/v1/events?"+q, http.StatusOK, &p)
			if len(p.Events) > limit {
				t.Fatalf("page of %d events, limit %d", len(p.Events), limit)
			}
			for _, ev := range p.Events {
				ids = append(ids, ev.EventID)
			}
			if p.NextCursor == "" {
				return ids
			}
			cur = p.NextCursor
		}
		t.Fatal("more than 20 pages")
		return nil
	}
	newestFirst := []string{"e1", "d2", "d1", "c1", "b2", "b1", "a4", "a3", "a2", "a1"}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"everything of the day but the hostile source", current + "&source=s1", []string{"d2", "d1", "c1", "b2", "b1", "a4", "a3", "a2", "a1"}},
		{"type", current + "&type=signup", []string{"d2", "a3"}},
		{"profile", current + "&profile=pA", []string{"a4", "a3", "a2", "a1"}},
		{"session", current + "&session=B", []string{"b2", "b1"}},
		{"property", current + "&prop.plan=pro", []string{"d1", "c1", "a3", "a1"}},
		{"numeric property as text", current + "&prop.n=3", []string{"a3"}},
		{"two properties", current + "&prop.plan=pro&prop.n=3", []string{"a3"}},
		{"nested property", current + "&prop.cart.items=2", []string{"d1", "b1"}},
		{"boolean property as text", current + "&prop.cart.coupon=true", []string{"d1"}},
		{"bots included", rangeQS(3*time.Hour, 5*time.Hour) + "&bots=true", []string{"x1", "c1"}},
		{"time range", rangeQS(2*time.Hour, 3*time.Hour), []string{"b2", "b1"}},
		{"hostile source as a plain value", current + "&source=" + url.QueryEscape("s3' OR 1=1 --"), []string{"h1'; DROP TABLE trackstream.events; --"}},
		// Ranges longer than a day and a week: pages come from the hour,
		// day and week windows, then the whole range (searchWindows), and
		// the previous day's resent p2 still comes once.
		{"two days", rangeQS(-24*time.Hour, 24*time.Hour) + "&source=s1", []string{"d2", "d1", "c1", "b2", "b1", "a4", "a3", "a2", "a1", "p2", "p1"}},
		{"nine days", rangeQS(-9*24*time.Hour, 24*time.Hour) + "&source=s1&type=page", []string{"c1", "b2", "b1", "a2", "a1", "p2", "p1"}},
	}
	for _, tc := range tests {
		for _, limit := range []int{1, 3, 50} {
			if got := all(tc.query, limit); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s, pages of %d: got %q, want %q", tc.name, limit, got, tc.want)
			}
		}
	}
	withE1 := append([]string{"h1'; DROP TABLE trackstream.events; --"}, newestFirst...)
	for _, limit := range []int{1, 4, 1000} {
		if got := all(current, limit); !reflect.DeepEqual(got, withE1) {
			t.Errorf("all sources, pages of %d: got %q, want %q", limit, got, withE1)
		}
	}
	// Page size is capped.
	r := e.call("GET", "/api/v1/events?limit=1001", tok, "")
	if r.code != http.StatusBadRequest {
		t.Errorf("limit=1001: %d %s, want 400", r.code, r.raw)
	}
	// Properties come back as objects.
	var p page
	e.get(tok, "/api/v1/events?"+current+"&prop.n=3", http.StatusOK, &p)
	if len(p.Events) != 1 || p.Events[0].Properties["plan"] != "pro" || p.Events[0].Properties["n"] != float64(3) {
		t.Errorf("properties: %+v", p.Events)
	}
}

func TestProfileTimelineAndSessionDetail(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	var tl struct {
		Events []struct {
			EventID string `json:"event_id"`
			Type    string
		}
	}
	e.get(tok, "/api/v1/profiles/pA/events?"+current, http.StatusOK, &tl)
	var ids []string
	for _, ev := range tl.Events {
		ids = append(ids, ev.EventID)
	}
	if want := []string{"a4", "a3", "a2", "a1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("timeline of pA: %q, want %q", ids, want)
	}

	var sd struct {
		SessionID  string `json:"session_id"`
		ProfileID  string `json:"profile_id"`
		First      string
		Last       string
		Duration   float64
		EventCount int `json:"event_count"`
		Pageviews  int
		EntryPage  string `json:"entry_page"`
		ExitPage   string `json:"exit_page"`
		Events     []struct {
			EventID string `json:"event_id"`
		}
	}
	e.get(tok, "/api/v1/sessions/A?"+current, http.StatusOK, &sd)
	if sd.SessionID != "A" || sd.ProfileID != "pA" || sd.Duration != 600 || sd.EventCount != 4 || sd.Pageviews != 2 ||
		sd.EntryPage != "/home" || sd.ExitPage != "/pricing" || len(sd.Events) != 4 || sd.Events[0].EventID != "a1" ||
		sd.First != t0.Add(time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("session A: %+v", sd)
	}
	r := e.call("GET", "/api/v1/sessions/nope?"+current, tok, "")
	if r.code != http.StatusNotFound || r.body["error"] != "session_not_found" {
		t.Errorf("unknown session: %d %s", r.code, r.raw)
	}
}

func TestRealtime(t *testing.T) {
	e := seeded(t) // clock at t0 + 5h03m
	tok := e.login("admin", strong)
	var got struct {
		Events, Visitors, Sessions uint64
		PerMinute                  []struct {
			T      string
			Events uint64
		} `json:"per_minute"`
	}
	e.get(tok, "/api/v1/stats/realtime?minutes=5", http.StatusOK, &got)
	// d1 at 5h00 and d2 (stored twice) at 5h02, one visitor and session.
	if got.Events != 2 || got.Visitors != 1 || got.Sessions != 1 || len(got.PerMinute) != 5 {
		t.Fatalf("realtime: %+v", got)
	}
	per := map[string]uint64{}
	for _, m := range got.PerMinute {
		per[m.T] = m.Events
	}
	if per[t0.Add(5*time.Hour).Format(time.RFC3339)] != 1 || per[t0.Add(5*time.Hour+2*time.Minute).Format(time.RFC3339)] != 1 {
		t.Errorf("per minute: %+v", got.PerMinute)
	}
	e.get(tok, "/api/v1/stats/realtime?minutes=2", http.StatusOK, &got)
	if got.Events != 1 {
		t.Errorf("last 2 minutes: %d events, want 1", got.Events)
	}
}

// TestHostileInput sends filter values and names full of SQL. Values must
// be treated as plain values (200, nothing found, nothing changed); names
// outside the allowlist must be refused with 400. Afterwards the table is
// intact.
func TestHostileInput(t *testing.T) {
	e := seeded(t)
	tok := e.login("admin", strong)
	st, _ := chStore(t)
	before, err := st.CountEvents(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{
		"' OR 1=1 --", `\' OR 1=1 --`, "x'); DROP TABLE trackstream.events; --", "1 UNION ALL SELECT * FROM system.users",
		"/* comment */ s1", "s1' --", "{p0:String}", "}{", "\\", "\x00", "\n\t", "é💥", strings.Repeat("'", 500),
	}
	for _, h := range hostile {
		v := url.QueryEscape(h)
		for _, path := range []string{
			"/api/v1/stats/summary?" + current + "&source=" + v,
			"/api/v1/stats/series?" + current + "&type=" + v,
			"/api/v1/stats/breakdown?" + current + "&dimension=page&source=" + v,
			"/api/v1/stats/breakdown?" + current + "&dimension=page&prop.plan=" + v,
			"/api/v1/events?" + current + "&profile=" + v + "&session=" + v,
			"/api/v1/events?" + current + "&prop.plan=" + v,
			"/api/v1/stats/funnel?" + current + "&step=" + v + "&step=page@" + v,
			"/api/v1/profiles/" + url.PathEscape(h) + "/events?" + current,
		} {
			r := e.call("GET", path, tok, "")
			if r.code == http.StatusBadRequest && r.body["error"] == "invalid_parameter" {
				continue // too long for the parameter: refused, also fine
			}
			if r.code != http.StatusOK {
				t.Errorf("%s: %d %s, want 200 with the value taken literally (or 400)", path, r.code, r.raw)
				continue
			}
			if strings.Contains(r.raw, `"a1"`) || strings.Contains(r.raw, `"events":1`) {
				t.Errorf("%s matched seeded data: %s", path, r.raw)
			}
		}
	}
	refused := []struct{ path, code string }{
		{"/api/v1/stats/breakdown?dimension=event_type", "unknown_dimension"},
		{"/api/v1/stats/breakdown?dimension=" + url.QueryEscape("country) UNION SELECT name FROM system.tables --"), "unknown_dimension"},
		{"/api/v1/stats/breakdown?dimension=" + url.QueryEscape("toString(1)"), "unknown_dimension"},
		{"/api/v1/stats/breakdown?dimension=password_hash", "unknown_dimension"},
		{"/api/v1/stats/breakdown?property=" + url.QueryEscape("plan') --"), "invalid_property"},
		{"/api/v1/stats/breakdown?property=" + url.QueryEscape("a b"), "invalid_property"},
		{"/api/v1/stats/breakdown?property=" + url.QueryEscape("/* x */"), "invalid_property"},
		{"/api/v1/events?" + url.QueryEscape("prop.a'b") + "=1", "invalid_property"},
		{"/api/v1/events?" + url.QueryEscape("source; DROP TABLE x") + "=1", "unknown_parameter"},
		{"/api/v1/events?cursor=" + url.QueryEscape("1.' OR 1=1.x"), "invalid_cursor"},
		{"/api/v1/events?from=" + url.QueryEscape("2026-01-01' OR 1=1"), "invalid_parameter"},
		{"/api/v1/stats/series?interval=" + url.QueryEscape("day); DROP"), "invalid_parameter"},
		{"/api/v1/events?limit=" + url.QueryEscape("10 UNION"), "invalid_parameter"},
		{"/api/v1/stats/funnel?step=a&window=" + url.QueryEscape("1h; DROP"), "invalid_parameter"},
	}
	for _, c := range refused {
		r := e.call("GET", c.path, tok, "")
		if r.code != http.StatusBadRequest || r.body["error"] != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.path, r.code, r.raw, c.code)
		}
	}
	after, err := st.CountEvents(context.Background(), "s1")
	if err != nil || after != before {
		t.Fatalf("events of s1 before %d, after %d (%v)", before, after, err)
	}
}

// TestQueriesRunReadOnly proves the store refuses writes through
// QueryJSON and that the limits apply.
func TestQueriesRunReadOnly(t *testing.T) {
	st, _ := chStore(t)
	ctx := context.Background()
	if _, err := st.QueryJSON(ctx, "INSERT INTO trackstream.events (source_id, event_id) SELECT 'ro', 'ro'", nil, nil); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("insert through QueryJSON: %v, want a READONLY error", err)
	}
	_, err := st.QueryJSON(ctx, "SELECT number FROM numbers(100)", nil, map[string]string{"max_result_rows": "10", "result_overflow_mode": "throw"})
	if err == nil {
		t.Error("100 rows with max_result_rows = 10: no error")
	} else if qe := queryError(err); !strings.Contains(qe.Error(), "query_too_large") {
		t.Errorf("row cap maps to %v", qe)
	}
	_, err = st.QueryJSON(ctx, "SELECT count() FROM numbers(1000000000000) WHERE sleepEachRow(0) = 0", nil, map[string]string{"max_execution_time": "1"})
	if err == nil {
		t.Error("an endless query with max_execution_time = 1: no error")
	} else if qe := queryError(err); !strings.Contains(qe.Error(), "query_timeout") {
		t.Errorf("timeout maps to %v", qe)
	}
	if _, err := st.QueryJSON(ctx, "SELECT 1", nil, map[string]string{"max_memory_usage": "1; DROP"}); err == nil {
		t.Error("a setting value with SQL was accepted")
	}
	rows, err := st.QueryJSON(ctx, "SELECT {v:String} AS v, 0/0 AS nan, toUInt64(18446744073709551615) AS big", map[string]string{"v": "a\tb\\c'\n"}, nil)
	if err != nil || len(rows) != 1 {
		t.Fatalf("params round trip: %v %s", err, rows)
	}
	var got struct {
		V   string
		NaN *float64
		Big uint64
	}
	if err := json.Unmarshal(rows[0], &got); err != nil || got.V != "a\tb\\c'\n" || got.NaN != nil || got.Big != math.MaxUint64 {
		t.Errorf("row %s decoded as %+v (%v)", rows[0], got, err)
	}
}

// TestServerQueryJSON runs the statistics queries' store method against a
// real ClickHouse server when TRACKSTREAM_TEST_CLICKHOUSE_DSN names one.
func TestServerQueryJSON(t *testing.T) {
	dsn := os.Getenv("TRACKSTREAM_TEST_CLICKHOUSE_DSN")
	if dsn == "" {
		t.Skip("TRACKSTREAM_TEST_CLICKHOUSE_DSN is unset; no ClickHouse server to test against")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.OpenServer(ctx, dsn, quiet, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.QueryJSON(ctx, "SELECT {v:String} AS v, toUInt64(7) AS n, 0/0 AS nan, now64(3) AS t", map[string]string{"v": "a'\\b"},
		map[string]string{"max_execution_time": "5", "max_result_rows": "10", "result_overflow_mode": "throw"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("%v %s", err, rows)
	}
	var got struct {
		V   string
		N   uint64
		NaN *float64
		T   string
	}
	if err := json.Unmarshal(rows[0], &got); err != nil || got.V != "a'\\b" || got.N != 7 || got.NaN != nil || got.T == "" {
		t.Errorf("row %s: %+v %v", rows[0], got, err)
	}
	if _, err := st.QueryJSON(ctx, "INSERT INTO trackstream.events (source_id, event_id) SELECT 'ro', 'ro'", nil, nil); err == nil {
		t.Error("an insert through QueryJSON succeeded; it must run read-only")
	}
	e := startWith(t, st, &clock{t: time.Now()})
	tok := e.login("admin", strong)
	for _, path := range []string{"/api/v1/stats/summary", "/api/v1/stats/series?interval=hour", "/api/v1/stats/breakdown?dimension=page",
		"/api/v1/events?prop.plan=pro", "/api/v1/stats/funnel?step=page&step=signup", "/api/v1/stats/realtime"} {
		e.get(tok, path, http.StatusOK, nil)
	}
}

// TestSessionRollupMatchesRaw compares the session figures the session
// rollup gives with the raw events' over the seeded day (on whole hours,
// and one second short, where the last hour is partial) with its resent
// duplicates, for several filters: summary and series by hour.
func TestSessionRollupMatchesRaw(t *testing.T) {
	seeded(t)
	for _, f := range []filter{{}, {source: "s1"}, {source: "s2"}, {bots: true}, {source: "s1", bots: true}} {
		for _, to := range []time.Duration{24 * time.Hour, 24*time.Hour - time.Second} {
			f.from, f.to = t0, t0.Add(to)
			if got, want := sessionsOf(t, sessionStatsFrom(f, finalised{}, true)), sessionsOf(t, sessionStatsFrom(f, finalised{}, false)); got != want {
				t.Errorf("%+v: summary from the rollup %s, from raw events %s", f, got, want)
			}
			if got, want := sessionsOf(t, seriesSessionsFrom(f, hour, finalised{}, true)), sessionsOf(t, seriesSessionsFrom(f, hour, finalised{}, false)); got != want {
				t.Errorf("%+v: series from the rollup %s, from raw events %s", f, got, want)
			}
		}
	}
}
