package uacompare

import (
	medama "github.com/medama-io/go-useragent"
	mileusna "github.com/mileusna/useragent"
	"github.com/ua-parser/uap-go/uaparser"

	"github.com/trackstream/trackstream/internal/enrich"
)

// Result is what a parser says about one user agent, in the corpus's
// vocabulary (see CanonBrowser, CanonOS, CanonDevice).
type Result struct {
	Browser, OS, Device string
	Bot                 bool
}

// Parser is one candidate. NoDevice is set for parsers that do not give
// a device type.
type Parser struct {
	Name     string
	Module   string
	NoDevice bool
	Parse    func(ua string) Result
}

// Parsers returns the candidates, each ready to parse (uncached).
func Parsers() []Parser {
	med := medama.NewParser()
	uap, err := uaparser.New(uaparser.WithCacheSize(1))
	if err != nil {
		panic(err) // the embedded regexes compile
	}
	return []Parser{
		{Name: "trackstream rules (internal/enrich)", Module: "internal/enrich " + enrich.UserAgentRules, Parse: func(s string) Result {
			r := enrich.ParseUserAgent(s)
			return Result{CanonBrowser(r.Browser), CanonOS(r.OS), r.DeviceType, r.Bot}
		}},
		{Name: "medama-io/go-useragent", Module: "github.com/medama-io/go-useragent v1.2.5", Parse: func(s string) Result {
			r := med.Parse(s)
			dev := ""
			switch {
			case r.IsTV():
				dev = "tv"
			case r.IsTablet():
				dev = "tablet"
			case r.IsMobile():
				dev = "mobile"
			case r.IsDesktop():
				dev = "desktop"
			}
			return Result{CanonBrowser(string(r.Browser())), CanonOS(string(r.OS())), dev, r.IsBot()}
		}},
		{Name: "mileusna/useragent", Module: "github.com/mileusna/useragent v1.3.5", Parse: func(s string) Result {
			r := mileusna.Parse(s)
			dev := ""
			switch {
			case r.Tablet:
				dev = "tablet"
			case r.Mobile:
				dev = "mobile"
			case r.Desktop:
				dev = "desktop"
			}
			return Result{CanonBrowser(r.Name), CanonOS(r.OS), dev, r.Bot}
		}},
		{Name: "ua-parser/uap-go (uap-core regexes)", Module: "github.com/ua-parser/uap-go v0.0.0-20260529044130", NoDevice: true, Parse: func(s string) Result {
			c := uap.Parse(s)
			return Result{CanonBrowser(c.UserAgent.Family), CanonOS(c.Os.Family), "", c.Device.Family == "Spider"}
		}},
	}
}
