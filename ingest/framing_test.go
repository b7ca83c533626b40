package ingest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Ambiguously framed requests (the smuggling shapes of RFC 9112 section
// 6.3) get one 400 ambiguous_framing and a closed connection: the bytes a
// differently framing proxy would have sent as a second request are never
// answered.
func TestAmbiguousFramingIsRefused(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	addr := strings.TrimPrefix(env.url, "http://")
	const smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	for name, req := range map[string]string{
		"Content-Length and Transfer-Encoding": "POST /track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"two different Content-Lengths":        "POST /track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 42\r\nContent-Length: 7\r\n\r\n{\"a\":1}" + smuggled,
		"Transfer-Encoding chunked, identity":  "POST /track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled,
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			// Read answers until the server closes the connection (or,
			// if it keeps it open, until the deadline bounds the wait).
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			var statuses []int
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				statuses = append(statuses, resp.StatusCode)
				if resp.StatusCode == http.StatusBadRequest && !strings.Contains(string(body), "ambiguous_framing") {
					t.Errorf("answer %s, want ambiguous_framing", body)
				}
			}
			if len(statuses) != 1 || statuses[0] != http.StatusBadRequest {
				t.Fatalf("answers %v on one connection, want exactly one 400 and the connection closed", statuses)
			}
		})
	}
	t.Run("plain requests keep working", func(t *testing.T) {
		if r := env.post(t, strings.NewReader(`{"source":{"id":"`+enabledSource+`"},"events":[{"id":"f1","type":"t"}]}`)); r.status != http.StatusOK {
			t.Fatalf("plain request: %d %s", r.status, r.body)
		}
		// net/http sends a body of unknown length chunked.
		if r := env.post(t, io.MultiReader(strings.NewReader(`{"source":{"id":"`+enabledSource+`"},"events":[{"id":"f2","type":"t"}]}`))); r.status != http.StatusOK {
			t.Fatalf("chunked request: %d %s", r.status, r.body)
		}
	})
}
