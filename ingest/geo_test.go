package ingest

import (
	"hash/maphash"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit/mmdb"
)

// testGeoIP is a database placing 203.0.113.77 (but not the rest of its
// /24) in Iceland and 2001:db8:abcd:12::/64 in Norway: a lookup of the
// truncated address would find nothing.
func testGeoIP(t *testing.T) *enrich.GeoIP {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test-country.mmdb")
	mmdb.Write(t, path, "test-country", mmdb.Countries(map[string]string{"203.0.113.77/32": "IS", "2001:db8:abcd:12::/64": "NO"}))
	g, err := enrich.OpenGeoIP(path)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The country is looked up before the source's IP policy truncates or
// drops the address; a browser's client hints are kept, a server's (they
// describe the server, not its user) are not.
func TestCountryBeforeIPPolicy(t *testing.T) {
	geo := testGeoIP(t)
	hints := event.ClientHints{UA: `"Brave";v="124"`, Mobile: "?0", Platform: `"Linux"`}
	lim := goldenLimits()
	for _, tc := range []struct {
		source, addr, body  string
		wantIP, wantCountry string
		wantHints           event.ClientHints
	}{
		{"src_test", "203.0.113.77", `{"source":{"id":"src_test"},"events":[{"type":"t"}]}`, "203.0.113.0", "IS", hints},
		{"src_keep", "203.0.113.77", `{"source":{"id":"src_keep"},"events":[{"type":"t"}]}`, "203.0.113.77", "IS", hints},
		{"src_drop", "203.0.113.77", `{"source":{"id":"src_drop"},"events":[{"type":"t"}]}`, "", "IS", hints},
		{"src_test", "2001:db8:abcd:12::1", `{"source":{"id":"src_test"},"events":[{"type":"t"}]}`, "2001:db8:abcd::", "NO", hints},
		{"src_drop", "198.51.100.1", `{"source":{"id":"src_drop"},"events":[{"type":"t"}]}`, "", "", hints},
		{"src_server", "192.0.2.1", `{"source":{"id":"src_server"},"events":[{"type":"t","context":{"ip":"203.0.113.77"}}]}`, "203.0.113.0", "IS", event.ClientHints{}},
	} {
		b, err := decodeTrack([]byte(tc.body), lim, maphash.MakeSeed())
		if err != nil {
			t.Fatal(err)
		}
		src, _ := goldenSources().Get(tc.source)
		meta := goldenMeta
		meta.clientIP, meta.hints, meta.geo = netip.MustParseAddr(tc.addr), hints, geo
		events, rejected := judge(b, &src, &meta, &lim, goldenSchemas(t), nil)
		if len(events) != 1 {
			t.Fatalf("%s: %v", tc.source, rejected)
		}
		ev := events[0]
		if ev.IP != tc.wantIP || ev.Country != tc.wantCountry || ev.GeoDB != geo.Version() || ev.ClientHints != tc.wantHints {
			t.Errorf("%s from %s: ip %q country %q geo_db %q hints %+v; want ip %q country %q geo_db %q hints %+v",
				tc.source, tc.addr, ev.IP, ev.Country, ev.GeoDB, ev.ClientHints, tc.wantIP, tc.wantCountry, geo.Version(), tc.wantHints)
		}
	}
}
