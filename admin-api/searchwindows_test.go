package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// pagedEnd is the end of the range the windows test pages through: ten
// days (so the hour, day and week windows all apply) of events of type
// "paged", away from every other test's data.
var pagedEnd = t0.Add(41 * 24 * time.Hour)

// pagedEvents sit at the ends of the search windows counted back from
// pagedEnd, a millisecond either side, several at one millisecond (two
// sources), and at the first millisecond of the range (x0 and x1 are
// just outside it); the last hour also holds a minute-by-minute run
// (f00-f29, more rows than a page and its slack) and a burst of events
// at one millisecond (b00-b19).
var pagedEvents = func() []seedEvent {
	evs := []seedEvent{
		{source: "pg1", id: "x1", at: 0},
		{source: "pg1", id: "n1", at: -time.Millisecond},
		{source: "pg1", id: "h1", at: -time.Hour + time.Millisecond},
		{source: "pg1", id: "h2", at: -time.Hour},
		{source: "pg2", id: "h3", at: -time.Hour},
		{source: "pg1", id: "h4", at: -time.Hour - time.Millisecond},
		{source: "pg1", id: "d1", at: -24 * time.Hour},
		{source: "pg1", id: "d2", at: -24 * time.Hour},
		{source: "pg2", id: "d3", at: -24 * time.Hour},
		{source: "pg2", id: "d4", at: -24*time.Hour - time.Millisecond},
		{source: "pg1", id: "w1", at: -7 * 24 * time.Hour},
		{source: "pg1", id: "w2", at: -7*24*time.Hour - time.Millisecond},
		{source: "pg1", id: "o1", at: -9 * 24 * time.Hour},
		{source: "pg1", id: "o2", at: -9 * 24 * time.Hour},
		{source: "pg2", id: "o3", at: -9 * 24 * time.Hour},
		{source: "pg2", id: "x0", at: -9*24*time.Hour - time.Millisecond},
	}
	for i := range 30 {
		evs = append(evs, seedEvent{source: fmt.Sprintf("pg%d", 1+i%2), id: fmt.Sprintf("f%02d", i), at: -50*time.Minute + time.Duration(i)*time.Minute})
	}
	for i := range 20 {
		evs = append(evs, seedEvent{source: fmt.Sprintf("pg%d", 1+i%3%2), id: fmt.Sprintf("b%02d", i), at: -30*time.Minute - 30*time.Second})
	}
	return evs
}()

// pagedCopied tells the events stored a second time (a later receive
// time), as copies stored before migration 0004 are: among the newest
// rows, at a shared millisecond, at a window's end, and the whole burst.
func pagedCopied(id string) bool {
	return id == "n1" || id == "h2" || id == "d2" || strings.HasPrefix(id, "b")
}

var pagedOnce sync.Once

// Paging a search through a range longer than every search window, with
// events at and beside the windows' ends, several in one millisecond (more
// than searchSlack in the burst) and stored copies, lists each event of the range once, newest first (time,
// then source, then event id, all descending), whatever the page size.
func TestSearchPagesAcrossWindowsOnce(t *testing.T) {
	testkit.SkipShort(t)
	st, db := chStore(t)
	ctx := context.Background()
	// A merge would fold the copies into one row (same sort key).
	if err := db.Exec(ctx, "SYSTEM STOP MERGES trackstream.events"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Exec(ctx, "SYSTEM START MERGES trackstream.events") })
	var err error
	pagedOnce.Do(func() {
		events := make([]seedEvent, len(pagedEvents))
		for i, e := range pagedEvents {
			e.typ, e.session, e.anon, e.at = "paged", "PG", "vPG", pagedEnd.Sub(t0)+e.at
			events[i] = e
		}
		if err = write(ctx, st, "seed-paged", rows(events, 0)); err != nil {
			return
		}
		var copies []seedEvent
		for _, e := range events {
			if pagedCopied(e.id) {
				copies = append(copies, e)
			}
		}
		// Inserted as they are, not through write (which drops copies).
		err = st.InsertRows(ctx, "seed-paged-copies", rows(copies, time.Minute))
	})
	if err != nil {
		t.Fatalf("seed paged events: %v", err)
	}
	var copies int
	for _, ev := range pagedEvents {
		if pagedCopied(ev.id) {
			copies++
		}
	}
	out, err := db.Query(ctx, "SELECT count() - uniqExact(source_id, event_id) FROM trackstream.events WHERE event_type = 'paged'", "TabSeparated")
	if err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(copies) {
		t.Fatalf("stored copies: %q, %v; want %d", out, err, copies)
	}
	e := startWith(t, st, &clock{t: pagedEnd})
	tok := e.login("admin", strong)

	// Newest first: time, then source, then event id, all descending.
	newestFirst := func(keep func(seedEvent) bool) []string {
		evs := slices.DeleteFunc(slices.Clone(pagedEvents), func(ev seedEvent) bool { return !keep(ev) })
		slices.SortFunc(evs, func(a, b seedEvent) int {
			if a.at != b.at {
				return int(b.at - a.at)
			}
			if a.source != b.source {
				return strings.Compare(b.source, a.source)
			}
			return strings.Compare(b.id, a.id)
		})
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.source + "/" + ev.id
		}
		return out
	}
	inRange := func(ev seedEvent) bool { return !strings.HasPrefix(ev.id, "x") }
	rangeQ := func(from time.Duration) string {
		return "type=paged&from=" + url.QueryEscape(pagedEnd.Add(from).Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(pagedEnd.Format(time.RFC3339Nano))
	}
	cases := []struct {
		name, query string
		want        []string
	}{
		{"from the first millisecond of o1-o3", rangeQ(-9 * 24 * time.Hour), newestFirst(inRange)},
		// Nothing of pg1 before o1 and o2 (one millisecond): the page after
		// o2 has only the cursor's millisecond left.
		{"pg1, from an hour before o1 and o2", "source=pg1&" + rangeQ(-9*24*time.Hour-time.Hour),
			newestFirst(func(ev seedEvent) bool { return inRange(ev) && ev.source == "pg1" })},
	}
	for _, tc := range cases {
		for _, limit := range []int{1, 3, 4, 50} {
			if got := e.pageThrough(tok, "/api/v1/events?"+tc.query, limit); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s, pages of %d:\n got %q\nwant %q", tc.name, limit, got, tc.want)
			}
		}
	}
}

// pageThrough lists path's events (source/event id) page by page, limit a
// page, following next_cursor; every page but the last must be full (the
// events are small).
func (e *env) pageThrough(token, path string, limit int) []string {
	e.t.Helper()
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			e.t.Fatalf("%s: more than 100 pages of %d: %q", path, limit, got)
		}
		q := path + "&limit=" + fmt.Sprint(limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var p struct {
			Events []struct {
				SourceID string `json:"source_id"`
				EventID  string `json:"event_id"`
			}
			NextCursor string `json:"next_cursor"`
		}
		e.get(token, q, http.StatusOK, &p)
		if len(p.Events) > limit || len(p.Events) < limit && p.NextCursor != "" {
			e.t.Fatalf("%s: a page of %d events, limit %d, next_cursor %q: want full pages but the last", path, len(p.Events), limit, p.NextCursor)
		}
		for _, ev := range p.Events {
			got = append(got, ev.SourceID+"/"+ev.EventID)
		}
		if cursor = p.NextCursor; cursor == "" {
			return got
		}
	}
}
