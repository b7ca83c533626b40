package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/trackstream/trackstream/internal/jsonread"
)

// The rules for the keys of an event's properties (or traits) and
// context. They hold whatever column type stores the objects: each is
// about what the JSON sent means, not about how it is stored.
//
//   - A key is not empty and holds no '.': ClickHouse's JSON type (and
//     every query by path, properties.a.b) reads a dot as nesting, so
//     {"a.b":1,"a":{"b":2}} would keep one of the two values and "" or
//     "a..b" would become empty path segments. Refused, never rewritten.
//   - An event holds at most MaxKeys keys, counted at every level of
//     nesting (objects inside arrays included), in its properties and
//     context together.
//   - A source uses at most MaxSourcePaths distinct paths a month (see
//     pathBudget).

// keyScan walks the objects of one event, checking their keys and
// noting the paths (leaf values, arrays as one value) for the source's
// path budget.
type keyScan struct {
	maxKeys int
	keys    int
	seed    maphash.Seed
	// path is the path being walked: the object's name, then one segment
	// per level, each after a 0 byte: a key, or nothing for the elements
	// of an array (empty keys are refused before they are walked).
	path []byte
	// paths are the hashes of the leaf paths met, in order.
	paths []uint64
	// want, when not negative, is the index of a leaf whose path shows
	// the caller, who finds it in wantPath.
	want     int
	wantPath string
}

// keyScans keeps scans between requests: a fresh scan grows its path and
// hash buffers a few times per request, about one allocation in six of
// ingest's under single-event load.
var keyScans = sync.Pool{New: func() any { return new(keyScan) }}

// newKeyScan takes a scan allowing maxKeys keys an event (0: any number),
// hashing paths with seed. Give it back with release once its paths and
// problems have been read.
func newKeyScan(maxKeys int, seed maphash.Seed) *keyScan {
	s := keyScans.Get().(*keyScan)
	s.maxKeys, s.seed, s.want, s.wantPath = maxKeys, seed, -1, ""
	s.reset()
	return s
}

// sharedKeys is what the key scan of an object a request shares among its
// events (checkShared) found: the object's name, its keys and the hashes
// of its leaf paths with seed. An event that takes the object adds them
// instead of walking the object again (scanShared).
type sharedKeys struct {
	name  string
	seed  maphash.Seed
	keys  int
	paths []uint64
}

// scanShared walks obj, the event's object named name, as scanKeys does,
// or, when the event takes the request's shared object that shared
// describes, adds what its scan found. A shared object has passed every
// key rule on its own, so only the event's key limit can refuse it: then,
// and when a path is wanted (pathOf), it is walked for the exact problem
// or path.
func (s *keyScan) scanShared(name string, obj jsonread.Value, shared *sharedKeys) *keyProblem {
	if shared == nil || shared.name != name || shared.seed != s.seed || s.want >= 0 || s.maxKeys > 0 && s.keys+shared.keys > s.maxKeys {
		return s.scanKeys(name, obj)
	}
	s.keys += shared.keys
	s.paths = append(s.paths, shared.paths...)
	return nil
}

// release hands s back for another request; s must not be used after.
// A scan whose buffers grew unusually large (an event near the key
// limit) is left to the collector rather than kept.
func (s *keyScan) release() {
	if cap(s.paths) > maxPooledPaths || cap(s.path) > maxPooledPathBytes {
		return
	}
	keyScans.Put(s)
}

// The largest buffers a pooled scan keeps: room for the paths of a
// large real event, not for the worst an attacker may send.
const (
	maxPooledPaths     = 1024
	maxPooledPathBytes = 4096
)

// reset starts a new event.
func (s *keyScan) reset() {
	s.keys, s.paths = 0, s.paths[:0]
}

// keyProblem is a key the rules refuse: the path of the key as a sender
// reads it (properties.a["b.c"]), the rejection code and the reason.
type keyProblem struct {
	path, code, reason string
	// key is the key refused.
	key string
}

func (p *keyProblem) Error() string { return p.path + " " + p.reason }

// scanKeys walks obj, the event's object named name ("properties",
// "traits", "context"), adding its paths to s. It returns the first key
// the rules refuse, or nil.
func (s *keyScan) scanKeys(name string, obj jsonread.Value) *keyProblem {
	if obj.Kind() != jsonread.Object {
		return nil
	}
	s.path = append(s.path[:0], name...)
	var err error
	s.path, err = obj.Paths(s.path, s.key, s.leaf)
	if err != nil {
		return err.(*keyProblem)
	}
	return nil
}

