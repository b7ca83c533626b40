package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/finalise"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

// A data dir written by the schema before the count rollups (migrations
// 1-3, copies of events stored, some across a month boundary) keeps
// working after the upgrade: migration 4 backfills the rollups counting
// every event once, on its earliest copy's day, fills event_ids so later
// resends are found, and drops events_hourly.
func TestUpgradeBackfillsCountRollups(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 4)
	// 30 events at 23:59:59.9 on 31 January, 10 of them resent (corrected
	// to 00:00:00.1 on 1 February) and 5 resent again the same day; the old
	// schema stores every copy. Written with the old schema's columns.
	at := time.Date(2026, 1, 31, 23, 59, 59, 900e6, time.UTC)
	first := rows("src-up", 30, at.Add(time.Second))
	for i := range first {
		first[i].Event.Time = at
		first[i].Event.ProfileID = fmt.Sprintf("p-%d", i%7)
		first[i].Fields.Country = []string{"DE", "FR"}[i%2]
	}
	resent := append([]Row(nil), first[:10]...)
	for i := range resent {
		resent[i].Event.Time = at.Add(200 * time.Millisecond)
		resent[i].Event.ReceivedAt = at.Add(time.Minute)
	}
	again := append([]Row(nil), first[10:15]...)
	for i := range again {
		again[i].Event.ReceivedAt = at.Add(time.Hour)
	}
	for _, b := range [][]Row{first, resent, again} {
		var vals []string
		for _, r := range b {
			vals = append(vals, fmt.Sprintf("('%s', '%s', 'page', '%s', '%s', '%s', '%s')", r.Event.SourceID, r.Event.ID,
				r.Event.Time.Format(chTimeLayout), r.Event.ReceivedAt.Format(chTimeLayout), r.Event.ProfileID, r.Fields.Country))
		}
		insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, country", vals)
	}
	if got := rawRows(t, old, "src-up"); got != 45 {
		_ = db.Close()
		t.Fatalf("old schema stored %d rows, want 45 (copies included)", got)
	}
	s := upgrade(t, db, dir)
	for sql, want := range map[string]string{
		"SELECT toString(hour), sum(events), uniqCombined64Merge(15)(visitors) FROM trackstream.counts_by_type_hourly WHERE source_id = 'src-up' GROUP BY hour": "2026-01-31 23:00:00\t30\t7\n",
		"SELECT toString(day), sum(events), uniqCombined64Merge(15)(visitors) FROM trackstream.counts_by_type_daily WHERE source_id = 'src-up' GROUP BY day":    "2026-01-31\t30\t7\n",
		"SELECT toString(day), uniqCombined64Merge(15)(visitors) FROM trackstream.visitors_daily WHERE source_id = 'src-up' GROUP BY day":                       "2026-01-31\t7\n",
		"SELECT value, sum(events) FROM trackstream.dims_daily WHERE source_id = 'src-up' AND dim = 'country' GROUP BY value ORDER BY value":                    "DE\t15\nFR\t15\n",
		"SELECT count() FROM trackstream.event_ids FINAL WHERE source_id = 'src-up'":                                                                            "30\n",
		"SELECT count() FROM system.tables WHERE database = 'trackstream' AND name LIKE 'events_hourly%'":                                                       "0\n",
	} {
		if got := query(t, s, sql); got != want {
			t.Errorf("%s\ngot %q, want %q", sql, got, want)
		}
	}
	dup, err := s.Copies(ctx, resent)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprint(dup), "false") {
		t.Errorf("a resend of an event stored before the upgrade is not found: %v", dup)
	}
}

// A data dir written before the realtime rollup (every migration before
// 0008, copies of recent events stored) keeps working after the upgrade:
// migration 8 backfills counts_minute with the last day's events, each
// once at its earliest copy's minute, and leaves older events out.
// Mutation tried: the migration without its backfill INSERT made it fail.
func TestUpgradeBackfillsRealtimeRollup(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 8)
	// 20 events 10 minutes ago (7 visitors, 4 sessions), 5 of them stored
	// again a second later (copies the old store kept), and 3 events two
	// days ago, beyond the rollup's day.
	recent := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	var vals []string
	add := func(id string, at time.Time, i int) {
		vals = append(vals, fmt.Sprintf("('src-rt', '%s', 'page', '%s', '%s', 'p-%d', 's-%d')", id, at.Format(chTimeLayout), at.Format(chTimeLayout), i%7, i%4))
	}
	for i := range 20 {
		add(fmt.Sprintf("e%d", i), recent.Add(time.Duration(i)*time.Second), i)
	}
	for i := range 5 {
		add(fmt.Sprintf("e%d", i), recent.Add(time.Duration(i)*time.Second+time.Second), i)
	}
	for i := range 3 {
		add(fmt.Sprintf("o%d", i), recent.Add(-48*time.Hour), i)
	}
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, session_id", vals)
	s := upgrade(t, db, dir)
	sql := "SELECT toString(minute), sum(events), uniqExactMerge(visitors), uniqExactMerge(sessions) FROM trackstream.counts_minute WHERE source_id = 'src-rt' GROUP BY minute"
	if got, want := query(t, s, sql), recent.Format(time.DateTime)+"\t20\t7\t4\n"; got != want {
		t.Errorf("%s\ngot %q, want %q", sql, got, want)
	}
}

