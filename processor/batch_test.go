package processor

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/store"
)

// tokenPattern is what the stores accept as insert_deduplication_token
// (internal/store checkToken).
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// rec is a consumed record of the events topic.
type rec struct {
	partition int32
	offset    int64
	value     string
}

// batchOf tracks recs in the given order.
func batchOf(recs ...rec) *batch {
	b := newBatch()
	for _, r := range recs {
		b.track(&kgo.Record{Topic: kafka.EventsTopic, Partition: r.partition, Offset: r.offset, Value: []byte(r.value)})
	}
	return b
}

// span is the records of one partition from first to last offset, with
// values derived from the offsets.
func span(partition int32, first, last int64) []rec {
	var out []rec
	for o := first; o <= last; o++ {
		out = append(out, rec{partition, o, "v" + strconv.FormatInt(o, 10)})
	}
	return out
}

func TestTokenIsDeterministic(t *testing.T) {
	p0, p1, p2 := span(0, 10, 14), span(1, 0, 3), span(2, 7, 7)

	// The same records reach a batch partition by partition...
	var sequential []rec
	sequential = append(append(append(sequential, p2...), p0...), p1...)
	// ...or interleaved across partitions, as fetches from several brokers
	// arrive; the order within a partition is always the offset order.
	var interleaved []rec
	for i := 0; i < 5; i++ {
		for _, p := range [][]rec{p1, p0, p2} {
			if i < len(p) {
				interleaved = append(interleaved, p[i])
			}
		}
	}

	want := batchOf(sequential...).Token()
	if !tokenPattern.MatchString(want) {
		t.Fatalf("token %q does not match %s", want, tokenPattern)
	}
	if got := batchOf(interleaved...).Token(); got != want {
		t.Errorf("interleaved tracking gives token %q, sequential gives %q", got, want)
	}
	// Go randomises map iteration order on every range: repeated calls
	// over the same maps must agree.
	b := batchOf(sequential...)
	for i := 0; i < 100; i++ {
		if got := b.Token(); got != want {
			t.Fatalf("call %d: token %q, want %q", i, got, want)
		}
	}
}

func TestTokenDiffersWhenAnyRangeDiffers(t *testing.T) {
	base := [][]rec{span(0, 10, 14), span(1, 0, 3)}
	join := func(parts ...[]rec) []rec {
		var out []rec
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	baseToken := batchOf(join(base...)...).Token()

	cases := map[string][]rec{
		"first offset of one partition":  join(span(0, 11, 14), base[1]),
		"last offset of one partition":   join(span(0, 10, 15), base[1]),
		"last offset of other partition": join(base[0], span(1, 0, 4)),
		"one partition fewer":            join(base[0]),
		"one partition more":             join(base[0], base[1], span(2, 0, 0)),
		"partition renumbered":           join(base[0], span(2, 0, 3)),
		"ranges swapped across partitions": join(
			[]rec{{0, 0, "v0"}, {0, 1, "v1"}, {0, 2, "v2"}, {0, 3, "v3"}},
			[]rec{{1, 10, "v10"}, {1, 11, "v11"}, {1, 12, "v12"}, {1, 13, "v13"}, {1, 14, "v14"}},
		),
	}
	seen := map[string]string{baseToken: "base"}
	for name, recs := range cases {
		got := batchOf(recs...).Token()
		if !tokenPattern.MatchString(got) {
			t.Errorf("%s: token %q does not match %s", name, got, tokenPattern)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s: token %q equals the token of %s", name, got, other)
		}
		seen[got] = name
	}

	// Another topic with the same partition and offsets.
	b := newBatch()
	for _, r := range join(base...) {
		b.track(&kgo.Record{Topic: "other.events", Partition: r.partition, Offset: r.offset, Value: []byte(r.value)})
	}
	if got := b.Token(); got == baseToken {
		t.Errorf("another topic with the same ranges gives the same token %q", got)
	}
}

// Offsets name different records once a topic is recreated, the embedded
// broker's data is wiped while ClickHouse keeps its own, or the processor
// is pointed at another cluster. ClickHouse drops an insert whose token it
// has seen (non_replicated_deduplication_window), so the token must tell
// such batches apart, or their rows are silently lost.
func TestTokenDiffersForOtherRecordsAtTheSameOffsets(t *testing.T) {
	before := batchOf(rec{0, 0, `{"id":"a"}`}, rec{0, 1, `{"id":"b"}`}).Token()
	again := batchOf(rec{0, 0, `{"id":"a"}`}, rec{0, 1, `{"id":"b"}`}).Token()
	after := batchOf(rec{0, 0, `{"id":"c"}`}, rec{0, 1, `{"id":"d"}`}).Token()
	if before != again {
		t.Errorf("the same records give tokens %q and %q", before, again)
	}
	if before == after {
		t.Errorf("other records at the same offsets give the same token %q", before)
	}
	// A value boundary moved between two records is another batch too.
	split := batchOf(rec{0, 0, `ab`}, rec{0, 1, `c`}).Token()
	moved := batchOf(rec{0, 0, `a`}, rec{0, 1, `bc`}).Token()
	if split == moved {
		t.Errorf("values %q+%q and %q+%q give the same token %q", "ab", "c", "a", "bc", split)
	}
}

func TestDeadLetterHeaders(t *testing.T) {
	orig := &kgo.Record{
		Topic:     kafka.EventsTopic,
		Partition: 3,
		Offset:    1234567890123,
		Key:       []byte("src/visitor"),
		Value:     []byte("not json"),
		Headers:   []kgo.RecordHeader{{Key: "trackstream-format", Value: []byte("1")}},
	}
	dl := deadLetter(orig, ReasonUndecodable, errors.New("undecodable event record: invalid character 'o'"))

	if dl.Topic != kafka.DLQTopic {
		t.Errorf("topic %q, want %q", dl.Topic, kafka.DLQTopic)
	}
	if string(dl.Key) != "src/visitor" || string(dl.Value) != "not json" {
		t.Errorf("key/value %q/%q, want the original src/visitor / not json", dl.Key, dl.Value)
	}
	want := map[string]string{
		"trackstream-format":          "1",
		"trackstream-dlq-reason":      "undecodable event record: invalid character 'o'",
		"trackstream-dlq-topic":       kafka.EventsTopic,
		"trackstream-dlq-partition":   "3",
		"trackstream-dlq-offset":      "1234567890123",
		"trackstream-dlq-reason-code": ReasonUndecodable,
	}
	got := map[string]string{}
	for _, h := range dl.Headers {
		if _, dup := got[h.Key]; dup {
			t.Errorf("header %s appears twice", h.Key)
		}
		got[h.Key] = string(h.Value)
	}
	if _, err := time.Parse(time.RFC3339, got[HeaderTime]); err != nil {
		t.Errorf("header %s = %q: %v", HeaderTime, got[HeaderTime], err)
	}
	delete(got, HeaderTime)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("headers %v, want exactly %v", got, want)
	}
	// The dead letter must not share the original's header array: the
	// original record stays intact.
	if len(orig.Headers) != 1 {
		t.Errorf("deadLetter changed the original record's headers: %v", orig.Headers)
	}
}

