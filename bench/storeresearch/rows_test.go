package storeresearch

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/store"
)

var benchUserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
}

var benchReferrers = []string{"", "https://www.google.com/", "https://t.co/x", "https://shop.example/cart", "https://news.example.org/a"}

// realisticRows are page views and clicks of 2,000 visitors on one site,
// enriched the way the processor enriches them; the same rows as
// internal/store's benchmarks, so figures compare.
func realisticRows(source string, n int, start time.Time) []store.Row {
	en := enrich.New(enrich.Options{UserAgent: true, URL: true, Referrer: true})
	types := []string{"page-view", "page-view", "page-view", "click", "add-to-cart"}
	out := make([]store.Row, n)
	for i := range out {
		visitor := i % 2000
		e := event.Event{
			SourceID: source, ID: fmt.Sprintf("0193a1b2-%04x-7%03x-8%03x-%012x", i>>16&0xffff, i>>4&0xfff, i&0xfff, i*7919),
			Type: types[i%len(types)], Time: start.Add(time.Duration(i) * 50 * time.Millisecond),
			SessionID: fmt.Sprintf("s-%d-%d", visitor, i/20000), ProfileID: fmt.Sprintf("p-%06d", visitor),
			AnonymousID: fmt.Sprintf("anon-%06d", visitor), IP: fmt.Sprintf("203.0.%d.0", visitor%256),
			UserAgent: benchUserAgents[visitor%len(benchUserAgents)],
			URL:       fmt.Sprintf("https://shop.example/products/%d?utm_source=newsletter&utm_campaign=c%d", i%500, i%7),
			Referrer:  benchReferrers[i%len(benchReferrers)],
			Properties: json.RawMessage(fmt.Sprintf(`{"title":"Product %d","price":%d.%02d,"plan":"%s","items":%d,"logged_in":%t}`,
				i%500, i%200, i%100, []string{"free", "pro", "team"}[i%3], i%7, i%3 == 0)),
			Context: json.RawMessage(fmt.Sprintf(`{"page":{"title":"Product %d","width":%d},"library":{"name":"trackstream.js","version":"1.2.0"}}`, i%500, 1280+visitor%3*100)),
		}
		e.ReceivedAt = e.Time.Add(120 * time.Millisecond)
		out[i] = store.Row{Event: e, Fields: en.Event(&e)}
	}
	return out
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