// A data dir written before counts_minute_all_types (every migration
// before 0020) gets it backfilled from counts_minute at the upgrade: per
// source (and over all sources, an empty source_id), minute and bot flag, the
// events of every type and the union of the types' and sources' visitor
// and session sets (a visitor of two types or sources in one minute
// once); events stored after the upgrade reach it through its view
// on counts_minute, a retried insert once. Mutations tried: the migration
// without its backfill INSERT, and its table without a deduplication
// window (the retries' events counted three times), made it fail.
func TestUpgradeCombinesRealtimeTypes(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 20)
	// 10 minutes ago: visitors p-0..p-5 send a page and p-3..p-8 a
	// signup (p-3..p-5 both) in source a, sessions s-0..s-3 per type;
	// p-0 (session s-0) also a page in source b, and bot p-9 there.
	recent := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	var vals []string
	add := func(src, id, typ string, i int, bot bool) {
		at := recent.Add(time.Duration(i) * time.Second)
		vals = append(vals, fmt.Sprintf("('%s', '%s', '%s', '%s', '%s', 'p-%d', 's-%d', %v)", src, id, typ, at.Format(chTimeLayout), at.Format(chTimeLayout), i, i%4, bot))
	}
	for i := range 6 {
		add("src-rta", fmt.Sprintf("a%d", i), "page", i, false)
		add("src-rta", fmt.Sprintf("b%d", i), "signup", i+3, false)
	}
	add("src-rtb", "c0", "page", 0, false)
	add("src-rtb", "c1", "page", 9, true)
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, session_id, is_bot", vals)
	s := upgrade(t, db, dir)
	// Per source, and over all sources (source_id ''): p-0 is in both.
	const all = "SELECT source_id, toString(minute), is_bot, sum(events), uniqExactMerge(visitors), uniqExactMerge(sessions) " +
		"FROM trackstream.counts_minute_all_types GROUP BY source_id, minute, is_bot ORDER BY source_id, minute, is_bot"
	m := recent.Format(time.DateTime)
	if got, want := query(t, s, all), "\t"+m+"\tfalse\t13\t9\t4\n\t"+m+"\ttrue\t1\t1\t1\n"+
		"src-rta\t"+m+"\tfalse\t12\t9\t4\nsrc-rtb\t"+m+"\tfalse\t1\t1\t1\nsrc-rtb\t"+m+"\ttrue\t1\t1\t1\n"; got != want {
		t.Errorf("all types after the upgrade: got %q, want %q", got, want)
	}
	// After the upgrade, three attempts of one insert: visitor p-1
	// (rows' profile) clicks 5 times in source a, in a new session.
	batch := rows("src-rta", 5, recent.Add(30*time.Second+time.Second))
	for i := range batch {
		batch[i].Event.Type, batch[i].Event.SessionID = "click", "s-9"
	}
	for range 3 {
		if err := s.InsertRows(ctx, "t-rt-types", batch); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := query(t, s, all), "\t"+m+"\tfalse\t18\t9\t5\n\t"+m+"\ttrue\t1\t1\t1\n"+
		"src-rta\t"+m+"\tfalse\t17\t9\t5\nsrc-rtb\t"+m+"\tfalse\t1\t1\t1\nsrc-rtb\t"+m+"\ttrue\t1\t1\t1\n"; got != want {
		t.Errorf("all types after new events: got %q, want %q", got, want)
	}
}

// A data dir whose session figures the finaliser wrote before migration 9
// (every hour of its days finalised, no late events since) gets the entry
// and exit pages of those days from the finaliser's first pass after the
// upgrade: a day that is over without pages is recomputed.
// Mutation tried: the finaliser's needs without the days missing pages
// (nothing recomputed, the table stayed empty) made it fail.
func TestUpgradeFinalisesSessionPages(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 9)
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-3 * 24 * time.Hour)
	// Day one: s1 /a then /b, s2 a click then /c; day two: s1 /b alone.
	var vals []string
	for i, e := range []struct {
		session, typ, path string
		at                 time.Duration
	}{{"s1", "page", "/a", time.Hour}, {"s1", "page", "/b", 2 * time.Hour}, {"s2", "click", "/x", 3 * time.Hour}, {"s2", "page", "/c", 4 * time.Hour},
		{"s1", "page", "/b", 26 * time.Hour}} {
		at := day.Add(e.at).Format(chTimeLayout)
		vals = append(vals, fmt.Sprintf("('src-pages', 'e%d', '%s', '%s', '%s', 'v-%s', '%s', '%s')", i, e.typ, at, at, e.session, e.session, e.path))
	}
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, session_id, url_path", vals)
	// The old finaliser's marker rows for every hour of the two days,
	// written after the events (ten minutes from now: later than their
	// late-event marks).
	version := uint64(time.Now().Add(10*time.Minute).UnixMilli()) * 1_000_000
	if err := old.exec(ctx, fmt.Sprintf("INSERT INTO trackstream.sessions_hourly SELECT '', toDateTime('%s', 'UTC') + 3600 * number, false, 0, 0, 0, %d FROM numbers(48)",
		day.Format(time.DateTime), version)); err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	s := upgrade(t, db, dir)
	fin, err := finalise.New(s, finalise.Settings{Interval: time.Minute, Lateness: 2 * time.Hour}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fin.Pass(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	sql := "SELECT toString(day), kind, page, sum(sessions), uniqCombined64Merge(12)(visitors) FROM trackstream.session_pages FINAL " +
		"WHERE source_id = 'src-pages' GROUP BY day, kind, page ORDER BY day, kind, page"
	d1, d2 := day.Format(time.DateOnly), day.Add(24*time.Hour).Format(time.DateOnly)
	want := d1 + "\tentry\t/a\t1\t1\n" + d1 + "\tentry\t/c\t1\t1\n" + d1 + "\texit\t/b\t1\t1\n" + d1 + "\texit\t/c\t1\t1\n" +
		d2 + "\tentry\t/b\t1\t1\n" + d2 + "\texit\t/b\t1\t1\n"
	if got := query(t, s, sql); got != want {
		t.Errorf("%s\ngot  %q\nwant %q", sql, got, want)
	}
}

// A data dir written before visitors_hourly (every migration before
// 0010) keeps working after the upgrade: migration 10 backfills it from
// counts_hourly, one sketch per source, hour and bot flag over every event
// type, holding the visitors the typed sketches held. Mutation tried: the
// migration without its backfill INSERT made it fail.
func TestUpgradeBackfillsVisitorsHourly(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 10)
	// Two hours: 30 events of 3 types and 9 visitors at 10:00-10:29 (a
	// visitor's events of several types), 4 events of 2 visitors at 11:00,
	// one of them a bot.
	at := time.Date(2026, 2, 10, 10, 0, 0, 0, time.UTC)
	var vals []string
	add := func(id, typ string, t time.Time, visitor string, bot bool) {
		vals = append(vals, fmt.Sprintf("('src-vh', '%s', '%s', '%s', '%s', '%s', %v)", id, typ, t.Format(chTimeLayout), t.Format(chTimeLayout), visitor, bot))
	}
	for i := range 30 {
		add(fmt.Sprintf("e%d", i), []string{"page", "click", "signup"}[i%3], at.Add(time.Duration(i)*time.Minute), fmt.Sprintf("v%d", i%9), false)
	}
	for i := range 4 {
		add(fmt.Sprintf("f%d", i), "page", at.Add(time.Hour+time.Duration(i)*time.Minute), fmt.Sprintf("w%d", i%2), i == 3)
	}
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, is_bot", vals)
	s := upgrade(t, db, dir)
	sql := "SELECT toString(hour), is_bot, count(), uniqCombined64Merge(15)(visitors) FROM trackstream.visitors_hourly WHERE source_id = 'src-vh' GROUP BY hour, is_bot ORDER BY hour, is_bot"
	if got, want := query(t, s, sql), "2026-02-10 10:00:00\tfalse\t1\t9\n2026-02-10 11:00:00\tfalse\t1\t2\n2026-02-10 11:00:00\ttrue\t1\t1\n"; got != want {
		t.Errorf("%s\ngot %q, want %q", sql, got, want)
	}
}

