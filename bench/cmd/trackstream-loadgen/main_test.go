package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trackstream/trackstream/bench/loadgen"
)

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-target", "127.0.0.1:1"}, "-source is required"},
		{[]string{"-source", "s", "-shape", "xml"}, `-shape "xml"`},
		{[]string{"-no-such-flag"}, "not defined"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%v) = %v, want an error with %q", tt.args, err, tt.want)
		}
	}
}

func TestRunWritesResultAndIDs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"accepted":2,"ids":[],"rejected":[]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	out, ids := filepath.Join(dir, "r.json"), filepath.Join(dir, "ids.txt")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-target", strings.TrimPrefix(srv.URL, "http://"), "-source", "src_x",
		"-batch", "2", "-conns", "2", "-duration", "300ms", "-warmup", "0s", "-out", out, "-ids", ids}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	idBytes, err := os.ReadFile(ids)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(idBytes), "\n")
	if res.OK == 0 || res.TotalAcked != int64(lines) || res.TotalAcked != 2*res.OK {
		t.Fatalf("result %d ok requests, %d acked events; ids file has %d lines", res.OK, res.TotalAcked, lines)
	}
	if !strings.Contains(stdout.String(), "events/s") {
		t.Errorf("no table printed:\n%s", stdout.String())
	}
}
