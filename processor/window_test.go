package processor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// checkWindow holds w to its contract against stored, every key added
// with its hour: complete (every stored key of an hour >= from is in the
// set) and sound (every key in the set was stored), with the budget's
// count matching.
func checkWindow(t *testing.T, w *window, stored map[idKey]int32, probes []idKey) {
	t.Helper()
	for k, h := range stored {
		if h >= w.from && !w.has(k) {
			t.Fatalf("stored key %x of hour %d missing from a window complete from hour %d: a copy would be stored again", k, h, w.from)
		}
	}
	for _, k := range probes {
		if _, ok := stored[k]; w.has(k) && !ok {
			t.Fatalf("key %x never stored is in the window: an event that is not a copy would be dropped", k)
		}
	}
	n := 0
	for _, k := range w.keys {
		if k != (idKey{}) {
			n++
		}
	}
	if n != w.used {
		t.Fatalf("the table holds %d keys, the window counts %d", n, w.used)
	}
}

// Keys that share their first 64 bits (and so their probe start) are still
// told apart: the set compares all 128 bits. The mutation of comparing k.a
// alone in has fails here.
func TestWindowTellsApartKeysSharingHalfTheirHash(t *testing.T) {
	w := newWindow(&budget{maxIDs: 1 << 20}, 0, 1)
	stored := map[idKey]int32{}
	var probes []idKey
	for i := range 3000 {
		k := idKey{uint64(i % 7), uint64(i)*0x9e3779b97f4a7c15 + 1}
		probes = append(probes, k)
		if i%2 == 0 {
			w.add(k, 5)
			stored[k] = 5
		}
	}
	checkWindow(t, w, stored, probes)
}

// Random adds, probes and advances, with a budget small enough that the
// cap moves the window: the window stays complete from its start and
// never holds a key that was not added.
func FuzzWindow(f *testing.F) {
	f.Add(uint64(1), uint16(300), uint8(8))
	f.Add(uint64(2), uint16(5000), uint8(200))
	f.Add(uint64(3), uint16(2000), uint8(0))
	f.Add(uint64(4), uint16(4000), uint8(40))
	f.Fuzz(func(t *testing.T, seed uint64, ops uint16, capIDs uint8) {
		rng := rand.New(rand.NewPCG(seed, seed^0xabcdef))
		b := &budget{maxIDs: int64(capIDs) * 16}
		w := newWindow(b, 10, 1)
		stored := map[idKey]int32{}
		var probes []idKey
		// Few distinct first halves, so probe sequences collide.
		key := func() idKey { return idKey{uint64(rng.IntN(4)), rng.Uint64()%4096 + 1} }
		for range int(ops) {
			switch r := rng.IntN(200); {
			case r == 0:
				w.advance(w.from + int32(rng.IntN(3)))
			case r < 120:
				// Mostly the window's hours, a few before its start.
				k, h := key(), w.from-2+int32(rng.IntN(12))
				if _, ok := stored[k]; ok {
					continue // an event has one time; a copy is never added twice
				}
				w.add(k, h)
				stored[k] = h
			default:
				probes = append(probes, key())
			}
		}
		checkWindow(t, w, stored, probes)
		if b.ids.Load() != int64(w.used) {
			t.Fatalf("budget counts %d ids, the window holds %d", b.ids.Load(), w.used)
		}
		if b.maxIDs > 0 && b.ids.Load() > b.maxIDs {
			t.Fatalf("the window holds %d ids over the cap of %d", b.ids.Load(), b.maxIDs)
		}
		if b.bytes.Load() != int64(len(w.keys))*slotBytes {
			t.Fatalf("budget counts %d bytes, the table has %d", b.bytes.Load(), len(w.keys)*slotBytes)
		}
		w.release()
		if b.ids.Load() != 0 || b.bytes.Load() != 0 {
			t.Fatalf("after release the budget holds %d ids and %d bytes", b.ids.Load(), b.bytes.Load())
		}
	})
}

// At the cap a window gives up its oldest hour for a newer event, and
// moves its start past an event older than all it holds.
func TestWindowCapGivesUpOldestHours(t *testing.T) {
	b := &budget{maxIDs: 4}
	w := newWindow(b, 0, 1)
	k := func(i int) idKey { return idKey{uint64(i), uint64(i) + 1} }
	for i := range 4 {
		w.add(k(i), int32(1+i/2)) // hours 1, 1, 2, 2
	}
	w.add(k(10), 3)
	if w.from != 2 || w.has(k(0)) || !w.has(k(2)) || !w.has(k(10)) {
		t.Fatalf("after a fifth id at hour 3: from %d, has(hour 1) %v, has(hour 2) %v, has(new) %v; want the oldest hour given up", w.from, w.has(k(0)), w.has(k(2)), w.has(k(10)))
	}
	w.add(k(11), 3)
	w.add(k(12), 2) // older than what the window still holds room for
	if w.from != 3 || w.has(k(12)) || w.used != 2 {
		t.Fatalf("from %d, has(hour-2 id) %v, used %d; want the window moved past hour 2", w.from, w.has(k(12)), w.used)
	}
	// Another window of the same process shares the budget.
	w2 := newWindow(b, 0, 1)
	w2.add(k(20), 3)
	w2.add(k(21), 3)
	w2.add(k(22), 3)
	if got := b.ids.Load(); got > 4 {
		t.Fatalf("two windows hold %d ids over a cap of 4", got)
	}
}

// The event key hashes the source and the id apart: ("ab", "c") and ("a",
// "bc") are different events.
func TestKeyOfSeparatesSourceAndID(t *testing.T) {
	a, _ := keyOf(nil, "ab", "c")
	b, _ := keyOf(nil, "a", "bc")
	if a == b {
		t.Fatal(`keyOf("ab", "c") == keyOf("a", "bc")`)
	}
}

// BenchmarkWindow adds ids to one window and probes them; it reports the
// heap bytes per id held (runtime.MemStats), the figure behind the
// README's memory per million ids.
func BenchmarkWindow(b *testing.B) {
	for _, n := range []int{1_000_000} {
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			keys := make([]idKey, n)
			var buf []byte
			for i := range keys {
				keys[i], buf = keyOf(buf, "src_abc", "0193a1b2-0000-7000-8000-"+fmt.Sprintf("%012d", i))
			}
			b.ReportAllocs()
			var perID float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				w := newWindow(&budget{maxIDs: int64(n)}, 0, 1)
				for i, k := range keys {
					w.add(k, int32(i>>16))
				}
				hits := 0
				for _, k := range keys {
					if w.has(k) {
						hits++
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perID = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				if hits != n {
					b.Fatalf("%d of %d ids found", hits, n)
				}
				runtime.KeepAlive(w)
			}
			b.ReportMetric(perID, "B/id")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/id-op")
		})
	}
}
