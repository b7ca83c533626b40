package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// realtimeEvents are events of the last minutes (at is before base, the
// wall clock's minute): two sources, three sessions, a bot, a signup.
func realtimeEvents(prefix string) []seedEvent {
	return []seedEvent{
		{source: "rt1", id: prefix + "1", typ: "page", at: -9 * time.Minute, session: prefix + "S1", anon: prefix + "v1", path: "/a"},
		{source: "rt1", id: prefix + "2", typ: "page", at: -9*time.Minute + 20*time.Second, session: prefix + "S1", anon: prefix + "v1", path: "/b"},
		{source: "rt1", id: prefix + "3", typ: "signup", at: -7 * time.Minute, session: prefix + "S1", anon: prefix + "v1"},
		{source: "rt1", id: prefix + "4", typ: "page", at: -7*time.Minute + time.Second, session: prefix + "S2", profile: prefix + "p2", path: "/a"},
		{source: "rt2", id: prefix + "5", typ: "page", at: -3 * time.Minute, session: prefix + "S3", anon: prefix + "v3", path: "/a"},
		{source: "rt2", id: prefix + "6", typ: "page", at: -time.Minute, session: prefix + "S3", anon: prefix + "v3", path: "/c"},
		{source: "rt1", id: prefix + "7", typ: "page", at: -2 * time.Minute, session: prefix + "SB", anon: prefix + "bot", path: "/a", bot: true},
		// v1 again in its first minute, of another type.
		{source: "rt1", id: prefix + "8", typ: "signup", at: -9*time.Minute + 30*time.Second, session: prefix + "S1", anon: prefix + "v1"},
	}
}

// writeAt stores events the way the processor does, at base+at.
func writeAt(t *testing.T, base time.Time, token string, events []seedEvent) {
	t.Helper()
	st, _ := chStore(t)
	rs := rows(events, 0)
	for i := range rs {
		shift := base.Sub(t0)
		rs[i].Event.Time = rs[i].Event.Time.Add(shift)
		rs[i].Event.ReceivedAt = rs[i].Event.ReceivedAt.Add(shift)
	}
	if err := write(context.Background(), st, token, rs); err != nil {
		t.Fatal(err)
	}
}

// The realtime rollup (counts_minute, without a type filter
// counts_minute_all_types) gives the raw answer exactly, for every
// filter, on data with resent copies, a retried insert, bots and a
// visitor of two types in one minute.
// Mutations tried: the view without uniqExactStateIf's condition on the
// visitor (counts ” as a visitor) and counts_minute without
// non_replicated_deduplication_window (the retried batch counted twice)
// each made it fail, and so did realtimeSQL reading
// counts_minute_all_types without its source condition (the sources'
// rows and the all-sources rows both counted).
func TestRealtimeRollupMatchesRaw(t *testing.T) {
	testkit.SkipShort(t)
	st, _ := chStore(t)
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Minute)
	evs := realtimeEvents("rm")
	writeAt(t, base, "rt-rm-1", evs[:5])
	// Client resends of stored events (dropped before insert) and a
	// processor retry of a batch (same token, inserted twice).
	writeAt(t, base, "rt-rm-2", evs[1:3])
	retry := rows(evs[5:], 0)
	for i := range retry {
		retry[i].Event.Time = retry[i].Event.Time.Add(base.Sub(t0))
	}
	for range 2 {
		if err := st.InsertRows(ctx, "rt-rm-3", retry); err != nil {
			t.Fatal(err)
		}
	}
	// Whole minutes, as the handler asks.
	from, to := base.Add(-10*time.Minute), base.Add(time.Minute)
	for _, f := range []filter{
		{from: from, to: to},
		{from: from, to: to, bots: true},
		{from: from, to: to, source: "rt1"},
		{from: from, to: to, source: "rt1", bots: true},
		{from: from, to: to, types: []string{"signup"}},
		{from: from, to: to, types: []string{"page"}, source: "rt2"},
		{from: from.Add(5 * time.Minute), to: to},
	} {
		if !f.realtimeRollup(time.Now()) {
			t.Fatalf("filter %+v: realtimeRollup is false", f)
		}
		get := func(rollup bool) []countsRow {
			q := realtimeSQL(f, rollup)
			raw, err := st.QueryJSON(ctx, q.sql, q.params, nil)
			if err != nil {
				t.Fatalf("rollup %v: %v", rollup, err)
			}
			out := make([]countsRow, len(raw))
			for i, r := range raw {
				if err := json.Unmarshal(r, &out[i]); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		roll, raw := get(true), get(false)
		if !slices.Equal(roll, raw) {
			t.Errorf("filter source=%q types=%v bots=%v from=%s: rollup %+v, raw %+v", f.source, f.types, f.bots, f.from.Format(time.TimeOnly), roll, raw)
		}
	}
	// The known answer through the API: 7 events (the bot left out), 3
	// visitors, 3 sessions, from the rollup.
	e := startWith(t, st, &clock{t: base.Add(30 * time.Second)})
	tok := e.login("admin", strong)
	var got struct {
		Rollup                     bool
		Events, Visitors, Sessions uint64
	}
	e.get(tok, "/api/v1/stats/realtime?minutes=11", http.StatusOK, &got)
	if !got.Rollup || got.Events != 7 || got.Visitors != 3 || got.Sessions != 3 {
		t.Errorf("realtime, last 11 minutes: %+v, want from the rollup 7 events, 3 visitors, 3 sessions", got)
	}
}

// A range older than the rollup's horizon (its rows expired or never
// written) is answered from raw events, so expiry never empties an
// answer. Mutation tried: realtimeRollup without the horizon check (the
// old range read the rollup and found nothing) made it fail.
func TestRealtimeBeyondRollupHorizon(t *testing.T) {
	testkit.SkipShort(t)
	st, db := chStore(t)
	old := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Hour)
	writeAt(t, old, "rt-old-1", realtimeEvents("old"))
	// Apply the TTL now, as a merge eventually would.
	if err := db.Exec(context.Background(), "OPTIMIZE TABLE trackstream.counts_minute FINAL"); err != nil {
		t.Fatal(err)
	}
	e := startWith(t, st, &clock{t: old.Add(30 * time.Second)})
	tok := e.login("admin", strong)
	var got struct {
		Rollup                     bool
		Events, Visitors, Sessions uint64
	}
	e.get(tok, "/api/v1/stats/realtime?minutes=11&source=rt1", http.StatusOK, &got)
	if got.Rollup || got.Events != 5 || got.Visitors != 2 || got.Sessions != 2 {
		t.Errorf("realtime 30 hours ago, source rt1: %+v, want 5 events, 2 visitors, 2 sessions from raw events", got)
	}
}
