package enrich

import (
	"strings"

	"github.com/trackstream/trackstream/internal/event"
)

// hintBrands maps Sec-CH-UA brands to browser names, most specific first:
// a list names the browser and the engine it is built on ("Chromium"),
// plus a GREASE brand that names nothing.
var hintBrands = []struct{ brand, name string }{
	{"Microsoft Edge", "Edge"}, {"Opera", "Opera"}, {"Brave", "Brave"},
	{"Samsung Internet", "Samsung Internet"}, {"YaBrowser", "Yandex Browser"},
	{"Yandex", "Yandex Browser"}, {"Vivaldi", "Vivaldi"},
	{"Google Chrome", "Chrome"}, {"HeadlessChrome", "Chrome Headless"},
}

// hintPlatforms maps Sec-CH-UA-Platform values to OS names.
var hintPlatforms = map[string]string{
	"Windows": "Windows", "macOS": "macOS", "Linux": "Linux", "Android": "Android",
	"Chrome OS": "ChromeOS", "Chromium OS": "ChromeOS", "iOS": "iOS",
}

// applyClientHints corrects what the user agent says with the client
// hints, which a browser does not freeze or reduce: the brand names
// browsers whose User-Agent reads as Chrome (Brave, for one), the platform
// names the OS, and "?1" marks a phone (Chrome on an Android tablet sends
// "?0").
func applyClientHints(ua UserAgent, h event.ClientHints) UserAgent {
	if name, version := hintBrand(h.UA); name != "" {
		ua.Browser, ua.BrowserVersion = name, version
		ua.Bot = ua.Bot || name == "Chrome Headless"
	}
	if os, ok := hintPlatforms[strings.Trim(h.Platform, `" `)]; ok && os != ua.OS {
		ua.OS, ua.OSVersion = os, ""
	}
	switch {
	case h.Mobile == "?1":
		ua.DeviceType = DeviceMobile
	case h.Mobile == "?0" && ua.DeviceType == "" && (ua.OS == "Windows" || ua.OS == "macOS" || ua.OS == "ChromeOS" || ua.OS == "Linux"):
		ua.DeviceType = DeviceDesktop
	}
	return ua
}

// hintBrand finds the most specific known brand in a Sec-CH-UA list
// (`"Chromium";v="124", "Brave";v="124", "Not-A.Brand";v="99"`) and its
// major version.
func hintBrand(list string) (name, version string) {
	if len(list) > maxUserAgent {
		return "", ""
	}
	best := len(hintBrands)
	for item := range strings.SplitSeq(list, ",") {
		brand, params, _ := strings.Cut(strings.TrimSpace(item), ";")
		brand = strings.Trim(brand, `" `)
		for i, b := range hintBrands[:best] {
			if brand == b.brand {
				best, version = i, ""
				if v, ok := strings.CutPrefix(strings.TrimSpace(params), "v="); ok {
					version = leadingDigits(strings.Trim(v, `"`))
				}
				break
			}
		}
	}
	if best == len(hintBrands) {
		return "", ""
	}
	return hintBrands[best].name, version
}