// A data dir written before visitors_hourly_all (every migration before
// 0017) gets it at the upgrade: per hour and bot flag, the visitors of
// every source together (a visitor in two sources once), and events
// stored after the upgrade reach it through its view (fed by
// visitors_hourly's) while the per-source sketches stay as they were.
// Mutations tried: the migration without its backfill INSERT, and without
// its view, each made it fail.
func TestUpgradeCombinesVisitorsHourly(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 17)
	// 10:00: visitors v0-v5 in source a, v3-v8 in source b (v3-v5 in
	// both); 11:00: one bot visitor in a.
	at := time.Date(2026, 2, 10, 10, 0, 0, 0, time.UTC)
	var vals []string
	add := func(src, id string, t time.Time, visitor string, bot bool) {
		vals = append(vals, fmt.Sprintf("('%s', '%s', 'page', '%s', '%s', '%s', %v)", src, id, t.Format(chTimeLayout), t.Format(chTimeLayout), visitor, bot))
	}
	for i := range 6 {
		add("src-ca", fmt.Sprintf("a%d", i), at.Add(time.Duration(i)*time.Minute), fmt.Sprintf("v%d", i), false)
		add("src-cb", fmt.Sprintf("b%d", i), at.Add(time.Duration(i)*time.Minute), fmt.Sprintf("v%d", i+3), false)
	}
	add("src-ca", "a-bot", at.Add(time.Hour), "bot-1", true)
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, is_bot", vals)
	s := upgrade(t, db, dir)
	const all = "SELECT toString(hour), is_bot, uniqCombined64Merge(15)(visitors) FROM trackstream.visitors_hourly_all GROUP BY hour, is_bot ORDER BY hour, is_bot"
	if got, want := query(t, s, all), "2026-02-10 10:00:00\tfalse\t9\n2026-02-10 11:00:00\ttrue\t1\n"; got != want {
		t.Errorf("combined sketches after the upgrade: got %q, want %q", got, want)
	}
	// After the upgrade: p-1 (rows' profile) in a third source at 10:00.
	if err := write(ctx, s, "t-combined", rows("src-cc", 3, at.Add(30*time.Minute+time.Second))); err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, s, all), "2026-02-10 10:00:00\tfalse\t10\n2026-02-10 11:00:00\ttrue\t1\n"; got != want {
		t.Errorf("combined sketches after new events: got %q, want %q", got, want)
	}
	for src, want := range map[string]string{
		"src-ca": "2026-02-10 10:00:00\tfalse\t6\n2026-02-10 11:00:00\ttrue\t1\n",
		"src-cb": "2026-02-10 10:00:00\tfalse\t6\n",
		"src-cc": "2026-02-10 10:00:00\tfalse\t1\n",
	} {
		got := query(t, s, "SELECT toString(hour), is_bot, uniqCombined64Merge(15)(visitors) FROM trackstream.visitors_hourly WHERE source_id = '"+
			src+"' GROUP BY hour, is_bot ORDER BY hour, is_bot")
		if got != want {
			t.Errorf("%s: got %q, want %q", src, got, want)
		}
	}
}

