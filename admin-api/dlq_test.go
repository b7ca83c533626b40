package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
)

// park writes dead letters the way the processor does: the original record
// with the reason and origin in headers.
func park(t *testing.T, c *cluster, reasons ...string) {
	t.Helper()
	var recs []*kgo.Record
	for i, reason := range reasons {
		recs = append(recs, &kgo.Record{
			Topic: kafka.DLQTopic, Key: []byte(fmt.Sprintf("src_1|p-%d", i)),
			Value: []byte(fmt.Sprintf(`{"id":"e-%d","type":"page-view"}`, i)),
			Headers: []kgo.RecordHeader{
				{Key: "trackstream-format", Value: []byte("v1")},
				{Key: "trackstream-dlq-reason", Value: []byte(reason)},
				{Key: "trackstream-dlq-topic", Value: []byte(kafka.EventsTopic)},
				{Key: "trackstream-dlq-partition", Value: []byte("0")},
				{Key: "trackstream-dlq-offset", Value: []byte(fmt.Sprint(100 + i))},
			},
		})
	}
	if err := c.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// eventsTopic returns every record of trackstream.events.
func eventsTopic(t *testing.T, c *cluster) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(c.cl).ListEndOffsets(ctx, kafka.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, c.opts...), kgo.ConsumeTopics(kafka.EventsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d events", len(out), total)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestDeadLetters(t *testing.T) {
	e := newEnv(t)
	tok := e.login("admin", strong)
	viewer := e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", tok, `{"name":"v","scope":"read"}`)["token"].(string)
	var reasons []string
	for i := range 12 {
		if i%3 == 0 {
			reasons = append(reasons, "decode event: invalid character 'x'")
		} else {
			reasons = append(reasons, "event too old")
		}
	}
	park(t, e.c, reasons...)

	t.Run("list pages with a cursor and filters by reason", func(t *testing.T) {
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("cursor never ends")
			}
			r := e.mustCall(http.StatusOK, "GET", "/api/v1/dlq?reason=DECODE&limit=2&cursor="+cursor, viewer, "")
			for _, d := range r["dead_letters"].([]any) {
				d := d.(map[string]any)
				if !strings.Contains(d["reason"].(string), "decode") || d["origin"].(map[string]any)["topic"] != kafka.EventsTopic {
					t.Fatalf("dead letter %v", d)
				}
				ids = append(ids, d["id"].(string))
			}
			if r["next_cursor"] == nil {
				break
			}
			cursor = r["next_cursor"].(string)
		}
		if strings.Join(ids, " ") != "0/0 0/3 0/6 0/9" {
			t.Fatalf("decode failures listed as %v", ids)
		}
		all := e.mustCall(http.StatusOK, "GET", "/api/v1/dlq", viewer, "")
		if n := len(all["dead_letters"].([]any)); n != 12 || all["next_cursor"] != nil {
			t.Fatalf("unfiltered list: %d, cursor %v", n, all["next_cursor"])
		}
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if r := e.mustCall(http.StatusOK, "GET", "/api/v1/dlq?from="+future, viewer, ""); len(r["dead_letters"].([]any)) != 0 {
			t.Fatalf("from the future: %v", r)
		}
		for _, q := range []string{"limit=0", "limit=9999", "from=yesterday", "cursor=0:-1", "cursor=abc"} {
			if r := e.call("GET", "/api/v1/dlq?"+q, viewer, ""); r.code != http.StatusBadRequest {
				t.Errorf("%s: %d", q, r.code)
			}
		}
	})

	t.Run("inspect one", func(t *testing.T) {
		d := e.mustCall(http.StatusOK, "GET", "/api/v1/dlq/0/4", viewer, "")
		if d["reason"] != "event too old" || d["value"].(map[string]any)["id"] != "e-4" || d["headers"].(map[string]any)["trackstream-format"] != "v1" {
			t.Fatalf("dead letter 0/4: %v", d)
		}
		for path, want := range map[string]int{"/api/v1/dlq/0/12": 404, "/api/v1/dlq/7/0": 404, "/api/v1/dlq/0/x": 400} {
			if r := e.call("GET", path, viewer, ""); r.code != want {
				t.Errorf("%s: %d, want %d", path, r.code, want)
			}
		}
	})

	t.Run("replay is idempotent", func(t *testing.T) {
		r := e.mustCall(http.StatusOK, "POST", "/api/v1/dlq/replay", tok, `{"ids":["0/1","0/2","0/1"]}`)
		if fmt.Sprint(r["replayed"]) != "[0/1 0/2]" {
			t.Fatalf("replay: %v", r)
		}
		recs := eventsTopic(t, e.c)
		if len(recs) != 2 {
			t.Fatalf("%d records on the events topic, want 2", len(recs))
		}
		for _, rec := range recs {
			h := map[string]string{}
			for _, x := range rec.Headers {
				h[x.Key] = string(x.Value)
			}
			if h["trackstream-dlq-reason"] != "" || h["trackstream-format"] != "v1" || !strings.HasPrefix(h[replayedFromHeader], kafka.DLQTopic+"/0/") ||
				!strings.HasPrefix(string(rec.Key), "src_1|p-") || !strings.Contains(string(rec.Value), `"type":"page-view"`) {
				t.Fatalf("replayed record key %q headers %v value %s", rec.Key, h, rec.Value)
			}
		}
		again := e.mustCall(http.StatusOK, "POST", "/api/v1/dlq/replay", tok, `{"ids":["0/1","0/2"]}`)
		if fmt.Sprint(again["replayed"], again["skipped"]) != "[] [0/1 0/2]" || len(eventsTopic(t, e.c)) != 2 {
			t.Fatalf("second replay: %v; events %d", again, len(eventsTopic(t, e.c)))
		}
		if d := e.mustCall(http.StatusOK, "GET", "/api/v1/dlq/0/1", viewer, ""); d["replayed"] != true {
			t.Fatalf("not marked replayed: %v", d)
		}
		// By filter: the decode failures, once.
		f := e.mustCall(http.StatusOK, "POST", "/api/v1/dlq/replay", tok, `{"reason":"decode"}`)
		if fmt.Sprint(f["replayed"]) != "[0/0 0/3 0/6 0/9]" || len(eventsTopic(t, e.c)) != 6 {
			t.Fatalf("filtered replay: %v", f)
		}
		if f := e.mustCall(http.StatusOK, "POST", "/api/v1/dlq/replay", tok, `{"reason":"decode"}`); len(f["replayed"].([]any)) != 0 {
			t.Fatalf("filtered replay twice: %v", f)
		}
		// force resends; the processor's dedup by event id stores it once.
		if f := e.mustCall(http.StatusOK, "POST", "/api/v1/dlq/replay", tok, `{"ids":["0/1"],"force":true}`); fmt.Sprint(f["replayed"]) != "[0/1]" {
			t.Fatalf("forced replay: %v", f)
		}
		for _, body := range []string{`{}`, `{"ids":["0/1"],"reason":"x"}`, `{"ids":["zero"]}`, `{"reason":"x","limit":5000}`} {
			if r := e.call("POST", "/api/v1/dlq/replay", tok, body); r.code != http.StatusBadRequest {
				t.Errorf("replay %s: %d", body, r.code)
			}
		}
		if r := e.call("POST", "/api/v1/dlq/replay", tok, `{"ids":["0/99"]}`); r.code != http.StatusNotFound {
			t.Errorf("replay of a missing dead letter: %d", r.code)
		}
	})
}

func TestDeadLettersEmpty(t *testing.T) {
	e := newEnv(t)
	tok := e.login("admin", strong)
	r := e.mustCall(http.StatusOK, "GET", "/api/v1/dlq", tok, "")
	if len(r["dead_letters"].([]any)) != 0 || r["next_cursor"] != nil {
		t.Fatalf("empty DLQ: %v", r)
	}
}
