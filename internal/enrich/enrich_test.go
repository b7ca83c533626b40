package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/mmdb"
)

func TestParseUserAgent(t *testing.T) {
	for _, tc := range []struct {
		name, ua string
		want     UserAgent
	}{
		{"empty", "", UserAgent{}},
		{"chrome windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			UserAgent{"Chrome", "124", "Windows", "10", DeviceDesktop, false}},
		{"edge windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
			UserAgent{"Edge", "124", "Windows", "10", DeviceDesktop, false}},
		{"opera", "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
			UserAgent{"Opera", "106", "Windows", "7", DeviceDesktop, false}},
		{"firefox linux", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
			UserAgent{"Firefox", "125", "Linux", "", DeviceDesktop, false}},
		{"safari mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
			UserAgent{"Safari", "17", "macOS", "10.15", DeviceDesktop, false}},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
			UserAgent{"Safari", "17", "iOS", "17.4.1", DeviceMobile, false}},
		{"chrome ipad", "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1",
			UserAgent{"Chrome", "123", "iOS", "16.6", DeviceTablet, false}},
		{"chrome android phone", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
			UserAgent{"Chrome", "124", "Android", "14", DeviceMobile, false}},
		{"samsung android tablet", "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36",
			UserAgent{"Samsung Internet", "24", "Android", "13", DeviceTablet, false}},
		{"firefox ios", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
			UserAgent{"Firefox", "125", "iOS", "17.4", DeviceMobile, false}},
		{"ie11", "Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko",
			UserAgent{"Internet Explorer", "11", "Windows", "8.1", DeviceDesktop, false}},
		{"chromeos", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			UserAgent{"Chrome", "124", "ChromeOS", "", DeviceDesktop, false}},
		{"facebook in-app", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/21B80 [FBAN/FBIOS;FBAV/444.0.0.41.107;FBBV/1]",
			UserAgent{"Facebook", "444", "iOS", "17.1", DeviceMobile, false}},
		{"playstation", "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15",
			UserAgent{"Safari", "13", "PlayStation", "", DeviceConsole, false}},
		{"smart tv", "Mozilla/5.0 (Linux; Android 9; BRAVIA 4K GB ATV3 Build/PTT1.190515.001.S52) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.136 Safari/537.36",
			UserAgent{"Chrome", "79", "Android", "9", DeviceTV, false}},
		{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			UserAgent{"", "", "", "", "", true}},
		{"googlebot smartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			UserAgent{"Chrome", "124", "Android", "6.0.1", DeviceMobile, true}},
		{"headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
			UserAgent{"Chrome Headless", "124", "Linux", "", DeviceDesktop, true}},
		{"curl", "curl/8.5.0", UserAgent{Bot: true}},
		{"python requests", "python-requests/2.31.0", UserAgent{Bot: true}},
		{"gptbot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot", UserAgent{Bot: true}},
		{"facebook preview", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", UserAgent{Bot: true}},
		{"unknown", "SomeApp/1.0", UserAgent{}},
		// From the crawler-user-agents list (crawlers.txt), matched at a
		// word start in any letter case.
		{"crawler list", "Blogtrottr/2.0", UserAgent{Bot: true}},
		{"crawler list in a browser ua", "ADmantX Platform Semantic Analyzer - ADmantX Inc. - www.admantx.com", UserAgent{Bot: true}},
		{"crawler list mid-word is no match", "NotCommaFeedReader/1.0", UserAgent{}},
		{"silk is a browser", "Mozilla/5.0 (Linux; Android 9; AFTKA) AppleWebKit/537.36 (KHTML, like Gecko) Silk/96.2.18 like Chrome/96.0.4664.175 Safari/537.36",
			UserAgent{"Chrome", "96", "Android", "9", DeviceTablet, false}},
		{"yandex search app is a browser", "Mozilla/5.0 (Linux; Android 14; TECNO KL8 Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.58 Mobile Safari/537.36 YandexSearch/7.54",
			UserAgent{"Chrome", "130", "Android", "14", DeviceMobile, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseUserAgent(tc.ua); got != tc.want {
				t.Errorf("ParseUserAgent(%q)\n got %+v\nwant %+v", tc.ua, got, tc.want)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want URL
	}{
		{"", URL{}},
		{"not a url", URL{}},
		{"/relative/path", URL{}},
		{"https://Example.COM:8443", URL{Host: "example.com", Path: "/"}},
		{"https://example.com/shop/item?id=3&utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale&utm_term=shoes&utm_content=top",
			URL{Host: "example.com", Path: "/shop/item", Query: "id=3&utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale&utm_term=shoes&utm_content=top",
				UTMSource: "newsletter", UTMMedium: "email", UTMCampaign: "spring sale", UTMTerm: "shoes", UTMContent: "top"}},
		{"https://example.com/?fbclid=IwAR0abc&gclid=Cj0KCQ", URL{Host: "example.com", Path: "/", Query: "fbclid=IwAR0abc&gclid=Cj0KCQ", ClickIDType: "gclid", ClickID: "Cj0KCQ"}},
		{"https://example.com/p?MSCLKID=123", URL{Host: "example.com", Path: "/p", Query: "MSCLKID=123", ClickIDType: "msclkid", ClickID: "123"}},
		{"https://example.com/p?gclid=", URL{Host: "example.com", Path: "/p", Query: "gclid="}},
		{"https://example.com/a%20b?x=%zz&utm_source=ok", URL{Host: "example.com", Path: "/a%20b", Query: "x=%zz&utm_source=ok", UTMSource: "ok"}},
	} {
		if got := ParseURL(tc.raw); got != tc.want {
			t.Errorf("ParseURL(%q)\n got %+v\nwant %+v", tc.raw, got, tc.want)
		}
	}
}

func TestParseReferrer(t *testing.T) {
	const page = "https://www.shop.example/cart"
	for _, tc := range []struct{ ref, host, medium string }{
		{"", "", MediumDirect},
		{"::not a url", "", ""},
		{"https://shop.example/products", "shop.example", MediumInternal},
		{"https://www.google.com/", "www.google.com", MediumSearch},
		{"https://www.google.co.uk/search?q=x", "www.google.co.uk", MediumSearch},
		{"https://docs.google.com/document/d/1", "docs.google.com", MediumOther},
		{"https://duckduckgo.com/", "duckduckgo.com", MediumSearch},
		{"https://search.yahoo.com/", "search.yahoo.com", MediumSearch},
		{"https://l.facebook.com/l.php?u=x", "l.facebook.com", MediumSocial},
		{"https://t.co/abc", "t.co", MediumSocial},
		{"https://news.ycombinator.com/item?id=1", "news.ycombinator.com", MediumSocial},
		{"https://mail.google.com/mail/u/0/", "mail.google.com", MediumEmail},
		{"https://webmail.provider.net/", "webmail.provider.net", MediumEmail},
		{"https://blog.other.example/post", "blog.other.example", MediumOther},
		{"https://notgoogle.com/", "notgoogle.com", MediumOther},
	} {
		host, medium := ParseReferrer(tc.ref, page)
		if host != tc.host || medium != tc.medium {
			t.Errorf("ParseReferrer(%q) = %q, %q; want %q, %q", tc.ref, host, medium, tc.host, tc.medium)
		}
	}
}

// writeGeoDB builds a small City-layout database with two networks.
func writeGeoDB(t *testing.T) string {
	t.Helper()
	recs := map[string]mmdbtype.Map{}
	insert := func(cidr, country, region, city string) {
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(country)}}
		if region != "" {
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(region)}}
		}
		if city != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(city)}}
		}
		recs[cidr] = rec
	}
	insert("81.2.69.0/24", "GB", "ENG", "London")
	insert("2a02:8108::/32", "DE", "", "")
	path := filepath.Join(t.TempDir(), "test-city.mmdb")
	mmdb.Write(t, path, "GeoIP2-City", recs)
	return path
}