// A data dir written before the minute rollup (every migration before
// 0013, copies of events stored the way versions before 0004 stored them)
// gets counts_minutely backfilled at the upgrade: every event once, in
// the minute of its earliest copy (a copy across the minute boundary
// leaves the next minute empty), with its pageviews, bot flag and
// visitors, over all of history (no horizon, unlike counts_minute); events
// stored after the upgrade reach it through its view. Mutation tried: the
// backfill grouping rows instead of (source_id, event_id) (copies counted
// twice, in both minutes) made it fail.
func TestUpgradeBackfillsMinuteRollup(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 13)
	// 10 events at 23:59:59.9 on 31 January a year ago (pages and clicks,
	// 4 visitors), 5 of them stored again at 00:00:00.2 on 1 February
	// (copies whose corrected time crossed the minute, and the day: copies
	// on one day share the events sort key and are collapsed), and 3
	// signups at 00:04:29.9, one of them a bot.
	at := time.Date(2025, 1, 31, 23, 59, 59, 900e6, time.UTC)
	var vals []string
	add := func(id, typ string, t time.Time, visitor string, bot bool) {
		vals = append(vals, fmt.Sprintf("('src-mn', '%s', '%s', '%s', '%s', '%s', %v)", id, typ, t.Format(chTimeLayout), t.Format(chTimeLayout), visitor, bot))
	}
	for i := range 10 {
		add(fmt.Sprintf("e%d", i), []string{"page", "click"}[i%2], at, fmt.Sprintf("p%d", i%4), false)
	}
	for i := range 5 {
		add(fmt.Sprintf("e%d", i), []string{"page", "click"}[i%2], at.Add(300*time.Millisecond), fmt.Sprintf("p%d", i%4), false)
	}
	for i := range 3 {
		add(fmt.Sprintf("f%d", i), "signup", at.Add(4*time.Minute+30*time.Second), fmt.Sprintf("q%d", i), i == 2)
	}
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, is_bot", vals)
	s := upgrade(t, db, dir)
	sql := "SELECT toString(minute), is_bot, sum(events), sum(pageviews), uniqCombined64Merge(15)(visitors) FROM trackstream.counts_minutely WHERE source_id = 'src-mn' GROUP BY minute, is_bot ORDER BY minute, is_bot"
	if got, want := query(t, s, sql), "2025-01-31 23:59:00\tfalse\t10\t5\t4\n2025-02-01 00:04:00\tfalse\t2\t0\t2\n2025-02-01 00:04:00\ttrue\t1\t0\t1\n"; got != want {
		t.Errorf("%s\ngot %q, want %q", sql, got, want)
	}
	later := rows("src-mn", 1, at.Add(time.Hour))
	if err := s.InsertRows(ctx, "mn-1", later); err != nil {
		t.Fatal(err)
	}
	if got := query(t, s, "SELECT sum(events) FROM trackstream.counts_minutely WHERE source_id = 'src-mn'"); got != "14\n" {
		t.Errorf("counts_minutely holds %q events after one more, want 14", got)
	}
}

// A data dir whose properties and context are JSON columns (migrations
// 1-5) keeps working after migration 7 makes them text: the events
// stored before read back as their objects' JSON text, through the
// property reads of the admin API (JSONExtract) too, new events are
// stored next to them, and the old and new parts merge.
func TestUpgradeStoresPropertiesAsText(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 7)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	before := rows("src-text", 3, at)
	before[0].Event.Properties = json.RawMessage(`{"plan":"pro","cart":{"items":2,"coupon":true},"path":"/a/b"}`)
	before[0].Event.Context = json.RawMessage(`{"page":{"title":"Home"}}`)
	var data []byte
	for i := range before {
		data = appendRowBinary(data, &before[i])
	}
	// The insert of the JSON columns' time: their text parsed into them.
	if err := db.Insert(ctx, "INSERT INTO trackstream.events "+insertColumns+" SETTINGS input_format_binary_read_json_as_string = 1", "RowBinary", data); err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	if got := query(t, old, "SELECT toTypeName(properties) FROM trackstream.events LIMIT 1"); !strings.HasPrefix(got, "JSON") {
		_ = db.Close()
		t.Fatalf("before the upgrade properties is %q, want the JSON type", got)
	}
	s := upgrade(t, db, dir)
	after := rows("src-text", 2, at.Add(time.Hour))
	after[0].Event.ID = "new-0"
	after[1].Event.ID = "new-1"
	after[0].Event.Properties = json.RawMessage(`{"plan":"team","cart":{"items":2}}`)
	if err := s.InsertRows(ctx, "after-upgrade", after); err != nil {
		t.Fatalf("insert after the upgrade: %v", err)
	}
	check := func(when string) {
		t.Helper()
		for sql, want := range map[string]string{
			"SELECT toTypeName(properties), toTypeName(context) FROM trackstream.events LIMIT 1":                                          "String\tString\n",
			"SELECT properties, context FROM trackstream.events WHERE source_id = 'src-text' AND event_id = '" + before[0].Event.ID + "'": `{"cart":{"coupon":true,"items":2},"path":"\/a\/b","plan":"pro"}` + "\t" + `{"page":{"title":"Home"}}` + "\n",
			"SELECT event_id, toString(JSONExtract(properties, 'plan', 'Dynamic')), toString(JSONExtract(properties, 'cart', 'items', 'Dynamic')) FROM trackstream.events WHERE source_id = 'src-text' AND JSONExtract(properties, 'cart', 'items', 'Dynamic') IS NOT NULL ORDER BY event_id": before[0].Event.ID + "\tpro\t2\nnew-0\tteam\t2\n",
			"SELECT toString(JSONExtract(properties, 'path', 'Dynamic')), JSONExtractString(context, 'page', 'title') FROM trackstream.events WHERE event_id = '" + before[0].Event.ID + "'":                                                                                                  "/a/b\tHome\n",
			"SELECT count() FROM trackstream.events WHERE source_id = 'src-text'": "5\n",
		} {
			if got := query(t, s, sql); got != want {
				t.Errorf("%s: %s\ngot %q, want %q", when, sql, got, want)
			}
		}
	}
	check("after the upgrade")
	if err := s.exec(ctx, "OPTIMIZE TABLE trackstream.events FINAL"); err != nil {
		t.Fatal(err)
	}
	check("after merging")
}

