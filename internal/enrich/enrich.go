// Package enrich derives columns from an event's raw fields: browser, OS,
// device type and a bot flag from the user agent; host, path, query, UTM
// parameters and click ids from the page URL; host and medium from the
// referrer; and, given a MaxMind-format database, country, region and city
// from the (policy-applied) IP address.
//
// Every function is pure (GeoIP reads an immutable database) and
// conservative: what a rule does not recognise stays empty, never guessed.
package enrich

import (
	"sync"

	"github.com/trackstream/trackstream/internal/event"
)

// Fields are the derived columns of one event. The zero value means
// "nothing known".
type Fields struct {
	// UserAgent derived.
	Browser, BrowserVersion, OS, OSVersion, DeviceType string
	Bot                                                bool
	// URL derived.
	URLHost, URLPath, URLQuery                             string
	UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent string
	ClickIDType, ClickID                                   string
	// Referrer derived.
	ReferrerHost, ReferrerMedium string
	// GeoIP derived: ISO country code, ISO subdivision code, English city name.
	Country, Region, City string
}

// Options switch each enrichment on or off.
type Options struct {
	// UserAgent fills Browser, BrowserVersion, OS, OSVersion, DeviceType, Bot.
	UserAgent bool
	// URL fills URLHost, URLPath, URLQuery, UTM* and ClickID*.
	URL bool
	// Referrer fills ReferrerHost and ReferrerMedium.
	Referrer bool
	// Geo, when not nil, fills Country, Region and City.
	Geo *GeoIP
}

// uaCacheSize bounds the user agents an Enricher remembers; the cache is
// emptied when full. Real traffic has few distinct user agents, and
// parsing one costs microseconds.
const uaCacheSize = 4096

// Enricher applies the enrichments its Options switch on. It is safe for
// concurrent use.
type Enricher struct {
	opts Options

	mu      sync.Mutex
	uaCache map[string]UserAgent
}

// New returns an enricher with opts.
func New(opts Options) *Enricher {
	return &Enricher{opts: opts, uaCache: make(map[string]UserAgent, 64)}
}

// userAgent is ParseUserAgent through the cache.
func (en *Enricher) userAgent(s string) UserAgent {
	en.mu.Lock()
	ua, ok := en.uaCache[s]
	en.mu.Unlock()
	if ok {
		return ua
	}
	ua = ParseUserAgent(s)
	if len(s) <= maxUserAgent {
		en.mu.Lock()
		if len(en.uaCache) >= uaCacheSize {
			clear(en.uaCache)
		}
		en.uaCache[s] = ua
		en.mu.Unlock()
	}
	return ua
}

// Event derives the fields of e.
func (en *Enricher) Event(e *event.Event) Fields {
	var f Fields
	if en == nil {
		return f
	}
	if en.opts.UserAgent && e.UserAgent != "" {
		ua := en.userAgent(e.UserAgent)
		f.Browser, f.BrowserVersion, f.OS, f.OSVersion, f.DeviceType, f.Bot = ua.Browser, ua.BrowserVersion, ua.OS, ua.OSVersion, ua.DeviceType, ua.Bot
	}
	if en.opts.URL && e.URL != "" {
		u := ParseURL(e.URL)
		f.URLHost, f.URLPath, f.URLQuery = u.Host, u.Path, u.Query
		f.UTMSource, f.UTMMedium, f.UTMCampaign, f.UTMTerm, f.UTMContent = u.UTMSource, u.UTMMedium, u.UTMCampaign, u.UTMTerm, u.UTMContent
		f.ClickIDType, f.ClickID = u.ClickIDType, u.ClickID
	}
	if en.opts.Referrer {
		f.ReferrerHost, f.ReferrerMedium = ParseReferrer(e.Referrer, e.URL)
	}
	if en.opts.Geo != nil && e.IP != "" {
		g := en.opts.Geo.Lookup(e.IP)
		f.Country, f.Region, f.City = g.Country, g.Region, g.City
	}
	return f
}
