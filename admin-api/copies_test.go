package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/schemas"
)

// copiesDay is the day of TestRawCountsWithCopiesFromBeforeDeduplication's
// events (no other test writes it).
var copiesDay = time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)

// Events stored before write-time deduplication (migration 0004) may have
// several rows; the raw answers count each event once while counting the
// rows received after the copy horizon (migration 0011) as events. Ten
// events are stored the old way, four of them again (resent, corrected
// past midnight, a separate insert: rows no merge collapses), then 0011's
// statements run (as at the upgrade), then events are written the way the
// processor does: five new ones, resends of stored events (dropped) and
// an old record replayed (received before the horizon). Before 0011's
// row exists, the API counts distinct ids.
// Mutations tried: knowCopies taking a missing row for "no copies" made
// the summary without a horizon count 14 events instead of 10;
// builder.eventCount as countIf(cond) over every row
// (the horizon ignored) made the summary, breakdowns and realtime count
// 20 events instead of 16 (14 in realtime instead of 10); the count side
// as received_at >= horizon made them and the series count e6 (whose
// copy was received at the horizon) twice.
func TestRawCountsWithCopiesFromBeforeDeduplication(t *testing.T) {
	st, db := chStore(t)
	ctx := context.Background()
	const source = "copies-pre"
	start := time.Now().UTC().Truncate(time.Millisecond)
	base := copiesDay.Add(23*time.Hour + 59*time.Minute) // e_i at base + i*5s
	type ev struct {
		id, typ, path, plan, anon string
		at, received              time.Time
	}
	stored := func(i int) ev {
		e := ev{id: fmt.Sprintf("e%d", i), typ: "page", path: "/a", plan: "pro", anon: fmt.Sprintf("v-%d", i%4),
			at: base.Add(time.Duration(i) * 5 * time.Second)}
		e.received = e.at.Add(time.Second)
		if i >= 6 {
			e.typ = "click"
		}
		if i%2 == 1 {
			e.path = "/b"
		}
		if i >= 5 {
			e.plan = "free"
		}
		return e
	}
	insertOld := func(evs []ev) {
		t.Helper()
		var vals []string
		for _, e := range evs {
			vals = append(vals, fmt.Sprintf("('%s', '%s', '%s', '%s', '%s', 's-%s', '%s', '%s', '{\"plan\":\"%s\"}')", source, e.id, e.typ,
				e.at.Format("2006-01-02 15:04:05.000"), e.received.Format("2006-01-02 15:04:05.000"), e.anon, e.anon, e.path, e.plan))
		}
		if err := db.Exec(ctx, "INSERT INTO trackstream.events (source_id, event_id, event_type, event_time, received_at, session_id, anonymous_id, url_path, properties) VALUES "+strings.Join(vals, ", ")); err != nil {
			t.Fatal(err)
		}
	}
	var old, copies []ev
	for i := range 10 {
		old = append(old, stored(i))
	}
	for n, i := range []int{0, 1, 2, 6} {
		c := stored(i)
		c.at = c.at.Add(20 * time.Minute)
		c.received = start.Add(-time.Minute + time.Duration(n)*time.Millisecond)
		copies = append(copies, c)
	}
	insertOld(old)
	insertOld(copies)
	// Two days less a second: raw rows for the breakdowns. A range not
	// on whole hours reads the rollups for its whole hours (here, unlike a
	// data dir upgraded through migration 4, the old rows reached the
	// rollups' views with their copies): an event-level filter every event
	// passes (no host) keeps the summaries on raw rows.
	rg := "source=" + source + "&from=" + url.QueryEscape(copiesDay.Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(copiesDay.Add(48*time.Hour-time.Second).Format(time.RFC3339))
	type summary struct {
		Metrics struct{ Events, Pageviews, Visitors uint64 }
		Rollup  bool
	}

	// Without the horizon's row (never expected once 0011 is recorded),
	// every row is counted by distinct id.
	if err := db.Exec(ctx, "TRUNCATE TABLE trackstream.copy_horizon"); err != nil {
		t.Fatal(err)
	}
	var sum summary
	e := startWith(t, st, &clock{t: copiesDay.Add(24 * time.Hour)})
	e.get(e.login("admin", strong), "/api/v1/stats/summary?"+rg+"&filter.host=", http.StatusOK, &sum)
	if sum.Metrics.Events != 10 || sum.Metrics.Pageviews != 6 {
		t.Errorf("summary without a horizon: got %+v, want 10 events and 6 pageviews", sum.Metrics)
	}

	all, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version == 11 {
			for _, s := range m.Statements {
				if err := db.Exec(ctx, s); err != nil {
					t.Fatalf("migration 11: %v", err)
				}
			}
		}
	}

	row := func(e ev) store.Row {
		return store.Row{
			Event: event.Event{SourceID: source, ID: e.id, Type: e.typ, Time: e.at, ReceivedAt: e.received,
				SessionID: "s-" + e.anon, AnonymousID: e.anon, Properties: json.RawMessage(`{"plan":"` + e.plan + `"}`)},
			Fields: enrich.Fields{URLPath: e.path},
		}
	}
	now := time.Now().UTC()
	var after []store.Row
	for i := range 5 {
		after = append(after, row(ev{id: fmt.Sprintf("n%d", i), typ: "page", path: "/n", plan: "pro", anon: "v-n",
			at: copiesDay.Add(25*time.Hour + time.Duration(i)*time.Minute), received: now}))
	}
	for _, i := range []int{0, 5} {
		r := stored(i)
		r.received = now
		after = append(after, row(r))
	}
	after = append(after, row(ev{id: "r0", typ: "page", path: "/r", plan: "free", anon: "v-r",
		at: copiesDay.Add(24*time.Hour + 30*time.Minute), received: base.Add(2 * time.Second)}))
	if err := write(ctx, st, "copies-after-upgrade", after); err != nil {
		t.Fatal(err)
	}

	e = startWith(t, st, &clock{t: copiesDay.Add(24*time.Hour + 19*time.Minute + 40*time.Second)})
	tok := e.login("admin", strong)
	e.get(tok, "/api/v1/stats/summary?"+rg+"&filter.host=", http.StatusOK, &sum)
	if sum.Rollup || sum.Metrics.Events != 16 || sum.Metrics.Pageviews != 12 || sum.Metrics.Visitors != 6 {
		t.Errorf("summary: got %+v (rollup %v), want 16 events, 12 pageviews, 6 visitors from raw rows", sum.Metrics, sum.Rollup)
	}

	type brow struct {
		Value            string
		Events, Visitors uint64
	}
	for _, c := range []struct {
		query string
		total uint64
		want  []brow
	}{
		{"&dimension=page", 16, []brow{{"/a", 5, 2}, {"/b", 5, 2}, {"/n", 5, 1}, {"/r", 1, 1}}},
		{"&property=plan", 16, []brow{{"pro", 10, 5}, {"free", 6, 5}}},
		{"&dimension=page&prop.plan=pro", 10, []brow{{"/n", 5, 1}, {"/a", 3, 2}, {"/b", 2, 2}}},
	} {
		var got struct {
			TotalEvents uint64 `json:"total_events"`
			Rows        []brow
		}
		e.get(tok, "/api/v1/stats/breakdown?"+rg+c.query, http.StatusOK, &got)
		if got.TotalEvents != c.total || !reflect.DeepEqual(got.Rows, c.want) {
			t.Errorf("breakdown %s: got total %d rows %+v, want %d %+v", c.query, got.TotalEvents, got.Rows, c.total, c.want)
		}
	}

	// Each copy falls in its own minute (past midnight), so per minute
	// the events are the distinct ones of that minute.
	var series struct {
		Points []struct {
			T      string
			Events uint64
		}
	}
	e.get(tok, "/api/v1/stats/series?interval=minute&source="+source+"&from="+url.QueryEscape(base.Format(time.RFC3339))+
		"&to="+url.QueryEscape(copiesDay.Add(24*time.Hour+40*time.Minute).Format(time.RFC3339)), http.StatusOK, &series)
	perMinute := map[string]uint64{}
	for _, p := range series.Points {
		if p.Events > 0 {
			perMinute[p.T] = p.Events
		}
	}
	minute := func(d time.Duration) string { return copiesDay.Add(d).Format(time.RFC3339) }
	if want := map[string]uint64{minute(23*time.Hour + 59*time.Minute): 10, minute(24*time.Hour + 19*time.Minute): 4, minute(24*time.Hour + 30*time.Minute): 1}; !reflect.DeepEqual(perMinute, want) {
		t.Errorf("series by minute: got %v, want %v", perMinute, want)
	}

	// The last hour of the clock: the ten events and their four copies.
	var rt struct {
		Events, Visitors uint64
		Rollup           bool
	}
	e.get(tok, "/api/v1/stats/realtime?minutes=60&source="+source, http.StatusOK, &rt)
	if rt.Rollup || rt.Events != 10 || rt.Visitors != 4 {
		t.Errorf("realtime: got %+v, want 10 events and 4 visitors from raw rows", rt)
	}
}
