package enrich

import "strings"

// UserAgent is what ParseUserAgent recognises in a User-Agent header.
type UserAgent struct {
	// Browser is e.g. "Chrome", "Firefox", "Safari", "Edge"; empty when
	// unknown.
	Browser string
	// BrowserVersion is the browser's major version, e.g. "124".
	BrowserVersion string
	// OS is e.g. "Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS".
	OS string
	// OSVersion is the OS version as far as the user agent tells it
	// ("10", "14", "17.4", "10.15").
	OSVersion string
	// DeviceType is "desktop", "mobile", "tablet", "tv", "console" or
	// empty when unknown.
	DeviceType string
	// Bot is set for known crawlers (botMarkers, and the
	// crawler-user-agents list in crawlers.txt), HTTP libraries,
	// monitoring agents, link previewers and headless or automated
	// browsers.
	Bot bool
}

// Device types.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceTV      = "tv"
	DeviceConsole = "console"
)

// UserAgentRules names this build of the user-agent rules; it is stored
// with every row they enriched (Fields.UARules). Change it whenever the
// rules change what they derive.
const UserAgentRules = "trackstream-ua@2+" + CrawlerListVersion

// maxUserAgent bounds the bytes of a user agent the rules look at; real
// ones are a few hundred bytes.
const maxUserAgent = 1024

// botMarkers are lower-case substrings of bot user agents.
var botMarkers = []string{
	"bot", "crawl", "spider", "slurp", "scrapy", "headless", "phantomjs", "puppeteer",
	"playwright", "selenium", "webdriver", "lighthouse", "pagespeed", "facebookexternalhit",
	"facebookcatalog", "meta-externalagent", "python-requests", "python-urllib", "aiohttp",
	"httpx", "curl/", "wget/", "go-http-client", "java/", "apache-httpclient", "okhttp/",
	"axios/", "node-fetch", "undici", "libwww-perl", "guzzlehttp", "mediapartners-google",
	"adsbot", "feedfetcher", "bingpreview", "google-inspectiontool", "google web preview",
	"yandexbot", "baiduspider", "ahrefs", "semrush", "mj12", "petalbot", "gptbot",
	"chatgpt-user", "claude", "anthropic-ai", "ccbot", "bytespider", "perplexity",
	"uptimerobot", "pingdom", "statuscake", "site24x7", "datadog", "newrelicpinger",
	"monitoring", "check_http", "whatsapp", "telegram", "discord", "slackbot", "twitterbot",
	"linkedinbot", "embedly", "quora link preview", "pinterest", "skypeuripreview",
	"preview", "archive.org", "ia_archiver", "validator", "cypress", "electron/",
}

// ParseUserAgent recognises the common browsers, operating systems and
// device classes, and flags bots, with a small ordered rule set (the order
// matters: Edge and Opera carry "Chrome/", Chrome carries "Safari/").
func ParseUserAgent(ua string) UserAgent {
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	var r UserAgent
	if strings.TrimSpace(ua) == "" {
		return r
	}
	lower := strings.ToLower(ua)
	for _, m := range botMarkers {
		if strings.Contains(lower, m) {
			r.Bot = true
			break
		}
	}
	if !r.Bot {
		r.Bot = knownCrawler(lower)
	}
	r.Browser, r.BrowserVersion = browser(ua)
	r.OS, r.OSVersion = operatingSystem(ua)
	r.DeviceType = device(ua, lower, r.OS)
	return r
}

