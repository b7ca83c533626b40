package jsonbench

import (
	stdjson "encoding/json"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// benchBodies is how many different bodies each benchmark cycles through.
const benchBodies = 16

// TestCodecsAgree checks that every codec decodes the same ids, types and
// raw values as encoding/json v1 and as the generator reported, so the
// benchmarks compare equal work.
func TestCodecsAgree(t *testing.T) {
	codecs := Codecs()
	for _, s := range Samples(benchBodies) {
		for i, body := range s.Bodies {
			var want Result
			if err := codecs[0].Decode(s, body, &want); err != nil {
				t.Fatalf("%s body %d: v1: %v", s.Name, i, err)
			}
			if !reflect.DeepEqual(want.IDs, s.IDs[i]) || len(want.Types) != s.Batch || want.RawBytes == 0 {
				t.Fatalf("%s body %d: v1 decoded ids %v, %d types, %d raw bytes; the generator made ids %v",
					s.Name, i, want.IDs, len(want.Types), want.RawBytes, s.IDs[i])
			}
			for _, c := range codecs[1:] {
				var got Result
				if err := c.Decode(s, body, &got); err != nil {
					t.Errorf("%s body %d: %s: %v", s.Name, i, c.Name, err)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s body %d: %s decoded\n%+v\nv1 decoded\n%+v", s.Name, i, c.Name, got, want)
				}
			}
		}
	}
}

// TestMarshalAgree checks that every codec's record decodes to the same
// JSON value as encoding/json's.
func TestMarshalAgree(t *testing.T) {
	codecs := Codecs()
	want := marshalAsValue(t, codecs[0])
	for _, c := range codecs[1:] {
		if got := marshalAsValue(t, c); !reflect.DeepEqual(got, want) {
			t.Errorf("%s marshalled\n%v\nv1 marshalled\n%v", c.Name, got, want)
		}
	}
}

func marshalAsValue(t *testing.T, c Codec) map[string]any {
	t.Helper()
	b, err := c.MarshalRecord(SampleRecord())
	if err != nil {
		t.Fatalf("%s: marshal record: %v", c.Name, err)
	}
	var v map[string]any
	if err := stdjson.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: its record %s is not JSON: %v", c.Name, b, err)
	}
	return v
}

// validCases are malformed bodies every Valid should refuse; validLax
// records, per codec, the ones it is known to report valid all the same
// (observed with the versions in go.mod).
var validCases = []struct {
	name, body string
}{
	{"empty", ``},
	{"unclosed", `{`},
	{"trailing-comma", `{"a":1,}`},
	{"trailing-data", `{"a":1} x`},
	{"leading-zero", `{"a":01}`},
	{"unclosed-array", `[1,2`},
	{"bad-literal", `{"a":tru}`},
	{"single-quotes", `{'a':1}`},
	{"invalid-escape", `{"a":"\x01"}`},
	{"short-unicode-escape", `{"a":"\u12"}`},
	{"control-char", "{\"a\":\"\x01\"}"},
	{"invalid-utf8", "{\"a\":\"a\xffb\"}"},
}

var validLax = map[string][]string{
	"v1":        {"invalid-utf8"},
	"v2":        {},
	"v2-lax":    {"invalid-utf8"},
	"goccy":     {"invalid-utf8"},
	"sonic":     {"invalid-escape", "short-unicode-escape", "control-char", "invalid-utf8"},
	"sonic-std": {"invalid-escape", "short-unicode-escape", "control-char", "invalid-utf8"},
	"segmentio": {"invalid-utf8"},
}

// TestValidAgree checks every codec's Valid on the samples and on
// malformed bodies.
func TestValidAgree(t *testing.T) {
	for _, c := range Codecs() {
		for _, s := range Samples(2) {
			for i, body := range s.Bodies {
				if !c.Valid(body) {
					t.Errorf("%s: %s body %d reported invalid", c.Name, s.Name, i)
				}
			}
		}
		var lax []string
		for _, vc := range validCases {
			if c.Valid([]byte(vc.body)) {
				lax = append(lax, vc.name)
			}
		}
		if want := validLax[c.Name]; !sameStrings(lax, want) {
			t.Errorf("%s: Valid accepts %v; expected %v", c.Name, lax, want)
		}
	}
}

