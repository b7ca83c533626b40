// Package enrich derives columns from an event's raw fields: browser, OS,
// device type and a bot flag from the user agent; host, path, query, UTM
// parameters and click ids from the page URL; host and medium from the
// referrer; and, given a MaxMind-format database, country, region and city
// from the IP address (ingest looks it up before its IP policy truncates or
// drops the address and records the result in the event; the processor
// looks up only events that arrive without one).
//
// Every function is pure (GeoIP reads a database that is swapped whole on
// reload) and conservative: what a rule does not recognise stays empty,
// never guessed.
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
	// GeoDB names the GeoIP database build that found Country, Region
	// and City (see GeoIP.Version); empty when no database was asked.
	GeoDB string
	// UARules names the user-agent rules that derived Browser to Bot
	// (UserAgentRules); empty when the user agent was not parsed.
	UARules string
}

// Options switch each enrichment on or off.
type Options struct {
	// UserAgent fills Browser, BrowserVersion, OS, OSVersion, DeviceType, Bot.
	UserAgent bool
	// URL fills URLHost, URLPath, URLQuery, UTM* and ClickID*.
	URL bool
	// Referrer fills ReferrerHost and ReferrerMedium.
	Referrer bool
	// Geo, when not nil, fills Country, Region and City of events that
	// ingest did not look up (see event.Event.GeoDB).
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
	if en.opts.UserAgent && (e.UserAgent != "" || e.ClientHints != (event.ClientHints{})) {
		ua := en.userAgent(e.UserAgent)
		if e.ClientHints != (event.ClientHints{}) {
			ua = applyClientHints(ua, e.ClientHints)
		}
		f.Browser, f.BrowserVersion, f.OS, f.OSVersion, f.DeviceType, f.Bot = ua.Browser, ua.BrowserVersion, ua.OS, ua.OSVersion, ua.DeviceType, ua.Bot
		f.UARules = UserAgentRules
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
	switch {
	case e.GeoDB != "":
		f.Country, f.Region, f.City, f.GeoDB = e.Country, e.Region, e.City, e.GeoDB
	case en.opts.Geo != nil && e.IP != "":
		g := en.opts.Geo.LookupString(e.IP)
		f.Country, f.Region, f.City, f.GeoDB = g.Country, g.Region, g.City, en.opts.Geo.Version()
	}
	return f
}