// key checks one key, whose path ends path.
func (s *keyScan) key(path, key []byte) error {
	s.keys++
	switch {
	case len(key) == 0:
		return &keyProblem{showPath(path[:len(path)-1]) + `[""]`, rejectInvalid, "is an empty key; name every key (a query cannot address an empty one)", ""}
	case hasDot(key):
		return &keyProblem{showPath(path), rejectInvalid, "holds '.' in a key; a dot means nesting (a.b is {\"a\":{\"b\":...}}), so the key would be merged with a nested value or lose one: send a nested object, or use another separator such as _", string(key)}
	case s.maxKeys > 0 && s.keys > s.maxKeys:
		return &keyProblem{showPath(path), rejectTooLarge, fmt.Sprintf("is key number %d of the event; its properties and context may hold %d keys at all levels together", s.keys, s.maxKeys), string(key)}
	}
	return nil
}

// hasDot reports whether key holds a '.'. Keys are short: a loop costs
// less than bytes.IndexByte's call and setup (1.4 % of ingest's CPU under
// single-event load).
func hasDot(key []byte) bool {
	for _, c := range key {
		if c == '.' {
			return true
		}
	}
	return false
}

// scanEvent checks the keys of an event's properties and context,
// noting their paths in s (reset first). A pixel event's problem is
// named by its query parameter (p.<key>).
func (s *keyScan) scanEvent(it *item) *keyProblem {
	s.reset()
	if p := s.scanShared(propsField(it), it.props, it.sharedProps); p != nil {
		if it.api == apiPixel {
			p.path = pixelProps + p.key
		}
		return p
	}
	return s.scanShared("context", it.ctx, it.sharedCtx)
}

// pathOf is the path of the k-th leaf scanEvent notes in it.
func (s *keyScan) pathOf(it *item, k int) string {
	s.want = k
	defer func() { s.want, s.wantPath = -1, "" }()
	s.scanEvent(it)
	return s.wantPath
}

// leaf notes a leaf path.
func (s *keyScan) leaf(path []byte) {
	if len(s.paths) == s.want {
		s.wantPath = showPath(path)
	}
	s.paths = append(s.paths, maphash.Bytes(s.seed, path))
}

// showPath renders a walked path as a sender reads it: name.key.key,
// [] for the elements of an array, ["key"] for a key that would read as
// something else (empty, dots, brackets, spaces).
func showPath(path []byte) string {
	segs := bytes.Split(path, []byte{0})
	var sb strings.Builder
	sb.Write(segs[0])
	for _, key := range segs[1:] {
		switch {
		case len(key) == 0:
			sb.WriteString("[]")
		case plainKey(key):
			sb.WriteByte('.')
			sb.Write(key)
		default:
			q, _ := json.Marshal(string(key))
			sb.WriteByte('[')
			sb.Write(q)
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

// plainKey reports whether key reads unambiguously after a dot.
func plainKey(key []byte) bool {
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$' || c >= 0x80) {
			return false
		}
	}
	return true
}

// pathBudget bounds the distinct paths each source's events may use in
// a calendar month (UTC), the span of a ClickHouse partition: beyond
// max_dynamic_paths the JSON column keeps further paths in one shared
// structure that queries on any such path read whole, so a sender of
// ever new keys would slow property queries for the whole month. Once a
// source has used max paths, an event bringing a new one is refused;
// events using known paths still pass. The budget is kept by each
// collector process (from its start or the start of the month), so N
// replicas admit at most N times max; memory is about 16 bytes per path
// noted, at most max per source.
type pathBudget struct {
	max int
	// seed hashes the paths; one per process, so a path hashes the same
	// in every event.
	seed maphash.Seed
	mu   sync.Mutex
	seen map[string]*sourcePaths
}

// sourcePaths are the paths a source used this month.
type sourcePaths struct {
	month int // year*12 + month of the paths noted
	paths map[uint64]struct{}
}

// newPathBudget keeps max distinct paths a source a month; 0: no budget.
func newPathBudget(max int) *pathBudget {
	return &pathBudget{max: max, seed: maphash.MakeSeed(), seen: map[string]*sourcePaths{}}
}

// hashSeed is the seed paths are hashed with (any for no budget).
func (b *pathBudget) hashSeed() maphash.Seed {
	if b == nil {
		return maphash.MakeSeed()
	}
	return b.seed
}

// admit notes the paths of one event of source at time now, or returns
// the index in paths of the first one beyond the budget (nothing noted
// then), or -1.
func (b *pathBudget) admit(source string, now time.Time, paths []uint64) int {
	if b == nil || b.max <= 0 {
		return -1
	}
	month := now.Year()*12 + int(now.Month())
	b.mu.Lock()
	defer b.mu.Unlock()
	sp := b.seen[source]
	if sp == nil || sp.month != month {
		sp = &sourcePaths{month: month, paths: map[uint64]struct{}{}}
		b.seen[source] = sp
	}
	var added []uint64
	for i, p := range paths {
		if _, ok := sp.paths[p]; ok {
			continue
		}
		if len(sp.paths) >= b.max {
			for _, a := range added {
				delete(sp.paths, a)
			}
			return i
		}
		sp.paths[p] = struct{}{}
		added = append(added, p)
	}
	return -1
}
