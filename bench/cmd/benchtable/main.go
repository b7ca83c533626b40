// Command benchtable reads `go test -bench` output of the jsonbench
// benchmarks on standard input and prints a Markdown table of the median
// of each metric per benchmark, the spread of its wall and CPU times
// ((max-min)/median) and its CPU time relative to encoding/json (v1) of
// the same operation and payload.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// metrics are the columns printed, in go test's units.
var metrics = []string{"ns/op", "cpu-ns/op", "MB/s", "B/op", "allocs/op"}

// series is the runs of one benchmark: metric unit -> one value per run.
type series map[string][]float64

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(r io.Reader, w io.Writer) error {
	names, runs, err := parse(r)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no benchmark lines on standard input; pipe `go test -bench . -benchmem` output in")
	}
	return write(w, names, runs)
}

// parse collects each benchmark's values, keeping first-seen order.
func parse(r io.Reader) ([]string, map[string]series, error) {
	var names []string
	runs := map[string]series{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if runs[name] == nil {
			runs[name] = series{}
			names = append(names, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("benchmark %s: value %q of %s: %w", name, f[i], f[i+1], err)
			}
			runs[name][f[i+1]] = append(runs[name][f[i+1]], v)
		}
	}
	return names, runs, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is (max-min)/median of v: how noisy the runs were.
func spread(v []float64) float64 {
	m := median(v)
	if m == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / m
}

// split turns "Decode/tracardi/batch=1/v1" into its operation and payload
// ("Decode tracardi/batch=1") and the library ("v1").
func split(name string) (op, lib string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, ""
	}
	op, lib = name[:i], name[i+1:]
	if j := strings.IndexByte(op, '/'); j >= 0 {
		op = op[:j] + " " + op[j+1:]
	}
	return op, lib
}

func write(w io.Writer, names []string, runs map[string]series) error {
	base := map[string]float64{}
	for _, n := range names {
		if op, lib := split(n); lib == "v1" {
			base[op] = median(runs[n]["cpu-ns/op"])
		}
	}
	var b strings.Builder
	b.WriteString("| operation, payload | library | runs | ns/op | spread | cpu-ns/op | spread | MB/s | B/op | allocs/op | CPU time vs v1 |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, n := range names {
		op, lib := split(n)
		s := runs[n]
		fmt.Fprintf(&b, "| %s | %s | %d |", op, lib, len(s["ns/op"]))
		for _, m := range metrics {
			fmt.Fprintf(&b, " %s |", format(median(s[m])))
			if m == "ns/op" || m == "cpu-ns/op" {
				fmt.Fprintf(&b, " %.0f%% |", 100*spread(s[m]))
			}
		}
		if v1 := base[op]; v1 > 0 {
			fmt.Fprintf(&b, " %.2f |\n", median(s["cpu-ns/op"])/v1)
		} else {
			b.WriteString(" - |\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func format(v float64) string {
	if v >= 100 || v == float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