// A data dir written before write-time deduplication (migrations 1-3,
// copies of events stored) records, at the upgrade, the latest receive
// time of a row whose event has another row (migration 11): the copy
// horizon after which the admin API counts rows as events. A new data dir
// records NULL (no copies). Mutations tried: the migration's INSERT
// without HAVING count() > 1 (the horizon becomes the latest row of all)
// and without the INSERT (no horizon row) both made it fail.
func TestUpgradeRecordsCopyHorizon(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 4)
	// e0..e4 at 23:59:59.9, received a second later; e1 and e4 resent,
	// corrected past midnight (another sort key and partition: never
	// merged), e4 an hour later (the horizon); e5 is the last row
	// received, and has no copy. Each batch its own insert, as the old
	// processor wrote them.
	at := time.Date(2026, 2, 28, 23, 59, 59, 900e6, time.UTC)
	horizon := at.Add(time.Hour + 123*time.Millisecond)
	insert := func(ids []string, t0, received time.Time) {
		var vals []string
		for _, id := range ids {
			vals = append(vals, fmt.Sprintf("('src-hz', '%s', 'page', '%s', '%s')", id, t0.Format(chTimeLayout), received.Format(chTimeLayout)))
		}
		insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at", vals)
	}
	insert([]string{"e0", "e1", "e2", "e3", "e4"}, at, at.Add(time.Second))
	insert([]string{"e1"}, at.Add(200*time.Millisecond), at.Add(time.Minute))
	insert([]string{"e4"}, at.Add(200*time.Millisecond), horizon)
	insert([]string{"e5"}, at, at.Add(3*time.Hour))
	if got := rawRows(t, old, "src-hz"); got != 8 {
		_ = db.Close()
		t.Fatalf("old schema stored %d rows, want 8 (copies included)", got)
	}
	s := upgrade(t, db, dir)
	sql := "SELECT toString(max(received_before)) FROM trackstream.copy_horizon"
	if got, want := query(t, s, sql), horizon.Format(chTimeLayout)+"\n"; got != want {
		t.Errorf("after the upgrade: %s\ngot %q, want %q", sql, got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fresh, err := OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fresh.Close() }()
	if got, want := query(t, fresh, sql), "\\N\n"; got != want {
		t.Errorf("new data dir: %s\ngot %q, want %q", sql, got, want)
	}
}

// insertOld inserts the rows vals (SQL value tuples of columns) into the
// events table of a data dir opened by openBefore, closing it if that fails.
func insertOld(ctx context.Context, t *testing.T, old *Embedded, db *chdb.DB, columns string, vals []string) {
	t.Helper()
	if err := old.exec(ctx, "INSERT INTO trackstream.events ("+columns+") VALUES "+strings.Join(vals, ", ")); err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
}

