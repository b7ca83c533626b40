package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/go-faster/city"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/schemas"
)

// Write-time deduplication. The rollups count events with plain sums, so
// no copy of an event may reach the events table: Copies finds, before a
// batch is inserted, the rows that repeat an earlier row of the batch or
// an event already stored (looked up in event_ids, migration 0004, by
// source and cityHash64 of the id; the lookup returns the ids themselves,
// so a hash collision never marks an event that is not a copy).

// eventKey identifies an event: the source and the event id.
type eventKey struct{ source, id string }

// idHash is ClickHouse's cityHash64 of an event id (what event_ids stores).
func idHash(id string) uint64 { return city.CH64([]byte(id)) }

// A lookup carries at most lookupChunk ids of at most lookupSources
// sources: both key columns of event_ids then narrow what is read.
const (
	lookupChunk   = 10_000
	lookupSources = 64
)

// lookup is one event_ids lookup: sources and the id hashes of their
// rows.
type lookup struct {
	sources []string
	hashes  []uint64
}

// storedIDsSQL returns the stored events among sources and id hashes, hex
// encoded so that any bytes survive the text format. %s is the list of
// source parameters.
const storedIDsSQL = "SELECT DISTINCT hex(source_id), hex(event_id) FROM " + schemas.Database + ".event_ids WHERE source_id IN (%s) AND id_hash IN {h:Array(UInt64)}"

// lookupSQL writes the statement and parameters of l; esc escapes a
// parameter value for the engine.
func (l lookup) sql(esc func(string) string) (string, map[string]string) {
	params := map[string]string{"h": esc(hashList(l.hashes))}
	names := make([]string, len(l.sources))
	for i, src := range l.sources {
		name := "s" + strconv.Itoa(i)
		names[i] = "{" + name + ":String}"
		params[name] = esc(src)
	}
	return fmt.Sprintf(storedIDsSQL, strings.Join(names, ", ")), params
}

