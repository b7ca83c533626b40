package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/e2e/internal/traffic"
)

// hostileCase is one kind of bad request and the answer it must get.
type hostileCase struct {
	name     string
	method   string // default POST
	path     string // default /track
	encoding string // Content-Encoding
	want     int
	body     func(source, id string) []byte
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// one is a valid body of one event with the given id, to be broken by
// the cases.
func one(source, id string) string {
	return fmt.Sprintf(`{"source":{"id":%q},"profile":{"id":"p-hostile"},"events":[{"id":%q,"type":"hostile"}]}`, source, id)
}

func hostileCases() []hostileCase {
	return []hostileCase{
		{name: "malformed_json", want: 400, body: func(s, id string) []byte { return []byte(strings.TrimSuffix(one(s, id), "]}")) }},
		{name: "empty_body", want: 400, body: func(s, id string) []byte { return nil }},
		{name: "not_an_object", want: 400, body: func(s, id string) []byte { return []byte(`[` + one(s, id) + `]`) }},
		{name: "trailing_data", want: 400, body: func(s, id string) []byte { return []byte(one(s, id) + `{"more":1}`) }},
		{name: "invalid_utf8", want: 400, body: func(s, id string) []byte {
			return []byte(strings.Replace(one(s, id), `"hostile"}`, "\"hostile\",\"properties\":{\"x\":\"\xff\xfe\"}}", 1))
		}},
		{name: "duplicate_key_in_event", want: 400, body: func(s, id string) []byte {
			return []byte(strings.Replace(one(s, id), `"type":"hostile"`, `"type":"hostile","type":"other"`, 1))
		}},
		{name: "duplicate_source_key", want: 400, body: func(s, id string) []byte {
			return []byte(strings.Replace(one(s, id), `{"source":`, `{"source":{"id":"src_someone_else"},"source":`, 1))
		}},
		{name: "deeply_nested", want: 400, body: func(s, id string) []byte {
			deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
			return []byte(strings.Replace(one(s, id), `"type":"hostile"`, `"type":"hostile","properties":`+deep, 1))
		}},
		{name: "number_overflow", want: 400, body: func(s, id string) []byte {
			return []byte(strings.Replace(one(s, id), `"type":"hostile"`, `"type":"hostile","properties":{"n":1e400}`, 1))
		}},
		{name: "events_wrong_type", want: 400, body: func(s, id string) []byte {
			return []byte(fmt.Sprintf(`{"source":{"id":%q},"events":"%s"}`, s, id))
		}},
		{name: "event_type_wrong_type", want: 400, body: func(s, id string) []byte {
			return []byte(strings.Replace(one(s, id), `"type":"hostile"`, `"type":42`, 1))
		}},
		{name: "properties_wrong_type", want: 400, body: func(s, id string) []byte {
			return []byte(strings.Replace(one(s, id), `"type":"hostile"`, `"type":"hostile","properties":[1,2]`, 1))
		}},
		{name: "missing_source", want: 400, body: func(s, id string) []byte {
			return []byte(fmt.Sprintf(`{"events":[{"id":%q,"type":"hostile"}]}`, id))
		}},
		{name: "unknown_source", want: 401, body: func(s, id string) []byte { return []byte(one("src_does_not_exist", id)) }},
		{name: "oversized_body", want: 413, body: func(s, id string) []byte {
			return []byte(strings.Replace(one(s, id), `"type":"hostile"`, `"type":"hostile","properties":{"pad":"`+strings.Repeat("x", 3<<20/2)+`"}`, 1))
		}},
		{name: "too_many_events", want: 413, body: func(s, id string) []byte {
			var b strings.Builder
			fmt.Fprintf(&b, `{"source":{"id":%q},"events":[`, s)
			for i := range 501 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"id":"%s-%d","type":"hostile"}`, id, i)
			}
			b.WriteString("]}")
			return []byte(b.String())
		}},
		{name: "gzip_bomb", encoding: "gzip", want: 413, body: func(s, id string) []byte {
			return gz([]byte(strings.Replace(one(s, id), `"type":"hostile"`, `"type":"hostile","properties":{"pad":"`+strings.Repeat("a", 64<<20)+`"}`, 1)))
		}},
		{name: "gzip_invalid", encoding: "gzip", want: 400, body: func(s, id string) []byte { return []byte(one(s, id)) }},
		{name: "encoding_unsupported", encoding: "br", want: 415, body: func(s, id string) []byte { return []byte(one(s, id)) }},
		{name: "wrong_method", method: http.MethodGet, want: 405, body: func(s, id string) []byte { return nil }},
		{name: "unknown_path", path: "/collect", want: 404, body: func(s, id string) []byte { return []byte(one(s, id)) }},
	}
}

// 13. Hostile input at scale: every kind of bad request, mixed into normal
// traffic on both replicas, gets its specific 4xx; none of its events is
// stored (the final exactness check finds any stored id that was not in
// the normal traffic); normal traffic is all stored; the replicas stay up.
func hostileInput(t *testing.T, s *stack, r *result) {
	run := s.load("s13", r.source, nil)
	rounds := pick(3, 50)
	cases := hostileCases()
	bodies := make([][]byte, len(cases))
	for i, c := range cases {
		bodies[i] = c.body(r.source, "hostile-"+c.name)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	wrong := map[string]int{}
	sent := 0
	for round := range rounds {
		for i, c := range cases {
			url := s.ingURLs[(round+i)%len(s.ingURLs)]
			code, body := send(t.Context(), client, c, url, bodies[i])
			sent++
			if code != c.want {
				wrong[c.name]++
				if wrong[c.name] == 1 {
					t.Errorf("%s: got %d %.200s, want %d", c.name, code, body, c.want)
				}
			} else if c.want != 405 && c.want != 404 && !bytes.Contains(body, []byte(`"`)) {
				t.Errorf("%s: %d without a JSON error naming the problem: %q", c.name, code, body)
			}
		}
	}
	rep := run.Stop()
	r.runs = append(r.runs, rep)
	t.Log(rep.Summary())
	if rep.NotOK() != 0 {
		t.Errorf("%d normal requests not acknowledged among hostile ones: %s", rep.NotOK(), rep.Summary())
	}
	for _, p := range s.ingest {
		if !p.Ready(t.Context()) {
			t.Errorf("%s is not ready after the hostile input\n%s", p.Name(), p.Tail(20))
		}
	}
	d := s.waitStored(r.source, len(rep.Acked), len(rep.Sent), time.Minute)
	r.set("hostile requests", "%d (%d kinds x %d rounds), wrong answers %v", sent, len(cases), rounds, wrong)
	r.set("stored after", "%s", d.Round(10*time.Millisecond))
}

func send(ctx context.Context, client *http.Client, c hostileCase, url string, body []byte) (int, []byte) {
	method, path := c.method, c.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/track"
	}
	req, err := http.NewRequestWithContext(ctx, method, url+path, bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	if c.encoding != "" {
		req.Header.Set("Content-Encoding", c.encoding)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(traffic.Classify(err) + ": " + err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b
}
