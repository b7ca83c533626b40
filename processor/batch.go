package processor

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/store"
)

// batch is the rows polled but not yet inserted with the record each came
// from, and for each partition the first and last offset they cover and a
// digest of the record values (dead-lettered records included: their
// offsets are committed with the batch).
type batch struct {
	rows    []store.Row
	recs    []*kgo.Record
	bytes   int
	started time.Time
	first   map[int32]int64
	last    map[int32]*kgo.Record
	values  map[int32]hash.Hash64
}

func newBatch() *batch {
	return &batch{first: map[int32]int64{}, last: map[int32]*kgo.Record{}, values: map[int32]hash.Hash64{}}
}

// track adds r to the offsets and digests the batch covers.
func (b *batch) track(r *kgo.Record) {
	if len(b.last) == 0 {
		b.started = time.Now()
	}
	if _, ok := b.first[r.Partition]; !ok {
		b.first[r.Partition] = r.Offset
	}
	b.last[r.Partition] = r
	h, ok := b.values[r.Partition]
	if !ok {
		h = fnv.New64a()
		b.values[r.Partition] = h
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(r.Value)))
	h.Write(n[:])
	h.Write(r.Value)
}

// add appends a decoded row and the record it came from.
func (b *batch) add(row store.Row, r *kgo.Record) {
	b.rows = append(b.rows, row)
	b.recs = append(b.recs, r)
	b.bytes += len(r.Value)
}

func (b *batch) empty() bool { return len(b.last) == 0 }

// commitRecords are the last record of every partition the batch covers.
func (b *batch) commitRecords() []*kgo.Record {
	recs := make([]*kgo.Record, 0, len(b.last))
	for _, r := range b.last {
		recs = append(recs, r)
	}
	return recs
}

// Token derives the insert_deduplication_token from the offset ranges the
// batch covers and the digests of their record values: the same records
// always give the same token. Offsets alone are not enough: after a topic is
// recreated, the embedded broker's data is wiped while ClickHouse keeps its
// own, or the processor is pointed at another cluster, the same offsets
// hold other records, and ClickHouse would silently drop their insert as a
// duplicate of the earlier one. Halves of a split batch append ".0" and
// ".1" to their parent's token.
func (b *batch) Token() string {
	parts := make([]string, 0, len(b.last))
	for p, r := range b.last {
		parts = append(parts, r.Topic+"/"+strconv.Itoa(int(p))+":"+strconv.FormatInt(b.first[p], 10)+"-"+strconv.FormatInt(r.Offset, 10)+
			":"+strconv.FormatUint(b.values[p].Sum64(), 16))
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return "tsp-" + hex.EncodeToString(sum[:16])
}
