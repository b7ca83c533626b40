package processor

import (
	"encoding/binary"
	"maps"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/go-faster/city"
)

// The dedup window: for each partition a worker owns, the ids of the
// events stored from it whose event hour is at or after the window's
// start (from), in an open-addressing hash set of 128-bit hashes. Being
// complete for those hours, it answers both ways for an event of the
// partition whose copies can only be in those hours: a hit is a copy, a
// miss is new. Everything else is looked up in ClickHouse (see dedup.go).

// idKey is the 128-bit CityHash of an event's source and id (length-
// prefixed source, then id). Two different events share a key with
// probability 2^-128 per pair: with a billion ids held and a trillion
// looked up, about 3e-18 that any one event is taken for a copy.
type idKey struct{ a, b uint64 }

// keyOf returns the key of source and id; buf is scratch space, returned
// for reuse.
func keyOf(buf []byte, source, id string) (idKey, []byte) {
	buf = binary.AppendUvarint(buf[:0], uint64(len(source)))
	buf = append(buf, source...)
	buf = append(buf, id...)
	h := city.CH128(buf)
	k := idKey{h.Low, h.High}
	if k == (idKey{}) {
		// The zero key marks an empty slot: the one event whose hash is
		// zero shares a slot with the events whose hash is {0, 1} (one
		// more collision of probability 2^-128).
		k.b = 1
	}
	return k, buf
}

// hourOf is the Unix hour of a time in Unix milliseconds (floor, also
// before 1970), saturated to int32.
func hourOf(ms int64) int32 {
	h := ms / 3_600_000
	if ms%3_600_000 < 0 {
		h--
	}
	return int32(max(math.MinInt32, min(math.MaxInt32, h)))
}

// slotBytes is the memory of one slot of the set: a 16-byte key and a
// 4-byte hour.
const slotBytes = 20

// budget is what every window of one processor may hold together: ids
// and the bytes of their tables (reported as metrics).
type budget struct {
	maxIDs int64
	ids    atomic.Int64
	bytes  atomic.Int64
}

// window is the set of one partition. Not safe for concurrent use.
type window struct {
	// from is the first event hour the set is complete for: it holds
	// every event stored from the partition with an hour >= from.
	from int32
	// partitions is the events topic's partition count the window was
	// built for; a record whose key the partitioner puts elsewhere under
	// it is looked up.
	partitions int
	keys       []idKey // {} is empty
	hours      []int32
	used       int
	perHour    map[int32]int
	b          *budget
}

// newWindow returns an empty window complete from hour from.
func newWindow(b *budget, from int32, partitions int) *window {
	return &window{from: from, partitions: partitions, perHour: map[int32]int{}, b: b}
}

// has reports whether k is in the set.
func (w *window) has(k idKey) bool {
	if w.used == 0 {
		return false
	}
	for i := w.slot(k); ; i = w.next(i) {
		switch w.keys[i] {
		case k:
			return true
		case idKey{}:
			return false
		}
	}
}

// add records a stored event of hour. An event before from is not held
// (the window does not answer for that hour). When the process's budget
// is spent, the window gives up its oldest hours to make room, or, when
// hour is its oldest, moves from past hour instead: it never holds less
// than it claims.
func (w *window) add(k idKey, hour int32) {
	if hour < w.from || w.has(k) {
		return
	}
	for w.b.ids.Load() >= w.b.maxIDs {
		oldest, ok := w.oldest()
		if !ok || oldest >= hour {
			w.advance(hour + 1)
			return
		}
		w.advance(oldest + 1)
	}
	if (w.used+1)*5 > len(w.keys)*4 { // load factor 0.8
		w.resize(max(1024, len(w.keys)+len(w.keys)/2))
	}
	w.put(k, hour)
	w.used++
	w.perHour[hour]++
	w.b.ids.Add(1)
}

// put stores k in a free slot (k not present, a slot free).
func (w *window) put(k idKey, hour int32) {
	i := w.slot(k)
	for w.keys[i] != (idKey{}) {
		i = w.next(i)
	}
	w.keys[i], w.hours[i] = k, hour
}

// slot is where k's probe sequence starts: k.a scaled to the table size
// (any size, not only powers of two, so the table grows by half).
func (w *window) slot(k idKey) int {
	hi, _ := bits.Mul64(k.a, uint64(len(w.keys)))
	return int(hi)
}

// next is the slot after i, wrapping around.
func (w *window) next(i int) int {
	if i++; i == len(w.keys) {
		return 0
	}
	return i
}

// resize moves the entries of an hour >= from into a table of size
// slots (more than the entries over the load factor).
func (w *window) resize(size int) {
	oldKeys, oldHours := w.keys, w.hours
	w.b.bytes.Add(int64(size-len(oldKeys)) * slotBytes)
	w.keys, w.hours = make([]idKey, size), make([]int32, size)
	for i, k := range oldKeys {
		if k != (idKey{}) && oldHours[i] >= w.from {
			w.put(k, oldHours[i])
		}
	}
}

// oldest is the oldest hour the set holds.
func (w *window) oldest() (int32, bool) {
	if len(w.perHour) == 0 {
		return 0, false
	}
	return slices.Min(slices.Collect(maps.Keys(w.perHour))), true
}

// advance moves the window's start to from (never back), dropping the
// entries of earlier hours.
func (w *window) advance(from int32) {
	if from <= w.from {
		return
	}
	w.from = from
	gone := 0
	for h, n := range w.perHour {
		if h < from {
			gone += n
			delete(w.perHour, h)
		}
	}
	if gone == 0 {
		return
	}
	w.used -= gone
	w.b.ids.Add(-int64(gone))
	size := len(w.keys)
	for size > 1024 && w.used*5 < size { // shrink to a load under 0.3
		size = size * 2 / 3
	}
	if w.used == 0 {
		size = 0
	}
	w.resize(size)
}

// release gives the window's ids and bytes back to the budget.
func (w *window) release() {
	w.b.ids.Add(-int64(w.used))
	w.b.bytes.Add(-int64(len(w.keys)) * slotBytes)
	w.keys, w.hours, w.used, w.perHour = nil, nil, 0, map[int32]int{}
}
