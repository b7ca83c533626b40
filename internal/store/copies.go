package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

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
