package jsonbench

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite ingest/testdata/decode from the load generator")

// ingestDecodeDir holds the bodies ingest's BenchmarkDecode reads; the
// product module cannot import the load generator, so they are files.
var ingestDecodeDir = filepath.Join("..", "..", "ingest", "testdata", "decode")

// TestIngestDecodeBodies checks that ingest/testdata/decode holds this
// package's samples, so ingest's BenchmarkDecode measures the bodies the
// libraries here decode. Run with -update to rewrite the files.
func TestIngestDecodeBodies(t *testing.T) {
	for _, s := range Samples(benchBodies) {
		path := filepath.Join(ingestDecodeDir, string(s.Shape)+"-batch"+strconv.Itoa(s.Batch)+".jsonl.gz")
		var want bytes.Buffer
		for i, body := range s.Bodies {
			if bytes.IndexByte(body, '\n') >= 0 {
				t.Fatalf("%s body %d holds a newline; the file has one body a line", s.Name, i)
			}
			want.Write(body)
			want.WriteByte('\n')
		}
		if *update {
			writeGzip(t, path, want.Bytes())
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestIngestDecodeBodies -update in bench/jsonbench)", err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s differs from the load generator's %s bodies (%d vs %d bytes); run go test -run TestIngestDecodeBodies -update in bench/jsonbench",
				path, s.Name, len(got), want.Len())
		}
	}
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