func TestGeoIP(t *testing.T) {
	g, err := OpenGeoIP(writeGeoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want Geo
	}{
		{"81.2.69.142", Geo{"GB", "ENG", "London"}},
		{"81.2.69.0", Geo{"GB", "ENG", "London"}}, // truncated by the IP policy
		{"::ffff:81.2.69.1", Geo{"GB", "ENG", "London"}},
		{"2a02:8108:1:2::1", Geo{Country: "DE"}},
		{"8.8.8.8", Geo{}},
		{"", Geo{}},
		{"not-an-ip", Geo{}},
	} {
		if got := g.LookupString(tc.ip); got != tc.want {
			t.Errorf("Lookup(%q) = %+v, want %+v", tc.ip, got, tc.want)
		}
	}
	if _, err := OpenGeoIP(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("OpenGeoIP of a missing file succeeded")
	}
}

func TestEnricherSwitches(t *testing.T) {
	g, err := OpenGeoIP(writeGeoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &event.Event{
		UserAgent: "curl/8.5.0",
		URL:       "https://shop.example/?utm_source=x",
		Referrer:  "https://www.bing.com/",
		IP:        "81.2.69.142",
	}
	all := New(Options{UserAgent: true, URL: true, Referrer: true, Geo: g}).Event(e)
	want := Fields{Bot: true, URLHost: "shop.example", URLPath: "/", URLQuery: "utm_source=x", UTMSource: "x",
		ReferrerHost: "www.bing.com", ReferrerMedium: MediumSearch, Country: "GB", Region: "ENG", City: "London",
		GeoDB: g.Version(), UARules: UserAgentRules}
	if all != want {
		t.Errorf("all on:\n got %+v\nwant %+v", all, want)
	}
	// Ingest looked the address up before its IP policy dropped it: the
	// processor keeps that answer and does not look up again.
	looked := *e
	looked.IP, looked.Country, looked.GeoDB = "", "FR", "ingest-db@2026-01-01"
	if got := New(Options{Geo: g}).Event(&looked); got != (Fields{Country: "FR", GeoDB: "ingest-db@2026-01-01"}) {
		t.Errorf("geo recorded by ingest: got %+v", got)
	}
	if none := New(Options{}).Event(e); none != (Fields{}) {
		t.Errorf("all off: got %+v, want nothing", none)
	}
	if only := New(Options{Referrer: true}).Event(e); only != (Fields{ReferrerHost: "www.bing.com", ReferrerMedium: MediumSearch}) {
		t.Errorf("referrer only: got %+v", only)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) Version/17.4.1 Mobile Safari/604.1", "https://a.example/?utm_source=x&gclid=1")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, ua, u string) {
		r := ParseUserAgent(ua)
		if len(r.BrowserVersion) > 6 || len(r.OSVersion) > maxUserAgent {
			t.Fatalf("version too long: %+v", r)
		}
		p := ParseURL(u)
		if len(p.Host) > maxFieldLen || len(p.Query) > maxFieldLen || len(p.ClickID) > maxFieldLen {
			t.Fatalf("field over bound: %+v", p)
		}
		ParseReferrer(u, ua)
	})
}