// browserRules are tried in order; the first token found names the browser
// and the digits after it give the major version.
var browserRules = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"OPiOS/", "Opera"}, {"Opera/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"YaBrowser/", "Yandex Browser"},
	{"UCBrowser/", "UC Browser"},
	{"Vivaldi/", "Vivaldi"},
	{"FBAV/", "Facebook"},
	{"Instagram ", "Instagram"},
	{"FxiOS/", "Firefox"}, {"Firefox/", "Firefox"},
	{"HeadlessChrome/", "Chrome Headless"},
	{"CriOS/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"MSIE ", "Internet Explorer"},
}

func browser(ua string) (name, version string) {
	for _, r := range browserRules {
		if i := strings.Index(ua, r.token); i >= 0 {
			return r.name, leadingDigits(ua[i+len(r.token):])
		}
	}
	if strings.Contains(ua, "Trident/") {
		if i := strings.Index(ua, "rv:"); i >= 0 {
			return "Internet Explorer", leadingDigits(ua[i+3:])
		}
		return "Internet Explorer", ""
	}
	if strings.Contains(ua, "Safari/") && (strings.Contains(ua, "AppleWebKit/")) {
		if i := strings.Index(ua, "Version/"); i >= 0 {
			return "Safari", leadingDigits(ua[i+8:])
		}
		return "Safari", ""
	}
	return "", ""
}

var windowsVersions = map[string]string{
	"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7", "6.0": "Vista", "5.2": "XP", "5.1": "XP",
}

func operatingSystem(ua string) (name, version string) {
	switch {
	case strings.Contains(ua, "Windows Phone"):
		return "Windows Phone", versionAfter(ua, "Windows Phone ", '.')
	case strings.Contains(ua, "Windows NT "):
		return "Windows", windowsVersions[versionAfter(ua, "Windows NT ", '.')]
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad") || strings.Contains(ua, "iPod"):
		v := versionAfter(ua, "OS ", '_')
		return "iOS", strings.ReplaceAll(v, "_", ".")
	case strings.Contains(ua, "Android"):
		return "Android", versionAfter(ua, "Android ", '.')
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS", ""
	case strings.Contains(ua, "Mac OS X"):
		v := strings.ReplaceAll(versionAfter(ua, "Mac OS X ", '_'), "_", ".")
		if v == "" {
			v = versionAfter(ua, "Mac OS X ", '.')
		}
		return "macOS", majorMinor(v)
	case strings.Contains(ua, "PlayStation"):
		return "PlayStation", ""
	case strings.Contains(ua, "Xbox"):
		return "Windows", ""
	case strings.Contains(ua, "Linux"):
		return "Linux", ""
	}
	return "", ""
}

func device(ua, lower, os string) string {
	switch {
	case strings.Contains(ua, "PlayStation") || strings.Contains(ua, "Xbox") || strings.Contains(ua, "Nintendo"):
		return DeviceConsole
	case strings.Contains(lower, "smart-tv") || strings.Contains(lower, "smarttv") || strings.Contains(ua, "CrKey") ||
		strings.Contains(ua, "AppleTV") || strings.Contains(ua, "Roku") || strings.Contains(ua, "BRAVIA") ||
		strings.Contains(ua, "Web0S") || strings.Contains(ua, "Tizen") && strings.Contains(ua, "TV") ||
		strings.Contains(ua, "AFTB") || strings.Contains(ua, "AFTS") || strings.Contains(ua, "AFTM"):
		return DeviceTV
	case strings.Contains(ua, "iPad") || strings.Contains(lower, "tablet") ||
		os == "Android" && !strings.Contains(ua, "Mobile"):
		return DeviceTablet
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPod") || strings.Contains(ua, "Mobile") ||
		os == "Windows Phone" || strings.Contains(ua, "IEMobile"):
		return DeviceMobile
	case os == "Windows" || os == "macOS" || os == "ChromeOS" || os == "Linux" && strings.Contains(ua, "X11"):
		return DeviceDesktop
	}
	return ""
}

// versionAfter returns the run of digits and sep after the first token.
func versionAfter(s, token string, sep byte) string {
	i := strings.Index(s, token)
	if i < 0 {
		return ""
	}
	s = s[i+len(token):]
	n := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == sep) {
		n++
	}
	return strings.Trim(s[:n], string(sep))
}

func leadingDigits(s string) string {
	n := 0
	for n < len(s) && n < 6 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n]
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return strings.Join(parts, ".")
}