func TestReasonFor(t *testing.T) {
	for _, tc := range []struct {
		version, value, want string
	}{
		{"1", "not json", ReasonUndecodable},
		{"1", `{"id":"x"}`, ReasonUndecodable},
		{"9", `{"source_id":"s","id":"x","type":"t"}`, ReasonUnknownFormat},
		{"", `{"source_id":"s","id":"x","type":"t"}`, ReasonUnknownFormat},
	} {
		_, err := event.Unmarshal(tc.version, []byte(tc.value))
		if err == nil {
			t.Fatalf("%s/%s decoded", tc.version, tc.value)
		}
		if got := reasonFor(err); got != tc.want {
			t.Errorf("reasonFor(%v) = %s, want %s", err, got, tc.want)
		}
	}
}

// A long reason is cut to maxReasonBytes without splitting a rune.
func TestDeadLetterReasonBounded(t *testing.T) {
	long := errors.New(strings.Repeat("é", maxReasonBytes))
	dl := deadLetter(&kgo.Record{Topic: kafka.EventsTopic}, ReasonRejected, long)
	for _, h := range dl.Headers {
		if h.Key == HeaderReason && (len(h.Value) > maxReasonBytes || !utf8.Valid(h.Value)) {
			t.Errorf("reason header of %d bytes (valid UTF-8: %t)", len(h.Value), utf8.Valid(h.Value))
		}
	}
}

func TestBatchTracksRowsBytesAndCommits(t *testing.T) {
	b := newBatch()
	if !b.empty() {
		t.Fatal("new batch not empty")
	}
	r1 := &kgo.Record{Topic: kafka.EventsTopic, Partition: 0, Offset: 5, Value: []byte("12345")}
	r2 := &kgo.Record{Topic: kafka.EventsTopic, Partition: 1, Offset: 9, Value: []byte("123")}
	dead := &kgo.Record{Topic: kafka.EventsTopic, Partition: 0, Offset: 6, Value: []byte("x")}
	for _, r := range []*kgo.Record{r1, r2, dead} {
		b.track(r)
	}
	b.add(store.Row{}, r1)
	b.add(store.Row{}, r2)
	if len(b.rows) != 2 || len(b.recs) != 2 || b.bytes != 8 {
		t.Errorf("rows %d recs %d bytes %d, want 2, 2, 8", len(b.rows), len(b.recs), b.bytes)
	}
	commits := map[int32]int64{}
	for _, r := range b.commitRecords() {
		commits[r.Partition] = r.Offset
	}
	if len(commits) != 2 || commits[0] != 6 || commits[1] != 9 {
		t.Errorf("commit records %v, want partition 0 at 6 (the dead letter) and 1 at 9", commits)
	}
}