// openBefore opens a new data dir in dir with the schema of every
// migration before version, as an older release left it, for an upgrade
// test to write into with old's exec and then reopen with OpenEmbedded.
func openBefore(t *testing.T, dir string, version uint32) (*Embedded, *chdb.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := chdb.Open(testkit.CHDBLib(t), filepath.Join(dir, "clickhouse"), 1)
	if err != nil {
		t.Fatal(err)
	}
	old := &Embedded{db: db}
	all, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range bootstrap(schemas.Variant{}) {
		if err := old.exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range all {
		if m.Version >= version {
			break
		}
		for _, q := range m.Statements {
			if err := old.exec(ctx, q); err != nil {
				t.Fatalf("migration %d: %v", m.Version, err)
			}
		}
		if err := old.recordVersion(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return old, db
}

// upgrade closes the old data dir's handle and opens dir with the current
// store, which applies the migrations it lacks; t's cleanup closes it.
func upgrade(t *testing.T, old *chdb.DB, dir string) *Embedded {
	t.Helper()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenEmbedded(context.Background(), testkit.CHDBLib(t), dir, quiet, Options{})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A data dir with finalised entry and exit pages in session_pages_daily
// (every migration before 0014) keeps them after the upgrade: migration
// 14 moves every row, versions and markers included, into session_pages
// (sorted by path) once, and drops the old table, so no day is read
// twice nor recomputed, also when a first run failed before its DROP.
// Mutations tried: the migration without its INSERT (the rows were gone)
// and without its empty-table guard (every row twice).
func TestUpgradeMovesSessionPages(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 14)
	// Two passes over one day (the newer one wins on read) and a marker
	// per pass; a second day with one pass.
	for _, stmt := range []string{
		"INSERT INTO trackstream.session_pages_daily SELECT 'src', toDate('2026-01-05'), false, 'entry', '/a', 3, uniqCombined64State(12)(toString(number)), 7 FROM numbers(3)",
		"INSERT INTO trackstream.session_pages_daily SELECT '', toDate('2026-01-05'), false, 'entry', '', 0, uniqCombined64StateIf(12)('', false), 7",
		"INSERT INTO trackstream.session_pages_daily SELECT 'src', toDate('2026-01-05'), false, 'exit', '/b', 2, uniqCombined64State(12)(toString(number)), 9 FROM numbers(2)",
		"INSERT INTO trackstream.session_pages_daily SELECT '', toDate('2026-01-05'), false, 'entry', '', 0, uniqCombined64StateIf(12)('', false), 9",
		"INSERT INTO trackstream.session_pages_daily SELECT 'src', toDate('2026-01-06'), true, 'entry', '/c', 1, uniqCombined64State(12)(toString(number)), 11 FROM numbers(1)",
		"INSERT INTO trackstream.session_pages_daily SELECT '', toDate('2026-01-06'), false, 'entry', '', 0, uniqCombined64StateIf(12)('', false), 11",
	} {
		if err := old.exec(ctx, stmt); err != nil {
			_ = db.Close()
			t.Fatal(err)
		}
	}
	const rows = "SELECT source_id, toString(day), is_bot, kind, page, sessions, finalizeAggregation(visitors), version FROM trackstream.%s FINAL ORDER BY ALL"
	before := query(t, old, fmt.Sprintf(rows, "session_pages_daily"))
	if strings.Count(before, "\n") != 5 {
		t.Fatalf("rows written before the upgrade:\n%s", before)
	}
	// A first run that failed before its DROP: the upgrade runs the
	// migration again over the rows it had copied.
	for _, stmt := range mustMigration(t, 14).Statements {
		if strings.HasPrefix(stmt, "DROP") {
			break
		}
		if err := old.exec(ctx, stmt); err != nil {
			_ = db.Close()
			t.Fatal(err)
		}
	}
	s := upgrade(t, db, dir)
	if got := query(t, s, fmt.Sprintf(rows, "session_pages")); got != before {
		t.Errorf("session_pages after the upgrade:\n%s\nwant the rows of session_pages_daily once:\n%s", got, before)
	}
	// FINAL above would hide rows copied twice (same key and version);
	// a merge would too, but none has run this soon after the copy.
	if got := query(t, s, "SELECT count() FROM trackstream.session_pages"); got != "5\n" {
		t.Errorf("session_pages holds %q rows after the upgrade, want 5: rows copied twice", got)
	}
	if got := query(t, s, "SELECT count() FROM system.tables WHERE database = 'trackstream' AND name = 'session_pages_daily'"); got != "0\n" {
		t.Errorf("session_pages_daily tables after the upgrade: %q, want it dropped", got)
	}
}

// A data dir with session figures finalised before migration 0015 (no
// minute) keeps them after the upgrade, each hour's rows and totals as
// they were, with minute reading as the epoch, which readers and the
// finaliser take as "no per-minute rows" (the hour's marker has minute !=
// hour); rows of one version that differ only by minute are both kept
// (the sorting key gains minute), and a repeated run changes nothing.
// Mutations tried: the migration without MODIFY ORDER BY (a merge kept
// one row of the two minutes).
func TestUpgradeAddsSessionMinutes(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 15)
	for _, stmt := range []string{
		"INSERT INTO trackstream.sessions_hourly VALUES ('src', '2026-01-05 10:00:00', false, 3, 1, 9000, 7), ('', '2026-01-05 10:00:00', false, 0, 0, 0, 7)",
		"INSERT INTO trackstream.sessions_hourly VALUES ('src', '2026-01-05 10:00:00', false, 4, 2, 8000, 9), ('', '2026-01-05 10:00:00', false, 0, 0, 0, 9)",
	} {
		if err := old.exec(ctx, stmt); err != nil {
			_ = db.Close()
			t.Fatal(err)
		}
	}
	s := upgrade(t, db, dir)
	if err := s.exec(ctx, mustMigration(t, 15).Statements[0]); err != nil {
		t.Fatalf("migration 15 again: %v", err)
	}
	const rows = "SELECT source_id, hour, is_bot, toUnixTimestamp(minute), sessions, bounces, duration_ms, version FROM trackstream.sessions_hourly FINAL ORDER BY ALL"
	if got, want := query(t, s, rows), "\t2026-01-05 10:00:00\tfalse\t0\t0\t0\t0\t9\nsrc\t2026-01-05 10:00:00\tfalse\t0\t4\t2\t8000\t9\n"; got != want {
		t.Errorf("sessions_hourly after the upgrade:\n%s\nwant the newest version, minute the epoch:\n%s", got, want)
	}
	// A version written with minutes: two minutes of one hour.
	if err := s.exec(ctx, "INSERT INTO trackstream.sessions_hourly VALUES ('src', '2026-01-05 10:00:00', false, '2026-01-05 10:01:00', 1, 1, 0, 11), "+
		"('src', '2026-01-05 10:00:00', false, '2026-01-05 10:02:00', 2, 0, 500, 11), ('', '2026-01-05 10:00:00', false, '2026-01-05 10:00:00', 0, 0, 0, 11)"); err != nil {
		t.Fatal(err)
	}
	if err := s.exec(ctx, "OPTIMIZE TABLE trackstream.sessions_hourly FINAL"); err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, s, "SELECT sum(sessions), count() FROM trackstream.sessions_hourly WHERE version = 11 AND source_id = 'src'"), "3\t2\n"; got != want {
		t.Errorf("rows of one version after a merge: %q, want %q (each minute kept)", got, want)
	}
}

// A data dir with session figures finalised before migration 0018 (no
// sessions_by_type) answers the same after the upgrade: the first pass of
// the finaliser recomputes every finalised hour once, leaving
// sessions_hourly's figures as they were and writing each hour's figures
// per event type as the raw events say; the pass after it has nothing to
// do. Mutations tried: the finaliser's needs() ignoring hours without
// typed rows (the first pass recomputed nothing, sessions_by_type empty).
func TestUpgradeAddsSessionsByType(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 18)
	// Sessions of two sources over two days ending yesterday, each with
	// pageviews and some signups (one session of signups only, one of a
	// signup and its copy).
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	var vals []string
	for i, e := range []struct {
		source, session, typ string
		at                   time.Duration
		bot                  bool
	}{
		{"a", "s1", "page", 9 * time.Hour, false}, {"a", "s1", "signup", 9*time.Hour + 5*time.Minute, false}, {"a", "s1", "page", 9*time.Hour + 7*time.Minute, false},
		{"a", "s1", "signup", 10*time.Hour + 2*time.Minute, false}, {"a", "s2", "signup", 11*time.Hour + 30*time.Second, true},
		{"b", "s1", "page", 23*time.Hour + 50*time.Minute, false}, {"b", "s1", "signup", 24*time.Hour + 10*time.Minute, false},
		{"b", "s3", "signup", 30 * time.Hour, false}, {"b", "s3", "signup", 30 * time.Hour, false},
	} {
		id := fmt.Sprintf("e%d", i)
		if i == 8 {
			id = "e7" // a copy of the signup before it
		}
		at := day.Add(e.at).Format(chTimeLayout)
		vals = append(vals, fmt.Sprintf("('%s', '%s', '%s', '%s', '%s', '%s', %v)", e.source, id, e.typ, at, at, e.session, e.bot))
	}
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, session_id, is_bot", vals)
	// The finaliser as it was before migration 0018: sessions_hourly and
	// session_pages only, ten minutes from now (after the late-event marks
	// of the rows above).
	now := time.Now().Add(10 * time.Minute)
	pass := func(st finalise.Store) finalise.Result {
		t.Helper()
		fin, err := finalise.New(st, finalise.Settings{Interval: time.Minute, Lateness: 2 * time.Hour}, quiet, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		res, err := fin.Pass(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := pass(before0018{&Embedded{db: db, reads: db}})
	const hourly = "SELECT source_id, toString(hour), is_bot, toString(minute), sessions, bounces, duration_ms FROM trackstream.sessions_hourly FINAL " +
		"WHERE source_id != '' AND (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_hourly GROUP BY hour) ORDER BY ALL"
	want := query(t, old, hourly)
	s := upgrade(t, db, dir)
	if got := query(t, s, "SELECT count() FROM trackstream.sessions_by_type"); got != "0\n" {
		t.Fatalf("sessions_by_type after the upgrade holds %q rows, want none", got)
	}
	if up := pass(s); up.Hours != first.Hours || up.Corrections != 0 {
		t.Errorf("the first pass after the upgrade: %+v, want every hour (%d) recomputed and none changed", up, first.Hours)
	}
	if got := query(t, s, hourly); got != want || !strings.Contains(want, "3720000") {
		t.Errorf("sessions_hourly after the upgrade:\n%s\nwant as before it:\n%s", got, want)
	}
	const typed = "SELECT event_type, source_id, toString(minute), is_bot, sessions, bounces, duration_ms FROM trackstream.sessions_by_type FINAL " +
		"WHERE event_type = 'signup' AND (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_by_type WHERE event_type = '' AND source_id = '' GROUP BY hour) ORDER BY ALL"
	d1, d2 := day.Format(time.DateOnly), day.Add(24*time.Hour).Format(time.DateOnly)
	// a/s1: two signups an hour apart; a/s2: one bot signup; b/s1: one
	// signup after midnight (a session of the new day); b/s3: one signup
	// and its copy (a bounce).
	wantTyped := "signup\ta\t" + d1 + " 09:05:00\tfalse\t1\t0\t3420000\n" + "signup\ta\t" + d1 + " 11:00:00\ttrue\t1\t1\t0\n" +
		"signup\tb\t" + d2 + " 00:10:00\tfalse\t1\t1\t0\n" + "signup\tb\t" + d2 + " 06:00:00\tfalse\t1\t1\t0\n"
	if got := query(t, s, typed); got != wantTyped {
		t.Errorf("sessions_by_type after the first pass:\n%s\nwant:\n%s", got, wantTyped)
	}
	if again := pass(s); again.Hours != 0 {
		t.Errorf("a second pass: %+v, want nothing to do", again)
	}
}

// before0018 is a store as the finaliser saw it before migration 0018:
// without sessions_by_type and visitors_exact (0019; writes to them are
// dropped, reads find nothing).
type before0018 struct{ *Embedded }

// missing reports whether sql uses a table before0018 lacks.
func (before0018) missing(sql string) bool {
	return strings.Contains(sql, "sessions_by_type") || strings.Contains(sql, "visitors_exact")
}

func (s before0018) Write(ctx context.Context, sql string, params map[string]string) error {
	if s.missing(sql) {
		return nil
	}
	return s.Embedded.Write(ctx, sql, params)
}

func (s before0018) QueryJSON(ctx context.Context, sql string, params, settings map[string]string) ([]json.RawMessage, error) {
	if s.missing(sql) {
		return nil, nil
	}
	return s.Embedded.QueryJSON(ctx, sql, params, settings)
}

// mustMigration is the embedded migration of version v.
func mustMigration(t *testing.T, v uint32) schemas.Migration {
	t.Helper()
	all, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version == v {
			return m
		}
	}
	t.Fatalf("no migration %d", v)
	return schemas.Migration{}
}

// A data dir with count rollups written before migration 0016 keeps every
// count and visitor sketch after the upgrade: the migration copies
// counts_hourly and counts_daily into the tables sorted by event type
// once, also when a first run failed before its DROPs, drops the old
// tables and their views, and events stored afterwards reach the new
// tables through their views. Mutations tried: the migration without its
// empty-table guards (every count twice) and without its hourly INSERT
// (the hours were gone).
func TestUpgradeSortsCountsByType(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 16)
	// 40 events of 4 types and 6 visitors over two days and three hours,
	// every fifth a bot, written through the old views.
	at := time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC)
	var vals []string
	for i := range 40 {
		when := at.Add(time.Duration(i) * 3 * time.Minute)
		vals = append(vals, fmt.Sprintf("('src-ty', 'e%d', '%s', '%s', '%s', 'v%d', %v)", i, []string{"page", "click", "signup", "screen"}[i%4],
			when.Format(chTimeLayout), when.Format(chTimeLayout), i%6, i%5 == 0))
	}
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id, is_bot", vals)
	const rows = "SELECT toString(%s), event_type, is_bot, sum(events), uniqCombined64Merge(15)(visitors) FROM trackstream.%s WHERE source_id = 'src-ty' GROUP BY ALL ORDER BY ALL"
	hourly, daily := query(t, old, fmt.Sprintf(rows, "hour", "counts_hourly")), query(t, old, fmt.Sprintf(rows, "day", "counts_daily"))
	for _, table := range []string{"counts_hourly", "counts_daily"} {
		if got := query(t, old, "SELECT sum(events) FROM trackstream."+table+" WHERE source_id = 'src-ty'"); got != "40\n" {
			_ = db.Close()
			t.Fatalf("%s counts %q events before the upgrade, want 40", table, got)
		}
	}
	// A first run that failed before its DROPs: the upgrade runs the
	// migration again over the rows it had copied.
	for _, stmt := range mustMigration(t, 16).Statements {
		if strings.HasPrefix(stmt, "DROP") {
			break
		}
		if err := old.exec(ctx, stmt); err != nil {
			_ = db.Close()
			t.Fatal(err)
		}
	}
	s := upgrade(t, db, dir)
	if got := query(t, s, fmt.Sprintf(rows, "hour", "counts_by_type_hourly")); got != hourly {
		t.Errorf("counts_by_type_hourly after the upgrade:\n%s\nwant the counts of counts_hourly once:\n%s", got, hourly)
	}
	if got := query(t, s, fmt.Sprintf(rows, "day", "counts_by_type_daily")); got != daily {
		t.Errorf("counts_by_type_daily after the upgrade:\n%s\nwant the counts of counts_daily once:\n%s", got, daily)
	}
	if got := query(t, s, "SELECT count() FROM system.tables WHERE database = 'trackstream' AND (name LIKE 'counts\\_hourly%' OR name LIKE 'counts\\_daily%')"); got != "0\n" {
		t.Errorf("counts_hourly and counts_daily tables and views after the upgrade: %q, want them dropped", got)
	}
	if err := write(ctx, s, "after", rowsAt("src-ty", 5, "signup", at)); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"counts_by_type_hourly", "counts_by_type_daily"} {
		if got := query(t, s, "SELECT sum(events) FROM trackstream."+table+" WHERE source_id = 'src-ty' AND event_type = 'signup'"); got != "15\n" {
			t.Errorf("%s signups after an insert of 5 more: %q, want 15", table, got)
		}
	}
}

