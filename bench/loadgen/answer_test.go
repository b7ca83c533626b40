package loadgen

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
		body   string
		close  bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: application/json\r\n\r\n{\"accepted\":1}", 200, `{"accepted":1}`, false},
		{"no content", "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", 204, "", false},
		{"close", "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno", 503, "no", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"acc\r\na;x=y\r\nepted\":12}\r\n0\r\nTrailer: t\r\n\r\n", 200, `{"accepted":12}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every strict prefix is incomplete, never an error or an answer.
			for i := range len(tt.in) {
				if _, err := parseAnswer([]byte(tt.in[:i])); !errors.Is(err, errIncomplete) {
					t.Fatalf("prefix of %d bytes: %v, want incomplete", i, err)
				}
			}
			a, err := parseAnswer([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if a.status != tt.status || string(a.body) != tt.body || a.close != tt.close || a.size != len(tt.in) {
				t.Fatalf("got status %d body %q close %v size %d, want %d %q %v %d", a.status, a.body, a.close, a.size, tt.status, tt.body, tt.close, len(tt.in))
			}
		})
	}
}

func TestParseAnswerRejects(t *testing.T) {
	for _, in := range []string{
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n", // no length, not chunked
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		if _, err := parseAnswer([]byte(in)); err == nil || errors.Is(err, errIncomplete) {
			t.Errorf("%q: err %v, want a protocol error", in, err)
		}
	}
	if _, err := parseAnswer([]byte("HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxAnswer))); err == nil || errors.Is(err, errIncomplete) {
		t.Errorf("headers over the bound: err %v, want an error", err)
	}
}

// FuzzParseAnswer: answers are untrusted input to the generator; parsing
// must never panic, and an answer's size never exceeds its buffer.
func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := parseAnswer(in)
		if err == nil && (a.size > len(in) || len(a.body) > a.size) {
			t.Fatalf("answer of %d bytes with size %d, body %d", len(in), a.size, len(a.body))
		}
	})
}