func BenchmarkEnrich(b *testing.B) {
	en := New(Options{UserAgent: true, URL: true, Referrer: true})
	e := &event.Event{
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		URL:       "https://shop.example/products/42?utm_source=newsletter&utm_medium=email&gclid=abc",
		Referrer:  "https://www.google.com/",
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = en.Event(e)
	}
}

func TestUserAgentCacheIsBoundedAndTransparent(t *testing.T) {
	en := New(Options{UserAgent: true})
	for i := range uaCacheSize + 100 {
		ua := "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/" + string(rune('0'+i%10)) + "." + itoa(i)
		got := en.Event(&event.Event{UserAgent: ua})
		want := ParseUserAgent(ua)
		if got.Browser != want.Browser || got.BrowserVersion != want.BrowserVersion || got.OS != want.OS {
			t.Fatalf("cached result %+v differs from ParseUserAgent %+v", got, want)
		}
		again := en.Event(&event.Event{UserAgent: ua})
		if again != got {
			t.Fatalf("second lookup %+v, first %+v", again, got)
		}
	}
	if n := len(en.uaCache); n > uaCacheSize {
		t.Errorf("cache holds %d user agents, bound is %d", n, uaCacheSize)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestClientHints(t *testing.T) {
	const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	const reducedAndroid = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	en := New(Options{UserAgent: true})
	for _, tc := range []struct {
		name  string
		ua    string
		hints event.ClientHints
		want  UserAgent
	}{
		{"brave reads as chrome without hints", chromeUA, event.ClientHints{},
			UserAgent{"Chrome", "124", "Windows", "10", DeviceDesktop, false}},
		{"brave named by its brand", chromeUA, event.ClientHints{UA: `"Chromium";v="124", "Brave";v="124", "Not-A.Brand";v="99"`, Mobile: "?0", Platform: `"Windows"`},
			UserAgent{"Brave", "124", "Windows", "10", DeviceDesktop, false}},
		{"edge beats chrome in any order", chromeUA, event.ClientHints{UA: `"Google Chrome";v="123", "Microsoft Edge";v="124"`},
			UserAgent{"Edge", "124", "Windows", "10", DeviceDesktop, false}},
		{"grease brand only", chromeUA, event.ClientHints{UA: `"Not A(Brand";v="99"`},
			UserAgent{"Chrome", "124", "Windows", "10", DeviceDesktop, false}},
		{"mobile hint makes a phone", reducedAndroid, event.ClientHints{Mobile: "?1", Platform: `"Android"`},
			UserAgent{"Chrome", "124", "Android", "10", DeviceMobile, false}},
		{"platform corrects the os", chromeUA, event.ClientHints{Platform: `"Linux"`},
			UserAgent{"Chrome", "124", "Linux", "", DeviceDesktop, false}},
		{"hints without a user agent", "", event.ClientHints{UA: `"Google Chrome";v="125"`, Mobile: "?0", Platform: `"macOS"`},
			UserAgent{"Chrome", "125", "macOS", "", DeviceDesktop, false}},
		{"headless brand is a bot", chromeUA, event.ClientHints{UA: `"HeadlessChrome";v="124"`},
			UserAgent{"Chrome Headless", "124", "Windows", "10", DeviceDesktop, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := en.Event(&event.Event{UserAgent: tc.ua, ClientHints: tc.hints})
			got := UserAgent{f.Browser, f.BrowserVersion, f.OS, f.OSVersion, f.DeviceType, f.Bot}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// writeFlatDB builds a database in ip-location-db's layout (country_code
// at the top), as the default database fetched from npm has it.
func writeFlatDB(t *testing.T, path string, networks map[string]string) {
	t.Helper()
	mmdb.Write(t, path, "test-country", mmdb.Countries(networks))
}

func TestGeoIPReloadsAReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	writeFlatDB(t, path, map[string]string{"81.2.69.0/24": "GB"})
	g, err := OpenGeoIP(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.LookupString("81.2.69.7"); got != (Geo{Country: "GB"}) {
		t.Fatalf("before: %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); g.Watch(ctx, 10*time.Millisecond, slog.New(slog.DiscardHandler)) }()

	// A file that is not a database is refused; the one in use stays.
	if err := os.WriteFile(path+".tmp", []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // several checks; none may drop the database
	if got := g.LookupString("81.2.69.7"); got != (Geo{Country: "GB"}) {
		t.Fatalf("after a broken file: %+v", got)
	}

	writeFlatDB(t, path, map[string]string{"81.2.69.0/24": "IE", "2a02:8108::/32": "DE"})
	testkit.Eventually(t, 10*time.Second, "the replaced database loaded", func() bool { return g.LookupString("81.2.69.7").Country == "IE" },
		func() string { return fmt.Sprintf("81.2.69.7 is %+v", g.LookupString("81.2.69.7")) })
	if got := g.LookupString("2a02:8108::9"); got != (Geo{Country: "DE"}) {
		t.Errorf("new network: %+v", got)
	}
	cancel()
	<-done
}
