package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// jsonGen writes random JSON values from a fixed seed, biased towards what
// a JSON column finds hard: integers at and around the 64-bit limits,
// floats at the ends of their range, escapes, surrogate pairs, control
// characters, empty, dotted and numeric keys, mixed arrays and paths whose
// type changes from one event to the next.
type jsonGen struct{ r *rand.Rand }

var genNumbers = []string{
	"0", "-0", "1", "-1", "9007199254740993", "-9007199254740993",
	"9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551615",
	"1.5", "-0.0", "0.1", "1e2", "1E+2", "1e-2", "1.7976931348623157e308", "-1.7976931348623157e308",
	"2.2250738585072014e-308", "5e-324", "1e-400", "123456789012345678901234567890.5", "1e19", "-1e19",
	"18446744073709551615.0", "0.000000000000000000000000000001",
	// Beyond the 64-bit integers and float64: ingest must refuse these.
	"18446744073709551616", "-9223372036854775809", "100000000000000000000000000000",
}

var genStrings = []string{
	"", "plain", "ünïcödé", `quote\"inside`, `back\\slash`, `\u0000nul`, `\u001fctl`, `tab\there`,
	`\ud83d\ude00 emoji`, `\u2028line sep`, "2026-01-01T00:00:00Z", "1e400", "NaN", "true", "null",
	"{\\\"not\\\":\\\"an object\\\"}", "' OR 1=1 --",
}

var genKeys = []string{
	"k", "n", "a", "a.b", "x", "ünï", "0", "123", "with space", `q\"uote`, "UPPER", "path", "list", "nested",
}

func (g *jsonGen) value(depth int) string {
	switch n := g.r.IntN(10); {
	case depth >= 5 || n < 3:
		return genNumbers[g.r.IntN(len(genNumbers))]
	case n < 5:
		return `"` + genStrings[g.r.IntN(len(genStrings))] + `"`
	case n == 5:
		return []string{"true", "false", "null"}[g.r.IntN(3)]
	case n < 8:
		items := make([]string, g.r.IntN(4))
		for i := range items {
			items[i] = g.value(depth + 1)
		}
		return "[" + strings.Join(items, ",") + "]"
	default:
		return g.object(depth + 1)
	}
}

func (g *jsonGen) object(depth int) string {
	seen := map[string]bool{}
	var members []string
	for range g.r.IntN(5) {
		k := genKeys[g.r.IntN(len(genKeys))]
		if seen[k] {
			continue
		}
		seen[k] = true
		members = append(members, `"`+k+`":`+g.value(depth))
	}
	return "{" + strings.Join(members, ",") + "}"
}

// Whatever ingest accepts, ClickHouse stores and the property queries
// read: random events full of the values JSON parsers find hard go
// through the real all role (ingest, Kafka, processor, embedded
// ClickHouse), and every accepted event is stored (none is refused and
// parked in the dead-letter topic), and found by a property filter on a
// key each of them has: the stored text is JSON ClickHouse's JSONExtract
// parses (an integer beyond 64 bits, for one, would hide every key of its
// object).
func TestWhatIngestAcceptsClickHouseStores(t *testing.T) {
	testkit.SkipShort(t)
	n, _ := startAll(t, testConfig(t, t.TempDir()))
	adm := login(t, n.adminAddr)
	src := createSource(t, adm, "differential")
	waitSourceKnown(t, n.ingestAddr, src)

	g := &jsonGen{r: rand.New(rand.NewPCG(17, 2026))}
	start := time.Now().UTC()
	const requests, perRequest = 40, 50
	accepted, rejected := 0, 0
	for r := range requests {
		events := make([]string, perRequest)
		for i := range events {
			props := `{"probe":"p",` + strings.TrimPrefix(g.object(0), "{")
			props = strings.Replace(props, `"p",}`, `"p"}`, 1)
			events[i] = fmt.Sprintf(`{"id":"d-%d-%d","type":"t%d","properties":%s,"context":%s}`, r, i, i%3, props, g.object(0))
		}
		body := fmt.Sprintf(`{"source":{"id":%q},"events":[%s]}`, src, strings.Join(events, ","))
		code, resp := post(t, "http://"+n.ingestAddr+"/track", body)
		if code != http.StatusOK {
			t.Fatalf("request %d: %d %s", r, code, resp)
		}
		var out struct {
			Accepted int
			Rejected []any
		}
		if err := json.Unmarshal(resp, &out); err != nil {
			t.Fatalf("request %d: answer %s: %v", r, resp, err)
		}
		accepted += out.Accepted
		rejected += len(out.Rejected)
	}
	if rejected == 0 {
		t.Fatalf("ingest rejected none of %d events: the generator makes no values beyond ClickHouse's range", accepted)
	}
	if accepted < requests*perRequest/4 {
		t.Fatalf("ingest accepted only %d of %d events (%d rejected): the generator makes too few acceptable events", accepted, requests*perRequest, rejected)
	}
	t.Logf("ingest accepted %d events and rejected %d", accepted, rejected)
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("%d accepted events stored", accepted), func() bool {
		return count(t, adm, src) == uint64(accepted)
	}, func() string {
		_, dlq := call(t, adm, "GET", "/api/v1/dlq?limit=5", nil)
		return fmt.Sprintf("%d stored; dead letters: %.2000s", count(t, adm, src), dlq)
	})
	var summary struct{ Metrics struct{ Events uint64 } }
	q := url.Values{"source": {src}, "prop.probe": {"p"}, "bots": {"true"},
		"from": {start.Add(-time.Hour).Format(time.RFC3339)}, "to": {time.Now().UTC().Add(time.Hour).Format(time.RFC3339)}}
	if err := adm.Call(t.Context(), "GET", "/api/v1/stats/summary?"+q.Encode(), nil, &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Metrics.Events != uint64(accepted) {
		t.Errorf("a property filter finds %d of the %d stored events: the others' properties do not parse", summary.Metrics.Events, accepted)
	}
}
