package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable writes a readable summary of results, one row per run.
// names label the rows; a missing name is the row number.
func WriteTable(w io.Writer, names []string, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tmode\tconns\toffered rps\treq/s\tevents/s\tok %\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tlate\tunsent\tstatus\t")
	for i, r := range results {
		name := fmt.Sprint(i + 1)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		offered := "-"
		if r.OfferedRate > 0 {
			offered = fmt.Sprintf("%.0f", r.OfferedRate)
		}
		okPct := 0.0
		if r.Requests > 0 {
			okPct = 100 * float64(r.OK) / float64(r.Requests)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%s\t\n",
			name, r.Mode, r.Conns, offered, r.RPS, r.EPS, okPct,
			r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.LateStarts, r.Unsent, statusSummary(r.Status))
	}
	return tw.Flush()
}

// statusSummary lists status counts as "200:123 503:4", transport errors as "err".
func statusSummary(m map[int]int64) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch c {
		case 0:
			b.WriteString("err")
		case -1:
			b.WriteString("partial")
		default:
			fmt.Fprint(&b, c)
		}
		fmt.Fprintf(&b, ":%d", m[c])
	}
	return b.String()
}
