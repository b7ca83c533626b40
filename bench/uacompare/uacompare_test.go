package uacompare

import (
	"slices"
	"testing"
)

const corpusPath = "testdata/corpus.jsonl.gz"

func loadCorpus(tb testing.TB) []Entry {
	tb.Helper()
	c, err := LoadCorpus(corpusPath)
	if err != nil {
		tb.Fatalf("%v (rebuild it with `task bench:ua-corpus`)", err)
	}
	return c
}

// The corpus is a few thousand real user agents covering every scored
// browser, OS, device type, and bots.
func TestCorpusCoversEveryDimension(t *testing.T) {
	c := loadCorpus(t)
	if len(c) < 3000 {
		t.Fatalf("corpus has %d entries, want at least 3000", len(c))
	}
	seen := map[string]int{}
	for _, e := range c {
		if e.Bot {
			seen["bot"]++
			continue
		}
		seen["browser:"+e.Browser]++
		seen["os:"+e.OS]++
		seen["device:"+e.Device]++
	}
	var want []string
	for _, b := range MajorBrowsers {
		want = append(want, "browser:"+b)
	}
	for _, o := range MajorOSes {
		want = append(want, "os:"+o)
	}
	for _, d := range DeviceTypes {
		want = append(want, "device:"+d)
	}
	want = append(want, "bot")
	for _, k := range want {
		if seen[k] == 0 {
			t.Errorf("the corpus has no entry for %s", k)
		}
	}
}

// Every candidate parses the whole corpus, and the scoring counts what it
// should: an entry is scored for a dimension only when it expects a
// scored value.
func TestMeasureCountsScoredEntries(t *testing.T) {
	var c []Entry
	for i, e := range loadCorpus(t) {
		if i%19 == 0 {
			c = append(c, e) // a sample of every source
		}
	}
	truth := Parser{Name: "truth", Parse: func(ua string) Result {
		i := slices.IndexFunc(c, func(e Entry) bool { return e.UA == ua })
		e := c[i]
		return Result{e.Browser, e.OS, e.Device, e.Bot}
	}}
	s := Measure(truth, c)
	if s.Browser != s.BrowserN || s.OS != s.OSN || s.Device != s.DeviceN || s.BotsFound != s.Bots || s.CrawlersFound != s.Crawlers || s.HumansAsBots != 0 {
		t.Fatalf("the corpus's own labels do not score 100%%: %+v", s)
	}
	if s.BrowserN == 0 || s.Bots == 0 || s.Crawlers == 0 || s.Bots+s.Crawlers+s.Humans != len(c) {
		t.Fatalf("counts: %+v", s)
	}
	for _, p := range Parsers() {
		if got := Measure(p, c[:200]); got.Bots+got.Crawlers+got.Humans != 200 {
			t.Errorf("%s: scored %d of 200 entries", p.Name, got.Bots+got.Humans)
		}
	}
}

// BenchmarkParse is each candidate's cost per user agent, uncached, over
// the corpus in order (ns/op is per event).
func BenchmarkParse(b *testing.B) {
	c := loadCorpus(b)
	for _, p := range Parsers() {
		b.Run(p.Name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = p.Parse(c[i].UA)
				if i++; i == len(c) {
					i = 0
				}
			}
		})
	}
}