// rowsAt is n events of one type at when, with ids no other helper uses.
func rowsAt(source string, n int, typ string, when time.Time) []Row {
	out := rows(source, n, when.Add(time.Second))
	for i := range out {
		out[i].Event.ID, out[i].Event.Type = fmt.Sprintf("at-%d", i), typ
	}
	return out
}

// A data dir from before migration 0019 gets visitors_exact (empty: the
// finaliser fills it, see internal/finalise) and a late-event mark for
// events without a session id too: exact visitors count them, so a day
// that is over recomputes when one arrives. Mutation tried: keeping the
// old view's session_id condition (the day stays unmarked).
func TestUpgradeMarksSessionlessLateEvents(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	old, db := openBefore(t, dir, 19)
	day := time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC)
	const dirty = "SELECT toString(day) FROM trackstream.sessions_dirty ORDER BY day"
	insertOld(ctx, t, old, db, "source_id, event_id, event_type, event_time, received_at, profile_id",
		[]string{fmt.Sprintf("('src-sl', 'old-1', 'page', '%s', '%s', 'p-1')", day.Add(time.Hour).Format(chTimeLayout), day.Add(time.Hour).Format(chTimeLayout))})
	if got, err := old.queryString(ctx, "SELECT count() FROM trackstream.sessions_dirty"); err != nil || strings.TrimSpace(got) != "0" {
		_ = db.Close()
		t.Fatalf("before the upgrade a sessionless event marked %s days (%v), want 0", got, err)
	}
	s := upgrade(t, db, dir)
	if got := query(t, s, "SELECT count() FROM trackstream.visitors_exact"); got != "0\n" {
		t.Errorf("visitors_exact after the upgrade holds %q rows, want 0 (the finaliser writes it)", got)
	}
	if err := write(ctx, s, "t-sessionless", rows("src-sl", 2, day.Add(24*time.Hour+3*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, s, dirty), day.Add(24*time.Hour).Format(time.DateOnly)+"\n"; got != want {
		t.Errorf("days marked after sessionless late events: %q, want %q", got, want)
	}
}
