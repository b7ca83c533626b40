package main

import (
	"strings"
	"testing"
)

func TestRunMedians(t *testing.T) {
	in := `goos: linux
BenchmarkDecode/tracardi/batch=1/v1 	 100	 3000 ns/op	 1500 cpu-ns/op	 10.00 MB/s	 200 B/op	 5 allocs/op
BenchmarkDecode/tracardi/batch=1/v1 	 100	 1000 ns/op	 1000 cpu-ns/op	 30.00 MB/s	 200 B/op	 5 allocs/op
BenchmarkDecode/tracardi/batch=1/v1 	 100	 2000 ns/op	 1000 cpu-ns/op	 20.00 MB/s	 200 B/op	 5 allocs/op
BenchmarkDecode/tracardi/batch=1/goccy 	 100	 500 ns/op	 300 cpu-ns/op	 80.00 MB/s	 100 B/op	 2 allocs/op
BenchmarkDecode/tracardi/batch=1/goccy 	 100	 700 ns/op	 500 cpu-ns/op	 60.00 MB/s	 100 B/op	 2 allocs/op
PASS
`
	var out strings.Builder
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| Decode tracardi/batch=1 | v1 | 3 | 2000 | 100% | 1000 | 50% | 20 | 200 | 5 | 1.00 |",
		"| Decode tracardi/batch=1 | goccy | 2 | 600 | 33% | 400 | 50% | 70 | 100 | 2 | 0.40 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunNoInput(t *testing.T) {
	if err := run(strings.NewReader("PASS\n"), &strings.Builder{}); err == nil {
		t.Fatal("no error for input without benchmark lines")
	}
}
