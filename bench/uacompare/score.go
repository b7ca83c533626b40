package uacompare

import (
	"fmt"
	"io"
	"slices"
)

// Score is one parser's accuracy on a corpus: per dimension, how many
// scored entries it got right.
type Score struct {
	Parser            string
	Browser, BrowserN int
	OS, OSN           int
	Device, DeviceN   int
	// Bots are scored apart by source: Matomo's bot fixtures, and the
	// crawler-user-agents instances (whose patterns internal/enrich
	// embeds, so its score there is not independent).
	BotsFound, Bots         int
	CrawlersFound, Crawlers int
	HumansAsBots, Humans    int
	NoDevice                bool
}

// Measure scores p on corpus. An entry is scored for a browser, OS or
// device type only when it expects one of MajorBrowsers, MajorOSes or
// DeviceTypes; bots are scored on every entry.
func Measure(p Parser, corpus []Entry) Score {
	s := Score{Parser: p.Name, NoDevice: p.NoDevice}
	for _, e := range corpus {
		r := p.Parse(e.UA)
		if e.Bot && e.Source == "crawler-user-agents" {
			s.Crawlers++
			if r.Bot {
				s.CrawlersFound++
			}
			continue
		}
		if e.Bot {
			s.Bots++
			if r.Bot {
				s.BotsFound++
			}
			continue
		}
		s.Humans++
		if r.Bot {
			s.HumansAsBots++
		}
		if slices.Contains(MajorBrowsers, e.Browser) {
			s.BrowserN++
			if r.Browser == e.Browser {
				s.Browser++
			}
		}
		if slices.Contains(MajorOSes, e.OS) {
			s.OSN++
			if r.OS == e.OS {
				s.OS++
			}
		}
		if slices.Contains(DeviceTypes, e.Device) {
			s.DeviceN++
			if r.Device == e.Device {
				s.Device++
			}
		}
	}
	return s
}

func pct(n, of int) string {
	if of == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// WriteTable writes scores as a Markdown table.
func WriteTable(w io.Writer, scores []Score) {
	if len(scores) == 0 {
		return
	}
	s0 := scores[0]
	fmt.Fprintf(w, "| parser | browser (n=%d) | OS (n=%d) | device type (n=%d) | Matomo bots flagged (n=%d) | crawler-user-agents flagged (n=%d) | humans flagged as bots (n=%d, lower is better) |\n",
		s0.BrowserN, s0.OSN, s0.DeviceN, s0.Bots, s0.Crawlers, s0.Humans)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, s := range scores {
		dev := pct(s.Device, s.DeviceN)
		if s.NoDevice {
			dev = "no device type"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", s.Parser, pct(s.Browser, s.BrowserN), pct(s.OS, s.OSN), dev,
			pct(s.BotsFound, s.Bots), pct(s.CrawlersFound, s.Crawlers), pct(s.HumansAsBots, s.Humans))
	}
}
