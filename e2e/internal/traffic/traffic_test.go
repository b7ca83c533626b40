package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "refused"},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "reset"},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, "reset"},
		{fmt.Errorf("post: %w", io.EOF), "eof"},
		{io.ErrUnexpectedEOF, "eof"},
		{context.DeadlineExceeded, "timeout"},
		{os.ErrDeadlineExceeded, "timeout"},
		{context.Canceled, "cancelled"},
		{errors.New("something else"), "other"},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRunRecordsAcknowledgedIDs runs the generator against a server that
// acknowledges every other request, and checks the report's sets.
func TestRunRecordsAcknowledgedIDs(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1)%2 == 0 {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"accepted":3}`)
	}))
	defer srv.Close()
	rep := Start(t.Context(), Config{
		Targets: []string{srv.URL}, Source: "src", Prefix: "t", Workers: 1,
		EventsPerRequest: 3, MaxRequests: 10, Timeout: 5 * time.Second,
	}).Wait()
	if rep.Requests != 10 || rep.Attempts != 10 {
		t.Fatalf("requests %d attempts %d, want 10 and 10", rep.Requests, rep.Attempts)
	}
	if len(rep.Sent) != 30 || len(rep.Acked) != 15 {
		t.Fatalf("sent %d acked %d, want 30 and 15", len(rep.Sent), len(rep.Acked))
	}
	if rep.Count(503) != 5 || rep.OKs() != 5 || rep.NotOK() != 5 {
		t.Fatalf("status %v, want 5 x 200 and 5 x 503", rep.Status)
	}
	if _, ok := rep.Acked[ID("t", 0, 2)]; !ok {
		t.Fatalf("the first request's last id %s is not acknowledged", ID("t", 0, 2))
	}
	for _, o := range rep.Outcomes {
		if o.Status == 503 && o.RetryAfter != "5" {
			t.Fatalf("503 outcome without its Retry-After: %+v", o)
		}
	}
}

// TestRunFailsOverRefused checks that a refused connection moves the
// request to the next target, as a load balancer would.
func TestRunFailsOverRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"accepted":1}`)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	rep := Start(t.Context(), Config{
		Targets: []string{dead, srv.URL}, Source: "src", Prefix: "f", Workers: 2,
		EventsPerRequest: 1, MaxRequests: 6, Timeout: 5 * time.Second,
	}).Wait()
	if rep.OKs() != 6 || rep.Partial != 0 {
		t.Fatalf("want every request acknowledged through the live target: %s", rep.Summary())
	}
}
