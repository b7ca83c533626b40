package enrich

import (
	"net/url"
	"strings"
)

// URL is what ParseURL takes from a page URL.
type URL struct {
	// Host is the lower-case host without port.
	Host string
	// Path is the path, "/" for an empty path of an absolute URL.
	Path string
	// Query is the raw query string without "?".
	Query string
	// UTM parameters (utm_source, utm_medium, utm_campaign, utm_term,
	// utm_content).
	UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent string
	// ClickIDType names the first click id parameter found (e.g. "gclid",
	// "fbclid") and ClickID is its value.
	ClickIDType, ClickID string
}

// maxFieldLen bounds each derived value; longer values are cut.
const maxFieldLen = 1024

// ClickIDParams are the advertising click id parameters ParseURL
// recognises, in the order it prefers them.
var ClickIDParams = []string{
	"gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "ttclid", "twclid",
	"li_fat_id", "yclid", "epik", "sccid", "rdt_cid", "irclickid",
}

// ParseURL splits an absolute page URL. An unparseable URL gives the zero
// URL.
func ParseURL(raw string) URL {
	var r URL
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return r
	}
	r.Host = clip(strings.ToLower(u.Hostname()))
	r.Path = clip(u.EscapedPath())
	if r.Path == "" {
		r.Path = "/"
	}
	r.Query = clip(u.RawQuery)
	q, _ := url.ParseQuery(u.RawQuery) // keeps what parses
	r.UTMSource = clip(q.Get("utm_source"))
	r.UTMMedium = clip(q.Get("utm_medium"))
	r.UTMCampaign = clip(q.Get("utm_campaign"))
	r.UTMTerm = clip(q.Get("utm_term"))
	r.UTMContent = clip(q.Get("utm_content"))
	lowerKeys := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			lowerKeys[strings.ToLower(k)] = v[0]
		}
	}
	for _, p := range ClickIDParams {
		if v, ok := lowerKeys[p]; ok {
			r.ClickIDType, r.ClickID = p, clip(v)
			break
		}
	}
	return r
}

func clip(s string) string {
	if len(s) > maxFieldLen {
		return s[:maxFieldLen]
	}
	return s
}