// copiesOf marks the rows that repeat an earlier row of rows or an event
// stored reports as stored. stored gets the sources and id hashes of the
// rows that are first in rows, in lookups of at most lookupChunk ids and
// lookupSources sources.
func copiesOf(ctx context.Context, rows []Row, stored func(ctx context.Context, l lookup) (map[eventKey]bool, error)) ([]bool, error) {
	dup := make([]bool, len(rows))
	first := make(map[eventKey]int, len(rows))
	bySource := map[string][]uint64{}
	for i := range rows {
		k := eventKey{rows[i].Event.SourceID, rows[i].Event.ID}
		if _, seen := first[k]; seen {
			dup[i] = true
			continue
		}
		first[k] = i
		bySource[k.source] = append(bySource[k.source], idHash(k.id))
	}
	var l lookup
	flush := func() error {
		if len(l.hashes) == 0 {
			return nil
		}
		found, err := stored(ctx, l)
		if err != nil {
			return fmt.Errorf("look up %d event ids among the stored events: %w", len(l.hashes), err)
		}
		for k := range found {
			if i, ok := first[k]; ok {
				dup[i] = true
			}
		}
		l = lookup{}
		return nil
	}
	for _, src := range slices.Sorted(maps.Keys(bySource)) {
		hs := bySource[src]
		for len(hs) > 0 {
			if len(l.sources) == lookupSources || len(l.hashes) == lookupChunk {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			n := min(len(hs), lookupChunk-len(l.hashes))
			l.sources = append(l.sources, src)
			l.hashes = append(l.hashes, hs[:n]...)
			hs = hs[n:]
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return dup, nil
}

// hashList writes hashes as an Array(UInt64) parameter value.
func hashList(hashes []uint64) string {
	var b strings.Builder
	b.Grow(len(hashes) * 21)
	b.WriteByte('[')
	for i, h := range hashes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(h, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// parseStored reads storedIDsSQL's TabSeparated answer.
func parseStored(out string) (map[eventKey]bool, error) {
	found := map[eventKey]bool{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		hs, hi, ok := strings.Cut(line, "\t")
		src, err1 := hex.DecodeString(hs)
		id, err2 := hex.DecodeString(hi)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected event_ids row %q", line)
		}
		found[eventKey{string(src), string(id)}] = true
	}
	return found, nil
}

// Copies marks the rows that are copies: of an earlier row of rows, or of
// an event already stored.
func (s *Embedded) Copies(ctx context.Context, rows []Row) ([]bool, error) {
	return copiesOf(ctx, rows, func(ctx context.Context, l lookup) (map[eventKey]bool, error) {
		sql, params := l.sql(chdb.EscapeParam)
		out, err := s.db.QueryParams(ctx, sql, "TabSeparated", params)
		if err != nil {
			return nil, err
		}
		return parseStored(string(out))
	})
}

// Copies marks the rows that are copies: of an earlier row of rows, or of
// an event already stored.
func (s *Server) Copies(ctx context.Context, rows []Row) ([]bool, error) {
	return copiesOf(ctx, rows, func(ctx context.Context, l lookup) (map[eventKey]bool, error) {
		sql, params := l.sql(func(v string) string { return v })
		ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(params)))
		out, err := s.queryString(ctx, sql)
		if err != nil {
			return nil, err
		}
		return parseStored(out)
	})
}

// RecentID is a stored event as the processor's dedup window needs it:
// the Kafka partition its record key goes to, its source and id, and its
// event time in Unix milliseconds.
type RecentID struct {
	Partition  int32
	Source, ID string
	TimeMs     int64
}

// recentIDsSQL selects the stored events with an event time in [from,
// to) whose record key (event.Event.Key: source, '/', the first non-empty
// of profile, anonymous, user and session id, else the event id) Kafka's
// default partitioner (murmur2, what franz-go and the Java client use for
// keyed records) puts on one of the partitions parts of a topic of n.
const recentIDsSQL = "SELECT source_id, event_id, toUnixTimestamp64Milli(event_time) AS ms, toUInt32(p) FROM (" +
	"SELECT source_id, event_id, event_time, kafkaMurmurHash(concat(source_id, '/', multiIf(profile_id != '', profile_id, " +
	"anonymous_id != '', anonymous_id, user_id != '', user_id, session_id != '', session_id, event_id))) % {n:UInt32} AS p " +
	"FROM " + schemas.Database + ".events WHERE event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}) " +
	"WHERE p IN {parts:Array(UInt32)}"

// recentHoursSQL counts recentIDsSQL's events by Unix hour of their event
// time, for the rebuild to read them in chunks of bounded size.
const recentHoursSQL = "SELECT toInt64(intDiv(toUnixTimestamp64Milli(event_time), 3600000)) AS h, count() FROM (" +
	"SELECT event_time, kafkaMurmurHash(concat(source_id, '/', multiIf(profile_id != '', profile_id, " +
	"anonymous_id != '', anonymous_id, user_id != '', user_id, session_id != '', session_id, event_id))) % {n:UInt32} AS p " +
	"FROM " + schemas.Database + ".events WHERE event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}) " +
	"WHERE p IN {parts:Array(UInt32)} GROUP BY h"

// recentIDsParams are recentIDsSQL's parameters, unescaped.
func recentIDsParams(parts []int32, n int, from, to time.Time) map[string]string {
	ps := make([]string, len(parts))
	for i, p := range parts {
		ps[i] = strconv.Itoa(int(p))
	}
	return map[string]string{
		"n": strconv.Itoa(n), "parts": "[" + strings.Join(ps, ",") + "]",
		"from": from.UTC().Format(chTimeLayout), "to": to.UTC().Format(chTimeLayout),
	}
}

// RecentIDs calls fn for every stored event with an event time in [from,
// to) whose record key goes to one of parts of the events topic's n
// partitions (see recentIDsSQL), so a processor can rebuild the dedup
// window of partitions it was assigned. Callers keep [from, to) small
// (an hour): the answer is held in memory whole.
func (s *Embedded) RecentIDs(ctx context.Context, parts []int32, n int, from, to time.Time, fn func(RecentID)) error {
	params := recentIDsParams(parts, n, from, to)
	for k, v := range params {
		params[k] = chdb.EscapeParam(v)
	}
	out, err := s.reads.QueryParams(ctx, recentIDsSQL, "RowBinary", params)
	if err != nil {
		return fmt.Errorf("read the stored event ids of partitions %v from %s to %s: %w", parts, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	for len(out) > 0 {
		var r RecentID
		if r.Source, out, err = rowBinaryString(out); err == nil {
			r.ID, out, err = rowBinaryString(out)
		}
		if err != nil || len(out) < 12 {
			return fmt.Errorf("read the stored event ids of partitions %v: truncated RowBinary answer", parts)
		}
		r.TimeMs = int64(binary.LittleEndian.Uint64(out))
		r.Partition = int32(binary.LittleEndian.Uint32(out[8:]))
		out = out[12:]
		fn(r)
	}
	return nil
}

// RecentHours counts, by Unix hour of their event time, the events
// RecentIDs would return for the same arguments.
func (s *Embedded) RecentHours(ctx context.Context, parts []int32, n int, from, to time.Time) (map[int64]int, error) {
	params := recentIDsParams(parts, n, from, to)
	for k, v := range params {
		params[k] = chdb.EscapeParam(v)
	}
	out, err := s.reads.QueryParams(ctx, recentHoursSQL, "TabSeparated", params)
	if err != nil {
		return nil, fmt.Errorf("count the stored event ids of partitions %v by hour: %w", parts, err)
	}
	return parseHours(string(out))
}

// RecentHours is Embedded.RecentHours against a server.
func (s *Server) RecentHours(ctx context.Context, parts []int32, n int, from, to time.Time) (map[int64]int, error) {
	params := recentIDsParams(parts, n, from, to)
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(params)))
	rows, err := s.conn.Query(ctx, recentHoursSQL)
	if err != nil {
		return nil, fmt.Errorf("count the stored event ids of partitions %v by hour: %w", parts, err)
	}
	defer rows.Close()
	hours := map[int64]int{}
	for rows.Next() {
		var h int64
		var c uint64
		if err := rows.Scan(&h, &c); err != nil {
			return nil, fmt.Errorf("count the stored event ids of partitions %v by hour: %w", parts, err)
		}
		hours[h] = int(c)
	}
	return hours, rows.Err()
}

// parseHours reads recentHoursSQL's TabSeparated answer.
func parseHours(out string) (map[int64]int, error) {
	hours := map[int64]int{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		hs, cs, _ := strings.Cut(line, "\t")
		h, err1 := strconv.ParseInt(hs, 10, 64)
		c, err2 := strconv.Atoi(cs)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected hour count %q", line)
		}
		hours[h] = c
	}
	return hours, nil
}

// rowBinaryString reads a RowBinary String from b and returns the rest.
func rowBinaryString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, errors.New("truncated string")
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// RecentIDs is Embedded.RecentIDs against a server.
func (s *Server) RecentIDs(ctx context.Context, parts []int32, n int, from, to time.Time, fn func(RecentID)) error {
	params := recentIDsParams(parts, n, from, to)
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(params)))
	rows, err := s.conn.Query(ctx, recentIDsSQL)
	if err != nil {
		return fmt.Errorf("read the stored event ids of partitions %v from %s to %s: %w", parts, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	defer rows.Close()
	for rows.Next() {
		var r RecentID
		var p uint32
		if err := rows.Scan(&r.Source, &r.ID, &r.TimeMs, &p); err != nil {
			return fmt.Errorf("read the stored event ids of partitions %v: %w", parts, err)
		}
		r.Partition = int32(p)
		fn(r)
	}
	return rows.Err()
}