// hardeningCases are inputs ingest's own pre-scan refuses; the table
// records which libraries would accept them on their own.
var hardeningCases = []struct {
	name, body string
}{
	{"invalid-utf8", "{\"source\":{\"id\":\"a\xffb\"},\"events\":[]}"},
	{"lone-surrogate", `{"source":{"id":"a\ud800b"},"events":[]}`},
	{"control-char", "{\"source\":{\"id\":\"a\x01b\"},\"events\":[]}"},
	{"invalid-escape", `{"source":{"id":"a\xb"},"events":[]}`},
	{"duplicate-key", `{"source":{"id":"a"},"source":{"id":"b"},"events":[]}`},
	{"trailing-data", `{"source":{"id":"a"},"events":[]} {}`},
}

// hardeningAccepts is, per codec, the cases Unmarshal accepts without an
// error (observed with the versions in go.mod). A change here after an
// upgrade is worth a look, though ingest's pre-scan runs first.
var hardeningAccepts = map[string][]string{
	"v1":        {"invalid-utf8", "lone-surrogate", "duplicate-key"},
	"v2":        {},
	"v2-lax":    {"invalid-utf8", "lone-surrogate", "duplicate-key"},
	"goccy":     {"invalid-utf8", "lone-surrogate", "duplicate-key"},
	"sonic":     {"invalid-utf8", "lone-surrogate", "control-char", "duplicate-key"},
	"sonic-std": {"invalid-utf8", "lone-surrogate", "duplicate-key"},
	"segmentio": {"invalid-utf8", "lone-surrogate", "duplicate-key"},
}

// TestHardeningBehaviour checks which hardening cases each library's
// Unmarshal lets through, against hardeningAccepts.
func TestHardeningBehaviour(t *testing.T) {
	for _, c := range Codecs() {
		var accepted []string
		for _, hc := range hardeningCases {
			var r Result
			if err := c.DecodeTrack([]byte(hc.body), &r); err == nil {
				accepted = append(accepted, hc.name)
			}
		}
		if want := hardeningAccepts[c.Name]; !sameStrings(accepted, want) {
			t.Errorf("%s accepts %v; expected %v", c.Name, accepted, want)
		}
	}
}

func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// BenchmarkDecode is ingest's two-level decode of each sample body.
func BenchmarkDecode(b *testing.B) {
	for _, s := range Samples(benchBodies) {
		for _, c := range Codecs() {
			b.Run(s.Name+"/"+c.Name, func(b *testing.B) {
				var r Result
				for _, body := range s.Bodies { // warm-up: sonic compiles its decoder on first use
					r.Reset()
					if err := c.Decode(s, body, &r); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.SetBytes(int64(s.Bytes()))
				cpu := startCPU(b)
				i := 0
				for b.Loop() {
					r.Reset()
					if err := c.Decode(s, s.Bodies[i%len(s.Bodies)], &r); err != nil {
						b.Fatal(err)
					}
					i++
				}
				cpu.report(b)
			})
		}
	}
}

// BenchmarkValid is the validity check of a whole body.
func BenchmarkValid(b *testing.B) {
	for _, s := range Samples(benchBodies) {
		for _, c := range Codecs() {
			b.Run(s.Name+"/"+c.Name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(s.Bytes()))
				cpu := startCPU(b)
				i := 0
				for b.Loop() {
					if !c.Valid(s.Bodies[i%len(s.Bodies)]) {
						b.Fatal("sample reported invalid")
					}
					i++
				}
				cpu.report(b)
			})
		}
	}
}

// BenchmarkMarshal encodes one normalised event record.
func BenchmarkMarshal(b *testing.B) {
	in := SampleRecord()
	for _, c := range Codecs() {
		b.Run("record/"+c.Name, func(b *testing.B) {
			out, err := c.MarshalRecord(in)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(out)))
			cpu := startCPU(b)
			for b.Loop() {
				if _, err := c.MarshalRecord(in); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// cpuClock measures the CPU time of the process (all threads, so the
// garbage collector's work counts) across a benchmark loop. On a shared
// machine wall time also counts the time spent waiting for a core; CPU
// time per operation does not, so it is the steadier figure to compare.
type cpuClock struct{ start time.Duration }

func startCPU(b *testing.B) cpuClock {
	b.Helper()
	return cpuClock{start: processCPU(b)}
}

// report adds the metric cpu-ns/op; call it after the b.Loop loop.
func (c cpuClock) report(b *testing.B) {
	b.Helper()
	if b.N > 0 {
		b.ReportMetric(float64(processCPU(b)-c.start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
