package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
)

// replay sends a request recorded byte for byte from a client library
// (testdata/clients/*.http, keep-alive connection and all) and returns the
// answer.
func (env *testEnv) replay(t *testing.T, file string) response {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(raw); err != nil {
		t.Fatalf("send %s: %v", file, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("answer to %s: %v", file, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body, resp.Close}
}

// TestRudderStackNodeRequest: @rudderstack/rudder-sdk-node 3.0.13 posts
// its batches gzip-compressed under Content-Type
// application/x-www-form-urlencoded (axios's default for a Buffer), which
// RudderStack's data plane takes; so does /v1/*.
func TestRudderStackNodeRequest(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	r := env.replay(t, "testdata/clients/rudder-sdk-node-3.0.13.http")
	wantStatus(t, r, http.StatusOK)
	if tr := decodeTrackResponse(t, r); len(tr.IDs) != 1 || tr.IDs[0] != "rudder-golden-1" {
		t.Fatalf("answer %s, want the event rudder-golden-1 accepted", r.body)
	}
	recs := env.consumeEvents(t, 1)
	if e := decodeRecord(t, recs[0]); e.Type != "Order Completed" || e.UserID != "user-7" || string(recs[0].Key) != serverSource+"/user-7" {
		t.Fatalf("stored event %+v with key %q, want Order Completed of user-7 from %s", e, recs[0].Key, serverSource)
	}
}

// TestGzipUnderOtherContentTypes: /v1/* takes a gzip body whatever its
// declared type as long as it is a JSON object once decompressed (within
// the decompressed limit); /track and plain bodies keep the strict rule.
func TestGzipUnderOtherContentTypes(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Ingest) { c.MaxDecodedBytes = 8 << 10 })
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	call := trackJSON(t, map[string]any{"messageId": "gz-any-1", "userId": "u-1", "event": "Signed Up"})
	form := []string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", basicAuth(serverKey)}
	for _, tc := range []struct {
		name    string
		path    string
		body    []byte
		headers []string
		status  int
		code    string
	}{
		{"gzip JSON as a form", "/v1/track", gz(call), append(form, "Content-Encoding", "gzip"), 200, ""},
		{"gzip JSON as octet-stream", "/v1/track", gz(bytes.ReplaceAll(call, []byte("gz-any-1"), []byte("gz-any-2"))), []string{"Content-Type", "application/octet-stream", "Content-Encoding", "gzip", "Authorization", basicAuth(serverKey)}, 200, ""},
		{"gzip form fields", "/v1/track", gz([]byte("event=x&userId=u")), append(form, "Content-Encoding", "gzip"), 415, "unsupported_media_type"},
		{"gzip JSON array", "/v1/track", gz([]byte(`[{"event":"x"}]`)), append(form, "Content-Encoding", "gzip"), 415, "unsupported_media_type"},
		{"gzip bomb as a form", "/v1/track", gz(bytes.Repeat([]byte(" "), 1<<20)), append(form, "Content-Encoding", "gzip"), 413, "body_too_large"},
		{"not gzip as a form", "/v1/track", call, form, 415, "unsupported_media_type"},
		{"bad gzip as a form", "/v1/track", []byte("not gzip"), append(form, "Content-Encoding", "gzip"), 400, "invalid_encoding"},
		{"gzip as a form to /track", "/track", gz(trackJSON(t, map[string]any{"source": map[string]any{"id": enabledSource}, "events": []any{map[string]any{"type": "t"}}})), []string{"Content-Type", "application/x-www-form-urlencoded", "Content-Encoding", "gzip"}, 415, "unsupported_media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.send(t, http.MethodPost, tc.path, tc.body, tc.headers...)
			if tc.status == 200 {
				wantStatus(t, r, 200)
				decodeTrackResponse(t, r)
				return
			}
			wantError(t, r, tc.status, tc.code)
		})
	}
	env.consumeEvents(t, 2)
}

// TestTrackGivesProfiles: a /track request without a profile is stored
// under the profile of its session (the same for every request of the
// session, on any replica) or, without a session, under one derived from
// its first event's id (a resend gets the same one, so the same Kafka key
// and partition); the answer names it.
func TestTrackGivesProfiles(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	send := func(id string, session any) string {
		t.Helper()
		body := map[string]any{"source": map[string]any{"id": enabledSource}, "events": []any{map[string]any{"id": id, "type": "page-view"}}}
		if session != nil {
			body["session"] = session
		}
		r := env.send(t, http.MethodPost, "/track", trackJSON(t, body), "Content-Type", "text/plain")
		wantStatus(t, r, http.StatusOK)
		tr := decodeTrackResponse(t, r)
		if tr.Profile == nil || tr.Profile.ID == "" {
			t.Fatalf("answer %s names no profile", r.body)
		}
		return tr.Profile.ID
	}
	a1 := send("gp-1", map[string]any{"id": "sess-a"})
	a2 := send("gp-2", map[string]any{"id": "sess-a"})
	b := send("gp-3", map[string]any{"id": "sess-b"})
	n1 := send("gp-4", nil)
	n2 := send("gp-5", nil)
	n1again := send("gp-4", nil) // a resend
	if a1 != a2 || a1 == b || n1 == n2 || n1 == a1 || n1again != n1 {
		t.Fatalf("profiles %s %s (session a), %s (session b), %s %s (no session), %s (resend of the first without): want one per session, one per first event id without",
			a1, a2, b, n1, n2, n1again)
	}
	want := map[string]string{"gp-1": a1, "gp-2": a1, "gp-3": b, "gp-4": n1, "gp-5": n2}
	for _, r := range env.consumeEvents(t, len(want)+1) {
		e := decodeRecord(t, r)
		if e.ProfileID != want[e.ID] || string(r.Key) != enabledSource+"/"+want[e.ID] {
			t.Errorf("event %s stored under profile %q key %q, want %q", e.ID, e.ProfileID, r.Key, want[e.ID])
		}
	}
}
